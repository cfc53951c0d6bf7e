"""``llamasize check PATHS --compare BASE``: what a change does to the deployments, the way
infracost comments "this pull request adds $X/month".

**BASE** is, in this order: an existing directory (another copy of the tree, such as a checkout of
the base branch: each path ``P`` is read as ``BASE/P``), an existing ``.json`` file (a saved
``check --format json`` report), or else a git revision (``origin/main``, a sha), whose files are
listed with ``git ls-tree`` and read with ``git cat-file --batch`` (the bytes ``git show REV:path``
prints, in one process): nothing is checked out and the work tree is not touched. The same rules, waivers and ``--ignore`` apply to both sides (the baseline only to the
paths given).

Deployments are matched by file and ``Kind/name`` (a renamed file shows as one removed and one
added deployment). For each: GPUs (per replica x replicas), on-demand USD per hour and per month
(``HOURS_PER_MONTH``), headroom before and after; totals over all deployments; the findings that are
new (by the baseline key, ``llamasize.check.baseline.key``). Unknown prices are left out of the totals
and counted, never taken as zero silently.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from llamasize import SCHEMA_VERSION
from llamasize.check.baseline import key as finding_key
from llamasize.check.report import CheckedDeployment, CheckOptions, CheckReport, CheckSummary, Finding
from llamasize.check.run import YAML_SUFFIXES, MemoryFile, check_paths
from llamasize.errors import UsageError
from llamasize.files import MAX_MANIFEST_FILE_BYTES, read_bytes_capped
from llamasize.plan.pricing import HOURS_PER_YEAR
from llamasize.render.common import to_json
from llamasize.text import escape_controls, json_escape_invisible, quote_if_needed, quote_value

#: Hours in the month of the USD/month figures: 8,760 / 12 = 730 (the month infracost and the
#: cloud price calculators use; ``plan.pricing.HOURS_PER_YEAR``).
HOURS_PER_MONTH = HOURS_PER_YEAR / 12
#: Longest time one git command may take (a local repository: reading objects only).
GIT_TIMEOUT_S = 60
#: Fields whose change makes a deployment "changed".
COMPARED = ("model", "model_ref", "gpus", "gpu_refs", "gpu_count", "replicas", "quant", "tensor_parallel_size",
            "pipeline_parallel_size", "data_parallel_size", "expert_parallel", "kv_cache_dtype", "context_tokens",
            "batch", "fits", "headroom_fraction", "price_usd_per_hour", "status")


class DeploymentSide(BaseModel):
    """One deployment on one side of the comparison."""

    model_config = ConfigDict(frozen=True)

    model: str | None
    gpu: str
    #: GPUs of every replica (GPUs per replica x replicas); None when the count is unknown.
    gpus: int | None
    replicas: int
    usd_per_hour: float | None
    usd_per_month: float | None
    headroom_fraction: float | None
    status: Literal["pass", "warn", "fail"]


class DeploymentChange(BaseModel):
    """A deployment added, removed, changed or unchanged."""

    model_config = ConfigDict(frozen=True)

    change: Literal["added", "removed", "changed", "unchanged"]
    id: str
    file: str
    before: DeploymentSide | None
    after: DeploymentSide | None
    #: The CheckedDeployment fields that differ (``COMPARED``).
    fields: list[str]
    #: after - before, USD per month (None when a side's price is unknown).
    delta_usd_per_month: float | None


class CompareTotals(BaseModel):
    """Sums over every deployment of each side (deployments without a price are counted apart)."""

    model_config = ConfigDict(frozen=True)

    gpus_before: int
    gpus_after: int
    usd_per_hour_before: float
    usd_per_hour_after: float
    usd_per_month_before: float
    usd_per_month_after: float
    delta_usd_per_month: float
    #: Deployments whose price is unknown (not in the sums above).
    unpriced_before: int
    unpriced_after: int


class CompareReport(BaseModel):
    """The JSON of ``llamasize check --compare BASE --format json``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    base: str
    base_kind: Literal["directory", "git", "report"]
    hours_per_month: float = HOURS_PER_MONTH
    deployments: list[DeploymentChange]
    totals: CompareTotals
    #: Findings of the paths given that the base does not have (matched by the baseline key).
    new_findings: list[Finding]
    #: Findings of the base that are gone.
    fixed_findings: int
    summary_before: CheckSummary
    summary_after: CheckSummary
    fail_on: Literal["error", "warning"]
    #: The policy's largest allowed increase of the monthly total (None: no limit).
    max_monthly_increase_usd: float | None
    increase_above_policy: bool
    #: The check of the paths given failed (findings at or above fail_on).
    check_failed: bool
    #: check_failed or increase_above_policy (exit status 1).
    failed: bool


