"""``llamasize check``: find LLM serving deployments in manifests and check them with the estimator.

Pipeline (the core never prints; ``llamasize.check.formats`` renders the report):

1. **Discover** files: paths named on the command line are read whatever their extension;
   directories are walked (sorted, hidden directories skipped) for ``*.yaml`` / ``*.yml``.
2. **Parse** each file into a line-keeping tree (``llamasize.check.yamltree``; at most
   ``MAX_MANIFEST_FILE_BYTES`` are read).
3. **Extract** serving targets from each document (``llamasize.check.extract``, one module per
   manifest family; flags read by ``llamasize.check.flags``).
4. **Resolve** models, GPUs and settings (``llamasize.check.resolve``), estimate memory with
   ``memory.estimate_memory`` (cached per deployment) and apply the rules of
   ``llamasize.check.rules``; every issue becomes a ``Finding`` with its rule's id, name and severity.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from llamasize.check import resolve
from llamasize.check.extract import describe, documents, extract
from llamasize.check import baseline as baseline_file
from llamasize.check.report import (FAIL_LEVELS, SEVERITY_RANK, CheckedDeployment, CheckOptions, CheckReport,
                                    CheckSummary, Finding, Policy, SkippedDocument)
from llamasize.check.waivers import Suppressor
from llamasize.check.rule import Issue
from llamasize.check.rules import (DEPLOYMENT_RULES, LS012, LS013, LS016, LS017, LS018, LS100, LS101, LS102,
                                   LS103, MEMORY_RULES, PRICE_RULES, context_above_model_maximum,
                                   invalid_parallel_layout)
from llamasize.check.target import GpuEstimate, Resolved, Target
from llamasize.check.yamltree import parse_documents, text
from llamasize.errors import DataError, LlamasizeError, UsageError
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.memory import estimate_memory
from llamasize.estimate.params import architecture_warnings
from llamasize.files import MAX_DATA_FILE_BYTES, MAX_MANIFEST_FILE_BYTES, open_regular_file, pydantic_message, read_bytes_capped
from llamasize.text import escape_controls, quote_if_needed, quote_value

YAML_SUFFIXES = (".yaml", ".yml")
#: File names that hold llamasize's own deployment format.
LLAMASIZE_FILE = re.compile(r"^(.+\.)?llamasize\.ya?ml$")


def load_policy(path: Path) -> Policy:
    """Read a ``--policy`` YAML file (DataError, exit 2, on any problem). Parsed with the guarded
    ``parse_documents``, not libyaml's composer, which crashes on deeply nested input."""
    where = quote_if_needed(str(path))
    try:
        raw = read_bytes_capped(Path(path), "policy file", MAX_DATA_FILE_BYTES)
    except DataError as e:
        raise DataError(escape_controls(str(e))) from None
    duplicates: list[tuple[int, str, int]] = []
    docs, problem = parse_documents(raw, duplicates)
    if problem is not None:
        raise DataError(escape_controls(f"{where}: line {problem.line}: {problem}"))
    if duplicates:
        line, key, before = duplicates[0]
        raise DataError(f"{where}: line {line}: duplicate key {quote_value(key)} (also on line {before})")
    if len(docs) > 1:
        raise DataError(f"{where}: a policy file holds one YAML document, found {len(docs)}")
    data = docs[0] if docs else {}
    if not isinstance(data, dict):
        raise DataError(f"{where}: a policy file must be a mapping of keys, got {type(data).__name__}")
    try:
        return Policy.model_validate(dict(data))
    except ValidationError as e:
        raise DataError(escape_controls(f"{where}: {pydantic_message(e)}")) from None


def _norm_path(path: Path, cwd: Path | None) -> str:
    """Path as shown in findings: relative to ``cwd`` when inside it, with forward slashes."""
    p = Path(os.path.normpath(str(path)))
    if cwd is not None and p.is_absolute():
        try:
            p = p.relative_to(cwd)
        except ValueError:
            pass
    return p.as_posix()


@dataclass
class _Evaluated:
    """A target's summary and findings."""
    deployment: CheckedDeployment
    findings: list[Finding]


