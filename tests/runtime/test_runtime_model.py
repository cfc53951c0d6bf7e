"""Forward-pass correctness: cached decode, sparse dispatch, chunk mask, KV layouts."""

from __future__ import annotations

import numpy as np
import pytest

from llamasize.errors import UsageError
from llamasize.runtime import model as M
from llamasize.runtime.kv_cache import KVCache
from llamasize.runtime.weights import build_weights

from runtime_fixtures import make_tiny, tiny, tiny_weights  # noqa: F401 (fixtures)

RTOL, ATOL = 1e-4, 1e-4


def full_logits(w, tokens, dispatch="sparse"):
    """Logits of every position from one uncached forward pass over the whole sequence."""
    b, t = tokens.shape
    cache = KVCache(w.spec, b, t, "full", in_flight=t)
    return M.forward(w, tokens, cache, 0, dispatch=dispatch)


def tokens_for(spec, b, t, seed=0):
    return np.random.default_rng(seed).integers(0, spec.vocab_size, size=(b, t))


@pytest.mark.parametrize("layout", ["full", "hybrid"])
def test_cached_decode_equals_full_recomputation(tiny_weights, layout):
    """Prefill 6 tokens, then decode 14 one by one (crossing chunk boundaries at 8 and 16): the
    logits of every step equal those of a full uncached forward pass."""
    w = tiny_weights
    toks = tokens_for(w.spec, 2, 20)
    ref = full_logits(w, toks)
    cache = KVCache(w.spec, 2, 20, layout, in_flight=6)
    got = M.prefill(w, toks[:, :6], cache, 0, all_logits=True)
    np.testing.assert_allclose(got, ref[:, :6], rtol=RTOL, atol=ATOL)
    for p in range(6, 20):
        logits = M.decode_one_token(w, toks[:, p], cache, p)
        np.testing.assert_allclose(logits, ref[:, p], rtol=RTOL, atol=ATOL, err_msg=f"position {p}")
    assert cache.length == 20
    if layout == "hybrid":  # the chunked layers really dropped tokens before the current chunk
        assert max(cache.offset) > 0


def test_chunked_prefill_equals_one_step(tiny_weights):
    """A prompt prefilled in steps of 3 tokens (crossing chunk boundaries) gives the same logits."""
    w = tiny_weights
    toks = tokens_for(w.spec, 1, 19, seed=3)
    ref = full_logits(w, toks)
    for layout in ("full", "hybrid"):
        cache = KVCache(w.spec, 1, 19, layout, in_flight=3)
        got = M.prefill(w, toks, cache, 0, all_logits=True)
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)


def test_hybrid_and_full_layouts_give_identical_logits(tiny_weights):
    w = tiny_weights
    toks = tokens_for(w.spec, 3, 30, seed=5)
    out = {}
    for layout in ("full", "hybrid"):
        cache = KVCache(w.spec, 3, 30, layout, in_flight=4)
        steps = [M.prefill(w, toks[:, :10], cache, 0)]
        steps += [M.decode_one_token(w, toks[:, p], cache, p) for p in range(10, 30)]
        out[layout] = np.stack(steps)
    np.testing.assert_allclose(out["hybrid"], out["full"], rtol=1e-5, atol=1e-5)
    full = KVCache(w.spec, 3, 30, "full", in_flight=4)
    hybrid = KVCache(w.spec, 3, 30, "hybrid", in_flight=4)
    assert hybrid.kv_bytes() < full.kv_bytes()


@pytest.mark.parametrize("top_k", [1, 2])
def test_sparse_dispatch_equals_dense_masked_reference(make_tiny, top_k):
    spec = make_tiny(num_experts_per_tok=top_k)
    w = build_weights(spec, seed=2)
    toks = tokens_for(spec, 2, 12, seed=1)
    sparse = full_logits(w, toks, "sparse")
    dense = full_logits(w, toks, "dense")
    np.testing.assert_allclose(sparse, dense, rtol=RTOL, atol=ATOL)
    # and per MoE block, on inputs that route to many experts
    x = np.random.default_rng(0).standard_normal((40, spec.hidden_size)).astype(np.float32)
    layer = spec.moe_layer_ids()[0]
    np.testing.assert_allclose(M.moe_sparse(w, layer, x), M.moe_dense_reference(w, layer, x), rtol=RTOL, atol=ATOL)
    hit = []
    M.moe_sparse(w, layer, x, on_route=lambda i, idx: hit.append(np.unique(idx).size))
    assert hit[0] > top_k  # several experts really ran


