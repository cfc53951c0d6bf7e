"""Renderers: every output format of every command, in one place.

Each ``render_*`` takes a result model (or list) and a format and returns the text for stdout.
``table`` is drawn with rich (no colour when stdout is not a terminal or NO_COLOR is set),
``markdown`` with tabulate (GitHub tables, for PR comments), ``json`` is the pydantic dump.
Units are converted here and only here; GiB (2**30) and GB (10**9) are always spelled out.
"""

from __future__ import annotations

import io
import json
import os
from typing import Iterable, Sequence

from pydantic import BaseModel

from llamasize import SCHEMA_VERSION
from llamasize.units import GIB, gib, human_params, human_tokens

FORMATS_BASIC = ("table", "json", "markdown")


def to_json(obj) -> str:
    """Deterministic JSON: pydantic models dumped, keys in model order, 2-space indent."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def _console(buf: io.StringIO):
    from rich.console import Console

    width = int(os.environ.get("COLUMNS", "0") or 0) or 120
    return Console(file=buf, width=width, no_color=True, color_system=None, highlight=False,
                   emoji=False, soft_wrap=False, markup=False)


def _rich_table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[str]],
                right: Sequence[int] = (), no_wrap: Sequence[int] = ()) -> str:
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, h in enumerate(headers):
        t.add_column(h, justify="right" if i in right else "left", overflow="fold", no_wrap=i in no_wrap)
    for r in rows:
        t.add_row(*[str(x) for x in r])
    buf = io.StringIO()
    if title:
        buf.write(title + "\n")
    _console(buf).print(t)
    return buf.getvalue()


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    from tabulate import tabulate

    return tabulate([list(map(str, r)) for r in rows], headers=list(headers), tablefmt="github",
                    disable_numparse=True) + "\n"


def _table(fmt: str, title: str | None, headers, rows, right=(), no_wrap=()) -> str:
    rows = [list(r) for r in rows]
    if fmt == "markdown":
        head = f"**{title}**\n\n" if title else ""
        return head + _md_table(headers, rows)
    return _rich_table(title, headers, rows, right, no_wrap)


def bar(parts: Sequence[tuple[int, str]], total: int, width: int = 40) -> str:
    """A text bar of ``width`` cells: each part drawn with its character in proportion to ``total``."""
    if total <= 0:
        return ""
    out, used = "", 0
    for n, ch in parts:
        cells = max(0, min(width - used, round(max(n, 0) / total * width)))
        out += ch * cells
        used += cells
    return out + "." * (width - used)


# ------------------------------------------------------------------------------------ models ---
def model_rows(models) -> list[dict]:
    """One summary record per model (the JSON of ``llamasize models``)."""
    from llamasize.estimate.params import count_params

    out = []
    for m in models:
        b = count_params(m)
        out.append({
            "id": m.id, "aliases": list(m.aliases), "name": m.name, "family": m.family,
            "release_status": m.release_status, "moe": m.is_moe,
            "total_params": b.total_params, "active_params": b.active_params, "params_confidence": b.confidence,
            "num_experts": m.num_local_experts, "experts_per_token": m.num_experts_per_tok,
            "max_context_tokens": m.max_position_embeddings,
            "license": m.license.name if m.license else None,
        })
    return out


def render_models(models, fmt: str) -> str:
    """``llamasize models``."""
    rows = model_rows(models)
    if fmt == "json":
        return to_json({"schema_version": SCHEMA_VERSION, "models": rows})
    body = [
        [r["id"], ", ".join(r["aliases"]), human_params(r["total_params"]) + ("~" if r["params_confidence"] != "exact" else ""),
         human_params(r["active_params"]) + ("~" if r["params_confidence"] != "exact" else ""),
         f"{r['num_experts']}/{r['experts_per_token'] or '?'}" if r["moe"] else "dense",
         human_tokens(r["max_context_tokens"]), r["release_status"], r["license"] or "unknown"]
        for r in rows
    ]
    out = _table(fmt, "Models", ["id", "aliases", "total", "active", "experts", "context", "status", "license"],
                 body, right=(2, 3, 5))
    return out + ("\n~ = rounded published figure; the architecture is not published\n")


# -------------------------------------------------------------------------------------- gpus ---
def gpu_rows(gpus) -> list[dict]:
    """One summary record per GPU (the JSON of ``llamasize gpus``)."""
    out = []
    for g in gpus:
        price = g.default_price()
        out.append({
            "id": g.id, "aliases": list(g.aliases), "name": g.name, "vendor": g.vendor,
            "architecture": g.architecture, "memory_bytes": g.memory_bytes, "memory_basis": g.memory.basis,
            "memory_bandwidth_bytes_per_s": g.memory_bandwidth_bytes_per_s,
            "bf16_flops_per_s": g.flops.per_second("bf16"), "fp8_flops_per_s": g.flops.per_second("fp8"),
            "fp4_flops_per_s": g.flops.per_second("fp4"),
            "native_fp8": g.native.fp8, "native_fp4": g.native.fp4,
            "interconnect": g.interconnect.type, "interconnect_bytes_per_s": g.interconnect.bandwidth_bytes_per_s,
            "gpus_per_node": g.gpus_per_node, "tdp_watts": g.tdp_watts,
            "price_usd_per_gpu_hour": price.usd_per_gpu_hour if price else None,
            "price_source": f"{price.provider}, {price.as_of or 'undated'}" if price else None,
        })
    return out


def render_gpus(gpus, fmt: str) -> str:
    """``llamasize gpus``."""
    rows = gpu_rows(gpus)
    if fmt == "json":
        return to_json({"schema_version": SCHEMA_VERSION, "gpus": rows})

    def num(v, scale, digits=0):
        return "n/a" if v is None else f"{v / scale:,.{digits}f}"

    body = [
        [r["id"], ", ".join(r["aliases"]), f"{r['memory_bytes'] / GIB:.1f}" + ("" if r["memory_basis"] == "driver" else "*"),
         num(r["memory_bandwidth_bytes_per_s"], 1e9), num(r["bf16_flops_per_s"], 1e12, 1),
         "yes" if r["native_fp8"] else "no", "yes" if r["native_fp4"] else "no", r["interconnect"],
         str(r["gpus_per_node"]),
         "n/a" if r["price_usd_per_gpu_hour"] is None else f"{r['price_usd_per_gpu_hour']:.2f}"]
        for r in rows
    ]
    out = _table(fmt, "GPUs", ["id", "aliases", "memory GiB", "GB/s", "BF16 TFLOPS", "FP8", "FP4", "link",
                               "per node", "$/GPU-h"], body, right=(2, 3, 4, 8, 9))
    return out + ("\n* datasheet capacity (decimal GB); the driver-reported figure is not in the catalogue\n"
                  "n/a = not found in the sourced facts; prices: first on-demand quote (llamasize gpus --format json)\n")


# ------------------------------------------------------------------------------------ params ---
def render_params(b, fmt: str) -> str:
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
    out = _table(fmt, f"Parameters of {b.model} ({b.confidence})", ["component", "parameters", "share"], rows,
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
    sep = "\n" if fmt == "markdown" else ""
    return out + "\n" + "".join(line + "\n" + sep for line in lines)


# --------------------------------------------------------------------------------------- fit ---
def fit_title(e) -> str:
    """One-line description of a deployment."""
    ep = ", EP" if e.expert_parallel else ""
    return (f"{e.model} on {e.gpu_count} x {e.gpu} (TP {e.tensor_parallel_size}, PP {e.pipeline_parallel_size}{ep}; "
            f"{e.nodes} node{'s' if e.nodes > 1 else ''}) | {e.quant} | KV {e.kv_cache_dtype}, {e.kv_layout} layout "
            f"| {e.engine} | {e.batch} x {e.context_tokens:,} tokens")


def verdict_word(fits: bool | None) -> str:
    """FITS / DOES NOT FIT / UNKNOWN."""
    return {True: "FITS", False: "DOES NOT FIT", None: "UNKNOWN"}[fits]


def memory_rows(p) -> list[list[str]]:
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


def memory_bar(p) -> str:
    """Bar: # weights, a activations+overhead, k KV, . free."""
    if p.weights_bytes is None:
        return ""
    parts = [(p.weights_bytes, "#"), ((p.activation_bytes or 0) + p.overhead_bytes, "a"), (p.kv_cache_bytes or 0, "k")]
    return "[" + bar(parts, p.budget_bytes) + "]"


