"""What every estimate is about: the ``Deployment`` (model x GPU x layout x quantization x workload)
and the ``Assumption`` each result lists with the source of its value.

The bottom of the estimate layer: ``memory``, ``perf``, the planner, ``check`` and the
integrations build and read these types.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.data.hardware import GpuSpec
from llamasize.data.spec import ModelSpec
from llamasize.estimate.engine_calibration import EngineCorrection


@dataclass(frozen=True)
class Deployment:
    """One deployment to evaluate: model x GPU x count x layout x quantization x workload."""

    model: ModelSpec
    gpu: GpuSpec
    gpu_count: int
    quant: str
    context_tokens: int
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int = 1
    expert_parallel: bool = False
    kv_cache_dtype: str = "auto"
    batch: int = 1
    engine: str = "vllm"
    kv_layout: str = "auto"
    gpu_memory_utilization: float | None = None
    mem_fraction_static: float | None = None
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    overhead_bytes: int | None = None
    include_vision: bool = True
    #: The engine release whose memory rules apply (None: the current release of ``engine``).
    engine_version: str | None = None
    #: Line items measured in a start-up log for this deployment (``calibrate --from-log``).
    engine_correction: EngineCorrection | None = None
    #: vLLM's hybrid KV manager for chunked-local attention: ``on`` / ``off`` (mirrors
    #: ``VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE``), None / ``auto``: the version's default.
    hybrid_kv_cache: str | None = None
    #: TensorRT-LLM's ``kv_cache_free_gpu_mem_fraction`` (None: its default 0.9).
    kv_cache_free_gpu_mem_fraction: float | None = None


class Assumption(BaseModel):
    """A named input the numbers rest on, with where its value comes from."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str
    source: str


# ------------------------------------------------------------------------ shared result fields ---
class ParallelLayoutFields(BaseModel):
    """The layout every deployment result reports, declared once: parallel sizes, expert
    parallelism, weight format and KV dtype, in this order (``FitEstimate``, ``PerfEstimate``,
    ``PlanOption``, ``CostEstimate``).

    A result lists this class *first* among its bases and the class with its own leading fields
    second: pydantic places the fields of the bases from the last base to the first, then the
    class's own, so the JSON keeps its order (leading fields, these five, the rest).
    """

    model_config = ConfigDict(frozen=True)

    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel: bool
    quant: str
    kv_cache_dtype: str


class DeploymentHead(BaseModel):
    """The leading fields of a speed or cost result: schema version, model id, GPU id and count."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    gpu: str
    gpu_count: int
