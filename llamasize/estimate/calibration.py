"""Calibration files: efficiencies measured on a device by ``llamasize verify``, and engine memory
read from start-up logs by ``llamasize calibrate --from-log``.

One JSON file holds one entry per device id (a catalogue GPU id such as ``h100-sxm``, or ``cpu``):
the measured prefill and decode efficiencies plus the device peaks they were measured against.
``perf``, ``plan`` and ``cost`` use a matching entry and label their numbers ``calibrated``.
``engine_memory`` (added for issue 12; absent in older files, which stay readable) holds one
``log_calibration.EngineMemoryEntry`` per deployment shape, keyed by ``EngineMemoryEntry.key``.

Location: ``--calibration FILE``, else ``$LLAMASIZE_CALIBRATION``, else
``$XDG_CACHE_HOME/llamasize/calibration.json`` (``~/.cache/llamasize/calibration.json``).
"""

from __future__ import annotations

from dataclasses import replace

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamasize import SCHEMA_VERSION, __version__
from llamasize.data.hardware import GpuSpec
from llamasize.errors import DataError
from llamasize.estimate.log_calibration import EngineMemoryEntry, engine_correction_for
from llamasize.estimate.perf import Efficiencies, default_efficiencies
from llamasize.files import parse_json, pydantic_message, read_text_file
from llamasize.text import quote_value

CALIBRATION_ENV = "LLAMASIZE_CALIBRATION"


class DeviceCalibration(BaseModel):
    """What ``verify`` measured on one device."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    device_name: str
    #: At least 0.01, as the flags (below that a measured efficiency is a broken measurement).
    prefill_efficiency: float = Field(ge=0.01, le=1.5)
    decode_bandwidth_efficiency: float = Field(ge=0.01, le=1.5)
    #: Device peaks measured by the microbenchmarks (copy bandwidth, matmul rate in the runtime dtype).
    #: Positive and finite; at least 1 MB/s and 1 MFLOP/s (any real device is far above; 1e-300 made
    #: TTFT infinite).
    measured_bandwidth_bytes_per_s: float = Field(ge=1e6, allow_inf_nan=False)
    measured_flops_per_s: float = Field(ge=1e6, allow_inf_nan=False)
    runtime_dtype: str
    model: str
    llamasize_version: str
    #: False when ``verify --save-anyway`` wrote it from a run that failed a check: applied, with a warning.
    verify_passed: bool = True


class CalibrationFile(BaseModel):
    """The whole file: one entry per device id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: str = SCHEMA_VERSION
    devices: dict[str, DeviceCalibration] = {}
    #: Engine memory line items from start-up logs, by ``EngineMemoryEntry.key``.
    engine_memory: dict[str, EngineMemoryEntry] = {}


def calibration_path(explicit: Path | None = None, *, writing: bool = False) -> Path | None:
    """Where the calibration file lives (see the module docstring). With no usable default location
    (``XDG_CACHE_HOME`` relative, ``HOME`` empty or relative): a DataError when ``writing`` (``verify``),
    else None: there is no calibration to read, and estimates use the default efficiencies."""
    try:
        return _calibration_path(explicit)
    except DataError:
        if writing:
            raise
        return None


def _calibration_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CALIBRATION_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        if not os.path.isabs(xdg):
            raise DataError(f"XDG_CACHE_HOME must be an absolute path (the XDG rule), got {quote_value(xdg)}; "
                            "set it, or name the file with --calibration")
        return Path(xdg) / "llamasize" / "calibration.json"
    home = os.environ.get("HOME", "")
    if not home or not os.path.isabs(home):
        raise DataError(f"HOME is {'empty' if not home else 'relative: ' + quote_value(home)}, so there is no "
                        "cache directory for the calibration; set XDG_CACHE_HOME or name the file with --calibration")
    return Path(home) / ".cache" / "llamasize" / "calibration.json"


def check_writable(path: Path) -> None:
    """DataError unless a calibration can be written at ``path``: an existing ``path`` must be a regular
    file, and its nearest existing ancestor a writable directory (checked before ``verify`` measures,
    so a bad location fails in a moment, not after the measurement). Writability is tried, not asked:
    a probe directory is made in that ancestor and removed (``os.access`` says yes to root for
    anything, and ``HOME=/proc verify`` measured for seconds before failing to save: found by the fuzz
    suite)."""
    if path.exists() and not path.is_file():
        raise DataError(f"{quote_value(str(path))}: the calibration location is not a regular file")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DataError(f"{quote_value(str(ancestor))} is not a directory: cannot write the calibration "
                        f"{quote_value(str(path))} (set XDG_CACHE_HOME or --calibration)")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".llamasize-probe-", dir=ancestor))
        writable = True
    except OSError:
        writable = False
    if not writable:
        raise DataError(f"{quote_value(str(ancestor))} is not writable: cannot write the calibration "
                        f"{quote_value(str(path))} (set XDG_CACHE_HOME or --calibration, or use --no-save)")


