"""Renderers of a ``CheckReport``: text, json, markdown, github, sarif, junit (one function each).

- **github**: workflow commands, ``::error file=F,line=N,title=T::message`` (``warning`` and
  ``notice`` alike), escaped as ``actions/toolkit`` does (docs/facts/integrations.md 5.3): in the message
  ``%`` -> ``%25``, CR -> ``%0D``, LF -> ``%0A``; in property values also ``:`` -> ``%3A`` and ``,`` ->
  ``%2C``.
- **sarif**: SARIF 2.1.0, one run, every rule in ``tool.driver.rules``, results with ``ruleId``,
  ``ruleIndex``, ``level`` (error / warning / note) and a physical location (relative URI + start line);
  waived findings follow as results with ``suppressions`` (``inSource`` for an inline waiver, with
  its reason as the justification; ``external`` for ``--ignore`` and the baseline).
- **junit**: ``<testsuites>`` with one ``<testsuite>`` per file and one ``<testcase>`` per
  deployment (plus one per file-level finding); findings at or above the failure level become
  ``<failure>`` elements, the others go to ``<system-out>``.
- **markdown**: a summary for a pull request or ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from urllib.parse import quote

from llamasize import __version__
from llamasize.check.report import SEVERITY_RANK, CheckedDeployment, CheckReport, Finding
from llamasize.check.rules import rule_table
from llamasize.render.common import finish, to_json
from llamasize.text import escape_controls, json_escape_invisible, quote_if_needed

CHECK_FORMATS = ("text", "json", "markdown", "github", "sarif", "junit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_GH_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}
_STATUS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def render_check(report: CheckReport, fmt: str) -> str:
    """The report in one of ``CHECK_FORMATS``."""
    return {"text": render_text, "json": render_json, "markdown": render_markdown, "github": render_github,
            "sarif": render_sarif, "junit": render_junit}[fmt](report)


def render_json(report: CheckReport) -> str:
    """The report's JSON (``to_json``): the data as it is, with invisible and bidi characters of
    user values written as ``\\uXXXX`` escapes (``json_escape_invisible``)."""
    return json_escape_invisible(to_json(report))


# -------------------------------------------------------------------------------------- text ---
def summary_line(report: CheckReport) -> str:
    """``3 files, 4 deployments: 2 passed, 1 with warnings, 1 failed; 3 errors, 1 warning, 0 notes``."""
    s = report.summary

    def n(k: int, word: str) -> str:
        return f"{k} {word}{'' if k == 1 else 's'}"

    line = (f"{n(s.files, 'file')}, {n(s.deployments, 'deployment')}: {s.passed} passed, {s.warned} with warnings, "
            f"{s.failed} failed; {n(s.errors, 'error')}, {n(s.warnings, 'warning')}, {n(s.notes, 'note')}")
    return line + verified_counts(report) + waived_tail(s)


def verified_counts(report: CheckReport) -> str:
    """``; memory checked for 3, not verified 2; 1 not modelled, 4 documents not serving deployments``
    (issue 13 item 3: an exit-0 run says how many deployments were not verified)."""
    s = report.summary
    out = f"; memory checked for {s.checked}, not verified {s.unverified}" if s.deployments else ""
    if s.not_modelled:
        out += f"; {s.not_modelled} not modelled"
    if s.not_serving:
        out += (f"; {s.not_serving} document not a serving deployment" if s.not_serving == 1 else
                f"; {s.not_serving} documents not serving deployments")
    return out


def waived_tail(s) -> str:
    """``; 2 waived`` when findings were waived, ignored or baselined (nothing otherwise)."""
    return f"; {s.waived} waived" if s.waived else ""


def shown_id(d: CheckedDeployment) -> str:
    """A deployment's ``Kind/name`` as every format shows it: the name bare when plain, else quoted
    with control and bidi characters escaped (the ``Kind/name:`` prefix of its findings' messages)."""
    suffix = d.id[len(d.kind) + 1 + len(d.name):]
    return f"{d.kind}/{quote_if_needed(d.name)}{suffix}"


def _model_shown(d: CheckedDeployment) -> str:
    """The catalogue model, else the manifest's reference (quoted when not plain)."""
    return d.model or (quote_if_needed(d.model_ref) if d.model_ref else "model ?")


def _gpus_shown(d: CheckedDeployment) -> str:
    """The catalogue GPUs, else the manifest's GPU labels (quoted when not plain)."""
    return ",".join(d.gpus) or ",".join(quote_if_needed(g) for g in d.gpu_refs)


def _describe(d) -> str:
    """One line about a deployment: model, quant, GPUs, layout, context, headroom, price."""
    parts = [_model_shown(d)]
    if d.quant:
        parts[0] += f" ({d.quant})"
    gpus = _gpus_shown(d) or "GPU ?"
    layout = ""
    if d.tensor_parallel_size is not None:
        layout = f" TP{d.tensor_parallel_size} PP{d.pipeline_parallel_size}"
        if d.data_parallel_size and d.data_parallel_size > 1:
            layout += f" DP{d.data_parallel_size}"
        if d.expert_parallel:
            layout += " EP"
    parts.append(f"{d.gpu_count if d.gpu_count is not None else '?'} x {gpus}{layout}")
    if d.context_tokens:
        parts.append(f"ctx {d.context_tokens:,}" + (f" x {d.batch}" if d.batch > 1 else ""))
    if d.headroom_fraction is not None:
        parts.append(f"headroom {d.headroom_fraction:.1%}")
    if d.price_usd_per_hour is not None:
        parts.append(f"${d.price_usd_per_hour:,.2f}/h" + (f" ({d.replicas} replicas)" if d.replicas > 1 else ""))
    return ", ".join(parts)


def render_text(report: CheckReport) -> str:
    """Compiler-style finding lines (``file:line: severity: RULE name: message``), the deployments
    with their verdicts, and a summary line."""
    lines = [_finding_text(f) for f in report.findings]
    if report.deployments:
        if lines:
            lines.append("")
        lines.append("Deployments")
        for d in report.deployments:
            lines.append(f"  {_STATUS[d.status]}  {escape_controls(d.file)}:{d.line}  {shown_id(d)}  {_describe(d)}")
    if report.skipped:  # every document not checked, and why (issue 13 item 1)
        lines += ["", "Not checked"] if lines else ["Not checked"]
        lines += [f"  {escape_controls(x.file)}:{x.line}  {escape_controls(x.id)}  {x.status}: "
                  f"{escape_controls(x.reason)}" for x in report.skipped]
    if lines:
        lines.append("")
    verdict = "FAILED" if report.failed else "OK"
    lines.append(f"{verdict}: {summary_line(report)} (failing at: {report.fail_on})")
    return finish("\n".join(lines) + "\n", "text")  # fitted to a terminal's width and coloured there


# ---------------------------------------------------------------------------------- markdown ---
def _md_cell(text: str) -> str:
    """Text safe inside a markdown table cell (control characters escaped, ``|`` and ``\\``
    backslash-escaped)."""
    return escape_controls(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


_MD_STATUS = {"pass": ":white_check_mark: pass", "warn": ":warning: warn", "fail": ":x: fail"}
_MD_SEVERITY = {"error": ":x: error", "warning": ":warning: warning", "note": ":information_source: note"}


def render_markdown(report: CheckReport) -> str:
    """A GitHub-flavoured markdown summary: verdict, deployments table, findings table."""
    out = ["## llamasize check", "",
           f"**{'Failed' if report.failed else 'Passed'}**: {summary_line(report)} (failing at: {report.fail_on})", ""]
    if report.deployments:
        out += ["| status | deployment | file | model | GPUs | context | headroom | $/h |",
                "|---|---|---|---|---|---|---|---|"]
        for d in report.deployments:
            gpus = _gpus_shown(d) or "?"
            count = d.gpu_count if d.gpu_count is not None else "?"
            out.append("| " + " | ".join(_md_cell(x) for x in [
                _MD_STATUS[d.status], shown_id(d), f"`{d.file}:{d.line}`",
                (_model_shown(d) if (d.model or d.model_ref) else "?") + (f" ({d.quant})" if d.quant else ""),
                f"{count} x {gpus}", f"{d.context_tokens:,}" if d.context_tokens else "-",
                f"{d.headroom_fraction:.1%}" if d.headroom_fraction is not None else "-",
                f"{d.price_usd_per_hour:,.2f}" if d.price_usd_per_hour is not None else "-",
            ]) + " |")
        out.append("")
    if report.findings:
        out += ["### Findings", "", "| severity | rule | location | message |", "|---|---|---|---|"]
        for f in report.findings:
            out.append("| " + " | ".join(_md_cell(x) for x in [
                _MD_SEVERITY[f.severity], f"{f.rule_id} {f.rule_name}", f"`{f.file}:{f.line}`", f.message]) + " |")
        out.append("")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ github ---
def escape_data(text: str) -> str:
    """Workflow-command message escaping (actions/toolkit ``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Workflow-command property escaping (actions/toolkit ``escapeProperty``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(f: Finding) -> str:
    """``::error file=F,line=N,title=RULE name::message`` (escaped as the toolkit does, then any
    other control or bidi character escaped ``repr``-style)."""
    title = escape_property(f"{f.rule_id} {f.rule_name}")
    props = f"file={escape_controls(escape_property(f.file))},line={f.line},title={title}"
    return f"::{_GH_COMMAND[f.severity]} {props}::{escape_controls(escape_data(f.message))}"


def render_github(report: CheckReport) -> str:
    """One annotation per finding, then the summary as a plain log line."""
    lines = [github_annotation(f) for f in report.findings]
    lines.append(f"llamasize check: {'FAILED' if report.failed else 'OK'}: {summary_line(report)} "
                 f"(failing at: {report.fail_on})")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- sarif ---
def _uri(path: str) -> str:
    """A SARIF artifact URI: relative paths percent-encoded, absolute ones as file:// URIs."""
    if path.startswith("/"):
        return "file://" + quote(path)
    return quote(path)


def sarif_document(report: CheckReport) -> dict:
    """The SARIF 2.1.0 log as a dict."""
    rules = rule_table()
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    suppressed = [(w.finding, {"kind": "inSource" if w.by == "inline" else "external",
                               "justification": w.reason or ("--ignore" if w.by == "ignore" else "in the baseline")})
                  for w in report.waived]
    for f, suppression in [(f, None) for f in report.findings] + suppressed:
        results.append({
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            "level": f.severity,
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.file)},
                                                "region": {"startLine": f.line}}}],
            **({"properties": {"deployment": f.deployment}} if f.deployment else {}),
            **({"suppressions": [suppression]} if suppression else {}),
        })
    artifacts = [{"location": {"uri": _uri(p)}} for p in report.files]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "llamasize",
                "version": __version__,
                "rules": [{
                    "id": r.id,
                    "name": r.name,
                    "shortDescription": {"text": r.name.replace("-", " ")},
                    "fullDescription": {"text": r.description},
                    "help": {"text": r.description + " See the README's 'llamasize check' rule table."},
                    "defaultConfiguration": {"level": r.severity},
                } for r in rules],
            }},
            "artifacts": artifacts,
            "results": results,
            "invocations": [{"executionSuccessful": True, "exitCode": 1 if report.failed else 0}],
        }],
    }


