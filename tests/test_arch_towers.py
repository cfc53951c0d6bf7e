"""Architectures by config (issue 11 item 4, MoE / hybrid / vision half): real published configs.

Each test writes the numbers of a model's published ``config.json`` (repo id cited), reads it with
``load_hf_config`` and asserts the exact parameter count. The expected count is derived here
independently, by enumerating the tensors the transformers 5.24 modeling file creates
(``/work/ref/transformers/transformers/models/<type>/modeling_*.py``), as a state dict of
``name -> shape``; plus the published exact total where the project has it (registry /
docs/facts/models.md).
"""

from __future__ import annotations

import json
from math import prod
from pathlib import Path

import pytest

from llamasize.data.hfconfig import load_hf_config
from llamasize.data.spec import ModelSpec
from llamasize.errors import DataError
from llamasize.estimate.kv import KvModel, kv_models, linear_state_bytes_layer
from llamasize.estimate.params import count_params, mtp_tensors, weight_table


#: Exact totals the Hugging Face model pages show (safetensors metadata), as known to the author (not in
#: facts/); each equals the independent enumeration below to the parameter, which a wrong figure could not.
HUB_TOTALS = {
    "DeepSeek-V2-Lite": 15_706_484_224,
    "DeepSeek-V2": 235_741_434_880,
    "Qwen1.5-MoE-A2.7B": 14_315_784_192,
    "Qwen2-VL-7B-Instruct": 8_291_375_616,
    "Qwen2.5-VL-7B-Instruct": 8_292_166_656,
    "Mistral-Small-3.1-24B-Instruct-2503": 24_011_361_280,
}


def write(tmp_path: Path, name: str, cfg: dict) -> Path:
    d = tmp_path / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(cfg))
    return d / "config.json"


def numel(sd: dict) -> int:
    return sum(prod(s) for s in sd.values())


# ------------------------------------------------------------ state-dict enumerators (tests) ---
def sd_attention(p, h, nh, nkv, hd, qkv_bias=False, q_gate=False, qk_norm=False):
    sd = {f"{p}.q_proj.weight": ((2 if q_gate else 1) * nh * hd, h), f"{p}.k_proj.weight": (nkv * hd, h),
          f"{p}.v_proj.weight": (nkv * hd, h), f"{p}.o_proj.weight": (h, nh * hd)}
    if qkv_bias:
        sd |= {f"{p}.q_proj.bias": (nh * hd,), f"{p}.k_proj.bias": (nkv * hd,), f"{p}.v_proj.bias": (nkv * hd,)}
    if qk_norm:
        sd |= {f"{p}.q_norm.weight": (hd,), f"{p}.k_norm.weight": (hd,)}
    return sd


def sd_mlp(p, h, f):
    return {f"{p}.gate_proj.weight": (f, h), f"{p}.up_proj.weight": (f, h), f"{p}.down_proj.weight": (h, f)}


def sd_decoder_frame(c, layers_fn):
    """embed_tokens, per-layer input/post norms + layers_fn(i), final norm, lm_head unless tied."""
    h, v = c["hidden_size"], c["vocab_size"]
    sd = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    for i in range(c["num_hidden_layers"]):
        sd |= {f"model.layers.{i}.input_layernorm.weight": (h,), f"model.layers.{i}.post_attention_layernorm.weight": (h,)}
        sd |= layers_fn(i, f"model.layers.{i}")
    if not c.get("tie_word_embeddings", False):
        sd["lm_head.weight"] = (v, h)
    return sd


# ------------------------------------------------------------------------------ granitemoe ---
# ibm-granite/granite-3.0-1b-a400m-instruct config.json
GRANITE_1B_A400M = {
    "architectures": ["GraniteMoeForCausalLM"], "model_type": "granitemoe", "attention_bias": False,
    "attention_multiplier": 0.015625, "embedding_multiplier": 12.0, "hidden_act": "silu", "hidden_size": 1024,
    "intermediate_size": 512, "logits_scaling": 6.0, "max_position_embeddings": 4096, "num_attention_heads": 16,
    "num_experts_per_tok": 8, "num_hidden_layers": 24, "num_key_value_heads": 8, "num_local_experts": 32,
    "residual_multiplier": 0.22, "rms_norm_eps": 1e-06, "rope_theta": 10000, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "vocab_size": 49155,
}


def sd_granitemoe(c, shared=0):
    """modeling_granitemoe.py: GraniteMoeAttention (no bias), GraniteMoeMoE = router.weight (E, h)
    + experts.gate_up_proj (E, 2f, h) + experts.down_proj (E, h, f); granitemoeshared adds
    shared_mlp.input_linear (2fs, h) + output_linear (h, fs)."""
    h, e, f = c["hidden_size"], c["num_local_experts"], c["intermediate_size"]
    hd = h // c["num_attention_heads"]

    def layer(i, p):
        sd = sd_attention(f"{p}.self_attn", h, c["num_attention_heads"], c["num_key_value_heads"], hd)
        sd |= {f"{p}.mlp.router.weight": (e, h), f"{p}.mlp.experts.gate_up_proj": (e, 2 * f, h),
               f"{p}.mlp.experts.down_proj": (e, h, f)}
        if shared:
            sd |= {f"{p}.shared_mlp.input_linear.weight": (2 * shared, h),
                   f"{p}.shared_mlp.output_linear.weight": (h, shared)}
        return sd
    return sd_decoder_frame(c, layer)


