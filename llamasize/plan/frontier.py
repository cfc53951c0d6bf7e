"""The throughput-latency frontier (``llamasize frontier``, issue 12 item 4): output tokens/s per GPU
against output tokens/s per user, one curve per candidate deployment.

For each candidate (the planner's smallest fitting deployment per GPU type x format x KV dtype and
beside it the attention data-parallel layouts of its GPU count that fit, ``plan.slo.dp_variants``,
or the one deployment given with ``--gpus/--tp/--pp/--dp``) the concurrency is swept over 1, 2, 4, ... up to
what the KV cache holds at prompt + output tokens (at most ``MAX_FRONTIER_CONCURRENCY``); each point
is a closed-loop simulation (``estimate.simulate``, ``clients`` = the concurrency, the engine's
``max_num_seqs`` set to it) of ``max(4 x concurrency, 32)`` requests. A point's

- tokens/s per user = 1 / mean TPOT (the decode speed one user sees), and
- tokens/s per GPU = simulated output tokens/s / GPUs in the deployment.

The frontier of a curve keeps the Pareto-optimal points: sorted by tokens/s per user (highest
first), a point is kept only when its tokens/s per GPU is higher than every point before it, so on
a curve more tokens/s per user never comes with more tokens/s per GPU (monotone by construction).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.data.registry import Registry
from llamasize.errors import UnknownValueError, UsageError
from llamasize.estimate.calibration import efficiencies_from
from llamasize.estimate.deployment import Assumption, Deployment, OmitsSingleRank
from llamasize.estimate.memory import quick_fit
from llamasize.estimate.simulate import simulate, summarize, workload
from llamasize.plan.planner import PlanRequest, load_plan_calibration, price_for, search, select_gpus, validate_request
from llamasize.plan.results import engine_of
from llamasize.plan.slo import dp_variants

#: Largest concurrency swept by default (a simulation of 4 x 1,024 requests is the slowest point).
MAX_FRONTIER_CONCURRENCY = 1024
#: Requests per point: this many per concurrent client, at least ``MIN_FRONTIER_REQUESTS``.
REQUESTS_PER_CLIENT = 4
MIN_FRONTIER_REQUESTS = 32
#: Curves drawn when the planner proposes the candidates (the best ones by price).
DEFAULT_CURVES = 6


class FrontierPoint(BaseModel):
    """One simulated concurrency of a curve."""

    model_config = ConfigDict(frozen=True)

    concurrency: int
    tokens_per_s_per_user: float
    tokens_per_s_per_gpu: float
    output_tokens_per_s: float
    ttft_s_mean: float
    tpot_s_mean: float
    preemptions: int


class FrontierCurve(OmitsSingleRank):
    """One deployment: every swept point and its Pareto frontier."""

    model_config = ConfigDict(frozen=True)

    name: str
    gpu: str
    gpu_count: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel: bool
    #: Attention data-parallel ranks (``Deployment.data_parallel_size``); left out of the JSON when 1.
    data_parallel_size: int = 1
    quant: str
    kv_cache_dtype: str
    price_usd_per_hour: float | None
    #: Sequences of prompt + output tokens the KV cache holds (the sweep's upper end before the cap).
    kv_max_concurrency: int
    points: list[FrontierPoint]
    #: The Pareto-optimal points, tokens/s per user descending (tokens/s per GPU ascending).
    frontier: list[FrontierPoint]


class FrontierResult(BaseModel):
    """The JSON of ``llamasize frontier``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    prompt_tokens: int
    output_tokens: int
    curves: list[FrontierCurve]
    assumptions: list[Assumption]
    warnings: list[str]


@dataclass(frozen=True)
class FrontierRequest:
    """What to draw: the plan request (model, context, GPUs, formats, prompt/output lengths), an
    optional fixed deployment, the sweep's upper end and the requests per point."""

    plan: PlanRequest
    deployment: Deployment | None = None
    max_concurrency: int | None = None
    requests: int | None = None
    curves: int = DEFAULT_CURVES