def render_sarif(report: CheckReport) -> str:
    """SARIF 2.1.0 JSON (2-space indent, deterministic; invisible characters as ``\\uXXXX``)."""
    return json_escape_invisible(json.dumps(sarif_document(report), indent=2, ensure_ascii=False)) + "\n"


# ------------------------------------------------------------------------------------- junit ---
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    """Text XML 1.0 can carry (control characters replaced)."""
    return _XML_BAD.sub("?", text)


def _finding_text(f: Finding) -> str:
    """A finding as one compiler-style line (``file:line: severity: RULE name: message``; the file
    and the message with control characters escaped, so a value cannot start another line)."""
    return f"{escape_controls(f.file)}:{f.line}: {f.severity}: {f.rule_id} {f.rule_name}: {escape_controls(f.message)}"


def render_junit(report: CheckReport) -> str:
    """JUnit XML: a testsuite per file, a testcase per deployment (and per file-level finding)."""
    threshold = SEVERITY_RANK[report.fail_on]
    by_file: dict[str, list[tuple[str, int, list[Finding]]]] = defaultdict(list)
    for d in report.deployments:  # ids are unique within a file (``run.tell_apart``)
        fs = [f for f in report.findings if f.file == d.file and f.deployment == d.id]
        by_file[d.file].append((shown_id(d), d.line, fs))
    for f in report.findings:
        if f.deployment is None:
            by_file[f.file].append((f"{f.rule_id} {f.rule_name}", f.line, [f]))
    root = ET.Element("testsuites", name="llamasize check")
    total = failures = 0
    for file in sorted(by_file):
        cases = sorted(by_file[file], key=lambda c: (c[1], c[0]))
        shown = escape_controls(file)
        suite = ET.SubElement(root, "testsuite", name=_x(shown))
        n_fail = 0
        for name, line, fs in cases:
            case = ET.SubElement(suite, "testcase", classname=_x(shown), name=_x(f"{name} (line {line})"),
                                 file=_x(shown), line=str(line))
            failing = [f for f in fs if SEVERITY_RANK[f.severity] >= threshold]
            others = [f for f in fs if SEVERITY_RANK[f.severity] < threshold]
            if failing:
                n_fail += 1
                first = failing[0]
                fail = ET.SubElement(case, "failure",
                                     message=_x(f"{first.rule_id} {first.rule_name}: {escape_controls(first.message)}"),
                                     type=first.rule_id)
                fail.text = _x("\n".join(_finding_text(f) for f in failing))
            if others:
                out = ET.SubElement(case, "system-out")
                out.text = _x("\n".join(_finding_text(f) for f in others))
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        total += len(cases)
        failures += n_fail
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RULE_FORMATS = ("text", "json", "markdown")


