"""Speed model: hand-worked formulas, monotonic properties, unknowns, CLI."""

from __future__ import annotations

import math

import pytest

from llamasize.estimate.deployment import Deployment
from llamasize.estimate.memory import estimate_memory
from llamasize.estimate.perf import (
    Efficiencies, all_to_all_s, attended_pairs, estimate_perf, expected_distinct_experts, ring_allreduce_s,
)


def dep(registry, model="maverick", gpu="h100", n=8, quant="fp8", ctx=4096, **kw):
    return Deployment(model=registry.model(model), gpu=registry.gpu(gpu), gpu_count=n, quant=quant,
                      context_tokens=ctx, **kw)


# ------------------------------------------------------------------------------ hand-worked ---
def test_expert_coverage_formula_hand_worked():
    # E x (1 - (1 - k/E)^B), worked by hand:
    assert expected_distinct_experts(128, 1, 1) == pytest.approx(1.0)            # B = 1 -> k
    assert expected_distinct_experts(16, 1, 2) == pytest.approx(16 * (1 - (15 / 16) ** 2))  # = 1.9375
    assert expected_distinct_experts(16, 1, 2) == pytest.approx(1.9375)
    assert expected_distinct_experts(8, 2, 1) == pytest.approx(2.0)              # Mixtral: top-2 of 8
    assert expected_distinct_experts(8, 2, 2) == pytest.approx(8 * (1 - 0.75**2))  # = 3.5
    assert expected_distinct_experts(8, 2, 2) == pytest.approx(3.5)
    assert expected_distinct_experts(128, 1, 10_000) == pytest.approx(128.0, rel=1e-9)  # -> E for large B
    assert expected_distinct_experts(256, 8, 4) == pytest.approx(256 * (1 - (248 / 256) ** 4))
    # monotone in B and never above E
    values = [expected_distinct_experts(128, 1, b) for b in range(1, 400)]
    assert values == sorted(values) and values[-1] <= 128


def test_attended_pairs_hand_worked():
    assert attended_pairs(4, None, False) == 10               # 1 + 2 + 3 + 4
    assert attended_pairs(10, 4, True) == 10 + 10 + 3         # chunks [0,4) [4,8) [8,10): 1+2+3+4 twice + 1+2
    assert attended_pairs(10, 4, False) == 10 + 6 * 4         # sliding window 4: 1+2+3+4 then 4 each
    assert attended_pairs(3, 8, False) == 6 and attended_pairs(3, 8, True) == 6


def test_collective_formulas_hand_worked():
    # ring all-reduce of 1 MB over 4 GPUs on a 100 GB/s link at efficiency 1: 2*3/4*1e6/1e11 s + latency
    assert ring_allreduce_s(1e6, 4, 1e11, 1.0) == pytest.approx(1.5e-5 + 10e-6)
    assert ring_allreduce_s(1e6, 1, 1e11, 1.0) == 0.0
    assert all_to_all_s(1e6, 4, 1e11, 1.0) == pytest.approx(0.75e-5 + 10e-6)


def test_decode_bytes_match_hand_count_for_a_dense_model(registry):
    """Llama 3.1 8B BF16 on one H100 at batch 1: a decode step reads every weight except the
    embedding table (one row) plus the KV of the context; time = bytes / (3.35 TB/s x 0.7)."""
    spec = registry.model("llama3.1-8b")
    d = dep(registry, "llama3.1-8b", "h100", 1, "bf16", ctx=1024)
    e = estimate_perf(d, prompt_tokens=512, output_tokens=2, concurrency=1, eff=Efficiencies())  # the assumed constants
    emb = 128256 * 4096 * 2
    weights = 8_030_261_248 * 2 - emb + 4096 * 2
    kv = 513 * 131_072  # decode context = prompt + output/2 = 513 tokens; 131,072 B/token (facts §5)
    assert e.decode.bytes_read_per_gpu == weights + kv
    assert e.decode.memory_s == pytest.approx((weights + kv) / (3350e9 * 0.7))
    assert e.decode.bound == "memory"
    assert e.tpot_s == pytest.approx(max(e.decode.memory_s, e.decode.compute_s))
    assert spec.num_hidden_layers == 32


def test_prefill_flops_hand_count_dense(registry):
    """Prefill FLOPs = 2 x matmul params x P + 2 x lm_head once (only the last position's logits)
    + attention 2 x heads x (hd + hd) x P(P+1)/2 per layer."""
    d = dep(registry, "llama3.1-8b", "h100", 1, "bf16", ctx=2048)
    p = 1000
    e = estimate_perf(d, prompt_tokens=p, output_tokens=1, eff=Efficiencies())  # the assumed constants
    head = 128256 * 4096
    matmul = 8_030_261_248 - 2 * head - 4096 * (2 * 32 + 1)  # minus embedding, lm_head and norms
    attn = 32 * 2 * 32 * (128 + 128) * p * (p + 1) // 2
    assert e.prefill.flops_per_gpu == 2 * matmul * p + 2 * head + attn
    assert e.prefill.compute_s == pytest.approx((2 * matmul * p + 2 * head + attn) / (989e12 * 0.5))