def test_granitemoe_counts_its_32_experts(tmp_path):
    spec = load_hf_config(write(tmp_path, "granite-3.0-1b-a400m-instruct", GRANITE_1B_A400M))
    b = count_params(spec)
    assert b.total_params == numel(sd_granitemoe(GRANITE_1B_A400M))
    assert b.num_experts == 32 and b.experts_per_token == 8 and b.moe_layers == list(range(24))
    assert b.components["routed_experts"] == 24 * 32 * 3 * 1024 * 512
    assert b.components["lm_head"] == 0 and b.components["dense_ffn"] == 0  # tied; every layer MoE
    assert b.components["router"] == 24 * 32 * 1024  # no router bias
    # active: 8 of 32 experts
    assert b.active_params == b.total_params - 24 * 24 * 3 * 1024 * 512


def test_granitemoeshared_shared_mlp(tmp_path):
    cfg = {**GRANITE_1B_A400M, "model_type": "granitemoeshared", "shared_intermediate_size": 1024}
    b = count_params(load_hf_config(write(tmp_path, "granite-shared", cfg)))
    assert b.total_params == numel(sd_granitemoe(cfg, shared=1024))
    assert b.components["shared_experts"] == 24 * 3 * 1024 * 1024


# ----------------------------------------------------------------------------- deepseek_v2 ---
# deepseek-ai/DeepSeek-V2-Lite config.json (the same numbers as inference/configs/config_16B.json
# of deepseek-ai/DeepSeek-V3: dim 2048, 27 layers, 1 dense, 64 routed / 2 shared / 6 active,
# q_lora_rank 0, kv_lora_rank 512, nope 128, rope 64, v 128, vocab 102400)
DEEPSEEK_V2_LITE = {
    "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "attention_bias": False,
    "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 10944,
    "kv_lora_rank": 512, "max_position_embeddings": 163840, "moe_intermediate_size": 1408, "moe_layer_freq": 1,
    "n_group": 1, "n_routed_experts": 64, "n_shared_experts": 2, "norm_topk_prob": False, "num_attention_heads": 16,
    "num_experts_per_tok": 6, "num_hidden_layers": 27, "num_key_value_heads": 16, "q_lora_rank": None,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06, "rope_theta": 10000,
    "routed_scaling_factor": 1.0, "scoring_func": "softmax", "tie_word_embeddings": False, "topk_group": 1,
    "topk_method": "greedy", "torch_dtype": "bfloat16", "v_head_dim": 128, "vocab_size": 102400,
}


def sd_deepseek_layer(c, i, p, router_bias):
    """modeling_deepseek_v2.py / _v3.py: DeepseekV2Attention (q_proj, or q_a_proj + q_a_layernorm +
    q_b_proj; kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj) and DeepseekV2Moe (gate.weight
    (E, h) [+ V3 e_score_correction_bias (E,)], experts gate_up (E, 2fe, h), down (E, h, fe),
    shared_experts MLP of n_shared x fe) or a dense DeepseekV2MLP below first_k_dense_replace."""
    h, nh = c["hidden_size"], c["num_attention_heads"]
    nope, rope, vd, kvr, ql = (c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"],
                               c["q_lora_rank"])
    a = f"{p}.self_attn"
    sd = {f"{a}.kv_a_proj_with_mqa.weight": (kvr + rope, h), f"{a}.kv_a_layernorm.weight": (kvr,),
          f"{a}.kv_b_proj.weight": (nh * (nope + vd), kvr), f"{a}.o_proj.weight": (h, nh * vd)}
    if ql:
        sd |= {f"{a}.q_a_proj.weight": (ql, h), f"{a}.q_a_layernorm.weight": (ql,),
               f"{a}.q_b_proj.weight": (nh * (nope + rope), ql)}
    else:
        sd[f"{a}.q_proj.weight"] = (nh * (nope + rope), h)
    if i < c["first_k_dense_replace"]:
        return sd | sd_mlp(f"{p}.mlp", h, c["intermediate_size"])
    e, fe = c["n_routed_experts"], c["moe_intermediate_size"]
    sd |= {f"{p}.mlp.gate.weight": (e, h), f"{p}.mlp.experts.gate_up_proj": (e, 2 * fe, h),
           f"{p}.mlp.experts.down_proj": (e, h, fe)}
    if router_bias:
        sd[f"{p}.mlp.gate.e_score_correction_bias"] = (e,)
    return sd | sd_mlp(f"{p}.mlp.shared_experts", h, c["n_shared_experts"] * fe)


def test_deepseek_v2_lite(tmp_path):
    spec = load_hf_config(write(tmp_path, "DeepSeek-V2-Lite", DEEPSEEK_V2_LITE))
    b = count_params(spec)
    expected = numel(sd_decoder_frame(DEEPSEEK_V2_LITE, lambda i, p: sd_deepseek_layer(DEEPSEEK_V2_LITE, i, p, False)))
    assert b.total_params == expected
    assert b.moe_layers == list(range(1, 27))
    assert b.components["router"] == 26 * 64 * 2048  # greedy top-k: no correction bias
    assert any(t.name.endswith("self_attn.q_proj") for t in weight_table(spec))  # q_lora_rank null
    assert b.total_params == HUB_TOTALS["DeepSeek-V2-Lite"]


def test_deepseek_moe_layer_freq(tmp_path):
    cfg = {**DEEPSEEK_V2_LITE, "moe_layer_freq": 2}
    spec = load_hf_config(write(tmp_path, "freq2", cfg))
    assert spec.moe_layer_ids() == list(range(2, 27, 2))  # i >= 1 and i % 2 == 0 (DeepSeek-V2 modeling_deepseek.py)