def rules_markdown() -> str:
    """The rule table of the README (a test keeps the README in step with ``RULES``)."""
    rows = ["| rule | name | severity | what it means | the line points at |", "|---|---|---|---|---|"]
    for r in rule_table():
        sev = r.severity + (" (error with `--strict`)" if r.strict_error else "")
        rows.append(f"| `{r.id}` | `{r.name}` | {sev} | {r.description} | {r.where} |")
    return "\n".join(rows) + "\n"


def rules_json() -> str:
    """Every rule as JSON: id, name, severity, strict_error, description, where."""
    return json.dumps([{"id": r.id, "name": r.name, "severity": r.severity, "strict_error": r.strict_error,
                        "description": r.description, "where": r.where} for r in rule_table()],
                      indent=2, ensure_ascii=False) + "\n"


def rules_text() -> str:
    """One line per rule: ``LS001  does-not-fit  error  description``."""
    rules = rule_table()
    width = max(len(r.name) for r in rules)
    return "".join(f"{r.id}  {r.name:<{width}}  {r.severity + ('*' if r.strict_error else ''):<8}  {r.description}\n"
                   for r in rules) + "* an error with --strict\n"


def render_rules(fmt: str) -> str:
    """The rule registry in one of ``RULE_FORMATS`` (``llamasize check --list-rules``)."""
    return {"text": rules_text, "json": rules_json, "markdown": rules_markdown}[fmt]()
