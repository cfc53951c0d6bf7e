"""``llamasize verify`` while another process keeps one core busy (issue 13 item 8).

Starts one busy-loop process (pure Python spinning, one core), runs ``llamasize verify --no-save
--format json`` N times in a row (default 10) with the default tolerance, and prints each run's
exit code, duration, rounds run, worst timing ratio and the widest spread of a check's
per-round ratios, then the pass count. Ends the busy process it started
(by its pid) whatever happens. Figures only: nothing here asserts.

    .venv/bin/python benchmarks/verify_under_load.py [--runs 10] [-- extra verify args]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

SPIN = "while True:\n    pass\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("extra", nargs="*", help="extra arguments for llamasize verify")
    a = ap.parse_args()
    busy = subprocess.Popen([sys.executable, "-c", SPIN])
    passed = 0
    try:
        time.sleep(1.0)  # the spinner is running before the first measurement
        for i in range(1, a.runs + 1):
            t0 = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "llamasize", "verify", "--no-save", "--format", "json",
                                *a.extra], capture_output=True, text=True)
            dt = time.perf_counter() - t0
            try:
                rep = json.loads(r.stdout)
                timed = [c for c in rep["checks"] if c["kind"] == "tolerance" and c["unit"] == "seconds"]
                worst = max(timed, key=lambda c: max(c["ratio"], 1 / c["ratio"]))
                failed = [c["name"] for c in rep["checks"] if not c["passed"]]
                spread = max(max(c.get("round_ratios") or [c["ratio"]]) / min(c.get("round_ratios") or [c["ratio"]])
                             for c in timed)
                detail = (f"{rep.get('repeats', '?')} rounds; worst timing {worst['name']} ratio {worst['ratio']:.3f}; "
                          f"widest per-round spread x{spread:.2f}; failed: {failed or 'none'}")
            except (ValueError, KeyError):
                detail = "no report: " + (r.stderr.strip().splitlines() or ["?"])[-1]
            passed += r.returncode == 0
            print(f"run {i:2d}: exit {r.returncode}  {dt:5.1f} s  {detail}", flush=True)
    finally:
        busy.terminate()
        busy.wait()
    print(f"verify passed {passed} of {a.runs} runs in a row with one core kept busy by another process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
