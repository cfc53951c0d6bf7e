"""Write the tiny checkpoints the README points llamasize at (run from the repository root):

    python examples/checkpoints/make_tiny.py

- ``tiny-llama/``: a Hugging Face-style directory, ``config.json`` + two safetensors shards +
  ``model.safetensors.index.json`` (a 2-layer Llama, hidden 32, BF16, all-zero weights);
- ``tiny-llama-f16.gguf``: the same shapes as a GGUF file (F16 matrices, F32 norms), written with
  gguf's ``GGUFWriter``.

Deterministic: the same bytes every run. Nothing is downloaded.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from gguf import GGUFWriter

HERE = Path(__file__).resolve().parent
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 64,
          "vocab_size": 128, "max_position_embeddings": 4096, "rope_theta": 10000.0, "rms_norm_eps": 1e-05,
          "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def shapes() -> dict[str, tuple[int, ...]]:
    """HF Llama tensor names and (out, in) shapes for CONFIG."""
    h, f, v, kv = CONFIG["hidden_size"], CONFIG["intermediate_size"], CONFIG["vocab_size"], 2 * 8
    out = {"model.embed_tokens.weight": (v, h)}
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out |= {p + "input_layernorm.weight": (h,), p + "self_attn.q_proj.weight": (h, h),
                p + "self_attn.k_proj.weight": (kv, h), p + "self_attn.v_proj.weight": (kv, h),
                p + "self_attn.o_proj.weight": (h, h), p + "post_attention_layernorm.weight": (h,),
                p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h), p + "mlp.down_proj.weight": (h, f)}
    return out | {"model.norm.weight": (h,), "lm_head.weight": (v, h)}


def write_safetensors(directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    names = list(shapes())
    halves = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map, total = {}, 0
    for file, part in halves.items():
        header, offset = {}, 0
        for name in part:
            n = 2 * int(np.prod(shapes()[name]))  # BF16: 2 bytes per element
            header[name] = {"dtype": "BF16", "shape": list(shapes()[name]), "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[name] = file
        raw = json.dumps(header, separators=(",", ":")).encode()
        (directory / file).write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
        total += offset
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def write_gguf(path: Path) -> None:
    w = GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_block_count(CONFIG["num_hidden_layers"])
    w.add_context_length(CONFIG["max_position_embeddings"])
    w.add_embedding_length(CONFIG["hidden_size"])
    w.add_feed_forward_length(CONFIG["intermediate_size"])
    w.add_head_count(CONFIG["num_attention_heads"])
    w.add_head_count_kv(CONFIG["num_key_value_heads"])
    w.add_key_length(8)
    w.add_value_length(8)
    w.add_file_type(1)  # MOSTLY_F16
    gguf_names = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output",
                  "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
                  "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                  "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                  "mlp.down_proj": "ffn_down"}
    for name, shape in shapes().items():
        stem = name.removesuffix(".weight")
        if stem.startswith("model.layers."):
            _, _, i, rest = stem.split(".", 3)
            gname = f"blk.{i}.{gguf_names[rest]}.weight"
        else:
            gname = f"{gguf_names[stem]}.weight"
        w.add_tensor(gname, np.zeros(shape, np.float32 if len(shape) == 1 else np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    write_safetensors(HERE / "tiny-llama")
    write_gguf(HERE / "tiny-llama-f16.gguf")
