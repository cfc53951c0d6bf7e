"""Simulator speed and what it predicts on a saturated offline run (prints figures; not a test).

    python benchmarks/bench_simulate.py [--repeat N]

3,000 requests of 1,000 prompt + 1,000 output tokens, all queued at t=0 (the TensorRT-LLM
perf-overview shape), on Llama 3.1 8B / H100 and Mixtral 8x7B / H100 in FP8, with both admission
policies; and 128 / 128 with 30,000 requests (the short-prompt shape). Issue 12's target: the
1,000 / 1,000 runs under 1 s on this machine. "wall s" is the fastest of ``--repeat`` runs (3 by
default) and "median s" their median; both depend on the machine's load (printed before and after,
1-minute average), the other columns do not: "steps", "evaluated" (steps timed one by one rather
than in a closed-form run) and "preempt" are the schedule's, and a change that only speeds the
simulator up leaves them, and every other figure, as they were. The efficiencies are the ones perf
uses for the GPU (fitted for its generation).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from llamasize.data.registry import load_registry
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.simulate import Request, mean, percentile, simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each case (the fastest is shown)")
    args = ap.parse_args()
    reg = load_registry()
    cases = [("llama3.1-8b", "h100-sxm", 1, "fp8", 1000, 1000, 3000),
             ("mixtral-8x7b", "h100-sxm", 1, "fp8", 1000, 1000, 3000),
             ("llama3.1-8b", "h100-sxm", 1, "fp8", 128, 128, 30000)]
    print(f"load average (1 min) before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'model':14} {'shape':>10} {'reqs':>6} {'admission':>9} {'tok/s':>9} {'TTFT p50':>9} {'TPOT ms':>8} "
          f"{'steps':>7} {'evaluated':>9} {'preempt':>7} {'wall s':>7} {'median s':>8}")
    for model, gpu, n, quant, isl, osl, count in cases:
        d = Deployment(model=reg.model(model), gpu=reg.gpu(gpu), gpu_count=n, quant=quant,
                       context_tokens=isl + osl, batch=1)
        for admission in ("reserve", "greedy"):
            walls = []
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                r = simulate(d, [Request(0.0, isl, osl) for _ in range(count)], admission=admission)
                walls.append(time.perf_counter() - t0)
            print(f"{model:14} {f'{isl}/{osl}':>10} {count:>6} {admission:>9} {r.output_tokens_per_s:>9,.0f} "
                  f"{percentile(r.ttft_s, 50):>9.2f} {mean(r.tpot_s) * 1e3:>8.2f} {r.steps:>7} "
                  f"{r.evaluated_steps:>9} {r.preemptions:>7} {min(walls):>7.2f} {statistics.median(walls):>8.2f}")
    print(f"load average (1 min) after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