# ----------------------------------------------------------------------------- deepseek_v3 ---
# deepseek-ai/DeepSeek-V3 config.json (docs/facts/models.md 5)
DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
    "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8,
    "first_k_dense_replace": 3, "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "topk_method": "noaux_tc", "n_group": 8,
    "topk_group": 4, "num_nextn_predict_layers": 1, "vocab_size": 129280, "max_position_embeddings": 163840,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}


def test_deepseek_v3_mtp_layer_counted(tmp_path):
    spec = load_hf_config(write(tmp_path, "DeepSeek-V3", DEEPSEEK_V3))
    b = count_params(spec)
    c, h = DEEPSEEK_V3, DEEPSEEK_V3["hidden_size"]
    main = numel(sd_decoder_frame(c, lambda i, p: sd_deepseek_layer(c, i, p, True)))
    # README_WEIGHTS.md: model.layers.61 = a full decoder layer + enorm + hnorm + eh_proj + shared_head
    # (embed_tokens and shared_head.head share the main model's)
    mtp_sd = sd_deepseek_layer(c, 61, "model.layers.61", True) | {
        "model.layers.61.input_layernorm.weight": (h,), "model.layers.61.post_attention_layernorm.weight": (h,),
        "model.layers.61.enorm.weight": (h,), "model.layers.61.hnorm.weight": (h,),
        "model.layers.61.eh_proj.weight": (h, 2 * h), "model.layers.61.shared_head.norm.weight": (h,)}
    assert b.components["mtp"] == numel(mtp_sd)
    assert b.total_params == main + numel(mtp_sd)
    # README_WEIGHTS: "11.5B unique parameters" for the MTP module (the count is 11.61B)
    assert abs(b.components["mtp"] - 11.5e9) / 11.5e9 < 0.01
    # The active count is the main model's: MTP is a draft
    assert b.active_params == 37_552_297_472
    # weight_table (what serving loads) leaves MTP out; mtp_tensors carries it
    assert sum(t.numel for t in weight_table(spec)) == main
    assert all(t.layer == 61 and t.component == "mtp" for t in mtp_tensors(spec))


def test_deepseek_v3_checkpoint_total_matches_the_hub_count(registry):
    """The Hub's safetensors count 684,531,386,000 (docs/facts/models.md 5) is, to the parameter, the
    main model + the MTP layer + the layer-61 copies of embed_tokens and shared_head.head (stored
    again in the checkpoint) + one fp32 weight_scale_inv per 128x128 block of every FP8 linear
    (all linears except the embeddings, lm_head, router gate and the BF16 eh_proj)."""
    spec = registry.model("deepseek-v3")
    b = count_params(spec)
    embed = 129280 * 7168
    scales = 0
    for t in weight_table(spec) + mtp_tensors(spec):
        if t.kind == "linear" and t.role not in ("embed", "lm_head", "eh_proj"):
            e, o, i = t.shape if len(t.shape) == 3 else (1, *t.shape)
            scales += e * -(-o // 128) * -(-i // 128)
    assert b.total_params + 2 * embed + scales == 684_531_386_000
    assert b.total_params - b.components["mtp"] == 671_026_419_200  # main model, vs "671B"


# -------------------------------------------------------------------------- re-checked MoE ---
# mistralai/Mixtral-8x7B-v0.1 config.json
MIXTRAL_8X7B = {
    "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "num_local_experts": 8, "num_experts_per_tok": 2, "vocab_size": 32000, "max_position_embeddings": 32768,
    "rope_theta": 1e6, "rms_norm_eps": 1e-05, "sliding_window": None, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
# Qwen/Qwen3-30B-A3B config.json
QWEN3_30B_A3B = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
    "intermediate_size": 6144, "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
    "vocab_size": 151936, "decoder_sparse_step": 1, "mlp_only_layers": [], "max_position_embeddings": 40960,
    "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": None, "rope_theta": 1e6,
    "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16",
}
# Qwen/Qwen1.5-MoE-A2.7B config.json
QWEN15_MOE_A27B = {
    "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "hidden_size": 2048,
    "intermediate_size": 5632, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
    "num_experts": 60, "num_experts_per_tok": 4, "num_hidden_layers": 24, "num_attention_heads": 16,
    "num_key_value_heads": 16, "vocab_size": 151936, "decoder_sparse_step": 1, "max_position_embeddings": 8192,
    "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21,
    "rope_theta": 1e6, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16",
}
# openai/gpt-oss-20b config.json
GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
    "num_hidden_layers": 24, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
    "num_local_experts": 32, "num_experts_per_tok": 4, "experts_per_token": 4, "vocab_size": 201088,
    "sliding_window": 128, "layer_types": ["sliding_attention", "full_attention"] * 12,
    "max_position_embeddings": 131072, "tie_word_embeddings": False, "attention_bias": True, "rope_theta": 150000,
    "rms_norm_eps": 1e-05, "torch_dtype": "bfloat16",
}


def sd_moe_generic(c, e, fe, router_bias=False, expert_bias=False, shared=0, shared_gate=False):
    h = c["hidden_size"]

    def moe(p):
        sd = {f"{p}.gate.weight": (e, h), f"{p}.experts.gate_up_proj": (e, 2 * fe, h),
              f"{p}.experts.down_proj": (e, h, fe)}
        if router_bias:
            sd[f"{p}.gate.bias"] = (e,)
        if expert_bias:
            sd |= {f"{p}.experts.gate_up_proj_bias": (e, 2 * fe), f"{p}.experts.down_proj_bias": (e, h)}
        if shared:
            sd |= sd_mlp(f"{p}.shared_expert", h, shared)
        if shared_gate:
            sd[f"{p}.shared_expert_gate.weight"] = (1, h)
        return sd
    return moe


