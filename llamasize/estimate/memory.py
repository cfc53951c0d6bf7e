"""Memory estimator for one deployment: weights, KV cache, activations and overhead per GPU.

Everything is computed per pipeline stage on one GPU of that stage (all GPUs of a stage hold
the same shard sizes), and the stage with the least free memory decides the verdict.

Rules (docs/design.md "Modeling rules" 3-5, docs/facts/serving.md 2.1):

- **Weights**: every tensor of the weight table, stored as the quantization format says
  (``quant``), split as tensor parallelism splits it (``params.Parallel``); routed experts split by
  width over TP, or whole experts over EP (vLLM: EP size = TP size). Pipeline stages follow vLLM's
  ``get_pp_indices`` (layers split evenly, the remainder to the stages before the last); the
  embedding and vision tower sit on the first stage, the final norm and lm_head on the last.
  Per-stage bytes come from ``shards`` (layers of identical shape and storage counted once, so
  the cost does not grow with the layer count).
- **KV cache**: the one KV formula of ``estimate.kv`` (bytes per token per layer, the hybrid
  capacity of windowed layers), per stage, tokens allocated in blocks (vLLM 16).
- **Attention data parallelism** (``parallel``, D ranks): a rank's GPUs hold the KV of its own
  ``ceil(batch / D)`` sequences, so the deployment holds D times what one rank holds.
- **Activations, non-torch, CUDA graphs, weights as loaded**: under vLLM the engine's start-up
  accounting by version (``engine_memory``, ``engine_profiles``; the report in ``engine_report``);
  other engines an analytical peak of the profile run (``activation_peak_bytes``).
- **Budget**: the engine's (``engines``), against the memory the driver reports where the catalogue
  has it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from llamasize.data.spec import ModelSpec
from llamasize.errors import UnknownValueError, UsageError
from llamasize.estimate.checkpoint import uses_checkpoint_bytes
from llamasize.estimate import engine_memory as em
from llamasize.estimate.deployment import Assumption, Deployment
from llamasize.estimate.engine_profiles import EngineProfile, engine_assumption, profile_settings
from llamasize.estimate.engine_report import engine_report, startup_warnings
from llamasize.estimate.engines import (
    SGLANG_LARGE_GPU_GIB, TRTLLM_MAX_BATCH_SIZE, TRTLLM_MAX_NUM_TOKENS, VLLM_BATCH_TIERS, EngineBudget, check_engine,
    engine_budget, is_a100, sglang_reserved_bytes, vllm_batch_defaults, vllm_batch_defaults_at,
)
from llamasize.estimate.fit_result import EngineReport, FailureKind, FitEstimate, PerGpuMemory  # noqa: F401 (re-exported)
from llamasize.estimate.kv import KvModel, kv_bytes_per_token_model, kv_models, resolve_kv_layout
from llamasize.estimate.parallel import ATTENTION_DP_SOURCE, attention_dp_summary, attention_dp_warnings
from llamasize.estimate.parallel import pp_partition, validate_layout
from llamasize.estimate.params import architecture_warnings, params_confidence
from llamasize.estimate import serving_extras
from llamasize.estimate.shards import stage_weight_bytes, total_weight_bytes
from llamasize.estimate.quant import QuantFormat, check_kv_dtype, get_format, kv_dtype_bytes, resolve_kv_dtype
from llamasize.units import GIB

#: Tokens per prefill chunk assumed for the generic engine's activation peak.
GENERIC_PREFILL_CHUNK = 2048
#: Sequences per step assumed for the generic engine's sampler peak.
GENERIC_MAX_SEQS = 256


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
    profile: EngineProfile
    #: vLLM's hybrid KV manager for chunked-local attention: (on, why); None for other engines.
    chunked_hybrid: tuple[bool, str] | None
    #: Bytes of the activation dtype (fp32 runtime 4, else 2).
    act_bytes: int
    #: Attention data-parallel ranks (``Deployment.data_parallel_size``).
    dp: int = 1

    def rank_batch(self, batch: int) -> int:
        """Sequences one attention data-parallel rank holds of ``batch``: ``ceil(batch / dp)``."""
        return -(-batch // self.dp)


#: ``kv.resolve_kv_layout`` reads every layer's type: cached per (layout, engine, spec), the planner
#: resolves thousands of candidates of one spec.
_kv_layout = lru_cache(maxsize=1024)(resolve_kv_layout)


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
    pp, dp = d.pipeline_parallel_size, d.data_parallel_size
    tp = d.tensor_parallel_size if d.tensor_parallel_size is not None else d.gpu_count // max(pp * dp, 1)
    validate_layout(spec, d.gpu_count, tp, pp, d.expert_parallel, dp)
    profile, chunked = profile_settings(engine, d.engine_version, d.hybrid_kv_cache)
    util, overhead = d.gpu_memory_utilization, d.overhead_bytes
    corr = d.engine_correction
    if engine == "vllm":
        util = profile.default_util if util is None else util
        if corr is not None and corr.non_torch_bytes is not None:
            overhead = corr.non_torch_bytes
        elif overhead is None:
            overhead = em.non_torch_bytes(tp, pp, profile.non_torch_tp1_bytes)
    # with attention DP the engine's groups span dp x tp GPUs (SGLang's tp_size; vLLM's EP group)
    budget = engine_budget(engine, gpu, tp=tp * dp, pp=pp, gpu_memory_utilization=util,
                           mem_fraction_static=d.mem_fraction_static, overhead_bytes=overhead,
                           chunked_prefill_size=d.max_num_batched_tokens,
                           kv_cache_free_gpu_mem_fraction=d.kv_cache_free_gpu_mem_fraction)
    default_seqs, default_tokens = vllm_batch_defaults(gpu)
    if engine == "generic":
        default_seqs, default_tokens = GENERIC_MAX_SEQS, GENERIC_PREFILL_CHUNK
    elif engine == "trtllm":  # its own defaults, not vLLM's batch tiers
        default_seqs, default_tokens = TRTLLM_MAX_BATCH_SIZE, TRTLLM_MAX_NUM_TOKENS
    layout, layout_reason = _kv_layout(d.kv_layout, engine, spec, chunked)
    fp32_kv = kv_dtype_in == "auto" and fmt.id == "fp32" and not spec.is_mla
    return Settings(
        tp=tp, pp=pp, ep=d.expert_parallel, fmt=fmt, kv_dtype_in=kv_dtype_in,
        # --dtype float32 runs the KV cache in fp32 too (docs/facts/engine-memory.md row 9)
        kv_dtype="fp32" if fp32_kv else resolve_kv_dtype(kv_dtype_in, spec),
        kv_bytes=4 if fp32_kv else kv_dtype_bytes(kv_dtype_in, spec),
        layout=layout, layout_reason=layout_reason, budget=budget,
        max_seqs=d.max_num_seqs or default_seqs, batched_tokens=d.max_num_batched_tokens or default_tokens,
        nodes=-(-d.gpu_count // gpu.gpus_per_node), dp=dp, profile=profile, chunked_hybrid=chunked,
        act_bytes=em.model_dtype_bytes(spec, fmt.id),
    )


@dataclass(frozen=True)
class MemoryCore:
    """The numbers every verdict rests on, per pipeline stage (fast: the planner evaluates
    thousands). Raises UnknownValueError on construction for unpublished architectures."""

    settings: Settings
    #: Weights as loaded per stage (``engine_memory.loaded_extra_bytes`` included).
    weights: tuple[int, ...]
    #: Activation peak per stage (only the last samples).
    activations: tuple[int, ...]
    kvms: tuple[KvModel, ...]
    max_position: int
    #: CUDA-graph pool per stage, and the part of it the engine deducts from the KV budget.
    graphs: tuple[int, ...] = ()
    deducted: tuple[int, ...] = ()

    @property
    def activation(self) -> int:
        """The largest activation peak of any stage."""
        return max(self.activations)

    def capacity(self, k: int) -> int:
        """KV bytes stage ``k``'s GPU can hold after weights, activations and overhead."""
        return self.settings.budget.kv_capacity(self.weights[k], self.activations[k] + self.deducted[k])

    def binding_stage(self, context: int, batch: int) -> tuple[int, int, int, int]:
        """``(free, stage, capacity, kv_need)`` of the stage with the least free memory."""
        best = None
        for k, kvm in enumerate(self.kvms):
            cap = self.capacity(k)
            need = self.settings.rank_batch(batch) * kvm.per_sequence(context)
            row = (cap - need, k, cap, need)
            if best is None or row < best:
                best = row
        return best

    def max_context(self, batch: int) -> int:
        """Longest context (<= the model's maximum) at which ``batch`` sequences fit."""
        rank = self.settings.rank_batch(batch)
        return min(kvm.max_tokens(self.capacity(k), rank, self.max_position) for k, kvm in enumerate(self.kvms))

    def max_concurrency(self, context: int) -> int:
        """Most sequences of ``context`` tokens that fit (each attention data-parallel rank as many)."""
        per_rank = min(max(0, self.capacity(k)) // kvm.per_sequence(context) for k, kvm in enumerate(self.kvms))
        return self.settings.dp * per_rank

    def kv_total(self, context: int, batch: int) -> int:
        """KV bytes of the whole deployment (every GPU) for ``batch`` x ``context`` (a rank's its share)."""
        s = self.settings
        return sum(s.dp * s.tp * s.rank_batch(batch) * kvm.per_sequence(context) for kvm in self.kvms)


def memory_core(d: Deployment, s: Settings) -> MemoryCore:
    """Weights, activation peak and KV models for a resolved deployment (cached primitives)."""
    spec, engine, pp, corr = d.model, s.budget.engine, s.pp, d.engine_correction
    weights = stage_weight_bytes(spec, s.fmt.id, s.tp, s.pp, s.ep, d.include_vision, s.dp)
    kvms = kv_models(spec, s.kv_bytes, s.tp, s.pp, s.layout, s.budget.block_size, s.batched_tokens)
    zeros = (0,) * pp
    if engine in ("vllm", "sglang"):
        weights = tuple(a + b for a, b in zip(weights, em.loaded_extra_bytes(spec, s.tp, pp, s.act_bytes)))
    if engine == "vllm":
        acts = em.activation_bytes(spec, tp=s.tp, pp=pp, ep=s.ep, tokens=s.batched_tokens, seqs=s.max_seqs,
                                   act_bytes=s.act_bytes, copies=s.profile.sampler_fp32_copies,
                                   include_vision=d.include_vision)
    elif s.budget.activations_in_budget:
        acts = (activation_peak_bytes(spec, s.tp, s.batched_tokens, s.max_seqs),) * pp
    else:
        acts = zeros
    graphs = em.cuda_graph_bytes(spec, s.tp, pp) if engine != "generic" else zeros
    if corr is not None:
        weights = weights if corr.weights_bytes is None else (corr.weights_bytes,) * pp
        if corr.activation_peak_bytes is not None and s.budget.activations_in_budget:
            acts = (corr.activation_peak_bytes,) * pp
        graphs = graphs if corr.cuda_graph_bytes is None else (corr.cuda_graph_bytes,) * pp
    deduct = engine == "vllm" and s.profile.deducts_cuda_graphs and d.overhead_bytes is None
    core = MemoryCore(s, weights, acts, kvms, spec.need("the context limit", "max_position_embeddings"),
                      graphs, graphs if deduct else zeros)
    return serving_extras.apply(d, core)  # --kv-cache-memory-bytes, --cpu-offload-gb, LoRA, drafts


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
    out = architecture_warnings(spec) + (list(spec.checkpoint.warnings) if spec.checkpoint else [])
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
    if g.memory.flag:
        out.append(f"{g.id} memory budget ({g.memory_bytes / GIB:.2f} GiB): {g.memory.flag}")
    if s.tp > g.gpus_per_node:
        out.append(f"tensor parallelism ({s.tp}) spans {-(-s.tp // g.gpus_per_node)} nodes: every layer's "
                   "all-reduce crosses the inter-node network (its bandwidth is not in the catalogue)")
    elif s.tp > 1 and not g.interconnect.fast:
        out.append(f"tensor parallelism ({s.tp}) without NVLink-class links ({g.interconnect.type}): "
                   "all-reduce is bandwidth-limited")
    out += attention_dp_warnings(g.gpus_per_node, s.tp, s.dp, s.ep)
    if s.ep and spec.num_local_experts and spec.num_local_experts % (s.tp * s.dp):
        out.append(f"{spec.num_local_experts} experts do not divide evenly over {s.tp * s.dp} GPUs; "
                   "the busiest GPU holds the extra expert")
    if fmt.accuracy != "exact" and not uses_checkpoint_bytes(spec, fmt.id):  # a checkpoint's bytes are its own
        out.append(f"{fmt.id}: {fmt.accuracy_note}")
    return out + list(s.budget.notes) + list(s.profile.notes)


def _assumptions(d: Deployment, s: Settings) -> list[Assumption]:
    gpu, b, fmt = d.gpu, s.budget, s.fmt
    out = [
        Assumption(name="device_memory", value=f"{gpu.memory_bytes:,} bytes ({gpu.memory.basis})",
                   source=gpu.memory.budget_source),
        engine_assumption(s.profile),
        Assumption(name="kv_layout", value=s.layout, source=s.layout_reason),
        Assumption(name="kv_block_size_tokens", value=str(b.block_size),
                   source={"vllm": "vLLM CacheConfig.DEFAULT_BLOCK_SIZE",
                           "trtllm": "TensorRT-LLM tokens_per_block 32 (assumed)"}.get(b.engine, "token-granular KV")),
        Assumption(name="quantization", value=f"{fmt.id}: {fmt.description}; quantizes {fmt.quantizes}; "
                   f"keeps 16-bit: {fmt.keeps_16bit}",
                   source=d.model.quantization.source if d.model.quantization is not None
                   and d.model.quantization.format_id == fmt.id else "llamasize.quant"),
        Assumption(name="vision_tower", value="loaded" if d.include_vision else "excluded (--text-only)",
                   source="--text-only"),
    ]
    if d.model.num_nextn_predict_layers:
        out.append(Assumption(
            name="mtp_layers", value=f"{d.model.num_nextn_predict_layers} MTP layer(s) in the checkpoint, not loaded",
            source="served without speculative decoding; vLLM loads them only as the draft of "
                   "--speculative-config method deepseek_mtp (not modelled)"))
    if b.fraction_name:
        given = d.gpu_memory_utilization is not None or d.mem_fraction_static is not None
        out.append(Assumption(name=b.fraction_name, value=f"{b.fraction:g}",
                              source="as given" if given else {
                                  "vllm": "vLLM 0.33 default (0.9 before)", "sglang": "SGLang automatic rule",
                                  "trtllm": "TensorRT-LLM default (assumed)"}.get(b.engine, "default")))
    if b.engine != "sglang":
        out.append(Assumption(
            name="runtime_overhead_bytes", value=f"{b.overhead_bytes:,}",
            source="--overhead-gib" if d.overhead_bytes is not None else
            (("vLLM non-torch forward increase by TP/PP (docs/facts/engine-memory.md item 4)"
              + ("; the CUDA-graph pool is deducted on top (vLLM >= 0.21)" if s.profile.deducts_cuda_graphs else ""))
             if b.engine == "vllm" else "CUDA context, a few hundred MiB (docs/facts/hardware.md); 512 MiB assumed")))
        defaults = not (d.max_num_batched_tokens or d.max_num_seqs)
        out.append(Assumption(
            name="activation_profile", value=f"{s.batched_tokens} tokens, {s.max_seqs} sequences",
            source="vLLM max_num_batched_tokens / max_num_seqs defaults for this GPU"
            if b.engine == "vllm" and defaults else "as given / generic default"))
    if s.dp > 1:
        out.append(Assumption(name="attention_data_parallel", value=attention_dp_summary(s.tp, s.pp, s.dp, s.ep),
                              source=ATTENTION_DP_SOURCE))
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
        data_parallel_size=s.dp, expert_parallel=s.ep, quant=s.fmt.id, kv_cache_dtype=s.kv_dtype, kv_layout=s.layout,
        engine=s.budget.engine, context_tokens=d.context_tokens, batch=d.batch, memory_basis=gpu.memory.basis,
        warnings=_warnings(d, s), assumptions=_assumptions(d, s),
    )
    try:
        core = memory_core(d, s)
    except UnknownValueError as e:
        return _estimate_unknown(d, s, common, e)
    # core.settings: the budget serving extras set
    common["warnings"] = common["warnings"] + startup_warnings(d, core.settings, core)
    return _estimate_known(d, core.settings, core, common)


