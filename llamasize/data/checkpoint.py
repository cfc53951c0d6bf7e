"""A checkpoint's own tensors: name, dtype, shape, exact bytes and parameters, per component.

Bytes are exact: each tensor's ``numel x dtype bits / 8`` (safetensors, validated against the
header's offsets by ``safetensors_header``) or the GGUF block size (``gguf_file``). Quantization
side tensors (scales, zero points, ``g_idx``, absmax, FP8 ``weight_scale``/``input_scale``, MXFP4
``*_scales``, ...) count to bytes but are not parameters. Parameters are the *unpacked* weight's
element count, by these packing rules (each from the format's writer):

- GPTQ ``qweight`` int32 ``(in x bits / 32, out)`` (AutoGPTQ/GPTQModel ``QuantLinear``) and AWQ
  ``qweight`` int32 ``(in, out x bits / 32)`` (AutoAWQ ``WQLinear_GEMM``): ``numel x 32 / bits``.
  ``bits`` comes from the shapes where they fix it (GPTQ: ``g_idx`` has ``in`` entries; AWQ:
  ``scales`` has ``out`` columns), else from ``quantization_config.bits``.
- compressed-tensors ``weight_packed``: int32 ``(out, in x bits / 32)`` (``pack_to_int32``),
  ``numel x 32 / bits`` with ``bits`` from the single ``config_groups`` ``num_bits``; uint8 (NVFP4,
  two E2M1 values per byte): ``numel x 2``.
- bitsandbytes 4-bit ``weight`` with a ``weight.absmax`` / ``weight.quant_state.*`` sibling
  (``Params4bit``: two 4-bit values per byte of ``bnb_4bit_quant_storage``): ``numel x bits(dtype) / 4``.
- ModelOpt NVFP4 ``weight`` uint8 with a ``weight_scale_2`` sibling: ``numel x 2``.
- gpt-oss MXFP4 ``*_blocks`` uint8 ``(..., in / 32, 16)`` (transformers ``integrations/mxfp4.py``):
  ``numel x 2``.
- MLX ``weight`` uint32 with a ``scales`` sibling (``mlx.nn.QuantizedLinear``: ``(out, in x bits / 32)``,
  scales ``(out, in / group)``): ``bits = 32 x cols / (scale cols x group_size)`` with ``group_size``
  from ``quantization``; else ``quantization.bits``.

A packed tensor whose ``bits`` neither the shapes nor the config give is counted at 4 bits and its
component is listed in ``approximate`` (its bytes stay exact). Every other tensor is plain:
parameters = elements.

Components (``estimate.params.COMPONENTS``, plus ``other``) by Hugging Face and GGUF tensor-name
patterns, first match wins (``_PATTERNS``); what none claims is ``other`` and still counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from math import prod
from pathlib import Path

from llamasize.data.safetensors_header import DTYPE_BITS, INDEX_NAME, read_index, read_shard
from llamasize.data.spec import CheckpointPart, CheckpointSummary
from llamasize.errors import DataError
from llamasize.text import quote_value

#: Component names, in ``estimate.params.COMPONENTS`` order, plus ``other`` (tests keep them equal).
CHECKPOINT_COMPONENTS = ("embedding", "lm_head", "attention", "norms", "router", "routed_experts",
                         "shared_experts", "dense_ffn", "vision", "other")

# First match wins. HF names (``model.layers.3.self_attn.q_proj.weight``) and GGUF names
# (``blk.3.attn_q.weight``, llama.cpp ``gguf-py/gguf/constants.py`` TENSOR_NAMES).
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((c, re.compile(p)) for c, p in (
    ("vision", r"(^|\.)(vision_tower|visual|vision_model|vision_encoder|multi_modal_projector|mm_projector"
               r"|vision_embed_tokens|image_newline|vision_projection|vision_adapter)(\.|$)|^(v|mm)\."),
    ("lm_head", r"(^|\.)lm_head(\.|$)|^output\.weight$|(^|\.)embed_out(\.|$)"),
    ("embedding", r"(^|\.)(embed_tokens|wte|wpe|embed_positions|word_embeddings|tok_embeddings|embed_in)(\.|$)|^token_embd\."),
    ("shared_experts", r"(^|\.)(shared_experts?|shared_expert_gate|shared_mlp)(\.|$)|_shexp(\.|$)"),
    ("router", r"(^|\.)(mlp|block_sparse_moe|feed_forward|moe)\.(gate|router)\.|(^|\.)router\."
               r"|\.ffn_gate_inp(\.|$)|\.exp_probs_b(\.|$)"),
    ("routed_experts", r"(^|\.)experts(\.|$)|_exps(\.|$)|(^|\.)block_sparse_moe\.(input|output)_linear\."),
    ("attention", r"(^|\.)(self_attn|self_attention|attention|attn|linear_attn|mixer)\.|\.attn_(?!norm)"
                  r"|\.(q_norm|k_norm)\."),
    ("norms", r"norm|(^|\.)ln_(f|\d+)(\.|$)"),
    ("dense_ffn", r"(^|\.)(mlp|feed_forward|ffn|dense_h_to_4h|dense_4h_to_h)\.|\.ffn_(gate|up|down)(\.|$)"),
))

#: Quantization side tensors by their last name segment: bytes, no parameters.
_SIDE_NAMES = frozenset({
    "scales", "qzeros", "g_idx", "SCB", "weight_format", "absmax", "quant_map", "nested_absmax",
    "nested_quant_map", "weight_scale", "weight_scale_inv", "weight_scale_2", "input_scale", "output_scale",
    "k_scale", "v_scale", "q_scale", "weight_zero_point", "input_zero_point", "weight_g_idx", "weight_shape",
    "weight_global_scale", "input_global_scale", "pre_quant_scale",
})


_INDEX_SEGMENT = re.compile(r"\.\d+(?=\.|$)")


def component_of(name: str) -> str:
    """The component a tensor name belongs to (``_PATTERNS``, first match), else ``other``. Layer
    and expert numbers do not decide it, so names are looked up with them set to 0 (one match per
    distinct name shape: a 128-expert model has tens, not tens of thousands)."""
    return _component(_INDEX_SEGMENT.sub(".0", name))


@lru_cache(maxsize=4096)
def _component(name: str) -> str:
    for comp, pat in _PATTERNS:
        if pat.search(name):
            return comp
    return "other"


@dataclass(frozen=True)
class CheckpointTensor:
    """One tensor of a checkpoint, with its parameters by the packing rules of the module doc."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    params: int
    component: str
    #: weight (a model parameter, maybe packed) | quant (a quantization side tensor)
    role: str
    #: False when the packing's bit width was assumed (4), see the module docstring.
    params_exact: bool = True
    file: str = ""


