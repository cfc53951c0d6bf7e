"""One home per quantity: the dtype table, the KV formula and the decode bytes agree with every user."""

from __future__ import annotations

import typing

import pytest

from llamasize.data.spec import ModelSpec
from llamasize.estimate import kv
from llamasize.estimate.quant import KV_DTYPES, kv_dtype_bytes, resolve_kv_dtype
from llamasize.estimate.traffic import decode_weight_bytes, expected_distinct_experts, stage_weights
from llamasize.units import DTYPE_BYTES, SHORT_DTYPE, TORCH_DTYPE_OF, TORCH_DTYPES, dtype_bytes


def test_one_dtype_table_serves_spec_quant_and_runtime(registry):
    import numpy as np

    from llamasize.runtime.weights import DTYPES

    assert set(typing.get_args(ModelSpec.model_fields["torch_dtype"].annotation)) == set(TORCH_DTYPES)
    for torch_name in TORCH_DTYPES:
        short = SHORT_DTYPE[torch_name]
        assert DTYPE_BYTES[torch_name] == DTYPE_BYTES[short] == np.dtype(DTYPES[torch_name]).itemsize
        assert TORCH_DTYPE_OF[short] == torch_name
    for kv_dtype in KV_DTYPES[1:]:
        assert kv_dtype_bytes(kv_dtype, registry.model("scout")) == dtype_bytes(kv_dtype)
    micro = registry.model("micro-moe")  # float32 checkpoint: "auto" KV is fp32, 4 bytes
    assert (resolve_kv_dtype("auto", micro), kv_dtype_bytes("auto", micro)) == ("fp32", 4)


def test_nope_layers_are_the_full_layers_of_llama4(registry):
    for model in ("scout", "maverick", "micro-moe"):
        spec = registry.model(model)
        types = spec.resolved_layer_types()
        assert [spec.is_nope_layer(i) for i in range(len(types))] == [t == "full_attention" for t in types]
    assert not any(registry.model("llama3.1-70b").is_nope_layer(i) for i in range(80))


@pytest.mark.parametrize("layout,in_flight", [("full", 64), ("hybrid", 64), ("hybrid", 1)])
def test_hybrid_capacity_is_the_runtime_capacity(registry, layout, in_flight):
    from llamasize.runtime.kv_cache import KVCache

    spec = registry.model("micro-moe")
    cache = KVCache(spec, 1, 1000, layout, in_flight=in_flight)
    (model,) = kv.kv_models(spec, 4, 1, 1, layout, 1, in_flight)
    expected = [1000 if cap is None else min(1000, cap) for cap in model.caps]
    assert cache.capacity == expected
    if layout == "hybrid":
        assert expected == [256 + in_flight] * 3 + [1000] + [256 + in_flight] * 3 + [1000]


def test_mla_kv_bytes_are_one_latent(registry):
    spec = registry.model("deepseek-v3")
    per = kv.kv_bytes_per_token_layer(spec, 2, 8)
    assert per == (spec.kv_lora_rank + spec.qk_rope_head_dim) * 2 == 1152  # replicated on every TP rank
    assert kv.kv_bytes_per_token_model(spec, 2) == per * spec.num_hidden_layers


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_runtime_weight_reads_equal_perf_stage_weights(registry, batch):
    """measure's decode_weight_bytes (one dtype, the runtime) and perf's stage_weights (the
    format's shard bytes) count the same bytes for FP32 weights on one GPU."""
    spec = registry.model("micro-moe")
    (st,) = stage_weights(spec, "fp32", 1, 1, False)
    hit = expected_distinct_experts(spec.num_local_experts, spec.num_experts_per_tok, batch)
    perf_bytes = st.dense_bytes + batch * st.embedding_row_bytes + st.routed_bytes * hit / spec.num_local_experts
    assert decode_weight_bytes(spec, 4, batch) == round(perf_bytes)
