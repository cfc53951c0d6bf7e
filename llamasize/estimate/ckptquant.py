"""Checkpoint quantization formats: a ``QuantScheme`` (data/quantconfig) as a ``QuantFormat``.

A scheme's layout becomes a ``Storage`` for every tensor the method converts; the rest keeps the
checkpoint dtype. Which tensors a method converts (its ``scope``), before its skip list:

- ``linear`` (bitsandbytes, compressed-tensors, fbgemm_fp8, fp8, ModelOpt): every linear layer of
  the text model and the lm_head (``nn.Linear`` modules); the embeddings are ``nn.Embedding``.
- ``blocks`` (GPTQ, AWQ): the linear layers inside the decoder blocks only (no lm_head).
- ``experts`` (gpt-oss MXFP4): the routed experts only.
- ``mlx``: every linear layer and both embeddings whose input size is a multiple of the group size
  (mlx-lm ``quantize_model``), with per-module overrides.

Routers stay in the checkpoint dtype except under MLX (transformers 5 routers are not
``nn.Linear``; a router is under 0.1 % of a MoE layer either way). The vision tower is one opaque
block in the weight table and keeps the checkpoint dtype. Skip lists match the Hugging Face module
names of each tensor (``hf_module_names``): transformers' rule for ``modules_to_not_convert`` /
``llm_int8_skip_modules`` (``quantizers/quantizers_utils.py`` ``should_convert_module``: a prefix
ending at a module boundary, a regex with the same boundary, or a suffix) and compressed-tensors'
for ``ignore`` (exact name, or ``re.match`` after ``re:``); ModelOpt's ``exclude_modules`` are shell
wildcards (``fnmatch``).
"""

from __future__ import annotations

import fnmatch
import re
from fractions import Fraction
from functools import lru_cache

from llamasize.data.quantconfig import Layout, QuantScheme, scheme_from_format_id
from llamasize.data.spec import ModelSpec
from llamasize.estimate.params import Tensor
from llamasize.estimate.storage import BF16, FP16, FP32, QuantFormat, Storage, kept

#: Format ids for a checkpoint whose quantization method is not modelled (sized from torch_dtype).
UNKNOWN_PREFIX = "unknown-quant-"
_SCOPE_TEXT = {
    "linear": ("every linear layer of the text model and the lm_head, except the skip list",
               "embeddings, router, norms, biases, vision tower and skipped modules (checkpoint dtype)"),
    "blocks": ("the linear layers of the decoder blocks, except the skip list",
               "embeddings, lm_head, router, norms, biases, vision tower (checkpoint dtype)"),
    "experts": ("the routed experts", "attention, embeddings, lm_head, router, norms, biases (checkpoint dtype)"),
    "mlx": ("every linear layer, the router and both embeddings (input size a multiple of the group size)",
            "norms, biases, vision tower and modules the config leaves unquantized"),
}


def storage_of(layout: Layout, source: str) -> Storage:
    """The ``Storage`` of a quantconfig ``Layout`` (same bits, field by field)."""
    g = layout.group
    return Storage(
        layout.text, block=g, block_bits=g * layout.elem_bits + layout.group_bits if g else 0,
        elem_bits=layout.elem_bits, row_overhead_bits=layout.row_bits, col_overhead_bits=layout.col_bits,
        tensor_overhead_bits=layout.tensor_bits, tile_rows=layout.tile[0] if layout.tile else 0,
        tile_cols=layout.tile[1] if layout.tile else 0, tile_bits=layout.tile_bits,
        flat_overheads=layout.flat, source=source,
    )


# ------------------------------------------------------------------------- Hugging Face names ---
def _ffn_names(spec: ModelSpec, t: Tensor, rest: str) -> list[str]:
    """Module names (inside a decoder layer) of an FFN-side tensor in the family's convention."""
    mt = spec.model_type
    leaf = rest.rsplit(".", 1)[-1]
    mixtral_w = {"gate_proj": "w1", "up_proj": "w3", "down_proj": "w2"}
    if mt.startswith("llama4"):
        box = "feed_forward"
    else:
        box = "mlp"
    if t.component == "routed_experts":
        out = [f"{box}.experts", f"{box}.experts.0.{leaf}"]
        if mt == "mixtral":
            out += ["block_sparse_moe.experts", f"block_sparse_moe.experts.0.{mixtral_w.get(leaf, leaf)}"]
        return out
    if t.kind == "router":
        if rest.endswith("shared_expert_gate"):
            return [f"{box}.shared_expert_gate"]
        names = {"llama4": [f"{box}.router"], "gpt_oss": ["mlp.router"], "mixtral": ["block_sparse_moe.gate", "mlp.gate"]}
        return names.get("llama4" if mt.startswith("llama4") else mt, [f"{box}.gate"])
    if t.component == "shared_experts":
        shared = "shared_experts" if mt.startswith("deepseek") else "shared_expert"
        return [f"{box}.{shared}.{leaf}"]
    return [f"{box}.{leaf}"]


