"""The planner: search GPU type x count x parallel layout x quantization x KV dtype, rank, explain.

Search space (docs/design.md rule 7, issue "Planner"):

- GPU types: the catalogue, filtered by ``--gpu`` / ``--exclude-gpu``.
- Counts: 1 .. GPUs per node, then whole nodes up to ``max_nodes`` (and at most ``max_gpus``).
- Layouts for a count n: ``tp x pp = n`` with TP dividing the attention heads (KV heads
  divide TP or the other way round). TP stays inside a node; pipeline stages span nodes. TP
  across nodes is tried only when no intra-node layout exists and the GPU has a fast interconnect,
  and it is flagged. For MoE models each layout is tried with and without expert parallelism.
- Attention data-parallel layouts (``dp_layouts``) for MoE models whose KV cache TP attention
  replicates (MLA, or fewer KV heads than GPUs): DP with attention TP 1 over all the GPUs (wide EP
  across nodes) or over each node's GPUs with pipeline stages across nodes. At equal price and count a TP layout is preferred, so DP is chosen
  only where it holds what TP cannot (or by a speed or headroom objective).
- Quantization: the one asked for, or ``auto``: every format the GPU runs well (``auto_formats``).
- KV dtype: the one asked for; ``any`` tries the model's dtype and FP8.

Each candidate is evaluated with the memory model (``memory.quick_fit``, the same arithmetic as
``llamasize fit``). For every GPU type x quantization x KV dtype the smallest fitting count is kept
(its best layout); these are ranked by the objective, ties broken deterministically by
(price, GPU count, nodes, pipeline stages, no EP first, higher precision, GPU id).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from llamasize.data.hardware import GpuSpec
from llamasize.data.registry import Registry
from llamasize.data.spec import ModelSpec
from llamasize.errors import UsageError
from llamasize.estimate.calibration import CalibrationFile, calibration_path, efficiencies_from, load_calibrations
from llamasize.estimate.log_calibration import with_engine_correction
from llamasize.estimate.deployment import Assumption, Deployment
from llamasize.estimate.engine_profiles import profile_settings
from llamasize.estimate.engines import ONLINE_QUANTIZATION
from llamasize.estimate.memory import FitEstimate, budget_step_notes, estimate_memory, fit_reasons, quick_fit
from llamasize.estimate.parallel import tp_problem
from llamasize.estimate.perf import PerfEstimate, estimate_perf
from llamasize.estimate.quant import FORMATS, get_format
from llamasize.plan.pricing import PriceBasis, gpu_hour_price, usd_per_mtok
from llamasize.plan.results import (
    LicenseNote, PlanOption, PlanRequestSummary, PlanResult, Rejection, engine_of, request_summary,
)
from llamasize.text import quote_value

OBJECTIVES = ("cost", "gpus", "headroom", "cost-per-token", "throughput")
PERF_OBJECTIVES = ("cost-per-token", "throughput")
#: Default request shape for the speed and cost numbers of a plan (a workload choice, not a fact).
DEFAULT_PROMPT_TOKENS = 2048
DEFAULT_OUTPUT_TOKENS = 512
#: Precision order used to break ties (higher precision first).
PRECISION = ("fp32", "bf16", "fp16", "fp8_mixed", "fp8", "int8", "q8_0", "q6_k", "q5_k_m", "int4_mixed",
             "mxfp4", "nvfp4", "int4", "nf4", "q4_k_m", "q4_0", "q3_k_m", "q2_k")
DEFAULT_MAX_NODES = 4
#: Largest node count searched (also for suggestions): 64 nodes of 8 GPUs = 512 GPUs per replica.
MAX_NODES_LIMIT = 64
LAYOUT_MODES = ("practical", "all")
DEFAULT_HEADROOM = 0.05


# ------------------------------------------------------------------------------------ request ---
@dataclass(frozen=True)
class PlanRequest:
    """What to plan for. Mirrors the ``plan`` flags and the workload-file keys."""

    model: ModelSpec
    context_tokens: int
    quant: str = "auto"
    batch: int = 1
    gpus: tuple[str, ...] = ()
    exclude_gpus: tuple[str, ...] = ()
    max_gpus: int | None = None
    #: None = one node, widened to DEFAULT_MAX_NODES when nothing fits in one.
    max_nodes: int | None = None
    budget_usd_per_hour: float | None = None
    engine: str = "vllm"
    kv_layout: str = "auto"
    kv_cache_dtype: str = "auto"
    headroom: float = DEFAULT_HEADROOM
    objective: str = "cost"
    gpu_memory_utilization: float | None = None
    mem_fraction_static: float | None = None
    include_vision: bool = True
    mau: int | None = None
    alternatives: int = 5
    #: practical (TP in a node, PP across nodes) or all (every factorisation).
    layout_mode: str = "practical"
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    #: How GPU-hours are priced (llamasize.plan.cost.PriceBasis); None = catalogue on-demand.
    price_basis: object = None
    #: Calibration file to look efficiencies up in (None = the default location).
    calibration: object = None
    #: Engine-memory entries of the calibration (``calibrate --from-log``), attached to every candidate
    #: of a matching shape (``estimate.log_calibration.with_engine_correction``).
    engine_memory: tuple = ()
    #: The engine profile flags of ``fit`` (``estimate.engine_profiles``), given to every candidate:
    #: the release whose memory rules apply (None: the current one), vLLM's hybrid KV setting for
    #: chunked-local attention, TensorRT-LLM's KV fraction.
    engine_version: str | None = None
    hybrid_kv_cache: str | None = None
    kv_cache_free_gpu_mem_fraction: float | None = None


# ------------------------------------------------------------------------------------ results ---
def auto_formats(spec: ModelSpec, gpu: GpuSpec) -> list[str]:
    """Formats a GPU runs well for this model (``--quant auto``).

    16-bit always; FP8 (and Meta's fp8_mixed for Llama 4) only with native FP8; Meta's
    int4_mixed for Llama 4; INT8 and INT4 weight-only everywhere (Marlin-class kernels); NVFP4
    and MXFP4 only with native FP4, except MXFP4 for gpt-oss, whose checkpoint ships in it.
    GGUF and NF4 are left out (llama.cpp / bitsandbytes paths): ask for them explicitly.
    """
    half = "fp16" if spec.torch_dtype == "float16" else "bf16"
    out = [half]
    llama4 = spec.family == "llama4" and spec.is_moe
    if gpu.native.fp8:
        out.append("fp8")
        if llama4:
            out.append("fp8_mixed")
    out += ["int8"]
    if llama4:
        out.append("int4_mixed")
    out.append("int4")
    if gpu.native.fp4:
        out += ["nvfp4", "mxfp4"]
    elif spec.family == "gpt-oss":
        out.append("mxfp4")
    return out


def layouts(spec: ModelSpec, gpu: GpuSpec, n: int, mode: str = "practical") -> list[tuple[int, int, bool]]:
    """``(tp, pp, multi_node_tp)`` layouts for ``n`` GPUs.

    ``all``: every ``tp x pp = n`` with a valid TP size inside a node. ``practical`` (default):
    the way vLLM's documentation deploys -- the largest valid TP size inside a node, and pipeline
    stages only across nodes (``pp <= nodes``), so 3, 5, 6 or 7 GPUs of one node are skipped when
    TP cannot use them all. Either way, TP across nodes is tried only when nothing else exists for
    ``n`` and the GPU has a fast interconnect, and it is flagged.
    """
    layers = spec.num_hidden_layers

    def tp_ok(tp: int) -> bool:
        return tp_problem(spec, tp) is None

    nodes = -(-n // gpu.gpus_per_node)
    out = []
    for tp in range(n, 0, -1):
        if n % tp or not tp_ok(tp) or tp > gpu.gpus_per_node:
            continue
        pp = n // tp
        if layers is not None and pp > layers:
            continue
        if mode == "practical":
            if pp <= nodes:
                out.append((tp, pp, False))
            break
        out.append((tp, pp, False))
    if not out and gpu.interconnect.fast and n > gpu.gpus_per_node:
        for tp in range(n, gpu.gpus_per_node, -1):
            if n % tp == 0 and tp_ok(tp) and (layers is None or n // tp <= layers):
                out.append((tp, n // tp, True))
                break
    return out


def dp_layouts(spec: ModelSpec, gpu: GpuSpec, n: int, *, for_speed: bool = False) -> list[tuple[int, int, int]]:
    """``(tp, pp, dp)`` attention data-parallel layouts for ``n`` GPUs (``estimate.parallel``): one
    DP rank per GPU (attention TP 1); over several nodes either wide DP over all of them (the
    all-to-all crosses nodes, as in the KServe DP+EP DeepSeek-R1 sample, docs/facts/serving.md 2.2) or DP
    inside a node and one pipeline stage per node, for MoE models whose routed experts (and their
    width) divide evenly over the ranks. For memory (the default) only where TP attention would
    replicate the KV cache -- MLA (the latent is held whole on every TP rank) or fewer KV heads than
    the node's GPUs: elsewhere TP already splits the KV by head and DP replicates the attention
    weights, so DP holds less. ``for_speed`` (the SLO search and the frontier) keeps every MoE model:
    DP drops the TP all-reduces of attention and the dense layers (two per layer) for two
    all-to-alls per MoE layer, which can serve more tokens/s at the same count. [] when none applies."""
    if not spec.is_moe or n < 2 or spec.num_hidden_layers is None:
        return []
    nkv = spec.num_key_value_heads
    per_node = min(n, gpu.gpus_per_node)
    if not for_speed and not (spec.is_mla or (nkv is not None and nkv < per_node)):
        return []
    if n % per_node or n // per_node > spec.num_hidden_layers:
        return []
    out = []
    for dp in ((n, per_node) if n > per_node else (n,)):  # wide DP over the nodes, or DP per node + PP
        if spec.num_local_experts % dp or (spec.moe_intermediate_size or 0) % dp:
            continue  # the experts (and their width) split evenly over the ranks, as serving recipes do
        out.append((1, n // dp, dp))
    return out


def gpu_counts(gpu: GpuSpec, max_gpus: int | None, max_nodes: int) -> list[int]:
    """1 .. GPUs per node, then whole nodes up to ``max_nodes``, capped at ``max_gpus``."""
    counts = list(range(1, gpu.gpus_per_node + 1)) + [k * gpu.gpus_per_node for k in range(2, max_nodes + 1)]
    return [c for c in counts if max_gpus is None or c <= max_gpus]


@dataclass(order=True)
class _Cand:
    sort_key: tuple
    deployment: Deployment = field(compare=False)
    price: float | None = field(compare=False)
    free: int = field(compare=False)
    headroom: float = field(compare=False)
    multi_node_tp: bool = field(compare=False)


def price_for(gpu: GpuSpec, n: int, basis=None) -> tuple[float | None, str | None]:
    """Price per hour of ``n`` GPUs under the price basis (catalogue on-demand by default)."""
    per_gpu, source = gpu_hour_price(gpu, basis or PriceBasis())
    if per_gpu is None:
        return None, None
    return round(per_gpu * n, 4), source


def load_plan_calibration(req: "PlanRequest") -> CalibrationFile:
    """The calibration file a plan looks efficiencies up in (``req.calibration``, else the
    default location), read once per plan and passed to every candidate's speed estimate."""
    return load_calibrations(calibration_path(req.calibration), must_exist=req.calibration is not None)


def option_perf(req: "PlanRequest", d: Deployment, calibrations: CalibrationFile | None = None) -> PerfEstimate:
    """Speed estimate of a candidate at the request's workload (calibrated when the calibration
    has the GPU); the prompt and output are clamped to the context the plan is sized for.
    ``calibrations``: the loaded file (read here when not given)."""
    if calibrations is None:
        calibrations = load_plan_calibration(req)
    prompt = min(req.prompt_tokens, max(1, req.context_tokens - 1))
    output = max(1, min(req.output_tokens, req.context_tokens - prompt))
    return estimate_perf(d, prompt_tokens=prompt, output_tokens=output, concurrency=req.batch,
                         eff=efficiencies_from(calibrations, d.gpu))


def _usd_per_mtok(price_per_hour: float | None, perf) -> float | None:
    """Blended $/1M tokens at full utilisation (``pricing.usd_per_mtok``)."""
    return usd_per_mtok(price_per_hour, perf)[2]


def _sort_key(objective: str, price, n, nodes, pp, ep, quant, headroom, gpu_id, kv, per_mtok=None,
              tokens_per_s=None, dp: int = 1) -> tuple:
    prec = PRECISION.index(quant) if quant in PRECISION else len(PRECISION)
    no_price = price is None
    p = price if price is not None else 0.0
    kvp = 0 if kv != "fp8" else 1
    tail = (nodes, pp, dp > 1, ep, prec, kvp, gpu_id)
    if objective == "gpus":
        return (n, no_price, p) + tail
    if objective == "headroom":
        return (-headroom, no_price, p, n) + tail
    if objective == "cost-per-token":
        return (per_mtok is None, per_mtok or 0.0, no_price, p, n) + tail
    if objective == "throughput":
        return (tokens_per_s is None, -(tokens_per_s or 0.0), no_price, p, n) + tail
    return (no_price, p, n) + tail


def _kv_options(req: PlanRequest) -> list[str]:
    if req.kv_cache_dtype == "any":
        return ["auto", "fp8"]
    return [req.kv_cache_dtype]


def select_gpus(req: PlanRequest, reg: Registry) -> tuple[list[GpuSpec], list[GpuSpec]]:
    """(GPU types to search, GPU types left out by the filters)."""
    if any(g.strip().lower() == "local" for g in (*req.gpus, *req.exclude_gpus)):
        raise UsageError("--gpu local is for 'fit' and 'perf' (one device); plan, sweep and cost search the catalogue")
    allowed = [reg.gpu(g) for g in req.gpus] if req.gpus else reg.gpus
    excluded_ids = {reg.gpu(g).id for g in req.exclude_gpus}
    chosen = sorted({g.id: g for g in allowed if g.id not in excluded_ids}.values(), key=lambda g: g.id)
    if not chosen:
        raise UsageError("no GPU type left to search after --gpu / --exclude-gpu")
    left_out = [g for g in reg.gpus if g.id not in {c.id for c in chosen}]
    return chosen, left_out


def _base_deployment(req: PlanRequest, gpu: GpuSpec, n: int, tp: int, pp: int, ep: bool, quant: str,
                     kv: str, dp: int = 1) -> Deployment:
    d = _plain_deployment(req, gpu, n, tp, pp, ep, quant, kv, dp)
    return with_engine_correction(d, req.engine_memory) if req.engine_memory else d


def _plain_deployment(req: PlanRequest, gpu: GpuSpec, n: int, tp: int, pp: int, ep: bool, quant: str,
                      kv: str, dp: int = 1) -> Deployment:
    return Deployment(data_parallel_size=dp,
        model=req.model, gpu=gpu, gpu_count=n, quant=quant, context_tokens=req.context_tokens,
        tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel=ep, kv_cache_dtype=kv, batch=req.batch,
        engine=req.engine, kv_layout=req.kv_layout, gpu_memory_utilization=req.gpu_memory_utilization,
        mem_fraction_static=req.mem_fraction_static, include_vision=req.include_vision,
        **engine_profile_fields(req),
    )


def engine_profile_fields(req: PlanRequest) -> dict:
    """The Deployment fields of the request's engine profile flags (every candidate gets them)."""
    return dict(engine_version=req.engine_version, hybrid_kv_cache=req.hybrid_kv_cache,
                kv_cache_free_gpu_mem_fraction=req.kv_cache_free_gpu_mem_fraction)


@dataclass
class Search:
    """Results of one pass over the search space."""

    best: list[_Cand]
    rejected: list[Rejection]
    evaluated: int
    unknown: bool


def search(req: PlanRequest, gpus: list[GpuSpec], max_gpus: int | None, max_nodes: int,
            quants: list[str] | None = None, calibrations: CalibrationFile | None = None) -> Search:
    """Smallest fitting deployment per GPU type x quantization x KV dtype; notable rejections.
    ``calibrations``: the plan's loaded calibration file (read here, once, when a speed
    objective needs it and none is given)."""
    spec = req.model
    if calibrations is None and req.objective in PERF_OBJECTIVES:
        calibrations = load_plan_calibration(req)
    best: list[_Cand] = []
    rejected: list[Rejection] = []
    evaluated = 0
    unknown = False
    eps = [False, True] if spec.is_moe and spec.num_local_experts else [False]
    for gpu in gpus:
        formats = quants or (auto_formats(spec, gpu) if req.quant == "auto" else [req.quant])
        counts = gpu_counts(gpu, max_gpus, max_nodes)
        for quant in formats:
            for kv in _kv_options(req):
                found = None
                last_fail: Deployment | None = None
                for n in counts:
                    cands = []
                    shapes = [(tp, pp, 1, multi) for tp, pp, multi in layouts(spec, gpu, n, req.layout_mode)]
                    shapes += [(tp, pp, dp, False) for tp, pp, dp in dp_layouts(spec, gpu, n)]
                    for tp, pp, dp, multi in shapes:
                        for ep in eps:
                            if ep and tp * dp == 1:
                                continue
                            d = _base_deployment(req, gpu, n, tp, pp, ep, quant, kv, dp)
                            fits, free, s, _ = quick_fit(d, req.headroom)
                            evaluated += 1
                            if fits is None:
                                unknown = True
                                continue
                            if not fits:
                                last_fail = d
                                continue
                            price, _ = price_for(gpu, n, req.price_basis)
                            headroom = free / s.budget.budget_bytes
                            per_mtok = tps = None
                            if req.objective in PERF_OBJECTIVES:
                                pe = option_perf(req, d, calibrations)
                                per_mtok = _usd_per_mtok(price, pe)
                                tps = pe.output_tokens_per_s
                            key = _sort_key(req.objective, price, n, s.nodes, pp, ep, quant, headroom, gpu.id, kv,
                                            per_mtok, tps, dp)
                            cands.append(_Cand(key, d, price, free, headroom, multi))
                    if cands:
                        found = min(cands)
                        if req.objective not in ("headroom", *PERF_OBJECTIVES):
                            break
                        # most headroom: keep looking at larger counts, keep the best
                        best.append(found)
                        found = None
                if found is not None:
                    best.append(found)
                elif last_fail is not None and not any(c.deployment.gpu.id == gpu.id and c.deployment.quant == quant
                                                       for c in best):
                    fits, reasons, headroom_fraction = fit_reasons(last_fail)
                    reason = "; ".join(reasons) or "headroom below the required fraction"
                    if fits and req.headroom:
                        reason = (f"free memory {headroom_fraction:.1%} of the budget is below the required "
                                  f"headroom {req.headroom:.0%}")
                    rejected.append(Rejection(gpu=gpu.id, gpu_count=last_fail.gpu_count, quant=quant,
                                              kind="does_not_fit", reason=reason))
    return Search(best, rejected, evaluated, unknown)


def _option(c: _Cand, req: "PlanRequest", calibrations: CalibrationFile) -> PlanOption:
    e: FitEstimate = estimate_memory(c.deployment)
    price, source = price_for(c.deployment.gpu, c.deployment.gpu_count, req.price_basis)
    pe = option_perf(req, c.deployment, calibrations)
    return PlanOption(
        gpu=e.gpu, gpu_name=e.gpu_name, gpu_count=e.gpu_count, nodes=e.nodes,
        tensor_parallel_size=e.tensor_parallel_size, pipeline_parallel_size=e.pipeline_parallel_size,
        data_parallel_size=e.data_parallel_size, expert_parallel=e.expert_parallel, quant=e.quant, kv_cache_dtype=e.kv_cache_dtype, kv_layout=e.kv_layout,
        engine=e.engine, fits=bool(e.fits), headroom_fraction=e.per_gpu.headroom_fraction,
        max_context_tokens=e.max_context_tokens, max_concurrency=e.max_concurrency, per_gpu=e.per_gpu,
        price_usd_per_hour=price, price_source=source, multi_node_tensor_parallel=c.multi_node_tp,
        ttft_s=pe.ttft_s, tpot_s=pe.tpot_s, output_tokens_per_s=pe.output_tokens_per_s,
        usd_per_mtok_blended=_usd_per_mtok(price, pe), perf_confidence=pe.confidence,
        warnings=e.warnings + [w for w in pe.warnings if w not in e.warnings],
        notes=budget_step_notes(c.deployment, _next_larger(c.deployment, req)),
    )


def _next_larger(d: Deployment, req: "PlanRequest") -> Deployment | None:
    """The deployment the search tries after ``d`` on the same GPU type: the next GPU count within
    the limits, its first layout, the same format, KV dtype and expert parallelism (when TP > 1)."""
    for n in gpu_counts(d.gpu, req.max_gpus, req.max_nodes or 1):
        if n <= d.gpu_count:
            continue
        found = layouts(req.model, d.gpu, n, req.layout_mode)
        if found:
            tp, pp, _ = found[0]
            return replace(d, gpu_count=n, tensor_parallel_size=tp, pipeline_parallel_size=pp, data_parallel_size=1,
                           expert_parallel=d.expert_parallel and tp > 1)
    return None


def _license(spec: ModelSpec, mau: int | None) -> tuple[LicenseNote | None, list[str]]:
    lic = spec.license
    if lic is None:
        return None, []
    warns = []
    if mau is not None and lic.mau_threshold is not None and mau > lic.mau_threshold:
        warns.append(f"at {mau:,} monthly active users you are above the {lic.name}'s "
                     f"{lic.mau_threshold:,} threshold: a separate license from the licensor is required")
    note = LicenseNote(name=lic.name, conditions=[c.text for c in lic.conditions], mau_threshold=lic.mau_threshold,
                       source=lic.source)
    return note, warns


def _suggest(req: PlanRequest, gpus: list[GpuSpec], left_out: list[GpuSpec], over_budget: list[_Cand],
             cals: CalibrationFile) -> list[str]:
    """When nothing fits: the smallest changes that would (a larger budget, more GPUs, a smaller
    quantization, a shorter context, another GPU, an FP8 KV cache). Each suggestion respects the
    other limits, the budget included."""
    budget = req.budget_usd_per_hour

    def affordable(cands: list[_Cand]) -> list[_Cand]:
        if budget is None:
            return sorted(cands)
        return sorted(c for c in cands if c.price is not None and c.price <= budget)

    def describe(c: _Cand) -> str:
        d = c.deployment
        nodes = -(-d.gpu_count // d.gpu.gpus_per_node)
        where = f"{d.gpu_count} x {d.gpu.id}" + (f" ({nodes} nodes)" if nodes > 1 else "")
        price = "" if c.price is None else f", ${c.price:,.2f}/h"
        return f"{where} with {d.quant}{price}"

    out = []
    priced = sorted(c for c in over_budget if c.price is not None)
    if priced:
        out.append(f"a larger budget: --budget {priced[0].price:,.2f} buys {describe(priced[0])}")
    wider = affordable(search(req, gpus, None, min(max(req.max_nodes * 2, 8), MAX_NODES_LIMIT), calibrations=cals).best)
    if wider:
        c = min(wider, key=lambda c: (c.deployment.gpu_count, c.sort_key))
        out.append(f"more GPUs: {describe(c)}")
    if req.quant != "auto":
        smaller = [q for q in ("int4", "q4_k_m", "q3_k_m", "q2_k") if q != req.quant]
        res = affordable(search(replace(req, quant="auto"), gpus, req.max_gpus, req.max_nodes, quants=smaller,
                                calibrations=cals).best)
        if res:
            out.append(f"smaller quantization: --quant {res[0].deployment.quant} on {describe(res[0])}")
    for ctx in (2**k for k in range(30, 9, -1)):
        if ctx >= req.context_tokens:
            continue
        res = affordable(search(replace(req, context_tokens=ctx), gpus, req.max_gpus, req.max_nodes,
                                calibrations=cals).best)
        if res:
            out.append(f"shorter context: --ctx {ctx:,} on {describe(res[0])}")
            break
    if left_out:
        res = affordable(search(req, left_out, req.max_gpus, req.max_nodes, calibrations=cals).best)
        if res:
            out.append(f"another GPU: {describe(res[0])}")
    if req.kv_cache_dtype == "auto":
        res = affordable(search(replace(req, kv_cache_dtype="fp8"), gpus, req.max_gpus, req.max_nodes,
                                calibrations=cals).best)
        if res:
            out.append(f"FP8 KV cache: --kv-dtype fp8 on {describe(res[0])}")
    return out


def validate_request(req: PlanRequest) -> None:
    """UsageError for a request no search can run (every enum and bound of ``PlanRequest``); ``plan``
    and ``sweep`` both call it, so neither accepts a value the other refuses."""
    if req.objective not in OBJECTIVES:
        raise UsageError(f"unknown objective {quote_value(req.objective)} (choices: {', '.join(OBJECTIVES)})")
    if req.quant != "auto" and req.quant not in FORMATS:
        get_format(req.quant)  # raises with a suggestion
    if not 0 <= req.headroom < 1:
        raise UsageError(f"--headroom must be in [0, 1), got {req.headroom:g}")
    if req.max_nodes is not None and not 1 <= req.max_nodes <= MAX_NODES_LIMIT:
        raise UsageError(f"--max-nodes must be between 1 and {MAX_NODES_LIMIT}, got {req.max_nodes}")
    if req.max_gpus is not None and req.max_gpus < 1:
        raise UsageError(f"--max-gpus must be at least 1, got {req.max_gpus}")
    if req.layout_mode not in LAYOUT_MODES:
        raise UsageError(f"unknown layout mode {quote_value(req.layout_mode)} (choices: {', '.join(LAYOUT_MODES)})")
    profile_settings(req.engine, req.engine_version, req.hybrid_kv_cache)  # before the search: one-line errors



def plan(req: PlanRequest, reg: Registry, calibrations: CalibrationFile | None = None) -> PlanResult:
    """Search, rank and explain (see the module docstring). ``calibrations``: the loaded
    calibration file (else ``req.calibration`` is read, once for the whole plan)."""
    validate_request(req)
    gpus, left_out = select_gpus(req, reg)
    cals = calibrations if calibrations is not None else load_plan_calibration(req)
    node_note = f"up to {req.max_nodes} node(s) (--max-nodes)"
    if req.max_nodes is None:
        req = replace(req, max_nodes=1)
        res = search(req, gpus, req.max_gpus, 1, calibrations=cals)
        node_note = "one node"
        if not res.best:
            widened = search(replace(req, max_nodes=DEFAULT_MAX_NODES), gpus, req.max_gpus, DEFAULT_MAX_NODES,
                             calibrations=cals)
            if widened.best:
                req = replace(req, max_nodes=DEFAULT_MAX_NODES)
                widened.evaluated += res.evaluated
                res = widened
                node_note = f"nothing fits in one node, so up to {DEFAULT_MAX_NODES} nodes"
    else:
        res = search(req, gpus, req.max_gpus, req.max_nodes, calibrations=cals)
    rejected = list(res.rejected)
    if res.unknown and not res.best:
        rejected.append(Rejection(gpu="*", gpu_count=None, quant=None, kind="unknown",
                                  reason=f"{req.model.id}'s architecture is not published: the layouts and KV cache "
                                         "cannot be evaluated"))
    affordable, over = [], []
    for c in sorted(res.best):
        if req.budget_usd_per_hour is not None and (c.price is None or c.price > req.budget_usd_per_hour):
            d = c.deployment
            why = ("price unknown" if c.price is None else
                   f"${c.price:,.2f}/h is over the ${req.budget_usd_per_hour:,.2f}/h budget")
            rejected.append(Rejection(gpu=d.gpu.id, gpu_count=d.gpu_count, quant=d.quant, kind="over_budget",
                                      reason=f"fits on {d.gpu_count} x {d.gpu.id} with {d.quant}, but {why}"))
            over.append(c)
            continue
        affordable.append(c)
    options = [_option(c, req, cals) for c in affordable[: 1 + req.alternatives]]
    recommendation = options[0] if options else None
    suggestions = [] if recommendation or (res.unknown and not res.best) else _suggest(req, gpus, left_out, over, cals)
    lic, lic_warn = _license(req.model, req.mau)
    request: PlanRequestSummary = request_summary(req)
    assumptions = [
        Assumption(name="price", value=f"first {request.price_kind.replace('_', '-')} quote per GPU in the "
                   "catalogue x GPU count", source="hardware_catalog/*.yaml prices (RunPod March 2026 where available)"),
        Assumption(name="speed_workload", value=f"{req.batch} concurrent sequences of {req.prompt_tokens:,} prompt + "
                   f"{req.output_tokens:,} output tokens", source="--batch / --prompt-tokens / --output-tokens"),
        Assumption(name="headroom_fraction", value=f"{req.headroom:g}",
                   source="--headroom (free memory per GPU / engine budget, at the requested batch and context)"),
        Assumption(name="search", value=f"GPU counts 1..node size, then whole nodes: {node_note}; "
                   f"layouts: {req.layout_mode} (TP inside a node, PP across nodes)"
                   + ("" if req.layout_mode == "practical" else ", every TP x PP factorisation")
                   + ("; attention data parallelism (DP x TP 1 over every GPU, or over each node's with PP across "
                      "nodes; with and without EP)"
                      if any(dp_layouts(req.model, g, g.gpus_per_node) for g in gpus) else ""),
                   source="llamasize.planner"),
        Assumption(name="memory_model", value="same arithmetic as 'llamasize fit'", source="llamasize.memory"),
        engine_of(req),
    ]
    return PlanResult(
        model=req.model.id, model_name=req.model.name,
        hf_model=req.model.serving_repo(recommendation.quant, ONLINE_QUANTIZATION)
        if recommendation and req.model.hf_repos() else None,
        request=request, recommendation=recommendation,
        alternatives=options[1:], rejected=_dedupe(rejected), suggestions=suggestions, license=lic,
        license_warnings=lic_warn, assumptions=assumptions, candidates_evaluated=res.evaluated,
    )


def _dedupe(rejected: list[Rejection]) -> list[Rejection]:
    seen, out = set(), []
    for r in sorted(rejected, key=lambda r: (r.kind, r.gpu, r.quant or "", r.gpu_count or 0)):
        key = (r.kind, r.gpu, r.quant)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def fit_deployment(option: PlanOption, req: PlanRequest, reg: Registry) -> Deployment:
    """The ``fit`` deployment of a plan option (same settings), for round-trip checks."""
    return _base_deployment(req, reg.gpu(option.gpu), option.gpu_count, option.tensor_parallel_size,
                            option.pipeline_parallel_size, option.expert_parallel, option.quant,
                            "fp8" if option.kv_cache_dtype == "fp8" else "auto", option.data_parallel_size)