def test_routing_is_top_k_on_raw_logits_then_sigmoid(tiny_weights):
    w = tiny_weights
    layer = w.spec.moe_layer_ids()[0]
    x = np.random.default_rng(4).standard_normal((5, w.spec.hidden_size)).astype(np.float32)
    idx, scores = M.route(w, layer, x)
    logits = x @ w[f"layers.{layer}.feed_forward.router"].T
    np.testing.assert_array_equal(idx[:, 0], logits.argmax(axis=-1))
    np.testing.assert_allclose(scores[:, 0], 1 / (1 + np.exp(-logits.max(axis=-1))), rtol=1e-6)


def test_routed_input_is_scaled_before_the_expert(tiny_weights):
    """Llama 4 scales the expert's input by the score, not its output: expert(s x) != s expert(x)."""
    w = tiny_weights
    layer = w.spec.moe_layer_ids()[0]
    x = np.random.default_rng(6).standard_normal((1, w.spec.hidden_size)).astype(np.float32)
    idx, scores = M.route(w, layer, x)
    e, s = int(idx[0, 0]), float(scores[0, 0])
    shared = M._mlp(w, f"layers.{layer}.feed_forward.shared_expert", x)
    routed = M.moe_sparse(w, layer, x) - shared
    np.testing.assert_allclose(routed, M._expert(w, layer, e, x * s), rtol=1e-5, atol=1e-6)
    assert not np.allclose(routed, s * M._expert(w, layer, e, x), rtol=1e-3, atol=1e-5)


def test_chunk_mask_shape():
    """Position p sees q iff floor(p/K) == floor(q/K) and q <= p (K = 4 here)."""
    pos = np.arange(10)
    m = M.attention_mask(pos, pos, "chunked_attention", 4)
    for p in range(10):
        for q in range(10):
            assert m[p, q] == (q <= p and p // 4 == q // 4)
    full = M.attention_mask(pos, pos, "full_attention", None)
    np.testing.assert_array_equal(full, np.tril(np.ones((10, 10), bool)))
    sliding = M.attention_mask(pos, pos, "sliding_attention", 3)
    assert sliding[9, 7] and not sliding[9, 6]


def _layer_outputs(w, toks):
    """Output of every layer's attention block for the whole sequence (prefill, full cache)."""
    outs = {}
    orig = M.attention_layer

    def spy(w_, plan, x, batch, cache, start_pos):
        y = orig(w_, plan, x, batch, cache, start_pos)
        outs.setdefault(plan.index, []).append(y.reshape(batch, -1, y.shape[-1]).copy())
        return y

    M.attention_layer = spy
    try:
        b, t = toks.shape
        cache = KVCache(w.spec, b, t, "full", in_flight=t)
        M.forward(w, toks, cache, 0)
    finally:
        M.attention_layer = orig
    return {i: np.concatenate(v, axis=1) for i, v in outs.items()}


def test_chunk_mask_across_boundary_in_prefill(tiny_weights):
    """Layer 0 is the first layer, so its attention input depends only on the tokens: perturbing
    token 5 (chunk [0, 8)) must leave layer 0's output at positions 8.. unchanged (chunked), while
    layer 3 - a global layer, whose input already mixes earlier tokens in - changes there."""
    w = tiny_weights
    toks = tokens_for(w.spec, 1, 12, seed=7)
    pert = toks.copy()
    pert[0, 5] = (pert[0, 5] + 1) % w.spec.vocab_size
    a, b = _layer_outputs(w, toks), _layer_outputs(w, pert)
    assert w.spec.resolved_layer_types()[0] == "chunked_attention"
    assert w.spec.resolved_layer_types()[3] == "full_attention"
    np.testing.assert_allclose(a[0][:, 8:], b[0][:, 8:], rtol=0, atol=1e-7)  # chunked: blind across the boundary
    assert not np.allclose(a[0][:, 5:8], b[0][:, 5:8])  # but sees inside its chunk
    assert not np.allclose(a[3][:, 8:], b[3][:, 8:])


def test_chunk_mask_across_boundary_in_decode(tiny_weights):
    """The same in decode, with a full-length cache holding every token (so the mask, not the
    cache, must hide the previous chunk): one attention block fed positions 0..10, then position
    11 (chunk [8, 16)) decoded; only the input at position 5 differs between the two runs."""
    w = tiny_weights
    spec = w.spec
    plans = M.layer_plans(spec)
    x = np.random.default_rng(8).standard_normal((12, spec.hidden_size)).astype(np.float32)
    x_pert = x.copy()
    x_pert[5] += 1.0
    for layer, chunked in ((0, True), (3, False)):
        assert (plans[layer].attention_type == "chunked_attention") == chunked
        outs = []
        for inp in (x, x_pert):
            cache = KVCache(spec, 1, 12, "full", in_flight=12)
            M.attention_layer(w, plans[layer], inp[:11], 1, cache, 0)
            cache.advance(11)
            outs.append(M.attention_layer(w, plans[layer], inp[11:12], 1, cache, 11))
        if chunked:
            np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-7)
        else:
            assert np.abs(outs[0] - outs[1]).max() > 1e-3, f"layer {layer}"


