"""Memory estimator for one deployment: weights, KV cache, activations and overhead per GPU.

Everything is computed per pipeline stage on one GPU of that stage (all GPUs of a stage hold
the same shard sizes), and the stage with the least free memory decides the verdict.

Rules (DESIGN.md "Modeling rules" 3-5, facts/serving.md 2.1):

- **Weights**: every tensor of the weight table, stored as the quantization format says
  (``quant``), split as tensor parallelism splits it (``params.Parallel``); routed experts split by
  width over TP, or whole experts over EP (vLLM: EP size = TP size). Pipeline stages follow vLLM's
  ``get_pp_indices`` (layers split evenly, the remainder to the stages before the last); the
  embedding and vision tower sit on the first stage, the final norm and lm_head on the last.
- **KV cache** per token per layer: ``2 x kv_heads x head_dim x dtype_bytes`` (GQA/MHA), with
  ``kv_heads = max(1, num_key_value_heads // tp)`` per GPU (replicated once TP exceeds the KV heads);
  MLA stores ``(kv_lora_rank + qk_rope_head_dim) x dtype_bytes`` once, replicated on every TP rank.
  A layer holds ``min(L, window + in_flight)`` tokens when it is windowed (sliding or Llama 4
  chunked-local) *and* the layout is ``hybrid`` (vLLM's ``ChunkedLocalAttentionSpec`` /
  ``SlidingWindowSpec``; in-flight = max_num_batched_tokens), else the full length ``L``. Tokens are
  allocated in blocks (vLLM 16).
- **Activations**: an analytical peak of the engine's profile run (see ``activation_peak_bytes``).
- **Budget**: the engine's (``engines``), against the memory the driver reports where the catalogue
  has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llamasize import SCHEMA_VERSION
from llamasize.estimate.engines import EngineBudget, check_engine, engine_budget, vllm_batch_defaults
from llamasize.errors import LayoutError, UnknownValueError, UsageError
from llamasize.data.hardware import GpuSpec
from llamasize.estimate.params import Tensor, weight_table
from llamasize.estimate.quant import QuantFormat, check_kv_dtype, get_format, kv_dtype_bytes, resolve_kv_dtype
from llamasize.data.spec import ModelSpec
from llamasize.units import GIB

KV_LAYOUTS = ("auto", "full", "hybrid")
#: Tokens per prefill chunk assumed for the generic engine's activation peak.
GENERIC_PREFILL_CHUNK = 2048
#: Sequences per step assumed for the generic engine's sampler peak.
GENERIC_MAX_SEQS = 256


# ------------------------------------------------------------------------------------ request ---
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


class Assumption(BaseModel):
    """A named input the numbers rest on, with where its value comes from."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str
    source: str


#: Why a deployment does not fit: the context is above the model's maximum, the weights (with
#: activations and overhead) leave no room, or the KV cache does not fit in what is left.
FailureKind = Literal["context", "weights", "kv_cache"]


