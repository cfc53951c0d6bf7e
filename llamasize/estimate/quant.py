"""Quantization formats: which tensors each quantizes, how they are stored, and the KV-cache dtype.

A format is a rule from a weight tensor (``params.Tensor``) to a ``Storage``: a block layout along
the tensor's input dimension (elements per block and bits per block *including* its scales and
zero points), or a plain dtype. Byte counts are exact integers for that layout:

    bits(tensor) = copies x (rows x (ceil(cols / block) x block_bits + row_overhead) + tensor_overhead)
    bytes = ceil(bits / 8)

Layouts (sources in each ``Storage``'s ``source``):

- ``int4`` (GPTQ/AWQ W4A16, group 128, one 16-bit scale per group): 128 x 4 + 16 = 528 bits per
  block = 4.125 bits/weight. Asymmetric AWQ adds a 4-bit zero per group (4.156); not modelled.
- ``nf4`` (bitsandbytes, block 64, one fp32 absmax, no double quantization): 4.5 bits/weight.
- ``mxfp4`` (OCP MX: 32 FP4 E2M1 + one 8-bit E8M0 scale): 4.25 bits/weight.
- ``nvfp4`` (16 FP4 E2M1 + one FP8 E4M3 scale, plus one fp32 scale per tensor): 4.5 bits/weight.
- GGUF blocks (llama.cpp ``ggml-common.h`` struct sizes): q8_0 34 B / 32, q4_0 18 B / 32,
  q6_K 210 B / 256, q5_K 176 B / 256, q4_K 144 B / 256, q3_K 110 B / 256, q2_K 84 B / 256.

Meta's own rules (docs/facts/models.md 1.5, llama-models ``quantization/loader.py``): ``fp8_mixed``
quantizes only the routed experts of MoE layers, skipping the first and the last layer;
``int4_mixed`` quantizes the routed and shared experts of every MoE layer. Everything else stays BF16.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Callable

from llamasize.errors import UnknownIdError
from llamasize.estimate.ckptquant import UNKNOWN_PREFIX, format_from_id, scheme_storage
from llamasize.estimate.params import Tensor
from llamasize.estimate.storage import BF16, FP16, FP32, ComputeDtype, QuantFormat, Storage, half as _half
from llamasize.data.spec import ModelSpec
from llamasize.units import SHORT_DTYPE, dtype_bytes
from llamasize.text import quote_value

import difflib

__all__ = ["BF16", "FP16", "FP32", "ComputeDtype", "QuantFormat", "Storage", "FORMATS", "get_format"]

FP8_TENSOR = Storage(
    "fp8-e4m3 per-tensor", elem_bits=8, tensor_overhead_bits=32,
    source="vLLM --quantization fp8: E4M3 weights with one fp32 scale per tensor (assumed layout)",
)
FP8_ROW = Storage(
    "fp8-e4m3 row-wise", elem_bits=8, row_overhead_bits=32,
    source="Meta fp8_mixed: FP8 with a per-row fp32 scale (fbgemm row-wise convention; assumed layout)",
)
FP8_ROW_BF16 = Storage(
    "fp8-e4m3 row-wise, bf16 scale", elem_bits=8, row_overhead_bits=16,
    source="compressed-tensors channel strategy: one weight_scale per output row in the model dtype (BF16) "
           "(compressed_tensors/quantization/lifecycle/initialize.py initialize_qparams)",
)
INT8_ROW = Storage(
    "int8 per-channel", elem_bits=8, row_overhead_bits=16,
    source="W8A8/W8A16 int8 with one 16-bit scale per output channel (assumed layout)",
)
INT4_G128 = Storage(
    "int4 g128", block=128, block_bits=128 * 4 + 16,
    source="GPTQ/AWQ-style group-128 int4 with one 16-bit scale per group: 4.125 bits/weight",
)
NF4_B64 = Storage(
    "nf4 b64", block=64, block_bits=64 * 4 + 32,
    source="bitsandbytes NF4, blocksize 64, fp32 absmax, no double quantization: 4.5 bits/weight",
)
MXFP4 = Storage(
    "mxfp4", block=32, block_bits=32 * 4 + 8,
    source="OCP Microscaling MXFP4: 32 x E2M1 + one E8M0 scale: 4.25 bits/weight",
)
NVFP4 = Storage(
    "nvfp4", block=16, block_bits=16 * 4 + 8, tensor_overhead_bits=32,
    source="NVIDIA NVFP4: 16 x E2M1 + one E4M3 scale, one fp32 scale per tensor: 4.5 bits/weight",
)
_GGML = "llama.cpp ggml-common.h block struct size"
Q8_0 = Storage("q8_0", block=32, block_bits=34 * 8, source=f"{_GGML}: block_q8_0 = 34 B / 32 weights")
Q4_0 = Storage("q4_0", block=32, block_bits=18 * 8, source=f"{_GGML}: block_q4_0 = 18 B / 32 weights")
Q6_K = Storage("q6_K", block=256, block_bits=210 * 8, source=f"{_GGML}: block_q6_K = 210 B / 256 weights")
Q5_K = Storage("q5_K", block=256, block_bits=176 * 8, source=f"{_GGML}: block_q5_K = 176 B / 256 weights")
Q4_K = Storage("q4_K", block=256, block_bits=144 * 8, source=f"{_GGML}: block_q4_K = 144 B / 256 weights")
Q3_K = Storage("q3_K", block=256, block_bits=110 * 8, source=f"{_GGML}: block_q3_K = 110 B / 256 weights")
Q2_K = Storage("q2_K", block=256, block_bits=84 * 8, source=f"{_GGML}: block_q2_K = 84 B / 256 weights")

def _uniform(storage: Storage) -> Callable[[ModelSpec, Tensor], Storage]:
    return lambda spec, t: storage


def _linear_only(storage: Storage) -> Callable[[ModelSpec, Tensor], Storage]:
    """Quantize every linear layer of the text model (attention, experts, shared experts, dense
    FFN); embeddings, lm_head, router, norms, biases and the vision tower stay 16-bit."""

    def rule(spec: ModelSpec, t: Tensor) -> Storage:
        return storage if t.kind == "linear" else _half(spec)

    return rule


def _mlp_only(storage: Storage) -> Callable[[ModelSpec, Tensor], Storage]:
    """Quantize the MLP linears (routed and shared experts, dense FFN) only (gpt-oss's MXFP4 rule)."""

    def rule(spec: ModelSpec, t: Tensor) -> Storage:
        if t.kind == "linear" and t.component in ("routed_experts", "shared_experts", "dense_ffn"):
            return storage
        return _half(spec)

    return rule


def _mxfp4(spec: ModelSpec, t: Tensor) -> Storage:
    """MXFP4 MLP weights; a checkpoint read with its own mxfp4 quantization_config (gpt-oss) follows
    its ``modules_to_not_convert`` (``ckptquant.scheme_storage``)."""
    own = spec.quantization
    if own is not None and own.format_id == "mxfp4":
        return scheme_storage(own, spec, t)
    return _MLP_MXFP4(spec, t)


def _fp8_mixed(spec: ModelSpec, t: Tensor) -> Storage:
    """Meta fp8_mixed: routed experts of MoE layers, except layer 0 and the last layer."""
    n = spec.num_hidden_layers
    if t.kind == "linear" and t.component == "routed_experts" and t.layer not in (0, n - 1):
        return FP8_ROW
    return _half(spec)


def _fp8_experts(spec: ModelSpec, t: Tensor) -> Storage:
    """Meta's published Llama 4 Maverick FP8 checkpoint (meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8,
    compressed-tensors): the routed experts of every MoE layer in FP8 E4M3 with a BF16 scale per
    output row; attention, shared experts, dense FFNs, router, embeddings, lm_head and the vision
    tower stay BF16. Unlike ``fp8_mixed`` (Meta's on-the-fly rule) the first and last layers are not
    skipped."""
    if t.kind == "linear" and t.component == "routed_experts":
        return FP8_ROW_BF16
    return _half(spec)


def _int4_mixed(spec: ModelSpec, t: Tensor) -> Storage:
    """Meta int4_mixed: routed and shared experts of every MoE layer."""
    if t.kind == "linear" and t.component in ("routed_experts", "shared_experts"):
        return INT4_G128
    return _half(spec)


_MLP_MXFP4 = _mlp_only(MXFP4)


def _use_more_bits(i: int, n: int) -> bool:
    """llama.cpp ``use_more_bits``: the first and last eighth of layers and every third in between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _gguf(base: Storage, mix: str | None) -> Callable[[ModelSpec, Tensor], Storage]:
    """GGUF: every 2-D weight and the token embedding in ``base``; output (lm_head) in q6_K
    (q8_0 stays q8_0); 1-D tensors (norms, biases, sinks) and the router in f32; the vision tower
    in a separate f16 mmproj file. ``mix`` applies the main per-tensor upgrades of llama.cpp's
    ``llama_tensor_get_type`` for the _M and q2_K mixes (attn_v, ffn_down, attn_output); its
    special cases for 70B, 8-expert and Falcon models are not modelled."""

    def rule(spec: ModelSpec, t: Tensor) -> Storage:
        if t.kind == "vision":
            return FP16
        if t.kind in ("norm", "bias", "vector", "router"):
            return FP32
        if t.role == "lm_head":
            return Q8_0 if base is Q8_0 else Q6_K
        if t.kind == "embedding":
            return base
        n = spec.num_hidden_layers
        i = t.layer if t.layer is not None else 0
        if mix in ("q4_k_m", "q5_k_m") and t.role in ("v", "down") and _use_more_bits(i, n):
            return Q6_K
        if mix == "q3_k_m":
            if t.role == "v":
                return Q5_K if i < 2 else Q4_K
            if t.role == "down":
                return Q5_K if i < n // 16 else Q4_K
            if t.role == "o":
                return Q4_K
        if mix == "q2_k":
            if t.role == "v":
                nkv, nh = spec.num_key_value_heads, spec.num_attention_heads
                return Q4_K if nkv and nh and nh // nkv >= 4 else Q3_K
            if t.role in ("down", "o"):
                return Q3_K
        return base

    return rule


_LINEAR = "every linear layer of the text model (attention, routed and shared experts, dense FFN)"
_KEEP = "embeddings, lm_head, router, norms, biases and the vision tower"

FORMATS: dict[str, QuantFormat] = {
    f.id: f
    for f in [
        QuantFormat("fp32", "float32 everywhere", _uniform(FP32), "everything (32-bit)", "nothing",
                    None, "fp32"),
        QuantFormat("bf16", "bfloat16 everywhere (the checkpoint dtype)", _uniform(BF16), "nothing",
                    "everything", None, "bf16"),
        QuantFormat("fp16", "float16 everywhere", _uniform(FP16), "nothing", "everything", None, "fp16"),
        QuantFormat("fp8", "FP8 E4M3 weights and activations (W8A8), per-tensor scales",
                    _linear_only(FP8_TENSOR), _LINEAR, _KEEP, "fp8", "fp8"),
        QuantFormat("fp8_mixed", "Meta's fp8_mixed: routed experts in FP8 except the first and last layer",
                    _fp8_mixed, "routed experts of MoE layers except layer 0 and the last layer",
                    "attention, shared experts, dense FFN, embeddings, lm_head, router, norms, vision",
                    "fp8", "fp8", compute_scope="experts",
                    notes=("Meta's published FP8 checkpoint is compressed-tensors; vLLM reads its scheme "
                           "from the checkpoint",)),
        QuantFormat("fp8_experts", "Meta's Maverick FP8 checkpoint: routed experts of every MoE layer in FP8",
                    _fp8_experts, "routed experts of every MoE layer (FP8 E4M3, BF16 scale per row)",
                    "attention, shared experts, dense FFN, embeddings, lm_head, router, norms, vision", "fp8",
                    "fp8", compute_scope="experts", checkpoint_method="compressed-tensors",
                    notes=("the layout of meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",)),
        QuantFormat("int4_mixed", "Meta's int4_mixed: routed and shared experts in INT4",
                    _int4_mixed, "routed and shared experts of every MoE layer",
                    "attention, dense FFN, embeddings, lm_head, router, norms, vision", None, "bf16",
                    notes=("Meta's loader quantizes on the fly; the 16-bit group-128 scale layout is assumed",)),
        QuantFormat("int8", "INT8 weights with per-channel scales (W8A8 / W8A16)", _linear_only(INT8_ROW),
                    _LINEAR, _KEEP, None, "int8"),
        QuantFormat("int4", "INT4 group-128 weight-only (GPTQ/AWQ-style W4A16)", _linear_only(INT4_G128),
                    _LINEAR, _KEEP, None, "bf16"),
        QuantFormat("nf4", "bitsandbytes NF4 (4-bit NormalFloat, block 64)", _linear_only(NF4_B64),
                    _LINEAR, _KEEP, None, "bf16"),
        QuantFormat("mxfp4", "OCP MXFP4 MLP weights (gpt-oss's native format)", _mxfp4,
                    "MLP weights: routed and shared experts, dense FFN",
                    "attention, embeddings, lm_head, router, norms, biases, vision", "fp4", "fp4",
                    compute_scope="experts"),
        QuantFormat("nvfp4", "NVIDIA NVFP4 (FP4 with FP8 block-16 scales)", _linear_only(NVFP4),
                    _LINEAR, _KEEP, "fp4", "fp4"),
        QuantFormat("q8_0", "GGUF Q8_0", _gguf(Q8_0, None), "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16", gguf=True),
        QuantFormat("q6_k", "GGUF Q6_K", _gguf(Q6_K, None), "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16", gguf=True),
        QuantFormat("q5_k_m", "GGUF Q5_K_M (Q5_K with Q6_K for some attn_v/ffn_down)", _gguf(Q5_K, "q5_k_m"),
                    "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16",
                    accuracy="approximate", gguf=True),
        QuantFormat("q4_k_m", "GGUF Q4_K_M (Q4_K with Q6_K for some attn_v/ffn_down)", _gguf(Q4_K, "q4_k_m"),
                    "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16",
                    accuracy="approximate", gguf=True),
        QuantFormat("q4_0", "GGUF Q4_0", _gguf(Q4_0, None), "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16", gguf=True),
        QuantFormat("q3_k_m", "GGUF Q3_K_M (Q3_K with Q4_K/Q5_K for attn_v, ffn_down, attn_output)",
                    _gguf(Q3_K, "q3_k_m"), "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16",
                    accuracy="approximate", gguf=True),
        QuantFormat("q2_k", "GGUF Q2_K (Q2_K with Q3_K/Q4_K for attn_v, ffn_down, attn_output)",
                    _gguf(Q2_K, "q2_k"), "every weight matrix and the token embedding",
                    "norms, biases, router in f32; vision in an f16 mmproj", None, "bf16",
                    accuracy="approximate", gguf=True),
    ]
}

_MIN_BITS = {
    "fp32": FP32, "fp8": FP8_TENSOR, "fp8_mixed": FP8_ROW, "fp8_experts": FP8_ROW_BF16, "int8": INT8_ROW, "int4_mixed": INT4_G128,
    "int4": INT4_G128, "nf4": NF4_B64, "mxfp4": MXFP4, "nvfp4": NVFP4, "q8_0": Q8_0, "q6_k": Q6_K,
    "q5_k_m": Q5_K, "q4_k_m": Q4_K, "q4_0": Q4_0, "q3_k_m": Q3_K, "q2_k": Q2_K,
}
FORMATS = {k: replace(f, min_bits_per_weight=_MIN_BITS[k].bits_per_weight) if k in _MIN_BITS else f
           for k, f in FORMATS.items()}

#: KV-cache dtypes and their bytes per element; ``auto`` = the model's activation dtype.
KV_DTYPES = ("auto", "bf16", "fp16", "fp8")


def kv_dtype_bytes(kv_dtype: str, spec: ModelSpec) -> int:
    """Bytes per cached element: fp8 1, bf16/fp16 2, auto = the checkpoint's dtype (fp32 = 4)."""
    if kv_dtype in ("fp8", "bf16", "fp16"):
        return dtype_bytes(kv_dtype)
    return dtype_bytes(spec.torch_dtype)


def resolve_kv_dtype(kv_dtype: str, spec: ModelSpec) -> str:
    """The concrete KV dtype ``auto`` stands for."""
    if kv_dtype != "auto":
        return kv_dtype
    return SHORT_DTYPE[spec.torch_dtype]


def _lookup(name: str, choices, kind: str) -> str:
    key = name.strip().lower().replace("-", "_")
    if key in choices:
        return key
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise UnknownIdError(f"unknown {kind} {quote_value(name)}{hint} (choices: {', '.join(choices)})")


@lru_cache(maxsize=256)
def get_format(name: str) -> QuantFormat:
    """A quantization format by id (case-insensitive, '-' accepted for '_'): a built-in one, or a
    checkpoint format by its parametrised name (``gptq-w4-g128``, ``bnb-nf4-dq``, ``ct-fp8-channel``,
    ``mlx-4bit-g64``; ``estimate/ckptquant``)."""
    parametrised = format_from_id(name.strip().lower().replace("_", "-"))
    if parametrised is not None and name.strip().lower().replace("-", "_") not in FORMATS:
        return parametrised
    try:
        return FORMATS[_lookup(name, FORMATS, "quantization format")]
    except UnknownIdError as e:
        raise UnknownIdError(f"{str(e).removesuffix(')')}; or a checkpoint format id such as gptq-w4-g128, "
                             "awq-w4-g128, bnb-nf4-dq, ct-fp8-channel, fp8-block128x128, mlx-4bit-g64)") from None


def check_kv_dtype(name: str) -> str:
    """Validate a ``--kv-dtype`` value."""
    return _lookup(name, KV_DTYPES, "KV-cache dtype")


def weight_bytes(spec: ModelSpec, fmt: QuantFormat, tensors) -> int:
    """Total bytes of the given tensors (full, unsharded shapes) under ``fmt``."""
    return sum(fmt.rule(spec, t).nbytes(t.shape) for t in tensors)


def checkpoint_default(spec: ModelSpec) -> str | None:
    """The format ``plan``/``sweep``/``cost`` search when --quant is not given, for a checkpoint read
    with its own quantization config (its format id); None = their usual ``auto`` search."""
    ck = spec.checkpoint_quant
    if ck and (spec.quantization is not None or ck.startswith(UNKNOWN_PREFIX)):
        return ck
    return None


def on_the_fly(spec: ModelSpec, quant: str | None) -> str | None:
    """The warning for a --quant that contradicts the checkpoint's own quantized format (None when
    it agrees, when no --quant was given, or when the checkpoint is plain 16/32-bit)."""
    ck = spec.checkpoint_quant
    if not ck or quant is None or quant.strip().lower() == "auto":
        return None
    given = get_format(quant).id
    if given == get_format(ck).id:
        return None
    return (f"--quant {given} contradicts {spec.id}'s checkpoint format {ck}: this is an on-the-fly quantization "
            f"from {ck} to {given} (the weights are sized as {given}; the engine must convert them at load)")
