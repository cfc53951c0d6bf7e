"""CLI commands around the bundled runtime: ``detect``, ``verify``, ``run``.

Progress goes to stderr (a rich bar on a terminal, nothing otherwise); results to stdout.
"""

from __future__ import annotations

import sys

import typer

from llamasize.cli import inputs
from llamasize.cli.options import (
    Batch, Batches, Calibration, CatalogDir, Debug, Device, Format, KvLayout, ModelName, NewTokens, NoSave,
    PromptTokens, Repeats, SaveAnyway, Seed, SpecsDir, Steps, Tolerance,
)
from llamasize.cli.output import note, out, warn
from llamasize.errors import ExitCode, UsageError

class _Bar:
    """A stderr progress bar driven by ``progress(stage, done, total)`` callbacks (silent when
    stderr is not a terminal, so logs stay clean)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._progress = None
        self._task = None
        self._stage = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                      console=Console(stderr=True), transient=True)
            self._progress.__enter__()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._progress is None:
            return
        if stage != self._stage:
            self._stage = stage
            self._task = self._progress.add_task(stage, total=total)
        self._progress.update(self._task, completed=done)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)


def detect_cmd(fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None,
               debug: Debug = False) -> None:
    """Detect NVIDIA GPUs (through nvidia-ml-py) and the CPU; never an error without a GPU."""
    from llamasize.render.runtime import render_detect
    from llamasize.runtime.detect import detect_devices

    fmt = inputs.output_format(fmt)
    found = detect_devices(inputs.registry(specs_dir, catalog_dir))
    if found.reason:
        note(found.reason)
    out(render_detect(found, fmt))


def verify_cmd(
    model: ModelName = None, device: Device = None, tolerance: Tolerance = None, batches: Batches = None,
    prompt_tokens: PromptTokens = None, steps: Steps = None, seed: Seed = None, calibration: Calibration = None,
    no_save: NoSave = False, save_anyway: SaveAnyway = False, repeats: Repeats = None, fmt: Format = None,
    specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None, debug: Debug = False,
) -> None:
    """Run the micro-MoE model on this device and check the estimator against it. Exit 0 when every
    check is within tolerance, 4 when not; saves the measured efficiencies as a calibration only when
    every check passed (or with --save-anyway, labelled)."""
    from llamasize.units import parse_count
    from llamasize.verify import DEFAULT_REPEATS
    from llamasize.estimate.calibration import calibration_path, check_writable, save_calibration
    from llamasize.render.runtime import render_verify
    from llamasize.verify import run_verify

    fmt = inputs.output_format(fmt)
    reg = inputs.registry(specs_dir, catalog_dir)
    spec = inputs.model_spec(reg, inputs.pick(model, default=inputs.RUNTIME_MODEL))
    tol, bs, prompt, decode_steps = inputs.verify_settings(tolerance=tolerance, batches=batches,
                                                           prompt_tokens=prompt_tokens, steps=steps)
    if no_save and calibration is not None:
        raise UsageError("--calibration names the file verify saves to; with --no-save nothing is saved (drop one)")
    if no_save and save_anyway:
        raise UsageError("--no-save and --save-anyway contradict each other (drop one)")
    rounds = parse_count(inputs.pick(repeats, default=str(DEFAULT_REPEATS)), "--repeats", maximum=100)
    target = None if no_save else calibration_path(calibration, writing=True)
    if target is not None:
        check_writable(target)  # before measuring: a bad location fails now, not after the run
    with _Bar() as bar:
        report = run_verify(spec, reg, device=inputs.pick(device, default=inputs.DEFAULT_DEVICE), tolerance=tol,
                            batch_sizes=bs, prompt_tokens=prompt, decode_steps=decode_steps,
                            seed=inputs.seed(seed), repeats=rounds, progress=bar)
    if report.backend_reason:
        note(report.backend_reason)
    if report.scaled_note:
        note(report.scaled_note)
    for b, why in sorted(report.skipped_batches.items()):
        warn(f"batch {b} skipped: {why}")
    if no_save:
        report = report.model_copy(update={"calibration_note": "--no-save"})
    elif report.passed or save_anyway:
        cal = report.calibration.model_copy(update={"verify_passed": report.passed})
        path = save_calibration(cal, target)
        label = "" if report.passed else " from a FAILED run (--save-anyway; labelled so)"
        report = report.model_copy(update={"calibration": cal, "calibration_path": str(path),
                                           "calibration_saved": True,
                                           "calibration_note": None if report.passed else "--save-anyway"})
        sys.stderr.write(f"llamasize: calibration for '{report.device}'{label} saved to {path}\n")
    else:
        report = report.model_copy(update={"calibration_note": "not saved: a check failed (--save-anyway writes it)"})
        warn(f"calibration for '{report.device}' not saved: a check failed (pass --save-anyway to write it, labelled)")
    out(render_verify(report, fmt))
    raise typer.Exit(ExitCode.OK if report.passed else ExitCode.VERIFY_FAILED)


def run_cmd(
    model: ModelName = None, prompt_tokens: PromptTokens = None, new_tokens: NewTokens = None, batch: Batch = None,
    device: Device = None, kv_layout: KvLayout = None, seed: Seed = None, fmt: Format = None,
    specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None, debug: Debug = False,
) -> None:
    """Generate tokens with the runtime (greedy) and print the throughput."""
    from llamasize.render.runtime import render_run
    from llamasize.runtime.generate import run_generation

    fmt = inputs.output_format(fmt)
    spec = inputs.model_spec(inputs.registry(specs_dir, catalog_dir), inputs.pick(model, default=inputs.RUNTIME_MODEL))
    prompt, new, b, layout = inputs.run_settings(prompt_tokens=prompt_tokens, new_tokens=new_tokens, batch=batch,
                                                 kv_layout=kv_layout)
    result = run_generation(spec, prompt_tokens=prompt, new_tokens=new, batch=b,
                            device=inputs.pick(device, default=inputs.DEFAULT_DEVICE), layout=layout,
                            seed=inputs.seed(seed))
    if result.backend_reason:
        note(result.backend_reason)
    if result.scaled_note:
        note(result.scaled_note)
    out(render_run(result, fmt))
