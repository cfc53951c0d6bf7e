"""Engine memory profiles by engine and version: which rule of the engine's start-up memory
accounting holds for which release (issue 12 item 1; docs/facts/engine-memory.md, docs/facts/serving.md 2.1).

A profile says, for one engine release, what the memory model of ``engine_memory`` must do:
the default ``gpu_memory_utilization``, whether the CUDA-graph pool is deducted from the KV
budget, how many fp32 copies of the logits the sampler holds during the profile run, the
non-torch memory at TP1, whether the hybrid KV manager covers chunked-local attention by default,
and how the "GPU KV cache size" line counts tokens. Each field names the versions it holds for
and its source; where the facts do not say when a rule changed, the boundary is labelled assumed.

Versions (vLLM, V1 engine only: V0 (< 0.10) profiled one ``max_model_len`` prefill and is not
modelled):

==============  =====  ========  =======  =========  ========  ============
versions        util   graphs    copies   non-torch  hybrid    tokens line
==============  =====  ========  =======  =========  ========  ============
0.10 - 0.16     0.90   no        9.1      0.13 GiB   off       available
0.17            0.90   no        3.25     0.13 GiB   off       available
0.18            0.90   no        3.25     0.25 GiB   off       available
0.19 - 0.20     0.90   no        3.25     0.25 GiB   on        available
0.21 - 0.25     0.90   yes       3.25     0.25 GiB   on        available
0.26 - 0.32     0.90   yes       3.25     0.25 GiB   on        conc x len
0.33 +          0.92   yes       3.25     0.25 GiB   on        conc x len
==============  =====  ========  =======  =========  ========  ============

Sources: util 0.92 in 0.33.0, 0.9 before (docs/facts/serving.md 2.1; the release that changed it is
not in the facts: 0.33 assumed); graphs deducted by default since 0.21.0
(``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS``, docs/facts/serving.md 2.1; 0.19.0 does not, rows 1-30);
sampler copies: 3.25 calibrated on rows 1, 9, 10, 22, 27 (0.19.0) and row 32 (0.17.0), 9.1 on
row 31 (0.15/0.16: activation 5.64 GiB where 0.17 has 2.23); non-torch 0.13 GiB at TP1 in
0.15-0.17 (rows 31, 32), 0.25 GiB from 0.18 (rows 1, 33); hybrid KV for chunked-local attention
off by default from PR #21761 (2025-07-28, assumed to cover 0.10-0.18), on in 0.19.0 (facts
item 7; assumed to stay on later); token line "available / bytes per token" up to 0.25,
"max_concurrency x max_model_len" from about 0.26 (facts item 6, "about": boundary assumed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llamasize.errors import UsageError
from llamasize.estimate.deployment import Assumption
from llamasize.text import quote_value
from llamasize.units import GIB

#: The current releases (docs/facts/serving.md: vLLM 0.33.0, SGLang 0.5.23). TensorRT-LLM has no
#: release in the facts: its rules are not version-dependent here.
CURRENT_VERSION = {"vllm": "0.33.0", "sglang": "0.5.23", "trtllm": None, "generic": None}
#: The oldest vLLM release modelled (the V1 engine's budget identity holds from 0.10, facts item 1).
VLLM_OLDEST = (0, 10, 0)

_VERSION = re.compile(r"v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[.+-]?(?:post|rc|dev|a|b)?\d*)*")

HYBRID_SETTINGS = ("auto", "on", "off")


def parse_version(text: str) -> tuple[int, int, int]:
    """``X.Y[.Z]`` (a leading ``v`` and a ``.postN`` / ``rcN`` / ``+local`` suffix allowed) ->
    ``(X, Y, Z)``; a one-line UsageError otherwise."""
    m = _VERSION.fullmatch(text.strip())
    if not m:
        raise UsageError(f"--engine-version {quote_value(text)} is not a version like 0.19.0")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def version_text(v: tuple[int, int, int]) -> str:
    """``(0, 19, 0)`` -> ``0.19.0``."""
    return ".".join(str(x) for x in v)


@dataclass(frozen=True)
class EngineProfile:
    """The start-up memory rules of one engine release (module docstring)."""

    engine: str
    #: The version asked for (or the engine's current release), as text; None when unversioned.
    version: str | None
    #: The versions these rules hold for, e.g. ``vLLM 0.19 - 0.20``.
    holds_for: str
    #: Default ``gpu_memory_utilization`` (vLLM).
    default_util: float | None = None
    #: Whether the CUDA-graph pool estimate is taken out of the KV budget.
    deducts_cuda_graphs: bool = False
    #: fp32 copies of the ``max_num_seqs x vocab`` logits the profile run's sampler holds.
    sampler_fp32_copies: float = 3.25
    #: Non-torch forward increase at TP1 PP1 (bytes).
    non_torch_tp1_bytes: int = GIB // 4
    #: Whether the hybrid KV manager covers chunked-local attention by default
    #: (``VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE``).
    hybrid_chunked_default: bool = True
    #: How "GPU KV cache size: N tokens" counts: ``available`` (num_blocks x block_size over the
    #: KV groups) or ``concurrency`` (max_concurrency x max_model_len).
    tokens_line: str = "available"
    #: Notes for the fit warnings (e.g. a version newer than the facts know).
    notes: tuple[str, ...] = ()


#: vLLM rule boundaries: (first version, fields). Each row holds until the next.
_VLLM_ROWS = (
    ((0, 10, 0), dict(sampler_fp32_copies=9.1, non_torch_tp1_bytes=int(0.13 * GIB), hybrid_chunked_default=False)),
    ((0, 17, 0), dict(sampler_fp32_copies=3.25, non_torch_tp1_bytes=int(0.13 * GIB), hybrid_chunked_default=False)),
    ((0, 18, 0), dict(hybrid_chunked_default=False)),
    ((0, 19, 0), dict()),
    ((0, 21, 0), dict(deducts_cuda_graphs=True)),
    ((0, 26, 0), dict(deducts_cuda_graphs=True, tokens_line="concurrency")),
    ((0, 33, 0), dict(deducts_cuda_graphs=True, tokens_line="concurrency", default_util=0.92)),
)
#: The newest vLLM release the facts describe.
VLLM_NEWEST = (0, 33, 0)


def _holds_for(i: int) -> str:
    first = _VLLM_ROWS[i][0]
    if i + 1 == len(_VLLM_ROWS):
        return f"vLLM {first[0]}.{first[1]}+"
    nxt = _VLLM_ROWS[i + 1][0]
    last = (nxt[0], nxt[1] - 1)
    return f"vLLM {first[0]}.{first[1]}" + ("" if last == first[:2] else f" - {last[0]}.{last[1]}")


def vllm_profile(version: str | None) -> EngineProfile:
    """The vLLM profile of ``version`` (None: the current release)."""
    text = CURRENT_VERSION["vllm"] if version is None else version
    v = parse_version(text)
    if v < VLLM_OLDEST:
        raise UsageError(f"--engine-version {text}: vLLM's V0 engine (before 0.10) profiled one max_model_len "
                         "prefill; its memory rules are not modelled (use 0.10 or later)")
    i = max(k for k, (first, _) in enumerate(_VLLM_ROWS) if v >= first)
    fields = dict(default_util=0.9)
    fields.update(_VLLM_ROWS[i][1])
    notes = ()
    if v > VLLM_NEWEST:
        notes = (f"vLLM {text} is newer than the newest release in the sourced facts ({version_text(VLLM_NEWEST)}): "
                 "its 0.33 memory rules are assumed",)
    return EngineProfile("vllm", text, _holds_for(i), notes=notes, **fields)


def engine_profile(engine: str, version: str | None) -> EngineProfile:
    """The profile of ``engine`` at ``version`` (validated; None: the current release)."""
    if engine == "vllm":
        return vllm_profile(version)
    if version is not None:
        parse_version(version)
    if engine == "sglang":
        text = CURRENT_VERSION["sglang"] if version is None else version
        notes = () if version is None or parse_version(version)[:2] == (0, 5) else (
            f"SGLang {text}: the memory rules modelled are SGLang 0.5's (docs/facts/serving.md 2.3)",)
        return EngineProfile("sglang", text, "SGLang 0.5", notes=notes)
    return EngineProfile(engine, version, "all versions (not version-dependent here)")


def hybrid_chunked(profile: EngineProfile, setting: str | None) -> tuple[bool, str]:
    """Whether vLLM's hybrid KV manager covers chunked-local attention, and why: ``--hybrid-kv-cache
    on|off`` (it mirrors ``VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE``), else the
    version's default (module docstring)."""
    key = (setting or "auto").strip().lower()
    if key not in HYBRID_SETTINGS:
        raise UsageError(f"--hybrid-kv-cache {quote_value(setting)} (choices: {', '.join(HYBRID_SETTINGS)})")
    if key != "auto":
        return key == "on", f"--hybrid-kv-cache {key} (VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE)"
    on = profile.hybrid_chunked_default
    return on, (f"{profile.holds_for} default: hybrid KV for chunked-local attention "
                f"{'on (as in 0.19.0 logs, docs/facts/engine-memory.md item 7)' if on else 'off (PR #21761)'}")


