"""config.json mapping for MoE, MLA, hybrid linear-attention and multimodal families (issue 11 item 4).

``hfconfig`` dispatches here for the ``model_type`` values in ``MOE_TYPES`` (``family_fields``)
and, for every config, asks ``tower_fields`` for the vision tower of a multimodal wrapper. Each
family's keys and defaults are those of its transformers 5.24 ``configuration_*.py`` (the authority
for config keys; the modeling files for shapes): a key the published config omits takes the
transformers default, written here next to its use.

- Llama 4 (``llama4`` / ``llama4_text``), Mixtral, gpt-oss: routed experts named ``intermediate_size``.
- Qwen2-MoE / Qwen3-MoE: ``num_experts``, ``decoder_sparse_step``, a gated shared expert (Qwen2).
- Granite-MoE (``granitemoe``, ``granitemoeshared``): every layer MoE, experts ``intermediate_size``
  wide (fused gate+up ``input_linear``), router without bias; the shared MLP of
  ``granitemoeshared`` is ``shared_intermediate_size`` wide.
- DeepSeek-V2/V3: MLA (``q_lora_rank`` null means a plain ``q_proj``), ``first_k_dense_replace``,
  ``moe_layer_freq``, ``n_shared_experts``; V3's ``noaux_tc`` router has a per-expert bias; MTP
  layers (``num_nextn_predict_layers``).
- Qwen3-Next / Qwen3.5 (``qwen3_next``, ``qwen3_5_text``, ``qwen3_5_moe_text``): ``layer_types``
  (or ``full_attention_interval``, default 4) mixing Gated DeltaNet ``linear_attention`` and gated
  full attention; their MTP modules (``mtp_num_hidden_layers``) are not defined in transformers
  (``_keys_to_ignore_on_load_unexpected = ["^mtp.*"]``) and are reported, not counted.
- Qwen2-VL / Qwen2.5-VL text models: Qwen2 with q/k/v biases.
"""

from __future__ import annotations

from llamasize.errors import DataError

_QWEN_VL_TEXT = {"qwen2_vl", "qwen2_5_vl", "qwen2_vl_text", "qwen2_5_vl_text"}
_HYBRID = {"qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"}
MOE_TYPES = frozenset({"llama4", "llama4_text", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3",
                       "gpt_oss", "granitemoe", "granitemoeshared"} | _QWEN_VL_TEXT | _HYBRID)
#: Multimodal wrappers whose vision tower ``tower_fields`` counts (outer ``model_type``).
TOWER_TYPES = frozenset({"llama4", "qwen2_vl", "qwen2_5_vl", "qwen3_5", "qwen3_5_moe", "gemma3", "mistral3"})


def _llama4(c: dict) -> dict:
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


