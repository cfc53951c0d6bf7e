"""Planner benchmark: prints wall times for the full catalogue search and the CLI end to end.

Run: .venv/bin/python benchmarks/bench_planner.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from llamasize.estimate.kv import kv_models
from llamasize.estimate import shards
from llamasize.plan.planner import PlanRequest, plan
from llamasize.plan.sweep import sweep
from llamasize.data.registry import load_registry

REPO = Path(__file__).resolve().parent.parent


def timed(fn, repeat=5):
    """Best and median wall time of ``fn`` over ``repeat`` runs, caches cleared before each."""
    times = []
    for _ in range(repeat):
        shards.cache_clear()
        kv_models.cache_clear()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def main() -> None:
    reg = load_registry()
    cases = [
        ("maverick int4 1M", PlanRequest(model=reg.model("maverick"), context_tokens=2**20, quant="int4")),
        ("maverick auto 1M", PlanRequest(model=reg.model("maverick"), context_tokens=2**20, quant="auto")),
        ("scout auto 10M kv any", PlanRequest(model=reg.model("scout"), context_tokens=10 * 2**20, quant="auto",
                                              kv_cache_dtype="any")),
        ("deepseek-v3 auto 128K", PlanRequest(model=reg.model("deepseek-v3"), context_tokens=2**17, quant="auto")),
        ("maverick int4 1M, all layouts, 4 nodes", PlanRequest(model=reg.model("maverick"), context_tokens=2**20,
                                                               quant="int4", layout_mode="all", max_nodes=4)),
    ]
    print(f"{'case':42} {'best s':>8} {'median s':>9} {'candidates':>11}")
    for name, req in cases:
        best, med, res = timed(lambda: plan(req, reg))
        print(f"{name:42} {best:8.3f} {med:9.3f} {res.candidates_evaluated:11,}")
    best, med, _ = timed(lambda: sweep(PlanRequest(model=reg.model("maverick"), context_tokens=1, quant="int4"),
                                       [2**13, 2**17, 2**20, 10 * 2**20], reg), repeat=3)
    print(f"{'sweep maverick int4 8K..10M':42} {best:8.3f} {med:9.3f}")
    exe = Path(sys.executable).with_name("llamasize")
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([str(exe), "plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M"],
                       check=True, capture_output=True)
        runs.append(time.perf_counter() - t)
    print(f"{'CLI plan (interpreter start-up included)':42} {min(runs):8.3f} {statistics.median(runs):9.3f}")


if __name__ == "__main__":
    main()
