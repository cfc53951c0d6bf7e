"""Fixtures for the runtime tests: tiny Llama-4-shaped specs that run in milliseconds.

Not a conftest.py: a second ``conftest`` module would shadow ``tests/conftest.py`` for the tests
that import from it. Test modules import these fixtures by name.
"""

from __future__ import annotations

import pytest

from llamasize.data.spec import ModelSpec


def tiny_spec(registry, **overrides) -> ModelSpec:
    """micro-moe shrunk to hidden 64 / vocab 128 / chunk 8, keeping its layer pattern
    (8 layers: MoE on odd layers, global NoPE on layers 3 and 7, QK-norm)."""
    base = registry.model("micro-moe").model_dump()
    base.update(id="tiny-moe", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                vocab_size=128, intermediate_size=96, moe_intermediate_size=48,
                shared_expert_intermediate_size=48, num_local_experts=8, attention_chunk_size=8,
                max_position_embeddings=256)
    base.update(overrides)
    return ModelSpec.model_validate(base)


@pytest.fixture(scope="session")
def make_tiny(registry):
    """``make_tiny(**overrides)``: the tiny spec with some fields changed."""
    return lambda **overrides: tiny_spec(registry, **overrides)


@pytest.fixture(scope="session")
def tiny(registry):
    """The tiny Llama-4-shaped spec (top-1 routing)."""
    return tiny_spec(registry)


@pytest.fixture(scope="session")
def tiny_weights(tiny):
    """Seeded float32 weights of the tiny spec."""
    from llamasize.runtime.weights import build_weights

    return build_weights(tiny, seed=1)