def render_fit(e, fmt: str) -> str:
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
    mem = _table(fmt, f"Per GPU{stage}", ["memory", "size"], memory_rows(p), right=(1,))
    b = memory_bar(p)
    lines = []
    if b:
        lines.append(f"{b}  # weights  a activations+overhead  k KV  . free")
    lines.append(f"max context at batch {e.batch}: {human_tokens(e.max_context_tokens) if e.max_context_tokens is None else f'{e.max_context_tokens:,}'} tokens; "
                 f"max concurrency at {e.context_tokens:,} tokens: {'unknown' if e.max_concurrency is None else e.max_concurrency}")
    if e.weights_bytes is not None and e.unknown:
        lines.append(f"whole deployment: weights at least {gib(e.weights_bytes)} (lower bound from the published total)")
    elif e.weights_bytes is not None:
        lines.append(f"whole deployment: weights {gib(e.weights_bytes)}, KV cache {gib(e.kv_cache_bytes)}"
                     + (f" ({e.kv_cache_bytes_per_token:,} bytes per token at full length)" if e.kv_cache_bytes_per_token else ""))
    for u in e.unknown:
        lines.append(f"unknown: {u}")
    lines.append("assumptions:")
    for a in e.assumptions:
        lines.append(f"  {a.name}: {a.value} [{a.source}]")
    sep = "\n" if fmt == "markdown" else ""
    return head + "\n" + mem + "\n" + "".join(line + "\n" + sep for line in lines)


