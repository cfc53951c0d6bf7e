"""The step simulator with attention data parallelism (issue 12 items 3 and 5): ``perf --dp N --arrival``.

Each DP rank is an engine of its own (scheduler, token budget, max_num_seqs, KV pool); a rank's step
runs attention and the dense layers on its own tokens and the routed experts -- split over the
``dp x tp`` GPUs -- on the tokens of every rank holding requests (``estimate.simulate.simulate_dp``,
``estimate.stepcost``). The references here are built apart: the step terms of equivalent non-DP
deployments, and the ranks' schedules run one by one through the scheduler itself.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from llamasize.estimate.deployment import Deployment
from llamasize.estimate.memory import estimate_memory
from llamasize.estimate.perf import ACT_BYTES, all_to_all_s
from llamasize.estimate.scheduler import _Sim
from llamasize.estimate.simulate import Request, dp_split, simulate, workload
from llamasize.estimate.stepcost import TERMS, StepCost

DP = 8


@pytest.fixture(scope="module")
def v3(registry):
    """DeepSeek-V3 FP8 on 8 x H200, DP 8 x TP 1 with EP (the DP fit case of test_dp_attention)."""
    spec, gpu = registry.model("deepseek-v3"), registry.gpu("h200")
    return Deployment(model=spec, gpu=gpu, gpu_count=8, quant=spec.default_quant, context_tokens=4000,
                      tensor_parallel_size=1, data_parallel_size=DP, expert_parallel=True, batch=1)


def _rank(d: Deployment) -> Deployment:
    """A one-GPU deployment to run one rank's schedule with (the rank's ``StepCost`` given to ``simulate``)."""
    return replace(d, data_parallel_size=1, tensor_parallel_size=1, gpu_count=1)


def _terms(cost: StepCost, decode_pos, chunks=()) -> np.ndarray:
    cost.trace = []
    cost.time(np.asarray(decode_pos, dtype=np.int64), list(chunks))
    return cost.trace[-1][0]


def _group(row: np.ndarray, name: str) -> np.ndarray:
    at = TERMS.index(f"{name}_flops")
    return row[at:at + 4]


def test_a_rank_step_is_attention_on_its_tokens_and_experts_on_every_ranks(v3):
    """A DP-8 rank's step with n tokens: its dense and attention work are a TP-1 deployment's with
    n tokens (weights replicated per rank), its routed experts a TP-8 EP deployment's with 8n tokens
    (the same 1/8 of the experts per GPU), and its collectives two all-to-alls per MoE layer."""
    pos, chunks = np.array([999, 1500, 1999]), [(0, 700, True)]
    n = pos.size + 700
    dp_row = _terms(StepCost(v3), pos, chunks)
    tp1_row = _terms(StepCost(replace(v3, data_parallel_size=1, gpu_count=1)), pos, chunks)
    assert np.allclose(_group(dp_row, "dense"), _group(tp1_row, "dense"))
    assert np.allclose(_group(dp_row, "attention"), _group(tp1_row, "attention"))
    tp8 = replace(v3, tensor_parallel_size=8, data_parallel_size=1)
    wide = _terms(StepCost(tp8), np.concatenate([pos + k for k in range(DP)]), chunks * DP)
    # 8 x the tokens through the experts: the wide step's 8 prefill chunks and 24 decodes are 8n tokens
    assert np.allclose(_group(dp_row, "experts"), _group(wide, "experts"))
    # the collectives: no TP all-reduce (TP 1), two all-to-alls of the rank's n x top_k activations per MoE layer
    spec = v3.model
    act = n * spec.hidden_size * ACT_BYTES * spec.num_experts_per_tok
    link = v3.gpu.interconnect.bandwidth_bytes_per_s / 2
    moe_layers = len(spec.moe_layer_ids())
    want = moe_layers * 2 * all_to_all_s(act, DP, link, 1.0, 0.0)
    assert dp_row[TERMS.index("comm_link_s")] == pytest.approx(want, rel=1e-12)
    assert dp_row[TERMS.index("collectives")] == pytest.approx(2 * moe_layers)


def test_ranks_without_requests_add_no_expert_tokens(v3):
    """Three ranks holding requests: the experts see 3 x the rank's tokens (the idle ranks' dummy batches nothing)."""
    pos = np.array([100, 200])
    three = _terms(StepCost(v3, ranks=3), pos)
    tp8 = replace(v3, tensor_parallel_size=8, data_parallel_size=1)
    ref = _terms(StepCost(tp8), np.concatenate([pos] * 3))
    assert np.allclose(_group(three, "experts"), _group(ref, "experts"))
    for bad in (0, DP + 1):
        with pytest.raises(ValueError, match="ranks holding requests"):
            StepCost(v3, ranks=bad)


def _independent(d: Deployment, requests: list[Request], clients: int | None = None):
    """Every rank simulated on its own through the scheduler (no sharing between ranks): the
    requests dealt round-robin in arrival order as the load balancer would; per request (ttft, tpot),
    total output tokens and the span from the first arrival to the last finish."""
    n = len(requests)
    active = min(DP, n, clients or n)
    order = sorted(range(n), key=lambda i: (requests[i].arrival_s, i)) if clients is None else list(range(n))
    cost = StepCost(d, ranks=active)
    ttft, tpot, end = {}, {}, []
    for r in range(active):
        idx = order[r::active]
        cl = None if clients is None else len([c for c in range(clients) if c % active == r])
        sim = _Sim(cost, [requests[i] for i in idx], "greedy", cl)
        sim.now = float(np.nanmin(sim.arrival))
        sim.run()
        end.append(sim.now)
        for k, i in enumerate(idx):
            ttft[i] = sim.first[k] - sim.arrival[k]
            tpot[i] = (sim.finish[k] - sim.first[k]) / max(int(sim.output[k]) - 1, 1)
    start = 0.0 if clients is not None else min(r.arrival_s for r in requests)
    tokens = sum(r.output_tokens for r in requests)
    return [ttft[i] for i in range(n)], [tpot[i] for i in range(n)], tokens, max(end) - start


@pytest.mark.parametrize("arrival, n, qps", [("offline", 8 * 40, None), ("poisson", 8 * 30, 12.0)])
def test_dp_run_is_its_ranks_run_independently(v3, arrival, n, qps):
    reqs = workload(arrival, n, 1000, 300, qps=qps, seed=3)
    r = simulate(v3, reqs)
    ttft, tpot, tokens, span = _independent(v3, reqs)
    assert np.allclose(r.ttft_s, ttft, rtol=1e-12, atol=1e-12) and np.allclose(r.tpot_s, tpot, rtol=1e-12)
    assert r.output_tokens == tokens and r.makespan_s == pytest.approx(span, rel=1e-12)
    if arrival == "offline":  # symmetric: the deployment's rate is 8 x one rank's, each request as on its rank
        one = simulate(_rank(v3), reqs[: n // DP],
                       cost=StepCost(v3))
        assert r.output_tokens_per_s == pytest.approx(DP * one.output_tokens_per_s, rel=1e-12)
        # rank r holds requests r, r + 8, ...: request i is the (i // 8)-th of its rank
        assert np.allclose(r.ttft_s, np.repeat(one.ttft_s, DP)) and np.allclose(r.tpot_s, np.repeat(one.tpot_s, DP))


def test_closed_loop_and_fewer_requests_than_ranks(v3):
    reqs = workload("closed", 24, 800, 200)
    r = simulate(v3, reqs, clients=3)  # three clients: three ranks hold requests, five idle
    ttft, tpot, tokens, span = _independent(v3, reqs, clients=3)
    assert np.allclose(r.ttft_s, ttft) and np.allclose(r.tpot_s, tpot) and r.makespan_s == pytest.approx(span)
    few = simulate(v3, workload("offline", 3, 800, 200))  # 3 requests, 8 ranks: each of three ranks holds one
    alone = simulate(v3, workload("offline", 1, 800, 200))
    assert few.max_running == 3 and alone.max_running == 1
    # the same schedule per rank, but the experts see three ranks' tokens: never faster than one alone
    assert min(few.tpot_s) >= alone.tpot_s[0] and few.makespan_s >= alone.makespan_s
    assert simulate(v3, []).makespan_s == 0.0


def test_an_uneven_split_lasts_as_long_as_the_heavier_rank(v3):
    """8 x 20 + 3 requests: three ranks hold 21, five hold 20; the run ends with the heavier ranks."""
    reqs = workload("offline", 8 * 20 + 3, 1000, 300)
    ranks, _ = dp_split(reqs, DP, None)
    assert sorted(len(x) for x in ranks) == [20] * 5 + [21] * 3
    r = simulate(v3, reqs)
    heavy = simulate(_rank(v3), reqs[:21], cost=StepCost(v3))
    light = simulate(_rank(v3), reqs[:20], cost=StepCost(v3))
    assert r.makespan_s == pytest.approx(heavy.makespan_s) and heavy.makespan_s >= light.makespan_s
    assert r.ttft_s[ranks[0][-1]] == pytest.approx(heavy.ttft_s[-1])  # rank 0 holds 21
    assert r.ttft_s[ranks[7][-1]] == pytest.approx(light.ttft_s[-1])  # rank 7 holds 20


def test_deepseek_v3_dp8_simulates_a_concurrency_tp8_cannot_hold(v3):
    """1,024 requests of 1,000 + 1,000 tokens all at once: DP 8 runs all of them without a
    preemption (its per-rank pools hold 128 sequences each); TP 8 holds fewer than 1,024 (the MLA
    latent of every sequence on every GPU), so it queues and preempts."""
    ctx = replace(v3, context_tokens=2000)
    tp8 = replace(ctx, tensor_parallel_size=8, data_parallel_size=1)
    assert estimate_memory(tp8).max_concurrency < 1024 <= estimate_memory(replace(ctx, batch=1024)).max_concurrency
    reqs = workload("offline", 1024, 1000, 1000)
    dp, tp = simulate(ctx, reqs), simulate(tp8, reqs)
    assert dp.max_running == 1024 and dp.preemptions == 0 and dp.output_tokens == tp.output_tokens == 1024 * 1000
    assert tp.max_running < 1024
    assert dp.output_tokens_per_s > tp.output_tokens_per_s


def test_cli_simulates_dp_and_says_what_it_assumes(cli):
    base = ("perf", "--model", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dp", "8", "--ep", "--prompt-tokens",
            "1000", "--output-tokens", "500")
    r = cli(*base, "--arrival", "offline", "--requests", "64", "--format", "json")
    assert r.code == 0, r.err
    j = r.json()
    assert j["data_parallel_size"] == 8 and j["simulation"]["requests"] == 64
    (a,) = [a for a in j["assumptions"] if a["name"] == "attention_data_parallel_simulation"]
    assert "symmetric ranks" in a["value"] and "to 8 rank(s)" in a["value"]
    assert math.isclose(j["output_tokens_per_s"], j["simulation"]["output_tokens_per_s"])
    closed = cli(*base, "--arrival", "closed", "--concurrency", "2", "--requests", "8", "--format", "json")
    assert closed.code == 0, closed.err
    assert any("to 2 rank(s)" in a["value"] for a in closed.json()["assumptions"])
    # at 72 % of the memory a rank's pool holds about 20,000 tokens of MLA latent: one request of 30,100 cannot run
    long = cli("perf", "--model", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--dp", "8", "--ep",
               "--prompt-tokens", "30000", "--output-tokens", "100", "--ctx", "32000", "--gpu-memory-utilization",
               "0.72", "--arrival", "offline", "--requests", "8")
    assert long.code == 2 and long.err.strip().endswith("does not fit in the KV cache even alone"), long.err
    assert len(long.err.strip().splitlines()) == 1 and long.out == ""


def test_dp_variants_are_the_fitting_dp_layouts_of_a_count(registry):
    from llamasize.plan.planner import PlanRequest
    from llamasize.plan.slo import dp_variants

    spec, gpu = registry.model("deepseek-v3"), registry.gpu("h200")
    req = PlanRequest(model=spec, context_tokens=4000, quant=spec.default_quant, gpus=("h200",))
    tp8 = Deployment(model=spec, gpu=gpu, gpu_count=8, quant=spec.default_quant, context_tokens=4000,
                     tensor_parallel_size=8)
    got = {(v.tensor_parallel_size, v.data_parallel_size, v.expert_parallel) for v in dp_variants(req, tp8)}
    assert got == {(1, 8, False), (1, 8, True)}
    dense = registry.model("llama3.1-8b")
    assert dp_variants(replace(req, model=dense), replace(tp8, model=dense, quant="bf16")) == []


def test_frontier_draws_the_dp_layout_beside_the_planners(cli):
    r = cli("frontier", "--model", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--prompt-tokens",
            "1000", "--output-tokens", "500", "--max-concurrency", "64", "--format", "json")
    assert r.code == 0, r.err
    curves = r.json()["curves"]
    dp = [c for c in curves if c.get("data_parallel_size") == 8]
    assert dp and all(c["name"].startswith("8 x h200 DP8 TP1") for c in dp)
    assert any("data_parallel_size" not in c for c in curves)  # the planner's own (TP) candidate, key left out at 1
    one = cli("frontier", "--model", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--kv-dtype",
              "auto", "--gpus", "8", "--dp", "8", "--ep", "--prompt-tokens", "1000", "--output-tokens", "500",
              "--max-concurrency", "16", "--format", "json")
    assert one.code == 0, one.err
    assert [c["data_parallel_size"] for c in one.json()["curves"]] == [8]
    # the same curve as the planner's DP8 EP one at the concurrencies both swept
    pts = {p["concurrency"]: p for c in dp if c["expert_parallel"] for p in c["points"]}
    for p in one.json()["curves"][0]["points"]:
        assert p == pts[p["concurrency"]]


def test_dp_without_ep_moe_exchange_is_two_collectives_with_two_latencies(registry):
    """Attention DP without EP: every rank's activations all-gathered to the width-split experts and the results
    reduce-scattered back (docs/facts/trtllm.md section 3: "all_gather ... / reduce_scatter"): the volume of one
    ring all-reduce of the gathered tokens, but two collectives, so two latencies per MoE layer (EP: dispatch and
    combine, two as well)."""
    from llamasize.estimate.memory import resolve
    from llamasize.estimate.perf import Efficiencies, _layer_comm_s
    from llamasize.estimate.traffic import stage_weights

    spec, gpu = registry.model("deepseek-v3"), registry.gpu("h200")
    for ep in (False, True):
        d = Deployment(model=spec, gpu=gpu, gpu_count=8, quant="fp8-block128x128", context_tokens=4000,
                       tensor_parallel_size=1, data_parallel_size=8, expert_parallel=ep)
        s = resolve(d)
        st = stage_weights(spec, s.fmt.id, s.tp, s.pp, s.ep, s.dp)[0]
        link = 450e9
        with_lat = _layer_comm_s(spec, s, st, 64, link, Efficiencies(comm=1.0, collective_latency_s=1.0), 8)
        no_lat = _layer_comm_s(spec, s, st, 64, link, Efficiencies(comm=1.0, collective_latency_s=0.0), 8)
        assert with_lat - no_lat == pytest.approx(2 * st.moe_layers), ep
