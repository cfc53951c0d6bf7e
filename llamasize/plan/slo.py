"""SLO-driven planning: the cheapest deployment x replicas x concurrency cap that meets latency
targets at a load (issue 12 item 4, ``plan --max-ttft/--max-tpot --qps``).

What is searched, and how:

- **Candidates**: the memory-feasible deployments of the planner's own search (``planner.search``
  with the ``headroom`` objective, which keeps the best layout at *every* fitting GPU count of each
  GPU type x format x KV dtype, not only the smallest: a larger TP lowers latency), and beside each
  the attention data-parallel layouts of its GPU count that fit (``dp_variants``: DP x EP for MoE
  models, simulated rank by rank by ``estimate.simulate.simulate_dp``).
- **Load**: the deployment's mean rate ``qps`` (``--requests-per-day N`` is ``N / 86,400`` requests/s:
  a mean rate, no peak factor) is split evenly over ``replicas`` identical replicas; each replica is
  simulated alone with Poisson arrivals at ``qps / replicas`` (seeded; ``requests`` requests per
  attention DP rank, more when that is shorter than ``HORIZON`` x the requests in the system) by the
  continuous-batching simulator (``estimate.simulate``). A point meets the SLO when its simulated
  TTFT and TPOT at the percentile (default p90) are within the targets and its load is stable: at
  most the rate the replica completes requests at when saturated at that cap (``saturated_rps``; a
  finite run of an overloaded queue can look fine, the steady state cannot exist).
- **Concurrency cap** (vLLM ``max_num_seqs``): for each replica count the caps ``CAPS`` (the engine
  default first, then smaller ones) are tried in a fixed order; the first that meets the targets is taken.
  A cap at least as large as the sequences the last one ever ran, without preemption or a full pool, is
  skipped: it would run the same steps; once a cap misses the TTFT target, smaller caps are not tried
  (a smaller cap only lengthens the queue).
- **Bounds, then simulation**: candidates are visited in the order of the objective at one replica.
  A candidate stops being searched when (1) one request alone already misses a target (its latency
  can only grow with load), or (2) the objective at its next replica count is no better than the best
  point found. The replica count starts at ``floor(0.8 x qps / capacity)`` (capacity: the replica's
  simulated offline throughput in requests/s at the default cap; the 0.8 keeps the start below the
  answer when the offline run underestimates the sustained rate) and grows by one, or by 10 % once
  that is larger, up to ``REPLICA_SPAN`` x the start + 16 (at most ``MAX_REPLICAS``). Simulations are
  cached per (candidate, cap, replicas).

Why "tightening a target never returns a cheaper plan": the candidate order, the replica sequence,
the caps and their order and the bounds' arithmetic do not depend on the target values; the targets
enter only as "this simulated point misses", which stops the search of points after it (one request
alone misses: the candidate; a cap misses TTFT: the smaller caps) or moves it to the next point. A
point that misses a looser target misses the tighter one, so whatever the looser search skips the
tighter one skips too, and each candidate's first meeting point under the looser targets comes no
later in the same sequence; the objective's bound only discards points no better than one found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from llamasize.data.registry import Registry
from llamasize.errors import UnknownValueError, UsageError
from llamasize.estimate.calibration import CalibrationFile, efficiencies_from
from llamasize.estimate.deployment import Assumption, Deployment
from llamasize.estimate.memory import quick_fit
from llamasize.estimate.simresult import SimulationSummary
from llamasize.estimate.simulate import Request, simulate, summarize, workload
from llamasize.plan.planner import (
    DEFAULT_MAX_NODES, PlanRequest, dp_layouts, load_plan_calibration, price_for, search, select_gpus,
    validate_request,
)
from llamasize.plan.pricing import SECONDS_PER_DAY
from llamasize.plan.results import SloOption, SloPlanResult, SloTargets, engine_of, request_summary
from llamasize.text import quote_value

PERCENTILES = ("p50", "p90", "p99")
#: The percentile the targets apply to when ``--slo-percentile`` is not given (a choice, stated in the output).
DEFAULT_PERCENTILE = "p90"
#: Requests simulated per replica and point (few hundred: the p99 of 200 requests rests on two of them).
DEFAULT_SLO_REQUESTS = 200
DEFAULT_SLO_SEED = 0
#: Objectives an SLO plan ranks by: total $/h, total GPUs; cost-per-token is total $/h at a fixed load.
SLO_OBJECTIVES = ("cost", "gpus", "cost-per-token")
#: Concurrency caps tried below the engine's default ``max_num_seqs``, in this order.
CAPS = (64, 16)
MAX_REPLICAS = 1024
#: The replicas of a candidate are searched from the start r up to REPLICA_SPAN x r + 16 (at most MAX_REPLICAS).
REPLICA_SPAN = 8
#: A run whose KV use peaked at or above this fraction of the pool may have been shaped by it.
POOL_FULL = 0.98
#: The replica count starts at floor(START_FRACTION x qps / offline capacity).
START_FRACTION = 0.8
#: A point's run covers at least HORIZON x the requests in the system (Little's law: rate x mean latency), so
#: the queue and the batch reach their steady state; a shorter run is repeated that long (at most
#: MAX_HORIZON_FACTOR x the requests asked for).
HORIZON = 4
MAX_HORIZON_FACTOR = 20


@dataclass(frozen=True)
class SloRequest:
    """An SLO-driven plan: the plan request (model, context, GPUs, format, ...) plus targets and load."""

    plan: PlanRequest
    qps: float
    max_ttft_s: float | None = None
    max_tpot_s: float | None = None
    percentile: str = DEFAULT_PERCENTILE
    requests_per_day: float | None = None
    requests: int = DEFAULT_SLO_REQUESTS
    seed: int = DEFAULT_SLO_SEED


def qps_from_requests_per_day(n: float) -> float:
    """Mean arrival rate of ``n`` requests a day: ``n / 86,400`` requests/s (no peak factor)."""
    return n / SECONDS_PER_DAY


def validate_slo(sreq: SloRequest) -> None:
    """UsageError for targets or a load no search can use."""
    validate_request(sreq.plan)
    if sreq.max_ttft_s is None and sreq.max_tpot_s is None:
        raise UsageError("an SLO plan needs --max-ttft or --max-tpot (or both)")
    if sreq.percentile not in PERCENTILES:
        raise UsageError(f"unknown --slo-percentile {quote_value(sreq.percentile)} (choices: {', '.join(PERCENTILES)})")
    if sreq.plan.objective not in SLO_OBJECTIVES:
        raise UsageError(f"--objective {sreq.plan.objective} does not rank SLO plans (choices with --max-ttft/"
                         f"--max-tpot: {', '.join(SLO_OBJECTIVES)})")
    if not (sreq.qps > 0 and math.isfinite(sreq.qps)):
        raise UsageError(f"the load must be a positive rate, got {sreq.qps:g} requests/s")
    p = sreq.plan
    if p.prompt_tokens + p.output_tokens > p.context_tokens:
        raise UsageError(f"--ctx ({p.context_tokens:,}) is shorter than prompt + output "
                         f"({p.prompt_tokens + p.output_tokens:,} tokens)")
    if sreq.requests < 1:
        raise UsageError("the SLO simulation needs at least one request")


# ------------------------------------------------------------------------------------ search ---
@dataclass
class _Cand:
    index: int
    deployment: Deployment
    price: float | None
    source: str | None
    default_cap: int
    eff: object
    best: SloOption | None = None


@dataclass
class _State:
    sims: int = 0
    pruned: int = 0
    best_key: tuple | None = None
    nearest: tuple | None = None  # (worst ratio, key, option)
    cache: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _metric(s: SimulationSummary, kind: str, pct: str) -> float:
    return float(getattr(s, f"{kind}_s_{pct}"))


def _fmt_s(v: float) -> str:
    return f"{v * 1000:,.3g} ms" if v < 1 else f"{v:,.3g} s"


def _miss(sreq: SloRequest, ttft: float, tpot: float) -> tuple[float, str | None]:
    """(worst ratio of latency to target, the first missed target as text or None)."""
    ratios, text = [], None
    pct = sreq.percentile
    for name, value, target in (("TTFT", ttft, sreq.max_ttft_s), ("TPOT", tpot, sreq.max_tpot_s)):
        if target is None:
            continue
        ratios.append(value / target)
        if value > target and text is None:
            text = f"{pct} {name} {_fmt_s(value)} > {_fmt_s(target)}"
    return max(ratios), text


def _key(objective: str, c: _Cand, replicas: int) -> tuple:
    """Objective order of a point (smaller is better); increasing in ``replicas`` for a candidate."""
    no_price = c.price is None
    usd = (c.price or 0.0) * replicas
    gpus = c.deployment.gpu_count * replicas
    if objective == "gpus":
        return (gpus, no_price, usd, c.index)
    return (no_price, usd, gpus, c.index)


def _unbound(o: SloOption) -> int | None:
    """The most sequences the point ever ran, when nothing but arrivals limited them (no preemption,
    the KV pool never full): a smaller cap that is still at least that many runs the same steps (a
    smaller cap only enlarges the pool: a smaller sampler peak), so its result is the same and need
    not be simulated. None when the pool or preemption shaped the run."""
    s = o.simulation
    if s.preemptions or s.kv_utilization_max >= POOL_FULL:
        return None
    return s.max_running


def _describe(o: SloOption) -> str:
    ep = " EP" if o.expert_parallel else ""
    dp = f"DP{o.data_parallel_size} " if o.data_parallel_size > 1 else ""
    return (f"{o.replicas} x ({o.gpu_count} x {o.gpu}, {dp}TP{o.tensor_parallel_size} PP{o.pipeline_parallel_size}{ep}, "
            f"{o.quant}, max_num_seqs {o.max_num_seqs})")


class _Search:
    """The search of one SLO request (module docstring)."""

    def __init__(self, sreq: SloRequest, st: _State) -> None:
        self.sreq, self.st = sreq, st
        p = sreq.plan
        self.prompt, self.output = p.prompt_tokens, p.output_tokens

    def _run(self, c: _Cand, cap: int, reqs: list[Request], qps: float | None) -> SimulationSummary:
        """Simulate one replica with this cap: Poisson arrivals at ``qps`` (None: all at t = 0)."""
        r = simulate(replace(c.deployment, max_num_seqs=cap), reqs, eff=c.eff)
        self.st.sims += 1
        if qps is None:
            return summarize(r, arrival="offline", qps=None, seed=None, admission="greedy")
        return summarize(r, arrival="poisson", qps=qps, seed=self.sreq.seed, admission="greedy")

    def point(self, c: _Cand, cap: int, replicas: int) -> SloOption:
        """The simulated point (cached): one replica at qps / replicas with this cap. A load above the
        replica's saturated rate at this cap (``saturated_rps``) misses whatever the finite run shows."""
        key = (c.index, cap, replicas)
        if key in self.st.cache:
            return self.st.cache[key]
        q = self.sreq.qps / replicas
        n = self.sreq.requests * c.deployment.data_parallel_size  # every attention DP rank sees `requests`
        most = MAX_HORIZON_FACTOR * n
        saturated = self.saturated_rps(c, cap)
        s = self._poisson(c, cap, n, q)
        # Little's law: q x mean latency requests are in the system; a run shorter than HORIZON x that has not
        # reached the steady state, so it is run again at least twice as long (at most `most` requests). Not an
        # unstable load: it misses anyway, and its latency grows with the run, so the reruns would reach `most`.
        while q <= saturated and n < most and n < HORIZON * q * s.e2e_s_mean:
            n = min(most, max(math.ceil(HORIZON * q * s.e2e_s_mean), 2 * n))
            s = self._poisson(c, cap, n, q)
        o = self._option(c, cap, replicas, q, s, saturated)
        self.st.cache[key] = o
        return o

    def _poisson(self, c: _Cand, cap: int, n: int, q: float) -> SimulationSummary:
        reqs = workload("poisson", n, self.prompt, self.output, qps=q, seed=self.sreq.seed)
        return self._run(c, cap, reqs, q)

    def saturated_rps(self, c: _Cand, cap: int) -> float:
        """Requests/s one replica completes while requests wait, at this cap (cached): an offline run of
        ``max(requests, 2 x cap)`` requests per attention DP rank, counted from its first finish to the
        moment its last request got its first token (from then on nothing waits, and the batch only
        drains). A Poisson load above this rate is unstable -- its queue grows without bound (a queue
        is stable only when arrivals are slower than service) -- however well a run of a few hundred
        requests looks, so such a point misses."""
        key = ("saturated", c.index, cap)
        if key not in self.st.cache:
            n = max(self.sreq.requests, 2 * cap) * c.deployment.data_parallel_size
            reqs = workload("offline", n, self.prompt, self.output)
            r = simulate(replace(c.deployment, max_num_seqs=cap), reqs, eff=c.eff)
            self.st.sims += 1
            self.st.cache[key] = saturated_rate(r.ttft_s, r.e2e_s)
        return self.st.cache[key]

    def _option(self, c: _Cand, cap: int, replicas: int, q: float, s: SimulationSummary,
                saturated: float | None = None) -> SloOption:
        pct = self.sreq.percentile
        ttft, tpot = _metric(s, "ttft", pct), _metric(s, "tpot", pct)
        ratio, miss = _miss(self.sreq, ttft, tpot)
        if saturated is not None and q > saturated:  # unstable: the queue grows without bound
            ratio = max(ratio, q / saturated) if saturated > 0 else math.inf
            miss = (f"load {q:,.3g} requests/s per replica above the {saturated:,.3g} it completes when saturated "
                    f"at max_num_seqs {cap}")
        d = c.deployment
        total = None if c.price is None else round(c.price * replicas, 4)
        served = (self.prompt + self.output) * q * replicas * 3600 / 1e6  # million tokens per hour
        o = SloOption(
            gpu=d.gpu.id, gpu_count=d.gpu_count, nodes=-(-d.gpu_count // d.gpu.gpus_per_node),
            tensor_parallel_size=d.tensor_parallel_size or 1, pipeline_parallel_size=d.pipeline_parallel_size,
            expert_parallel=d.expert_parallel, data_parallel_size=d.data_parallel_size, quant=d.quant, kv_cache_dtype=d.kv_cache_dtype, kv_layout=d.kv_layout,
            engine=d.engine, replicas=replicas, max_num_seqs=cap, qps_per_replica=q, price_usd_per_hour=c.price,
            total_usd_per_hour=total, price_source=c.source,
            usd_per_mtok_blended=None if total is None or served <= 0 else total / served,
            ttft_s=ttft, tpot_s=tpot, meets=miss is None, miss=miss, simulation=s)
        near = (ratio, _key(self.sreq.plan.objective, c, replicas), o)
        if miss is not None and (self.st.nearest is None or near[:2] < self.st.nearest[:2]):
            self.st.nearest = near
        return o

    def alone(self, c: _Cand) -> SloOption:
        """One request alone at the default cap: the latency floor of the candidate."""
        s = self._run(c, c.default_cap, [Request(0.0, self.prompt, self.output)], None)
        return self._option(c, c.default_cap, 1, 0.0, s)

    def capacity_rps(self, c: _Cand) -> float:
        """Offline throughput of one replica at the default cap (requests/s)."""
        dp = c.deployment.data_parallel_size  # each attention DP rank runs up to the cap
        n = min(self.sreq.requests * dp, max(2 * c.default_cap * dp, 32))
        reqs = workload("offline", n, self.prompt, self.output)
        return self._run(c, c.default_cap, reqs, None).requests_per_s

    def candidate(self, c: _Cand) -> None:
        """Search one candidate: replicas from the capacity bound up, caps in order (module docstring)."""
        objective, st = self.sreq.plan.objective, self.st
        if st.best_key is not None and _key(objective, c, 1) >= st.best_key:
            st.pruned += 1
            return
        try:
            floor = self.alone(c)
            if not floor.meets:
                st.pruned += 1
                return
            cap_rps = self.capacity_rps(c)
            r = max(1, math.floor(START_FRACTION * self.sreq.qps / cap_rps)) if cap_rps > 0 else 1
            caps = [c.default_cap] + [x for x in CAPS if x < c.default_cap]
            budget = self.sreq.plan.budget_usd_per_hour
            last = min(MAX_REPLICAS, REPLICA_SPAN * r + 16)
            while r <= last:
                if st.best_key is not None and _key(objective, c, r) >= st.best_key:
                    return
                if budget is not None and (c.price is None or c.price * r > budget):
                    return  # --budget is for all the replicas
                bound = None  # running sequences of the last simulated cap, when the cap never bound
                for cap in caps:
                    if bound is not None and cap >= bound:
                        continue  # the same run as the last cap's (see _unbound)
                    o = self.point(c, cap, r)
                    if o.meets:
                        c.best = o
                        st.best_key = _key(objective, c, r)
                        return
                    bound = _unbound(o)
                    if self.sreq.max_ttft_s is not None and o.ttft_s > self.sreq.max_ttft_s:
                        break  # a smaller cap only lengthens the queue: TTFT misses at this load
                r = max(r + 1, math.ceil(r * 1.1))
        except ValueError as err:  # a request the KV cache cannot hold even alone
            st.pruned += 1
            st.warnings.append(f"{c.deployment.gpu_count} x {c.deployment.gpu.id} {c.deployment.quant}: {err}")


def _candidates(req: PlanRequest, reg: Registry, cals: CalibrationFile) -> tuple[list[_Cand], str]:
    """Every memory-feasible deployment the planner finds (best layout per GPU count) and the DP
    layouts beside them (``dp_variants``, after them on ties), ordered by the objective at one replica."""
    gpus, _ = select_gpus(req, reg)
    wide = replace(req, objective="headroom")
    if req.max_nodes is None:
        res, note = search(wide, gpus, req.max_gpus, 1, calibrations=cals), "one node"
        if not res.best:
            res = search(wide, gpus, req.max_gpus, DEFAULT_MAX_NODES, calibrations=cals)
            note = f"nothing fits in one node, so up to {DEFAULT_MAX_NODES} nodes"
    else:
        res, note = search(wide, gpus, req.max_gpus, req.max_nodes, calibrations=cals), f"up to {req.max_nodes} node(s)"
    base = [b.deployment for b in sorted(res.best)]
    seen = {_layout(d) for d in base}
    extra = [v for d in base for v in dp_variants(req, d) if _layout(v) not in seen]
    out = []
    for i, d in enumerate(base + list({_layout(v): v for v in extra}.values())):
        price, source = price_for(d.gpu, d.gpu_count, req.price_basis)
        _, _, s, _ = quick_fit(d)
        if req.budget_usd_per_hour is not None and (price is None or price > req.budget_usd_per_hour):
            continue
        out.append(_Cand(i, d, price, source, s.max_seqs, efficiencies_from(cals, d.gpu)))
    out.sort(key=lambda c: _key(req.objective, c, 1))
    for i, c in enumerate(out):
        c.index = i
    return out, note


def saturated_rate(first_token_s, finish_s) -> float:
    """Completions per second of an offline run (every request queued at t = 0) between its first
    finish and the last first token -- the window in which the queue is never empty. When there is no
    such window (everything ran in one wave) the run's overall rate: requests / makespan."""
    first, finish = sorted(first_token_s), sorted(finish_s)
    if not finish:
        return 0.0
    t0, t1 = finish[0], first[-1]
    done = sum(1 for t in finish if t0 < t <= t1)
    if t1 > t0 and done >= 2:
        return done / (t1 - t0)
    return len(finish) / finish[-1] if finish[-1] > 0 else math.inf


def _layout(d: Deployment) -> tuple:
    return (d.gpu.id, d.gpu_count, d.quant, d.kv_cache_dtype, d.tensor_parallel_size, d.pipeline_parallel_size,
            d.data_parallel_size, d.expert_parallel)


def dp_variants(req: PlanRequest, d: Deployment) -> list[Deployment]:
    """The attention data-parallel layouts (``planner.dp_layouts`` ``for_speed``: every MoE model whose
    experts split evenly over the ranks) of ``d``'s GPU type, count, format and KV dtype, with and without EP, that fit
    at the request's headroom. The planner's search keeps one layout per GPU count (the most
    headroom, or the cheapest), where a DP layout rarely wins although it holds and serves more
    sequences; the SLO search and the frontier simulate these beside it."""
    out = []
    for tp, pp, dp in dp_layouts(req.model, d.gpu, d.gpu_count, for_speed=True):
        for ep in (True, False):  # EP first: on a tie the layout vLLM documents for DP (--enable-expert-parallel)
            v = replace(d, tensor_parallel_size=tp, pipeline_parallel_size=pp, data_parallel_size=dp,
                        expert_parallel=ep)
            if _layout(v) != _layout(d) and quick_fit(v, req.headroom)[0]:
                out.append(v)
    return out


def plan_slo(sreq: SloRequest, reg: Registry, calibrations: CalibrationFile | None = None) -> SloPlanResult:
    """The best point meeting the targets (module docstring); ``recommendation`` None when none does."""
    validate_slo(sreq)
    req = sreq.plan
    cals = calibrations if calibrations is not None else load_plan_calibration(req)
    cands, note = _candidates(req, reg, cals)
    st = _State()
    searcher = _Search(sreq, st)
    for c in cands:
        try:
            searcher.candidate(c)
        except UnknownValueError as err:
            st.pruned += 1
            st.warnings.append(f"{c.deployment.gpu.id}: cannot simulate ({err})")
    found = sorted((c for c in cands if c.best is not None), key=lambda c: _key(req.objective, c, c.best.replicas))
    rec = found[0].best if found else None
    nearest = None if rec is not None or st.nearest is None else st.nearest[2]
    text = None
    if nearest is not None:
        alone = " (one request alone)" if nearest.qps_per_replica == 0 else ""
        text = f"nearest miss: {_describe(nearest)}{alone} {nearest.miss}"
    slo = SloTargets(max_ttft_s=sreq.max_ttft_s, max_tpot_s=sreq.max_tpot_s, percentile=sreq.percentile,
                     qps=sreq.qps, requests_per_day=sreq.requests_per_day,
                     load_source="--qps" if sreq.requests_per_day is None else
                     "--requests-per-day / 86,400 s (mean rate, no peak factor)",
                     requests=sreq.requests, seed=sreq.seed)
    summary = request_summary(req)
    assumptions = [
        Assumption(name="slo_percentile", value=sreq.percentile,
                   source="--slo-percentile" if sreq.percentile != DEFAULT_PERCENTILE else "default (p90)"),
        Assumption(name="load", value=f"{sreq.qps:,.4g} requests/s in total, split evenly over the replicas "
                   "(Poisson arrivals per replica)", source=slo.load_source),
        Assumption(name="simulation", value=f"{sreq.requests} requests of {req.prompt_tokens:,} + "
                   f"{req.output_tokens:,} tokens per replica (per attention DP rank), more when that is under "
                   f"{HORIZON} x the requests in the system (rate x mean latency), seed {sreq.seed}; percentiles "
                   "over all of them; a load above what the replica completes when saturated misses",
                   source="llamasize.estimate.simulate (continuous batching, greedy admission)"),
        Assumption(name="search", value=f"candidates: the planner's fitting deployments ({note}); concurrency caps: "
                   f"the engine default, then {', '.join(map(str, CAPS))}; replicas from "
                   f"{START_FRACTION} x qps / offline capacity up", source="llamasize.plan.slo"),
        engine_of(req),
    ]
    return SloPlanResult(
        model=req.model.id, model_name=req.model.name, request=summary, slo=slo, recommendation=rec,
        alternatives=[c.best for c in found[1: 1 + req.alternatives]], nearest_miss=nearest, nearest_miss_text=text,
        candidates=len(cands), candidates_pruned=st.pruned, simulations=st.sims, assumptions=assumptions,
        warnings=sorted(set(st.warnings)))
