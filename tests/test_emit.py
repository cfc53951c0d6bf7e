"""Deployable output (issue 13 item 6): every emitted command, manifest and JSON/tfvars field names a
checkpoint in the planned format (or says the user must quantize it first), terraform-external
honours ``engine``, and the manifests of ``plan --emit deployment|lws|kserve`` read back through
``check`` to the plan's verdict: the same model, format, GPU type and count, layout and headroom."""

from __future__ import annotations

import json

import pytest
import yaml

from llamasize.data.registry import load_registry

#: (plan arguments, --emit kind): one per manifest shape and engine, single- and multi-node.
ROUND_TRIPS = [
    (("--model", "maverick", "--quant", "int4", "--ctx", "128k"), "deployment"),
    (("--model", "scout", "--quant", "fp8", "--gpu", "h100-sxm", "--ctx", "64k", "--engine", "sglang"), "deployment"),
    (("--model", "llama3.1-405b", "--quant", "bf16", "--gpu", "h100-sxm", "--ctx", "32k"), "lws"),
    (("--model", "llama3.1-405b", "--quant", "bf16", "--gpu", "h100-sxm", "--ctx", "32k", "--engine", "sglang"),
     "lws"),
    (("--model", "scout", "--quant", "nvfp4", "--gpu", "b200", "--ctx", "128k"), "kserve"),
    (("--model", "maverick", "--quant", "int4", "--ctx", "128k"), "kserve"),
]


def _release_repos() -> set[str]:
    reg = load_registry()
    return {s.release_repo() for s in reg.models}


