"""Measurements on the detected device: the device itself (copy bandwidth, matmul rate) and the
runtime model (weights and KV bytes, prefill time, decode step time vs batch size, experts hit,
peak memory). Results are pydantic models; nothing here prints. A ``progress(stage, done, total)``
callback lets the CLI draw a bar.

Timing: every timed region is synchronised (CUDA events on the GPU, ``perf_counter`` on the CPU)
and preceded by untimed warm-up runs (the first call pays page faults and thread start-up).
Device rates are the best of N (the machine's capability); model step times report the median
and the minimum over the timed steps.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from pydantic import Field

from llamasize import SCHEMA_VERSION
from llamasize.errors import UsageError
from llamasize.estimate.traffic import decode_kv_bytes, decode_weight_bytes, expected_distinct_experts
from llamasize.runtime.backend import Backend, get_backend
from llamasize.runtime.kv_cache import DEFAULT_IN_FLIGHT, KVCache
from llamasize.runtime.model import decode_one_token, prefill
from llamasize.runtime.weights import DTYPES, build_weights, check_dtype, resident_weight_bytes
from llamasize.data.spec import Frozen, ModelSpec

#: progress(stage, done, total): called as work completes (never required).
Progress = Callable[[str, int, int], None]
DEFAULT_BATCH_SIZES = (1, 4, 16, 64)
#: Copy benchmark array size: 8x a 32 MiB last-level cache, so the copy streams from DRAM/HBM.
DEFAULT_COPY_BYTES = 256 * 2**20


def _tick(progress: Progress | None, stage: str, done: int, total: int) -> None:
    """Report progress when a callback was given."""
    if progress is not None:
        progress(stage, done, total)


# ---------------------------------------------------------------------------------- results ---
class BandwidthMeasurement(Frozen):
    """Memory bandwidth from a large array copy (STREAM "Copy" accounting: bytes read + written)."""

    backend: str
    device: str
    array_bytes: int
    #: 2 x array_bytes per copy (one read, one write; write-allocate traffic is not counted).
    bytes_moved: int
    best_seconds: float
    repeats: int
    bytes_per_s: float
    #: How the copy ran ("numpy.copyto: one thread", "cupy.copyto: device kernel").
    method: str


class MatmulMeasurement(Frozen):
    """Matrix-multiply rate ``2 M N K / time`` in the runtime dtype (best of N)."""

    backend: str
    device: str
    dtype: str
    m: int
    n: int
    k: int
    best_seconds: float
    repeats: int
    flops_per_s: float


class PrefillMeasurement(Frozen):
    """Time to prefill one prompt (batch 1, from an empty cache)."""

    batch: int
    prompt_tokens: int
    #: Tokens per forward step (the cache's in_flight).
    step_tokens: int
    best_seconds: float
    repeats: int
    tokens_per_s: float


class DecodeMeasurement(Frozen):
    """Decode step time at one batch size, with the routing it saw and the bytes it read."""

    batch: int
    context_tokens: int
    steps: int
    median_step_seconds: float
    min_step_seconds: float
    tokens_per_s: float
    #: Distinct routed experts hit per MoE layer per step, averaged over steps and MoE layers.
    experts_hit_mean: float | None
    #: The same per MoE layer (layer index -> mean over steps).
    experts_hit_per_layer: dict[int, float]
    #: Uniform-routing expectation E x (1 - (1 - k/E)^B) (docs/design.md rule 6).
    experts_hit_expected: float | None
    #: Weight bytes one step reads (see ``decode_weight_bytes``), with the measured experts hit.
    weight_bytes_read: int
    #: KV bytes one step reads (every cached key/value each layer attends to; mean over steps).
    kv_bytes_read: int
    #: Bytes the batch's KV cache allocates.
    kv_cache_bytes: int


class RuntimeMeasurement(Frozen):
    """Everything measured by running the model on one device."""

    schema_version: str = SCHEMA_VERSION
    model: str
    backend: str
    device: str
    device_name: str
    #: Why the CPU was used when a GPU was asked for with "auto" (None otherwise).
    backend_reason: str | None
    dtype: str
    seed: int
    kv_layout: str
    kv_in_flight: int
    resident_weight_bytes: int
    weight_build_seconds: float
    #: KV bytes of the batch-1 cache used for the prefill (max_tokens = prompt + decode steps).
    prefill_kv_bytes: int
    kv_max_tokens: int
    prefill: PrefillMeasurement
    decode: list[DecodeMeasurement]
    #: Batch sizes not measured and why (memory budget).
    skipped_batches: dict[int, str] = {}
    #: Resident weights + the largest KV cache + the peak of temporaries of one prefill and one
    #: decode step at the largest batch (see ``peak_method``).
    peak_memory_bytes: int
    peak_method: str
    notes: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- device rates ---
def measure_bandwidth(backend: Backend | None = None, array_bytes: int = DEFAULT_COPY_BYTES, repeats: int = 5,
                      progress: Progress | None = None) -> BandwidthMeasurement:
    """Copy a float32 array of ``array_bytes`` into another; bandwidth = 2 x bytes / best time
    (STREAM Copy; McCalpin 1995). Both arrays are touched before timing."""
    be = backend or get_backend("cpu")
    xp = be.xp
    n = max(1, array_bytes // 4)
    src = xp.ones(n, dtype=xp.float32)
    dst = xp.zeros_like(src)
    xp.copyto(dst, src)  # warm-up
    be.synchronize()
    best = float("inf")
    for r in range(repeats):
        with be.timer() as t:
            xp.copyto(dst, src)
        best = min(best, t.seconds)
        _tick(progress, "copy bandwidth", r + 1, repeats)
    moved = 2 * n * 4
    method = "cupy.copyto: device kernel" if be.name == "cupy" else "numpy.copyto: one thread (memcpy)"
    return BandwidthMeasurement(backend=be.name, device=be.device, array_bytes=n * 4, bytes_moved=moved,
                                best_seconds=best, repeats=repeats, bytes_per_s=moved / best, method=method)


def measure_matmul(backend: Backend | None = None, size: int = 1024, dtype: str = "float32", repeats: int = 5,
                   progress: Progress | None = None, shape: tuple[int, int, int] | None = None,
                   streams: int = 1) -> MatmulMeasurement:
    """Multiply an ``M x K`` by a ``K x N`` matrix (default ``size`` cubed); rate = 2 M N K / best
    time (multiply-add = 2 FLOPs). With ``shape = (rows, hidden, width)`` it measures the GEMM
    shape a decode step of ``rows`` sequences runs, ``x @ W.T`` with W stored ``(width, hidden)``
    like the runtime's weights. ``streams`` > 1 cycles through that many distinct W matrices per
    timed repeat, so the weights come from memory rather than a warm cache, as in a decode step."""
    be = backend or get_backend("cpu")
    dt = DTYPES[check_dtype(dtype)]
    rng = np.random.default_rng(0)
    m, k, n = shape or (size, size, size)
    a = be.asarray(rng.random((m, k), dtype=np.float32).astype(dt))
    bs = [be.asarray(rng.random((n, k), dtype=np.float32).astype(dt)).T if shape else
          be.asarray(rng.random((k, n), dtype=np.float32).astype(dt)) for _ in range(max(1, streams))]
    out = a @ bs[0]  # warm-up (also starts BLAS threads)
    be.synchronize()
    best = float("inf")
    for r in range(repeats):
        with be.timer() as t:
            for b in bs:
                out = a @ b
        best = min(best, t.seconds / len(bs))
        _tick(progress, "matmul rate", r + 1, repeats)
    del out, bs
    return MatmulMeasurement(backend=be.name, device=be.device, dtype=check_dtype(dtype), m=m, n=n, k=k,
                             best_seconds=best, repeats=repeats, flops_per_s=2.0 * m * n * k / best)


# ------------------------------------------------------------------------ byte accounting ---
def decode_kv_bytes_read(cache: KVCache, pos: int) -> int:
    """KV bytes a decode step at position ``pos`` reads from this cache: per layer, K and V of
    every position from the first one its query may see (the chunk start, window start or 0) to
    ``pos`` (``traffic.decode_kv_bytes``, with the cache's element size)."""
    return decode_kv_bytes(cache.spec, int(cache.k[0].itemsize), cache.batch, pos)


# --------------------------------------------------------------------------- model timings ---
def _distinct_per_layer(routes: Iterable[tuple[int, Any]], backend: Backend) -> dict[int, list[int]]:
    """Distinct experts selected per MoE layer, one count per recorded step."""
    out: dict[int, list[int]] = {}
    for layer, idx in routes:
        out.setdefault(layer, []).append(int(np.unique(backend.to_numpy(idx)).size))
    return out


def measure_model(spec: ModelSpec, backend: Backend | None = None, *, dtype: str = "float32", seed: int = 0,
                  prompt_tokens: int = 128, batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
                  decode_steps: int = 8, warmup_steps: int = 2, prefill_repeats: int = 3, layout: str = "full",
                  in_flight: int | None = None, max_memory_bytes: int | None = None,
                  progress: Progress | None = None, max_decode_steps: int | None = None,
                  step_budget_seconds: float = 0.0) -> RuntimeMeasurement:
    """Build ``spec`` with seeded weights on ``backend`` and measure it.

    1. Resident weight bytes (sum of nbytes; equals count_params x itemsize).
    2. Prefill of a ``prompt_tokens`` prompt at batch 1 (best of ``prefill_repeats`` after one
       warm-up), in steps of ``in_flight`` tokens (default: the whole prompt, capped at 512).
    3. For each batch size: the prefilled cache copied to every sequence, ``warmup_steps``
       untimed and ``decode_steps`` timed decode steps with uniformly random input tokens (so the
       sequences route independently); median and min step time, distinct experts hit per MoE
       layer per step, bytes read. With ``max_decode_steps``, short steps are timed more often:
       timed steps continue past ``decode_steps`` (up to ``max_decode_steps``) while their total
       is under ``step_budget_seconds``, so a batch whose step takes a few ms gets more samples
       for its minimum (a 15 ms step is preempted more often than not on a loaded machine) at a
       small, bounded cost. Batch sizes whose KV cache would exceed ``max_memory_bytes``
       (together with the weights) are skipped with the reason.
    4. Peak memory: one untimed prefill + decode step at the largest batch inside the backend's
       peak tracker (numpy: tracemalloc; CuPy: memory-pool high-water mark), plus the weights
       and the largest cache, which were allocated before the tracker started.
    """
    be = backend or get_backend("cpu")
    dtype = check_dtype(dtype)
    if prompt_tokens < 1 or decode_steps < 1 or prefill_repeats < 1 or warmup_steps < 0:
        raise UsageError("prompt_tokens, decode_steps and prefill_repeats must be at least 1, "
                         "warmup_steps at least 0")
    if not batch_sizes or min(batch_sizes) < 1:
        raise UsageError("batch sizes must be at least 1")
    max_pos = spec.max_position_embeddings
    most_steps = max(decode_steps, max_decode_steps or decode_steps)
    max_tokens = prompt_tokens + warmup_steps + most_steps + 1
    if max_pos is not None and max_tokens > max_pos:
        raise UsageError(f"prompt ({prompt_tokens}) + decode steps ({warmup_steps + most_steps}) exceed "
                         f"{spec.id}'s {max_pos} positions")
    step_tokens = in_flight or min(prompt_tokens, DEFAULT_IN_FLIGHT)
    rng = np.random.default_rng(seed + 1)
    vocab = spec.vocab_size

    _tick(progress, "weights", 0, 1)
    with be.timer() as t_build:
        w = build_weights(spec, seed=seed, dtype=dtype, backend=be)
    weight_bytes = resident_weight_bytes(w)
    _tick(progress, "weights", 1, 1)

    def new_cache(batch: int) -> KVCache:
        """An empty cache for ``batch`` sequences of the measured length."""
        return KVCache(spec, batch, max_tokens, layout=layout, in_flight=step_tokens, dtype=dtype, backend=be)

    prompt = be.asarray(rng.integers(0, vocab, size=(1, prompt_tokens)))
    # ---- prefill
    prefill(w, prompt, new_cache(1), 0)  # warm-up
    best = float("inf")
    cache1 = None
    for r in range(prefill_repeats):
        cache1 = new_cache(1)
        be.synchronize()
        with be.timer() as t:
            prefill(w, prompt, cache1, 0)
        best = min(best, t.seconds)
        _tick(progress, "prefill", r + 1, prefill_repeats)
    pre = PrefillMeasurement(batch=1, prompt_tokens=prompt_tokens, step_tokens=step_tokens, best_seconds=best,
                             repeats=prefill_repeats, tokens_per_s=prompt_tokens / best)

    # ---- decode per batch size
    decodes: list[DecodeMeasurement] = []
    skipped: dict[int, str] = {}
    itemsize = w.itemsize
    moe_layers = spec.moe_layer_ids() if spec.is_moe else []
    for b in batch_sizes:
        kv_need = b * cache1.kv_bytes()
        if max_memory_bytes is not None and weight_bytes + kv_need > max_memory_bytes:
            skipped[b] = (f"weights ({weight_bytes:,} bytes) + KV cache ({kv_need:,} bytes) exceed the "
                          f"{max_memory_bytes:,}-byte memory budget")
            continue
        cache = cache1.expand_batch(b)
        pos = prompt_tokens
        for _ in range(warmup_steps):
            decode_one_token(w, be.asarray(rng.integers(0, vocab, size=b)), cache, pos)
            pos += 1
        routes: list[tuple[int, Any]] = []
        times = []
        kv_read = 0
        s = 0
        while s < decode_steps or (s < most_steps and sum(times) < step_budget_seconds):
            kv_read += decode_kv_bytes_read(cache, pos)
            tokens = be.asarray(rng.integers(0, vocab, size=b))
            be.synchronize()
            with be.timer() as t:
                decode_one_token(w, tokens, cache, pos, on_route=lambda layer, idx: routes.append((layer, idx)))
            times.append(t.seconds)
            pos += 1
            s += 1
            _tick(progress, f"decode batch {b}", min(s, decode_steps), decode_steps)
        per_layer = {layer: statistics.fmean(v) for layer, v in _distinct_per_layer(routes, be).items()}
        hit_mean = statistics.fmean(per_layer.values()) if per_layer else None
        expected = (expected_distinct_experts(spec.num_local_experts, spec.num_experts_per_tok, b)
                    if moe_layers else None)
        med = statistics.median(times)
        decodes.append(DecodeMeasurement(
            batch=b, context_tokens=pos, steps=len(times), median_step_seconds=med,
            min_step_seconds=min(times), tokens_per_s=b / med, experts_hit_mean=hit_mean,
            experts_hit_per_layer=per_layer, experts_hit_expected=expected,
            weight_bytes_read=decode_weight_bytes(spec, itemsize, b, per_layer if moe_layers else None),
            kv_bytes_read=kv_read // len(times), kv_cache_bytes=cache.kv_bytes(),
        ))
        del cache

    # ---- peak memory
    _tick(progress, "peak memory", 0, 1)
    largest = max((d.batch for d in decodes), default=1)
    big = cache1.expand_batch(largest)
    with be.peak_memory() as pm:
        c = new_cache(1)
        prefill(w, prompt, c, 0)
        decode_one_token(w, be.asarray(rng.integers(0, vocab, size=largest)), big, big.length)
        del c
    peak = weight_bytes + big.kv_bytes() + pm.extra_peak_bytes
    _tick(progress, "peak memory", 1, 1)
    method = ("resident weights + largest KV cache + tracemalloc peak of one prefill and one decode step"
              if be.name == "numpy" else
              "resident weights + largest KV cache + CuPy memory-pool high-water mark of one prefill and one "
              "decode step")
    return RuntimeMeasurement(
        model=spec.id, backend=be.name, device=be.device, device_name=be.device_name, backend_reason=be.reason,
        dtype=dtype, seed=seed, kv_layout=layout, kv_in_flight=step_tokens, resident_weight_bytes=weight_bytes,
        weight_build_seconds=t_build.seconds, prefill_kv_bytes=cache1.kv_bytes(), kv_max_tokens=max_tokens,
        prefill=pre, decode=decodes, skipped_batches=skipped, peak_memory_bytes=peak, peak_method=method,
    )