@pytest.mark.parametrize("name, cfg, published", [
    ("Mixtral-8x7B-v0.1", MIXTRAL_8X7B, 46_702_792_704),
    ("Qwen3-30B-A3B", QWEN3_30B_A3B, 30_532_122_624),
    ("Qwen1.5-MoE-A2.7B", QWEN15_MOE_A27B, HUB_TOTALS["Qwen1.5-MoE-A2.7B"]),
    ("gpt-oss-20b", GPT_OSS_20B, 20_914_757_184),
])
def test_moe_families_exact(tmp_path, name, cfg, published):
    """modeling_mixtral.py (router gate (E, h), experts gate_up/down, no biases), modeling_qwen3_moe.py
    (+ q_norm/k_norm), modeling_qwen2_moe.py (+ q/k/v biases, shared_expert and its sigmoid gate
    (1, h)), modeling_gpt_oss.py (attention biases + sinks (nh,), router bias, expert biases)."""
    mt = cfg["model_type"]
    h, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or h // nh
    if mt == "mixtral":
        moe = sd_moe_generic(cfg, cfg["num_local_experts"], cfg["intermediate_size"])
    elif mt == "qwen3_moe":
        moe = sd_moe_generic(cfg, cfg["num_experts"], cfg["moe_intermediate_size"])
    elif mt == "qwen2_moe":
        moe = sd_moe_generic(cfg, cfg["num_experts"], cfg["moe_intermediate_size"],
                             shared=cfg["shared_expert_intermediate_size"], shared_gate=True)
    else:
        moe = sd_moe_generic(cfg, cfg["num_local_experts"], cfg["intermediate_size"], router_bias=True, expert_bias=True)

    def layer(i, p):
        a = f"{p}.self_attn"
        sd = sd_attention(a, h, nh, nkv, hd, qkv_bias=mt in ("qwen2_moe", "gpt_oss"), qk_norm=mt == "qwen3_moe")
        if mt == "gpt_oss":
            sd |= {f"{a}.o_proj.bias": (h,), f"{a}.sinks": (nh,)}
        return sd | moe(f"{p}.mlp")
    expected = numel(sd_decoder_frame(cfg, layer))
    b = count_params(load_hf_config(write(tmp_path, name, cfg)))
    assert b.total_params == expected
    if published is not None:
        assert expected == published


# --------------------------------------------------------------------- hybrid Qwen3-Next ---
# Qwen/Qwen3-Next-80B-A3B-Instruct config.json
QWEN3_NEXT_80B = {
    "architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "attention_bias": False,
    "decoder_sparse_step": 1, "full_attention_interval": 4, "head_dim": 256, "hidden_act": "silu",
    "hidden_size": 2048, "intermediate_size": 5120, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
    "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_value_head_dim": 128,
    "max_position_embeddings": 262144, "mlp_only_layers": [], "moe_intermediate_size": 512, "norm_topk_prob": True,
    "num_attention_heads": 16, "num_experts": 512, "num_experts_per_tok": 10, "num_hidden_layers": 48,
    "num_key_value_heads": 2, "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06, "rope_theta": 10000000,
    "shared_expert_intermediate_size": 512, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "vocab_size": 151936,
}


def sd_gated_deltanet(p, c):
    """modeling_qwen3_next.py Qwen3NextGatedDeltaNet."""
    h = c["hidden_size"]
    nk, nv, dk, dv, k = (c["linear_num_key_heads"], c["linear_num_value_heads"], c["linear_key_head_dim"],
                         c["linear_value_head_dim"], c["linear_conv_kernel_dim"])
    kd, vd = nk * dk, nv * dv
    return {f"{p}.in_proj_qkvz.weight": (2 * kd + 2 * vd, h), f"{p}.in_proj_ba.weight": (2 * nv, h),
            f"{p}.conv1d.weight": (2 * kd + vd, 1, k), f"{p}.dt_bias": (nv,), f"{p}.A_log": (nv,),
            f"{p}.norm.weight": (dv,), f"{p}.out_proj.weight": (h, vd)}


def sd_qwen_hybrid(c, moe=True):
    h, every = c["hidden_size"], c.get("full_attention_interval", 4)
    mlp = sd_moe_generic(c, c.get("num_experts", 0), c.get("moe_intermediate_size", 0),
                         shared=c.get("shared_expert_intermediate_size", 0), shared_gate=True)

    def layer(i, p):
        if (i + 1) % every:
            sd = sd_gated_deltanet(f"{p}.linear_attn", c)
        else:
            sd = sd_attention(f"{p}.self_attn", h, c["num_attention_heads"], c["num_key_value_heads"],
                              c["head_dim"], q_gate=True, qk_norm=True)
        return sd | (mlp(f"{p}.mlp") if moe else sd_mlp(f"{p}.mlp", h, c["intermediate_size"]))
    return sd_decoder_frame(c, layer)


def test_qwen3_next_exact_and_layer_types(tmp_path):
    spec = load_hf_config(write(tmp_path, "Qwen3-Next-80B-A3B-Instruct", QWEN3_NEXT_80B))
    b = count_params(spec)
    assert b.total_params == numel(sd_qwen_hybrid(QWEN3_NEXT_80B))
    types = spec.resolved_layer_types()
    assert types.count("full_attention") == 12 and types.count("linear_attention") == 36
    assert [i for i, t in enumerate(types) if t == "full_attention"] == list(range(3, 48, 4))
    assert abs(b.total_params - 80e9) / 80e9 < 0.02  # "80B" (the repo name)


