"""Golden files: the JSON of representative commands, byte for byte.

A change that alters one of these outputs must update the golden file in the same commit and say why
in the commit message. Regenerate with ``LLAMASIZE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``
(then read the diff: every changed byte needs a reason).
"""

from __future__ import annotations

import os

import pytest

from conftest import REPO, run_cli

GOLDEN = REPO / "tests" / "golden"

# name -> (arguments, allowed exit codes)
CASES: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "fit-scout-h100-int4mixed-8k": (
        ["fit", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K"], (0,)),
    "fit-maverick-8xh100-fp8-128k": (
        ["fit", "--model", "maverick", "--gpu", "h100", "--gpus", "8", "--quant", "fp8", "--ctx", "128K",
         "--batch", "4"], (0, 3)),
    "fit-llama70b-sglang-tp2pp2": (
        ["fit", "--model", "llama3.1-70b", "--gpu", "a100", "--gpus", "4", "--tp", "2", "--pp", "2",
         "--quant", "int8", "--ctx", "32K", "--engine", "sglang"], (0, 3)),
    "fit-gptoss120b-h100-8k": (
        ["fit", "--model", "gpt-oss-120b", "--gpu", "h100", "--ctx", "8K"], (0, 3)),
    "plan-maverick-int4-1m": (
        ["plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M"], (0,)),
    "plan-scout-auto-128k-gpus": (
        ["plan", "--model", "scout", "--quant", "auto", "--ctx", "128K", "--batch", "8", "--gpu", "h100,h200",
         "--objective", "gpus"], (0, 3)),
    "perf-maverick-8xh100-fp8-c32": (
        ["perf", "--model", "maverick", "--gpu", "h100", "--gpus", "8", "--quant", "fp8", "--concurrency", "32"],
        (0,)),
    "perf-scout-h100-int4mixed-8k": (
        ["perf", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--prompt-tokens", "8K",
         "--output-tokens", "1K"], (0,)),
    # the step simulator at DP 1 (these two were produced by the code before attention DP was simulated)
    "perf-deepseekv3-8xh200-tp8ep-offline": (
        ["perf", "--model", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--tp", "8", "--ep", "--prompt-tokens",
         "1000", "--output-tokens", "1000", "--arrival", "offline", "--requests", "256"], (0,)),
    "perf-maverick-8xh100-fp8-poisson": (
        ["perf", "--model", "maverick", "--gpu", "h100", "--gpus", "8", "--quant", "fp8", "--prompt-tokens", "2K",
         "--output-tokens", "256", "--arrival", "poisson", "--qps", "4", "--requests", "200"], (0,)),
    "cost-maverick-spot": (
        ["cost", "--model", "maverick", "--price", "spot", "--utilization", "0.5"], (0,)),
    "cost-scout-owned": (
        ["cost", "--model", "scout", "--gpu", "h100", "--price", "owned", "--capex-usd-per-gpu", "25000",
         "--usd-per-kwh", "0.12", "--pue", "1.3"], (0,)),
    "sweep-maverick-int4": (
        ["sweep", "--model", "maverick", "--quant", "int4", "--ctx", "8K,128K,1M,10M"], (0, 3)),
    "params-maverick": (["params", "maverick"], (0,)),
    "params-deepseek-v3": (["params", "deepseek-v3"], (0,)),
    "check-passing": (["check", "examples/manifests/passing"], (0,)),
    "check-failing": (["check", "examples/manifests/failing"], (1,)),
    "schema-plan": (["schema", "plan"], (0,)),  # schema prints JSON without --format
    "terraform-external": (["terraform-external"], (0,)),
    "models": (["models"], (0,)),
    "gpus": (["gpus"], (0,)),
}


TF_QUERY = '{"model": "scout", "quant": "int4_mixed", "ctx": "128K", "batch": "4"}'


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_json(name, monkeypatch):
    monkeypatch.chdir(REPO)
    args, codes = CASES[name]
    extra = [] if args[0] in ("schema", "terraform-external") else ["--format", "json"]
    stdin = TF_QUERY if args[0] == "terraform-external" else None
    r = run_cli(*args, *extra, stdin=stdin)
    assert r.code in codes, (name, r.code, r.err)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("LLAMASIZE_UPDATE_GOLDEN") == "1":
        path.write_text(r.out)
    assert path.exists(), f"missing golden file {path}; regenerate with LLAMASIZE_UPDATE_GOLDEN=1"
    assert r.out == path.read_text(), f"{name}: output differs from {path.name}"
