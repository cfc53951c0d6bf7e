"""The result of ``llamasize fit`` (``FitEstimate``), the per-GPU memory it reports, and the
engine's own start-up report (``EngineReport``, issue 12 item 1: the line items a vLLM / SGLang /
TensorRT-LLM start-up log prints, so a user can hold the estimate against it line by line)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llamasize import SCHEMA_VERSION
from llamasize.data.hardware import MemoryBasis
from llamasize.estimate.deployment import Assumption, ParallelLayoutFields

#: How an engine-report item was obtained: by the mechanism model, from a start-up log
#: (``Deployment.engine_correction``), or an assumed constant.
Basis = Literal["modelled", "calibrated", "assumed", "fitted", "measured"]


class EngineReport(BaseModel):
    """The engine's start-up memory report for one GPU, in the engine's terms (bytes exact
    integers): what the start-up log prints for the rank that logs (the first pipeline stage), with
    the KV token count and concurrency over every stage as the engine computes them."""

    model_config = ConfigDict(frozen=True)

    engine: str
    engine_version: str | None
    #: The versions whose rules were applied (``engine_profiles``).
    rules_hold_for: str
    weights_bytes: int
    activation_peak_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int
    #: Whether ``cuda_graph_bytes`` comes out of the KV budget (vLLM >= 0.21) or sits outside it.
    cuda_graph_deducted: bool
    #: The CUDA / NCCL context created before loading (outside the budget).
    startup_context_bytes: int
    available_kv_bytes: int
    kv_cache_tokens: int
    kv_cache_blocks: int | None
    block_size: int
    max_model_len: int
    #: Requests of ``max_model_len`` tokens the KV pool holds (the "Maximum concurrency" line).
    max_concurrency: float
    #: KV groups (vLLM hybrid manager) and the padding layers they add.
    kv_groups: int
    padding_layers: int
    #: Per item: modelled / calibrated (with the source) / assumed / fitted.
    basis: dict[str, str]
    #: The start-up log lines as the engine words them.
    log_lines: list[str]


# ------------------------------------------------------------------------------------ results ---
class PerGpuMemory(BaseModel):
    """Memory of one GPU of the binding pipeline stage, in bytes (``free_bytes`` < 0 = shortfall)."""

    model_config = ConfigDict(frozen=True)

    total_bytes: int
    budget_bytes: int
    weights_bytes: int | None
    kv_cache_bytes: int | None
    activation_bytes: int | None
    overhead_bytes: int
    kv_capacity_bytes: int | None
    free_bytes: int | None
    headroom_fraction: float | None
    pipeline_stage: int
    layers: list[int] | None


#: Why a deployment does not fit: the context is above the model's maximum, the weights (with
#: activations and overhead) leave no room, or the KV cache does not fit in what is left.
FailureKind = Literal["context", "weights", "kv_cache"]


class _FitHead(BaseModel):
    """The leading fields of ``FitEstimate`` (before ``ParallelLayoutFields``)."""

    schema_version: str = SCHEMA_VERSION
    model: str
    model_name: str
    gpu: str
    gpu_name: str
    gpu_count: int
    nodes: int
    gpus_per_node: int


class FitEstimate(ParallelLayoutFields, _FitHead):
    """Verdict and memory breakdown for one deployment (the JSON of ``llamasize fit``)."""

    # fields: _FitHead's, ParallelLayoutFields', then these (the docstring is the JSON schema description)

    model_config = ConfigDict(frozen=True)

    kv_layout: Literal["full", "hybrid"]
    engine: str
    context_tokens: int
    batch: int
    #: True / False, or None when an unknown model value decides it.
    fits: bool | None
    reasons: list[str]
    #: What each reason is about, in the order of ``reasons`` (typed, so no caller parses the English);
    #: not part of the JSON document.
    reason_kinds: list[FailureKind] = Field(default_factory=list, exclude=True)
    max_context_tokens: int | None
    max_concurrency: int | None
    weights_bytes: int | None
    kv_cache_bytes: int | None
    kv_cache_bytes_per_token: int | None
    per_gpu: PerGpuMemory
    #: Which device total is budgeted (``data.hardware.Memory``): a CUDA/HIP-reported total, else a flagged
    #: upper bound (nvidia-smi's total, a cloud API's figure, the binary capacity).
    memory_basis: MemoryBasis
    warnings: list[str]
    assumptions: list[Assumption]
    confidence: dict[str, str]
    unknown: list[str]
    #: The engine's start-up report (None for the generic engine or an unknown architecture).
    engine_report: EngineReport | None = None
