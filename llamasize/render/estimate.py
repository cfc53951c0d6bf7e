"""Renderers of one deployment's estimates: ``params``, ``fit`` and ``perf``."""

from __future__ import annotations

from llamasize.estimate.memory import FitEstimate, PerGpuMemory
from llamasize.estimate.params import ParamBreakdown
from llamasize.estimate.perf import PerfEstimate
from llamasize.render.common import bar, seconds, table, to_json, terminal
from llamasize.units import GIB, gib, human_tokens


def _checkpoint_lines(b: ParamBreakdown) -> list[str]:
    """The checkpoint's files, exact bytes and dtypes, when the counts come from its metadata."""
    ck = b.checkpoint
    if ck is None:
        return []
    dtypes = ", ".join(f"{d} {p.bytes:,} B" for d, p in ck.dtypes.items())
    lines = [f"checkpoint: {ck.format}, {len(ck.files)} file(s), {ck.tensor_count:,} tensors, "
             f"{ck.total_bytes:,} bytes ({gib(ck.total_bytes, 2)}) of tensor data; {dtypes}"]
    if ck.index_total_size is not None:
        agree = "agrees" if ck.index_total_size == ck.total_bytes else "DISAGREES"
        lines.append(f"index metadata.total_size: {ck.index_total_size:,} bytes ({agree})")
    if ck.components.get("other") and ck.components["other"].tensors:
        lines.append(f"other: {ck.components['other'].tensors:,} tensor(s) no name pattern assigns (counted)")
    return lines + [f"warning: {w}" for w in ck.warnings]


@terminal
def render_params(b: ParamBreakdown, fmt: str) -> str:
    """``llamasize params MODEL``."""
    if fmt == "json":
        return to_json(b)
    total = b.total_params
    rows = []
    for comp, n in b.components.items():
        if n is None:
            rows.append([comp, "unknown", ""])
        elif n:
            rows.append([comp, f"{n:,}", f"{n / total:.2%}"])
    rows.append(["total", f"{total:,}" if total is not None else "unknown", ""])
    rows.append(["active per token", f"{b.active_params:,}" if b.active_params is not None else "unknown", ""])
    if b.active_compute_params is not None:
        rows.append(["active (matmul, no embedding lookup)", f"{b.active_compute_params:,}", ""])
    out = table(fmt, f"Parameters of {b.model} ({b.confidence})", ["component", "parameters", "share"], rows,
                 right=(1, 2))
    lines = []
    if b.num_experts:
        lines.append(f"experts: {b.num_experts} routed, {b.experts_per_token or '?'} per token"
                     + (f", {b.params_per_expert:,} parameters each, {len(b.moe_layers)} MoE layers of {b.num_layers}"
                        if b.params_per_expert else ""))
    if b.published_total_params is not None:
        dev = "" if b.deviation_from_published is None else f"; derived differs by {b.deviation_from_published:+.4%}"
        kind = "exact" if b.published_total_exact else "rounded"
        lines.append(f"published total: {b.published_total_params:,} ({kind}){dev}")
        lines.append(f"source: {b.published_source}")
    for u in b.unknown:
        lines.append(f"unknown: {u}")
    lines += _checkpoint_lines(b)
    sep = "\n" if fmt == "markdown" else ""
    return out + "\n" + "".join(line + "\n" + sep for line in lines)


def dp_text(e) -> str:
    """``"DP 8 x "`` before the TP size of a layout with attention data parallelism, else ``""``."""
    return f"DP {e.data_parallel_size} x " if e.data_parallel_size > 1 else ""


def fit_title(e: FitEstimate) -> str:
    """One-line description of a deployment."""
    ep = ", EP" if e.expert_parallel else ""
    return (f"{e.model} on {e.gpu_count} x {e.gpu} ({dp_text(e)}TP {e.tensor_parallel_size}, PP "
            f"{e.pipeline_parallel_size}{ep}; "
            f"{e.nodes} node{'s' if e.nodes > 1 else ''}) | {e.quant} | KV {e.kv_cache_dtype}, {e.kv_layout} layout "
            f"| {e.engine} | {e.batch} x {e.context_tokens:,} tokens")


def verdict_word(fits: bool | None) -> str:
    """FITS / DOES NOT FIT / UNKNOWN."""
    return {True: "FITS", False: "DOES NOT FIT", None: "UNKNOWN"}[fits]


