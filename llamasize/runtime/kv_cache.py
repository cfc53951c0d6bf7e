"""The runtime's KV cache: per-layer K/V arrays, in either of the estimator's two layouts.

Arrays are ``(batch, n_kv_heads, capacity, head_dim)`` per layer, allocated once. Slot ``j`` of a
layer holds position ``offset + j``; the cache holds positions ``[offset, length)``.

Layouts (docs/design.md rule 4): the capacity of each layer and the first position a query still needs
are the estimator's own functions (``estimate.kv.layer_capacity``, ``first_attended_position``):

- ``full``: every layer keeps every token: capacity = ``max_tokens``, offset stays 0 (Meta's
  reference implementation).
- ``hybrid``: windowed layers keep only what a future query can see. A Llama 4 chunked-local
  layer (chunk K) needs, for a step of T new tokens starting at position p, the tokens
  ``[floor(p/K)*K, p)`` already cached (at most K - 1) plus the T new ones; a sliding layer
  (window W) needs ``[p-W+1, p)`` plus T. The capacity is the estimator's formula with
  ``in_flight`` = the most tokens one forward step may add (vLLM's ``max_num_batched_tokens``):
  ``min(max_tokens, K + in_flight)`` for chunked layers (vLLM ``ChunkedLocalAttentionSpec``; one
  slot more than strictly needed) and ``min(max_tokens, W - 1 + in_flight)`` for sliding layers
  (``SlidingWindowSpec``). When a step would not fit, the tokens no future query can see are
  dropped by moving the kept ones to the front (for chunked layers: at most once per chunk).
  Full-attention layers keep every token.

So ``kv_bytes()`` equals ``batch x kv.kv_models(spec, itemsize, tp=1, pp=1, layout, block=1,
in_flight=cache.in_flight)[0].per_sequence(max_tokens)`` byte for byte, and the runtime's forward
steps never exceed ``in_flight`` tokens (``model.prefill`` splits a prompt into such steps, as
vLLM's chunked prefill does). ``in_flight`` = 0 is not possible: a step adds at least one token.
"""

from __future__ import annotations

from typing import Any


from llamasize.data.spec import ModelSpec
from llamasize.errors import UsageError
from llamasize.estimate.kv import first_attended_position, layer_capacity
from llamasize.runtime.backend import Backend, cpu_backend
from llamasize.runtime.weights import DTYPES, check_dtype
from llamasize.units import dtype_bytes
from llamasize.text import quote_value

LAYOUTS = ("full", "hybrid")
#: Default tokens per forward step (prefill chunk), like a small vLLM max_num_batched_tokens.
DEFAULT_IN_FLIGHT = 512


