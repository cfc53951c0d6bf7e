"""Renderers of the planner's results: ``plan`` (table, markdown, json, tfvars) and ``sweep``."""

from __future__ import annotations

from llamasize.integrations.terraform import tfvars
from llamasize.plan.results import PlanOption, PlanResult
from llamasize.plan.sweep import SweepResult
from llamasize.render.common import engine_label, seconds, table, to_json, usd_per_mtok, terminal
from llamasize.render.estimate import memory_bar
from llamasize.units import gib, human_tokens

#: Formats of ``llamasize plan``.
PLAN_FORMATS = ("table", "json", "markdown", "tfvars")


def _price_text(p: float | None) -> str:
    return "unknown" if p is None else f"${p:,.2f}"


def option_line(o: PlanOption) -> str:
    """One-line description of a plan option."""
    ep = " · EP" if o.expert_parallel else ""
    multi = " (TP across nodes!)" if o.multi_node_tensor_parallel else ""
    dp = f"DP {o.data_parallel_size} · " if o.data_parallel_size > 1 else ""
    return (f"{o.gpu_count} x {o.gpu} ({o.nodes} node{'s' if o.nodes > 1 else ''}) · {dp}TP {o.tensor_parallel_size} · "
            f"PP {o.pipeline_parallel_size}{ep}{multi} · {o.quant} · KV {o.kv_cache_dtype} ({o.kv_layout}) · "
            f"{_price_text(o.price_usd_per_hour)}/h")



def _option_rows(options: list[PlanOption], start: int) -> list[list[str]]:
    return [
        [str(i), o.gpu, f"{o.gpu_count}" + (f" ({o.nodes}n)" if o.nodes > 1 else ""),
         (f"DP{o.data_parallel_size} " if o.data_parallel_size > 1 else "")
         + f"TP{o.tensor_parallel_size} PP{o.pipeline_parallel_size}" + (" EP" if o.expert_parallel else ""),
         o.quant, o.kv_cache_dtype, f"{o.headroom_fraction:.1%}", human_tokens(o.max_context_tokens),
         str(o.max_concurrency), seconds(o.ttft_s), seconds(o.tpot_s), usd_per_mtok(o.usd_per_mtok_blended),
         _price_text(o.price_usd_per_hour)]
        for i, o in enumerate(options, start)
    ]


_OPTION_HEADERS = ["#", "gpu", "GPUs", "layout", "quant", "KV", "free", "max ctx", "max conc", "TTFT", "TPOT",
                   "$/1M tok", "$/h"]


#: The order in which the alternatives' columns give way on a narrow terminal (``rich_table``):
#: speed and per-token cost first, then the KV dtype, concurrency, free share and max context;
#: #, gpu, GPUs, layout, quant and $/h stay longest.
_OPTION_DROP = (10, 9, 11, 5, 8, 6, 7)


@terminal
def render_plan(res: PlanResult, fmt: str) -> str:
    """``llamasize plan`` (table, markdown, json; tfvars is rendered by ``tfvars``)."""
    if fmt == "json":
        return to_json(res)
    if fmt == "tfvars":
        return to_json(tfvars(res))
    md = fmt == "markdown"
    r = res.request
    lines = [f"{'## ' if md else ''}Plan for {res.model}: {r.quant} weights, {r.batch} x {r.context_tokens:,} "
             f"tokens, {engine_label(r.engine, r.engine_version)}, objective {r.objective}", ""]
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
        lines.append(f"  max context at batch {r.batch}: {o.max_context_tokens:,} tokens; "
                     f"max concurrency at {r.context_tokens:,} tokens: {o.max_concurrency}")
        tps = "n/a" if o.output_tokens_per_s is None else f"{o.output_tokens_per_s:,.0f}"
        lines.append(f"  speed ({o.perf_confidence}; {r.batch} x {r.prompt_tokens:,}+{r.output_tokens:,} tokens): "
                     f"TTFT {seconds(o.ttft_s)}, TPOT {seconds(o.tpot_s)}, {tps} output tokens/s; "
                     f"{usd_per_mtok(o.usd_per_mtok_blended)} per 1M tokens at full load")
        for w in o.warnings:
            lines.append(f"  warning: {w}")
        for n in o.notes:
            lines.append(f"  note: {n}")
    out = "\n".join(lines) + "\n\n"
    if res.alternatives:
        out += table(fmt, "Alternatives", _OPTION_HEADERS, _option_rows(res.alternatives, 2),
                      right=(0, 2, 6, 7, 8, 9, 10, 11, 12), drop=_OPTION_DROP) + "\n"
        noted = [(i, a) for i, a in enumerate(res.alternatives, 2) if a.notes]
        if noted:
            out += ("**Notes**\n\n" if md else "Notes\n")
            out += "".join(f"  - #{i} {a.gpu} x{a.gpu_count}: {n}\n" for i, a in noted for n in a.notes) + "\n"
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


@terminal
def render_sweep(res: SweepResult, fmt: str) -> str:
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
    title = (f"Minimum GPUs for {res.model} ({res.quant}, KV {res.kv_cache_dtype}, batch {res.batch}, "
             f"{engine_label(res.engine, res.engine_version)}; "
             f"up to {res.max_nodes} nodes)")
    return table(fmt, title, headers, rows, right=tuple(range(1, len(headers)))) + \
        "\n- = does not fit within the node limit; ? = unknown (architecture not published); (Nn) = spans N nodes\n"