def memory_rows(p: PerGpuMemory) -> list[list[str]]:
    """Rows of the per-GPU memory table."""
    rows = [
        ["weights", gib(p.weights_bytes)],
        ["activations (peak)", gib(p.activation_bytes)],
        ["runtime overhead", gib(p.overhead_bytes)],
        ["KV cache (this workload)", gib(p.kv_cache_bytes)],
        ["free", gib(p.free_bytes) if p.free_bytes is None or p.free_bytes >= 0 else f"short by {gib(-p.free_bytes)}"],
        ["engine budget", gib(p.budget_bytes)],
        ["device memory", gib(p.total_bytes)],
    ]
    return rows


def memory_bar(p: PerGpuMemory) -> str:
    """Bar: # weights, a activations+overhead, k KV, . free."""
    if p.weights_bytes is None:
        return ""
    parts = [(p.weights_bytes, "#"), ((p.activation_bytes or 0) + p.overhead_bytes, "a"), (p.kv_cache_bytes or 0, "k")]
    return "[" + bar(parts, p.budget_bytes) + "]"


ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "trtllm": "TensorRT-LLM"}


def engine_startup_lines(e: FitEstimate) -> list[str]:
    """The "engine start-up" block: the engine's start-up log lines as it words them (first pipeline
    stage; tokens and concurrency over every stage), then what each item rests on."""
    r = e.engine_report
    if r is None:
        return []
    version = f" {r.engine_version}" if r.engine_version else ""
    out = [f"engine start-up ({ENGINE_NAMES.get(r.engine, r.engine)}{version}; rules of {r.rules_hold_for}"
           + (", pipeline stage 0 as rank 0 logs it" if e.pipeline_parallel_size > 1 else "") + "):"]
    out += [f"  {line}" for line in r.log_lines]
    outside = r.startup_context_bytes + (0 if r.cuda_graph_deducted else r.cuda_graph_bytes)
    out.append(f"  outside the budget: start-up context {gib(r.startup_context_bytes, 2)}"
               + ("" if r.cuda_graph_deducted else f" + CUDA graphs {gib(r.cuda_graph_bytes, 2)}")
               + f" = {gib(outside, 2)}")
    out.append("  basis: " + "; ".join(f"{k.removesuffix('_bytes')} {v}" for k, v in r.basis.items()))
    return out


@terminal
def render_fit(e: FitEstimate, fmt: str) -> str:
    """``llamasize fit``."""
    if fmt == "json":
        return to_json(e)
    p = e.per_gpu
    head = f"{fit_title(e)}\n\n{verdict_word(e.fits)}"
    if e.fits and p.free_bytes is not None:
        head += f" with {gib(p.free_bytes)} free per GPU ({p.headroom_fraction:.1%} of the budget)"
    head += "\n"
    for r in e.reasons:
        head += f"  - {r}\n"
    stage = f" (pipeline stage {p.pipeline_stage})" if e.pipeline_parallel_size > 1 else ""
    mem = table(fmt, f"Per GPU{stage}", ["memory", "size"], memory_rows(p), right=(1,))
    b = memory_bar(p)
    lines = []
    if b:
        lines.append(f"{b}  # weights  a activations+overhead  k KV  . free")
    lines.append(f"max context at batch {e.batch}: {human_tokens(e.max_context_tokens) if e.max_context_tokens is None else f'{e.max_context_tokens:,}'} tokens; "
                 f"max concurrency at {e.context_tokens:,} tokens: {'unknown' if e.max_concurrency is None else e.max_concurrency}")
    if e.weights_bytes is not None and e.unknown:
        lines.append(f"whole deployment: weights at least {gib(e.weights_bytes)} (lower bound from the published total)")
    elif e.weights_bytes is not None:
        label = e.confidence.get("weights_bytes", "")
        exact_ck = f" = {e.weights_bytes:,} bytes, exact (checkpoint)" if label == "exact (checkpoint)" else ""
        lines.append(f"whole deployment: weights {gib(e.weights_bytes)}{exact_ck}, KV cache {gib(e.kv_cache_bytes)}"
                     + (f" ({e.kv_cache_bytes_per_token:,} bytes per token at full length)" if e.kv_cache_bytes_per_token else ""))
    for u in e.unknown:
        lines.append(f"unknown: {u}")
    lines += engine_startup_lines(e)
    lines.append("assumptions:")
    for a in e.assumptions:
        lines.append(f"  {a.name}: {a.value} [{a.source}]")
    sep = "\n" if fmt == "markdown" else ""
    return head + "\n" + mem + "\n" + "".join(line + "\n" + sep for line in lines)


def _rate(v: float | None, unit: str) -> str:
    return "n/a" if v is None else f"{v:,.1f} {unit}"


