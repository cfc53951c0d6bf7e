"""memory: KV bytes per token, per-GPU KV for full and hybrid layouts, weights per GPU, verdicts
for Meta's published claims, parallel-layout rules and monotonicity."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llamasize.errors import UsageError
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.kv import kv_bytes_per_token_model
from llamasize.estimate.memory import estimate_memory, stage_weight_bytes, total_weight_bytes
from llamasize.estimate.parallel import pp_partition, validate_layout
from llamasize.estimate.params import weight_table

PROPS = settings(max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# What CUDA reports for an H100 80GB HBM3 (vLLM 0.19.0 log, docs/facts/hardware-memory.md 1a): 79.19 GiB, not
# nvidia-smi's 81,559 MiB (DESIGN rules 5 and 9)
H100_BYTES = round(79.19 * 2**30)


def fit(registry, model, gpu, quant, ctx, gpus=1, **kw):
    return estimate_memory(Deployment(model=registry.model(model), gpu=registry.gpu(gpu), gpu_count=gpus,
                                      quant=quant, context_tokens=ctx, **kw))


def blocks(n: int, block: int = 16) -> int:
    """Tokens allocated for n tokens in vLLM's 16-token blocks."""
    return -(-n // block) * block


# -------------------------------------------------------------------------- KV bytes per token ---
@pytest.mark.parametrize("model", ["llama4-scout", "llama4-maverick"])
def test_llama4_kv_bytes_per_token_full(registry, model):
    assert 48 * 2 * 8 * 128 * 2 == 196_608
    assert kv_bytes_per_token_model(registry.model(model), 2) == 196_608
    assert kv_bytes_per_token_model(registry.model(model), 1) == 196_608 // 2  # fp8 KV


@pytest.mark.parametrize(
    "model, per_token",
    [  # docs/facts/models.md 5 (BF16, all layers full length)
        ("llama3.1-8b", 131_072), ("llama3.1-70b", 327_680), ("llama3.1-405b", 516_096),
        ("mixtral-8x7b", 131_072), ("mixtral-8x22b", 229_376), ("qwen3-30b-a3b", 98_304),
        ("qwen3-235b-a22b", 192_512), ("deepseek-v3", 70_272),
    ],
)
def test_peer_kv_bytes_per_token(registry, model, per_token):
    assert kv_bytes_per_token_model(registry.model(model), 2) == per_token


def test_fit_reports_kv_bytes_per_token(registry):
    e = fit(registry, "scout", "h100", "int4_mixed", 8192)
    assert e.kv_cache_bytes_per_token == 196_608


# ------------------------------------------------------------------------ per-GPU KV, layouts ---
def test_scout_full_layout_tp8_per_gpu(registry):
    # 8 KV heads over TP 8: one head per GPU -> 2 x 1 x 128 x 2 = 512 bytes per token per layer
    L = 1_048_576
    e = fit(registry, "scout", "h100", "bf16", L, gpus=8, kv_layout="full")
    assert e.kv_layout == "full"
    assert e.per_gpu.kv_cache_bytes == 48 * blocks(L) * 512
    assert e.kv_cache_bytes == 8 * e.per_gpu.kv_cache_bytes


def test_scout_hybrid_layout_at_1m(registry):
    # Only the 12 global layers hold 1M tokens; the 36 chunked layers hold min(L, 8192 + in-flight).
    L, in_flight = 1_048_576, 8192
    e = fit(registry, "scout", "h100", "bf16", L, gpus=8, kv_layout="hybrid", max_num_batched_tokens=in_flight)
    assert e.kv_layout == "hybrid"
    per_layer_token = 2 * 1 * 128 * 2
    expected = (12 * blocks(L) + 36 * blocks(min(L, 8192 + in_flight))) * per_layer_token
    assert expected == (12 * 1_048_576 + 36 * 16_384) * 512 == 6_744_440_832
    assert e.per_gpu.kv_cache_bytes == expected
    full = fit(registry, "scout", "h100", "bf16", L, gpus=8, kv_layout="full")
    assert e.per_gpu.kv_cache_bytes < full.per_gpu.kv_cache_bytes / 3


def test_hybrid_block_rounding(registry):
    # context not a multiple of 16, and a chunk cap (8192 + 1000 = 9192) not a multiple of 16
    L, in_flight = 1_000_001, 1000
    e = fit(registry, "maverick", "h100", "fp8", L, gpus=8, kv_layout="hybrid", max_num_batched_tokens=in_flight)
    expected = (12 * blocks(L) + 36 * blocks(8192 + in_flight)) * 512
    assert blocks(L) == 1_000_016 and blocks(9192) == 9200
    assert e.per_gpu.kv_cache_bytes == expected


def test_hybrid_short_context_is_not_capped(registry):
    # below the chunk size every layer holds the whole context: hybrid == full
    h = fit(registry, "scout", "h100", "int4_mixed", 5000, kv_layout="hybrid", max_num_batched_tokens=2048)
    f = fit(registry, "scout", "h100", "int4_mixed", 5000, kv_layout="full")
    assert h.per_gpu.kv_cache_bytes == f.per_gpu.kv_cache_bytes == 48 * blocks(5000) * 2 * 8 * 128 * 2


def test_vllm_block_rounding_full(registry):
    e = fit(registry, "llama3.1-8b", "h100", "bf16", 1000)
    assert e.per_gpu.kv_cache_bytes == 32 * 1008 * 2 * 8 * 128 * 2


def test_generic_engine_is_token_granular(registry):
    e = fit(registry, "llama3.1-8b", "h100", "bf16", 1000, engine="generic")
    assert e.per_gpu.kv_cache_bytes == 32 * 1000 * 2 * 8 * 128 * 2


def test_tp_beyond_kv_heads_replicates(registry):
    # 405B: 8 KV heads; TP 16 -> each GPU still holds one whole KV head (replicated), not half
    L = 1000
    e16 = fit(registry, "llama3.1-405b", "h100", "fp8", L, gpus=16)
    e8 = fit(registry, "llama3.1-405b", "h100", "fp8", L, gpus=8)
    per_gpu = 126 * blocks(L) * 2 * 1 * 128 * 2
    assert e16.per_gpu.kv_cache_bytes == per_gpu
    assert e8.per_gpu.kv_cache_bytes == per_gpu
    assert e16.kv_cache_bytes == 16 * per_gpu


def test_tp_splits_kv_heads(registry):
    L = 4096
    by_tp = {tp: fit(registry, "llama3.1-70b", "h100", "bf16", L, gpus=tp).per_gpu.kv_cache_bytes
             for tp in (1, 2, 4, 8)}
    for tp, b in by_tp.items():
        assert b == 80 * L * 2 * (8 // tp) * 128 * 2


def test_mla_latent_is_replicated_over_tp(registry):
    L = 4096
    e = fit(registry, "deepseek-v3", "h200", "fp8", L, gpus=8)
    assert e.per_gpu.kv_cache_bytes == 61 * L * (512 + 64) * 2


def test_kv_fp8_halves_kv(registry):
    a = fit(registry, "llama3.1-8b", "h100", "bf16", 32768)
    b = fit(registry, "llama3.1-8b", "h100", "bf16", 32768, kv_cache_dtype="fp8")
    assert a.per_gpu.kv_cache_bytes == 2 * b.per_gpu.kv_cache_bytes


def test_vllm_default_layout_for_llama4_follows_the_version_and_is_said(registry):
    # docs/facts/engine-memory.md item 7: hybrid KV for chunked-local attention off by default from PR #21761,
    # on in 0.19.0; --hybrid-kv-cache mirrors VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE
    e = fit(registry, "scout", "h100", "int4_mixed", 8192, engine_version="0.18.0")
    assert e.kv_layout == "full"
    names = {a.name: a for a in e.assumptions}
    assert names["kv_layout"].value == "full" and "PR #21761" in names["kv_layout"].source
    assert fit(registry, "scout", "h100", "int4_mixed", 8192, engine_version="0.19.0").kv_layout == "hybrid"
    assert fit(registry, "scout", "h100", "int4_mixed", 8192).kv_layout == "hybrid"
    off = fit(registry, "scout", "h100", "int4_mixed", 8192, hybrid_kv_cache="off")
    assert off.kv_layout == "full"
    assert fit(registry, "scout", "h100", "int4_mixed", 8192, engine_version="0.18.0",
               hybrid_kv_cache="on").kv_layout == "hybrid"
    g = fit(registry, "gpt-oss-20b", "h100", "mxfp4", 8192)
    assert g.kv_layout == "hybrid"  # sliding-window layers are capped by default in vLLM


def test_batch_multiplies_kv(registry):
    one = fit(registry, "llama3.1-8b", "h100", "bf16", 4096)
    four = fit(registry, "llama3.1-8b", "h100", "bf16", 4096, batch=4)
    assert four.per_gpu.kv_cache_bytes == 4 * one.per_gpu.kv_cache_bytes


# ------------------------------------------------------------------------------- weights/GPU ---
@pytest.mark.parametrize("model", ["llama4-scout", "llama4-maverick"])
def test_tp8_weights_are_total_over_8_plus_replicas(registry, model):
    spec = registry.model(model)
    total = total_weight_bytes(spec, "bf16")
    per_gpu = stage_weight_bytes(spec, "bf16", 8, 1, False, True)[0]
    replicated = sum(2 * t.numel for t in weight_table(spec) if t.parallel == "replicated")  # norms, router
    assert 8 * per_gpu == total + 7 * replicated
    assert replicated / total < 1e-3
    e = fit(registry, model, "h100", "bf16", 4096, gpus=8)
    # as loaded by vLLM: plus the rotary cos_sin_cache every rank holds (max_position x head_dim x 2 B)
    # and the vocabulary padded to a multiple of 64 x TP (202,048 -> 202,240 rows at TP 8, embedding + lm_head)
    rope = spec.max_position_embeddings * spec.resolved_head_dim * 2
    padding = (202_240 - 202_048) // 8 * spec.hidden_size * 2 * 2
    assert e.per_gpu.weights_bytes == per_gpu + rope + padding
    assert fit(registry, model, "h100", "bf16", 4096, gpus=8, engine="generic").per_gpu.weights_bytes == per_gpu
    assert e.weights_bytes == total


def test_ep_holds_a_share_of_whole_experts(registry):
    spec = registry.model("maverick")
    tp = stage_weight_bytes(spec, "bf16", 8, 1, False, True)[0]
    ep = stage_weight_bytes(spec, "bf16", 8, 1, True, True)[0]
    assert ep == tp  # 128 experts over 8 GPUs: the same bytes, split by expert instead of by width


@pytest.mark.parametrize("pp", [2, 3, 5])
def test_pipeline_stages_add_up(registry, pp):
    spec = registry.model("scout")
    stages = stage_weight_bytes(spec, "bf16", 1, pp, False, True)
    assert sum(stages) == total_weight_bytes(spec, "bf16")
    parts = pp_partition(48, pp)
    assert sorted(sum(parts, [])) == list(range(48))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_pp_partition_follows_vllm():
    # vLLM get_pp_indices: L // pp each, the remainder to the stages before the last
    assert [len(p) for p in pp_partition(48, 5)] == [9, 10, 10, 10, 9]
    assert [len(p) for p in pp_partition(126, 4)] == [31, 32, 32, 31]


def test_text_only_drops_vision(registry):
    a = fit(registry, "scout", "h100", "bf16", 4096, gpus=8)
    b = fit(registry, "scout", "h100", "bf16", 4096, gpus=8, include_vision=False)
    assert a.weights_bytes - b.weights_bytes == 2 * 871_932_416


# --------------------------------------------------------------------------- Meta's claims ---
def test_scout_int4_mixed_fits_one_h100_at_8k(registry):
    e = fit(registry, "scout", "h100", "int4_mixed", 8192)
    assert e.fits is True
    assert e.per_gpu.free_bytes > 0
    assert e.max_context_tokens >= 8192 and e.max_concurrency >= 1


@pytest.mark.parametrize("quant", ["fp8", "fp8_mixed"])
def test_maverick_fp8_fits_one_8xh100_host(registry, quant):
    e = fit(registry, "maverick", "h100", quant, 8192, gpus=8)
    assert e.fits is True
    assert e.nodes == 1


def test_scout_bf16_does_not_fit_one_h100(registry):
    e = fit(registry, "scout", "h100", "bf16", 8192)
    assert e.fits is False
    assert e.per_gpu.weights_bytes > H100_BYTES
    assert e.max_context_tokens == 0 and e.max_concurrency == 0
    assert e.reasons and "weights" in e.reasons[0]


def test_scout_q4_k_m_does_not_fit_one_4090(registry):
    e = fit(registry, "scout", "4090", "q4_k_m", 8192)
    assert e.fits is False
    assert e.per_gpu.weights_bytes > 24 * 10**9


def test_context_beyond_model_maximum_does_not_fit(registry):
    e = fit(registry, "llama3.1-8b", "h200", "bf16", 262_144)
    assert e.fits is False
    assert any("131,072" in r for r in e.reasons)
    assert e.max_context_tokens <= 131_072


# ------------------------------------------------------------------------------ budgets ---
def test_vllm_budget_is_utilization_of_driver_memory(registry):
    e = fit(registry, "llama3.1-8b", "h100", "bf16", 4096)
    assert e.per_gpu.total_bytes == H100_BYTES
    assert e.per_gpu.budget_bytes == math.ceil(H100_BYTES * 0.92)
    e9 = fit(registry, "llama3.1-8b", "h100", "bf16", 4096, gpu_memory_utilization=0.9)
    assert e9.per_gpu.budget_bytes == math.ceil(H100_BYTES * 0.9)


def test_sglang_reserved_memory_rule(registry):
    # docs/facts/serving.md 2.3: reserved MB = 512 + 1.5 x max(chunked_prefill, 2048) + tp x pp / 8 x 1024,
    # at least 10 GiB on GPUs > 60 GiB; fraction = round((total - reserved) / total, 3)
    e = fit(registry, "llama3.1-8b", "h100", "bf16", 4096, engine="sglang", max_num_batched_tokens=8192)
    reserved = int((512 + 1.5 * 8192 + 1 * 1 / 8 * 1024) * 2**20)
    fraction = round((H100_BYTES - reserved) / H100_BYTES, 3)
    assert e.per_gpu.overhead_bytes == H100_BYTES - int(H100_BYTES * fraction)
    assert {a.name: a.value for a in e.assumptions}["mem_fraction_static"] == f"{fraction:g}"


def test_per_gpu_memory_adds_up(registry):
    for args in [("scout", "h100", "int4_mixed", 8192, 1), ("maverick", "h100", "fp8", 65536, 8),
                 ("llama3.1-70b", "a100", "int4", 32768, 2)]:
        e = fit(registry, *args[:4], gpus=args[4])
        p = e.per_gpu
        assert p.budget_bytes == p.weights_bytes + p.activation_bytes + p.overhead_bytes + p.kv_cache_bytes + p.free_bytes
        assert e.fits == (p.free_bytes >= 0)


def test_fp8_on_ampere_warns(registry):
    e = fit(registry, "llama3.1-8b", "a100", "fp8", 4096)
    assert any("no native FP8" in w for w in e.warnings)
    h = fit(registry, "llama3.1-8b", "h100", "fp8", 4096)
    assert not any("native FP8" in w for w in h.warnings)
    f4 = fit(registry, "llama3.1-8b", "h100", "nvfp4", 4096)
    assert any("no native FP4" in w for w in f4.warnings)


# -------------------------------------------------------------- max context / concurrency ---
@pytest.mark.parametrize(
    "model, gpu, quant, gpus, kw",
    [("scout", "h100", "int4_mixed", 1, {}), ("maverick", "h100", "fp8", 8, {"kv_layout": "hybrid"}),
     ("llama3.1-70b", "h100", "fp8", 2, {"batch": 4}), ("qwen3-30b-a3b", "l40s", "int4", 1, {}),
     ("llama3.1-70b", "a100", "bf16", 4, {"pipeline_parallel_size": 2, "tensor_parallel_size": 2}),
     ("gpt-oss-120b", "h100", "mxfp4", 1, {"engine": "sglang", "kv_layout": "hybrid"}),
     ("maverick", "h100", "fp8", 8, {"expert_parallel": True}), ("scout", "h100", "int4_mixed", 1, {"engine": "generic"})],
)
def test_max_context_is_the_boundary(registry, model, gpu, quant, gpus, kw):
    e = fit(registry, model, gpu, quant, 4096, gpus=gpus, **kw)
    m = e.max_context_tokens
    assert m > 0
    assert fit(registry, model, gpu, quant, m, gpus=gpus, **kw).fits is True
    if m < registry.model(model).max_position_embeddings:
        assert fit(registry, model, gpu, quant, m + 1, gpus=gpus, **kw).fits is False


@pytest.mark.parametrize("model, gpu, quant, gpus, ctx",
                         [("scout", "h100", "int4_mixed", 1, 8192), ("llama3.1-8b", "l4", "int4", 1, 32768),
                          ("maverick", "h100", "fp8", 8, 131072)])
def test_max_concurrency_is_the_boundary(registry, model, gpu, quant, gpus, ctx):
    c = fit(registry, model, gpu, quant, ctx, gpus=gpus).max_concurrency
    assert c >= 1
    assert fit(registry, model, gpu, quant, ctx, gpus=gpus, batch=c).fits is True
    assert fit(registry, model, gpu, quant, ctx, gpus=gpus, batch=c + 1).fits is False


# -------------------------------------------------------------------------------- monotonicity ---
CASES = [("llama4-scout", "h100", "int4_mixed", 1), ("llama4-maverick", "h100", "fp8", 8),
         ("gpt-oss-20b", "h100", "mxfp4", 1), ("deepseek-v3", "h200", "fp8", 8), ("llama3.1-8b", "4090", "int4", 1)]


@PROPS
@given(case=st.sampled_from(CASES), layout=st.sampled_from(["full", "hybrid"]),
       engine=st.sampled_from(["vllm", "sglang", "generic"]),
       c1=st.integers(1, 2_000_000), c2=st.integers(1, 2_000_000), batch=st.integers(1, 64))
def test_more_context_never_lowers_kv(registry, case, layout, engine, c1, c2, batch):
    lo, hi = sorted((c1, c2))
    model, gpu, quant, gpus = case
    a = fit(registry, model, gpu, quant, lo, gpus=gpus, kv_layout=layout, engine=engine, batch=batch)
    b = fit(registry, model, gpu, quant, hi, gpus=gpus, kv_layout=layout, engine=engine, batch=batch)
    assert a.per_gpu.kv_cache_bytes <= b.per_gpu.kv_cache_bytes
    assert a.kv_cache_bytes <= b.kv_cache_bytes
    assert a.per_gpu.free_bytes >= b.per_gpu.free_bytes
    assert not (b.fits and not a.fits)


@PROPS
@given(case=st.sampled_from(CASES), layout=st.sampled_from(["full", "hybrid"]),
       ctx=st.integers(1, 300_000), b1=st.integers(1, 512), b2=st.integers(1, 512))
def test_more_batch_never_lowers_kv(registry, case, layout, ctx, b1, b2):
    lo, hi = sorted((b1, b2))
    model, gpu, quant, gpus = case
    a = fit(registry, model, gpu, quant, ctx, gpus=gpus, kv_layout=layout, batch=lo)
    b = fit(registry, model, gpu, quant, ctx, gpus=gpus, kv_layout=layout, batch=hi)
    assert a.per_gpu.kv_cache_bytes <= b.per_gpu.kv_cache_bytes
    assert a.kv_cache_bytes <= b.kv_cache_bytes
    assert not (b.fits and not a.fits)


@pytest.mark.parametrize("quant", ["bf16", "fp8", "int4_mixed", "int4", "q4_k_m"])
def test_more_gpus_never_stops_fitting(registry, quant):
    prev = None
    for tp in (1, 2, 4, 8):
        e = fit(registry, "scout", "h100", quant, 131072, gpus=tp)
        if prev is not None:
            assert not (prev.fits and not e.fits), (quant, tp)
            assert e.per_gpu.weights_bytes < prev.per_gpu.weights_bytes
        prev = e


def test_hybrid_never_needs_more_kv_than_full(registry):
    for ctx in (1, 8191, 8192, 8193, 20000, 1_048_576):
        h = fit(registry, "maverick", "h100", "fp8", ctx, gpus=8, kv_layout="hybrid")
        f = fit(registry, "maverick", "h100", "fp8", ctx, gpus=8, kv_layout="full")
        assert h.per_gpu.kv_cache_bytes <= f.per_gpu.kv_cache_bytes


# ----------------------------------------------------------------------------- parallel rules ---
def test_tp3_for_40_heads(registry):
    with pytest.raises(UsageError) as ei:
        fit(registry, "scout", "h100", "bf16", 8192, gpus=3, tensor_parallel_size=3)
    assert str(ei.value) == "num_attention_heads (40) is not divisible by tensor_parallel_size (3)"


def test_tp16_for_40_heads(registry):
    with pytest.raises(UsageError, match=r"num_attention_heads \(40\) is not divisible by tensor_parallel_size \(16\)"):
        fit(registry, "scout", "h100", "bf16", 8192, gpus=16)


def test_gpus_must_equal_tp_times_pp(registry):
    with pytest.raises(UsageError) as ei:
        fit(registry, "scout", "h100", "bf16", 8192, gpus=8, tensor_parallel_size=4, pipeline_parallel_size=1)
    msg = str(ei.value)
    assert "(8)" in msg and "(4)" in msg and "(1)" in msg


def test_pp_beyond_layers(registry):
    with pytest.raises(UsageError) as ei:
        validate_layout(registry.model("scout"), 49, 1, 49, False)
    assert str(ei.value) == "pipeline_parallel_size (49) exceeds num_hidden_layers (48)"


def test_ep_on_dense_model(registry):
    with pytest.raises(UsageError) as ei:
        fit(registry, "llama3.1-8b", "h100", "bf16", 8192, gpus=2, expert_parallel=True)
    assert "--ep" in str(ei.value) and "llama3.1-8b" in str(ei.value) and "dense" in str(ei.value)


def test_kv_heads_and_tp_must_divide(registry):
    with pytest.raises(UsageError) as ei:
        validate_layout(registry.model("scout"), 20, 20, 1, False)
    assert "num_key_value_heads (8)" in str(ei.value) and "(20)" in str(ei.value)


@pytest.mark.parametrize("kw, fragment", [(dict(gpus=0), "--gpus"), (dict(batch=0), "--batch"),
                                          (dict(quant="int5"), "int5"), (dict(engine="tgi"), "tgi"),
                                          (dict(kv_layout="partial"), "partial"),
                                          (dict(kv_cache_dtype="fp4"), "fp4")])
def test_bad_deployment_values(registry, kw, fragment):
    args = dict(gpus=1, quant="bf16")
    args.update(kw)
    with pytest.raises(UsageError, match=fragment):
        fit(registry, "llama3.1-8b", "h100", args.pop("quant"), 4096, **args)


# ---------------------------------------------------------------------------------- Behemoth ---
def test_behemoth_bf16_on_one_h100_is_refuted_from_the_published_total(registry):
    e = fit(registry, "behemoth", "h100", "bf16", 8192)
    assert e.fits is False
    assert e.weights_bytes == 2 * 2 * 10**12
    assert e.unknown and e.max_context_tokens is None and e.kv_cache_bytes is None


def test_behemoth_large_deployment_is_unknown_not_guessed(registry):
    e = fit(registry, "behemoth", "h100", "int4", 8192, gpus=64, pipeline_parallel_size=8)
    assert e.fits is None
    assert e.max_context_tokens is None and e.max_concurrency is None
    assert e.per_gpu.kv_cache_bytes is None
    assert any("whether it fits" in u for u in e.unknown)
    assert e.weights_bytes == 2 * 10**12 * 33 // 64  # lower bound: 4.125 bits for every parameter


# ------------------------------------------------------------------------- engine defaults ---
@pytest.mark.parametrize("gpu, seqs, tokens", [
    # docs/facts/serving.md 2.1, EngineArgs.get_batch_defaults (OpenAI API server column)
    ("h100", 1024, 8192), ("h200", 1024, 8192), ("b200", 1024, 16384), ("a100", 256, 2048),
    ("l40s", 256, 2048), ("l4", 256, 2048)])
def test_vllm_batch_defaults(registry, gpu, seqs, tokens):
    e = fit(registry, "llama3.1-8b", gpu, "int4", 4096)
    profile = {a.name: a.value for a in e.assumptions}["activation_profile"]
    assert profile == f"{tokens} tokens, {seqs} sequences"


def test_hybrid_in_flight_defaults_to_max_num_batched_tokens(registry):
    # H100 under vLLM: max_num_batched_tokens 8192 -> chunked layers hold 8192 + 8192 tokens
    L = 1_048_576
    e = fit(registry, "maverick", "h100", "fp8", L, gpus=8, kv_layout="hybrid")
    assert e.per_gpu.kv_cache_bytes == (12 * L + 36 * 16_384) * 512
    assert {a.name: a.value for a in e.assumptions}["kv_in_flight_tokens"] == "8192"


def test_sliding_window_layers_are_capped_in_hybrid(registry):
    # gpt-oss-20b: 12 full + 12 sliding-128 layers, 8 KV heads x 64 x 2 bytes x 2 (K and V) = 2,048 B/token/layer
    L, in_flight = 131_072, 2048
    h = fit(registry, "gpt-oss-20b", "h100", "mxfp4", L, kv_layout="hybrid", max_num_batched_tokens=in_flight)
    f = fit(registry, "gpt-oss-20b", "h100", "mxfp4", L, kv_layout="full", max_num_batched_tokens=in_flight)
    assert f.per_gpu.kv_cache_bytes == 24 * L * 2048
    full_part = 12 * L * 2048
    sliding = h.per_gpu.kv_cache_bytes - full_part
    assert 0 < sliding <= 12 * blocks(128 + in_flight) * 2048
