"""quant: block layouts, Meta's mixed rules, whole-model weight bytes and the KV-cache dtype."""

from __future__ import annotations

from fractions import Fraction

import pytest

from llamasize.estimate import quant as q
from llamasize.errors import UnknownIdError
from llamasize.estimate.memory import total_weight_bytes
from llamasize.estimate.params import Tensor, count_params, weight_table
from llamasize.estimate.quant import FORMATS, check_kv_dtype, get_format, kv_dtype_bytes, weight_bytes

ROWS, COLS = 8, 4096  # a hand-made (out, in) weight: 32,768 weights
N = ROWS * COLS


# ------------------------------------------------------------------------------ block layouts ---
@pytest.mark.parametrize(
    "storage, bits_per_weight, expected_bytes",
    [
        # int4 group 128 + one 16-bit scale: (128*4 + 16) / 128 = 4.125
        (q.INT4_G128, Fraction(33, 8), N * 33 // 64),
        # GGUF q4_K: 144 bytes per 256 weights
        (q.Q4_K, Fraction(144 * 8, 256), ROWS * (COLS // 256) * 144),
        # OCP MXFP4: 32 x 4 bits + an 8-bit E8M0 scale = 4.25
        (q.MXFP4, Fraction(17, 4), N * 17 // 32),
        # bitsandbytes NF4 block 64 with an fp32 absmax = 4.5
        (q.NF4_B64, Fraction(9, 2), N * 9 // 16),
        # GGUF q8_0: 34 bytes per 32 weights = 8.5
        (q.Q8_0, Fraction(17, 2), ROWS * (COLS // 32) * 34),
        # GGUF q4_0: 18 bytes per 32, q6_K 210 per 256, q2_K 84 per 256
        (q.Q4_0, Fraction(9, 2), ROWS * (COLS // 32) * 18),
        (q.Q6_K, Fraction(210 * 8, 256), ROWS * (COLS // 256) * 210),
        (q.Q2_K, Fraction(84 * 8, 256), ROWS * (COLS // 256) * 84),
        (q.BF16, Fraction(16), N * 2),
        (q.FP32, Fraction(32), N * 4),
    ],
)
def test_block_layouts(storage, bits_per_weight, expected_bytes):
    assert storage.bits_per_weight == bits_per_weight
    assert storage.nbytes((ROWS, COLS)) == expected_bytes


def test_nvfp4_is_4_5_bits_plus_one_fp32_scale_per_tensor():
    assert q.NVFP4.bits_per_weight == Fraction(9, 2)  # 16 x 4 bits + an 8-bit E4M3 scale
    assert q.NVFP4.nbytes((ROWS, COLS)) == N * 9 // 16 + 4


def test_partial_blocks_round_up():
    # 130 columns need two 128-groups per row
    assert q.INT4_G128.nbytes((1, 130)) == 2 * 66
    assert q.Q4_K.nbytes((3, 257)) == 3 * 2 * 144


def test_stacked_experts_are_copies():
    for s in (q.INT4_G128, q.Q4_K, q.FP8_ROW, q.NVFP4, q.BF16):
        assert s.nbytes((16, ROWS, COLS)) == 16 * s.nbytes((ROWS, COLS))


def test_vectors():
    assert q.BF16.nbytes((5120,)) == 10240
    assert q.FP32.nbytes((5120,)) == 20480


def test_fp8_scales():
    # per-tensor: one fp32 scale; row-wise: one fp32 scale per output row
    assert q.FP8_TENSOR.nbytes((ROWS, COLS)) == N + 4
    assert q.FP8_ROW.nbytes((ROWS, COLS)) == N + 4 * ROWS


@pytest.mark.parametrize(
    "fmt, storage",
    [("int4", q.INT4_G128), ("nf4", q.NF4_B64), ("mxfp4", q.MXFP4), ("nvfp4", q.NVFP4), ("q8_0", q.Q8_0),
     ("q4_0", q.Q4_0), ("q6_k", q.Q6_K), ("q2_k", q.Q2_K), ("bf16", q.BF16), ("fp32", q.FP32)],
)
def test_formats_use_their_layout_for_a_dense_ffn_gate(registry, fmt, storage):
    spec = registry.model("llama3.1-8b")
    gate = next(t for t in weight_table(spec) if t.layer == 10 and t.role == "gate")
    assert get_format(fmt).rule(spec, gate) == storage


def test_all_required_formats_exist():
    required = ["fp32", "bf16", "fp16", "fp8", "fp8_mixed", "int4_mixed", "int8", "int4", "nf4", "mxfp4", "nvfp4",
                "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q3_k_m", "q2_k"]
    assert set(required) <= set(FORMATS)


# ------------------------------------------------------------------------- Meta's mixed rules ---
@pytest.mark.parametrize("model", ["llama4-scout", "llama4-maverick"])
def test_fp8_mixed_routed_experts_only_skipping_first_and_last(registry, model):
    spec = registry.model(model)
    fmt = get_format("fp8_mixed")
    n = spec.num_hidden_layers
    quantized_layers = set()
    for t in weight_table(spec):
        st = fmt.rule(spec, t)
        should = t.component == "routed_experts" and t.kind == "linear" and t.layer not in (0, n - 1)
        assert (st != q.BF16) == should, t.name
        if should:
            assert st.elem_bits == 8
            quantized_layers.add(t.layer)
    assert quantized_layers == set(spec.moe_layer_ids()) - {0, 47}
    assert 47 in spec.moe_layer_ids()  # the skipped last layer is a MoE layer in both models


def test_int4_mixed_routed_and_shared_experts_only(registry):
    for model in ("llama4-scout", "llama4-maverick"):
        spec = registry.model(model)
        fmt = get_format("int4_mixed")
        comps = set()
        for t in weight_table(spec):
            st = fmt.rule(spec, t)
            should = t.component in ("routed_experts", "shared_experts") and t.kind == "linear"
            assert (st == q.INT4_G128) == should, t.name
            if not should:
                assert st == q.BF16, t.name
            else:
                comps.add(t.component)
        assert comps == {"routed_experts", "shared_experts"}


def test_int4_mixed_scout_bytes_by_hand(registry):
    spec = registry.model("scout")
    b = count_params(spec)
    experts = b.components["routed_experts"] + b.components["shared_experts"]  # 102,676,561,920
    rest = b.total_params - experts
    # every expert matrix has 5120 or 8192 columns: whole 128-groups, 4.125 bits per weight
    expected = experts * 33 // 64 + rest * 2
    assert experts * 33 % 64 == 0
    assert total_weight_bytes(spec, "int4_mixed") == expected


def test_fp8_mixed_keeps_more_than_fp8(registry):
    spec = registry.model("maverick")
    assert total_weight_bytes(spec, "fp8") < total_weight_bytes(spec, "fp8_mixed") < total_weight_bytes(spec, "bf16")


# ------------------------------------------------------------------------ whole-model bytes ---
def test_scout_bf16_is_two_bytes_per_parameter(registry):
    spec = registry.model("scout")
    assert total_weight_bytes(spec, "bf16") == 2 * 108_641_793_536
    assert total_weight_bytes(spec, "fp32") == 4 * 108_641_793_536
    assert total_weight_bytes(spec, "bf16", include_vision=False) == 2 * 107_769_861_120


@pytest.mark.parametrize("model", ["llama4-scout", "llama4-maverick", "deepseek-v3", "gpt-oss-20b"])
def test_weight_bytes_are_ints(registry, model):
    spec = registry.model(model)
    for fid in FORMATS:
        n = total_weight_bytes(spec, fid)
        assert type(n) is int and n > 0, fid


def test_maverick_ordering(registry):
    spec = registry.model("maverick")
    b = {f: total_weight_bytes(spec, f) for f in ("fp32", "bf16", "fp8", "int8", "int4", "q2_k")}
    assert b["fp32"] > b["bf16"] > b["fp8"] > b["int4"] > b["q2_k"]
    assert b["bf16"] > b["int8"] > b["int4"]
    # the brief asked for fp8 > int8; both store 8 bits per weight and differ only in their scale
    # layout (fp8: one fp32 scale per tensor; int8: one 16-bit scale per output channel), so they
    # must agree to well under 0.1 %.
    assert abs(b["fp8"] - b["int8"]) / b["bf16"] < 1e-3


def test_gguf_keeps_norms_and_router_in_f32(registry):
    spec = registry.model("scout")
    fmt = get_format("q4_k_m")
    for t in weight_table(spec):
        if t.kind in ("norm", "router"):
            assert fmt.rule(spec, t) == q.FP32, t.name


def test_weight_bytes_helper_sums_rules(registry):
    spec = registry.model("llama3.1-8b")
    fmt = get_format("int4")
    table = weight_table(spec)
    assert weight_bytes(spec, fmt, table) == total_weight_bytes(spec, "int4")


def test_fp16_checkpoint_stays_fp16():
    # a hand-made tensor under a 16-bit rule for an fp16 checkpoint
    from llamasize.data.spec import ModelSpec

    spec = ModelSpec.model_validate(dict(
        id="f16", name="f16", family="t", model_type="llama", release_status="test", source="t",
        torch_dtype="float16", hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=10, intermediate_size=128))
    t = Tensor("embed_tokens", "embedding", None, (10, 64), "embedding", "vocab", "embed")
    assert get_format("int4").rule(spec, t) == q.FP16


# ------------------------------------------------------------------------------------ lookups ---
@pytest.mark.parametrize("name, fid", [("INT4_MIXED", "int4_mixed"), ("int4-mixed", "int4_mixed"),
                                       ("Q4_K_M", "q4_k_m"), ("fp8", "fp8")])
def test_format_lookup_is_forgiving_about_case_and_dash(name, fid):
    assert get_format(name).id == fid


@pytest.mark.parametrize("name, hint", [("int5", "did you mean"), ("q4km", "did you mean")])
def test_unknown_format(name, hint):
    with pytest.raises(UnknownIdError) as ei:
        get_format(name)
    assert hint in str(ei.value) and name in str(ei.value)


def test_kv_dtypes(registry):
    scout, micro = registry.model("scout"), registry.model("micro-moe")
    assert kv_dtype_bytes("fp8", scout) == 1
    assert kv_dtype_bytes("bf16", scout) == 2
    assert kv_dtype_bytes("auto", scout) == 2
    assert kv_dtype_bytes("auto", micro) == 4  # float32 checkpoint
    assert check_kv_dtype("FP8") == "fp8"
    with pytest.raises(UnknownIdError, match="fp9"):
        check_kv_dtype("fp9")