@dataclass(frozen=True)
class QuantHints:
    """What ``config.json`` says about packed widths: ``bits`` and ``group_size``, when it says."""

    bits: int | None = None
    group_size: int | None = None


def quant_hints(config: dict | None) -> QuantHints:
    """``quantization_config`` (GPTQ/AWQ ``bits``/``w_bit``, ``group_size``/``q_group_size``;
    compressed-tensors: the one ``num_bits`` of all ``config_groups``) or MLX's ``quantization``."""
    if not isinstance(config, dict):
        return QuantHints()
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        qc = config.get("quantization")
    if not isinstance(qc, dict):
        return QuantHints()

    def whole(v) -> int | None:
        return v if type(v) is int and 0 < v <= 32 else None

    bits = whole(qc.get("bits")) or whole(qc.get("w_bit"))
    groups = qc.get("config_groups")
    if bits is None and isinstance(groups, dict):
        found = {whole((g.get("weights") or {}).get("num_bits")) for g in groups.values()
                 if isinstance(g, dict) and isinstance(g.get("weights"), dict)}
        if len(found) == 1:
            bits = found.pop()
    group = qc.get("group_size", qc.get("q_group_size"))
    return QuantHints(bits, group if type(group) is int and group > 0 else None)


def _packed_params(name: str, dtype: str, shape: tuple[int, ...], bits_of: dict[str, int],
                   siblings: dict[str, tuple[str, tuple[int, ...]]], quant_state: set[str],
                   hints: QuantHints) -> tuple[int, bool] | None:
    """(parameters, exact) of a packed weight, or None for a plain tensor (module docstring rules)."""
    stem, _, last = name.rpartition(".")
    n = prod(shape)

    def sib(suffix: str):
        return siblings.get(f"{stem}.{suffix}" if stem else suffix)

    def int32_packed(bits: int | None) -> tuple[int, bool]:
        if bits and (n * 32) % bits == 0:  # 3-bit GPTQ packs across int32 boundaries: still n x 32 / 3
            return n * 32 // bits, True
        return n * 8, False  # assumed 4 bits

    if last == "qweight" and dtype in ("I32", "U32") and len(shape) == 2:
        g_idx, scales = sib("g_idx"), sib("scales")
        bits = None
        if g_idx and len(g_idx[1]) == 1 and g_idx[1][0] and (32 * shape[0]) % g_idx[1][0] == 0:
            bits = 32 * shape[0] // g_idx[1][0]  # GPTQ: rows = in x bits / 32
        elif scales and len(scales[1]) == 2 and scales[1][1] != shape[1] and scales[1][1] \
                and (32 * shape[1]) % scales[1][1] == 0:
            bits = 32 * shape[1] // scales[1][1]  # AWQ: cols = out x bits / 32
        return int32_packed(bits or hints.bits)
    if last == "weight_packed":
        if dtype == "U8":
            return n * 2, True
        if dtype in ("I32", "U32"):
            return int32_packed(hints.bits)
    if last.endswith("_blocks") and dtype == "U8":
        return n * 2, True
    if last == "weight":
        if sib("weight.absmax") or name in quant_state:
            return n * bits_of[dtype] // 4, True
        if dtype == "U8" and sib("weight_scale_2"):
            return n * 2, True
        scales = sib("scales")
        if dtype == "U32" and scales:
            bits = hints.bits
            if hints.group_size and len(shape) == 2 and len(scales[1]) == 2 and scales[1][1]:
                cols_in = scales[1][1] * hints.group_size
                if (32 * shape[1]) % cols_in == 0:
                    bits = 32 * shape[1] // cols_in
            return int32_packed(bits)
    return None


