"""Shared fixtures. The autouse fixture isolates every test from the user's environment
(catalogue paths, cache/config dirs, colour, terminal width), as simonw/llm does.

How the suite stays fast (at most 35 s on 2 cores, nothing skipped):

- the CLI runs in-process (``run_cli``); a handful of tests run the installed entry point as a
  subprocess (test_cli.py's entry-point tests, the Terraform external program, the GitHub workflow);
- the click command typer builds from ``llamasize.cli.main.app`` is built once per session, not once
  per call (``_memoize_click_command``);
- the expensive runtime commands run once per session (``shared_run``): one real ``verify``
  (``VERIFY_ARGS``, a README line) whose report the verify, schema and README tests all assert on;
- hypothesis runs a fixed, derandomized number of examples (profile ``ci``; set
  ``HYPOTHESIS_PROFILE=thorough`` for a long exploratory run).
"""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The CLI pins BLAS to one thread for the runtime commands (verify, run, --gpu local) before numpy
# is imported (llamasize.cli.main.BLAS_THREAD_VARS). In-process runs share this interpreter's numpy,
# so pin it here, before anything imports numpy: the same setting a real `llamasize verify` gets
# (a multi-threaded BLAS on a busy 2-core machine made one in-process verify take 40 s, not 6 s).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
assert "numpy" not in sys.modules, "numpy was imported before tests/conftest.py could pin BLAS threads"

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: The one real ``verify`` of the session: the README's `llamasize verify --tolerance 0.3 --batches
#: 1,8,32 --format json` line, verbatim (test_readme.py checks it is still a README line).
#: ``--save-anyway``: the calibration is written whether this machine's load let every check pass or not
#: (labelled ``verify_passed``), so the tests that read it always have one.
VERIFY_ARGS = ("verify", "--tolerance", "0.3", "--batches", "1,8,32", "--save-anyway", "--format", "json")
#: The shared ``run``s, JSON and table: the README's two `llamasize run` lines, verbatim.
RUN_ARGS = ("run", "--batch", "4", "--kv-layout", "hybrid", "--format", "json")
RUN_TABLE_ARGS = ("run", "--model", "micro-moe", "--prompt-tokens", "64", "--new-tokens", "32")
#: Commands whose result is shared by the session (``shared_run``): every other command runs anew.
SHARED = {VERIFY_ARGS, RUN_ARGS, RUN_TABLE_ARGS}

ISOLATED_UNSET = ("LLAMASIZE_SPECS_PATH", "LLAMASIZE_CATALOG_PATH", "LLAMASIZE_DEBUG", "LLAMASIZE_CALIBRATION",
                  "GITHUB_ACTIONS", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")


def _isolate(mp: pytest.MonkeyPatch, home: Path) -> None:
    """No user catalogue dirs, a private cache/config dir under ``home``, no colour, a fixed width."""
    for var in ISOLATED_UNSET:
        mp.delenv(var, raising=False)
    mp.setenv("XDG_CACHE_HOME", str(home / "cache"))
    mp.setenv("XDG_CONFIG_HOME", str(home / "config"))
    mp.setenv("NO_COLOR", "1")
    mp.delenv("COLUMNS", raising=False)  # no terminal width: tables 120 wide, text as written (render.common)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Every test: isolated from the user's environment (``_isolate``) in its own tmp_path."""
    _isolate(monkeypatch, tmp_path)
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
def shared_run(tmp_path_factory):
    """``shared_run(*args)``: the Result of ``llamasize ARGS`` for one of the ``SHARED`` commands,
    run once per session (in-process, from the repository root, isolated in a session directory, so
    ``verify`` saves its calibration under that directory's cache) and the same Result after that."""
    home = tmp_path_factory.mktemp("shared")
    results: dict[tuple[str, ...], Result] = {}

    def run(*args: str) -> Result:
        if args not in SHARED:
            raise AssertionError(f"{args} is not a shared command (add it to SHARED in conftest.py)")
        if args not in results:
            with pytest.MonkeyPatch.context() as mp:
                _isolate(mp, home)
                mp.chdir(REPO)
                results[args] = run_cli(*args)
        return results[args]

    return run


@pytest.fixture(scope="session")
def verified(shared_run):
    """The session's one real ``verify`` (``VERIFY_ARGS``): (Result, its JSON report, the calibration
    file it saved)."""
    r = shared_run(*VERIFY_ARGS)
    assert r.code in (0, 4), r.err
    report = r.json()
    return r, report, Path(report["calibration_path"])


def spy_check_estimates(monkeypatch) -> list:
    """A list that fills with every ``(Deployment, estimate)`` ``check`` computes from now on (the
    Checker's estimate wrapped through ``monkeypatch``)."""
    from llamasize.check.run import Checker

    seen = []
    original = Checker.estimate

    def spy(self, d):
        e = original(self, d)
        seen.append((d, e))
        return e

    monkeypatch.setattr(Checker, "estimate", spy)
    return seen


@pytest.fixture(scope="session")
def registry():
    """The bundled registry (loaded once)."""
    from llamasize.data.registry import load_registry

    return load_registry()


#: The test files that use the session's shared runtime results (``shared_run``, ``verified``): the one
#: real ``verify`` and the README ``run`` lines. Under pytest-xdist they all run on one worker, so that
#: work happens once per session, not once per worker.
SHARED_RUNTIME_FILES = ("tests/test_readme.py", "tests/test_verify.py", "tests/test_schema.py")


def pytest_collection_modifyitems(config, items):
    """Collect the shared-runtime files first: they are the suite's longest serial stretch, so the
    scheduler hands them to one worker at the start while the other worker takes the rest."""
    first = [item for item in items if item.nodeid.startswith(SHARED_RUNTIME_FILES)]
    chosen = set(first)
    items[:] = first + [item for item in items if item not in chosen]


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scope scheduling with one scope for the shared-runtime files and one per test
    elsewhere. (xdist's own ``--dist loadgroup`` marks tests by rewriting ``item._nodeid``, which
    pytest 9 no longer reads, so its groups are silently ignored there; this works on both.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SharedRuntimeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "shared-runtime" if nodeid.startswith(SHARED_RUNTIME_FILES) else nodeid

    return SharedRuntimeScheduling(config, log)
