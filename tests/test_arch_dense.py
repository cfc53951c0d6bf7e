"""Dense text decoders by config (issue 11 item 4) and "never exact on a guess" (item 5).

Each architecture test writes the architecture numbers of a published ``config.json`` (the repo id is
named), and asserts llamasize's count against one derived here independently: by enumerating the
modules of the transformers modeling file (``transformers/models/<type>/modeling_<type>.py``, the
authority for tensor names and shapes; QWen v1: the remote code ``modeling_qwen.py`` of
Qwen/Qwen-7B), written out module by module from the config dict, not from llamasize's spec.
Where the Hugging Face model page's safetensors parameter count is known it is asserted too
(``PUBLISHED``); those figures equal the independent derivation to the parameter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamasize.data.hfconfig import SUPPORTED_MODEL_TYPES, load_hf_config
from llamasize.errors import DataError
from llamasize.estimate.params import count_params, weight_table


def write(dirpath: Path, data: dict) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    p = dirpath / "config.json"
    p.write_text(json.dumps(data))
    return p


def lin(i: int, o: int, bias: bool = False) -> int:
    """nn.Linear(i, o, bias): weight o x i (+ bias o)."""
    return i * o + (o if bias else 0)


def ln(h, bias: bool) -> int:
    """A norm of width h: weight (+ bias for nn.LayerNorm)."""
    return h + (h if bias else 0)


# ----------------------------------------------------- independent enumerations per modeling file ---
def llama_family(c: dict, *, qkv_bias=None, o_bias=None, mlp_bias=None, norms=2, qk_norm=0, tie=None) -> int:
    """modeling_llama-style decoder (also Mistral, Qwen2/3, Gemma 1/2/3, Granite, OLMo 2, Cohere 1/2, Phi-3:
    same tensors, fused or not): embed_tokens, per layer q/k/v/o_proj, gate/up/down_proj, ``norms`` norms
    of h, ``qk_norm`` extra norm weights; final norm; lm_head unless tied."""
    h, n, nh = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    nkv = c.get("num_key_value_heads", nh)
    hd = c.get("head_dim", h // nh)
    f, v = c["intermediate_size"], c["vocab_size"]
    ab = c.get("attention_bias", False)
    qkv_b = ab if qkv_bias is None else qkv_bias
    o_b = ab if o_bias is None else o_bias
    mb = c.get("mlp_bias", False) if mlp_bias is None else mlp_bias
    attn = lin(h, nh * hd, qkv_b) + 2 * lin(h, nkv * hd, qkv_b) + lin(nh * hd, h, o_b)
    mlp = 2 * lin(h, f, mb) + lin(f, h, mb)
    layer = attn + mlp + norms * h + qk_norm
    tied = c.get("tie_word_embeddings", False) if tie is None else tie
    return v * h + n * layer + h + (0 if tied else v * h)


# (config, published total or None, source of the published figure)
LLAMA31_8B = {  # meta-llama/Llama-3.1-8B
    "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256,
    "max_position_embeddings": 131072, "tie_word_embeddings": False, "rope_theta": 500000.0,
    "attention_bias": False, "mlp_bias": False, "torch_dtype": "bfloat16",
}
MISTRAL_7B = {  # mistralai/Mistral-7B-v0.1
    "model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "max_position_embeddings": 32768,
    "sliding_window": 4096, "tie_word_embeddings": False, "rope_theta": 10000.0, "torch_dtype": "bfloat16",
}
QWEN25_7B = {  # Qwen/Qwen2.5-7B-Instruct
    "model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
    "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064, "max_position_embeddings": 32768,
    "sliding_window": 131072, "use_sliding_window": False, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
QWEN3_8B = {  # Qwen/Qwen3-8B
    "model_type": "qwen3", "hidden_size": 4096, "num_hidden_layers": 36, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 12288, "vocab_size": 151936,
    "max_position_embeddings": 40960, "attention_bias": False, "tie_word_embeddings": False,
    "use_sliding_window": False, "sliding_window": None, "torch_dtype": "bfloat16",
}
QWEN_7B = {  # Qwen/Qwen-7B (v1, remote code)
    "model_type": "qwen", "architectures": ["QWenLMHeadModel"], "hidden_size": 4096, "intermediate_size": 22016,
    "kv_channels": 128, "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 151936,
    "max_position_embeddings": 32768, "no_bias": True, "rotary_emb_base": 10000, "layer_norm_epsilon": 1e-06,
    "tie_word_embeddings": False, "bf16": False, "fp16": False,
}
GEMMA_7B = {  # google/gemma-7b (the config has no tie_word_embeddings key)
    "model_type": "gemma", "hidden_size": 3072, "intermediate_size": 24576, "num_attention_heads": 16,
    "num_key_value_heads": 16, "head_dim": 256, "num_hidden_layers": 28, "vocab_size": 256000,
    "max_position_embeddings": 8192, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16",
}
GEMMA2_9B = {  # google/gemma-2-9b (no layer_types, no tie_word_embeddings key)
    "model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_attention_heads": 16,
    "num_key_value_heads": 8, "head_dim": 256, "num_hidden_layers": 42, "vocab_size": 256000,
    "max_position_embeddings": 8192, "sliding_window": 4096, "query_pre_attn_scalar": 256,
    "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "torch_dtype": "float32",
}
GEMMA3_1B = {  # google/gemma-3-1b-it
    "model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912, "num_attention_heads": 4,
    "num_key_value_heads": 1, "head_dim": 256, "num_hidden_layers": 26, "vocab_size": 262144,
    "max_position_embeddings": 32768, "sliding_window": 512, "sliding_window_pattern": 6,
    "query_pre_attn_scalar": 256, "attn_logit_softcapping": None, "final_logit_softcapping": None,
    "rope_theta": 1000000, "rope_local_base_freq": 10000, "torch_dtype": "bfloat16",
}
PHI3_MINI = {  # microsoft/Phi-3-mini-4k-instruct
    "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_attention_heads": 32,
    "num_key_value_heads": 32, "num_hidden_layers": 32, "vocab_size": 32064, "max_position_embeddings": 4096,
    "sliding_window": 2047, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
GRANITE_8B = {  # ibm-granite/granite-3.0-8b-instruct
    "model_type": "granite", "hidden_size": 4096, "intermediate_size": 12800, "num_attention_heads": 32,
    "num_key_value_heads": 8, "num_hidden_layers": 40, "vocab_size": 49155, "max_position_embeddings": 4096,
    "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": True, "embedding_multiplier": 12.0,
    "attention_multiplier": 0.0078125, "residual_multiplier": 0.22, "logits_scaling": 16.0,
    "torch_dtype": "bfloat16",
}
FALCON_7B = {  # tiiuae/falcon-7b (multi-query, parallel attention, one LayerNorm per layer)
    "model_type": "falcon", "hidden_size": 4544, "num_attention_heads": 71, "num_hidden_layers": 32,
    "vocab_size": 65024, "alibi": False, "bias": False, "multi_query": True, "new_decoder_architecture": False,
    "parallel_attn": True, "torch_dtype": "bfloat16",
}
FALCON_40B = {  # tiiuae/falcon-40b (new decoder architecture: 8 KV heads, ln_attn + ln_mlp)
    "model_type": "falcon", "hidden_size": 8192, "num_attention_heads": 128, "num_kv_heads": 8,
    "num_hidden_layers": 60, "vocab_size": 65024, "alibi": False, "bias": False,
    "new_decoder_architecture": True, "parallel_attn": True, "torch_dtype": "bfloat16",
}
BLOOM_560M = {  # bigscience/bloom-560m (n_embed / n_layer, ALiBi, no max_position_embeddings)
    "model_type": "bloom", "n_embed": 1024, "n_layer": 24, "num_attention_heads": 16, "vocab_size": 250880,
    "layer_norm_epsilon": 1e-05, "seq_length": 2048, "apply_residual_connection_post_layernorm": False,
}
COMMAND_R = {  # CohereForAI/c4ai-command-r-v01
    "model_type": "cohere", "hidden_size": 8192, "intermediate_size": 22528, "num_attention_heads": 64,
    "num_key_value_heads": 64, "num_hidden_layers": 40, "vocab_size": 256000, "max_position_embeddings": 8192,
    "use_qk_norm": False, "logit_scale": 0.0625, "layer_norm_eps": 1e-05, "torch_dtype": "float16",
}
COMMAND_R_PLUS = {  # CohereForAI/c4ai-command-r-plus (use_qk_norm)
    "model_type": "cohere", "hidden_size": 12288, "intermediate_size": 33792, "num_attention_heads": 96,
    "num_key_value_heads": 8, "num_hidden_layers": 64, "vocab_size": 256000, "use_qk_norm": True,
    "logit_scale": 0.8333333333333334, "layer_norm_eps": 1e-05, "torch_dtype": "float16",
}
COMMAND_R7B = {  # CohereForAI/c4ai-command-r7b-12-2024
    "model_type": "cohere2", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
    "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 256000, "sliding_window": 4096,
    "sliding_window_pattern": 4, "layer_norm_eps": 1e-05, "torch_dtype": "bfloat16",
}
OLMO2_7B = {  # allenai/OLMo-2-1124-7B
    "model_type": "olmo2", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
    "num_key_value_heads": 32, "num_hidden_layers": 32, "vocab_size": 100352, "max_position_embeddings": 4096,
    "attention_bias": False, "rms_norm_eps": 1e-06, "tie_word_embeddings": False, "torch_dtype": "float32",
}


def qwen_v1(c: dict) -> int:
    """modeling_qwen.py (Qwen/Qwen-7B): wte; per block ln_1, attn.c_attn Linear(h, 3*nh*kv_channels) with
    bias, attn.c_proj Linear(h, nh*kv_channels, bias=not no_bias), ln_2, mlp.w1 / w2 Linear(h, inter//2),
    mlp.c_proj Linear(inter//2, h); ln_f; lm_head (not tied)."""
    h, n, v = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    proj, ff, b = c["num_attention_heads"] * c["kv_channels"], c["intermediate_size"] // 2, not c["no_bias"]
    layer = lin(h, 3 * proj, True) + lin(proj, h, b) + 2 * lin(h, ff, b) + lin(ff, h, b) + 2 * h
    return 2 * v * h + n * layer + h


def falcon(c: dict) -> int:
    """modeling_falcon: word_embeddings; per layer query_key_value (FalconLinear(h, qkv_out_dim)), dense,
    mlp.dense_h_to_4h / dense_4h_to_h (4h, GELU), LayerNorms (ln_attn + ln_mlp for the new decoder
    architecture, else input_layernorm); ln_f; lm_head tied (tie_word_embeddings default True)."""
    h, n, nh, v, b = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["vocab_size"], c["bias"]
    hd = h // nh
    if c["new_decoder_architecture"]:
        qkv, norms = (c["num_kv_heads"] * 2 + nh) * hd, 2
    else:
        qkv, norms = h + 2 * hd, 1  # multi_query; parallel_attn with num_ln_in_parallel_attn None
    layer = lin(h, qkv, b) + lin(h, h, b) + lin(h, 4 * h, b) + lin(4 * h, h, b) + norms * ln(h, True)
    return v * h + n * layer + ln(h, True)


def bloom(c: dict) -> int:
    """modeling_bloom: word_embeddings + word_embeddings_layernorm; per block input_layernorm,
    self_attention.query_key_value Linear(h, 3h), dense Linear(h, h), post_attention_layernorm,
    mlp.dense_h_to_4h / dense_4h_to_h (all with bias, LayerNorms with bias); ln_f; lm_head tied."""
    h, n, v = c["n_embed"], c["n_layer"], c["vocab_size"]
    layer = 2 * ln(h, True) + lin(h, 3 * h, True) + lin(h, h, True) + lin(h, 4 * h, True) + lin(4 * h, h, True)
    return v * h + ln(h, True) + n * layer + ln(h, True)


CASES = {
    # name: (config, independent derivation, published total, where the published total is from)
    "llama": (LLAMA31_8B, llama_family(LLAMA31_8B), 8_030_261_248,
              "registry llama3.1-8b published_params (safetensors metadata)"),
    "mistral": (MISTRAL_7B, llama_family(MISTRAL_7B), 7_241_732_096, "HF model page mistralai/Mistral-7B-v0.1"),
    # modeling_qwen2: q/k/v biases, no o bias, whatever attention_bias says
    "qwen2": (QWEN25_7B, llama_family(QWEN25_7B, qkv_bias=True, o_bias=False), 7_615_616_512,
              "HF model page Qwen/Qwen2.5-7B-Instruct"),
    # modeling_qwen3: q_norm / k_norm RMSNorm(head_dim)
    "qwen3": (QWEN3_8B, llama_family(QWEN3_8B, qk_norm=2 * 128), 8_190_735_360, "HF model page Qwen/Qwen3-8B"),
    "qwen": (QWEN_7B, qwen_v1(QWEN_7B), 7_721_324_544, "HF model page Qwen/Qwen-7B"),
    # GemmaConfig tie_word_embeddings default True
    "gemma": (GEMMA_7B, llama_family(GEMMA_7B, tie=True), 8_537_680_896, "HF model page google/gemma-7b"),
    # Gemma2DecoderLayer: input, post_attention, pre_feedforward, post_feedforward norms
    "gemma2": (GEMMA2_9B, llama_family(GEMMA2_9B, norms=4, tie=True), 9_241_705_984,
               "HF model page google/gemma-2-9b"),
    # Gemma3DecoderLayer: 4 norms; Gemma3Attention q_norm / k_norm Gemma3RMSNorm(head_dim)
    "gemma3_text": (GEMMA3_1B, llama_family(GEMMA3_1B, norms=4, qk_norm=2 * 256, tie=True), 999_885_952,
                    "HF model page google/gemma-3-1b-it"),
    # Phi3: qkv_proj (nh*hd + 2*nkv*hd) x h and gate_up_proj 2f x h: the same counts as separate tensors
    "phi3": (PHI3_MINI, llama_family(PHI3_MINI), 3_821_079_552, "HF model page microsoft/Phi-3-mini-4k-instruct"),
    "granite": (GRANITE_8B, llama_family(GRANITE_8B), None, None),
    "falcon": (FALCON_7B, falcon(FALCON_7B), 6_921_720_704, "HF model page tiiuae/falcon-7b"),
    "falcon-40b": (FALCON_40B, falcon(FALCON_40B), None, None),
    "bloom": (BLOOM_560M, bloom(BLOOM_560M), 559_214_592, "HF model page bigscience/bloom-560m"),
    # CohereDecoderLayer: one input_layernorm (CohereLayerNorm, no bias); tie default True
    "cohere": (COMMAND_R, llama_family(COMMAND_R, norms=1, tie=True), None, None),
    # use_qk_norm: CohereLayerNorm((nh, hd)) and ((nkv, hd))
    "cohere-qk": (COMMAND_R_PLUS, llama_family(COMMAND_R_PLUS, norms=1, tie=True, qk_norm=(96 + 8) * 128),
                  None, None),
    "cohere2": (COMMAND_R7B, llama_family(COMMAND_R7B, norms=1, tie=True), None, None),
    # Olmo2DecoderLayer: post_attention + post_feedforward norms; q_norm RMSNorm(nh*hd), k_norm (nkv*hd)
    "olmo2": (OLMO2_7B, llama_family(OLMO2_7B, qk_norm=(32 + 32) * 128), None, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_dense_architecture_counts_exactly(tmp_path, name):
    config, derived, published, _source = CASES[name]
    b = count_params(load_hf_config(write(tmp_path / name, config)))
    assert b.total_params == derived
    assert b.confidence == "exact"
    assert b.warnings == []
    if published is not None:
        assert b.total_params == published


def test_every_dense_family_is_tested():
    tested = {CASES[k][0]["model_type"] for k in CASES}
    assert {"llama", "mistral", "qwen2", "qwen3", "qwen", "gemma", "gemma2", "gemma3_text", "phi3", "granite",
            "falcon", "bloom", "cohere", "cohere2", "olmo2"} <= tested
    assert tested <= SUPPORTED_MODEL_TYPES


def test_the_old_llama_reading_was_wrong_where_the_issue_measured_it(tmp_path):
    """The issue's measurements, reproduced against the unmapped (Llama) reading: QWen v1 is read with
    a full-width intermediate_size, Gemma untied."""
    qwen = count_params(load_hf_config(write(tmp_path / "q", QWEN_7B))).total_params
    as_llama = count_params(load_hf_config(write(tmp_path / "ql", {**QWEN_7B, "model_type": "qwen_unmapped"})))
    assert as_llama.total_params > 1.5 * qwen and as_llama.confidence == "approximate"
    gemma = count_params(load_hf_config(write(tmp_path / "g", GEMMA_7B))).total_params
    untied = count_params(load_hf_config(write(tmp_path / "gl", {**GEMMA_7B, "model_type": "gemma_unmapped"})))
    assert untied.total_params - gemma == 256000 * 3072


def test_gemma_counts_by_component(tmp_path):
    b = count_params(load_hf_config(write(tmp_path / "g", GEMMA3_1B)))
    assert b.components["lm_head"] == 0  # tied by default
    assert b.components["norms"] == 26 * 4 * 1152 + 1152
    assert b.components["attention"] == 26 * (1152 * 1024 * 2 + 1152 * 256 * 2 + 2 * 256)


def test_sliding_window_patterns_follow_the_configuration_files(tmp_path):
    g2 = load_hf_config(write(tmp_path / "g2", GEMMA2_9B)).resolved_layer_types()
    assert g2[:4] == ["sliding_attention", "full_attention"] * 2 and g2.count("full_attention") == 21
    g3 = load_hf_config(write(tmp_path / "g3", GEMMA3_1B))
    types = g3.resolved_layer_types()
    assert [i for i, t in enumerate(types) if t == "full_attention"] == [5, 11, 17, 23]
    assert g3.window_of("sliding_attention") == 512
    c2 = load_hf_config(write(tmp_path / "c2", COMMAND_R7B)).resolved_layer_types()
    assert [i for i, t in enumerate(c2) if t == "full_attention"] == list(range(3, 32, 4))
    explicit = {**GEMMA3_1B, "layer_types": ["full_attention"] * 26}
    assert set(load_hf_config(write(tmp_path / "g3e", explicit)).resolved_layer_types()) == {"full_attention"}


def test_sliding_layers_shrink_the_kv_cache(cli, tmp_path):
    """Gemma 3's 5:1 sliding pattern: at 32K tokens KV is far below 26 full layers' worth."""
    p = write(tmp_path / "gemma-3-1b-it", GEMMA3_1B)
    r = cli("fit", "--model", str(p), "--gpu", "h100-sxm", "--ctx", "32768", "--kv-layout", "hybrid",
            "--format", "json")
    assert r.code == 0, r.err
    d = r.json()
    full_per_token = 26 * 2 * 1 * 256 * 2
    assert d["kv_cache_bytes"] < 0.4 * full_per_token * 32768


def test_falcon_and_bloom_structure(tmp_path):
    f7 = load_hf_config(write(tmp_path / "f7", FALCON_7B))
    assert (f7.num_key_value_heads, f7.norms_per_layer, f7.ffn_kind, f7.norm_kind) == (1, 1, "plain", "layernorm")
    f40 = load_hf_config(write(tmp_path / "f40", FALCON_40B))
    assert (f40.num_key_value_heads, f40.norms_per_layer) == (8, 2)
    b = load_hf_config(write(tmp_path / "b", BLOOM_560M))
    assert (b.hidden_size, b.num_hidden_layers, b.position_encoding, b.embedding_norm) == (1024, 24, "alibi", True)
    names = {t.name for t in weight_table(b)}
    assert {"embed_layernorm", "embed_layernorm.bias", "layers.0.feed_forward.up_proj.bias"} <= names
    assert "layers.0.feed_forward.gate_proj" not in names
    old = {k: v for k, v in BLOOM_560M.items() if k != "num_attention_heads"} | {"n_head": 16}
    assert count_params(load_hf_config(write(tmp_path / "b2", old))).total_params == 559_214_592


def test_falcon_alibi_and_bias(tmp_path):
    c = {**FALCON_7B, "alibi": True, "bias": True}
    s = load_hf_config(write(tmp_path / "f", c))
    assert s.position_encoding == "alibi"
    assert count_params(s).total_params == falcon(c)
    serial = {**FALCON_7B, "parallel_attn": False}
    assert load_hf_config(write(tmp_path / "fs", serial)).norms_per_layer == 2


@pytest.mark.parametrize("key", ["attention_bias", "mlp_bias"])
def test_bias_keys_are_honoured_where_the_modeling_file_reads_them(tmp_path, key):
    for base in (LLAMA31_8B, GRANITE_8B):
        c = {**base, key: True}
        assert count_params(load_hf_config(write(tmp_path / f"{base['model_type']}-{key}", c))).total_params == \
            llama_family(c)


def test_bias_keys_the_modeling_file_ignores_are_ignored(tmp_path):
    """modeling_mistral and modeling_phi3 build every projection with bias=False; modeling_qwen2 biases q/k/v
    and never o, whatever attention_bias says."""
    for base in (MISTRAL_7B, PHI3_MINI):
        c = {**base, "attention_bias": True, "mlp_bias": True}
        assert count_params(load_hf_config(write(tmp_path / base["model_type"], c))).total_params == \
            llama_family(base)
    q = {**QWEN25_7B, "attention_bias": True}
    assert count_params(load_hf_config(write(tmp_path / "q2", q))).total_params == 7_615_616_512


def test_qwen_v1_with_biases(tmp_path):
    c = {**QWEN_7B, "no_bias": False}
    assert count_params(load_hf_config(write(tmp_path / "q", c))).total_params == qwen_v1(c)


def test_bad_sliding_window_pattern_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="sliding_window_pattern"):
        load_hf_config(write(tmp_path / "g", {**GEMMA3_1B, "sliding_window_pattern": 0}))


def test_qwen_v1_without_intermediate_size_is_a_one_line_error(cli, tmp_path):
    c = {k: v for k, v in QWEN_7B.items() if k != "intermediate_size"}
    r = cli("params", str(write(tmp_path / "q", c)))
    assert r.code == 2
    assert r.err.strip().count("\n") == 0 and "intermediate_size" in r.err


# ---------------------------------------------------------------- item 5: never exact on a guess ---
UNMAPPED = {**LLAMA31_8B, "model_type": "acme_decoder"}


def test_unmapped_architecture_is_approximate_with_the_assumption(tmp_path):
    b = count_params(load_hf_config(write(tmp_path / "acme", UNMAPPED)))
    assert b.confidence == "approximate"
    assert b.total_params == llama_family(LLAMA31_8B)
    assert len(b.warnings) == 1 and "'acme_decoder'" in b.warnings[0] and "Llama-style" in b.warnings[0]


def test_unmapped_params_on_stderr_and_json(cli, tmp_path):
    p = write(tmp_path / "acme", UNMAPPED)
    r = cli("params", str(p), "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["confidence"] == "approximate"
    assert "acme_decoder" in r.json()["warnings"][0]
    assert "llamasize: warning:" in r.err and "approximate" in r.err
    table = cli("params", str(p))
    assert "(approximate)" in table.out and "exact" not in table.out


def test_unmapped_fit_perf_plan_say_approximate(cli, tmp_path):
    p = str(write(tmp_path / "acme", UNMAPPED))
    fit = cli("fit", "--model", p, "--gpu", "h100-sxm", "--ctx", "8192", "--format", "json")
    assert fit.code == 0, fit.err
    d = fit.json()
    assert any("rests on that approximation" in w for w in d["warnings"])
    assert d["confidence"]["weights_bytes"] == "approximate"
    assert d["confidence"]["kv_cache_bytes"] == "approximate"
    assert "rests on that approximation" in fit.err
    perf = cli("perf", "--model", p, "--gpu", "h100-sxm", "--ctx", "8192", "--format", "json")
    assert perf.code == 0, perf.err
    assert any("acme_decoder" in w for w in perf.json()["warnings"])
    plan = cli("plan", "--model", p, "--ctx", "8192", "--gpu", "h100-sxm", "--format", "json")
    assert plan.code == 0, plan.err
    assert "acme_decoder" in plan.err
    assert all(any("acme_decoder" in w for w in o["warnings"]) for o in [plan.json()["recommendation"]])


def test_mapped_fit_has_no_architecture_warning(cli, tmp_path):
    fit = cli("fit", "--model", str(write(tmp_path / "m", MISTRAL_7B)), "--gpu", "h100-sxm", "--ctx", "8192",
              "--format", "json")
    assert fit.code == 0, fit.err
    d = fit.json()
    assert d["confidence"]["weights_bytes"] == "exact"
    assert not any("approximation" in w for w in d["warnings"])


def test_an_uncounted_vision_tower_is_not_exact(tmp_path):
    wrapper = {"model_type": "acme_vl", "text_config": {**LLAMA31_8B},
               "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24}}
    b = count_params(load_hf_config(write(tmp_path / "vl", wrapper)))
    assert b.confidence == "approximate"
    assert any("vision tower" in w for w in b.warnings)


def test_check_strict_says_the_verdict_rests_on_an_approximation(cli, tmp_path):
    """A spec read by analogy (here a user spec file carrying the assumption) gets an LS012 finding;
    --strict makes it an error."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "acme.yaml").write_text(
        "id: acme-8b\nname: Acme 8B\nfamily: acme\nmodel_type: acme_decoder\nrelease_status: released\n"
        "source: test\narchitecture_assumption: model_type 'acme_decoder' has no mapping; counted as Llama\n"
        "hidden_size: 4096\nnum_hidden_layers: 32\nnum_attention_heads: 32\nnum_key_value_heads: 8\n"
        "head_dim: 128\nvocab_size: 128256\nintermediate_size: 14336\nmax_position_embeddings: 131072\n")
    manifest = tmp_path / "llamasize.yaml"
    manifest.write_text("deployments:\n  - name: acme\n    model: acme-8b\n    gpu: h100-sxm\n    gpus: 1\n"
                        "    ctx: 8192\n")
    plain = cli("check", str(manifest), "--specs-dir", str(specs), "--format", "json")
    strict = cli("check", str(manifest), "--specs-dir", str(specs), "--strict", "--format", "json")
    for r, severity in ((plain, "warning"), (strict, "error")):
        findings = [f for f in r.json()["findings"] if f["rule_id"] == "LS012"]
        assert findings, r.out
        assert findings[0]["severity"] == severity
        assert "rests on that approximation" in findings[0]["message"]
    assert strict.code != 0


def test_gemma3_wrapper_text_config_takes_the_configuration_defaults(tmp_path):
    """google/gemma-3-4b-it's text_config lists only what differs from Gemma3TextConfig (no heads, head_dim,
    vocab_size): the configuration class's defaults fill them, as transformers does. The vision tower is not
    counted here, so the count is approximate."""
    text = {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34,
            "sliding_window": 1024}
    wrapper = {"model_type": "gemma3", "text_config": text, "vision_config": {"model_type": "siglip_vision_model"}}
    s = load_hf_config(write(tmp_path / "g34", wrapper))
    assert (s.num_attention_heads, s.num_key_value_heads, s.head_dim, s.vocab_size) == (8, 4, 256, 262_208)
    assert any("configuration defaults" in n for n in s.notes)
    full = {**text, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262_208}
    b = count_params(s)
    assert b.text_params == llama_family(full, norms=4, qk_norm=2 * 256, tie=True)
    assert b.confidence == "approximate" or b.vision_params


@pytest.mark.parametrize("config, needle", [
    ({**FALCON_7B, "num_attention_heads": 0}, "num_attention_heads must be a positive integer, got 0"),
    ({**FALCON_7B, "hidden_size": "4544"}, "hidden_size must be a positive integer, got '4544'"),
    ({**QWEN_7B, "intermediate_size": 2.5}, "intermediate_size must be a positive integer"),
    ({**COMMAND_R7B, "sliding_window_pattern": "4"}, "sliding_window_pattern must be a positive integer"),
    ({**GEMMA2_9B, "num_hidden_layers": 10**12}, "num_hidden_layers"),
])
def test_bad_family_values_are_one_line_errors(cli, tmp_path, config, needle):
    r = cli("params", str(write(tmp_path / "bad", config)))
    assert r.code == 2
    assert r.err.count("\n") == 1 and needle in r.err and "Traceback" not in r.err


def test_unmapped_sweep_cost_terraform_warn_on_stderr(cli, tmp_path):
    p = str(write(tmp_path / "acme", UNMAPPED))
    runs = [cli("sweep", "--model", p, "--ctx", "8K", "--gpu", "h100-sxm", "--format", "json"),
            cli("cost", "--model", p, "--tokens-per-day", "1e8", "--gpu", "h100-sxm", "--format", "json"),
            cli("terraform-external", stdin=json.dumps({"model": p, "ctx": "8K", "gpu": "h100-sxm"}))]
    for r in runs:
        assert r.code == 0, r.err
        assert r.err.count("'acme_decoder' has no mapping") == 1, r.err
    assert any("'acme_decoder' has no mapping" in w for w in runs[1].json()["warnings"])


def test_gemma2_pattern_is_fixed_and_gemma3_reads_its_key(tmp_path):
    """Gemma2Config has no sliding_window_pattern (every other layer slides); Gemma3TextConfig and
    Cohere2Config read it (defaults 6 and 4)."""
    g2 = load_hf_config(write(tmp_path / "g2", {**GEMMA2_9B, "sliding_window_pattern": 3})).resolved_layer_types()
    assert g2.count("full_attention") == 21
    g3 = {k: v for k, v in GEMMA3_1B.items() if k != "sliding_window_pattern"}
    assert load_hf_config(write(tmp_path / "g3", g3)).resolved_layer_types().count("full_attention") == 4
    g3_2 = load_hf_config(write(tmp_path / "g32", {**GEMMA3_1B, "sliding_window_pattern": 2})).resolved_layer_types()
    assert g3_2.count("full_attention") == 13


@pytest.mark.parametrize("args", [
    ("params", "{p}"), ("fit", "--model", "{p}", "--gpu", "h100-sxm", "--ctx", "8K"),
    ("perf", "--model", "{p}", "--gpu", "h100-sxm", "--ctx", "8K"), ("plan", "--model", "{p}", "--ctx", "8K"),
])
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_no_output_says_exact_for_an_unmapped_architecture(cli, tmp_path, args, fmt):
    """Issue 11 'done when': no output says exact for an unmapped architecture without checkpoint metadata."""
    p = str(write(tmp_path / "acme", UNMAPPED))
    r = cli(*[a.format(p=p) for a in args], "--format", fmt)
    assert r.code == 0, r.err
    if fmt == "json":  # no label says exact (keys such as published_total_exact are names, not labels)
        def strings(x):
            if isinstance(x, dict):
                return [s for v in x.values() for s in strings(v)]
            if isinstance(x, list):
                return [s for v in x for s in strings(v)]
            return [x] if isinstance(x, str) else []
        assert not [s for s in strings(r.json()) if "exact" in s.lower()]
    else:
        assert "exact" not in r.out.lower()
    assert "approximat" in r.out + r.err


def test_falcon_multi_query_kv_cache_is_one_head(cli, tmp_path):
    """modeling_falcon: multi_query keeps one K and one V head of head_dim 64 per layer."""
    r = cli("fit", "--model", str(write(tmp_path / "falcon-7b", FALCON_7B)), "--gpu", "h100-sxm", "--ctx", "2048",
            "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["kv_cache_bytes_per_token"] == 32 * 2 * 1 * 64 * 2


def test_bloom_and_falcon_have_a_context_limit(cli, tmp_path):
    """FalconConfig's max_position_embeddings default is 2048; BLOOM (ALiBi) has none, so its seq_length
    (or vLLM's 2048 default) is the limit, and fit gives a verdict instead of 'unknown'."""
    assert load_hf_config(write(tmp_path / "f", FALCON_7B)).max_position_embeddings == 2048
    assert load_hf_config(write(tmp_path / "b", BLOOM_560M)).max_position_embeddings == 2048
    r = cli("fit", "--model", str(write(tmp_path / "bloom-560m", BLOOM_560M)), "--gpu", "h100-sxm", "--ctx", "2048",
            "--format", "json")
    assert r.code == 0, r.err
    assert r.json()["fits"] is True and r.json()["weights_bytes"] == 2 * 559_214_592


def test_qwen_sliding_window_only_above_max_window_layers(tmp_path):
    """Qwen2Config / Qwen3Config: with use_sliding_window, layers i >= max_window_layers slide; without it the
    sliding_window key (131072 in Qwen2.5-7B) is not used."""
    assert set(load_hf_config(write(tmp_path / "q", QWEN25_7B)).resolved_layer_types()) == {"full_attention"}
    on = {**QWEN25_7B, "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 20}
    types = load_hf_config(write(tmp_path / "q2", on)).resolved_layer_types()
    assert types == ["full_attention"] * 20 + ["sliding_attention"] * 8
    q3 = load_hf_config(write(tmp_path / "q3", {**QWEN3_8B, "use_sliding_window": True, "sliding_window": 4096}))
    assert q3.resolved_layer_types() == ["full_attention"] * 28 + ["sliding_attention"] * 8
