"""Fit the speed model's efficiencies per GPU generation on the published calibration set.

    python benchmarks/fit_efficiency.py            # fit, print every residual
    python benchmarks/fit_efficiency.py --write    # ... and write hardware_catalog/efficiency/fitted.yaml

The calibration set is docs/facts/benchmarks.md: TensorRT-LLM ``trtllm-bench throughput``
offline max-throughput runs (all requests queued at t = 0, fixed ISL/OSL, total output tok/s) and
llama.cpp ``llama-bench`` batch-1 rows (``pp512`` prompt tok/s, ``tg512`` decode tok/s). Each row
is built as a deployment and simulated (``estimate.simulate``, offline, ``reserve`` admission:
TensorRT-LLM's ``GUARANTEED_NO_EVICT``). The schedule of an offline run does not depend on the step
times (nothing arrives later; admission depends on the KV pool only), so each row is simulated
once with its step terms recorded (``StepCost.trace``) and re-timed for every candidate
parameter set (``stepcost.step_seconds``): the fit is a few thousand cheap evaluations.

Parameters (``perf.Efficiencies``): per generation the GEMM fraction at many rows and the
bandwidth fraction for a large step; shared by all generations the GEMM rows at half efficiency,
the bytes per step at half bandwidth, the link fraction and the per-collective latency. Never per
model. Fitted by Nelder-Mead (numpy only) on the mean squared log ratio predicted / published.

Assumptions of the deployments (printed, and recorded in the file's source): FP8 rows hold an
FP8 KV cache (NVIDIA's FP8 checkpoints quantize it); the 16-bit A100 rows a BF16 one; the KV pool
is the ``trtllm`` engine's when the engine exists, else vLLM's at utilisation 0.95 (the tables used
``kv_cache_free_gpu_mem_fraction 0.95`` in many cases); max_num_seqs 2048 and a token budget of
8192 (trtllm-bench tunes both per run: not in the facts). Llama 3 8B rows use the Llama 3.1 8B spec
(same architecture); llama.cpp's default layer split of 2 GPUs is 2 pipeline stages. Rows the
catalogue cannot time are skipped with the reason (GH200: no bandwidth in its entry; RTX 3090: no
entry).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from llamasize.data.registry import load_registry
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.engines import ENGINES
from llamasize.estimate.perf import Efficiencies
from llamasize.estimate.simulate import Request, simulate
from llamasize.estimate.stepcost import StepCost, step_seconds

FIT_DATE = "2026-12-02"
OUT = Path(__file__).resolve().parent.parent / "hardware_catalog" / "efficiency" / "fitted.yaml"

#: TRT-LLM requests per ISL/OSL (docs/facts/benchmarks.md, the paragraph above the table).
REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (1000, 1000): 3000}


@dataclass(frozen=True)
class Row:
    fact: str          # row of docs/facts/benchmarks.md (and where in it)
    model: str
    gpu: str
    n: int
    quant: str
    isl: int
    osl: int
    published: float   # tok/s
    kind: str = "offline"   # offline (TRT-LLM table) | pp | tg (llama.cpp, batch 1)
    pp: int = 1


ROWS = [
    # Mixtral 8x7B FP8 (rows 23-25 and their notes)
    Row("23", "mixtral-8x7b", "h100-sxm", 1, "fp8", 1000, 1000, 6868.52),
    Row("23 note", "mixtral-8x7b", "h200", 1, "fp8", 1000, 1000, 10371.36),
    Row("23 note (GH200)", "mixtral-8x7b", "gh200-144gb", 1, "fp8", 1000, 1000, 8849.18),
    Row("24", "mixtral-8x7b", "h100-sxm", 2, "fp8", 1000, 1000, 15770.89),
    Row("24 note", "mixtral-8x7b", "h200", 2, "fp8", 1000, 1000, 19151.19),
    Row("24 note (A100 FP16)", "mixtral-8x7b", "a100-sxm-80gb", 2, "fp16", 1000, 1000, 3154.52),
    Row("25", "mixtral-8x7b", "h100-sxm", 8, "fp8", 128, 2048, 61607.7),
    Row("25 note", "mixtral-8x7b", "h200", 8, "fp8", 128, 2048, 68608.45),
    Row("25 note (L40S FP8)", "mixtral-8x7b", "l40s", 8, "fp8", 128, 2048, 10393.3),
    Row("25 note (A100 FP16)", "mixtral-8x7b", "a100-sxm-80gb", 8, "fp16", 128, 2048, 20277.88),
    Row("25 note (TP4)", "mixtral-8x7b", "h100-sxm", 4, "fp8", 1000, 1000, 27784.74),
    # Llama 3.1 8B FP8 (row 30)
    Row("30", "llama3.1-8b", "h100-sxm", 1, "fp8", 1000, 1000, 15244.78),
    Row("30 note", "llama3.1-8b", "h200", 1, "fp8", 1000, 1000, 17537.96),
    Row("30 note (GH200)", "llama3.1-8b", "gh200-144gb", 1, "fp8", 1000, 1000, 16482.77),
    Row("30 note (L40S FP8)", "llama3.1-8b", "l40s", 1, "fp8", 1000, 1000, 4054.71),
    Row("30 note (A100 FP16)", "llama3.1-8b", "a100-sxm-80gb", 1, "fp16", 1000, 1000, 3786.83),
    # Llama 3.1 70B FP8 (row 31)
    Row("31", "llama3.1-70b", "h100-sxm", 2, "fp8", 1000, 1000, 4390.53),
    Row("31 note", "llama3.1-70b", "h200", 2, "fp8", 1000, 1000, 5164.76),
    Row("31 note (A100 FP16)", "llama3.1-70b", "a100-sxm-80gb", 2, "fp16", 1000, 1000, 472.94),
    Row("31 note (TP1)", "llama3.1-70b", "h100-sxm", 1, "fp8", 1000, 1000, 839.97),
    Row("31 note (TP4)", "llama3.1-70b", "h100-sxm", 4, "fp8", 1000, 1000, 7430.99),
    Row("31 note (TP8)", "llama3.1-70b", "h100-sxm", 8, "fp8", 1000, 1000, 11451.16),
    # llama.cpp, batch 1 (rows 35-36)
    Row("35 tg512", "llama3.1-8b", "rtx-4090", 1, "q4_k_m", 0, 512, 130.58, "tg"),
    Row("35 pp512", "llama3.1-8b", "rtx-4090", 1, "q4_k_m", 512, 1, 7138.99, "pp"),
    Row("35 note tg512 (F16)", "llama3.1-8b", "rtx-4090", 1, "fp16", 0, 512, 54.84, "tg"),
    Row("35 note pp512 (F16)", "llama3.1-8b", "rtx-4090", 1, "fp16", 512, 1, 9382.00, "pp"),
    Row("36 tg512", "llama3.1-70b", "rtx-4090", 2, "q4_k_m", 0, 512, 19.22, "tg", pp=2),
    Row("36 pp512", "llama3.1-70b", "rtx-4090", 2, "q4_k_m", 512, 1, 839.43, "pp", pp=2),
]
SKIPPED = ["36 note (2x RTX 3090: tg512 16.57, pp512 357.32): no RTX 3090 entry in the catalogue"]


@dataclass
class Prepared:
    row: Row
    generation: str
    terms: np.ndarray
    bandwidth: float
    work: float        # tokens the published figure counts (output tokens, or the prompt)


def _deployment(reg, r: Row) -> Deployment:
    spec, gpu = reg.model(r.model), reg.gpu(r.gpu)
    if r.kind != "offline":
        return Deployment(model=spec, gpu=gpu, gpu_count=r.n, quant=r.quant, context_tokens=max(r.isl + r.osl, 1024),
                          tensor_parallel_size=1 if r.pp > 1 else r.n, pipeline_parallel_size=r.pp, engine="generic")
    kv = "fp8" if r.quant == "fp8" else "auto"
    common = dict(model=spec, gpu=gpu, gpu_count=r.n, quant=r.quant, context_tokens=r.isl + r.osl,
                  tensor_parallel_size=r.n, kv_cache_dtype=kv, max_num_seqs=2048, max_num_batched_tokens=8192)
    if "trtllm" in ENGINES:
        return Deployment(**common, engine="trtllm")
    return Deployment(**common, engine="vllm", gpu_memory_utilization=0.95)


def prepare(reg) -> tuple[list[Prepared], list[str]]:
    out, skipped = [], list(SKIPPED)
    for r in ROWS:
        d = _deployment(reg, r)
        try:
            cost = StepCost(d, Efficiencies())
        except Exception as e:  # noqa: BLE001 -- a row the catalogue cannot time is reported, not fatal
            skipped.append(f"{r.fact} ({r.model} {r.gpu}): {e}")
            continue
        cost.trace = []
        if r.kind == "offline":
            n = REQUESTS[(r.isl, r.osl)]
            res = simulate(d, [Request(0.0, r.isl, r.osl) for _ in range(n)], admission="reserve", cost=cost)
            work = float(res.output_tokens)
            terms = np.concatenate(cost.trace)
            check = float(step_seconds(terms, cost.eff, cost._bw_peak).sum())
            assert abs(check - res.makespan_s) <= 1e-9 * res.makespan_s, (r, check, res.makespan_s)
        elif r.kind == "pp":
            cost.time(np.zeros(0, dtype=np.int64), [(0, r.isl, True)])
            work, terms = float(r.isl), np.concatenate(cost.trace)
        else:  # tg: r.osl decode steps from an empty context, batch 1
            cost.decode_times(np.zeros(1, dtype=np.int64), np.arange(r.osl))
            work, terms = float(r.osl), np.concatenate(cost.trace)
        out.append(Prepared(r, d.gpu.architecture, terms, cost._bw_peak, work))
    return out, skipped


SHARED = ("gemm_rows_half", "bandwidth_bytes_half", "comm", "collective_latency_s")


def efficiencies(x: np.ndarray, generations: list[str]) -> dict[str, Efficiencies]:
    """Parameter vector -> Efficiencies per generation: 4 shared, then (gemm, bandwidth) per generation
    (fractions through a logistic, the rest through exp)."""
    def frac(v):
        return float(1 / (1 + np.exp(-v)))

    shared = dict(gemm_rows_half=float(np.exp(x[0])), bandwidth_bytes_half=float(np.exp(x[1])), comm=frac(x[2]),
                  collective_latency_s=float(np.exp(x[3])))
    return {g: Efficiencies(prefill=frac(x[4 + 2 * i]), decode_bandwidth=frac(x[5 + 2 * i]), **shared)
            for i, g in enumerate(generations)}


def predict(p: Prepared, eff: Efficiencies) -> float:
    return p.work / float(step_seconds(p.terms, eff, p.bandwidth).sum())


def loss(x, rows: list[Prepared], generations: list[str]) -> float:
    effs = efficiencies(x, generations)
    return float(np.mean([np.log(predict(p, effs[p.generation]) / p.row.published) ** 2 for p in rows]))


def nelder_mead(f, x0: np.ndarray, steps: int = 1200, scale: float = 0.7) -> np.ndarray:
    """Minimise ``f`` (plain Nelder-Mead, numpy only)."""
    n = x0.size
    simplex = np.vstack([x0] + [x0 + scale * np.eye(n)[i] for i in range(n)])
    values = np.array([f(v) for v in simplex])
    for _ in range(steps):
        order = np.argsort(values)
        simplex, values = simplex[order], values[order]
        if values[-1] - values[0] < 1e-12:
            break
        centre = simplex[:-1].mean(axis=0)
        xr = centre + (centre - simplex[-1])
        fr = f(xr)
        if fr < values[0]:
            xe = centre + 2 * (centre - simplex[-1])
            fe = f(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = centre + 0.5 * (simplex[-1] - centre)
            fc = f(xc)
            if fc < values[-1]:
                simplex[-1], values[-1] = xc, fc
            else:
                simplex[1:] = simplex[0] + 0.5 * (simplex[1:] - simplex[0])
                values[1:] = [f(v) for v in simplex[1:]]
    return simplex[int(np.argmin(values))]


def fit(rows: list[Prepared], generations: list[str], restarts: int = 2) -> np.ndarray:
    # start: 512 rows at half GEMM efficiency, 2 MB per step at half bandwidth, 0.7 of the link, 10 us
    x = np.concatenate([[np.log(512.0), np.log(2e6), 0.85, np.log(10e-6)], [0.0, 0.85] * len(generations)])
    for _ in range(restarts):
        x = nelder_mead(lambda v: loss(v, rows, generations), x)
    return x


def errors(rows: list[Prepared], effs) -> list[float]:
    return [100 * (predict(p, effs[p.generation] if isinstance(effs, dict) else effs) / p.row.published - 1)
            for p in rows]


def table(rows: list[Prepared], effs, title: str) -> tuple[float, float]:
    print(f"\n{title}")
    print(f"{'facts row':22} {'model':13} {'gpu':14} {'n':>2} {'quant':6} {'ISL/OSL':>9} {'kind':7} "
          f"{'published':>10} {'predicted':>10} {'error %':>8}")
    errs = errors(rows, effs)
    for p, e in zip(rows, errs):
        r = p.row
        pred = predict(p, effs[p.generation] if isinstance(effs, dict) else effs)
        print(f"{r.fact:22} {r.model:13} {r.gpu:14} {r.n:>2} {r.quant:6} {f'{r.isl}/{r.osl}':>9} {r.kind:7} "
              f"{r.published:>10,.1f} {pred:>10,.1f} {e:>+8.1f}")
    med, worst = float(np.median(np.abs(errs))), float(np.max(np.abs(errs)))
    print(f"median |error| {med:.1f} %, worst {worst:.1f} % ({len(rows)} rows)")
    return med, worst


def write(effs: dict[str, Efficiencies], rows: list[Prepared], med: float, worst: float, held: str) -> None:
    lines = ["# Fitted speed-model efficiencies per GPU generation (data/efficiency.py reads this file).",
             "# Written by benchmarks/fit_efficiency.py --write; do not edit by hand (re-run the script).",
             "generations:"]
    for g, e in sorted(effs.items()):
        used = [p.row.fact for p in rows if p.generation == g]
        src = (f"fitted by benchmarks/fit_efficiency.py on docs/facts/benchmarks.md rows {', '.join(used)} "
               f"({len(rows)} rows in all, shared parameters across generations), {FIT_DATE}; median |error| "
               f"{med:.1f} %, worst {worst:.1f} %; {held}")
        lines += [f"  {g}:", f"    gemm: {e.prefill:.4f}", f"    gemm_rows_half: {e.gemm_rows_half:.1f}",
                  f"    bandwidth: {e.decode_bandwidth:.4f}", f"    bandwidth_bytes_half: {e.bandwidth_bytes_half:.0f}",
                  f"    comm: {e.comm:.4f}", f"    collective_latency_s: {e.collective_latency_s:.3e}",
                  f"    source: \"{src}\""]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"\nwrote {OUT}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write hardware_catalog/efficiency/fitted.yaml")
    args = ap.parse_args(argv)
    reg = load_registry()
    t0 = time.perf_counter()
    rows, skipped = prepare(reg)
    print(f"engine for the TensorRT-LLM rows: {'trtllm' if 'trtllm' in ENGINES else 'vllm at utilisation 0.95 (no trtllm engine in this build)'}; "
          f"{len(rows)} rows simulated in {time.perf_counter() - t0:.1f} s")
    for s in skipped:
        print(f"skipped: {s}")
    generations = sorted({p.generation for p in rows})
    table(rows, Efficiencies(), "assumed defaults (0.5 of GEMM peak, 0.7 of bandwidth, 0.7 of link + 10 us)")
    # held out: fit without the H200 rows, predict them
    train = [p for p in rows if p.row.gpu != "h200"]
    test = [p for p in rows if p.row.gpu == "h200"]
    effs_train = efficiencies(fit(train, generations, restarts=1), generations)
    h_med, h_worst = table(test, effs_train, "held out: fitted without the H200 rows, predicting them")
    t1 = time.perf_counter()
    x = fit(rows, generations)
    effs = efficiencies(x, generations)
    med, worst = table(rows, effs, f"fitted on all rows ({time.perf_counter() - t1:.1f} s)")
    print("\nparameters:")
    for g, e in sorted(effs.items()):
        print(f"  {g:10} gemm {e.prefill:.3f} (half at {e.gemm_rows_half:.0f} rows)  bandwidth {e.decode_bandwidth:.3f} "
              f"(half at {e.bandwidth_bytes_half / 1e6:.2f} MB/step)  link {e.comm:.3f} + "
              f"{e.collective_latency_s * 1e6:.1f} us/collective")
    if args.write:
        write(effs, rows, med, worst, f"held out (fit without H200, predict H200): median {h_med:.1f} %, worst "
              f"{h_worst:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
