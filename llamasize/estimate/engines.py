"""Serving-engine facts: how much of the device each engine budgets, and for what; and the engines'
vocabulary (flag names, quantization / dtype / KV-cache dtype names; parse and emit), the one home
``check`` reads manifests with and ``plan --emit`` writes commands with.

- **vLLM** (docs/facts/serving.md 2.1, ``vllm/v1/worker/gpu_worker.py``): ``requested = ceil(total x
  gpu_memory_utilization)`` of the *total* device memory covers weights + activation peak (a profile
  run at ``max_num_batched_tokens``) + non-torch allocations + CUDA graphs + KV cache. The default
  utilization is 0.92 in vLLM 0.33 (0.9 in earlier releases). KV is allocated in 16-token blocks.
- **SGLang** (docs/facts/serving.md 2.3): ``mem_fraction_static`` x total covers weights + KV pool only;
  activations, CUDA graphs and the context live in the reserved remainder. The automatic value is
  ``(total - reserved) / total`` with reserved MB = 512 + 1.5 x max(chunked_prefill_size, 2048)
  + tp x pp / 8 x 1024 (+ a CUDA-graph reserve not modelled), at least 10 GiB on GPUs > 60 GiB.
- **TensorRT-LLM** (``--engine trtllm``): the KV pool is ``kv_cache_free_gpu_mem_fraction`` (default
  0.9, TensorRT-LLM's ``KvCacheConfig.free_gpu_memory_fraction``; not in the sourced facts: assumed) of
  the memory left after the weights, the activations and a CUDA context are loaded.
- **generic**: the whole device (times ``--gpu-memory-utilization`` if given) minus a CUDA context
  and the activation peak; token-granular KV. A stand-in for llama.cpp-like or custom servers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llamasize.errors import UnknownIdError, UsageError
from llamasize.data.hardware import GpuSpec

from llamasize.units import GIB, MIB
from llamasize.text import quote_value

#: vLLM's default ``--gpu-memory-utilization`` (vllm/config/cache.py, vLLM 0.33.0).
VLLM_GPU_MEMORY_UTILIZATION = 0.92
#: vLLM's KV block size in tokens (CacheConfig.DEFAULT_BLOCK_SIZE).
VLLM_BLOCK_SIZE = 16
#: The old flat vLLM overhead (1 GiB non-torch, vLLM's memory_profiling docstring example, + 0.5 GiB
#: CUDA graphs, assumed): used only when ``engine_budget`` is called for vLLM without an overhead;
#: ``memory.resolve`` always passes the non-torch figure of ``engine_memory.non_torch_bytes``.
VLLM_OVERHEAD_BYTES = GIB + GIB // 2
#: A CUDA context "takes a few hundred MiB" (docs/facts/hardware.md 4.2); 512 MiB assumed.
CUDA_CONTEXT_BYTES = 512 * MIB
#: SGLang picks ``chunked_prefill_size`` automatically by GPU memory; the thresholds are not in the
#: sourced facts, so 8192 is assumed on GPUs of 60 GiB or more and 2048 below (override with
#: ``--max-num-batched-tokens``).
SGLANG_CHUNKED_PREFILL_LARGE = 8192
SGLANG_CHUNKED_PREFILL_SMALL = 2048

#: TensorRT-LLM's default ``kv_cache_free_gpu_mem_fraction`` (``KvCacheConfig.free_gpu_memory_fraction``
#: = 0.9, as the issue 12 text states; not in docs/facts/serving.md, so labelled assumed).
TRTLLM_KV_CACHE_FREE_GPU_MEM_FRACTION = 0.9
#: TensorRT-LLM's KV block size in tokens (``tokens_per_block`` default 32; assumed, not in the facts).
TRTLLM_BLOCK_SIZE = 32
#: TensorRT-LLM's default ``max_num_tokens`` per forward pass: 8192 (``BuildConfig.max_num_tokens``, quoted in
#: docs/facts/trtllm.md from NVIDIA's aiconfigurator).
TRTLLM_MAX_NUM_TOKENS = 8192
#: TensorRT-LLM's default ``max_batch_size``: 2048 (``BuildConfig`` / LLM API default; assumed, not in the
#: sourced facts: docs/facts/trtllm.md says what is and is not verified). ``trtllm-bench`` tunes both per run; the
#: speed fit (``benchmarks/fit_efficiency.py``) times its TensorRT-LLM rows with the same 2048 / 8192.
TRTLLM_MAX_BATCH_SIZE = 2048
#: What the TensorRT-LLM batch defaults rest on, for outputs that name them.
TRTLLM_BATCH_DEFAULTS_BASIS = ("TensorRT-LLM's defaults: max_num_tokens 8192 (BuildConfig, quoted in docs/facts/trtllm.md), "
                               "max_batch_size 2048 assumed (not in the sourced facts)")

ENGINES = ("vllm", "sglang", "trtllm", "generic")


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
    #: TensorRT-LLM: the KV pool is this fraction of what is left after weights, activations and
    #: overhead (None: the KV gets all of it, as in vLLM's identity).
    kv_free_fraction: float | None = None

    def kv_capacity(self, weights: int, activation: int) -> int:
        """KV bytes one GPU holds after ``weights`` and ``activation`` (the engine's identity)."""
        left = self.budget_bytes - weights - (activation if self.activations_in_budget else 0) - self.overhead_bytes
        if self.kv_free_fraction is None or left <= 0:
            return left
        return int(left * self.kv_free_fraction)


def check_engine(name: str) -> str:
    """Validate an ``--engine`` value."""
    key = name.strip().lower()
    if key not in ENGINES:
        raise UnknownIdError(f"unknown engine {quote_value(name)} (choices: {', '.join(ENGINES)})")
    return key


#: vLLM's OpenAI-server batch-shape tiers by device memory (``EngineArgs.get_batch_defaults``,
#: docs/facts/serving.md 2.1): ``(GiB at or above which the tier applies, whether A100s get it,
#: max_num_seqs, max_num_batched_tokens)``, largest first; below them ``VLLM_SMALL_BATCH``.
VLLM_BATCH_TIERS = ((160, True, 1024, 16384), (70, False, 1024, 8192))
VLLM_SMALL_BATCH = (256, 2048)


def vllm_batch_defaults_at(mem_gib: float, a100: bool) -> tuple[int, int]:
    """``(max_num_seqs, max_num_batched_tokens)`` vLLM defaults to on a device of ``mem_gib`` GiB
    (``VLLM_BATCH_TIERS``): >= 160 GiB -> 1024 / 16384; >= 70 GiB and not A100 -> 1024 / 8192;
    otherwise 256 / 2048."""
    for gib, with_a100, seqs, tokens in VLLM_BATCH_TIERS:
        if mem_gib >= gib and (with_a100 or not a100):
            return seqs, tokens
    return VLLM_SMALL_BATCH


def vllm_batch_defaults(gpu: GpuSpec) -> tuple[int, int]:
    """vLLM's OpenAI-server defaults ``(max_num_seqs, max_num_batched_tokens)`` for a GPU."""
    return vllm_batch_defaults_at(gpu.memory_bytes / GIB, is_a100(gpu))


def is_a100(gpu: GpuSpec) -> bool:
    """vLLM keeps A100s on the small batch shape below 160 GiB (``get_batch_defaults``)."""
    return gpu.id.startswith("a100")


#: SGLang's GPU-memory step (GiB): chunked prefill 8192 at or above it (assumed, see
#: ``SGLANG_CHUNKED_PREFILL_LARGE``), and a reserve of at least ``SGLANG_MIN_RESERVE_BYTES`` above it
#: (docs/facts/serving.md 2.3).
SGLANG_LARGE_GPU_GIB = 60
SGLANG_MIN_RESERVE_BYTES = 10 * GIB


def sglang_reserved_bytes(total: int, tp: int, pp: int, chunked_prefill_size: int | None = None) -> tuple[int, int]:
    """SGLang's automatic reserve per GPU and the chunked-prefill size it assumes: ``(reserved bytes,
    chunked_prefill_size)``, reserved MB = 512 + 1.5 x max(chunked_prefill_size, 2048) + tp x pp / 8
    x 1024, at least 10 GiB on GPUs > 60 GiB (docs/facts/serving.md 2.3; CUDA-graph reserve not modelled)."""
    cps = chunked_prefill_size or (
        SGLANG_CHUNKED_PREFILL_LARGE if total >= SGLANG_LARGE_GPU_GIB * GIB else SGLANG_CHUNKED_PREFILL_SMALL)
    reserved_mb = 512 + 1.5 * max(cps, 2048) + tp * pp / 8 * 1024
    reserved = int(reserved_mb * MIB)
    if total > SGLANG_LARGE_GPU_GIB * GIB:
        reserved = max(reserved, SGLANG_MIN_RESERVE_BYTES)
    return reserved, cps


def engine_budget(engine: str, gpu: GpuSpec, *, tp: int, pp: int,
                  gpu_memory_utilization: float | None = None,
                  mem_fraction_static: float | None = None,
                  overhead_bytes: int | None = None,
                  chunked_prefill_size: int | None = None,
                  kv_cache_free_gpu_mem_fraction: float | None = None) -> EngineBudget:
    """The per-GPU memory budget of ``engine`` on ``gpu`` (see the module docstring)."""
    total = gpu.memory_bytes
    if kv_cache_free_gpu_mem_fraction is not None and engine != "trtllm":
        raise UsageError("--kv-cache-free-gpu-mem-fraction is a TensorRT-LLM setting; it needs --engine trtllm")
    if engine == "trtllm":
        if gpu_memory_utilization is not None or mem_fraction_static is not None:
            raise UsageError("--gpu-memory-utilization / --mem-fraction-static are vLLM / SGLang settings; "
                             "with --engine trtllm use --kv-cache-free-gpu-mem-fraction")
        given = kv_cache_free_gpu_mem_fraction is not None
        fraction = kv_cache_free_gpu_mem_fraction if given else TRTLLM_KV_CACHE_FREE_GPU_MEM_FRACTION
        overhead = CUDA_CONTEXT_BYTES if overhead_bytes is None else overhead_bytes
        notes = () if given else (f"TensorRT-LLM kv_cache_free_gpu_mem_fraction {fraction:g} (its default; assumed, "
                                  "not in the sourced facts) of the memory left after weights and activations",)
        return EngineBudget("trtllm", total, total, overhead, True, TRTLLM_BLOCK_SIZE, fraction,
                            "kv_cache_free_gpu_mem_fraction", notes, kv_free_fraction=fraction)
    if engine == "sglang":
        if gpu_memory_utilization is not None:
            raise UsageError("--gpu-memory-utilization is a vLLM setting; with --engine sglang use --mem-fraction-static")
        if mem_fraction_static is not None:
            fraction = mem_fraction_static
            notes = ("mem_fraction_static as given",)
        else:
            reserved, cps = sglang_reserved_bytes(total, tp, pp, chunked_prefill_size)
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


# ------------------------------------------------------------------------ engine vocabulary ---
# The one home of how vLLM 0.33 and SGLang 0.5 spell things (docs/facts/serving.md 2.1, 2.3): the flag
# names, which take no value, the --quantization / --dtype / --kv-cache-dtype values and the
# llamasize formats they mean (parse, for ``check``), and the spelling of each setting on a command
# line (emit, for ``plan --emit``).

#: Flag names (without dashes, ``_`` spelt ``-``) that matter for sizing -> the setting they give.
FLAG_SETTINGS = {
    "tensor-parallel-size": "tp", "tp": "tp", "tp-size": "tp",
    "pipeline-parallel-size": "pp", "pp": "pp", "pp-size": "pp",
    "data-parallel-size": "dp", "dp": "dp", "dp-size": "dp",
    "enable-expert-parallel": "ep", "ep-size": "ep_size", "expert-parallel-size": "ep_size",
    "max-model-len": "max_model_len", "context-length": "max_model_len",
    "quantization": "quantization", "q": "quantization",
    "dtype": "dtype",
    "kv-cache-dtype": "kv_cache_dtype",
    "gpu-memory-utilization": "gmu",
    "mem-fraction-static": "mfs",
    "max-num-seqs": "max_num_seqs", "max-running-requests": "max_num_seqs",
    "max-num-batched-tokens": "max_num_batched_tokens", "chunked-prefill-size": "max_num_batched_tokens",
    "model": "model", "model-path": "model", "model-id": "model",
    "backend": "backend",
    "enable-dp-attention": "dp_attention",
}
#: Flags that take no value (so the next word is not their value); ``--no-X`` negates them.
BOOL_FLAGS = frozenset({
    "enable-expert-parallel", "enable-dp-attention", "enforce-eager", "trust-remote-code",
    "enable-prefix-caching", "no-enable-prefix-caching", "enable-chunked-prefill", "disable-log-requests",
    "disable-log-stats", "enable-auto-tool-choice", "enable-lora", "disable-custom-all-reduce",
    "async-scheduling", "headless", "enable-eplb", "enable-sleep-mode", "disable-frontend-multiprocessing",
    "enable-log-requests", "enable-request-id-headers", "disable-radix-cache", "enable-torch-compile",
    "disable-cuda-graph", "enable-metrics", "skip-server-warmup", "disable-fastapi-docs",
    "enable-server-load-tracking", "return-tokens-as-token-ids", "no-enable-log-requests",
})

# --- memory flags beyond the layout (issue 13 item 2; their byte rules: ``estimate.serving_extras``) ---
#: vLLM / SGLang flags with a memory effect -> the setting ``check`` reads them into.
MEMORY_FLAG_SETTINGS = {
    "kv-cache-memory-bytes": "kv_cache_memory_bytes", "cpu-offload-gb": "cpu_offload_gb",
    "swap-space": "swap_space", "enable-lora": "lora", "max-loras": "max_loras",
    "max-loras-per-batch": "max_loras", "max-lora-rank": "max_lora_rank", "max-cpu-loras": "max_cpu_loras",
    "lora-paths": "lora_paths", "speculative-config": "speculative_config", "speculative-model": "draft_model",
    "num-speculative-tokens": "num_speculative_tokens", "speculative-algorithm": "speculative_algorithm",
    "speculative-draft-model-path": "draft_model", "speculative-num-draft-tokens": "num_speculative_tokens",
    "enforce-eager": "enforce_eager", "disable-cuda-graph": "disable_cuda_graph",
    "enable-prefix-caching": "prefix_caching", "disable-radix-cache": "prefix_caching_off",
}
FLAG_SETTINGS.update(MEMORY_FLAG_SETTINGS)
#: Flags read and known to leave GPU memory alone (network, logging, tokenizer, API and tool
#: options): not reported as unmodelled. Any other flag ``check`` does not model is reported by name.
NO_MEMORY_FLAGS = frozenset({
    "port", "host", "served-model-name", "api-key", "trust-remote-code", "disable-log-requests",
    "disable-log-stats", "enable-log-requests", "no-enable-log-requests", "uvicorn-log-level", "log-level",
    "tokenizer", "tokenizer-mode", "tokenizer-path", "chat-template", "chat-template-content-format",
    "enable-auto-tool-choice", "tool-call-parser", "reasoning-parser", "download-dir", "revision",
    "code-revision", "tokenizer-revision", "seed", "root-path", "allowed-origins", "allowed-methods",
    "allowed-headers", "ssl-keyfile", "ssl-certfile", "response-role", "disable-fastapi-docs",
    "enable-request-id-headers", "enable-server-load-tracking", "return-tokens-as-token-ids", "model-name",
    "model-dir", "http-port", "grpc-port", "middleware", "distributed-executor-backend", "headless",
    "enable-metrics", "skip-server-warmup", "disable-frontend-multiprocessing", "load-format",
    "generation-config", "override-generation-config", "hf-overrides", "ray-cluster-size", "ray-address",
    "nnodes", "node-rank", "dist-init-addr", "data-parallel-size-local", "data-parallel-rank",
    "data-parallel-start-rank", "data-parallel-address", "data-parallel-rpc-port", "data-parallel-external-lb",
    "data-parallel-hybrid-lb", "api-server-count", "enable-chunked-prefill", "no-enable-chunked-prefill",
    "async-scheduling", "disable-custom-all-reduce", "block-size", "max-log-len", "enable-prompt-tokens-details",
    "kv-transfer-config", "kv-events-config", "enable-eplb", "eplb-config", "backend", "model-id",
    "enable-torch-compile", "enable-sleep-mode", "prefix-caching-hash-algo", "limit-mm-per-prompt",
    "guided-decoding-backend", "structured-outputs-config", "disable-uvicorn-access-log", "otlp-traces-endpoint",
})

#: ``--quantization`` methods (vLLM ``QuantizationMethods``, SGLang's list) -> llamasize formats.
#: ``bitsandbytes`` (not in vLLM 0.33's list, see ``NO_ENGINE_METHOD``) is read as NF4.
QUANTIZATION_METHODS = {
    "fp8": "fp8", "fp8_per_tensor": "fp8", "fp8_per_block": "fp8", "fp8_per_channel": "fp8", "fbgemm_fp8": "fp8",
    "w8a8_fp8": "fp8", "modelopt": "fp8",
    "awq": "int4", "awq_marlin": "int4", "auto_awq": "int4", "gptq": "int4", "gptq_marlin": "int4",
    "auto_gptq": "int4", "moe_wna16": "int4",
    "int8_per_channel_weight_only": "int8", "w8a8_int8": "int8",
    "mxfp4": "mxfp4", "gpt_oss_mxfp4": "mxfp4",
    "modelopt_fp4": "nvfp4", "nvfp4_per_token": "nvfp4",
    "bitsandbytes": "nf4",
}
#: Methods whose group size the flag does not say: read as llamasize's int4 (group 128).
INT4_GROUP_METHODS = frozenset({"awq", "awq_marlin", "auto_awq", "gptq", "gptq_marlin", "auto_gptq", "moe_wna16"})
#: ``--dtype`` values -> llamasize 16/32-bit formats (``auto`` = the checkpoint's dtype).
DTYPES = {"float16": "fp16", "half": "fp16", "fp16": "fp16", "bfloat16": "bf16", "bf16": "bf16",
          "float32": "fp32", "float": "fp32", "fp32": "fp32"}
#: ``--kv-cache-dtype`` values -> llamasize KV dtypes.
KV_CACHE_DTYPES = {"auto": "auto", "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "fp8_inc": "fp8",
                   "bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "fp16": "fp16", "half": "fp16"}


def method_key(value: str) -> str:
    """A method / dtype value as the tables above key it: lower case, ``-`` spelt ``_``."""
    return value.strip().lower().replace("-", "_")


#: ``python -m MODULE`` entry points that start an OpenAI-compatible server -> the engine they run
#: (KServe's Hugging Face server runs vLLM unless ``--backend=huggingface``).
SGLANG_SERVER_MODULE = "sglang.launch_server"
SERVER_MODULES = {"vllm.entrypoints.openai.api_server": "vllm", "vllm.entrypoints.api_server": "vllm",
                  SGLANG_SERVER_MODULE: "sglang", "huggingfaceserver": "kserve-huggingface"}
#: vLLM's CLI module: ``python -m vllm.entrypoints.cli.main serve MODEL`` is ``vllm serve MODEL``.
VLLM_CLI_MODULE = "vllm.entrypoints.cli.main"


@dataclass(frozen=True)
class EngineFlags:
    """How one engine spells each setting on its command line (emit)."""

    #: The command up to the model (``vllm serve`` takes it positionally, SGLang by flag).
    launch: tuple[str, ...]
    model_flag: str | None
    tp: str
    pp: str
    #: Expert parallelism: a switch (vLLM) or a size flag (SGLang, given the TP size).
    ep_switch: str | None
    ep_size: str | None
    max_model_len: str
    kv_cache_dtype: str
    #: The ``--kv-cache-dtype`` value for llamasize's fp8.
    kv_fp8: str
    memory_fraction: str
    quantization: str = "--quantization"
    dtype: str = "--dtype"
    #: Attention data parallelism: the DP size flag, and the switch that makes SGLang's DP ranks share
    #: one model's MoE layers (vLLM's DP does for MoE models without one; docs/facts/serving.md 2.1, 2.3).
    dp: str | None = None
    dp_attention_switch: str | None = None


VLLM_FLAGS = EngineFlags(("vllm", "serve"), None, "--tensor-parallel-size", "--pipeline-parallel-size",
                         "--enable-expert-parallel", None, "--max-model-len", "--kv-cache-dtype", "fp8",
                         "--gpu-memory-utilization", dp="--data-parallel-size")
SGLANG_FLAGS = EngineFlags(("python", "-m", SGLANG_SERVER_MODULE), "--model-path", "--tp-size", "--pp-size",
                           None, "--ep-size", "--context-length", "--kv-cache-dtype", "fp8_e4m3",
                           "--mem-fraction-static", dp="--dp-size", dp_attention_switch="--enable-dp-attention")
ENGINE_FLAGS = {"vllm": VLLM_FLAGS, "sglang": SGLANG_FLAGS}
#: llamasize formats the engines quantize on load from a 16-bit checkpoint -> ``--quantization``.
ONLINE_QUANTIZATION = {"fp8": "fp8"}
#: llamasize formats served as a 16/32-bit ``--dtype`` -> its value (bf16 is the default).
DTYPE_VALUES = {"fp16": "float16", "fp32": "float32"}
#: llamasize formats with no ``--quantization`` method in vLLM 0.33.0 (docs/facts/serving.md 2.1).
NO_ENGINE_METHOD = {"nf4": "bitsandbytes NF4", "q8_0": "GGUF", "q6_k": "GGUF", "q5_k_m": "GGUF", "q4_k_m": "GGUF",
                    "q4_0": "GGUF", "q3_k_m": "GGUF", "q2_k": "GGUF"}
