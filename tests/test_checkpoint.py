"""Checkpoint metadata (issue 11 item 2): parameters and weight bytes from safetensors headers.

Every test writes its own shards by hand (8-byte little-endian length + JSON header + the data area,
made sparse with ``truncate`` so realistic shapes cost no disk) and computes the expected sums
independently from the shapes it wrote.
"""

from __future__ import annotations

import json
import struct
from math import prod
from pathlib import Path

import pytest

from llamasize.data.checkpoint import CHECKPOINT_COMPONENTS, component_of
from llamasize.data.local import load_local_model
from llamasize.estimate.shards import stage_tensor_groups, stage_weight_bytes, total_weight_bytes
from llamasize.estimate.params import COMPONENTS, count_params

#: Bits per element, written out here (not imported) so the expectation is independent.
BITS = {"BF16": 16, "F16": 16, "F32": 32, "I32": 32, "U32": 32, "U8": 8, "I8": 8, "F8_E4M3": 8, "I64": 64}


def write_shard(path: Path, tensors: dict[str, tuple[str, list[int]]], *, pad: int = 0,
                header_override: bytes | None = None) -> int:
    """A .safetensors file with ``tensors`` (name -> (dtype, shape)); returns the data bytes."""
    header, off = {}, 0
    for name, (dtype, shape) in tensors.items():
        nbytes = prod(shape) * BITS[dtype] // 8
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + nbytes]}
        off += nbytes
    raw = header_override if header_override is not None else json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        fh.truncate(8 + len(raw) + off + pad)
    return off


LLAMA_CFG = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8,
             "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 3000,
             "max_position_embeddings": 8192, "torch_dtype": "bfloat16", "tie_word_embeddings": False}


def llama_tensors(cfg=LLAMA_CFG, dtype="BF16") -> dict[str, tuple[str, list[int]]]:
    """HF Llama tensor names and shapes (transformers modeling_llama), the whole model."""
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * hd
    t = {"model.embed_tokens.weight": (dtype, [v, h]), "model.norm.weight": (dtype, [h]),
         "lm_head.weight": (dtype, [v, h])}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t |= {p + "input_layernorm.weight": (dtype, [h]), p + "post_attention_layernorm.weight": (dtype, [h]),
              p + "self_attn.q_proj.weight": (dtype, [h, h]), p + "self_attn.k_proj.weight": (dtype, [kv, h]),
              p + "self_attn.v_proj.weight": (dtype, [kv, h]), p + "self_attn.o_proj.weight": (dtype, [h, h]),
              p + "mlp.gate_proj.weight": (dtype, [f, h]), p + "mlp.up_proj.weight": (dtype, [f, h]),
              p + "mlp.down_proj.weight": (dtype, [h, f])}
    return t


