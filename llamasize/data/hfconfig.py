"""Read a local Hugging Face ``config.json`` into a ``ModelSpec`` (``--model path/to/config.json``).

Each family names its fields differently; this module maps them onto the registry's conventions
(see ``spec``): Llama 4 (``llama4`` multimodal wrapper with ``text_config``/``vision_config``, or
``llama4_text``), the dense decoders of ``DENSE_FAMILIES`` (each with the defaults and bias keys
of its transformers ``configuration_<type>.py`` / ``modeling_<type>.py``); the MoE, MLA, hybrid and
multimodal families (and every vision tower) are mapped in ``hfconfig_moe``. Any other
``model_type`` is read as a Llama-style decoder with ``architecture_assumption`` set, so every
count from it is labelled approximate, never exact. Keys the estimator does not need (tokenizer
ids, dropout, ...) are not read.
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
from llamasize.text import quote_value
from llamasize.units import TORCH_DTYPES

def _whole(c: dict, key: str) -> int:
    """``c[key]`` as a positive integer (a family formula divides or multiplies by it), else DataError."""
    v = c[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise DataError(f"{key} must be a positive integer, got {quote_value(v)}")
    return v


def _layer_pattern(c: dict, period: int, *, configurable: bool = True) -> list[str] | None:
    """transformers' default ``layer_types`` for Gemma 2 / Gemma 3 / Cohere 2: layer ``i`` is
    sliding unless ``(i + 1) % p == 0``, with ``p`` the config's ``sliding_window_pattern`` (an
    older key; default ``period``: Gemma 3 6, Cohere 2 4) or a fixed ``period`` (Gemma 2: 2)."""
    n, p = c["num_hidden_layers"], c.get("sliding_window_pattern") if configurable else None
    p = period if p is None else p
    if not isinstance(p, int) or isinstance(p, bool) or p < 1:
        raise DataError(f"sliding_window_pattern must be a positive integer, got {quote_value(p)}")
    if not isinstance(n, int) or not 0 < n <= 10_000:
        return None  # the spec's own validation reports num_hidden_layers
    return ["sliding_attention" if (i + 1) % p else "full_attention" for i in range(n)]


def _llama(c: dict) -> dict:  # modeling_llama / modeling_granite: attention_bias and mlp_bias keys
    return {"attention_bias": bool(c.get("attention_bias", False)), "mlp_bias": bool(c.get("mlp_bias", False))}


def _attention_bias_only(c: dict) -> dict:  # the MLP is bias-free in the modeling file
    return {"attention_bias": bool(c.get("attention_bias", False))}


def _qwen_v1(c: dict) -> dict:
    """QWen (v1, remote code ``modeling_qwen.py`` of Qwen/Qwen-7B): ``c_attn`` (q, k, v) always has a
    bias; ``c_proj`` and the MLP have one unless ``no_bias``; the MLP's ``w1``/``w2``/``c_proj``
    are ``intermediate_size // 2`` wide; heads are ``kv_channels`` wide; MHA."""
    biased = not c.get("no_bias", True)
    return {"intermediate_size": _whole(c, "intermediate_size") // 2, "head_dim": c.get("kv_channels"),
            "num_key_value_heads": c["num_attention_heads"], "attention_qkv_bias": True,
            "attention_bias": biased, "mlp_bias": biased, "rms_norm_eps": c.get("layer_norm_epsilon"),
            "rope_theta": c.get("rotary_emb_base")}


def _qwen_windows(c: dict) -> dict:
    """configuration_qwen2.py / configuration_qwen3.py: ``sliding_window`` only with
    ``use_sliding_window``, and then only on layers ``i >= max_window_layers`` (default 28);
    an explicit ``layer_types`` wins."""
    window = c.get("sliding_window", 4096) if c.get("use_sliding_window", False) else None
    types = c.get("layer_types")
    if types is None and window is not None:
        first, n = c.get("max_window_layers", 28), _whole(c, "num_hidden_layers")
        if not isinstance(first, int) or isinstance(first, bool) or first < 0:
            raise DataError(f"max_window_layers must be a non-negative integer, got {quote_value(first)}")
        types = ["sliding_attention" if i >= first else "full_attention" for i in range(min(n, 10_001))]
    return {"sliding_window": window, "layer_types": types}


def _gemma(c: dict) -> dict:  # modeling_gemma: GeGLU (gated), head_dim default 256
    return {**_attention_bias_only(c), "head_dim": c.get("head_dim", 256)}


def _gemma2(c: dict) -> dict:  # modeling_gemma2: + pre/post feedforward norms; every other layer sliding
    return {**_gemma(c), "norms_per_layer": 4, "sliding_window": c.get("sliding_window", 4096),
            "layer_types": c.get("layer_types") or _layer_pattern(c, 2, configurable=False)}


