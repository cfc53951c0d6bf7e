"""Serving-engine start-up logs: what vLLM (V1 and V0) and SGLang print about a deployment and its memory.

``parse_engine_log(text)`` reads a start-up log and returns an ``EngineLog``: the deployment the
engine describes (model, TP/PP, dtype, quantization, KV dtype, memory fraction, max_model_len,
max_num_seqs, max_num_batched_tokens, version) and the per-GPU memory line items it prints. Pure:
no printing, no files (the CLI reads the file or stdin).

Be liberal in what is accepted: every pattern is searched anywhere in a line, so any prefix
(``INFO 04-22 10:00:00 [gpu_worker.py:123]``, ``(EngineCore_DP0 pid=123)``, ``(Worker_TP1 pid=9)``,
``[2025-01-01 10:00:00 TP0]``) is fine; ANSI colour codes and Windows line ends are removed first.
With several ranks, the line of rank 0 is used (every ``TP``/``PP``/``DP``/``rank`` tag before the
message is 0), else the first; ``notes`` says so when ranks printed different values.

Which line shapes come from which source:

- **vLLM V1 (>= 0.10), cited** (docs/facts/engine-memory.md rows 1-33, vLLM 0.19.0 logs of
  llm-d-incubation/llm-d-planner @d3121e05; docs/facts/hardware-memory.md 1a; docs/facts/serving.md 2.1):
  ``torch peak memory increase: 1.89GiB; non-torch forward increase memory: 0.25GiB; weights memory:
  14.99GiB``, ``Available KV cache memory: 58.11 GiB``, ``GPU KV cache size: 476,016 tokens``,
  ``Maximum concurrency for 8,192 tokens per request: 58.11x``, ``worker init memory snapshot:
  torch_peak=0.0GiB, free_memory=78.68GiB, total_memory=79.19GiB``.
- **vLLM V1, assumed shape** (the wording of vLLM's source as we know it, not quoted in the facts):
  ``Initializing a V1 LLM engine (v0.19.0) with config: model='...', dtype=torch.bfloat16,
  max_seq_len=8192, tensor_parallel_size=1, pipeline_parallel_size=1, quantization=None,
  kv_cache_dtype=auto, ...``, ``non-default args: {'model': ..., 'gpu_memory_utilization': 0.95, ...}``,
  ``vLLM API server version 0.19.0``, ``Model loading took 14.99 GiB``, ``Graph capturing finished in
  12 secs, took 0.91 GiB``, ``Chunked prefill is enabled with max_num_batched_tokens=8192``.
- **vLLM V0 (0.6.x), shape from the issue brief and docs/facts/hardware-memory.md** (PR vllm#14447:
  ``total_gpu_memory (23.58GiB) x gpu_memory_utilization (0.99)``): ``the current vLLM instance can use
  total_gpu_memory (X GiB) x gpu_memory_utilization (U) = ...``, ``model weights take X GiB;
  non_torch_memory takes Y GiB; PyTorch activation peak memory takes Z GiB; the rest of the memory
  reserved for KV Cache is W GiB``, ``# GPU blocks: N, # CPU blocks: M`` (docs/facts/serving.md 2.1), and,
  assumed, ``Initializing an LLM engine (v0.6.3) with config: ...`` and the API server's
  ``args: Namespace(...)``. V0's non-torch figure includes the CUDA context (facts item 4).
- **SGLang, shape from docs/facts/engine-memory.md item 8 and the issue brief** (its "GB" are GiB):
  ``KV Cache is allocated. #tokens: N, K size: X GB, V size: Y GB``, ``Capture cuda graph end ...
  mem usage=X GB``; assumed: ``server_args=ServerArgs(model_path='...', tp_size=..., ...)``,
  ``Load weight end. ... mem usage=X GB``, ``max_total_num_tokens=N``.

Figures printed in GiB with two decimals are converted to bytes as ``round(value x 2**30)``: good to
half a printed digit (0.005 GiB), which is what a log can tell.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from llamasize.units import GIB

#: ANSI escape sequences (colour codes of a terminal log).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
#: A rank tag in the text before a message: ``TP0``, ``Worker_PP1_TP0``, ``DP0``, ``rank=0``.
_RANK_TAG = re.compile(r"(?<![A-Za-z])(?:TP|PP|DP|EP|rank)[_ =]?(\d+)")
_NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
#: Largest figure taken from a log: 2**20 GiB (1 PiB) per GPU, 2**40 tokens, 10**9 x concurrency. Above
#: them a line is garbled, not a measurement; it is ignored with a note.
MAX_LOGGED_GIB = 2**20
MAX_LOGGED_COUNT = 2**40
_GIB = _NUM + r"\s*Gi?B"


def _pattern(text: str) -> re.Pattern:
    return re.compile(text, re.IGNORECASE)


#: item -> patterns; each pattern's groups are the figures (see ``_collect``).
_PATTERNS: dict[str, list[re.Pattern]] = {
    # vLLM V1 (cited): the memory-profiling line, one pattern per figure (their order may change)
    "activation_peak_gib": [_pattern(r"torch peak memory increase:\s*" + _GIB),
                            _pattern(r"PyTorch activation peak memory takes\s*" + _GIB)],
    "non_torch_gib": [_pattern(r"non-torch forward increase memory:\s*" + _GIB),
                      _pattern(r"non_torch_memory takes\s*" + _GIB)],
    "weights_gib": [_pattern(r"weights memory:\s*" + _GIB), _pattern(r"model weights take\s*" + _GIB),
                    _pattern(r"Model loading took\s*" + _GIB),
                    _pattern(r"Loading model weights took\s*" + _GIB),
                    _pattern(r"Load weight end\..*?mem usage=\s*" + _GIB)],
    "available_kv_gib": [_pattern(r"Available KV cache memory:\s*" + _GIB),
                         _pattern(r"the rest of the memory reserved for KV Cache is\s*" + _GIB)],
    "kv_tokens": [_pattern(r"KV cache size:\s*" + _NUM + r"\s*tokens"),
                  _pattern(r"KV Cache is allocated\..*?#tokens:\s*" + _NUM),
                  _pattern(r"max_total_num_tokens\s*=\s*" + _NUM)],
    "max_concurrency": [_pattern(r"Maximum concurrency for\s*" + _NUM + r"\s*tokens per request:\s*" + _NUM + r"\s*x")],
    "cuda_graph_gib": [_pattern(r"Graph capturing finished in\s*[0-9.]+\s*secs?,\s*took\s*" + _GIB),
                       _pattern(r"Capture cuda graph end\..*?mem usage=\s*" + _GIB)],
    "total_gib": [_pattern(r"total_memory\s*=\s*" + _GIB), _pattern(r"total_gpu_memory\s*\(\s*" + _GIB + r"\s*\)"),
                  _pattern(r"total_gpu_memory\s*=\s*" + _GIB)],
    "v0_util": [_pattern(r"x\s*gpu_memory_utilization\s*\(\s*" + _NUM + r"\s*\)")],
    "gpu_blocks": [_pattern(r"# GPU blocks:\s*" + _NUM)],
    "sglang_kv_sizes": [_pattern(r"KV Cache is allocated\..*?K size:\s*" + _GIB + r".*?V size:\s*" + _GIB)],
    "mnbt": [_pattern(r"Chunked prefill is enabled with max_num_batched_tokens\s*=\s*" + _NUM)],
    "api_version": [_pattern(r"vLLM API server version\s*v?([0-9][0-9A-Za-z.+_-]*)"),
                    _pattern(r"\bsglang(?:\s+version|==|\s+v)\s*:?\s*v?([0-9][0-9A-Za-z.+_-]*)")],
}


def _literal(p: re.Pattern) -> str:
    """The pattern's text up to its first regex metacharacter, lower-cased (every pattern of
    ``_PATTERNS`` starts with a literal word or two)."""
    text = p.pattern.removeprefix("\\b")
    return re.split(r"[\\()\[\]?*+.{|^$]", text, maxsplit=1)[0].strip().lower()


_LITERALS = {p: _literal(p) for patterns in _PATTERNS.values() for p in patterns}
_V1_CONFIG = _pattern(r"Initializing a V1 LLM engine\s*\(v?([^)\s]+)\)\s*with config:\s*(.*)$")
_V0_CONFIG = _pattern(r"Initializing an LLM engine\s*\(v?([^)\s]+)\)\s*with config:\s*(.*)$")
_NON_DEFAULT = _pattern(r"non-default args:\s*(\{.*\})")
_NAMESPACE = _pattern(r"args:\s*Namespace\((.*)\)\s*$")
#: Wording only SGLang's start-up log uses.
_SGLANG_MARKERS = ("KV Cache is allocated.", "Capture cuda graph end", "Load weight end.", "max_total_num_tokens=")
_SERVER_ARGS = _pattern(r"server_args\s*=\s*ServerArgs\((.*)\)\s*$")


@dataclass(frozen=True)
class EngineLog:
    """What one start-up log says. ``None``: not in the log. Bytes are per GPU (of rank 0)."""

    engine: str  # "vllm" | "sglang"
    #: vLLM's engine generation, "v1" or "v0" (None for SGLang or when no config line says).
    generation: str | None = None
    version: str | None = None
    model: str | None = None
    tensor_parallel_size: int | None = None
    pipeline_parallel_size: int | None = None
    data_parallel_size: int | None = None
    expert_parallel: bool | None = None
    #: Compute dtype as printed without ``torch.`` (``bfloat16``, ``float32``; SGLang's ``auto``).
    dtype: str | None = None
    #: The engine's quantization method (``fp8``, ``compressed-tensors``, ...); None = none logged.
    quantization: str | None = None
    kv_cache_dtype: str | None = None
    gpu_memory_utilization: float | None = None
    mem_fraction_static: float | None = None
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    block_size: int | None = None
    enforce_eager: bool | None = None
    device_total_bytes: int | None = None
    weights_bytes: int | None = None
    activation_peak_bytes: int | None = None
    non_torch_bytes: int | None = None
    cuda_graph_bytes: int | None = None
    available_kv_bytes: int | None = None
    kv_cache_tokens: int | None = None
    #: "Maximum concurrency for N tokens per request: Mx": (N, M).
    concurrency_tokens: int | None = None
    max_concurrency: float | None = None
    #: 1-based line number of each figure's line, by ``EngineLog`` field name.
    lines: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def has_memory_lines(self) -> bool:
        """True when the log prints at least one memory line item."""
        return any(v is not None for v in (self.weights_bytes, self.activation_peak_bytes, self.non_torch_bytes,
                                           self.cuda_graph_bytes, self.available_kv_bytes, self.kv_cache_tokens))


class NoEngineLines(ValueError):
    """The text holds no vLLM or SGLang start-up line that names a deployment or its memory."""


def clean_lines(text: str) -> list[str]:
    """The log's lines without ANSI codes and carriage returns (Windows line ends, progress bars)."""
    text = _ANSI.sub("", text)
    out = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if "\r" in line:  # a progress bar redrawn in place: its last state
            line = line.rsplit("\r", 1)[-1]
        out.append(line)
    return out


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _gib_bytes(value: float) -> int:
    """A figure printed in GiB as bytes (good to half the printed digit)."""
    return round(value * GIB)


