"""``llamasize check``: find LLM serving deployments in manifests and check them with the estimator.

Pipeline (the core never prints; ``check_render`` formats the report):

1. **Discover** files: paths named on the command line are read whatever their extension;
   directories are walked (sorted, hidden directories skipped) for ``*.yaml`` / ``*.yml``.
2. **Parse** each file with PyYAML's *safe* parser only (``yaml.parse`` events with the safe
   loader, libyaml's when available; no constructor ever builds objects from tags) into plain
   dicts/lists that remember the line of every key and item (``YMap`` / ``YList``), so a finding
   can point at the YAML node it is about. Guards: at most ``MAX_FILE_BYTES`` are read, NUL bytes
   and non-UTF-8 are refused, nesting depth is capped as the events arrive (libyaml's *composer*
   recurses in C and crashes near 30,000 levels; its parser slows down quadratically with flow
   nesting), and aliases are shared references whose expanded size is bounded ("billion laughs").
3. **Extract** serving targets from each document (facts/serving.md 2.2): Kubernetes
   ``Deployment``/``StatefulSet``/``Pod``/... whose container runs ``vllm serve``,
   ``python -m vllm.entrypoints.openai.api_server`` or ``python -m sglang.launch_server`` (argv
   lists, or shell strings tokenised with shell rules), ``LeaderWorkerSet`` (GPUs = leader + (size -
   1) x worker pod), KServe ``InferenceService`` (Hugging Face runtime) and ``LLMInferenceService``
   (``VLLM_ADDITIONAL_ARGS``, ``spec.parallelism``), vLLM production-stack Helm values
   (``servingEngineSpec.modelSpec``) and llamasize's own ``llamasize.yaml``. Flag names are
   normalised (``_`` -> ``-``, ``--flag=value``), the last occurrence wins.
4. **Evaluate** each target with the memory estimator (``memory.estimate_memory``, cached per
   deployment) and the catalogue prices, and emit ``Finding``s with stable rule ids (``RULES``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llamasize import SCHEMA_VERSION
from llamasize.errors import LayoutError, LlamasizeError, UnknownIdError, UsageError

Severity = Literal["error", "warning", "note"]
SEVERITY_RANK = {"note": 0, "warning": 1, "error": 2}
FAIL_LEVELS = ("error", "warning")

#: Bytes read from one file at most; larger files get an LS100 finding and are not parsed.
MAX_FILE_BYTES = 5 * 2**20
#: YAML nodes per document once aliases are counted as expanded ("billion laughs" are refused).
MAX_NODES = 3_000_000
#: Deepest YAML nesting accepted (Kubernetes manifests nest about 15 levels).
MAX_DEPTH = 200
YAML_SUFFIXES = (".yaml", ".yml")
#: File names that hold llamasize's own deployment format.
LLAMASIZE_FILE = re.compile(r"^(.+\.)?llamasize\.ya?ml$")


# ---------------------------------------------------------------------------------- rules ---
@dataclass(frozen=True)
class Rule:
    """A check with a stable id, its default severity and a one-line description."""

    id: str
    name: str
    severity: Severity
    summary: str
    #: The YAML node the finding's line points at.
    where: str
    #: ``--strict`` turns this warning into an error (llamasize could not check something).
    strict_error: bool = False


RULES: dict[str, Rule] = {r.id: r for r in [
    Rule("LS001", "does-not-fit", "error",
         "The weights, activation peak and runtime overhead exceed the engine's memory budget per GPU.",
         where="the serving container (llamasize.yaml: the entry)"),
    Rule("LS002", "context-does-not-fit", "error",
         "The KV cache for --max-model-len (x the concurrency of a llamasize.yaml entry) does not fit "
         "in the memory left after the weights (vLLM refuses to start when one such sequence does not fit).",
         where="`--max-model-len` / `maxModelLen` / `ctx`; the container when it is not set"),
    Rule("LS003", "context-above-model-maximum", "error",
         "--max-model-len is above the model's maximum context (max_position_embeddings).",
         where="`--max-model-len` / `ctx`"),
    Rule("LS004", "invalid-parallel-layout", "error",
         "The tensor-parallel size does not divide the attention heads (or KV heads), the pipeline is "
         "longer than the model, or expert parallelism is asked of a dense model.",
         where="`--tensor-parallel-size` (the pipeline or expert flag when that is the problem)"),
    Rule("LS005", "gpu-count-mismatch", "error",
         "The GPUs requested in the resources differ from tensor x pipeline x data parallel size "
         "(x the LeaderWorkerSet group size).",
         where="the GPU resource limit (`requestGPU`, `gpus`)"),
    Rule("LS006", "fp8-without-native-support", "warning",
         "FP8 weights or FP8 KV cache on a GPU without native FP8: it runs weight-only / converted in "
         "software, slower than on FP8 hardware.",
         where="`--quantization` / `--kv-cache-dtype`; the model for an FP8 checkpoint"),
    Rule("LS007", "headroom-below-policy", "error",
         "Free memory per GPU (fraction of the engine budget) is below the policy's minimum headroom.",
         where="the serving container (llamasize.yaml: the entry)"),
    Rule("LS008", "over-budget", "error",
         "The deployment's on-demand price per hour (all replicas) is above the policy budget.",
         where="the GPU resource limit"),
    Rule("LS009", "unknown-model", "warning",
         "The model is not in the spec registry (or no model could be found): nothing about memory was "
         "checked.",
         where="the model reference; the container when there is none", strict_error=True),
    Rule("LS010", "unknown-gpu", "warning",
         "The GPU type is not pinned by a node selector/affinity, or the label value is not in the "
         "catalogue: nothing about memory was checked.",
         where="the node-selector value; the container when the type is not pinned", strict_error=True),
    Rule("LS011", "no-gpus-requested", "error",
         "A serving container requests no GPU (no nvidia.com/gpu or amd.com/gpu resource).",
         where="the serving container"),
    Rule("LS012", "not-checkable", "warning",
         "A value llamasize cannot model decides the verdict (an unpublished architecture, a "
         "quantization method or KV dtype it does not model, wide expert parallelism, a value taken "
         "from an environment variable).",
         where="the value concerned", strict_error=True),
    Rule("LS013", "invalid-value", "error",
         "A flag or field value cannot be parsed, or a llamasize.yaml entry breaks its schema.",
         where="the value concerned"),
    Rule("LS014", "price-unknown", "warning",
         "A budget policy is set but the catalogue has no on-demand price for the GPU.",
         where="the GPU resource limit"),
    Rule("LS100", "unparseable-file", "error",
         "The file cannot be checked: invalid YAML, binary or not UTF-8, larger than 5 MiB, nested too "
         "deeply, or aliases that expand without bound.",
         where="where parsing stopped (1 for the whole file)"),
    Rule("LS101", "no-deployment-found", "note",
         "A file named on the command line holds no serving deployment llamasize recognises.",
         where="line 1"),
    Rule("LS102", "template-skipped", "note",
         "A file with Go-template markup ({{ ... }}) that is not valid YAML (e.g. a Helm chart template) "
         "was skipped.",
         where="where parsing stopped"),
]}


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


# -------------------------------------------------------------------------------- inputs ---
class Policy(BaseModel):
    """A ``--policy`` file: limits and how strict the run is (flags win over it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_usd_per_hour: float | None = Field(default=None, gt=0)
    min_headroom: float | None = Field(default=None, ge=0, lt=1)
    fail_on: Literal["error", "warning"] | None = None
    strict: bool | None = None


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


def load_policy(path: Path) -> Policy:
    """Read a ``--policy`` YAML file (DataError, exit 2, on any problem). Parsed with the guarded
    ``parse_documents``, not libyaml's composer, which crashes on deeply nested input."""
    from llamasize.errors import DataError
    from llamasize.files import MAX_DATA_FILE_BYTES, pydantic_message

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_DATA_FILE_BYTES + 1)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(raw) > MAX_DATA_FILE_BYTES:
        raise DataError(f"{path}: larger than the {MAX_DATA_FILE_BYTES:,}-byte limit")
    docs, problem = parse_documents(raw)
    if problem is not None:
        raise DataError(f"{path}: line {problem.line}: {problem}")
    if len(docs) > 1:
        raise DataError(f"{path}: a policy file holds one YAML document, found {len(docs)}")
    data = docs[0] if docs else {}
    if not isinstance(data, dict):
        raise DataError(f"{path}: a policy file must be a mapping of keys, got {type(data).__name__}")
    try:
        return Policy.model_validate(dict(data))
    except ValidationError as e:
        raise DataError(f"{path}: {pydantic_message(e)}") from None


# ------------------------------------------------------------------------ located YAML tree ---
class YMap(dict):
    """A YAML mapping that remembers lines: ``line`` (its first key) and, per key,
    ``meta[key] = (key_line, value_line, value_style)``."""

    __slots__ = ("line", "meta")


class YList(list):
    """A YAML sequence that remembers lines: ``line`` and ``meta[i] = (item_line, item_style)``."""

    __slots__ = ("line", "meta")


class UnparseableFile(Exception):
    """The file cannot be turned into documents (message = the finding's text, ``line`` 1-based)."""

    def __init__(self, message: str, line: int = 1, rule: str = "LS100"):
        super().__init__(message)
        self.line = max(1, line)
        self.rule = rule


_STR_TAG = "tag:yaml.org,2002:str"
_CONSTRUCTED_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                     "tag:yaml.org,2002:null")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_RESOLVER = yaml.resolver.Resolver()
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(ev):
    """int/float/bool/null as the safe loader reads them (YAML 1.1); everything else as its text."""
    tag = ev.tag if ev.tag not in (None, "!") else (
        _STR_TAG if ev.tag == "!" else _RESOLVER.resolve(yaml.ScalarNode, ev.value, ev.implicit))
    if tag not in _CONSTRUCTED_TAGS:
        return ev.value
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, ev.value))
    except Exception:  # noqa: BLE001 - e.g. an int with 100,000 digits: keep the text
        return ev.value


