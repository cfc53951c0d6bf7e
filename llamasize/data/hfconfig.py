"""Read a local Hugging Face ``config.json`` into a ``ModelSpec`` (``--model path/to/config.json``).

Each family names its fields differently; this module maps them onto the registry's conventions
(see ``spec``): Llama 4 (``llama4`` multimodal wrapper with ``text_config``/``vision_config``, or
``llama4_text``), Llama/Mistral-style dense models, Mixtral, Qwen2/Qwen3 (dense and MoE),
DeepSeek-V2/V3 (MLA) and gpt-oss; the MoE, MLA, hybrid and multimodal families (and every vision
tower) are mapped in ``hfconfig_moe``. Other ``model_type`` values are read as a Llama-style decoder
and the spec says so in its notes. Keys the estimator does not need (tokenizer ids, dropout, ...) are
not read.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from llamasize.errors import DataError
from llamasize.files import parse_json, pydantic_message, read_text_file
from llamasize.data.quantconfig import checkpoint_quant_fields
from llamasize.data.hfconfig_moe import MOE_TYPES, family_fields, family_notes, tower_fields
from llamasize.data.spec import ModelSpec
from llamasize.units import TORCH_DTYPES

_SUPPORTED = {"llama", "mistral", "qwen2", "qwen3"} | MOE_TYPES


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


def _family_fields(mt: str, c: dict) -> dict:
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
        fields.update(family_fields(mt, c, outer) if mt in MOE_TYPES else _family_fields(mt, c))
        fields.update(tower_fields(mt_outer, outer, fields["hidden_size"], notes))
        notes += family_notes(mt, c)
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
