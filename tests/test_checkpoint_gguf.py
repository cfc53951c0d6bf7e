"""GGUF files (issue 11 item 2): the spec from the architecture keys, parameters and bytes from the
tensor infos, exact. Files are written with gguf's own GGUFWriter in tmp_path; the expected bytes are
computed here from llama.cpp's block struct sizes (ggml-common.h), written out, not imported."""

from __future__ import annotations

from math import prod
from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter

from llamasize.data.local import load_local_model
from llamasize.estimate.kv import kv_bytes_per_token_model

#: (weights per block, bytes per block): ggml-common.h block_q4_K = 144 B / 256, block_q6_K = 210 B / 256,
#: block_q8_0 = 34 B / 32; f32 4 B, f16 2 B per weight.
BLOCK = {T.F32: (1, 4), T.F16: (1, 2), T.Q4_K: (256, 144), T.Q6_K: (256, 210), T.Q8_0: (32, 34)}

H, F, V, L, NH, NKV = 256, 512, 1000, 3, 8, 2
HD = H // NH


def _add(w: GGUFWriter, name: str, shape: tuple[int, ...], qt, record: dict) -> None:
    """One tensor of logical ``shape`` (numpy order: the row length last) in type ``qt``."""
    per, nbytes = BLOCK[qt]
    if qt == T.F32:
        w.add_tensor(name, np.zeros(shape, np.float32))
    elif qt == T.F16:
        w.add_tensor(name, np.zeros(shape, np.float16))
    else:
        w.add_tensor(name, np.zeros((*shape[:-1], shape[-1] // per * nbytes), np.uint8), raw_dtype=qt)
    record[name] = (prod(shape), prod(shape) // per * nbytes)


def write_gguf(path: Path, *, arch: str = "llama", tied: bool = False, moe: bool = False,
               file_type: int | None = 15, record: dict | None = None, window: int | None = None) -> Path:
    """A small GGUF model: ``L`` blocks, GQA, Q4_K matrices with Q6_K attn_v/ffn_down/output, f32 norms."""
    record = {} if record is None else record
    w = GGUFWriter(str(path), arch)
    w.add_block_count(L)
    w.add_embedding_length(H)
    w.add_feed_forward_length(F)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_context_length(32768)
    w.add_key_length(HD)
    w.add_value_length(HD)
    w.add_rope_freq_base(1e6)
    if window:
        w.add_sliding_window(window)
    if file_type is not None:
        w.add_file_type(file_type)
    if moe:
        w.add_expert_count(4)
        w.add_expert_used_count(2)
        w.add_expert_feed_forward_length(F)
    _add(w, "token_embd.weight", (V, H), T.Q4_K, record)
    _add(w, "output_norm.weight", (H,), T.F32, record)
    for i in range(L):
        p = f"blk.{i}."
        _add(w, p + "attn_norm.weight", (H,), T.F32, record)
        _add(w, p + "ffn_norm.weight", (H,), T.F32, record)
        _add(w, p + "attn_q.weight", (NH * HD, H), T.Q4_K, record)
        _add(w, p + "attn_k.weight", (NKV * HD, H), T.Q4_K, record)
        _add(w, p + "attn_v.weight", (NKV * HD, H), T.Q6_K, record)
        _add(w, p + "attn_output.weight", (H, NH * HD), T.Q4_K, record)
        if moe:
            _add(w, p + "ffn_gate_inp.weight", (4, H), T.F32, record)
            _add(w, p + "ffn_gate_exps.weight", (4, F, H), T.Q4_K, record)
            _add(w, p + "ffn_up_exps.weight", (4, F, H), T.Q4_K, record)
            _add(w, p + "ffn_down_exps.weight", (4, H, F), T.Q6_K, record)
        else:
            _add(w, p + "ffn_gate.weight", (F, H), T.Q4_K, record)
            _add(w, p + "ffn_up.weight", (F, H), T.Q4_K, record)
            _add(w, p + "ffn_down.weight", (H, F), T.Q6_K, record)
    if not tied:
        _add(w, "output.weight", (V, H), T.Q6_K, record)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_gguf_params_and_bytes_equal_the_tensor_sums(cli, tmp_path):
    record: dict = {}
    p = write_gguf(tmp_path / "tiny-Q4_K_M.gguf", record=record)
    params = sum(n for n, _ in record.values())
    nbytes = sum(b for _, b in record.values())
    r = cli("params", str(p), "--format", "json")
    assert r.code == 0, r.err
    b = r.json()
    assert b["confidence"] == "exact (checkpoint)"
    assert b["total_params"] == params and b["checkpoint"]["total_bytes"] == nbytes
    assert b["checkpoint"]["format"] == "gguf" and set(b["checkpoint"]["dtypes"]) == {"F32", "Q4_K", "Q6_K"}
    assert b["components"]["embedding"] == V * H and b["components"]["lm_head"] == V * H
    assert b["components"]["norms"] == (2 * L + 1) * H
    assert b["components"]["dense_ffn"] == L * 3 * H * F
    fit = cli("fit", "--model", str(p), "--gpu", "h100", "--ctx", "8k", "--format", "json")
    assert fit.code == 0, fit.err
    e = fit.json()
    assert e["quant"] == "q4_k_m" and e["weights_bytes"] == nbytes
    assert e["confidence"]["weights_bytes"] == "exact (checkpoint)"
    # llama.cpp's default f16 KV cache: 2 (k, v) x kv heads x head_dim x 2 bytes x layers
    assert e["kv_cache_bytes_per_token"] == 2 * NKV * HD * 2 * L


def test_gguf_spec_from_the_architecture_keys(tmp_path):
    spec = load_local_model(write_gguf(tmp_path / "m.gguf", tied=True, arch="qwen3", window=None))
    assert (spec.model_type, spec.num_hidden_layers, spec.hidden_size, spec.num_attention_heads) == ("qwen3", L, H, NH)
    assert (spec.num_key_value_heads, spec.head_dim, spec.vocab_size) == (NKV, HD, V)
    assert spec.max_position_embeddings == 32768 and spec.tie_word_embeddings is True
    assert spec.default_quant == "q4_k_m"
    assert kv_bytes_per_token_model(spec, 2) == 2 * NKV * HD * 2 * L


def test_gguf_gemma2_sliding_pattern(tmp_path):
    spec = load_local_model(write_gguf(tmp_path / "g.gguf", arch="gemma2", window=4096))
    # transformers Gemma2Config: layer i is sliding iff (i + 1) % 2
    assert spec.resolved_layer_types() == ["sliding_attention", "full_attention", "sliding_attention"]
    assert spec.sliding_window == 4096


def test_gguf_moe_active_params(cli, tmp_path):
    record: dict = {}
    p = write_gguf(tmp_path / "moe.gguf", arch="qwen3moe", moe=True, record=record)
    b = cli("params", str(p), "--format", "json").json()
    routed = L * 4 * 3 * H * F
    assert b["components"]["routed_experts"] == routed and b["components"]["router"] == L * 4 * H
    assert b["total_params"] == sum(n for n, _ in record.values())
    assert b["active_params"] == b["total_params"] - routed * (4 - 2) // 4


def test_gguf_unknown_architecture_says_so(cli, tmp_path):
    p = write_gguf(tmp_path / "x.gguf", arch="madeup")
    r = cli("params", str(p), "--format", "json")
    assert r.code == 0, r.err
    assert "'madeup' has no specific mapping" in r.err and r.err.count("no specific mapping") == 1
    assert r.json()["confidence"] == "exact (checkpoint)"  # the counts come from the tensors
    assert any("KV-cache, activation and speed figures are approximate" in w for w in r.json()["warnings"])
    f = cli("fit", "--model", str(p), "--gpu", "h100", "--ctx", "4k", "--format", "json")
    assert sum("no specific mapping" in w for w in f.json()["warnings"]) == 1
    # the KV cache rests on the guessed architecture: never labelled exact; the weights are the tensors'
    assert f.json()["confidence"]["kv_cache_bytes"] == "approximate"
    assert f.json()["confidence"]["weights_bytes"] == "exact (checkpoint)"


@pytest.mark.parametrize("file_type, quant", [(None, "q4_k_m"), (7, "q8_0"), (1, "fp16")])
def test_gguf_default_format(tmp_path, file_type, quant):
    """general.file_type names the format; without it the dominant tensor type does (Q4_K here)."""
    spec = load_local_model(write_gguf(tmp_path / "m.gguf", file_type=file_type))
    assert spec.default_quant == quant


def test_gguf_deepseek2_mla_keys(tmp_path):
    """deepseek2 (DeepSeek-V2/V3 in llama.cpp): the MLA ranks, the leading dense blocks and the shared
    expert map onto the spec; the KV cache stores kv_lora_rank + rope dims once per layer."""
    w = GGUFWriter(str(tmp_path / "ds.gguf"), "deepseek2")
    w.add_block_count(3)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_context_length(4096)
    w.add_vocab_size(100)
    w.add_q_lora_rank(32)
    w.add_kv_lora_rank(16)
    w.add_rope_dimension_count(8)
    w.add_key_length(24)  # nope + rope
    w.add_value_length(16)
    w.add_expert_count(4)
    w.add_expert_used_count(2)
    w.add_expert_feed_forward_length(32)
    w.add_expert_shared_count(1)
    w.add_leading_dense_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((100, 64), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    spec = load_local_model(tmp_path / "ds.gguf")
    assert spec.model_type == "deepseek_v3" and spec.is_mla
    assert (spec.q_lora_rank, spec.kv_lora_rank, spec.qk_rope_head_dim, spec.qk_nope_head_dim, spec.v_head_dim) == \
        (32, 16, 8, 16, 16)
    assert spec.moe_layer_ids() == [1, 2] and spec.n_shared_experts == 1
    assert kv_bytes_per_token_model(spec, 2) == (16 + 8) * 2 * 3


@pytest.mark.parametrize("model", ["examples/checkpoints/tiny-llama", "examples/checkpoints/tiny-llama-f16.gguf"])
def test_checkpoint_params_output_validates_against_its_schema(cli, monkeypatch, model):
    import json

    from jsonschema import Draft202012Validator

    from conftest import REPO

    monkeypatch.chdir(REPO)
    schema = json.loads(cli("schema", "params").out)
    doc = cli("params", model, "--format", "json").json()
    assert doc["checkpoint"]["total_bytes"] > 0
    errors = list(Draft202012Validator(schema).iter_errors(doc))
    assert not errors, errors[0]
