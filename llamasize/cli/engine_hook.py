"""The one place the CLI attaches stored engine-memory calibrations (``calibrate --from-log``) to
what it builds: a Deployment (``fit``, ``perf``) or a plan request (``plan``, ``cost``,
``terraform-external``). What "matching" means is ``estimate.log_calibration``'s."""

from __future__ import annotations

from pathlib import Path

from llamasize.cli.output import note


def engine_memory_entries(calibration: Path | None) -> tuple:
    """The engine-memory entries of the calibration file (``--calibration``, else
    $LLAMASIZE_CALIBRATION, else the default location; a named file must exist), saved by
    ``calibrate --from-log``."""
    from llamasize.estimate.calibration import calibration_path, load_calibrations

    cals = load_calibrations(calibration_path(calibration), must_exist=calibration is not None)
    return tuple(cals.engine_memory.values())


def engine_calibrated(d, calibration: Path | None):
    """``d`` with the engine-memory correction stored for its shape (``estimate.log_calibration``),
    said on stderr; ``d`` itself when there is none."""
    from llamasize.estimate.log_calibration import with_engine_correction

    out = with_engine_correction(d, engine_memory_entries(calibration))
    c = out.engine_correction
    if c is not None and c is not d.engine_correction:
        items = [k for k, v in (("weights", c.weights_bytes), ("activation peak", c.activation_peak_bytes),
                                ("non-torch", c.non_torch_bytes), ("CUDA graph", c.cuda_graph_bytes)) if v is not None]
        note(f"engine memory calibrated ({', '.join(items)}) from the {c.source}")
    return out
