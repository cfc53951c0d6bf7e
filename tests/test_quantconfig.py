"""quantization_config: a checkpoint is sized from its own quantization config (issue 11 item 3).

Each test writes a config.json shaped like a real checkpoint's (the repo id is cited) and computes
the expected bytes here, independently of llamasize's Storage arithmetic: every tensor the
quantizer writes (name, shape, dtype) as the library's code creates it, summed. The estimator must
match within 3 % (the issue's bar) and exactly where the layout is fully determined.
"""

from __future__ import annotations

import json
from math import ceil, prod
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from llamasize.data.hfconfig import load_hf_config
from llamasize.data.quantconfig import parse_quantization, scheme_from_format_id
from llamasize.estimate.memory import total_weight_bytes
from llamasize.estimate.quant import get_format

from test_hfconfig import LLAMA31_8B, llama4_config, write

B = {"int64": 8, "int32": 4, "uint32": 4, "fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "uint8": 1}
LLAMA2_7B = {  # meta-llama/Llama-2-7b-hf config.json (the base of TheBloke/Llama-2-7B-GPTQ)
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
    "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "tie_word_embeddings": False, "torch_dtype": "float16",
}
LLAMA32_1B = {  # meta-llama/Llama-3.2-1B-Instruct config.json (the base of mlx-community/Llama-3.2-1B-Instruct-4bit)
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
    "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
}


def nbytes(shape, dtype) -> int:
    return prod(shape) * B[dtype]


def llama_linears(c: dict):
    """(HF module name, out, in) of every linear layer of a LlamaForCausalLM, lm_head last."""
    h, n, nh = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    nkv, f = c["num_key_value_heads"], c["intermediate_size"]
    hd = c.get("head_dim") or h // nh
    for i in range(n):
        p = f"model.layers.{i}"
        yield f"{p}.self_attn.q_proj", nh * hd, h
        yield f"{p}.self_attn.k_proj", nkv * hd, h
        yield f"{p}.self_attn.v_proj", nkv * hd, h
        yield f"{p}.self_attn.o_proj", h, nh * hd
        yield f"{p}.mlp.gate_proj", f, h
        yield f"{p}.mlp.up_proj", f, h
        yield f"{p}.mlp.down_proj", h, f
    if not c["tie_word_embeddings"]:
        yield "lm_head", c["vocab_size"], h


def llama_rest(c: dict, dtype: str) -> int:
    """The embedding and every norm (2 per layer + the final one) in ``dtype``."""
    h = c["hidden_size"]
    return nbytes((c["vocab_size"], h), dtype) + (2 * c["num_hidden_layers"] + 1) * nbytes((h,), dtype)


def checkpoint(tmp_path: Path, base: dict, quant: dict, key: str = "quantization_config", **side) -> Path:
    d = tmp_path / "ckpt"
    write(d, {**base, key: quant} if quant is not None else base)
    for name, data in side.items():
        write(d, data, f"{name}.json")
    return d


def estimate(d: Path):
    spec = load_hf_config(d)
    return spec, total_weight_bytes(spec, spec.default_quant)


def close(got: int, want: int, tol: float = 0.03) -> bool:
    return abs(got - want) <= tol * want


# --------------------------------------------------------------------------------------- GPTQ --
def gptq_tensors(out: int, inp: int, bits: int, group: int | None) -> int:
    """AutoGPTQ QuantLinear buffers: qweight, qzeros, scales, g_idx."""
    groups = ceil(inp / group) if group else 1
    return (nbytes((inp * bits // 32, out), "int32") + nbytes((groups, out * bits // 32), "int32")
            + nbytes((groups, out), "fp16") + nbytes((inp,), "int32"))


@pytest.mark.parametrize("group,act,fid", [(128, False, "gptq-w4-g128"), (-1, True, "gptq-w4-gch-actorder")])
def test_gptq_exact(tmp_path, group, act, fid):
    # TheBloke/Llama-2-7B-GPTQ config.json quantization_config (main branch: group 128, no act-order)
    q = {"bits": 4, "group_size": group, "damp_percent": 0.01, "desc_act": act, "sym": True, "true_sequential": True,
         "model_name_or_path": None, "model_file_base_name": "model", "quant_method": "gptq"}
    spec, got = estimate(checkpoint(tmp_path, LLAMA2_7B, q))
    assert spec.checkpoint_quant == fid
    want = llama_rest(LLAMA2_7B, "fp16")
    for name, out, inp in llama_linears(LLAMA2_7B):
        want += nbytes((out, inp), "fp16") if name == "lm_head" else gptq_tensors(out, inp, 4, None if group == -1 else group)
    assert got == want
    assert got < 0.3 * total_weight_bytes(spec, "fp16")


def test_gptq_from_quantize_config_json(tmp_path):
    # AutoGPTQ before transformers integration wrote quantize_config.json beside config.json
    d = checkpoint(tmp_path, LLAMA2_7B, None, quantize_config={"bits": 4, "group_size": 128, "desc_act": False})
    spec = load_hf_config(d)
    assert spec.checkpoint_quant == "gptq-w4-g128"
    assert "quantize_config.json" in " ".join(spec.notes)


# ---------------------------------------------------------------------------------------- AWQ --
def test_awq_exact(tmp_path):
    # hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4 config.json (torch_dtype float16)
    base = {**LLAMA31_8B, "torch_dtype": "float16"}
    q = {"bits": 4, "group_size": 128, "modules_to_not_convert": None, "quant_method": "awq", "version": "gemm",
         "zero_point": True}
    spec, got = estimate(checkpoint(tmp_path, base, q))
    assert spec.checkpoint_quant == "awq-w4-g128"
    want = llama_rest(base, "fp16")
    for name, out, inp in llama_linears(base):
        if name == "lm_head":
            want += nbytes((out, inp), "fp16")
        else:  # WQLinear_GEMM: qweight (in, out/8), qzeros (in/g, out/8), scales (in/g, out)
            want += nbytes((inp, out // 8), "int32") + nbytes((inp // 128, out // 8), "int32") + nbytes((inp // 128, out), "fp16")
    assert got == want


# ------------------------------------------------------------------------------- bitsandbytes --
def bnb4_tensors(out: int, inp: int, kind: str, dtype: str) -> int:
    """Linear4bit with double quantization, QuantState.as_dict(packed=True)."""
    n = out * inp
    blocks = ceil(n / 64)
    state = json.dumps({"quant_type": kind, "blocksize": 64, "dtype": dtype, "shape": [out, inp],
                        "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123456789})
    return (ceil(n / 2) + blocks * B["uint8"] + nbytes((ceil(blocks / 256),), "fp32") + nbytes((16,), "fp32")
            + nbytes((256,), "fp32") + len(state.encode()))


def test_bnb_nf4_double_quant(tmp_path):
    # unsloth/llama-3-8b-bnb-4bit config.json quantization_config
    base = {**LLAMA31_8B, "max_position_embeddings": 8192}
    q = {"bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
         "llm_int8_enable_fp32_cpu_offload": False, "llm_int8_has_fp16_weight": False, "llm_int8_skip_modules": None,
         "llm_int8_threshold": 6.0, "load_in_4bit": True, "load_in_8bit": False, "quant_method": "bitsandbytes"}
    spec, got = estimate(checkpoint(tmp_path, base, q))
    assert spec.checkpoint_quant == "bnb-nf4-dq"
    want = llama_rest(base, "bf16")
    for name, out, inp in llama_linears(base):  # lm_head: get_keys_to_not_convert keeps the output embedding
        want += nbytes((out, inp), "bf16") if name == "lm_head" else bnb4_tensors(out, inp, "nf4", "bfloat16")
    assert close(got, want)
    assert abs(got - want) < 1e-4 * want  # only the quant_state JSON (a few hundred bytes a tensor) is left out
    assert got < want  # ... and it is left out, not guessed
    assert not close(total_weight_bytes(spec, "nf4"), want, 0.05)  # the generic nf4 (fp32 absmax, lm_head 4-bit)


def test_bnb_int8_keeps_float32_modules(tmp_path):
    # a BitsAndBytesConfig(load_in_8bit=True) checkpoint saved from a float32 load (the 2.9x case):
    # Linear8bitLt stores weight int8 + SCB fp32 per row; embeddings, norms and the lm_head stay float32
    base = {**LLAMA32_1B, "torch_dtype": "float32"}
    q = {"load_in_8bit": True, "load_in_4bit": False, "llm_int8_threshold": 6.0, "llm_int8_skip_modules": None,
         "llm_int8_has_fp16_weight": False, "quant_method": "bitsandbytes"}
    spec, got = estimate(checkpoint(tmp_path, base, q))
    assert spec.checkpoint_quant == "bnb-int8"
    want = llama_rest(base, "fp32")  # tied: the embedding is the lm_head
    for _, out, inp in llama_linears(base):
        want += nbytes((out, inp), "int8") + nbytes((out,), "fp32")
    assert got == want
    assert total_weight_bytes(spec, "fp32") > 2.3 * got  # what reading torch_dtype as the weight format gave


def test_bnb_skip_modules_replace_the_default(tmp_path):
    # llm_int8_skip_modules given: transformers uses it instead of the default (the lm_head is quantized too)
    q = {"load_in_8bit": True, "llm_int8_skip_modules": ["down_proj"], "quant_method": "bitsandbytes"}
    base = {**LLAMA2_7B, "torch_dtype": "float16"}
    spec, got = estimate(checkpoint(tmp_path, base, q))
    want = llama_rest(base, "fp16")
    for name, out, inp in llama_linears(base):
        want += nbytes((out, inp), "fp16") if name.endswith("down_proj") else nbytes((out, inp), "int8") + nbytes((out,), "fp32")
    assert got == want


# ------------------------------------------------------------------------- compressed-tensors --
def ct_config(weights: dict, acts: dict | None, fmt: str, ignore=("lm_head",)) -> dict:
    return {"config_groups": {"group_0": {"input_activations": acts, "output_activations": None, "targets": ["Linear"],
                                          "weights": weights}},
            "format": fmt, "ignore": list(ignore), "kv_cache_scheme": None, "quant_method": "compressed-tensors",
            "quantization_status": "compressed"}


FP8_W = {"dynamic": False, "num_bits": 8, "observer": "minmax", "strategy": "channel", "symmetric": True, "type": "float"}
FP8_A = {"dynamic": True, "num_bits": 8, "strategy": "token", "symmetric": True, "type": "float"}


def test_ct_fp8_dynamic_exact(tmp_path):
    # RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic: channel weight scales (bf16), dynamic per-token activations
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, ct_config(FP8_W, FP8_A, "float-quantized")))
    assert spec.checkpoint_quant == "ct-fp8-channel"
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        want += nbytes((out, inp), "bf16") if name == "lm_head" else nbytes((out, inp), "fp8") + nbytes((out, 1), "bf16")
    assert got == want
    assert get_format(spec.default_quant).needs_native == "fp8"


def test_ct_fp8_static_exact(tmp_path):
    # RedHatAI/Meta-Llama-3-8B-Instruct-FP8: per-tensor weight scale and a static per-tensor input scale
    w = {**FP8_W, "strategy": "tensor"}
    a = {**FP8_A, "dynamic": False, "strategy": "tensor"}
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, ct_config(w, a, "float-quantized")))
    assert spec.checkpoint_quant == "ct-fp8-tensor-static"
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        want += nbytes((out, inp), "bf16") if name == "lm_head" else nbytes((out, inp), "fp8") + 2 * nbytes((1,), "bf16")
    assert got == want


@pytest.mark.parametrize("bits,sym", [(4, True), (4, False), (8, True)])
def test_ct_pack_quantized_groups_exact(tmp_path, bits, sym):
    # RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16 (and .w8a16): pack-quantized int32, group 128
    w = {"dynamic": False, "group_size": 128, "num_bits": bits, "strategy": "group", "symmetric": sym, "type": "int"}
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, ct_config(w, None, "pack-quantized")))
    assert spec.checkpoint_quant == f"ct-w{bits}a16-g128" + ("" if sym else "-asym")
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        if name == "lm_head":
            want += nbytes((out, inp), "bf16")
            continue
        want += (nbytes((out, ceil(inp * bits / 32)), "int32") + nbytes((out, inp // 128), "bf16")
                 + nbytes((2,), "int64"))  # weight_packed, weight_scale, weight_shape
        if not sym:  # zero points packed along the output dimension
            want += nbytes((ceil(out * bits / 32), inp // 128), "int32")
    assert got == want


@pytest.mark.parametrize("fp4_acts", [True, False])
def test_ct_nvfp4_exact(tmp_path, fp4_acts):
    # llm-compressor's NVFP4 / NVFP4A16 schemes (e.g. RedHatAI/*-NVFP4 repos): nvfp4-pack-quantized
    w = {"dynamic": False, "group_size": 16, "num_bits": 4, "strategy": "tensor_group", "symmetric": True, "type": "float"}
    a = {"dynamic": "local", "group_size": 16, "num_bits": 4, "strategy": "tensor_group", "symmetric": True,
         "type": "float"} if fp4_acts else None
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, ct_config(w, a, "nvfp4-pack-quantized")))
    assert spec.checkpoint_quant == ("ct-nvfp4" if fp4_acts else "ct-nvfp4a16")
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        if name == "lm_head":
            want += nbytes((out, inp), "bf16")
            continue
        want += nbytes((out, inp // 2), "uint8") + nbytes((out, inp // 16), "fp8") + nbytes((1,), "fp32")
        want += nbytes((1,), "fp32") if fp4_acts else 0  # input_global_scale
    assert got == want


def test_ct_ignore_regex_and_names(tmp_path):
    # an ignore list mixing a re: pattern and exact module names, as llm-compressor recipes write them
    ignore = ["lm_head", "re:.*mlp.down_proj", "model.layers.0.self_attn.q_proj"]
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, ct_config(FP8_W, FP8_A, "float-quantized", ignore)))
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        kept = name == "lm_head" or name.endswith("mlp.down_proj") or name == "model.layers.0.self_attn.q_proj"
        want += nbytes((out, inp), "bf16") if kept else nbytes((out, inp), "fp8") + nbytes((out, 1), "bf16")
    assert got == want


# ------------------------------------------------------------------ Maverick FP8 (compressed-tensors) --
MAVERICK_IGNORE = ["re:.*lm_head", "re:.*self_attn", "re:.*router", "re:.*vision_model", "re:.*multi_modal_projector",
                   "re:.*shared_expert", "re:.*feed_forward.gate_proj", "re:.*feed_forward.up_proj",
                   "re:.*feed_forward.down_proj"]


def test_maverick_fp8_checkpoint(tmp_path):
    # meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8: compressed-tensors FP8, channel scales; its ignore list
    # keeps attention, router, shared expert, dense FFNs, vision and lm_head in BF16 (the patterns above)
    d = checkpoint(tmp_path, llama4_config(experts=128, step=2), ct_config(FP8_W, FP8_A, "float-quantized", MAVERICK_IGNORE))
    spec, got = estimate(d)
    # independent: docs/facts/models.md 1.3 -- 401,583,781,376 params, of them 386,547,056,640 routed-expert params in
    # 128 x 24 experts, each gate (8192 x 5120), up (8192 x 5120), down (5120 x 8192): 21,504 rows with a bf16 scale
    total, routed, experts = 401_583_781_376, 386_547_056_640, 128 * 24
    want = (total - routed) * 2 + routed * 1 + experts * (8192 + 8192 + 5120) * 2
    assert got == want
    assert total_weight_bytes(spec, "fp8_experts") == want  # the named format is the same layout
    assert total_weight_bytes(spec, "fp8") < 0.975 * want  # FP8 everywhere (attention, shared experts): -2.9 %
    assert total_weight_bytes(spec, "fp8_mixed") > 1.03 * want  # skips the last MoE layer's experts


# ------------------------------------------------------------------------- FP8 variants --------
def test_fbgemm_fp8_exact(tmp_path):
    # meta-llama/Llama-3.1-405B-Instruct-FP8 style (fbgemm_fp8; modules_to_not_convert lists attention and
    # the first and last layers' MLPs), on the 8B shape
    n = LLAMA31_8B["num_hidden_layers"]
    skip = [f"model.layers.{i}.self_attn.{p}" for i in range(n) for p in ("q_proj", "k_proj", "v_proj", "o_proj")]
    skip += [f"model.layers.{i}.mlp.{p}" for i in (0, n - 1) for p in ("gate_proj", "up_proj", "down_proj")]
    skip.append("lm_head")
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, {"activation_scale_ub": 1200.0, "modules_to_not_convert": skip,
                                                          "quant_method": "fbgemm_fp8"}))
    assert spec.checkpoint_quant == "fbgemm-fp8"
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        want += nbytes((out, inp), "bf16") if name in skip else nbytes((out, inp), "fp8") + nbytes((out, 1), "fp32")
    assert got == want


def test_finegrained_fp8_exact(tmp_path):
    # Qwen/Qwen3-8B-FP8 config.json: quant_method fp8, 128 x 128 blocks, fp32 weight_scale_inv
    base = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288,
            "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
            "vocab_size": 151936, "max_position_embeddings": 40960, "rms_norm_eps": 1e-06, "tie_word_embeddings": False,
            "torch_dtype": "bfloat16"}
    q = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}
    spec, got = estimate(checkpoint(tmp_path, base, q))
    assert spec.checkpoint_quant == "fp8-block128x128"
    want = llama_rest(base, "bf16") + base["num_hidden_layers"] * 2 * nbytes((128,), "bf16")  # q_norm, k_norm
    for name, out, inp in llama_linears(base):
        want += nbytes((out, inp), "bf16") if name == "lm_head" else (
            nbytes((out, inp), "fp8") + nbytes((ceil(out / 128), ceil(inp / 128)), "fp32"))
    assert got == want


