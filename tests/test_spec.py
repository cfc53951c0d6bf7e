"""spec: the model-spec schema, the Llama 4 layer pattern and validation of inconsistent specs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llamasize.errors import UnknownValueError
from llamasize.data.spec import ModelSpec

# The Llama 4 pattern (docs/facts/models.md 1.1; Meta model.py):
#   MoE iff (layer_id + 1) % interleave_moe_layer_step == 0  -> Maverick (step 2): 1, 3, ..., 47
#   global NoPE iff (layer_id + 1) % 4 == 0                    -> 3, 7, ..., 47 for both
MAVERICK_MOE = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47]
GLOBAL_NOPE = [3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47]


def _minimal(**over) -> dict:
    base = dict(id="t", name="t", family="test", model_type="llama", release_status="test", source="test",
                hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                vocab_size=100, intermediate_size=128)
    base.update(over)
    return base


# --------------------------------------------------------------------------- Llama 4 pattern ---
def test_maverick_moe_layers_are_the_odd_layers(registry):
    m = registry.model("llama4-maverick")
    assert m.moe_layer_ids() == MAVERICK_MOE
    assert len(m.moe_layer_ids()) == 24
    assert all(not m.is_moe_layer(i) for i in range(0, 48, 2))


def test_scout_every_layer_is_moe(registry):
    s = registry.model("llama4-scout")
    assert s.moe_layer_ids() == list(range(48))


@pytest.mark.parametrize("model", ["llama4-scout", "llama4-maverick"])
def test_llama4_global_nope_layers(registry, model):
    types = registry.model(model).resolved_layer_types()
    assert len(types) == 48
    full = [i for i, t in enumerate(types) if t == "full_attention"]
    chunked = [i for i, t in enumerate(types) if t == "chunked_attention"]
    assert full == GLOBAL_NOPE
    assert len(chunked) == 36
    assert sorted(full + chunked) == list(range(48))


@pytest.mark.parametrize("model", ["llama4-scout", "llama4-maverick"])
def test_llama4_chunk_size(registry, model):
    m = registry.model(model)
    assert m.window_of("chunked_attention") == 8192
    assert m.window_of("full_attention") is None


def test_llama4_context_lengths(registry):
    # docs/facts/models.md 1.1: Instruct releases, 10M and 1M
    assert registry.model("scout").max_position_embeddings == 10_485_760
    assert registry.model("maverick").max_position_embeddings == 1_048_576


def test_deepseek_first_three_layers_dense(registry):
    d = registry.model("deepseek-v3")
    ids = d.moe_layer_ids()
    assert ids == list(range(3, 61))  # 3 dense + 58 MoE (docs/facts/models.md 5)
    assert d.is_mla


def test_gpt_oss_alternates_sliding_and_full(registry):
    g = registry.model("gpt-oss-120b")
    types = g.resolved_layer_types()
    assert len(types) == 36
    assert types.count("sliding_attention") == 18 and types.count("full_attention") == 18
    assert all(types[i] != types[i + 1] for i in range(35))
    assert g.window_of("sliding_attention") == 128


def test_dense_model_has_no_moe_layers(registry):
    m = registry.model("llama3.1-8b")
    assert not m.is_moe
    assert m.moe_layer_ids() == []
    assert set(m.resolved_layer_types()) == {"full_attention"}


def test_behemoth_is_moe_but_architecture_unknown(registry):
    b = registry.model("behemoth")
    assert b.is_moe
    assert b.num_local_experts == 16
    with pytest.raises(UnknownValueError) as ei:
        b.moe_layer_ids()
    assert "num_hidden_layers" in ei.value.missing
    with pytest.raises(UnknownValueError):
        b.resolved_layer_types()
    with pytest.raises(UnknownValueError):
        _ = b.resolved_head_dim


def test_need_names_every_missing_field(registry):
    b = registry.model("behemoth")
    with pytest.raises(UnknownValueError) as ei:
        b.need("KV cache", "hidden_size", "num_key_value_heads", "num_local_experts")
    assert ei.value.missing == ["hidden_size", "num_key_value_heads"]
    assert "llama4-behemoth" in str(ei.value)


# --------------------------------------------------------------------------------- schema ---
def test_head_dim_defaults_to_hidden_over_heads():
    s = ModelSpec.model_validate(_minimal())
    assert s.resolved_head_dim == 16


def test_spec_is_frozen():
    s = ModelSpec.model_validate(_minimal())
    with pytest.raises(ValidationError):
        s.hidden_size = 128


@pytest.mark.parametrize(
    "over, fragment",
    [
        (dict(bogus_key=1), "bogus_key"),
        (dict(num_attention_heads=6, num_key_value_heads=4), "not divisible"),
        (dict(num_local_experts=4, num_experts_per_tok=5, moe_intermediate_size=32), "exceeds"),
        (dict(layer_types=["full_attention"]), "layer_types has 1 entries"),
        (dict(layer_types=["sliding_attention", "full_attention"]), "sliding_window"),
        (dict(kv_lora_rank=16), "MLA"),
        (dict(hidden_size=-1), "hidden_size"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(id="Has Spaces"), "id"),
        (dict(nope_layer_interval=4), "attention_chunk_size"),
    ],
)
def test_inconsistent_specs_are_rejected(over, fragment):
    with pytest.raises(ValidationError) as ei:
        ModelSpec.model_validate(_minimal(**over))
    assert fragment in str(ei.value)


def test_all_registry_specs_have_provenance(registry):
    for m in registry.models:
        assert m.source.strip(), m.id
        if m.release_status != "test":
            assert m.published_params is not None, m.id
            assert m.published_params.source.strip(), m.id
            assert m.license is not None, m.id


def test_llama_licenses_carry_the_700m_mau_threshold(registry):
    for name in ("llama4-scout", "llama4-maverick", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b", "llama3.3-70b"):
        lic = registry.model(name).license
        assert lic.mau_threshold == 700_000_000, name
        assert lic.source
