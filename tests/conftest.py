"""Shared fixtures. The autouse fixture isolates every test from the user's environment
(catalogue paths, cache/config dirs, colour, terminal width), as simonw/llm does."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No user catalogue dirs, a private cache/config dir, no colour, a fixed terminal width."""
    for var in ("LLAMASIZE_SPECS_PATH", "LLAMASIZE_CATALOG_PATH", "LLAMASIZE_DEBUG", "LLAMASIZE_CALIBRATION",
                "GITHUB_ACTIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    yield


@dataclass
class Result:
    """Outcome of one in-process CLI run."""

    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def run_cli(*args: str, stdin: str | None = None) -> Result:
    """Run ``llamasize ARGS`` in-process; return exit code, stdout and stderr."""
    from llamasize.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """The in-process CLI runner."""
    return run_cli


@pytest.fixture(scope="session")
def registry():
    """The bundled registry (loaded once)."""
    from llamasize.data.registry import load_registry

    return load_registry()