def _is_rank0(prefix: str) -> bool | None:
    """True when every rank tag before the message is 0, False when one is not, None without tags."""
    tags = _RANK_TAG.findall(prefix)
    if not tags:
        return None
    return all(int(t) == 0 for t in tags)


@dataclass
class _Hit:
    groups: tuple[str, ...]
    line: int
    rank0: bool | None
    #: Index of the pattern that matched (the first pattern of an item is its preferred wording).
    pattern: int = 0


def _collect(lines: list[str]) -> dict[str, list[_Hit]]:
    hits: dict[str, list[_Hit]] = {}
    for i, line in enumerate(lines, 1):
        if len(line) > 100_000:  # a pasted blob, not a log line
            continue
        low = line.lower()
        for item, patterns in _PATTERNS.items():
            for k, p in enumerate(patterns):
                # the pattern's leading literal, as a substring test first: a server log of requests is
                # mostly lines of none (a 22 MB log took 8 s of CPU with every regex tried on every line)
                if _LITERALS[p] not in low:
                    continue
                m = p.search(line)
                if m:
                    hits.setdefault(item, []).append(_Hit(m.groups(), i, _is_rank0(line[:m.start()]), k))
                    break
    return hits


def _pick(hits: list[_Hit], item: str, notes: list[str]) -> _Hit:
    """Of the hits in the item's preferred wording, rank 0's (all tags 0), else the first; a note when
    ranks disagree."""
    best = min(h.pattern for h in hits)
    hits = [h for h in hits if h.pattern == best]
    chosen = next((h for h in hits if h.rank0), hits[0])
    if len({h.groups for h in hits}) > 1 and any(h.rank0 is not None for h in hits):
        notes.append(f"{item.replace('_', ' ')}: {len(hits)} lines from several ranks; "
                     f"{'rank 0' if chosen.rank0 else 'the first'} (line {chosen.line}) used")
    return chosen


