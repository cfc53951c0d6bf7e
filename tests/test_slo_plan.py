"""SLO-driven planning (issue 12 item 4): ``plan --max-ttft/--max-tpot --qps``.

The property tests run the real search on one GPU type and one format with small simulations
(a few dozen requests per point): what a returned plan claims is re-simulated independently, a
tightened target must never give a cheaper plan, and an impossible one must exit 3 with the nearest miss.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamasize.errors import UsageError
from llamasize.estimate.simulate import simulate, summarize, workload
from llamasize.plan.cost import fit_deployment_of
from llamasize.plan.planner import PlanRequest
from llamasize.plan.slo import SloRequest, plan_slo, qps_from_requests_per_day
from llamasize.units import parse_duration

PROMPT, OUTPUT, REQUESTS = 512, 64, 40
BASE = ("plan", "-m", "llama3.1-8b", "--ctx", "2048", "--gpu", "h100", "--quant", "bf16", "-p", str(PROMPT),
        "-o", str(OUTPUT), "--requests", str(REQUESTS))


def _req(registry, **kw) -> SloRequest:
    plan = PlanRequest(model=registry.model("llama3.1-8b"), context_tokens=2048, quant="bf16", gpus=("h100",),
                       prompt_tokens=PROMPT, output_tokens=OUTPUT)
    return SloRequest(plan=plan, requests=REQUESTS, **kw)


def _resimulate(registry, sreq: SloRequest, o):
    """The recommendation's one replica, simulated again from scratch (not the search's cache)."""
    d = replace(fit_deployment_of(o, sreq.plan, registry.gpu(o.gpu)), max_num_seqs=o.max_num_seqs)
    assert o.simulation.requests >= sreq.requests  # more when the run must reach the steady state
    reqs = workload("poisson", o.simulation.requests, PROMPT, OUTPUT, qps=sreq.qps / o.replicas, seed=sreq.seed)
    return summarize(simulate(d, reqs), arrival="poisson", qps=sreq.qps / o.replicas, seed=sreq.seed,
                     admission="greedy")


targets = st.tuples(st.sampled_from([0.05, 0.2, 0.5, 2.0]), st.sampled_from([0.004, 0.008, 0.015, 0.05]),
                    st.sampled_from([2.0, 10.0, 40.0, 120.0]), st.sampled_from(["p50", "p90", "p99"]))


@settings(max_examples=5)
@given(targets, st.sampled_from([0.5, 0.8]))
def test_plan_meets_targets_and_tightening_never_gets_cheaper(registry, t, factor):
    ttft, tpot, qps, pct = t
    loose = _req(registry, qps=qps, max_ttft_s=ttft, max_tpot_s=tpot, percentile=pct)
    tight = replace(loose, max_ttft_s=ttft * factor, max_tpot_s=tpot * factor)
    a, b = plan_slo(loose, registry), plan_slo(tight, registry)
    for sreq, res in ((loose, a), (tight, b)):
        o = res.recommendation
        if o is None:
            assert res.nearest_miss is not None and not res.nearest_miss.meets
            assert res.nearest_miss_text.startswith("nearest miss: ") and f"{pct} " in res.nearest_miss_text
            continue
        s = _resimulate(registry, sreq, o)
        assert getattr(s, f"ttft_s_{pct}") <= sreq.max_ttft_s
        assert getattr(s, f"tpot_s_{pct}") <= sreq.max_tpot_s
        assert math.isclose(getattr(s, f"ttft_s_{pct}"), o.ttft_s) and o.meets and o.miss is None
        assert o.total_usd_per_hour == pytest.approx(o.price_usd_per_hour * o.replicas)
    if b.recommendation is not None:  # what meets the tighter targets meets the looser ones
        assert a.recommendation is not None
        assert a.recommendation.total_usd_per_hour <= b.recommendation.total_usd_per_hour


@settings(max_examples=3)
@given(st.sampled_from([2.0, 20.0, 80.0]))
def test_more_load_never_needs_fewer_replicas_of_one_deployment(registry, qps):
    """One deployment (1 GPU, no larger counts), a fixed target: doubling the load never lowers the cost."""
    one = lambda q: plan_slo(replace(_req(registry, qps=q, max_ttft_s=0.5, max_tpot_s=0.02),
                                     plan=replace(_req(registry, qps=q).plan, max_gpus=1)), registry)
    a, b = one(qps), one(2 * qps)
    assert a.recommendation is not None
    if b.recommendation is not None:
        assert b.recommendation.replicas >= a.recommendation.replicas


def test_impossible_target_exits_3_with_the_nearest_miss(cli):
    r = cli(*BASE, "--max-ttft", "1ms", "--qps", "5", "--format", "json")
    assert r.code == 3, r.err
    doc = r.json()
    assert doc["recommendation"] is None and doc["nearest_miss"]["meets"] is False
    line = r.err.strip().splitlines()[-1]
    assert line.startswith("llamasize: nearest miss: ") and "p90 TTFT" in line and "> 1 ms" in line
    assert doc["nearest_miss"]["ttft_s"] > 0.001


def test_table_names_targets_seed_and_latencies(cli):
    r = cli(*BASE, "--max-ttft", "2s", "--max-tpot", "50ms", "--slo-percentile", "p99", "--qps", "4",
            "--seed", "7")
    assert r.code == 0, r.err
    assert "p99 TTFT <= 2.00 s and TPOT <= 50.0 ms at 4 requests/s" in r.out
    assert "Recommendation: 1 replica x 1 x h100-sxm" in r.out and "seed 7" in r.out
    assert "slo_percentile: p99 [--slo-percentile]" in r.out


def test_requests_per_day_is_the_mean_rate(cli):
    r = cli(*BASE, "--max-tpot", "50ms", "--requests-per-day", "864k", "--format", "json")
    assert r.code == 0, r.err
    slo = r.json()["slo"]
    assert slo["qps"] == pytest.approx(10.0) == pytest.approx(qps_from_requests_per_day(864_000))
    assert slo["requests_per_day"] == 864_000 and slo["percentile"] == "p90" and slo["max_ttft_s"] is None
    rec = r.json()["recommendation"]
    assert rec["qps_per_replica"] * rec["replicas"] == pytest.approx(10.0)
    assert rec["simulation"]["requests"] == REQUESTS and rec["simulation"]["seed"] == 0


@pytest.mark.parametrize("args, message", [
    (("--qps", "5"), "set(s) the SLO search: add --max-ttft and/or --max-tpot"),
    (("--max-ttft", "2s"), "give --qps R or --requests-per-day N"),
    (("--max-ttft", "2s", "--qps", "5", "--requests-per-day", "1M"), "give --qps R or --requests-per-day N"),
    (("--max-ttft", "2 hours", "--qps", "5"), "--max-ttft must be a duration such as 2s, 50ms or 1.5 s"),
    (("--max-tpot", "0ms", "--qps", "5"), "--max-tpot must be a positive finite duration"),
    (("--max-tpot", "50ms", "--qps", "5", "--slo-percentile", "p95"), "unknown --slo-percentile"),
    (("--max-tpot", "50ms", "--qps", "5", "--objective", "headroom"), "does not rank SLO plans"),
    (("--max-tpot", "50ms", "--qps", "0"), "--qps must be a positive"),
    (("--max-tpot", "50ms", "--qps", "5", "--emit", "vllm"), "no --emit or tfvars"),
])
def test_bad_slo_flags_are_one_line_usage_errors(cli, args, message):
    r = cli(*BASE, *args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert message in r.err and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_cost_prices_the_slo_operating_point(cli):
    r = cli("cost", "-m", "llama3.1-8b", "--gpu", "h100", "--quant", "bf16", "-p", str(PROMPT), "-o", str(OUTPUT),
            "--requests", str(REQUESTS), "--max-tpot", "20ms", "--qps", "8", "--format", "json")
    assert r.code == 0, r.err
    doc = r.json()
    point = [a for a in doc["assumptions"] if a["name"] == "operating_point"]
    assert point and point[0]["value"].startswith("SLO-feasible: p90")
    fixed = cli("cost", "-m", "llama3.1-8b", "--gpu", "h100", "--quant", "bf16", "-p", str(PROMPT), "-o",
                str(OUTPUT), "--format", "json")
    assert not [a for a in fixed.json()["assumptions"] if a["name"] == "operating_point"]
    assert fixed.json()["concurrency"] == 32
    miss = cli("cost", "-m", "llama3.1-8b", "--gpu", "h100", "--quant", "bf16", "-p", str(PROMPT), "-o", str(OUTPUT),
               "--requests", str(REQUESTS), "--max-ttft", "1ms", "--qps", "8")
    assert miss.code == 3 and "nearest miss: " in miss.err


@pytest.mark.parametrize("text, seconds", [("2s", 2.0), ("50ms", 0.05), ("1.5 s", 1.5), ("0.25", 0.25),
                                           ("250us", 0.00025), ("1min", 60.0)])
def test_durations_parse(text, seconds):
    assert parse_duration(text, "--max-ttft") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2h", "-1s", "0", "s", "nan", "1e400s", "2 s s"])
def test_bad_durations_are_refused(text):
    with pytest.raises(UsageError):
        parse_duration(text, "--max-ttft")


def test_json_validates_against_the_plan_slo_schema(cli):
    from jsonschema import Draft202012Validator

    schema = cli("schema", "plan-slo").json()
    for args in (("--max-tpot", "50ms", "--qps", "4"), ("--max-ttft", "1ms", "--qps", "4")):
        r = cli(*BASE, *args, "--format", "json")
        assert r.code in (0, 3), r.err
        errors = list(Draft202012Validator(schema).iter_errors(r.json()))
        assert not errors, errors[0]


def test_budget_caps_all_the_replicas(registry):
    free = plan_slo(_req(registry, qps=60.0, max_tpot_s=0.015), registry)
    assert free.recommendation is not None
    cap = free.recommendation.total_usd_per_hour - 0.01
    capped = plan_slo(replace(_req(registry, qps=60.0, max_tpot_s=0.015),
                              plan=replace(_req(registry, qps=60.0).plan, budget_usd_per_hour=cap)), registry)
    assert capped.recommendation != free.recommendation
    for o in [capped.recommendation, *capped.alternatives]:
        if o is not None:
            assert o.total_usd_per_hour <= cap


# -------------------------------------------------- attention data parallelism (issue 12 item 5) ---
DS_PROMPT, DS_OUTPUT = 1000, 500


def _ds_req(registry, qps: float, **kw) -> SloRequest:
    """DeepSeek-V3 FP8 on H200 (an MLA MoE model: TP replicates its KV cache, DP x EP does not)."""
    spec = registry.model("deepseek-v3")
    plan = PlanRequest(model=spec, context_tokens=4000, quant="fp8-block128x128", gpus=("h200",),
                       prompt_tokens=DS_PROMPT, output_tokens=DS_OUTPUT)
    return SloRequest(plan=plan, qps=qps, requests=80, **kw)


def _resimulate_ds(registry, sreq: SloRequest, o):
    d = replace(fit_deployment_of(o, sreq.plan, registry.gpu(o.gpu)), max_num_seqs=o.max_num_seqs)
    assert d.data_parallel_size == o.data_parallel_size
    q = sreq.qps / o.replicas
    assert o.simulation.requests >= sreq.requests * o.data_parallel_size  # `requests` per attention DP rank
    reqs = workload("poisson", o.simulation.requests, DS_PROMPT, DS_OUTPUT, qps=q, seed=sreq.seed)
    return summarize(simulate(d, reqs), arrival="poisson", qps=q, seed=sreq.seed, admission="greedy")


@settings(max_examples=4, deadline=None)
@given(st.sampled_from([1.0, 6.0, 16.0, 40.0]), st.sampled_from([(2.0, 0.06), (5.0, 0.1)]))
def test_mla_moe_plan_weighs_dp_layouts_and_its_pick_resimulates_within_targets(registry, qps, targets):
    sreq = _ds_req(registry, qps, max_ttft_s=targets[0], max_tpot_s=targets[1])
    res = plan_slo(sreq, registry)
    assert not [w for w in res.warnings if "data parallelism" in w]  # DP candidates simulated, not dropped
    o = res.recommendation
    if o is None:
        return
    s = _resimulate_ds(registry, sreq, o)
    assert s.ttft_s_p90 <= sreq.max_ttft_s and s.tpot_s_p90 <= sreq.max_tpot_s
    assert math.isclose(s.ttft_s_p90, o.ttft_s) and math.isclose(s.tpot_s_p90, o.tpot_s)
    for a in res.alternatives:  # the recommendation is the cheapest point found, DP or not
        assert o.total_usd_per_hour <= a.total_usd_per_hour


def test_mla_moe_plan_returns_dp_when_it_needs_fewer_replicas(registry, cli):
    """At 16 requests/s TP 8 needs several replicas of 8 x H200 (every GPU holds the latent of every
    sequence); DP 8 serves it with fewer, so the plan is a DP layout and costs less."""
    sreq = _ds_req(registry, 16.0, max_ttft_s=5.0, max_tpot_s=0.1)
    res = plan_slo(sreq, registry)
    o = res.recommendation
    assert o is not None and o.data_parallel_size == 8 and o.tensor_parallel_size == 1
    tp = [a for a in res.alternatives if a.data_parallel_size == 1]
    assert tp and all(a.replicas > o.replicas and a.total_usd_per_hour > o.total_usd_per_hour for a in tp)
    r = cli("plan", "-m", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--ctx", "4000", "-p",
            str(DS_PROMPT), "-o", str(DS_OUTPUT), "--requests", "80", "--max-ttft", "5", "--max-tpot", "100ms",
            "--qps", "16", "--format", "json")
    assert r.code == 0, r.err
    rec = r.json()["recommendation"]
    assert rec["data_parallel_size"] == 8 and rec["replicas"] == o.replicas
    text = cli("plan", "-m", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--ctx", "4000", "-p",
               str(DS_PROMPT), "-o", str(DS_OUTPUT), "--requests", "80", "--max-ttft", "5", "--max-tpot", "100ms",
               "--qps", "16")
    assert "· DP 8 · TP 1 ·" in text.out
    cost = cli("cost", "-m", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--ctx", "4000", "-p",
               str(DS_PROMPT), "-o", str(DS_OUTPUT), "--requests", "80", "--max-ttft", "5", "--max-tpot", "100ms",
               "--qps", "16", "--format", "json")
    assert cost.code == 0, cost.err
    assert cost.json()["options"][0]["data_parallel_size"] == 8


def test_a_load_above_the_saturated_rate_never_meets_however_loose_the_targets(registry):
    """A finite run of an overloaded queue can look fine; plan_slo adds replicas until each one's load is at
    most what it completes when saturated (slo.saturated_rate of an offline run at that cap), and the run it
    reports covers at least HORIZON x the requests in the system (Little's law)."""
    from llamasize.plan.slo import HORIZON, MAX_HORIZON_FACTOR, saturated_rate

    sreq = _req(registry, qps=400.0, max_ttft_s=1e6, max_tpot_s=1e6)
    o = plan_slo(sreq, registry).recommendation
    assert o is not None and o.meets
    d = replace(fit_deployment_of(o, sreq.plan, registry.gpu(o.gpu)), max_num_seqs=o.max_num_seqs)
    n = max(sreq.requests, 2 * o.max_num_seqs)
    r = simulate(d, workload("offline", n, PROMPT, OUTPUT))
    mu = saturated_rate(r.ttft_s, r.e2e_s)
    assert o.qps_per_replica <= mu
    n = o.simulation.requests
    assert n >= HORIZON * o.qps_per_replica * o.simulation.e2e_s_mean or n == MAX_HORIZON_FACTOR * sreq.requests
    assert o.replicas > 1  # 400 requests/s is more than one H100 completes


def test_saturated_rate_counts_the_window_in_which_requests_wait():
    from llamasize.plan.slo import saturated_rate

    # 4 requests: first tokens at 1, 1, 3, 5; finishes at 2, 4, 6, 8 -> window (2, 5]: one finish (at 4) -> fallback
    assert saturated_rate([1, 1, 3, 5], [2, 4, 6, 8]) == 4 / 8
    # finishes at 2, 3, 4, 9 with the last first token at 6: (2, 6] holds 3 and 4 -> 2 / 4 s
    assert saturated_rate([1, 1, 2, 6], [2, 3, 4, 9]) == 0.5
    assert saturated_rate([], []) == 0.0


def test_speed_searches_weigh_dp_for_every_moe_model_memory_plans_only_where_tp_replicates(registry):
    """Llama 4 Maverick (8 KV heads on 8 GPUs: TP splits its KV by head) gets no DP layout from the memory
    planner, but the SLO search and the frontier weigh DP 8 (with and without EP) beside TP 8; a dense model
    gets none either way."""
    from llamasize.estimate.deployment import Deployment
    from llamasize.plan.planner import dp_layouts
    from llamasize.plan.slo import dp_variants

    mav, h200 = registry.model("llama-4-maverick"), registry.gpu("h200")
    assert dp_layouts(mav, h200, 8) == []
    assert dp_layouts(mav, h200, 8, for_speed=True) == [(1, 1, 8)]
    assert dp_layouts(registry.model("llama3.1-70b"), h200, 8, for_speed=True) == []
    req = PlanRequest(model=mav, context_tokens=4096, quant="fp8", gpus=("h200",), prompt_tokens=128, output_tokens=128)
    tp8 = Deployment(model=mav, gpu=h200, gpu_count=8, quant="fp8", context_tokens=4096, tensor_parallel_size=8)
    got = dp_variants(req, tp8)
    assert {(v.data_parallel_size, v.tensor_parallel_size, v.expert_parallel) for v in got} == {(8, 1, False), (8, 1, True)}


def test_an_unstable_point_is_not_rerun_longer(registry):
    """A load above the saturated rate misses whatever its run shows, and its queue grows with the run (the mean
    latency with it), so the Little's-law rerun would always reach MAX_HORIZON_FACTOR x --requests for nothing: the
    point keeps its first run of `requests` per rank."""
    from llamasize.plan import slo
    from llamasize.plan.planner import load_plan_calibration

    sreq = _req(registry, qps=400.0, max_ttft_s=1e6, max_tpot_s=1e6)
    cands, _ = slo._candidates(sreq.plan, registry, load_plan_calibration(sreq.plan))
    c = cands[0]
    search = slo._Search(sreq, slo._State())
    cap = min(slo.CAPS)
    assert search.saturated_rps(c, cap) < sreq.qps  # one replica at 400 requests/s is overloaded
    o = search.point(c, cap, 1)
    assert not o.meets and "above the" in o.miss
    assert o.simulation.requests == sreq.requests * c.deployment.data_parallel_size