def test_qwen3_next_state_is_fixed_per_sequence(tmp_path):
    """KV grows only on the 12 full-attention layers; each of the 36 Gated DeltaNet layers holds a
    conv state (conv_dim=2*16*128+32*128=8192, K=4) in bf16 + a recurrent state (32, 128, 128) in
    fp32 per sequence, whatever the context."""
    spec = load_hf_config(write(tmp_path, "Qwen3-Next-80B-A3B-Instruct", QWEN3_NEXT_80B))
    state_layer = 8192 * 4 * 2 + 32 * 128 * 128 * 4
    assert linear_state_bytes_layer(spec, 1) == state_layer == 2_162_688
    (kvm,) = kv_models(spec, 2, 1, 1, "full", 1, 8192)
    kv_per_token = 12 * 2 * 2 * 256 * 2  # 12 layers x K and V x 2 kv heads x 256 x bf16
    for tokens in (1, 1000, 100_000):
        assert kvm.per_sequence(tokens) == tokens * kv_per_token + 36 * state_layer
    assert isinstance(kvm, KvModel) and kvm.state_bytes == 36 * state_layer
    # TP 2 splits the heads of the state as it splits the KV heads
    assert linear_state_bytes_layer(spec, 2) == state_layer // 2


def test_qwen3_next_fit_counts_state_not_tokens(cli, tmp_path):
    p = write(tmp_path, "Qwen3-Next-80B-A3B-Instruct", QWEN3_NEXT_80B)
    r = cli("fit", "--model", str(p), "--gpu", "h100", "--gpus", "4", "--ctx", "8K", "--format", "json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["kv_cache_bytes_per_token"] == 12 * 2 * 2 * 256 * 2  # only the 12 full-attention layers
    # per GPU at TP 4: 8192 tokens x 12 layers x (K+V, 1 replicated kv head, 256, bf16) + 36 states of
    # 4 key / 8 value heads: conv (2*4*128 + 8*128) x 4 x bf16, recurrent 8 x 128 x 128 x fp32
    per_gpu = 8192 * 12 * 2 * 1 * 256 * 2 + 36 * ((2 * 4 * 128 + 8 * 128) * 4 * 2 + 8 * 128 * 128 * 4)
    assert d["kv_cache_bytes"] == 4 * per_gpu


# ------------------------------------------------------------------------------ Qwen3.5 ---
# Qwen/Qwen3.5-35B-A3B: the text and vision numbers of transformers 5.24's configuration_qwen3_5_moe.py
# defaults (documented there for this checkpoint; the published config.json is not on disk), with the
# vision merger's out_hidden_size set to the text width (the default 3584 cannot feed a 2048-wide model).
QWEN35_MOE = {
    "architectures": ["Qwen3_5MoeForConditionalGeneration"], "model_type": "qwen3_5_moe", "tie_word_embeddings": False,
    "text_config": {"model_type": "qwen3_5_moe_text", "vocab_size": 248320, "hidden_size": 2048,
                    "num_hidden_layers": 40, "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
                    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
                    "linear_num_key_heads": 16, "linear_num_value_heads": 32, "moe_intermediate_size": 512,
                    "shared_expert_intermediate_size": 512, "num_experts_per_tok": 8, "num_experts": 256,
                    "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "torch_dtype": "bfloat16"},
    "vision_config": {"model_type": "qwen3_5_moe_vision", "depth": 27, "hidden_size": 1152, "intermediate_size": 4304,
                      "num_heads": 16, "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2,
                      "temporal_patch_size": 2, "out_hidden_size": 2048, "num_position_embeddings": 2304},
}


def sd_qwen35_vision(v):
    """modeling_qwen3_5_moe.py Qwen3_5MoeVisionModel: patch_embed Conv3d with bias, pos_embed,
    blocks (LayerNorm x2, qkv/proj with bias, linear_fc1/fc2 with bias), merger (LayerNorm,
    linear_fc1, linear_fc2 with biases)."""
    d, f, m2 = v["hidden_size"], v["intermediate_size"], v["spatial_merge_size"] ** 2
    sd = {"patch_embed.proj.weight": (d, v["in_channels"], v["temporal_patch_size"], v["patch_size"], v["patch_size"]),
          "patch_embed.proj.bias": (d,), "pos_embed.weight": (v["num_position_embeddings"], d),
          "merger.norm.weight": (d,), "merger.norm.bias": (d,), "merger.linear_fc1.weight": (d * m2, d * m2),
          "merger.linear_fc1.bias": (d * m2,), "merger.linear_fc2.weight": (v["out_hidden_size"], d * m2),
          "merger.linear_fc2.bias": (v["out_hidden_size"],)}
    for i in range(v["depth"]):
        p = f"blocks.{i}"
        sd |= {f"{p}.norm1.weight": (d,), f"{p}.norm1.bias": (d,), f"{p}.norm2.weight": (d,), f"{p}.norm2.bias": (d,),
               f"{p}.attn.qkv.weight": (3 * d, d), f"{p}.attn.qkv.bias": (3 * d,), f"{p}.attn.proj.weight": (d, d),
               f"{p}.attn.proj.bias": (d,), f"{p}.mlp.linear_fc1.weight": (f, d), f"{p}.mlp.linear_fc1.bias": (f,),
               f"{p}.mlp.linear_fc2.weight": (d, f), f"{p}.mlp.linear_fc2.bias": (d,)}
    return sd


def test_qwen3_5_moe_gets_a_count(tmp_path):
    spec = load_hf_config(write(tmp_path, "Qwen3.5-35B-A3B", QWEN35_MOE))
    b = count_params(spec)
    text = numel(sd_qwen_hybrid(QWEN35_MOE["text_config"]))
    vision = numel(sd_qwen35_vision(QWEN35_MOE["vision_config"]))
    assert b.components["vision"] == vision
    assert b.total_params == text + vision
    assert spec.moe_layer_ids() == list(range(40))
    assert abs(b.total_params - 35e9) / 35e9 < 0.03  # "35B" (the repo name)


def test_qwen3_5_dense_text(tmp_path):
    """configuration_qwen3_5.py defaults (Qwen/Qwen3.5-27B is named there): a dense MLP under the
    same Gated DeltaNet / gated attention pattern."""
    text = {"model_type": "qwen3_5_text", "vocab_size": 248320, "hidden_size": 4096, "intermediate_size": 12288,
            "num_hidden_layers": 32, "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256,
            "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
            "linear_num_key_heads": 16, "linear_num_value_heads": 32, "max_position_embeddings": 32768}
    cfg = {"model_type": "qwen3_5", "text_config": text}
    b = count_params(load_hf_config(write(tmp_path, "qwen3_5", cfg)))
    assert b.total_params == numel(sd_qwen_hybrid(text, moe=False))
    assert b.num_experts is None


def test_hybrid_mtp_layers_are_reported_not_silently_dropped(tmp_path):
    spec = load_hf_config(write(tmp_path, "q3n", {**QWEN3_NEXT_80B, "mtp_num_hidden_layers": 1}))
    assert any("mtp_num_hidden_layers 1" in n and "not counted" in n for n in spec.notes)


# ------------------------------------------------------------------------- vision towers ---
# Qwen/Qwen2-VL-7B-Instruct config.json
QWEN2_VL_7B = {
    "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "hidden_act": "silu",
    "hidden_size": 3584, "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28,
    "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "vocab_size": 152064,
    "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
                      "hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
                      "temporal_patch_size": 2},
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
}
# Qwen/Qwen2.5-VL-7B-Instruct config.json
QWEN25_VL_7B = {
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_act": "silu",
    "hidden_size": 3584, "intermediate_size": 18944, "max_position_embeddings": 128000, "max_window_layers": 28,
    "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "vocab_size": 152064,
    "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "in_chans": 3, "out_hidden_size": 3584, "patch_size": 14,
                      "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
                      "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2},
}


def sd_qwen_vl_vision(kind, v):
    """modeling_qwen2_vl.py (PatchEmbed no bias; blocks LayerNorm, qkv/proj bias, fc1/fc2 bias;
    PatchMerger ln_q LayerNorm + mlp.0 / mlp.2) and modeling_qwen2_5_vl.py (RMSNorm norms, gated
    MLP with biases, ln_q RMSNorm)."""
    d = v["embed_dim"] if kind == "qwen2_vl" else v["hidden_size"]
    out = v["hidden_size"] if kind == "qwen2_vl" else v["out_hidden_size"]
    f = d * v["mlp_ratio"] if kind == "qwen2_vl" else v["intermediate_size"]
    m2, ln = v["spatial_merge_size"] ** 2, kind == "qwen2_vl"
    sd = {"patch_embed.proj.weight": (d, 3, v["temporal_patch_size"], v["patch_size"], v["patch_size"]),
          "merger.ln_q.weight": (d,), "merger.mlp.0.weight": (d * m2, d * m2), "merger.mlp.0.bias": (d * m2,),
          "merger.mlp.2.weight": (out, d * m2), "merger.mlp.2.bias": (out,)}
    if ln:
        sd["merger.ln_q.bias"] = (d,)
    for i in range(v["depth"]):
        p = f"blocks.{i}"
        sd |= {f"{p}.norm1.weight": (d,), f"{p}.norm2.weight": (d,), f"{p}.attn.qkv.weight": (3 * d, d),
               f"{p}.attn.qkv.bias": (3 * d,), f"{p}.attn.proj.weight": (d, d), f"{p}.attn.proj.bias": (d,)}
        if ln:
            sd |= {f"{p}.norm1.bias": (d,), f"{p}.norm2.bias": (d,), f"{p}.mlp.fc1.weight": (f, d),
                   f"{p}.mlp.fc1.bias": (f,), f"{p}.mlp.fc2.weight": (d, f), f"{p}.mlp.fc2.bias": (d,)}
        else:
            sd |= {f"{p}.mlp.gate_proj.weight": (f, d), f"{p}.mlp.gate_proj.bias": (f,),
                   f"{p}.mlp.up_proj.weight": (f, d), f"{p}.mlp.up_proj.bias": (f,),
                   f"{p}.mlp.down_proj.weight": (d, f), f"{p}.mlp.down_proj.bias": (d,)}
    return sd


def sd_qwen2_text(c):
    h = c["hidden_size"]
    hd = h // c["num_attention_heads"]
    return sd_decoder_frame(c, lambda i, p: sd_attention(f"{p}.self_attn", h, c["num_attention_heads"],
                                                          c["num_key_value_heads"], hd, qkv_bias=True)
                            | sd_mlp(f"{p}.mlp", h, c["intermediate_size"]))


@pytest.mark.parametrize("name, cfg", [("Qwen2-VL-7B-Instruct", QWEN2_VL_7B), ("Qwen2.5-VL-7B-Instruct", QWEN25_VL_7B)])
def test_qwen_vl_towers_and_biases(tmp_path, name, cfg):
    spec = load_hf_config(write(tmp_path, name, cfg))
    b = count_params(spec)
    vision = numel(sd_qwen_vl_vision(cfg["model_type"], cfg["vision_config"]))
    assert b.components["vision"] == vision
    assert b.total_params == numel(sd_qwen2_text(cfg)) + vision
    assert spec.resolved_layer_types() == ["full_attention"] * 28  # use_sliding_window false
    assert b.total_params == HUB_TOTALS[name]


# google/gemma-3-4b-it config.json (the text keys it omits take Gemma3TextConfig's defaults, written
# out: num_attention_heads 8, num_key_value_heads 4, head_dim 256, vocab_size 262208)
GEMMA3_4B = {
    "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "mm_tokens_per_image": 256,
    "boi_token_index": 255999, "eoi_token_index": 256000, "image_token_index": 262144, "torch_dtype": "bfloat16",
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                    "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "vocab_size": 262208},
    "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                      "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                      "patch_size": 14, "vision_use_head": False},
}


