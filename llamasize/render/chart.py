"""Cost vs daily token volume, drawn as plain text for the terminal or as a standalone SVG.

Both axes are log10: x is tokens per day, y is USD per day. A ``line`` series is an API price,
linear in volume (y = price x volume, a straight line of slope 1 on log-log axes); a ``step``
series is a self-hosted deployment, flat while its replicas keep up and jumping when another
replica is needed. Ticks sit on whole decades chosen from the data range (e.g. 1M .. 10B tokens/day,
$10 .. $100K/day) and are thinned when they would crowd.

Point semantics:
- ``line``: consecutive points are joined by straight segments in data space (linear
  interpolation of y in x), which is what "linear in volume" means.
- ``step``: y_i holds on [x_i, x_(i+1)) and jumps to y_(i+1) at x_(i+1); the last point ends the series.

``render.frontier`` draws the throughput-latency frontier with the same two renderers: other axis
labels and ``y_prefix=""`` (the y ticks of a cost chart are dollars, ``"$"``, the default).

Both renderers are pure functions of their input (no clock, no randomness, fixed float formatting),
so the same series always give the same text. Nothing here prints.
"""

from __future__ import annotations

import colorsys
import math
from typing import Literal, Sequence
from xml.sax.saxutils import escape

from pydantic import Field, field_validator

from llamasize.errors import UsageError
from llamasize.data.spec import Frozen

#: Marker characters of the text chart, one per series in order (letters follow when these run out).
#: None of them is a frame character (``+ - |``) or a space.
MARKERS = "*o#x@%&=~^" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "abcdefghijklmnpqrstuvwyz"

#: Stroke colours of the SVG chart (matplotlib's "tab10"); later series get golden-angle hues.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

_SUFFIXES = ("", "K", "M", "B", "T")
#: Samples per segment when a ``line`` segment is not proportional (y = a + b x with a != 0 bends on log axes).
_SEGMENT_SAMPLES = 24


