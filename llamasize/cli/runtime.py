"""CLI commands around the bundled runtime: ``detect``, ``verify``, ``run``.

Registered on ``llamasize.cli.main.app`` when ``llamasize.cli.main`` is imported. Progress goes to stderr
(a rich bar on a terminal, nothing otherwise); results to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from llamasize.cli.main import (
    CalibrationOpt, CatalogDir, Debug, Format, SpecsDir, _check_format, _out, _registry, app, warn,
)
from llamasize.errors import ExitCode, UsageError

DeviceOpt = typer.Option("auto", "--device", help="auto (a GPU with CuPy when present, else the CPU), cpu, cuda.")


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


@app.command("detect")
def detect_cmd(fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
               catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """Detect NVIDIA GPUs (through nvidia-ml-py) and the CPU; never an error without a GPU."""
    from llamasize.runtime.detect import detect_devices
    from llamasize.render.results import render_detect

    fmt = _check_format(fmt)
    found = detect_devices(_registry(specs_dir, catalog_dir))
    if found.reason:
        sys.stderr.write(f"llamasize: note: {found.reason}\n")
    _out(render_detect(found, fmt))


@app.command("verify")
def verify_cmd(
    model: str = typer.Option("micro-moe", "--model", "-m", help="Spec to build and run (small enough for this device)."),
    device: str = DeviceOpt,
    tolerance: str = typer.Option("0.5", "--tolerance", help="Allowed error: 1/(1+F) <= measured/predicted <= 1+F."),
    batches: str = typer.Option("1,4,16,64", "--batches", help="Decode batch sizes to measure (must include 1)."),
    prompt_tokens: str = typer.Option("64", "--prompt-tokens", "-p", help="Prompt length of the prefill measurement."),
    steps: str = typer.Option("8", "--steps", help="Timed decode steps per batch size."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights and tokens."),
    calibration: Optional[Path] = CalibrationOpt,
    no_save: bool = typer.Option(False, "--no-save", help="Do not write the calibration."),
    fmt: str = Format,
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Run the micro-MoE model on this device and check the estimator against it. Exit 0 when every
    check is within tolerance, 4 when not; saves the measured efficiencies as a calibration."""
    from llamasize.estimate.calibration import calibration_path, save_calibration
    from llamasize.data.registry import resolve_model
    from llamasize.render.results import render_verify
    from llamasize.units import parse_count, parse_fraction
    from llamasize.verify import run_verify

    fmt = _check_format(fmt)
    reg = _registry(specs_dir, catalog_dir)
    spec = resolve_model(reg, model)
    tol = parse_fraction(tolerance, "--tolerance", high=10)
    bs = sorted({parse_count(b, "--batches", maximum=4096) for b in batches.split(",") if b.strip()})
    if 1 not in bs:
        raise UsageError("--batches must include 1 (the decode calibration point)")
    with _Bar() as bar:
        report = run_verify(spec, reg, device=device, tolerance=tol, batch_sizes=bs,
                            prompt_tokens=parse_count(prompt_tokens, "--prompt-tokens", maximum=65536),
                            decode_steps=parse_count(steps, "--steps", maximum=1000), seed=seed, progress=bar)
    if report.backend_reason:
        sys.stderr.write(f"llamasize: note: {report.backend_reason}\n")
    if report.scaled_note:
        sys.stderr.write(f"llamasize: note: {report.scaled_note}\n")
    for b, why in sorted(report.skipped_batches.items()):
        warn(f"batch {b} skipped: {why}")
    if not no_save:
        path = save_calibration(report.calibration, calibration_path(calibration))
        report = report.model_copy(update={"calibration_path": str(path)})
        sys.stderr.write(f"llamasize: calibration for '{report.device}' saved to {path}\n")
    _out(render_verify(report, fmt))
    raise typer.Exit(ExitCode.OK if report.passed else ExitCode.VERIFY_FAILED)


@app.command("run")
def run_cmd(
    model: str = typer.Option("micro-moe", "--model", "-m", help="Spec to build and run."),
    prompt_tokens: str = typer.Option("32", "--prompt-tokens", "-p", help="Random prompt tokens."),
    new_tokens: str = typer.Option("32", "--new-tokens", "-n", help="Tokens to generate."),
    batch: str = typer.Option("1", "--batch", "-b", help="Sequences generated together."),
    device: str = DeviceOpt,
    kv_layout: str = typer.Option("full", "--kv-layout", help="full or hybrid (chunked layers keep one chunk)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights and the prompt."),
    fmt: str = Format,
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Generate tokens with the runtime (greedy) and print the throughput."""
    from llamasize.data.registry import resolve_model
    from llamasize.render.results import render_run
    from llamasize.runtime.generate import run_generation
    from llamasize.units import parse_count

    fmt = _check_format(fmt)
    spec = resolve_model(_registry(specs_dir, catalog_dir), model)
    layout = kv_layout.strip().lower()
    if layout not in ("full", "hybrid"):
        raise UsageError(f"unknown --kv-layout '{kv_layout}' (choices: full, hybrid)")
    result = run_generation(spec, prompt_tokens=parse_count(prompt_tokens, "--prompt-tokens", maximum=65536),
                            new_tokens=parse_count(new_tokens, "--new-tokens", maximum=65536),
                            batch=parse_count(batch, "--batch", maximum=4096), device=device, layout=layout, seed=seed)
    if result.backend_reason:
        sys.stderr.write(f"llamasize: note: {result.backend_reason}\n")
    if result.scaled_note:
        sys.stderr.write(f"llamasize: note: {result.scaled_note}\n")
    _out(render_run(result, fmt))
