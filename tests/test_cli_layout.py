"""cli package: flags merged with workload files, required flags enforced, the JSON paths' imports,
and the typed plan request read by the renderers and Terraform."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO


def one_usage_error(r) -> str:
    """Exit 2, nothing on stdout, exactly one 'llamasize: error:' line and no traceback."""
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamasize: error:"), r.err
    assert "Traceback" not in r.err
    return lines[0]


# ------------------------------------------------------------------------------ sweep --workload ---
def test_sweep_reads_ctx_from_the_workload_file(cli, tmp_path):
    """Regression: the workload's ctx was overwritten by the --ctx default (8K,128K,1M)."""
    w = tmp_path / "w.yaml"
    w.write_text("model: maverick\nquant: int4\nctx: 128K\n")
    r = cli("sweep", "--workload", str(w), "--gpu", "h100", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["contexts"] == [131_072]
    assert "not used by 'sweep'" not in r.err


def test_sweep_reads_a_context_list_from_the_workload_file(cli, tmp_path):
    w = tmp_path / "w.yaml"
    w.write_text("model: maverick\nquant: int4\nctx: 8K,1M\n")
    r = cli("sweep", "-w", str(w), "--gpu", "h100", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["contexts"] == [8_192, 1_048_576]


def test_sweep_ctx_flag_wins_over_the_workload_file(cli, tmp_path):
    w = tmp_path / "w.yaml"
    w.write_text("model: maverick\nquant: int4\nctx: 128K\n")
    r = cli("sweep", "-w", str(w), "--ctx", "8K", "--gpu", "h100", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["contexts"] == [8_192]


def test_sweep_without_ctx_anywhere_uses_the_default_contexts(cli):
    r = cli("sweep", "--model", "maverick", "--quant", "int4", "--gpu", "h100", "-f", "json")
    assert r.code == 0, r.err
    assert r.json()["contexts"] == [8_192, 131_072, 1_048_576]


# ---------------------------------------------------------------------------- required flags ---
@pytest.mark.parametrize("args, flag", [
    (("fit", "--gpu", "h100", "--ctx", "8K"), "--model"),
    (("fit", "--model", "scout", "--ctx", "8K"), "--gpu"),
    (("fit", "--model", "scout", "--gpu", "h100"), "--ctx"),
    (("perf", "--model", "scout"), "--gpu"),
    (("params",), "MODEL"),
])
def test_missing_required_flag_is_a_usage_error(cli, args, flag):
    """Enforced on every supported typer/click pair (typer 0.16 with click >= 8.3 used to run the
    command with None and exit 70)."""
    line = one_usage_error(cli(*args))
    assert flag.lower() in line.lower() and "missing" in line.lower()
    assert f"llamasize {args[0]} --help" in line


def test_optional_model_flag_still_defaults(cli):
    """--model is optional on plan (a workload file may give it): the error is plan's own."""
    line = one_usage_error(cli("plan", "--ctx", "8K"))
    assert "--model is required" in line


# ------------------------------------------------------------------------------- typed request ---
def test_plan_request_is_typed_and_dumps_as_before(registry):
    from llamasize.integrations.terraform import TfvarsOutput, tfvars
    from llamasize.plan.planner import PlanRequest, PlanRequestSummary, plan

    res = plan(PlanRequest(model=registry.model("scout"), context_tokens=8192, quant="int4_mixed",
                           gpus=("h100-sxm",)), registry)
    assert isinstance(res.request, PlanRequestSummary)
    assert res.request.context_tokens == 8192 and res.request.model == "llama4-scout"
    assert list(res.model_dump(mode="json")["request"]) == list(PlanRequestSummary.model_fields)
    tv = tfvars(res)
    assert isinstance(tv, TfvarsOutput)
    assert tv.max_model_len == 8192 and tv.gpu_type == res.recommendation.gpu


def test_tfvars_of_a_plan_without_recommendation_is_an_error(registry):
    from llamasize.errors import UsageError
    from llamasize.integrations.terraform import tfvars
    from llamasize.plan.planner import PlanRequest, plan

    res = plan(PlanRequest(model=registry.model("maverick"), context_tokens=2**20, quant="bf16",
                           gpus=("rtx-4090",), max_nodes=1), registry)
    assert res.recommendation is None
    with pytest.raises(UsageError):
        tfvars(res)


# ------------------------------------------------------------------------------ JSON start-up ---
HEAVY = ("rich", "tabulate", "numpy", "llamasize.render.chart", "llamasize.render.estimate",
         "llamasize.render.plan", "llamasize.render.cost", "llamasize.render.catalog", "llamasize.runtime",
         "llamasize.verify", "llamasize.check")


def test_json_paths_import_no_renderer_table_code_or_numpy():
    """fit, perf, params, plan and terraform-external with JSON output, in one fresh interpreter:
    none of them imports a renderer, rich, tabulate, numpy, the runtime or check. (What typer
    imports by itself does not count: typer 0.16 imports rich when it is installed.)"""
    script = textwrap.dedent(f"""
        import io, json, sys
        import typer
        preloaded = set(sys.modules)
        from llamasize.cli.main import main
        runs = [
            ["fit", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "--ctx", "8K", "-f", "json"],
            ["perf", "--model", "scout", "--gpu", "h100", "--quant", "int4_mixed", "-f", "json"],
            ["params", "maverick", "-f", "json"],
            ["plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "-f", "json"],
            ["terraform-external"],
        ]
        codes = []
        real_stdout = sys.stdout
        for args in runs:
            if args[0] == "terraform-external":
                sys.stdin = io.StringIO('{{"model": "scout", "quant": "int4_mixed", "ctx": "8K"}}')
            sys.stdout = io.StringIO()
            try:
                main(args)
            except SystemExit as e:
                codes.append(e.code)
            json.loads(sys.stdout.getvalue())
        sys.stdout = real_stdout
        heavy = sorted(m for m in set(sys.modules) - preloaded
                       if m.split(".")[0] in {HEAVY!r} or m.startswith({HEAVY!r}))
        print(json.dumps({{"codes": codes, "heavy": heavy}}))
    """)
    p = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.splitlines()[-1])
    assert result["codes"] == [0, 0, 0, 0, 0], p.stderr
    assert result["heavy"] == []
