"""CLI commands for machines: ``check`` (CI on serving manifests), ``terraform-external``
(Terraform's external data source) and ``schema`` (JSON Schemas of the outputs).

Registered on ``llamasize.cli.main.app`` by the import at the end of ``llamasize.cli.main``. As elsewhere,
each command parses, calls one core function and renders; errors are one line with the exit codes
of ``errors.ExitCode``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from llamasize.cli.main import CatalogDir, Debug, SpecsDir, _out, _plan_request, _registry, _with_workload_shape, app, \
    raise_no_fit, warn
from llamasize.errors import ExitCode, UsageError


# ------------------------------------------------------------------------------------ check ---
@app.command("check")
def check_cmd(
    paths: Optional[List[str]] = typer.Argument(None, help="Manifest files and directories (a directory: every *.yaml / "
                                                          "*.yml below it, hidden directories skipped)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="text (default; github when $GITHUB_ACTIONS is "
                                                                   "'true'), json, markdown, github, sarif, junit."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="YAML policy file: max_usd_per_hour, min_headroom, "
                                                                 "fail_on, strict (flags win)."),
    max_usd_per_hour: Optional[str] = typer.Option(None, "--max-usd-per-hour", help="Budget per deployment, USD per "
                                                                                    "hour for all its replicas."),
    min_headroom: Optional[str] = typer.Option(None, "--min-headroom", help="Free fraction of the engine budget each "
                                                                            "GPU must keep (e.g. 0.1)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Exit 1 on findings of this severity or worse: "
                                                                  "error (default) or warning."),
    strict: Optional[bool] = typer.Option(None, "--strict/--no-strict", help="Unknown models/GPUs and values "
                                                                             "llamasize cannot model are errors."),
    default_gpu: Optional[str] = typer.Option(None, "--default-gpu", help="GPU id to assume when a manifest does not "
                                                                          "pin a GPU type."),
    list_rules: bool = typer.Option(False, "--list-rules", help="Print every rule (id, name, severity, description; "
                                                                "--format text, json or markdown) and exit."),
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Check serving manifests (Kubernetes, KServe, LeaderWorkerSet, Helm values, llamasize.yaml).
    Exit 0 clean, 1 findings at or above --fail-on, 2 usage or unreadable input."""
    from llamasize.check.report import CheckOptions, PolicyLimits, Policy
    from llamasize.check.run import check_paths, load_policy
    from llamasize.check.formats import CHECK_FORMATS, RULE_FORMATS, render_check, render_rules
    from llamasize.units import parse_fraction

    if list_rules:
        if (fmt or "text") not in RULE_FORMATS:
            raise UsageError(f"unknown --list-rules format '{fmt}' (choices: {', '.join(RULE_FORMATS)})")
        return _out(render_rules(fmt or "text"))
    if not paths:
        raise UsageError("Missing argument 'paths'. (see 'llamasize check --help')")
    if fmt is None:
        fmt = "github" if os.environ.get("GITHUB_ACTIONS", "").lower() == "true" else "text"
    f = fmt.strip().lower()
    f = "text" if f == "table" else f
    if f not in CHECK_FORMATS:
        raise UsageError(f"unknown format '{fmt}' (choices: {', '.join(CHECK_FORMATS)})")
    pol = load_policy(policy) if policy is not None else Policy()
    budget = pol.max_usd_per_hour if max_usd_per_hour is None else \
        parse_fraction(max_usd_per_hour, "--max-usd-per-hour", low=0, high=1e7)
    head = pol.min_headroom if min_headroom is None else \
        parse_fraction(min_headroom, "--min-headroom", low=0, high=0.99, low_inclusive=True)
    level = (fail_on or pol.fail_on or "error").strip().lower()
    if level not in ("error", "warning"):
        raise UsageError(f"unknown --fail-on '{fail_on}' (choices: error, warning)")
    options = CheckOptions(policy=PolicyLimits(max_usd_per_hour=budget, min_headroom=head), fail_on=level,
                           strict=bool(pol.strict if strict is None else strict), default_gpu=default_gpu)
    report = check_paths(paths, _registry(specs_dir, catalog_dir), options)
    if not report.files:
        warn("no manifest files found (directories are searched for *.yaml and *.yml)")
    _out(render_check(report, f))
    raise typer.Exit(ExitCode.FINDINGS if report.failed else ExitCode.OK)


