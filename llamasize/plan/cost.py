"""Cost model: price per hour, $/1M tokens, and self-hosting vs API break-even.

- **Price per GPU-hour** and **$/1M tokens** at a utilisation ``u`` (fraction of the day the
  deployment serves at the modelled throughput): ``plan.pricing`` (shared with the planner).
- **Capacity** ``= (P + O) x requests/s x 86,400 x u`` tokens per day.
- **Break-even** against an API of blended price ``a`` per token (``(P x in + O x out)/(P + O)``):
  one replica costs ``D = $/h x 24`` per day whatever the volume, the API ``V x a``. They meet at
  ``V* = D / a``. Beyond one replica's capacity the self-hosted cost steps up by ``D`` per replica
  (``ceil(V / capacity) x D``), so if ``V* > capacity`` self-hosting never breaks even: even full,
  each replica costs more per token than the API. At capacity the API costs
  ``capacity x a / D`` times as much (the savings ratio).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.data.hardware import GpuSpec
from llamasize.errors import UsageError
from llamasize.estimate.deployment import Assumption, Deployment, DeploymentHead, ParallelLayoutFields
from llamasize.estimate.perf import PerfEstimate, estimate_perf
from llamasize.estimate.simulate import simulated_perf
from llamasize.estimate.calibration import efficiencies_from
from llamasize.plan.planner import engine_profile_fields, fit_deployment, load_plan_calibration, option_perf, plan
from llamasize.plan.results import engine_of
from llamasize.plan.slo import plan_slo
from llamasize.plan.pricing import SECONDS_PER_DAY, PriceBasis, gpu_hour_price, usd_per_mtok
from llamasize.data.prices import (
    blended_usd_per_mtok, load_api_prices, prices_for_model, reference_prices, usd_for_tokens,
)


class ApiComparison(BaseModel):
    """One API offer against the self-hosted deployment."""

    model_config = ConfigDict(frozen=True)

    provider: str
    api_model: str
    serves: str | None
    reference: bool
    suspect: bool
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    blended_usd_per_mtok: float
    source: str
    break_even_tokens_per_day: float | None
    breaks_even_within_capacity: bool | None
    #: API cost / self-hosted cost when the deployment runs at capacity.
    savings_ratio_at_capacity: float | None
    api_usd_per_day_at_volume: float | None
    cheaper_at_volume: Literal["self-hosted", "api", "equal"] | None


class CostEstimate(ParallelLayoutFields, DeploymentHead):
    """Cost of one self-hosted deployment for a workload, and the APIs it competes with."""

    # fields: DeploymentHead's, ParallelLayoutFields', then these (the docstring is the JSON schema's description)

    model_config = ConfigDict(frozen=True)

    price_kind: str
    usd_per_gpu_hour: float | None
    price_source: str
    usd_per_hour: float | None
    usd_per_day: float | None
    utilization: float
    prompt_tokens: int
    output_tokens: int
    concurrency: int
    ttft_s: float | None
    tpot_s: float | None
    capacity_tokens_per_day: float | None
    capacity_requests_per_day: float | None
    usd_per_mtok_input: float | None
    usd_per_mtok_output: float | None
    usd_per_mtok_blended: float | None
    tokens_per_day: float | None
    replicas_at_volume: int | None
    self_usd_per_day_at_volume: float | None
    apis: list[ApiComparison]
    confidence: str
    assumptions: list[Assumption]
    warnings: list[str]
    unknown: list[str]


def break_even_tokens_per_day(usd_per_day: float, api_usd_per_token: float) -> float:
    """Daily volume at which one replica (``usd_per_day``) costs what the API does: ``D / a``."""
    if api_usd_per_token <= 0:
        raise UsageError("an API price must be positive")
    return usd_per_day / api_usd_per_token


def self_hosted_usd_per_day(volume: float, usd_per_day: float, capacity: float) -> tuple[int, float]:
    """(replicas, cost) to serve ``volume`` tokens/day: ``max(1, ceil(V / capacity)) x D``."""
    replicas = max(1, math.ceil(volume / capacity)) if capacity > 0 else 0
    return replicas, replicas * usd_per_day


def estimate_cost(perf: PerfEstimate, gpu: GpuSpec, basis: PriceBasis, apis: list,
                  tokens_per_day: float | None = None) -> CostEstimate:
    """Cost per hour, per day, per 1M tokens, capacity, and the comparison with each API.

    ``apis`` is a list of ``(provider, ApiModelPrice)`` pairs (``llamasize.data.prices``)."""
    if not 0 < basis.utilization <= 1:
        raise UsageError(f"--utilization must be in (0, 1], got {basis.utilization:g}")
    u = basis.utilization
    per_gpu, source = gpu_hour_price(gpu, basis)
    unknown = list(perf.unknown)
    usd_h = None if per_gpu is None else per_gpu * perf.gpu_count
    usd_day = None if usd_h is None else usd_h * 24
    if per_gpu is None:
        unknown.append(source)
    p, o, b = perf.prompt_tokens, perf.output_tokens, perf.concurrency
    cap = cap_req = None
    if perf.requests_per_s is not None:
        cap_req = perf.requests_per_s * SECONDS_PER_DAY * u
        cap = cap_req * (p + o)
    c_in, c_out, c_blend = usd_per_mtok(usd_h, perf, u)
    replicas = self_at = None
    if tokens_per_day is not None and cap and usd_day is not None:
        replicas, self_at = self_hosted_usd_per_day(tokens_per_day, usd_day, cap)
    comps = []
    for provider, price in apis:
        blended = blended_usd_per_mtok(price, p, o)
        per_token = blended / 1e6
        be = within = ratio = api_at = cheaper = None
        if usd_day is not None:
            be = break_even_tokens_per_day(usd_day, per_token)
            if cap:
                within = be <= cap
                ratio = cap * per_token / usd_day
        if tokens_per_day is not None:
            api_at = usd_for_tokens(price, tokens_per_day * p / (p + o), tokens_per_day * o / (p + o))
            if self_at is not None:
                cheaper = "equal" if math.isclose(api_at, self_at) else ("api" if api_at < self_at else "self-hosted")
        comps.append(ApiComparison(
            provider=provider.name, api_model=price.name, serves=price.serves, reference=price.reference,
            suspect=price.suspect, input_usd_per_mtok=price.input_usd_per_mtok,
            output_usd_per_mtok=price.output_usd_per_mtok, blended_usd_per_mtok=round(blended, 6),
            source=f"{provider.source}, {provider.as_of or 'undated'}", break_even_tokens_per_day=be,
            breaks_even_within_capacity=within, savings_ratio_at_capacity=ratio, api_usd_per_day_at_volume=api_at,
            cheaper_at_volume=cheaper,
        ))
    assumptions = list(perf.assumptions) + [
        Assumption(name="price", value="unknown" if per_gpu is None else f"${per_gpu:,.4g} per GPU-hour", source=source),
        Assumption(name="utilization", value=f"{u:g}", source="--utilization (fraction of the day at the modelled "
                   "throughput; the deployment is paid for 24 h)"),
        Assumption(name="api_blend", value=f"{p:,} input : {o:,} output tokens per request",
                   source="API blended price = (P x input + O x output) / (P + O)"),
    ]
    return CostEstimate(
        model=perf.model, gpu=perf.gpu, gpu_count=perf.gpu_count, tensor_parallel_size=perf.tensor_parallel_size,
        pipeline_parallel_size=perf.pipeline_parallel_size, data_parallel_size=perf.data_parallel_size,
        expert_parallel=perf.expert_parallel, quant=perf.quant,
        kv_cache_dtype=perf.kv_cache_dtype, price_kind=basis.kind if basis.usd_per_gpu_hour is None else "given",
        usd_per_gpu_hour=per_gpu, price_source=source, usd_per_hour=usd_h, usd_per_day=usd_day, utilization=u,
        prompt_tokens=p, output_tokens=o, concurrency=b, ttft_s=perf.ttft_s, tpot_s=perf.tpot_s,
        capacity_tokens_per_day=cap, capacity_requests_per_day=cap_req, usd_per_mtok_input=c_in,
        usd_per_mtok_output=c_out, usd_per_mtok_blended=c_blend, tokens_per_day=tokens_per_day,
        replicas_at_volume=replicas, self_usd_per_day_at_volume=self_at, apis=comps, confidence=perf.confidence,
        assumptions=assumptions, warnings=list(perf.warnings), unknown=unknown,
    )


# -------------------------------------------------------------------------------------- report ---
class ChartSeries(BaseModel):
    """One curve of the cost chart: (tokens/day, USD/day) points."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["line", "step"]
    points: list[tuple[float, float]]


