"""The engine profile flags (``--engine-version``, ``--hybrid-kv-cache``, ``--kv-cache-free-gpu-mem-fraction``)
on every command that sizes a deployment, not only ``fit`` and ``perf`` (issue 12 item 1).

The test case is Llama 4 Scout: vLLM's hybrid KV manager does not cover its chunked-local layers by
default in 0.10 - 0.18 and does from 0.19 (``estimate/engine_profiles.py``), so at a long context the
0.15 rules hold every layer at full length and need more GPUs than the 0.33 rules. Each command must
size its candidates with the version asked for, and agree with ``fit`` on the same deployment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCOUT_1M = ("--model", "scout", "--quant", "int4", "--gpu", "h100", "--ctx", "1M")
OLD, NEW = "0.15.0", "0.33.0"
ROW1 = Path(__file__).parent / "data" / "logs" / "vllm-0.19.0-llama31-8b-tp1.log"


def _json(cli, *args, stdin=None):
    r = cli(*args, "--format", "json") if stdin is None else cli(*args, stdin=stdin)
    assert r.code == 0, r.err
    return r.json()


def _fit(cli, o: dict, version: str, ctx: str, batch: int = 1) -> dict:
    """``fit`` of the deployment a plan / cost option describes, under ``version``."""
    args = ["fit", "--model", "scout", "--gpu", o["gpu"], "--gpus", str(o["gpu_count"]),
            "--tp", str(o["tensor_parallel_size"]), "--pp", str(o["pipeline_parallel_size"]),
            "--quant", o["quant"], "--ctx", ctx, "--batch", str(batch), "--engine-version", version, "--format", "json"]
    if o["expert_parallel"]:
        args.append("--ep")
    r = cli(*args)
    assert r.code in (0, 3), r.err
    return r.json()


def test_plan_sizes_every_candidate_with_the_version_and_agrees_with_fit(cli):
    old = _json(cli, "plan", *SCOUT_1M, "--engine-version", OLD)
    new = _json(cli, "plan", *SCOUT_1M, "--engine-version", NEW)
    default = _json(cli, "plan", *SCOUT_1M)
    ro, rn = old["recommendation"], new["recommendation"]
    assert ro["gpu_count"] > rn["gpu_count"]  # hybrid KV off in 0.15: every layer holds 1M tokens
    assert (ro["gpu_count"], rn["gpu_count"]) == (8, 2)
    assert default["recommendation"] == rn  # the default is the current release
    assert ro["kv_layout"] == "full" and rn["kv_layout"] == "hybrid"
    for plan, rec, version in ((old, ro, OLD), (new, rn, NEW)):
        fit = _fit(cli, rec, version, "1M")
        assert fit["fits"] is True
        assert rec["max_concurrency"] == fit["max_concurrency"]
        assert rec["max_context_tokens"] == fit["max_context_tokens"]
        assert rec["per_gpu"]["kv_capacity_bytes"] == fit["per_gpu"]["kv_capacity_bytes"]
        assert plan["request"]["engine_version"] == fit["engine_report"]["engine_version"] == version
        assert plan["request"]["engine_rules"] == fit["engine_report"]["rules_hold_for"]
        engine = [a for a in plan["assumptions"] if a["name"] == "engine"]
        assert engine == [a for a in fit["assumptions"] if a["name"] == "engine"]
    assert old["request"]["engine_rules"] == "vLLM 0.10 - 0.16" and new["request"]["engine_rules"] == "vLLM 0.33+"
    # the 0.33 count does not fit under the 0.15 rules: fit agrees the plan had to grow
    assert _fit(cli, rn, OLD, "1M")["fits"] is False


def test_plan_hybrid_kv_cache_overrides_the_versions_default(cli):
    on = _json(cli, "plan", *SCOUT_1M, "--engine-version", OLD, "--hybrid-kv-cache", "on")
    off = _json(cli, "plan", *SCOUT_1M, "--hybrid-kv-cache", "off")
    assert on["recommendation"]["gpu_count"] == 2 and on["recommendation"]["kv_layout"] == "hybrid"
    assert off["recommendation"]["gpu_count"] == 8 and off["recommendation"]["kv_layout"] == "full"
    assert on["request"]["hybrid_kv_cache"] == "on"


def test_plan_table_names_the_version_and_its_rules(cli):
    r = cli("plan", *SCOUT_1M, "--engine-version", OLD)
    assert r.code == 0, r.err
    assert "vllm 0.15.0, objective cost" in r.out.splitlines()[0]
    assert "rules of vLLM 0.10 - 0.16" in r.out
    assert "8 x h100-sxm" in r.out


def test_slo_plan_records_the_version(cli):
    d = _json(cli, "plan", "--model", "llama3.1-8b", "--gpu", "h100", "--ctx", "4K", "--prompt-tokens", "512",
              "--output-tokens", "64", "--max-tpot", "1s", "--qps", "0.5", "--requests", "20",
              "--engine-version", OLD)
    assert d["request"]["engine_version"] == OLD and d["request"]["engine_rules"] == "vLLM 0.10 - 0.16"
    assert any(a["name"] == "engine" and a["value"] == "vllm 0.15.0" for a in d["assumptions"])


def test_sweep_cells_follow_the_version(cli):
    args = ("sweep", "--model", "scout", "--quant", "int4", "--gpu", "h100", "--ctx", "128K,1M")
    old = _json(cli, *args, "--engine-version", OLD)
    new = _json(cli, *args, "--engine-version", NEW)
    cells = {v: [c["min_gpus"] for c in d["rows"][0]["cells"]] for v, d in ((OLD, old), (NEW, new))}
    assert cells[OLD][1] > cells[NEW][1]
    assert cells == {OLD: [2, 8], NEW: [2, 2]}
    assert (old["engine_version"], old["engine_rules"]) == (OLD, "vLLM 0.10 - 0.16")
    assert new["engine_version"] == NEW
    r = cli(*args, "--engine-version", OLD)
    assert r.code == 0 and "vllm 0.15.0;" in r.out


def test_cost_option_follows_the_version_and_fit(cli):
    args = ("cost", "--model", "scout", "--quant", "int4", "--gpu", "h100", "--ctx", "256K", "--concurrency", "8")
    old = _json(cli, *args, "--engine-version", OLD)["options"][0]
    new_report = _json(cli, *args, "--engine-version", NEW)
    new = new_report["options"][0]
    assert old["gpu_count"] > new["gpu_count"]
    assert (old["gpu_count"], new["gpu_count"]) == (8, 4)
    # fit agrees: the 0.33 option does not hold 8 x 256K under the 0.15 rules, the 0.15 option does
    assert _fit(cli, new, OLD, "256K", batch=8)["fits"] is False
    assert _fit(cli, old, OLD, "256K", batch=8)["fits"] is True
    assert _fit(cli, new, NEW, "256K", batch=8)["fits"] is True
    engine = [a for a in new_report["assumptions"] if a["name"] == "engine"]
    assert [a["value"] for a in engine] == ["vllm 0.33.0"] and "vLLM 0.33+" in engine[0]["source"]


def test_frontier_kv_limit_follows_the_version_and_fit(cli):
    args = ("frontier", "--model", "scout", "--gpu", "h100", "--gpus", "4", "--quant", "int4", "--kv-dtype", "auto",
            "--max-concurrency", "2", "--prompt-tokens", "128", "--output-tokens", "16")
    got = {}
    for v in (OLD, NEW):
        d = _json(cli, *args, "--engine-version", v)
        got[v] = d["curves"][0]["kv_max_concurrency"]
        fit = _json(cli, "fit", "--model", "scout", "--gpu", "h100", "--gpus", "4", "--quant", "int4", "--ctx", "144",
                    "--engine-version", v)
        assert got[v] == fit["max_concurrency"]
        assert any(a["name"] == "engine" and a["value"] == f"vllm {v}" for a in d["assumptions"])
    assert got[OLD] < got[NEW]  # 0.15's sampler holds 9.1 fp32 logits copies, 0.33's 3.25


def test_terraform_external_query_keys(cli):
    q = {"model": "scout", "quant": "int4", "gpu": "h100", "ctx": "1M"}
    old = _json(cli, "terraform-external", stdin=json.dumps({**q, "engine_version": OLD}))
    new = _json(cli, "terraform-external", stdin=json.dumps(q))
    assert (old["gpu_count"], new["gpu_count"]) == ("8", "2")
    assert json.loads(old["plan_json"])["request"]["engine_version"] == OLD
    on = _json(cli, "terraform-external", stdin=json.dumps({**q, "engine_version": OLD, "hybrid_kv_cache": "on"}))
    assert on["gpu_count"] == "2"


def test_calibrate_engine_version_names_an_unversioned_log(cli, tmp_path):
    text = ROW1.read_text().replace(" (v0.19.0)", "")
    text = "\n".join(line for line in text.splitlines() if "API server version" not in line) + "\n"
    log = tmp_path / "noversion.log"
    log.write_text(text)
    ratio = {}
    for v in (None, "0.15.0", "0.19.0"):
        flags = () if v is None else ("--engine-version", v)
        d = _json(cli, "calibrate", "--from-log", str(log), "--no-save", *flags)
        assert d["engine_version"] == v
        ratio[v] = next(i["ratio"] for i in d["items"] if i["item"] == "available KV")
    # the log is vLLM 0.19.0's: its own rules predict it best, 0.15's sampler (9.1 copies) least
    assert abs(ratio["0.19.0"] - 1) < abs(ratio[None] - 1) < abs(ratio["0.15.0"] - 1)
    r = cli("calibrate", "--from-log", str(ROW1), "--no-save", "--engine-version", "0.15.0")
    assert r.code == 2 and r.out == "" and "the log prints vllm 0.19.0" in r.err


COMMANDS = {
    "fit": ("fit", *SCOUT_1M),
    "perf": ("perf", "--model", "scout", "--quant", "int4", "--gpu", "h100"),
    "plan": ("plan", *SCOUT_1M),
    "sweep": ("sweep", "--model", "scout", "--quant", "int4", "--gpu", "h100", "--ctx", "8K"),
    "cost": ("cost", "--model", "scout", "--quant", "int4", "--gpu", "h100"),
    "frontier": ("frontier", "--model", "llama3.1-8b", "--gpu", "h100", "--gpus", "1", "--quant", "bf16",
                 "--max-concurrency", "2",
                 "--prompt-tokens", "64", "--output-tokens", "8"),
    "calibrate": ("calibrate", "--from-log", str(ROW1), "--no-save"),
}


def _one_line_error(r, needle: str):
    assert r.code == 2, (r.code, r.err)
    assert r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamasize: error:") and needle in lines[0], r.err


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("version,needle", [("0.9.0", "V0 engine"), ("junk", "is not a version"),
                                            ("", "is not a version")])
def test_invalid_version_is_one_line_exit_2_everywhere(cli, command, version, needle):
    _one_line_error(cli(*COMMANDS[command], "--engine-version", version), needle)


@pytest.mark.parametrize("version,needle", [("0.9.0", "V0 engine"), ("junk", "is not a version")])
def test_invalid_version_in_the_terraform_query(cli, version, needle):
    q = {"model": "scout", "quant": "int4", "gpu": "h100", "ctx": "8K", "engine_version": version}
    _one_line_error(cli("terraform-external", stdin=json.dumps(q)), needle)


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - {"calibrate"}))
def test_other_engine_flags_refused_as_fit_refuses_them(cli, command):
    args = COMMANDS[command]
    _one_line_error(cli(*args, "--hybrid-kv-cache", "maybe"), "--hybrid-kv-cache 'maybe'")
    _one_line_error(cli(*args, "--engine", "sglang", "--hybrid-kv-cache", "on"), "is a vLLM setting")
    _one_line_error(cli(*args, "--kv-cache-free-gpu-mem-fraction", "0.5"), "needs --engine trtllm")
    _one_line_error(cli(*args, "--engine", "trtllm", "--kv-cache-free-gpu-mem-fraction", "2"),
                    "--kv-cache-free-gpu-mem-fraction")


def test_sglang_version_behaves_as_in_fit(cli):
    base = ("--model", "scout", "--quant", "int4", "--gpu", "h100", "--ctx", "8K", "--engine", "sglang")
    fit = _json(cli, "fit", *base, "--engine-version", "0.4.0")
    plan = _json(cli, "plan", *base, "--engine-version", "0.4.0")
    same = _json(cli, "plan", *base, "--engine-version", "0.5.23")
    rec = plan["recommendation"]
    warning = "SGLang 0.4.0: the memory rules modelled are SGLang 0.5's (docs/facts/serving.md 2.3)"
    assert warning in fit["warnings"] and warning in rec["warnings"]
    assert not any("SGLang 0.5.23" in w for w in same["recommendation"]["warnings"])
    assert plan["request"]["engine_version"] == "0.4.0" and plan["request"]["engine_rules"] == "SGLang 0.5"
    assert rec["per_gpu"]["kv_capacity_bytes"] == _json(
        cli, "fit", *base[:-4], "--gpus", str(rec["gpu_count"]), "--ctx", "8K", "--engine", "sglang",
        "--engine-version", "0.4.0")["per_gpu"]["kv_capacity_bytes"]
    _one_line_error(cli("sweep", *base, "--engine-version", "junk"), "is not a version")


def test_trtllm_fraction_reaches_the_candidates(cli):
    args = ("plan", *SCOUT_1M, "--engine", "trtllm")
    small = _json(cli, *args, "--kv-cache-free-gpu-mem-fraction", "0.5")
    default = _json(cli, *args)
    assert small["recommendation"]["gpu_count"] > default["recommendation"]["gpu_count"]
    assert small["request"]["kv_cache_free_gpu_mem_fraction"] == 0.5
    assert small["request"]["engine_version"] is None


@pytest.mark.parametrize("engine, version, limits", [
    ("vllm", "0.15.0", "max_num_seqs 1,024, max_num_batched_tokens 8,192"),
    ("trtllm", None, "max_num_seqs 2,048, max_num_batched_tokens 8,192"),
])
def test_perf_says_which_engine_rules_and_batch_limits_it_used(cli, engine, version, limits):
    args = ["perf", "-m", "llama3.1-8b", "--gpu", "h100", "--engine", engine, "--format", "json"]
    r = cli(*args, *(["--engine-version", version] if version else []))
    assert r.code == 0, r.err
    got = {a["name"]: a for a in r.json()["assumptions"]}
    assert got["engine"]["value"] == (f"{engine} {version}" if version else engine)
    assert got["scheduler_limits"]["value"] == limits and "defaults" in got["scheduler_limits"]["source"]
    assert ("2048 assumed" in got["scheduler_limits"]["source"]) == (engine == "trtllm")
    given = cli(*args, "--max-num-seqs", "64").json()
    assert {a["name"]: a for a in given["assumptions"]}["scheduler_limits"]["value"].startswith("max_num_seqs 64,")
