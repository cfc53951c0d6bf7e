"""Renderers of the runtime commands: ``detect``, ``verify`` and ``run``.

The result classes are imported for type checking only: importing ``llamasize.runtime`` or
``llamasize.verify`` at run time would load numpy, which these renderers never touch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llamasize.render.common import seconds, table, to_json, terminal
from llamasize.units import gib

if TYPE_CHECKING:  # start-up: the runtime modules import numpy
    from llamasize.runtime.detect import DetectedDevices
    from llamasize.runtime.generate import RunResult
    from llamasize.verify import VerifyReport


@terminal
def render_detect(found: DetectedDevices, fmt: str) -> str:
    """``llamasize detect``."""
    if fmt == "json":
        return to_json(found)
    cpu = found.cpu
    lines = [f"CPU: {cpu.model_name}, {cpu.logical_cores or '?'} logical cores, {gib(cpu.memory_total_bytes)} "
             f"({cpu.source})"]
    if not found.gpus:
        lines.append(f"GPUs: none ({found.reason})")
        return "\n".join(lines) + "\n"
    rows = [[str(g.index), g.name, g.catalog_id or "not in catalogue", gib(g.memory_total_bytes),
             g.compute_capability or "?", "?" if g.power_limit_watts is None else f"{g.power_limit_watts:.0f} W",
             {True: "on", False: "off", None: "n/a"}[g.mig_enabled]] for g in found.gpus]
    return "\n".join(lines) + "\n\n" + table(fmt, f"GPUs (driver {found.driver_version or '?'})",
                                              ["#", "name", "catalogue", "memory", "CC", "power limit", "MIG"], rows)


def _fmt_check_value(v: float, unit: str) -> str:
    if unit == "bytes":
        return f"{int(v):,} B" if v < 2**30 else gib(int(v), 3)
    if unit == "seconds":
        return seconds(v)
    return f"{v:.2f}"


@terminal
def render_verify(r: VerifyReport, fmt: str) -> str:
    """``llamasize verify``: predicted vs measured, with the ratio and pass/fail."""
    if fmt == "json":
        return to_json(r)
    head = (f"{'## ' if fmt == 'markdown' else ''}verify {r.model} on {r.device_name} ({r.backend}, {r.dtype}): "
            f"{'PASS' if r.passed else 'FAIL'} (tolerance {r.tolerance:g}; {r.seconds:.1f} s)\n"
            f"timings: {r.timing_statistic} over {r.repeats} round(s) (and over the timed decode steps); "
            "device rates: the best round\n\n"
            f"device: copy bandwidth {r.measured_bandwidth_bytes_per_s / 1e9:,.1f} GB/s, matmul "
            f"{r.measured_matmul_flops_per_s / 1e9:,.1f} GFLOP/s; GEMM by rows "
            + ", ".join(f"{m}: {f / 1e9:,.0f}" for m, f in sorted(r.matmul_flops_per_s_by_rows.items()))
            + " GFLOP/s\n\n")
    rows = [[c.name, _fmt_check_value(c.predicted, c.unit), _fmt_check_value(c.measured, c.unit), f"{c.ratio:.3f}",
             ("ok" if c.passed else "FAIL") + (" (exact)" if c.kind == "exact" else ""), c.note] for c in r.checks]
    out = head + table(fmt, None, ["check", "predicted", "measured", "ratio", "result", "note"], rows,
                        right=(1, 2, 3))
    c = r.calibration
    out += (f"\ncalibration for '{c.device}': prefill efficiency {c.prefill_efficiency:.3f}, decode bandwidth "
            f"efficiency {c.decode_bandwidth_efficiency:.3f}"
            + (f" -> {r.calibration_path}" if r.calibration_path else
               f" ({r.calibration_note or 'not saved'})") + ("" if r.passed or not r.calibration_saved else
                                                         " [from a FAILED run: --save-anyway]") + "\n")
    return out


@terminal
def render_run(r: RunResult, fmt: str) -> str:
    """``llamasize run``."""
    if fmt == "json":
        return to_json(r)
    rows = [
        ["weights", f"{r.resident_weight_bytes / 1e6:,.1f} MB {r.dtype} (built in {r.weight_build_seconds:.2f} s)"],
        ["KV cache", f"{r.kv_cache_bytes / 1e6:,.2f} MB ({r.kv_layout} layout)"],
        ["prefill", f"{r.batch} x {r.prompt_tokens} tokens in {seconds(r.prefill_seconds)} "
                    f"({r.prefill_tokens_per_s:,.0f} tokens/s)"],
        ["decode", f"{r.batch} x {r.new_tokens} tokens in {seconds(r.decode_seconds)} "
                   f"({r.decode_tokens_per_s:,.1f} tokens/s)"],
    ]
    out = (f"{r.model} on {r.device_name} ({r.backend})\n\n" + table(fmt, None, ["", ""], rows))
    for i, toks in enumerate(r.tokens[:4]):
        shown = " ".join(str(t) for t in toks[:24]) + (" ..." if len(toks) > 24 else "")
        out += f"sequence {i}: {shown}\n"
    return out