def _ranks_note(hits: dict[str, list[_Hit]]) -> list[str]:
    """One note when a figure was printed by several ranks (the lines of rank 0 are the ones used)."""
    several = any(sum(1 for h in hs if h.rank0 is not None) > 1 for hs in hits.values())
    return ["several ranks printed their memory lines: rank 0's (every TP/PP/DP tag 0), else the first, are "
            "compared"] if several else []


def split_top_level(text: str) -> list[str]:
    """``a=1, b='x, y', c={'k': [1, 2]}`` -> its top-level comma-separated parts (quotes and
    brackets respected)."""
    parts, depth, quote, start = [], 0, None, 0
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_pairs(text: str) -> dict[str, str]:
    """``key=value`` pairs of a config line or a ``Namespace(...)`` / ``ServerArgs(...)`` repr; values
    as printed (quotes removed)."""
    out: dict[str, str] = {}
    for part in split_top_level(text):
        key, eq, value = part.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key.strip()):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out.setdefault(key.strip(), value)
    return out


def parse_dict(text: str) -> dict[str, str]:
    """vLLM's ``non-default args: {...}`` (a Python dict repr): values as text. A repr that is not a
    literal (an object inside) is read key by key."""
    try:
        value = ast.literal_eval(text)
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    out = {}
    for part in split_top_level(text.strip()[1:-1] if text.strip().startswith("{") else text):
        key, colon, value = part.partition(":")
        if colon:
            out.setdefault(key.strip().strip("'\""), value.strip().strip("'\""))
    return out


