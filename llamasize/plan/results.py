"""The typed results of ``llamasize plan``: one option (a deployment the search kept), a rejection,
the license note, the request as the plan understood it, and the whole plan (its JSON document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.estimate.deployment import Assumption, OmitsSingleRank, ParallelLayoutFields
from llamasize.estimate.engine_profiles import engine_assumption, engine_profile
from llamasize.estimate.memory import PerGpuMemory
from llamasize.estimate.simresult import SimulationSummary


class _OptionHead(BaseModel):
    """The leading fields of ``PlanOption`` (before ``ParallelLayoutFields``)."""

    gpu: str
    gpu_name: str
    gpu_count: int
    nodes: int


class PlanOption(ParallelLayoutFields, _OptionHead):
    """One deployment the planner recommends or lists as an alternative."""

    # fields: _OptionHead's, ParallelLayoutFields', then these (the docstring is the JSON schema's description)

    model_config = ConfigDict(frozen=True)

    kv_layout: str
    engine: str
    fits: bool
    headroom_fraction: float
    max_context_tokens: int
    max_concurrency: int
    per_gpu: PerGpuMemory
    price_usd_per_hour: float | None
    price_source: str | None
    multi_node_tensor_parallel: bool
    #: Speed and cost at the request's concurrency and prompt/output lengths (None = unknown).
    ttft_s: float | None
    tpot_s: float | None
    output_tokens_per_s: float | None
    usd_per_mtok_blended: float | None
    perf_confidence: str | None
    warnings: list[str]
    #: The option sits next to a step of the engine's budget (vLLM's profile tiers, SGLang's reserve):
    #: what the step is, its source, and the numbers on both sides (``memory.budget_step_notes``).
    notes: list[str]


class Rejection(BaseModel):
    """A notable option that was not taken, and why."""

    model_config = ConfigDict(frozen=True)

    gpu: str
    gpu_count: int | None
    quant: str | None
    kind: Literal["does_not_fit", "over_budget", "over_limit", "unknown", "excluded", "no_price"]
    reason: str


class LicenseNote(BaseModel):
    """The model's license as the registry records it."""

    model_config = ConfigDict(frozen=True)

    name: str
    conditions: list[str]
    mau_threshold: int | None
    source: str


class PlanRequestSummary(BaseModel):
    """The request a plan answered, as the plan's JSON records it (``PlanResult.request``): the
    ``PlanRequest`` with the model as its id, ``max_nodes`` as finally searched and the price basis
    as its kind."""

    model_config = ConfigDict(frozen=True)

    model: str
    quant: str
    context_tokens: int
    batch: int
    gpus: list[str]
    exclude_gpus: list[str]
    max_gpus: int | None
    max_nodes: int | None
    budget_usd_per_hour: float | None
    engine: str
    kv_layout: str
    kv_cache_dtype: str
    headroom_fraction: float
    objective: str
    include_vision: bool
    mau: int | None
    prompt_tokens: int
    output_tokens: int
    price_kind: str
    #: The engine release whose memory rules sized every candidate (``--engine-version``, else the
    #: engine's current release; None for an engine whose rules are not versioned) and the releases
    #: those rules hold for (``estimate.engine_profiles``), as ``fit``'s ``engine_report`` says.
    engine_version: str | None
    engine_rules: str
    #: ``--hybrid-kv-cache`` as given (None: the version's default) and ``--kv-cache-free-gpu-mem-fraction``.
    hybrid_kv_cache: str | None
    kv_cache_free_gpu_mem_fraction: float | None


def engine_of(req) -> Assumption:
    """The ``engine`` assumption of a plan, sweep, cost or frontier request (``req``: a
    ``planner.PlanRequest``): the release whose memory rules sized every candidate, as ``fit`` says it."""
    return engine_assumption(engine_profile(req.engine, req.engine_version))


