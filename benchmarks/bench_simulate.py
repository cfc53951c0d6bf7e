"""Simulator speed and what it predicts on a saturated offline run (prints figures; not a test).

    python benchmarks/bench_simulate.py

3,000 requests of 1,000 prompt + 1,000 output tokens, all queued at t=0 (the TensorRT-LLM
perf-overview shape), on Llama 3.1 8B / H100 and Mixtral 8x7B / H100 in FP8, with both admission
policies; and 128 / 128 with 30,000 requests (the short-prompt shape). Issue 12's target: the
1,000 / 1,000 runs under 1 s on this machine ("wall s"; it depends on the machine's load, the
"evaluated" column -- steps timed one by one rather than in a closed-form run -- does not). The
efficiencies are the ones perf uses for the GPU (fitted for its generation).
"""

from __future__ import annotations

import time

from llamasize.data.registry import load_registry
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.simulate import Request, mean, percentile, simulate


def main() -> None:
    reg = load_registry()
    cases = [("llama3.1-8b", "h100-sxm", 1, "fp8", 1000, 1000, 3000),
             ("mixtral-8x7b", "h100-sxm", 1, "fp8", 1000, 1000, 3000),
             ("llama3.1-8b", "h100-sxm", 1, "fp8", 128, 128, 30000)]
    print(f"{'model':14} {'shape':>10} {'reqs':>6} {'admission':>9} {'tok/s':>9} {'TTFT p50':>9} {'TPOT ms':>8} "
          f"{'steps':>7} {'evaluated':>9} {'preempt':>7} {'wall s':>7}")
    for model, gpu, n, quant, isl, osl, count in cases:
        d = Deployment(model=reg.model(model), gpu=reg.gpu(gpu), gpu_count=n, quant=quant,
                       context_tokens=isl + osl, batch=1)
        for admission in ("reserve", "greedy"):
            t0 = time.perf_counter()
            r = simulate(d, [Request(0.0, isl, osl) for _ in range(count)], admission=admission)
            wall = time.perf_counter() - t0
            print(f"{model:14} {f'{isl}/{osl}':>10} {count:>6} {admission:>9} {r.output_tokens_per_s:>9,.0f} "
                  f"{percentile(r.ttft_s, 50):>9.2f} {mean(r.tpot_s) * 1e3:>8.2f} {r.steps:>7} "
                  f"{r.evaluated_steps:>9} {r.preemptions:>7} {wall:>7.2f}")


if __name__ == "__main__":
    main()