class _Frame:
    """An open mapping or sequence while events stream in."""

    __slots__ = ("value", "anchor", "size", "key", "key_line", "key_ok", "merges")

    def __init__(self, value, anchor):
        self.value = value
        self.anchor = anchor
        self.size = 1
        self.key = None  # mappings: the key waiting for its value
        self.key_line = 0
        self.key_ok = False
        self.merges: list = []


def parse_documents(data: bytes) -> tuple[list[object], UnparseableFile | None]:
    """Bytes -> documents (YMap/YList/scalars), plus the problem that stopped parsing (documents
    before a malformed one are still returned).

    Built from the safe parser's *events* with an explicit stack, so nothing recurses: the nesting
    depth is checked as events arrive (libyaml slows down quadratically with flow nesting, so the
    parse is abandoned at ``MAX_DEPTH``), and an alias is a reference to the anchored value, never a
    copy; the size it would expand to is added up and a document above ``MAX_NODES`` is refused
    ("billion laughs"). Aliases to a collection that is still open (recursive) are refused too.
    """
    if b"\x00" in data:
        return [], UnparseableFile("binary file (contains NUL bytes); not checked")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return [], UnparseableFile(f"not a UTF-8 text file (invalid byte at offset {e.start:,}); not checked")
    docs: list[object] = []
    stack: list[_Frame] = []
    anchors: dict[str, tuple[object, int | None]] = {}
    expanded = 0
    root = None

    def attach(value, size: int, line: int, style) -> None:
        nonlocal expanded, root
        expanded += size
        if expanded > MAX_NODES:
            raise UnparseableFile(f"YAML aliases expand to more than {MAX_NODES:,} nodes (an alias blow-up, "
                                  "'billion laughs'); not checked", line)
        if not stack:
            root = value
            return
        f = stack[-1]
        f.size += size
        if isinstance(f.value, YList):
            f.value.append(value)
            f.value.meta.append((line, style))
        elif f.key is None and not f.key_ok:  # this value is a key
            f.key_ok = True
            f.key = value if isinstance(value, str) else (_text(value) if not isinstance(value, (dict, list)) else None)
            f.key_line = line
        else:
            if f.key == "<<" and style is None:
                f.merges.append(value)
            elif f.key is not None:
                f.value[f.key] = value  # a duplicate key: the last one wins, as in safe_load
                f.value.meta[f.key] = (f.key_line, line, style)
            f.key, f.key_ok = None, False

    try:
        for ev in yaml.parse(text, Loader=_LOADER):
            if isinstance(ev, yaml.ScalarEvent):
                line = ev.start_mark.line + 1
                value = ev.value if (stack and isinstance(stack[-1].value, YMap) and not stack[-1].key_ok) \
                    else _scalar(ev)
                if ev.anchor:
                    anchors[ev.anchor] = (value, 1)
                attach(value, 1, line, ev.style if ev.style else None)
            elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                line = ev.start_mark.line + 1
                if len(stack) >= MAX_DEPTH:
                    raise UnparseableFile(f"YAML nested more than {MAX_DEPTH} levels deep; not checked", line)
                value = YList() if isinstance(ev, yaml.SequenceStartEvent) else YMap()
                value.line = line
                value.meta = [] if isinstance(value, YList) else {}
                if ev.anchor:
                    anchors[ev.anchor] = (value, None)  # open: an alias to it now is recursive
                stack.append(_Frame(value, ev.anchor))
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                f = stack.pop()
                for m in f.merges:  # ``<<: *base`` / ``<<: [*a, *b]``: keys not set explicitly
                    for src in (m if isinstance(m, list) else [m]):
                        if isinstance(src, YMap):
                            for key, v in src.items():
                                if key not in f.value:
                                    f.value[key] = v
                                    f.value.meta[key] = src.meta[key]
                if f.anchor:
                    anchors[f.anchor] = (f.value, f.size)
                attach(f.value, f.size, f.value.line, None)
            elif isinstance(ev, yaml.AliasEvent):
                line = ev.start_mark.line + 1
                value, size = anchors.get(ev.anchor, (None, 0))
                if size is None:
                    raise UnparseableFile(f"recursive YAML alias '*{ev.anchor}'; not checked", line)
                if stack and isinstance(stack[-1].value, YMap) and not stack[-1].key_ok:
                    value = value if isinstance(value, str) else None  # an aliased key
                attach(value, size, line, None)
            elif isinstance(ev, yaml.DocumentStartEvent):
                anchors, root, expanded = {}, None, 0
            elif isinstance(ev, yaml.DocumentEndEvent):
                if root is not None:
                    docs.append(root)
                root = None
    except UnparseableFile as e:
        return docs, e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "{{" in text:
            return docs, UnparseableFile(f"Go-template markup ({{{{ ... }}}}) and not valid YAML "
                                         f"(line {line}: {problem}): skipped as a template", line, "LS102")
        return docs, UnparseableFile(f"invalid YAML: {problem}", line)
    return docs, None


# --------------------------------------------------------------------------- tree helpers ---
def _get(node, *path):
    """``node[path[0]][path[1]]...`` through mappings (None when any step is missing)."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _key_line(m, key: str, default: int) -> int:
    """Line of ``key`` in mapping ``m`` (``default`` when absent)."""
    if isinstance(m, YMap) and key in m.meta:
        return m.meta[key][0]
    return default


def _line(node, default: int) -> int:
    """Line a mapping/sequence starts on (``default`` for scalars)."""
    return getattr(node, "line", default) or default


def _text(v) -> str | None:
    """A scalar as the text a manifest means (``8`` and ``"8"`` alike); None for collections/null."""
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ----------------------------------------------------------------------- targets (extracted) ---
@dataclass
class Loc:
    """A value as the manifest wrote it, and its line."""

    value: object
    line: int


@dataclass
class Issue:
    """A problem noticed while extracting (becomes a Finding)."""

    rule: str
    line: int
    message: str


@dataclass
class Target:
    """One serving deployment, extracted from a manifest: raw values with their lines."""

    file: str
    line: int
    kind: str
    name: str
    engine: str | None = "vllm"
    #: llamasize.yaml: ids are llamasize's own, not Kubernetes labels / vLLM method names.
    native: bool = False
    model: Loc | None = None
    #: Normalised settings: tp, pp, dp, ep, ep_size, max_model_len, quantization, dtype,
    #: kv_cache_dtype, gmu, mfs, max_num_seqs, max_num_batched_tokens, backend, dp_attention, kv_layout.
    settings: dict[str, Loc] = field(default_factory=dict)
    #: GPUs one replica requests (LWS: the whole group), with the line of the resource.
    gpu_count: Loc | None = None
    #: False when the count cannot be compared with the parallel layout (e.g. Ray spreads pods).
    count_comparable: bool = True
    #: (label key, value, line) of each GPU type the pods may land on.
    gpu_types: list[tuple[str, str, int]] = field(default_factory=list)
    replicas: int = 1
    batch: Loc | None = None
    policy: PolicyLimits | None = None
    issues: list[Issue] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """``Kind/name``, how findings name the deployment."""
        return f"{self.kind}/{self.name}"


# Flag names (without dashes, '_' -> '-') of vLLM 0.33 and SGLang 0.5 that matter, -> setting key.
_FLAG_KEYS = {
    "tensor-parallel-size": "tp", "tp": "tp", "tp-size": "tp",
    "pipeline-parallel-size": "pp", "pp": "pp", "pp-size": "pp",
    "data-parallel-size": "dp", "dp": "dp", "dp-size": "dp",
    "enable-expert-parallel": "ep", "ep-size": "ep_size", "expert-parallel-size": "ep_size",
    "max-model-len": "max_model_len", "context-length": "max_model_len",
    "quantization": "quantization", "q": "quantization",
    "dtype": "dtype",
    "kv-cache-dtype": "kv_cache_dtype",
    "gpu-memory-utilization": "gmu",
    "mem-fraction-static": "mfs",
    "max-num-seqs": "max_num_seqs", "max-running-requests": "max_num_seqs",
    "max-num-batched-tokens": "max_num_batched_tokens", "chunked-prefill-size": "max_num_batched_tokens",
    "model": "model", "model-path": "model", "model-id": "model",
    "backend": "backend",
    "enable-dp-attention": "dp_attention",
}
#: Flags that take no value (so the next token is not swallowed as their value).
_BOOL_FLAGS = {
    "enable-expert-parallel", "enable-dp-attention", "enforce-eager", "trust-remote-code",
    "enable-prefix-caching", "no-enable-prefix-caching", "enable-chunked-prefill", "disable-log-requests",
    "disable-log-stats", "enable-auto-tool-choice", "enable-lora", "disable-custom-all-reduce",
    "async-scheduling", "headless", "enable-eplb", "enable-sleep-mode", "disable-frontend-multiprocessing",
    "enable-log-requests", "enable-request-id-headers", "disable-radix-cache", "enable-torch-compile",
    "disable-cuda-graph", "enable-metrics", "skip-server-warmup", "disable-fastapi-docs",
    "enable-server-load-tracking", "return-tokens-as-token-ids", "no-enable-log-requests",
}
_SHELLS = {"sh", "bash", "dash", "zsh", "ash", "ksh"}
_SEPARATORS = {";", "&&", "||", "|", "&", ";;", "|&"}
_GPU_LABELS = {
    "nvidia.com/gpu.product": "gpu.product",
    "node.kubernetes.io/instance-type": "instance-type",
    "beta.kubernetes.io/instance-type": "instance-type",
    "cloud.google.com/gke-accelerator": "gke-accelerator",
}
_GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _substitute(tok: str, env: dict[str, str]) -> str:
    """Expand ``$(VAR)`` (Kubernetes) and ``$VAR`` / ``${VAR}`` (shell) from literal env values."""
    if "$" not in tok:
        return tok
    return _ENV_REF.sub(lambda m: env.get(m.group(1) or m.group(2) or m.group(3), m.group(0)), tok)


def _shell_tokens(text: str) -> list[str]:
    """Shell words and control operators of one line (``;``, ``&&``, ``||``, ``|``, ``&``)."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lex.whitespace_split = True
    lex.commenters = ""
    out = []
    for tok in lex:
        if tok.startswith("#"):  # a comment: the rest of the line
            break
        out.append(tok)
    return out


