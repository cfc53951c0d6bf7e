"""Showing user values in messages so that they cannot forge output (issue 10, R14).

A value the user wrote (a manifest name, a flag value, a file name) may hold a newline that would
start a fake ``file:line: error:`` line, an ESC sequence that drives the terminal, or a bidi override
(U+202A-U+202E, U+2066-U+2069) that displays text in another order than it is read. Every place that
echoes such a value goes through this module:

- ``quote_value(v)``: the value quoted as Python's ``repr`` does (``'a\\nb'``, ``'\\x1b[31m'``,
  ``'\\u202e'``: every character that ``str.isprintable`` rejects is escaped, which covers the C0/C1
  controls, DEL, the bidi controls (category Cf), the line/paragraph separators and lone surrogates),
  cut at ``limit`` characters with the length stated: ``'xxxx…' (8,000 characters)``.
- ``quote_if_needed(v)``: the value bare when it is short and plain (printable, no quote, backslash or
  surrounding space), else ``quote_value(v)``: for names that are shown bare in the normal case
  (``Deployment/llama``).
- ``escape_controls(s)``: a whole message with any such character escaped the same way (no quotes);
  the last line of defence before a message is stored or printed.
- ``json_escape_invisible(s)``: JSON text (written with ``ensure_ascii=False``) with those characters
  as ``\\uXXXX`` escapes: the same data, but nothing invisible or reordering in the bytes a terminal
  or a viewer shows.

Bottom layer: imports nothing of llamasize but ``errors`` (and needs nothing of it).
"""

from __future__ import annotations

import os

#: How many characters of a value are echoed before it is cut (the length is stated).
QUOTE_LIMIT = 200
ELLIPSIS = "\u2026"
_QUOTES_AND_BACKSLASH = frozenset("'\"\\`")


def _needs_escape(c: str) -> bool:
    """A character that must not reach output raw (non-printable per ``str.isprintable``; the space
    is printable)."""
    return not c.isprintable()


def escape_controls(s: str) -> str:
    """``s`` with every non-printable character written as ``repr`` writes it (``\\n``, ``\\t``,
    ``\\x1b``, ``\\u202e``, ``\\U000e0001``); printable text, backslashes included, is unchanged."""
    if s.isprintable():
        return s
    return "".join(repr(c)[1:-1] if _needs_escape(c) else c for c in s)


def quote_value(v: object, limit: int = QUOTE_LIMIT) -> str:
    """``v`` quoted ``repr``-style, control and bidi characters escaped, cut after ``limit``
    characters of the value with the full length stated (``'xxxx…' (8,000 characters)``).
    Non-strings are shown by their ``repr`` (``8``, ``True``, ``[1, 2]``), cut the same way."""
    if not isinstance(v, str):
        r = escape_controls(repr(v))
        if len(r) > limit:
            return f"{r[:limit]}{ELLIPSIS} ({len(r):,} characters)"
        return r
    if len(v) <= limit:
        return repr(v)
    q = repr(v[:limit])
    return f"{q[:-1]}{ELLIPSIS}{q[-1]} ({len(v):,} characters)"


def is_plain(v: str, limit: int = QUOTE_LIMIT) -> bool:
    """True when ``v`` can be shown bare: non-empty, at most ``limit`` characters, printable, no
    quotes or backslashes, no leading or trailing space."""
    return (0 < len(v) <= limit and v.isprintable() and v == v.strip()
            and not any(c in _QUOTES_AND_BACKSLASH for c in v))


def quote_if_needed(v: str, limit: int = QUOTE_LIMIT) -> str:
    """``v`` bare when ``is_plain(v)``, else ``quote_value(v)``."""
    return v if is_plain(v, limit) else quote_value(v, limit)


def json_escape_invisible(s: str) -> str:
    """JSON text with every non-printable character (outside JSON's own escapes: they only occur in
    strings) written as a ``\\uXXXX`` escape (a surrogate pair above U+FFFF). Decodes to the same
    data; printable non-ASCII text stays as it is."""
    if s.isprintable():
        return s

    def esc(c: str) -> str:
        if c == "\n" or c.isprintable():  # newlines between tokens (indentation) stay
            return c
        n = ord(c)
        if n > 0xFFFF:
            n -= 0x10000
            return f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}"
        return f"\\u{n:04x}"

    return "".join(esc(c) for c in s)


def wants_colour(stream) -> bool:
    """Whether output to ``stream`` is coloured: off when ``$NO_COLOR`` is set and not empty
    (no-color.org; it wins over FORCE_COLOR), on when ``$FORCE_COLOR`` is set and not empty or 0,
    else on exactly when ``stream`` is a terminal (a closed or missing stream: off). The one rule
    for stdout (``render.common.colour_enabled``) and stderr (``cli.output.stderr_colour``)."""
    if os.environ.get("NO_COLOR", ""):
        return False
    force = os.environ.get("FORCE_COLOR", "")
    if force and force != "0":
        return True
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, AttributeError):
        return False