def _gemma3_text(c: dict) -> dict:  # modeling_gemma3: + q_norm/k_norm (head_dim); 5 sliding : 1 full
    return {**_gemma(c), "norms_per_layer": 4, "sliding_window": c.get("sliding_window", 4096),
            "qk_norm": "rms_weighted", "layer_types": c.get("layer_types") or _layer_pattern(c, 6)}


def _phi3(c: dict) -> dict:  # modeling_phi3: fused qkv_proj / gate_up_proj, no biases
    return {}


def _falcon(c: dict) -> dict:
    """modeling_falcon: fused ``query_key_value`` of ``(nh + 2*nkv) * hd`` rows, nkv = num_kv_heads
    (new_decoder_architecture), 1 (multi_query) or nh; ``bias`` on every linear; a plain GELU MLP of
    ``ffn_hidden_size`` (default 4h); LayerNorms with bias: 2 per layer (ln_attn + ln_mlp, or
    input + post-attention without parallel_attn), 1 for a parallel block; ALiBi or RoPE."""
    h, nh, new = _whole(c, "hidden_size"), _whole(c, "num_attention_heads"), bool(c.get("new_decoder_architecture"))
    nkv = (c.get("num_kv_heads") or nh) if new else (1 if c.get("multi_query", True) else nh)
    n_ln = c.get("num_ln_in_parallel_attn") or (2 if new else None)
    norms = 2 if (not c.get("parallel_attn", True) or n_ln == 2) else 1
    bias = bool(c.get("bias", False))
    return {"num_key_value_heads": nkv, "head_dim": h // nh, "attention_bias": bias,
            "mlp_bias": bias, "ffn_kind": "plain", "intermediate_size": c.get("ffn_hidden_size") or 4 * h,
            "norm_kind": "layernorm", "norms_per_layer": norms, "rms_norm_eps": c.get("layer_norm_epsilon"),
            "position_encoding": "alibi" if c.get("alibi") else "rope",
            "max_position_embeddings": c.get("max_position_embeddings", 2048)}  # FalconConfig default


def _bloom(c: dict) -> dict:
    """modeling_bloom: ``query_key_value`` (3h) and ``dense`` with biases, a plain ``4h`` GELU MLP
    with biases, LayerNorms with bias (2 per layer + ``word_embeddings_layernorm`` + ``ln_f``),
    ALiBi (no position weights), MHA."""
    return {"num_key_value_heads": c["num_attention_heads"], "attention_bias": True, "mlp_bias": True,
            "ffn_kind": "plain", "intermediate_size": 4 * _whole(c, "hidden_size"), "norm_kind": "layernorm",
            "embedding_norm": True, "position_encoding": "alibi", "rms_norm_eps": c.get("layer_norm_epsilon"),
            "max_position_embeddings": c.get("seq_length") or BLOOM_DEFAULT_CONTEXT}


#: BloomConfig has no position limit (ALiBi); vLLM's ``_get_and_verify_max_len`` takes the context
#: from ``seq_length`` (2048 in the BLOOM configs) and otherwise defaults to 2048 tokens.
BLOOM_DEFAULT_CONTEXT = 2048


def _cohere(c: dict) -> dict:
    """modeling_cohere: one bias-free LayerNorm per layer (attention and MLP in parallel);
    ``use_qk_norm``: LayerNorms of shape (nh, hd) and (nkv, hd)."""
    return {**_attention_bias_only(c), "norm_kind": "layernorm_nobias", "norms_per_layer": 1,
            "qk_norm": "full_width" if c.get("use_qk_norm") else None, "rms_norm_eps": c.get("layer_norm_eps")}


def _cohere2(c: dict) -> dict:  # modeling_cohere2: as Cohere without qk norms; 3 sliding : 1 full
    return {**_attention_bias_only(c), "norm_kind": "layernorm_nobias", "norms_per_layer": 1,
            "head_dim": _whole(c, "hidden_size") // _whole(c, "num_attention_heads"),
            "rms_norm_eps": c.get("layer_norm_eps"),
            "sliding_window": c.get("sliding_window", 4096),
            "layer_types": c.get("layer_types") or _layer_pattern(c, 4)}


def _olmo2(c: dict) -> dict:  # modeling_olmo2: post-norms only (2), q_norm/k_norm over nh*hd / nkv*hd
    return {**_attention_bias_only(c), "qk_norm": "full_width"}


