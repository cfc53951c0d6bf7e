"""A calibration is applied only on the device it was measured on (issue 10, item 4).

``verify`` records the name the device reported; an entry whose name is not one of the device's
names (a file copied from another machine, or edited) is ignored with a warning, and an entry
written by another llamasize version is applied with a warning to refresh it.
"""

from __future__ import annotations

import pytest

from llamasize import __version__
from llamasize.estimate.calibration import DeviceCalibration, save_calibration


def _write(path, *, device_name: str, version: str = __version__, device: str = "h100-sxm"):
    save_calibration(DeviceCalibration(
        device=device, device_name=device_name, prefill_efficiency=0.41, decode_bandwidth_efficiency=0.63,
        measured_bandwidth_bytes_per_s=2.9e12, measured_flops_per_s=7e14, runtime_dtype="float16",
        model="micro-moe", llamasize_version=version), path)
    return path


def _perf(cli, path):
    return cli("perf", "--model", "scout", "--gpu", "h100-sxm", "--quant", "int4", "--ctx", "8K",
               "--calibration", str(path), "--format", "json")


def test_entry_measured_on_this_device_is_applied(cli, tmp_path):
    r = _perf(cli, _write(tmp_path / "c.json", device_name="NVIDIA H100 80GB HBM3"))
    assert r.code == 0, r.err
    d = r.json()
    assert d["efficiency_source"] == "calibrated"
    assert d["efficiencies"]["prefill"] == 0.41
    assert not any("calibration" in w for w in d["warnings"])


def test_entry_from_another_device_is_ignored_with_a_warning(cli, tmp_path):
    r = _perf(cli, _write(tmp_path / "c.json", device_name="NVIDIA H100 PCIe"))
    assert r.code == 0, r.err
    d = r.json()
    assert d["efficiency_source"] == "fitted"  # the H100 generation's fitted parameters, not the foreign entry
    assert d["efficiencies"]["prefill"] != 0.41
    warned = [w for w in d["warnings"] if "measured on 'NVIDIA H100 PCIe'" in w]
    assert warned and "ignored" in warned[0]
    assert "ignored" in r.err and "NVIDIA H100 PCIe" in r.err


def test_entry_from_another_version_is_applied_with_a_warning(cli, tmp_path):
    r = _perf(cli, _write(tmp_path / "c.json", device_name="NVIDIA H100 80GB HBM3", version="0.0.1"))
    assert r.code == 0, r.err
    d = r.json()
    assert d["efficiency_source"] == "calibrated"
    assert any("llamasize 0.0.1" in w for w in d["warnings"])


@pytest.mark.parametrize("name,applied", [("NVIDIA H100 80GB HBM3", True), ("NVIDIA A100-SXM4-80GB", False)])
def test_plan_uses_only_entries_of_the_candidate_device(cli, tmp_path, name, applied):
    path = _write(tmp_path / "c.json", device_name=name)
    r = cli("plan", "--model", "scout", "--gpu", "h100-sxm", "--ctx", "8K", "--objective", "throughput",
            "--calibration", str(path), "--format", "json")
    assert r.code == 0, r.err
    rec = r.json()["recommendation"]
    assert (rec["perf_confidence"] == "calibrated") is applied
    assert any("measured on" in w and "ignored" in w for w in rec["warnings"]) is not applied


@pytest.mark.parametrize("other", [True, False])
def test_cpu_rates_from_another_cpu_are_ignored(cli, tmp_path, monkeypatch, other):
    """``--gpu local`` on a CPU-only machine uses the CPU rates verify measured, unless they were
    measured on another CPU."""
    from types import SimpleNamespace

    from llamasize.runtime import detect

    monkeypatch.setattr(detect, "detect_devices", lambda registry: SimpleNamespace(gpus=[], reason="test: none"))
    name = "Some Other CPU 9000" if other else detect.detect_cpu().model_name
    path = _write(tmp_path / "c.json", device="cpu", device_name=name)
    r = cli("perf", "--model", "micro-moe", "--gpu", "local", "--ctx", "1K", "--calibration", str(path),
            "--format", "json")
    assert r.code == 0, r.err
    assert ("measured on 'Some Other CPU 9000'" in r.err and "ignored" in r.err) is other
    assert ("rates 'llamasize verify' measured" in r.err) is not other


def test_verify_refuses_a_calibration_it_would_not_save(cli, tmp_path):
    """--no-save with --calibration: the file would be ignored, so it is an error (before measuring)."""
    r = cli("verify", "--no-save", "--calibration", str(tmp_path / "c.json"))
    assert r.code == 2 and r.out == "" and r.err.count("llamasize: error:") == 1 and "--no-save" in r.err
    assert not (tmp_path / "c.json").exists()