def classify(raw: list[tuple[str, str, tuple[int, ...], int, str]], bits_of: dict[str, int],
             hints: QuantHints = QuantHints()) -> list[CheckpointTensor]:
    """Tensors ``(name, dtype, shape, nbytes, file)`` with their component, role and parameters."""
    siblings = {name: (dtype, shape) for name, dtype, shape, _, _ in raw}
    # bitsandbytes 4-bit: ``<weight>.quant_state.bitsandbytes__nf4`` marks ``<weight>`` as packed
    quant_state = {name.partition(".quant_state.")[0] for name in siblings if ".quant_state." in name}
    out = []
    for name, dtype, shape, nbytes, file in raw:
        last = name.rpartition(".")[2]
        side = (last in _SIDE_NAMES or ".quant_state." in name or (last.endswith("_scales") and dtype == "U8")
                or (last == "biases" and f"{name[:-len('biases')]}scales" in siblings))
        params, exact = (0, True) if side else (_packed_params(name, dtype, shape, bits_of, siblings, quant_state, hints)
                                                or (prod(shape), True))
        out.append(CheckpointTensor(name, dtype, shape, nbytes, params, component_of(name),
                                    "quant" if side else "weight", exact, file))
    return out


def summarize(tensors: list[CheckpointTensor], fmt: str, path: Path, files: list[str],
              index_total_size: int | None = None, warnings: list[str] | None = None) -> CheckpointSummary:
    """Per-component and per-dtype sums of ``tensors``; ``index_total_size`` is compared with the
    byte sum and a disagreement goes to ``warnings``."""
    comps: dict[str, Counter] = {c: Counter() for c in CHECKPOINT_COMPONENTS}
    dtypes: dict[str, Counter] = {}
    approx: set[str] = set()
    for t in tensors:
        for bucket in (comps[t.component], dtypes.setdefault(t.dtype, Counter())):
            bucket["params"] += t.params
            bucket["bytes"] += t.nbytes
            bucket["tensors"] += 1
        if not t.params_exact:
            approx.add(t.component)
    total_bytes = sum(t.nbytes for t in tensors)
    notes = list(warnings or [])
    if approx:
        notes.append(f"packed weights without a known bit width (quantization_config.bits) counted at 4 bits in: "
                     f"{', '.join(c for c in CHECKPOINT_COMPONENTS if c in approx)}; their parameter counts are "
                     "approximate (bytes exact)")
    if index_total_size is not None and index_total_size != total_bytes:
        notes.append(f"the index's metadata.total_size ({index_total_size:,} bytes) disagrees with the shards' "
                     f"tensors ({total_bytes:,} bytes); the shards' headers are used")
    part = lambda c: CheckpointPart(params=c["params"], bytes=c["bytes"], tensors=c["tensors"])  # noqa: E731
    return CheckpointSummary(
        format=fmt, path=str(path), files=files, tensor_count=len(tensors),
        total_params=sum(t.params for t in tensors), total_bytes=total_bytes,
        components={c: part(v) for c, v in comps.items()},
        dtypes={d: part(v) for d, v in sorted(dtypes.items())},
        approximate=[c for c in CHECKPOINT_COMPONENTS if c in approx],
        index_total_size=index_total_size, warnings=notes,
    )


