"""Renderer of ``llamasize cost``: self-hosted options, the API comparison with break-even
volumes, and the cost-vs-volume chart (terminal text or SVG, drawn by ``render.chart``)."""

from __future__ import annotations

from llamasize.errors import UsageError
from llamasize.plan.cost import CostReport
from llamasize.render.common import seconds, table, terminal, terminal_width, to_json, usd_per_mtok


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


def _chart_series(report: CostReport):
    from llamasize.render.chart import Series

    return [Series(name=c.name, kind=c.kind, points=tuple(tuple(p) for p in c.points)) for c in report.chart]


def cost_chart_text(report: CostReport, width: int = 78, height: int = 20) -> str:
    """The cost-vs-volume chart for the terminal."""
    from llamasize.render.chart import render_text

    series = _chart_series(report)
    if not series:
        return "(no chart: no self-hosted option has a known price and speed)\n"
    return render_text(series, width=width, height=height, title=f"Cost per day vs daily volume: {report.model}")


def cost_chart_svg(report: CostReport) -> str:
    """The same chart as a standalone SVG document."""
    from llamasize.render.chart import render_svg

    series = _chart_series(report)
    if not series:
        raise UsageError("no chart to draw: no self-hosted option has a known price and speed")
    return render_svg(series, title=f"llamasize cost: {report.model} ({report.prompt_tokens:,} in + "
                                    f"{report.output_tokens:,} out per request, concurrency {report.concurrency})")


@terminal
def render_cost(report: CostReport, fmt: str) -> str:
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
    out += table(fmt, "Self-hosted (speed: " + r.options[0].confidence + ")",
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
    out += table(fmt, f"APIs vs option 1 ({best.gpu_count} x {best.gpu}, {best.quant}): break-even = daily volume "
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
        cols = terminal_width()  # the chart is drawn to the terminal's width, 78 at most, 40 at least
        if cols is not None and cols < 40:
            out += f"(chart not drawn: {cols} columns is narrower than its 40; widen the terminal or use --svg)\n"
        else:
            out += cost_chart_text(r, width=78 if cols is None else min(78, cols)) + "\n"
    unknown = sorted({u for o in r.options for u in o.unknown})
    for u in unknown:
        out += f"unknown: {u}\n"
    out += "Assumptions\n" if not md else "**Assumptions**\n\n"
    for a in r.assumptions:
        out += f"  - {a.name}: {a.value} [{a.source}]\n"
    return out