def script_segments(text: str, line: int, style: str | None) -> list[list[tuple[str, int]]]:
    """A shell script (``sh -c "..."``, ``VLLM_ADDITIONAL_ARGS``) -> simple commands, each a list of
    ``(word, line)``. Lines are exact inside literal block scalars (``|``), else the scalar's line."""
    phys = text.split("\n")

    def pline(k: int) -> int:
        return line + 1 + k if style == "|" else line

    segments: list[list[tuple[str, int]]] = []
    k = 0
    try:
        while k < len(phys):
            start, buf = k, phys[k]
            while buf.endswith("\\") and k + 1 < len(phys):
                k += 1
                buf = buf[:-1] + " " + phys[k]
            end = k
            k += 1
            cur: list[tuple[str, int]] = []
            at = start
            for tok in _shell_tokens(buf):
                if tok in _SEPARATORS:
                    if cur:
                        segments.append(cur)
                    cur = []
                    continue
                needle = tok.split("=", 1)[0] if tok.startswith("-") else tok
                for j in range(at, end + 1):
                    if needle and needle in phys[j]:
                        at = j
                        break
                cur.append((tok, pline(at)))
            if cur:
                segments.append(cur)
        return segments
    except ValueError:  # a quote spanning lines: tokenise the whole text at once
        try:
            words = _shell_tokens(text.replace("\\\n", " "))
        except ValueError:
            words = text.split()
        segments, cur = [], []
        for tok in words:
            if tok in _SEPARATORS:
                if cur:
                    segments.append(cur)
                cur = []
            else:
                cur.append((tok, line))
        if cur:
            segments.append(cur)
        return segments


@dataclass
class Invocation:
    """An engine started with flags: the settings found and the model named on the command line."""

    engine: str
    flags: dict[str, Loc]
    model: Loc | None
    issues: list[Issue]


def _find_invocation(seg: list[tuple[str, int]]) -> tuple[str, int, bool] | None:
    """``(engine, index of the first flag, positional model allowed)`` in one simple command."""
    for i, (tok, _) in enumerate(seg):
        base = os.path.basename(tok)
        nxt = seg[i + 1][0] if i + 1 < len(seg) else None
        if base == "vllm" and nxt == "serve":
            return "vllm", i + 2, True
        if base.startswith("python") and nxt == "-m" and i + 2 < len(seg):
            mod = seg[i + 2][0]
            if mod in ("vllm.entrypoints.openai.api_server", "vllm.entrypoints.api_server"):
                return "vllm", i + 3, False
            if mod == "vllm.entrypoints.cli.main" and i + 3 < len(seg) and seg[i + 3][0] == "serve":
                return "vllm", i + 4, True
            if mod == "sglang.launch_server":
                return "sglang", i + 3, False
            if mod == "huggingfaceserver":
                return "kserve-huggingface", i + 3, False
    return None


def parse_flags(tokens: list[tuple[str, int]], engine: str, positional: bool) -> Invocation:
    """Engine flags -> settings (``--flag value``, ``--flag=value``, ``_``/``-`` spellings; the last
    occurrence wins). With ``positional`` the first bare word is the model (``vllm serve MODEL``)."""
    flags: dict[str, Loc] = {}
    model: Loc | None = None
    i = 0
    while i < len(tokens):
        tok, line = tokens[i]
        i += 1
        if not tok.startswith("-") or tok in ("-", "--"):
            if positional and model is None:
                model = Loc(tok, line)
            continue
        name, eq, value = tok.lstrip("-").partition("=")
        name = name.replace("_", "-")
        negated = name.startswith("no-") and name[3:] in _BOOL_FLAGS
        if name in _BOOL_FLAGS or negated:
            key = _FLAG_KEYS.get(name[3:] if negated else name)
            if key:
                on = not negated if not eq else value.strip().lower() not in ("false", "0", "no")
                flags[key] = Loc(on, line)
            continue
        if not eq:
            if i < len(tokens) and (name in _FLAG_KEYS or not tokens[i][0].startswith("-")):
                value = tokens[i][0]
                i += 1
            else:
                value = None
        key = _FLAG_KEYS.get(name)
        if key is None:
            continue
        if value is None:
            flags[key] = Loc(None, line)
        else:
            flags[key] = Loc(value, line)
    if "model" in flags and flags["model"].value is not None:
        model = flags.pop("model")
    return Invocation(engine, flags, model, [])


def _items(node, default_line: int) -> list[tuple[str, int, str | None]]:
    """A command/args value -> ``(text, line, style)`` items (a bare string counts as one item)."""
    if isinstance(node, list):
        meta = getattr(node, "meta", None) or [(default_line, None)] * len(node)
        return [(_text(v) or "", meta[i][0], meta[i][1]) for i, v in enumerate(node)]
    t = _text(node)
    return [] if t is None else [(t, default_line, None)]


def container_invocation(container: dict, env: dict[str, str], cline: int) -> Invocation | None:
    """The engine a Kubernetes container starts, if any (argv lists and ``sh -c`` scripts)."""
    items = (_items(container.get("command"), _key_line(container, "command", cline))
             + _items(container.get("args"), _key_line(container, "args", cline)))
    shell = bool(items) and os.path.basename(items[0][0]) in _SHELLS
    segments: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    for idx, (text, line, style) in enumerate(items):
        is_script = (shell and idx > 0 and not text.startswith("-")) or (
            any(c in text for c in " \n;") and re.search(r"vllm|sglang|huggingfaceserver", text))
        if is_script:
            if cur:
                segments.append(cur)
                cur = []
            pre = _substitute(text, env)
            segments += script_segments(pre, line, style)
        else:
            cur.append((_substitute(text, env), line))
    if cur:
        segments.append(cur)
    for seg in segments:
        found = _find_invocation(seg)
        if found:
            engine, start, positional = found
            return parse_flags(seg[start:], engine, positional)
    image = _text(container.get("image")) or ""
    if container.get("command") is None and re.search(r"vllm[-/]?openai|vllm/vllm", image):
        # the vllm/vllm-openai image's entrypoint serves; args are its flags (model positional or --model)
        tokens = [(_substitute(t, env), line) for t, line, _ in _items(container.get("args"), cline)]
        return parse_flags(tokens, "vllm", True)
    return None


def _env(container: dict, extra: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, Loc]]:
    """Literal env values of a container (plus ``extra``), and where each is set."""
    env = dict(extra or {})
    where: dict[str, Loc] = {}
    entries = container.get("env")
    if isinstance(entries, list):
        meta = getattr(entries, "meta", None) or []
        for i, e in enumerate(entries):
            if isinstance(e, dict) and isinstance(e.get("name"), str) and _text(e.get("value")) is not None:
                env[e["name"]] = _text(e["value"])
                line = _key_line(e, "value", meta[i][0] if i < len(meta) else 1)
                where[e["name"]] = Loc(env[e["name"]], line)
    return env, where


def _gpu_resources(container: dict, cline: int, issues: list[Issue]) -> tuple[Loc | None, str | None]:
    """GPUs a container requests (limits, else requests) and the resource name."""
    res = container.get("resources")
    for part in ("limits", "requests"):
        block = _get(res, part)
        if not isinstance(block, dict):
            continue
        for key in sorted(block):
            if key in _GPU_RESOURCES or key.startswith("nvidia.com/mig-"):
                line = _key_line(block, key, cline)
                raw = _text(block[key])
                try:
                    n = int(str(raw).strip())
                    if n < 0:
                        raise ValueError
                except (TypeError, ValueError):
                    issues.append(Issue("LS013", line, f"GPU resource {key}: {raw!r} is not a whole number"))
                    return None, key
                return Loc(n, line), key
    return None, None


def gpu_selectors(podspec, default_line: int) -> list[tuple[str, str, int]]:
    """GPU-type labels a pod is pinned to: nodeSelector and required nodeAffinity ``In`` terms."""
    out: list[tuple[str, str, int]] = []
    if not isinstance(podspec, dict):
        return out
    sel = podspec.get("nodeSelector")
    if isinstance(sel, dict):
        for key in sorted(sel):
            if key in _GPU_LABELS and _text(sel[key]):
                out.append((key, _text(sel[key]), _key_line(sel, key, default_line)))
    terms = _get(podspec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                 "nodeSelectorTerms")
    out += selector_terms(terms, default_line)
    return out


def selector_terms(terms, default_line: int) -> list[tuple[str, str, int]]:
    """``nodeSelectorTerms`` -> GPU-type label values (operator ``In``; terms are alternatives)."""
    out: list[tuple[str, str, int]] = []
    if not isinstance(terms, list):
        return out
    for term in terms:
        exprs = _get(term, "matchExpressions")
        if not isinstance(exprs, list):
            continue
        for expr in exprs:
            if not isinstance(expr, dict) or not isinstance(expr.get("key"), str) or expr["key"] not in _GPU_LABELS:
                continue
            if str(expr.get("operator", "In")) != "In":
                continue
            values = expr.get("values")
            if isinstance(values, list):
                meta = getattr(values, "meta", None) or [(_line(expr, default_line), None)] * len(values)
                for i, v in enumerate(values):
                    if _text(v):
                        out.append((expr["key"], _text(v), meta[i][0]))
    return out


