"""The project's own fuzz suite (issue 10 item 8), the CI-sized form; ``benchmarks/fuzz_cli.py`` is the
long form over the same cases (``fuzzkit.py``).

Every command of ``llamasize --help`` gets hypothesis-drawn cases (derandomized: the same cases every
run) in-process, each in its own scratch directory with HOME and XDG_CACHE_HOME inside it and a time
limit; a handful run as real subprocesses (``fuzzrun.py``) for what only a process shows: FIFOs and
devices on stdin, the interpreter's exit, the 4 GiB address-space limit. Each run must pass
``fuzzkit.judge``: an exit code the README documents for the command; on an error exactly one
``llamasize: error:`` line and nothing on stdout; on success with ``--format json`` strict JSON with
finite numbers and no fitting deployment whose memory does not add up; no control characters
unescaped; nothing written but what the case named.

verify and run stop at their measurement in-process (a stub raises once every input is validated and
the calibration location checked): measuring costs seconds and says nothing about input handling;
the subprocess cases and the long form measure for real.
"""

from __future__ import annotations

import io
import os
import random
import signal
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fuzzkit
import fuzzrun

#: Seconds one in-process case may take (the slowest valid one, a sweep, takes about 1 s here).
TIME_LIMIT_S = 15
#: Examples per command; 14 commands x 8 runs in about 10 s on this machine's 2 cores.
EXAMPLES = int(os.environ.get("LLAMASIZE_FUZZ_EXAMPLES", "8"))


class Hang(BaseException):
    """The time limit of a case (a BaseException, so the CLI's error funnel does not swallow it)."""


class NotMeasured(BaseException):
    """verify/run reached their measurement: every input was accepted."""


def _stop(*args, **kwargs):
    raise NotMeasured()


def run_in_process(case: fuzzkit.Case) -> fuzzkit.Outcome:
    """Run ``case`` through ``llamasize.cli.main.main`` in a fresh scratch directory, environment
    isolated into it, under a SIGALRM time limit; the scratch directory is removed afterwards."""
    from llamasize.cli.main import main

    top = Path(tempfile.mkdtemp(prefix="llamasize-fuzz-"))
    d = top / "s"
    d.mkdir()
    out, err = io.StringIO(), io.StringIO()
    old_stdin, old_cwd = sys.stdin, os.getcwd()
    try:
        fuzzkit.materialize(case, d)
        argv, env = case.resolved(d)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HOME", str(d / "home"))
            mp.setenv("XDG_CACHE_HOME", str(d / "cache"))
            for k, v in env.items():
                mp.setenv(k, v)
            if "LLAMASIZE_CALIBRATION" in env and case.command == "verify" and "--no-save" not in argv:
                case.writes.append(os.path.relpath(env["LLAMASIZE_CALIBRATION"], d))
            import llamasize.runtime.generate
            import llamasize.verify

            mp.setattr(llamasize.verify, "run_verify", _stop)
            mp.setattr(llamasize.runtime.generate, "run_generation", _stop)
            mp.chdir(d)
            if isinstance(case.stdin, bytes):
                sys.stdin = io.TextIOWrapper(io.BytesIO(case.stdin), encoding="utf-8")
            elif case.stdin:
                sys.stdin = open(case.stdin, encoding="utf-8")  # noqa: SIM115 - closed below
            else:
                sys.stdin = io.StringIO("")
            before, outside = fuzzkit.snapshot(d), fuzzkit.outside_snapshot()

            def alarm(signum, frame):
                raise Hang()

            previous = signal.signal(signal.SIGALRM, alarm)
            signal.alarm(TIME_LIMIT_S)
            code: int | None
            try:
                with redirect_stdout(out), redirect_stderr(err):
                    try:
                        main(list(argv))
                        code = 0
                    except SystemExit as e:
                        code = e.code if isinstance(e.code, int) else 1
                    except NotMeasured:
                        code = -1
            except Hang:
                code = None
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, previous)
        changed = fuzzkit.changed_paths(before, fuzzkit.snapshot(d))
        new_outside = sorted(fuzzkit.outside_snapshot() - outside)
    finally:
        if sys.stdin is not old_stdin:
            sys.stdin.close()
        sys.stdin = old_stdin
        os.chdir(old_cwd)
        fuzzkit.remove_tree(top)
    return fuzzkit.Outcome(code, out.getvalue(), err.getvalue(), changed, new_outside)


def _verdict(case: fuzzkit.Case, outcome: fuzzkit.Outcome) -> list[tuple[str, str]]:
    if outcome.code == -1:  # stopped at the measurement: only the writes and stderr so far are judged
        outcome = fuzzkit.Outcome(0, "", outcome.err, outcome.changed, outcome.outside)
        return [f for f in fuzzkit.judge(case, outcome) if f[0] != "wrong-success"]
    return fuzzkit.judge(case, outcome)