class Checker:
    """Evaluates targets against one registry; estimates are cached across the whole run."""

    def __init__(self, reg, options: CheckOptions) -> None:
        self.reg = reg
        self.opt = options
        self.resolver = resolve.Resolver(reg, options.default_gpu)
        self._estimates: dict = {}
        #: Waivers, --ignore and the baseline (``llamasize.check.waivers``): applied to each target's
        #: findings before its verdict, so a waived finding does not fail the deployment.
        self.suppress = Suppressor(options.ignore, Counter(options.baseline), baseline_file.key)

    def finding(self, issue: Issue, file: str, t: Target | None = None) -> Finding:
        """The finding of an issue (its severity raised to error by ``--strict`` where the rule says
        so); a deployment's findings start with its ``Kind/name`` (the name quoted when it is not
        plain, ``llamasize.text.quote_if_needed``). Every message passes ``escape_controls`` last, so
        no newline, ESC or bidi character of a user value reaches any format (issue 10, R14)."""
        r = issue.rule
        message = f"{t.shown_id}: {issue.message}" if t is not None else issue.message
        return Finding(file=file, line=issue.line, rule_id=r.id, rule_name=r.name,
                       severity=r.severity_in(self.opt.strict), message=escape_controls(message),
                       deployment=t.id if t is not None else None)

    def waiver_findings(self) -> list[Finding]:
        """The findings about the inline waivers themselves (malformed: LS110, unused: LS111);
        ``--ignore`` applies to them too."""
        out = [self.finding(i, file) for file, i in self.suppress.waiver_issues()]
        return [f for f in out if f.rule_id not in self.opt.ignore]

    def estimate(self, d: Deployment):
        """``estimate_memory`` once per distinct deployment."""
        e = self._estimates.get(d)
        if e is None:
            e = self._estimates[d] = estimate_memory(d)
        return e

    def evaluate(self, t: Target) -> _Evaluated:
        """All findings of one target and its summary (the steps below, in order)."""
        issues: list[Issue] = list(t.issues)
        assumptions = list(t.assumptions)
        r = Resolved(target=t, limits=resolve.merge_limits(self.opt.policy, t.policy), quant_line=t.line,
                     kv_line=t.line)
        results: list[tuple[object, object]] = []
        if t.engine is not None:  # None: a llamasize.yaml entry that broke its schema
            r.spec, r.hf_name = self.resolver.model(t, issues)
            if r.spec is not None and r.spec.architecture_assumption:  # never a verdict called exact on a guess
                issues += [LS012(t.model.line if t.model is not None else t.line, w)
                           for w in architecture_warnings(r.spec)]
            r.gpus = self.resolver.gpus(t, issues, assumptions)
            resolve.layout(r, issues, assumptions)
            for decide in DEPLOYMENT_RULES:
                issues += decide(r)
            if r.spec is not None:
                resolve.quant(r, issues, assumptions)
                resolve.kv(r, issues)
            resolve.context(r, issues)
            resolve.engine_knobs(r, issues)
            resolve.extras(r, self.resolver.index, issues, assumptions)
            issues += [LS016(line, f"{flag} is not modelled by llamasize (its memory effect, if any, is not in "
                                   "the verdict)") for flag, line in t.unmodelled]
            results = self._memory(r, issues)
            resolve.prices(r)
            for decide in PRICE_RULES:
                issues += decide(r)
        if self.opt.require_verified and not (results and all(e.fits is not None for _, e in results)):
            issues.append(LS018(t.line, "memory not verified (--require-verified): see the findings above on why it "
                                        "could not be checked"))
        findings = self.suppress([self.finding(i, t.file, t) for i in issues])
        return _Evaluated(self._summary(r, results, findings, assumptions), findings)

    def _memory(self, r: Resolved, issues: list[Issue]) -> list[tuple[object, object]]:
        """Estimate every GPU type and apply the memory rules; ``(gpu, estimate)`` of each."""
        t = r.target
        if r.spec is None or not r.gpus or None in (r.tp, r.pp, r.dp) or r.quant is None or r.kv is None:
            return []
        resolve.default_context(r)
        issues += context_above_model_maximum(r)
        layout_issues = invalid_parallel_layout(r)
        if layout_issues:
            issues += layout_issues
            return []
        maxpos = r.spec.max_position_embeddings
        context = min(r.ctx, maxpos) if (r.ctx is not None and maxpos is not None) else (r.ctx or 1)
        results = []
        for g in r.gpus:
            d = Deployment(model=r.spec, gpu=g, gpu_count=r.attn_tp * r.pp * r.attn_dp, quant=r.quant,
                           context_tokens=context, tensor_parallel_size=r.attn_tp, pipeline_parallel_size=r.pp,
                           data_parallel_size=r.attn_dp, expert_parallel=r.ep,
                           kv_cache_dtype=r.kv, batch=r.batch, engine=t.engine, kv_layout=r.knobs["kv_layout"],
                           gpu_memory_utilization=r.knobs.get("gmu"), mem_fraction_static=r.knobs.get("mfs"),
                           max_num_batched_tokens=r.knobs.get("mnbt"), max_num_seqs=r.knobs.get("mns"),
                           **r.extras)
            try:
                e = self.estimate(d)
            except LlamasizeError as err:
                issues.append(LS013(t.line, str(err)))
                continue
            results.append((g, e))
            ge = GpuEstimate(r, g, e)
            for decide in MEMORY_RULES:  # the fit rules apply only when the fit is known
                issues += decide(ge)
            if e.fits is None:
                issues.append(LS012(t.line, f"{ge.what}: whether it fits is unknown ({'; '.join(e.unknown)})"))
        return results

    def _summary(self, r: Resolved, results, findings, assumptions) -> CheckedDeployment:
        """The deployment's line of the report: what was found, the verdict, the worst severity."""
        t = r.target
        worst = max((SEVERITY_RANK[f.severity] for f in findings), default=-1)
        status = "fail" if worst == 2 else "warn" if worst == 1 else "pass"
        fits = None
        if results and all(e.fits is not None for _, e in results):
            fits = all(e.fits for _, e in results)
        heads = [e.per_gpu.headroom_fraction for _, e in results if e.per_gpu.headroom_fraction is not None]
        maxctx = [e.max_context_tokens for _, e in results if e.max_context_tokens is not None]
        known = [p for _, p in r.prices if p is not None]
        price = max(known) if r.prices and len(known) == len(r.prices) else None
        resolved = t.engine is not None
        return CheckedDeployment(
            id=t.id, file=t.file, line=t.line, kind=t.kind, name=t.name, engine=t.engine,
            model_ref=text(t.model.value) if t.model is not None else None,
            model=r.spec.id if r.spec is not None else None,
            gpu_refs=[v for _, v, _ in t.gpu_types], gpus=[g.id for g in r.gpus],
            gpu_count=t.gpu_count.value if t.gpu_count is not None else None, replicas=t.replicas,
            tensor_parallel_size=r.tp if resolved else None, pipeline_parallel_size=r.pp if resolved else None,
            data_parallel_size=r.dp if resolved else None, expert_parallel=r.ep if resolved else None,
            quant=r.quant, kv_cache_dtype=(results[0][1].kv_cache_dtype if results else r.kv) if resolved else None,
            context_tokens=r.ctx, batch=r.batch if resolved else 1, fits=fits,
            max_context_tokens=min(maxctx) if maxctx else None, headroom_fraction=min(heads) if heads else None,
            price_usd_per_hour=price, status=status, assumptions=assumptions,
        )


