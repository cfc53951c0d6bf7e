"""SLO planner and frontier benchmark: wall time, candidates, pruned candidates and simulations of a
few ``plan --max-ttft/--max-tpot`` searches and one ``frontier``, in-process (one registry).

Run: .venv/bin/python benchmarks/bench_slo.py
"""

from __future__ import annotations

import time

from llamasize.data.registry import load_registry
from llamasize.plan.frontier import FrontierRequest, frontier
from llamasize.plan.planner import PlanRequest
from llamasize.plan.slo import SloRequest, plan_slo

CASES = [
    # (model, GPUs, quant, prompt, output, qps, max TTFT s, max TPOT s)
    ("llama3.1-8b", ("h100", "a100"), "auto", 2048, 512, 20.0, 0.5, 0.03),
    ("llama3.1-8b", ("h100",), "bf16", 1000, 200, 100.0, 1.0, 0.05),
    ("llama4-scout", ("h100",), "int4_mixed", 2048, 512, 23.0, 1.0, 0.05),
    ("llama3.1-70b", ("h100", "h200"), "fp8", 2048, 512, 5.0, 2.0, 0.05),
    ("llama3.1-8b", ("h100",), "auto", 2048, 512, 5.0, 0.001, None),  # impossible: nearest miss
]


def main() -> None:
    reg = load_registry()
    print(f"{'case':<44} {'seconds':>8} {'cands':>6} {'pruned':>6} {'sims':>5}  result")
    for model, gpus, quant, p, o, qps, ttft, tpot in CASES:
        req = PlanRequest(model=reg.model(model), context_tokens=8192, quant=quant, gpus=gpus, prompt_tokens=p,
                          output_tokens=o)
        t = time.perf_counter()
        res = plan_slo(SloRequest(plan=req, qps=qps, max_ttft_s=ttft, max_tpot_s=tpot), reg)
        dt = time.perf_counter() - t
        r = res.recommendation
        what = (f"{r.replicas} x {r.gpu_count} x {r.gpu} {r.quant}, ${r.total_usd_per_hour}/h" if r else
                res.nearest_miss_text)
        name = f"{model} {','.join(gpus)} {quant} {p}+{o} @{qps:g}/s"
        print(f"{name:<44} {dt:>8.2f} {res.candidates:>6} {res.candidates_pruned:>6} {res.simulations:>5}  {what}")
    req = PlanRequest(model=reg.model("llama3.1-8b"), context_tokens=8192, quant="auto", gpus=("h100",),
                      prompt_tokens=1000, output_tokens=200)
    t = time.perf_counter()
    res = frontier(FrontierRequest(plan=req), reg)
    points = sum(len(c.points) for c in res.curves)
    print(f"frontier llama3.1-8b h100 auto 1000+200: {time.perf_counter() - t:.2f} s, {len(res.curves)} curves, "
          f"{points} simulated points")


if __name__ == "__main__":
    main()
