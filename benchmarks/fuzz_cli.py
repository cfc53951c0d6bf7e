"""The long form of the fuzz suite (issue 10 item 8): thousands of ``llamasize`` invocations, each in a
subprocess in its own scratch directory (HOME and XDG_CACHE_HOME inside it, cwd there), under a 4 GiB
address-space limit and a time limit, seeded. The cases and the verdicts are ``tests/fuzzkit.py``'s
(the same ones tests/test_fuzz.py runs in-process): every command, every file-taking slot, random
and adversarial values, files and environment paths.

It prints the count of each failure class (internal error, hang, silent wrong success, messy error,
stray write) in total and per command, and a reproducer of every failure; exit 1 when any.

Each case runs in a real subprocess (``tests/fuzzrun.py``): exec'd (``python -m llamasize``, ~0.7 s
of start-up on this machine) or forked from a worker that has imported ``llamasize.cli.main`` only
(much faster); ``--exec-every N`` runs every Nth case with exec, the rest forked (default 5).

Run: .venv/bin/python benchmarks/fuzz_cli.py [--cases 2000] [--seed 0] [--jobs 2] [--timeout 20]
     .venv/bin/python benchmarks/fuzz_cli.py --seed 0 --case 123 --show   (one case, its outputs)
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fuzzkit  # noqa: E402
import fuzzrun  # noqa: E402

ARGS: argparse.Namespace


def mode_of(i: int) -> str:
    """exec for every ``--exec-every``th case (mode mixed), else fork."""
    if ARGS.mode != "mixed":
        return ARGS.mode
    return "exec" if i % ARGS.exec_every == 0 else "fork"


def one(i: int):
    """Case ``i``: run and judged (in a pool worker)."""
    case = fuzzkit.case_of(ARGS.seed, i)
    outcome, wall = fuzzrun.run_case(case, mode_of(i), ARGS.timeout)
    return case, outcome, wall, fuzzkit.judge(case, outcome)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20.0, help="CPU seconds per case (wall clock: 4 x)")
    ap.add_argument("--exec-every", type=int, default=5, help="run every Nth case with exec, the rest forked")
    ap.add_argument("--mode", choices=["mixed", "exec", "fork"], default="mixed")
    ap.add_argument("--case", type=int, help="run only this case index")
    ap.add_argument("--show", action="store_true", help="print each case's outputs")
    ap.add_argument("--start", type=int, default=0)
    args = ap.parse_args()

    import llamasize.cli.main  # noqa: F401 - imported once, before forking

    indices = [args.case] if args.case is not None else list(range(args.start, args.start + args.cases))

    global ARGS
    ARGS = args

    t0 = time.monotonic()
    per_class = collections.Counter()
    per_command = collections.defaultdict(collections.Counter)
    runs = collections.Counter()
    failures = []
    codes = collections.Counter()
    slowest = []
    # Worker processes (single-threaded, so forking from them is safe), each forking or exec-ing a child per case.
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        for n, (case, outcome, wall, found) in enumerate(pool.imap(one, indices), 1):
            runs[case.command] += 1
            codes[outcome.code] += 1
            slowest.append((wall, case.index, case.command))
            if args.show:
                print(f"--- case {case.index} ({mode_of(case.index)}, {wall:.2f} s, exit {outcome.code}): "
                      f"{case.shell()}\n{case.files}\nstdout: {outcome.out[:2000]}\nstderr: {outcome.err[:2000]}")
            for cls in sorted({c for c, _ in found}):
                per_class[cls] += 1
                per_command[case.command][cls] += 1
            if found:
                failures.append((case, mode_of(case.index), outcome, found))
                print(f"... FAIL case {case.index}: {found[0][0]}: {found[0][1][:200]}", file=sys.stderr, flush=True)
            if n % 200 == 0:
                print(f"... {n} cases, {time.monotonic() - t0:.0f} s, {len(failures)} failing", file=sys.stderr)
    wall = time.monotonic() - t0

    print(f"invocations: {len(indices)} (seed {args.seed}, {args.jobs} processes, time limit {args.timeout:g} CPU s "
          f"and {args.timeout * fuzzrun.WALL_FACTOR:g} s wall, RLIMIT_AS 4 GiB), wall time {wall:.0f} s")
    print("failing cases per class: " + ", ".join(f"{c} {per_class[c]}" for c in fuzzkit.CLASSES))
    print("exit codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items(), key=lambda kv: str(kv[0]))))
    print(f"{'command':<20}{'runs':>6}" + "".join(f"{c:>15}" for c in fuzzkit.CLASSES))
    for command in fuzzkit.COMMANDS:
        print(f"{command:<20}{runs[command]:>6}" + "".join(f"{per_command[command][c]:>15}" for c in fuzzkit.CLASSES))
    slowest.sort(reverse=True)
    print("slowest: " + ", ".join(f"#{i} {c} {w:.1f} s" for w, i, c in slowest[:5]))
    for case, mode, outcome, found in failures:
        print(f"\nFAIL case {case.index} ({mode}; rerun: benchmarks/fuzz_cli.py --seed {args.seed} --case "
              f"{case.index} --show)\n  $ {case.shell()}")
        if case.files:
            print("  files: " + "; ".join(f"{f.name!r}: {f.kind}" for f in case.files)[:600])
        for cls, detail in found:
            print(f"  [{cls}] {detail[:500]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
