"""Read the headers of safetensors shards (never their tensor data) and the shard index.

The format (safetensors ``docs`` and ``safetensors/src/tensor.rs``, huggingface/safetensors at
24b0b28, 2026-05-12): an 8-byte little-endian unsigned header length ``N``, then ``N`` bytes of a
UTF-8 JSON object mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(offsets relative to the byte after the header) plus an optional ``"__metadata__"`` object of
string -> string, then the tensor data. The validation here is the library's own
(``Metadata::validate`` and ``read_metadata``):

- ``N`` is at most ``MAX_HEADER_BYTES`` = 100,000,000 (the library's ``MAX_HEADER_SIZE``);
- every dtype is one the library defines (``DTYPE_BITS``), every shape a list of non-negative ints;
- the tensors, ordered by offset, cover the data area contiguously from 0, each exactly
  ``numel x bits / 8`` bytes (a sub-byte dtype must fill whole bytes);
- the file is exactly ``8 + N + end of the last tensor`` bytes: shorter is a truncated shard
  (an interrupted download), longer is refused as the library refuses it.

``model.safetensors.index.json`` (transformers' sharded checkpoints): ``weight_map`` maps each
tensor to its shard file, every shard it names must exist; ``metadata.total_size`` (the sum of the
tensors' bytes) is only a cross-check, reported when it disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path

from llamasize.errors import DataError
from llamasize.files import parse_json, read_head, read_text_file
from llamasize.text import quote_value

#: The library's ``MAX_HEADER_SIZE``: a larger header is refused before it is read.
MAX_HEADER_BYTES = 100_000_000
#: An index lists one line per tensor (DeepSeek-V3's, ~91,000 tensors, is about 9 MB).
MAX_INDEX_BYTES = 64 * 2**20
INDEX_NAME = "model.safetensors.index.json"

#: Bits per element of every dtype safetensors defines (``Dtype::bitsize`` in tensor.rs).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}


@dataclass(frozen=True)
class HeaderTensor:
    """One tensor as its shard's header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    #: Exact bytes: ``numel x DTYPE_BITS[dtype] / 8`` (validated equal to the offsets' span).
    nbytes: int
    file: str


@dataclass(frozen=True)
class Shard:
    """A shard's tensors (in offset order), its size on disk and its ``__metadata__``."""

    path: Path
    tensors: tuple[HeaderTensor, ...]
    header_bytes: int
    file_bytes: int
    metadata: dict[str, str]


def _tensor(path: Path, name: str, info: object) -> tuple[int, int, HeaderTensor]:
    """One header entry validated: (begin, end, tensor)."""
    where = f"{path}: tensor {quote_value(name)}"
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise DataError(f"{where}: expected exactly dtype, shape and data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise DataError(f"{where}: unknown dtype {quote_value(dtype)} (safetensors defines "
                        f"{', '.join(DTYPE_BITS)})")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise DataError(f"{where}: shape must be a list of non-negative integers, got {quote_value(shape)}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int and o >= 0 for o in offsets) or offsets[1] < offsets[0]):
        raise DataError(f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                        f"got {quote_value(offsets)}")
    bits = prod(tuple(shape)) * DTYPE_BITS[dtype]
    if bits % 8:
        raise DataError(f"{where}: {bits:,} bits of {dtype} do not fill whole bytes")
    begin, end = offsets
    if end - begin != bits // 8:
        raise DataError(f"{where}: data_offsets span {end - begin:,} bytes but {dtype} {shape} needs {bits // 8:,}")
    return begin, end, HeaderTensor(name, dtype, tuple(shape), bits // 8, path.name)


def read_shard(path: Path) -> Shard:
    """The header of one ``.safetensors`` file, validated as the library does (module docstring);
    only ``8 + N`` bytes are read. DataError (one line, naming the file) for anything invalid."""
    path = Path(path)
    head, size = read_head(path, "a safetensors file", 8)
    if len(head) < 8:
        raise DataError(f"{path}: truncated safetensors file ({size} bytes; the 8-byte header length is missing)")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER_BYTES:
        raise DataError(f"{path}: safetensors header of {n:,} bytes is larger than the "
                        f"{MAX_HEADER_BYTES:,}-byte limit (the library's own)")
    if 8 + n > size:
        raise DataError(f"{path}: truncated safetensors file: the header needs {8 + n:,} bytes, "
                        f"the file has {size:,}")
    raw, _ = read_head(path, "a safetensors file", 8 + n)
    if len(raw) < 8 + n:
        raise DataError(f"{path}: truncated safetensors file while reading its header")
    try:
        text = raw[8:].decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: safetensors header is not UTF-8") from None
    data = parse_json(text, f"{path}: safetensors header")
    if not isinstance(data, dict):
        raise DataError(f"{path}: safetensors header is not a JSON object")
    meta = data.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise DataError(f"{path}: __metadata__ must be an object of strings")
    entries = sorted((_tensor(path, name, info) for name, info in data.items()), key=lambda e: (e[0], e[1]))
    end = 0
    for begin, stop, t in entries:
        if begin != end:
            raise DataError(f"{path}: tensor {quote_value(t.name)} starts at byte {begin:,} of the data, "
                            f"expected {end:,} (tensors must be contiguous)")
        end = stop
    expected = 8 + n + end
    if size < expected:
        raise DataError(f"{path}: truncated safetensors file: the header describes {expected:,} bytes, "
                        f"the file has {size:,}")
    if size > expected:
        raise DataError(f"{path}: {size - expected:,} bytes after the last tensor (the header describes "
                        f"{expected:,}); not a valid safetensors file")
    return Shard(path, tuple(t for _, _, t in entries), n, size, dict(meta))


@dataclass(frozen=True)
class ShardIndex:
    """``model.safetensors.index.json``: the shard files it names and its stated total size."""

    path: Path
    weight_map: dict[str, str]
    shards: tuple[str, ...]
    total_size: int | None
    #: What was found but not used (a malformed ``total_size``), for the summary's warnings.
    notes: tuple[str, ...] = ()


def read_index(path: Path) -> ShardIndex:
    """The shard index, validated: ``weight_map`` of tensor -> plain file name in the same directory
    (no path separators), ``metadata.total_size`` a non-negative integer when present."""
    path = Path(path)
    data = parse_json(read_text_file(path, INDEX_NAME, MAX_INDEX_BYTES), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("weight_map"), dict):
        raise DataError(f"{path}: expected a JSON object with a weight_map object")
    wm = data["weight_map"]
    for name, shard in wm.items():
        if not isinstance(shard, str) or not shard or "/" in shard or "\\" in shard or shard in (".", ".."):
            raise DataError(f"{path}: weight_map[{quote_value(name)}] must be a file name in the same "
                            f"directory, got {quote_value(shard)}")
    meta = data.get("metadata") or {}
    total = meta.get("total_size") if isinstance(meta, dict) else None
    notes: tuple[str, ...] = ()
    if total is not None and (type(total) is not int or total < 0):
        # some exporters write a float or a string; it is only a cross-check, so say it is not used
        notes = (f"{path.name}: metadata.total_size {quote_value(total)} is not a byte count; not cross-checked",)
        total = None
    return ShardIndex(path, dict(wm), tuple(sorted(set(wm.values()))), total, notes)
