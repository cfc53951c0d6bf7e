"""Waivers of ``llamasize check`` findings: inline comments, ``--ignore`` and the baseline, tried
in that order to every finding of a file (the rules they name are those of ``llamasize.check.rules``).

**Inline waiver**: a comment ``# llamasize: ignore[LS002] reason`` (several ids: ``ignore[LS002,
LS009]``). Written at the end of a line it waives the findings of those rules on that line; written
alone on its line it waives them on the next line that is neither blank nor a comment (the way
``# noqa`` and ``# yamllint disable-line`` work on the same and the next line). **A reason is
required**: the waiver is an audit record in the repository, so a waiver without one does not waive
anything and is reported (``LS110 invalid-waiver``), as is an id that is not a rule; a waiver that
waives nothing is reported too (``LS111 unused-waiver``, a note), so stale waivers do not pile up.
The comment is found in the raw text of the file, so it works inside a block scalar (a ``bash -c``
script) as well as in YAML.

Waived findings are not failures; they are listed in the report's ``waived`` with the waiver's
reason and counted in the summary.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from llamasize.check.report import Finding, WaivedFinding
from llamasize.check.rule import RULES
from llamasize.check.rules import LS110, LS111

#: ``# llamasize: ignore[IDS] reason`` after the start of a line or a blank (not inside a word).
WAIVER = re.compile(r"(?:^|\s)#\s*llamasize\s*:\s*ignore\b(?P<rest>.*)$", re.IGNORECASE)
_IDS = re.compile(r"^\[(?P<ids>[^\]]*)\]\s*[:\-—]?\s*(?P<reason>.*?)\s*$")


@dataclass
class Waiver:
    """One inline waiver: the rules it waives on ``target`` (a line), its reason and where it is."""

    line: int
    target: int
    rules: tuple[str, ...]
    reason: str
    used: set[str] = field(default_factory=set)


def _next_content_line(lines: list[str], i: int) -> int:
    """The 1-based number of the first line after index ``i`` that is not blank or a comment
    (the line itself when there is none)."""
    for j in range(i + 1, len(lines)):
        s = lines[j].strip()
        if s and not s.startswith("#"):
            return j + 1
    return i + 1


def parse_waivers(data: bytes) -> tuple[list[Waiver], list[tuple[int, str]]]:
    """The inline waivers of a file's raw bytes and the problems of malformed ones ``(line, message)``."""
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    waivers: list[Waiver] = []
    problems: list[tuple[int, str]] = []
    for i, raw in enumerate(lines):
        if "llamasize" not in raw.lower():
            continue
        m = WAIVER.search(raw)
        if m is None:
            continue
        n = i + 1
        alone = raw[:m.start()].strip() == ""
        target = _next_content_line(lines, i) if alone else n
        parts = _IDS.match(m.group("rest").strip())
        if parts is None:
            problems.append((n, "a waiver names its rules in brackets: # llamasize: ignore[LS002] reason"))
            continue
        ids = [x.strip().upper() for x in parts.group("ids").split(",") if x.strip()]
        reason = parts.group("reason")
        if not ids:
            problems.append((n, "the waiver names no rule: # llamasize: ignore[LS002] reason"))
            continue
        unknown = [x for x in ids if x not in RULES]
        for x in unknown:
            problems.append((n, f"{x!r} is not a rule id (llamasize check --list-rules)"))
        known = tuple(x for x in ids if x in RULES)
        if not reason:
            problems.append((n, f"the waiver of {', '.join(ids)} gives no reason, so it waives nothing "
                                "(write one after the brackets: # llamasize: ignore[LS002] reason)"))
            continue
        if known:
            waivers.append(Waiver(n, target, known, reason))
    return waivers, problems


class Suppressor:
    """Applies the inline waivers, ``--ignore`` and the baseline to findings; keeps what it waived.
    One per run: ``read`` each file's waivers before its findings are made."""

    def __init__(self, ignore: frozenset[str] = frozenset(), baseline: Counter | None = None,
                 key=None) -> None:
        self.ignore = ignore
        self.baseline = Counter(baseline or ())
        self.key = key
        self.waived: list[WaivedFinding] = []
        self._waivers: dict[str, list[Waiver]] = {}
        self._problems: dict[str, list[tuple[int, str]]] = {}

    def read(self, file: str, data: bytes) -> None:
        """Read the inline waivers of a file (shown as ``file`` in its findings)."""
        self._waivers[file], self._problems[file] = parse_waivers(data)

    def __call__(self, findings: list[Finding]) -> list[Finding]:
        """The findings that stay reported; the others are recorded in ``waived``."""
        kept = []
        for f in findings:
            w = self._waived(f)
            if w is None:
                kept.append(f)
            else:
                self.waived.append(w)
        return kept

    def _waived(self, f: Finding) -> WaivedFinding | None:
        for w in self._waivers.get(f.file, ()):
            if w.target == f.line and f.rule_id in w.rules:
                w.used.add(f.rule_id)
                return WaivedFinding(finding=f, by="inline", reason=w.reason, waiver_line=w.line)
        if f.rule_id in self.ignore:
            return WaivedFinding(finding=f, by="ignore")
        if self.key is not None and self.baseline:
            k = self.key(f)
            if self.baseline[k] > 0:
                self.baseline[k] -= 1
                return WaivedFinding(finding=f, by="baseline")
        return None

    def waiver_issues(self) -> list[tuple[str, object]]:
        """``(file, issue)`` about the waivers: malformed ones (LS110) and those that waived
        nothing (LS111, naming the unused rule ids). Call once every finding has been filtered."""
        out = []
        for file in sorted(self._waivers):
            out += [(file, LS110(line, message)) for line, message in self._problems[file]]
            for w in self._waivers[file]:
                unused = [r for r in w.rules if r not in w.used]
                if unused:
                    out.append((file, LS111(w.line, f"the waiver of {', '.join(unused)} waives nothing: no such "
                                                    f"finding on line {w.target}")))
        return out
