"""Bad checkpoints (issue 11 item 7): each is one error line naming the file, exit 2, no traceback,
nothing on stdout (so no partial count is ever shown)."""

from __future__ import annotations

import json
import struct

import pytest

from test_checkpoint import LLAMA_CFG, checkpoint_dir, llama_tensors, write_shard
from test_checkpoint_gguf import write_gguf


def assert_one_line_error(r, file_name: str, *fragments: str) -> None:
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamasize: error: "), r.err
    assert "Traceback" not in r.err and file_name in lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def _dir(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(LLAMA_CFG))
    return d


def test_header_larger_than_the_cap(cli, tmp_path):
    d = _dir(tmp_path)
    (d / "model.safetensors").write_bytes(struct.pack("<Q", 100_000_001) + b"{}")
    assert_one_line_error(cli("params", str(d)), "model.safetensors", "larger than the 100,000,000-byte limit")


def test_truncated_shard(cli, tmp_path):
    d = checkpoint_dir(tmp_path, LLAMA_CFG, llama_tensors(), shards=2)
    shard = d / "model-00002-of-00002.safetensors"
    size = shard.stat().st_size
    with open(shard, "r+b") as fh:
        fh.truncate(size - 1)
    for cmd in (("params", str(d)), ("fit", "--model", str(d), "--gpu", "h100", "--ctx", "4k")):
        assert_one_line_error(cli(*cmd), "model-00002-of-00002.safetensors", "truncated")


def test_header_cut_short(cli, tmp_path):
    d = _dir(tmp_path)
    (d / "model.safetensors").write_bytes(struct.pack("<Q", 500) + b'{"a": ')
    assert_one_line_error(cli("params", str(d)), "model.safetensors", "truncated")
    (d / "model.safetensors").write_bytes(b"\x01\x00")
    assert_one_line_error(cli("params", str(d)), "model.safetensors", "truncated")


def test_shard_in_the_index_is_missing(cli, tmp_path):
    d = checkpoint_dir(tmp_path, LLAMA_CFG, llama_tensors(), shards=3)
    (d / "model-00002-of-00003.safetensors").unlink()
    assert_one_line_error(cli("params", str(d)), "model-00002-of-00003.safetensors", "missing")


def _two_shards_mapping(tmp_path, tensor: str, shard: str):
    """A two-shard checkpoint whose index maps ``tensor`` to ``shard``."""
    d = checkpoint_dir(tmp_path, LLAMA_CFG, llama_tensors(), shards=2)
    idx = json.loads((d / "model.safetensors.index.json").read_text())
    idx["weight_map"][tensor] = shard
    (d / "model.safetensors.index.json").write_text(json.dumps(idx))
    return d


def test_index_names_a_tensor_its_shard_lacks(cli, tmp_path):
    d = _two_shards_mapping(tmp_path, "model.ghost.weight", "model-00001-of-00002.safetensors")
    assert_one_line_error(cli("params", str(d)), "model-00001-of-00002.safetensors", "model.ghost.weight")


def test_index_shard_outside_the_directory(cli, tmp_path):
    d = _two_shards_mapping(tmp_path, "model.norm.weight", "../elsewhere.safetensors")
    assert_one_line_error(cli("params", str(d)), "model.safetensors.index.json", "file name in the same directory")


@pytest.mark.parametrize("bad, fragment", [
    ({"w": {"dtype": "F12", "shape": [2], "data_offsets": [0, 3]}}, "unknown dtype 'F12'"),
    ({"w": {"dtype": "BF16", "shape": [2, -1], "data_offsets": [0, 0]}}, "non-negative integers"),
    ({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 6]}}, "needs 8"),
    ({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]}}, "contiguous"),
    ({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}}, "whole bytes"),
    ({"w": {"dtype": "BF16", "shape": [4]}}, "exactly dtype, shape and data_offsets"),
    ({"__metadata__": {"format": 1}}, "__metadata__"),
])
def test_invalid_header_entries(cli, tmp_path, bad, fragment):
    d = _dir(tmp_path)
    raw = json.dumps(bad).encode()
    (d / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 16)
    assert_one_line_error(cli("params", str(d)), "model.safetensors", fragment)


def test_trailing_bytes_after_the_tensors(cli, tmp_path):
    d = _dir(tmp_path)
    write_shard(d / "model.safetensors", llama_tensors(), pad=5)
    assert_one_line_error(cli("params", str(d)), "model.safetensors", "5 bytes after the last tensor")


def test_tensor_in_two_shards(cli, tmp_path):
    d = _dir(tmp_path)
    write_shard(d / "a.safetensors", {"model.norm.weight": ("BF16", [4])})
    write_shard(d / "b.safetensors", {"model.norm.weight": ("BF16", [4])})
    assert_one_line_error(cli("params", str(d)), "b.safetensors", "also in a.safetensors")


def test_shards_without_a_config(cli, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    write_shard(d / "model.safetensors", llama_tensors())
    assert_one_line_error(cli("params", str(d)), str(d), "no config.json")


# -------------------------------------------------------------------------------------- GGUF ---
def test_gguf_bad_magic(cli, tmp_path):
    p = tmp_path / "m.gguf"
    p.write_bytes(b"GGML" + b"\0" * 64)
    assert_one_line_error(cli("params", str(p)), "m.gguf", "bad magic")


def test_gguf_empty(cli, tmp_path):
    p = tmp_path / "m.gguf"
    p.write_bytes(b"")
    assert_one_line_error(cli("params", str(p)), "m.gguf", "empty")


@pytest.mark.parametrize("keep", [6, 30, 400, -1000])
def test_gguf_truncated(cli, tmp_path, keep):
    p = write_gguf(tmp_path / "m.gguf")
    data = p.read_bytes()
    p.write_bytes(data[:keep])
    assert_one_line_error(cli("params", str(p)), "m.gguf", "truncated")


def test_gguf_unknown_tensor_type(cli, tmp_path):
    p = write_gguf(tmp_path / "m.gguf")
    data = bytearray(p.read_bytes())
    name = b"token_embd.weight"
    at = data.index(name) + len(name)
    n_dims = int.from_bytes(data[at:at + 4], "little")
    type_at = at + 4 + 8 * n_dims
    data[type_at:type_at + 4] = (250).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    assert_one_line_error(cli("params", str(p)), "m.gguf", "unknown GGUF tensor type 250")


def test_gguf_that_is_a_directory_or_fifo(cli, tmp_path):
    import os

    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    assert_one_line_error(cli("params", str(fifo)), "pipe.gguf", "not a regular file")


def test_gguf_forged_array_length_is_refused_quickly(cli, tmp_path):
    """A metadata array claiming 2**60 elements: gguf's reader would loop over them past the end of
    the file; the length is checked against the bytes left first."""
    p = tmp_path / "forged.gguf"
    key = b"general.forged"
    p.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
                  + len(key).to_bytes(8, "little") + key + (9).to_bytes(4, "little")  # ARRAY
                  + (8).to_bytes(4, "little") + (2**60).to_bytes(8, "little")  # of 2**60 strings
                  + b"\0" * 64)
    assert_one_line_error(cli("params", str(p)), "forged.gguf", "runs past the end")


def test_gguf_without_the_architecture_keys(cli, tmp_path):
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(tmp_path / "bare.gguf"), "llama")
    w.add_embedding_length(64)
    w.add_tensor("token_embd.weight", np.zeros((10, 64), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert_one_line_error(cli("params", str(tmp_path / "bare.gguf")), "bare.gguf",
                          "lacks llama.block_count, llama.attention.head_count")