# ------------------------------------------------------------------------------ reading BASE ---
def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    """stdout of ``git ARGS`` in ``cwd`` (UsageError with git's first stderr line on failure)."""
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    try:
        p = subprocess.run(["git", "--no-pager", "--literal-pathspecs", "-c", "core.quotepath=off", *args], cwd=cwd,
                           env=env, input=stdin, capture_output=True, timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise UsageError("--compare with a git revision needs git on the PATH") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if p.returncode != 0:
        first = (p.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[0]
        raise UsageError(escape_controls(f"git {args[0]}: {first}"))
    return p.stdout


def _relative(path: str, cwd: Path) -> str:
    """``path`` relative to ``cwd`` with forward slashes (UsageError when it lies outside)."""
    p = Path(os.path.normpath(os.path.join(cwd, path)))
    try:
        rel = p.relative_to(Path(os.path.normpath(cwd)))
    except ValueError:
        raise UsageError(f"{quote_if_needed(path)}: --compare needs paths inside the current directory") from None
    return rel.as_posix()


def _hidden(rel: str) -> bool:
    """A path below a hidden directory or node_modules (``run.discover`` skips those too)."""
    dirs = rel.split("/")[:-1]
    return any(d.startswith(".") or d == "node_modules" for d in dirs)


def git_files(rev: str, paths: list[str], cwd: Path) -> list[MemoryFile]:
    """The manifests under ``paths`` at git revision ``rev``: named files as they are, directories'
    ``*.yaml``/``*.yml`` (hidden directories skipped). Listed with ``git ls-tree`` and read in one
    ``git cat-file --batch`` (the bytes ``git show REV:path`` prints); nothing is checked out."""
    if rev.startswith("-"):
        raise UsageError(f"--compare {quote_value(rev)}: not a directory, report or git revision")
    _git(["rev-parse", "--is-inside-work-tree"], cwd)
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
                      cwd).decode().strip()
    except UsageError:
        raise UsageError(f"--compare {quote_value(rev)}: not a directory, a .json report or a git revision of "
                         "this repository") from None
    prefix = _git(["rev-parse", "--show-prefix"], cwd).decode("utf-8", "surrogateescape").strip()
    wanted: dict[str, tuple[str, str]] = {}  # repository path -> (shown path, blob id)
    for raw in paths:
        rel = _relative(raw, cwd)
        repo_path = (prefix + ("" if rel == "." else rel)).rstrip("/") or "."
        listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, "--", repo_path], cwd)
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, name = entry.split(b"\t", 1)
            mode, kind, blob = meta.split()
            path = name.decode("utf-8", "surrogateescape")
            if kind != b"blob" or mode not in (b"100644", b"100755") or path in wanted:
                continue
            shown = path[len(prefix):] if path.startswith(prefix) else path
            exact = path == repo_path
            if not exact and (not path.endswith(YAML_SUFFIXES) or _hidden(shown[len(rel):] if rel != "." else shown)):
                continue
            wanted[path] = (shown, blob.decode())
    blobs = _cat_blobs([b for _, b in wanted.values()], cwd)
    return sorted((MemoryFile(shown, blobs[b][:MAX_MANIFEST_FILE_BYTES + 1]) for shown, b in wanted.values()),
                  key=lambda m: m.display)


