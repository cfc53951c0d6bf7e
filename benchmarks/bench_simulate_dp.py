"""Attention data parallelism in the step simulator: what it predicts and how long it takes (prints
figures; not a test).

    python benchmarks/bench_simulate_dp.py

DeepSeek-V3 FP8 on 8 x H200 (``perf``'s fitted Hopper efficiencies, default engine settings),
1,000 prompt + 1,000 output tokens: TP 8 + EP against DP 8 + EP 8 (``estimate.simulate.simulate_dp``),
offline (all queued at t = 0) at 1,024 and 2,048 requests, and Poisson at 8 requests/s (1,000
requests; every DP rank is then simulated, their arrivals differ). "wall s" depends on the
machine's load; the other columns do not.
"""

from __future__ import annotations

import time

from llamasize.data.registry import load_registry
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.simulate import mean, percentile, simulate, workload


def main() -> None:
    reg = load_registry()
    spec, gpu = reg.model("deepseek-v3"), reg.gpu("h200")
    layouts = [("TP8 EP", 8, 1), ("DP8 EP8", 1, 8)]
    runs = [("offline", 1024, None), ("offline", 2048, None), ("poisson", 1000, 8.0)]
    print(f"{'layout':8} {'arrival':>8} {'reqs':>5} {'tok/s':>8} {'TTFT mean':>9} {'TTFT p90':>9} {'TPOT ms':>8} "
          f"{'running':>7} {'preempt':>7} {'steps':>6} {'evaluated':>9} {'wall s':>7}")
    for name, tp, dp in layouts:
        d = Deployment(model=spec, gpu=gpu, gpu_count=8, quant=spec.default_quant, context_tokens=2000,
                       tensor_parallel_size=tp, data_parallel_size=dp, expert_parallel=True, batch=1)
        for arrival, n, qps in runs:
            reqs = workload(arrival, n, 1000, 1000, qps=qps)
            t0 = time.perf_counter()
            r = simulate(d, reqs)
            wall = time.perf_counter() - t0
            print(f"{name:8} {arrival:>8} {n:>5} {r.output_tokens_per_s:>8,.0f} {mean(r.ttft_s):>9.2f} "
                  f"{percentile(r.ttft_s, 90):>9.2f} {mean(r.tpot_s) * 1e3:>8.1f} {r.max_running:>7} "
                  f"{r.preemptions:>7} {r.steps:>6} {r.evaluated_steps:>9} {wall:>7.2f}")


if __name__ == "__main__":
    main()