def _dedupe_types(types: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """GPU-type labels without repeats, first occurrence kept."""
    seen, out = set(), []
    for key, value, line in types:
        if (key, value) not in seen:
            seen.add((key, value))
            out.append((key, value, line))
    return out


def _containers(podspec) -> list[tuple[dict, int]]:
    """``(container, line)`` of a pod spec's containers (init containers do not serve)."""
    cs = _get(podspec, "containers")
    if not isinstance(cs, list):
        return []
    meta = getattr(cs, "meta", None) or [(_line(podspec, 1), None)] * len(cs)
    return [(c, meta[i][0]) for i, c in enumerate(cs) if isinstance(c, dict)]


def _name(doc, default: str) -> str:
    """``metadata.name`` of a Kubernetes object."""
    return _text(_get(doc, "metadata", "name")) or default


def _replicas(v, default: int = 1) -> int:
    """A replica count as written (``default`` when absent or not a positive integer)."""
    try:
        n = int(str(v))
        return n if n >= 1 else default
    except (TypeError, ValueError):
        return default


# ------------------------------------------------------------------------------- extractors ---
_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}


def _pod_target(file: str, kind: str, name: str, podspec, *, replicas: int, env_extra=None,
                group: tuple[object, int] | None = None, extra_types=()) -> list[Target]:
    """Targets for every serving container of a pod (``group``: LWS worker pod spec and size)."""
    out = []
    serving = []
    for container, cline in _containers(podspec):
        env, _ = _env(container, env_extra)
        inv = container_invocation(container, env, cline)
        if inv is not None:
            serving.append((container, cline, inv))
    for container, cline, inv in serving:
        cname = _text(container.get("name")) or "container"
        t = Target(file=file, line=cline, kind=kind, name=name if len(serving) == 1 else f"{name}/{cname}",
                   engine=inv.engine, model=inv.model, settings=dict(inv.flags), replicas=replicas)
        _apply_engine_kind(t)
        issues: list[Issue] = []
        count, resource = _gpu_resources(container, cline, issues)
        t.issues += issues
        t.gpu_types = _dedupe_types(gpu_selectors(podspec, cline) + list(extra_types))
        if resource and resource.startswith("nvidia.com/mig-"):
            t.gpu_types = [("resource", resource, count.line if count else cline)]
        if group is not None:
            worker_spec, size = group
            worker_count = None
            worker_containers = _containers(worker_spec) if worker_spec is not None else []
            if worker_spec is not None and size > 1:
                for wc, wline in worker_containers:
                    wcount, _ = _gpu_resources(wc, wline, t.issues)
                    if wcount is not None:
                        worker_count = wcount.value
                        break
                t.gpu_types = _dedupe_types(t.gpu_types + gpu_selectors(worker_spec, cline))
            leader = count.value if count else 0
            if size > 1:
                total = leader + (size - 1) * (worker_count if worker_count is not None else leader)
                t.assumptions.append(f"GPUs per replica = leader pod ({leader}) + {size - 1} worker pod(s) x "
                                     f"{worker_count if worker_count is not None else leader}")
                count = Loc(total, count.line if count else cline)
        t.gpu_count = count
        out.append(t)
    return out


def _apply_engine_kind(t: Target) -> None:
    """KServe's Hugging Face server runs vLLM unless ``--backend=huggingface``."""
    if t.engine == "kserve-huggingface":
        backend = t.settings.get("backend")
        t.engine = "generic" if backend and str(backend.value).lower() in ("huggingface", "hf") else "vllm"


def extract_workload(file: str, doc: dict) -> list[Target]:
    """Deployment / StatefulSet / DaemonSet / ReplicaSet / Job / CronJob / Pod."""
    kind = doc.get("kind")
    name = _name(doc, kind.lower())
    if kind == "Pod":
        podspec, replicas = doc.get("spec"), 1
    elif kind == "CronJob":
        podspec, replicas = _get(doc, "spec", "jobTemplate", "spec", "template", "spec"), 1
    else:
        podspec = _get(doc, "spec", "template", "spec")
        replicas = _replicas(_get(doc, "spec", "replicas"))
    return _pod_target(file, kind, name, podspec, replicas=replicas)


def extract_lws(file: str, doc: dict) -> list[Target]:
    """LeaderWorkerSet: the leader pod serves; GPUs per replica = leader + (size - 1) x worker."""
    name = _name(doc, "leaderworkerset")
    lwt = _get(doc, "spec", "leaderWorkerTemplate")
    size = _replicas(_get(lwt, "size"))
    worker = _get(lwt, "workerTemplate", "spec")
    leader = _get(lwt, "leaderTemplate", "spec")
    env = {"LWS_GROUP_SIZE": str(size)}
    replicas = _replicas(_get(doc, "spec", "replicas"))
    targets = _pod_target(file, "LeaderWorkerSet", name, leader if leader is not None else worker,
                          replicas=replicas, env_extra=env, group=(worker, size))
    return targets


def extract_isvc(file: str, doc: dict) -> list[Target]:
    """KServe InferenceService: the Hugging Face runtime (vLLM backend) or a custom vLLM container."""
    name = _name(doc, "inferenceservice")
    pred = _get(doc, "spec", "predictor")
    if not isinstance(pred, dict):
        return []
    replicas = _replicas(pred.get("minReplicas"))
    model = pred.get("model")
    out: list[Target] = []
    if isinstance(model, dict):
        fmt = str(_text(_get(model, "modelFormat", "name")) or "").lower()
        runtime = str(_text(model.get("runtime")) or "").lower()
        if fmt == "huggingface" or "huggingface" in runtime or "vllm" in runtime:
            mline = _key_line(pred, "model", _line(model, 1))
            env, _ = _env(model)
            tokens = [(_substitute(t, env), line) for t, line, _ in
                      _items(model.get("args"), _key_line(model, "args", mline))]
            inv = parse_flags(tokens, "kserve-huggingface", False)
            t = Target(file=file, line=mline, kind="InferenceService", name=name, engine=inv.engine,
                       settings=dict(inv.flags), replicas=replicas)
            _apply_engine_kind(t)
            uri = _text(model.get("storageUri"))
            t.model = Loc(uri, _key_line(model, "storageUri", mline)) if uri else inv.model
            t.gpu_count, resource = _gpu_resources(model, mline, t.issues)
            t.gpu_types = _dedupe_types(gpu_selectors(pred, mline))
            if resource and resource.startswith("nvidia.com/mig-"):
                t.gpu_types = [("resource", resource, t.gpu_count.line if t.gpu_count else mline)]
            ws = pred.get("workerSpec")
            if isinstance(ws, dict):
                for key, skey in (("tensorParallelSize", "tp"), ("pipelineParallelSize", "pp")):
                    if ws.get(key) is not None and skey not in t.settings:
                        t.settings[skey] = Loc(_text(ws[key]), _key_line(ws, key, mline))
                t.count_comparable = False
                t.assumptions.append("multi-node InferenceService (workerSpec): GPUs across the Ray cluster are "
                                     "not compared with the layout")
            out.append(t)
    if not out:
        out += _pod_target(file, "InferenceService", name, pred, replicas=replicas)
    return out


def extract_llmisvc(file: str, doc: dict) -> list[Target]:
    """KServe LLMInferenceService: ``spec.model``, ``spec.parallelism``, the ``main`` container's
    ``VLLM_ADDITIONAL_ARGS`` and resources; a ``worker`` pod spec makes it multi-node."""
    name = _name(doc, "llminferenceservice")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    template = spec.get("template")
    containers = _containers(template)
    main = next(((c, ln) for c, ln in containers if c.get("name") == "main"), containers[0] if containers else None)
    anchor = main[1] if main else _key_line(spec, "template", _line(spec, 1))
    t = Target(file=file, line=anchor, kind="LLMInferenceService", name=name, engine="vllm",
               replicas=_replicas(spec.get("replicas")))
    m = spec.get("model")
    uri = _text(_get(m, "uri")) or _text(_get(m, "name"))
    if uri:
        t.model = Loc(uri, _key_line(m, "uri" if _text(_get(m, "uri")) else "name", _line(m, anchor)))
    par = spec.get("parallelism")
    if isinstance(par, dict):
        for key, skey in (("tensor", "tp"), ("pipeline", "pp"), ("data", "dp"), ("expert", "ep")):
            if par.get(key) is not None:
                t.settings[skey] = Loc(par[key], _key_line(par, key, anchor))
    if main:
        container, cline = main
        env, where = _env(container)
        inv = container_invocation(container, env, cline)
        if inv is not None:
            t.settings.update(inv.flags)
            t.model = inv.model or t.model
        extra = where.get("VLLM_ADDITIONAL_ARGS")
        if extra is not None:
            tokens = [tok for seg in script_segments(str(extra.value), extra.line, None) for tok in seg]
            inv = parse_flags(tokens, "vllm", False)
            t.settings.update(inv.flags)
            t.model = inv.model or t.model
        t.gpu_count, resource = _gpu_resources(container, cline, t.issues)
        if resource and resource.startswith("nvidia.com/mig-"):
            t.gpu_types = [("resource", resource, t.gpu_count.line if t.gpu_count else cline)]
    t.gpu_types = t.gpu_types or _dedupe_types(gpu_selectors(template, anchor)
                                               + gpu_selectors(spec.get("worker"), anchor))
    worker = spec.get("worker")
    if worker is not None and t.gpu_count is not None:
        data, local = _get(par, "data"), _get(par, "dataLocal")
        try:
            pods = int(str(data)) // int(str(local))
        except (TypeError, ValueError, ZeroDivisionError):
            pods = None
        wcount = None
        for wc, wline in _containers(worker):
            wcount, _ = _gpu_resources(wc, wline, t.issues)
            if wcount is not None:
                break
        if pods and pods > 1:
            per_worker = wcount.value if wcount else t.gpu_count.value
            t.gpu_count = Loc(t.gpu_count.value + (pods - 1) * per_worker, t.gpu_count.line)
            t.assumptions.append(f"GPUs per replica = leader pod + {pods - 1} worker pod(s) "
                                 "(parallelism.data / parallelism.dataLocal pods)")
        else:
            t.count_comparable = False
            t.assumptions.append("multi-node LLMInferenceService without data/dataLocal: pods per replica unknown")
    return [t]


