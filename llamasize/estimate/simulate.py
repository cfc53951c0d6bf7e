"""Continuous batching, step by step: the engine's scheduler over a stream of requests (issue 12).

``perf``'s closed-form steady state prefills prompts one after another, each paying a full weight
read. Engines do not: vLLM's V1 scheduler (``vllm/v1/core/sched/scheduler.py``, ``schedule()``)
builds every step from a token budget (``max_num_batched_tokens``) that it fills first with the
running requests -- one token for each decoding request, the next chunk of a prompt being
prefilled -- and then with waiting requests, chunk-prefilling their prompts (chunked prefill is on
by default in V1), up to ``max_num_seqs`` running requests. KV blocks are allocated as a request
grows; when a running request needs a block and the pool is full, the most recently admitted
running request is preempted (its blocks freed, recomputed later: V1's default). This module
simulates that loop:

- **A step** is timed by the roofline-per-group model of ``perf`` (``estimate.stepcost``:
  weights read once per step for all its tokens, the experts those tokens hit, the KV each query
  attends, the FLOPs of every token, the collectives).
- **Runs of decode-only steps** up to the next event (a finish, an arrival, a possible admission),
  preemptions included, are applied at once with exact step times (``estimate.scheduler``), so
  3,000 requests of 1,000 / 1,000 tokens evaluate a few thousand steps one by one, not millions.
- **Timing of tokens**: a request's first token appears at the end of the step that finishes its
  prompt (TTFT = that time - arrival); each later token at the end of a step that decodes it;
  TPOT = (finish - first token) / (output - 1).

- **Attention data parallelism** (``simulate_dp``): each rank is scheduled on its own, the
  requests dealt round-robin to the ranks, a rank's step timed with the routed experts seeing
  every active rank's tokens (``estimate.stepcost``); symmetric ranks are assumed.

What is modelled and what is not: the token budget, ``max_num_seqs``, chunked prefill, decode
first, block-granular KV (the engine's block size, windowed layers capped as ``kv.KvModel`` caps
them), recompute preemption. Not modelled: prefix caching, speculative decoding, CUDA-graph padding
of batch sizes, scheduler and sampling CPU time, and the efficiency factors (``perf.Efficiencies``)
are the ones ``perf`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llamasize.estimate.deployment import Assumption, Deployment
from llamasize.estimate.perf import Efficiencies, PerfEstimate
from llamasize.estimate.scheduler import ADMISSION, Request, _Sim
from llamasize.estimate.simresult import SimulationSummary
from llamasize.estimate.stepcost import StepCost

__all__ = ["ADMISSION", "Request", "SimulationResult", "StepCost", "dp_split", "simulate", "simulate_dp",
           "simulated_perf", "summarize", "workload"]


# -------------------------------------------------------------------------- simulation ---
@dataclass(frozen=True)
class SimulationResult:
    """What the simulation measured (seconds, tokens/s); per-request arrays in request order."""

    ttft_s: tuple[float, ...]
    tpot_s: tuple[float, ...]
    e2e_s: tuple[float, ...]
    makespan_s: float
    output_tokens: int
    steps: int
    evaluated_steps: int
    preemptions: int
    kv_utilization_mean: float
    kv_utilization_max: float
    max_running: int

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.makespan_s if self.makespan_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return len(self.e2e_s) / self.makespan_s if self.makespan_s > 0 else 0.0


def simulate(d: Deployment, requests: list[Request], *, eff: Efficiencies | None = None,
             admission: str = "greedy", clients: int | None = None, cost: StepCost | None = None) -> SimulationResult:
    """Run the scheduler (module docstring) until every request has finished.

    ``clients`` (a closed loop, ``--arrival closed``): the requests' arrival times are ignored; the
    first ``clients`` arrive at t = 0 and each finish sends the next request at that moment, so at
    most ``clients`` are in the system (benchmark tools' fixed concurrency).

    The deployment's ``max_num_batched_tokens`` and ``max_num_seqs`` (engine defaults when not
    given) bound each step; the KV pool is what ``fit`` leaves for KV on each GPU. A request whose
    prompt plus output cannot fit in an empty pool is refused with ValueError (the engine refuses
    it too: its length exceeds what the KV cache can hold). With attention data parallelism
    (``data_parallel_size > 1``) the requests are dealt to the ranks and each rank is scheduled
    on its own (``simulate_dp``)."""
    if clients is not None and clients < 1:
        raise ValueError("a closed loop needs at least one client")
    if d.data_parallel_size > 1:
        return simulate_dp(d, requests, eff=eff, admission=admission, clients=clients, cost=cost)
    cost = cost or StepCost(d, eff)  # a given one (``benchmarks/fit_efficiency.py`` records its trace)
    return _simulate_rank(cost, requests, admission, clients)[0]


def _simulate_rank(cost: StepCost, requests: list[Request], admission: str,
                   clients: int | None) -> tuple[SimulationResult, float]:
    """One scheduler over ``requests`` (``simulate``): the result and the time it started (its
    first arrival; 0 for a closed loop)."""
    sim = _Sim(cost, requests, admission, clients)
    if requests and (sim.prompt.min() < 1 or sim.output.min() < 1):
        raise ValueError("every request needs at least one prompt and one output token")
    if requests:  # the KV a request holds grows with its length: the longest one decides
        i = int(np.argmax(sim.prompt + sim.output))
        if not sim.pool.fits1(sim.pool.bytes1(int(sim.prompt[i] + sim.output[i]))):
            raise ValueError(f"a request of {int(sim.prompt[i]):,} + {int(sim.output[i]):,} tokens does not fit in "
                             "the KV cache even alone")
    if requests:
        sim.now = float(np.nanmin(sim.arrival))
    start = sim.now
    sim.run()
    first, finish = sim.first, sim.finish
    out = sim.output
    ttft = first - sim.arrival
    tpot = np.where(out > 1, (finish - first) / np.maximum(out - 1, 1), 0.0)
    e2e = finish - sim.arrival
    span = sim.now - start
    return SimulationResult(
        ttft_s=tuple(float(x) for x in ttft), tpot_s=tuple(float(x) for x in tpot), e2e_s=tuple(float(x) for x in e2e),
        makespan_s=span, output_tokens=int(out.sum()), steps=sim.steps, evaluated_steps=sim.evaluated,
        preemptions=sim.preemptions, kv_utilization_mean=sim.util_time / span if span > 0 else 0.0,
        kv_utilization_max=sim.util_max, max_running=sim.max_running), start


# ------------------------------------------------------------ attention data parallelism ---
def dp_split(requests: list[Request], dp: int, clients: int | None) -> tuple[list[list[int]], list[int | None]]:
    """How ``dp`` attention data-parallel ranks share the requests: the indices of each active
    rank's requests and its clients (None for an open loop). The requests are dealt round-robin in
    arrival order (a closed loop: in issue order, the request list's), over the ``A = min(dp, n,
    clients)`` ranks that get any: a stand-in for vLLM's DP load balancer
    (``vllm/v1/engine/core_client.py``: the rank with the lowest ``4 x waiting + running`` count,
    UNVERIFIED against the current source), which deals identical requests arriving together
    round-robin. A closed loop's clients are dealt the same way (rank
    ``r`` gets every ``A``-th client), so the first ``clients`` requests are the ranks' first ones."""
    n = len(requests)
    active = max(1, min(dp, n, clients if clients is not None else n))
    if clients is None:
        order = sorted(range(n), key=lambda i: (requests[i].arrival_s, i))
    else:
        order = list(range(n))
    ranks = [order[r::active] for r in range(active)]
    rank_clients = [None if clients is None else len(range(r, clients, active)) for r in range(active)]
    return ranks, rank_clients


