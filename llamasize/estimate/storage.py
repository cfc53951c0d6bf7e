"""How a tensor is stored (``Storage``) and what a weight format is (``QuantFormat``).

The building blocks of ``estimate/quant`` (the built-in formats) and ``estimate/ckptquant`` (the
formats a checkpoint's quantization config describes). Byte counts are exact integers:

    bits(tensor) = copies x (rows x (cols x elem_bits or ceil(cols / block) x block_bits
                                     + row_overhead) + cols x col_overhead + tensor_overhead
                             + ceil(rows / tile_rows) x ceil(cols / tile_cols) x tile_bits
                             + sum over flat (n, b): ceil(rows x cols / n) x b)
    bytes = ceil(bits / 8)

``copies`` is the leading expert dimension of stacked ``(E, out, in)`` tensors (each expert is its
own quantized matrix, as every quantizer stores it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from typing import Callable

from llamasize.data.spec import ModelSpec
from llamasize.estimate.params import Tensor


@dataclass(frozen=True)
class Storage:
    """How one tensor is stored in memory."""

    name: str
    #: Elements per block along the input (last) dimension; None = plain dtype of ``elem_bits``.
    block: int | None = None
    #: Bits per block including its scale(s) and zero point(s).
    block_bits: int = 0
    elem_bits: int = 16
    #: Extra bits per output row (per-channel scales).
    row_overhead_bits: int = 0
    #: Extra bits per tensor (per-tensor scales); stacked experts count one per expert.
    tensor_overhead_bits: int = 0
    source: str = ""
    #: Extra bits per input column (GPTQ's int32 g_idx).
    col_overhead_bits: int = 0
    #: 2-D tiles (rows x cols) with ``tile_bits`` each (block-wise FP8 scales).
    tile_rows: int = 0
    tile_cols: int = 0
    tile_bits: int = 0
    #: (elements, bits): ``bits`` per ``elements`` of the flattened matrix (bitsandbytes absmax).
    flat_overheads: tuple[tuple[int, int], ...] = ()

    @property
    def bits_per_weight(self) -> Fraction:
        """Nominal bits per weight for a large tensor (row/column/tensor/tile overheads excluded)."""
        base = Fraction(self.elem_bits) if self.block is None else Fraction(self.block_bits, self.block)
        return base + sum((Fraction(b, n) for n, b in self.flat_overheads), Fraction(0))

    def nbytes(self, shape: tuple[int, ...]) -> int:
        """Exact bytes for a tensor of ``shape``: ``(n,)``, ``(out, in)`` or stacked ``(E, out, in)``."""
        if len(shape) == 1:
            copies, rows, cols = 1, 1, shape[0]
        elif len(shape) == 2:
            copies, (rows, cols) = 1, shape
        else:
            copies, rows, cols = shape[0], shape[-2], shape[-1]
        if self.block is None:
            row_bits = cols * self.elem_bits
        else:
            row_bits = ceil(cols / self.block) * self.block_bits
        one = rows * (row_bits + self.row_overhead_bits) + cols * self.col_overhead_bits + self.tensor_overhead_bits
        if self.tile_bits:
            one += ceil(rows / self.tile_rows) * ceil(cols / self.tile_cols) * self.tile_bits
        for n, b in self.flat_overheads:
            one += ceil(rows * cols / n) * b
        return (copies * one + 7) // 8


FP32 = Storage("fp32", elem_bits=32, source="IEEE float32")
BF16 = Storage("bf16", elem_bits=16, source="bfloat16")
FP16 = Storage("fp16", elem_bits=16, source="float16")

#: What the tensor cores compute in when a format's weights feed a matmul.
ComputeDtype = str


@dataclass(frozen=True)
class QuantFormat:
    """A weight quantization format: a per-tensor storage rule plus how it executes."""

    id: str
    description: str
    #: (spec, tensor) -> Storage, for every tensor in the weight table.
    rule: Callable[[ModelSpec, Tensor], Storage] = field(repr=False)
    #: The part of the model it quantizes, in words, and what stays in 16 bits.
    quantizes: str
    keeps_16bit: str
    #: Native format the GPU needs for full-speed compute (fp8 / fp4), else None.
    needs_native: str | None
    #: Compute dtype with native support (FLOP rate used by the speed model) and without.
    compute_dtype: ComputeDtype
    #: exact = the layout is the format's definition; approximate = a mix rule simplified.
    accuracy: str = "exact"
    #: GGUF formats are for llama.cpp-style engines.
    gguf: bool = False
    notes: tuple[str, ...] = ()
    #: Fewest bits per weight any quantized tensor gets (for lower bounds on unknown architectures).
    min_bits_per_weight: Fraction = Fraction(16)
    #: Which matmuls run in ``compute_dtype``: all, or only the routed experts (formats that
    #: quantize only the experts; everything else computes in 16 bits).
    compute_scope: str = "all"
    #: What an ``approximate`` format simplifies (the warning ``fit`` prints).
    accuracy_note: str = "per-tensor type mix approximates llama.cpp's rules"
    #: The checkpoint quantization method the format reproduces (gptq, awq, compressed-tensors, ...),
    #: None for llamasize's own formats.
    checkpoint_method: str | None = None


def half(spec: ModelSpec) -> Storage:
    """16-bit storage matching the checkpoint (fp16 checkpoints stay fp16)."""
    return FP16 if spec.torch_dtype == "float16" else BF16


def kept(spec: ModelSpec) -> Storage:
    """What a quantizer leaves unquantized: the checkpoint's own dtype (fp32 included)."""
    return FP32 if spec.torch_dtype == "float32" else half(spec)