_HELM_FIELDS = (("tensorParallelSize", "tp"), ("pipelineParallelSize", "pp"), ("maxModelLen", "max_model_len"),
                ("maxNumSeqs", "max_num_seqs"), ("gpuMemoryUtilization", "gmu"), ("dtype", "dtype"))


def extract_helm(file: str, doc: dict) -> list[Target]:
    """vLLM production-stack Helm values: one target per ``servingEngineSpec.modelSpec`` entry."""
    specs = _get(doc, "servingEngineSpec", "modelSpec")
    if not isinstance(specs, list):
        return []
    meta = getattr(specs, "meta", None) or [(1, None)] * len(specs)
    out = []
    for i, ms in enumerate(specs):
        if not isinstance(ms, dict):
            continue
        line = meta[i][0]
        t = Target(file=file, line=line, kind="modelSpec", name=_text(ms.get("name")) or f"#{i}", engine="vllm",
                   replicas=_replicas(ms.get("replicaCount")))
        url = _text(ms.get("modelURL"))
        if url:
            t.model = Loc(url, _key_line(ms, "modelURL", line))
        vc = ms.get("vllmConfig")
        if isinstance(vc, dict):
            for key, skey in _HELM_FIELDS:
                if vc.get(key) is not None:
                    t.settings[skey] = Loc(vc[key], _key_line(vc, key, line))
            extra = vc.get("extraArgs")
            if extra is not None:
                tokens = []
                for text, tline, style in _items(extra, _key_line(vc, "extraArgs", line)):
                    if " " in text.strip():
                        tokens += [tok for seg in script_segments(text, tline, style) for tok in seg]
                    else:
                        tokens.append((text, tline))
                inv = parse_flags(tokens, "vllm", False)
                t.settings.update(inv.flags)
                t.model = inv.model or t.model
        if ms.get("requestGPU") is not None:
            gline = _key_line(ms, "requestGPU", line)
            try:
                t.gpu_count = Loc(int(str(ms["requestGPU"])), gline)
            except ValueError:
                t.issues.append(Issue("LS013", gline, f"requestGPU: {ms['requestGPU']!r} is not a whole number"))
        gtype = _text(ms.get("requestGPUType")) or ""
        t.gpu_types = _dedupe_types(selector_terms(ms.get("nodeSelectorTerms"), line))
        if gtype.startswith("nvidia.com/mig-"):
            t.gpu_types = [("resource", gtype, _key_line(ms, "requestGPUType", line))]
        if ms.get("raySpec") is not None:
            t.count_comparable = False
            t.assumptions.append("raySpec: GPUs across the Ray cluster are not compared with the layout")
        out.append(t)
    return out