def profile_settings(engine: str, version: str | None,
                     hybrid: str | None) -> tuple[EngineProfile, tuple[bool, str] | None]:
    """(the profile of ``engine`` at ``version``, vLLM's hybrid KV setting for chunked-local attention
    with its reason (``hybrid_chunked``); None for other engines), both validated with one-line
    UsageErrors: ``--hybrid-kv-cache`` on or off is a vLLM setting. ``memory.resolve`` (every fit) and
    ``planner.validate_request`` (before a search) both call it, so every command refuses the same values."""
    profile = engine_profile(engine, version)
    if engine != "vllm":
        if (hybrid or "auto").strip().lower() != "auto":
            raise UsageError("--hybrid-kv-cache is a vLLM setting (VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE)")
        return profile, None
    return profile, hybrid_chunked(profile, hybrid)


def engine_assumption(profile: EngineProfile) -> Assumption:
    """The ``engine`` assumption of a result: the engine, the release whose memory rules applied and
    the releases they hold for (``fit``'s, and every plan, sweep, cost and frontier candidate's)."""
    return Assumption(name="engine", value=profile.engine + (f" {profile.version}" if profile.version else ""),
                      source=f"--engine / --engine-version (rules of {profile.holds_for}, "
                             "llamasize.estimate.engine_profiles)")