@pytest.mark.parametrize("algo", ["FP8", "NVFP4"])
def test_modelopt_hf_quant_config(tmp_path, algo):
    # nvidia/Llama-3.1-8B-Instruct-FP8 and nvidia/Llama-3.3-70B-Instruct-FP4 hf_quant_config.json (8B shape here)
    side = {"producer": {"name": "modelopt", "version": "0.23.0"},
            "quantization": {"quant_algo": algo, "kv_cache_quant_algo": "FP8",
                             "exclude_modules": ["lm_head", "model.layers.0.self_attn*"],
                             **({"group_size": 16} if algo == "NVFP4" else {})}}
    spec, got = estimate(checkpoint(tmp_path, LLAMA31_8B, None, hf_quant_config=side))
    assert spec.checkpoint_quant == f"modelopt-{algo.lower()}"
    want = llama_rest(LLAMA31_8B, "bf16")
    for name, out, inp in llama_linears(LLAMA31_8B):
        if name == "lm_head" or name.startswith("model.layers.0.self_attn."):
            want += nbytes((out, inp), "bf16")
        elif algo == "FP8":  # weight, weight_scale (), input_scale ()
            want += nbytes((out, inp), "fp8") + 2 * B["fp32"]
        else:  # weight (uint8 pairs), weight_scale fp8 per 16, weight_scale_2 (), input_scale ()
            want += nbytes((out, inp // 2), "uint8") + nbytes((out, inp // 16), "fp8") + 2 * B["fp32"]
    want += LLAMA31_8B["num_hidden_layers"] * 2 * B["fp32"]  # k_scale, v_scale of the FP8 KV cache
    assert close(got, want)
    assert 0 < want - got < 1e-6 * want  # the KV scales are the only thing left out


def test_gpt_oss_mxfp4_exact(tmp_path):
    # openai/gpt-oss-20b config.json (quantization_config: mxfp4, modules_to_not_convert as shipped)
    base = {"architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
            "num_hidden_layers": 24, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
            "num_local_experts": 32, "num_experts_per_tok": 4, "experts_per_token": 4, "vocab_size": 201088,
            "max_position_embeddings": 131072, "sliding_window": 128, "attention_bias": True, "tie_word_embeddings": False,
            "layer_types": ["sliding_attention", "full_attention"] * 12, "rms_norm_eps": 1e-05, "torch_dtype": "bfloat16"}
    q = {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens",
                                    "lm_head"], "quant_method": "mxfp4"}
    spec, got = estimate(checkpoint(tmp_path, base, q))
    assert spec.checkpoint_quant == "mxfp4"
    h, e, fe, nh, nkv, hd, v = 2880, 32, 2880, 64, 8, 64, 201088
    norm = nbytes((h,), "bf16")
    attention = (nbytes((nh * hd, h), "bf16") + nbytes((nh * hd,), "bf16")  # q + bias
                 + 2 * (nbytes((nkv * hd, h), "bf16") + nbytes((nkv * hd,), "bf16"))  # k, v + biases
                 + nbytes((h, nh * hd), "bf16") + nbytes((h,), "bf16") + nbytes((nh,), "bf16"))  # o + bias, sinks
    router = nbytes((e, h), "bf16") + nbytes((e,), "bf16")
    experts = (nbytes((e, 2 * fe, h // 32, 16), "uint8") + nbytes((e, 2 * fe, h // 32), "uint8")  # gate_up blocks, scales
               + nbytes((e, 2 * fe), "bf16")  # gate_up bias
               + nbytes((e, h, fe // 32, 16), "uint8") + nbytes((e, h, fe // 32), "uint8") + nbytes((e, h), "bf16"))
    want = 24 * (2 * norm + attention + router + experts) + norm + 2 * nbytes((v, h), "bf16")
    assert got == want
    # a modules_to_not_convert that also keeps layer 0's experts is honoured
    q["modules_to_not_convert"] = [*q["modules_to_not_convert"], "model.layers.0.mlp.experts"]
    spec, got = estimate(checkpoint(tmp_path / "skip0", base, q))
    bf16_experts = nbytes((e, 2 * fe, h), "bf16") + nbytes((e, 2 * fe), "bf16") + nbytes((e, h, fe), "bf16") + nbytes((e, h), "bf16")
    assert got == want - experts + bf16_experts


# ---------------------------------------------------------------------------------------- MLX --
def mlx_tensors(out: int, inp: int, bits: int, group: int) -> int:
    """MLX QuantizedLinear / QuantizedEmbedding: weight uint32, scales and biases in the model dtype."""
    return nbytes((out, inp * bits // 32), "uint32") + 2 * nbytes((out, inp // group), "bf16")


def test_mlx_quantizes_embeddings_and_overrides(tmp_path):
    # mlx-community/Llama-3.2-1B-Instruct-4bit config.json: "quantization": {"group_size": 64, "bits": 4}
    # (tied: the quantized embedding is the lm_head); plus an 8-bit per-module override as mlx-lm writes them
    over = "model.layers.0.self_attn.q_proj"
    q = {"group_size": 64, "bits": 4, over: {"group_size": 64, "bits": 8}}
    spec, got = estimate(checkpoint(tmp_path, LLAMA32_1B, q, key="quantization"))
    assert spec.checkpoint_quant == "mlx-4bit-g64"
    c = LLAMA32_1B
    want = mlx_tensors(c["vocab_size"], c["hidden_size"], 4, 64) + (2 * c["num_hidden_layers"] + 1) * nbytes((2048,), "bf16")
    for name, out, inp in llama_linears(c):
        want += mlx_tensors(out, inp, 8 if name == over else 4, 64)
    assert got == want
    assert total_weight_bytes(spec, "bf16") > 3.3 * got  # the 3.6x when the config was ignored
    # newer mlx-lm also copies it to quantization_config (no quant_method): the same scheme
    both = checkpoint(tmp_path / "both", {**LLAMA32_1B, "quantization_config": q}, q, key="quantization")
    assert estimate(both) == (load_hf_config(both), got)


# ----------------------------------------------------------------------- names, errors, CLI ----
@pytest.mark.parametrize("q", [
    {"quant_method": "gptq", "bits": 8, "group_size": 32, "desc_act": True},
    {"quant_method": "awq", "bits": 4, "group_size": 64},
    {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "fp4"},
    ct_config(FP8_W, None, "float-quantized"),
    ct_config({**FP8_W, "strategy": "block", "block_structure": [128, 128]}, FP8_A, "float-quantized"),
    ct_config({"num_bits": 8, "strategy": "channel", "type": "int", "symmetric": True},
              {"num_bits": 8, "dynamic": True, "type": "int", "strategy": "token"}, "int-quantized"),
    {"quant_method": "mlx", "bits": 3, "group_size": 32},
])
def test_format_ids_round_trip(q):
    """A parsed scheme's format id rebuilds the same layout (--quant <id> works on any model)."""
    scheme = parse_quantization(q, "config.json", "bfloat16")
    again = scheme_from_format_id(scheme.format_id)
    assert again is not None and again.layout == scheme.layout
    assert get_format(scheme.format_id).id == scheme.format_id


def test_contradicting_quant_warns(tmp_path, cli):
    q = {"bits": 4, "group_size": 128, "desc_act": False, "sym": True, "quant_method": "gptq"}
    d = checkpoint(tmp_path, LLAMA2_7B, q)
    r = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "--quant", "fp8", "-f", "json")
    assert r.code == 0, r.err
    assert "on-the-fly quantization from gptq-w4-g128 to fp8" in r.err
    assert r.json()["quant"] == "fp8"
    r = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "-f", "json")
    assert r.json()["quant"] == "gptq-w4-g128" and "on-the-fly" not in r.err
    r = cli("plan", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "--quant", "fp8", "--emit", "vllm")
    assert r.code == 0, r.err
    assert "--quantization fp8" in r.out and "on-the-fly quantization from gptq-w4-g128 to fp8" in r.err
    r = cli("plan", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "--emit", "vllm")
    assert r.code == 0 and "--quantization" not in r.out and "reads its quantization_config (gptq" in r.err
    r = cli("plan", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "-f", "json")
    assert r.code == 0 and r.json()["request"]["quant"] == "gptq-w4-g128"  # the checkpoint's format, not the auto search
    assert r.json()["recommendation"]["quant"] == "gptq-w4-g128"


def test_unknown_method_is_a_note_and_approximate(tmp_path, cli):
    d = checkpoint(tmp_path, LLAMA2_7B, {"quant_method": "hqq", "nbits": 4})
    spec = load_hf_config(d)
    assert spec.checkpoint_quant == "unknown-quant-hqq-fp16"
    assert any("'hqq'" in n and "not modelled" in n for n in spec.notes)
    r = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["confidence"]["weights_bytes"] == "approximate"
    assert "warning: unknown-quant-hqq-fp16: the checkpoint's quantization method 'hqq' is not modelled" in r.err
    no_method = load_hf_config(checkpoint(tmp_path / "none", LLAMA2_7B, {"bits": 4}))
    assert no_method.checkpoint_quant == "unknown-quant-unspecified-fp16"


@pytest.mark.parametrize("q,needle", [
    ({"quant_method": "gptq", "bits": 0, "group_size": 128}, "bits must be one of 2, 3, 4, 8, got 0"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 7}, "group_size must be -1 or a power of two"),
    ({"quant_method": "gptq", "bits": "four"}, "bits must be an integer"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": "yes"}, "load_in_4bit must be true or false"),
    ({"quant_method": "bitsandbytes"}, "exactly one of load_in_4bit and load_in_8bit"),
    ({"quant_method": "compressed-tensors", "config_groups": []}, "config_groups must be a non-empty object"),
    ({"quant_method": "mlx", "bits": 4, "group_size": 100}, "group_size must be one of 16, 32, 64, 128"),
    ({"quant_method": 7}, "quant_method must be a method name"),
    ("fp8", "quantization_config must be an object"),
])
def test_malformed_quantization_config_is_one_line_exit_2(tmp_path, cli, q, needle):
    d = checkpoint(tmp_path, LLAMA2_7B, q)
    r = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4K")
    assert r.code == 2
    assert needle in r.err
    assert r.err.count("\n") == 1 and r.err.startswith("llamasize: error: ") and "Traceback" not in r.err


def test_ct_several_config_groups_is_approximate(tmp_path, cli):
    # mixed-precision recipes write one config group per scheme (e.g. W4A16 experts + FP8 attention); one
    # scheme is modelled, so the size says it is approximate instead of failing
    w4 = {"dynamic": False, "group_size": 128, "num_bits": 4, "strategy": "group", "symmetric": True, "type": "int"}
    q = ct_config(w4, None, "pack-quantized")
    q["config_groups"]["group_1"] = {"targets": ["re:.*self_attn.*"], "weights": FP8_W, "input_activations": FP8_A}
    d = checkpoint(tmp_path, LLAMA31_8B, q)
    spec = load_hf_config(d)
    assert spec.quantization.accuracy == "approximate" and spec.checkpoint_quant == "ct-w4a16-g128-mixed"
    assert get_format(spec.checkpoint_quant).accuracy == "approximate"
    r = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4K", "-f", "json")
    assert r.code == 0 and r.json()["confidence"]["weights_bytes"] == "approximate"
    assert "warning: ct-w4a16-g128-mixed: the checkpoint mixes schemes" in r.err


def test_ct_fp8_moe_experts_one_scale_per_expert_row(tmp_path):
    # RedHatAI/Qwen3-30B-A3B-FP8-dynamic style: every expert is its own Linear with its own channel scales;
    # the router (mlp.gate) is ignored by a re: pattern and stays BF16
    base = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
            "intermediate_size": 6144, "moe_intermediate_size": 768, "num_hidden_layers": 48, "num_attention_heads": 32,
            "num_key_value_heads": 4, "head_dim": 128, "num_experts": 128, "num_experts_per_tok": 8,
            "decoder_sparse_step": 1, "mlp_only_layers": [], "vocab_size": 151936, "tie_word_embeddings": False,
            "max_position_embeddings": 40960, "rms_norm_eps": 1e-06, "torch_dtype": "bfloat16"}
    spec, got = estimate(checkpoint(tmp_path, base, ct_config(FP8_W, FP8_A, "float-quantized", ["lm_head", "re:.*mlp.gate$"])))
    h, e, fe = 2048, 128, 768

    def fp8(out, inp):
        return nbytes((out, inp), "fp8") + nbytes((out, 1), "bf16")

    attention = fp8(32 * 128, h) + 2 * fp8(4 * 128, h) + fp8(h, 32 * 128) + 2 * nbytes((128,), "bf16")
    layer = attention + 2 * nbytes((h,), "bf16") + nbytes((e, h), "bf16") + e * (2 * fp8(fe, h) + fp8(h, fe))
    want = 48 * layer + nbytes((h,), "bf16") + 2 * nbytes((151936, h), "bf16")
    assert got == want


@given(method=st.sampled_from(["gptq", "awq", "mlx", "fp8", "ct-int", "ct-fp8"]), bits=st.sampled_from([2, 3, 4, 8]),
       group=st.sampled_from([-1, 16, 32, 64, 128, 256]), flag=st.booleans())
def test_every_parsed_scheme_round_trips_through_its_id(method, bits, group, flag):
    """Whatever a valid config says, its format id names the same layout (so --quant ID reproduces it)."""
    if method == "gptq":
        q = {"quant_method": "gptq", "bits": bits, "group_size": group, "desc_act": flag}
    elif method == "awq":
        q = {"quant_method": "awq", "bits": 4, "group_size": abs(group) if group > 0 else 128}
    elif method == "mlx":
        q = {"quant_method": "mlx", "bits": bits, "group_size": group if group in (16, 32, 64, 128) else 64}
    elif method == "fp8":
        q = {"quant_method": "fp8", "weight_block_size": [abs(group), abs(group)] if group > 0 else [128, 128]}
    else:
        w = {"num_bits": 8 if method == "ct-fp8" else bits, "type": "float" if method == "ct-fp8" else "int",
             "symmetric": flag or method == "ct-fp8", "strategy": "group" if group > 0 else "channel"}
        if group > 0:
            w["group_size"] = group
        q = ct_config(w, None, "float-quantized" if method == "ct-fp8" else "pack-quantized")
    scheme = parse_quantization(q, "config.json", "bfloat16")
    again = scheme_from_format_id(scheme.format_id)
    assert again is not None and again.layout == scheme.layout and again.format_id == scheme.format_id


def test_deepseek_v3_block_scales_reproduce_the_hub_tensor_count():
    """deepseek-ai/DeepSeek-V3 ships FP8 with one fp32 weight_scale_inv per 128 x 128 tile (registry
    checkpoint_quant fp8-block128x128). The Hub's safetensors element count, 684,531,386,000 (docs/facts/models.md
    5, scale tensors included), is reproduced exactly by: every parameter (main + MTP layer) + the MTP layer's
    stored copies of the embedding and head + one scale per tile of each FP8 linear (the format's choice for
    the main model; in the MTP layer every linear but eh_proj)."""
    from llamasize.data.registry import load_registry
    from llamasize.estimate.params import mtp_tensors, weight_table

    spec = load_registry().model("deepseek-v3")
    fmt = get_format(spec.default_quant)
    assert fmt.id == "fp8-block128x128"

    def tiles(t) -> int:
        return (t.shape[0] if len(t.shape) == 3 else 1) * ceil(t.shape[-2] / 128) * ceil(t.shape[-1] / 128)

    main = weight_table(spec)
    fp8 = [t for t in main if fmt.rule(spec, t).tile_bits]
    assert {t.component for t in fp8} == {"attention", "routed_experts", "shared_experts", "dense_ffn"}
    mtp = [t for t in mtp_tensors(spec) if t.kind == "linear" and t.role != "eh_proj"]
    h, v = spec.hidden_size, spec.vocab_size
    count = (sum(t.numel for t in main) + sum(t.numel for t in mtp_tensors(spec)) + 2 * v * h
             + sum(tiles(t) for t in fp8) + sum(tiles(t) for t in mtp))
    assert count == 684_531_386_000
    fp8_ids = {id(t) for t in fp8}
    want = sum(t.numel * (1 if id(t) in fp8_ids else 2) for t in main) + 4 * sum(tiles(t) for t in fp8)
    assert total_weight_bytes(spec, fmt.id) == want
