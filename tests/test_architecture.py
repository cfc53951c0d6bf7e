"""The package's shape: imports follow the data flow, no import cycle, no oversized module.

The layers are the ``[tool.importlinter]`` contract in ``pyproject.toml`` (docs/design.md "Data flow").
import-linter checks the direction; the cycle check below is our own, over grimp's graph (the
library import-linter is built on), which records every import statement, including those inside
functions: an import moved into a function to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

from conftest import REPO

PACKAGE = REPO / "llamasize"
#: "No module over about 600 lines" (issue 9): a module that grows past this is split by concern.
MAX_MODULE_LINES = 600


def test_import_linter_contracts_are_kept():
    exe = Path(sys.executable).with_name("lint-imports")
    # Run in the repository so import-linter finds pyproject.toml by itself (its --config flag is
    # deprecated in newer releases); --no-cache writes nothing.
    r = subprocess.run([str(exe), "--no-cache"], cwd=REPO,
                       capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "BROKEN" not in r.stdout and "1 kept, 0 broken" in r.stdout


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_counting_imports_inside_functions():
    graph = grimp.build_graph("llamasize", cache_dir=None)
    edges = {m: {t for t in graph.find_modules_directly_imported_by(m) if t.startswith("llamasize")}
             for m in graph.modules}
    cycles = _cycles(edges)
    detail = []
    for comp in cycles:
        for a in comp:
            for b in sorted(edges[a] & set(comp)):
                lines = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
                detail.append(f"{a} -> {b} (line {', '.join(map(str, lines))})")
    assert not cycles, "import cycles:\n" + "\n".join(detail)


def test_no_module_is_oversized():
    big = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not big, big