# -------------------------------------------------------------------------------------- plan ---
def _price_text(p: float | None) -> str:
    return "unknown" if p is None else f"${p:,.2f}"


def option_line(o) -> str:
    """One-line description of a plan option."""
    ep = " · EP" if o.expert_parallel else ""
    multi = " (TP across nodes!)" if o.multi_node_tensor_parallel else ""
    return (f"{o.gpu_count} x {o.gpu} ({o.nodes} node{'s' if o.nodes > 1 else ''}) · TP {o.tensor_parallel_size} · "
            f"PP {o.pipeline_parallel_size}{ep}{multi} · {o.quant} · KV {o.kv_cache_dtype} ({o.kv_layout}) · "
            f"{_price_text(o.price_usd_per_hour)}/h")


def seconds(v: float | None) -> str:
    """Format a duration: ms below a second, s above; 'n/a' when unknown."""
    if v is None:
        return "n/a"
    return f"{v * 1e3:,.1f} ms" if v < 1 else f"{v:,.2f} s"


def usd_per_mtok(v: float | None) -> str:
    """Format $ per 1M tokens."""
    return "n/a" if v is None else f"${v:,.3f}" if v < 10 else f"${v:,.2f}"


def _option_rows(options, start: int) -> list[list[str]]:
    return [
        [str(i), o.gpu, f"{o.gpu_count}" + (f" ({o.nodes}n)" if o.nodes > 1 else ""),
         f"TP{o.tensor_parallel_size} PP{o.pipeline_parallel_size}" + (" EP" if o.expert_parallel else ""),
         o.quant, o.kv_cache_dtype, f"{o.headroom_fraction:.1%}", human_tokens(o.max_context_tokens),
         str(o.max_concurrency), seconds(o.ttft_s), seconds(o.tpot_s), usd_per_mtok(o.usd_per_mtok_blended),
         _price_text(o.price_usd_per_hour)]
        for i, o in enumerate(options, start)
    ]


_OPTION_HEADERS = ["#", "gpu", "GPUs", "layout", "quant", "KV", "free", "max ctx", "max conc", "TTFT", "TPOT",
                   "$/1M tok", "$/h"]


