"""Issue 10 (hostile input), the numbers part done so far: absurd lengths, denormal efficiencies and
utilisations, negative seeds, non-finite calibration rates and NaN in JSON are one-line exit-2 errors
(or refused), never an internal error or invalid JSON."""

from __future__ import annotations

import json
import math

import pytest

from conftest import run_cli

FIT = ("fit", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K")
PERF = ("perf", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed")


def one_error(r) -> str:
    assert r.code == 2, (r.code, r.err)
    assert r.out == ""
    errors = [line for line in r.err.splitlines() if line.startswith("llamasize: error: ")]
    assert len(errors) == 1, r.err  # notes may precede it; exactly one error line
    return errors[0]


@pytest.mark.parametrize("args", [
    (*FIT, "--batch", "9" * 4301),                       # R1: Python's 4,300-digit int() limit
    ("fit", "--model", "scout", "--gpu", "h100", "--ctx", "9" * 5000),
    (*PERF, "--prefill-efficiency", "0." + "1" * 5000),
])
def test_absurdly_long_numbers_are_one_line_errors(args):
    line = one_error(run_cli(*args))
    assert "-character value" in line and len(line) < 300


@pytest.mark.parametrize("args", [
    (*PERF, "--prefill-efficiency", "5e-324"),           # R11: denormals made Infinity in the JSON
    (*PERF, "--decode-efficiency", "1e-300"),
    (*PERF, "--prefill-efficiency", "0.009"),
    ("cost", "--model", "scout", "--gpu", "h100", "--utilization", "5e-324"),   # R10: OverflowError
    ("cost", "--model", "scout", "--gpu", "h100", "--utilization", "1e-300"),   # R11: $7.8e298 per 1M
])
def test_efficiencies_and_utilisation_below_one_percent_are_refused(args):
    assert "[0.01, 1]" in one_error(run_cli(*args))


def test_one_percent_is_accepted_and_the_json_is_finite():
    r = run_cli(*PERF, "--prefill-efficiency", "0.01", "--decode-efficiency", "0.01", "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in the output"))
    assert math.isfinite(data["tpot_s"]) and data["tpot_s"] > 0


@pytest.mark.parametrize("cmd", ["run", "verify"])
def test_negative_seed_is_a_usage_error(cmd):                # R9: numpy ValueError -> exit 70
    assert "--seed" in one_error(run_cli(cmd, "--seed", "-1"))


@pytest.mark.parametrize("field,value", [
    ("measured_bandwidth_bytes_per_s", 1e-300),           # R12: TTFT inf with exit 0
    ("measured_flops_per_s", 1e-300),
    ("prefill_efficiency", 1e-300),
])
def test_calibration_rates_out_of_range_are_malformed(tmp_path, field, value):
    entry = {"device": "cpu", "device_name": "x", "prefill_efficiency": 0.5, "decode_bandwidth_efficiency": 0.5,
             "measured_bandwidth_bytes_per_s": 1e10, "measured_flops_per_s": 1e11, "runtime_dtype": "float32",
             "model": "micro-moe", "llamasize_version": "0"}
    entry[field] = value
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"schema_version": "1", "devices": {"cpu": entry}}))
    line = one_error(run_cli(*PERF, "--calibration", str(path)))
    assert "calibration" in line and field in line


def test_calibration_infinity_is_malformed(tmp_path):
    text = ('{"schema_version": "1", "devices": {"cpu": {"device": "cpu", "device_name": "x", '
            '"prefill_efficiency": 0.5, "decode_bandwidth_efficiency": 0.5, '
            '"measured_bandwidth_bytes_per_s": Infinity, "measured_flops_per_s": 1e11, '
            '"runtime_dtype": "float32", "model": "micro-moe", "llamasize_version": "0"}}}')
    path = tmp_path / "cal.json"
    path.write_text(text)
    line = one_error(run_cli(*PERF, "--calibration", str(path)))
    assert "Infinity is not a JSON number" in line  # refused by the guarded JSON reader itself


