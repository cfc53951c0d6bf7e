"""``llamasize run``: greedy generation with the runtime, timed (prefill and decode separately)."""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict

from llamasize import SCHEMA_VERSION
from llamasize.errors import UsageError
from llamasize.runtime.backend import RUNTIME_DTYPE, get_backend
from llamasize.runtime.kv_cache import DEFAULT_IN_FLIGHT, KVCache
from llamasize.runtime.model import decode_one_token, prefill
from llamasize.runtime.weights import build_weights, resident_weight_bytes
from llamasize.data.spec import Frozen, ModelSpec



class RunResult(Frozen):
    """What one ``llamasize run`` did and how fast."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: str = SCHEMA_VERSION
    model: str
    backend: str
    device_name: str
    backend_reason: str | None
    dtype: str
    seed: int
    batch: int
    prompt_tokens: int
    new_tokens: int
    kv_layout: str
    resident_weight_bytes: int
    kv_cache_bytes: int
    weight_build_seconds: float
    prefill_seconds: float
    decode_seconds: float
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    #: Generated token ids per sequence.
    tokens: list[list[int]]
    #: Set when the requested spec was too large and a scaled-down copy ran instead.
    scaled_note: str | None = None


def run_generation(spec: ModelSpec, *, prompt_tokens: int, new_tokens: int, batch: int = 1, device: str = "auto",
                   layout: str = "full", seed: int = 0) -> RunResult:
    """Build ``spec`` with seeded weights, prefill a random prompt, then greedily decode
    ``new_tokens`` tokens; time the two phases separately."""
    from llamasize.runtime.detect import detect_cpu
    from llamasize.runtime.scaling import runnable_spec

    be = get_backend(device)
    dtype = RUNTIME_DTYPE[be.device]
    spec, scaled_note = runnable_spec(spec, detect_cpu().memory_total_bytes if be.device == "cpu" else None, dtype)
    max_pos = spec.max_position_embeddings
    if max_pos is not None and prompt_tokens + new_tokens > max_pos:
        raise UsageError(f"prompt ({prompt_tokens}) + new tokens ({new_tokens}) exceed {spec.id}'s {max_pos:,} "
                         "positions")
    with be.timer() as t_build:
        w = build_weights(spec, seed=seed, dtype=dtype, backend=be)
    rng = np.random.default_rng(seed + 1)
    prompt = be.asarray(rng.integers(0, spec.vocab_size, size=(batch, prompt_tokens)))
    cache = KVCache(spec, batch, prompt_tokens + new_tokens, layout=layout,
                    in_flight=min(prompt_tokens, DEFAULT_IN_FLIGHT), dtype=dtype, backend=be)
    be.synchronize()
    with be.timer() as t_pre:
        logits = prefill(w, prompt, cache, 0)
        be.synchronize()
    out = []
    pos = prompt_tokens
    with be.timer() as t_dec:
        for i in range(new_tokens):
            nxt = be.xp.argmax(logits, axis=-1)  # (B,) greedy
            out.append(nxt)
            if i + 1 < new_tokens:
                logits = decode_one_token(w, nxt, cache, pos)
                pos += 1
        be.synchronize()
    ids = be.to_numpy(be.xp.stack(out, axis=1)).tolist()
    decode_steps = max(1, new_tokens - 1)
    return RunResult(
        model=spec.id, backend=be.name, device_name=be.device_name, backend_reason=be.reason, dtype=dtype, seed=seed,
        batch=batch, prompt_tokens=prompt_tokens, new_tokens=new_tokens, kv_layout=layout,
        resident_weight_bytes=resident_weight_bytes(w), kv_cache_bytes=cache.kv_bytes(),
        weight_build_seconds=t_build.seconds, prefill_seconds=t_pre.seconds, decode_seconds=t_dec.seconds,
        prefill_tokens_per_s=batch * prompt_tokens / t_pre.seconds,
        decode_tokens_per_s=batch * decode_steps / t_dec.seconds if new_tokens > 1 else 0.0,
        tokens=[[int(x) for x in row] for row in ids], scaled_note=scaled_note,
    )