def _simulation_lines(m) -> list[str]:
    """The simulation block of ``perf`` (the table's TTFT/TPOT/throughput rows are its means)."""
    if m.arrival == "poisson":
        how = f"Poisson at {m.qps:g} req/s, seed {m.seed}"
    else:
        how = "all queued at t=0" if m.arrival == "offline" else f"closed loop of {m.clients} clients"
    return [
        f"simulated: {m.requests:,} requests ({how}), {m.admission} admission; the rows above are its means",
        f"  TTFT p50 / p90 / p99: {seconds(m.ttft_s_p50)} / {seconds(m.ttft_s_p90)} / {seconds(m.ttft_s_p99)}",
        f"  TPOT p50 / p90 / p99: {seconds(m.tpot_s_p50)} / {seconds(m.tpot_s_p90)} / {seconds(m.tpot_s_p99)}",
        f"  end-to-end p50 / p90 / p99: {seconds(m.e2e_s_p50)} / {seconds(m.e2e_s_p90)} / {seconds(m.e2e_s_p99)}",
        f"  KV pool use: {m.kv_utilization:.0%} mean, {m.kv_utilization_max:.0%} peak; {m.preemptions:,} preemptions; "
        f"at most {m.max_running:,} running; {m.steps:,} steps ({m.evaluated_steps:,} timed one by one)",
    ]


@terminal
def render_perf(e: PerfEstimate, fmt: str) -> str:
    """``llamasize perf``."""
    if fmt == "json":
        return to_json(e)
    md = fmt == "markdown"
    ep = ", EP" if e.expert_parallel else ""
    head = (f"{'## ' if md else ''}{e.model} on {e.gpu_count} x {e.gpu} ({dp_text(e)}TP {e.tensor_parallel_size}, PP "
            f"{e.pipeline_parallel_size}{ep}) | {e.quant} (compute {e.compute_dtype}) | KV {e.kv_cache_dtype} | "
            f"{e.concurrency} x ({e.prompt_tokens:,} prompt + {e.output_tokens:,} output) tokens\n\n"
            f"speed: {e.confidence} ({e.efficiency_source} efficiencies)\n\n")
    rows = [
        ["TTFT (prefill of one prompt)", seconds(e.ttft_s), e.prefill.bound if e.prefill and e.prefill.bound else "n/a"],
        ["TPOT (one decode step)", seconds(e.tpot_s), e.decode.bound if e.decode and e.decode.bound else "n/a"],
        ["tokens/s per sequence", _rate(e.tokens_per_s_per_sequence, "tok/s"), ""],
        ["output tokens/s (deployment)", _rate(e.output_tokens_per_s, "tok/s"), ""],
        ["input tokens/s (deployment)", _rate(e.input_tokens_per_s, "tok/s"), ""],
        ["request latency", seconds(e.request_latency_s), ""],
        ["requests/s", _rate(e.requests_per_s, "req/s"), ""],
        ["tokens per GPU-hour", "n/a" if e.tokens_per_gpu_hour is None else f"{e.tokens_per_gpu_hour:,.0f}", ""],
    ]
    out = head + table(fmt, None, ["metric", "value", "bound"], rows, right=(1,))
    lines = []
    for name, ph in (("prefill", e.prefill), ("decode step", e.decode)):
        if ph is not None:
            lines.append(f"{name}: compute {seconds(ph.compute_s)}, memory {seconds(ph.memory_s)}, communication "
                         f"{seconds(ph.communication_s)}; per GPU {ph.flops_per_gpu / 1e9:,.1f} GFLOP, "
                         f"{ph.bytes_read_per_gpu / GIB:,.2f} GiB read")
    if e.distinct_experts_per_moe_layer is not None:
        lines.append(f"routed experts hit per MoE layer per decode step: {e.distinct_experts_per_moe_layer:.2f} "
                     "(E x (1 - (1 - k/E)^B))")
    if e.pipeline_parallel_size > 1:
        lines.append(f"pipeline bubble: {e.pipeline_bubble_fraction:.0%} of stage time idle")
    if e.capacity_requests_per_day is not None:
        lines.append(f"capacity at full load: {e.capacity_requests_per_day:,.0f} requests/day"
                     + (f"; {e.requests_per_day:,.0f} requests/day need {e.replicas_for_requests_per_day} replica(s)"
                        if e.requests_per_day is not None and e.replicas_for_requests_per_day else ""))
    if e.simulation is not None:
        lines += _simulation_lines(e.simulation)
    for u in e.unknown:
        lines.append(f"unknown: {u}")
    lines.append("assumptions:")
    lines += [f"  {a.name}: {a.value} [{a.source}]" for a in e.assumptions]
    sep = "\n" if md else ""
    return out + "\n" + "".join(line + "\n" + sep for line in lines)