# ------------------------------------------------------------------------ terraform-external ---
@app.command("terraform-external")
def terraform_external_cmd(debug: bool = Debug) -> None:
    """Terraform's external data source: a JSON query of strings on stdin (plan's flag names in
    snake_case), a flat JSON object of strings on stdout (the whole plan under plan_json).
    On error: one line on stderr, nothing on stdout, a non-zero exit."""
    from llamasize.plan.planner import plan
    from llamasize.integrations.terraform import external_result, parse_query, MAX_QUERY_BYTES
    from llamasize.units import parse_count

    stdin = sys.stdin
    if stdin is None or (hasattr(stdin, "isatty") and stdin.isatty()):
        raise UsageError("terraform-external reads a JSON query on stdin, e.g. echo "
                         "'{\"model\":\"maverick\",\"quant\":\"int4\",\"ctx\":\"1M\"}' | llamasize terraform-external")
    try:
        text = stdin.read(MAX_QUERY_BYTES + 1)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the query on stdin: {e}") from None
    q = parse_query(text)

    def paths(key: str):
        return [Path(p.strip()) for p in q[key].split(",") if p.strip()] if key in q else None

    workload = Path(q["workload"]) if "workload" in q else None
    req, reg, w = _plan_request(
        model=q.get("model"), quant=q.get("quant"), ctx=q.get("ctx"), batch=q.get("batch"),
        gpu=[q["gpu"]] if "gpu" in q else None, exclude_gpu=[q["exclude_gpu"]] if "exclude_gpu" in q else None,
        max_gpus=q.get("max_gpus"), max_nodes=q.get("max_nodes"), budget=q.get("budget"), engine=q.get("engine"),
        kv_layout=q.get("kv_layout"), kv_dtype=q.get("kv_dtype"), headroom=q.get("headroom"),
        objective=q.get("objective"), mau=q.get("mau"), gpu_memory_utilization=q.get("gpu_memory_utilization"),
        mem_fraction_static=q.get("mem_fraction_static"), text_only=q.get("text_only", "false").lower() == "true",
        layouts=q.get("layouts"),
        alternatives=parse_count(q.get("alternatives", "5"), "alternatives", minimum=0, maximum=50),
        workload=workload, specs_dir=paths("specs_dir"), catalog_dir=paths("catalog_dir"))
    req = _with_workload_shape(req, w, q.get("prompt_tokens"), q.get("output_tokens"),
                               q.get("price", "on_demand"),
                               Path(q["calibration"]) if "calibration" in q else None)
    res = plan(req, reg)
    if res.recommendation is None:
        raise_no_fit(res)
    result = external_result(res, req.model)
    for w in res.license_warnings:
        warn(w)
    _out(json.dumps(result.model_dump(), ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------------- schema ---
@app.command("schema")
def schema_cmd(
    name: Optional[str] = typer.Argument(None, help="plan, fit, params, perf, cost, sweep, check, terraform-external, "
                                                    "tfvars, llamasize.yaml or policy (none: list them)."),
    debug: bool = Debug,
) -> None:
    """Print the JSON Schema (draft 2020-12, with schema_version) of a command's JSON output."""
    from llamasize.render.results import to_json
    from llamasize.schema import SCHEMAS, json_schema

    if name is None:
        width = max(len(k) for k in SCHEMAS)
        _out("".join(f"{k:<{width}}  {v[3]}\n" for k, v in SCHEMAS.items()))
        return
    _out(to_json(json_schema(name)))
