"""hfconfig: --model accepts a local Hugging Face config.json (including Llama 4's multimodal wrapper)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamasize.errors import DataError
from llamasize.data.hfconfig import load_hf_config
from llamasize.estimate.params import count_params

SCOUT_TOTAL = 108_641_793_536
MAVERICK_TOTAL = 401_583_781_376

# docs/facts/models.md 1.1 / 1.2
VISION_CONFIG = {
    "model_type": "llama4_vision_model", "hidden_size": 1408, "num_hidden_layers": 34, "num_attention_heads": 16,
    "intermediate_size": 5632, "image_size": 336, "patch_size": 14, "num_channels": 3, "pixel_shuffle_ratio": 0.5,
    "projector_input_dim": 4096, "projector_output_dim": 4096, "vision_output_dim": 4096,
    "vision_feature_layer": -1, "rope_theta": 10000,
}


def llama4_config(experts=16, step=1, max_pos=10_485_760, no_rope=True) -> dict:
    text = {
        "model_type": "llama4_text", "hidden_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 40,
        "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
        "num_local_experts": experts, "num_experts_per_tok": 1, "interleave_moe_layer_step": step,
        "vocab_size": 202048, "max_position_embeddings": max_pos, "attention_chunk_size": 8192,
        "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "use_qk_norm": experts == 16,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "bos_token_id": 200000, "eos_token_id": [200001, 200007, 200008], "pad_token_id": 200018,
    }
    if no_rope:
        text["no_rope_layers"] = [1, 1, 1, 0] * 12
    return {
        "architectures": ["Llama4ForConditionalGeneration"], "model_type": "llama4",
        "boi_token_index": 200080, "eoi_token_index": 200081, "image_token_index": 200092,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "text_config": text, "vision_config": dict(VISION_CONFIG),
    }


LLAMA31_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": False,
    "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "torch_dtype": "bfloat16",
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
}


def write(dirpath: Path, data, name: str = "config.json") -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    p = dirpath / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


# -------------------------------------------------------------------------------- Llama 4 ---
def test_scout_multimodal_config_via_cli(cli, tmp_path):
    p = write(tmp_path / "Llama-4-Scout-17B-16E-Instruct", llama4_config())
    r = cli("params", str(p), "--format", "json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["total_params"] == SCOUT_TOTAL
    assert d["vision_params"] == 871_932_416
    assert d["active_params"] == 17_172_894_720
    assert d["confidence"] == "exact"


def test_scout_config_layer_pattern(tmp_path):
    spec = load_hf_config(write(tmp_path / "scout", llama4_config()))
    types = spec.resolved_layer_types()
    assert [i for i, t in enumerate(types) if t == "full_attention"] == list(range(3, 48, 4))
    assert types.count("chunked_attention") == 36
    assert spec.moe_layer_ids() == list(range(48))
    assert spec.vision_config is not None


def test_llama4_config_without_no_rope_layers_uses_the_interval(tmp_path):
    spec = load_hf_config(write(tmp_path / "scout", llama4_config(no_rope=False)))
    assert [i for i, t in enumerate(spec.resolved_layer_types()) if t == "full_attention"] == list(range(3, 48, 4))
    assert count_params(spec).total_params == SCOUT_TOTAL


def test_maverick_multimodal_config(cli, tmp_path):
    p = write(tmp_path / "mav", llama4_config(experts=128, step=2, max_pos=1_048_576))
    r = cli("params", str(p), "-f", "json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["total_params"] == MAVERICK_TOTAL
    assert d["moe_layers"] == list(range(1, 48, 2))


def test_config_directory_is_accepted(cli, tmp_path):
    d = tmp_path / "Llama-4-Scout"
    write(d, llama4_config())
    r = cli("params", str(d), "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["total_params"] == SCOUT_TOTAL


def test_config_directory_names_the_model_after_the_directory(tmp_path):
    # `--model path/to/Llama-4-Scout` should be called after that directory, as
    # `--model path/to/Llama-4-Scout/config.json` is (not after its parent directory)
    d = tmp_path / "Llama-4-Scout"
    write(d, llama4_config())
    by_dir = load_hf_config(d)
    by_file = load_hf_config(d / "config.json")
    assert by_file.id == "config-llama-4-scout"
    assert by_dir.id == by_file.id


def test_fit_with_a_config_path(cli, tmp_path):
    p = write(tmp_path / "scout", llama4_config())
    r = cli("fit", "--model", str(p), "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["fits"] is True
    assert r.json()["kv_cache_bytes_per_token"] == 196_608


# ------------------------------------------------------------------------------- other families ---
def test_dense_llama_config(cli, tmp_path):
    p = write(tmp_path / "Llama-3.1-8B", LLAMA31_8B)
    r = cli("params", str(p), "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["total_params"] == 8_030_261_248
    assert r.json()["active_params"] == 8_030_261_248


def test_llama_config_without_head_dim(tmp_path):
    cfg = dict(LLAMA31_8B)
    del cfg["head_dim"]
    del cfg["num_key_value_heads"]  # HF default: MHA
    spec = load_hf_config(write(tmp_path / "m", cfg))
    assert spec.resolved_head_dim == 128
    assert spec.num_key_value_heads == 32


def test_mixtral_config(tmp_path):
    cfg = {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 14336, "num_local_experts": 8, "num_experts_per_tok": 2,
           "vocab_size": 32000, "max_position_embeddings": 32768, "sliding_window": None,
           "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
    b = count_params(load_hf_config(write(tmp_path / "mixtral", cfg)))
    assert b.total_params == 46_702_792_704
    assert b.active_params == 12_879_925_248


def test_qwen3_moe_config(tmp_path):
    # Qwen/Qwen3-30B-A3B config.json; published exact total 30,532,122,624 (docs/facts/models.md 5).
    # Qwen3-MoE attention has q_norm / k_norm like dense Qwen3.
    cfg = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
           "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
           "intermediate_size": 6144, "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
           "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": True, "vocab_size": 151936,
           "max_position_embeddings": 40960, "tie_word_embeddings": False, "sliding_window": None,
           "use_sliding_window": False, "attention_bias": False, "torch_dtype": "bfloat16"}
    b = count_params(load_hf_config(write(tmp_path / "Qwen3-30B-A3B", cfg)))
    assert b.total_params == 30_532_122_624


def test_qwen2_dense_config_counts_qkv_biases(tmp_path):
    """Qwen2/Qwen2.5 attention has biases on q, k and v (not on o): transformers ``Qwen2Attention``
    builds q/k/v with ``bias=True`` and o_proj with ``bias=False``; the config has no attention_bias
    key. Qwen2.5-7B, formula written out: 7,615,616,512 parameters (the Hub's safetensors total)."""
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
           "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
           "intermediate_size": 18944, "vocab_size": 152064, "max_position_embeddings": 32768,
           "max_window_layers": 28, "sliding_window": 131072, "use_sliding_window": False,
           "tie_word_embeddings": False, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"}
    h, layers, nh, nkv, hd, f, vocab = 3584, 28, 28, 4, 128, 18944, 152064
    attention = 2 * h * nh * hd + 2 * h * nkv * hd + (nh * hd + 2 * nkv * hd)  # q, o, k, v + q/k/v biases
    per_layer = attention + 3 * h * f + 2 * h
    total = layers * per_layer + 2 * vocab * h + h
    assert total == 7_615_616_512
    spec = load_hf_config(write(tmp_path / "Qwen2.5-7B", cfg))
    assert spec.sliding_window is None  # use_sliding_window: false
    assert count_params(spec).total_params == total


def test_gpt_oss_config(tmp_path):
    cfg = {"model_type": "gpt_oss", "hidden_size": 2880, "num_hidden_layers": 36, "num_attention_heads": 64,
           "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 2880, "num_local_experts": 128,
           "num_experts_per_tok": 4, "experts_per_token": 4, "vocab_size": 201088,
           "max_position_embeddings": 131072, "sliding_window": 128,
           "layer_types": ["sliding_attention", "full_attention"] * 18, "attention_bias": True,
           "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
    spec = load_hf_config(write(tmp_path / "gpt-oss-120b", cfg))
    assert count_params(spec).total_params == 116_829_156_672
    assert spec.resolved_layer_types().count("sliding_attention") == 18


def test_deepseek_v3_config(tmp_path):
    cfg = {"model_type": "deepseek_v3", "hidden_size": 7168, "num_hidden_layers": 61, "num_attention_heads": 128,
           "num_key_value_heads": 128, "intermediate_size": 18432, "moe_intermediate_size": 2048,
           "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3,
           "moe_layer_freq": 1, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
           "qk_nope_head_dim": 128, "v_head_dim": 128, "topk_method": "noaux_tc", "num_nextn_predict_layers": 1,
           "vocab_size": 129280, "max_position_embeddings": 163840, "tie_word_embeddings": False,
           "torch_dtype": "bfloat16"}
    spec = load_hf_config(write(tmp_path / "DeepSeek-V3", cfg))
    assert spec.is_mla
    b = count_params(spec)
    main = b.total_params - b.components["mtp"]
    assert abs(main - 671e9) / 671e9 < 0.005  # "671B main" (README_WEIGHTS), without the MTP module


# ------------------------------------------------------------------------------------ errors ---
BAD = {
    "malformed": ('{"model_type": "llama", "hidden_size": 4096,', "malformed JSON"),
    "array": ("[1, 2, 3]", "JSON object"),
    "string": ('"llama"', "JSON object"),
    "no_hidden": (json.dumps({k: v for k, v in LLAMA31_8B.items() if k != "hidden_size"}), "hidden_size"),
    "negative": (json.dumps({**LLAMA31_8B, "hidden_size": -4096}), "hidden_size"),
    "no_model_type": (json.dumps({k: v for k, v in LLAMA31_8B.items() if k != "model_type"}), "model_type"),
    "heads_kv": (json.dumps({**LLAMA31_8B, "num_key_value_heads": 5}), "num_key_value_heads"),
    "text_config_not_object": (json.dumps({**llama4_config(), "text_config": "llama4_text"}), "hidden_size"),
}


def _llama4_with(**text_changes) -> str:
    cfg = llama4_config()
    cfg["text_config"].update(text_changes)
    return json.dumps(cfg)


# wrong JSON types inside a Llama 4 text_config (a number where a list belongs)
BAD.update({
    "moe_layers_number": (_llama4_with(moe_layers=3), "moe_layers"),
    "layer_types_number": (_llama4_with(layer_types=3), "layer_types"),
    "no_rope_layers_short": (_llama4_with(no_rope_layers=[1, 0]), "layer_types"),
    "moe_layers_irregular": (_llama4_with(moe_layers=[0, 5]), "moe_layers"),
})


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_json_is_a_one_line_error(cli, tmp_path, case):
    text, fragment = BAD[case]
    p = write(tmp_path / case, text)
    for args in (("params", str(p)), ("fit", "--model", str(p), "--gpu", "h100", "--ctx", "8K")):
        r = cli(*args)
        assert r.code == 2, (case, r.err)
        assert r.out == ""
        lines = r.err.splitlines()
        assert len(lines) == 1, r.err
        assert lines[0].startswith("llamasize: error:")
        assert str(p) in lines[0]
        assert fragment in lines[0]
        assert "Traceback" not in r.err


def test_bad_config_raises_data_error(tmp_path):
    with pytest.raises(DataError):
        load_hf_config(write(tmp_path / "x", "[1]"))


def test_missing_config_path(cli, tmp_path):
    r = cli("params", str(tmp_path / "nope" / "config.json"))
    assert r.code == 2
    assert r.err.startswith("llamasize: error:") and len(r.err.splitlines()) == 1
    assert "cannot read" in r.err


def test_binary_config(cli, tmp_path):
    p = tmp_path / "config.json"
    p.write_bytes(b"\xff\xfe\x00\x01")
    r = cli("params", str(p))
    assert r.code == 2 and len(r.err.splitlines()) == 1 and "UTF-8" in r.err


def test_absurd_layer_count_is_a_usage_error_not_a_crash(tmp_path):
    """num_hidden_layers = 10**30 in a config.json: a one-line error (exit 2), not an internal error,
    an OverflowError or a memory blow-up. Run in a subprocess with a memory cap and a timeout so a
    regression cannot take the test run down with it."""
    import resource
    import subprocess
    import sys

    p = write(tmp_path / "huge", {**LLAMA31_8B, "num_hidden_layers": 10**30})

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))

    for args in (["params", str(p)], ["fit", "--model", str(p), "--gpu", "h100", "--ctx", "8K"]):
        try:
            r = subprocess.run([sys.executable, "-m", "llamasize", *args], capture_output=True, text=True,
                               timeout=30, preexec_fn=cap)
        except subprocess.TimeoutExpired:
            pytest.fail(f"llamasize {args[0]} with 10**30 layers ran for more than 30 s")
        assert r.returncode == 2, (args[0], r.returncode, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("llamasize: error:"), r.stderr
        assert "num_hidden_layers" in lines[0]
