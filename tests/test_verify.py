"""verify, run, detect and --gpu local, end to end, in-process (tests/conftest.py pins BLAS to one
thread before numpy is imported, as the CLI does for a real run). The measurement is the session's
one real ``verify`` (the ``verified`` fixture, ``conftest.VERIFY_ARGS``), shared with test_readme.py
and test_schema.py."""

from __future__ import annotations

import json

import pytest

from conftest import RUN_ARGS, RUN_TABLE_ARGS, VERIFY_ARGS, run_cli
from llamasize.estimate.calibration import DeviceCalibration, calibration_path, load_calibrations, save_calibration


def _flag(args: tuple[str, ...], name: str) -> str:
    return args[args.index(name) + 1]


def test_verify_exact_bytes_and_consistent_exit_code(verified):
    r, report, _ = verified
    assert r.code in (0, 4), r.err
    assert report == json.loads(r.out)
    assert report["model"] == "micro-moe" and report["device"] == "cpu" and report["backend"] == "numpy"
    exact = [c for c in report["checks"] if c["kind"] == "exact"]
    assert len(exact) >= 3
    for c in exact:  # byte counts must match the estimator exactly, whatever the machine's load
        assert c["predicted"] == c["measured"] and c["passed"], c
    names = " ".join(c["name"] for c in report["checks"])
    batches = [int(b) for b in _flag(VERIFY_ARGS, "--batches").split(",")]
    for needle in ("resident weight bytes", "hybrid layout", "prefill time", "routed experts hit", "peak memory"):
        assert needle in names, needle
    decode = [c["name"] for c in report["checks"] if c["name"].startswith("decode step, batch ")]
    assert decode == [f"decode step, batch {b}" for b in batches]  # exactly the --batches asked for
    tol = float(_flag(VERIFY_ARGS, "--tolerance"))
    assert report["tolerance"] == tol
    assert report["passed"] == all(c["passed"] for c in report["checks"])
    assert (r.code == 0) == report["passed"]
    for c in report["checks"]:
        assert c["ratio"] == pytest.approx(c["measured"] / c["predicted"])
        if c["kind"] == "tolerance":
            assert c["passed"] == (1 / (1 + tol) <= c["ratio"] <= 1 + tol)
    # the run's duration is reported (how long it takes is benchmarks/bench_runtime.py's figure)
    assert 0 < report["seconds"] < float("inf")


def test_verify_output_validates_against_its_schema(verified, cli):
    from jsonschema import Draft202012Validator

    r, _, _ = verified
    schema = cli("schema", "verify").json()
    errors = list(Draft202012Validator(schema).iter_errors(json.loads(r.out)))
    assert not errors, errors[0]


