"""chart: the text plot's structure and cells for a hand-made input, tick choice and thinning, and
the SVG document (parses, one polyline per series, legend, coordinates, escaping, determinism)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from pydantic import ValidationError

from llamasize.render.chart import MARKERS, Series, decade_label, render_svg, render_text, series_colour
from llamasize.errors import UsageError

SVG = "{http://www.w3.org/2000/svg}"

# Hand-made input spanning exactly 1M..10B tokens/day (4 decades) and $1..$10K/day (4 decades).
# Step A: $10 up to 100M, $100 up to 10B, $1K at 10B.  Line B: y = 1e-6 x ($1 per 1M tokens).
STEP = Series(name="self-hosted", kind="step", points=[(1e6, 10.0), (1e8, 100.0), (1e10, 1000.0)])
LINE = Series(name="api", kind="line", points=[(1e6, 1.0), (1e10, 1e4)])

# With y labels up to "$10K" the gutter is 5 characters; width 50 leaves 50 - 5 - 4 = 41 columns
# (10 per decade) and height 13 leaves 13 - 4 = 9 rows (2 per decade).
WIDTH, HEIGHT, GUTTER, COLS, ROWS = 50, 13, 5, 41, 9


def _frame(text: str, width: int = WIDTH):
    """(all lines, index of the top border line): the framed block starts at the first '+--' line."""
    lines = text.split("\n")
    top = next(i for i, ln in enumerate(lines) if re.match(r"^\s*\+-", ln))
    return lines, top


def _cell(lines, top, r, c):
    """Character of plot cell (row r from the top, column c from the left)."""
    return lines[top + 2 + r][GUTTER + 2 + c]


@pytest.fixture(scope="module")
def picture():
    return render_text([STEP, LINE], width=WIDTH, height=HEIGHT, title="Cost vs volume")


# ------------------------------------------------------------------------------------ labels ---
@pytest.mark.parametrize(
    "exp, prefix, expected",
    [(0, "", "1"), (1, "", "10"), (3, "", "1K"), (5, "$", "$100K"), (6, "", "1M"), (7, "", "10M"),
     (8, "", "100M"), (9, "", "1B"), (10, "", "10B"), (12, "", "1T"), (-1, "$", "$0.1"), (-2, "$", "$0.01"),
     (15, "", "1e15")],
)
def test_decade_labels(exp, prefix, expected):
    assert decade_label(exp, prefix) == expected


# -------------------------------------------------------------------------------------- text ---
def test_text_dimensions_and_frame(picture):
    lines, top = _frame(picture)
    framed = lines[top:top + HEIGHT]
    assert all(len(ln) == WIDTH for ln in framed)
    assert framed[0] == " " * GUTTER + "+" + "-" * (COLS + 2) + "+"
    assert framed[-1].startswith(" " * GUTTER + "+-+") and framed[-1].endswith("+-+")
    for ln in framed[1:-1]:
        assert ln[GUTTER] in "|+" and ln[-1] == "|"
    assert lines[0] == "Cost vs volume" and lines[1] == "USD/day"
    assert picture.isascii() and "\x1b" not in picture
    assert all(ln == ln.rstrip() for ln in lines)
    assert max(len(ln) for ln in lines) <= WIDTH


def test_text_ticks(picture):
    lines, top = _frame(picture)
    # y: a decade every 2 rows, highest at the top
    for r, label in [(0, "$10K"), (2, "$1K"), (4, "$100"), (6, "$10"), (8, "$1")]:
        ln = lines[top + 2 + r]
        assert ln[:GUTTER].strip() == label and ln[GUTTER] == "+"
    for r in (1, 3, 5, 7):
        assert lines[top + 2 + r][:GUTTER + 1] == " " * GUTTER + "|"
    # x: a decade every 10 columns, marked '+' on the bottom border and labelled centred below it
    bottom, ticks = lines[top + HEIGHT - 1], lines[top + HEIGHT]
    for c, label in [(0, "1M"), (10, "10M"), (20, "100M"), (30, "1B"), (40, "10B")]:
        pos = GUTTER + 2 + c
        assert bottom[pos] == "+"
        assert ticks.index(label + " " if label != "10B" else label) == pos - len(label) // 2
    assert ticks.split() == ["1M", "10M", "100M", "1B", "10B"]
    assert lines[top + HEIGHT + 1].strip() == "tokens/day"


def test_text_markers_at_expected_cells(picture):
    lines, top = _frame(picture)
    a, b = MARKERS[0], MARKERS[1]
    # step A: $10 (row 6) on columns 0..20, jump at column 20 up to $100 (row 4), run to column 40,
    # jump at column 40 up to $1K (row 2). Line B overwrites A where they cross (it is drawn later).
    for r, c in [(6, 0), (6, 5), (6, 19), (5, 20), (4, 23), (4, 30), (4, 39), (3, 40), (2, 40)]:
        assert _cell(lines, top, r, c) == a, (r, c)
    # line B: log y = log x - 6, so row = 8 - floor(c / 5 + 0.5)
    for r, c in [(8, 0), (7, 3), (6, 10), (4, 20), (4, 22), (3, 23), (2, 30), (0, 40)]:
        assert _cell(lines, top, r, c) == b, (r, c)
    for c in range(COLS):
        assert sum(_cell(lines, top, r, c) == b for r in range(ROWS)) >= 1, c
    # nothing above the step after its last jump, nothing in the empty corners
    for r, c in [(0, 0), (8, 40), (1, 40), (8, 20), (3, 20)]:
        assert _cell(lines, top, r, c) == " ", (r, c)


def test_text_legend(picture):
    lines = picture.rstrip("\n").split("\n")
    assert lines[-2:] == [f"  {MARKERS[0]}  self-hosted", f"  {MARKERS[1]}  api"]
    assert lines[-3] == ""


def test_text_is_deterministic(picture):
    assert render_text([STEP, LINE], width=WIDTH, height=HEIGHT, title="Cost vs volume") == picture


def test_text_default_size_and_auto_range():
    s = [Series(name="a", kind="line", points=[(2e6, 3.0), (3e9, 4500.0)])]
    text = render_text(s)
    lines, top = _frame(text, 72)
    assert all(len(ln) == 72 for ln in lines[top:top + 20])
    # x data 2M..3B -> decades 1M..10B; y data $3..$4.5K -> $1..$10K
    assert lines[top + 20].split() == ["1M", "10M", "100M", "1B", "10B"]
    gutter = lines[top].index("+")
    ylabels = [ln[:gutter].strip() for ln in lines[top:top + 20] if ln[:gutter].strip()]
    assert ylabels == ["$10K", "$1K", "$100", "$10", "$1"]


def test_text_thins_crowded_ticks():
    s = [Series(name="a", kind="line", points=[(1.0, 0.01), (1e15, 1e9)])]
    text = render_text(s, width=40, height=8)
    lines, top = _frame(text, 40)
    labels = lines[top + 8].split()
    assert 2 <= len(labels) < 16
    valid = {decade_label(e) for e in range(16)}
    assert set(labels) <= valid
    gutter = lines[top].index("+")
    ylabels = [ln[:gutter].strip() for ln in lines[top + 1:top + 7] if ln[:gutter].strip()]
    assert 2 <= len(ylabels) < 12  # 11 decades ($0.01 .. $1B) on 4 rows: thinned
    assert set(ylabels) <= {decade_label(e, "$") for e in range(-2, 10)}


def test_text_names_are_ascii_and_fit():
    long = "x" * 200
    text = render_text([Series(name="Kosten \u20ac \u2014 cheap", kind="line", points=[(1e6, 1), (1e7, 10)]),
                        Series(name=long, kind="step", points=[(1e6, 2), (1e7, 3)])], width=60, height=10)
    assert text.isascii()
    lines = text.rstrip("\n").split("\n")
    assert lines[-2] == f"  {MARKERS[0]}  Kosten ? ? cheap"
    assert len(lines[-1]) == 60 and lines[-1].endswith("...")


def test_text_too_small_and_empty():
    with pytest.raises(UsageError, match="too small"):
        render_text([LINE], width=15, height=20)
    with pytest.raises(UsageError, match="too small"):
        render_text([LINE], width=72, height=5)
    with pytest.raises(UsageError, match="nothing to plot"):
        render_text([])


@pytest.mark.parametrize(
    "points, match",
    [([(1e6, 0.0)], "> 0"), ([(0.0, 1.0)], "> 0"), ([(1e6, -5.0)], "> 0"), ([(1e6, float("nan"))], "finite"),
     ([(1e7, 1.0), (1e6, 2.0)], "not greater"), ([(1e6, 1.0), (1e6, 2.0)], "not greater"), ([], "at least 1")],
)
def test_series_validation(points, match):
    with pytest.raises(ValidationError, match=match):
        Series(name="s", kind="line", points=points)


def test_series_kind_is_checked():
    with pytest.raises(ValidationError):
        Series(name="s", kind="bar", points=[(1, 1)])


# --------------------------------------------------------------------------------------- svg ---
def _svg(series, title="Cost vs volume", **kw):
    text = render_svg(series, title, **kw)
    return text, ET.fromstring(text)


def _points(poly):
    return [tuple(float(v) for v in p.split(",")) for p in poly.get("points").split()]


def test_svg_document():
    text, root = _svg([STEP, LINE])
    assert root.tag == SVG + "svg" and root.get("version") == "1.1"
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"')
    w, h = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert w == 720 and h == 440 + 20 * 2 + 10
    assert root[0].tag == SVG + "title" and root[0].text == "Cost vs volume"
    polys = root.findall(f".//{SVG}polyline")
    assert len(polys) == 2
    assert root.findall(f".//{SVG}path") == []
    strokes = [p.get("stroke") for p in polys]
    assert len(set(strokes)) == 2 and all(re.fullmatch(r"#[0-9a-f]{6}", s) for s in strokes)
    legend = root.find(f".//{SVG}g[@class='legend']")
    assert [t.text for t in legend.findall(f"{SVG}text")] == ["self-hosted", "api"]
    assert [ln.get("stroke") for ln in legend.findall(f"{SVG}line")] == strokes
    texts = {t.text for t in root.iter(SVG + "text")}
    assert {"1M", "10M", "100M", "1B", "10B", "$1", "$10", "$100", "$1K", "$10K", "tokens/day", "USD/day"} <= texts


def test_svg_coordinates_inside_the_plot():
    _, root = _svg([STEP, LINE])
    w, h = float(root.get("width")), float(root.get("height"))
    frame = root.find(f".//{SVG}g[@class='axes']/{SVG}rect")
    x0, y0 = float(frame.get("x")), float(frame.get("y"))
    x1, y1 = x0 + float(frame.get("width")), y0 + float(frame.get("height"))
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    for poly in root.iter(SVG + "polyline"):
        for x, y in _points(poly):
            assert x0 - 1e-6 <= x <= x1 + 1e-6 and y0 - 1e-6 <= y <= y1 + 1e-6
    for el in root.iter():
        for attr in ("x", "x1", "x2"):
            if el.get(attr) is not None:
                assert 0 <= float(el.get(attr)) <= w, (el.tag, attr)
        for attr in ("y", "y1", "y2"):
            if el.get(attr) is not None:
                assert 0 <= float(el.get(attr)) <= h, (el.tag, attr)


def test_svg_geometry_of_steps_and_lines():
    _, root = _svg([STEP, LINE])
    step, line = root.findall(f".//{SVG}polyline")
    pts = _points(step)
    # 3 points -> start, (corner, jump) per later point: 1 + 2 * 2 vertices, squared off
    assert len(pts) == 5
    for (xa, ya), (xb, yb) in zip(pts, pts[1:]):
        assert xa == xb or ya == yb
    assert pts[0][0] == pytest.approx(72) and pts[-1][0] == pytest.approx(720 - 24)
    # y = 1e-6 x is straight on log-log axes: two vertices, corner to corner of the plot
    lp = _points(line)
    assert len(lp) == 2
    assert lp[0] == pytest.approx((72, 440 - 56)) and lp[1] == pytest.approx((720 - 24, 40))


def test_svg_samples_bent_line_segments():
    bent = Series(name="fixed + per token", kind="line", points=[(1e6, 100.0), (1e9, 1100.0)])
    _, root = _svg([bent])
    pts = _points(root.find(f".//{SVG}polyline"))
    assert len(pts) > 2
    assert all(a[0] < b[0] for a, b in zip(pts, pts[1:]))


def test_svg_escapes_special_characters():
    name = 'A <&> "B" \'C\''
    text, root = _svg([Series(name=name, kind="line", points=[(1e6, 1), (1e8, 100)])], title="x < y & z")
    assert "&lt;&amp;&gt;" in text and "x &lt; y &amp; z" in text
    assert root[0].text == "x < y & z"
    legend = root.find(f".//{SVG}g[@class='legend']")
    assert [t.text for t in legend.findall(f"{SVG}text")] == [name]
    assert root.find(f".//{SVG}polyline/{SVG}title").text == name


def test_svg_drops_control_characters():
    _, root = _svg([Series(name="bad\x00\x07name", kind="line", points=[(1e6, 1), (1e8, 100)])])
    assert root.find(f".//{SVG}g[@class='legend']/{SVG}text").text == "badname"


def test_svg_many_series_have_distinct_colours():
    series = [Series(name=f"s{i}", kind="line", points=[(1e6, 1 + i), (1e9, 1000 + i)]) for i in range(15)]
    _, root = _svg(series)
    strokes = [p.get("stroke") for p in root.findall(f".//{SVG}polyline")]
    assert len(strokes) == 15 and len(set(strokes)) == 15
    assert strokes == [series_colour(i) for i in range(15)]


def test_svg_is_deterministic():
    assert render_svg([STEP, LINE], "t") == render_svg([STEP, LINE], "t")


def test_svg_rejects_bad_input():
    with pytest.raises(UsageError, match="nothing to plot"):
        render_svg([], "t")
    with pytest.raises(UsageError, match="too small"):
        render_svg([LINE], "t", width=100)