def pareto(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """The Pareto-optimal points (module docstring): per-user descending, per-GPU strictly ascending."""
    out: list[FrontierPoint] = []
    for p in sorted(points, key=lambda p: (-p.tokens_per_s_per_user, -p.tokens_per_s_per_gpu, p.concurrency)):
        if not out or p.tokens_per_s_per_gpu > out[-1].tokens_per_s_per_gpu:
            if out and p.tokens_per_s_per_user == out[-1].tokens_per_s_per_user:
                continue  # same speed per user, less per GPU is dominated (sorted: the better one came first)
            out.append(p)
    return out


def concurrencies(limit: int) -> list[int]:
    """1, 2, 4, ... below ``limit``, and ``limit`` itself."""
    out, c = [], 1
    while c < limit:
        out.append(c)
        c *= 2
    return out + [limit]


def _label(d: Deployment) -> str:
    ep = " EP" if d.expert_parallel else ""
    dp = f"DP{d.data_parallel_size} " if d.data_parallel_size > 1 else ""
    return (f"{d.gpu_count} x {d.gpu.id} {dp}TP{d.tensor_parallel_size or 1} PP{d.pipeline_parallel_size}{ep} {d.quant}"
            + (f" kv-{d.kv_cache_dtype}" if d.kv_cache_dtype != "auto" else ""))


def curve(d: Deployment, freq: FrontierRequest, eff, price: float | None) -> FrontierCurve:
    """Sweep one deployment (module docstring). ValueError when one request does not fit."""
    p, o = freq.plan.prompt_tokens, freq.plan.output_tokens
    _, _, _, core = quick_fit(d)
    if core is None:
        raise UnknownValueError("the frontier", ["architecture"], d.model.id)
    kv_max = core.max_concurrency(p + o)
    if kv_max < 1:
        raise ValueError(f"one request of {p + o:,} tokens does not fit in the KV cache")
    limit = min(kv_max, freq.max_concurrency or MAX_FRONTIER_CONCURRENCY)
    points = []
    for c in concurrencies(limit):
        n = freq.requests or max(REQUESTS_PER_CLIENT * c, MIN_FRONTIER_REQUESTS)
        r = simulate(replace(d, max_num_seqs=c), workload("closed", n, p, o), eff=eff, clients=c)
        s = summarize(r, arrival="closed", qps=None, seed=None, admission="greedy", clients=c)
        if s.tpot_s_mean <= 0 or s.output_tokens_per_s <= 0:
            continue
        points.append(FrontierPoint(
            concurrency=c, tokens_per_s_per_user=1 / s.tpot_s_mean,
            tokens_per_s_per_gpu=s.output_tokens_per_s / d.gpu_count, output_tokens_per_s=s.output_tokens_per_s,
            ttft_s_mean=s.ttft_s_mean, tpot_s_mean=s.tpot_s_mean, preemptions=s.preemptions))
    return FrontierCurve(
        name=_label(d), gpu=d.gpu.id, gpu_count=d.gpu_count, tensor_parallel_size=d.tensor_parallel_size or 1,
        pipeline_parallel_size=d.pipeline_parallel_size, expert_parallel=d.expert_parallel,
        data_parallel_size=d.data_parallel_size, quant=d.quant, kv_cache_dtype=d.kv_cache_dtype, price_usd_per_hour=price, kv_max_concurrency=kv_max, points=points,
        frontier=pareto(points))


def frontier(freq: FrontierRequest, reg: Registry) -> FrontierResult:
    """One curve per candidate deployment (module docstring)."""
    req = freq.plan
    validate_request(req)
    if req.prompt_tokens + req.output_tokens > req.context_tokens:
        raise UsageError(f"--ctx ({req.context_tokens:,}) is shorter than prompt + output "
                         f"({req.prompt_tokens + req.output_tokens:,} tokens)")
    cals = load_plan_calibration(req)
    if freq.deployment is not None:
        cands = [freq.deployment]
        source = "the deployment given (--gpu, --gpus, --tp, --pp, --dp, --quant)"
    else:
        gpus, _ = select_gpus(req, reg)
        res = search(replace(req, objective="cost"), gpus, req.max_gpus, req.max_nodes or 1, calibrations=cals)
        cands = [b.deployment for b in sorted(res.best)][: freq.curves]
        cands += [v for d in cands for v in dp_variants(req, d) if v.data_parallel_size != d.data_parallel_size]
        source = (f"the planner's smallest fitting deployment per GPU type x format x KV dtype, cheapest "
                  f"{freq.curves}, and the attention data-parallel layouts of their GPU counts that fit")
    curves, warnings = [], []
    for d in cands:
        price, _ = price_for(d.gpu, d.gpu_count, req.price_basis)
        try:
            curves.append(curve(d, freq, efficiencies_from(cals, d.gpu), price))
        except (ValueError, UnknownValueError) as err:
            warnings.append(f"{_label(d)}: {err}")
    assumptions = [
        Assumption(name="candidates", value=source, source="llamasize.plan.frontier"),
        Assumption(name="sweep", value="closed loop at concurrency 1, 2, 4, ... up to what the KV cache holds "
                   f"(at most {freq.max_concurrency or MAX_FRONTIER_CONCURRENCY}); max_num_seqs = the concurrency; "
                   + (f"{freq.requests} requests per point" if freq.requests else
                      f"max({REQUESTS_PER_CLIENT} x concurrency, {MIN_FRONTIER_REQUESTS}) requests per point"),
                   source="llamasize.estimate.simulate"),
        Assumption(name="axes", value="tokens/s per user = 1 / mean TPOT; tokens/s per GPU = output tokens/s / GPUs",
                   source="llamasize.plan.frontier"),
        engine_of(req),
    ]
    return FrontierResult(model=req.model.id, prompt_tokens=req.prompt_tokens, output_tokens=req.output_tokens,
                          curves=curves, assumptions=assumptions, warnings=warnings)
