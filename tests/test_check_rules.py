"""The rule registry: every rule declared once with the code that decides it, the README's table in step
with it, ``--list-rules``, and no part of check reporting a problem by a bare rule id."""

from __future__ import annotations

import ast
import json
import re

from conftest import REPO, run_cli
from llamasize.check.formats import RULE_FORMATS, render_rules, rules_markdown
from llamasize.check.report import PolicyLimits
from llamasize.check.rule import Issue
from llamasize.check.rules import RULES, LS013, gpu_count_mismatch, rule_table
from llamasize.check.target import Loc, Resolved, Target

CHECK_DIR = REPO / "llamasize" / "check"
RULE_ID = re.compile(r"^LS\d{3}$")


def _readme_rules() -> list[tuple[str, str, str, bool]]:
    """``(id, name, severity, strict_error)`` of each row of the README's rule table."""
    rows = []
    for line in (REPO / "README.md").read_text().splitlines():
        m = re.match(r"^\| `(LS\d{3})` \| `([a-z0-9-]+)` \| (error|warning|note)( \(error with `--strict`\))? \|", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3), m.group(4) is not None))
    return rows


def test_readme_rule_table_matches_the_registry():
    assert _readme_rules() == [(r.id, r.name, r.severity, r.strict_error) for r in rule_table()]
    assert rules_markdown() in (REPO / "README.md").read_text()


def test_every_rule_is_declared_once_with_what_decides_it():
    assert [r.id for r in rule_table()] == sorted(RULES) and len(RULES) == 24  # LS110, LS111: the waiver rules
    assert len({r.name for r in RULES.values()}) == len(RULES)
    decided = {k for k, r in RULES.items() if r.decide is not None}
    assert decided == {"LS001", "LS002", "LS003", "LS004", "LS005", "LS006", "LS007", "LS008", "LS011", "LS014", "LS015"}
    for k in decided:
        fn = RULES[k].decide
        assert fn.rule is RULES[k] and fn.__doc__, k
        assert fn.__module__ == "llamasize.check.rules", k
    for r in RULES.values():
        assert r.severity in ("error", "warning", "note") and r.description.endswith(".") and r.where
        assert r.strict_error == (r.severity == "warning" and r.id in ("LS009", "LS010", "LS012"))


def test_no_bare_rule_ids_outside_the_registry():
    """Emitters call the rule (``LS013(line, message)``); only rules.py spells the ids."""
    offenders = []
    for path in sorted(CHECK_DIR.rglob("*.py")):
        if path.name == "rules.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and RULE_ID.match(node.value):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert offenders == []


def test_a_rule_is_answered_by_its_function():
    """What does LS005 check? ``RULES['LS005'].decide`` on a resolved deployment says it."""
    t = Target(file="f.yaml", line=3, kind="Deployment", name="d", gpu_count=Loc(4, 9), settings={"tp": Loc("3", 7)})
    (issue,) = RULES["LS005"].decide(Resolved(target=t, limits=PolicyLimits(), tp=3))
    assert issue == Issue(RULES["LS005"], 9, "the resources request 4 GPU(s) but tensor-parallel 3 x "
                                             "pipeline-parallel 1 uses 3")
    assert gpu_count_mismatch(Resolved(target=t, limits=PolicyLimits(), tp=4)) == []
    assert LS013(0, "x") == Issue(RULES["LS013"], 1, "x")  # lines are 1-based


def test_strict_raises_only_the_rules_that_say_so():
    assert RULES["LS009"].severity_in(strict=True) == "error" and RULES["LS009"].severity_in(strict=False) == "warning"
    assert RULES["LS014"].severity_in(strict=True) == "warning"
    assert RULES["LS101"].severity_in(strict=True) == "note"


def test_render_rules_every_format():
    assert set(RULE_FORMATS) == {"text", "json", "markdown"}
    data = json.loads(render_rules("json"))
    assert [(d["id"], d["name"], d["severity"], d["strict_error"], d["description"]) for d in data] == \
        [(r.id, r.name, r.severity, r.strict_error, r.description) for r in rule_table()]
    text = render_rules("text").splitlines()
    assert [line.split()[0] for line in text[:-1]] == sorted(RULES)
    assert render_rules("markdown") == rules_markdown()


def test_list_rules_cli():
    r = run_cli("check", "--list-rules")
    assert r.code == 0 and all(k in r.out for k in RULES)
    r = run_cli("check", "--list-rules", "--format", "json")
    assert r.code == 0 and [d["id"] for d in json.loads(r.out)] == sorted(RULES)
    r = run_cli("check", "--list-rules", "--format", "sarif")
    assert r.code == 2 and r.out == ""
    r = run_cli("check")
    assert r.code == 2 and "paths" in r.err.lower()