def _qwen_moe(mt: str, c: dict) -> dict:
    shared = c.get("shared_expert_intermediate_size") or None
    out = {"moe_intermediate_size": c.get("moe_intermediate_size"), "num_local_experts": c.get("num_experts"),
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


def _granite_moe(mt: str, c: dict) -> dict:
    """configuration_granitemoe.py: num_local_experts (default 8), num_experts_per_tok (2); the
    experts are ``intermediate_size`` wide and every layer is MoE (modeling_granitemoe.py); the
    shared MLP (``granitemoeshared``, ``shared_intermediate_size``, default 0 = none)."""
    out = {"moe_intermediate_size": c.get("intermediate_size"), "num_local_experts": c.get("num_local_experts", 8),
           "num_experts_per_tok": c.get("num_experts_per_tok", 2), "intermediate_size": None}
    shared = c.get("shared_intermediate_size", 0) if mt == "granitemoeshared" else 0
    if shared:
        out |= {"n_shared_experts": 1, "shared_expert_intermediate_size": shared}
    return out


def _deepseek(mt: str, c: dict) -> dict:
    """configuration_deepseek_v2/v3.py: n_routed_experts, n_shared_experts, first_k_dense_replace
    (V2 default 0, V3 3), moe_layer_freq (1), q_lora_rank (null: q_proj), topk_method (V3
    ``noaux_tc``: the router's e_score_correction_bias), num_nextn_predict_layers (V3, MTP)."""
    return {"moe_intermediate_size": c.get("moe_intermediate_size"),
            "num_local_experts": c.get("n_routed_experts"), "num_experts_per_tok": c.get("num_experts_per_tok"),
            "n_shared_experts": c.get("n_shared_experts"),
            "first_k_dense_replace": c.get("first_k_dense_replace", 3 if mt == "deepseek_v3" else 0),
            "moe_layer_freq": c.get("moe_layer_freq", 1),
            "intermediate_size": c.get("intermediate_size"),
            "router_bias": c.get("topk_method", "noaux_tc" if mt == "deepseek_v3" else "greedy") == "noaux_tc",
            "q_lora_rank": c.get("q_lora_rank"), "kv_lora_rank": c.get("kv_lora_rank"),
            "qk_rope_head_dim": c.get("qk_rope_head_dim"), "qk_nope_head_dim": c.get("qk_nope_head_dim"),
            "v_head_dim": c.get("v_head_dim"),
            "num_nextn_predict_layers": c.get("num_nextn_predict_layers", 0) or 0}


def _hybrid(mt: str, c: dict) -> dict:
    """Qwen3-Next / Qwen3.5 (configuration_qwen3_next.py, configuration_qwen3_5*.py): layer_types
    or ``full_attention_interval`` (default 4: layer i is full attention iff (i+1) % 4 == 0);
    Gated DeltaNet keys (defaults 16 key heads, 32 value heads, head dims 128, conv kernel 4);
    full attention with an output gate and q/k RMSNorms; MoE with a gated shared expert
    (``qwen3_next``: decoder_sparse_step, mlp_only_layers; ``qwen3_5_moe_text``: every layer MoE;
    ``qwen3_5_text``: dense)."""
    n = c.get("num_hidden_layers")
    types = c.get("layer_types")
    if types is None and isinstance(n, int):
        every = c.get("full_attention_interval", 4)
        types = ["linear_attention" if (i + 1) % every else "full_attention" for i in range(n)]
    out = {"layer_types": list(types) if types else None, "qk_norm": "rms_weighted", "attn_output_gate": True,
           "linear_num_key_heads": c.get("linear_num_key_heads", 16),
           "linear_num_value_heads": c.get("linear_num_value_heads", 32),
           "linear_key_head_dim": c.get("linear_key_head_dim", 128),
           "linear_value_head_dim": c.get("linear_value_head_dim", 128),
           "linear_conv_kernel_dim": c.get("linear_conv_kernel_dim", 4),
           "head_dim": c.get("head_dim", 256), "intermediate_size": c.get("intermediate_size")}
    if mt != "qwen3_5_text":
        if c.get("mlp_only_layers"):
            raise DataError("mlp_only_layers (dense layers inside a Qwen MoE) are not supported")
        out |= {"moe_intermediate_size": c.get("moe_intermediate_size", 512),
                "num_local_experts": c.get("num_experts", 512 if mt == "qwen3_next" else 256),
                "num_experts_per_tok": c.get("num_experts_per_tok", 10 if mt == "qwen3_next" else 8),
                "interleave_moe_layer_step": c.get("decoder_sparse_step", 1) or 1,
                "n_shared_experts": 1, "shared_expert_intermediate_size": c.get("shared_expert_intermediate_size", 512),
                "shared_expert_gate": True}
    return out


def _qwen_vl_text(c: dict) -> dict:
    """Qwen2VLAttention / Qwen2_5_VLAttention: biases on q, k, v (not o). configuration_qwen2_vl.py:
    with ``use_sliding_window`` (default False) layer i slides iff i >= ``max_window_layers``."""
    out = {"intermediate_size": c.get("intermediate_size"), "attention_qkv_bias": True, "sliding_window": None}
    n = c.get("num_hidden_layers")
    if c.get("use_sliding_window") and c.get("sliding_window") and isinstance(n, int):
        first = c.get("max_window_layers", 80)
        out["sliding_window"] = c["sliding_window"]
        out["layer_types"] = ["sliding_attention" if i >= first else "full_attention" for i in range(n)]
    return out


def family_fields(mt: str, c: dict, outer: dict) -> dict:
    """Spec fields for a text ``model_type`` in ``MOE_TYPES`` from its (text) config ``c``."""
    del outer  # the wrappers' extras are read by tower_fields
    if mt in ("llama4", "llama4_text"):
        return _llama4(c)
    if mt == "mixtral":
        return {"moe_intermediate_size": c.get("intermediate_size"), "num_local_experts": c.get("num_local_experts"),
                "num_experts_per_tok": c.get("num_experts_per_tok")}
    if mt in ("qwen2_moe", "qwen3_moe"):
        return _qwen_moe(mt, c)
    if mt in ("granitemoe", "granitemoeshared"):
        return _granite_moe(mt, c)
    if mt in ("deepseek_v2", "deepseek_v3"):
        return _deepseek(mt, c)
    if mt in _HYBRID:
        return _hybrid(mt, c)
    if mt in _QWEN_VL_TEXT:
        return _qwen_vl_text(c)
    # gpt_oss
    return {"moe_intermediate_size": c.get("intermediate_size"), "num_local_experts": c.get("num_local_experts"),
            "num_experts_per_tok": c.get("num_experts_per_tok") or c.get("experts_per_token"),
            "layer_types": c.get("layer_types"), "attention_sinks": True, "router_bias": True,
            "mlp_bias": True, "attention_bias": bool(c.get("attention_bias", True))}


def family_notes(mt: str, c: dict) -> list[str]:
    """What the config declares that the count leaves out, said in the spec's notes."""
    if mt in _HYBRID and c.get("mtp_num_hidden_layers"):
        return [f"mtp_num_hidden_layers {c['mtp_num_hidden_layers']}: the checkpoint's mtp.* tensors are not "
                "counted (transformers does not define them: it ignores ^mtp.* on load)"]
    return []


def _vision_llama4(v: dict) -> dict:
    keys = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "image_size",
            "patch_size", "num_channels", "pixel_shuffle_ratio", "projector_input_dim",
            "projector_output_dim", "vision_output_dim"]
    return {k: v[k] for k in keys if k in v}


