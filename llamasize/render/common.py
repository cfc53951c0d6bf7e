"""Shared pieces of every renderer: the JSON dump, tables (rich for the terminal, tabulate for
markdown), text bars and the number formats used by more than one result family.

``table`` output is drawn with rich (no colour when stdout is not a terminal or NO_COLOR is set) and
``markdown`` with tabulate (GitHub tables, for PR comments); both are imported only when a table is
drawn, so the JSON path of a command loads neither. Units are converted in ``render`` and only here;
GiB (2**30) and GB (10**9) are always spelled out.
"""

from __future__ import annotations

import io
import json
import os
from typing import Iterable, Sequence

from pydantic import BaseModel

from llamasize.errors import UsageError
from llamasize.text import quote_value

#: The formats every result family renders.
FORMATS_BASIC = ("table", "json", "markdown")


def to_json(obj) -> str:
    """Deterministic JSON: pydantic models dumped, keys in model order, 2-space indent. NaN and
    infinities are refused (``allow_nan=False``): they are not JSON, and reaching here would be a bug."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


#: Table width when $COLUMNS is unset, empty or 0, and the widest $COLUMNS accepted.
DEFAULT_COLUMNS = 120
MAX_COLUMNS = 10_000


def table_width() -> int:
    """The table width: ``$COLUMNS`` when it is a whole number from 1 to MAX_COLUMNS; unset, empty or
    0 means DEFAULT_COLUMNS. Anything else is a one-line UsageError (``int()`` on it raised ValueError,
    an internal error, for ``COLUMNS=abc`` and for more than 4,300 digits: found by the fuzz suite)."""
    raw = os.environ.get("COLUMNS", "").strip()
    if raw in ("", "0"):
        return DEFAULT_COLUMNS
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= MAX_COLUMNS):
        raise UsageError(f"COLUMNS must be a whole number of terminal columns from 1 to {MAX_COLUMNS:,}, "
                         f"got {quote_value(raw)}")
    return int(raw)


def console(buf: io.StringIO):
    from rich.console import Console

    width = table_width()
    return Console(file=buf, width=width, no_color=True, color_system=None, highlight=False,
                   emoji=False, soft_wrap=False, markup=False)


def rich_table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[str]],
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
    console(buf).print(t)
    return buf.getvalue()


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    from tabulate import tabulate

    return tabulate([list(map(str, r)) for r in rows], headers=list(headers), tablefmt="github",
                    disable_numparse=True) + "\n"


def table(fmt: str, title: str | None, headers, rows, right=(), no_wrap=()) -> str:
    rows = [list(r) for r in rows]
    if fmt == "markdown":
        head = f"**{title}**\n\n" if title else ""
        return head + md_table(headers, rows)
    return rich_table(title, headers, rows, right, no_wrap)


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