def _report(case, outcome, found) -> str:
    return (f"\n  $ {case.shell()}\n  files: {[(f.name, f.kind) for f in case.files]}\n  exit {outcome.code}\n"
            f"  stdout: {outcome.out[:500]!r}\n  stderr: {outcome.err[:800]!r}\n"
            + "\n".join(f"  [{c}] {d}" for c, d in found))


@pytest.mark.parametrize("command", fuzzkit.COMMANDS)
@settings(max_examples=EXAMPLES)
@given(rnd=st.randoms(use_true_random=False))
def test_fuzz_in_process(command, rnd):
    case = fuzzkit.make_case(rnd, command=command)
    outcome = run_in_process(case)
    found = _verdict(case, outcome)
    assert not found, _report(case, outcome, found)


def test_the_cases_reach_every_slot():
    """The generator covers every command and file-taking slot (so the suite fuzzes what it claims)."""
    seen_flags, seen_env, seen_kinds = set(), set(), set()
    for i in range(3000):
        case = fuzzkit.case_of(7, i)
        seen_flags |= {a for a in case.argv if a.startswith("--")}
        seen_env |= set(case.env)
        seen_kinds |= {f.kind for f in case.files} | {a for a in case.argv if a.startswith("/dev/")}
    for flag in ("--model", "--workload", "--calibration", "--policy", "--svg", "--specs-dir", "--catalog-dir"):
        assert flag in seen_flags, flag
    assert set(fuzzkit.ENV_SLOTS) <= seen_env
    assert {"fifo", "symlink-loop", "deep-json", "huge-number", "binary", "yaml-bomb", "directory",
            "/dev/zero"} <= seen_kinds


def test_the_verdict_catches_what_it_should():
    """judge() is not a rubber stamp: each class fires on a run that shows it."""
    case = fuzzkit.Case(0, "fit", ["fit", "--format", "json"])
    ok = fuzzkit.Outcome(0, '{"fits": true}', "")
    assert fuzzkit.judge(case, ok) == []
    classes = {
        "internal": fuzzkit.Outcome(70, "", "llamasize: internal error: ValueError: x\n"),
        "hang": fuzzkit.Outcome(None, "", ""),
        "wrong-success": fuzzkit.Outcome(0, '{"tpot_s": Infinity}', ""),
        "messy": fuzzkit.Outcome(2, "", "llamasize: error: a\nllamasize: error: b\n"),
        "stray-write": fuzzkit.Outcome(0, "{}", "", changed=["surprise.txt"]),
    }
    for cls, outcome in classes.items():
        assert cls in {c for c, _ in fuzzkit.judge(case, outcome)}, cls
    impossible = '{"fits": true, "per_gpu": {"weights_bytes": 90, "kv_cache_bytes": 20, "budget_bytes": 100, ' \
                 '"total_bytes": 110, "free_bytes": -10}}'
    assert fuzzkit.judge(case, fuzzkit.Outcome(0, impossible, ""))[0][0] == "wrong-success"
    assert fuzzkit.judge(case, fuzzkit.Outcome(2, "", "llamasize: error: a \x1b[31m\n"))[0][0] == "messy"


#: Cases only a real process shows: devices and FIFOs on stdin and as files, the interpreter's exit.
SUBPROCESS_CASES = [
    fuzzkit.Case(0, "terraform-external", ["terraform-external"], stdin="/dev/zero"),
    fuzzkit.Case(1, "terraform-external", ["terraform-external"], stdin="/dev/urandom"),
    fuzzkit.Case(2, "params", ["params", "p.json"], files=[fuzzkit.FileSpec("p.json", "fifo")]),
    fuzzkit.Case(3, "cost", ["cost", "--model", "scout", "--gpu", "h100", "--svg", "p.svg"],
                 files=[fuzzkit.FileSpec("p.svg", "fifo")]),
    fuzzkit.Case(4, "plan", ["plan", "--model", "scout", "--ctx", "8K", "--workload", "/dev/urandom"]),
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES + [fuzzkit.case_of(11, i) for i in range(2)],
                         ids=lambda c: f"{c.command}-{c.index}")
def test_fuzz_subprocess(case):
    if case.expensive:
        case = fuzzkit.Case(case.index, case.command, case.argv + ["--help"], case.env, case.stdin, case.files)
    outcome, wall = fuzzrun.run_case(case, "exec", timeout=30)
    found = fuzzkit.judge(case, outcome)
    assert not found, _report(case, outcome, found)


def test_the_case_generator_is_deterministic():
    a = [fuzzkit.case_of(3, i) for i in range(50)]
    b = [fuzzkit.case_of(3, i) for i in range(50)]
    assert [c.shell() for c in a] == [c.shell() for c in b]
    assert len({c.shell() for c in a}) > 40
    assert random.Random("3:0").random() == random.Random("3:0").random()