@pytest.mark.parametrize("args,kind", ROUND_TRIPS, ids=[f"{k}-{a[1]}-{a[3]}" for a, k in ROUND_TRIPS])
def test_manifest_round_trips_through_check(cli, tmp_path, args, kind):
    plan = cli("plan", *args, "--format", "json")
    assert plan.code == 0, plan.err
    rec = plan.json()["recommendation"]
    emitted = cli("plan", *args, "--emit", kind)
    assert emitted.code == 0, emitted.err
    docs = list(yaml.safe_load_all(emitted.out))
    assert len(docs) == 1 and docs[0]["kind"] == {"deployment": "Deployment", "lws": "LeaderWorkerSet",
                                                  "kserve": "LLMInferenceService"}[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(emitted.out)
    checked = cli("check", str(path), "--format", "json")
    assert checked.code == 0, checked.out + checked.err
    report = checked.json()
    assert report["summary"]["deployments"] == 1 and not report["findings"], report["findings"]
    d = report["deployments"][0]
    assert d["status"] == "pass" and d["fits"] is True
    assert d["model"] == plan.json()["model"]
    assert d["quant"] == rec["quant"] and d["kv_cache_dtype"] == rec["kv_cache_dtype"]
    assert d["gpus"] == [rec["gpu"]] and d["gpu_count"] == rec["gpu_count"]
    assert d["tensor_parallel_size"] == rec["tensor_parallel_size"]
    assert d["pipeline_parallel_size"] == rec["pipeline_parallel_size"]
    assert d["expert_parallel"] == rec["expert_parallel"]
    assert d["headroom_fraction"] == pytest.approx(rec["headroom_fraction"], abs=1e-6)
    assert d["price_usd_per_hour"] == pytest.approx(rec["price_usd_per_hour"])


def test_int4_plan_never_names_the_bf16_checkpoint(cli):
    """Maverick int4: no INT4 checkpoint is published, vLLM cannot quantize to INT4 on load."""
    args = ("--model", "maverick", "--quant", "int4", "--ctx", "128k")
    release = "meta-llama/Llama-4-Maverick-17B-128E-Instruct"
    for target in ("vllm", "deployment", "kserve"):
        r = cli("plan", *args, "--emit", target)
        assert r.code == 0, r.err
        assert "quantize it first" in r.err
        body = "\n".join(line for line in r.out.splitlines() if not line.lstrip().startswith("#"))  # not notes
        for word in body.replace("hf://", " ").replace("pvc://models", " ").split():
            assert word.strip("'\"") != release, target  # only under /models/int4/ (a path the user fills)
        assert "/int4/" + release in r.out
    plan = cli("plan", *args, "--format", "json").json()
    assert plan["hf_model"] is None
    tf = cli("plan", *args, "--format", "tfvars").json()
    assert tf["hf_model"] is None


@pytest.mark.parametrize("args,repo", [
    (("--model", "scout", "--quant", "nvfp4", "--gpu", "b200"), "nvidia/Llama-4-Scout-17B-16E-Instruct-FP4"),
    (("--model", "maverick", "--quant", "fp8_experts"), "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8"),
])
def test_published_quantized_checkpoints_are_served(cli, args, repo):
    r = cli("plan", *args, "--ctx", "64k", "--emit", "vllm")
    assert r.code == 0, r.err
    assert f"vllm serve {repo} " in r.out and "--quantization" not in r.out
    assert cli("plan", *args, "--ctx", "64k", "--format", "json").json()["hf_model"] == repo
    assert cli("plan", *args, "--ctx", "64k", "--format", "tfvars").json()["hf_model"] == repo


def test_on_the_fly_fp8_uses_the_engine_flag(cli):
    r = cli("plan", "--model", "maverick", "--quant", "fp8", "--ctx", "64k", "--emit", "vllm")
    assert r.code == 0 and "--quantization fp8" in r.out
    assert "meta-llama/Llama-4-Maverick-17B-128E-Instruct " in r.out


def test_every_emitted_checkpoint_holds_the_planned_format(cli):
    """Over several plans: whatever the command loads, either it is a repository in the planned
    format (a published one, or the release with the engine's on-the-fly flag / its own format), or
    a /models/<format>/ path the notes tell the user to fill."""
    reg = load_registry()
    for model, quant in [("scout", "int4"), ("scout", "int8"), ("llama3.1-8b", "int8"), ("llama3.3-70b", "nvfp4"),
                         ("maverick", "int4_mixed"), ("gpt-oss-120b", "mxfp4"), ("llama3.1-70b", "bf16")]:
        r = cli("plan", "--model", model, "--quant", quant, "--ctx", "16k", "--emit", "vllm")
        assert r.code == 0, (model, quant, r.err)
        loaded = r.out.split()[2]
        spec = reg.model(model)
        if loaded.startswith("/models/"):
            assert loaded == f"/models/{quant}/{spec.release_repo()}" and "quantize it first" in r.err
        elif loaded in spec.hf_quantized:
            assert spec.hf_quantized[loaded] == quant
        else:
            assert loaded == spec.release_repo() and quant in (spec.default_quant, "fp8", "bf16", "fp16")


def test_terraform_external_honours_engine(cli):
    q = {"model": "llama3.1-70b", "quant": "bf16", "ctx": "16k", "engine": "sglang"}
    r = cli("terraform-external", stdin=json.dumps(q))
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["engine"] == "sglang" and out["vllm_command"] == ""
    assert out["serve_command"].startswith("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-70B")
    assert "--mem-fraction-static" in out["serve_command"] and out["checkpoint_note"] == ""
    v = json.loads(cli("terraform-external", stdin=json.dumps({**q, "engine": "vllm"})).out)
    assert v["serve_command"] == v["vllm_command"] and v["vllm_command"].startswith("vllm serve ")


@pytest.mark.parametrize("args,kind,needle", [
    (("--model", "llama3.1-405b", "--quant", "bf16", "--gpu", "h100-sxm", "--ctx", "32k"), "deployment", "use --emit lws"),
    (("--model", "llama3.1-405b", "--quant", "bf16", "--gpu", "h100-sxm", "--ctx", "32k"), "kserve", "use --emit lws"),
    (("--model", "llama3.1-8b", "--ctx", "8k"), "lws", "use --emit deployment"),
    (("--model", "llama3.1-8b", "--ctx", "8k", "--engine", "sglang"), "kserve", "vLLM's"),
    (("--model", "llama3.1-8b", "--ctx", "8k"), "helm", "choices: vllm, sglang, deployment, lws, kserve"),
])
def test_manifest_shapes_that_do_not_apply_are_usage_errors(cli, args, kind, needle):
    r = cli("plan", *args, "--emit", kind)
    assert r.code == 2 and needle in r.err and r.out == ""


def test_sglang_manifest_says_to_set_its_image(cli):
    r = cli("plan", "--model", "llama3.1-8b", "--ctx", "8k", "--engine", "sglang", "--emit", "deployment")
    assert r.code == 0 and "SET-AN-SGLANG" in r.out and "name no SGLang image" in r.err
    v = cli("plan", "--model", "llama3.1-8b", "--ctx", "8k", "--emit", "deployment")
    assert "image: vllm/vllm-openai:v0.33.0" in v.out