def tfvars(res) -> dict:
    """The flat, typed object of ``plan --format tfvars`` (a ``*.auto.tfvars.json`` file)."""
    o = res.recommendation
    return {
        "llamasize_model": res.model,
        "hf_model": res.hf_model,
        "gpu_type": o.gpu,
        "gpu_count": o.gpu_count,
        "nodes": o.nodes,
        "gpus_per_node": -(-o.gpu_count // o.nodes),
        "tensor_parallel_size": o.tensor_parallel_size,
        "pipeline_parallel_size": o.pipeline_parallel_size,
        "expert_parallel": o.expert_parallel,
        "quant": o.quant,
        "kv_cache_dtype": o.kv_cache_dtype,
        "kv_layout": o.kv_layout,
        "max_model_len": res.request["context_tokens"],
        "engine": o.engine,
        "price_usd_per_hour": o.price_usd_per_hour,
    } if o is not None else {}


def render_plan(res, fmt: str) -> str:
    """``llamasize plan`` (table, markdown, json; tfvars is rendered by ``tfvars``)."""
    if fmt == "json":
        return to_json(res)
    if fmt == "tfvars":
        return to_json(tfvars(res))
    md = fmt == "markdown"
    r = res.request
    lines = [f"{'## ' if md else ''}Plan for {res.model}: {r['quant']} weights, {r['batch']} x {r['context_tokens']:,} "
             f"tokens, {r['engine']}, objective {r['objective']}", ""]
    o = res.recommendation
    if o is None and any(x.kind == "unknown" for x in res.rejected):
        lines.append("CANNOT EVALUATE: the model's architecture is not published (see 'llamasize params "
                     f"{res.model}'); only its total size is known.")
    elif o is None:
        lines.append("NOTHING FITS within the limits.")
        if res.suggestions:
            lines.append("What would fit:")
            lines += [f"  - {s}" for s in res.suggestions]
        else:
            lines.append("No change tried (more GPUs, a smaller quantization, a shorter context, another GPU) fits.")
    else:
        p = o.per_gpu
        lines.append(f"{'**' if md else ''}Recommendation:{'**' if md else ''} {option_line(o)}")
        lines.append(f"  per GPU {memory_bar(p)}  weights {gib(p.weights_bytes)}, activations+overhead "
                     f"{gib(p.activation_bytes + p.overhead_bytes)}, KV {gib(p.kv_cache_bytes)}, free {gib(p.free_bytes)} "
                     f"({o.headroom_fraction:.1%} headroom)")
        lines.append(f"  max context at batch {r['batch']}: {o.max_context_tokens:,} tokens; "
                     f"max concurrency at {r['context_tokens']:,} tokens: {o.max_concurrency}")
        tps = "n/a" if o.output_tokens_per_s is None else f"{o.output_tokens_per_s:,.0f}"
        lines.append(f"  speed ({o.perf_confidence}; {r['batch']} x {r['prompt_tokens']:,}+{r['output_tokens']:,} tokens): "
                     f"TTFT {seconds(o.ttft_s)}, TPOT {seconds(o.tpot_s)}, {tps} output tokens/s; "
                     f"{usd_per_mtok(o.usd_per_mtok_blended)} per 1M tokens at full load")
        for w in o.warnings:
            lines.append(f"  warning: {w}")
    out = "\n".join(lines) + "\n\n"
    if res.alternatives:
        out += _table(fmt, "Alternatives", _OPTION_HEADERS, _option_rows(res.alternatives, 2),
                      right=(0, 2, 6, 7, 8, 9, 10, 11, 12)) + "\n"
    notable = [x for x in res.rejected if x.kind != "excluded"][:8]
    if notable:
        out += ("**Why not**\n\n" if md else "Why not\n")
        for x in notable:
            head = f"{x.gpu} x{x.gpu_count}" if x.gpu_count else x.gpu
            q = f" ({x.quant})" if x.quant else ""
            out += f"  - {head}{q}: {x.reason}\n"
        out += "\n"
    if res.license:
        lic = res.license
        out += ("**License**: " if md else "License: ") + lic.name + "\n"
        for c in lic.conditions:
            out += f"  - {c}\n"
        for w in res.license_warnings:
            out += f"  WARNING: {w}\n"
        out += "\n"
    out += "Assumptions\n" if not md else "**Assumptions**\n\n"
    for a in res.assumptions:
        out += f"  - {a.name}: {a.value} [{a.source}]\n"
    out += f"\n{res.candidates_evaluated} candidate deployments evaluated\n"
    return out


# ------------------------------------------------------------------------------------- sweep ---
def render_sweep(res, fmt: str) -> str:
    """``llamasize sweep``: minimum GPU count per GPU type (rows) and context (columns)."""
    if fmt == "json":
        return to_json(res)
    headers = ["gpu"] + [human_tokens(c) for c in res.contexts]
    rows = []
    for row in res.rows:
        cells = []
        for c in row.cells:
            if c.min_gpus is None:
                cells.append("?" if c.unknown else "-")
            else:
                extra = f" ({c.nodes}n)" if c.nodes and c.nodes > 1 else ""
                q = f" {c.quant}" if res.quant == "auto" else ""
                q += " kv-fp8" if res.kv_cache_dtype == "any" and c.kv_cache_dtype == "fp8" else ""
                cells.append(f"{c.min_gpus}{extra}{q}")
        rows.append([row.gpu] + cells)
    title = (f"Minimum GPUs for {res.model} ({res.quant}, KV {res.kv_cache_dtype}, batch {res.batch}, {res.engine}; "
             f"up to {res.max_nodes} nodes)")
    return _table(fmt, title, headers, rows, right=tuple(range(1, len(headers)))) + \
        "\n- = does not fit within the node limit; ? = unknown (architecture not published); (Nn) = spans N nodes\n"


# -------------------------------------------------------------------------------------- perf ---
def _rate(v: float | None, unit: str) -> str:
    return "n/a" if v is None else f"{v:,.1f} {unit}"


def render_perf(e, fmt: str) -> str:
    """``llamasize perf``."""
    if fmt == "json":
        return to_json(e)
    md = fmt == "markdown"
    ep = ", EP" if e.expert_parallel else ""
    head = (f"{'## ' if md else ''}{e.model} on {e.gpu_count} x {e.gpu} (TP {e.tensor_parallel_size}, PP "
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
    out = head + _table(fmt, None, ["metric", "value", "bound"], rows, right=(1,))
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
    for u in e.unknown:
        lines.append(f"unknown: {u}")
    lines.append("assumptions:")
    lines += [f"  {a.name}: {a.value} [{a.source}]" for a in e.assumptions]
    sep = "\n" if md else ""
    return out + "\n" + "".join(line + "\n" + sep for line in lines)


# -------------------------------------------------------------------------------------- cost ---
def _usd(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"${v:,.2f}" if v < 1e6 else f"${v / 1e6:,.2f}M"


def _volume(v: float | None) -> str:
    """Tokens/day with a decimal suffix."""
    if v is None:
        return "n/a"
    for suffix, mult in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= mult:
            return f"{v / mult:,.1f}{suffix}"
    return f"{v:,.0f}"


def _chart_series(report):
    from llamasize.render.chart import Series

    return [Series(name=c.name, kind=c.kind, points=tuple(tuple(p) for p in c.points)) for c in report.chart]


def cost_chart_text(report, width: int = 78, height: int = 20) -> str:
    """The cost-vs-volume chart for the terminal."""
    from llamasize.render.chart import render_text

    series = _chart_series(report)
    if not series:
        return "(no chart: no self-hosted option has a known price and speed)\n"
    return render_text(series, width=width, height=height, title=f"Cost per day vs daily volume: {report.model}")


def cost_chart_svg(report) -> str:
    """The same chart as a standalone SVG document."""
    from llamasize.render.chart import render_svg

    series = _chart_series(report)
    if not series:
        from llamasize.errors import UsageError

        raise UsageError("no chart to draw: no self-hosted option has a known price and speed")
    return render_svg(series, title=f"llamasize cost: {report.model} ({report.prompt_tokens:,} in + "
                                    f"{report.output_tokens:,} out per request, concurrency {report.concurrency})")


def render_cost(report, fmt: str) -> str:
    """``llamasize cost``: options, API comparison with break-even volumes, chart."""
    if fmt == "json":
        return to_json(report)
    md = fmt == "markdown"
    r = report
    out = (f"{'## ' if md else ''}Cost of {r.model}: {r.prompt_tokens:,} prompt + {r.output_tokens:,} output tokens per "
           f"request, {r.concurrency} concurrent, {r.price_kind.replace('_', '-')} prices, utilisation "
           f"{r.utilization:.0%}" + (f", {_volume(r.tokens_per_day)} tokens/day" if r.tokens_per_day else "") + "\n\n")
    rows = []
    for i, o in enumerate(r.options, 1):
        rows.append([str(i), f"{o.gpu_count} x {o.gpu}", o.quant, _usd(o.usd_per_hour), _usd(o.usd_per_day),
                     seconds(o.ttft_s), seconds(o.tpot_s), _volume(o.capacity_tokens_per_day),
                     usd_per_mtok(o.usd_per_mtok_input), usd_per_mtok(o.usd_per_mtok_output),
                     usd_per_mtok(o.usd_per_mtok_blended)])
    out += _table(fmt, "Self-hosted (speed: " + r.options[0].confidence + ")",
                  ["#", "deployment", "quant", "$/h", "$/day", "TTFT", "TPOT", "tokens/day", "$/1M in", "$/1M out",
                   "$/1M blended"], rows, right=(0, 3, 4, 5, 6, 7, 8, 9, 10)) + "\n"
    best = r.options[0]
    rows = []
    for a in best.apis:
        if a.break_even_tokens_per_day is None:
            be = "n/a"
        elif a.breaks_even_within_capacity:
            be = _volume(a.break_even_tokens_per_day)
        else:
            be = "never"
        tag = " [reference]" if a.reference else ""
        tag += " [suspect price]" if a.suspect else ""
        rows.append([f"{a.provider}: {a.api_model}{tag}", usd_per_mtok(a.input_usd_per_mtok),
                     usd_per_mtok(a.output_usd_per_mtok), usd_per_mtok(a.blended_usd_per_mtok), be,
                     "n/a" if a.savings_ratio_at_capacity is None else f"{a.savings_ratio_at_capacity:,.1f}x",
                     _usd(a.api_usd_per_day_at_volume) if r.tokens_per_day else ""])
    out += _table(fmt, f"APIs vs option 1 ({best.gpu_count} x {best.gpu}, {best.quant}): break-even = daily volume "
                       "where one replica costs what the API does; never = not within the replica's capacity "
                       f"({_volume(best.capacity_tokens_per_day)} tokens/day)",
                  ["API", "$/1M in", "$/1M out", "blended", "break-even/day", "API/self at cap",
                   "API $/day" if r.tokens_per_day else ""], rows, right=(1, 2, 3, 4, 5, 6), no_wrap=(0,)) + "\n"
    if r.cheapest_at_volume:
        c = r.cheapest_at_volume
        out += (f"At {_volume(r.tokens_per_day)} tokens/day the cheapest is {c['kind']}: {c['name']} at "
                f"{_usd(c['usd_per_day'])}/day")
        if best.self_usd_per_day_at_volume is not None:
            out += f" (option 1: {best.replicas_at_volume} replica(s), {_usd(best.self_usd_per_day_at_volume)}/day)"
        out += "\n\n"
    if fmt == "table":
        out += cost_chart_text(r) + "\n"
    unknown = sorted({u for o in r.options for u in o.unknown})
    for u in unknown:
        out += f"unknown: {u}\n"
    out += "Assumptions\n" if not md else "**Assumptions**\n\n"
    for a in r.assumptions:
        out += f"  - {a.name}: {a.value} [{a.source}]\n"
    return out


# ---------------------------------------------------------------------- detect, verify, run ---
def render_detect(found, fmt: str) -> str:
    """``llamasize detect``."""
    if fmt == "json":
        return to_json(found)
    cpu = found.cpu
    lines = [f"CPU: {cpu.model_name}, {cpu.logical_cores or '?'} logical cores, {gib(cpu.memory_total_bytes)} "
             f"({cpu.source})"]
    if not found.gpus:
        lines.append(f"GPUs: none ({found.reason})")
        return "\n".join(lines) + "\n"
    rows = [[str(g.index), g.name, g.catalog_id or "not in catalogue", gib(g.memory_total_bytes),
             g.compute_capability or "?", "?" if g.power_limit_watts is None else f"{g.power_limit_watts:.0f} W",
             {True: "on", False: "off", None: "n/a"}[g.mig_enabled]] for g in found.gpus]
    return "\n".join(lines) + "\n\n" + _table(fmt, f"GPUs (driver {found.driver_version or '?'})",
                                              ["#", "name", "catalogue", "memory", "CC", "power limit", "MIG"], rows)


def _fmt_check_value(v: float, unit: str) -> str:
    if unit == "bytes":
        return f"{int(v):,} B" if v < 2**30 else gib(int(v), 3)
    if unit == "seconds":
        return seconds(v)
    return f"{v:.2f}"


def render_verify(r, fmt: str) -> str:
    """``llamasize verify``: predicted vs measured, with the ratio and pass/fail."""
    if fmt == "json":
        return to_json(r)
    head = (f"{'## ' if fmt == 'markdown' else ''}verify {r.model} on {r.device_name} ({r.backend}, {r.dtype}): "
            f"{'PASS' if r.passed else 'FAIL'} (tolerance {r.tolerance:g}; {r.seconds:.1f} s)\n\n"
            f"device: copy bandwidth {r.measured_bandwidth_bytes_per_s / 1e9:,.1f} GB/s, matmul "
            f"{r.measured_matmul_flops_per_s / 1e9:,.1f} GFLOP/s; GEMM by rows "
            + ", ".join(f"{m}: {f / 1e9:,.0f}" for m, f in sorted(r.matmul_flops_per_s_by_rows.items()))
            + " GFLOP/s\n\n")
    rows = [[c.name, _fmt_check_value(c.predicted, c.unit), _fmt_check_value(c.measured, c.unit), f"{c.ratio:.3f}",
             ("ok" if c.passed else "FAIL") + (" (exact)" if c.kind == "exact" else ""), c.note] for c in r.checks]
    out = head + _table(fmt, None, ["check", "predicted", "measured", "ratio", "result", "note"], rows,
                        right=(1, 2, 3))
    c = r.calibration
    out += (f"\ncalibration for '{c.device}': prefill efficiency {c.prefill_efficiency:.3f}, decode bandwidth "
            f"efficiency {c.decode_bandwidth_efficiency:.3f}"
            + (f" -> {r.calibration_path}" if r.calibration_path else " (not saved)") + "\n")
    return out


def render_run(r, fmt: str) -> str:
    """``llamasize run``."""
    if fmt == "json":
        return to_json(r)
    rows = [
        ["weights", f"{r.resident_weight_bytes / 1e6:,.1f} MB {r.dtype} (built in {r.weight_build_seconds:.2f} s)"],
        ["KV cache", f"{r.kv_cache_bytes / 1e6:,.2f} MB ({r.kv_layout} layout)"],
        ["prefill", f"{r.batch} x {r.prompt_tokens} tokens in {seconds(r.prefill_seconds)} "
                    f"({r.prefill_tokens_per_s:,.0f} tokens/s)"],
        ["decode", f"{r.batch} x {r.new_tokens} tokens in {seconds(r.decode_seconds)} "
                   f"({r.decode_tokens_per_s:,.1f} tokens/s)"],
    ]
    out = (f"{r.model} on {r.device_name} ({r.backend})\n\n" + _table(fmt, None, ["", ""], rows))
    for i, toks in enumerate(r.tokens[:4]):
        shown = " ".join(str(t) for t in toks[:24]) + (" ..." if len(toks) > 24 else "")
        out += f"sequence {i}: {shown}\n"
    return out