class CostReport(BaseModel):
    """The JSON of ``llamasize cost``: self-hosted options against the APIs."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    prompt_tokens: int
    output_tokens: int
    concurrency: int
    tokens_per_day: float | None
    utilization: float
    price_kind: str
    options: list[CostEstimate]
    #: The cheapest way to serve ``tokens_per_day`` among the options and the APIs (None without a volume).
    cheapest_at_volume: dict | None
    chart: list[ChartSeries]
    chart_range_tokens_per_day: tuple[float, float]
    assumptions: list[Assumption]
    warnings: list[str]


def _decade_floor(v: float) -> float:
    return 10 ** math.floor(math.log10(v))


def _decade_ceil(v: float) -> float:
    return 10 ** math.ceil(math.log10(v))


def chart_apis(apis: list, prompt: int, output: int) -> list:
    """The APIs worth drawing: the cheapest non-suspect API serving the model, plus the references."""
    serving = sorted((pm for pm in apis if not pm[1].reference and not pm[1].suspect),
                     key=lambda pm: (blended_usd_per_mtok(pm[1], prompt, output), pm[0].id, pm[1].id))
    refs = [pm for pm in apis if pm[1].reference]
    return serving[:1] + refs


def chart_series(options: list[CostEstimate], apis: list, x_range: tuple[float, float]) -> list[ChartSeries]:
    """Self-hosted options as steps (``ceil(V / capacity) x D``) and APIs as lines (``V x a``)."""
    lo, hi = x_range
    out = []
    for o in options:
        if not o.capacity_tokens_per_day or o.usd_per_day is None:
            continue
        cap, day = o.capacity_tokens_per_day, o.usd_per_day
        r = max(1, math.ceil(lo / cap))
        if r * cap <= lo:  # lo sits exactly on a replica boundary: just above it one more is needed
            r += 1
        pts = [(lo, r * day)]
        while r * cap < hi and r < 10_000:
            pts.append((r * cap, (r + 1) * day))
            r += 1
        pts.append((hi, r * day))
        name = f"self-hosted: {o.gpu_count} x {o.gpu}, {o.quant}"
        out.append(ChartSeries(name=name, kind="step", points=pts))
    for provider, price in apis:
        a = blended_usd_per_mtok(price, options[0].prompt_tokens, options[0].output_tokens) / 1e6 if options else 0
        if a <= 0:
            continue
        out.append(ChartSeries(name=f"API: {provider.name}, {price.name}", kind="line",
                               points=[(lo, lo * a), (hi, hi * a)]))
    return out


def cost_report(model_id: str, options: list[CostEstimate], apis: list, *, tokens_per_day: float | None,
                utilization: float, price_kind: str, engine: Assumption | None = None) -> CostReport:
    """Assemble the report: options, the cheapest choice at the given volume, and the chart."""
    if not options:
        raise UsageError("no self-hosted option to compare")
    p, o = options[0].prompt_tokens, options[0].output_tokens
    cheapest = None
    if tokens_per_day is not None:
        cands = []
        for opt in options:
            if opt.self_usd_per_day_at_volume is not None:
                cands.append((opt.self_usd_per_day_at_volume, "self-hosted",
                              f"{opt.replicas_at_volume} x ({opt.gpu_count} x {opt.gpu}, {opt.quant})"))
        for provider, price in apis:
            if price.suspect:  # a price the facts doubt never wins a comparison
                continue
            cands.append((usd_for_tokens(price, tokens_per_day * p / (p + o), tokens_per_day * o / (p + o)), "api",
                          f"{provider.name} {price.name}"))
        if cands:
            usd, kind, name = min(cands, key=lambda c: (c[0], c[1], c[2]))
            cheapest = {"kind": kind, "name": name, "usd_per_day": usd}
    marks = [v for v in [tokens_per_day] if v]
    for opt in options:
        if opt.capacity_tokens_per_day:
            marks.append(opt.capacity_tokens_per_day)
        for a in opt.apis:
            if a.break_even_tokens_per_day:
                marks.append(a.break_even_tokens_per_day)
    lo = max(1e5, min(_decade_floor(min(marks)) if marks else 1e6, 1e6))
    hi = min(1e13, max(_decade_ceil(max(marks) * 3) if marks else 1e10, 1e9))
    series = chart_series(options, chart_apis(apis, p, o), (lo, hi))
    return CostReport(
        model=model_id, prompt_tokens=p, output_tokens=o, concurrency=options[0].concurrency,
        tokens_per_day=tokens_per_day, utilization=utilization, price_kind=price_kind, options=options,
        cheapest_at_volume=cheapest, chart=series, chart_range_tokens_per_day=(lo, hi),
        assumptions=[a for a in options[0].assumptions if not engine or a.name != "engine"] + ([engine] if engine else []),
        warnings=sorted({w for opt in options for w in opt.warnings}),
    )


def _api_prices(req, reg, all_references: bool) -> list:
    """Every API price for the model at the request's prompt / output lengths, then the frontier
    references (``prices``), as ``cost`` compares them."""
    p, o = req.prompt_tokens, req.output_tokens
    providers = load_api_prices(reg.catalog_dirs)
    return (prices_for_model(providers, req.model.id, p, o, min_input_tokens=p)
            + reference_prices(providers, include_optional=all_references))


def _best_per_gpu_type(res) -> list:
    """The first (best) option of each GPU type among a plan's recommendation and alternatives."""
    picked, seen = [], set()
    for x in [res.recommendation, *res.alternatives]:
        if x is not None and x.gpu not in seen:
            seen.add(x.gpu)
            picked.append(x)
    return picked