def load_calibrations(path: Path | None, *, must_exist: bool = False) -> CalibrationFile:
    """Read a calibration file; an absent file (or no location, None) is empty unless ``must_exist``."""
    if path is None:
        return CalibrationFile()
    if not path.exists():
        if must_exist:
            raise DataError(f"{path}: calibration file not found (run 'llamasize verify' first)")
        return CalibrationFile()
    data = parse_json(read_text_file(path, "calibration file"), f"{path}: calibration file")
    try:
        return CalibrationFile.model_validate(data)
    except ValidationError as e:
        raise DataError(f"{path}: {pydantic_message(e)}") from None


def save_calibration(entry: DeviceCalibration, path: Path) -> Path:
    """Add or replace the entry for ``entry.device`` and write the file atomically (the file's
    other entries are kept)."""
    current = load_calibrations(path)
    devices = dict(current.devices)
    devices[entry.device] = entry
    return _write(current.model_copy(update={"devices": dict(sorted(devices.items()))}), path)


def save_engine_memory(entry: EngineMemoryEntry, path: Path) -> Path:
    """Add or replace the engine-memory entry of ``entry.key`` and write the file atomically (the
    file's other entries are kept)."""
    current = load_calibrations(path)
    entries = dict(current.engine_memory)
    entries[entry.key] = entry
    return _write(current.model_copy(update={"engine_memory": dict(sorted(entries.items()))}), path)


def _write(out: CalibrationFile, path: Path) -> Path:
    """Write a calibration file atomically; a failure is a one-line DataError."""
    text = json.dumps(out.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary file beside the target (two verify runs never share one), renamed over it.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise DataError(f"{quote_value(str(path))}: cannot save the calibration: {e.strerror or e}") from None
    return path


def engine_correction(calibrations: CalibrationFile, d):
    """The engine-memory correction the file holds for deployment ``d`` (``log_calibration``:
    what "matching" means), or None."""
    return engine_correction_for(calibrations.engine_memory.values(), d)


def efficiencies_for(device: GpuSpec, path: Path | None = None) -> Efficiencies:
    """Calibrated efficiencies for a device when the file has them, else the defaults (reads the
    file; a caller that needs many devices loads it once and uses ``efficiencies_from``). A file the
    user named (``path``) must exist: a typo is an error, not a silent fall-back to the defaults."""
    return efficiencies_from(load_calibrations(calibration_path(path), must_exist=path is not None), device)


def foreign_entry(cal: DeviceCalibration, device: GpuSpec) -> str | None:
    """Why a calibration entry does not describe ``device`` (None when it does).

    ``verify`` records the name the device reported (NVML's name for a GPU, the CPU model for the
    host). An entry whose ``device_name`` is not one of the device's names was measured on other
    hardware (a file copied from another machine, or edited by hand): its efficiencies say nothing
    about this device, so it is ignored, with a warning, rather than applied silently."""
    names = {device.name, *device.nvml_names}
    if cal.device_name in names:
        return None
    return (f"the calibration for {quote_value(device.id)} was measured on {quote_value(cal.device_name)}, not on "
            f"{quote_value(device.name)}; it is ignored and the default (fitted or assumed) efficiencies are used "
            "(run 'llamasize verify' "
            "on this device)")


def efficiencies_from(calibrations: CalibrationFile, device: GpuSpec) -> Efficiencies:
    """Calibrated efficiencies for a device from a loaded calibration file, else the defaults
    (also when the entry was measured on another device: ``foreign_entry``; the warning is kept)."""
    cal = calibrations.devices.get(device.id)
    fitted = default_efficiencies(device)
    if cal is None:
        return fitted
    foreign = foreign_entry(cal, device)
    if foreign is not None:
        return replace(fitted, warning=foreign)
    warning = None
    if not cal.verify_passed:
        warning = (f"the calibration for {quote_value(device.id)} was saved from a failed 'llamasize verify' run "
                   "(--save-anyway): it is applied, but a check was out of tolerance; re-run 'llamasize verify'")
    elif cal.llamasize_version != __version__:
        warning = (f"the calibration for {quote_value(device.id)} was measured by llamasize {cal.llamasize_version} "
                   f"(this is {__version__}); it is applied, but re-run 'llamasize verify' to refresh it")
    # measured constant fractions replace the fitted curves; collectives keep the fitted (or assumed) figures
    return Efficiencies(prefill=cal.prefill_efficiency, decode_bandwidth=cal.decode_bandwidth_efficiency,
                        comm=fitted.comm, collective_latency_s=fitted.collective_latency_s,
                        source="calibrated", warning=warning,
                        note=f"measured by 'llamasize verify' on {cal.device_name} with {cal.model} "
                             f"({cal.runtime_dtype}, llamasize {cal.llamasize_version})")