def sd_siglip_gemma3(v, text_hidden):
    """modeling_siglip.py SiglipVisionModel (no head: vision_use_head false) + modeling_gemma3.py
    Gemma3MultiModalProjector."""
    d, f, p = v["hidden_size"], v["intermediate_size"], v["patch_size"]
    sd = {"embeddings.patch_embedding.weight": (d, 3, p, p), "embeddings.patch_embedding.bias": (d,),
          "embeddings.position_embedding.weight": ((v["image_size"] // p) ** 2, d),
          "post_layernorm.weight": (d,), "post_layernorm.bias": (d,),
          "multi_modal_projector.mm_input_projection_weight": (d, text_hidden),
          "multi_modal_projector.mm_soft_emb_norm.weight": (d,)}
    for i in range(v["num_hidden_layers"]):
        q = f"encoder.layers.{i}"
        for n in ("layer_norm1", "layer_norm2"):
            sd |= {f"{q}.{n}.weight": (d,), f"{q}.{n}.bias": (d,)}
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd |= {f"{q}.self_attn.{n}.weight": (d, d), f"{q}.self_attn.{n}.bias": (d,)}
        sd |= {f"{q}.mlp.fc1.weight": (f, d), f"{q}.mlp.fc1.bias": (f,), f"{q}.mlp.fc2.weight": (d, f),
               f"{q}.mlp.fc2.bias": (d,)}
    return sd


def test_gemma3_siglip_tower(tmp_path):
    spec = load_hf_config(write(tmp_path, "gemma-3-4b-it", GEMMA3_4B))
    b = count_params(spec)
    assert spec.vision_config.model_type == "siglip_vision_model" and not spec.vision_config.vision_use_head
    assert b.components["vision"] == numel(sd_siglip_gemma3(GEMMA3_4B["vision_config"], 2560))
    projector = 1152 * 2560 + 1152
    # the SigLIP encoder alone: "417M" (Gemma 3 technical report, Table 1: vision encoder parameters)
    assert round((b.components["vision"] - projector) / 1e6) == 417


# mistralai/Mistral-Small-3.1-24B-Instruct-2503 config.json
MISTRAL_SMALL_31 = {
    "architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3", "image_token_index": 10,
    "multimodal_projector_bias": False, "projector_hidden_act": "gelu", "spatial_merge_size": 2,
    "text_config": {"head_dim": 128, "hidden_act": "silu", "hidden_size": 5120, "intermediate_size": 32768,
                    "max_position_embeddings": 131072, "model_type": "mistral", "num_attention_heads": 32,
                    "num_hidden_layers": 40, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
                    "rope_theta": 1000000000.0, "sliding_window": None, "vocab_size": 131072},
    "torch_dtype": "bfloat16",
    "vision_config": {"head_dim": 64, "hidden_act": "silu", "hidden_size": 1024, "image_size": 1540,
                      "intermediate_size": 4096, "model_type": "pixtral", "num_attention_heads": 16,
                      "num_channels": 3, "num_hidden_layers": 24, "patch_size": 14, "rope_theta": 10000.0},
    "vision_feature_layer": -1,
}


def sd_pixtral_mistral3(v, th):
    """modeling_pixtral.py PixtralVisionModel + modeling_mistral3.py Mistral3MultiModalProjector."""
    d, f, p = v["hidden_size"], v["intermediate_size"], v["patch_size"]
    sd = {"vision_tower.patch_conv.weight": (d, 3, p, p), "vision_tower.ln_pre.weight": (d,),
          "multi_modal_projector.norm.weight": (d,),
          "multi_modal_projector.patch_merger.merging_layer.weight": (d, d * 4),
          "multi_modal_projector.linear_1.weight": (th, d), "multi_modal_projector.linear_2.weight": (th, th)}
    for i in range(v["num_hidden_layers"]):
        q = f"vision_tower.transformer.layers.{i}"
        sd |= {f"{q}.attention_norm.weight": (d,), f"{q}.ffn_norm.weight": (d,)}
        sd |= {f"{q}.attention.{n}.weight": (d, d) for n in ("q_proj", "k_proj", "v_proj", "o_proj")}
        sd |= sd_mlp(f"{q}.feed_forward", d, f)
    return sd


def test_mistral3_pixtral_tower_and_mistral_text(tmp_path):
    spec = load_hf_config(write(tmp_path, "Mistral-Small-3.1-24B-Instruct-2503", MISTRAL_SMALL_31))
    b = count_params(spec)
    t = MISTRAL_SMALL_31["text_config"]
    text = numel(sd_decoder_frame(t, lambda i, p: sd_attention(f"{p}.self_attn", 5120, 32, 8, 128)
                                  | sd_mlp(f"{p}.mlp", 5120, 32768)))
    vision = numel(sd_pixtral_mistral3(MISTRAL_SMALL_31["vision_config"], 5120))
    assert b.components["vision"] == vision
    assert b.total_params == text + vision
    assert b.total_params == HUB_TOTALS["Mistral-Small-3.1-24B-Instruct-2503"]


@pytest.mark.parametrize("name, kwargs, total", [
    ("Llama-4-Scout-17B-16E-Instruct", {}, 108_641_793_536),
    ("Llama-4-Maverick-17B-128E-Instruct", {"experts": 128, "step": 2, "max_pos": 1_048_576}, 401_583_781_376),
])
def test_llama4_tower_kept(tmp_path, name, kwargs, total):
    from tests.test_hfconfig import llama4_config  # the configs written there (docs/facts/models.md 1.1 / 1.2)
    b = count_params(load_hf_config(write(tmp_path, name, llama4_config(**kwargs))))
    assert b.components["vision"] == 871_932_416 and b.total_params == total  # published, exact


# ------------------------------------------------------------------------------ bad input ---
def test_vision_kind_without_its_keys_is_a_clear_error():
    with pytest.raises(ValueError, match="qwen2_vl lacks temporal_patch_size"):
        from llamasize.data.spec import VisionConfig
        VisionConfig(model_type="qwen2_vl", hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                     intermediate_size=8, patch_size=2, spatial_merge_size=2, out_hidden_size=8)


def test_linear_attention_without_its_keys_is_a_clear_error():
    with pytest.raises(ValueError, match="linear_num_key_heads"):
        ModelSpec(id="x", name="x", family="x", model_type="qwen3_next", release_status="test", source="t",
                  num_hidden_layers=2, layer_types=["linear_attention", "full_attention"])


def test_non_integer_mlp_ratio_is_a_data_error(tmp_path):
    cfg = {**QWEN2_VL_7B, "vision_config": {**QWEN2_VL_7B["vision_config"], "mlp_ratio": 2.71}}
    with pytest.raises(DataError, match="mlp_ratio"):
        load_hf_config(write(tmp_path, "bad", cfg))


def test_unmapped_vision_config_is_noted(tmp_path):
    cfg = {"model_type": "some_vlm", "text_config": MIXTRAL_8X7B, "vision_config": {"hidden_size": 8}}
    spec = load_hf_config(write(tmp_path, "vlm", cfg))
    assert spec.vision_config is None
    assert any("vision_config of model_type 'some_vlm' is not counted" in n for n in spec.notes)


def test_tp_must_divide_the_gated_deltanet_heads(tmp_path):
    from llamasize.estimate.parallel import tp_problem
    spec = load_hf_config(write(tmp_path, "q3n-32h", {**QWEN3_NEXT_80B, "num_attention_heads": 32}))
    assert tp_problem(spec, 16) is None
    assert tp_problem(spec, 32) == "linear_num_key_heads (16) is not divisible by tensor_parallel_size (32)"


def test_mtp_draft_is_said_in_fit_and_perf(cli):
    fit = cli("fit", "--model", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--ctx", "8K", "--format", "json")
    perf = cli("perf", "--model", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--format", "json")
    for r, name in ((fit, "mtp_layers"), (perf, "speculative_decoding")):
        assert r.code in (0, 3), r.err
        a = {x["name"]: x for x in r.json()["assumptions"]}
        assert "1 MTP layer(s)" in a[name]["value"]


def test_qwen2_vl_sliding_window_follows_max_window_layers(tmp_path):
    cfg = {**QWEN2_VL_7B, "use_sliding_window": True, "max_window_layers": 20, "sliding_window": 4096}
    spec = load_hf_config(write(tmp_path, "qwen2vl-swa", cfg))
    assert spec.resolved_layer_types() == ["full_attention"] * 20 + ["sliding_attention"] * 8


def test_deepseek_v2_236b(tmp_path):
    """deepseek-ai/DeepSeek-V2 numbers as in inference/configs/config_236B.json of deepseek-ai/DeepSeek-V3
    (dim 5120, inter_dim 12288, moe_inter_dim 1536, 60 layers, 1 dense, 128 heads, 160 routed / 2 shared /
    6 active, q_lora_rank 1536, kv_lora_rank 512, nope 128, rope 64, v 128, vocab 102400), in HF keys."""
    cfg = {**DEEPSEEK_V2_LITE, "hidden_size": 5120, "intermediate_size": 12288, "moe_intermediate_size": 1536,
           "num_hidden_layers": 60, "num_attention_heads": 128, "num_key_value_heads": 128, "n_routed_experts": 160,
           "n_shared_experts": 2, "num_experts_per_tok": 6, "q_lora_rank": 1536, "topk_method": "group_limited_greedy"}
    b = count_params(load_hf_config(write(tmp_path, "DeepSeek-V2", cfg)))
    assert b.total_params == numel(sd_decoder_frame(cfg, lambda i, p: sd_deepseek_layer(cfg, i, p, False)))
    assert b.total_params == HUB_TOTALS["DeepSeek-V2"]  # "236B total" (DeepSeek-V2 README)
    assert abs(b.active_params - 21e9) / 21e9 < 0.05  # "21B activated"