def test_verify_saves_a_calibration(verified):
    r, report, cal = verified
    assert f"saved to {cal}" in r.err and report["calibration_saved"]
    entry = load_calibrations(cal, must_exist=True).devices["cpu"]
    assert entry.verify_passed == report["passed"]  # --save-anyway labels a failed run's calibration
    assert ("FAILED run" in r.err) == (not report["passed"])
    from llamasize.verify import TIMING_STATISTIC, max_rounds

    assert report["repeats_requested"] == 3 and 3 <= report["repeats"] <= max_rounds(3)
    assert report["timing_statistic"] == TIMING_STATISTIC
    timed = [c for c in report["checks"] if c["unit"] == "seconds"]
    assert timed
    for c in timed:  # every timing check reports the median round of its per-round ratios
        rs = c["round_ratios"]
        assert len(rs) == report["repeats"]
        assert c["ratio"] == pytest.approx(sorted(rs)[(len(rs) - 1) // 2])
    assert all(c["round_ratios"] == [] for c in report["checks"] if c["unit"] != "seconds")
    assert entry.model == "micro-moe" and entry.runtime_dtype == "float32"
    assert 0 < entry.prefill_efficiency <= 1.5 and 0 < entry.decode_bandwidth_efficiency <= 1.5


def test_perf_local_is_calibrated_and_differs_from_analytical(verified, tmp_path):
    _, _, cal = verified
    args = ["perf", "--model", "micro-moe", "--gpu", "local", "--quant", "fp32", "--prompt-tokens", "64",
            "--output-tokens", "64", "--format", "json"]
    c = run_cli(*args, "--calibration", str(cal))
    assert c.code == 0, c.err
    calibrated = c.json()
    assert calibrated["confidence"] == "calibrated" and calibrated["gpu"] == "cpu"
    # the same device rates with the default efficiencies: analytical
    entry = load_calibrations(cal).devices["cpu"]
    plain = tmp_path / "plain.json"
    save_calibration(DeviceCalibration(**{**entry.model_dump(), "device": "not-this-device"}), plain)
    plain_cal = load_calibrations(plain)
    assert "cpu" not in plain_cal.devices
    a = run_cli(*args, "--calibration", str(plain))
    assert a.code == 0, a.err
    analytical = a.json()
    assert analytical["confidence"] == "analytical"
    assert analytical["tpot_s"] != calibrated["tpot_s"]
    assert analytical["efficiencies"] != calibrated["efficiencies"]


def test_run_generates_deterministically(shared_run):
    small = ("run", "--prompt-tokens", "8", "--new-tokens", "6", "--batch", "2", "--format", "json")
    a, b = run_cli(*small), run_cli(*small)  # two short runs cost less than repeating the shared one
    assert a.code == 0, a.err
    assert b.code == 0, b.err
    ra, rb = a.json(), b.json()
    assert len(ra["tokens"]) == 2 and all(len(t) == 6 for t in ra["tokens"])
    assert ra["tokens"] == rb["tokens"]
    assert ra["decode_tokens_per_s"] > 0 and ra["prefill_tokens_per_s"] > 0
    shared = shared_run(*RUN_ARGS)  # the README's JSON run line, shared with test_readme and test_schema
    assert shared.code == 0, shared.err
    rs = shared.json()
    batch = int(_flag(RUN_ARGS, "--batch"))
    assert rs["batch"] == batch and rs["kv_layout"] == _flag(RUN_ARGS, "--kv-layout") and rs["new_tokens"] > 0
    assert len(rs["tokens"]) == batch and all(len(t) == rs["new_tokens"] for t in rs["tokens"])
    table = shared_run(*RUN_TABLE_ARGS)
    assert table.code == 0, table.err
    new = int(_flag(RUN_TABLE_ARGS, "--new-tokens"))
    assert "tokens/s" in table.out and "sequence 0" in table.out and f"x {new} tokens" in table.out


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
    assert r.code == 2 and "calibration file: malformed JSON" in r.err and str(bad) in r.err and len(r.err.splitlines()) == 1


def _fake_verify(monkeypatch, verified, passed: bool):
    """Replace the measurement with the session's report, marked passed or failed (no re-measuring)."""
    import llamasize.verify as v

    _, report, _ = verified
    checks = [dict(c) for c in report["checks"]]
    if not passed:
        checks[-1]["passed"] = False
    fake = v.VerifyReport.model_validate({**report, "checks": checks, "passed": passed, "calibration_path": None,
                                          "calibration_saved": False, "calibration_note": None})
    monkeypatch.setattr(v, "run_verify", lambda *a, **k: fake)


@pytest.mark.parametrize("extra", [(), ("--repeats", "1")])
def test_failed_verify_never_writes_a_calibration(cli, monkeypatch, verified, tmp_path, extra):
    _fake_verify(monkeypatch, verified, passed=False)
    target = tmp_path / "cal.json"
    r = cli("verify", "--calibration", str(target), *extra, "--format", "json")
    assert r.code == 4, r.err
    assert not target.exists()  # a failed run leaves no file behind
    out = r.json()
    assert out["calibration_saved"] is False and "not saved" in out["calibration_note"]
    assert "not saved: a check failed" in r.err
    # what it measured is printed all the same
    assert out["checks"] and out["calibration"]["prefill_efficiency"] > 0
    t = cli("verify", "--calibration", str(target))
    assert t.code == 4 and "not saved: a check failed" in t.out and not target.exists()


def test_failed_verify_saves_with_save_anyway_labelled(cli, monkeypatch, verified, tmp_path):
    _fake_verify(monkeypatch, verified, passed=False)
    target = tmp_path / "cal.json"
    r = cli("verify", "--calibration", str(target), "--save-anyway", "--format", "json")
    assert r.code == 4 and target.exists()
    entry = load_calibrations(target).devices["cpu"]
    assert entry.verify_passed is False and "FAILED run" in r.err
    p = cli("perf", "--model", "micro-moe", "--gpu", "local", "--quant", "fp32", "--calibration", str(target),
            "--format", "json")
    assert p.code == 0 and "failed 'llamasize verify' run" in p.err


def test_passed_verify_saves(cli, monkeypatch, verified, tmp_path):
    _fake_verify(monkeypatch, verified, passed=True)
    target = tmp_path / "cal.json"
    r = cli("verify", "--calibration", str(target), "--format", "json")
    assert r.code == 0 and load_calibrations(target).devices["cpu"].verify_passed is True


def test_verify_repeats_and_save_flags_are_checked(cli):
    assert cli("verify", "--repeats", "0").code == 2
    r = cli("verify", "--no-save", "--save-anyway")
    assert r.code == 2 and "contradict" in r.err


def test_best_of_runs_takes_the_minimum_time():
    """Two rounds of the same work: the combined measurement keeps each batch's fastest step and the
    fastest prefill, whichever round they came from."""
    from llamasize.runtime.backend import get_backend
    from llamasize.runtime.measure import measure_model
    from llamasize.data.registry import load_registry
    from llamasize.verify import best_of_runs

    spec = load_registry().model("micro-moe")
    be = get_backend("cpu")
    runs = [measure_model(spec, be, prompt_tokens=8, batch_sizes=(1, 2), decode_steps=2) for _ in range(2)]
    slow = runs[1].model_copy(update={
        "prefill": runs[1].prefill.model_copy(update={"best_seconds": 1e9}),
        "decode": [d.model_copy(update={"min_step_seconds": 1e9}) for d in runs[1].decode]})
    best = best_of_runs([slow, runs[0]])
    assert best.prefill.best_seconds == runs[0].prefill.best_seconds
    assert [d.min_step_seconds for d in best.decode] == [d.min_step_seconds for d in runs[0].decode]
    assert best.resident_weight_bytes == runs[0].resident_weight_bytes


def _rounds(*ratios_per_round: float, name: str = "decode step, batch 1") -> list[dict]:
    """Per-round timings of one check with the given measured/predicted ratios (predicted 10 ms)."""
    return [{name: (0.010, 0.010 * r, "memory-bound")} for r in ratios_per_round]


def test_one_busy_round_does_not_move_the_verdict():
    from llamasize.verify import combine_rounds, settled

    rounds = _rounds(1.02, 1.96, 0.97)  # the middle round's model ran beside a busy core
    c = combine_rounds(rounds, 0.5)["decode step, batch 1"]
    assert c.passed and c.ratio == pytest.approx(1.02) and c.measured == pytest.approx(0.0102)
    assert c.round_ratios == pytest.approx([1.02, 1.96, 0.97]) and "median of 3 rounds" in c.note
    assert settled(rounds, 0.5)  # two of three agree: no more rounds


def test_a_wrong_estimator_still_fails_every_way():
    """Predictions 3x too fast in every round: the rounds agree (no extra rounds) and the check fails;
    so does a prediction 3x too slow."""
    from llamasize.verify import combine_rounds, settled

    for r in (3.0, 1 / 3):
        rounds = _rounds(r * 1.01, r, r * 0.98)
        assert settled(rounds, 0.5)
        c = combine_rounds(rounds, 0.5)["decode step, batch 1"]
        assert not c.passed and c.ratio == pytest.approx(r)


def test_rounds_that_disagree_ask_for_more_rounds_bounded():
    from llamasize.verify import max_rounds, settled

    assert not settled(_rounds(1.0, 1.9, 1.4), 0.5)  # no majority near the median
    assert settled(_rounds(1.0, 1.9, 1.4, 1.05, 0.98), 0.5)  # two more rounds settle it
    two = [{**a, **b} for a, b in zip(_rounds(1.0, 1.01, 0.99), _rounds(1.0, 1.9, 1.4, name="prefill"))]
    assert not settled(two, 0.5)  # every check must settle, not just one
    assert settled(_rounds(5.0), 0.5)  # one round is always settled (--repeats 1 runs exactly one)
    assert [max_rounds(n) for n in (1, 3, 100)] == [3, 7, 100]


def test_injected_wrong_prediction_exits_4(cli, monkeypatch, tmp_path):
    """A real (short) verify with the estimator's roofline made 10x too optimistic: every timing
    check fails and verify exits 4 and writes no calibration, whatever the machine's load (load
    only raises measured/predicted further)."""
    import llamasize.verify as v

    real = v.roofline
    monkeypatch.setattr(v, "roofline", lambda works, rate, band: tuple(
        x / 10 if x is not None else None for x in real(works, rate, band)))
    target = tmp_path / "cal.json"
    r = cli("verify", "--repeats", "1", "--batches", "1", "--calibration", str(target), "--format", "json")
    assert r.code == 4, r.err
    rep = r.json()
    timed = [c for c in rep["checks"] if c["unit"] == "seconds"]
    assert timed and not any(c["passed"] for c in timed) and all(c["ratio"] > 1.5 for c in timed)
    assert all(c["passed"] for c in rep["checks"] if c["kind"] == "exact")
    assert rep["repeats"] == 1 and not target.exists() and rep["calibration_saved"] is False


def test_short_decode_steps_are_timed_more_often_within_the_bound():
    """measure_model's extra timed steps: none without a budget; with an unreachable budget every
    batch runs the bound, and the cache, context and step count follow (no timing asserted)."""
    from llamasize.runtime.backend import get_backend
    from llamasize.runtime.measure import measure_model
    from llamasize.data.registry import load_registry

    spec = load_registry().model("micro-moe")
    be = get_backend("cpu")
    kw = dict(prompt_tokens=8, batch_sizes=(1, 2), decode_steps=2, warmup_steps=1, prefill_repeats=1)
    plain = measure_model(spec, be, **kw)
    more = measure_model(spec, be, **kw, max_decode_steps=5, step_budget_seconds=1e9)
    assert [d.steps for d in plain.decode] == [2, 2] and plain.kv_max_tokens == 8 + 1 + 2 + 1
    assert [d.steps for d in more.decode] == [5, 5] and more.kv_max_tokens == 8 + 1 + 5 + 1
    assert [d.context_tokens for d in more.decode] == [8 + 1 + 5] * 2
    assert more.prefill_kv_bytes > plain.prefill_kv_bytes  # the cache holds the extra steps
    zero = measure_model(spec, be, **kw, max_decode_steps=5, step_budget_seconds=0.0)
    assert [d.steps for d in zero.decode] == [2, 2]  # no budget: exactly --steps