class KVCache:
    """Per-layer K/V arrays for ``batch`` sequences of up to ``max_tokens`` tokens each.

    All sequences of a batch share positions (one prompt length). ``length`` is the number of
    positions processed; forward steps must start at ``length`` (append-only).
    """

    def __init__(self, spec: ModelSpec, batch: int, max_tokens: int, layout: str = "full",
                 in_flight: int = DEFAULT_IN_FLIGHT, dtype: str = "float32", backend: Backend | None = None):
        """Allocate the arrays (zero-filled) for the given layout."""
        if layout not in LAYOUTS:
            raise UsageError(f"unknown KV layout {quote_value(layout)} (choices: {', '.join(LAYOUTS)})")
        if batch < 1 or max_tokens < 1 or in_flight < 1:
            raise UsageError(f"batch ({batch}), max_tokens ({max_tokens}) and in_flight ({in_flight}) "
                             "must be at least 1")
        if spec.is_mla:
            raise UsageError(f"the runtime's KV cache stores GQA/MHA keys and values; {spec.id} uses MLA")
        self.spec = spec
        self.batch = batch
        self.max_tokens = max_tokens
        self.layout = layout
        self.in_flight = in_flight
        self.dtype = check_dtype(dtype)
        self.backend = backend or cpu_backend()
        xp = self.backend.xp
        self.layer_types: list[str] = spec.resolved_layer_types()
        nkv = spec.need("the KV cache", "num_key_value_heads")
        hd = spec.resolved_head_dim
        self.capacity = [layer_capacity(spec, t, max_tokens, layout, in_flight) for t in self.layer_types]
        dt = DTYPES[self.dtype]
        self.k: list[Any] = [xp.zeros((batch, nkv, c, hd), dtype=dt) for c in self.capacity]  # (B, nkv, cap, hd)
        self.v: list[Any] = [xp.zeros((batch, nkv, c, hd), dtype=dt) for c in self.capacity]
        self.offset = [0] * len(self.capacity)
        self.length = 0

    # ----------------------------------------------------------------------------- accounting --
    def kv_bytes(self) -> int:
        """Bytes of every K and V array (what the estimator predicts for this layout)."""
        return sum(int(a.nbytes) for a in self.k) + sum(int(a.nbytes) for a in self.v)

    def arrays(self) -> list[Any]:
        """Every K and V array (for memory accounting)."""
        return [*self.k, *self.v]

    # ------------------------------------------------------------------------------ updates ----
    def store(self, layer: int, start_pos: int, k: Any, v: Any) -> None:
        """Write the keys/values of positions ``[start_pos, start_pos + T)`` of one layer.

        k, v: (B, nkv, T, hd). Drops the tokens no future query can see when the step would not
        fit (windowed layers in the hybrid layout); raises ``UsageError`` when it still does not.
        """
        if start_pos != self.length:
            raise UsageError(f"KV cache holds {self.length} positions; a step must start there, not at {start_pos}")
        t = k.shape[2]
        cap, off = self.capacity[layer], self.offset[layer]
        if start_pos + t - off > cap:
            keep_from = max(off, first_attended_position(self.spec, self.layer_types[layer], start_pos))
            if keep_from > off:
                n_keep = start_pos - keep_from
                src = slice(keep_from - off, start_pos - off)
                # move to the front; the source is copied first because the ranges may overlap
                self.k[layer][:, :, :n_keep] = self.k[layer][:, :, src].copy()
                self.v[layer][:, :, :n_keep] = self.v[layer][:, :, src].copy()
                self.offset[layer] = off = keep_from
            if start_pos + t - off > cap:
                what = ("max_tokens" if self.layout == "full" or cap == self.max_tokens
                        else f"the window + in_flight ({self.in_flight})")
                raise UsageError(
                    f"layer {layer}: a step of {t} tokens at position {start_pos} needs "
                    f"{start_pos + t - off} slots; the cache holds {cap} ({what})"
                )
        s0 = start_pos - off
        self.k[layer][:, :, s0:s0 + t] = k
        self.v[layer][:, :, s0:s0 + t] = v

    def advance(self, t: int) -> None:
        """Mark ``t`` more positions as processed (after every layer stored them)."""
        self.length += t

    def view(self, layer: int, lo_pos: int, hi_pos: int) -> tuple[Any, Any]:
        """K and V of positions ``[lo_pos, hi_pos)`` of one layer: views, no copy.
        Returns two (B, nkv, hi-lo, hd) arrays."""
        off = self.offset[layer]
        if lo_pos < off:
            raise UsageError(f"layer {layer}: position {lo_pos} was dropped (cache starts at {off})")
        return self.k[layer][:, :, lo_pos - off:hi_pos - off], self.v[layer][:, :, lo_pos - off:hi_pos - off]

    def expand_batch(self, batch: int) -> "KVCache":
        """A new cache of ``batch`` sequences, each a copy of sequence 0 of this one (same
        layout, capacity and position); used to decode at several batch sizes from one prefill."""
        new = KVCache.__new__(KVCache)
        new.__dict__.update(self.__dict__)
        xp = self.backend.xp
        new.batch = batch
        new.k = [xp.repeat(a[:1], batch, axis=0) for a in self.k]  # always a new, writable array
        new.v = [xp.repeat(a[:1], batch, axis=0) for a in self.v]
        new.offset = list(self.offset)
        new.capacity = list(self.capacity)
        return new


def kv_itemsize(dtype: str) -> int:
    """Bytes per cached element for a runtime dtype."""
    return dtype_bytes(check_dtype(dtype))  # bfloat16 is stored as float16: 2 bytes either way
