"""The runtime's byte counts equal the estimator's: resident weights and KV cache."""

from __future__ import annotations

import numpy as np
import pytest

from llamasize.estimate.kv import kv_bytes_per_token_layer, kv_models
from llamasize.estimate.params import count_params, weight_table
from llamasize.runtime.kv_cache import KVCache
from llamasize.runtime.scaling import pattern_period, scaled_spec
from llamasize.runtime.weights import build_weights, resident_weight_bytes

from runtime_fixtures import tiny, tiny_weights  # noqa: F401 (fixtures)

MIB = 2**20


def test_micro_moe_weights_match_the_weight_table(registry):
    spec = registry.model("micro-moe")
    w = build_weights(spec, seed=0)
    table = weight_table(spec)
    assert list(w.tensors) == [t.name for t in table]
    for t in table:
        assert w[t.name].shape == t.shape, t.name
        assert w[t.name].dtype == np.float32
    total = count_params(spec).total_params
    assert resident_weight_bytes(w) == total * 4 == 532_842_496
    assert np.isfinite(w["layers.1.feed_forward.experts.gate_proj"]).all()


def test_weights_are_deterministic_per_seed(tiny):
    a, b, c = build_weights(tiny, seed=3), build_weights(tiny, seed=3), build_weights(tiny, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a.tensors)
    assert not np.array_equal(a["embed_tokens"], c["embed_tokens"])


@pytest.mark.parametrize("dtype,itemsize", [("float32", 4), ("float16", 2), ("bfloat16", 2)])
def test_weight_bytes_per_dtype(tiny, dtype, itemsize):
    w = build_weights(tiny, seed=0, dtype=dtype)
    assert resident_weight_bytes(w) == count_params(tiny).total_params * itemsize
    assert w.itemsize == itemsize


@pytest.mark.parametrize("model", ["llama4-maverick", "mixtral-8x7b", "llama4-scout", "deepseek-v3"])
def test_scaled_spec_weights_match_count_params(registry, model):
    original = registry.model(model)
    budget = 16 * MIB
    spec = scaled_spec(original, budget, max_window=64)
    assert count_params(spec).total_params * 4 <= budget
    # the layer pattern is kept
    n = spec.num_hidden_layers
    assert [spec.is_moe_layer(i) for i in range(n)] == [original.is_moe_layer(i) for i in range(n)]
    assert spec.resolved_layer_types() == original.resolved_layer_types()[:n]
    assert (n - spec.first_k_dense_replace) % pattern_period(original) == 0
    assert spec.num_attention_heads // spec.num_key_value_heads == \
        original.num_attention_heads // original.num_key_value_heads
    w = build_weights(spec, seed=0)
    assert resident_weight_bytes(w) == count_params(spec).total_params * 4
    assert {k: v.shape for k, v in w.tensors.items()} == {t.name: t.shape for t in weight_table(spec)}


def test_scaled_maverick_keeps_llama4_shape(registry):
    spec = scaled_spec(registry.model("llama4-maverick"), 64 * MIB)
    assert spec.num_hidden_layers == 8  # two periods of lcm(interleave 2, NoPE interval 4)
    assert spec.moe_layer_ids() == [1, 3, 5, 7]
    assert spec.resolved_layer_types()[3] == "full_attention"
    assert spec.num_experts_per_tok == 1 and spec.shared_width > 0
    assert spec.vision_config is None and spec.torch_dtype == "float32"
    bigger = scaled_spec(registry.model("llama4-maverick"), 128 * MIB)
    assert bigger.hidden_size > spec.hidden_size


def test_scaled_spec_refuses_an_impossible_budget(registry):
    from llamasize.errors import UsageError

    with pytest.raises(UsageError, match="does not fit"):
        scaled_spec(registry.model("mixtral-8x7b"), 1000)


def estimator_kv_bytes(cache: KVCache) -> int:
    """What memory.kv_models predicts for this cache: TP 1, PP 1, token-granular blocks, the
    cache's in-flight tokens, times the batch."""
    itemsize = cache.k[0].itemsize
    (model,) = kv_models(cache.spec, itemsize, tp=1, pp=1, layout=cache.layout, block=1, in_flight=cache.in_flight)
    return cache.batch * model.per_sequence(cache.max_tokens)


@pytest.mark.parametrize("layout", ["full", "hybrid"])
@pytest.mark.parametrize("max_tokens,batch,in_flight", [(1000, 1, 64), (4096, 4, 512), (100, 3, 16), (300, 2, 1)])
def test_kv_bytes_equal_the_estimator(registry, layout, max_tokens, batch, in_flight):
    spec = registry.model("micro-moe")
    cache = KVCache(spec, batch, max_tokens, layout, in_flight=in_flight)
    assert cache.kv_bytes() == estimator_kv_bytes(cache)
    if layout == "full":
        per_token = kv_bytes_per_token_layer(spec, 4, 1) * spec.num_hidden_layers
        assert cache.kv_bytes() == batch * max_tokens * per_token


def test_kv_bytes_equal_the_estimator_for_sliding_windows(registry):
    spec = scaled_spec(registry.model("gpt-oss-20b"), 4 * MIB, max_window=32)
    for layout in ("full", "hybrid"):
        cache = KVCache(spec, 2, 500, layout, in_flight=8)
        assert cache.kv_bytes() == estimator_kv_bytes(cache)


def test_hybrid_cache_holds_chunk_plus_in_flight(registry):
    spec = registry.model("micro-moe")  # chunk 256
    cache = KVCache(spec, 1, 4096, "hybrid", in_flight=64)
    assert cache.capacity == [256 + 64, 256 + 64, 256 + 64, 4096] * 2
    assert KVCache(spec, 1, 100, "hybrid", in_flight=64).capacity == [100] * 8


def test_expand_batch_copies_the_prefilled_sequence(tiny_weights):
    from llamasize.runtime.model import decode_one_token, prefill

    w = tiny_weights
    cache = KVCache(w.spec, 1, 12, "hybrid", in_flight=4)
    prefill(w, np.arange(10)[None, :] % w.spec.vocab_size, cache)
    big = cache.expand_batch(3)
    assert big.kv_bytes() == 3 * cache.kv_bytes() and big.length == 10
    out = decode_one_token(w, np.array([7, 7, 7]), big, 10)
    ref = decode_one_token(w, np.array([7]), cache, 10)
    np.testing.assert_allclose(out, np.repeat(ref, 3, axis=0), rtol=1e-5, atol=1e-6)