def checkpoint_dir(tmp_path: Path, cfg: dict, tensors: dict, shards: int = 1, index: bool | None = None,
                   total_size: int | None = None) -> Path:
    """A checkpoint directory: config.json + ``shards`` shard files (+ an index when sharded)."""
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    names = list(tensors)
    index = shards > 1 if index is None else index
    weight_map, data = {}, 0
    for k in range(shards):
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors" if index else "model.safetensors"
        part = {n: tensors[n] for n in names[k::shards]}
        data += write_shard(d / file, part)
        weight_map |= dict.fromkeys(part, file)
    if index:
        (d / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": data if total_size is None else total_size}, "weight_map": weight_map}))
    return d


def sums(tensors: dict) -> tuple[int, int]:
    """(elements, bytes) of plain tensors, computed from the shapes alone."""
    return (sum(prod(s) for _, s in tensors.values()),
            sum(prod(s) * BITS[dt] // 8 for dt, s in tensors.values()))


# ------------------------------------------------------------------------------------ dense ---
def test_sharded_llama_params_and_bytes_equal_the_tensor_sums(cli, tmp_path):
    tensors = llama_tensors()
    d = checkpoint_dir(tmp_path, LLAMA_CFG, tensors, shards=3)
    params, nbytes = sums(tensors)
    r = cli("params", str(d), "--format", "json")
    assert r.code == 0, r.err
    b = r.json()
    assert b["confidence"] == "exact (checkpoint)"
    assert b["total_params"] == params and b["checkpoint"]["total_bytes"] == nbytes
    assert b["checkpoint"]["index_total_size"] == nbytes and b["checkpoint"]["warnings"] == []
    assert len(b["checkpoint"]["files"]) == 3 and b["checkpoint"]["tensor_count"] == len(tensors)
    by_comp = {c: 0 for c in CHECKPOINT_COMPONENTS}
    for name, (_, shape) in tensors.items():
        comp = ("embedding" if "embed_tokens" in name else "lm_head" if "lm_head" in name
                else "attention" if "self_attn" in name else "norms" if "norm" in name else "dense_ffn")
        by_comp[comp] += prod(shape)
    assert b["components"] == by_comp
    # a dense Llama whose config is mapped: the architecture count agrees with the checkpoint
    assert count_params(load_local_model(d / "config.json")).total_params == params


def test_fit_weights_are_the_checkpoint_bytes_in_its_own_format(cli, tmp_path):
    tensors = llama_tensors()
    d = checkpoint_dir(tmp_path, LLAMA_CFG, tensors)
    _, nbytes = sums(tensors)
    r = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4k", "--format", "json")
    assert r.code == 0, r.err
    e = r.json()
    # per GPU as vLLM loads it: plus the rotary cos_sin_cache (8192 positions x head_dim 32 x 2 B) and the
    # vocabulary padded from 3,000 to 3,008 rows (embedding and lm_head)
    assert e["weights_bytes"] == nbytes and e["per_gpu"]["weights_bytes"] == nbytes + 8192 * 32 * 2 + 8 * 256 * 2 * 2
    assert e["confidence"]["weights_bytes"] == "exact (checkpoint)"
    # another format is a re-quantization: sized by that format's rule, not the checkpoint's bytes
    r8 = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4k", "--quant", "fp8", "--format", "json")
    assert r8.json()["confidence"]["weights_bytes"] == "exact" and r8.json()["weights_bytes"] < nbytes


def test_pipeline_split_of_checkpoint_bytes_covers_the_total(tmp_path):
    """Per-stage bytes scale each component's exact bytes by the table's split: the stages add up
    to the total, within one ceiling per component and stage."""
    cfg = LLAMA_CFG | {"tie_word_embeddings": False}
    tensors = llama_tensors(cfg) | {"model.rotary_emb.extra": ("F32", [64])}  # an "other" tensor
    spec = load_local_model(checkpoint_dir(tmp_path, cfg, tensors))
    _, nbytes = sums(tensors)
    assert total_weight_bytes(spec, "bf16") == nbytes
    slack = len(tensors) + 4 * len(CHECKPOINT_COMPONENTS)  # one floor per tensor, one ceiling per part
    for pp in (1, 2, 4):
        stages = stage_weight_bytes(spec, "bf16", 1, pp, False, True)
        assert abs(sum(stages) - nbytes) <= slack
    # decode traffic reads the same scaled shards: without the "other" tensor they sum to the rest
    traffic = sum(b * n for _, _, _, b, n in stage_tensor_groups(spec, "bf16", 1, 1, False))
    assert abs(traffic - (nbytes - 64 * 4)) <= len(tensors)
    tp2 = stage_weight_bytes(spec, "bf16", 2, 1, False, True)[0]
    assert nbytes // 2 < tp2 < nbytes  # norms are replicated, the rest split


def test_config_only_directory_still_counts_by_architecture(cli, tmp_path):
    d = tmp_path / "snap"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(LLAMA_CFG))
    b = cli("params", str(d), "--format", "json").json()
    assert b["confidence"] == "exact" and "checkpoint" not in b


def test_unclaimed_tensors_are_other_and_counted(cli, tmp_path):
    tensors = llama_tensors() | {"model.mystery_block.proj": ("BF16", [7, 11])}
    d = checkpoint_dir(tmp_path, LLAMA_CFG, tensors)
    r = cli("params", str(d))
    assert r.code == 0, r.err
    assert "other" in r.out and "77" in r.out and "1 tensor(s) no name pattern assigns" in r.out
    b = cli("params", str(d), "--format", "json").json()
    assert b["components"]["other"] == 77 and b["total_params"] == sums(tensors)[0]


def test_index_total_size_disagreement_is_reported(cli, tmp_path):
    tensors = llama_tensors()
    d = checkpoint_dir(tmp_path, LLAMA_CFG, tensors, shards=2, total_size=123)
    r = cli("params", str(d), "--format", "json")
    assert r.code == 0
    assert "metadata.total_size (123 bytes) disagrees" in r.err
    assert r.json()["checkpoint"]["index_total_size"] == 123
    assert r.json()["checkpoint"]["total_bytes"] == sums(tensors)[1]


def test_components_match_the_estimator(tmp_path):
    assert CHECKPOINT_COMPONENTS == (*COMPONENTS, "other")


@pytest.mark.parametrize("name, comp", [
    ("model.embed_tokens.weight", "embedding"), ("lm_head.weight", "lm_head"),
    ("model.layers.0.self_attn.q_norm.weight", "attention"), ("model.layers.0.input_layernorm.weight", "norms"),
    ("model.layers.3.mlp.gate.weight", "router"), ("model.layers.3.mlp.gate.e_score_correction_bias", "router"),
    ("model.layers.3.mlp.gate_proj.weight", "dense_ffn"), ("model.layers.3.mlp.experts.7.up_proj.weight", "routed_experts"),
    ("model.layers.3.mlp.shared_experts.up_proj.weight", "shared_experts"),
    ("model.layers.3.mlp.shared_expert_gate.weight", "shared_experts"),
    ("language_model.model.layers.0.feed_forward.router.weight", "router"),
    ("language_model.model.layers.0.feed_forward.experts.gate_up_proj", "routed_experts"),
    ("model.layers.0.block_sparse_moe.gate.weight", "router"), ("model.layers.0.mlp.experts.gate_up_proj_blocks", "routed_experts"),
    ("visual.blocks.0.attn.qkv.weight", "vision"), ("multi_modal_projector.linear_1.weight", "vision"),
    ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", "vision"),
    ("transformer.word_embeddings_layernorm.weight", "norms"), ("transformer.h.0.self_attention.dense.weight", "attention"),
    ("token_embd.weight", "embedding"), ("output.weight", "lm_head"), ("output_norm.weight", "norms"),
    ("blk.0.attn_norm.weight", "norms"), ("blk.0.attn_q.weight", "attention"), ("blk.0.attn_k_norm.weight", "attention"),
    ("blk.1.ffn_gate_inp.weight", "router"), ("blk.1.ffn_up_exps.weight", "routed_experts"),
    ("blk.1.ffn_down_shexp.weight", "shared_experts"), ("blk.0.ffn_down.weight", "dense_ffn"),
    ("rope_freqs.weight", "other"),
])
def test_component_patterns(name, comp):
    assert component_of(name) == comp


# -------------------------------------------------------------------------------------- MoE ---
QWEN_MOE_CFG = {"model_type": "qwen2_moe", "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "intermediate_size": 256, "moe_intermediate_size": 64, "num_experts": 8,
                "num_experts_per_tok": 2, "shared_expert_intermediate_size": 128, "vocab_size": 1000,
                "max_position_embeddings": 4096, "torch_dtype": "bfloat16"}


def qwen_moe_tensors() -> dict:
    """transformers modeling_qwen2_moe names: per-expert linears, router mlp.gate, shared expert + its gate."""
    c = QWEN_MOE_CFG
    h, fe, fs, e, v = c["hidden_size"], c["moe_intermediate_size"], c["shared_expert_intermediate_size"], \
        c["num_experts"], c["vocab_size"]
    kv = c["num_key_value_heads"] * h // c["num_attention_heads"]
    t = {"model.embed_tokens.weight": ("BF16", [v, h]), "model.norm.weight": ("BF16", [h]),
         "lm_head.weight": ("BF16", [v, h])}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t |= {p + "input_layernorm.weight": ("BF16", [h]), p + "post_attention_layernorm.weight": ("BF16", [h]),
              p + "self_attn.q_proj.weight": ("BF16", [h, h]), p + "self_attn.q_proj.bias": ("BF16", [h]),
              p + "self_attn.k_proj.weight": ("BF16", [kv, h]), p + "self_attn.k_proj.bias": ("BF16", [kv]),
              p + "self_attn.v_proj.weight": ("BF16", [kv, h]), p + "self_attn.v_proj.bias": ("BF16", [kv]),
              p + "self_attn.o_proj.weight": ("BF16", [h, h]), p + "mlp.gate.weight": ("BF16", [e, h]),
              p + "mlp.shared_expert_gate.weight": ("BF16", [1, h])}
        for j in range(e):
            q = f"{p}mlp.experts.{j}."
            t |= {q + "gate_proj.weight": ("BF16", [fe, h]), q + "up_proj.weight": ("BF16", [fe, h]),
                  q + "down_proj.weight": ("BF16", [h, fe])}
        for n, s in (("gate_proj", [fs, h]), ("up_proj", [fs, h]), ("down_proj", [h, fs])):
            t[f"{p}mlp.shared_expert.{n}.weight"] = ("BF16", s)
    return t


def test_moe_components_and_active_params_from_the_checkpoint(cli, tmp_path):
    tensors = qwen_moe_tensors()
    d = checkpoint_dir(tmp_path, QWEN_MOE_CFG, tensors, shards=2)
    b = cli("params", str(d), "--format", "json").json()
    c = QWEN_MOE_CFG
    h, e, k, layers = c["hidden_size"], c["num_experts"], c["num_experts_per_tok"], c["num_hidden_layers"]
    routed = layers * e * 3 * h * c["moe_intermediate_size"]
    assert b["components"]["routed_experts"] == routed
    assert b["components"]["router"] == layers * e * h
    assert b["components"]["shared_experts"] == layers * (3 * h * c["shared_expert_intermediate_size"] + h)
    assert b["total_params"] == sums(tensors)[0]
    assert b["active_params"] == b["total_params"] - routed * (e - k) // e
    assert b["params_per_expert"] == 3 * h * c["moe_intermediate_size"]
    # the architecture table (qwen2_moe mapped) agrees with the checkpoint to the parameter
    assert count_params(load_local_model(d / "config.json")).total_params == b["total_params"]


# ---------------------------------------------------------------------------- packed formats ---
def _linear_names(cfg=LLAMA_CFG):
    h, f = cfg["hidden_size"], cfg["intermediate_size"]
    kv = cfg["num_key_value_heads"] * h // cfg["num_attention_heads"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n, out_, in_ in (("self_attn.q_proj", h, h), ("self_attn.k_proj", kv, h), ("self_attn.v_proj", kv, h),
                             ("self_attn.o_proj", h, h), ("mlp.gate_proj", f, h), ("mlp.up_proj", f, h),
                             ("mlp.down_proj", h, f)):
            yield p + n, out_, in_


def _quantized(pack) -> tuple[dict, int]:
    """The Llama tensors with every decoder linear replaced by ``pack(prefix, out, in)`` tensors;
    returns them and the unpacked parameter count of the whole model."""
    tensors = llama_tensors()
    for prefix, out_, in_ in _linear_names():
        del tensors[prefix + ".weight"]
        tensors |= pack(prefix, out_, in_)
    return tensors, sums(llama_tensors())[0]


def gptq(prefix, out_, in_, bits=4, group=128, g_idx=True):
    """AutoGPTQ QuantLinear buffers: qweight (in*bits/32, out) int32, qzeros (in/g, out*bits/32) int32,
    scales (in/g, out) fp16, g_idx (in,) int32."""
    t = {f"{prefix}.qweight": ("I32", [in_ * bits // 32, out_]),
         f"{prefix}.qzeros": ("I32", [in_ // group, out_ * bits // 32]),
         f"{prefix}.scales": ("F16", [in_ // group, out_])}
    if g_idx:
        t[f"{prefix}.g_idx"] = ("I32", [in_])
    return t


@pytest.mark.parametrize("bits", [3, 4, 8])
def test_gptq_parameters_are_the_unpacked_weights(cli, tmp_path, bits):
    tensors, unpacked = _quantized(lambda p, o, i: gptq(p, o, i, bits=bits))
    cfg = LLAMA_CFG | {"quantization_config": {"quant_method": "gptq", "bits": 3}}  # shapes win over a wrong config
    d = checkpoint_dir(tmp_path, cfg, tensors)
    b = cli("params", str(d), "--format", "json").json()
    assert b["total_params"] == unpacked
    assert b["confidence"] == "exact (checkpoint)"
    assert b["checkpoint"]["total_bytes"] == sums(tensors)[1]  # every side tensor counts to bytes
    # the I32 bucket holds the packed weights' parameters; qzeros and g_idx are side tensors (0)
    assert b["checkpoint"]["dtypes"]["I32"]["params"] == sum(o * i for _, o, i in _linear_names())


def test_gptq_without_g_idx_uses_the_config_bits_else_is_approximate(cli, tmp_path):
    tensors, unpacked = _quantized(lambda p, o, i: gptq(p, o, i, g_idx=False))
    d = checkpoint_dir(tmp_path, LLAMA_CFG | {"quantization_config": {"quant_method": "gptq", "bits": 4}}, tensors)
    assert cli("params", str(d), "--format", "json").json()["total_params"] == unpacked
    (tmp_path / "noconf").mkdir()
    d2 = checkpoint_dir(tmp_path / "noconf", LLAMA_CFG, tensors)
    r = cli("params", str(d2), "--format", "json")
    b = r.json()
    assert b["confidence"] == "approximate"
    assert set(b["checkpoint"]["approximate"]) == {"attention", "dense_ffn"}
    assert "counted at 4 bits" in r.err
    assert b["checkpoint"]["total_bytes"] == sums(tensors)[1]


def test_awq_bits_from_the_scales_shape(cli, tmp_path):
    def awq(prefix, out_, in_, bits=4, group=128):  # AutoAWQ WQLinear_GEMM
        return {f"{prefix}.qweight": ("I32", [in_, out_ * bits // 32]),
                f"{prefix}.qzeros": ("I32", [in_ // group, out_ * bits // 32]),
                f"{prefix}.scales": ("F16", [in_ // group, out_])}
    tensors, unpacked = _quantized(awq)
    b = cli("params", str(checkpoint_dir(tmp_path, LLAMA_CFG, tensors)), "--format", "json").json()
    assert b["total_params"] == unpacked and b["confidence"] == "exact (checkpoint)"


@pytest.mark.parametrize("kind", ["bnb4", "bnb4_bf16_storage", "bnb8", "modelopt_nvfp4", "ct_nvfp4", "ct_w4a16",
                                  "fp8_block", "mlx4"])
def test_other_packings(cli, tmp_path, kind):
    def pack(p, o, i):
        if kind == "bnb4":  # Params4bit: uint8 (o*i/2, 1) + absmax + quant_map + quant_state blob
            return {f"{p}.weight": ("U8", [o * i // 2, 1]), f"{p}.weight.absmax": ("F32", [o * i // 64]),
                    f"{p}.weight.quant_map": ("F32", [16]),
                    f"{p}.weight.quant_state.bitsandbytes__nf4": ("U8", [100])}
        if kind == "bnb4_bf16_storage":  # bnb_4bit_quant_storage=bfloat16: four 4-bit values per element
            return {f"{p}.weight": ("BF16", [o * i // 4, 1]), f"{p}.weight.absmax": ("F32", [o * i // 64]),
                    f"{p}.weight.quant_state.bitsandbytes__nf4": ("U8", [100])}
        if kind == "bnb8":  # Int8Params: int8 full shape + SCB
            return {f"{p}.weight": ("I8", [o, i]), f"{p}.SCB": ("F32", [o]), f"{p}.weight_format": ("U8", [1])}
        if kind == "modelopt_nvfp4":
            return {f"{p}.weight": ("U8", [o, i // 2]), f"{p}.weight_scale": ("F8_E4M3", [o, i // 16]),
                    f"{p}.weight_scale_2": ("F32", []), f"{p}.input_scale": ("F32", [])}
        if kind == "ct_nvfp4":  # compressed-tensors nvfp4-pack-quantized
            return {f"{p}.weight_packed": ("U8", [o, i // 2]), f"{p}.weight_scale": ("F8_E4M3", [o, i // 16]),
                    f"{p}.weight_global_scale": ("F32", [1]), f"{p}.input_global_scale": ("F32", [1])}
        if kind == "ct_w4a16":  # pack-quantized int4: int32 (o, i/8) + scale + weight_shape
            return {f"{p}.weight_packed": ("I32", [o, i // 8]), f"{p}.weight_scale": ("BF16", [o, i // 128]),
                    f"{p}.weight_shape": ("I64", [2])}
        if kind == "fp8_block":  # DeepSeek-V3 / fbgemm style FP8 with inverse block scales
            return {f"{p}.weight": ("F8_E4M3", [o, i]), f"{p}.weight_scale_inv": ("F32", [-(-o // 128), -(-i // 128)])}
        # MLX QuantizedLinear: uint32 (o, i*bits/32), scales and biases (o, i/group)
        return {f"{p}.weight": ("U32", [o, i * 4 // 32]), f"{p}.scales": ("BF16", [o, i // 64]),
                f"{p}.biases": ("BF16", [o, i // 64])}

    cfg = dict(LLAMA_CFG)
    if kind == "ct_w4a16":
        cfg["quantization_config"] = {"quant_method": "compressed-tensors",
                                      "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 128}}}}
    if kind == "mlx4":
        cfg["quantization"] = {"bits": 4, "group_size": 64}
    tensors, unpacked = _quantized(pack)
    r = cli("params", str(checkpoint_dir(tmp_path, cfg, tensors)), "--format", "json")
    assert r.code == 0, r.err
    b = r.json()
    assert b["total_params"] == unpacked, kind
    assert b["confidence"] == "exact (checkpoint)"
    assert b["checkpoint"]["total_bytes"] == sums(tensors)[1]


def test_mxfp4_blocks_and_scales(cli, tmp_path):
    """gpt-oss experts: *_blocks uint8 (E, out, in/32, 16) and *_scales uint8 (E, out, in/32)."""
    tensors = llama_tensors()
    e, h, f = 4, LLAMA_CFG["hidden_size"], LLAMA_CFG["intermediate_size"]
    extra = {}
    for i in range(LLAMA_CFG["num_hidden_layers"]):
        p = f"model.layers.{i}.mlp.experts."
        extra |= {p + "gate_up_proj_blocks": ("U8", [e, 2 * f, h // 32, 16]), p + "gate_up_proj_scales": ("U8", [e, 2 * f, h // 32]),
                  p + "down_proj_blocks": ("U8", [e, h, f // 32, 16]), p + "down_proj_scales": ("U8", [e, h, f // 32])}
    b = cli("params", str(checkpoint_dir(tmp_path, LLAMA_CFG, tensors | extra)), "--format", "json").json()
    routed = LLAMA_CFG["num_hidden_layers"] * e * 3 * h * f
    assert b["components"]["routed_experts"] == routed
    assert b["total_params"] == sums(tensors)[0] + routed
    assert b["checkpoint"]["components"]["routed_experts"]["bytes"] == sums(extra)[1]


def test_packed_checkpoint_bytes_drive_memory_and_traffic(tmp_path):
    """A GPTQ checkpoint served as it ships: its bytes (the linears at about 4.3 bits, not 16), not the
    16-bit table's, are what memory budgets and what decode reads, component by component."""
    tensors, _ = _quantized(lambda p, o, i: gptq(p, o, i))
    spec = load_local_model(checkpoint_dir(tmp_path, LLAMA_CFG | {"quantization_config": {"bits": 4}}, tensors))
    quant = spec.default_quant
    nbytes = sums(tensors)[1]
    linears_bf16 = 2 * sum(o * i for _, o, i in _linear_names())
    assert total_weight_bytes(spec, quant) == nbytes < sums(llama_tensors())[1] - linears_bf16 // 2
    for pp in (1, 2):
        assert abs(sum(stage_weight_bytes(spec, quant, 1, pp, False, True)) - nbytes) <= len(tensors)
    attn = spec.checkpoint.components["attention"].bytes
    read = sum(b * n for _, t, _, b, n in stage_tensor_groups(spec, quant, 1, 1, False) if t.component == "attention")
    assert abs(read - attn) <= len(tensors)


# ----------------------------------------------------------------- real sizes, headers only ---
LLAMA31_8B_CFG = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                  "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256,
                  "max_position_embeddings": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}


def test_llama31_8b_sized_checkpoint_matches_the_published_count(cli, tmp_path):
    """Real Llama 3.1 8B shapes in four sparse shards (16 GB declared, no data on disk): the header
    reader never touches the data, and the count is the published 8,030,261,248
    (docs/facts/models.md, the HF safetensors count) to the parameter."""
    tensors = llama_tensors(LLAMA31_8B_CFG)
    d = checkpoint_dir(tmp_path, LLAMA31_8B_CFG, tensors, shards=4)
    b = cli("params", str(d), "--format", "json").json()
    assert b["total_params"] == 8_030_261_248 == sums(tensors)[0]
    assert b["checkpoint"]["total_bytes"] == 2 * 8_030_261_248
    fit = cli("fit", "--model", str(d), "--gpu", "h100", "--ctx", "8k", "--format", "json").json()
    assert fit["weights_bytes"] == 2 * 8_030_261_248


def test_hf_cache_snapshot_with_symlinked_shards(cli, tmp_path):
    """A Hugging Face cache snapshot links each file to ../../blobs/<hash>; a dangling link is a
    shard the index lists but the cache does not hold."""
    src = checkpoint_dir(tmp_path, LLAMA_CFG, llama_tensors(), shards=2)
    repo = tmp_path / "models--org--tiny"
    blobs, snap = repo / "blobs", repo / "snapshots" / "abc123"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    for k, f in enumerate(sorted(src.iterdir())):
        f.rename(blobs / f"blob{k}")
        (snap / f.name).symlink_to(Path("../../blobs") / f"blob{k}")
    b = cli("params", str(snap), "--format", "json").json()
    assert b["confidence"] == "exact (checkpoint)" and b["total_params"] == sums(llama_tensors())[0]
    (blobs / "blob1").unlink()  # the first shard (sorted: config.json, model-00001, ...)
    r = cli("params", str(snap))
    assert r.code == 2 and "model-00001-of-00002.safetensors" in r.err and "missing" in r.err


def test_a_shard_or_the_index_names_its_directory(cli, tmp_path):
    d = checkpoint_dir(tmp_path, LLAMA_CFG, llama_tensors(), shards=2)
    total = sums(llama_tensors())[0]
    for name in ("model-00001-of-00002.safetensors", "model.safetensors.index.json"):
        b = cli("params", str(d / name), "--format", "json").json()
        assert b["total_params"] == total and len(b["checkpoint"]["files"]) == 2


def test_mistral_consolidated_copy_is_not_counted_twice(cli, tmp_path):
    tensors = llama_tensors()
    d = checkpoint_dir(tmp_path, LLAMA_CFG, tensors)
    write_shard(d / "consolidated.safetensors", {"layers.0.attention.wq.weight": ("BF16", [256, 256])})
    r = cli("params", str(d), "--format", "json")
    assert r.json()["total_params"] == sums(tensors)[0]
    assert "consolidated.safetensors not counted" in r.err