def _none(v: str | None) -> str | None:
    return None if v is None or v.strip() in ("", "None", "null") else v.strip()


def _int(v: str | None) -> int | None:
    v = _none(v)
    if v is None:
        return None
    try:
        return int(_number(v))
    except ValueError:
        return None


def _float(v: str | None) -> float | None:
    v = _none(v)
    if v is None:
        return None
    try:
        return _number(v)
    except ValueError:
        return None


def _bool(v: str | None) -> bool | None:
    v = _none(v)
    return None if v is None else v.lower() in ("true", "1", "yes")


def _settings(lines: list[str]) -> tuple[str | None, str | None, dict[str, str], dict[str, int], bool]:
    """(generation, version, settings by vLLM/SGLang key, line of each source, sglang?) from the
    config line, the non-default args / Namespace and ServerArgs (first of each: rank 0 or the engine
    process prints them once)."""
    generation = version = None
    merged: dict[str, str] = {}
    where: dict[str, int] = {}
    sglang = False
    config = nondefault = namespace = None
    for i, line in enumerate(lines, 1):
        if "args" not in line and "config:" not in line:
            continue
        if config is None and (m := _V1_CONFIG.search(line) or _V0_CONFIG.search(line)):
            generation = "v1" if m.re is _V1_CONFIG else "v0"
            version, config = m.group(1), (parse_pairs(m.group(2)), i)
        elif nondefault is None and (m := _NON_DEFAULT.search(line)):
            nondefault = (parse_dict(m.group(1)), i)
        elif namespace is None and (m := _NAMESPACE.search(line)):
            namespace = (parse_pairs(m.group(1)), i)
        elif (m := _SERVER_ARGS.search(line)) and not sglang:
            sglang = True
            namespace = (parse_pairs(m.group(1)), i)
    # the arguments win over the config line: they are what the user set
    for source in (config, namespace, nondefault):
        if source is not None:
            values, i = source
            for k, v in values.items():
                if k in merged and v.strip() in ("", "None", "auto"):
                    continue  # 'auto' / None in the arguments says less than the config line
                merged[k] = v
                where[k] = i
    return generation, version, merged, where, sglang


def _strip_torch(v: str | None) -> str | None:
    v = _none(v)
    return None if v is None else v.removeprefix("torch.")


