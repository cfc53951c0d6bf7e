"""Checkpoint header reading benchmark: write a Qwen3-30B-A3B-shaped safetensors checkpoint
(48 layers x 128 experts, ~18,900 tensors, 16 sparse shards: the data area is declared, not
written) into a temporary directory and time ``load_local_model`` + ``count_params`` on it, and the
CLI end to end. Prints tensors per second and the totals it found.

Run: .venv/bin/python benchmarks/bench_checkpoint.py [SHARDS]   (default 16)
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tempfile
import time
from math import prod
from pathlib import Path

from llamasize.data.local import load_local_model
from llamasize.estimate.params import count_params

# Qwen3-30B-A3B's config.json (the architecture values; the weights are never read)
CONFIG = {"model_type": "qwen3_moe", "hidden_size": 2048, "num_hidden_layers": 48, "num_attention_heads": 32,
          "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 6144, "moe_intermediate_size": 768,
          "num_experts": 128, "num_experts_per_tok": 8, "vocab_size": 151936, "max_position_embeddings": 40960,
          "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def tensors() -> dict[str, list[int]]:
    """transformers modeling_qwen3_moe names and shapes."""
    c = CONFIG
    h, e, fe, v, hd = c["hidden_size"], c["num_experts"], c["moe_intermediate_size"], c["vocab_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    t = {"model.embed_tokens.weight": [v, h], "model.norm.weight": [h], "lm_head.weight": [v, h]}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t |= {p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h],
              p + "self_attn.q_proj.weight": [q, h], p + "self_attn.k_proj.weight": [kv, h],
              p + "self_attn.v_proj.weight": [kv, h], p + "self_attn.o_proj.weight": [h, q],
              p + "self_attn.q_norm.weight": [hd], p + "self_attn.k_norm.weight": [hd], p + "mlp.gate.weight": [e, h]}
        for j in range(e):
            t |= {f"{p}mlp.experts.{j}.gate_proj.weight": [fe, h], f"{p}mlp.experts.{j}.up_proj.weight": [fe, h],
                  f"{p}mlp.experts.{j}.down_proj.weight": [h, fe]}
    return t


def write(directory: Path, shards: int) -> int:
    (directory / "config.json").write_text(json.dumps(CONFIG))
    names, all_t = list(tensors()), tensors()
    weight_map, total = {}, 0
    for k in range(shards):
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        header, off = {}, 0
        for n in names[k::shards]:
            nb = 2 * prod(all_t[n])
            header[n] = {"dtype": "BF16", "shape": all_t[n], "data_offsets": [off, off + nb]}
            off += nb
            weight_map[n] = file
        raw = json.dumps(header).encode()
        with open(directory / file, "wb") as fh:
            fh.write(struct.pack("<Q", len(raw)) + raw)
            fh.truncate(8 + len(raw) + off)
        total += off
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                         "weight_map": weight_map}))
    return len(names)


def main() -> None:
    shards = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        n = write(d, shards)
        t0, c0 = time.perf_counter(), time.process_time()
        spec = load_local_model(d)
        b = count_params(spec)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"in-process: {n:,} tensors in {shards} shards read in {dt:.3f} s wall, {cpu:.3f} s CPU "
              f"({n / cpu:,.0f} tensors per CPU second); "
              f"{b.total_params:,} parameters, {spec.checkpoint.total_bytes:,} bytes, {b.confidence}")
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "llamasize"), "params", str(d), "--format", "json"],
                       check=True, capture_output=True)
        print(f"CLI end to end: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
