"""The one KV-cache formula: bytes per token, what a layer stores, and what a decode step reads.

Used by the memory estimator (``memory``), the speed model (``perf``), the planner through them,
and the runtime's ``KVCache`` (``runtime.kv_cache``), so all of them count the same bytes
(docs/design.md rule 4, docs/facts/serving.md 2.1).

- **Bytes per token per layer** on one GPU: ``2 x kv_heads x head_dim x dtype_bytes`` (GQA/MHA:
  a K and a V vector per KV head), with ``kv_heads = max(1, num_key_value_heads // tp)`` (KV heads
  are replicated once TP exceeds them); MLA (DeepSeek-V3) stores one compressed latent
  ``(kv_lora_rank + qk_rope_head_dim) x dtype_bytes``, replicated on every TP rank (vLLM
  ``MLAAttentionSpec``).
- **Layer types** (``ModelSpec.resolved_layer_types``): ``full_attention`` (every earlier token;
  Llama 4's global NoPE layers are full-attention layers: ``ModelSpec.is_nope_layer`` is the one
  NoPE rule), ``sliding_attention`` (window W: a query at position p sees ``[p - W + 1, p]``) and
  ``chunked_attention`` (Llama 4 chunked-local, chunk K: a query at p sees its chunk so far,
  ``[p - p % K, p]``, Meta ``create_chunked_attention_mask``).
- **Hybrid capacity**: in the ``hybrid`` layout a windowed layer holds at most
  ``K + in_flight`` tokens (chunked, vLLM ``ChunkedLocalAttentionSpec``) or
  ``W - 1 + in_flight`` (sliding, ``SlidingWindowSpec``), where ``in_flight`` is the most tokens
  one forward step adds (vLLM ``max_num_batched_tokens``); in the ``full`` layout, and on
  full-attention layers, every token is kept.
- **Read per decode step**: the query at position p reads the K and V of every position it
  attends, ``p + 1 - first_attended_position(p)`` tokens per layer.
- **Linear-attention layers** (Gated DeltaNet, ``linear_attention`` in Qwen3-Next / Qwen3.5) keep
  no per-token KV: each sequence holds a fixed state per layer (``linear_state_bytes_layer``),
  allocated once per sequence whatever its length, and read once per decode step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache

from llamasize.data.spec import ModelSpec
from llamasize.errors import UnknownValueError, UsageError
from llamasize.estimate.parallel import pp_partition
from llamasize.text import quote_value
from llamasize.units import DTYPE_BYTES, SHORT_DTYPE

KV_LAYOUTS = ("auto", "full", "hybrid")


# ------------------------------------------------------------------------- bytes per token ---
def kv_bytes_per_token_layer(spec: ModelSpec, kv_bytes: int, tp: int) -> int:
    """KV bytes one GPU stores per token for one attention layer (module docstring; docs/design.md
    rule 4): GQA/MHA ``2 x max(1, nkv // tp) x head_dim x kv_bytes``, MLA
    ``(kv_lora_rank + qk_rope_head_dim) x kv_bytes``."""
    if spec.is_mla:
        return (spec.kv_lora_rank + spec.qk_rope_head_dim) * kv_bytes
    nkv = spec.need("KV cache size", "num_key_value_heads")
    return 2 * max(1, nkv // tp) * spec.resolved_head_dim * kv_bytes


def kv_bytes_per_token_model(spec: ModelSpec, kv_bytes: int) -> int:
    """KV bytes per token for the whole model at full length, unsharded (the headline figure),
    over the layers that keep a KV cache (linear-attention layers keep none)."""
    kv_layers = sum(1 for t in spec.resolved_layer_types() if t != "linear_attention")
    return kv_bytes_per_token_layer(spec, kv_bytes, 1) * kv_layers


# ------------------------------------------------------------------ linear-attention state ---
def linear_state_bytes_layer(spec: ModelSpec, tp: int) -> int:
    """Bytes of the fixed per-sequence state of one Gated DeltaNet layer on one GPU, from
    transformers modeling_qwen3_next.py (``Qwen3NextGatedDeltaNet`` and cache_utils
    ``LinearAttentionLayer``): the conv state ``(conv_dim, K)`` with ``conv_dim = 2*nk*dk +
    nv*dv`` in the activation dtype (``torch_dtype``), and the recurrent state ``(nv, dk, dv)``
    in float32 (the gated delta rule runs and returns its state in float32). Heads split over TP
    (conv channels and value heads divided by ``tp``; ``parallel.tp_problem`` requires TP to divide
    the heads).
    vLLM's own layout may differ by a column of conv state; not modelled."""
    nk, nv = spec.linear_num_key_heads, spec.linear_num_value_heads
    dk, dv, k = spec.linear_key_head_dim, spec.linear_value_head_dim, spec.linear_conv_kernel_dim
    nk_gpu, nv_gpu = max(1, nk // tp), max(1, nv // tp)
    conv = (2 * nk_gpu * dk + nv_gpu * dv) * k * DTYPE_BYTES[SHORT_DTYPE[spec.torch_dtype]]
    recurrent = nv_gpu * dk * dv * DTYPE_BYTES["fp32"]
    return conv + recurrent


def linear_state_bytes(spec: ModelSpec, layers, tp: int) -> int:
    """Per-sequence linear-attention state on one GPU over ``layers`` (0 without such layers)."""
    types = spec.resolved_layer_types()
    n = sum(1 for i in layers if types[i] == "linear_attention")
    return n * linear_state_bytes_layer(spec, tp) if n else 0


# ------------------------------------------------------------------------ attended window ---
def first_attended_position(spec: ModelSpec, layer_type: str, pos: int) -> int:
    """Earliest key position a query at position ``pos`` attends to (and so the earliest a
    query at ``pos`` or later may need): chunked (chunk K) ``pos - pos % K`` (Meta
    ``create_chunked_attention_mask``); sliding (window W) ``max(0, pos - W + 1)``; full 0."""
    if layer_type == "linear_attention":  # no cached tokens: nothing is attended
        return pos + 1
    if layer_type == "chunked_attention":
        k = spec.attention_chunk_size
        return (pos // k) * k
    if layer_type == "sliding_attention":
        return max(0, pos - spec.sliding_window + 1)
    return 0


def attended_tokens(spec: ModelSpec, layer_type: str, pos: int) -> int:
    """Keys (cached tokens, the current one included) a query at position ``pos`` reads on one
    layer: ``pos + 1 - first_attended_position``; chunked ``pos % K + 1``, sliding
    ``min(pos + 1, W)``, full ``pos + 1``."""
    return pos + 1 - first_attended_position(spec, layer_type, pos)


def causal_pairs(tokens: int, window: int | None, chunked: bool) -> int:
    """Sum of the keys each query attends over the positions ``0 .. tokens - 1`` of one layer
    (the causal (query, key) pairs of a prefill): full ``P(P+1)/2``; sliding window w: each
    query sees ``min(t + 1, w)`` keys; chunked (chunk K): ``(t mod K) + 1`` keys."""
    p = tokens
    if p <= 0:
        return 0
    if window is None:
        return p * (p + 1) // 2
    if chunked:
        n, r = divmod(p, window)
        return n * window * (window + 1) // 2 + r * (r + 1) // 2
    if p <= window:
        return p * (p + 1) // 2
    return window * (window + 1) // 2 + (p - window) * window


def attended_tokens_sum(spec: ModelSpec, layer_type: str, first: int, last: int) -> int:
    """Exact sum of ``attended_tokens`` over the query positions ``first .. last`` (inclusive),
    in closed form (``causal_pairs`` up to ``last + 1`` minus up to ``first``); 0 when
    ``last < first``."""
    if last < first:
        return 0
    window, chunked = spec.window_of(layer_type), layer_type == "chunked_attention"
    return causal_pairs(last + 1, window, chunked) - causal_pairs(first, window, chunked)


# ----------------------------------------------------------------------- what a layer holds ---
def layer_token_cap(spec: ModelSpec, layer_type: str, layout: str, in_flight: int) -> int | None:
    """Most tokens one layer keeps in the ``layout`` (None = the full length): in ``hybrid``,
    chunked layers ``K + in_flight`` (vLLM ``ChunkedLocalAttentionSpec``; one slot more than
    strictly needed) and sliding layers ``W - 1 + in_flight`` (``SlidingWindowSpec``)."""
    window = spec.window_of(layer_type)
    if layer_type == "linear_attention":
        return 0
    if layout != "hybrid" or window is None:
        return None
    return window + in_flight - (1 if layer_type == "sliding_attention" else 0)


def layer_capacity(spec: ModelSpec, layer_type: str, max_tokens: int, layout: str, in_flight: int) -> int:
    """Token slots one layer allocates for sequences of up to ``max_tokens`` tokens:
    ``min(max_tokens, layer_token_cap)`` (the runtime's ``KVCache`` and ``KvModel`` with block 1)."""
    cap = layer_token_cap(spec, layer_type, layout, in_flight)
    return max_tokens if cap is None else min(max_tokens, cap)


def resolve_kv_layout(kv_layout: str, engine: str, spec: ModelSpec, chunked_hybrid: tuple[bool, str] | None = None
                      ) -> tuple[str, str]:
    """The concrete layout ``auto`` stands for, and why (docs/facts/serving.md 2.1).

    vLLM: its hybrid KV manager handles sliding-window layers by default; for Llama 4's
    chunked-local layers it depends on the version and ``--hybrid-kv-cache``
    (``chunked_hybrid``: ``(on, why)`` from ``engine_profiles.hybrid_chunked``; None: off, as
    PR #21761 made it). SGLang: Llama 4 hybrid KV is a separate opt-in mode, so
    ``full``. generic: ``full`` (the reference implementations keep full-length KV).
    """
    if kv_layout not in KV_LAYOUTS:
        raise UsageError(f"unknown KV layout {quote_value(kv_layout)} (choices: {', '.join(KV_LAYOUTS)})")
    if kv_layout != "auto":
        return kv_layout, "as given"
    try:
        types = set(spec.resolved_layer_types())
    except UnknownValueError:
        return "full", "attention layout unknown: full-length KV assumed"
    if types == {"full_attention"}:
        return "full", "every layer is full attention"
    if types == {"full_attention", "linear_attention"}:
        return "full", "every KV layer is full attention (linear-attention layers hold a fixed state per sequence)"
    if engine == "vllm":
        if "chunked_attention" in types and chunked_hybrid is not None and chunked_hybrid[0]:
            return "hybrid", f"vLLM's hybrid KV manager caps chunked-local layers: {chunked_hybrid[1]}"
        if "chunked_attention" in types and chunked_hybrid is not None:
            return "full", f"every layer holds the full context: {chunked_hybrid[1]}"
        if "chunked_attention" in types:
            return "full", ("vLLM disables its hybrid KV manager for Llama 4 chunked-local layers by default "
                            "(PR #21761): every layer holds the full context; --kv-layout hybrid models it on")
        return "hybrid", "vLLM's hybrid KV manager caps sliding-window layers at their window by default"
    if engine == "sglang":
        return "full", "SGLang's hybrid KV cache for windowed layers is opt-in; --kv-layout hybrid models it"
    return "full", "generic engine: full-length KV in every layer (reference implementation behaviour)"


@dataclass(frozen=True)
class KvModel:
    """KV bytes per sequence on one GPU of one stage as a function of context length."""

    bytes_per_token_layer: int
    #: For each layer of the stage: the token cap (None = full length).
    caps: tuple[int | None, ...]
    block: int
    #: Fixed per-sequence state of the stage's linear-attention layers (``linear_state_bytes``).
    state_bytes: int = 0

    @cached_property
    def cap_counts(self) -> tuple[tuple[int | None, int], ...]:
        """``caps`` as ``(cap, layers with it)`` pairs, so ``per_sequence`` costs the number of
        distinct caps, not of layers (a 10,000-layer config stays fast)."""
        return tuple(Counter(self.caps).items())

    def per_sequence(self, tokens: int) -> int:
        """Bytes one sequence of ``tokens`` tokens needs on this GPU (KV block-rounded per layer, plus
        the fixed linear-attention state)."""
        total_tokens = 0
        for cap, layers in self.cap_counts:
            n = tokens if cap is None else min(tokens, cap)
            total_tokens += layers * (-(-n // self.block) * self.block)
        return total_tokens * self.bytes_per_token_layer + self.state_bytes

    def max_tokens(self, capacity: int, batch: int, limit: int) -> int:
        """Largest context ``<= limit`` such that ``batch`` sequences fit in ``capacity`` (0 if none)."""
        if capacity < 0 or batch * self.per_sequence(1) > capacity:
            return 0
        lo, hi = 1, limit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if batch * self.per_sequence(mid) <= capacity:
                lo = mid
            else:
                hi = mid - 1
        return lo


@lru_cache(maxsize=4096)
def kv_models(spec: ModelSpec, kv_bytes: int, tp: int, pp: int, layout: str, block: int,
              in_flight: int) -> tuple[KvModel, ...]:
    """One ``KvModel`` per pipeline stage (caps from ``layer_token_cap``)."""
    types = spec.resolved_layer_types()
    per_layer = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    cap_of = {t: layer_token_cap(spec, t, layout, in_flight) for t in set(types)}
    return tuple(
        KvModel(per_layer, tuple(cap_of[types[i]] for i in layers), block, linear_state_bytes(spec, layers, tp))
        for layers in pp_partition(spec.num_hidden_layers, pp)
    )


# ------------------------------------------------------------------- read per decode step ---
def decode_kv_tokens(spec: ModelSpec, layers, pos: int) -> int:
    """Tokens of K/V a decode step at position ``pos`` reads over ``layers`` (one sequence):
    the sum of ``attended_tokens`` per layer (what the runtime's attention reads)."""
    types = spec.resolved_layer_types()
    return sum(attended_tokens(spec, types[i], pos) for i in layers)


def decode_kv_tokens_mean(spec: ModelSpec, layers, first: int, last: int) -> float:
    """Mean over the decode positions ``first .. last`` of ``decode_kv_tokens`` (exact sum
    divided by the number of steps)."""
    types = spec.resolved_layer_types()
    total = sum(attended_tokens_sum(spec, types[i], first, last) for i in layers)
    return total / (last - first + 1)