def has_safetensors(directory: Path) -> bool:
    """Whether ``directory`` holds a shard index or any ``*.safetensors`` file."""
    return (directory / INDEX_NAME).exists() or any(directory.glob("*.safetensors"))


def read_safetensors_dir(directory: Path, config: dict | None = None) -> tuple[list[CheckpointTensor],
                                                                            CheckpointSummary]:
    """Every tensor of a safetensors checkpoint directory and its summary. With an index, exactly the
    shards it names are read (each must exist: a missing one is an error naming it; every tensor it
    maps must be in its shard); without one, every ``*.safetensors`` file (but Mistral's
    ``consolidated*.safetensors`` beside Hugging Face shards, a second copy). Headers only."""
    directory = Path(directory)
    index_path = directory / INDEX_NAME
    present = sorted(p.name for p in directory.glob("*.safetensors"))
    notes: list[str] = []
    index = None
    if index_path.exists():
        index = read_index(index_path)
        names = list(index.shards)
        notes += index.notes
        missing = [n for n in names if not (directory / n).exists()]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise DataError(f"{directory / missing[0]}: shard listed in {INDEX_NAME} is missing{more} "
                            "(an incomplete download?)")
        extra = [n for n in present if n not in set(names)]
        if extra:
            notes.append(f"{len(extra)} *.safetensors file(s) not in {INDEX_NAME} not counted: "
                         f"{', '.join(quote_value(e) for e in extra[:3])}{' ...' if len(extra) > 3 else ''}")
    else:
        names = present
        mistral = [n for n in present if n.startswith("consolidated")]
        if mistral and len(mistral) < len(present):
            # Mistral repos ship consolidated*.safetensors (mistral-inference names) beside the HF shards:
            # the same weights twice; the HF shards are what config.json describes
            names = [n for n in present if n not in mistral]
            notes.append(f"{', '.join(mistral)} not counted: the same weights in Mistral's own layout "
                         "beside the Hugging Face shards")
    if not names:
        raise DataError(f"{directory}: no *.safetensors shards to read")
    raw: list[tuple[str, str, tuple[int, ...], int, str]] = []
    seen: dict[str, str] = {}
    for name in names:
        shard = read_shard(directory / name)
        for t in shard.tensors:
            if t.name in seen:
                raise DataError(f"{directory / name}: tensor {quote_value(t.name)} is also in {seen[t.name]}")
            seen[t.name] = name
            raw.append((t.name, t.dtype, t.shape, t.nbytes, name))
    if index is not None:
        for tensor, shard_name in index.weight_map.items():
            if seen.get(tensor) != shard_name:
                raise DataError(f"{directory / shard_name}: {INDEX_NAME} maps tensor {quote_value(tensor)} to this "
                                "shard, but its header does not have it")
        unmapped = len(seen) - len(index.weight_map)
        if unmapped:
            notes.append(f"{unmapped:,} tensor(s) in the shards are not in {INDEX_NAME}'s weight_map (counted)")
    tensors = classify(raw, DTYPE_BITS, quant_hints(config))
    summary = summarize(tensors, "safetensors", directory, names,
                        index.total_size if index is not None else None, notes)
    return tensors, summary
