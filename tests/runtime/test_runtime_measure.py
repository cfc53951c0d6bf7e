"""Measurements: device microbenchmarks, model timings, expert coverage and byte accounting."""

from __future__ import annotations

import pytest

from llamasize.estimate.params import count_params
from llamasize.runtime.backend import get_backend
from llamasize.estimate.traffic import decode_weight_bytes
from llamasize.estimate.traffic import expected_distinct_experts as expected_experts_hit
from llamasize.runtime.measure import measure_bandwidth, measure_matmul, measure_model

from runtime_fixtures import tiny  # noqa: F401 (fixtures)


def test_expected_experts_hit_formula():
    assert expected_experts_hit(16, 1, 1) == pytest.approx(1.0)
    assert expected_experts_hit(128, 8, 1) == pytest.approx(8.0)
    assert expected_experts_hit(16, 1, 4) == pytest.approx(16 * (1 - (15 / 16) ** 4))
    assert 15.5 < expected_experts_hit(16, 1, 64) < 16


def test_decode_weight_bytes(registry):
    spec = registry.model("micro-moe")
    c = count_params(spec)
    per_expert_bytes = c.params_per_expert * 4
    routed = c.components["routed_experts"] * 4
    embed = c.components["embedding"] * 4
    one = decode_weight_bytes(spec, 4, 1)  # uniform expectation at B=1: k = 1 expert per layer
    assert one == c.total_params * 4 - routed - embed + 4 * per_expert_bytes + spec.hidden_size * 4
    assert decode_weight_bytes(spec, 4, 1, {1: 1, 3: 1, 5: 1, 7: 1}) == one
    assert decode_weight_bytes(spec, 4, 1, 16.0) == one + 4 * 15 * per_expert_bytes


def test_device_microbenchmarks_are_positive():
    be = get_backend("cpu")
    bw = measure_bandwidth(be, array_bytes=4 * 2**20, repeats=2)
    assert bw.bytes_moved == 2 * 4 * 2**20 and bw.bytes_per_s > 1e8
    mm = measure_matmul(be, size=128, repeats=2)
    assert mm.flops_per_s > 1e7 and mm.dtype == "float32"


@pytest.mark.parametrize("layout", ["full", "hybrid"])
def test_measure_model_on_a_tiny_spec(tiny, layout):
    stages = []
    m = measure_model(tiny, get_backend("cpu"), prompt_tokens=12, batch_sizes=(1, 4, 32), decode_steps=3,
                      warmup_steps=1, prefill_repeats=1, layout=layout, in_flight=5,
                      progress=lambda stage, done, total: stages.append(stage))
    assert m.resident_weight_bytes == count_params(tiny).total_params * 4
    assert m.kv_layout == layout and m.kv_in_flight == 5
    assert [d.batch for d in m.decode] == [1, 4, 32]
    one, four, many = m.decode
    assert one.experts_hit_mean == 1.0 and one.experts_hit_expected == 1.0
    assert set(one.experts_hit_per_layer) == set(tiny.moe_layer_ids())
    assert 1.0 <= four.experts_hit_mean <= 4.0
    assert many.experts_hit_mean > four.experts_hit_mean  # coverage grows with the batch
    assert one.weight_bytes_read < four.weight_bytes_read < many.weight_bytes_read
    assert many.kv_cache_bytes == 32 * one.kv_cache_bytes == 32 * m.prefill_kv_bytes
    assert m.prefill.best_seconds > 0 and one.median_step_seconds > 0
    assert m.peak_memory_bytes > m.resident_weight_bytes + many.kv_cache_bytes
    assert {"weights", "prefill", "decode batch 1", "decode batch 32", "peak memory"} <= set(stages)
    assert m.backend == "numpy"


def test_measure_model_skips_batches_over_the_budget(tiny):
    m = measure_model(tiny, prompt_tokens=8, batch_sizes=(1, 10_000), decode_steps=1, warmup_steps=0,
                      prefill_repeats=1, max_memory_bytes=4 * 2**20)
    assert [d.batch for d in m.decode] == [1]
    assert "memory budget" in m.skipped_batches[10_000]
