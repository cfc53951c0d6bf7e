"""params: parameter accounting from the architecture, checked against published counts."""

from __future__ import annotations

import pytest

from llamasize.errors import UnknownValueError
from llamasize.estimate.params import COMPONENTS, count_params, mtp_tensors, weight_table
from llamasize.estimate.towers import llama4_params

# docs/facts/models.md 1.3 (exact published and derived figures)
SCOUT_TOTAL = 108_641_793_536
MAVERICK_TOTAL = 401_583_781_376
VISION = 871_932_416
SCOUT_ACTIVE = 17_172_894_720
MAVERICK_ACTIVE = 17_184_691_200


def test_scout_total_exact(registry):
    b = count_params(registry.model("llama4-scout"))
    assert b.confidence == "exact"
    assert b.total_params == SCOUT_TOTAL


def test_maverick_total_exact(registry):
    b = count_params(registry.model("llama4-maverick"))
    assert b.confidence == "exact"
    assert b.total_params == MAVERICK_TOTAL


@pytest.mark.parametrize("model, text", [("llama4-scout", 107_769_861_120), ("llama4-maverick", 400_711_848_960)])
def test_llama4_text_vision_split(registry, model, text):
    b = count_params(registry.model(model))
    assert b.vision_params == VISION
    assert b.text_params == text
    assert b.components["vision"] == VISION
    assert b.text_params + b.vision_params == b.total_params


def test_vision_tower_breakdown(registry):
    # encoder 811,115,008 + adapter 39,845,888 (+ projector 4096 x 5120 = 20,971,520 added with the text width)
    v = registry.model("scout").vision_config
    assert llama4_params(v, 0) == 811_115_008 + 39_845_888
    assert 4096 * 5120 == 20_971_520
    assert llama4_params(v, 5120) == VISION


@pytest.mark.parametrize("model, active", [("llama4-scout", SCOUT_ACTIVE), ("llama4-maverick", MAVERICK_ACTIVE)])
def test_llama4_active(registry, model, active):
    b = count_params(registry.model(model))
    assert b.active_params == active
    # the input embedding is a lookup, not a matmul
    assert b.active_compute_params == active - 202_048 * 5120


@pytest.mark.parametrize(
    "model, routed, n_moe", [("llama4-scout", 96_636_764_160, 48), ("llama4-maverick", 386_547_056_640, 24)]
)
def test_llama4_routed_experts(registry, model, routed, n_moe):
    b = count_params(registry.model(model))
    assert b.components["routed_experts"] == routed
    assert b.params_per_expert == 3 * 5120 * 8192 == 125_829_120
    assert len(b.moe_layers) == n_moe
    assert b.components["shared_experts"] == n_moe * 3 * 5120 * 8192
    assert b.components["router"] == n_moe * 5120 * b.num_experts


def test_maverick_dense_layers(registry):
    b = count_params(registry.model("llama4-maverick"))
    assert b.components["dense_ffn"] == 24 * 3 * 5120 * 16384
    assert count_params(registry.model("llama4-scout")).components["dense_ffn"] == 0


def test_llama31_8b_by_hand(registry):
    """Llama 3.1 8B (docs/facts/models.md 5: 8,030,261,248), the formula written out."""
    h, layers, nh, nkv, hd, f, vocab = 4096, 32, 32, 8, 128, 14336, 128256
    attention = h * (nh * hd) + 2 * h * (nkv * hd) + (nh * hd) * h  # q, k, v, o
    mlp = 3 * h * f  # gate, up, down
    norms = 2 * h  # input + post-attention RMSNorm
    per_layer = attention + mlp + norms
    total = layers * per_layer + vocab * h + vocab * h + h  # + embedding + untied lm_head + final norm
    assert total == 8_030_261_248
    b = count_params(registry.model("llama3.1-8b"))
    assert b.total_params == total
    assert b.components["attention"] == layers * attention
    assert b.components["dense_ffn"] == layers * mlp
    assert b.components["norms"] == layers * norms + h
    assert b.active_params == total  # dense: every parameter is active


def test_every_exact_model_within_half_a_percent_of_published(registry):
    checked = []
    for m in registry.models:
        b = count_params(m)
        if b.confidence != "exact" or m.published_params is None:
            continue
        pub = m.published_params.total
        main = b.total_params - b.components["mtp"]  # published totals leave MTP layers out
        assert abs(main - pub) / pub < 0.005, (m.id, main, pub)
        assert b.deviation_from_published == pytest.approx((main - pub) / pub)
        checked.append(m.id)
    # the loop must actually cover the registry's peer models
    assert len(checked) >= 12, checked


@pytest.mark.parametrize(
    "model, total",
    [  # docs/facts/models.md 5
        ("llama3.1-70b", 70_553_706_496),
        ("llama3.3-70b", 70_553_706_496),
        ("llama3.1-405b", 405_853_388_800),
        ("mixtral-8x7b", 46_702_792_704),
        ("qwen3-30b-a3b", 30_532_122_624),
        ("qwen3-235b-a22b", 235_093_634_560),
        ("gpt-oss-120b", 116_829_156_672),
        ("gpt-oss-20b", 20_914_757_184),
    ],
)
def test_peer_model_totals(registry, model, total):
    assert abs(count_params(registry.model(model)).total_params - total) / total < 0.005


def test_mixtral_8x7b_active(registry):
    assert count_params(registry.model("mixtral-8x7b")).active_params == 12_879_925_248


@pytest.mark.parametrize("model, active", [("gpt-oss-120b", 5.1e9), ("gpt-oss-20b", 3.6e9)])
def test_gpt_oss_active_matches_readme(registry, model, active):
    # openai/gpt-oss README: 5.1B / 3.6B active (without the embedding lookup)
    b = count_params(registry.model(model))
    assert abs(b.active_compute_params - active) / active < 0.02


def test_components_sum_to_total(registry):
    for m in registry.models:
        b = count_params(m)
        if b.confidence != "exact":
            continue
        assert set(b.components) == set(COMPONENTS)
        assert sum(b.components.values()) == b.total_params, m.id
        assert sum(t.numel for t in weight_table(m) + mtp_tensors(m)) == b.total_params, m.id
        assert sum(t.numel for t in mtp_tensors(m)) == b.components["mtp"], m.id
        assert 0 < b.active_params <= b.text_params <= b.total_params, m.id
        if not m.is_moe:
            assert b.active_params == b.text_params, m.id


def test_behemoth_reports_published_and_unknown(registry):
    m = registry.model("behemoth")
    b = count_params(m)  # must not raise
    assert b.confidence == "published"
    assert b.total_params == m.published_params.total == 2 * 10**12
    assert b.active_params == 288 * 10**9
    assert all(v is None for v in b.components.values())
    assert b.text_params is None and b.vision_params is None
    assert b.unknown and "llama4-behemoth" in b.unknown[0]
    assert b.num_experts == 16
    with pytest.raises(UnknownValueError):
        weight_table(m)


def test_tied_embeddings_drop_lm_head(registry):
    m = registry.model("llama3.1-8b")
    tied = m.model_copy(update={"tie_word_embeddings": True, "id": "tied-8b"})
    assert count_params(tied).total_params == count_params(m).total_params - 128256 * 4096
    assert count_params(tied).components["lm_head"] == 0


def test_weight_table_names_unique(registry):
    for m in registry.models:
        if count_params(m).confidence != "exact":
            continue
        names = [t.name for t in weight_table(m)]
        assert len(names) == len(set(names)), m.id
