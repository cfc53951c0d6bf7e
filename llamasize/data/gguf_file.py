"""Read a ``.gguf`` file's metadata with the ``gguf`` package (llama.cpp's gguf-py): every tensor's
type and exact bytes, and the architecture keys that the KV cache and speed models need.

Tensor bytes are ``n_elements x type_size / block_size`` (``GGML_QUANT_SIZES``, the block structs of
``ggml-common.h``), as ``GGUFReader`` computes them; parameters are ``n_elements`` (the logical
shape, whatever the block packing): both exact (checkpoint). Components by tensor name
(``checkpoint.component_of``: ``token_embd``, ``output``, ``blk.N.attn_*``, ``ffn_*_exps``, ...).

Architecture keys (llama.cpp ``gguf-py/gguf/constants.py`` ``Keys.LLM`` / ``Keys.Attention``), read
for every ``general.architecture``: ``<arch>.block_count``, ``.embedding_length``,
``.feed_forward_length``, ``.attention.head_count``, ``.attention.head_count_kv``, ``.context_length``,
``.expert_count``, ``.expert_used_count``, ``.expert_feed_forward_length``,
``.expert_shared_count``/``.expert_shared_feed_forward_length``, ``.leading_dense_block_count``,
``.interleave_moe_layer_step``, ``.attention.sliding_window`` (+ ``.sliding_window_pattern``),
``.attention.key_length``/``.value_length`` and the MLA ranks; vocabulary from ``.vocab_size``, else
the ``token_embd`` shape, else the tokenizer's token list. Architectures in ``MAPPED`` are mapped
by these keys; any other is read the same way as a Llama-style decoder and the spec says so
(the parameter and byte counts stay exact: they come from the tensors).

The KV dtype default is f16: llama.cpp's ``--cache-type-k``/``-v`` default (``common.h``).
The file is memory-mapped, never read whole; a bad magic, an unknown tensor type or a truncated
file is a one-line DataError naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from llamasize.data.checkpoint import CheckpointTensor, component_of, summarize
from llamasize.data.spec import ModelSpec
from llamasize.errors import DataError
from llamasize.files import NotRegularFileError, open_regular_file, pydantic_message, read_head

#: GGUF architectures whose keys map cleanly onto the spec (HF model_type they correspond to).
MAPPED = {"llama": "llama", "mistral3": "mistral3", "qwen2": "qwen2", "qwen3": "qwen3", "qwen2moe": "qwen2_moe",
          "qwen3moe": "qwen3_moe", "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3", "phi3": "phi3",
          "granite": "granite", "olmo2": "olmo2", "deepseek2": "deepseek_v3", "command-r": "cohere"}
#: Default sliding-window pattern (every n-th layer global) where the file has no key: transformers
#: Gemma2Config (alternating, n = 2) and Gemma3Config (``sliding_window_pattern`` 6).
_SWA_DEFAULT = {"gemma2": 2, "gemma3": 6}
#: ``general.file_type`` (llama.cpp ``llama_ftype``, gguf ``LlamaFileType``) -> llamasize format id.
_FILE_TYPE = {0: "fp32", 1: "fp16", 2: "q4_0", 7: "q8_0", 10: "q2_k", 12: "q3_k_m", 15: "q4_k_m",
              17: "q5_k_m", 18: "q6_k", 32: "bf16"}
#: Dominant tensor type -> format id, when ``general.file_type`` is absent or unmapped.
_TENSOR_TYPE = {"F32": "fp32", "F16": "fp16", "BF16": "bf16", "Q8_0": "q8_0", "Q6_K": "q6_k", "Q5_K": "q5_k_m",
                "Q4_K": "q4_k_m", "Q4_0": "q4_0", "Q3_K": "q3_k_m", "Q2_K": "q2_k"}
_MAGIC = b"GGUF"


#: Bytes per GGUF metadata scalar (gguf ``GGUFValueType``: 0-7 and 10-12; 8 = string, 9 = array).
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _precheck(path: Path, fh, size: int) -> None:
    """Walk the GGUF metadata section checking every length against the bytes left, before
    ``GGUFReader`` builds it: the reader loops over an array's declared element count even past the
    end of the file (an empty view per element, no error), so a forged count of 2**60 would hang
    it. Headers only (the file is memory-mapped, pages are read on demand)."""
    import mmap

    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        order = "<" if int.from_bytes(m[4:8], "little") & 0xFFFF else ">"
        pos = 8

        def take(n: int) -> int:
            nonlocal pos
            if n < 0 or pos + n > size:
                raise DataError(f"{path}: truncated or malformed GGUF file (a length at byte {pos:,} runs past "
                                f"the end, {size:,} bytes)")
            pos += n
            return pos - n

        def u(n: int) -> int:
            return int.from_bytes(m[take(n):pos], "little" if order == "<" else "big")

        def value(vtype: int, depth: int = 0) -> None:
            if vtype in _SCALAR_BYTES:
                take(_SCALAR_BYTES[vtype])
            elif vtype == 8:
                take(u(8))
            elif vtype == 9 and depth < 4:
                itype, count = u(4), u(8)
                if itype in _SCALAR_BYTES:
                    take(count * _SCALAR_BYTES[itype])
                    return
                if count * 8 > size - pos:  # every string or array element takes 8 bytes at least
                    take(count * 8)
                for _ in range(count):
                    value(itype, depth + 1)
            else:
                raise DataError(f"{path}: malformed GGUF file (metadata value type {vtype} at byte {pos:,})")

        tensors, kvs = u(8), u(8)
        if tensors * 24 > size or kvs * 12 > size:  # a tensor info takes >= 24 bytes, a key/value >= 12
            raise DataError(f"{path}: truncated or malformed GGUF file ({tensors:,} tensors and {kvs:,} keys "
                            f"declared in {size:,} bytes)")
        for _ in range(kvs):
            take(u(8))
            value(u(4))


def _reader(path: Path):
    """``GGUFReader`` over the opened regular file, with the package's errors as one-line DataErrors."""
    from gguf import GGUFReader  # imported here: numpy + gguf cost ~0.2 s and only .gguf paths need them

    head, size = read_head(path, "a GGUF file", 8)
    if not size:
        raise DataError(f"{path}: empty file, not a GGUF file")
    if head[:4] != _MAGIC:
        raise DataError(f"{path}: not a GGUF file (bad magic {head[:4]!r}, expected {_MAGIC!r})")
    if len(head) < 8:
        raise DataError(f"{path}: truncated GGUF file ({size} bytes)")
    try:
        with open_regular_file(path) as fh:
            _precheck(path, fh, size)
            reader = GGUFReader(fh)
    except NotRegularFileError as e:
        raise DataError(f"{path}: a GGUF file is {e.strerror}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    except ValueError as e:  # bad version, unknown tensor/value type, data past the end (reshape)
        text = str(e)
        m = re.search(r"(-?\d+)\)? is not a valid GGMLQuantizationType", text)
        if m:
            raise DataError(f"{path}: unknown GGUF tensor type {m.group(1)} (this gguf package knows "
                            "the types of llama.cpp's ggml.h)") from None
        raise DataError(f"{path}: truncated or malformed GGUF file ({text[:200]})") from None
    except (IndexError, KeyError, OverflowError, MemoryError) as e:  # header cut short, duplicate keys
        raise DataError(f"{path}: truncated or malformed GGUF file ({type(e).__name__}: {str(e)[:200]})") from None
    for t in reader.tensors:
        if t.data_offset + t.n_bytes > size:
            raise DataError(f"{path}: truncated GGUF file: tensor {t.name!r} ends at byte "
                            f"{t.data_offset + t.n_bytes:,}, the file has {size:,}")
    return reader


def _value(reader, key: str):
    """A metadata value: int/float/bool/str, a list for arrays, None when absent."""
    f = reader.fields.get(key)
    if f is None:
        return None
    try:
        v = f.contents()
    except (ValueError, IndexError, UnicodeDecodeError):
        raise DataError(f"GGUF key {key!r} is malformed") from None
    return v


def _uniform(v, what: str, notes: list[str]) -> int | None:
    """A per-layer array collapsed to one value (its maximum, noted when the layers differ)."""
    if isinstance(v, list):
        vals = [int(x) for x in v if isinstance(x, (int, float))]
        if not vals:
            return None
        if len(set(vals)) > 1:
            notes.append(f"{what} varies by layer ({min(vals)}..{max(vals)}); the largest is assumed for every layer")
        return max(vals)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _format_of(reader, tensors: list[CheckpointTensor]) -> str | None:
    ft = _value(reader, "general.file_type")
    if isinstance(ft, int) and ft in _FILE_TYPE:
        return _FILE_TYPE[ft]
    weights = [t for t in tensors if len(t.shape) >= 2]
    if not weights:
        return None
    by_type: dict[str, int] = {}
    for t in weights:
        by_type[t.dtype] = by_type.get(t.dtype, 0) + t.nbytes
    return _TENSOR_TYPE.get(max(by_type, key=lambda k: (by_type[k], k)))


def _layer_types(arch: str, a, n: int, window: int | None) -> list[str] | None:
    if not window:
        return None
    pattern = a("attention.sliding_window_pattern")
    if isinstance(pattern, list) and len(pattern) == n:  # llama.cpp swa_layers: true = sliding
        return ["sliding_attention" if p else "full_attention" for p in pattern]
    every = pattern if isinstance(pattern, int) and pattern > 0 else _SWA_DEFAULT.get(arch)
    if every:
        return ["sliding_attention" if (i + 1) % every else "full_attention" for i in range(n)]
    return ["sliding_attention"] * n


def _arch_fields(arch: str, reader, names: set[str], tensors, notes: list[str]) -> dict:
    """ModelSpec architecture fields from ``<arch>.*`` keys and the tensors present; what had to be
    assumed (a per-layer value collapsed to its maximum) goes to ``notes`` (the summary's warnings)."""
    def a(key: str):
        return _value(reader, f"{arch}.{key}")

    n = _uniform(a("block_count"), "block_count", notes)
    vocab = _uniform(a("vocab_size"), "vocab_size", notes)
    if vocab is None:
        emb = next((t for t in tensors if t.name == "token_embd.weight"), None)
        toks = _value(reader, "tokenizer.ggml.tokens")
        vocab = emb.shape[0] if emb is not None and len(emb.shape) == 2 else (len(toks) if toks else None)
    heads = _uniform(a("attention.head_count"), "attention.head_count", notes)
    out = {
        "hidden_size": _uniform(a("embedding_length"), "embedding_length", notes), "num_hidden_layers": n,
        "num_attention_heads": heads, "vocab_size": vocab,
        "num_key_value_heads": _uniform(a("attention.head_count_kv"), "attention.head_count_kv", notes) or heads,
        "intermediate_size": _uniform(a("feed_forward_length"), "feed_forward_length", notes),
        "max_position_embeddings": _uniform(a("context_length"), "context_length", notes),
        "rope_theta": a("rope.freq_base"), "rms_norm_eps": a("attention.layer_norm_rms_epsilon"),
        "tie_word_embeddings": "output.weight" not in names,
        "attention_bias": "blk.0.attn_output.bias" in names,
        "attention_qkv_bias": "blk.0.attn_q.bias" in names and "blk.0.attn_output.bias" not in names,
        "qk_norm": "rms_weighted" if "blk.0.attn_q_norm.weight" in names else None,
    }
    kl, vl = a("attention.key_length_mla") or a("attention.key_length"), \
        a("attention.value_length_mla") or a("attention.value_length")
    if a("attention.kv_lora_rank"):
        rope = a("rope.dimension_count")
        out.update(q_lora_rank=a("attention.q_lora_rank") or None, kv_lora_rank=a("attention.kv_lora_rank"),
                   qk_rope_head_dim=rope, qk_nope_head_dim=(kl - rope) if kl and rope else None, v_head_dim=vl)
    else:
        out["head_dim"] = kl
    experts = _uniform(a("expert_count"), "expert_count", notes)
    if experts:
        shared = a("expert_shared_count") or (1 if a("expert_shared_feed_forward_length") else 0)
        out.update(num_local_experts=experts, num_experts_per_tok=a("expert_used_count"),
                   moe_intermediate_size=a("expert_feed_forward_length"),
                   first_k_dense_replace=a("leading_dense_block_count") or 0,
                   interleave_moe_layer_step=a("interleave_moe_layer_step") or 1,
                   n_shared_experts=shared or None,
                   shared_expert_intermediate_size=a("expert_shared_feed_forward_length") or None,
                   shared_expert_gate="blk.0.ffn_gate_inp_shexp.weight" in names,
                   router_bias=any(x.endswith(".exp_probs_b.bias") for x in names))
    window = _uniform(a("attention.sliding_window"), "attention.sliding_window", notes)
    if window and n:
        out.update(sliding_window=window, layer_types=_layer_types(arch, a, n, window))
    return out


def _spec_fields(path: Path, reader, tensors: list[CheckpointTensor], name_hint: str | None) -> dict:
    """Every ModelSpec field of a GGUF file: identity, architecture, default format, the summary."""
    arch = _value(reader, "general.architecture")
    if not isinstance(arch, str) or not arch:
        raise DataError("GGUF file has no general.architecture")
    notes = [f"read from {path}: parameters and weight bytes from the GGUF tensor infos ({len(tensors):,} tensors)"]
    warnings: list[str] = []
    fields = _arch_fields(arch, reader, {t.name for t in tensors}, tensors, warnings)
    assumption = None
    if arch not in MAPPED:
        # the same field a config.json of an unmapped model_type sets: every label resting on the
        # architecture (KV bytes, params by architecture) then says approximate
        assumption = f"GGUF architecture {arch!r} has no specific mapping; read as a Llama-style decoder"
        notes.append(assumption)
    keys = {"hidden_size": "embedding_length", "num_hidden_layers": "block_count",
            "num_attention_heads": "attention.head_count", "vocab_size": "vocab_size (or a token_embd tensor)"}
    missing = [f"{arch}.{key}" for field, key in keys.items() if not fields.get(field)]
    if missing:
        raise DataError(f"GGUF file lacks {', '.join(missing)}")
    quant = _format_of(reader, tensors)
    if quant is None:
        warnings.append("the file's tensor types have no llamasize format; weight bytes are the file's, "
                        "the speed model assumes 16-bit compute")
    title = name_hint or _value(reader, "general.name") or path.stem
    stem = re.sub(r"[^a-z0-9._-]+", "-", f"gguf-{path.stem}".lower()).strip("-._") or "gguf-model"
    summary = summarize(tensors, "gguf", path, [path.name], warnings=warnings)
    fields.update(id=stem, name=f"{title} (GGUF)", family=MAPPED.get(arch, arch), model_type=MAPPED.get(arch, arch),
                  release_status="released", source=f"local GGUF file: {path}", notes=notes + summary.warnings,
                  torch_dtype="float16", checkpoint_quant=quant if quant not in (None, "fp16") else None,
                  checkpoint=summary, architecture_assumption=assumption)
    return fields


def load_gguf(path: Path, *, name_hint: str | None = None) -> ModelSpec:
    """A spec from a ``.gguf`` file: architecture from its keys, ``checkpoint`` from its tensors."""
    path = Path(path)
    reader = _reader(path)
    # GGUF lists dims fastest-first (ne[0] = row length); reversed, a shape reads as PyTorch (rows, cols)
    tensors = [CheckpointTensor(t.name, t.tensor_type.name, tuple(int(d) for d in reversed(t.shape.tolist())),
                                int(t.n_bytes), int(t.n_elements), component_of(t.name), "weight", True, path.name)
               for t in reader.tensors]
    try:
        fields = _spec_fields(path, reader, tensors, name_hint)
    except DataError as e:
        raise DataError(str(e) if str(e).startswith(str(path)) else f"{path}: {e}") from None
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: a GGUF architecture key has the wrong type ({e})") from None
    try:
        return ModelSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as e:
        raise DataError(f"{path}: {pydantic_message(e)}") from None
