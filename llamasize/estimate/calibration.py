"""Calibration files: efficiencies measured on a device by ``llamasize verify``.

One JSON file holds one entry per device id (a catalogue GPU id such as ``h100-sxm``, or ``cpu``):
the measured prefill and decode efficiencies plus the device peaks they were measured against.
``perf``, ``plan`` and ``cost`` use a matching entry and label their numbers ``calibrated``.

Location: ``--calibration FILE``, else ``$LLAMASIZE_CALIBRATION``, else
``$XDG_CACHE_HOME/llamasize/calibration.json`` (``~/.cache/llamasize/calibration.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamasize import SCHEMA_VERSION
from llamasize.errors import DataError
from llamasize.estimate.perf import Efficiencies
from llamasize.files import parse_json, pydantic_message, read_text_file

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


class CalibrationFile(BaseModel):
    """The whole file: one entry per device id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: str = SCHEMA_VERSION
    devices: dict[str, DeviceCalibration] = {}


def calibration_path(explicit: Path | None = None) -> Path:
    """Where the calibration file lives (see the module docstring)."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(CALIBRATION_ENV)
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "llamasize" / "calibration.json"


def load_calibrations(path: Path, *, must_exist: bool = False) -> CalibrationFile:
    """Read a calibration file; an absent file is empty unless ``must_exist``."""
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
    """Add or replace the entry for ``entry.device`` and write the file atomically."""
    current = load_calibrations(path)
    devices = dict(current.devices)
    devices[entry.device] = entry
    out = CalibrationFile(devices=dict(sorted(devices.items())))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(out.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def efficiencies_for(device_id: str, path: Path | None = None) -> Efficiencies:
    """Calibrated efficiencies for a device when the file has them, else the defaults (reads the
    file; a caller that needs many devices loads it once and uses ``efficiencies_from``)."""
    return efficiencies_from(load_calibrations(calibration_path(path)), device_id)


def efficiencies_from(calibrations: CalibrationFile, device_id: str) -> Efficiencies:
    """Calibrated efficiencies for a device from a loaded calibration file, else the defaults."""
    cal = calibrations.devices.get(device_id)
    if cal is None:
        return Efficiencies()
    return Efficiencies(prefill=cal.prefill_efficiency, decode_bandwidth=cal.decode_bandwidth_efficiency,
                        source="calibrated",
                        note=f"measured by 'llamasize verify' on {cal.device_name} with {cal.model}")
