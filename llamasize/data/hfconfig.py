"""Read a local Hugging Face ``config.json`` into a ``ModelSpec`` (``--model path/to/config.json``).

Each family names its fields differently; this module maps them onto the registry's conventions
(see ``spec``): Llama 4 (``llama4`` multimodal wrapper with ``text_config``/``vision_config``, or
``llama4_text``), Llama/Mistral-style dense models, Mixtral, Qwen2/Qwen3 (dense and MoE),
DeepSeek-V2/V3 (MLA) and gpt-oss. Other ``model_type`` values are read as a Llama-style decoder and
the spec says so in its notes. Keys the estimator does not need (tokenizer ids, dropout, ...) are
not read.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from llamasize.errors import DataError
from llamasize.files import parse_json, pydantic_message, read_text_file
from llamasize.data.quantconfig import checkpoint_quant_fields
from llamasize.data.spec import ModelSpec
from llamasize.units import TORCH_DTYPES

_SUPPORTED = {"llama4", "llama4_text", "llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe",
              "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt_oss"}


def _read_json(path: Path) -> dict:
    if path.is_dir():
        path = path / "config.json"
    data = parse_json(read_text_file(path, "config.json"), str(path))
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return s or "model"


def _llama4_fields(c: dict) -> dict:
    out = {
        "moe_intermediate_size": c.get("intermediate_size"),
        "intermediate_size": c.get("intermediate_size_mlp"),
        "num_local_experts": c.get("num_local_experts"),
        "num_experts_per_tok": c.get("num_experts_per_tok", 1),
        "interleave_moe_layer_step": c.get("interleave_moe_layer_step", 1),
        "attention_chunk_size": c.get("attention_chunk_size"),
        "qk_norm": "l2" if c.get("use_qk_norm") else None,
    }
    if out["num_local_experts"]:
        out["n_shared_experts"] = 1
        out["shared_expert_intermediate_size"] = c.get("intermediate_size")
    n = c.get("num_hidden_layers")
    if c.get("layer_types"):
        out["layer_types"] = list(c["layer_types"])
    elif isinstance(c.get("no_rope_layers"), list) and c["no_rope_layers"]:
        # transformers: value 1 = RoPE = chunked attention; 0 = NoPE = full attention
        out["layer_types"] = ["chunked_attention" if v else "full_attention" for v in c["no_rope_layers"]]
    elif c.get("attention_chunk_size") and n:
        out["nope_layer_interval"] = c.get("nope_layer_interval", 4)
    moe_layers = c.get("moe_layers")
    if moe_layers is not None and n:
        step = out["interleave_moe_layer_step"]
        expected = [i for i in range(n) if (i + 1) % step == 0]
        if sorted(moe_layers) != expected:
            raise DataError(f"moe_layers {moe_layers} does not follow interleave_moe_layer_step {step}; "
                            "irregular MoE layer lists are not supported")
    return out


def _vision(v: dict | None) -> dict | None:
    if not v:
        return None
    keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size",
            "patch_size", "num_channels", "pixel_shuffle_ratio", "projector_input_dim",
            "projector_output_dim", "vision_output_dim"]
    return {k: v[k] for k in keys if k in v} | {"source": "vision_config of the given config.json"}


def _family_fields(mt: str, c: dict) -> dict:
    if mt in ("llama4", "llama4_text"):
        return _llama4_fields(c)
    if mt == "mixtral":
        return {"moe_intermediate_size": c.get("intermediate_size"), "num_local_experts": c.get("num_local_experts"),
                "num_experts_per_tok": c.get("num_experts_per_tok")}
    if mt in ("qwen2_moe", "qwen3_moe"):
        experts = c.get("num_experts")
        shared = c.get("shared_expert_intermediate_size") or None
        out = {"moe_intermediate_size": c.get("moe_intermediate_size"), "num_local_experts": experts,
               "num_experts_per_tok": c.get("num_experts_per_tok"),
               "interleave_moe_layer_step": c.get("decoder_sparse_step", 1) or 1,
               "intermediate_size": c.get("intermediate_size"),
               "n_shared_experts": 1 if shared else None, "shared_expert_intermediate_size": shared}
        if c.get("mlp_only_layers"):
            raise DataError("mlp_only_layers (dense layers inside a Qwen MoE) are not supported")
        if mt == "qwen3_moe":
            out["qk_norm"] = "rms_weighted"
        else:  # Qwen2-MoE: q/k/v biases and a sigmoid gate on the shared expert (transformers modeling_qwen2_moe)
            out["attention_qkv_bias"] = True
            out["shared_expert_gate"] = bool(shared)
        return out
    if mt in ("deepseek_v2", "deepseek_v3"):
        if c.get("moe_layer_freq", 1) != 1:
            raise DataError(f"moe_layer_freq {c.get('moe_layer_freq')} is not supported (only 1)")
        return {"moe_intermediate_size": c.get("moe_intermediate_size"),
                "num_local_experts": c.get("n_routed_experts"), "num_experts_per_tok": c.get("num_experts_per_tok"),
                "n_shared_experts": c.get("n_shared_experts"),
                "first_k_dense_replace": c.get("first_k_dense_replace", 0),
                "intermediate_size": c.get("intermediate_size"),
                "router_bias": c.get("topk_method") == "noaux_tc",
                "q_lora_rank": c.get("q_lora_rank"), "kv_lora_rank": c.get("kv_lora_rank"),
                "qk_rope_head_dim": c.get("qk_rope_head_dim"), "qk_nope_head_dim": c.get("qk_nope_head_dim"),
                "v_head_dim": c.get("v_head_dim"),
                "num_nextn_predict_layers": c.get("num_nextn_predict_layers", 0) or 0}
    if mt == "gpt_oss":
        return {"moe_intermediate_size": c.get("intermediate_size"), "num_local_experts": c.get("num_local_experts"),
                "num_experts_per_tok": c.get("num_experts_per_tok") or c.get("experts_per_token"),
                "layer_types": c.get("layer_types"), "attention_sinks": True, "router_bias": True,
                "mlp_bias": True, "attention_bias": bool(c.get("attention_bias", True))}
    out = {"intermediate_size": c.get("intermediate_size")}
    if mt == "qwen3":
        out["qk_norm"] = "rms_weighted"
    if mt == "qwen2":  # transformers Qwen2Attention: biases on q, k, v (not o), no attention_bias key
        out["attention_qkv_bias"] = True
    return out


def load_hf_config(path: Path) -> ModelSpec:
    """Build a spec from a Hugging Face config.json (or a directory holding one)."""
    outer = _read_json(path)
    mt_outer = str(outer.get("model_type", "")).strip()
    c = outer.get("text_config") if isinstance(outer.get("text_config"), dict) else outer
    mt = str(c.get("model_type", mt_outer) or mt_outer)
    if mt == "llama4_text" or mt_outer == "llama4":
        mt = "llama4_text"
    if not mt:
        raise DataError(f"{path}: config.json has no model_type")
    given = Path(path)
    name_hint = outer.get("_name_or_path") or (given.resolve().name if given.is_dir() else given.resolve().parent.name)
    notes = [f"read from {path}"]
    if mt not in _SUPPORTED:
        notes.append(f"model_type '{mt}' has no specific mapping; read as a Llama-style decoder")
    required = ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"]
    missing = [k for k in required if c.get(k) is None]
    if missing:
        raise DataError(f"{path}: config.json lacks {', '.join(missing)}")
    dtype = c.get("torch_dtype") or c.get("dtype") or outer.get("torch_dtype") or "bfloat16"
    fields = {
        "id": _slug(f"config-{name_hint}"),
        "name": f"{name_hint} (config.json)",
        "family": mt,
        "model_type": mt,
        "release_status": "released",
        "source": f"local config.json: {path}",
        "notes": notes,
        "torch_dtype": dtype if dtype in TORCH_DTYPES else "bfloat16",
        "hidden_size": c.get("hidden_size"),
        "num_hidden_layers": c.get("num_hidden_layers"),
        "num_attention_heads": c.get("num_attention_heads"),
        "num_key_value_heads": c.get("num_key_value_heads") or c.get("num_attention_heads"),
        "head_dim": c.get("head_dim"),
        "vocab_size": c.get("vocab_size"),
        "tie_word_embeddings": bool(c.get("tie_word_embeddings", outer.get("tie_word_embeddings", False))),
        "max_position_embeddings": c.get("max_position_embeddings"),
        "rope_theta": c.get("rope_theta"),
        "rms_norm_eps": c.get("rms_norm_eps"),
        "attention_bias": bool(c.get("attention_bias", False)),
        "sliding_window": c.get("sliding_window") or None,
    }
    try:
        fields.update(_family_fields(mt, c))
        if mt == "llama4_text" and isinstance(outer.get("vision_config"), dict):
            fields["vision_config"] = _vision(outer["vision_config"])
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: a config.json value has the wrong type ({e})") from None
    if mt in ("deepseek_v2", "deepseek_v3"):
        fields["head_dim"] = None
    if fields.get("layer_types") is None:
        fields.pop("layer_types", None)
        if fields["sliding_window"] and mt in ("mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe"):
            if c.get("use_sliding_window", mt in ("mistral", "mixtral")):
                fields["layer_types"] = ["sliding_attention"] * fields["num_hidden_layers"]
            else:
                fields["sliding_window"] = None
    fields.update(checkpoint_quant_fields(outer, Path(path), fields["torch_dtype"], notes))  # quantization_config
    fields = {k: v for k, v in fields.items() if v is not None}
    try:
        return ModelSpec.model_validate(fields)
    except ValidationError as e:
        raise DataError(f"{path}: {pydantic_message(e)}") from None