#: The dense decoders mapped by config: model_type -> (the configuration file's
#: ``tie_word_embeddings`` default, the family's fields). Source of each: transformers
#: ``models/<type>/configuration_<type>.py`` and ``modeling_<type>.py`` (QWen v1: Qwen/Qwen-7B's
#: remote code). README "Supported architectures" lists what each counts.
DENSE_FAMILIES = {
    "llama": (False, _llama),
    "granite": (False, _llama),  # embedding/attention/residual multipliers and logits_scaling: no weights
    "mistral": (False, lambda c: {}),  # modeling_mistral: no bias keys
    "qwen2": (False, lambda c: {"attention_qkv_bias": True, **_qwen_windows(c)}),  # q, k, v biases (not o)
    "qwen3": (False, lambda c: {**_attention_bias_only(c), "qk_norm": "rms_weighted", **_qwen_windows(c)}),
    "qwen": (False, _qwen_v1),
    "gemma": (True, _gemma),
    "gemma2": (True, _gemma2),
    "gemma3_text": (True, _gemma3_text),
    "phi3": (False, _phi3),
    "falcon": (True, _falcon),
    "bloom": (True, _bloom),
    "cohere": (True, _cohere),
    "cohere2": (True, _cohere2),
    "olmo2": (False, _olmo2),
}
#: Body defaults of a configuration class, for configs that omit them: Gemma 3's multimodal
#: wrappers ship a ``text_config`` with only the keys that differ (transformers
#: ``configuration_gemma3.py`` ``Gemma3TextConfig``).
_CONFIG_DEFAULTS = {
    "gemma3_text": {"vocab_size": 262_208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "max_position_embeddings": 131_072, "sliding_window": 4096},
}
#: Older BLOOM / Falcon (RefinedWeb) configs name the body n_embed / n_layer / n_head.
_BODY_ALIASES = {"hidden_size": "n_embed", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}

SUPPORTED_MODEL_TYPES = frozenset(MOE_TYPES | set(DENSE_FAMILIES))


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
    # a bias only where the family's modeling file reads a key for it (Mistral, Phi-3: never)
    out = {"intermediate_size": c.get("intermediate_size"), "attention_bias": False}
    if mt in DENSE_FAMILIES:
        return out | DENSE_FAMILIES[mt][1](c)
    return out | _llama(c)  # an unmapped model_type, read as Llama (load_hf_config labels it)


def load_hf_config(path: Path) -> ModelSpec:
    """Build a spec from a Hugging Face config.json (or a directory holding one)."""
    outer = _read_json(path)
    mt_outer = str(outer.get("model_type", "")).strip()
    c = outer.get("text_config") if isinstance(outer.get("text_config"), dict) else outer
    mt = str(c.get("model_type", mt_outer) or mt_outer)
    if mt in _CONFIG_DEFAULTS:
        omitted = sorted(k for k in _CONFIG_DEFAULTS[mt] if c.get(k) is None and k not in c)
        c = {**{k: _CONFIG_DEFAULTS[mt][k] for k in omitted}, **c}
    else:
        omitted = []
    if mt in ("bloom", "falcon"):
        c = {**{k: c[alias] for k, alias in _BODY_ALIASES.items() if c.get(k) is None and alias in c}, **c}
        c = {k: v for k, v in c.items() if v is not None}
    if mt == "llama4_text" or mt_outer == "llama4":
        mt = "llama4_text"
    if not mt:
        raise DataError(f"{path}: config.json has no model_type")
    given = Path(path)
    name_hint = outer.get("_name_or_path") or (given.resolve().name if given.is_dir() else given.resolve().parent.name)
    notes = [f"read from {path}"]
    if omitted:
        notes.append(f"keys the config omits take the {mt} configuration defaults: {', '.join(omitted)}")
    assumptions = []
    if mt not in SUPPORTED_MODEL_TYPES:
        assumptions.append(f"model_type {quote_value(mt)} has no mapping in llamasize; counted as a Llama-style "
                           "decoder (gated MLP, two RMSNorms per layer, biases only where attention_bias / "
                           "mlp_bias say)")
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
        "tie_word_embeddings": bool(c.get("tie_word_embeddings", outer.get(
            "tie_word_embeddings", DENSE_FAMILIES[mt][0] if mt in DENSE_FAMILIES else False))),
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
    except KeyError as e:
        raise DataError(f"{path}: config.json lacks {e.args[0]}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: a config.json value has the wrong type ({e})") from None
    if isinstance(outer.get("vision_config"), dict) and "vision_config" not in fields:
        assumptions.append(f"the vision tower of model_type {quote_value(mt_outer)} (vision_config) is not counted")
    if assumptions:
        fields["architecture_assumption"] = "; ".join(assumptions)
        notes += assumptions
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
