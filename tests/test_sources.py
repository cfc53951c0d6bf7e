"""Sources ship (issue 13 item 9): every citation of the facts files or the design notes in the
package, its data and the docs points at a file of the repository (``docs/facts/*.md``,
``docs/design.md``), and no citation names a file that does not ship."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CITED = re.compile(r"(?<![\w/.])((?:docs/)?facts/[a-z0-9-]+\.md|(?:docs/)?design\.md|DESIGN\.md)")
RULE = re.compile(r"docs/design\.md rule (\d+)")


def _files():
    for base in ("llamasize", "model_specs", "hardware_catalog", "benchmarks", "examples", "tests"):
        for p in sorted((REPO / base).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".yaml", ".yml", ".md", ".json", ".tf"}:
                yield p
    yield REPO / "README.md"
    yield REPO / "docs" / "architecture.md"


def test_every_citation_points_at_a_shipped_file():
    missing, bare = set(), set()
    for p in _files():
        if p == Path(__file__):
            continue
        for m in CITED.finditer(p.read_text(encoding="utf-8", errors="replace")):
            name = m.group(1)
            if not name.startswith("docs/"):
                bare.add((str(p.relative_to(REPO)), name))
            elif not (REPO / name).is_file():
                missing.add((str(p.relative_to(REPO)), name))
    assert not bare, sorted(bare)[:20]
    assert not missing, sorted(missing)[:20]


def test_cited_design_rules_exist():
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    rules = {int(n) for n in re.findall(r"^(\d+)\.\s", design, re.M)}
    cited = {int(n) for p in _files() for n in RULE.findall(p.read_text(encoding="utf-8", errors="replace"))}
    assert cited and cited <= rules, sorted(cited - rules)


@pytest.mark.parametrize("name", ["serving.md", "engine-memory.md", "benchmarks.md", "hardware.md", "models.md",
                                  "pricing.md", "integrations.md", "hardware-memory.md"])
def test_facts_files_ship(name):
    assert (REPO / "docs" / "facts" / name).stat().st_size > 1000
