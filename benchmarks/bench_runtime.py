"""Benchmark the micro-MoE runtime's decode: throughput and achieved memory bandwidth.

    .venv/bin/python benchmarks/bench_runtime.py [--model micro-moe] [--device auto] [--steps 32]
                                                 [--prompt 64] [--batch 1 4 16 64] [--layout full]

For each batch size: decode tokens/s and the bandwidth the step achieves, counting the weight
bytes a step actually reads (docs/design.md rule 6: attention, norms, routers, dense FFNs and shared
experts, the routed experts hit - measured - one embedding row per sequence and the lm_head; not
every expert, unlike gpt-fast) plus the KV bytes attended, divided by the step time, as a
fraction of the device's measured copy bandwidth (STREAM Copy: bytes read + written / time).
At batch 1 decode is a sequence of matrix-vector products over the weights, so the fraction
says how close the runtime gets to the memory roofline (goal: >= 0.5).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llamasize.runtime.detect import detect_cpu  # noqa: E402
from llamasize.data.registry import load_registry  # noqa: E402
from llamasize.runtime.backend import get_backend  # noqa: E402
from llamasize.runtime.measure import measure_bandwidth, measure_matmul, measure_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per batch size."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="micro-moe")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--steps", type=int, default=32, help="timed decode steps per batch size")
    ap.add_argument("--prompt", type=int, default=64, help="prompt tokens before decoding")
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--layout", default="full", choices=["full", "hybrid"])
    args = ap.parse_args(argv)

    be = get_backend(args.device)
    spec = load_registry().model(args.model)
    cpu = detect_cpu()
    print(f"machine: {cpu.model_name}, {cpu.logical_cores} logical cores, "
          f"{(cpu.memory_total_bytes or 0) / 2**30:.1f} GiB; {platform.platform()}")
    print(f"backend: {be.name} on {be.device_name}" + (f" ({be.reason})" if be.reason else ""))
    print(f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
    t0 = time.perf_counter()
    bw = measure_bandwidth(be)
    mm = measure_matmul(be, dtype=args.dtype)
    m = measure_model(spec, be, dtype=args.dtype, prompt_tokens=args.prompt, batch_sizes=args.batch,
                      decode_steps=args.steps, warmup_steps=3, prefill_repeats=2, layout=args.layout)
    print(f"model: {spec.id}, {m.resident_weight_bytes / 1e6:.1f} MB of {m.dtype} weights "
          f"(built in {m.weight_build_seconds:.2f} s); KV layout {m.kv_layout}")
    print(f"copy bandwidth: {bw.bytes_per_s / 1e9:.1f} GB/s ({bw.method}, {bw.array_bytes / 2**20:.0f} MiB, "
          f"best of {bw.repeats})")
    print(f"matmul: {mm.flops_per_s / 1e9:.1f} GFLOP/s ({mm.m}^3 {mm.dtype}, best of {mm.repeats})")
    print(f"prefill: {m.prefill.prompt_tokens} tokens in {m.prefill.best_seconds * 1e3:.1f} ms "
          f"({m.prefill.tokens_per_s:.0f} tokens/s)")
    print(f"peak memory: {m.peak_memory_bytes / 1e6:.1f} MB ({m.peak_method})")
    print()
    print(f"{'batch':>5} {'step ms (median/min)':>21} {'tokens/s':>9} {'experts/layer':>14} "
          f"{'MB read':>8} {'GB/s (median/best)':>19} {'of copy BW':>11}")
    for d in m.decode:
        read = d.weight_bytes_read + d.kv_bytes_read
        gbs_med, gbs_best = read / d.median_step_seconds / 1e9, read / d.min_step_seconds / 1e9
        experts = "-" if d.experts_hit_mean is None else f"{d.experts_hit_mean:.2f}/{d.experts_hit_expected:.2f}"
        print(f"{d.batch:>5} {d.median_step_seconds * 1e3:>10.2f} / {d.min_step_seconds * 1e3:<8.2f} "
              f"{d.tokens_per_s:>9.1f} {experts:>14} {read / 1e6:>8.1f} {gbs_med:>8.1f} / {gbs_best:<8.1f} "
              f"{gbs_med * 1e9 / bw.bytes_per_s:>5.2f}/{gbs_best * 1e9 / bw.bytes_per_s:.2f}")
    print(f"\n(experts/layer = measured/expected E(1-(1-k/E)^B); total {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