def simulate_dp(d: Deployment, requests: list[Request], *, eff: Efficiencies | None = None,
                admission: str = "greedy", clients: int | None = None,
                cost: StepCost | None = None) -> SimulationResult:
    """Attention data parallelism (``--dp N``): each rank has its own scheduler, token budget,
    ``max_num_seqs`` and KV pool (vLLM ``DPEngineCoreProc``: one engine core per rank; the pool is
    the per-GPU one ``fit`` gives with DP), the requests dealt to them by ``dp_split``. Every rank's
    step is timed by ``StepCost(ranks=A)``: its own tokens through attention and the dense layers,
    ``A x`` its tokens through the routed experts (the ``A`` ranks holding requests step in
    lockstep for the MoE layers; the others run dummy batches, whose token is not counted), and
    the EP all-to-alls of ``perf._layer_comm_s``.

    What this assumes: symmetric ranks -- a rank's step is timed as if its peers carried its own
    token count. Ranks that received identical requests (an offline or closed run of one shape:
    at most two kinds, ``ceil`` and ``floor`` of ``n / A`` requests) are simulated once; ranks whose
    requests differ (Poisson arrivals, length distributions) are each simulated, and the run lasts
    until the slowest rank's last request finishes. Not modelled: the skew between unequal ranks
    (in lockstep the lighter rank waits for the heavier one each step, and the heavier rank's
    experts see fewer tokens from it) -- so unequal ranks' latencies are those of their own
    schedules. Per-request results come back in request order; steps are the longest rank's,
    evaluated steps and preemptions the sums, the KV use the mean over all ``N`` ranks' pools (idle
    ones empty), ``max_running`` the sum of the ranks' peaks."""
    dp = d.data_parallel_size
    ranks, rank_clients = dp_split(requests, dp, clients)
    cost = cost or StepCost(d, eff, ranks=len(ranks))
    done: dict[tuple, tuple[SimulationResult, float]] = {}
    runs = []
    for idx, cl in zip(ranks, rank_clients):
        reqs = [requests[i] for i in idx]
        key = (tuple(reqs), cl)
        if key not in done:
            done[key] = _simulate_rank(cost, reqs, admission, cl)
        runs.append((idx, *done[key]))
    n = len(requests)
    ttft, tpot, e2e = np.zeros(n), np.zeros(n), np.zeros(n)
    for idx, r, _ in runs:
        ttft[idx], tpot[idx], e2e[idx] = r.ttft_s, r.tpot_s, r.e2e_s
    start = min(s for _, _, s in runs)
    span = max(s + r.makespan_s for _, r, s in runs) - start
    util_time = sum(r.kv_utilization_mean * r.makespan_s for _, r, _ in runs)
    return SimulationResult(
        ttft_s=tuple(float(x) for x in ttft), tpot_s=tuple(float(x) for x in tpot), e2e_s=tuple(float(x) for x in e2e),
        makespan_s=span, output_tokens=sum(r.output_tokens for _, r, _ in runs),
        steps=max(r.steps for _, r, _ in runs), evaluated_steps=sum(r.evaluated_steps for _, r, _ in runs),
        preemptions=sum(r.preemptions for _, r, _ in runs),
        kv_utilization_mean=util_time / (dp * span) if span > 0 else 0.0,
        kv_utilization_max=max(r.kv_utilization_max for _, r, _ in runs),
        max_running=sum(r.max_running for _, r, _ in runs))


