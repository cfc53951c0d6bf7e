"""terraform-external as Terraform runs it (a subprocess, the query on stdin, no other arguments),
its error path, and the tfvars object of ``plan --format tfvars``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llamasize.integrations.terraform import QUERY_KEYS, TerraformExternalResult, TfvarsOutput

PROGRAM = [sys.executable, "-m", "llamasize", "terraform-external"]
QUERY = {"model": "maverick", "quant": "int4", "ctx": "1M"}


def terraform_runs(stdin: str):
    """What Terraform's external provider does: run the program, write the query, read stdout."""
    return subprocess.run(PROGRAM, input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def external():
    p = terraform_runs(json.dumps(QUERY))
    assert p.returncode == 0, p.stderr
    return p


def test_output_is_a_flat_map_of_strings(external):
    out = json.loads(external.stdout)
    assert isinstance(out, dict) and out
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.items())  # map[string]string
    TerraformExternalResult.model_validate(out)
    assert external.stdout.count("\n") == 1


def test_output_matches_the_plan(external, cli):
    out = json.loads(external.stdout)
    plan = cli("plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--format", "json").json()
    rec = plan["recommendation"]
    assert json.loads(out["plan_json"]) == plan
    assert out["gpu_type"] == rec["gpu"]
    assert out["gpu_count"] == str(rec["gpu_count"])
    assert out["tensor_parallel_size"] == str(rec["tensor_parallel_size"])
    assert out["expert_parallel"] == ("true" if rec["expert_parallel"] else "false")
    assert out["max_model_len"] == str(2**20)
    assert float(out["price_usd_per_hour"]) == rec["price_usd_per_hour"]
    assert float(out["headroom_fraction"]) == rec["headroom_fraction"]
    # no INT4 Maverick checkpoint is published: the command loads a path the user quantizes into,
    # never the BF16 repository (issue 13 item 6), and says so
    assert out["vllm_command"].startswith("vllm serve /models/int4/meta-llama/Llama-4-Maverick")
    assert out["serve_command"] == out["vllm_command"] and out["hf_model"] == ""
    assert "quantize it first" in out["checkpoint_note"]
    for key in ("gpu_count", "nodes", "gpus_per_node", "max_context_tokens", "max_concurrency"):
        assert out[key].isdigit(), key
    assert "e" not in out["headroom_fraction"].lower()


@pytest.mark.parametrize("stdin,words", [
    ("{not json", "not valid JSON"),
    ('["model", "maverick"]', "must be a JSON object"),
    ('{"model": "maverick", "ctx": 8192}', "must be a string"),
    ('{"model": "maverick", "ctx": "8K", "quantisation": "int4"}', "unknown query key 'quantisation'"),
    ("", "no query on stdin"),
    ('{"model": "maverick", "quant": "int4", "ctx": "10M", "gpu": "l4", "max_nodes": "1"}', "nothing fits"),
])
def test_errors_are_one_stderr_line_and_no_stdout(cli, stdin, words):
    # In-process: the same main() the console script runs. The subprocess error path, as Terraform runs
    # it, is covered once by test_error_path_as_terraform_runs_it below (and by tests/test_examples.py).
    r = cli("terraform-external", stdin=stdin)
    assert r.code != 0
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("llamasize: error:") and words in lines[0]


def test_error_path_as_terraform_runs_it():
    p = terraform_runs("{not json")
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamasize: error:") and "not valid JSON" in lines[0]


@pytest.mark.parametrize("query,words", [
    ({"model": "scuot", "ctx": "8K"}, "did you mean 'llama4-scout'"),
    ({"model": "maverick"}, "--ctx is required"),
    ({"ctx": "8K"}, "needs 'model'"),
    ({"model": "maverick", "ctx": "8K", "text_only": "yes"}, '"true" or "false"'),
    ({"model": "maverick", "ctx": "8K", "gpu": "h100", "alternatives": "many"}, "alternatives"),
    ({"model": "maverick", "ctx": "8K", "max_gpus": "-1"}, "--max-gpus"),
    ({"model": "maverick", "ctx": "8K", "null": None}, "unknown query key"),
])
def test_bad_queries_in_process(cli, query, words):
    r = cli("terraform-external", stdin=json.dumps(query))
    assert r.code == 2 and r.out == ""
    assert len(r.err.splitlines()) == 1 and words in r.err, r.err


def test_nothing_fits_is_exit_3(cli):
    r = cli("terraform-external", stdin=json.dumps({"model": "maverick", "ctx": "10M", "gpu": "l4", "max_nodes": "1"}))
    assert r.code == 3 and r.out == "" and len(r.err.splitlines()) == 1


def test_every_plan_key_is_accepted(cli, tmp_path):
    (tmp_path / "none.json").write_text('{"schema_version": "1", "devices": {}}')  # a named file must exist
    query = {"model": "scout", "quant": "int4_mixed", "ctx": "8K", "batch": "2", "gpu": "h100,h200",
             "exclude_gpu": "h200", "max_gpus": "8", "max_nodes": "1", "budget": "100", "engine": "vllm",
             "kv_layout": "auto", "kv_dtype": "auto", "headroom": "0.05", "objective": "cost", "mau": "1000",
             "gpu_memory_utilization": "0.9", "mem_fraction_static": "", "text_only": "true", "layouts": "practical",
             "alternatives": "2", "prompt_tokens": "1024", "output_tokens": "256", "price": "on_demand",
             "specs_dir": "", "catalog_dir": "", "workload": "", "calibration": str(tmp_path / "none.json"),
             "engine_version": "0.15.0", "hybrid_kv_cache": "auto", "kv_cache_free_gpu_mem_fraction": ""}
    assert set(query) == set(QUERY_KEYS)
    r = cli("terraform-external", stdin=json.dumps(query))
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["gpu_type"] == "h100-sxm"
    plan = json.loads(out["plan_json"])
    assert plan["request"]["batch"] == 2 and plan["request"]["include_vision"] is False
    assert plan["request"]["engine_version"] == "0.15.0" and plan["request"]["engine_rules"] == "vLLM 0.10 - 0.16"
    assert len(plan["alternatives"]) <= 2


def test_console_script_as_terraform_names_it():
    import shutil
    from pathlib import Path

    exe = Path(sys.executable).parent / "llamasize"
    if not exe.exists():
        exe = shutil.which("llamasize")
        if exe is None:
            pytest.skip("the llamasize console script is not installed")
    p = subprocess.run([str(exe), "terraform-external"], input='{"model":"scout","quant":"int4_mixed","ctx":"8K"}',
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["gpu_type"]


def test_tfvars_output_is_typed_and_complete(cli):
    r = cli("plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--format", "tfvars")
    assert r.code == 0
    d = r.json()
    TfvarsOutput.model_validate(d)  # extra keys forbidden: catches drift from render.tfvars
    assert set(d) == set(TfvarsOutput.model_fields)
    assert isinstance(d["gpu_count"], int) and isinstance(d["expert_parallel"], bool)