def test_to_json_refuses_nan():
    from llamasize.render.common import to_json

    with pytest.raises(ValueError):
        to_json({"x": float("nan")})


# ---- the guarded reader (issue 10 R2, R4, R5), for config.json, calibration, workload and policy files
def test_deep_json_is_a_one_line_error(tmp_path):               # R2: RecursionError -> exit 70
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert "nested more than" in one_error(run_cli("params", str(deep)))
    assert "nested more than" in one_error(run_cli(*PERF, "--calibration", str(deep)))
    line = one_error(run_cli("terraform-external", stdin="[" * 100_000))
    assert "not valid JSON" in line


def test_huge_json_number_is_a_one_line_error(tmp_path):        # R1 through config.json
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "llama", "hidden_size": ' + "9" * 4301 + "}")
    assert "4,301-character number" in one_error(run_cli("params", str(cfg)))
    line = one_error(run_cli("terraform-external", stdin='{"model": "scout", "ctx": ' + "9" * 4301 + "}"))
    assert "not valid JSON" in line


@pytest.mark.parametrize("make", ["fifo", "dev_zero", "directory"])
def test_only_regular_files_are_read(tmp_path, make):           # R4 /dev/zero, R5 FIFOs (would block)
    import os

    if make == "fifo":
        path = tmp_path / "p.json"
        os.mkfifo(path)
        kind = "FIFO"
    elif make == "dev_zero":
        path = "/dev/zero"
        kind = "character device"
    else:
        path = tmp_path / "d.json"
        path.mkdir()
        kind = "directory"
    for args in (("plan", "--model", "scout", "--ctx", "8K", "--workload", str(path)),
                 (*PERF, "--calibration", str(path)),
                 ("check", str(tmp_path / "x.yaml"), "--policy", str(path))):
        if args[0] == "check":
            (tmp_path / "x.yaml").write_text("kind: ConfigMap\n")
        line = one_error(run_cli(*args))
        assert kind in line or "not a regular file" in line, (args, line)


# ---- stdout write errors (issue 10 R7): one line on stderr and exit 74, never 70 or 120
@pytest.mark.parametrize("args", [["models"], ["plan", "--model", "scout", "--ctx", "8K", "--format", "json"]])
def test_disk_full_stdout_is_one_line_exit_74(args):
    import os
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.fail("this test needs /dev/full (Linux)")
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "llamasize", *args], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    assert p.returncode == 74, p.stderr
    lines = p.stderr.splitlines()
    assert lines == ["llamasize: error: cannot write the report to stdout: No space left on device"], p.stderr


@pytest.mark.parametrize("cmd", [("plan", "--model", "scout", "--ctx", "8K"),
                                 ("sweep", "--model", "scout", "--ctx", "8K")])
def test_plan_and_sweep_refuse_the_same_bad_layouts(cmd):       # R13: sweep exited 0
    assert "unknown layout mode 'bogus'" in one_error(run_cli(*cmd, "--layouts", "bogus"))


# ---- file-system errors about paths the user named (issue 10 R3, R8): one line, exit 2, path quoted
def test_long_model_id_and_cache_path_are_one_line_errors(monkeypatch):
    line = one_error(run_cli("fit", "--model", "x" * 300, "--gpu", "h100", "--ctx", "8K"))
    assert "(300 characters)" in line and len(line) < 400
    monkeypatch.setenv("XDG_CACHE_HOME", "/" + "y" * 5000)  # absolute, so it is used, and too long
    line = one_error(run_cli(*PERF))
    assert "(5,0" in line and len(line) < 400


def test_symlink_loop_in_a_catalogue_dir_is_one_line_error(tmp_path):
    (tmp_path / "la").symlink_to(tmp_path / "lb")
    (tmp_path / "lb").symlink_to(tmp_path / "la")
    line = one_error(run_cli("models", "--catalog-dir", str(tmp_path / "la")))
    assert "symlink loop" in line or "Too many levels of symbolic links" in line