def request_summary(req) -> PlanRequestSummary:
    """The request as a plan's JSON records it (``req``: a ``planner.PlanRequest``; ``plan`` and
    ``plan.slo``), with the engine release whose memory rules sized every candidate (``engine_profiles``)."""
    profile = engine_profile(req.engine, req.engine_version)
    return PlanRequestSummary(
        model=req.model.id, quant=req.quant, context_tokens=req.context_tokens, batch=req.batch,
        gpus=list(req.gpus), exclude_gpus=list(req.exclude_gpus), max_gpus=req.max_gpus,
        max_nodes=req.max_nodes, budget_usd_per_hour=req.budget_usd_per_hour, engine=req.engine,
        kv_layout=req.kv_layout, kv_cache_dtype=req.kv_cache_dtype, headroom_fraction=req.headroom,
        objective=req.objective, include_vision=req.include_vision, mau=req.mau,
        prompt_tokens=req.prompt_tokens, output_tokens=req.output_tokens,
        price_kind=getattr(req.price_basis, "kind", "on_demand"), engine_version=profile.version,
        engine_rules=profile.holds_for, hybrid_kv_cache=req.hybrid_kv_cache,
        kv_cache_free_gpu_mem_fraction=req.kv_cache_free_gpu_mem_fraction,
    )


class PlanResult(BaseModel):
    """The JSON of ``llamasize plan``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    model_name: str
    #: Hugging Face repository to serve for the recommendation: a checkpoint that holds its format
    #: (``ModelSpec.serving_repo``). None when the registry lists none, or when no published
    #: checkpoint holds the planned format and the engine cannot make it on load (quantize it first).
    hf_model: str | None
    request: PlanRequestSummary
    recommendation: PlanOption | None
    alternatives: list[PlanOption]
    rejected: list[Rejection]
    suggestions: list[str]
    license: LicenseNote | None
    license_warnings: list[str]
    assumptions: list[Assumption]
    candidates_evaluated: int


# ------------------------------------------------------------------------------------ search ----


# -------------------------------------------------------------------------- SLO-driven plans ---
class SloTargets(BaseModel):
    """What an SLO-driven plan must meet (``plan --max-ttft/--max-tpot``) and the load it must meet it at."""

    model_config = ConfigDict(frozen=True)

    #: Time to first token and time per output token at ``percentile`` (seconds; None = no target).
    max_ttft_s: float | None
    max_tpot_s: float | None
    percentile: Literal["p50", "p90", "p99"]
    #: Mean arrival rate of the whole deployment (requests/s), split evenly over the replicas.
    qps: float
    requests_per_day: float | None
    load_source: str
    #: Requests per simulated replica (Poisson arrivals at qps / replicas, seeded by ``seed``).
    requests: int
    seed: int


class SloOption(OmitsSingleRank):
    """One operating point of the SLO search: a deployment, its replicas and engine concurrency cap,
    and what the simulation of one replica at its share of the load gave."""

    model_config = ConfigDict(frozen=True)

    gpu: str
    gpu_count: int
    nodes: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel: bool
    #: Attention data-parallel ranks (``Deployment.data_parallel_size``; ``tensor_parallel_size`` is
    #: then the attention TP inside one rank). Left out of the JSON when 1.
    data_parallel_size: int = 1
    quant: str
    kv_cache_dtype: str
    kv_layout: str
    engine: str
    replicas: int
    #: The engine's concurrency cap (vLLM ``--max-num-seqs``) the point was simulated with.
    max_num_seqs: int
    qps_per_replica: float
    #: GPU-hour price of one replica and of all replicas (None = price unknown).
    price_usd_per_hour: float | None
    total_usd_per_hour: float | None
    price_source: str | None
    #: Total $/h over the tokens (prompt + output) served per hour at this load, per 1M tokens.
    usd_per_mtok_blended: float | None
    #: Simulated TTFT and TPOT at the targets' percentile (seconds).
    ttft_s: float
    tpot_s: float
    meets: bool
    #: The first target missed, e.g. "p90 TTFT 2.4 s > 2 s" (None when every target is met).
    miss: str | None
    simulation: SimulationSummary


class SloPlanResult(BaseModel):
    """The JSON of ``llamasize plan`` with latency targets (``--max-ttft`` / ``--max-tpot``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    model_name: str
    request: PlanRequestSummary
    slo: SloTargets
    #: The best point (by the objective) that meets every target; None when none does.
    recommendation: SloOption | None
    #: The best point of other deployments that meet the targets, best first.
    alternatives: list[SloOption]
    #: When nothing meets the targets: the simulated point that came closest (smallest worst ratio
    #: of simulated latency to target), and the sentence that says so.
    nearest_miss: SloOption | None
    nearest_miss_text: str | None
    candidates: int
    #: Candidates discarded by a bound (one request alone misses a target, or the objective's lower
    #: bound is no better than the best point found) without a simulation under load.
    candidates_pruned: int
    simulations: int
    assumptions: list[Assumption]
    warnings: list[str]
