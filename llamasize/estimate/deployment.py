"""What every estimate is about: the ``Deployment`` (model x GPU x layout x quantization x workload)
and the ``Assumption`` each result lists with the source of its value.

The bottom of the estimate layer: ``memory``, ``perf``, the planner, ``check`` and the
integrations build and read these types.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, model_serializer

from llamasize import SCHEMA_VERSION
from llamasize.data.hardware import GpuSpec
from llamasize.data.spec import ModelSpec
from llamasize.estimate.engine_calibration import EngineCorrection
from llamasize.estimate.serving_extras import Draft


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
    #: Attention data-parallel ranks (``estimate.parallel``, "Attention data parallelism"): each rank
    #: runs attention (and dense layers) on its own sequences with ``tensor_parallel_size`` GPUs, and
    #: the MoE layers are sharded over all ``data_parallel_size x tensor_parallel_size`` GPUs of a
    #: stage. vLLM ``-dp D -tp T [--enable-expert-parallel]``: D x T GPUs; SGLang ``--tp-size N
    #: --dp-size D --enable-dp-attention``: N GPUs, ``tensor_parallel_size = N / D``.
    data_parallel_size: int = 1
    # --- serving extras (issue 13 item 2; byte rules in ``estimate.serving_extras``) -------------
    #: vLLM --kv-cache-memory-bytes: KV bytes per GPU, replacing the utilization-derived size.
    kv_cache_memory_bytes: int | None = None
    #: vLLM --cpu-offload-gb, in bytes: weight bytes per GPU held in host memory instead.
    cpu_offload_bytes: int = 0
    #: LoRA: adapter slots on the GPU (--max-loras) and their maximum rank (--max-lora-rank).
    lora_slots: int = 0
    lora_rank: int = 0
    #: Speculative decoding: the draft model or heads (None: none).
    draft: Draft | None = None
    #: vLLM --enforce-eager: no CUDA graphs captured.
    enforce_eager: bool = False
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
def omit_single_rank(out):
    """A result's dumped fields without ``data_parallel_size`` when it is 1 (no attention DP), so
    the documents of deployments without it read as before (every result carrying the field)."""
    if isinstance(out, dict) and out.get("data_parallel_size") == 1:
        out.pop("data_parallel_size")
    return out


class OmitsSingleRank(BaseModel):
    """A result that leaves ``data_parallel_size`` out of its JSON when it is 1 (``omit_single_rank``):
    the one serializer every such result inherits."""

    @model_serializer(mode="wrap")
    def _omit_single_rank(self, handler):
        return omit_single_rank(handler(self))


class ParallelLayoutFields(OmitsSingleRank):
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
    #: Attention data-parallel ranks (``Deployment.data_parallel_size``); ``tensor_parallel_size`` is
    #: then the attention TP inside one rank. Left out of the JSON when 1 (no attention DP), so the
    #: documents of deployments without it read as before.
    data_parallel_size: int = 1


class DeploymentHead(BaseModel):
    """The leading fields of a speed or cost result: schema version, model id, GPU id and count."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    gpu: str
    gpu_count: int