def test_nope_layers_skip_rope_and_qk_norm(tiny):
    plans = M.layer_plans(tiny)
    assert [p.rope for p in plans] == [True, True, True, False] * 2
    assert [p.qk_l2 for p in plans] == [True, True, True, False] * 2
    assert [p.temperature for p in plans] == [False, False, False, True] * 2
    assert [p.moe for p in plans] == [False, True] * 4


def test_attention_temperature_formula():
    """scale = log(floor((pos+1)/8192)+1)*0.1 + 1 (Meta llama4 model.py)."""
    pos = np.array([0, 8190, 8191, 3 * 8192 - 1, 10**6])
    want = np.log(np.floor((pos + 1) / 8192.0) + 1) * 0.1 + 1
    np.testing.assert_allclose(M.attention_temperature(pos), want, rtol=1e-6)
    assert M.attention_temperature(pos)[0] == 1.0 and M.attention_temperature(pos)[2] > 1.0


def test_rope_is_a_rotation_with_relative_positions():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 1, 1, 8)).astype(np.float32)
    k = rng.standard_normal((1, 1, 1, 8)).astype(np.float32)

    def dot(pq, pk):
        cq, sq = M.rope_angles(np.array([pq]), 8, 10000.0)
        ck, sk = M.rope_angles(np.array([pk]), 8, 10000.0)
        return float((M.apply_rope(q, cq, sq) * M.apply_rope(k, ck, sk)).sum())

    np.testing.assert_allclose(np.linalg.norm(M.apply_rope(q, *M.rope_angles(np.array([7]), 8, 1e4))),
                               np.linalg.norm(q), rtol=1e-5)
    np.testing.assert_allclose(dot(3, 1), dot(12, 10), rtol=1e-4)


def test_generate_is_deterministic_and_layout_independent(tiny_weights):
    w = tiny_weights
    prompt = tokens_for(w.spec, 2, 5, seed=9)
    a = M.generate(w, prompt, 12, layout="full")
    b = M.generate(w, prompt, 12, layout="hybrid", in_flight=5)
    assert a.shape == (2, 17)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, :5], prompt)


def test_other_families_run(registry):
    """Biases, sinks, sliding windows (gpt-oss) and weighted QK-norm (Qwen3) run and cache exactly."""
    from llamasize.runtime.scaling import scaled_spec

    for name in ("gpt-oss-20b", "qwen3-30b-a3b", "mixtral-8x7b"):
        spec = scaled_spec(registry.model(name), 2 * 2**20, max_window=4, max_vocab=256, max_layers=2)
        w = build_weights(spec, seed=0)
        toks = tokens_for(spec, 1, 9)
        ref = full_logits(w, toks)
        cache = KVCache(spec, 1, 9, "hybrid", in_flight=2)
        M.prefill(w, toks[:, :3], cache, 0)
        for p in range(3, 9):
            np.testing.assert_allclose(M.decode_one_token(w, toks[:, p], cache, p), ref[:, p],
                                       rtol=RTOL, atol=ATOL, err_msg=f"{name} position {p}")


def test_errors_are_usage_errors(tiny_weights, registry):
    w = tiny_weights
    cache = KVCache(w.spec, 1, 4, "full", in_flight=4)
    with pytest.raises(UsageError, match="must start"):
        M.forward(w, np.zeros((1, 1), int), cache, 2)
    with pytest.raises(UsageError, match="batch"):
        M.forward(w, np.zeros((2, 1), int), cache, 0)
    M.prefill(w, np.zeros((1, 4), int), cache)
    with pytest.raises(UsageError, match="slots"):
        M.decode_one_token(w, np.zeros(1, int), cache, 4)
    with pytest.raises(UsageError, match="MLA"):
        M.layer_plans(registry.model("deepseek-v3"))


def test_float16_weights_and_cache_track_float32(tiny):
    """The half-precision path (meant for CuPy) keeps fp16 weights and KV and fp32 norms/softmax."""
    toks = tokens_for(tiny, 2, 12, seed=2)
    out = {}
    for dtype in ("float32", "float16"):
        w = build_weights(tiny, seed=1, dtype=dtype)
        cache = KVCache(tiny, 2, 12, "hybrid", in_flight=4, dtype=dtype)
        steps = [M.prefill(w, toks[:, :4], cache, 0)]
        steps += [M.decode_one_token(w, toks[:, p], cache, p) for p in range(4, 12)]
        out[dtype] = np.stack(steps)
        assert cache.k[0].dtype == w["embed_tokens"].dtype
    assert out["float16"].dtype == np.float32
    np.testing.assert_allclose(out["float16"], out["float32"], atol=0.05)