# ---- verify's calibration writes (issue 10 R6 and item 4)
def _no_measurement(monkeypatch):
    import llamasize.verify

    def refuse(*a, **k):
        raise AssertionError("verify measured although the calibration location is unusable")

    monkeypatch.setattr(llamasize.verify, "run_verify", refuse)


@pytest.mark.parametrize("setup", ["cache_is_a_file", "home_empty", "home_relative", "xdg_relative"])
def test_unusable_calibration_location_fails_before_measuring(monkeypatch, tmp_path, setup):
    _no_measurement(monkeypatch)
    if setup == "cache_is_a_file":
        f = tmp_path / "f"
        f.write_text("x")
        monkeypatch.setenv("XDG_CACHE_HOME", str(f))
        words = "is not a directory"
    else:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        if setup == "home_empty":
            monkeypatch.setenv("HOME", "")
            words = "HOME is empty"
        elif setup == "home_relative":
            monkeypatch.setenv("HOME", "rel/home")
            words = "HOME is relative"
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", "rel/cache")
            words = "XDG_CACHE_HOME must be an absolute path"
    assert words in one_error(run_cli("verify"))
    assert not list(tmp_path.rglob("*.tmp")) and not (tmp_path / "f").is_dir()


@pytest.mark.parametrize("home", ["/proc", "/sys"])
def test_a_cache_under_a_pseudo_filesystem_fails_before_measuring(monkeypatch, home):
    """HOME=/proc: the permission bits say writable to root, so the location is probed by creating
    the directory and a file as the save will (issue 10 R6)."""
    _no_measurement(monkeypatch)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", home)
    line = one_error(run_cli("verify"))
    assert "calibration" in line and home in line


def test_a_read_only_cache_directory_fails_before_measuring(monkeypatch, tmp_path):
    """A read-only cache directory (simulated: the suite may run as root, for whom permission bits do
    not stop a write; the probe's mkdtemp is made to fail as it would for a non-root user)."""
    from llamasize.estimate import calibration

    _no_measurement(monkeypatch)
    cache = tmp_path / "ro"
    cache.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(calibration.tempfile, "mkdtemp", refused)
    line = one_error(run_cli("verify"))
    assert "is not writable" in line and str(cache) in line
    assert list(cache.iterdir()) == []


def test_the_writability_probe_leaves_nothing_behind(tmp_path):
    from llamasize.estimate.calibration import check_writable

    target = tmp_path / "a" / "b" / "cal.json"
    check_writable(target)
    assert list(tmp_path.iterdir()) == []  # the probe is made and removed; nothing is created


def test_estimates_without_a_cache_location_use_the_defaults(monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "")
    r = run_cli(*PERF, "--format", "json")
    assert r.code == 0, r.err
    assert not any(a["name"].endswith("efficiency") and "calibrated" in a["value"] for a in r.json()["assumptions"])


def test_a_failed_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    import os

    from llamasize.errors import DataError
    from llamasize.estimate.calibration import DeviceCalibration, save_calibration

    entry = DeviceCalibration(device="cpu", device_name="x", prefill_efficiency=0.5, decode_bandwidth_efficiency=0.5,
                              measured_bandwidth_bytes_per_s=1e10, measured_flops_per_s=1e11,
                              runtime_dtype="float32", model="micro-moe", llamasize_version="0")
    target = tmp_path / "cal.json"
    save_calibration(entry, target)  # works
    assert target.is_file() and [p.name for p in tmp_path.iterdir()] == ["cal.json"]

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(DataError, match="cannot save the calibration: No space left on device"):
        save_calibration(entry, target)
    assert [p.name for p in tmp_path.iterdir()] == ["cal.json"]  # the unique temp file was removed


