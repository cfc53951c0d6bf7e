"""Regression tests of what the fuzz suite (tests/test_fuzz.py, benchmarks/fuzz_cli.py) found, and of the
issue 10 reproducers (R1-R14) that had no test of their own yet. Each was an internal error (exit 70),
a hang or work done before a certain failure; each is now one ``llamasize: error:`` line with exit 2."""

from __future__ import annotations

import json
import math
import os

import pytest

from conftest import run_cli

FIT = ("fit", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K")
PERF = ("perf", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed")
COST = ("cost", "--model", "scout", "--gpu", "h100")


def one_error(r) -> str:
    assert r.code == 2, (r.code, r.out[:300], r.err)
    assert r.out == ""
    errors = [line for line in r.err.splitlines() if line.startswith("llamasize: error: ")]
    assert len(errors) == 1 and "internal error" not in r.err, r.err
    return errors[0]


# ---- $COLUMNS went through int(): 'abc' and 4,301 digits were internal errors (ValueError)
@pytest.mark.parametrize("columns", ["abc", "9" * 4301, "-5", "10001", "1e3", "\u0661\u0662"])
def test_columns_that_is_not_a_width_is_a_one_line_error(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    assert "COLUMNS must be a whole number" in one_error(run_cli(*FIT))


@pytest.mark.parametrize("columns", ["", "0", "1", "40", "10000"])
def test_columns_in_range_or_unset_draws_the_table(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    r = run_cli(*FIT)
    assert r.code == 0 and "FITS" in r.out, r.err


def test_columns_does_not_matter_to_json(monkeypatch):
    monkeypatch.setenv("COLUMNS", "abc")
    assert run_cli(*FIT, "--format", "json").code == 0


# ---- a YAML integer over Python's 4,300-digit int() limit (spec and catalogue dirs, workload, policy)
def test_a_yaml_integer_of_5000_digits_in_a_specs_dir_is_one_line_error(tmp_path):
    from fuzzkit import SPEC_YAML

    d = tmp_path / "specs"
    d.mkdir()
    (d / "m.yaml").write_text(SPEC_YAML.replace("num_hidden_layers: 8", "num_hidden_layers: " + "9" * 5000))
    line = one_error(run_cli("models", "--specs-dir", str(d)))
    assert "m.yaml: line" in line and "a 5,000-character number (at most 40)" in line


@pytest.mark.parametrize("text", ["ctx: " + "9" * 4301, 'ctx: !!int "' + "9" * 4301 + '"', "budget: -" + "1" * 5000,
                                  "max_gpus: 1_" + "0" * 5000])
def test_a_yaml_integer_of_4301_digits_in_a_workload_is_one_line_error(tmp_path, text):
    w = tmp_path / "w.yaml"
    w.write_text("model: scout\n" + text + "\n")
    assert "-character number (at most 40)" in one_error(run_cli("plan", "--model", "scout", "--workload", str(w)))


@pytest.mark.parametrize("value", ["9" * 5000, ".inf", "1e400", ".nan", "10000001"])
def test_a_policy_budget_that_is_infinite_or_absurd_is_refused(tmp_path, value):
    """check's policy reader kept a 5,000-digit integer as text, which pydantic read as the float inf: an
    infinite budget that nothing exceeds, accepted with exit 0."""
    (tmp_path / "x.yaml").write_text("kind: ConfigMap\n")
    p = tmp_path / "p.yaml"
    p.write_text(f"max_usd_per_hour: {value}\n")
    assert "max_usd_per_hour" in one_error(run_cli("check", str(tmp_path / "x.yaml"), "--policy", str(p)))


def test_long_quoted_digit_strings_stay_strings(tmp_path):
    """Only integers are refused: a quoted 100-digit value is text (and the workload says what it wants)."""
    w = tmp_path / "w.yaml"
    w.write_text('model: scout\nctx: "' + "9" * 100 + '"\n')
    line = one_error(run_cli("plan", "--workload", str(w)))
    assert "character number" not in line


# ---- cost's own prices had no floor: 5e-324 per GPU-hour made every break-even infinite (exit 70)
@pytest.mark.parametrize("args", [("--usd-per-gpu-hour", "5e-324"), ("--usd-per-gpu-hour", "0.0009"),
                                  ("--price", "owned", "--capex-usd-per-gpu", "5e-324"),
                                  ("--price", "owned", "--capex-usd-per-gpu", "30000", "--amortization-years", "5e-324"),
                                  ("--price", "owned", "--capex-usd-per-gpu", "30000", "--usd-per-kwh", "1e-300")])
def test_cost_prices_below_their_floor_are_refused(args):
    line = one_error(run_cli(*COST, *args, "--format", "json"))
    assert args[-2] in line and "must be in [" in line


def test_cost_at_the_price_floors_is_finite_json():
    r = run_cli(*COST, "--usd-per-gpu-hour", "0.001", "--format", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))

    from fuzzkit import _numbers as numbers

    assert all(math.isfinite(x) for x in numbers(data))
    r = run_cli(*COST, "--price", "owned", "--capex-usd-per-gpu", "1", "--amortization-years", "0.1",
                "--usd-per-kwh", "0.001", "--format", "json")
    assert r.code == 0, r.err


# ---- HOME=/proc: verify measured for seconds, then failed to save (os.access says yes to root)
def test_verify_tries_the_calibration_location_before_measuring(monkeypatch, tmp_path):
    import llamasize.verify

    def refuse(*a, **k):
        raise AssertionError("verify measured although the calibration location is unusable")

    monkeypatch.setattr(llamasize.verify, "run_verify", refuse)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/proc")
    assert "'/proc' is not writable" in one_error(run_cli("verify"))
    assert not any(n.startswith(".llamasize-probe-") for n in os.listdir("/proc"))


def test_the_writability_probe_leaves_nothing(tmp_path):
    from llamasize.estimate.calibration import check_writable

    check_writable(tmp_path / "a" / "b" / "calibration.json")
    assert list(tmp_path.iterdir()) == []


# ---- issue 10 reproducers without a test of their own so far
def test_r4_dev_zero_as_a_model_path_and_as_the_calibration_variable(monkeypatch):
    assert "character device" in one_error(run_cli("params", "/dev/zero"))
    monkeypatch.setenv("LLAMASIZE_CALIBRATION", "/dev/zero")
    assert "character device" in one_error(run_cli(*PERF))


def test_r5_a_fifo_as_a_model_path_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    assert "FIFO" in one_error(run_cli("params", str(fifo)))  # opening it would block: stat first
    assert "FIFO" in one_error(run_cli("fit", "--model", str(fifo), "--gpu", "h100", "--ctx", "8K"))


def test_r5_a_fifo_as_svg_is_refused(tmp_path):
    fifo = tmp_path / "c.svg"
    os.mkfifo(fifo)
    for extra in ((), ("--force",)):
        assert "not a regular file" in one_error(run_cli(*COST, "--svg", str(fifo), *extra))


def test_r8_a_symlink_loop_as_a_specs_dir_is_one_line_error(tmp_path):
    (tmp_path / "la").symlink_to(tmp_path / "lb")
    (tmp_path / "lb").symlink_to(tmp_path / "la")
    line = one_error(run_cli("models", "--specs-dir", str(tmp_path / "la")))
    assert "symlink loop" in line or "Too many levels of symbolic links" in line


def test_r8_a_symlink_loop_in_the_specs_path_variable_is_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "la").symlink_to(tmp_path / "lb")
    (tmp_path / "lb").symlink_to(tmp_path / "la")
    monkeypatch.setenv("LLAMASIZE_SPECS_PATH", str(tmp_path / "la"))
    one_error(run_cli("models"))


def test_r1_huge_numbers_through_every_numeric_flag_family():
    nines = "9" * 4301
    for args in ((*FIT, "--gpus", nines), (*PERF, "--requests-per-day", nines), (*COST, "--tokens-per-day", nines),
                 ("plan", "--model", "scout", "--ctx", "8K", "--budget", nines),
                 ("check", "x.yaml", "--max-usd-per-hour", nines), ("run", "--seed", nines)):
        one_error(run_cli(*args))


# ---- plan --emit ignored --format silently (--format json printed a shell command, not JSON)
@pytest.mark.parametrize("fmt", ["json", "table"])
def test_emit_with_a_format_is_refused(fmt):
    line = one_error(run_cli("plan", "--model", "scout", "--ctx", "8K", "--emit", "vllm", "--format", fmt))
    assert "--emit prints the launch command" in line


def test_emit_alone_prints_the_command():
    r = run_cli("plan", "--model", "scout", "--ctx", "8K", "--emit", "vllm")
    assert r.code == 0 and "vllm serve" in r.out, (r.out, r.err)


# ---- catalogue rates without bounds: .inf or 1e300 TFLOPS divided by zero, 5e-324 GB/s made times infinite
@pytest.mark.parametrize("value", [".inf", "1e300", "5e-324", ".nan"])
@pytest.mark.parametrize("command", [("perf", "--model", "scout", "--gpu", "rtx-3090", "--quant", "int4"),
                                     ("plan", "--model", "scout", "--ctx", "8K", "--gpu", "rtx-3090"),
                                     ("cost", "--model", "scout", "--gpu", "rtx-3090", "--usd-per-gpu-hour", "1")])
def test_catalogue_rates_out_of_range_are_refused(tmp_path, value, command):
    from fuzzkit import CATALOG_YAML

    d = tmp_path / "cat"
    d.mkdir()
    (d / "x.yaml").write_text(CATALOG_YAML.replace("\nflops:\n", f"\nmemory_bandwidth_gb_per_s: {value}\nflops:\n"
                                                   f"  bf16: {value}\n"))
    line = one_error(run_cli(*command, "--catalog-dir", str(d), "--format", "json"))
    assert "x.yaml" in line and "memory_bandwidth_gb_per_s" in line


def test_a_catalogue_price_below_a_tenth_of_a_cent_is_refused(tmp_path):
    from fuzzkit import CATALOG_YAML

    d = tmp_path / "cat"
    d.mkdir()
    (d / "x.yaml").write_text(CATALOG_YAML.replace(
        "prices: []", "prices: [{usd_per_gpu_hour: 5e-324, kind: on_demand, provider: x, source: x}]"))
    assert "usd_per_gpu_hour" in one_error(run_cli("gpus", "--catalog-dir", str(d)))


# ---- the runtime scaled a config without head_dim to an odd head width (824 / 8 = 103): RoPE rotates
# pairs, so verify and run on a Llama-3-style config.json were a numpy broadcast error (exit 70)
def test_scaled_specs_of_a_config_without_head_dim_have_even_heads(tmp_path):
    from fuzzkit import CONFIG

    from llamasize.data.hfconfig import load_hf_config
    from llamasize.runtime.scaling import scaled_spec

    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    spec = load_hf_config(tmp_path / "config.json")
    assert spec.head_dim is None
    for budget in (10**7, 5 * 10**7, 2 * 10**8, 666 * 10**6, 10**9):
        s = scaled_spec(spec, budget)
        assert s.resolved_head_dim % 2 == 0, (budget, s.hidden_size, s.num_attention_heads, s.resolved_head_dim)


def test_run_on_a_config_without_head_dim(tmp_path):
    from fuzzkit import CONFIG

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    r = run_cli("run", "--model", str(cfg), "--new-tokens", "1", "--prompt-tokens", "1", "--format", "json")
    assert r.code == 0, r.err
    assert "scaled down" in r.json()["scaled_note"]
