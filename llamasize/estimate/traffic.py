"""Bytes read: the one accounting of what a decode step (and a prefill) reads from memory.

docs/design.md rule 6. A decode step reads every dense and attention weight, the shared experts and the
lm_head once, one embedding row per token, the routed experts the batch hits (under uniform routing
``E x (1 - (1 - k/E)^B)`` distinct experts per MoE layer: k at B = 1, -> E for large B; unlike
gpt-fast, experts no token selected are not counted), and the K/V of every position each query
attends (``estimate.kv``: a query at position p reads ``p + 1 - first_attended_position(p)``
tokens per layer -- on a Llama 4 chunked-local layer ``p % K + 1``, not the whole chunk).

Users: ``perf`` (per pipeline stage and GPU, from the format's shard bytes), the runtime's
``measure`` (the bytes its numpy/CuPy model reads, in one dtype) and ``verify``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from llamasize.data.spec import ModelSpec
from llamasize.estimate.kv import attended_tokens_sum, decode_kv_tokens, kv_bytes_per_token_layer, linear_state_bytes
from llamasize.estimate.shards import stage_tensor_groups
from llamasize.estimate.parallel import pp_partition
from llamasize.estimate.params import weight_table


# -------------------------------------------------------------------------------- experts ---
def expected_distinct_experts(num_experts: int, top_k: int, batch_tokens: int) -> float:
    """Expected distinct experts hit per MoE layer by ``batch_tokens`` tokens under uniform routing:
    ``E x (1 - (1 - k/E)^B)`` (docs/design.md rule 6). k at B = 1; approaches E as B grows."""
    if num_experts <= 0 or batch_tokens <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** batch_tokens)


# --------------------------------------------------------------------------- weight reads ---
@dataclass(frozen=True)
class StageWeights:
    """Per-GPU weight traffic of one pipeline stage, split the way decode reads it."""

    #: Bytes read every step regardless of batch (attention, norms, router, dense FFN, shared
    #: experts, lm_head).
    dense_bytes: int
    #: Bytes of all routed experts on this GPU (a step reads the fraction hit).
    routed_bytes: int
    #: Bytes of one embedding row on this GPU (a step reads one per token).
    embedding_row_bytes: int
    #: Matmul parameters per token on this GPU: the dense part (without the lm_head), the lm_head
    #: (run once per sequence in a prefill: only the last position's logits are needed) and the
    #: routed experts (before the k/E share a token uses).
    dense_matmul_params: int
    lm_head_params: int
    routed_matmul_params: int
    layers: tuple[int, ...]
    moe_layers: int


@lru_cache(maxsize=2048)
def stage_weights(spec: ModelSpec, quant: str, tp: int, pp: int, ep: bool, dp: int = 1) -> tuple[StageWeights, ...]:
    """Weight traffic per stage, from ``shards.stage_tensor_groups`` (``n`` layers of the stage hold
    each grouped tensor; the vision tower is left out: it does not run per token). ``dp``: attention
    data-parallel ranks (the routed experts of one GPU are its ``1 / (dp x tp)`` share)."""
    acc = [[0, 0, 0, 0, 0, 0] for _ in range(pp)]
    for k, t, shape, nbytes, n in stage_tensor_groups(spec, quant, tp, pp, ep, dp):
        numel = math.prod(shape) * n
        nbytes *= n
        if t.component == "vision":
            continue
        if t.component == "embedding":
            acc[k][2] += nbytes // max(1, shape[0])
        elif t.component == "routed_experts":
            acc[k][1] += nbytes
            if t.kind == "linear":
                acc[k][5] += numel
        else:
            acc[k][0] += nbytes
            if t.role == "lm_head":
                acc[k][4] += numel
            elif t.kind in ("linear", "router"):
                acc[k][3] += numel
    stages = pp_partition(spec.num_hidden_layers, pp)
    moe = set(spec.moe_layer_ids()) if spec.is_moe else set()
    return tuple(
        StageWeights(a[0], a[1], a[2], a[3], a[4], a[5], tuple(stages[k]), sum(1 for i in stages[k] if i in moe))
        for k, a in enumerate(acc)
    )


def decode_weight_bytes(spec: ModelSpec, itemsize: int, batch: int,
                        experts_hit: dict[int, float] | float | None = None) -> int:
    """Weight bytes one decode step reads (docs/design.md rule 6): every attention, norm, router,
    dense-FFN and shared-expert tensor and the lm_head once; ``batch`` rows of the embedding
    table; per MoE layer, ``experts_hit`` routed experts (a per-layer dict or one number; default
    the uniform expectation). The vision tower is not read. Unlike gpt-fast, routed experts
    that no token selected are not counted."""
    total = 0.0
    for t in weight_table(spec):
        if t.component == "vision":
            continue
        if t.component == "embedding":
            total += min(batch, t.shape[0]) * t.shape[1] * itemsize
        elif t.component == "routed_experts":
            e = spec.num_local_experts
            if isinstance(experts_hit, dict):
                hit = experts_hit.get(t.layer, 0.0)
            elif experts_hit is None:
                hit = expected_distinct_experts(e, spec.num_experts_per_tok, batch)
            else:
                hit = experts_hit
            total += t.numel / e * hit * itemsize
        else:
            total += t.numel * itemsize
    return int(round(total))


# ----------------------------------------------------------------------------- KV reads ---
@dataclass(frozen=True)
class DecodeSpan:
    """The decode steps whose KV reads are averaged: query positions ``first .. last``, and the
    average context ``context`` that full-attention and sliding layers are charged.

    A chunked-local layer's read is periodic in the position (``p % K + 1``), so it is the exact
    mean over the positions; on full layers the average context is the exact mean whenever the
    span is symmetric about it (``generation`` with an even output), and sliding layers read
    ``min(context, W)``.
    """

    first: int
    last: int
    context: int

    @classmethod
    def at(cls, pos: int) -> "DecodeSpan":
        """One decode step at position ``pos`` (it attends ``pos + 1`` tokens on a full layer)."""
        return cls(pos, pos, pos + 1)

    @classmethod
    def generation(cls, prompt_tokens: int, output_tokens: int) -> "DecodeSpan":
        """The decode steps of a generation: the prefill yields the first output token, then
        steps at positions ``prompt .. prompt + output - 2`` yield the others (one step at
        ``prompt`` when ``output`` is 1); average context ``prompt + output // 2``."""
        last = prompt_tokens + max(output_tokens - 2, 0)
        return cls(prompt_tokens, last, prompt_tokens + output_tokens // 2)

    def attended(self, spec: ModelSpec, layer_type: str) -> int | float:
        """Tokens one query of this span reads on a layer of ``layer_type``, on average."""
        if layer_type == "chunked_attention":
            return attended_tokens_sum(spec, layer_type, self.first, self.last) / (self.last - self.first + 1)
        w = spec.window_of(layer_type)
        return self.context if w is None else min(self.context, w)


def kv_read_per_sequence(spec: ModelSpec, kv_bytes: int, tp: int, layers, span: DecodeSpan) -> int | float:
    """KV bytes one sequence's decode step reads on one GPU over ``layers``, averaged over the
    span: attended tokens x ``kv.kv_bytes_per_token_layer`` (exact integer when no layer is
    chunked-local), plus the fixed state of linear-attention layers (``kv.linear_state_bytes``),
    read once per step."""
    per = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    types = spec.resolved_layer_types()
    whole, chunked = linear_state_bytes(spec, layers, tp), 0.0
    for i in layers:
        a = span.attended(spec, types[i])
        if isinstance(a, int):
            whole += a * per
        else:
            chunked += a
    return whole + chunked * per if chunked else whole


def decode_kv_bytes(spec: ModelSpec, kv_bytes: int, batch: int, pos: int, tp: int = 1) -> int:
    """KV bytes a decode step of ``batch`` sequences at position ``pos`` reads on one GPU over
    every layer (exact): ``batch x (bytes per token per layer x kv.decode_kv_tokens + the
    linear-attention state)``."""
    layers = range(spec.num_hidden_layers)
    per = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    return batch * (per * decode_kv_tokens(spec, layers, pos) + linear_state_bytes(spec, layers, tp))
