"""What ``llamasize check`` reads and reports: the findings, the deployments it checked, the report
(the JSON of ``check --format json``), and its inputs (``llamasize.yaml``, ``--policy``, the run options).
Plain pydantic models; ``llamasize schema`` publishes the JSON Schemas of ``CheckReport``,
``ManifestFile`` and ``Policy``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llamasize import SCHEMA_VERSION

Severity = Literal["error", "warning", "note"]
SEVERITY_RANK = {"note": 0, "warning": 1, "error": 2}
FAIL_LEVELS = ("error", "warning")


# -------------------------------------------------------------------------------- results ---
class Finding(BaseModel):
    """One problem, at a file and 1-based line."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int = Field(ge=1)
    rule_id: str
    rule_name: str
    severity: Severity
    message: str
    #: ``Kind/name`` of the deployment it is about (None for file-level findings).
    deployment: str | None = None
    doc_url: str | None = None


class WaivedFinding(BaseModel):
    """A finding that was not reported: waived inline, ignored with ``--ignore`` (or the policy's
    ``ignore``), or already in the ``--baseline`` file (``llamasize.check.waivers``,
    ``llamasize.check.baseline``)."""

    model_config = ConfigDict(frozen=True)

    finding: Finding
    by: Literal["inline", "ignore", "baseline"]
    #: The reason written after an inline waiver (None for --ignore and the baseline).
    reason: str | None = None
    #: The line of the waiver comment (inline waivers only).
    waiver_line: int | None = None


class CheckedDeployment(BaseModel):
    """One serving deployment found in a manifest and what the check made of it."""

    model_config = ConfigDict(frozen=True)

    id: str
    file: str
    line: int
    kind: str
    name: str
    engine: str | None
    model_ref: str | None
    model: str | None
    gpu_refs: list[str]
    gpus: list[str]
    #: GPUs one replica requests in its resources (LeaderWorkerSet: the whole group).
    gpu_count: int | None
    replicas: int
    tensor_parallel_size: int | None
    pipeline_parallel_size: int | None
    data_parallel_size: int | None
    expert_parallel: bool | None
    quant: str | None
    kv_cache_dtype: str | None
    #: Context per sequence the memory was checked at (--max-model-len or the model's maximum).
    context_tokens: int | None
    batch: int
    fits: bool | None
    max_context_tokens: int | None
    headroom_fraction: float | None
    #: On-demand price of every replica, USD per hour (None when unknown).
    price_usd_per_hour: float | None
    status: Literal["pass", "warn", "fail"]
    assumptions: list[str]


class PolicyLimits(BaseModel):
    """Limits a deployment is held to (None = no limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_usd_per_hour: float | None = Field(default=None, gt=0)
    min_headroom: float | None = Field(default=None, ge=0, lt=1)


class CheckSummary(BaseModel):
    """Counts over the whole run."""

    model_config = ConfigDict(frozen=True)

    files: int
    deployments: int
    passed: int
    warned: int
    failed: int
    errors: int
    warnings: int
    notes: int
    #: Deployments with a memory verdict, and without one (unknown model or GPU, a value not modelled).
    checked: int = 0
    unverified: int = 0
    #: Documents reported instead of checked (``CheckReport.skipped``).
    not_modelled: int = 0
    not_serving: int = 0
    #: Findings not reported because a waiver, ``--ignore`` or the baseline covers them.
    waived: int = 0


class SkippedDocument(BaseModel):
    """A document that was reported instead of checked, and why."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    #: ``Kind/name`` (``Kind`` alone when the document has no name; ``?`` without a kind).
    id: str
    status: Literal["not a serving deployment", "not modelled"]
    reason: str


