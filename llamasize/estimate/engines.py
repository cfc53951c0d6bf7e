"""Serving-engine memory semantics: how much of the device each engine budgets, and for what.

- **vLLM** (facts/serving.md 2.1, ``vllm/v1/worker/gpu_worker.py``): ``requested = ceil(total x
  gpu_memory_utilization)`` of the *total* device memory covers weights + activation peak (a profile
  run at ``max_num_batched_tokens``) + non-torch allocations + CUDA graphs + KV cache. The default
  utilization is 0.92 in vLLM 0.33 (0.9 in earlier releases). KV is allocated in 16-token blocks.
- **SGLang** (facts/serving.md 2.3): ``mem_fraction_static`` x total covers weights + KV pool only;
  activations, CUDA graphs and the context live in the reserved remainder. The automatic value is
  ``(total - reserved) / total`` with reserved MB = 512 + 1.5 x max(chunked_prefill_size, 2048)
  + tp x pp / 8 x 1024 (+ a CUDA-graph reserve not modelled), at least 10 GiB on GPUs > 60 GiB.
- **generic**: the whole device (times ``--gpu-memory-utilization`` if given) minus a CUDA context
  and the activation peak; token-granular KV. A stand-in for llama.cpp-like or custom servers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llamasize.errors import UnknownIdError, UsageError
from llamasize.data.hardware import GpuSpec

from llamasize.units import GIB, MIB

#: vLLM's default ``--gpu-memory-utilization`` (vllm/config/cache.py, vLLM 0.33.0).
VLLM_GPU_MEMORY_UTILIZATION = 0.92
#: vLLM's KV block size in tokens (CacheConfig.DEFAULT_BLOCK_SIZE).
VLLM_BLOCK_SIZE = 16
#: Non-torch allocations (NCCL, cuBLAS workspaces) plus the CUDA-graph pool under vLLM: 1 GiB
#: non-torch as in vLLM's own memory_profiling docstring example, plus 0.5 GiB for CUDA graphs
#: (assumed; vLLM estimates it at start-up). Not measured: override with ``--overhead-gib``.
VLLM_OVERHEAD_BYTES = GIB + GIB // 2
#: A CUDA context "takes a few hundred MiB" (facts/hardware.md 4.2); 512 MiB assumed.
CUDA_CONTEXT_BYTES = 512 * MIB
#: SGLang picks ``chunked_prefill_size`` automatically by GPU memory; the thresholds are not in the
#: sourced facts, so 8192 is assumed on GPUs of 60 GiB or more and 2048 below (override with
#: ``--max-num-batched-tokens``).
SGLANG_CHUNKED_PREFILL_LARGE = 8192
SGLANG_CHUNKED_PREFILL_SMALL = 2048

ENGINES = ("vllm", "sglang", "generic")


@dataclass(frozen=True)
class EngineBudget:
    """What one GPU offers for weights + activations + overhead + KV under an engine."""

    engine: str
    total_bytes: int
    #: Memory the engine lets the model use (weights, activations, overhead and KV together).
    budget_bytes: int
    #: Runtime overhead that is not weights, activations or KV (context, NCCL, CUDA graphs, reserve).
    overhead_bytes: int
    #: Whether the activation peak comes out of ``budget_bytes`` (False for SGLang: it lives in the
    #: reserved memory already counted as overhead).
    activations_in_budget: bool
    block_size: int
    #: The fraction actually applied (vLLM utilization, SGLang mem_fraction_static), or None.
    fraction: float | None
    fraction_name: str | None
    notes: tuple[str, ...] = ()


def check_engine(name: str) -> str:
    """Validate an ``--engine`` value."""
    key = name.strip().lower()
    if key not in ENGINES:
        raise UnknownIdError(f"unknown engine '{name}' (choices: {', '.join(ENGINES)})")
    return key


def vllm_batch_defaults(gpu: GpuSpec) -> tuple[int, int]:
    """vLLM's OpenAI-server defaults ``(max_num_seqs, max_num_batched_tokens)`` for a GPU.

    ``EngineArgs.get_batch_defaults`` (facts/serving.md 2.1): >= 160 GiB -> 1024 / 16384;
    >= 70 GiB and not A100 -> 1024 / 8192; otherwise 256 / 2048.
    """
    mem_gib = gpu.memory_bytes / GIB
    if mem_gib >= 160:
        return 1024, 16384
    if mem_gib >= 70 and not gpu.id.startswith("a100"):
        return 1024, 8192
    return 256, 2048


def engine_budget(engine: str, gpu: GpuSpec, *, tp: int, pp: int,
                  gpu_memory_utilization: float | None = None,
                  mem_fraction_static: float | None = None,
                  overhead_bytes: int | None = None,
                  chunked_prefill_size: int | None = None) -> EngineBudget:
    """The per-GPU memory budget of ``engine`` on ``gpu`` (see the module docstring)."""
    total = gpu.memory_bytes
    if engine == "sglang":
        if gpu_memory_utilization is not None:
            raise UsageError("--gpu-memory-utilization is a vLLM setting; with --engine sglang use --mem-fraction-static")
        if mem_fraction_static is not None:
            fraction = mem_fraction_static
            notes = ("mem_fraction_static as given",)
        else:
            cps = chunked_prefill_size or (
                SGLANG_CHUNKED_PREFILL_LARGE if total >= 60 * GIB else SGLANG_CHUNKED_PREFILL_SMALL)
            reserved_mb = 512 + 1.5 * max(cps, 2048) + tp * pp / 8 * 1024
            reserved = int(reserved_mb * MIB)
            if total > 60 * GIB:
                reserved = max(reserved, 10 * GIB)
            fraction = round((total - reserved) / total, 3)
            notes = (f"automatic mem_fraction_static {fraction} (SGLang's reserved-memory rule with chunked prefill "
                     f"{cps}{'' if chunked_prefill_size else ' (assumed)'}; CUDA-graph reserve not modelled)",)
        if overhead_bytes is not None:
            raise UsageError("--overhead-gib does not apply to --engine sglang: its reserve is "
                             "total x (1 - mem_fraction_static); set --mem-fraction-static instead")
        static = int(total * fraction)
        reserved = total - static
        return EngineBudget("sglang", total, total, reserved, False, 1, fraction, "mem_fraction_static", notes)
    if mem_fraction_static is not None:
        raise UsageError("--mem-fraction-static is an SGLang setting; with --engine vllm use --gpu-memory-utilization")
    if engine == "vllm":
        util = VLLM_GPU_MEMORY_UTILIZATION if gpu_memory_utilization is None else gpu_memory_utilization
        budget = math.ceil(total * util)
        overhead = VLLM_OVERHEAD_BYTES if overhead_bytes is None else overhead_bytes
        return EngineBudget("vllm", total, budget, overhead, True, VLLM_BLOCK_SIZE, util,
                            "gpu_memory_utilization")
    util = 1.0 if gpu_memory_utilization is None else gpu_memory_utilization
    overhead = CUDA_CONTEXT_BYTES if overhead_bytes is None else overhead_bytes
    return EngineBudget("generic", total, math.ceil(total * util), overhead, True, 1,
                        util if gpu_memory_utilization is not None else None,
                        "gpu_memory_utilization" if gpu_memory_utilization is not None else None)
