"""A checkpoint's ``quantization_config`` -> a typed description of what it stores (``QuantScheme``).

Read from ``config.json`` (``quantization_config``; MLX also writes ``quantization``), or from a
``quantize_config.json`` (AutoGPTQ) / ``hf_quant_config.json`` (NVIDIA ModelOpt) beside it. Each
scheme has a stable ``format_id`` (``gptq-w4-g128-actorder``, ``bnb-nf4-dq``, ``ct-fp8-channel``,
``mlx-4bit-g64`` ...) that ``scheme_from_format_id`` turns back into the same layout, so
``--quant <format_id>`` works on any model, and one ``Layout`` per quantized linear: the stored
bits of every tensor the quantizer writes, as exact integers per element, group, row, column or
tensor. Which modules stay unquantized (``ignore`` / ``modules_to_not_convert`` /
``llm_int8_skip_modules``) is kept as the config lists it; ``estimate/quant`` matches it against
the weight table's Hugging Face module names.

Layouts, each from the code that writes the checkpoint (``ref`` = transformers 5.24 source,
``ct`` = compressed-tensors 0.20.1, ``mlx`` = mlx-lm 0.32.2):

- GPTQ (AutoGPTQ / GPTQModel ``QuantLinear`` buffers, v1 format): ``qweight`` int32
  ``(in*b/32, out)``, ``qzeros`` int32 ``(groups, out*b/32)``, ``scales`` fp16 ``(groups, out)``,
  ``g_idx`` int32 ``(in,)`` (written with and without act-order). Group -1 = one group per row.
- AWQ (AutoAWQ ``WQLinear_GEMM``): ``qweight`` int32 ``(in, out*b/32)``, ``qzeros`` int32
  ``(in/g, out*b/32)``, ``scales`` fp16 ``(in/g, out)``; no g_idx.
- bitsandbytes 8-bit (``Linear8bitLt`` state dict): ``weight`` int8 ``(out, in)`` + ``SCB`` fp32
  ``(out,)``. 4-bit (``Linear4bit`` / ``QuantState.as_dict(packed=True)``): 4-bit codes packed two
  per byte (in ``bnb_4bit_quant_storage``: same bytes), ``absmax`` fp32 per 64 weights of the
  flattened tensor, ``quant_map`` 16 x fp32; with double quantization ``absmax`` is uint8 and adds
  ``nested_absmax`` fp32 per 256 absmax values and ``nested_quant_map`` 256 x fp32. The packed
  ``quant_state`` JSON (about 200 bytes a tensor) is not counted. Skipped modules: ref
  ``quantizers/base.py`` ``get_modules_to_not_convert`` (the output embedding unless
  ``llm_int8_skip_modules`` is given, which then replaces it).
- compressed-tensors (ct ``quantization/lifecycle/initialize.py`` ``initialize_qparams``,
  ``compressors/pack_quantized``, ``nvfp4``, ``mxfp4``): scales in the model dtype with shape by
  strategy (tensor ``(1,)``, channel ``(out, 1)``, group ``(out, in/g)``, block
  ``(ceil(out/r), ceil(in/c))``); zero points when asymmetric; static activations add an
  ``input_scale``; ``pack-quantized`` packs ``b``-bit ints into int32 ``(out, ceil(in*b/32))`` plus
  ``weight_shape`` int64 ``(2,)`` and packs zero points along the output dim; NVFP4 stores uint8
  codes, fp8 E4M3 scales per 16 and an fp32 ``weight_global_scale`` (+ ``input_global_scale`` when
  activations are FP4 too); MXFP4 uint8 codes and uint8 E8M0 scales per 32. ``ignore`` entries
  match a module's full name exactly, or as ``re.match`` after ``re:`` (ct ``utils/match.py``
  ``match_name``).
- fbgemm_fp8 (ref ``integrations/fbgemm_fp8.py`` ``FbgemmFp8Linear``): E4M3 ``weight`` + fp32
  ``weight_scale`` ``(out, 1)``; ``bias`` in fp32 (not modelled: the weight table's biases keep the
  checkpoint dtype).
- fp8 (fine-grained, DeepSeek-V3 style; ref ``integrations/finegrained_fp8.py``): E4M3 ``weight`` +
  fp32 ``weight_scale_inv`` per ``weight_block_size`` tile (per tensor without a block size).
- ModelOpt (``hf_quant_config.json``): FP8 = E4M3 ``weight`` + fp32 ``weight_scale`` and
  ``input_scale`` scalars; NVFP4 = uint8 codes, fp8 ``weight_scale`` per 16, fp32
  ``weight_scale_2`` and ``input_scale`` scalars.
- MXFP4 (gpt-oss, ref ``integrations/mxfp4.py``): experts only, ``*_blocks`` uint8 (16 bytes =
  32 E2M1 values) + ``*_scales`` uint8 (E8M0) per 32.
- MLX (mlx ``utils.py`` ``quantize_model``; MLX ``nn.quantize``): every ``Linear`` and
  ``Embedding`` (so the embeddings and the lm_head too) whose input size is a multiple of the group
  size: ``weight`` uint32 ``(out, in*b/32)`` + ``scales`` and ``biases`` ``(out, in/g)`` in the model
  dtype (affine mode); per-module entries (``"model.layers.0.mlp.gate": {"bits": 8, ...}`` or
  ``false``) override it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llamasize.errors import DataError
from llamasize.files import parse_json, read_text_file
from llamasize.text import quote_value
from llamasize.units import SHORT_DTYPE


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Layout(_Frozen):
    """Stored bits of one quantized weight of shape ``(out, in)`` (``estimate/quant.Storage``)."""

    elem_bits: int
    #: Elements per group along the input dimension, and overhead bits per group (scales, zeros).
    group: int | None = None
    group_bits: int = 0
    row_bits: int = 0
    col_bits: int = 0
    tensor_bits: int = 0
    #: 2-D tiles (rows, cols) with ``tile_bits`` each (block-wise FP8 scales).
    tile: tuple[int, int] | None = None
    tile_bits: int = 0
    #: (elements, bits): ``bits`` per ``elements`` of the flattened tensor (bitsandbytes absmax).
    flat: tuple[tuple[int, int], ...] = ()
    text: str


class ModuleOverride(_Frozen):
    """An MLX per-module entry: this module stored with ``layout``, or unquantized (None)."""

    module: str
    layout: Layout | None


class QuantScheme(_Frozen):
    """What a quantized checkpoint stores, as its quantization config says."""

    method: str
    format_id: str
    description: str
    layout: Layout
    #: What the method converts: every Linear of the text model (``linear``), only the decoder
    #: blocks' linears (``blocks``: GPTQ/AWQ leave the lm_head), Linear and Embedding (``mlx``),
    #: only the MoE experts (``experts``: gpt-oss MXFP4).
    scope: Literal["linear", "blocks", "mlx", "experts"]
    #: Modules kept unquantized and how the list matches module names.
    ignore: tuple[str, ...] = ()
    match: Literal["transformers", "compressed-tensors", "modelopt"] = "transformers"
    overrides: tuple[ModuleOverride, ...] = ()
    #: The matmul dtype with native support, and the native format the GPU needs (fp8 / fp4).
    compute_dtype: str = "bf16"
    needs_native: str | None = None
    accuracy: Literal["exact", "approximate"] = "exact"
    notes: tuple[str, ...] = ()
    source: str = "config.json quantization_config"


#: transformers ``get_keys_to_not_convert``: the output embedding stays unquantized.
DEFAULT_SKIP = ("lm_head",)
#: gpt-oss's ``modules_to_not_convert`` (openai/gpt-oss-120b config.json).
GPT_OSS_SKIP = ("model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head")


def _err(where: str, key: str, value: object, want: str) -> DataError:
    return DataError(f"{where}: quantization_config.{key} must be {want}, got {quote_value(value)}")


def _int(q: dict, key: str, where: str, default: int | None, allowed: tuple[int, ...] | None = None,
         low: int = 1, high: int = 1 << 20) -> int | None:
    v = q.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(where, key, v, "an integer")
    if allowed is not None and v not in allowed:
        raise _err(where, key, v, "one of " + ", ".join(map(str, allowed)))
    if allowed is None and not low <= v <= high:
        raise _err(where, key, v, f"between {low} and {high}")
    return v


def _bool(q: dict, key: str, where: str, default: bool) -> bool:
    v = q.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise _err(where, key, v, "true or false")
    return v


def _str(q: dict, key: str, where: str, default: str | None) -> str | None:
    v = q.get(key, default)
    if v is not None and not isinstance(v, str):
        raise _err(where, key, v, "a string")
    return v


def _names(q: dict, key: str, where: str) -> tuple[str, ...] | None:
    v = q.get(key)
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise _err(where, key, v, "a list of module names")
    return tuple(v)


def _group(q: dict, key: str, where: str, default: int | None) -> int | None:
    """A group size: a power of two from 16 to 4096, or -1 (one group per row) -> None."""
    g = _int(q, key, where, default, low=-1)
    if g is None or g == -1:
        return None
    if g < 16 or g > 4096 or g & (g - 1):
        raise _err(where, key, g, "-1 or a power of two from 16 to 4096")
    return g


def _scale_bits(torch_dtype: str) -> int:
    return 32 if torch_dtype == "float32" else 16


# ------------------------------------------------------------------------- layouts by method ---
def gptq_layout(bits: int, group: int | None) -> Layout:
    """GPTQ v1: b-bit codes, an fp16 scale and a b-bit zero per group, an int32 g_idx per column."""
    g = f"g{group}" if group else "per-row"
    if group:
        return Layout(elem_bits=bits, group=group, group_bits=16 + bits, col_bits=32,
                      text=f"int{bits} {g}: fp16 scale + int{bits} zero per group, int32 g_idx per input column")
    return Layout(elem_bits=bits, row_bits=16 + bits, col_bits=32,
                  text=f"int{bits} {g}: fp16 scale + int{bits} zero per row, int32 g_idx per input column")


def awq_layout(bits: int, group: int) -> Layout:
    """AWQ GEMM: b-bit codes, an fp16 scale and a packed b-bit zero per group."""
    return Layout(elem_bits=bits, group=group, group_bits=16 + bits,
                  text=f"int{bits} g{group}: fp16 scale + int{bits} zero per group")


def bnb_layout(kind: str, double: bool) -> Layout:
    """bitsandbytes: int8 + fp32 SCB per row; or 4-bit with absmax per 64 (fp32, or uint8 plus
    fp32 per 256 absmax under double quantization) and the code maps per tensor."""
    if kind == "int8":
        return Layout(elem_bits=8, row_bits=32, text="int8 + fp32 SCB per row (LLM.int8())")
    if double:
        return Layout(elem_bits=4, flat=((64, 8), (64 * 256, 32)), tensor_bits=(16 + 256) * 32,
                      text=f"{kind} block 64, double-quantized absmax: uint8 per 64 + fp32 per 16,384")
    return Layout(elem_bits=4, flat=((64, 32),), tensor_bits=16 * 32, text=f"{kind} block 64, fp32 absmax per 64")


def ct_layout(num_bits: int, kind: str, strategy: str, group: int | None, block: tuple[int, int] | None,
              symmetric: bool, static_input: bool, packed: bool, scale_bits: int, fp4_acts: bool) -> Layout:
    """compressed-tensors weight storage for one config group (see the module docstring)."""
    if kind == "float" and num_bits == 4:  # NVFP4 (tensor_group, 16) or MXFP4 (group, 32)
        if group == 16 or strategy == "tensor_group":
            return Layout(elem_bits=4, group=16, group_bits=8, tensor_bits=32 * (2 if fp4_acts else 1),
                          text="nvfp4: E2M1 + fp8 E4M3 scale per 16, fp32 global scale(s)")
        return Layout(elem_bits=4, group=32, group_bits=8, text="mxfp4: E2M1 + E8M0 scale per 32")
    elem = num_bits if (packed or num_bits == 8) else 8
    zero = 0 if symmetric else (num_bits if packed else 8)
    per = scale_bits + zero
    tensor = (scale_bits if static_input else 0) + (64 * 2 if packed else 0)
    text = f"{kind}{num_bits} {strategy}"
    if strategy == "group" and group:
        return Layout(elem_bits=elem, group=group, group_bits=per, tensor_bits=tensor, text=f"{text} g{group}")
    if strategy == "block" and block:
        return Layout(elem_bits=elem, tile=block, tile_bits=per, tensor_bits=tensor,
                      text=f"{text} {block[0]}x{block[1]}")
    if strategy == "channel":
        return Layout(elem_bits=elem, row_bits=per, tensor_bits=tensor, text=text)
    return Layout(elem_bits=elem, tensor_bits=tensor + per, text=text)


def fp8_tile_layout(block: tuple[int, int] | None) -> Layout:
    """Fine-grained FP8: E4M3 + one fp32 ``weight_scale_inv`` per tile (or per tensor)."""
    if block is None:
        return Layout(elem_bits=8, tensor_bits=32, text="fp8 e4m3 + fp32 scale per tensor")
    return Layout(elem_bits=8, tile=block, tile_bits=32, text=f"fp8 e4m3 + fp32 scale per {block[0]}x{block[1]} tile")


def mlx_layout(bits: int, group: int, mode: str, scale_bits: int) -> Layout:
    """MLX: affine = packed uint32 codes + scale and bias per group in the model dtype; mxfp4/mxfp8
    = E8M0 uint8 scale per group; nvfp4 = fp8 scale per 16."""
    if mode == "affine":
        return Layout(elem_bits=bits, group=group, group_bits=2 * scale_bits,
                      text=f"int{bits} g{group}: scale + bias per group in the model dtype")
    return Layout(elem_bits=bits, group=group, group_bits=8, text=f"{mode} g{group}: 8-bit scale per group")


_FP8_ROW = Layout(elem_bits=8, row_bits=32, text="fp8 e4m3 + fp32 scale per row")
_MODELOPT_FP8 = Layout(elem_bits=8, tensor_bits=64, text="fp8 e4m3 + fp32 weight_scale and input_scale")
_MODELOPT_NVFP4 = Layout(elem_bits=4, group=16, group_bits=8, tensor_bits=64,
                         text="nvfp4: E2M1 + fp8 scale per 16, fp32 weight_scale_2 and input_scale")
_MXFP4 = Layout(elem_bits=4, group=32, group_bits=8, text="mxfp4: E2M1 + E8M0 scale per 32")


# ----------------------------------------------------------------------------------- parsers ---
def _gptq(q: dict, where: str, dtype: str) -> QuantScheme:
    bits = _int(q, "bits", where, 4, allowed=(2, 3, 4, 8))
    group = _group(q, "group_size", where, 128)
    act = _bool(q, "desc_act", where, False)
    sym = _bool(q, "sym", where, True)
    if q.get("checkpoint_format", "gptq") not in ("gptq", "gptq_v2"):
        raise _err(where, "checkpoint_format", q.get("checkpoint_format"), "gptq or gptq_v2")
    fid = f"gptq-w{bits}-g{group or 'ch'}" + ("-actorder" if act else "")
    notes = ("qzeros are stored whether sym is true or false",) if sym else ()
    return QuantScheme(method="gptq", format_id=fid, description=f"GPTQ {bits}-bit, group {group or -1}"
                       + (", act-order" if act else ""), layout=gptq_layout(bits, group), scope="blocks",
                       ignore=tuple(_names(q, "modules_to_not_convert", where) or ()), notes=notes)


def _awq(q: dict, where: str, dtype: str) -> QuantScheme:
    bits = _int(q, "bits", where, _int(q, "w_bit", where, 4), allowed=(4,))
    group = _group(q, "group_size", where, _int(q, "q_group_size", where, 128, low=-1))
    if group is None:
        raise _err(where, "group_size", -1, "a power of two (AWQ stores per-group scales)")
    version = (_str(q, "version", where, "gemm") or "gemm").lower()
    notes = () if version == "gemm" else (f"AWQ version {version}: sized as the GEMM layout (GEMV pads scales to 8 groups)",)
    return QuantScheme(method="awq", format_id=f"awq-w{bits}-g{group}", description=f"AWQ {bits}-bit, group {group}",
                       layout=awq_layout(bits, group), scope="blocks", accuracy="exact" if version == "gemm" else "approximate",
                       ignore=tuple(_names(q, "modules_to_not_convert", where) or ()), notes=notes)


def _bnb(q: dict, where: str, dtype: str) -> QuantScheme:
    four, eight = _bool(q, "load_in_4bit", where, False), _bool(q, "load_in_8bit", where, False)
    if four == eight:
        raise DataError(f"{where}: quantization_config (bitsandbytes) must set exactly one of load_in_4bit and load_in_8bit")
    skip = _names(q, "llm_int8_skip_modules", where)
    ignore = DEFAULT_SKIP if skip is None else skip
    if eight:
        return QuantScheme(method="bitsandbytes", format_id="bnb-int8", description="bitsandbytes LLM.int8()",
                           layout=bnb_layout("int8", False), scope="linear", ignore=ignore, compute_dtype="int8",
                           notes=("kept modules in the checkpoint dtype",))
    kind = (_str(q, "bnb_4bit_quant_type", where, "fp4") or "fp4").lower()
    if kind not in ("nf4", "fp4"):
        raise _err(where, "bnb_4bit_quant_type", kind, "nf4 or fp4")
    dq = _bool(q, "bnb_4bit_use_double_quant", where, False)
    storage = _str(q, "bnb_4bit_quant_storage", where, "uint8")
    return QuantScheme(method="bitsandbytes", format_id=f"bnb-{kind}" + ("-dq" if dq else ""),
                       description=f"bitsandbytes {kind.upper()}" + (", double quant" if dq else ""),
                       layout=bnb_layout(kind, dq), scope="linear", ignore=ignore,
                       notes=(f"codes stored as {storage} (same bytes)", "quant_state JSON (~200 B a tensor) not counted"))


def _ct_args(w: dict, where: str) -> tuple:
    if not isinstance(w, dict):
        raise _err(where, "weights", w, "an object")
    kind = _str(w, "type", where, "int")
    if kind not in ("int", "float"):
        raise _err(where, "weights.type", kind, "int or float")
    bits = _int(w, "num_bits", where, 8, allowed=(2, 3, 4, 8))
    strategy = (_str(w, "strategy", where, None) or ("group" if w.get("group_size") else "tensor")).lower()
    if strategy not in ("tensor", "channel", "group", "tensor_group", "block"):
        raise _err(where, "weights.strategy", strategy, "tensor, channel, group, tensor_group or block")
    group = _group(w, "group_size", where, None) if strategy in ("group", "tensor_group") else None
    block = None
    if strategy == "block":
        bs = w.get("block_structure")
        if not (isinstance(bs, list) and len(bs) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                              and 1 <= x <= 4096 for x in bs)):
            raise _err(where, "weights.block_structure", bs, "[rows, cols]")
        block = (bs[0], bs[1])
    if strategy in ("group", "tensor_group") and group is None:
        raise _err(where, "weights.group_size", w.get("group_size"), "a power of two for the group strategy")
    return kind, bits, strategy, group, block, _bool(w, "symmetric", where, True)


def _compressed_tensors(q: dict, where: str, dtype: str) -> QuantScheme:
    groups = q.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        raise _err(where, "config_groups", groups, "a non-empty object")
    name, grp = next(iter(groups.items()))
    if not isinstance(grp, dict):
        raise _err(where, f"config_groups.{name}", grp, "an object")
    notes = []
    targets = grp.get("targets", ["Linear"])
    if len(groups) > 1 or targets != ["Linear"]:
        notes.append(f"config group {name!r} (targets {targets}) sized for every linear layer; "
                     f"{len(groups)} config group(s) in all")
    kind, bits, strategy, group, block, sym = _ct_args(grp.get("weights"), where)
    acts = grp.get("input_activations")
    if acts is not None and not isinstance(acts, dict):
        raise _err(where, "input_activations", acts, "an object or null")
    static = bool(acts) and acts.get("dynamic") is False
    fmt = _str(q, "format", where, "pack-quantized" if kind == "int" and bits < 8 else "float-quantized")
    packed = fmt in ("pack-quantized", "nvfp4-pack-quantized", "mxfp4-pack-quantized")
    fp4_acts = bool(acts) and acts.get("num_bits") == 4
    layout = ct_layout(bits, kind, strategy, group, block, sym, static, packed, _scale_bits(dtype), fp4_acts)
    a_bits = acts.get("num_bits") if acts else None
    if kind == "float" and bits == 4:
        fid = "ct-nvfp4" + ("" if fp4_acts else "a16") if layout.group == 16 else "ct-mxfp4"
        compute = "fp4" if fp4_acts else "bf16"
    elif kind == "float":
        where_s = f"block{block[0]}x{block[1]}" if block else (f"g{group}" if group else strategy)
        fid = f"ct-fp8-{where_s}" + ("-static" if static else "") + ("" if acts else "-a16")
        compute = "fp8" if acts else "bf16"
    else:
        where_s = f"g{group}" if group else strategy
        fid = f"ct-w{bits}a{a_bits or 16}-{where_s}" + ("" if sym else "-asym") + ("-static" if static else "") \
            + ("" if packed else "-unpacked")
        compute = "int8" if a_bits == 8 else "bf16"
    if _scale_bits(dtype) == 32 and not (kind == "float" and bits == 4):
        fid += "-s32"
    if notes:  # several schemes or narrower targets: sized as this one everywhere
        fid += "-mixed"
    ignore = _names(q, "ignore", where) or ()
    if q.get("kv_cache_scheme"):
        notes.append("kv_cache_scheme: k/v scales per attention layer (a few bytes) not counted")
    return QuantScheme(method="compressed-tensors", format_id=fid, description=f"compressed-tensors {layout.text}",
                       layout=layout, scope="linear", ignore=ignore, match="compressed-tensors",
                       compute_dtype=compute, needs_native=compute if compute in ("fp4", "fp8") else None,
                       notes=tuple(notes), accuracy="approximate" if notes and notes[0].startswith("config group")
                       else "exact")


def _fbgemm(q: dict, where: str, dtype: str) -> QuantScheme:
    skip = _names(q, "modules_to_not_convert", where)
    return QuantScheme(method="fbgemm_fp8", format_id="fbgemm-fp8", description="fbgemm FP8 row-wise",
                       layout=_FP8_ROW, scope="linear", ignore=DEFAULT_SKIP if skip is None else skip,
                       compute_dtype="fp8", needs_native="fp8")


def _fine_fp8(q: dict, where: str, dtype: str) -> QuantScheme:
    bs = q.get("weight_block_size", [128, 128])
    if bs is not None and not (isinstance(bs, list) and len(bs) == 2 and all(
            isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= 4096 for x in bs)):
        raise _err(where, "weight_block_size", bs, "[rows, cols] or null")
    block = (bs[0], bs[1]) if bs else None
    skip = _names(q, "modules_to_not_convert", where)
    return QuantScheme(method="fp8", format_id=f"fp8-block{block[0]}x{block[1]}" if block else "fp8-tensor-fp32",
                       description="fine-grained FP8 (block-wise scales)", layout=fp8_tile_layout(block), scope="linear",
                       ignore=DEFAULT_SKIP if skip is None else skip, compute_dtype="fp8", needs_native="fp8")


def _modelopt(q: dict, where: str, dtype: str) -> QuantScheme:
    algo = _str(q, "quant_algo", where, None)
    if algo not in ("FP8", "NVFP4"):
        raise _err(where, "quant_algo", algo, "FP8 or NVFP4")
    if algo == "NVFP4" and q.get("group_size", 16) != 16:
        raise _err(where, "group_size", q.get("group_size"), "16 for NVFP4")
    skip = _names(q, "exclude_modules", where) or _names(q, "ignore", where)
    fp4 = algo == "NVFP4"
    return QuantScheme(method="modelopt", format_id="modelopt-nvfp4" if fp4 else "modelopt-fp8",
                       description=f"NVIDIA ModelOpt {algo}", layout=_MODELOPT_NVFP4 if fp4 else _MODELOPT_FP8,
                       scope="linear", ignore=DEFAULT_SKIP if skip is None else skip, match="modelopt",
                       compute_dtype="fp4" if fp4 else "fp8", needs_native="fp4" if fp4 else "fp8",
                       notes=("k_scale/v_scale of an FP8 KV cache (8 bytes a layer) not counted",))


def _mxfp4(q: dict, where: str, dtype: str) -> QuantScheme:
    skip = _names(q, "modules_to_not_convert", where)
    return QuantScheme(method="mxfp4", format_id="mxfp4", description="MXFP4 experts (gpt-oss)", layout=_MXFP4,
                       scope="experts", ignore=GPT_OSS_SKIP if skip is None else skip,
                       compute_dtype="fp4", needs_native="fp4")


def _mlx(q: dict, where: str, dtype: str) -> QuantScheme:
    mode = (_str(q, "mode", where, "affine") or "affine").lower()
    defaults = {"affine": (64, 4), "mxfp4": (32, 4), "nvfp4": (16, 4), "mxfp8": (32, 8)}
    if mode not in defaults:
        raise _err(where, "mode", mode, "affine, mxfp4, nvfp4 or mxfp8")
    g0, b0 = defaults[mode]

    def one(d: dict, at: str) -> Layout:
        bits = _int(d, "bits", at, b0, allowed=(2, 3, 4, 5, 6, 8))
        group = _int(d, "group_size", at, g0, allowed=(16, 32, 64, 128))
        return mlx_layout(bits, group, mode, _scale_bits(dtype))

    base = one(q, where)
    overrides = []
    for k, v in q.items():
        if isinstance(v, dict):
            overrides.append(ModuleOverride(module=k, layout=one(v, f"{where}: {k}")))
        elif v is False:
            overrides.append(ModuleOverride(module=k, layout=None))
    fid = f"mlx-{base.elem_bits}bit-g{base.group}" + ("" if mode == "affine" else f"-{mode}") \
        + ("-s32" if _scale_bits(dtype) == 32 and mode == "affine" else "")
    return QuantScheme(method="mlx", format_id=fid, description=f"MLX {base.text}", layout=base, scope="mlx",
                       overrides=tuple(overrides), source="config.json quantization (MLX)",
                       notes=(f"{len(overrides)} per-module override(s)",) if overrides else ())


_PARSERS = {"gptq": _gptq, "awq": _awq, "bitsandbytes": _bnb, "compressed-tensors": _compressed_tensors,
            "fbgemm_fp8": _fbgemm, "fp8": _fine_fp8, "modelopt": _modelopt, "mxfp4": _mxfp4, "mlx": _mlx}


def _side_file(directory: Path, name: str) -> dict | None:
    p = directory / name
    if not p.is_file():
        return None
    data = parse_json(read_text_file(p, name), str(p))
    if not isinstance(data, dict):
        raise DataError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return data


def find_quantization_config(config: dict, directory: Path | None) -> tuple[dict | None, str]:
    """The raw quantization config and where it came from: config.json's ``quantization_config``
    (or MLX's ``quantization``), else ``hf_quant_config.json`` (ModelOpt) or ``quantize_config.json``
    (AutoGPTQ) in ``directory``."""
    for key in ("quantization_config", "quantization"):
        if key in config and config[key] is not None:
            q = config[key]
            if not isinstance(q, dict):
                raise DataError(f"config.json: {key} must be an object, got {quote_value(q)}")
            if "quant_method" not in q and isinstance(config.get("quantization"), dict):
                q = {**q, "quant_method": "mlx"}  # mlx-lm writes both keys, without a quant_method
            return q, f"config.json {key}"
    if directory is not None:
        mo = _side_file(directory, "hf_quant_config.json")
        if mo is not None:
            q = mo.get("quantization")
            if not isinstance(q, dict):
                raise DataError(f"{directory / 'hf_quant_config.json'}: 'quantization' must be an object")
            return {**q, "quant_method": "modelopt"}, "hf_quant_config.json"
        gq = _side_file(directory, "quantize_config.json")
        if gq is not None:
            return {"quant_method": "gptq", **gq}, "quantize_config.json"
    return None, ""


def parse_quantization(q: dict, where: str, torch_dtype: str) -> QuantScheme | str:
    """A QuantScheme, or the (unknown) ``quant_method`` as a string when it is not modelled.
    DataError (one line) for a malformed config of a known method."""
    method = q.get("quant_method", "unspecified")  # transformers needs one; sized from torch_dtype, flagged
    if not isinstance(method, str) or not method.strip():
        raise _err(where, "quant_method", method, "a method name")
    key = method.strip().lower()
    parser = _PARSERS.get(key)
    if parser is None:
        return method.strip()
    try:
        return parser(q, where, torch_dtype)
    except (TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{where}: quantization_config has a value of the wrong type ({e})") from None


def scheme_from_format_id(fid: str, torch_dtype: str = "bfloat16") -> QuantScheme | None:
    """The scheme a ``format_id`` stands for with its method's default skip list, or None when the
    name is not a parametrised format. The inverse of the parsers' naming."""
    m = re.fullmatch(r"gptq-w(\d)-g(\d+|ch)(-actorder)?", fid)
    if m:
        return _gptq({"bits": int(m[1]), "group_size": -1 if m[2] == "ch" else int(m[2]), "desc_act": bool(m[3])},
                     fid, torch_dtype)
    m = re.fullmatch(r"awq-w(\d)-g(\d+)", fid)
    if m:
        return _awq({"bits": int(m[1]), "group_size": int(m[2])}, fid, torch_dtype)
    m = re.fullmatch(r"bnb-(int8|nf4|fp4)(-dq)?", fid)
    if m:
        return _bnb({"load_in_8bit": True} if m[1] == "int8" else
                    {"load_in_4bit": True, "bnb_4bit_quant_type": m[1], "bnb_4bit_use_double_quant": bool(m[2])},
                    fid, torch_dtype)
    if fid in ("fbgemm-fp8", "modelopt-fp8", "modelopt-nvfp4"):
        q = {"modelopt-fp8": {"quant_algo": "FP8"}, "modelopt-nvfp4": {"quant_algo": "NVFP4"}}.get(fid, {})
        return (_fbgemm if fid == "fbgemm-fp8" else _modelopt)(q, fid, torch_dtype)
    m = re.fullmatch(r"fp8-block(\d+)x(\d+)", fid)
    if m:
        return _fine_fp8({"weight_block_size": [int(m[1]), int(m[2])]}, fid, torch_dtype)
    m = re.fullmatch(r"mlx-(\d)bit-g(\d+)(-mxfp4|-nvfp4|-mxfp8)?(-s32)?", fid)
    if m:
        q = {"bits": int(m[1]), "group_size": int(m[2]), "mode": (m[3] or "-affine")[1:]}
        return _mlx(q, fid, "float32" if m[4] else torch_dtype)
    return _ct_from_id(fid, torch_dtype)


def _ct_from_id(fid: str, torch_dtype: str) -> QuantScheme | None:
    if fid.endswith("-mixed"):
        scheme = _ct_from_id(fid.removesuffix("-mixed"), torch_dtype)
        note = "the checkpoint mixes schemes or targets some layers only: sized as this scheme for every linear layer"
        return None if scheme is None else scheme.model_copy(update={
            "format_id": fid, "accuracy": "approximate", "notes": (note, *scheme.notes)})
    s32 = fid.endswith("-s32")
    base = fid.removesuffix("-s32")
    dtype = "float32" if s32 else ("bfloat16" if torch_dtype == "float32" else torch_dtype)
    q: dict = {"quant_method": "compressed-tensors", "ignore": ["lm_head"]}
    if base in ("ct-nvfp4", "ct-nvfp4a16", "ct-mxfp4"):
        w = {"type": "float", "num_bits": 4, "strategy": "tensor_group" if "nv" in base else "group",
             "group_size": 16 if "nv" in base else 32}
        acts = {"type": "float", "num_bits": 4, "dynamic": "local"} if base == "ct-nvfp4" else None
        q["format"] = "nvfp4-pack-quantized" if "nv" in base else "mxfp4-pack-quantized"
    else:
        m = re.fullmatch(r"ct-(fp8|w(\d)a(\d+))-(tensor|channel|g(\d+)|block(\d+)x(\d+))"
                         r"(-asym)?(-static)?(-a16)?(-unpacked)?", base)
        if not m:
            return None
        fp8 = m[1] == "fp8"
        bits = 8 if fp8 else int(m[2])
        a_bits = (None if m[10] else 8) if fp8 else int(m[3])
        strategy = "group" if m[5] else ("block" if m[6] else m[4])
        w = {"type": "float" if fp8 else "int", "num_bits": bits, "strategy": strategy, "symmetric": not m[8]}
        if m[5]:
            w["group_size"] = int(m[5])
        if m[6]:
            w["block_structure"] = [int(m[6]), int(m[7])]
        acts = None if a_bits in (None, 16) else {"type": "float" if fp8 else "int", "num_bits": a_bits,
                                                   "dynamic": not m[9]}
        q["format"] = ("naive-quantized" if m[11] else "pack-quantized") if not fp8 else "float-quantized"
    q["config_groups"] = {"group_0": {"targets": ["Linear"], "weights": w, "input_activations": acts}}
    scheme = _compressed_tensors(q, fid, dtype)
    return scheme if scheme.format_id == fid else None


def checkpoint_quant_fields(config: dict, path: Path, torch_dtype: str, notes: list[str]) -> dict:
    """The spec fields a checkpoint's quantization config sets (``hfconfig.load_hf_config``'s hook):
    ``checkpoint_quant`` (the format id every command defaults to) and ``quantization`` (the parsed
    scheme), with a note. An unmodelled ``quant_method`` gives ``unknown-quant-<method>-<dtype>`` (sized from
    ``torch_dtype``, labelled approximate) and a note saying so; a malformed one is a DataError."""
    directory = path if path.is_dir() else path.parent
    q, where = find_quantization_config(config, directory)
    if q is None:
        return {}
    scheme = parse_quantization(q, f"{path} ({where})", torch_dtype)
    if isinstance(scheme, str):
        short = SHORT_DTYPE[torch_dtype]
        notes.append(f"quantization method {quote_value(scheme)} ({where}) is not modelled: weights sized as "
                     f"{short} from torch_dtype, labelled approximate")
        tag = re.sub(r"[^a-z0-9_.]+", "_", scheme.lower())[:40].strip("_.") or "method"
        return {"checkpoint_quant": f"unknown-quant-{tag}-{short}", "notes": notes}
    notes.append(f"checkpoint format {scheme.format_id} ({scheme.description}) from {where}")
    scheme = scheme.model_copy(update={"source": f"the checkpoint's {where}"})
    return {"checkpoint_quant": scheme.format_id, "quantization": scheme, "notes": notes}