def dp_assumption(d: Deployment, requests: int, clients: int | None) -> Assumption:
    """The ``attention_data_parallel_simulation`` assumption of a simulated DP run (``simulate_dp``)."""
    dp = d.data_parallel_size
    active = max(1, min(dp, requests, clients if clients is not None else requests))
    return Assumption(
        name="attention_data_parallel_simulation",
        value=f"{dp} ranks each schedule their own requests (own token budget, max_num_seqs, KV pool); the "
              f"requests dealt round-robin in arrival order to {active} rank(s); a step's routed experts see "
              f"{active} x the rank's tokens, ranks in lockstep; symmetric ranks assumed (the skew between ranks "
              "with unequal requests is not modelled: each is simulated on its own, the slowest sets the makespan)",
        source="llamasize.estimate.simulate.simulate_dp (vLLM DPEngineCoreProc: one scheduler per rank)")


def workload(arrival: str, n: int, prompt_tokens: int, output_tokens: int, *, qps: float | None = None,
             seed: int = 0, prompt_sd: float | None = None, output_sd: float | None = None) -> list[Request]:
    """``n`` requests: ``offline`` (all queued at t = 0, as benchmark tables are measured),
    ``closed`` (the same list; ``simulate(clients=...)`` issues them) or ``poisson`` at ``qps``
    requests/s (seeded). A length with a standard deviation (``--prompt-tokens normal:MEAN:SD``)
    is drawn per request from that normal distribution (seeded by ``seed``), rounded and clipped to
    ``[1, length_cap(mean, sd)]``; without one every request has the mean."""
    rng = np.random.default_rng([seed, 1])  # a stream apart from the arrival times'

    def lengths(mean: int, sd: float | None) -> list[int]:
        if not sd:
            return [mean] * n
        drawn = np.rint(rng.normal(mean, sd, size=n))
        return [int(x) for x in np.clip(drawn, 1, length_cap(mean, sd))]

    ps, os_ = lengths(prompt_tokens, prompt_sd), lengths(output_tokens, output_sd)
    times = [0.0] * n if arrival in ("offline", "closed") else poisson_arrivals(n, qps, seed)
    return [Request(t, p, o) for t, p, o in zip(times, ps, os_)]


