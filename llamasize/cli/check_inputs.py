"""``check``'s linter inputs (issue 13 items 4 and 5): ``--ignore``, ``--baseline``, stdin (``-``),
``--compare``'s format and ``--max-monthly-increase``, turned into ``CheckOptions`` and check's
paths. Beside ``llamasize.cli.inputs``, which holds the other flags of every command."""

from __future__ import annotations

from pathlib import Path

from llamasize.errors import UsageError
from llamasize.text import quote_value
from llamasize.units import parse_fraction


def lint_options(options, *, policy: Path | None, ignore: list[str] | None, baseline: Path | None,
                       max_monthly_increase: str | None):
    """``options`` with check's linter settings: ``--ignore`` (plus the policy's ``ignore``; unknown
    rule ids are a UsageError), the ``--baseline`` keys and ``--max-monthly-increase`` (else the
    policy's ``max_monthly_increase_usd``)."""
    import dataclasses

    from llamasize.check.baseline import load_baseline
    from llamasize.check.rules import RULES
    from llamasize.check.run import load_policy

    pol = load_policy(policy) if policy is not None else None
    ids = [x.strip().upper() for v in (ignore or []) for x in v.split(",") if x.strip()]
    for x in ids + (list(pol.ignore) if pol is not None else []):
        if x.upper() not in RULES:
            raise UsageError(f"unknown rule {quote_value(x)} in --ignore (llamasize check --list-rules)")
    ids += [x.upper() for x in (pol.ignore if pol is not None else [])]
    keys = ()
    if baseline is not None:
        keys = tuple(load_baseline(baseline).elements())
    monthly = pol.max_monthly_increase_usd if pol is not None else None
    if max_monthly_increase is not None:
        monthly = parse_fraction(max_monthly_increase, "--max-monthly-increase", low=0, high=1e9, low_inclusive=True)
    return dataclasses.replace(options, ignore=frozenset(ids), baseline=keys, max_monthly_increase=monthly)


def paths_with_stdin(paths: list[str], stdin_name: str | None, comparing: bool) -> list:
    """``check``'s paths with ``-`` replaced by the manifest read from stdin (a ``MemoryFile`` shown
    as ``--stdin-name``, default ``<stdin>``; at most the manifest size limit + 1 byte is read)."""
    import sys

    from llamasize.check.run import MemoryFile
    from llamasize.files import MAX_MANIFEST_FILE_BYTES

    if stdin_name is not None and "-" not in paths:
        raise UsageError("--stdin-name names the manifest read from stdin: give '-' as a path")
    if paths.count("-") > 1:
        raise UsageError("'-' (stdin) can be given once")
    if "-" in paths and comparing:
        raise UsageError("--compare reads the same paths from BASE; stdin ('-') has none there")
    out: list = []
    for p in paths:
        if p != "-":
            out.append(p)
            continue
        stream = sys.stdin
        if stream is None or (hasattr(stream, "isatty") and stream.isatty()):
            raise UsageError("'-' reads a manifest from stdin, e.g. helm template . | llamasize check -")
        try:
            buf = getattr(stream, "buffer", None)
            data = buf.read(MAX_MANIFEST_FILE_BYTES + 1) if buf is not None else \
                stream.read(MAX_MANIFEST_FILE_BYTES + 1).encode("utf-8", "surrogateescape")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read the manifest on stdin: {e}") from None
        name = (stdin_name or "<stdin>").strip() or "<stdin>"
        out.append(MemoryFile(name, data))
    return out


def compare_format(fmt: str | None) -> str:
    """``check --compare --format``: text (default), markdown or json."""
    from llamasize.check.compare import COMPARE_FORMATS

    f = (fmt or "text").strip().lower()
    f = "text" if f == "table" else f
    if f not in COMPARE_FORMATS:
        raise UsageError(f"unknown --compare format {quote_value(fmt)} (choices: {', '.join(COMPARE_FORMATS)})")
    return f
