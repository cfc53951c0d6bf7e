"""fit's serving memory flags (issue 13 item 2): ``--kv-cache-memory-bytes``, ``--cpu-offload-gb``,
``--max-loras``, ``--max-lora-rank``, ``--enforce-eager`` -> the Deployment fields whose byte rules
are in ``llamasize.estimate.serving_extras`` (kept out of ``cli/inputs.py``, near its line cap)."""

from __future__ import annotations


def serving_extras(d, *, kv_cache_memory_bytes: str | None, cpu_offload_gb: str | None, max_loras: str | None,
                   max_lora_rank: str | None, enforce_eager: bool):
    """``d`` with fit's serving memory flags (``estimate.serving_extras`` has the byte rules)."""
    from dataclasses import replace

    from llamasize.units import GIB, parse_count, parse_fraction

    kw: dict = {}
    if kv_cache_memory_bytes is not None:
        kw["kv_cache_memory_bytes"] = parse_count(kv_cache_memory_bytes, "--kv-cache-memory-bytes", maximum=2**50)
    if cpu_offload_gb is not None:
        kw["cpu_offload_bytes"] = int(round(parse_fraction(cpu_offload_gb, "--cpu-offload-gb", high=1e6) * GIB))
    if max_loras is not None or max_lora_rank is not None:
        kw["lora_slots"] = parse_count(max_loras or "1", "--max-loras", maximum=4096)
        kw["lora_rank"] = parse_count(max_lora_rank or "16", "--max-lora-rank", maximum=65536)
    if enforce_eager:
        kw["enforce_eager"] = True
    return replace(d, **kw) if kw else d


def attention_layout(n: int, pp: int, tp: str | None, dp: str | None) -> tuple[int, int]:
    """``(tp, dp)`` of an attention data-parallel deployment of ``n`` GPUs (``--dp`` / ``--dp-attention``):
    --dp given, TP defaults to what fills the GPUs (``n / (dp x pp)``); --dp-attention alone, TP
    defaults to 1 and DP fills the GPUs (SGLang's ``--tp-size n --dp-size n --enable-dp-attention``)."""
    from llamasize.errors import LayoutError
    from llamasize.units import parse_count

    tpn = parse_count(tp, "--tp", maximum=4096) if tp is not None else None
    if dp is not None:
        dpn = parse_count(dp, "--dp", maximum=4096)
        if tpn is None:
            if n % (dpn * pp):
                raise LayoutError(f"--gpus ({n}) is not divisible by --dp ({dpn}) x --pp ({pp})", "dp")
            tpn = n // (dpn * pp)
        return tpn, dpn
    tpn = tpn or 1
    if n % (tpn * pp):
        raise LayoutError(f"--dp-attention: --gpus ({n}) is not divisible by --tp ({tpn}) x --pp ({pp})", "dp")
    return tpn, n // (tpn * pp)


def engine_profile_flags(engine_version: str | None, hybrid_kv_cache: str | None,
                         kv_cache_free_gpu_mem_fraction: str | None) -> dict:
    """The engine profile flags of every command that sizes a deployment (``--engine-version``,
    ``--hybrid-kv-cache``, ``--kv-cache-free-gpu-mem-fraction``; terraform-external's keys of the same
    names) -> the Deployment / PlanRequest fields of the same names. The fraction is checked here; the
    version and the hybrid setting against the engine by ``estimate.engine_profiles.profile_settings``."""
    from llamasize.units import parse_fraction

    return dict(
        engine_version=None if engine_version is None else engine_version.strip(),
        hybrid_kv_cache=None if hybrid_kv_cache is None else hybrid_kv_cache.strip().lower(),
        kv_cache_free_gpu_mem_fraction=None if kv_cache_free_gpu_mem_fraction is None else parse_fraction(
            kv_cache_free_gpu_mem_fraction, "--kv-cache-free-gpu-mem-fraction"))
