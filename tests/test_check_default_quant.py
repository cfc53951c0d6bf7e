"""check and fit choose the same weight format when none is given: the format the checkpoint ships in
(``ModelSpec.default_quant``, one home). Regression: check re-derived gpt-oss-120b's format as BF16
from ``torch_dtype`` and said a deployment ``fit`` accepts does not fit."""

from __future__ import annotations

import textwrap

from conftest import run_cli


def _write(tmp_path, text: str):
    path = tmp_path / "llamasize.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_gptoss_llamasize_yaml_uses_the_checkpoint_format(tmp_path, registry):
    path = _write(tmp_path, """\
        model: gpt-oss-120b
        gpu: h100
        ctx: 8K
        """)
    fit = run_cli("fit", "--model", "gpt-oss-120b", "--gpu", "h100", "--ctx", "8K", "--format", "json")
    check = run_cli("check", str(path), "--format", "json")
    assert fit.code == 0 and fit.json()["fits"] is True and fit.json()["quant"] == "mxfp4"
    assert check.code == 0, check.out
    (d,) = check.json()["deployments"]
    assert d["quant"] == registry.model("gpt-oss-120b").default_quant == "mxfp4"
    assert d["fits"] is True and d["status"] == "pass"
    assert d["headroom_fraction"] == fit.json()["per_gpu"]["headroom_fraction"]
    assert d["max_context_tokens"] == fit.json()["max_context_tokens"]


def test_gptoss_vllm_manifest_uses_the_checkpoint_format(tmp_path):
    """A ``vllm serve`` of the checkpoint without --quantization reads MXFP4 from it, as fit assumes."""
    path = tmp_path / "deploy.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: oss}
        spec:
          nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
          containers:
            - name: vllm
              image: vllm/vllm-openai:latest
              command: ["vllm", "serve", "openai/gpt-oss-120b", "--max-model-len", "8192"]
              resources: {limits: {nvidia.com/gpu: 1}}
        """))
    check = run_cli("check", str(path), "--format", "json")
    (d,) = check.json()["deployments"]
    assert d["quant"] == "mxfp4" and d["fits"] is True, check.out
    assert any("mxfp4" in a for a in d["assumptions"])


def test_bf16_checkpoint_default_is_unchanged(tmp_path):
    """A model without ``checkpoint_quant`` still defaults to its dtype (bf16) in both commands."""
    path = _write(tmp_path, """\
        model: llama3.1-8b
        gpu: h100
        ctx: 8K
        """)
    fit = run_cli("fit", "--model", "llama3.1-8b", "--gpu", "h100", "--ctx", "8K", "--format", "json")
    (d,) = run_cli("check", str(path), "--format", "json").json()["deployments"]
    assert d["quant"] == fit.json()["quant"] == "bf16"
    assert d["headroom_fraction"] == fit.json()["per_gpu"]["headroom_fraction"]