def length_cap(mean: int, sd: float | None) -> int:
    """Longest length a ``normal:MEAN:SD`` distribution draws: mean + 3 standard deviations
    (rounded up; the tail beyond is clipped, 0.13 % of the draws)."""
    return mean if not sd else int(np.ceil(mean + 3 * sd))


def summarize(r: SimulationResult, *, arrival: str, qps: float | None, seed: int | None,
              admission: str, clients: int | None = None) -> SimulationSummary:
    """The ``simulation`` block of ``perf``: means and percentiles (numpy's linear interpolation)."""
    def dist(name: str, values) -> dict:
        return {f"{name}_mean": mean(values), **{f"{name}_p{p}": percentile(values, p) for p in (50, 90, 99)}}

    return SimulationSummary(
        arrival=arrival, requests=len(r.e2e_s), qps=qps, seed=seed, admission=admission, clients=clients,
        output_tokens_per_s=r.output_tokens_per_s, requests_per_s=r.requests_per_s, makespan_s=r.makespan_s,
        **dist("ttft_s", r.ttft_s), **dist("tpot_s", r.tpot_s), **dist("e2e_s", r.e2e_s),
        kv_utilization=r.kv_utilization_mean, kv_utilization_max=r.kv_utilization_max, preemptions=r.preemptions,
        max_running=r.max_running, steps=r.steps, evaluated_steps=r.evaluated_steps)


def simulated_perf(e: PerfEstimate, d: Deployment, *, eff: Efficiencies | None, prompt_tokens: int,
                   output_tokens: int, arrival: str, requests: int, qps: float | None, seed: int | None,
                   admission: str, clients: int | None, prompt_sd: float | None = None,
                   output_sd: float | None = None) -> PerfEstimate:
    """``perf``'s estimate ``e`` with a simulation of ``requests`` requests of that shape: the
    ``simulation`` block, and the headline fields become its means (throughput, TTFT, TPOT, latency;
    input tokens/s and tokens per GPU-hour from its request rate, as ``perf.estimate_perf`` derives
    them from its steady state). ValueError when a request cannot fit in the KV cache."""
    reqs = workload(arrival, requests, prompt_tokens, output_tokens, qps=qps, seed=seed or 0, prompt_sd=prompt_sd,
                    output_sd=output_sd)
    s = summarize(simulate(d, reqs, eff=eff, admission=admission, clients=clients), arrival=arrival, qps=qps,
                  seed=seed, admission=admission, clients=clients)
    extra = [dp_assumption(d, len(reqs), clients)] if d.data_parallel_size > 1 else []
    steady = Assumption(name="steady_state", value=f"simulated step by step: {s.requests:,} requests, "
                        f"{s.arrival} arrivals, {s.admission} admission, chunked prefill mixed with decodes under "
                        "the engine's token budget", source="llamasize.estimate.simulate")
    in_tps = s.requests_per_s * float(np.mean([r.prompt_tokens for r in reqs]))
    return e.model_copy(update={
        "simulation": s,
        "assumptions": [steady if a.name == "steady_state" else a for a in e.assumptions] + extra,
        "tokens_per_s_per_sequence": 1 / s.tpot_s_mean if s.tpot_s_mean > 0 else None,
        "output_tokens_per_s": s.output_tokens_per_s, "ttft_s": s.ttft_s_mean, "tpot_s": s.tpot_s_mean,
        "requests_per_s": s.requests_per_s, "request_latency_s": s.e2e_s_mean, "input_tokens_per_s": in_tps,
        "tokens_per_gpu_hour": (s.output_tokens_per_s + in_tps) * 3600 / d.gpu_count})


def mean(values) -> float:
    """Arithmetic mean (0 for none)."""
    return float(np.mean(values)) if len(values) else 0.0


def percentile(values, p: float) -> float:
    """The ``p``-th percentile (linear interpolation, numpy's default)."""
    return float(np.percentile(values, p)) if len(values) else 0.0


def poisson_arrivals(n: int, qps: float, seed: int) -> list[float]:
    """``n`` arrival times of a Poisson process of rate ``qps`` (seeded: the same seed, the same
    times), starting at 0."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / qps, size=n)
    gaps[0] = 0.0
    return [float(x) for x in np.cumsum(gaps)]
