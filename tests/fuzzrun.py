"""Running a fuzz case (``tests/fuzzkit.py``) in a real subprocess in its own scratch directory, under
a 4 GiB address-space limit and a time limit; shared by ``tests/test_fuzz.py`` and
``benchmarks/fuzz_cli.py``.

Two ways to start the subprocess, both real processes with their own limits:
  exec  ``python -m llamasize ARGS`` (what a user runs);
  fork  a child forked from a single-threaded process that has imported ``llamasize.cli.main``
        (nothing else: no registry, no numpy, no cache), which sets up the case's environment, cwd
        and fds and calls ``main(ARGS)``; interpreter exit is mimicked (stdout flushed; a flush error
        is exit 120, as Python's own).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fuzzkit

ADDRESS_SPACE = 4 * 2**30
BASE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "NO_COLOR": "1", "COLUMNS": "120",
            "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
for _var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # this machine's BLAS workaround, if set
    if _var in os.environ:
        BASE_ENV[_var] = os.environ[_var]


#: The time limit is on CPU seconds (RLIMIT_CPU: a loop that never ends is killed by SIGXCPU) and, WALL_FACTOR
#: times longer, on wall-clock seconds (a read that blocks forever uses no CPU). On this shared 2-core machine
#: a valid ``verify`` took 5 s alone and over 20 s of wall time under load, with under 3 s of CPU.
WALL_FACTOR = 4
CPU_SECONDS = 20


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    os.setsid()


def prepare(case: fuzzkit.Case, d: Path) -> tuple[list[str], dict[str, str], str]:
    """Make the case's files in ``d``; its argv, full environment and stdin path."""
    fuzzkit.materialize(case, d)
    argv, env = case.resolved(d)
    full = {**BASE_ENV, "HOME": str(d / "home"), "XDG_CACHE_HOME": str(d / "cache"), **env}
    if isinstance(case.stdin, bytes):
        stdin = str(d / ".stdin")
        Path(stdin).write_bytes(case.stdin)
    elif case.stdin:
        stdin = case.stdin if case.stdin.startswith("/") else str(d / case.stdin)
    else:
        stdin = os.devnull
    if "LLAMASIZE_CALIBRATION" in env and case.command == "verify" and "--no-save" not in argv:
        rel = os.path.relpath(env["LLAMASIZE_CALIBRATION"], d)
        case.writes.append(rel)
    return argv, full, stdin


def run_exec(argv, env, stdin, d: Path, timeout: float):
    """``python -m llamasize ARGV`` in ``d``: (exit code or None at the time limit, stdout, stderr)."""
    with open(d.parent / "out", "wb") as fo, open(d.parent / "err", "wb") as fe:
        try:
            fi = os.open(stdin, os.O_RDONLY | os.O_NONBLOCK)
            os.set_blocking(fi, True)
        except OSError:
            fi = os.open(os.devnull, os.O_RDONLY)
        try:
            p = subprocess.Popen([sys.executable, "-m", "llamasize", *argv], cwd=d, env=env, stdin=fi, stdout=fo,
                                 stderr=fe, preexec_fn=_limits)
        finally:
            os.close(fi)
        try:
            code = p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            code = None
    return code, *_read(d.parent)


def run_fork(argv, env, stdin, d: Path, timeout: float):
    """The same in a child forked from this process (``llamasize.cli.main`` already imported)."""
    out, err = d.parent / "out", d.parent / "err"
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 71
        try:
            _limits()
            fds = (os.open(stdin, os.O_RDONLY | os.O_NONBLOCK) if os.path.exists(stdin) else os.open(os.devnull, 0),
                   os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), os.open(err, os.O_WRONLY | os.O_CREAT))
            os.set_blocking(fds[0], True)
            for i, fd in enumerate(fds):
                os.dup2(fd, i)
            os.chdir(d)
            os.environ.clear()
            os.environ.update(env)
            sys.argv = ["llamasize", *argv]
            from llamasize.cli.main import main

            try:
                main(argv)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            try:
                sys.stdout.flush()
            except Exception:  # noqa: BLE001 - what the interpreter would report as exit 120
                sys.stderr.write("Exception ignored on flushing sys.stdout\n")
                code = 120
            sys.stderr.flush()
        except BaseException as e:  # noqa: BLE001
            try:
                os.write(2, f"Traceback (most recent call last): fork child: {type(e).__name__}: {e}\n".encode())
            except OSError:
                pass
            code = 70
        os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = None
            break
        time.sleep(0.01)
    return code, *_read(d.parent)


def _read(where: Path):
    def text(name):
        try:
            return (where / name).read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    return text("out"), text("err")


def run_case(case: fuzzkit.Case, mode: str, timeout: float) -> tuple[fuzzkit.Outcome, float]:
    """Run one case in a fresh scratch directory, with ``timeout`` CPU seconds and WALL_FACTOR times that of
    wall time; its outcome and wall time."""
    global CPU_SECONDS
    CPU_SECONDS = max(1, int(timeout))
    top = Path(tempfile.mkdtemp(prefix="llamasize-fuzz-"))
    d = top / "s"
    d.mkdir()
    try:
        argv, env, stdin = prepare(case, d)
        before, outside = fuzzkit.snapshot(d), fuzzkit.outside_snapshot()
        t0 = time.monotonic()
        code, out, err = (run_exec if mode == "exec" else run_fork)(argv, env, stdin, d, timeout * WALL_FACTOR)
        wall = time.monotonic() - t0
        changed = fuzzkit.changed_paths(before, fuzzkit.snapshot(d))
        new_outside = sorted(fuzzkit.outside_snapshot() - outside)
        return fuzzkit.Outcome(code, out, err, changed, new_outside), wall
    finally:
        fuzzkit.remove_tree(top)
