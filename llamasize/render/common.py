"""Shared pieces of every renderer: the JSON dump, tables (rich for the terminal, tabulate for
markdown), text bars and the number formats used by more than one result family.

``table`` output is drawn with rich, fitted to the terminal width (``rich_table``, ``fit_lines``)
and its verdicts coloured when stdout is a terminal (``colour_enabled``: NO_COLOR, FORCE_COLOR), and
``markdown`` with tabulate (GitHub tables, for PR comments); both are imported only when a table is
drawn, so the JSON path of a command loads neither. Units are converted in ``render`` and only here;
GiB (2**30) and GB (10**9) are always spelled out.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from typing import Iterable, Sequence

from pydantic import BaseModel

from llamasize.errors import UsageError
from llamasize.text import quote_value, wants_colour

#: The formats every result family renders.
FORMATS_BASIC = ("table", "json", "markdown")


def to_json(obj) -> str:
    """Deterministic JSON: pydantic models dumped, keys in model order, 2-space indent. NaN and
    infinities are refused (``allow_nan=False``): they are not JSON, and reaching here would be a bug."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


#: Table width when $COLUMNS is unset, empty or 0 and stdout is not a terminal, and the widest $COLUMNS accepted.
DEFAULT_COLUMNS = 120
MAX_COLUMNS = 10_000