class FitEstimate(BaseModel):
    """Verdict and memory breakdown for one deployment (the JSON of ``llamasize fit``)."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    model_name: str
    gpu: str
    gpu_name: str
    gpu_count: int
    nodes: int
    gpus_per_node: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel: bool
    quant: str
    kv_cache_dtype: str
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
    memory_basis: Literal["driver", "datasheet"]
    warnings: list[str]
    assumptions: list[Assumption]
    confidence: dict[str, str]
    unknown: list[str]


# ------------------------------------------------------------------------------ parallel rules --
def tp_problem(spec: ModelSpec, tp: int) -> str | None:
    """Why tensor parallelism of degree ``tp`` cannot split this model's attention, or None:
    TP must divide the attention heads, and the KV heads and TP must divide one another (KV heads
    are replicated when TP exceeds them). Unpublished head counts are not checked."""
    nh, nkv = spec.num_attention_heads, spec.num_key_value_heads
    if nh is not None and nh % tp:
        return f"num_attention_heads ({nh}) is not divisible by tensor_parallel_size ({tp})"
    if nkv is not None and not spec.is_mla and nkv % tp and tp % nkv:
        return f"num_key_value_heads ({nkv}) and tensor_parallel_size ({tp}) must divide one another"
    return None


def validate_layout(spec: ModelSpec, gpu_count: int, tp: int, pp: int, ep: bool) -> None:
    """Raise UsageError when a parallel layout cannot run (DESIGN.md rule 7). Checks that need an
    unpublished value are skipped (the estimate reports it as unknown instead)."""
    if tp < 1 or pp < 1:
        raise LayoutError("tensor and pipeline parallel sizes must be at least 1", "tp" if tp < 1 else "pp")
    if tp * pp != gpu_count:
        raise LayoutError(
            f"--gpus ({gpu_count}) must equal tensor_parallel_size ({tp}) x pipeline_parallel_size ({pp}); "
            "data-parallel replicas are not modelled: size one replica", "gpus"
        )
    layers = spec.num_hidden_layers
    problem = tp_problem(spec, tp)
    if problem:
        raise LayoutError(problem, "tp")
    if layers is not None and pp > layers:
        raise LayoutError(f"pipeline_parallel_size ({pp}) exceeds num_hidden_layers ({layers})", "pp")
    if ep and not spec.is_moe:
        raise LayoutError(f"--ep needs a mixture-of-experts model; {spec.id} is dense", "ep")


def pp_partition(num_layers: int, pp: int) -> list[list[int]]:
    """Layers of each pipeline stage, as vLLM's ``get_pp_indices`` splits them: ``L // pp`` each,
    the remainder added one by one to the stages before the last."""
    parts = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        parts[-i] += 1
    out, start = [], 0
    for n in parts:
        out.append(list(range(start, start + n)))
        start += n
    return out


def shard_shape(t: Tensor, spec: ModelSpec, tp: int, ep: bool) -> tuple[int, ...]:
    """Shape of the part of tensor ``t`` one GPU holds under TP degree ``tp`` (and EP over the same
    GPUs when ``ep``); see ``params.Parallel`` for the split of each kind."""
    s = t.shape
    c = lambda n: -(-n // tp)  # noqa: E731 - ceil division
    p = t.parallel
    if p == "replicated" or tp == 1:
        return s
    if p in ("column", "vocab"):
        return (c(s[0]),) + s[1:]
    if p == "row":
        return s[:-1] + (c(s[-1]),)
    if p == "kv":
        nkv = spec.num_key_value_heads
        per_head = s[0] // nkv
        return (max(1, nkv // tp) * per_head,) + s[1:]
    if p in ("expert_column", "expert_row"):
        if ep:
            return (c(s[0]),) + s[1:]
        if len(s) == 2:  # stacked biases: column biases split, row biases replicated
            return (s[0], c(s[1])) if p == "expert_column" else s
        return (s[0], c(s[1]), s[2]) if p == "expert_column" else (s[0], s[1], c(s[2]))
    if p == "flat":
        return (c(s[0]),)
    raise ValueError(f"unknown parallel kind {p!r}")


@lru_cache(maxsize=4096)
def stage_tensors(spec: ModelSpec, quant: str, tp: int, pp: int, ep: bool) -> tuple[tuple[int, Tensor, tuple, int], ...]:
    """Every tensor with the pipeline stage that holds it, the shard one GPU of that stage holds,
    and the shard's bytes under the format: ``(stage, tensor, shard_shape, nbytes)``. The embedding
    and vision tower sit on the first stage, the final norm and lm_head on the last."""
    fmt = get_format(quant)
    stages = pp_partition(spec.need("the pipeline split", "num_hidden_layers"), pp)
    stage_of = {layer: k for k, layers in enumerate(stages) for layer in layers}
    out = []
    for t in weight_table(spec):
        if t.layer is not None:
            k = stage_of[t.layer]
        elif t.component in ("embedding", "vision"):
            k = 0
        else:  # final norm, lm_head
            k = pp - 1
        shape = shard_shape(t, spec, tp, ep)
        out.append((k, t, shape, fmt.rule(spec, t).nbytes(shape)))
    return tuple(out)


@lru_cache(maxsize=4096)
def stage_weight_bytes(spec: ModelSpec, quant: str, tp: int, pp: int, ep: bool,
                       include_vision: bool) -> tuple[int, ...]:
    """Weight bytes on one GPU of each pipeline stage (exact for the format's layout)."""
    out = [0] * pp
    for k, t, _, nbytes in stage_tensors(spec, quant, tp, pp, ep):
        if include_vision or t.component != "vision":
            out[k] += nbytes
    return tuple(out)


def total_weight_bytes(spec: ModelSpec, quant: str, include_vision: bool = True) -> int:
    """Bytes of the whole model under a format (unsharded)."""
    fmt = get_format(quant)
    return sum(fmt.rule(spec, t).nbytes(t.shape) for t in weight_table(spec)
               if include_vision or t.component != "vision")


# ------------------------------------------------------------------------------------ KV cache --
def resolve_kv_layout(kv_layout: str, engine: str, spec: ModelSpec) -> tuple[str, str]:
    """The concrete layout ``auto`` stands for, and why (facts/serving.md 2.1).

    vLLM: its hybrid KV manager handles sliding-window layers by default but was disabled by
    default for Llama 4's chunked-local layers (PR #21761), so ``full`` for chunked models and
    ``hybrid`` for sliding-window ones. SGLang: Llama 4 hybrid KV is a separate opt-in mode, so
    ``full``. generic: ``full`` (the reference implementations keep full-length KV).
    """
    if kv_layout not in KV_LAYOUTS:
        raise UsageError(f"unknown KV layout '{kv_layout}' (choices: {', '.join(KV_LAYOUTS)})")
    if kv_layout != "auto":
        return kv_layout, "as given"
    try:
        types = set(spec.resolved_layer_types())
    except UnknownValueError:
        return "full", "attention layout unknown: full-length KV assumed"
    if types == {"full_attention"}:
        return "full", "every layer is full attention"
    if engine == "vllm":
        if "chunked_attention" in types:
            return "full", ("vLLM disables its hybrid KV manager for Llama 4 chunked-local layers by default "
                            "(PR #21761): every layer holds the full context; --kv-layout hybrid models it on")
        return "hybrid", "vLLM's hybrid KV manager caps sliding-window layers at their window by default"
    if engine == "sglang":
        return "full", "SGLang's hybrid KV cache for windowed layers is opt-in; --kv-layout hybrid models it"
    return "full", "generic engine: full-length KV in every layer (reference implementation behaviour)"


def kv_bytes_per_token_layer(spec: ModelSpec, kv_bytes: int, tp: int) -> int:
    """KV bytes one GPU stores per token for one attention layer (DESIGN.md rule 4)."""
    if spec.is_mla:
        return (spec.kv_lora_rank + spec.qk_rope_head_dim) * kv_bytes
    nkv = spec.need("KV cache size", "num_key_value_heads")
    return 2 * max(1, nkv // tp) * spec.resolved_head_dim * kv_bytes


@dataclass(frozen=True)
class KvModel:
    """KV bytes per sequence on one GPU of one stage as a function of context length."""

    bytes_per_token_layer: int
    #: For each layer of the stage: the token cap (None = full length).
    caps: tuple[int | None, ...]
    block: int

    def per_sequence(self, tokens: int) -> int:
        """Bytes one sequence of ``tokens`` tokens needs on this GPU (block-rounded)."""
        total_tokens = 0
        for cap in self.caps:
            n = tokens if cap is None else min(tokens, cap)
            total_tokens += -(-n // self.block) * self.block
        return total_tokens * self.bytes_per_token_layer

    def max_tokens(self, capacity: int, batch: int, limit: int) -> int:
        """Largest context ``<= limit`` such that ``batch`` sequences fit in ``capacity`` (0 if none)."""
        if capacity < 0 or batch * self.per_sequence(1) > capacity:
            return 0
        lo, hi = 1, limit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if batch * self.per_sequence(mid) <= capacity:
                lo = mid
            else:
                hi = mid - 1
        return lo


@lru_cache(maxsize=4096)
def kv_models(spec: ModelSpec, kv_bytes: int, tp: int, pp: int, layout: str, block: int,
              in_flight: int) -> tuple[KvModel, ...]:
    """One ``KvModel`` per pipeline stage."""
    types = spec.resolved_layer_types()
    per_layer = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    out = []
    for layers in pp_partition(spec.num_hidden_layers, pp):
        caps = []
        for i in layers:
            window = spec.window_of(types[i])
            if layout == "hybrid" and window is not None:
                # vLLM: chunked -> chunk + in-flight; sliding -> window - 1 + in-flight
                caps.append(window + in_flight - (1 if types[i] == "sliding_attention" else 0))
            else:
                caps.append(None)
        out.append(KvModel(per_layer, tuple(caps), block))
    return tuple(out)


def kv_bytes_per_token_model(spec: ModelSpec, kv_bytes: int) -> int:
    """KV bytes per token for the whole model at full length, unsharded (the headline figure)."""
    return kv_bytes_per_token_layer(spec, kv_bytes, 1) * spec.num_hidden_layers


# --------------------------------------------------------------------------------- activations --
def activation_peak_bytes(spec: ModelSpec, tp: int, tokens: int, seqs: int, act_bytes: int = 2) -> int:
    """Analytical activation peak of one forward pass over ``tokens`` tokens plus the sampler.

    An estimate of what vLLM's start-up profile run measures (no primary source gives a formula;
    label: analytical). In ``act_bytes`` per element (BF16 = 2; the float32 runtime 4):
    residual + hidden ``2h`` per token, plus the largest per-layer transient per token:
    attention ``(nh + 2 nkv) hd / tp`` (qkv) + ``nh hd / tp`` (output); dense MLP ``3 f / tp``
    (gate/up output and activation); MoE ``k (3 fe / tp + h)`` (fused-MoE intermediate caches)
    + ``3 fs / tp`` (shared expert) + ``E`` router logits. The sampler holds fp32 logits
    ``seqs x vocab x 4``; the peak is the larger of the two.
    """
    h = spec.hidden_size
    nh = spec.num_attention_heads
    hd = spec.resolved_head_dim if not spec.is_mla else spec.qk_nope_head_dim + spec.qk_rope_head_dim
    nkv = spec.num_key_value_heads or 1
    attn = (nh + 2 * nkv) * hd // tp + nh * hd // tp
    mlp = 3 * spec.intermediate_size // tp if spec.intermediate_size else 0
    moe = 0
    if spec.is_moe:
        fe, k = spec.moe_intermediate_size, spec.num_experts_per_tok
        moe = k * (3 * fe // tp + h) + 3 * spec.shared_width // tp + spec.num_local_experts
    forward = tokens * act_bytes * (2 * h + max(attn, mlp, moe))
    sampler = seqs * spec.vocab_size * 4
    return max(forward, sampler)


# ---------------------------------------------------------------------------------- estimator --
@dataclass(frozen=True)
class Settings:
    """A deployment's resolved settings (validated, defaults filled in)."""

    tp: int
    pp: int
    ep: bool
    fmt: QuantFormat
    kv_dtype_in: str
    kv_dtype: str
    kv_bytes: int
    layout: str
    layout_reason: str
    budget: EngineBudget
    max_seqs: int
    batched_tokens: int
    nodes: int


def resolve(d: Deployment) -> Settings:
    """Validate a deployment and fill in every default (UsageError on impossible input)."""
    spec, gpu = d.model, d.gpu
    engine = check_engine(d.engine)
    fmt = get_format(d.quant)
    kv_dtype_in = check_kv_dtype(d.kv_cache_dtype)
    if d.gpu_count < 1:
        raise UsageError(f"--gpus must be at least 1, got {d.gpu_count}")
    if d.batch < 1:
        raise UsageError(f"--batch must be at least 1, got {d.batch}")
    if d.context_tokens < 1:
        raise UsageError(f"--ctx must be at least 1, got {d.context_tokens}")
    pp = d.pipeline_parallel_size
    tp = d.tensor_parallel_size if d.tensor_parallel_size is not None else d.gpu_count // max(pp, 1)
    validate_layout(spec, d.gpu_count, tp, pp, d.expert_parallel)
    budget = engine_budget(engine, gpu, tp=tp, pp=pp, gpu_memory_utilization=d.gpu_memory_utilization,
                           mem_fraction_static=d.mem_fraction_static, overhead_bytes=d.overhead_bytes,
                           chunked_prefill_size=d.max_num_batched_tokens)
    default_seqs, default_tokens = vllm_batch_defaults(gpu)
    if engine == "generic":
        default_seqs, default_tokens = GENERIC_MAX_SEQS, GENERIC_PREFILL_CHUNK
    layout, layout_reason = resolve_kv_layout(d.kv_layout, engine, spec)
    return Settings(
        tp=tp, pp=pp, ep=d.expert_parallel, fmt=fmt, kv_dtype_in=kv_dtype_in,
        kv_dtype=resolve_kv_dtype(kv_dtype_in, spec), kv_bytes=kv_dtype_bytes(kv_dtype_in, spec),
        layout=layout, layout_reason=layout_reason, budget=budget,
        max_seqs=d.max_num_seqs or default_seqs, batched_tokens=d.max_num_batched_tokens or default_tokens,
        nodes=-(-d.gpu_count // gpu.gpus_per_node),
    )


@dataclass(frozen=True)
class MemoryCore:
    """The numbers every verdict rests on, per pipeline stage (fast: the planner evaluates
    thousands). Raises UnknownValueError on construction for unpublished architectures."""

    settings: Settings
    weights: tuple[int, ...]
    activation: int
    kvms: tuple[KvModel, ...]
    max_position: int

    def capacity(self, k: int) -> int:
        """KV bytes stage ``k``'s GPU can hold after weights, activations and overhead."""
        b = self.settings.budget
        return b.budget_bytes - self.weights[k] - self.activation - b.overhead_bytes

    def binding_stage(self, context: int, batch: int) -> tuple[int, int, int, int]:
        """``(free, stage, capacity, kv_need)`` of the stage with the least free memory."""
        best = None
        for k, kvm in enumerate(self.kvms):
            cap = self.capacity(k)
            need = batch * kvm.per_sequence(context)
            row = (cap - need, k, cap, need)
            if best is None or row < best:
                best = row
        return best

    def max_context(self, batch: int) -> int:
        """Longest context (<= the model's maximum) at which ``batch`` sequences fit."""
        return min(kvm.max_tokens(self.capacity(k), batch, self.max_position) for k, kvm in enumerate(self.kvms))

    def max_concurrency(self, context: int) -> int:
        """Most sequences of ``context`` tokens that fit."""
        return min(max(0, self.capacity(k)) // kvm.per_sequence(context) for k, kvm in enumerate(self.kvms))

    def kv_total(self, context: int, batch: int) -> int:
        """KV bytes of the whole deployment (every GPU) for ``batch`` x ``context``."""
        return sum(self.settings.tp * batch * kvm.per_sequence(context) for kvm in self.kvms)


def memory_core(d: Deployment, s: Settings) -> MemoryCore:
    """Weights, activation peak and KV models for a resolved deployment (cached primitives)."""
    spec = d.model
    weights = stage_weight_bytes(spec, s.fmt.id, s.tp, s.pp, s.ep, d.include_vision)
    kvms = kv_models(spec, s.kv_bytes, s.tp, s.pp, s.layout, s.budget.block_size, s.batched_tokens)
    act = activation_peak_bytes(spec, s.tp, s.batched_tokens, s.max_seqs) if s.budget.activations_in_budget else 0
    return MemoryCore(s, weights, act, kvms, spec.need("the context limit", "max_position_embeddings"))


def quick_fit(d: Deployment, headroom: float = 0.0) -> tuple[bool | None, int | None, Settings, "MemoryCore | None"]:
    """Fast verdict for the planner: ``(fits, free_bytes, settings, core)``; fits is None when the
    architecture is unknown. ``headroom`` is the fraction of the budget that must stay free."""
    s = resolve(d)
    try:
        core = memory_core(d, s)
    except UnknownValueError:
        return None, None, s, None
    free, _, _, _ = core.binding_stage(d.context_tokens, d.batch)
    fits = d.context_tokens <= core.max_position and free >= headroom * s.budget.budget_bytes
    return fits, free, s, core


def _warnings(d: Deployment, s: Settings) -> list[str]:
    g, spec, fmt = d.gpu, d.model, s.fmt
    out = []
    if fmt.needs_native == "fp8" and not g.native.fp8:
        out.append(f"{g.id} has no native FP8: {fmt.id} runs weight-only (weights stay FP8, e.g. Marlin W8A16) "
                   "with BF16 matmuls")
    if fmt.needs_native == "fp4" and not g.native.fp4:
        out.append(f"{g.id} has no native FP4: {fmt.id} runs weight-only (FP4 weights dequantized, BF16 matmuls)")
    if s.kv_dtype_in == "fp8" and not g.native.fp8:
        out.append(f"{g.id} has no native FP8: the FP8 KV cache is stored in FP8 and converted in software")
    if fmt.gguf and s.budget.engine in ("vllm", "sglang"):
        out.append(f"{fmt.id} is a GGUF format for llama.cpp-style engines; {s.budget.engine}'s GGUF support is limited")
    if g.unverified:
        out.append(f"{g.id} is an unverified catalogue entry (its memory size is not from a sourced fact)")
    if s.tp > g.gpus_per_node:
        out.append(f"tensor parallelism ({s.tp}) spans {-(-s.tp // g.gpus_per_node)} nodes: every layer's "
                   "all-reduce crosses the inter-node network (its bandwidth is not in the catalogue)")
    elif s.tp > 1 and not g.interconnect.fast:
        out.append(f"tensor parallelism ({s.tp}) without NVLink-class links ({g.interconnect.type}): "
                   "all-reduce is bandwidth-limited")
    if s.ep and spec.num_local_experts and spec.num_local_experts % s.tp:
        out.append(f"{spec.num_local_experts} experts do not divide evenly over {s.tp} GPUs; "
                   "the busiest GPU holds the extra expert")
    if fmt.accuracy != "exact":
        out.append(f"{fmt.id}: per-tensor type mix approximates llama.cpp's rules")
    return out + list(s.budget.notes)


def _assumptions(d: Deployment, s: Settings) -> list[Assumption]:
    gpu, b, fmt = d.gpu, s.budget, s.fmt
    out = [
        Assumption(name="device_memory", value=f"{gpu.memory_bytes:,} bytes ({gpu.memory.basis})",
                   source=gpu.memory.driver_source if gpu.memory.basis == "driver" else
                   gpu.memory.source + " - datasheet decimal GB; the driver may report a little more"),
        Assumption(name="engine", value=b.engine, source="--engine"),
        Assumption(name="kv_layout", value=s.layout, source=s.layout_reason),
        Assumption(name="kv_block_size_tokens", value=str(b.block_size),
                   source="vLLM CacheConfig.DEFAULT_BLOCK_SIZE" if b.engine == "vllm" else "token-granular KV"),
        Assumption(name="quantization", value=f"{fmt.id}: {fmt.description}; quantizes {fmt.quantizes}; "
                   f"keeps 16-bit: {fmt.keeps_16bit}", source="llamasize.quant"),
        Assumption(name="vision_tower", value="loaded" if d.include_vision else "excluded (--text-only)",
                   source="--text-only"),
    ]
    if b.fraction_name:
        given = d.gpu_memory_utilization is not None or d.mem_fraction_static is not None
        out.append(Assumption(name=b.fraction_name, value=f"{b.fraction:g}",
                              source="as given" if given else ("vLLM 0.33 default (0.9 before)" if b.engine == "vllm"
                                                               else "SGLang automatic rule")))
    if b.engine != "sglang":
        out.append(Assumption(
            name="runtime_overhead_bytes", value=f"{b.overhead_bytes:,}",
            source="--overhead-gib" if d.overhead_bytes is not None else
            ("vLLM non-torch 1 GiB (docstring example) + CUDA graphs 0.5 GiB (assumed)" if b.engine == "vllm"
             else "CUDA context, a few hundred MiB (facts/hardware.md); 512 MiB assumed")))
        defaults = not (d.max_num_batched_tokens or d.max_num_seqs)
        out.append(Assumption(
            name="activation_profile", value=f"{s.batched_tokens} tokens, {s.max_seqs} sequences",
            source="vLLM max_num_batched_tokens / max_num_seqs defaults for this GPU"
            if b.engine == "vllm" and defaults else "as given / generic default"))
    if s.layout == "hybrid":
        out.append(Assumption(name="kv_in_flight_tokens", value=str(s.batched_tokens),
                              source="windowed layers keep window + max_num_batched_tokens tokens "
                                     "(vLLM ChunkedLocalAttentionSpec / SlidingWindowSpec)"))
    return out


def estimate_memory(d: Deployment) -> FitEstimate:
    """Evaluate one deployment: per-GPU memory, fits or not, max context and concurrency."""
    s = resolve(d)
    spec, gpu = d.model, d.gpu
    common = dict(
        model=spec.id, model_name=spec.name, gpu=gpu.id, gpu_name=gpu.name, gpu_count=d.gpu_count, nodes=s.nodes,
        gpus_per_node=gpu.gpus_per_node, tensor_parallel_size=s.tp, pipeline_parallel_size=s.pp,
        expert_parallel=s.ep, quant=s.fmt.id, kv_cache_dtype=s.kv_dtype, kv_layout=s.layout,
        engine=s.budget.engine, context_tokens=d.context_tokens, batch=d.batch, memory_basis=gpu.memory.basis,
        warnings=_warnings(d, s), assumptions=_assumptions(d, s),
    )
    try:
        core = memory_core(d, s)
    except UnknownValueError as e:
        return _estimate_unknown(d, s, common, e)
    return _estimate_known(d, s, core, common)


def _estimate_known(d: Deployment, s: Settings, core: MemoryCore, common) -> FitEstimate:
    spec, b = d.model, s.budget
    free, k, capacity, kv_need = core.binding_stage(d.context_tokens, d.batch)
    max_ctx = core.max_context(d.batch)
    max_conc = core.max_concurrency(d.context_tokens)
    w, act = core.weights[k], core.activation
    reasons: list[str] = []
    kinds: list[FailureKind] = []
    if d.context_tokens > core.max_position:
        kinds.append("context")
        reasons.append(f"context {d.context_tokens:,} exceeds {spec.id}'s maximum of {core.max_position:,} tokens")
    basis = "" if d.gpu.memory.basis == "driver" else " (budgeted from the datasheet's decimal GB)"
    if capacity < 0:
        used = w + act + b.overhead_bytes
        kinds.append("weights")
        reasons.append(
            f"weights ({w / GIB:.1f} GiB) + activations ({act / GIB:.1f} GiB) + overhead "
            f"({b.overhead_bytes / GIB:.1f} GiB) need {used / GIB:.1f} GiB per GPU; "
            f"{b.budget_bytes / GIB:.1f} GiB available{basis}"
        )
    elif free < 0:
        kinds.append("kv_cache")
        reasons.append(
            f"KV cache for {d.batch} x {d.context_tokens:,} tokens needs {kv_need / GIB:.1f} GiB per GPU; "
            f"{capacity / GIB:.1f} GiB left after weights, activations and overhead "
            f"(max context at this batch: {max_ctx:,}; max concurrency at this context: {max_conc})"
        )
    per_gpu = PerGpuMemory(
        total_bytes=b.total_bytes, budget_bytes=b.budget_bytes, weights_bytes=w, kv_cache_bytes=kv_need,
        activation_bytes=act, overhead_bytes=b.overhead_bytes, kv_capacity_bytes=capacity, free_bytes=free,
        headroom_fraction=round(free / b.budget_bytes, 6), pipeline_stage=k,
        layers=pp_partition(spec.num_hidden_layers, s.pp)[k],
    )
    return FitEstimate(
        fits=not reasons, reasons=reasons, reason_kinds=kinds, max_context_tokens=max_ctx, max_concurrency=max_conc,
        weights_bytes=total_weight_bytes(spec, s.fmt.id, d.include_vision),
        kv_cache_bytes=core.kv_total(d.context_tokens, d.batch),
        kv_cache_bytes_per_token=kv_bytes_per_token_model(spec, s.kv_bytes), per_gpu=per_gpu,
        confidence={"weights_bytes": "exact" if s.fmt.accuracy == "exact" else "approximate",
                    "kv_cache_bytes": "exact", "activation_bytes": "analytical", "overhead_bytes": "assumed",
                    "fits": "analytical"},
        unknown=[], **common,
    )


def _estimate_unknown(d: Deployment, s: Settings, common, err: UnknownValueError) -> FitEstimate:
    """A model whose architecture is unpublished: bound the weights from the published total."""
    spec, b = d.model, s.budget
    unknown = [str(err)]
    pub = spec.published_params
    reasons: list[str] = []
    kinds: list[FailureKind] = []
    fits = None
    low = None
    if pub is not None:
        min_bits = min(s.fmt.min_bits_per_weight, 16)
        low = int(pub.total * min_bits) // 8
        per_gpu_low = -(-low // d.gpu_count)
        available = b.budget_bytes - b.overhead_bytes
        approx = "" if pub.total_exact else "about "
        if per_gpu_low > available:
            fits = False
            kinds.append("weights")
            reasons.append(
                f"even at {float(min_bits):g} bits for all {approx}{pub.total / 1e9:,.0f}B parameters the weights "
                f"need {per_gpu_low / GIB:.1f} GiB per GPU; {available / GIB:.1f} GiB available"
            )
        else:
            unknown.append("whether it fits: KV cache, activations and the per-GPU split need the architecture")
    per_gpu = PerGpuMemory(
        total_bytes=b.total_bytes, budget_bytes=b.budget_bytes,
        weights_bytes=None if low is None else -(-low // d.gpu_count), kv_cache_bytes=None,
        activation_bytes=None, overhead_bytes=b.overhead_bytes, kv_capacity_bytes=None, free_bytes=None,
        headroom_fraction=None, pipeline_stage=0, layers=None,
    )
    return FitEstimate(
        fits=fits, reasons=reasons, reason_kinds=kinds, max_context_tokens=None, max_concurrency=None, weights_bytes=low,
        kv_cache_bytes=None, kv_cache_bytes_per_token=None, per_gpu=per_gpu,
        confidence={"weights_bytes": "lower bound from the published total", "kv_cache_bytes": "unknown",
                    "fits": "unknown" if fits is None else "lower bound"},
        unknown=unknown, **common,
    )
