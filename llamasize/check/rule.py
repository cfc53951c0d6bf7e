"""The machinery of check's rule registry (the rules themselves are in ``llamasize.check.rules``).

A ``Rule`` carries its stable id, name, default severity, description, where its line points, whether
``--strict`` makes it an error, and (for rules decided on a resolved deployment) the function that
decides it. Calling a rule, ``LS013(line, message)``, makes an ``Issue`` of it: the one way any part
of check reports a problem, so no emitter passes a bare id.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterable

from llamasize.check.report import Severity

#: Every rule by id, filled as ``llamasize.check.rules`` declares them.
RULES: dict[str, "Rule"] = {}


@dataclass(frozen=True)
class Rule:
    """A check with a stable id, its default severity and a one-line description."""

    id: str
    name: str
    severity: Severity
    description: str
    #: The YAML node the finding's line points at.
    where: str
    #: ``--strict`` turns this warning into an error (llamasize could not check something).
    strict_error: bool = False
    #: The function that decides the rule (None: reported where the problem is noticed; see
    #: ``description`` for when).
    decide: Callable[..., list["Issue"]] | None = field(default=None, compare=False, repr=False)

    def __call__(self, line: int, message: str) -> "Issue":
        """An issue of this rule at ``line`` (1-based; 0 and below become 1)."""
        return Issue(self, max(1, line), message)

    def severity_in(self, strict: bool) -> Severity:
        """The severity a finding of this rule gets (``--strict`` raises ``strict_error`` rules)."""
        return "error" if (strict and self.strict_error) else self.severity


@dataclass(frozen=True)
class Issue:
    """A problem of one rule at a line (becomes a ``Finding`` once the file and deployment are known)."""

    rule: Rule
    line: int
    message: str


def _register(r: Rule) -> Rule:
    """Add a rule to ``RULES`` (ids are unique)."""
    if r.id in RULES:
        raise ValueError(f"rule {r.id} declared twice")
    RULES[r.id] = r
    return r


def reported(id: str, name: str, severity: Severity, description: str, where: str,
             strict_error: bool = False) -> Rule:
    """Declare a rule reported where its problem is noticed (reading a file, parsing a value,
    looking a model up); the returned ``Rule`` is called there: ``LS013(line, message)``."""
    return _register(Rule(id, name, severity, description, where, strict_error))


def rule(id: str, name: str, severity: Severity, description: str, where: str, strict_error: bool = False):
    """Declare a rule decided by the decorated function, which yields ``(line, message)`` pairs; the
    decorated function returns them as ``Issue``s of the rule and is ``RULES[id].decide``."""

    def wrap(fn: Callable[..., Iterable[tuple[int, str]]]) -> Callable[..., list[Issue]]:
        @functools.wraps(fn)
        def decide(*args, **kwargs) -> list[Issue]:
            return [r(line, message) for line, message in fn(*args, **kwargs)]

        r = _register(Rule(id, name, severity, description, where, strict_error, decide))
        decide.rule = r
        return decide

    return wrap