def test_fp8_mixed_runs_only_the_experts_at_the_fp8_rate(registry):
    """Meta's fp8_mixed quantizes only the routed experts: the rest of the prefill computes in BF16,
    so its TTFT sits between all-FP8 and all-BF16 (closer to BF16 for Maverick's small experts share
    of the FLOPs)."""
    t = {q: estimate_perf(dep(registry, "maverick", "h100", 8, q, ctx=16384), prompt_tokens=8192,
                          output_tokens=16).prefill.compute_s for q in ("fp8", "fp8_mixed", "bf16")}
    assert t["fp8"] < t["fp8_mixed"] < t["bf16"]
    c = estimate_perf(dep(registry, "maverick", "h100", 8, "fp8_mixed", ctx=16384), prompt_tokens=8192,
                      output_tokens=16)
    assert "routed experts" in next(a.value for a in c.assumptions if a.name == "compute_dtype")


def test_unknown_architecture_perf_is_reported_not_a_crash(cli):
    r = cli("perf", "--model", "behemoth", "--gpu", "h100", "--gpus", "8", "--quant", "int4", "--format", "json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["tpot_s"] is None and d["ttft_s"] is None and any("does not publish" in u for u in d["unknown"])


def test_throughput_unknown_without_a_prefill_time(registry):
    """Without a FLOP rate the steady state (prefill + decode) is unknown: no deployment throughput
    (a decode-only figure would rank such GPUs above others under --objective throughput)."""
    e = estimate_perf(dep(registry, "scout", "h100-nvl", 1, "int4", ctx=4096), prompt_tokens=512, output_tokens=64,
                      concurrency=16)
    assert e.ttft_s is None and e.output_tokens_per_s is None and e.tpot_s is not None


# ---------------------------------------------------------------------------- monotonicity ---
def test_batch_raises_deployment_throughput_not_per_sequence_speed(registry):
    d = dep(registry, ctx=8192)
    prev = None
    for b in (1, 2, 4, 8, 16, 32, 64, 128):
        e = estimate_perf(d, prompt_tokens=1024, output_tokens=256, concurrency=b)
        if prev is not None:
            assert e.output_tokens_per_s > prev.output_tokens_per_s
            assert e.tokens_per_s_per_sequence <= prev.tokens_per_s_per_sequence
        prev = e


def test_more_experts_same_active_raise_memory_not_batch1_decode(registry):
    base = registry.model("maverick")
    more = base.model_copy(update={"id": "maverick-256e", "num_local_experts": 256})
    fewer = base.model_copy(update={"id": "maverick-16e", "num_local_experts": 16})
    times, weights = {}, {}
    for spec in (fewer, base, more):
        d = Deployment(model=spec, gpu=registry.gpu("h100"), gpu_count=8, quant="fp8", context_tokens=4096)
        e = estimate_perf(d, prompt_tokens=1024, output_tokens=128, concurrency=1, eff=Efficiencies())
        times[spec.id] = e.tpot_s
        weights[spec.id] = estimate_memory(d).weights_bytes
    assert weights["maverick-16e"] < weights["llama4-maverick"] < weights["maverick-256e"]
    assert weights["maverick-256e"] > 1.5 * weights["llama4-maverick"]
    # batch-1 decode reads one routed expert per MoE layer whatever E is; the only extra bytes are
    # the router's (h x E BF16 per MoE layer, replicated on every GPU): the time difference is
    # exactly that traffic, and it is about 1 % of the step
    router_delta = 5120 * (256 - 128) * 2 * 24
    assert times["maverick-256e"] - times["llama4-maverick"] == pytest.approx(router_delta / (3350e9 * 0.7),
                                                                            rel=1e-6)
    assert times["maverick-256e"] == pytest.approx(times["llama4-maverick"], rel=0.01)
    assert times["maverick-16e"] == pytest.approx(times["llama4-maverick"], rel=0.01)
    # at a large batch more experts are hit, so the step does slow down
    big = {}
    for spec in (base, more):
        d = Deployment(model=spec, gpu=registry.gpu("h100"), gpu_count=8, quant="fp8", context_tokens=4096)
        big[spec.id] = estimate_perf(d, prompt_tokens=1024, output_tokens=128, concurrency=256).tpot_s
    assert big["maverick-256e"] > big["llama4-maverick"]


def test_longer_prompts_raise_ttft(registry):
    d = dep(registry, "scout", "h100", 1, "int4_mixed", ctx=2**17)
    ttfts = [estimate_perf(d, prompt_tokens=p, output_tokens=16).ttft_s for p in (128, 1024, 8192, 65536)]
    assert ttfts == sorted(ttfts) and ttfts[0] < ttfts[-1]


def test_compute_scales_with_active_memory_with_total(registry):
    """Scout and Maverick have the same active parameters: prefill FLOPs per token nearly equal,
    weight bytes ~3.7x apart."""
    s = estimate_perf(dep(registry, "scout", "h100", 8, "fp8"), prompt_tokens=1, output_tokens=1)
    m = estimate_perf(dep(registry, "maverick", "h100", 8, "fp8"), prompt_tokens=1, output_tokens=1)
    assert m.prefill.flops_per_gpu == pytest.approx(s.prefill.flops_per_gpu, rel=0.01)
    ws = estimate_memory(dep(registry, "scout", "h100", 8, "fp8")).weights_bytes
    wm = estimate_memory(dep(registry, "maverick", "h100", 8, "fp8")).weights_bytes
    assert 3.3 < wm / ws < 4.0


def test_calibrated_efficiencies_change_the_numbers_and_the_label(registry):
    d = dep(registry)
    a = estimate_perf(d, prompt_tokens=1024, output_tokens=128, eff=Efficiencies())
    c = estimate_perf(d, prompt_tokens=1024, output_tokens=128,
                      eff=Efficiencies(prefill=0.25, decode_bandwidth=0.35, source="calibrated"))
    assert a.confidence == "analytical" and c.confidence == "calibrated"
    assert c.tpot_s > a.tpot_s and c.ttft_s > a.ttft_s


def test_unknown_flops_and_bandwidth_are_reported(registry):
    e = estimate_perf(dep(registry, "scout", "h100-nvl", 1, "int4", ctx=4096), prompt_tokens=512, output_tokens=64)
    assert e.ttft_s is None and any("FLOP rate" in u for u in e.unknown)
    assert e.tpot_s is not None  # memory-bound lower bound still known
    e = estimate_perf(dep(registry, "scout", "rtx-5090", 4, "int4", ctx=4096), prompt_tokens=512, output_tokens=64)
    assert e.tpot_s is None and e.unknown


def test_pipeline_bubble(registry):
    d = dep(registry, "maverick", "h100", 16, "bf16", ctx=8192, tensor_parallel_size=8, pipeline_parallel_size=2)
    assert estimate_perf(d, prompt_tokens=512, output_tokens=64, concurrency=1).pipeline_bubble_fraction == 0.5
    assert estimate_perf(d, prompt_tokens=512, output_tokens=64, concurrency=4).pipeline_bubble_fraction == 0.0


def test_weight_only_formats_compute_in_bf16(registry):
    e = estimate_perf(dep(registry, "scout", "a100", 4, "fp8"), prompt_tokens=512, output_tokens=64)
    assert e.compute_dtype == "bf16" and any("weight-only" in w for w in e.warnings)
    assert estimate_perf(dep(registry, "scout", "h100", 4, "fp8"), prompt_tokens=512,
                         output_tokens=64).compute_dtype == "fp8"


def test_requests_per_day_replicas(registry):
    e = estimate_perf(dep(registry), prompt_tokens=1024, output_tokens=256, concurrency=8)
    cap = e.capacity_requests_per_day
    f = estimate_perf(dep(registry), prompt_tokens=1024, output_tokens=256, concurrency=8,
                      requests_per_day=cap * 2.5)
    assert f.replicas_for_requests_per_day == 3
    assert math.isclose(cap, e.requests_per_s * 86400)


# ------------------------------------------------------------------------------------- CLI ---
def test_perf_cli_table_and_json(cli):
    r = cli("perf", "-m", "maverick", "-g", "h100", "-n", "8", "-q", "fp8", "--concurrency", "16")
    assert r.code == 0, r.err
    assert "TTFT" in r.out and "TPOT" in r.out and "analytical" in r.out
    j = cli("perf", "-m", "scout", "-g", "h100", "-q", "int4_mixed", "-f", "json").json()
    for k in ("ttft_s", "tpot_s", "tokens_per_s_per_sequence", "output_tokens_per_s", "tokens_per_gpu_hour",
              "prefill", "decode", "assumptions", "efficiencies", "confidence"):
        assert k in j
    assert j["decode"]["bound"] in ("compute", "memory", "communication")


@pytest.mark.parametrize("args", [["--prompt-tokens", "0"], ["--output-tokens", "-1"], ["--concurrency", "0"],
                                  ["--prefill-efficiency", "2"], ["--decode-efficiency", "nan"],
                                  ["--requests-per-day", "-5"]])
def test_perf_bad_input(cli, args):
    r = cli("perf", "-m", "scout", "-g", "h100", "-q", "int4", *args)
    assert r.code == 2 and r.err.startswith("llamasize: error:") and len(r.err.strip().splitlines()) == 1
