"""``fit`` and ``check`` agree: on every deployment of examples/manifests (passing and failing) and on
the gpt-oss case, the deployment check estimates is the one ``fit`` gets from the same settings, with
the same verdict and the same per-GPU numbers; where check refuses to estimate (an invalid layout, an
unknown GPU) fit refuses too. For ``llamasize.yaml`` entries fit is given the entry's own keys, so the
defaults (weight format, TP) are compared too, not only the arithmetic."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from conftest import REPO, run_cli, spy_check_estimates
from llamasize.check.report import CheckOptions
from llamasize.check.run import check_paths

MANIFESTS = sorted((REPO / "examples" / "manifests").glob("*/*.yaml"))
PER_GPU = ("total_bytes", "budget_bytes", "weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes",
           "kv_capacity_bytes", "free_bytes")


def _checked(paths, registry, monkeypatch):
    """The report of ``check`` and every (Deployment, estimate) it computed."""
    seen = spy_check_estimates(monkeypatch)
    report = check_paths([str(p) for p in paths], registry, CheckOptions(cwd=REPO))
    return report, seen


def _fit_args(d) -> list[str]:
    """``fit`` flags for the Deployment check built."""
    args = ["fit", "--model", d.model.id, "--gpu", d.gpu.id, "--gpus", str(d.gpu_count),
            "--tp", str(d.tensor_parallel_size), "--pp", str(d.pipeline_parallel_size), "--quant", d.quant,
            "--kv-dtype", d.kv_cache_dtype, "--ctx", str(d.context_tokens), "--batch", str(d.batch),
            "--engine", d.engine, "--kv-layout", d.kv_layout, "--format", "json"]
    args += ["--ep"] if d.expert_parallel else []
    for flag, v in (("--gpu-memory-utilization", d.gpu_memory_utilization),
                    ("--mem-fraction-static", d.mem_fraction_static),
                    ("--max-num-batched-tokens", d.max_num_batched_tokens), ("--max-num-seqs", d.max_num_seqs)):
        if v is not None:
            args += [flag, str(v)]
    args += ["--enforce-eager"] if d.enforce_eager else []  # the serving extras fit takes (issue 13)
    if d.kv_cache_memory_bytes is not None:
        args += ["--kv-cache-memory-bytes", str(d.kv_cache_memory_bytes)]
    if d.cpu_offload_bytes:
        args += ["--cpu-offload-gb", str(d.cpu_offload_bytes / 2**30)]
    if d.lora_slots:
        args += ["--max-loras", str(d.lora_slots), "--max-lora-rank", str(d.lora_rank)]
    assert d.draft is None, "fit has no speculative-decoding flags"
    return args


def _assert_same(fit_json: dict, e) -> None:
    """fit's JSON and check's estimate: verdict, context limits and per-GPU bytes."""
    assert fit_json["fits"] == e.fits
    assert fit_json["quant"] == e.quant and fit_json["kv_cache_dtype"] == e.kv_cache_dtype
    assert fit_json["max_context_tokens"] == e.max_context_tokens
    for key in PER_GPU:
        assert fit_json["per_gpu"][key] == getattr(e.per_gpu, key), key


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_estimate_check_makes_is_fits(path, registry, monkeypatch):
    report, seen = _checked([path], registry, monkeypatch)
    assert seen  # every example has a deployment check estimates
    for d, e in seen:
        r = run_cli(*_fit_args(d))
        assert r.code == (0 if e.fits else 3), r.err
        _assert_same(r.json(), e)
    # the report's per-deployment verdict and headroom are those estimates
    for dep in report.deployments:
        if dep.fits is None or dep.context_tokens is None:
            continue
        mine = [e for d, e in seen if d.model.id == dep.model and d.gpu.id in dep.gpus
                and d.tensor_parallel_size == dep.tensor_parallel_size and d.quant == dep.quant
                and d.context_tokens == min(dep.context_tokens, d.model.max_position_embeddings)]
        assert mine and dep.fits == all(e.fits for e in mine)
        assert dep.headroom_fraction == pytest.approx(min(e.per_gpu.headroom_fraction for e in mine), abs=1e-6)


def _entries(path):
    """The deployments of a llamasize.yaml (the single-deployment shorthand too)."""
    doc = yaml.safe_load(path.read_text())
    return doc["deployments"] if "deployments" in doc else [doc]


def _fit_args_of_entry(entry: dict) -> list[str]:
    """``fit`` flags with the keys a llamasize.yaml entry gives (nothing it leaves out)."""
    flags = {"model": "--model", "gpu": "--gpu", "gpus": "--gpus", "quant": "--quant", "tp": "--tp", "pp": "--pp",
             "ctx": "--ctx", "concurrency": "--batch", "engine": "--engine", "kv_dtype": "--kv-dtype",
             "kv_layout": "--kv-layout", "gpu_memory_utilization": "--gpu-memory-utilization",
             "mem_fraction_static": "--mem-fraction-static"}
    args = ["fit", "--format", "json"]
    for key, flag in flags.items():
        if key in entry:
            args += [flag, str(entry[key])]
    if entry.get("ep"):
        args.append("--ep")
    return args


LLAMASIZE_FILES = [p for p in MANIFESTS if p.name == "llamasize.yaml"]


def _gptoss(tmp_path):
    path = tmp_path / "llamasize.yaml"
    path.write_text(textwrap.dedent("""\
        deployments:
          - {name: oss-8k, model: gpt-oss-120b, gpu: h100, ctx: 8K}
          - {name: oss-128k-x8, model: gpt-oss-120b, gpu: h100, ctx: 128K, concurrency: 8}
          - {name: oss20b-l4, model: gpt-oss-20b, gpu: l4, ctx: 32K}
          - {name: deepseek, model: deepseek-v3, gpu: h200, gpus: 8, ctx: 32K}
        """))
    return path


@pytest.mark.parametrize("case", [*(p.parent.name for p in LLAMASIZE_FILES), "gpt-oss"])
def test_llamasize_yaml_entries_agree_with_fit(case, tmp_path, registry):
    path = _gptoss(tmp_path) if case == "gpt-oss" else REPO / "examples" / "manifests" / case / "llamasize.yaml"
    report = check_paths([str(path)], registry, CheckOptions(cwd=REPO))
    deployments = {d.name: d for d in report.deployments}
    for i, entry in enumerate(_entries(path)):
        dep = deployments[entry.get("name", f"#{i}")]
        r = run_cli(*_fit_args_of_entry(entry))
        if dep.fits is None:  # check could not estimate (unknown GPU ...): fit refuses as well
            assert r.code == 2 and r.out == "", (entry, r.out)
            continue
        assert r.code in (0, 3), r.err
        fit = r.json()
        assert (fit["fits"], fit["quant"]) == (dep.fits, dep.quant), entry
        assert fit["per_gpu"]["headroom_fraction"] == dep.headroom_fraction, entry
        assert fit["max_context_tokens"] == dep.max_context_tokens, entry
        assert fit["tensor_parallel_size"] == dep.tensor_parallel_size, entry


def test_gptoss_fits_in_both(tmp_path, registry):
    """The case of the bug: one H100 at 8K fits (MXFP4) in fit and in check."""
    report = check_paths([str(_gptoss(tmp_path))], registry, CheckOptions(cwd=REPO))
    oss = next(d for d in report.deployments if d.name == "oss-8k")
    assert (oss.quant, oss.fits, oss.status) == ("mxfp4", True, "pass")
    assert not [f for f in report.findings if f.deployment == oss.id]