def parse_engine_log(text: str) -> EngineLog:
    """Read a vLLM or SGLang start-up log (see the module docstring); NoEngineLines when it has no
    start-up line at all."""
    lines = clean_lines(text)
    hits = _collect(lines)
    generation, version, s, where, sglang = _settings(lines)
    if not hits and not s and generation is None:
        raise NoEngineLines("no vLLM or SGLang start-up lines found (expected e.g. 'Available KV cache memory: ... GiB', "
                            "'Initializing a V1 LLM engine (v...) with config: ...' or 'server_args=ServerArgs(...)')")
    if not sglang and generation is None:  # no config line: SGLang when only its wording is there
        sglang = any(any(m in line for m in _SGLANG_MARKERS) for line in lines)
    notes: list[str] = []
    found: dict[str, float | int] = {}
    line_of: dict[str, int] = {}

    def take(item: str, name: str, group: int = 0, convert=_gib_bytes) -> None:
        if item in hits:
            h = _pick(hits[item], name, notes)
            value = _number(h.groups[group])
            if value > (MAX_LOGGED_GIB if convert is _gib_bytes else MAX_LOGGED_COUNT):
                notes.append(f"{name.removesuffix('_bytes').replace('_', ' ')}: {h.groups[group]} on line {h.line} "
                             "is not a plausible figure; ignored")
                return
            found[name] = convert(value)
            line_of[name] = h.line

    for item, name in (("weights_gib", "weights_bytes"), ("activation_peak_gib", "activation_peak_bytes"),
                       ("non_torch_gib", "non_torch_bytes"), ("cuda_graph_gib", "cuda_graph_bytes"),
                       ("available_kv_gib", "available_kv_bytes"), ("total_gib", "device_total_bytes")):
        take(item, name)
    take("kv_tokens", "kv_cache_tokens", convert=int)
    take("max_concurrency", "concurrency_tokens", 0, int)
    take("max_concurrency", "max_concurrency", 1, float)
    if "sglang_kv_sizes" in hits and "available_kv_bytes" not in found:
        h = _pick(hits["sglang_kv_sizes"], "available_kv_bytes", notes)
        if max(_number(g) for g in h.groups) <= MAX_LOGGED_GIB:
            found["available_kv_bytes"] = _gib_bytes(_number(h.groups[0])) + _gib_bytes(_number(h.groups[1]))
            line_of["available_kv_bytes"] = h.line
    block = _int(s.get("block_size"))
    if "gpu_blocks" in hits and "kv_cache_tokens" not in found and \
            _number(hits["gpu_blocks"][0].groups[0]) <= MAX_LOGGED_COUNT:
        h = _pick(hits["gpu_blocks"], "kv_cache_tokens", notes)
        found["kv_cache_tokens"] = int(_number(h.groups[0])) * (block or 16)
        line_of["kv_cache_tokens"] = h.line
        if block is None:
            notes.append("KV cache tokens: '# GPU blocks' x 16, vLLM's default block size (no block_size logged)")
    if version is None and "api_version" in hits:
        version = hits["api_version"][0].groups[0]
    engine = "sglang" if sglang else "vllm"
    util = _float(s.get("gpu_memory_utilization"))
    if util is None and "v0_util" in hits:
        util = _number(hits["v0_util"][0].groups[0])
    mnbt = _int(s.get("max_num_batched_tokens"))
    if engine == "sglang":
        mnbt = _int(s.get("chunked_prefill_size"))
    if mnbt is None and "mnbt" in hits:
        mnbt = int(_number(hits["mnbt"][0].groups[0]))
    if engine == "sglang":
        model = _none(s.get("model_path")) or _none(s.get("model"))
        tp, pp, dp = _int(s.get("tp_size")), _int(s.get("pp_size")), _int(s.get("dp_size"))
        max_len, seqs = _int(s.get("context_length")), _int(s.get("max_running_requests"))
        ep = (_int(s.get("ep_size")) or 1) > 1 if s.get("ep_size") else None
    else:
        model = _none(s.get("model"))
        tp, pp = _int(s.get("tensor_parallel_size")), _int(s.get("pipeline_parallel_size"))
        dp = _int(s.get("data_parallel_size"))
        max_len = _int(s.get("max_model_len")) or _int(s.get("max_seq_len"))
        seqs = _int(s.get("max_num_seqs"))
        ep = _bool(s.get("enable_expert_parallel"))
    for key in ("model", "model_path", "tensor_parallel_size", "tp_size", "gpu_memory_utilization"):
        if key in where:
            line_of.setdefault(key, where[key])
    return EngineLog(
        engine=engine, generation=None if engine == "sglang" else generation,
        version=None if version is None else version.lstrip("vV"), model=model,
        tensor_parallel_size=tp, pipeline_parallel_size=pp, data_parallel_size=dp, expert_parallel=ep,
        dtype=_strip_torch(s.get("dtype")), quantization=_none(s.get("quantization")),
        kv_cache_dtype=_none(s.get("kv_cache_dtype")), gpu_memory_utilization=util,
        mem_fraction_static=_float(s.get("mem_fraction_static")), max_model_len=max_len, max_num_seqs=seqs,
        max_num_batched_tokens=mnbt, block_size=block, enforce_eager=_bool(s.get("enforce_eager")),
        lines=line_of, notes=tuple(_ranks_note(hits) + notes), **found,
    )