def _cat_blobs(ids: list[str], cwd: Path) -> dict[str, bytes]:
    """The contents of blobs by id, from one ``git cat-file --batch`` (``<id> blob <size>\\n<data>\\n``
    per object)."""
    if not ids:
        return {}
    raw = _git(["cat-file", "--batch"], cwd, stdin=("\n".join(ids) + "\n").encode())
    out: dict[str, bytes] = {}
    pos = 0
    for want in ids:
        end = raw.index(b"\n", pos)
        header = raw[pos:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise UsageError(f"git cat-file: cannot read object {want}")
        size = int(header[2])
        out[want] = raw[end + 1:end + 1 + size]
        pos = end + 1 + size + 1
    return out


def base_report(base: str, paths: list[str], reg, options: CheckOptions) -> tuple[CheckReport, str]:
    """The check report of BASE and its kind (see the module docstring)."""
    cwd = options.cwd if options.cwd is not None else Path.cwd()
    opts = CheckOptions(policy=options.policy, fail_on=options.fail_on, strict=options.strict,
                        default_gpu=options.default_gpu, ignore=options.ignore)
    b = Path(base)
    if b.is_dir():
        mine = [_relative(p, cwd) for p in paths]
        root = b.resolve()
        there = [str(root / r) for r in mine if (root / r).exists()]
        return check_paths(there, reg, _with_cwd(opts, root)), "directory"
    if b.is_file() and b.suffix == ".json":
        raw = read_bytes_capped(b, "check report", 8 * MAX_MANIFEST_FILE_BYTES)
        try:
            return CheckReport.model_validate_json(raw), "report"
        except ValidationError as e:
            raise UsageError(f"{quote_if_needed(base)}: not a llamasize check --format json report "
                             f"({e.error_count()} problems)") from None
    return check_paths(git_files(base, paths, cwd), reg, opts), "git"


def _with_cwd(o: CheckOptions, cwd: Path) -> CheckOptions:
    return CheckOptions(policy=o.policy, fail_on=o.fail_on, strict=o.strict, default_gpu=o.default_gpu,
                        ignore=o.ignore, cwd=cwd)


# ---------------------------------------------------------------------------------- the diff ---
def _gpu_shown(d: CheckedDeployment) -> str:
    return ",".join(d.gpus) or ",".join(quote_if_needed(g) for g in d.gpu_refs) or "GPU ?"


def _cents(x: float) -> float:
    """USD rounded to the cent (sums of floats otherwise print as 40558.800000000003)."""
    return round(x, 2)


def side(d: CheckedDeployment) -> DeploymentSide:
    """A deployment's GPUs, prices and headroom."""
    price = d.price_usd_per_hour
    return DeploymentSide(model=d.model or d.model_ref, gpu=_gpu_shown(d),
                          gpus=d.gpu_count * d.replicas if d.gpu_count is not None else None, replicas=d.replicas,
                          usd_per_hour=price, usd_per_month=None if price is None else _cents(price * HOURS_PER_MONTH),
                          headroom_fraction=d.headroom_fraction, status=d.status)


def compare_reports(before: CheckReport, after: CheckReport, base: str, kind: str,
                    max_monthly_increase: float | None) -> CompareReport:
    """The comparison of two check reports."""
    old = {(d.file, d.id): d for d in before.deployments}
    new = {(d.file, d.id): d for d in after.deployments}
    changes = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        sa, sb = (side(a) if a else None), (side(b) if b else None)
        if a is None:
            change, fields = "added", []
        elif b is None:
            change, fields = "removed", []
        else:
            fields = [f for f in COMPARED if getattr(a, f) != getattr(b, f)]
            change = "changed" if fields else "unchanged"
        ma = 0.0 if sa is None else sa.usd_per_month
        mb = 0.0 if sb is None else sb.usd_per_month
        delta = None if (ma is None or mb is None) else _cents(mb - ma)
        changes.append(DeploymentChange(change=change, id=k[1], file=k[0], before=sa, after=sb, fields=fields,
                                        delta_usd_per_month=delta))

    def total(sides, attr):
        return _cents(sum(getattr(s, attr) for s in sides if s is not None and getattr(s, attr) is not None))

    befores = [c.before for c in changes if c.before is not None]
    afters = [c.after for c in changes if c.after is not None]
    m_before, m_after = total(befores, "usd_per_month"), total(afters, "usd_per_month")
    totals = CompareTotals(
        gpus_before=total(befores, "gpus"), gpus_after=total(afters, "gpus"),
        usd_per_hour_before=total(befores, "usd_per_hour"), usd_per_hour_after=total(afters, "usd_per_hour"),
        usd_per_month_before=m_before, usd_per_month_after=m_after, delta_usd_per_month=_cents(m_after - m_before),
        unpriced_before=sum(s.usd_per_hour is None for s in befores),
        unpriced_after=sum(s.usd_per_hour is None for s in afters))
    known = Counter(finding_key(f) for f in before.findings)
    fresh = []
    for f in after.findings:
        k = finding_key(f)
        if known[k] > 0:
            known[k] -= 1
        else:
            fresh.append(f)
    over = max_monthly_increase is not None and totals.delta_usd_per_month > max_monthly_increase
    return CompareReport(
        base=base, base_kind=kind, deployments=changes, totals=totals, new_findings=fresh,
        fixed_findings=sum(known.values()), summary_before=before.summary, summary_after=after.summary,
        fail_on=after.fail_on, max_monthly_increase_usd=max_monthly_increase, increase_above_policy=over,
        check_failed=after.failed, failed=after.failed or over)


# --------------------------------------------------------------------------------- rendering ---
COMPARE_FORMATS = ("text", "markdown", "json")
#: First line of the markdown comment: a bot finds its earlier comment by it and edits it in place.
COMMENT_MARKER = "<!-- llamasize-compare -->"


def _usd(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "?"
    if signed:
        return f"{'+' if x >= 0 else '-'}${abs(x):,.2f}"
    return f"${x:,.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _gpus(s: DeploymentSide | None) -> str:
    if s is None:
        return "-"
    return f"{s.gpus if s.gpus is not None else '?'} x {s.gpu}"


def _arrow(a: str, b: str) -> str:
    return a if a == b else f"{a} -> {b}"


def _row(c: DeploymentChange) -> list[str]:
    """change, deployment, GPUs, $/h, $/month (with the delta), headroom before -> after."""
    a, b = c.before, c.after
    hour = _arrow(_usd(a.usd_per_hour) if a else "-", _usd(b.usd_per_hour) if b else "-")
    month = _arrow(_usd(a.usd_per_month) if a else "-", _usd(b.usd_per_month) if b else "-")
    if c.change != "unchanged":
        month += f" ({_usd(c.delta_usd_per_month, signed=True)})"
    head = _arrow(_pct(a.headroom_fraction) if a else "-", _pct(b.headroom_fraction) if b else "-")
    return [c.change, c.id, _arrow(_gpus(a), _gpus(b)), hour, month, head]


def _counts(r: CompareReport) -> str:
    n = Counter(c.change for c in r.deployments)
    return ", ".join(f"{n[k]} {k}" for k in ("added", "removed", "changed", "unchanged"))


def _policy_line(r: CompareReport) -> str | None:
    if r.max_monthly_increase_usd is None:
        return None
    verdict = "above" if r.increase_above_policy else "within"
    return (f"monthly increase {_usd(r.totals.delta_usd_per_month, signed=True)} is {verdict} the policy's "
            f"maximum of {_usd(r.max_monthly_increase_usd)}")


def _finding_line(f: Finding) -> str:
    return f"{escape_controls(f.file)}:{f.line}: {f.severity}: {f.rule_id} {f.rule_name}: {escape_controls(f.message)}"


def render_compare_text(r: CompareReport) -> str:
    """The changed deployments (one block each), the totals, the new findings and the verdict."""
    lines = [f"Compared with {escape_controls(r.base)} ({r.base_kind}): {_counts(r)}"]
    for c in r.deployments:
        if c.change == "unchanged":
            continue
        change, ident, gpus, hour, month, head = _row(c)
        lines.append(f"  {change:<8} {escape_controls(c.file)}  {ident}")
        lines += [f"           GPUs {gpus}; headroom {head}", f"           $/h {hour}", f"           $/month {month}"]
    t = r.totals
    lines += [f"Total: {_usd(t.delta_usd_per_month, signed=True)}/month on demand; GPUs {t.gpus_before} -> "
              f"{t.gpus_after}",
              f"  $/month {_usd(t.usd_per_month_before)} -> {_usd(t.usd_per_month_after)}",
              f"  $/h {_usd(t.usd_per_hour_before)} -> {_usd(t.usd_per_hour_after)}"]
    if t.unpriced_before + t.unpriced_after:
        lines.append(f"  {t.unpriced_before + t.unpriced_after} deployment(s) without a price are not in the totals")
    policy = _policy_line(r)
    if policy:
        lines.append(f"Policy: {policy}")
    if r.new_findings:
        lines.append(f"New findings ({len(r.new_findings)}):")
        lines += [f"  {_finding_line(f)}" for f in r.new_findings]
    lines.append(f"Findings fixed: {r.fixed_findings}")
    lines.append(f"{'FAILED' if r.failed else 'OK'}: check {'failed' if r.check_failed else 'passed'} "
                 f"(failing at: {r.fail_on})" + ("; cost increase above policy" if r.increase_above_policy else ""))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return escape_controls(text).replace("\\", "\\\\").replace("|", "\\|")


def render_compare_markdown(r: CompareReport) -> str:
    """A pull-request comment: the monthly change first, a table of the deployments that changed,
    the totals row, the policy verdict and the new findings (``COMMENT_MARKER`` on the first line)."""
    t = r.totals
    out = [COMMENT_MARKER, "## llamasize: deployment changes", "",
           f"**{_usd(t.delta_usd_per_month, signed=True)}/month** on demand "
           f"({_usd(t.usd_per_month_before)} -> {_usd(t.usd_per_month_after)} per month, "
           f"{_usd(t.usd_per_hour_before)} -> {_usd(t.usd_per_hour_after)} per hour; "
           f"GPUs {t.gpus_before} -> {t.gpus_after}). Compared with `{_md(r.base)}`: {_counts(r)}.", ""]
    shown = [c for c in r.deployments if c.change != "unchanged"]
    if shown:
        out += ["| change | deployment | file | GPUs | $/hour | $/month | headroom |", "|---|---|---|---|---|---|---|"]
        for c in shown:
            change, ident, gpus, hour, month, head = _row(c)
            out.append("| " + " | ".join(_md(x) for x in [change, ident, f"`{c.file}`", gpus, hour, month, head])
                       + " |")
        out.append("| **total** | | | " + " | ".join(_md(x) for x in [
            _arrow(str(t.gpus_before), str(t.gpus_after)),
            _arrow(_usd(t.usd_per_hour_before), _usd(t.usd_per_hour_after)),
            _arrow(_usd(t.usd_per_month_before), _usd(t.usd_per_month_after))
            + f" ({_usd(t.delta_usd_per_month, signed=True)})", ""]) + " |")
        out.append("")
    unpriced = t.unpriced_before + t.unpriced_after
    if unpriced:
        out += [f"{unpriced} deployment(s) have no catalogue price and are not in the totals.", ""]
    policy = _policy_line(r)
    if policy:
        out += [f"{':x:' if r.increase_above_policy else ':white_check_mark:'} Policy: {policy}.", ""]
    if r.new_findings:
        out += [f"### New findings ({len(r.new_findings)})", "", "| severity | rule | location | message |",
                "|---|---|---|---|"]
        for f in r.new_findings:
            out.append("| " + " | ".join(_md(x) for x in [f.severity, f"{f.rule_id} {f.rule_name}",
                                                           f"`{f.file}:{f.line}`", f.message]) + " |")
        out.append("")
    out.append(f"Findings fixed: {r.fixed_findings}. Check: **{'failed' if r.check_failed else 'passed'}** "
               f"(failing at: {r.fail_on}). Prices: the catalogue's on-demand quotes; a month is "
               f"{HOURS_PER_MONTH:g} hours.")
    return "\n".join(out) + "\n"


def render_compare(r: CompareReport, fmt: str) -> str:
    """The comparison in one of ``COMPARE_FORMATS``."""
    if fmt == "json":
        return json_escape_invisible(to_json(r))
    return {"text": render_compare_text, "markdown": render_compare_markdown}[fmt](r)