def hf_module_names(spec: ModelSpec, t: Tensor) -> tuple[str, ...]:
    """Every full Hugging Face module name the tensor's module goes by (transformers 4 and 5
    layouts; Llama 4's multimodal wrapper adds ``language_model``); routed experts give the fused
    module and expert 0 (all experts are treated alike)."""
    roots = ["model."]
    heads = ["lm_head"]
    if spec.model_type.startswith("llama4"):
        roots += ["language_model.model.", "model.language_model."]
        heads += ["language_model.lm_head"]
    if t.role == "lm_head":
        return tuple(heads)
    if t.kind == "embedding":
        return tuple(f"{r}embed_tokens" for r in roots)
    if t.kind == "vision":
        return ("vision_model", "model.vision_model", "visual", "multi_modal_projector")
    parts = t.name.split(".", 2)
    if t.layer is None or len(parts) < 3 or parts[0] != "layers":
        return tuple(f"{r}{t.name}" for r in roots)
    rest = parts[2]
    if rest.endswith(".bias"):
        rest = rest[: -len(".bias")]
    inner = [rest] if rest.startswith("self_attn") or t.kind == "norm" else _ffn_names(spec, t, rest)
    return tuple(f"{r}layers.{t.layer}.{n}" for r in roots for n in inner)


_BOUNDARY = r"(?:(?<=\.)|(?=\.|$))"


def _transformers_skip(name: str, pattern: str) -> bool:
    """transformers ``should_convert_module`` (inverted): does ``pattern`` skip module ``name``?"""
    try:
        hit = re.match(rf"(?:{pattern}){_BOUNDARY}", name) is not None
    except re.error:
        hit = re.match(rf"(?:{re.escape(pattern)}){_BOUNDARY}", name) is not None
    return hit or name.endswith(pattern)


def _ct_match(name: str, target: str) -> bool:
    """compressed-tensors ``match_name``: ``re:`` = ``re.match``, else the exact name."""
    if target.startswith("re:"):
        try:
            return re.match(target[3:], name) is not None
        except re.error:
            return False
    return target == name


def _modelopt_match(name: str, pattern: str) -> bool:
    """ModelOpt ``exclude_modules``: shell-style wildcards (``model.layers.*.self_attn*``,
    ``*mlp.gate``) matched with ``fnmatch`` against the module or any module it is inside."""
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*") or name.endswith("." + pattern)


def is_skipped(scheme: QuantScheme, names: tuple[str, ...]) -> bool:
    """Whether the scheme's skip list keeps a module (any of its names) unquantized."""
    test = {"compressed-tensors": _ct_match, "modelopt": _modelopt_match}.get(scheme.match, _transformers_skip)
    return any(test(n, p) for n in names for p in scheme.ignore)


def scheme_storage(scheme: QuantScheme, spec: ModelSpec, t: Tensor) -> Storage:
    """The storage of one tensor under a checkpoint scheme (see the module docstring)."""
    keep = kept(spec)
    if t.kind not in ("linear", "router", "embedding"):
        return keep
    names = hf_module_names(spec, t)
    if scheme.scope == "mlx":
        for o in scheme.overrides:
            if o.module in names:
                return keep if o.layout is None else storage_of(o.layout, scheme.description)
        group = scheme.layout.group or 1
        return keep if t.shape[-1] % group else storage_of(scheme.layout, scheme.description)
    if scheme.scope == "experts":
        candidate = t.kind == "linear" and t.component == "routed_experts"
    elif scheme.scope == "blocks":
        candidate = t.kind == "linear" and t.layer is not None
    else:
        candidate = t.kind == "linear" or t.role == "lm_head"
    if not candidate or is_skipped(scheme, names):
        return keep
    return storage_of(scheme.layout, scheme.description)


def scheme_format(scheme: QuantScheme) -> QuantFormat:
    """The QuantFormat of a scheme. Its rule uses the spec's own scheme (skip list, overrides) when
    the spec came from a checkpoint of this format, else the method's defaults."""

    def rule(spec: ModelSpec, t: Tensor) -> Storage:
        own = spec.quantization
        return scheme_storage(own if own is not None and own.format_id == scheme.format_id else scheme, spec, t)

    quantizes, keeps = _SCOPE_TEXT[scheme.scope]
    bits = storage_of(scheme.layout, "").bits_per_weight
    return QuantFormat(
        scheme.format_id, scheme.description, rule, quantizes, keeps, scheme.needs_native, scheme.compute_dtype,
        accuracy=scheme.accuracy, notes=scheme.notes, min_bits_per_weight=Fraction(bits),
        compute_scope="experts" if scheme.scope == "experts" else "all", checkpoint_method=scheme.method,
        accuracy_note="; ".join(scheme.notes) or "layout simplified",
    )


def unknown_format(method: str, short_dtype: str) -> QuantFormat:
    """A checkpoint whose quantization method is not modelled: every tensor in ``torch_dtype`` (an
    upper bound for a quantized checkpoint), labelled approximate."""
    storage = {"bf16": BF16, "fp16": FP16, "fp32": FP32}[short_dtype]
    return QuantFormat(
        f"{UNKNOWN_PREFIX}{method}-{short_dtype}", f"{method}: a quantization method llamasize does not model",
        lambda spec, t: storage, "unknown (not modelled)", "everything sized in the checkpoint dtype", None,
        short_dtype, accuracy="approximate",
        accuracy_note=f"the checkpoint's quantization method '{method}' is not modelled: weights sized as "
                      f"{short_dtype} from torch_dtype (an upper bound)",
    )


@lru_cache(maxsize=256)
def format_from_id(fid: str) -> QuantFormat | None:
    """A checkpoint format by its parametrised id (``gptq-w4-g128-actorder``, ``bnb-nf4-dq``,
    ``ct-fp8-channel``, ``mlx-4bit-g64``, ``unknown-quant-hqq-bf16`` ...), else None."""
    m = re.fullmatch(rf"{UNKNOWN_PREFIX}([a-z0-9_.]+)-(bf16|fp16|fp32)", fid)
    if m:
        return unknown_format(m[1], m[2])
    scheme = scheme_from_format_id(fid)
    return None if scheme is None else scheme_format(scheme)