# ---- --svg writes (issue 10 item 4)
COST = ("cost", "--model", "scout", "--gpu", "h100")


def test_svg_refuses_to_overwrite_without_force(tmp_path):
    svg = tmp_path / "c.svg"
    assert run_cli(*COST, "--svg", str(svg)).code == 0 and "<svg " in svg.read_text()
    svg.write_text("keep me")
    assert "--force" in one_error(run_cli(*COST, "--svg", str(svg)))
    assert svg.read_text() == "keep me"
    assert run_cli(*COST, "--svg", str(svg), "--force").code == 0 and "<svg " in svg.read_text()


def test_svg_never_writes_through_a_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "c.svg"
    link.symlink_to(victim)
    for extra in ((), ("--force",)):
        assert "symbolic link" in one_error(run_cli(*COST, "--svg", str(link), *extra))
    assert victim.read_text() == "precious"


# ---- the CLI's own messages cannot be forged (issue 10 R14, outside check)
@pytest.mark.parametrize("value", ["int4\nllamasize: error: forged", "int4\x1b[31mred", "in\u202et4", "int4\rforged"])
def test_error_lines_escape_control_and_bidi_characters(value):
    r = run_cli(*FIT[:-2], "--ctx", "8K", "--quant", value)
    line = one_error(r)
    assert r.err.count("\n") == 1 and "\x1b" not in r.err and "\u202e" not in r.err and "\r" not in r.err
    assert repr(value)[1:-1] in line  # shown escaped, repr-style


def test_a_huge_echoed_value_is_cut_with_its_length():
    line = one_error(run_cli(*FIT[:-2], "--ctx", "8K", "--quant", "q" * 8000))
    # cut at the source (the value: 200 characters and its length), well before the line limit
    assert len(line) < 600 and "(8,000 characters)" in line


def test_warning_lines_escape_what_they_quote(tmp_path):
    w = tmp_path / "w.yaml"
    w.write_text('model: scout\nctx: 8K\n"bad\\nllamasize: error: forged": 1\n')
    r = run_cli("plan", "--model", "scout", "--ctx", "8K", "--workload", str(w), "--format", "json")
    assert not any(line.startswith("llamasize: error: forged") for line in r.err.splitlines()), r.err


@pytest.mark.parametrize("cmd", [PERF, ("plan", "--model", "scout", "--ctx", "8K"), ("cost", "--model", "scout", "--gpu", "h100")])
def test_a_named_calibration_file_that_does_not_exist_is_an_error(cmd, tmp_path):
    line = one_error(run_cli(*cmd, "--calibration", str(tmp_path / "typo.json")))
    assert "calibration file not found" in line and "typo.json" in line


_LONG = "x" * 8000 + "\n" + "llamasize: error: forged"


@pytest.mark.parametrize("args", [
    ["fit", "--model", "scout", "--gpu", "h100", "--ctx", "8K", "--quant", _LONG],
    ["fit", "--model", "scout", "--gpu", "h100", "--ctx", "8K", "--engine", _LONG],
    ["fit", "--model", "scout", "--gpu", "h100", "--ctx", "8K", "--kv-layout", _LONG],
    ["fit", "--model", "scout", "--gpu", "h100", "--ctx", _LONG],
    ["plan", "--model", "scout", "--ctx", "8K", "--objective", _LONG],
    ["plan", "--model", "scout", "--ctx", "8K", "--emit", _LONG],
    ["params", "scout", "--format", _LONG],
    ["schema", _LONG],
    ["run", "--device", _LONG],
])
def test_long_values_are_echoed_cut_with_their_length(cli, args):
    """An 8,000-character value (with a newline that would forge a second error line) is echoed
    quoted, cut after 200 characters, with its length stated (issue 10 item 3)."""
    r = cli(*args)
    assert r.code == 2 and r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamasize: error:"), r.err
    assert len(lines[0]) < 600
    assert "8,025" in lines[0] and "character" in lines[0], lines[0]
