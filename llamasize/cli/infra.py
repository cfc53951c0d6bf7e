"""CLI commands for machines: ``check`` (CI on serving manifests), ``terraform-external``
(Terraform's external data source) and ``schema`` (JSON Schemas of the outputs).

As elsewhere, each command parses, calls one core function and renders; errors are one line with
the exit codes of ``errors.ExitCode``.
"""

from __future__ import annotations

import os
import sys

import typer

from llamasize.cli import check_inputs, inputs
from llamasize.cli.options import (
    Baseline, CatalogDir, Compare, Debug, DefaultGpu, FailOn, Format, Ignore, ListRules, MaxMonthlyIncrease,
    MaxUsdPerHour, MinHeadroom, Paths, Policy, SchemaName, SpecsDir, StdinName, Strict, WriteBaseline,
)
from llamasize.cli.options import RequireVerified
from llamasize.cli.output import out, raise_no_fit, warn
from llamasize.errors import ExitCode, UsageError
from llamasize.text import quote_value


def check_cmd(
    paths: Paths = None, fmt: Format = None, policy: Policy = None, max_usd_per_hour: MaxUsdPerHour = None,
    min_headroom: MinHeadroom = None, fail_on: FailOn = None, strict: Strict = None, default_gpu: DefaultGpu = None,
    list_rules: ListRules = False, ignore: Ignore = None, baseline: Baseline = None,
    write_baseline: WriteBaseline = None, stdin_name: StdinName = None, compare: Compare = None,
    max_monthly_increase: MaxMonthlyIncrease = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None,
    debug: Debug = False, require_verified: RequireVerified = None,
) -> None:
    """Check serving manifests (Kubernetes, KServe, LeaderWorkerSet, Helm values, llamasize.yaml;
    '-' reads one from stdin). Exit 0 clean, 1 findings at or above --fail-on (with --compare also a
    monthly increase above the policy), 2 usage or unreadable input."""
    from llamasize.check.formats import RULE_FORMATS, render_check, render_rules
    from llamasize.check.run import check_paths

    if list_rules:
        rule_fmt = (fmt or "text").strip().lower()
        if rule_fmt not in RULE_FORMATS:
            raise UsageError(f"unknown --list-rules format {quote_value(fmt)} (choices: {', '.join(RULE_FORMATS)})")
        return out(render_rules(rule_fmt))
    if not paths:
        raise UsageError("Missing argument 'paths'. (see 'llamasize check --help')")
    on_github = os.environ.get("GITHUB_ACTIONS", "").lower() == "true"
    f = check_inputs.compare_format(fmt) if compare is not None else inputs.check_format(fmt, on_github)
    options = inputs.check_options(policy=policy, max_usd_per_hour=max_usd_per_hour, min_headroom=min_headroom,
                                   fail_on=fail_on, strict=strict, default_gpu=default_gpu,
                                   require_verified=require_verified)
    options = check_inputs.lint_options(options, policy=policy, ignore=ignore, baseline=baseline,
                                        max_monthly_increase=max_monthly_increase)
    manifests = check_inputs.paths_with_stdin(paths, stdin_name, compare is not None)
    reg = inputs.registry(specs_dir, catalog_dir)
    report = check_paths(manifests, reg, options)
    if not report.files:
        warn("no manifest files found (directories are searched for *.yaml and *.yml)")
    if write_baseline is not None:
        from llamasize.check.baseline import render_baseline

        kept = list(report.findings) + [w.finding for w in report.waived if w.by == "baseline"]
        write_baseline.write_text(render_baseline(kept), encoding="utf-8")
        warn(f"wrote {len(kept)} finding(s) to the baseline {quote_value(str(write_baseline))}")
    if compare is not None:
        from llamasize.check.compare import base_report, compare_reports, render_compare

        before, kind = base_report(compare, list(paths), reg, options)
        result = compare_reports(before, report, compare, kind, options.max_monthly_increase)
        out(render_compare(result, f))
        raise typer.Exit(ExitCode.FINDINGS if result.failed else ExitCode.OK)
    out(render_check(report, f))
    raise typer.Exit(ExitCode.FINDINGS if report.failed else ExitCode.OK)


def terraform_external_cmd(debug: Debug = False) -> None:
    """Terraform's external data source: a JSON query of strings on stdin (plan's flag names in
    snake_case), a flat JSON object of strings on stdout (the whole plan under plan_json).
    On error: one line on stderr, nothing on stdout, a non-zero exit."""
    import json

    from llamasize.estimate.params import architecture_warnings
    from llamasize.integrations.terraform import MAX_QUERY_BYTES, external_result, parse_query
    from llamasize.plan.planner import plan

    stdin = sys.stdin
    if stdin is None or (hasattr(stdin, "isatty") and stdin.isatty()):
        raise UsageError("terraform-external reads a JSON query on stdin, e.g. echo "
                         "'{\"model\":\"maverick\",\"quant\":\"int4\",\"ctx\":\"1M\"}' | llamasize terraform-external")
    try:
        text = stdin.read(MAX_QUERY_BYTES + 1)
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read the query on stdin: {e}") from None
    req, reg = inputs.terraform_request(parse_query(text))
    res = plan(req, reg)
    if res.recommendation is None:
        raise_no_fit(res.suggestions)
    result = external_result(res, req.model, reg.gpu(res.recommendation.gpu),
                             gpu_memory_utilization=req.gpu_memory_utilization,
                             mem_fraction_static=req.mem_fraction_static)
    for message in architecture_warnings(req.model) + res.license_warnings:
        warn(message)
    out(json.dumps(result.model_dump(), ensure_ascii=False) + "\n")


def schema_cmd(name: SchemaName = None, debug: Debug = False) -> None:
    """Print the JSON Schema (draft 2020-12, with schema_version) of a command's JSON output."""
    from llamasize.render.common import to_json
    from llamasize.schema import SCHEMAS, json_schema

    if name is None:
        width = max(len(k) for k in SCHEMAS)
        out("".join(f"{k:<{width}}  {v[3]}\n" for k, v in SCHEMAS.items()))
        return
    out(to_json(json_schema(name)))
