"""Renderer of ``llamasize frontier``: the table of every curve's frontier points, a terminal chart
(``chart.render_text``) and the SVG (``chart.render_svg``), both on log axes: x = output tokens/s per
user, y = output tokens/s per GPU, one line per deployment through its Pareto-optimal points."""

from __future__ import annotations

from llamasize.plan.frontier import FrontierResult
from llamasize.render.chart import Series, render_svg, render_text
from llamasize.render.common import seconds, table, to_json

X_LABEL = "output tokens/s per user"
Y_LABEL = "output tokens/s per GPU"


def frontier_series(res: FrontierResult) -> list[Series]:
    """One line per curve through its frontier, tokens/s per user increasing (the chart's x)."""
    out = []
    for c in res.curves:
        pts = tuple((p.tokens_per_s_per_user, p.tokens_per_s_per_gpu) for p in reversed(c.frontier))
        if pts:
            out.append(Series(name=c.name, kind="line", points=pts))
    return out


def _title(res: FrontierResult) -> str:
    return f"Frontier of {res.model}: {res.prompt_tokens:,} + {res.output_tokens:,} tokens per request"


def frontier_chart_svg(res: FrontierResult) -> str:
    """The SVG document (``--svg FILE``)."""
    series = frontier_series(res)
    return render_svg(series, _title(res), x_label=X_LABEL, y_label=Y_LABEL, y_prefix="") if series else ""


def render_frontier(res: FrontierResult, fmt: str, width: int = 72) -> str:
    """Table (frontier points of every curve), then the text chart (table format only), then assumptions."""
    if fmt == "json":
        return to_json(res)
    md = fmt == "markdown"
    rows = []
    for c in res.curves:
        for p in c.frontier:
            rows.append([c.name, str(p.concurrency), f"{p.tokens_per_s_per_user:,.1f}", f"{p.tokens_per_s_per_gpu:,.0f}",
                         seconds(p.ttft_s_mean), seconds(p.tpot_s_mean), str(p.preemptions)])
    out = table(fmt, _title(res) + " (Pareto-optimal points)",
                ["deployment", "concurrency", "tok/s per user", "tok/s per GPU", "mean TTFT", "mean TPOT",
                 "preemptions"], rows, right=(1, 2, 3, 4, 5, 6)) + "\n"
    series = frontier_series(res)
    if series and not md:
        out += render_text(series, width=width, x_label=X_LABEL, y_label=Y_LABEL, y_prefix="") + "\n"
    for w in res.warnings:
        out += f"  warning: {w}\n"
    out += "Assumptions\n" if not md else "**Assumptions**\n\n"
    for a in res.assumptions:
        out += f"  - {a.name}: {a.value} [{a.source}]\n"
    return out