def _vision_qwen(kind: str, v: dict, text_hidden: int) -> dict:
    """Vision keys and transformers defaults: Qwen2-VL (configuration_qwen2_vl.py: depth 32,
    embed_dim 1280 = width, mlp_ratio 4, hidden_size 3584 = merger output; published configs say
    ``in_chans``), Qwen2.5-VL (depth 32, hidden_size = width, default 3584, intermediate_size 3420,
    out_hidden_size 3584) and Qwen3.5 (depth 27, hidden_size 1152, intermediate_size 4304,
    num_position_embeddings 2304, out_hidden_size: the text width); all: num_heads 16,
    in_channels 3, patch_size 14 (Qwen3.5: 16), spatial_merge_size 2, temporal_patch_size 2."""
    common = {"model_type": kind, "num_attention_heads": v.get("num_heads", 16),
              "num_channels": v.get("in_channels", v.get("in_chans", 3)),
              "temporal_patch_size": v.get("temporal_patch_size", 2),
              "spatial_merge_size": v.get("spatial_merge_size", 2)}
    if kind == "qwen2_vl":
        d = v.get("embed_dim", 1280)
        ratio = v.get("mlp_ratio", 4)
        if not isinstance(ratio, (int, float)) or d * ratio != int(d * ratio):
            raise DataError(f"vision_config mlp_ratio {ratio!r} does not give an integer MLP width")
        return common | {"hidden_size": d, "intermediate_size": int(d * ratio), "num_hidden_layers": v.get("depth", 32),
                         "patch_size": v.get("patch_size", 14), "out_hidden_size": v.get("hidden_size", 3584)}
    if kind == "qwen2_5_vl":
        return common | {"hidden_size": v.get("hidden_size", 3584),
                         "intermediate_size": v.get("intermediate_size", 3420),
                         "num_hidden_layers": v.get("depth", 32), "patch_size": v.get("patch_size", 14),
                         "out_hidden_size": v.get("out_hidden_size", 3584)}
    return common | {"hidden_size": v.get("hidden_size", 1152), "intermediate_size": v.get("intermediate_size", 4304),
                     "num_hidden_layers": v.get("depth", 27), "patch_size": v.get("patch_size", 16),
                     "out_hidden_size": v.get("out_hidden_size", text_hidden),
                     "num_position_embeddings": v.get("num_position_embeddings", 2304)}