def extract_llamasize(file: str, doc, stem: str) -> list[Target]:
    """llamasize's own format (``ManifestFile``); schema problems become LS013 findings."""
    if not isinstance(doc, dict):
        t = Target(file=file, line=_line(doc, 1), kind="llamasize", name=stem, engine=None, native=True)
        t.issues = [Issue("LS013", t.line, f"llamasize.yaml: a document must be a mapping of keys, got "
                                           f"{type(doc).__name__}")]
        return [t]
    data = dict(doc)
    shorthand = "deployments" not in data
    if shorthand:
        policy = data.pop("policy", None)
        version = data.pop("version", None)
        data = {"deployments": [data]}
        if policy is not None:
            data["policy"] = policy
        if version is not None:
            data["version"] = version
    try:
        mf = ManifestFile.model_validate(data)
    except ValidationError as e:
        issues = []
        for err in e.errors()[:5]:
            loc = list(err["loc"])
            if shorthand and loc[:2] and loc[0] == "deployments":
                loc = loc[2:]
            node, line = doc, _line(doc, 1)
            for part in loc:
                if isinstance(node, YMap) and part in node:
                    line = node.meta[part][0]
                    node = node[part]
                elif isinstance(node, YList) and isinstance(part, int) and part < len(node):
                    line = node.meta[part][0]
                    node = node[part]
                else:
                    break
            msg = "unknown key" if err["type"] == "extra_forbidden" else (
                "required key missing" if err["type"] == "missing" else err["msg"])
            where = ".".join(str(x) for x in loc) or "(top level)"
            issues.append(Issue("LS013", line, f"llamasize.yaml: {where}: {msg}"))
        t = Target(file=file, line=_line(doc, 1), kind="llamasize", name=stem, engine=None, native=True)
        t.issues = issues
        return [t]
    entries = doc.get("deployments") if not shorthand else YList([doc])
    if shorthand:
        entries.line, entries.meta = _line(doc, 1), [(_line(doc, 1), None)]
    out = []
    for i, d in enumerate(mf.deployments):
        raw = entries[i]
        line = entries.meta[i][0]

        def at(key, default=line, raw=raw):
            return _key_line(raw, key, default)

        name = d.name or (stem if len(mf.deployments) == 1 else f"#{i}")
        t = Target(file=file, line=line, kind="llamasize", name=name,
                   engine=d.engine, native=True, model=Loc(d.model, at("model")), replicas=d.replicas,
                   batch=Loc(d.concurrency, at("concurrency")), policy=mf.policy)
        t.gpu_types = [("llamasize", d.gpu, at("gpu"))]
        t.gpu_count = Loc(d.gpus, at("gpus"))
        tp = d.tp if d.tp is not None else (d.gpus // d.pp if d.gpus % d.pp == 0 else None)
        if tp is None:
            t.issues.append(Issue("LS005", at("pp"), f"gpus ({d.gpus}) is not divisible by pp ({d.pp})"))
            t.count_comparable = False
            tp = 1
        t.settings = {"tp": Loc(tp, at("tp") if d.tp is not None else at("gpus")), "pp": Loc(d.pp, at("pp")),
                      "ep": Loc(d.ep, at("ep")), "max_model_len": Loc(d.ctx, at("ctx")),
                      "kv_cache_dtype": Loc(d.kv_dtype, at("kv_dtype")), "kv_layout": Loc(d.kv_layout, at("kv_layout"))}
        if d.quant is not None:
            t.settings["quantization"] = Loc(d.quant, at("quant"))
        if d.gpu_memory_utilization is not None:
            t.settings["gmu"] = Loc(d.gpu_memory_utilization, at("gpu_memory_utilization"))
        if d.mem_fraction_static is not None:
            t.settings["mfs"] = Loc(d.mem_fraction_static, at("mem_fraction_static"))
        out.append(t)
    return out


def extract(file: str, doc, *, llamasize_file: bool, stem: str, depth: int = 0) -> list[Target]:
    """Every serving target of one YAML document."""
    if llamasize_file:
        return extract_llamasize(file, doc, stem)
    if not isinstance(doc, dict):
        return []
    kind = doc.get("kind") if isinstance(doc.get("kind"), str) else None
    if kind == "List" and isinstance(doc.get("items"), list) and depth < 3:
        return [t for item in doc["items"]
                for t in extract(file, item, llamasize_file=False, stem=stem, depth=depth + 1)]
    if kind in _WORKLOAD_KINDS:
        return extract_workload(file, doc)
    if kind == "LeaderWorkerSet":
        return extract_lws(file, doc)
    if kind == "InferenceService":
        return extract_isvc(file, doc)
    if kind == "LLMInferenceService":
        return extract_llmisvc(file, doc)
    if "servingEngineSpec" in doc:
        return extract_helm(file, doc)
    return []


# ------------------------------------------------------------------------------- evaluation ---
#: vLLM / SGLang ``--quantization`` methods -> llamasize formats (facts/serving.md 2.1, 2.3).
QUANT_METHODS = {
    "fp8": "fp8", "fp8_per_tensor": "fp8", "fp8_per_block": "fp8", "fp8_per_channel": "fp8", "fbgemm_fp8": "fp8",
    "w8a8_fp8": "fp8", "modelopt": "fp8",
    "awq": "int4", "awq_marlin": "int4", "auto_awq": "int4", "gptq": "int4", "gptq_marlin": "int4",
    "auto_gptq": "int4", "moe_wna16": "int4",
    "int8_per_channel_weight_only": "int8", "w8a8_int8": "int8",
    "mxfp4": "mxfp4", "gpt_oss_mxfp4": "mxfp4",
    "modelopt_fp4": "nvfp4", "nvfp4_per_token": "nvfp4",
    "bitsandbytes": "nf4",
}
_DTYPES = {"float16": "fp16", "half": "fp16", "fp16": "fp16", "bfloat16": "bf16", "bf16": "bf16",
           "float32": "fp32", "float": "fp32", "fp32": "fp32"}
_KV_DTYPES = {"auto": "auto", "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "fp8_inc": "fp8",
              "bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "fp16": "fp16", "half": "fp16"}


def _norm_path(path: Path, cwd: Path | None) -> str:
    """Path as shown in findings: relative to ``cwd`` when inside it, with forward slashes."""
    p = Path(os.path.normpath(str(path)))
    if cwd is not None and p.is_absolute():
        try:
            p = p.relative_to(cwd)
        except ValueError:
            pass
    return p.as_posix()


class _Index:
    """Registry lookups for manifests: HF names -> models, node labels -> GPUs (built once)."""

    def __init__(self, reg) -> None:
        self.reg = reg
        self.hf: dict[str, object] = {}
        self.hf_exact: dict[str, str] = {}
        base: dict[str, list] = {}
        for spec in reg.models:
            for name in spec.hf_names:
                self.hf[name.lower()] = spec
                self.hf_exact[name.lower()] = name
                base.setdefault(name.split("/")[-1].lower(), []).append(spec)
        #: repository names (without the org) that belong to exactly one model
        self.hf_base = {k: v[0] for k, v in base.items() if len({s.id for s in v}) == 1}
        self.gpu_labels: dict[tuple[str, str], object] = {}
        for g in reg.gpus:
            for v in g.gfd_products:
                self.gpu_labels[("gpu.product", v.lower())] = g
            for v in g.nvml_names:
                self.gpu_labels.setdefault(("gpu.product", v.replace(" ", "-").lower()), g)
            for v in g.instance_types:
                self.gpu_labels[("instance-type", v.lower())] = g
            for v in g.gke_accelerators:
                self.gpu_labels[("gke-accelerator", v.lower())] = g

    def model(self, ref: str):
        """Registry spec for a model reference (HF name, ``hf://``, ``s3://.../org--name``, local
        path ending in ``org/name``), plus the HF name it matched; (None, None) when unknown."""
        r = ref.strip().rstrip("/")
        for prefix in ("hf://", "huggingface://", "https://huggingface.co/", "http://huggingface.co/",
                       "huggingface.co/", "hf.co/"):
            if r.lower().startswith(prefix):
                r = r[len(prefix):]
                break
        else:
            if "://" in r:
                r = r.split("://", 1)[1]
                r = r.split("/", 1)[1] if "/" in r else r  # drop the bucket / host
        parts = [p for p in r.split("/") if p]
        if not parts:
            return None, None
        last = parts[-1]
        if last.lower().startswith("models--"):
            last = last[len("models--"):]
        candidates = [r]
        if len(parts) >= 2:
            candidates.append("/".join(parts[-2:]))
        if "--" in last:
            candidates.append(last.replace("--", "/", 1))
        for c in candidates:
            spec = self.hf.get(c.lower())
            if spec is not None:
                return spec, self.hf_exact[c.lower()]
        spec = self.hf_base.get(last.lower())
        if spec is not None:
            for name in spec.hf_names:
                if name.split("/")[-1].lower() == last.lower():
                    return spec, name
        return None, None

    def gpu(self, kind: str, value: str):
        """The catalogue GPU a node label value names (None when unknown)."""
        return self.gpu_labels.get((kind, value.strip().lower()))


@dataclass
class _Evaluated:
    """A target's summary and findings."""
    deployment: CheckedDeployment
    findings: list[Finding]


def _reason(e, kind: str) -> str:
    """The estimate's reason of that kind (typed, ``FitEstimate.reason_kinds``), else all reasons."""
    return next((r for r, k in zip(e.reasons, e.reason_kinds) if k == kind), "; ".join(e.reasons))


class Checker:
    """Evaluates targets against one registry; estimates are cached across the whole run."""

    def __init__(self, reg, options: CheckOptions) -> None:
        self.reg = reg
        self.opt = options
        self.index = _Index(reg)
        self._estimates: dict = {}
        self.default_gpu = reg.gpu(options.default_gpu) if options.default_gpu else None

    # ---- helpers
    def _finding(self, t: Target | None, file: str, rule: str, line: int, message: str) -> Finding:
        """A finding of ``rule`` (its severity raised to error by ``--strict`` where the rule says so)."""
        r = RULES[rule]
        sev = "error" if (self.opt.strict and r.strict_error) else r.severity
        return Finding(file=file, line=max(1, line), rule_id=rule, rule_name=r.name, severity=sev,
                       message=message, deployment=t.id if t is not None else None)

    def estimate(self, d):
        """``estimate_memory`` once per distinct deployment."""
        from llamasize.estimate.memory import estimate_memory

        e = self._estimates.get(d)
        if e is None:
            e = self._estimates[d] = estimate_memory(d)
        return e

    def _count(self, t: Target, key: str, what: str, out: list[Finding], maximum: int = 4096) -> int | None:
        """A whole-number setting (vLLM k/K/m/M suffixes); LS013/LS012 on junk / unresolved env refs."""
        from llamasize.units import parse_count

        loc = t.settings.get(key)
        if loc is None or loc.value is None:
            if loc is not None:
                out.append(self._finding(t, t.file, "LS013", loc.line, f"{t.id}: {what} has no value"))
            return None
        text = _text(loc.value)
        if text is not None and "$" in text:
            out.append(self._finding(t, t.file, "LS012", loc.line,
                                     f"{t.id}: {what} is {text!r}, taken from a variable llamasize cannot resolve; "
                                     "not checked"))
            return None
        try:
            return parse_count(text if text is not None else loc.value, what, maximum=maximum)
        except UsageError as e:
            out.append(self._finding(t, t.file, "LS013", loc.line, f"{t.id}: {e}"))
            return None

    # ---- the check of one target
    def evaluate(self, t: Target) -> _Evaluated:
        """All findings of one target and its summary (the steps below, in order)."""
        out: list[Finding] = [self._finding(t, t.file, i.rule, i.line, f"{t.id}: {i.message}") for i in t.issues]
        assumptions = list(t.assumptions)
        if t.engine is None:  # a llamasize.yaml entry that broke its schema
            return _Evaluated(self._summary(t, [], [], {}, out, assumptions), out)
        spec, hf_name = self._model(t, out)
        gpus = self._gpus(t, out, assumptions)
        layout = self._layout(t, out, assumptions)
        self._gpu_count(t, layout, out)
        quant, quant_line, kv, kv_line = None, t.line, "auto", t.line
        if spec is not None:
            quant, quant_line = self._quant(t, spec, hf_name, out, assumptions)
            kv, kv_line = self._kv(t, out)
        ctx, ctx_auto, batch = self._context(t, out)
        knobs = self._engine_knobs(t, out)
        results, ctx = self._memory(t, spec, gpus, layout, quant, quant_line, kv, kv_line, ctx, ctx_auto, batch,
                                    knobs, out)
        price = self._price(t, gpus, layout, out)
        tp, pp, dp, ep = layout
        settings = dict(model=spec.id if spec else None, tp=tp, pp=pp, dp=dp, ep=ep, quant=quant,
                        kv=(results[0][1].kv_cache_dtype if results else kv), ctx=ctx, batch=batch, price=price)
        return _Evaluated(self._summary(t, gpus, results, settings, out, assumptions), out)

    def _model(self, t: Target, out: list[Finding]):
        """The registry spec of the target's model (and the HF name it matched), or (None, None)."""
        if t.model is None or not _text(t.model.value):
            out.append(self._finding(t, t.file, "LS009", t.line, f"{t.id}: no model found (no positional model, "
                                     "--model, storageUri, modelURL or spec.model.uri)"))
            return None, None
        ref = _text(t.model.value)
        if t.native:
            try:
                return self.reg.model(ref), None
            except UnknownIdError as e:
                spec, hf_name = self.index.model(ref)
                if spec is None:
                    out.append(self._finding(t, t.file, "LS009", t.model.line, f"{t.id}: {e}"))
                return spec, hf_name
        if "$" in ref:
            out.append(self._finding(t, t.file, "LS012", t.model.line,
                                     f"{t.id}: the model {ref!r} comes from a variable llamasize cannot resolve; "
                                     "not checked"))
            return None, None
        spec, hf_name = self.index.model(ref)
        if spec is None:
            out.append(self._finding(t, t.file, "LS009", t.model.line,
                                     f"{t.id}: model {ref!r} is not in the spec registry (no model lists it "
                                     "in hf_names; see 'llamasize models'); memory not checked"))
        return spec, hf_name

    def _gpus(self, t: Target, out: list[Finding], assumptions: list[str]) -> list:
        """Catalogue GPUs the pods may land on (each is checked)."""
        gpus = []
        for key, value, line in t.gpu_types:
            if key == "llamasize":
                try:
                    g = self.reg.gpu(value)
                except UnknownIdError as e:
                    out.append(self._finding(t, t.file, "LS010", line, f"{t.id}: {e}"))
                    continue
            elif key == "resource":
                out.append(self._finding(t, t.file, "LS010", line,
                                         f"{t.id}: {value} is a MIG slice; slices are not in the GPU catalogue"))
                continue
            else:
                g = self.index.gpu(_GPU_LABELS[key], value)
                if g is None:
                    out.append(self._finding(t, t.file, "LS010", line,
                                             f"{t.id}: {key}={value} matches no GPU in the catalogue "
                                             "(gfd_products / nvml_names, instance_types, gke_accelerators; "
                                             "see 'llamasize gpus')"))
                    continue
            if g.id not in {x.id for x in gpus}:
                gpus.append(g)
        if not t.gpu_types:
            if self.default_gpu is not None:
                gpus = [self.default_gpu]
                assumptions.append(f"GPU type not pinned by the manifest: {self.default_gpu.id} assumed "
                                   "(--default-gpu)")
            else:
                out.append(self._finding(t, t.file, "LS010", t.line,
                                         f"{t.id}: GPU type not pinned (no nodeSelector/affinity on "
                                         "nvidia.com/gpu.product, node.kubernetes.io/instance-type or "
                                         "cloud.google.com/gke-accelerator); memory not checked "
                                         "(--default-gpu ID assumes one)"))
        return gpus

    def _layout(self, t: Target, out: list[Finding], assumptions: list[str]):
        """``(tp, pp, dp, ep)``; a size is None when its value is unusable (already reported)."""
        tp = self._count(t, "tp", "tensor-parallel size", out) if "tp" in t.settings else 1
        pp = self._count(t, "pp", "pipeline-parallel size", out, maximum=1024) if "pp" in t.settings else 1
        dp = self._count(t, "dp", "data-parallel size", out, maximum=100_000) if "dp" in t.settings else 1
        ep = False
        if "ep" in t.settings:
            v = t.settings["ep"].value
            ep = v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes")
        if "ep_size" in t.settings:
            eps = self._count(t, "ep_size", "expert-parallel size", out)
            ep = ep or bool(eps and eps > 1)
        if t.engine == "sglang" and t.settings.get("dp_attention") and t.settings["dp_attention"].value:
            assumptions.append("SGLang --enable-dp-attention: data-parallel attention inside the TP group "
                               "(GPUs = TP x PP)")
            dp = 1
        return tp, pp, dp, ep

    def _gpu_count(self, t: Target, layout, out: list[Finding]) -> None:
        """LS011 (no GPU) and LS005 (GPUs requested != TP x PP x DP)."""
        tp, pp, dp, _ = layout
        line = t.gpu_count.line if t.gpu_count is not None else t.line
        if t.gpu_count is None or t.gpu_count.value == 0:
            if all(i.rule != "LS013" for i in t.issues):  # an unreadable count is reported already
                out.append(self._finding(t, t.file, "LS011", line,
                                         f"{t.id}: the serving container requests no GPU "
                                         "(resources.limits nvidia.com/gpu or amd.com/gpu)"))
            return
        if None in (tp, pp, dp) or not t.count_comparable:
            return
        need = tp * pp * dp
        if t.gpu_count.value != need:
            dp_txt = f" x data-parallel {dp}" if dp > 1 else ""
            where = "the group requests" if t.kind == "LeaderWorkerSet" else "the resources request"
            default = " (vLLM's default is 1 when --tensor-parallel-size is not set)" \
                if "tp" not in t.settings and not t.native else ""
            out.append(self._finding(t, t.file, "LS005", line,
                                     f"{t.id}: {where} {t.gpu_count.value} GPU(s) but tensor-parallel {tp} x "
                                     f"pipeline-parallel {pp}{dp_txt} uses {need}{default}"))

    def _context(self, t: Target, out: list[Finding]):
        """``(context, auto, batch)``: --max-model-len (None when unset or unusable), whether it is
        ``-1``/``auto``, and the sequences that must fit."""
        from llamasize.units import parse_count

        loc = t.settings.get("max_model_len")
        ctx, auto = None, False
        if loc is not None and str(_text(loc.value)).strip().lower() in ("-1", "auto"):
            auto = True
        elif loc is not None:
            ctx = self._count(t, "max_model_len", "ctx" if t.native else "--max-model-len", out, maximum=2**40)
        batch = 1
        if t.batch is not None:
            try:
                batch = parse_count(str(t.batch.value), "concurrency", maximum=1_000_000)
            except UsageError as e:
                out.append(self._finding(t, t.file, "LS013", t.batch.line, f"{t.id}: {e}"))
        return ctx, auto, batch

    def _engine_knobs(self, t: Target, out: list[Finding]) -> dict:
        """Memory fractions, scheduler limits and the KV layout the engine is started with."""
        from llamasize.units import parse_fraction

        knobs: dict = {"kv_layout": str(t.settings["kv_layout"].value) if "kv_layout" in t.settings else "auto"}
        for key, what in (("gmu", "--gpu-memory-utilization"), ("mfs", "--mem-fraction-static")):
            loc = t.settings.get(key)
            if loc is not None:
                try:
                    knobs[key] = parse_fraction(_text(loc.value), what)
                except UsageError as e:
                    out.append(self._finding(t, t.file, "LS013", loc.line, f"{t.id}: {e}"))
        if "max_num_seqs" in t.settings:
            knobs["mns"] = self._count(t, "max_num_seqs", "--max-num-seqs", out, maximum=1_000_000)
        if "max_num_batched_tokens" in t.settings:
            knobs["mnbt"] = self._count(t, "max_num_batched_tokens", "--max-num-batched-tokens", out, maximum=2**30)
        return knobs

    def _memory(self, t: Target, spec, gpus, layout, quant, quant_line, kv, kv_line, ctx, ctx_auto, batch, knobs,
                out: list[Finding]):
        """Estimate every GPU type (LS001-LS004, LS006, LS007, LS012); ``(results, context checked)``."""
        from llamasize.estimate.memory import Deployment, validate_layout

        tp, pp, dp, ep = layout
        lines = {k: v.line for k, v in t.settings.items()}
        if spec is None or not gpus or None in (tp, pp, dp) or quant is None or kv is None:
            return [], ctx
        if ep and dp > 1:
            out.append(self._finding(t, t.file, "LS012", lines.get("dp", t.line),
                                     f"{t.id}: wide expert parallelism (data-parallel {dp} x expert-parallel) "
                                     "is not modelled; memory not checked"))
            return [], ctx
        maxpos = spec.max_position_embeddings
        context_note = None
        if ctx is None and not ctx_auto and maxpos is not None:
            ctx = maxpos
            engine = {"vllm": "vLLM", "sglang": "SGLang"}.get(t.engine, t.engine)
            flag = "--context-length" if t.engine == "sglang" else "--max-model-len"
            context_note = f"{flag} not set: {engine} uses {spec.id}'s maximum of {maxpos:,} tokens"
        if ctx is not None and maxpos is not None and ctx > maxpos:
            out.append(self._finding(t, t.file, "LS003", lines.get("max_model_len", t.line),
                                     f"{t.id}: {'ctx' if t.native else '--max-model-len'} {ctx:,} is above "
                                     f"{spec.id}'s maximum of {maxpos:,} tokens"))
        try:
            validate_layout(spec, tp * pp, tp, pp, ep)
        except LayoutError as e:
            key = "tp" if e.setting == "gpus" else e.setting
            out.append(self._finding(t, t.file, "LS004", lines.get(key, t.line), f"{t.id}: {e}"))
            return [], ctx
        context = min(ctx, maxpos) if (ctx is not None and maxpos is not None) else (ctx or 1)
        results = []
        for g in gpus:
            d = Deployment(model=spec, gpu=g, gpu_count=tp * pp, quant=quant, context_tokens=context,
                           tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel=ep,
                           kv_cache_dtype=kv, batch=batch, engine=t.engine, kv_layout=knobs["kv_layout"],
                           gpu_memory_utilization=knobs.get("gmu"), mem_fraction_static=knobs.get("mfs"),
                           max_num_batched_tokens=knobs.get("mnbt"), max_num_seqs=knobs.get("mns"))
            try:
                e = self.estimate(d)
            except LlamasizeError as err:
                out.append(self._finding(t, t.file, "LS013", t.line, f"{t.id}: {err}"))
                continue
            results.append((g, e))
            out += self._memory_findings(t, g, e, spec, ctx, ctx_auto, context_note, quant, quant_line, kv,
                                         kv_line, lines, _merge_limits(self.opt.policy, t.policy), batch)
        return results, ctx

    def _price(self, t: Target, gpus, layout, out: list[Finding]) -> float | None:
        """On-demand USD/h of every replica (the most expensive GPU type); LS008 and LS014."""
        from llamasize.plan.cost import PriceBasis, gpu_hour_price

        tp, pp, dp, _ = layout
        limits = _merge_limits(self.opt.policy, t.policy)
        line = t.gpu_count.line if t.gpu_count is not None else t.line
        n_paid = t.gpu_count.value if t.gpu_count is not None and t.gpu_count.value else (
            tp * pp * dp if None not in (tp, pp, dp) else None)
        prices = []
        for g in gpus:
            per_gpu, _ = gpu_hour_price(g, PriceBasis())
            prices.append((g, None if per_gpu is None or n_paid is None else round(per_gpu * n_paid * t.replicas, 4)))
        if limits.max_usd_per_hour is not None:
            for g, p in prices:
                if p is None:
                    out.append(self._finding(t, t.file, "LS014", line,
                                             f"{t.id}: no on-demand price for {g.id} in the catalogue; the "
                                             f"${limits.max_usd_per_hour:,.2f}/h budget is not checked"))
                elif p > limits.max_usd_per_hour:
                    reps = f" x {t.replicas} replicas" if t.replicas > 1 else ""
                    out.append(self._finding(t, t.file, "LS008", line,
                                             f"{t.id}: ${p:,.2f}/h ({n_paid} x {g.id} at "
                                             f"${p / n_paid / t.replicas:,.2f}/GPU-h on demand{reps}) is above the "
                                             f"policy budget of ${limits.max_usd_per_hour:,.2f}/h"))
        known = [p for _, p in prices if p is not None]
        return max(known) if prices and len(known) == len(prices) else None

    def _quant(self, t: Target, spec, hf_name, out, assumptions) -> tuple[str | None, int]:
        """llamasize format of the weights: the flag, else what the checkpoint ships in."""
        from llamasize.estimate.quant import get_format

        loc = t.settings.get("quantization")
        if t.native:
            if loc is None:  # the same default as ``fit``: the format the checkpoint ships in
                return spec.default_quant, t.line
            try:
                return get_format(str(loc.value)).id, loc.line
            except UnknownIdError as e:
                out.append(self._finding(t, t.file, "LS013", loc.line, f"{t.id}: {e}"))
                return None, loc.line
        if loc is not None and loc.value is not None:
            method = str(loc.value).strip().lower().replace("-", "_")
            q = QUANT_METHODS.get(method)
            if q is None and method == "compressed_tensors" and hf_name and hf_name.upper().endswith("-FP8"):
                q = "fp8_mixed" if spec.family == "llama4" and spec.is_moe else "fp8"
            if q is None:
                out.append(self._finding(t, t.file, "LS012", loc.line,
                                         f"{t.id}: --quantization {loc.value} is not modelled (known: "
                                         f"{', '.join(sorted(QUANT_METHODS))}); memory not checked"))
                return None, loc.line
            if method in ("awq", "awq_marlin", "auto_awq", "gptq", "gptq_marlin", "auto_gptq", "moe_wna16"):
                assumptions.append(f"--quantization {loc.value}: 4-bit group-128 weights assumed (int4)")
            return q, loc.line
        mline = t.model.line if t.model is not None else t.line
        if hf_name and hf_name.upper().endswith("-FP8"):
            q = "fp8_mixed" if spec.family == "llama4" and spec.is_moe else "fp8"
            assumptions.append(f"{hf_name} is an FP8 checkpoint: {q} weights")
            return q, mline
        if spec.checkpoint_quant:  # the checkpoint's own format (``ModelSpec.default_quant``, as ``fit``)
            assumptions.append(f"{spec.id}'s checkpoint ships in {spec.default_quant}: {spec.default_quant} weights")
            return spec.default_quant, mline
        dloc = t.settings.get("dtype")
        if dloc is not None and _text(dloc.value) and str(dloc.value).lower() != "auto":
            q = _DTYPES.get(str(dloc.value).strip().lower())
            if q is None:
                out.append(self._finding(t, t.file, "LS013", dloc.line, f"{t.id}: unknown --dtype {dloc.value!r}"))
                return None, dloc.line
            return q, dloc.line
        return spec.default_quant, mline

    def _kv(self, t: Target, out) -> tuple[str | None, int]:
        """llamasize KV dtype of ``--kv-cache-dtype`` (None when not modelled) and its line."""
        loc = t.settings.get("kv_cache_dtype")
        if loc is None or loc.value is None:
            return "auto", t.line
        v = str(loc.value).strip().lower().replace("-", "_")
        kv = _KV_DTYPES.get(v)
        if kv is None:
            out.append(self._finding(t, t.file, "LS012" if not t.native else "LS013", loc.line,
                                     f"{t.id}: KV-cache dtype {loc.value!r} is not modelled (known: "
                                     f"{', '.join(sorted(_KV_DTYPES))}); memory not checked"))
        return kv, loc.line

    def _memory_findings(self, t, g, e, spec, ctx, ctx_auto, context_note, quant, quant_line, kv, kv_line, lines,
                         limits, batch) -> list[Finding]:
        """Findings of one estimate on one GPU type: FP8 support, fit, context, headroom."""
        out = []
        what = (f"{spec.id} ({quant}) on {e.gpu_count} x {g.id} (TP {e.tensor_parallel_size}, PP "
                f"{e.pipeline_parallel_size}{', EP' if e.expert_parallel else ''})")
        ctx_name = "ctx" if t.native else "--max-model-len"
        if g.native.fp8 is False:
            from llamasize.estimate.quant import get_format

            if get_format(quant).needs_native == "fp8":
                out.append(self._finding(t, t.file, "LS006", quant_line,
                                         f"{t.id}: {quant} weights on {g.id}, which has no native FP8: they run "
                                         "weight-only (FP8 weights, BF16 matmuls), slower than on FP8 hardware"))
            if kv == "fp8":
                out.append(self._finding(t, t.file, "LS006", kv_line,
                                         f"{t.id}: FP8 KV cache on {g.id}, which has no native FP8: it is stored "
                                         "in FP8 and converted in software"))
        p = e.per_gpu
        if e.fits is None:
            out.append(self._finding(t, t.file, "LS012", t.line,
                                     f"{t.id}: {what}: whether it fits is unknown ({'; '.join(e.unknown)})"))
            return out
        if p.kv_capacity_bytes is not None and p.kv_capacity_bytes < 0:
            reason = _reason(e, "weights")
            out.append(self._finding(t, t.file, "LS001", t.line, f"{t.id}: {what} does not fit: {reason}"))
            return out
        if ctx_auto:
            if not e.max_context_tokens:
                out.append(self._finding(t, t.file, "LS002", lines.get("max_model_len", t.line),
                                         f"{t.id}: {what}: no room for any KV cache"))
            return out
        if p.free_bytes is not None and p.free_bytes < 0:
            reason = _reason(e, "kv_cache")
            head = f"{ctx_name} {ctx:,}" if context_note is None else f"the default context ({context_note})"
            per = f" x {batch} sequences" if batch > 1 else ""
            out.append(self._finding(t, t.file, "LS002", lines.get("max_model_len", t.line),
                                     f"{t.id}: {head}{per} does not fit on {what}: {reason}"))
            return out
        if limits.min_headroom is not None and p.headroom_fraction is not None \
                and p.headroom_fraction < limits.min_headroom:
            out.append(self._finding(t, t.file, "LS007", t.line,
                                     f"{t.id}: {what}: free memory is {p.headroom_fraction:.1%} of the engine budget "
                                     f"per GPU, below the policy minimum of {limits.min_headroom:.0%}"))
        return out

    def _summary(self, t, gpus, results, s, findings, assumptions) -> CheckedDeployment:
        """The deployment's line of the report: what was found, the verdict, the worst severity."""
        worst = max((SEVERITY_RANK[f.severity] for f in findings), default=-1)
        status = "fail" if worst == 2 else "warn" if worst == 1 else "pass"
        results = results or []
        fits = None
        if results and all(e.fits is not None for _, e in results):
            fits = all(e.fits for _, e in results)
        heads = [e.per_gpu.headroom_fraction for _, e in results if e.per_gpu.headroom_fraction is not None]
        maxctx = [e.max_context_tokens for _, e in results if e.max_context_tokens is not None]
        return CheckedDeployment(
            id=t.id, file=t.file, line=t.line, kind=t.kind, name=t.name, engine=t.engine,
            model_ref=_text(t.model.value) if t.model is not None else None, model=s.get("model"),
            gpu_refs=[v for _, v, _ in t.gpu_types], gpus=[g.id for g in gpus],
            gpu_count=t.gpu_count.value if t.gpu_count is not None else None, replicas=t.replicas,
            tensor_parallel_size=s.get("tp"), pipeline_parallel_size=s.get("pp"), data_parallel_size=s.get("dp"),
            expert_parallel=s.get("ep"), quant=s.get("quant"), kv_cache_dtype=s.get("kv"),
            context_tokens=s.get("ctx"), batch=s.get("batch", 1), fits=fits,
            max_context_tokens=min(maxctx) if maxctx else None, headroom_fraction=min(heads) if heads else None,
            price_usd_per_hour=s.get("price"), status=status, assumptions=assumptions,
        )


def _merge_limits(run: PolicyLimits, file: PolicyLimits | None) -> PolicyLimits:
    """The stricter of the run's limits and a llamasize.yaml file's own."""
    if file is None:
        return run
    budgets = [x for x in (run.max_usd_per_hour, file.max_usd_per_hour) if x is not None]
    heads = [x for x in (run.min_headroom, file.min_headroom) if x is not None]
    return PolicyLimits(max_usd_per_hour=min(budgets) if budgets else None, min_headroom=max(heads) if heads else None)


# --------------------------------------------------------------------------------- the run ---
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
            raise UsageError(f"{raw}: not a regular file or directory")
        else:
            raise UsageError(f"{raw}: no such file or directory")
    return out


def read_capped(path: Path) -> bytes:
    """At most ``MAX_FILE_BYTES + 1`` bytes of a file (OSError propagates)."""
    with open(path, "rb") as fh:
        return fh.read(MAX_FILE_BYTES + 1)


def check_paths(paths: Iterable[str | Path], reg, options: CheckOptions = CheckOptions()) -> CheckReport:
    """Check every manifest under ``paths`` (see the module docstring)."""
    if options.fail_on not in FAIL_LEVELS:
        raise UsageError(f"unknown --fail-on '{options.fail_on}' (choices: {', '.join(FAIL_LEVELS)})")
    files = discover(paths)
    cwd = options.cwd if options.cwd is not None else Path.cwd()
    checker = Checker(reg, options)
    findings: list[Finding] = []
    deployments: list[CheckedDeployment] = []
    shown = []
    for path, named in files:
        display = _norm_path(path, cwd)
        shown.append(display)
        try:
            data = read_capped(path)
        except OSError as e:
            if named:
                raise UsageError(f"{display}: cannot read: {e.strerror or e}") from None
            findings.append(checker._finding(None, display, "LS100", 1, f"cannot read: {e.strerror or e}"))
            continue
        if len(data) > MAX_FILE_BYTES:
            findings.append(checker._finding(None, display, "LS100", 1,
                                             f"file is larger than the {MAX_FILE_BYTES // 2**20} MiB limit; "
                                             "not checked"))
            continue
        docs, problem = parse_documents(data)
        targets: list[Target] = []
        is_ls = bool(LLAMASIZE_FILE.match(path.name))
        for doc in docs:
            targets += extract(display, doc, llamasize_file=is_ls, stem=path.stem)
        if problem is not None:
            findings.append(checker._finding(None, display, problem.rule, problem.line, str(problem)))
        for t in targets:
            ev = checker.evaluate(t)
            deployments.append(ev.deployment)
            findings += ev.findings
        if named and not targets and problem is None:
            findings.append(checker._finding(None, display, "LS101", 1,
                                             "no serving deployment found (vLLM or SGLang in a Deployment, "
                                             "StatefulSet, Pod, LeaderWorkerSet, InferenceService, "
                                             "LLMInferenceService, production-stack Helm values, or a "
                                             "llamasize.yaml)"))
    findings = sorted(set(findings), key=lambda f: (f.file, f.line, f.rule_id, f.deployment or "", f.message))
    deployments.sort(key=lambda d: (d.file, d.line, d.id))
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "note")}
    threshold = SEVERITY_RANK[options.fail_on]
    summary = CheckSummary(
        files=len(files), deployments=len(deployments),
        passed=sum(d.status == "pass" for d in deployments), warned=sum(d.status == "warn" for d in deployments),
        failed=sum(d.status == "fail" for d in deployments),
        errors=counts["error"], warnings=counts["warning"], notes=counts["note"])
    return CheckReport(
        fail_on=options.fail_on, strict=options.strict, policy=options.policy, files=sorted(shown),
        deployments=deployments, findings=findings, summary=summary,
        failed=any(SEVERITY_RANK[f.severity] >= threshold for f in findings),
    )


@lru_cache(maxsize=1)
def rule_table() -> list[Rule]:
    """Every rule, sorted by id (for SARIF and the README)."""
    return [RULES[k] for k in sorted(RULES)]
