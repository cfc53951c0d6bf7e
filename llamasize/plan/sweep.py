"""The sweep: the smallest deployment of each GPU type at each context length (objective: fewest GPUs).

Each cell is one planner search (``planner._search``, the same arithmetic as ``plan`` and ``fit``)
restricted to one GPU type and one context.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.data.registry import Registry
from llamasize.errors import UsageError
from llamasize.estimate.deployment import OmitsSingleRank
from llamasize.estimate.engine_profiles import engine_profile
from llamasize.estimate.quant import resolve_kv_dtype
from llamasize.plan.planner import DEFAULT_MAX_NODES, PlanRequest, price_for, search, select_gpus, validate_request


class SweepCell(OmitsSingleRank):
    """Smallest deployment of one GPU type at one context (None when nothing fits in the limits)."""

    model_config = ConfigDict(frozen=True)

    context_tokens: int
    min_gpus: int | None
    nodes: int | None
    tensor_parallel_size: int | None
    pipeline_parallel_size: int | None
    quant: str | None
    kv_cache_dtype: str | None
    price_usd_per_hour: float | None
    #: True when the model's unpublished architecture makes the question unanswerable.
    unknown: bool = False
    #: Attention data-parallel ranks of the deployment (``Deployment.data_parallel_size``; then
    #: ``tensor_parallel_size`` is the attention TP of a rank); left out of the JSON when 1.
    data_parallel_size: int = 1


class SweepRow(BaseModel):
    """One GPU type across the contexts."""

    model_config = ConfigDict(frozen=True)

    gpu: str
    cells: list[SweepCell]


class SweepResult(BaseModel):
    """The JSON of ``llamasize sweep``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    quant: str
    engine: str
    #: The engine release whose memory rules sized every cell and the releases they hold for
    #: (``--engine-version``; ``estimate.engine_profiles``), as ``fit``'s ``engine_report`` says.
    engine_version: str | None
    engine_rules: str
    kv_cache_dtype: str
    batch: int
    max_nodes: int
    contexts: list[int]
    rows: list[SweepRow]


def sweep(req: PlanRequest, contexts: list[int], reg: Registry) -> SweepResult:
    """Minimum GPU count per GPU type and context (objective: fewest GPUs)."""
    if not contexts:
        raise UsageError("--ctx needs at least one context length")
    max_nodes = req.max_nodes or DEFAULT_MAX_NODES
    req = replace(req, objective="gpus", max_nodes=max_nodes)
    validate_request(req)
    gpus, _ = select_gpus(req, reg)
    rows = []
    for gpu in gpus:
        cells = []
        for ctx in contexts:
            res = search(replace(req, context_tokens=ctx), [gpu], req.max_gpus, max_nodes)
            if res.best:
                d = min(res.best).deployment
                price, _ = price_for(gpu, d.gpu_count, req.price_basis)
                kv = "fp8" if d.kv_cache_dtype == "fp8" else resolve_kv_dtype("auto", req.model)
                cells.append(SweepCell(context_tokens=ctx, min_gpus=d.gpu_count,
                                       nodes=-(-d.gpu_count // gpu.gpus_per_node),
                                       tensor_parallel_size=d.tensor_parallel_size,
                                       pipeline_parallel_size=d.pipeline_parallel_size, quant=d.quant,
                                       kv_cache_dtype=kv, price_usd_per_hour=price,
                                       data_parallel_size=d.data_parallel_size))
            else:
                cells.append(SweepCell(context_tokens=ctx, min_gpus=None, nodes=None, tensor_parallel_size=None,
                                       pipeline_parallel_size=None, quant=None, kv_cache_dtype=None,
                                       price_usd_per_hour=None, unknown=res.unknown))
        rows.append(SweepRow(gpu=gpu.id, cells=cells))
    profile = engine_profile(req.engine, req.engine_version)
    return SweepResult(model=req.model.id, quant=req.quant, engine=req.engine, engine_version=profile.version,
                       engine_rules=profile.holds_for, kv_cache_dtype=req.kv_cache_dtype, batch=req.batch,
                       max_nodes=max_nodes, contexts=list(contexts), rows=rows)