def _vision_siglip(v: dict, text_hidden: int) -> dict:
    """SigLIP (configuration_siglip.py ``SiglipVisionConfig`` defaults: hidden 768, intermediate
    3072, 12 layers, 12 heads, 3 channels, image 224, patch 16, vision_use_head True); Gemma 3's
    projector maps to the text hidden size."""
    return {"model_type": "siglip_vision_model", "hidden_size": v.get("hidden_size", 768),
            "intermediate_size": v.get("intermediate_size", 3072), "num_hidden_layers": v.get("num_hidden_layers", 12),
            "num_attention_heads": v.get("num_attention_heads", 12), "num_channels": v.get("num_channels", 3),
            "image_size": v.get("image_size", 224), "patch_size": v.get("patch_size", 16),
            "vision_use_head": bool(v.get("vision_use_head", True)), "out_hidden_size": text_hidden}


def _vision_pixtral(v: dict, outer: dict, text_hidden: int) -> dict:
    """Pixtral (configuration_pixtral.py defaults: hidden 1024, intermediate 4096, 24 layers, 16
    heads, 3 channels, patch 16) and Mistral 3's projector (configuration_mistral3.py:
    spatial_merge_size 2, multimodal_projector_bias False, vision_feature_layer -1)."""
    layers = outer.get("vision_feature_layer", -1)
    return {"model_type": "pixtral", "hidden_size": v.get("hidden_size", 1024),
            "intermediate_size": v.get("intermediate_size", 4096), "num_hidden_layers": v.get("num_hidden_layers", 24),
            "num_attention_heads": v.get("num_attention_heads", 16), "num_channels": v.get("num_channels", 3),
            "image_size": v.get("image_size"), "patch_size": v.get("patch_size", 16),
            "spatial_merge_size": outer.get("spatial_merge_size", 2),
            "multimodal_projector_bias": bool(outer.get("multimodal_projector_bias", False)),
            "num_feature_layers": 1 if isinstance(layers, int) else len(layers), "out_hidden_size": text_hidden}


def tower_fields(mt_outer: str, outer: dict, text_hidden: int | None, notes: list[str]) -> dict:
    """``{"vision_config": ...}`` for a multimodal wrapper in ``TOWER_TYPES`` (empty otherwise);
    a ``vision_config`` of another wrapper is said in ``notes``, not silently dropped."""
    v = outer.get("vision_config")
    if not isinstance(v, dict):
        return {}
    if mt_outer not in TOWER_TYPES:
        notes.append(f"vision_config of model_type '{mt_outer}' is not counted (no tower mapping)")
        return {}
    if mt_outer == "llama4":
        out = _vision_llama4(v)
    elif mt_outer in ("qwen2_vl", "qwen2_5_vl"):
        out = _vision_qwen(mt_outer, v, text_hidden)
    elif mt_outer in ("qwen3_5", "qwen3_5_moe"):
        out = _vision_qwen("qwen3_5", v, text_hidden)
    elif mt_outer == "gemma3":
        out = _vision_siglip(v, text_hidden)
    else:
        out = _vision_pixtral(v, outer, text_hidden)
    out = {k: val for k, val in out.items() if val is not None}
    return {"vision_config": out | {"source": "vision_config of the given config.json"}}