class Series(Frozen):
    """One curve of the chart: ``points`` are (tokens/day, USD/day), x strictly increasing, all > 0."""

    name: str = Field(min_length=1)
    kind: Literal["line", "step"]
    points: tuple[tuple[float, float], ...] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _plottable(cls, pts: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        """Every point finite and > 0 (log axes), x strictly increasing."""
        for i, (x, y) in enumerate(pts):
            if not (math.isfinite(x) and math.isfinite(y)) or x <= 0 or y <= 0:
                raise ValueError(f"point {i} ({x}, {y}): log axes need finite values > 0")
            if i and x <= pts[i - 1][0]:
                raise ValueError(f"point {i}: x ({x}) is not greater than the previous x ({pts[i - 1][0]})")
        return pts


# ------------------------------------------------------------------------------------- scales ---
def _decade_range(values: Sequence[float]) -> tuple[int, int]:
    """Whole decades (lo, hi) with 10**lo <= min(values) and max(values) <= 10**hi, hi > lo."""
    lo = math.floor(math.log10(min(values)) + 1e-9)
    hi = math.ceil(math.log10(max(values)) - 1e-9)
    return lo, max(hi, lo + 1)


def decade_label(exponent: int, prefix: str = "") -> str:
    """Label of 10**exponent: ``1``, ``10``, ``100``, ``1K`` ... ``100T``; ``0.1``, ``0.01`` below 1.

    ``prefix`` goes in front (``"$"`` for dollars).
    """
    if exponent < 0:
        return f"{prefix}{10.0 ** exponent:.{-exponent}f}"
    if exponent // 3 >= len(_SUFFIXES):
        return f"{prefix}1e{exponent}"
    return f"{prefix}{10 ** (exponent % 3)}{_SUFFIXES[exponent // 3]}"


def _label_step(n_decades: int, units_per_decade: float, needed_units: float) -> int:
    """Label every k-th decade, k the smallest with k x units_per_decade >= needed_units."""
    k = 1
    while k < n_decades and k * units_per_decade < needed_units:
        k += 1
    return k


def _check(series: Sequence[Series]) -> list[Series]:
    """The series as a list; UsageError when there are none."""
    out = list(series)
    if not out:
        raise UsageError("nothing to plot: no series given")
    return out


def _ranges(series: list[Series]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Decade ranges (x, y) covering every point of every series."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    return _decade_range(xs), _decade_range(ys)


def _interp(points: tuple[tuple[float, float], ...], x: float) -> float:
    """y of a ``line`` series at x (linear in data space; x clamped to the series' span)."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _ascii(text: str) -> str:
    """Printable ASCII only: anything else becomes '?' so the terminal layout holds."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


# --------------------------------------------------------------------------------------- text ---
def render_text(series: Sequence[Series], width: int = 72, height: int = 20, *,
                x_label: str = "tokens/day", y_label: str = "USD/day", title: str | None = None,
                y_prefix: str = "$") -> str:
    """The chart as plain ASCII text (no colour), for a terminal.

    Layout, top to bottom: the title (if any), the y-axis label, the framed plot, the x tick labels,
    the x-axis label, a blank line, and the legend (``  <marker>  <name>`` per series, truncated to
    ``width``). Every line of the framed plot is exactly ``width`` characters and there are exactly
    ``height`` of them, borders included; y tick labels sit left of the frame, tick marks are ``+``
    on the left and bottom borders. Inside the frame a blank cell pads each side; the remaining grid
    of (width - gutter - 4) x (height - 4) cells maps the decade range linearly in log10, with the
    lowest decade on the first/last row and column. Series are drawn in order (a later one
    overwrites a shared cell), each with its own marker; a step series is horizontal runs joined by
    vertical jumps. No line ends in a space.
    """
    series = _check(series)
    (xlo, xhi), (ylo, yhi) = _ranges(series)
    y_labels = {e: decade_label(e, y_prefix) for e in range(ylo, yhi + 1)}
    gutter = max(len(v) for v in y_labels.values()) + 1
    cols, rows = width - gutter - 4, height - 4
    if cols < 10 or rows < 3:
        raise UsageError(f"chart of {width}x{height} characters is too small "
                         f"(plot area {cols}x{rows}; needs at least 10x3)")

    def col(x: float) -> int:
        """Grid column of x: log10 scale, decade range onto columns 0 .. cols-1, rounded."""
        return math.floor((math.log10(x) - xlo) / (xhi - xlo) * (cols - 1) + 0.5)

    def row(y: float) -> int:
        """Grid row of y: log10 scale, highest decade on row 0, rounded."""
        return (rows - 1) - math.floor((math.log10(y) - ylo) / (yhi - ylo) * (rows - 1) + 0.5)

    grid = [[" "] * cols for _ in range(rows)]

    def put(r: int, c: int, ch: str) -> None:
        """Set one cell (ignored outside the grid)."""
        if 0 <= r < rows and 0 <= c < cols:
            grid[r][c] = ch

    def vertical(c: int, r_from: int, r_to: int, ch: str) -> None:
        """Fill column c from row r_from to r_to, both included."""
        step = 1 if r_to >= r_from else -1
        for r in range(r_from, r_to + step, step):
            put(r, c, ch)

    for i, s in enumerate(series):
        mark = MARKERS[i % len(MARKERS)]
        pts = s.points
        if s.kind == "step":
            for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
                r0, c0, c1 = row(y0), col(x0), col(x1)
                for c in range(c0, c1 + 1):  # the run at y_i ...
                    put(r0, c, mark)
                vertical(c1, r0, row(y1), mark)  # ... and the jump at x_(i+1)
            put(row(pts[-1][1]), col(pts[-1][0]), mark)
        else:
            prev = None
            for c in range(col(pts[0][0]), col(pts[-1][0]) + 1):
                x = 10 ** (xlo + c / (cols - 1) * (xhi - xlo))
                r = row(_interp(pts, min(max(x, pts[0][0]), pts[-1][0])))
                if prev is not None and abs(r - prev) > 1:  # keep steep lines connected
                    vertical(c, prev + (1 if r > prev else -1), r, mark)
                put(r, c, mark)
                prev = r

    # tick positions (thinned so labels don't collide)
    ky = _label_step(yhi - ylo, (rows - 1) / (yhi - ylo), 1.0)
    y_ticks = {row(10.0 ** e): y_labels[e] for e in range(ylo, yhi + 1) if (e - ylo) % ky == 0}
    x_labels = {e: decade_label(e) for e in range(xlo, xhi + 1)}
    widest = max(len(v) for v in x_labels.values())
    kx = _label_step(xhi - xlo, (cols - 1) / (xhi - xlo), widest + 1)
    x_ticks = {col(10.0 ** e): x_labels[e] for e in range(xlo, xhi + 1) if (e - xlo) % kx == 0}

    lines: list[str] = []
    if title:
        lines.append(_ascii(title)[:width].rstrip())
    lines.append(_ascii(y_label)[:width].rstrip())
    pad = " " * gutter
    lines.append(pad + "+" + "-" * (cols + 2) + "+")
    lines.append(pad + "|" + " " * (cols + 2) + "|")
    for r in range(rows):
        label = y_ticks.get(r, "")
        edge = "+" if r in y_ticks else "|"
        lines.append(label.rjust(gutter - 1) + " " + edge + " " + "".join(grid[r]) + " |")
    lines.append(pad + "|" + " " * (cols + 2) + "|")
    bottom = ["-"] * (cols + 2)
    for c in x_ticks:
        bottom[c + 1] = "+"
    lines.append(pad + "+" + "".join(bottom) + "+")

    tick_line = [" "] * width
    last_end = -1
    for c in sorted(x_ticks):
        text = x_ticks[c]
        start = gutter + 2 + c - len(text) // 2
        start = max(0, min(start, width - len(text)))
        if start <= last_end:  # would touch the previous label
            continue
        tick_line[start:start + len(text)] = text
        last_end = start + len(text)
    lines.append("".join(tick_line).rstrip())
    xl = _ascii(x_label)[:width]
    centre = gutter + 2 + cols // 2
    lines.append((" " * max(0, min(centre - len(xl) // 2, width - len(xl))) + xl).rstrip())
    lines.append("")
    for i, s in enumerate(series):
        entry = f"  {MARKERS[i % len(MARKERS)]}  {_ascii(s.name)}"
        if len(entry) > width:
            entry = entry[:width - 3] + "..."
        lines.append(entry.rstrip())
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- svg ---
def _num(v: float) -> str:
    """Fixed formatting for SVG coordinates: two decimals, trailing zeros dropped, no '-0'."""
    text = f"{v + 0.0:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def series_colour(i: int) -> str:
    """Stroke colour of series ``i``: the palette, then golden-angle hues (distinct, deterministic)."""
    if i < len(PALETTE):
        return PALETTE[i]
    hue = ((i - len(PALETTE)) * 0.6180339887498949 + 0.07) % 1.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.42, 0.7)
    return "#{:02x}{:02x}{:02x}".format(round(r * 255), round(g * 255), round(b * 255))


def _xml_text(text: str) -> str:
    """Escape for XML character data, dropping the control characters XML 1.0 forbids."""
    clean = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
    return escape(clean)


def _svg_points(s: Series) -> list[tuple[float, float]]:
    """Data-space vertices of one series' polyline (steps squared off, bent line segments sampled)."""
    pts = s.points
    if s.kind == "step":
        out = [pts[0]]
        for (_, y0), (x1, y1) in zip(pts, pts[1:]):
            out += [(x1, y0), (x1, y1)]
        return out
    out = [pts[0]]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if math.isclose(y0 / x0, y1 / x1, rel_tol=1e-12):  # y = c x: straight on log-log axes
            out.append((x1, y1))
            continue
        l0, l1 = math.log10(x0), math.log10(x1)
        for j in range(1, _SEGMENT_SAMPLES + 1):
            x = x1 if j == _SEGMENT_SAMPLES else 10 ** (l0 + (l1 - l0) * j / _SEGMENT_SAMPLES)
            out.append((x, y0 + (y1 - y0) * (x - x0) / (x1 - x0)))
    return out


def render_svg(series: Sequence[Series], title: str, *, x_label: str = "tokens/day",
               y_label: str = "USD/day", width: int = 720, height: int = 440, y_prefix: str = "$") -> str:
    """The chart as a standalone SVG 1.1 document (UTF-8 text, opens in any browser).

    ``width`` x ``height`` pixels hold the title, the plot and its axes; the legend (one row of
    20 px per series: a colour swatch and the name) is added below, so the document is
    ``height + 20 x len(series) + 10`` pixels tall; the viewBox matches. Each series is one
    ``<polyline>`` with its own stroke colour and a ``<title>`` (hover text); axes carry decade ticks
    and labels, with light grid lines. Text is escaped with ``xml.sax.saxutils``.
    """
    series = _check(series)
    if width < 200 or height < 160:
        raise UsageError(f"SVG of {width}x{height} px is too small (needs at least 200x160)")
    (xlo, xhi), (ylo, yhi) = _ranges(series)
    left, right, top, bottom = 72, 24, 40, 56
    pw, ph = width - left - right, height - top - bottom
    total_h = height + 20 * len(series) + 10

    def px(x: float) -> float:
        """SVG x of tokens/day x (log10 scale over the plot width)."""
        return left + (math.log10(x) - xlo) / (xhi - xlo) * pw

    def py(y: float) -> float:
        """SVG y of USD/day y (log10 scale, up is more)."""
        return top + ph - (math.log10(y) - ylo) / (yhi - ylo) * ph

    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{total_h}" '
        f'viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="12">',
        f"<title>{_xml_text(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="#ffffff"/>',
        f'<text x="{_num(width / 2)}" y="24" text-anchor="middle" font-size="15">{_xml_text(title)}</text>',
    ]

    # grid, ticks and tick labels
    kx = _label_step(xhi - xlo, pw / (xhi - xlo), 7.5 * max(len(decade_label(e)) for e in range(xlo, xhi + 1)) + 8)
    ky = _label_step(yhi - ylo, ph / (yhi - ylo), 16)
    out.append('<g class="grid" stroke="#dddddd" stroke-width="1">')
    for e in range(xlo, xhi + 1):
        x = _num(px(10.0 ** e))
        out.append(f'<line x1="{x}" y1="{_num(top)}" x2="{x}" y2="{_num(top + ph)}"/>')
    for e in range(ylo, yhi + 1):
        y = _num(py(10.0 ** e))
        out.append(f'<line x1="{_num(left)}" y1="{y}" x2="{_num(left + pw)}" y2="{y}"/>')
    out.append("</g>")
    out.append('<g class="axes" stroke="#000000" stroke-width="1">')
    out.append(f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(pw)}" height="{_num(ph)}" fill="none"/>')
    for e in range(xlo, xhi + 1):
        x = _num(px(10.0 ** e))
        out.append(f'<line x1="{x}" y1="{_num(top + ph)}" x2="{x}" y2="{_num(top + ph + 5)}"/>')
    for e in range(ylo, yhi + 1):
        y = _num(py(10.0 ** e))
        out.append(f'<line x1="{_num(left - 5)}" y1="{y}" x2="{_num(left)}" y2="{y}"/>')
    out.append("</g>")
    out.append('<g class="tick-labels" fill="#000000">')
    for e in range(xlo, xhi + 1, kx):
        out.append(f'<text x="{_num(px(10.0 ** e))}" y="{_num(top + ph + 19)}" text-anchor="middle">'
                   f"{_xml_text(decade_label(e))}</text>")
    for e in range(ylo, yhi + 1, ky):
        out.append(f'<text x="{_num(left - 8)}" y="{_num(py(10.0 ** e) + 4)}" text-anchor="end">'
                   f"{_xml_text(decade_label(e, y_prefix))}</text>")
    out.append("</g>")
    cy = top + ph / 2
    out.append(f'<text class="axis-label" x="{_num(left + pw / 2)}" y="{_num(top + ph + 42)}" '
               f'text-anchor="middle">{_xml_text(x_label)}</text>')
    out.append(f'<text class="axis-label" x="16" y="{_num(cy)}" text-anchor="middle" '
               f'transform="rotate(-90 16 {_num(cy)})">{_xml_text(y_label)}</text>')

    # series
    out.append('<g class="series" fill="none" stroke-width="2" stroke-linejoin="round">')
    for i, s in enumerate(series):
        coords = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y in _svg_points(s))
        out.append(f'<polyline class="{s.kind}" stroke="{series_colour(i)}" points="{coords}">'
                   f"<title>{_xml_text(s.name)}</title></polyline>")
    out.append("</g>")

    # legend
    out.append('<g class="legend">')
    for i, s in enumerate(series):
        y = height + 10 + 20 * i
        out.append(f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + 24)}" y2="{_num(y)}" '
                   f'stroke="{series_colour(i)}" stroke-width="3"/>')
        out.append(f'<text x="{_num(left + 32)}" y="{_num(y + 4)}">{_xml_text(s.name)}</text>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