@dataclass(frozen=True)
class _Verdict:
    """The verdict of a deployment with a known architecture: the binding stage's numbers, max
    context and concurrency, and why it does not fit (empty when it fits)."""

    free: int
    stage: int
    capacity: int
    kv_need: int
    max_ctx: int
    max_conc: int
    reasons: list[str]
    kinds: list[FailureKind]


def _verdict(d: Deployment, s: Settings, core: MemoryCore) -> _Verdict:
    """Binding stage, limits and failure reasons: the arithmetic behind ``estimate_memory``."""
    spec, b = d.model, s.budget
    free, k, capacity, kv_need = core.binding_stage(d.context_tokens, d.batch)
    max_ctx = core.max_context(d.batch)
    max_conc = core.max_concurrency(d.context_tokens)
    w, act = core.weights[k], core.activations[k]
    overhead = b.overhead_bytes + core.deducted[k]
    reasons: list[str] = []
    kinds: list[FailureKind] = []
    if d.context_tokens > core.max_position:
        kinds.append("context")
        reasons.append(f"context {d.context_tokens:,} exceeds {spec.id}'s maximum of {core.max_position:,} tokens")
    basis = "" if d.gpu.memory.flag is None else f" (device total: {d.gpu.memory.basis.replace('_', ' ')}, flagged)"
    if capacity < 0:
        used = w + act + overhead
        kinds.append("weights")
        reasons.append(
            f"weights ({w / GIB:.1f} GiB) + activations ({act / GIB:.1f} GiB) + overhead "
            f"({overhead / GIB:.1f} GiB) need {used / GIB:.1f} GiB per GPU; "
            f"{b.budget_bytes / GIB:.1f} GiB available{basis}"
        )
    elif free < 0:
        kinds.append("kv_cache")
        held = (f"{d.batch}" if s.dp == 1 else
                f"{s.rank_batch(d.batch)} (of {d.batch} sequences over {s.dp} attention data-parallel ranks)")
        reasons.append(
            f"KV cache for {held} x {d.context_tokens:,} tokens needs {kv_need / GIB:.1f} GiB per GPU; "
            f"{capacity / GIB:.1f} GiB left after weights, activations and overhead "
            f"(max context at this batch: {max_ctx:,}; max concurrency at this context: {max_conc})"
        )
    return _Verdict(free, k, capacity, kv_need, max_ctx, max_conc, reasons, kinds)


