"""Seeded random weights for the runtime: exactly the tensors of ``params.weight_table(spec)``.

Same names, same shapes (linear ``(out, in)``, stacked routed experts ``(E, out, in)``), one array
per tensor, so the resident weight bytes are ``sum(numel) x itemsize`` = ``count_params(spec)
.total_params x itemsize`` by construction (the vision tower, when the spec has one, is one flat
array the text runtime never reads). Nothing is downloaded.

Initialisation (keeps activations finite and O(1) through any depth): every value is drawn
uniformly from ``[-sqrt(3) std, sqrt(3) std]``, which has standard deviation ``std`` (uniform draws
are ~7x faster than normal ones in numpy; the model only needs the variance): linear weights,
routers and the lm_head ``std = 1/sqrt(fan_in)`` (LeCun, fan_in = the last dimension); the token
embedding ``std = 1``; RMSNorm weights 1; biases, attention sinks and the vision block
``std = 0.02`` (GPT-2's). Draws come from one ``numpy.random.Generator(PCG64(seed))`` in table
order, on the host, so every backend gets the same numbers.

dtypes: float32 (default); float16; "bfloat16" is stored as float16 (numpy has no bfloat16) -
same bytes per parameter, so the byte counts are those of a bf16 checkpoint. numpy's float16
matmul has no BLAS kernel (slow on the CPU); it is meant for CuPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llamasize.errors import UsageError
from llamasize.estimate.params import Tensor, weight_table
from llamasize.runtime.backend import Backend, cpu_backend
from llamasize.data.spec import ModelSpec
from llamasize.text import quote_value

#: Runtime dtype name -> numpy storage dtype.
DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": np.float16}
SMALL_STD = 0.02


@dataclass(frozen=True)
class Weights:
    """The model's tensors by weight-table name, on one backend."""

    spec: ModelSpec
    tensors: dict[str, Any]
    #: "float32", "float16" or "bfloat16" (stored as float16).
    dtype: str
    seed: int
    backend: Backend = field(repr=False)

    def __getitem__(self, name: str) -> Any:
        """The tensor called ``name`` in the weight table."""
        return self.tensors[name]

    def get(self, name: str) -> Any:
        """The tensor called ``name``, or None when the spec has no such tensor (e.g. biases)."""
        return self.tensors.get(name)

    @property
    def xp(self):
        """The array module the tensors live in."""
        return self.backend.xp

    @property
    def itemsize(self) -> int:
        """Bytes per stored parameter."""
        return np.dtype(DTYPES[self.dtype]).itemsize


def check_dtype(dtype: str) -> str:
    """Validate a runtime dtype name."""
    key = dtype.strip().lower()
    if key not in DTYPES:
        raise UsageError(f"unknown runtime dtype {quote_value(dtype)} (choices: {', '.join(DTYPES)})")
    return key


def init_std(t: Tensor) -> float:
    """Standard deviation of the distribution a tensor is drawn from (see the module docstring)."""
    if t.kind in ("linear", "router") or t.role == "lm_head":
        return 1.0 / float(np.sqrt(t.shape[-1]))
    if t.role == "embed":
        return 1.0
    return SMALL_STD


def build_weights(spec: ModelSpec, seed: int = 0, dtype: str = "float32",
                  backend: Backend | None = None) -> Weights:
    """Allocate and fill every tensor of ``weight_table(spec)`` (deterministic for a seed)."""
    dt = DTYPES[check_dtype(dtype)]
    be = backend or cpu_backend()
    rng = np.random.Generator(np.random.PCG64(seed))
    tensors: dict[str, Any] = {}
    for t in weight_table(spec):
        if t.kind == "norm":
            host = np.ones(t.shape, dtype=np.float32)
        else:
            host = np.empty(t.shape, dtype=np.float32)
            rng.random(dtype=np.float32, out=host)  # U[0, 1)
            host -= np.float32(0.5)
            host *= np.float32(2.0 * np.sqrt(3.0) * init_std(t))  # U[-sqrt(3) std, sqrt(3) std)
        if dt is not np.float32:
            host = host.astype(dt)
        tensors[t.name] = host if be.name == "numpy" else be.asarray(host)
    return Weights(spec=spec, tensors=tensors, dtype=check_dtype(dtype), seed=seed, backend=be)


def resident_weight_bytes(weights: Weights) -> int:
    """Bytes the weights occupy: ``sum(nbytes)`` over every tensor (each is its own buffer)."""
    return sum(int(a.nbytes) for a in weights.tensors.values())
