"""``llamasize calibrate --from-log``: predicted vs logged, the exit code, the stored engine-memory
entries, and their use by fit, perf and plan (a matching Deployment carries the EngineCorrection).

The logs are tests/data/logs (their key lines quoted verbatim from docs/facts/engine-memory.md: see
test_enginelog.py and the README there).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from llamasize import __version__
from llamasize.estimate import log_report
from llamasize.estimate.calibration import (
    CalibrationFile, DeviceCalibration, calibration_path, load_calibrations, save_calibration,
)
from llamasize.estimate.log_calibration import engine_correction_for

LOGS = Path(__file__).parent / "data" / "logs"
ROW1 = str(LOGS / "vllm-0.19.0-llama31-8b-tp1.log")
ROW3 = str(LOGS / "vllm-0.19.0-llama31-8b-tp2.log")
ROW10 = str(LOGS / "vllm-0.19.0-llama33-70b-fp8dyn-tp2.log")
SGLANG = str(LOGS / "sglang-synthetic.log")
GIB = 2**30


def _saved(path=None) -> CalibrationFile:
    return load_calibrations(path or calibration_path(), must_exist=True)


def test_table_lines_up_predicted_and_logged(cli):
    r = cli("calibrate", "--from-log", ROW1)
    assert r.code == 0, r.err
    rows = {line.split("  ")[0]: line for line in r.out.splitlines()}
    # the logged column is what the engine printed (facts row 1)
    assert "58.11 GiB" in rows["available KV"] and "476,016" in rows["KV cache tokens"]
    assert "14.99 GiB" in rows["weights"] and "1.89 GiB" in rows["activation peak"]
    assert "0.25 GiB" in rows["non-torch"] and "0.91 GiB" in rows["CUDA graph"] and "58.11x" in rows["max concurrency"]
    assert "within the 5% tolerance" in r.out
    assert "vllm 0.19.0 (V1), llama3.1-8b on h100-sxm, TP 1 x PP 1" in r.out
    assert "saved to" in r.err


def test_json_items_and_ratios(cli):
    r = cli("calibrate", "--from-log", ROW10, "--format", "json", "--no-save")
    assert r.code == 0, r.err
    doc = r.json()  # stdout is only JSON
    assert (doc["model"], doc["gpu"], doc["tensor_parallel_size"], doc["quant"]) == ("llama3.3-70b", "h100-sxm", 2, "fp8")
    assert doc["engine_version"] == "0.19.0" and doc["calibration_path"] is None
    items = {i["item"]: i for i in doc["items"]}
    assert items["available KV"]["logged"] == round(37.28 * GIB)
    assert items["KV cache tokens"]["logged"] == 244_304
    for i in doc["items"]:
        if i["ratio"] is not None:
            assert i["ratio"] == pytest.approx(i["predicted"] / i["logged"], abs=1e-4)
    kv = items["available KV"]
    assert doc["passed"] is (abs(kv["ratio"] - 1) <= 0.05)


def test_stdin(cli):
    r = cli("calibrate", "--from-log", "-", "--no-save", "-f", "json", stdin=Path(ROW3).read_text())
    assert r.code == 0, r.err
    assert r.json()["source"] == "stdin" and r.json()["tensor_parallel_size"] == 2


def test_exit_4_when_available_kv_is_off_by_more_than_5_percent(cli, monkeypatch):
    """The prediction is made 10 % too high; the table is still printed, and the exit code is 4."""
    real = log_report.predicted_items

    def high(e):
        items, origin = real(e)
        return {**items, "available_kv_bytes": int(items["available_kv_bytes"] * 1.10)}, origin

    monkeypatch.setattr(log_report, "predicted_items", high)
    r = cli("calibrate", "--from-log", ROW1, "--no-save")
    assert r.code == 4, r.err
    assert "available KV" in r.out and "outside the 5% tolerance" in r.out


def test_within_5_percent_passes(cli, monkeypatch):
    """4.9 % off passes (the boundary side that must not fail)."""
    real = log_report.predicted_items

    def close(e):
        items, origin = real(e)
        return {**items, "available_kv_bytes": int(round(58.11 * GIB) * 1.049)}, origin

    monkeypatch.setattr(log_report, "predicted_items", close)
    assert cli("calibrate", "--from-log", ROW1, "--no-save").code == 0


def test_saves_the_logged_items(cli):
    r = cli("calibrate", "--from-log", ROW1, "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["saved_items"] == ["weights", "activation_peak", "non_torch", "cuda_graph"]
    entries = list(_saved().engine_memory.values())
    assert len(entries) == 1
    e = entries[0]
    assert (e.model, e.gpu, e.engine, e.engine_version) == ("llama3.1-8b", "h100-sxm", "vllm", "0.19.0")
    assert (e.tensor_parallel_size, e.pipeline_parallel_size, e.quant, e.kv_cache_dtype) == (1, 1, "bf16", "bf16")
    assert (e.max_num_seqs, e.max_num_batched_tokens, e.gpu_memory_utilization) == (1024, 8192, 0.95)
    assert e.weights_bytes == round(14.99 * GIB) and e.activation_peak_bytes == round(1.89 * GIB)
    assert e.non_torch_bytes == round(0.25 * GIB) and e.cuda_graph_bytes == round(0.91 * GIB)
    assert e.source_file == "vllm-0.19.0-llama31-8b-tp1.log" and e.llamasize_version == __version__
    # a second log of another shape adds an entry, the same log again replaces its own
    assert cli("calibrate", "--from-log", ROW3).code == 0
    assert cli("calibrate", "--from-log", ROW1).code == 0
    assert len(_saved().engine_memory) == 2


def test_no_save_writes_nothing(cli):
    assert cli("calibrate", "--from-log", ROW1, "--no-save").code == 0
    assert not calibration_path().exists()


def test_no_save_with_calibration_is_a_usage_error(cli, tmp_path):
    r = cli("calibrate", "--from-log", ROW1, "--no-save", "--calibration", str(tmp_path / "c.json"))
    assert r.code == 2 and r.err.count("\n") == 1 and "--no-save" in r.err


def test_saving_failure_is_one_line(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = cli("calibrate", "--from-log", ROW1, "--calibration", str(blocker / "cal.json"))
    assert r.code == 2 and r.err.startswith("llamasize: error:") and r.err.count("\n") == 1


def test_old_file_stays_readable_and_verify_entries_are_kept(cli, tmp_path):
    path = tmp_path / "cal.json"
    old = {"schema_version": "1", "devices": {"h100-sxm": dict(
        device="h100-sxm", device_name="NVIDIA H100 80GB HBM3", prefill_efficiency=0.4,
        decode_bandwidth_efficiency=0.6, measured_bandwidth_bytes_per_s=3e12, measured_flops_per_s=7e14,
        runtime_dtype="float16", model="micro-moe", llamasize_version=__version__)}}
    path.write_text(json.dumps(old))  # a file written before engine_memory existed
    assert load_calibrations(path).engine_memory == {}
    assert cli("calibrate", "--from-log", ROW1, "--calibration", str(path)).code == 0
    saved = _saved(path)
    assert "h100-sxm" in saved.devices and len(saved.engine_memory) == 1
    # and verify's save keeps the engine entries
    save_calibration(DeviceCalibration(**{**old["devices"]["h100-sxm"], "prefill_efficiency": 0.5}), path)
    again = _saved(path)
    assert again.devices["h100-sxm"].prefill_efficiency == 0.5 and len(again.engine_memory) == 1


# ------------------------------------------------------------------------------------- errors ---
def _one_line_error(r, code=2):
    assert r.code == code, (r.code, r.err)
    assert r.err.startswith("llamasize: error:") and r.err.count("\n") == 1 and "Traceback" not in r.err
    return r.err


def test_no_engine_lines(cli, tmp_path):
    p = tmp_path / "x.log"
    p.write_text("hello\nnothing here\n")
    assert "no vLLM or SGLang start-up lines found" in _one_line_error(cli("calibrate", "--from-log", str(p)))


def test_config_without_memory_lines(cli, tmp_path):
    p = tmp_path / "x.log"
    p.write_text("\n".join(Path(ROW1).read_text().splitlines()[:5]) + "\n")  # cut before profiling
    assert "no engine memory lines" in _one_line_error(cli("calibrate", "--from-log", str(p), "--no-save"))


def test_unknown_model_asks_for_model_and_model_overrides(cli, tmp_path):
    p = tmp_path / "x.log"
    p.write_text(Path(ROW1).read_text().replace("meta-llama/Llama-3.1-8B-Instruct", "/models/my-llama"))
    err = _one_line_error(cli("calibrate", "--from-log", str(p), "--no-save"))
    assert "--model" in err
    r = cli("calibrate", "--from-log", str(p), "--no-save", "--model", "llama3.1-8b", "-f", "json")
    assert r.code == 0 and r.json()["model"] == "llama3.1-8b"


def test_unknown_gpu_needs_gpu(cli):
    err = _one_line_error(cli("calibrate", "--from-log", SGLANG, "--no-save"))
    assert "--gpu is required" in err
    r = cli("calibrate", "--from-log", SGLANG, "--no-save", "--gpu", "h100", "-f", "json")
    assert r.code in (0, 4) and r.json()["engine"] == "sglang" and r.json()["gpu"] == "h100-sxm"


def test_a_total_no_catalogue_gpu_has_needs_gpu(cli, tmp_path):
    p = tmp_path / "x.log"
    p.write_text(Path(ROW1).read_text().replace("total_memory=79.19GiB", "total_memory=61.00GiB"))
    assert "--gpu is required" in _one_line_error(cli("calibrate", "--from-log", str(p), "--no-save"))
    r = cli("calibrate", "--from-log", str(p), "--no-save", "--gpu", "h100", "-f", "json")
    # the prediction budgets the logged total; the device-total row shows the catalogue's against it
    total = next(i for i in r.json()["items"] if i["item"] == "device total")
    assert total["logged"] == round(61 * GIB) and total["predicted"] == round(79.19 * GIB)


def test_missing_file(cli, tmp_path):
    _one_line_error(cli("calibrate", "--from-log", str(tmp_path / "nope.log")))


def test_from_log_is_required(cli):
    _one_line_error(cli("calibrate"))


# ---------------------------------------------------------------- the correction is applied ---
def _deployment(registry, **kw):
    from llamasize.cli import inputs

    args = dict(model="llama3.1-8b", gpu="h100", gpus=None, tp=None, pp=None, ep=False, quant=None, kv_dtype=None,
                ctx=8192, batch=None, engine=None, kv_layout=None, gpu_memory_utilization="0.95",
                mem_fraction_static=None, max_num_batched_tokens=None, max_num_seqs=None, overhead_gib=None,
                text_only=False)
    args.update(kw)
    return inputs.deployment(registry, **args)


def test_fit_deployment_carries_the_correction(cli, registry):
    assert cli("calibrate", "--from-log", ROW1).code == 0
    c = _deployment(registry).engine_correction
    assert c is not None and "vllm-0.19.0-llama31-8b-tp1.log" in c.source
    assert (c.weights_bytes, c.activation_peak_bytes, c.non_torch_bytes, c.cuda_graph_bytes) == (
        round(14.99 * GIB), round(1.89 * GIB), round(0.25 * GIB), round(0.91 * GIB))
    # other memory fraction, context and KV dtype: every item still applies
    c2 = _deployment(registry, gpu_memory_utilization="0.9", ctx=32768, kv_dtype="fp8").engine_correction
    assert c2 == c


def test_other_batch_settings_apply_only_weights_and_non_torch(cli, registry):
    assert cli("calibrate", "--from-log", ROW1).code == 0
    c = _deployment(registry, max_num_seqs="256").engine_correction
    assert c.weights_bytes == round(14.99 * GIB) and c.non_torch_bytes == round(0.25 * GIB)
    assert c.activation_peak_bytes is None and c.cuda_graph_bytes is None


@pytest.mark.parametrize("change", [dict(tp="2", gpus="2"), dict(quant="fp8"), dict(gpu="a100-sxm-80gb"),
                                    dict(model="llama3.3-70b"),
                                    dict(engine="sglang", gpu_memory_utilization=None)])
def test_another_shape_gets_no_correction(cli, registry, change):
    assert cli("calibrate", "--from-log", ROW1).code == 0
    assert _deployment(registry, **change).engine_correction is None


def test_engine_version_must_match_when_given(cli, registry):
    assert cli("calibrate", "--from-log", ROW1).code == 0
    d = _deployment(registry)
    entries = _saved().engine_memory.values()
    bare = replace(d, engine_correction=None)
    assert engine_correction_for(entries, replace(bare, engine_version="0.19.0")) is not None
    assert engine_correction_for(entries, replace(bare, engine_version="0.18.0")) is None
    assert engine_correction_for(entries, bare) is not None  # no version named: any version's entry


def test_fit_and_perf_say_they_use_it(cli):
    assert cli("calibrate", "--from-log", ROW1).code == 0
    for cmd in (("fit", "--ctx", "8K"), ("perf",)):
        r = cli(*cmd, "--model", "llama3.1-8b", "--gpu", "h100", "--gpu-memory-utilization", "0.95")
        assert r.code == 0, r.err
        assert "engine memory calibrated (weights, activation peak, non-torch, CUDA graph)" in r.err
    r = cli("fit", "--ctx", "8K", "--model", "llama3.1-8b", "--gpu", "h100", "--tp", "1", "--gpus", "1",
            "--max-num-seqs", "128")
    assert "engine memory calibrated (weights, non-torch)" in r.err


def test_fit_calibration_flag_names_the_file(cli, tmp_path):
    path = tmp_path / "mine.json"
    assert cli("calibrate", "--from-log", ROW1, "--calibration", str(path)).code == 0
    r = cli("fit", "--ctx", "8K", "--model", "llama3.1-8b", "--gpu", "h100", "--calibration", str(path))
    assert "engine memory calibrated" in r.err
    r = cli("fit", "--ctx", "8K", "--model", "llama3.1-8b", "--gpu", "h100")  # default location: empty
    assert "engine memory calibrated" not in r.err
    _one_line_error(cli("fit", "--ctx", "8K", "--model", "llama3.1-8b", "--gpu", "h100", "--calibration",
                        str(tmp_path / "missing.json")))


def test_plan_candidates_carry_the_correction(cli, registry):
    from llamasize.cli.engine_hook import engine_memory_entries
    from llamasize.plan.planner import PlanRequest, fit_deployment, plan

    assert cli("calibrate", "--from-log", ROW1).code == 0
    entries = engine_memory_entries(None)
    req = PlanRequest(model=registry.model("llama3.1-8b"), context_tokens=8192, quant="bf16", gpus=("h100",),
                      gpu_memory_utilization=0.95, engine_memory=entries)
    rec = plan(req, registry).recommendation
    assert rec.gpu_count == 1
    assert fit_deployment(rec, req, registry).engine_correction is not None
    assert fit_deployment(rec, replace(req, engine_memory=()), registry).engine_correction is None


def test_plan_and_cost_commands_run_with_a_calibration(cli):
    assert cli("calibrate", "--from-log", ROW1).code == 0
    assert cli("plan", "--model", "llama3.1-8b", "--ctx", "8K", "--gpu", "h100").code == 0
    assert cli("cost", "--model", "llama3.1-8b", "--gpu", "h100", "-f", "json").code == 0


def test_json_validates_against_its_schema(cli):
    from jsonschema import Draft202012Validator

    schema = cli("schema", "calibrate").json()
    for log in (ROW1, ROW3, ROW10):
        doc = cli("calibrate", "--from-log", log, "-f", "json").json()  # saved: calibration_path is a string
        assert not list(Draft202012Validator(schema).iter_errors(doc))
    doc["items"][0]["ratio"] = "high"
    assert list(Draft202012Validator(schema).iter_errors(doc))


def _row1_with(tmp_path, **swap) -> str:
    text = Path(ROW1).read_text()
    for old, new in swap.items():
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / "x.log"
    p.write_text(text)
    return str(p)


def test_runtime_fp8_and_fp32_runs_read_their_format(cli, tmp_path):
    """facts rows 8 (``--quantization fp8``) and 9 (``--dtype float32``): their key lines, verbatim."""
    row8 = _row1_with(tmp_path, **{
        "quantization=None": "quantization=fp8",
        "weights memory: 14.99GiB": "weights memory: 8.49GiB",
        "Available KV cache memory: 58.11 GiB": "Available KV cache memory: 64.61 GiB",
        "GPU KV cache size: 476,016 tokens": "GPU KV cache size: 529,248 tokens"})
    doc = cli("calibrate", "--from-log", row8, "--no-save", "-f", "json").json()
    assert doc["quant"] == "fp8"
    assert next(i for i in doc["items"] if i["item"] == "weights")["logged"] == round(8.49 * GIB)
    row9 = _row1_with(tmp_path, **{
        "dtype=torch.bfloat16": "dtype=torch.float32",
        "torch peak memory increase: 1.89GiB; non-torch forward increase memory: 0.25GiB; weights memory: 14.99GiB":
            "torch peak memory increase: 2.21GiB; non-torch forward increase memory: 0.25GiB; weights memory: 29.98GiB",
        "Available KV cache memory: 58.11 GiB": "Available KV cache memory: 42.8 GiB",
        "GPU KV cache size: 476,016 tokens": "GPU KV cache size: 175,296 tokens"})
    r = cli("calibrate", "--from-log", row9, "--no-save", "-f", "json")
    doc = r.json()
    assert doc["quant"] == "fp32" and "the run's KV cache is fp32" in r.err  # fp32 KV is not modelled: said
    assert next(i for i in doc["items"] if i["item"] == "available KV")["logged"] == round(42.8 * GIB)


def test_fit_after_calibrate_uses_the_logged_items_labelled_calibrated(cli):
    """End to end: the stored items of row 3 (TP2) replace the modelled ones in fit's engine report,
    each labelled calibrated with its source, and the available KV follows the budget identity."""
    assert cli("calibrate", "--from-log", ROW3).code == 0
    args = ("fit", "--model", "llama3.1-8b", "--gpu", "h100", "--gpus", "2", "--ctx", "8192",
            "--gpu-memory-utilization", "0.95", "--max-num-seqs", "1024", "--max-num-batched-tokens", "8192",
            "--engine-version", "0.19.0", "--format", "json")
    r = cli(*args)
    assert r.code == 0, r.err
    rep = json.loads(r.out)["engine_report"]
    entry = next(iter(_saved().engine_memory.values()))
    assert rep["weights_bytes"] == entry.weights_bytes and rep["activation_peak_bytes"] == entry.activation_peak_bytes
    assert rep["non_torch_bytes"] == entry.non_torch_bytes
    for item in ("weights", "activation_peak", "non_torch"):
        assert rep["basis"][item + "_bytes"].startswith("calibrated"), rep["basis"]
    # the logged available KV (63.76 GiB) within 0.1 % once the logged items are used
    assert rep["available_kv_bytes"] == pytest.approx(63.76 * GIB, rel=1e-3)
