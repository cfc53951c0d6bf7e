"""Property tests of the safetensors header reader: for any tensors, the summary's bytes and
parameters are the sums of what was written; any truncation of the file is a one-line DataError."""

from __future__ import annotations

from math import prod

from hypothesis import given
from hypothesis import strategies as st

import pytest

from llamasize.data.checkpoint import read_safetensors_dir
from llamasize.data.safetensors_header import read_shard
from llamasize.errors import DataError
from test_checkpoint import BITS, write_shard

DTYPES = sorted(BITS)
NAMES = st.sampled_from(["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                         "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight",
                         "model.layers.1.mlp.experts.3.down_proj.weight", "visual.patch_embed.proj.weight",
                         "something.else"])
TENSORS = st.dictionaries(NAMES, st.tuples(st.sampled_from(DTYPES), st.lists(st.integers(0, 40), max_size=3)),
                          min_size=1, max_size=8)


@given(tensors=TENSORS)
def test_sums_equal_what_was_written(tmp_path_factory, tensors):
    d = tmp_path_factory.mktemp("st")
    data = write_shard(d / "model.safetensors", {n: (dt, s) for n, (dt, s) in tensors.items()})
    _, summary = read_safetensors_dir(d)
    assert summary.total_bytes == data == sum(prod(s) * BITS[dt] // 8 for dt, s in tensors.values())
    assert summary.total_params == sum(prod(s) for _, s in tensors.values())
    assert sum(p.bytes for p in summary.components.values()) == summary.total_bytes
    assert sum(p.tensors for p in summary.dtypes.values()) == len(tensors)


@given(tensors=TENSORS, cut=st.integers(1, 10_000))
def test_any_truncation_is_an_error(tmp_path_factory, tensors, cut):
    d = tmp_path_factory.mktemp("st")
    path = d / "model.safetensors"
    write_shard(path, {n: (dt, s) for n, (dt, s) in tensors.items()})
    raw = path.read_bytes()
    path.write_bytes(raw[: max(0, len(raw) - cut)])
    with pytest.raises(DataError) as e:
        read_shard(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
