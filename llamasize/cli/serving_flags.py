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