# --------------------------------------------------------------------------------- the run ---
@dataclass(frozen=True)
class MemoryFile:
    """A manifest that is not read from disk: stdin (``-``, shown as ``--stdin-name`` or
    ``<stdin>``) or a file of a git revision (``check --compare REF``). ``name`` and ``stem`` are
    those of a path, so a ``llamasize.yaml`` piped in is read as one when it is named so."""

    display: str
    data: bytes

    @property
    def name(self) -> str:
        return self.display.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return Path(self.name).stem


def discover(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Files to check: ``(path, named)``; directories walked for ``*.yaml``/``*.yml`` (sorted,
    hidden directories skipped). UsageError (exit 2) for a path that does not exist or is not a
    regular file or directory."""
    out: list[tuple[Path, bool]] = []
    seen: set[str] = set()

    def add(p: Path, named: bool) -> None:
        key = os.path.normcase(os.path.realpath(p))
        if key not in seen:
            seen.add(key)
            out.append((p, named))

    for raw in paths:
        if isinstance(raw, MemoryFile):
            out.append((raw, True))
            continue
        p = Path(raw)
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
                for f in sorted(files):
                    if f.endswith(YAML_SUFFIXES) and os.path.isfile(os.path.join(root, f)):
                        found.append(Path(root) / f)
            for f in sorted(found, key=lambda x: x.as_posix()):
                add(f, False)
        elif p.is_file():
            add(p, True)
        elif p.exists() or p.is_symlink():
            raise UsageError(f"{quote_if_needed(str(raw))}: not a regular file or directory")
        else:
            raise UsageError(f"{quote_if_needed(str(raw))}: no such file or directory")
    return out


def tell_apart(targets: list[Target]) -> None:
    """Give every deployment of one file a unique id: the second and later deployments with the
    same ``Kind/name`` (two Helm ``modelSpec`` entries named ``m``) get ``#2``, ``#3``... (the first
    free number), so each finding belongs to one deployment in every format (issue 10, item 6)."""
    used = {t.id for t in targets}
    seen: set[str] = set()
    for t in targets:
        base = t.id
        if base in seen:
            n = 2
            while f"{base}#{n}" in used:
                n += 1
            t.suffix = f"#{n}"
            used.add(t.id)
        seen.add(base)


def read_capped(path: Path) -> bytes:
    """At most ``MAX_MANIFEST_FILE_BYTES + 1`` bytes of a regular file (OSError propagates; a FIFO,
    device or socket is one too, ``files.open_regular_file``, so a named pipe never blocks the run)."""
    with open_regular_file(path) as fh:
        return fh.read(MAX_MANIFEST_FILE_BYTES + 1)


def check_paths(paths: Iterable[str | Path | MemoryFile], reg, options: CheckOptions = CheckOptions()) -> CheckReport:
    """Check every manifest under ``paths`` (see the module docstring; a ``MemoryFile`` is checked
    as a file named on the command line)."""
    if options.fail_on not in FAIL_LEVELS:
        raise UsageError(f"unknown --fail-on {quote_value(options.fail_on)} (choices: {', '.join(FAIL_LEVELS)})")
    files = discover(paths)
    cwd = options.cwd if options.cwd is not None else Path.cwd()
    checker = Checker(reg, options)
    findings: list[Finding] = []
    deployments: list[CheckedDeployment] = []
    skipped: list[SkippedDocument] = []
    shown = []
    for path, named in files:
        display = path.display if isinstance(path, MemoryFile) else _norm_path(path, cwd)
        shown.append(display)
        try:
            data = path.data if isinstance(path, MemoryFile) else read_capped(path)
        except OSError as e:
            if named:
                raise UsageError(f"{quote_if_needed(display)}: cannot read: {e.strerror or e}") from None
            findings.append(checker.finding(LS100(1, f"cannot read: {e.strerror or e}"), display))
            continue
        if len(data) > MAX_MANIFEST_FILE_BYTES:
            findings.append(checker.finding(LS100(1, f"file is larger than the {MAX_MANIFEST_FILE_BYTES // 2**20} MiB "
                                                     "limit; not checked"), display))
            continue
        checker.suppress.read(display, data)
        duplicates: list[tuple[int, str, int]] = []
        docs, problem = parse_documents(data, duplicates)
        targets: list[Target] = []
        is_ls = bool(LLAMASIZE_FILE.match(path.name))
        reported: list[tuple[int, str, str, str, Target | None]] = []  # documents not checked, and why
        for doc in [x for d in docs for x in (documents(d) if not is_ls else [d])]:
            got = extract(display, doc, llamasize_file=is_ls, stem=path.stem)
            if not got:
                reported.append((*describe(doc), None))
            for t in got:
                if t.skip is None:
                    targets.append(t)
                else:
                    reported.append((t.line, t.id, *t.skip, t))
        for line, did, status, reason, t in reported:
            skipped.append(SkippedDocument(file=display, line=line, id=did, status=status, reason=reason))
            if status == "not modelled":  # a deployment: a note; other documents are listed and counted
                findings.append(checker.finding(LS017(line, f"{status}: {reason}"), display, t))
        if named or targets:  # like the files' other findings: not for unrelated YAML found in a directory
            for line, key, before in duplicates:
                findings.append(checker.finding(LS103(line, f"duplicate key {quote_value(key)} (also on line "
                                                            f"{before}); the last value is the one checked"), display))
        if problem is not None:
            findings.append(checker.finding((LS102 if problem.template else LS100)(problem.line, str(problem)),
                                            display))
        tell_apart(targets)
        for t in targets:
            ev = checker.evaluate(t)
            deployments.append(ev.deployment)
            findings += ev.findings
        if named and not targets and problem is None and all(x[2] != "not modelled" for x in reported):
            findings.append(checker.finding(LS101(1, "no serving deployment found (vLLM or SGLang in a Deployment, "
                                                     "StatefulSet, Pod, LeaderWorkerSet, InferenceService, "
                                                     "LLMInferenceService, production-stack Helm values, or a "
                                                     "llamasize.yaml)"), display))
    findings = checker.suppress(findings) + checker.waiver_findings()  # file-level findings; the waivers' own
    findings = sorted(set(findings), key=lambda f: (f.file, f.line, f.rule_id, f.deployment or "", f.message))
    deployments.sort(key=lambda d: (d.file, d.line, d.id))
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "note")}
    threshold = SEVERITY_RANK[options.fail_on]
    summary = CheckSummary(
        files=len(files), deployments=len(deployments),
        passed=sum(d.status == "pass" for d in deployments), warned=sum(d.status == "warn" for d in deployments),
        failed=sum(d.status == "fail" for d in deployments),
        errors=counts["error"], warnings=counts["warning"], notes=counts["note"],
        checked=sum(d.fits is not None for d in deployments), unverified=sum(d.fits is None for d in deployments),
        not_modelled=sum(x.status == "not modelled" for x in skipped),
        not_serving=sum(x.status != "not modelled" for x in skipped),
        waived=len(checker.suppress.waived))
    return CheckReport(
        fail_on=options.fail_on, strict=options.strict, policy=options.policy, files=sorted(shown),
        deployments=deployments, findings=findings, summary=summary,
        skipped=sorted(skipped, key=lambda x: (x.file, x.line, x.id)),
        failed=any(SEVERITY_RANK[f.severity] >= threshold for f in findings),
        waived=sorted(checker.suppress.waived, key=lambda w: (w.finding.file, w.finding.line, w.finding.rule_id,
                                                              w.finding.deployment or "", w.finding.message)),
    )