def _columns_env() -> int | None:
    """``$COLUMNS`` when it is a whole number from 1 to MAX_COLUMNS; None when unset, empty or 0.
    Anything else is a one-line UsageError (``int()`` on it raised ValueError, an internal error,
    for ``COLUMNS=abc`` and for more than 4,300 digits: found by the fuzz suite)."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw in ("", "0"):
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= MAX_COLUMNS):
        raise UsageError(f"COLUMNS must be a whole number of terminal columns from 1 to {MAX_COLUMNS:,}, "
                         f"got {quote_value(raw)}")
    return int(raw)


#: Below this width, text lines are not re-wrapped (one word per line helps no one; tables stack).
MIN_WRAP_COLUMNS = 20


def terminal_width() -> int | None:
    """The width the output must fit: ``$COLUMNS`` (as rich's console reads it), else the width of
    the terminal stdout is (rich's own detection), else None: a pipe or a file has no width, and
    there only the tables are drawn, DEFAULT_COLUMNS wide, and text lines are not re-wrapped (CI
    logs keep one finding per line)."""
    env = _columns_env()
    if env is not None:
        return env
    try:
        if sys.stdout is not None and sys.stdout.isatty():
            return os.get_terminal_size(sys.stdout.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        return None
    return None


def table_width() -> int:
    """The table width: ``terminal_width()``, else DEFAULT_COLUMNS."""
    return terminal_width() or DEFAULT_COLUMNS


def colour_enabled() -> bool:
    """Colour in ``table``/``text`` output: ``text.wants_colour`` for stdout (NO_COLOR wins, then
    FORCE_COLOR, else whether stdout is a terminal). JSON, markdown and the CI formats are never
    coloured (their renderers do not call ``finish``)."""
    return wants_colour(sys.stdout)


#: ANSI SGR codes of the verdict words (whole words, upper case as the renderers write them).
_PAINT = [
    (re.compile(r"\b(FAIL(?:ED)?|NOTHING FITS|CANNOT EVALUATE|ERROR)\b"), "1;31"),
    (re.compile(r"\b(WARN(?:ING)?)\b"), "33"),
    (re.compile(r"\b(PASS|OK)\b"), "32"),
    (re.compile(r"(?m)^(\*{0,2}Recommendation:\*{0,2})"), "1;32"),
    (re.compile(r"(?m)^(.*: error: )"), "1;31"),
    (re.compile(r"(?m)^(.*: warning: )"), "33"),
]


def paint(text: str) -> str:
    """Verdict words coloured (``_PAINT``) when ``colour_enabled()``; the text unchanged otherwise."""
    if not colour_enabled():
        return text
    for pattern, code in _PAINT:
        text = pattern.sub(lambda m: f"\x1b[{code}m{m.group(1)}\x1b[0m", text)
    return text


def fit_lines(text: str, width: int | None = None) -> str:
    """Every line of ``text`` wider than the terminal re-wrapped at spaces, never inside a word (a
    price, a number, an id stays whole) unless the word alone is wider than the line (a long
    path: cut at the width, as nothing else fits), continuation lines indented two more than the line (four
    under a ``- `` bullet). Table lines are drawn to the width already (``rich_table``). Unchanged
    when there is no terminal width (``terminal_width``) and no ``width`` is given."""
    import textwrap

    from rich.cells import cell_len

    width = width or terminal_width()
    if width is None or width < MIN_WRAP_COLUMNS:  # narrower than any sensible line: left as it is
        return text
    out = []
    for line in text.split("\n"):
        if cell_len(line) <= width:
            out.append(line)
            continue
        lead = len(line) - len(line.lstrip(" "))
        extra = 4 if line.lstrip(" ").startswith("- ") else 2
        out += textwrap.wrap(line, width=width, subsequent_indent=" " * min(lead + extra, width // 2),
                             break_long_words=True, break_on_hyphens=False, drop_whitespace=True) or [line]
    return "\n".join(out)


def finish(text: str, fmt: str) -> str:
    """The last step of a terminal renderer (``table`` or check's ``text``): lines fitted to the
    terminal width (``fit_lines``) and verdicts coloured (``paint``). Other formats pass through."""
    if fmt not in ("table", "text"):
        return text
    return paint(fit_lines(text))


def terminal(render):
    """Decorator of a ``render_X(result, fmt)``: its table output goes through ``finish``."""
    import functools

    @functools.wraps(render)
    def wrapped(result, fmt: str, *args, **kwargs) -> str:
        return finish(render(result, fmt, *args, **kwargs), fmt)

    return wrapped


def console(buf: io.StringIO, width: int | None = None):
    from rich.console import Console

    return Console(file=buf, width=width or table_width(), no_color=True, color_system=None, highlight=False,
                   emoji=False, soft_wrap=False, markup=False)


def _render(headers, rows, right, keep: list[int], width: int) -> str:
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i in keep:
        t.add_column(headers[i], justify="right" if i in right else "left", no_wrap=True, overflow="ignore")
    for r in rows:
        t.add_row(*[r[i] for i in keep])
    buf = io.StringIO()
    console(buf, width).print(t)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _natural_width(headers, rows, right, keep: list[int]) -> int:
    from rich.cells import cell_len

    text = _render(headers, rows, right, keep, MAX_COLUMNS)
    return max((cell_len(line.rstrip()) for line in text.splitlines()), default=0)


def rich_table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[str]],
               right: Sequence[int] = (), no_wrap: Sequence[int] = (), drop: Sequence[int] | None = None) -> str:
    """A terminal table that fits ``table_width()`` without splitting any value: when the whole
    table is wider, columns are dropped in the order ``drop`` gives (default: from the last column
    leftwards, never the first) and a line under the table names them; when even the first column
    and one more do not fit, every row is stacked as ``header: value`` lines. ``no_wrap`` is kept
    for the callers: no cell is ever wrapped now."""
    headers = [str(h) for h in headers]
    rows = [[str(x) for x in r] for r in rows]
    width = table_width()
    keep = list(range(len(headers)))
    order = [i for i in (drop if drop is not None else range(len(headers) - 1, 0, -1)) if 0 < i < len(headers)]
    order += [i for i in range(len(headers) - 1, 0, -1) if i not in order]
    dropped: list[int] = []
    while _natural_width(headers, rows, right, keep) > width and len(keep) > 2:
        i = order.pop(0)
        keep.remove(i)
        dropped.append(i)
    buf = io.StringIO()
    if title:
        buf.write(title + "\n")
    if _natural_width(headers, rows, right, keep) > width:
        for r in rows:
            buf.write("\n".join(f"  {h}: {v}" for h, v in zip(headers, r) if v) + "\n\n")
        return fit_lines(buf.getvalue(), width)
    buf.write(_render(headers, rows, right, keep, width))
    if dropped:
        names = ", ".join(headers[i] or f"column {i + 1}" for i in dropped)
        buf.write(fit_lines(f"  (not shown at {width} columns: {names}; widen the terminal or use --format json)",
                            width) + "\n")
    return buf.getvalue()


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    from tabulate import tabulate

    return tabulate([list(map(str, r)) for r in rows], headers=list(headers), tablefmt="github",
                    disable_numparse=True) + "\n"


def table(fmt: str, title: str | None, headers, rows, right=(), no_wrap=(), drop=None) -> str:
    """A markdown table, or a terminal one that fits the width (``rich_table``; ``drop``: the order
    in which columns give way)."""
    rows = [list(r) for r in rows]
    if fmt == "markdown":
        head = f"**{title}**\n\n" if title else ""
        return head + md_table(headers, rows)
    return rich_table(title, headers, rows, right, no_wrap, drop)


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


def seconds(v: float | None) -> str:
    """Format a duration: ms below a second, s above; 'n/a' when unknown."""
    if v is None:
        return "n/a"
    return f"{v * 1e3:,.1f} ms" if v < 1 else f"{v:,.2f} s"


def usd_per_mtok(v: float | None) -> str:
    """Format $ per 1M tokens."""
    return "n/a" if v is None else f"${v:,.3f}" if v < 10 else f"${v:,.2f}"



def engine_label(engine: str, version: str | None) -> str:
    """``vllm 0.15.0``: the engine and the release whose memory rules sized the result (``vllm`` alone
    for an engine whose rules are not versioned)."""
    return f"{engine} {version}" if version else engine
