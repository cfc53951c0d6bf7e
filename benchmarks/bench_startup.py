"""Start-up cost of the CLI: whole-process CPU time (user + sys) of one ``plan --format json``.

Prints the median over ``--runs`` runs (default 11) of

- ``llamasize plan --model maverick --quant int4 --ctx 1M --format json`` (``python -m llamasize``), and
- a bare ``python -c pass`` (the interpreter's own floor),

each measured as the growth of ``resource.getrusage(RUSAGE_CHILDREN)`` across one child process, so
the figure is CPU time, not wall time, and includes every import, the registry load, the search and
the JSON dump. The issue's target for the plan is at most 0.20 s on the project's 2-core machine.

Byte-code: a user's installed wheel has its ``.pyc`` files; a checkout run with
``PYTHONDONTWRITEBYTECODE=1`` recompiles llamasize's sources in every process (some 0.1 s more).
The children therefore run without that variable, after one warm-up run that lets Python write its
``__pycache__`` as it normally does; ``--no-bytecode`` measures the recompiling case instead.

Run: ``python benchmarks/bench_startup.py [--runs N] [--no-bytecode]``. A benchmark, not a test:
it asserts nothing (the load of the machine moves the figures).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLAN = ["-m", "llamasize", "plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--format", "json"]
BARE = ["-c", "pass"]


def child_cpu_seconds(args: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one ``python ARGS`` child process (stdout discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(args)} exited {proc.returncode}: "
                         f"{proc.stderr.decode(errors='replace').strip()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu(args: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """(median, min, max) CPU seconds over ``runs`` runs, after one warm-up run."""
    child_cpu_seconds(args, env)
    samples = [child_cpu_seconds(args, env) for _ in range(runs)]
    return statistics.median(samples), min(samples), max(samples)


def main() -> None:
    """Measure and print the two figures (and their difference)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="runs per command (the median is printed)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="set PYTHONDONTWRITEBYTECODE=1 in the children (sources recompiled every run)")
    a = ap.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if a.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    for var in ("LLAMASIZE_SPECS_PATH", "LLAMASIZE_CATALOG_PATH", "LLAMASIZE_DEBUG"):
        env.pop(var, None)
    bare = median_cpu(BARE, env, a.runs)
    plan = median_cpu(PLAN, env, a.runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {sys.version.split()[0]}, {a.runs} runs each, load average {load:.2f}, "
          f"byte-code {'recompiled' if a.no_bytecode else 'cached'}")
    print(f"{'python -c pass':<58} {bare[0]:.3f} s CPU (min {bare[1]:.3f}, max {bare[2]:.3f})")
    print(f"{'llamasize plan --model maverick --quant int4 --ctx 1M -f json':<58} {plan[0]:.3f} s CPU "
          f"(min {plan[1]:.3f}, max {plan[2]:.3f})")
    print(f"{'llamasize above the bare interpreter':<58} {plan[0] - bare[0]:.3f} s CPU")


if __name__ == "__main__":
    main()