class CheckReport(BaseModel):
    """The JSON of ``llamasize check``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    fail_on: Literal["error", "warning"]
    strict: bool
    policy: PolicyLimits
    files: list[str]
    deployments: list[CheckedDeployment]
    findings: list[Finding]
    summary: CheckSummary
    #: True when a finding is at or above ``fail_on`` (exit status 1).
    failed: bool
    #: Documents reported instead of checked: not a serving deployment, or not modelled.
    skipped: list[SkippedDocument] = []
    #: The findings that were waived, ignored or baselined (not in ``findings``, not failing the run).
    waived: list[WaivedFinding] = []


# -------------------------------------------------------------------------------- inputs ---
class Policy(BaseModel):
    """A ``--policy`` file: limits and how strict the run is (flags win over it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: At most 1e7 and finite, as --max-usd-per-hour (``.inf`` or a 5,000-digit number was an infinite budget
    #: that no deployment exceeds, accepted silently: found by the fuzz suite).
    max_usd_per_hour: float | None = Field(default=None, gt=0, le=1e7, allow_inf_nan=False)
    min_headroom: float | None = Field(default=None, ge=0, lt=1)
    fail_on: Literal["error", "warning"] | None = None
    strict: bool | None = None
    #: A deployment whose memory was not checked is an error (LS018), as ``--require-verified``.
    require_verified: bool | None = None
    #: Rule ids never reported (as ``--ignore``; the flag adds to them).
    ignore: list[str] = []
    #: ``check --compare``: the largest allowed increase of the total on-demand USD per month (730 h).
    max_monthly_increase_usd: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)


class ManifestDeployment(BaseModel):
    """One deployment of a ``llamasize.yaml`` file (ids are llamasize's: ``llamasize models``/``gpus``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    model: str
    gpu: str
    #: GPUs per replica.
    gpus: int = Field(default=1, ge=1, le=4096)
    quant: str | None = None
    tp: int | None = Field(default=None, ge=1, le=4096)
    pp: int = Field(default=1, ge=1, le=1024)
    ep: bool = False
    #: Attention data-parallel ranks (``llamasize fit --dp``): gpus = dp x tp x pp.
    dp: int = Field(default=1, ge=1, le=4096)
    #: Context per sequence (8K = 8,192; 1M = 1,048,576), what --max-model-len would be.
    ctx: int | str
    #: Sequences that must fit at ``ctx`` at the same time.
    concurrency: int | str = 1
    engine: Literal["vllm", "sglang", "generic"] = "vllm"
    kv_dtype: str = "auto"
    kv_layout: Literal["auto", "full", "hybrid"] = "auto"
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    mem_fraction_static: float | None = Field(default=None, gt=0, le=1)
    replicas: int = Field(default=1, ge=1, le=100_000)

    @field_validator("ctx", "concurrency", mode="before")
    @classmethod
    def _count_as_text(cls, v):
        """Counts may be numbers or carry suffixes (``1M``); parse_count reads the text."""
        if isinstance(v, bool) or v is None or isinstance(v, (list, dict, float)):
            raise ValueError("must be a whole number such as 8192 or 8K")
        return str(v)


class ManifestFile(BaseModel):
    """A ``llamasize.yaml`` file: deployments and the limits they are held to.

    The single-deployment shorthand (the keys of one deployment at the top level, plus an optional
    ``policy``) is accepted too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    policy: PolicyLimits | None = None
    deployments: list[ManifestDeployment] = Field(min_length=1)


@dataclass(frozen=True)
class CheckOptions:
    """How a run is configured (flags merged with the policy file by the CLI)."""

    policy: PolicyLimits = PolicyLimits()
    fail_on: str = "error"
    strict: bool = False
    #: GPU id assumed for manifests that do not pin a GPU type.
    default_gpu: str | None = None
    #: Paths are shown relative to this directory when they lie inside it.
    cwd: Path | None = None
    #: A deployment without a memory verdict is an error (LS018) rather than a warning.
    require_verified: bool = False
    #: Rule ids not reported (``--ignore`` and the policy's ``ignore``), counted as waived.
    ignore: frozenset[str] = frozenset()
    #: Keys of findings already accepted (``--baseline``; ``llamasize.check.baseline``), repeated per finding.
    baseline: tuple = ()
    #: ``--compare``: the largest allowed increase of the monthly total, USD (None: no limit).
    max_monthly_increase: float | None = None
