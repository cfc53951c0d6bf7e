"""Fitted efficiencies (issue 12 item 6): the per-generation parameters load, are labelled
``fitted`` with their source, and reproduce calibration rows that the assumed defaults miss."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from llamasize.data.efficiency import fitted_for, load_fitted
from llamasize.estimate.perf import Efficiencies, default_efficiencies, estimate_perf
from llamasize.estimate.stepcost import step_seconds

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reg():
    from llamasize.data.registry import load_registry

    return load_registry()


@pytest.fixture(scope="module")
def fitmod():
    spec = importlib.util.spec_from_file_location("fit_efficiency", ROOT / "benchmarks" / "fit_efficiency.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fit_efficiency"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_the_fitted_generations_load_with_their_source():
    fitted = load_fitted()
    assert {"hopper", "ampere", "ada"} <= set(fitted)
    for g, f in fitted.items():
        assert "benchmarks/fit_efficiency.py" in f.source and "docs/facts/benchmarks.md" in f.source, g
        assert 0 < f.gemm <= 1 and 0 < f.bandwidth <= 1 and 0 < f.comm <= 1
    # not per model: one entry per generation; a generation without rows has none
    assert fitted_for("blackwell") is None and fitted_for(None) is None


def test_perf_labels_the_efficiencies_fitted_or_assumed(reg):
    from llamasize.estimate.deployment import Deployment

    d = Deployment(model=reg.model("llama3.1-8b"), gpu=reg.gpu("h100-sxm"), gpu_count=1, quant="fp8",
                   context_tokens=4096)
    e = estimate_perf(d, prompt_tokens=1000, output_tokens=1000, concurrency=64)
    assert e.efficiency_source == "fitted"
    pre = next(a for a in e.assumptions if a.name == "prefill_efficiency")
    assert "fitted" in pre.value and "fit_efficiency.py" in pre.source
    assert e.efficiencies["gemm_rows_half"] == fitted_for("hopper").gemm_rows_half
    b = Deployment(model=reg.model("llama3.1-8b"), gpu=reg.gpu("b200"), gpu_count=1, quant="fp8", context_tokens=4096)
    eb = estimate_perf(b, prompt_tokens=1000, output_tokens=1000, concurrency=64)
    assert eb.efficiency_source == "default"
    assert "assumed" in next(a for a in eb.assumptions if a.name == "prefill_efficiency").value
    assert "no fitted parameters for the blackwell generation" in next(
        a for a in eb.assumptions if a.name == "prefill_efficiency").source


def test_a_calibration_overrides_the_fitted_curves(reg):
    from llamasize.estimate.calibration import CalibrationFile, efficiencies_from

    gpu = reg.gpu("h100-sxm")
    assert efficiencies_from(CalibrationFile(), gpu) == default_efficiencies(gpu)


def test_the_efficiency_curves():
    e = Efficiencies(prefill=0.8, decode_bandwidth=0.9, gemm_rows_half=100.0, bandwidth_bytes_half=1e6)
    assert e.gemm(100.0) == pytest.approx(0.4) and e.gemm(1e9) == pytest.approx(0.8, rel=1e-6)
    assert e.bandwidth(1e6) == pytest.approx(0.45) and np.allclose(e.bandwidth(np.array([0.0, 3e6])), [0, 0.675])
    flat = Efficiencies()
    assert flat.gemm(1.0) == flat.prefill and flat.bandwidth(1.0) == flat.decode_bandwidth


#: Rows recomputed here (cheap ones): Mixtral FP8 TP2 and TP4 on H100, Llama 3.1 8B FP8 on H100 and
#: FP16 on A100 (docs/facts/benchmarks.md rows 24, 25 note, 30, 30 note): the assumed defaults miss them by 8-25 %.
CHECKED = ("24", "25 note (TP4)", "30", "30 note (A100 FP16)")
#: The fitted model's median |error| on these rows stays under this; the assumed defaults exceed it.
BOUND_PERCENT = 15.0


def test_fitted_residuals_beat_the_assumed_defaults(reg, fitmod, monkeypatch):
    monkeypatch.setattr(fitmod, "ROWS", [r for r in fitmod.ROWS if r.fact in CHECKED])
    rows, _ = fitmod.prepare(reg)
    assert len(rows) == len(CHECKED)
    fitted = [abs(e) for e in fitmod.errors(rows, {p.generation: default_efficiencies(reg.gpu(p.row.gpu)) for p in rows})]
    assumed = [abs(e) for e in fitmod.errors(rows, Efficiencies())]
    assert float(np.median(fitted)) < BOUND_PERCENT < float(np.median(assumed))
    # a residual recomputed by hand: tokens / the re-timed makespan
    p = rows[0]
    eff = default_efficiencies(reg.gpu(p.row.gpu))
    assert fitmod.predict(p, eff) == pytest.approx(p.work / step_seconds(p.terms, eff, p.bandwidth).sum())


def test_perf_offline_reproduces_a_published_row(cli):
    """End to end: ``perf --arrival offline`` on the Llama 3.1 8B FP8 H100 1000/1000 row (15,244.78
    tok/s published) is within the bound, through the CLI with the fitted parameters."""
    r = cli("perf", "--model", "llama3.1-8b", "--gpu", "h100", "--quant", "fp8", "--kv-dtype", "fp8",
            "--prompt-tokens", "1000", "--output-tokens", "1000", "--arrival", "offline", "--requests", "3000",
            "--admission", "reserve", "--gpu-memory-utilization", "0.95", "--max-num-seqs", "2048",
            "--format", "json")
    assert r.code == 0, r.err
    got = r.json()["output_tokens_per_s"]
    assert abs(got / 15244.78 - 1) * 100 < BOUND_PERCENT


def test_the_measured_allreduce_table_reads_and_the_comparison_runs(capsys):
    """benchmarks/comm_vs_measured.py reads docs/facts/trtllm.md section 2 (9 sizes x TP 2/4/8, times growing
    with size above 1 MB) and prints the model's time per cell next to it."""
    spec = importlib.util.spec_from_file_location("comm_vs_measured", ROOT / "benchmarks" / "comm_vs_measured.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.measured()
    assert len(rows) == 9 and [b for b, _ in rows] == sorted(b for b, _ in rows)
    big = [t for b, t in rows if b >= 2 ** 21]
    for tp in (2, 4, 8):
        assert all(x[tp] < y[tp] for x, y in zip(big, big[1:])), tp
    assert mod.main() == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 12 and "model / measured: median" in out