def fit_reasons(d: Deployment) -> tuple[bool | None, list[str], float | None]:
    """``(fits, reasons, headroom fraction)`` of ``estimate_memory(d)`` without building the whole
    estimate (the planner explains thousands of rejections; the estimate lists every layer)."""
    s = resolve(d)
    try:
        core = memory_core(d, s)
    except UnknownValueError:
        e = estimate_memory(d)
        return e.fits, e.reasons, e.per_gpu.headroom_fraction
    s = core.settings  # the budget serving extras set
    v = _verdict(d, s, core)
    return not v.reasons, v.reasons, round(v.free / s.budget.budget_bytes, 6)


def _estimate_known(d: Deployment, s: Settings, core: MemoryCore, common) -> FitEstimate:
    spec, b = d.model, s.budget
    v = _verdict(d, s, core)
    free, k, capacity, kv_need, max_ctx, max_conc = v.free, v.stage, v.capacity, v.kv_need, v.max_ctx, v.max_conc
    w, act, reasons, kinds = core.weights[k], core.activations[k], v.reasons, v.kinds
    per_gpu = PerGpuMemory(
        total_bytes=b.total_bytes, budget_bytes=b.budget_bytes, weights_bytes=w, kv_cache_bytes=kv_need,
        activation_bytes=act, overhead_bytes=b.overhead_bytes + core.deducted[k], kv_capacity_bytes=capacity, free_bytes=free,
        headroom_fraction=round(free / b.budget_bytes, 6), pipeline_stage=k,
        layers=pp_partition(spec.num_hidden_layers, s.pp)[k],
    )
    return FitEstimate(
        fits=not reasons, reasons=reasons, reason_kinds=kinds, max_context_tokens=max_ctx, max_concurrency=max_conc,
        weights_bytes=total_weight_bytes(spec, s.fmt.id, d.include_vision),
        kv_cache_bytes=core.kv_total(d.context_tokens, d.batch),
        kv_cache_bytes_per_token=kv_bytes_per_token_model(spec, s.kv_bytes), per_gpu=per_gpu,
        confidence={"weights_bytes": "exact (checkpoint)" if uses_checkpoint_bytes(spec, s.fmt.id)
                    else "exact" if s.fmt.accuracy == "exact" and params_confidence(spec) == "exact"
                    else "approximate",
                    "kv_cache_bytes": params_confidence(spec), "activation_bytes": "analytical",
                    "overhead_bytes": "assumed" if b.engine != "vllm" else "measured (non-torch by TP/PP)",
                    "fits": "analytical"},
        unknown=[], engine_report=engine_report(d, s, core), **common,
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


# ------------------------------------------------------------------------------- budget steps ---
#: A GPU within this fraction of an engine's memory threshold sits "next to" the step.
STEP_PROXIMITY = 0.10


def _max_context(d: Deployment) -> tuple[int, Settings, MemoryCore]:
    """Max context at the deployment's batch, with its settings and memory core."""
    s = resolve(d)
    core = memory_core(d, s)
    return core.max_context(d.batch), s, core


def _vllm_tier_notes(d: Deployment, ctx: int, core: MemoryCore) -> list[str]:
    """vLLM's default batch shape steps up at 70 GiB (not A100) and 160 GiB of device memory: the
    profile run then reserves a larger activation peak, so just above a step a GPU holds less KV
    than just below it (``engines.VLLM_BATCH_TIERS``)."""
    if d.max_num_seqs or d.max_num_batched_tokens:
        return []
    gpu, out = d.gpu, []
    mem_gib = gpu.memory_bytes / GIB
    for gib, with_a100, _, _ in VLLM_BATCH_TIERS:
        if (is_a100(gpu) and not with_a100) or abs(mem_gib - gib) > STEP_PROXIMITY * gib:
            continue
        above = mem_gib >= gib
        here = vllm_batch_defaults(gpu)
        there = vllm_batch_defaults_at(gib - 1e-9 if above else gib, is_a100(gpu))
        other_ctx, _, other = _max_context(replace(d, max_num_seqs=there[0], max_num_batched_tokens=there[1]))
        if other.activation == core.activation:
            continue
        side = "above" if above else "below"
        kv_here, kv_there = (min(c.capacity(k) for k in range(len(c.kvms))) / GIB for c in (core, other))
        context = (f"max context {ctx:,} vs {other_ctx:,} tokens" if other_ctx != ctx else
                   f"max context {ctx:,} tokens either way (the model's limit or the request)")
        out.append(
            f"next to a vLLM profile step: {gpu.id} has {mem_gib:.1f} GiB, {abs(mem_gib - gib) / gib:.0%} {side} the "
            f"{gib} GiB step of vLLM's default batch shape ({here[0]:,} sequences x {here[1]:,} batched tokens here, "
            f"{there[0]:,} x {there[1]:,} on the other side; EngineArgs.get_batch_defaults, docs/facts/serving.md 2.1): "
            f"activation peak {core.activation / GIB:.2f} GiB here vs {other.activation / GIB:.2f} GiB, KV capacity "
            f"{kv_here:.2f} vs {kv_there:.2f} GiB per GPU, {context}; --max-num-seqs / --max-num-batched-tokens fix "
            "the shape")
    return out


def _sglang_notes(d: Deployment, s: Settings, ctx: int, bigger: Deployment | None) -> list[str]:
    """SGLang's automatic reserve (``engines.sglang_reserved_bytes``) steps up at 60 GiB of device
    memory and grows with tp x pp, so a bigger GPU or more GPUs can hold less."""
    if d.mem_fraction_static is not None:
        return []
    gpu, out = d.gpu, []
    total, mem_gib, gib = gpu.memory_bytes, gpu.memory_bytes / GIB, SGLANG_LARGE_GPU_GIB
    cps = d.max_num_batched_tokens
    if abs(mem_gib - gib) <= STEP_PROXIMITY * gib:
        here, _ = sglang_reserved_bytes(total, s.tp, s.pp, cps)
        there, _ = sglang_reserved_bytes(gib * GIB + (-1 if mem_gib > gib else 1), s.tp, s.pp, cps)
        out.append(
            f"next to SGLang's {gib} GiB step: {gpu.id} has {mem_gib:.1f} GiB; at or above the step SGLang's automatic "
            f"reserve assumes chunked prefill 8,192 (assumed threshold) and is at least 10 GiB (docs/facts/serving.md 2.3): "
            f"{here / GIB:.1f} GiB per GPU here, {there / GIB:.1f} GiB on the other side of the step")
    if bigger is not None and bigger.engine == d.engine:
        try:
            big_ctx, big_s, _ = _max_context(bigger)
        except UnknownValueError:
            return out
        if big_ctx < ctx:
            out.append(
                f"more GPUs hold less here: SGLang's automatic reserve grows by tp x pp / 8 GiB per GPU "
                f"(docs/facts/serving.md 2.3): {d.gpu_count} GPUs ({s.tp} x {s.pp}) reserve "
                f"{s.budget.overhead_bytes / GIB:.1f} GiB per GPU and hold {ctx:,} tokens at batch {d.batch}; "
                f"{bigger.gpu_count} GPUs ({big_s.tp} x {big_s.pp}) would reserve "
                f"{big_s.budget.overhead_bytes / GIB:.1f} GiB and hold {big_ctx:,}")
    return out


def budget_step_notes(d: Deployment, bigger: Deployment | None = None) -> list[str]:
    """Notes for a deployment that sits next to a step of its engine's budget (issue 10 item 7):
    vLLM's profile tiers (70 / 160 GiB of GPU memory) and SGLang's reserve (a 60 GiB step, and
    growth with tp x pp, checked against ``bigger``, the next larger deployment the search would
    try). Each note names the step, its source and the numbers on both sides; [] otherwise."""
    try:
        ctx, s, core = _max_context(d)
    except UnknownValueError:
        return []
    if s.budget.engine == "vllm":
        return _vllm_tier_notes(d, ctx, core)
    if s.budget.engine == "sglang":
        return _sglang_notes(d, s, ctx, bigger)
    return []