def compare_costs(req, reg, basis: PriceBasis, *, tokens_per_day: float | None = None, options: int = 3,
                  all_references: bool = False):
    """``llamasize cost``: the planner's best option per GPU type (objective cost-per-token),
    each priced and compared with every API serving the model and the frontier references.
    Returns ``(report, plan)``; the report is None when nothing fits (the plan says why)."""
    cals = load_plan_calibration(req)  # read once for the plan and every option's speed
    res = plan(req, reg, cals)
    apis = _api_prices(req, reg, all_references)
    picked = _best_per_gpu_type(res)
    if not picked:
        return None, res
    estimates = []
    for opt in picked[:options]:
        d = fit_deployment(opt, req, reg)
        estimates.append(estimate_cost(option_perf(req, d, cals), d.gpu, basis, apis, tokens_per_day=tokens_per_day))
    return cost_report(req.model.id, estimates, apis, tokens_per_day=tokens_per_day, utilization=basis.utilization,
                       price_kind=basis.kind, engine=engine_of(req)), res


# ------------------------------------------------------------------------------ SLO operating point ---
def compare_costs_slo(sreq, reg, basis: PriceBasis, *, tokens_per_day: float | None = None, options: int = 3,
                      all_references: bool = False):
    """``llamasize cost --max-ttft/--max-tpot --qps``: price the SLO-feasible operating point instead of a
    fixed concurrency. The SLO search (``plan.slo.plan_slo``) picks each deployment's replicas and
    concurrency cap; each option (the best point per GPU type) is priced from a simulation of one
    replica at its share of the load, so its capacity is the load it serves within the targets.
    Returns ``(report, slo_plan)``; the report is None when no point meets the targets."""
    req = sreq.plan
    cals = load_plan_calibration(req)
    res = plan_slo(sreq, reg, cals)
    p, o = req.prompt_tokens, req.output_tokens
    apis = _api_prices(req, reg, all_references)
    picked = _best_per_gpu_type(res)
    estimates = []
    for x in picked[:options]:
        gpu = reg.gpu(x.gpu)
        d = replace(fit_deployment_of(x, req, gpu), max_num_seqs=x.max_num_seqs)
        eff = efficiencies_from(cals, gpu)
        e = estimate_perf(d, prompt_tokens=p, output_tokens=o, concurrency=max(1, x.simulation.max_running), eff=eff)
        e = simulated_perf(e, d, eff=eff, prompt_tokens=p, output_tokens=o, arrival="poisson", requests=sreq.requests,
                           qps=x.qps_per_replica, seed=sreq.seed, admission="greedy", clients=None)
        point = Assumption(
            name="operating_point", value=f"SLO-feasible: {sreq.percentile} TTFT {x.ttft_s:.4g} s, TPOT "
            f"{x.tpot_s:.4g} s at {x.qps_per_replica:,.4g} requests/s per replica, max_num_seqs {x.max_num_seqs}, "
            f"{x.replicas} replica(s) for {sreq.qps:,.4g} requests/s", source="--max-ttft/--max-tpot (llamasize.plan.slo)")
        e = e.model_copy(update={"assumptions": [*e.assumptions, point]})
        estimates.append(estimate_cost(e, gpu, basis, apis, tokens_per_day=tokens_per_day))
    if not estimates:
        return None, res
    return cost_report(req.model.id, estimates, apis, tokens_per_day=tokens_per_day, utilization=basis.utilization,
                       price_kind=basis.kind, engine=engine_of(req)), res


def fit_deployment_of(x, req, gpu: GpuSpec):
    """The Deployment of an SLO option (same settings as the plan request)."""
    return Deployment(
        model=req.model, gpu=gpu, gpu_count=x.gpu_count, quant=x.quant, context_tokens=req.context_tokens,
        tensor_parallel_size=x.tensor_parallel_size, pipeline_parallel_size=x.pipeline_parallel_size,
        expert_parallel=x.expert_parallel, data_parallel_size=x.data_parallel_size, kv_cache_dtype=x.kv_cache_dtype,
        batch=req.batch, engine=req.engine,
        kv_layout=req.kv_layout, gpu_memory_utilization=req.gpu_memory_utilization,
        mem_fraction_static=req.mem_fraction_static, include_vision=req.include_vision, **engine_profile_fields(req))
