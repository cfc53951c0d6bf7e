"""Renderer of ``llamasize calibrate --from-log``: predicted vs logged per line item, in the units the
engine prints (GiB with two decimals, tokens, concurrency as ``58.11x``)."""

from __future__ import annotations

from llamasize.estimate.log_report import LogCalibrationReport
from llamasize.render.common import table
from llamasize.units import GIB


def _value(v, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "bytes":
        return f"{v / GIB:,.2f} GiB"
    if unit == "tokens":
        return f"{v:,}"
    return f"{v:,.2f}x"


def render_log_calibration(r: LogCalibrationReport, fmt: str = "table") -> str:
    """The table (or markdown) of a log calibration: one row per line item, then the verdict."""
    version = f" {r.engine_version}" if r.engine_version else ""
    generation = f" ({r.engine_generation.upper()})" if r.engine_generation else ""
    frac = (f"gpu_memory_utilization {r.gpu_memory_utilization:g}" if r.gpu_memory_utilization is not None else
            f"mem_fraction_static {r.mem_fraction_static:g}" if r.mem_fraction_static is not None else
            "memory fraction: engine default")
    title = (f"{r.source}: {r.engine}{version}{generation}, {r.model} on {r.gpu}, TP {r.tensor_parallel_size} "
             f"x PP {r.pipeline_parallel_size}, {r.quant}, KV {r.kv_cache_dtype}, max_model_len {r.max_model_len:,}, "
             f"max_num_seqs {r.max_num_seqs:,}, max_num_batched_tokens {r.max_num_batched_tokens:,}, {frac}")
    rows = [(i.item, _value(i.predicted, i.unit), _value(i.logged, i.unit),
             "-" if i.ratio is None else f"{i.ratio:.3f}", "-" if i.log_line is None else str(i.log_line))
            for i in r.items]
    text = table(fmt, title, ["line item (per GPU)", "predicted", "logged", "ratio", "log line"], rows,
                 right=(1, 2, 3, 4))
    kv = next(i for i in r.items if i.item == "available KV")
    if r.passed is None:
        verdict = "available KV: not in the log, nothing to check"
    else:
        off = (kv.ratio - 1) * 100
        verdict = (f"available KV: predicted {off:+.1f} % vs the log: "
                   f"{'within' if r.passed else 'outside'} the {r.kv_tolerance:.0%} tolerance")
    lines = [verdict, "ratio = predicted / logged"]
    if any(i.predicted_from == "per_gpu" for i in r.items):
        lines.append("predicted from the per-GPU breakdown (non-torch = the engine overhead; KV tokens = capacity / "
                     "bytes per token per GPU)")
    if r.calibration_path:
        lines.append(f"saved as calibrated ({', '.join(i.replace('_', ' ') for i in r.saved_items)}) to {r.calibration_path}: fit, perf, plan and "
                     "cost use them for this deployment shape")
    return text + "".join(f"{line}\n" for line in lines)
