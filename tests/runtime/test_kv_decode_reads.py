"""perf's KV bytes per decode step equal what the runtime reads, across chunk boundaries.

A query at position p of a Llama 4 chunked-local layer (chunk K) attends ``p % K + 1`` tokens
(its chunk so far), not the whole chunk (issue 9, bug A).
"""

from __future__ import annotations

import numpy as np
import pytest

from llamasize.estimate.deployment import Deployment
from llamasize.estimate.kv import attended_tokens, attended_tokens_sum, causal_pairs
from llamasize.estimate.perf import estimate_perf, phase_work
from llamasize.runtime.kv_cache import KVCache
from llamasize.runtime.measure import decode_kv_bytes_read
from llamasize.runtime.model import decode_one_token

from runtime_fixtures import tiny, tiny_weights  # noqa: F401 (fixtures)


def deployment(registry, spec, ctx: int) -> Deployment:
    """One GPU, FP32 weights and KV (the runtime's float32 cache), generic engine."""
    return Deployment(model=spec, gpu=registry.gpu("h100-sxm"), gpu_count=1, quant="fp32", context_tokens=ctx,
                      engine="generic")


def perf_kv_bytes(registry, spec, pos: int) -> int:
    """KV bytes perf's decode work reads for one sequence whose query is at position ``pos``."""
    (works,) = phase_work(deployment(registry, spec, pos + 1), 1, prefill=False, ctx=pos + 1)
    return int(next(w.bytes for w in works if w.name == "attention"))


def recorded_kv_bytes(monkeypatch, w, pos: int) -> int:
    """K and V bytes the runtime's attention really reads in a decode step at ``pos``: the
    nbytes of every cache view the forward pass takes (the cache is zero-filled up to ``pos``)."""
    seen: list[int] = []
    original = KVCache.view

    def view(self, layer, lo, hi):
        k, v = original(self, layer, lo, hi)
        seen.append(int(k.nbytes) + int(v.nbytes))
        return k, v

    monkeypatch.setattr(KVCache, "view", view)
    cache = KVCache(w.spec, 1, pos + 1, "full")
    cache.length = pos  # positions 0 .. pos - 1 "processed" (zeros): only the reads are counted
    decode_one_token(w, np.array([3]), cache, pos)
    return sum(seen)


# chunk 8: before, at and after boundaries; two chunks in plus 3; the last position
@pytest.mark.parametrize("pos", [0, 6, 7, 8, 9, 15, 16, 19, 100, 255])
def test_perf_equals_the_runtime_reads_on_the_tiny_llama4(registry, monkeypatch, tiny_weights, pos):
    spec = tiny_weights.spec
    recorded = recorded_kv_bytes(monkeypatch, tiny_weights, pos)
    assert decode_kv_bytes_read(KVCache(spec, 1, pos + 1, "full"), pos) == recorded
    assert perf_kv_bytes(registry, spec, pos) == recorded


@pytest.mark.parametrize("pos", [0, 254, 255, 256, 257, 259, 511, 512, 515, 1000, 4095])
def test_perf_equals_the_runtime_count_on_micro_moe(registry, pos):
    spec = registry.model("micro-moe")  # chunk 256; layers 3 and 7 are global NoPE layers
    runtime = decode_kv_bytes_read(KVCache(spec, 1, pos + 1, "full"), pos)
    assert perf_kv_bytes(registry, spec, pos) == runtime
    per_token_layer = 2 * 2 * 64 * 4  # K and V x 2 KV heads x head_dim 64 x float32
    assert runtime == per_token_layer * (6 * (pos % 256 + 1) + 2 * (pos + 1))


def test_perf_decode_at_259_is_not_a_whole_chunk(registry):
    """The issue's example: one decode step at position 259 (prompt 259, 2 output tokens: the
    prefill yields the first, one decode step the second)."""
    spec = registry.model("micro-moe")
    p = estimate_perf(deployment(registry, spec, 261), prompt_tokens=259, output_tokens=2, concurrency=1)
    runtime = decode_kv_bytes_read(KVCache(spec, 1, 260, "full"), 259)
    assert p.kv_bytes_read_per_step_per_gpu == runtime == 1024 * (6 * 4 + 2 * 260)


@pytest.mark.parametrize("prompt,output", [(250, 20), (100, 600), (255, 2), (512, 1024)])
def test_perf_decode_is_the_mean_over_the_generation(registry, prompt, output):
    """Over a generation the step reads the exact mean of the runtime's counts at the decode
    positions prompt .. prompt + output - 2 (even outputs: the full layers' mean context is
    prompt + output / 2, which perf charges them)."""
    spec = registry.model("micro-moe")
    p = estimate_perf(deployment(registry, spec, prompt + output), prompt_tokens=prompt, output_tokens=output,
                      concurrency=1)
    positions = range(prompt, prompt + output - 1)
    counts = [decode_kv_bytes_read(KVCache(spec, 1, 1, "full"), q) for q in positions]
    assert p.kv_bytes_read_per_step_per_gpu == pytest.approx(sum(counts) / len(counts), abs=1)


def test_attended_sums_are_the_loop(tiny):
    types = tiny.resolved_layer_types()
    gpt = tiny.model_copy(update={"layer_types": None, "nope_layer_interval": None, "attention_chunk_size": None,
                                  "sliding_window": 5})
    for spec, lt in ((tiny, types[0]), (tiny, types[3]), (gpt, "sliding_attention")):
        for first, last in ((0, 0), (0, 30), (7, 9), (13, 40)):
            assert attended_tokens_sum(spec, lt, first, last) == sum(
                attended_tokens(spec, lt, q) for q in range(first, last + 1))
    assert attended_tokens(tiny, "chunked_attention", 19) == 4  # 2 x 8 + 3 -> 4th token of its chunk
    assert causal_pairs(20, 8, True) == 2 * 36 + 10
