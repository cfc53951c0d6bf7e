"""The lower-bound constraints file stays equal to pyproject.toml's lower bounds, so CI's low-bound
pass (``.ci/run``) really runs against the lowest versions the package claims to support."""

from __future__ import annotations

import re

from conftest import REPO


def _toml_list(text: str, key: str) -> list[str]:
    """The strings of a one-key TOML array (``key = [ "a", "b" ]``, one or more lines); tomllib is
    3.11+ and the package supports 3.10, so this file reads the two arrays it needs by hand."""
    m = re.search(rf"^{re.escape(key)}\s*=\s*\[(.*?)\]", text, flags=re.S | re.M)
    assert m, f"pyproject.toml has no '{key} = [...]'"
    return re.findall(r'"([^"]+)"', m.group(1))


def _lower_bounds() -> dict[str, str]:
    text = (REPO / "pyproject.toml").read_text()
    reqs = _toml_list(text, "dependencies") + _toml_list(text, "test")
    out = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9A-Za-z.]*)", r.strip())
        assert m, f"requirement {r!r} has no plain lower bound (name>=version)"
        out[m.group(1).lower()] = m.group(2)
    return out


def _pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "tests" / "constraints-lowest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


def test_constraints_pin_every_lower_bound_exactly():
    assert _pins() == _lower_bounds()
