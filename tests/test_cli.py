"""cli: every command in every format, exit codes, JSON keys, stdout/stderr discipline, determinism
and bad input tried the way a new user would.

The tests run the CLI in-process (tests/conftest.py ``run_cli``); the last section runs the installed
entry points (the ``llamasize`` console script and ``python -m llamasize``) as subprocesses and checks
they print exactly what the in-process run prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llamasize.files import bundled_dir

FIT_OK = ("fit", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K")
FIT_NO = ("fit", "--model", "scout", "--gpu", "h100", "--quant", "bf16", "--ctx", "8K")
COMMANDS = {
    "models": ("models",),
    "gpus": ("gpus",),
    "params": ("params", "scout"),
    "params-behemoth": ("params", "behemoth"),
    "fit": FIT_OK,
    "fit-no": FIT_NO,
}
EXPECTED_CODE = {"fit-no": 3}


def one_error_line(r) -> str:
    """The run failed with exit 2 and exactly one 'llamasize: error:' line on stderr."""
    assert r.code == 2, (r.code, r.out, r.err)
    assert "Traceback" not in r.err and "Traceback" not in r.out
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("llamasize: error:"), r.err
    assert r.out == ""
    return lines[0]


# ------------------------------------------------------------------------- commands x formats ---
@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_command_in_every_format(cli, cmd, fmt):
    r = cli(*COMMANDS[cmd], "--format", fmt)
    assert r.code == EXPECTED_CODE.get(cmd, 0), r.err
    assert r.out.strip()
    assert "Traceback" not in r.err
    if fmt == "json":
        json.loads(r.out)
    elif fmt == "markdown":
        assert "|--" in r.out
    else:
        assert "|---" not in r.out


def test_models_lists_the_registry(cli):
    d = cli("models", "-f", "json").json()
    rows = {m["id"]: m for m in d["models"]}
    assert rows["llama4-scout"]["total_params"] == 108_641_793_536
    assert rows["llama4-maverick"]["total_params"] == 401_583_781_376
    assert "scout" in rows["llama4-scout"]["aliases"]
    assert rows["llama4-behemoth"]["params_confidence"] == "published"
    table = cli("models").out
    for mid in ("llama4-scout", "llama4-maverick", "llama4-behemoth", "deepseek-v3"):
        assert mid in table


def test_gpus_lists_the_catalogue(cli):
    d = cli("gpus", "-f", "json").json()
    rows = {g["id"]: g for g in d["gpus"]}
    # what CUDA reports (vLLM's 79.19 GiB), not nvidia-smi's 81,559 MiB, which is listed beside it
    assert rows["h100-sxm"]["memory_bytes"] == round(79.19 * 2**30)
    assert rows["h100-sxm"]["smi_memory_bytes"] == 81_559 * 2**20
    assert rows["h100-sxm"]["memory_flag"] is None and rows["h100-pcie"]["memory_flag"]
    assert {"h100-sxm", "rtx-4090", "mi300x", "b200"} <= set(rows)
    table = cli("gpus").out
    assert "h100-sxm" in table and "rtx-4090" in table


def test_params_json_keys(cli):
    d = cli("params", "maverick", "-f", "json").json()
    assert d["total_params"] == 401_583_781_376
    assert d["active_params"] == 17_184_691_200
    assert isinstance(d["components"], dict)


def test_params_behemoth_says_unknown(cli):
    r = cli("params", "behemoth")
    assert r.code == 0
    assert "unknown" in r.out
    d = cli("params", "behemoth", "-f", "json").json()
    assert d["confidence"] == "published" and d["total_params"] == 2 * 10**12
    assert d["unknown"]


# ----------------------------------------------------------------------------------------- fit ---
def test_fit_exit_codes_and_report_either_way(cli):
    ok = cli(*FIT_OK)
    assert ok.code == 0 and "FITS" in ok.out and "DOES NOT FIT" not in ok.out
    no = cli(*FIT_NO)
    assert no.code == 3 and "DOES NOT FIT" in no.out
    assert no.err == ""  # the verdict is the report, not an error


@pytest.mark.parametrize(
    "args, code",
    [
        (("--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K"), 0),
        (("--model", "maverick", "--gpu", "h100", "--gpus", "8", "--quant", "fp8", "--ctx", "8K"), 0),
        (("--model", "maverick", "--gpu", "h100", "--gpus", "8", "--quant", "fp8_mixed", "--ctx", "8K"), 0),
        (("--model", "scout", "--gpu", "h100", "--quant", "bf16", "--ctx", "8K"), 3),
        (("--model", "scout", "--gpu", "4090", "--quant", "q4_k_m", "--ctx", "8K"), 3),
    ],
)
def test_meta_claims_through_the_cli(cli, args, code):
    r = cli("fit", *args, "-f", "json")
    assert r.code == code, r.err
    assert r.json()["fits"] is (code == 0)


def test_fit_json_keys(cli):
    for args in (FIT_OK, FIT_NO):
        r = cli(*args, "--format", "json")
        d = r.json()
        assert isinstance(d["fits"], bool)
        assert isinstance(d["max_context_tokens"], int)
        assert isinstance(d["max_concurrency"], int)
        assert isinstance(d["weights_bytes"], int) and isinstance(d["kv_cache_bytes"], int)
        p = d["per_gpu"]
        for key in ("weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes", "budget_bytes",
                    "free_bytes", "total_bytes"):
            assert isinstance(p[key], int), key
        assert p["budget_bytes"] == (p["weights_bytes"] + p["kv_cache_bytes"] + p["activation_bytes"]
                                     + p["overhead_bytes"] + p["free_bytes"])
        names = {a["name"] for a in d["assumptions"]}
        assert {"kv_layout", "engine", "device_memory", "quantization"} <= names
        assert all(a["value"] and a["source"] for a in d["assumptions"])
        assert d["kv_layout"] in ("full", "hybrid")


def test_fit_json_behemoth_nulls(cli):
    r = cli("fit", "-m", "behemoth", "-g", "h100", "-n", "64", "--pp", "8", "-q", "int4", "-c", "8K", "-f", "json")
    assert "Traceback" not in r.err
    assert r.code != 0  # cannot claim it fits
    d = r.json()
    assert d["fits"] is None and d["max_context_tokens"] is None and d["kv_cache_bytes"] is None
    assert d["unknown"]
    t = cli("fit", "-m", "behemoth", "-g", "h100", "-n", "64", "--pp", "8", "-q", "int4", "-c", "8K")
    assert "UNKNOWN" in t.out and "unknown" in t.out


def test_json_stdout_clean_with_warnings_on_stderr(cli):
    r = cli("fit", "--model", "scout", "--gpu", "4090", "--quant", "q4_k_m", "--ctx", "8K", "--format", "json")
    assert r.code == 3
    d = json.loads(r.out)  # nothing but JSON on stdout
    assert d["fits"] is False
    assert r.err and all(line.startswith("llamasize: warning:") for line in r.err.splitlines())
    assert d["warnings"]


def test_fp8_on_a100_warns_on_stderr(cli):
    r = cli("fit", "-m", "llama3.1-8b", "-g", "a100", "-q", "fp8", "-c", "8K", "-f", "json")
    assert r.code == 0
    json.loads(r.out)
    assert "no native FP8" in r.err


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_same_command_twice_is_identical(cli, cmd):
    a = cli(*COMMANDS[cmd], "-f", "json")
    b = cli(*COMMANDS[cmd], "-f", "json")
    assert (a.code, a.out, a.err) == (b.code, b.out, b.err)
    c = cli(*COMMANDS[cmd])
    d = cli(*COMMANDS[cmd])
    assert (c.code, c.out, c.err) == (d.code, d.out, d.err)


@pytest.mark.parametrize("ctx, tokens", [("1M", 1_048_576), ("1m", 1_000_000), ("128K", 131_072), ("8k", 8_000),
                                         ("8K", 8_192), ("131072", 131_072)])
def test_ctx_suffixes(cli, ctx, tokens):
    r = cli("fit", "--model", "maverick", "--gpu", "h100", "--gpus", "8", "--quant", "fp8", "--ctx", ctx, "-f", "json")
    assert r.code in (0, 3), r.err
    assert r.json()["context_tokens"] == tokens


def test_kv_layout_flag(cli):
    base = ("fit", "-m", "scout", "-g", "h100", "-n", "8", "-q", "bf16", "-c", "1M", "--max-num-batched-tokens", "8192",
            "-f", "json")
    full = cli(*base, "--kv-layout", "full").json()
    hybrid = cli(*base, "--kv-layout", "hybrid").json()
    assert full["per_gpu"]["kv_cache_bytes"] == 48 * 1_048_576 * 512
    assert hybrid["per_gpu"]["kv_cache_bytes"] == (12 * 1_048_576 + 36 * 16_384) * 512
    assert hybrid["kv_layout"] == "hybrid"


def test_gpu_memory_utilization_flag(cli):
    d = cli(*FIT_OK, "--gpu-memory-utilization", "0.5", "-f", "json").json()
    assert d["per_gpu"]["budget_bytes"] == -(-round(79.19 * 2**30) // 2)  # half of what CUDA reports


def test_help_and_no_args(cli):
    r = cli("--help")
    assert r.code == 0 and "fit" in r.out and "params" in r.out
    r = cli()
    assert r.code == 0 and "fit" in r.out
    r = cli("fit", "--help")
    assert r.code == 0 and "--kv-layout" in r.out


# ------------------------------------------------------------------------------------- user dirs ---
def test_specs_dir_flag_adds_models(cli, tmp_path):
    data = yaml.safe_load((bundled_dir("model_specs") / "llama3.1-8b.yaml").read_text())
    data.update(id="my-8b", name="my 8B", aliases=["my8"], hf_names=[])
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "my.yaml").write_text(yaml.safe_dump(data))
    r = cli("params", "my8", "--specs-dir", str(tmp_path / "specs"), "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["total_params"] == 8_030_261_248


def test_catalog_env_var_adds_gpus(cli, tmp_path, monkeypatch):
    data = yaml.safe_load((bundled_dir("hardware_catalog") / "h100-sxm.yaml").read_text())
    data.update(id="my-gpu", name="mine", aliases=["mygpu"], nvml_names=[], gfd_products=[])
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "g.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LLAMASIZE_CATALOG_PATH", str(tmp_path / "cat"))
    r = cli("gpus", "-f", "json")
    assert "my-gpu" in r.out
    r = cli("fit", "-m", "llama3.1-8b", "-g", "mygpu", "-c", "8K", "-f", "json")
    assert r.code == 0 and r.json()["gpu"] == "my-gpu"


# ---------------------------------------------------------------------------------- bad input ---
M = ("--model", "scout", "--gpu", "h100", "--quant", "int4_mixed")
BAD_INPUT = {
    "unknown model": (("fit", "--model", "llama5", "--gpu", "h100", "--ctx", "8K"), "llama5"),
    "typo model": (("fit", "--model", "scuot", "--gpu", "h100", "--ctx", "8K"), "did you mean 'llama4-scout'"),
    "typo model params": (("params", "mavrick"), "did you mean 'llama4-maverick'"),
    "unknown gpu": (("fit", "--model", "scout", "--gpu", "tpu-v5", "--ctx", "8K"), "tpu-v5"),
    "typo gpu": (("fit", "--model", "scout", "--gpu", "h1000", "--ctx", "8K"), "did you mean"),
    "unknown quant": (("fit", *M[:4], "--quant", "int3", "--ctx", "8K"), "int3"),
    "typo quant": (("fit", *M[:4], "--quant", "int4_mixd", "--ctx", "8K"), "did you mean 'int4_mixed'"),
    "unknown engine": (("fit", *M, "--ctx", "8K", "--engine", "tgi"), "tgi"),
    "unknown kv dtype": (("fit", *M, "--ctx", "8K", "--kv-dtype", "int2"), "int2"),
    "unknown kv layout": (("fit", *M, "--ctx", "8K", "--kv-layout", "paged"), "paged"),
    "unknown format fit": (("fit", *M, "--ctx", "8K", "--format", "yaml"), "yaml"),
    "unknown format models": (("models", "--format", "csv"), "csv"),
    "unknown format gpus": (("gpus", "--format", "xml"), "xml"),
    "unknown format params": (("params", "scout", "--format", "jsn"), "jsn"),
    "ctx 0": (("fit", *M, "--ctx", "0"), "--ctx"),
    "ctx -1": (("fit", *M, "--ctx", "-1"), "--ctx"),
    "ctx abc": (("fit", *M, "--ctx", "abc"), "--ctx"),
    "ctx 1e30": (("fit", *M, "--ctx", "1e30"), "--ctx"),
    "ctx huge": (("fit", *M, "--ctx", "99999999999999999999"), "--ctx"),
    "ctx empty": (("fit", *M, "--ctx", ""), "--ctx"),
    "ctx fraction": (("fit", *M, "--ctx", "1.5"), "--ctx"),
    "gpus 0": (("fit", *M, "--ctx", "8K", "--gpus", "0"), "--gpus"),
    "gpus -2": (("fit", *M, "--ctx", "8K", "--gpus", "-2"), "--gpus"),
    "gpus absurd": (("fit", *M, "--ctx", "8K", "--gpus", "100000"), "--gpus"),
    "batch -3": (("fit", *M, "--ctx", "8K", "--batch", "-3"), "--batch"),
    "batch 0": (("fit", *M, "--ctx", "8K", "--batch", "0"), "--batch"),
    "gmu nan": (("fit", *M, "--ctx", "8K", "--gpu-memory-utilization", "nan"), "--gpu-memory-utilization"),
    "gmu 1.5": (("fit", *M, "--ctx", "8K", "--gpu-memory-utilization", "1.5"), "--gpu-memory-utilization"),
    "gmu 0": (("fit", *M, "--ctx", "8K", "--gpu-memory-utilization", "0"), "--gpu-memory-utilization"),
    "gmu inf": (("fit", *M, "--ctx", "8K", "--gpu-memory-utilization", "inf"), "--gpu-memory-utilization"),
    "gmu text": (("fit", *M, "--ctx", "8K", "--gpu-memory-utilization", "most"), "--gpu-memory-utilization"),
    "tp 3 for 40 heads": (("fit", *M, "--ctx", "8K", "--gpus", "3", "--tp", "3"),
                          "num_attention_heads (40) is not divisible by tensor_parallel_size (3)"),
    "gpus 3 for 40 heads": (("fit", *M, "--ctx", "8K", "--gpus", "3"),
                            "num_attention_heads (40) is not divisible by tensor_parallel_size (3)"),
    "gpus != tp x pp": (("fit", *M, "--ctx", "8K", "--gpus", "8", "--tp", "4"), "(8)"),
    "pp > layers": (("fit", "-m", "llama3.1-8b", "-g", "h100", "-c", "8K", "--gpus", "33", "--tp", "1", "--pp", "33"),
                    "pipeline_parallel_size (33) exceeds num_hidden_layers (32)"),
    "pp 0": (("fit", *M, "--ctx", "8K", "--pp", "0"), "--pp"),
    "tp 0": (("fit", *M, "--ctx", "8K", "--tp", "0"), "--tp"),
    "ep dense": (("fit", "-m", "llama3.1-8b", "-g", "h100", "-c", "8K", "--ep"), "dense"),
    "unknown flag": (("fit", *M, "--ctx", "8K", "--context-length", "8K"), "--context-length"),
    "unknown command": (("plan2",), "plan2"),
    "missing ctx": (("fit", *M), "--ctx"),
    "missing model": (("fit", "--gpu", "h100", "--ctx", "8K"), "--model"),
    "params no model": (("params",), "'model'"),  # the argument's name; its case is typer's/click's choice
    "sglang with vllm flag": (("fit", *M, "--ctx", "8K", "--engine", "sglang", "--gpu-memory-utilization", "0.9"),
                              "--gpu-memory-utilization"),
    "overhead negative": (("fit", *M, "--ctx", "8K", "--overhead-gib", "-1"), "--overhead-gib"),
    "missing config path": (("params", "./no/such/config.json"), "config.json"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2(cli, case):
    args, fragment = BAD_INPUT[case]
    line = one_error_line(cli(*args))
    assert fragment.lower() in line.lower(), line


@pytest.mark.parametrize("cmd", [("models",), ("gpus",), ("params", "scout"), FIT_OK])
def test_malformed_yaml_in_catalog_dir(cli, tmp_path, cmd):
    d = tmp_path / "cat"
    d.mkdir()
    (d / "broken.yaml").write_text("id: x\nmemory: {datasheet_gb: 80\n")
    line = one_error_line(cli(*cmd, "--catalog-dir", str(d)))
    assert "broken.yaml" in line and "malformed YAML" in line


def test_catalog_entry_missing_a_field_via_cli(cli, tmp_path):
    data = yaml.safe_load((bundled_dir("hardware_catalog") / "h100-sxm.yaml").read_text())
    data.update(id="no-mem", name="x", aliases=[], nvml_names=[], gfd_products=[])
    del data["memory"]
    d = tmp_path / "cat"
    d.mkdir()
    (d / "no-mem.yaml").write_text(yaml.safe_dump(data))
    line = one_error_line(cli("gpus", "--catalog-dir", str(d)))
    assert "no-mem.yaml" in line and "memory" in line


def test_clash_via_env_var(cli, tmp_path, monkeypatch):
    data = yaml.safe_load((bundled_dir("model_specs") / "llama3.1-8b.yaml").read_text())
    data.update(aliases=["another"], hf_names=[])  # same id as the bundled file
    d = tmp_path / "specs"
    d.mkdir()
    (d / "dup.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LLAMASIZE_SPECS_PATH", str(d))
    line = one_error_line(cli("models"))
    assert "dup.yaml" in line and "llama3.1-8b.yaml" in line


def test_debug_shows_a_traceback(cli):
    r = cli("fit", "--model", "scuot", "--gpu", "h100", "--ctx", "8K", "--debug")
    assert r.code == 2
    assert "Traceback" in r.err
    assert r.err.splitlines()[-1].startswith("llamasize: error:")


@pytest.mark.parametrize("flag", ["--gpus", "--batch"])
def test_fractional_counts_are_not_called_tokens(cli, flag):
    # --gpus counts GPUs and --batch counts sequences: the message must not call them tokens
    line = one_error_line(cli("fit", *M, "--ctx", "8K", flag, "1.5"))
    assert flag in line
    assert "tokens" not in line, line


# ----------------------------------------------------------------------- installed entry points ---
def _installed(*argv: str) -> subprocess.CompletedProcess:
    """A real process, as a user runs it (the environment is the test's isolated one)."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_console_script_json_command_matches_the_in_process_run(cli):
    exe = Path(sys.executable).parent / "llamasize"  # the console script pip installed into this environment
    args = (*FIT_OK, "--format", "json")
    p = _installed(str(exe), *args)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["fits"] is True
    r = cli(*args)
    assert (p.returncode, p.stdout, p.stderr) == (r.code, r.out, r.err)


def test_python_m_error_path_is_one_line_exit_2(cli):
    args = ("fit", "--model", "scuot", "--gpu", "h100", "--ctx", "8K")
    p = _installed(sys.executable, "-m", "llamasize", *args)
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamasize: error:") and "did you mean 'llama4-scout'" in lines[0]
    r = cli(*args)
    assert (p.returncode, p.stdout, p.stderr) == (r.code, r.out, r.err)
