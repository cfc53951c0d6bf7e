"""verify, run, detect and --gpu local, end to end (subprocesses: a fresh interpreter pins BLAS to
one thread, as the CLI does for real runs)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llamasize.estimate.calibration import DeviceCalibration, calibration_path, load_calibrations, save_calibration


def run(*args: str, env_extra: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "llamasize", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """One real verify run on this machine (CPU), its calibration file and JSON report."""
    cal = tmp_path_factory.mktemp("cal") / "calibration.json"
    r = run("verify", "--calibration", str(cal), "--format", "json", "--steps", "6")
    return r, cal


def test_verify_exact_bytes_and_consistent_exit_code(verified):
    r, cal = verified
    assert r.returncode in (0, 4), r.stderr
    report = json.loads(r.stdout)
    assert report["model"] == "micro-moe" and report["device"] == "cpu" and report["backend"] == "numpy"
    exact = [c for c in report["checks"] if c["kind"] == "exact"]
    assert len(exact) >= 3
    for c in exact:  # byte counts must match the estimator exactly, whatever the machine's load
        assert c["predicted"] == c["measured"] and c["passed"], c
    names = " ".join(c["name"] for c in report["checks"])
    for needle in ("resident weight bytes", "hybrid layout", "prefill time", "decode step, batch 1",
                   "decode step, batch 64", "routed experts hit", "peak memory"):
        assert needle in names
    assert report["passed"] == all(c["passed"] for c in report["checks"])
    assert (r.returncode == 0) == report["passed"]
    for c in report["checks"]:
        assert c["ratio"] == pytest.approx(c["measured"] / c["predicted"])
        if c["kind"] == "tolerance":
            assert c["passed"] == (1 / 1.5 <= c["ratio"] <= 1.5)
    assert report["seconds"] < 60


def test_verify_output_validates_against_its_schema(verified, cli):
    from jsonschema import Draft202012Validator

    r, _ = verified
    schema = cli("schema", "verify").json()
    errors = list(Draft202012Validator(schema).iter_errors(json.loads(r.stdout)))
    assert not errors, errors[0]


def test_verify_saves_a_calibration(verified):
    r, cal = verified
    assert f"saved to {cal}" in r.stderr
    entry = load_calibrations(cal, must_exist=True).devices["cpu"]
    assert entry.model == "micro-moe" and entry.runtime_dtype == "float32"
    assert 0 < entry.prefill_efficiency <= 1.5 and 0 < entry.decode_bandwidth_efficiency <= 1.5


def test_perf_local_is_calibrated_and_differs_from_analytical(verified, tmp_path):
    _, cal = verified
    args = ["perf", "--model", "micro-moe", "--gpu", "local", "--quant", "fp32", "--prompt-tokens", "64",
            "--output-tokens", "64", "--format", "json"]
    c = run(*args, "--calibration", str(cal))
    assert c.returncode == 0, c.stderr
    calibrated = json.loads(c.stdout)
    assert calibrated["confidence"] == "calibrated" and calibrated["gpu"] == "cpu"
    # the same device rates with the default efficiencies: analytical
    entry = load_calibrations(cal).devices["cpu"]
    plain = tmp_path / "plain.json"
    save_calibration(DeviceCalibration(**{**entry.model_dump(), "device": "not-this-device"}), plain)
    plain_cal = load_calibrations(plain)
    assert "cpu" not in plain_cal.devices
    a = run(*args, "--calibration", str(plain))
    analytical = json.loads(a.stdout)
    assert analytical["confidence"] == "analytical"
    assert analytical["tpot_s"] != calibrated["tpot_s"]
    assert analytical["efficiencies"] != calibrated["efficiencies"]


def test_run_generates_deterministically():
    a = run("run", "--prompt-tokens", "8", "--new-tokens", "6", "--batch", "2", "--format", "json")
    b = run("run", "--prompt-tokens", "8", "--new-tokens", "6", "--batch", "2", "--format", "json")
    assert a.returncode == 0, a.stderr
    ra, rb = json.loads(a.stdout), json.loads(b.stdout)
    assert len(ra["tokens"]) == 2 and all(len(t) == 6 for t in ra["tokens"])
    assert ra["tokens"] == rb["tokens"]
    assert ra["decode_tokens_per_s"] > 0 and ra["prefill_tokens_per_s"] > 0
    table = run("run", "--prompt-tokens", "4", "--new-tokens", "3")
    assert "tokens/s" in table.stdout and "sequence 0" in table.stdout


def test_detect_without_a_driver_reports_cpu(cli):
    r = cli("detect", "--format", "json")
    assert r.code == 0
    d = r.json()
    assert d["gpus"] == [] and d["reason"] and d["cpu"]["logical_cores"] >= 1
    assert "note:" in r.err
    t = cli("detect")
    assert "CPU:" in t.out and "GPUs: none" in t.out


@pytest.mark.parametrize("args, needle", [
    (["--batches", "4,16"], "--batches must include 1"),
    (["--tolerance", "0"], "--tolerance"),
    (["--device", "tpu"], "unknown device"),
    (["--device", "cuda"], "--device cuda"),
    (["--model", "deepseek-v3"], ""),
])
def test_verify_bad_input(cli, args, needle, tmp_path):
    r = cli("verify", "--calibration", str(tmp_path / "c.json"), *args)
    assert r.code == 2, (args, r.err)
    assert needle in r.err and len(r.err.strip().splitlines()) == 1


def test_calibration_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("LLAMASIZE_CALIBRATION", str(tmp_path / "env.json"))
    assert calibration_path(None) == tmp_path / "env.json"
    assert calibration_path(tmp_path / "x.json") == tmp_path / "x.json"
    monkeypatch.delenv("LLAMASIZE_CALIBRATION")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert calibration_path(None) == tmp_path / "cache" / "llamasize" / "calibration.json"


def test_malformed_calibration_is_a_one_line_error(cli, tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    r = cli("perf", "-m", "scout", "-g", "h100", "-q", "int4", "--calibration", str(bad))
    assert r.code == 2 and "malformed calibration" in r.err
