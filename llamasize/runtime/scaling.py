"""Scale any registry spec down to a runtime-sized model that keeps its layer pattern.

``scaled_spec`` shrinks the widths (hidden, head_dim, FFN/expert/shared widths, MLA ranks), the
number of layers, routed experts and the vocabulary until the weights fit a byte budget. What is
kept: the MoE/dense interleave (``interleave_moe_layer_step``, ``first_k_dense_replace``), the
attention layer types (chunked/global NoPE, sliding/full), the GQA ratio, top-k, the shared
expert, biases, sinks and QK-norm kind. The result is a ``release_status: test`` spec without a
published count or vision tower (the runtime is text-only), ``torch_dtype`` set to the runtime
dtype so the estimator's "auto" KV dtype matches the runtime's cache.
"""

from __future__ import annotations

import math

from llamasize.errors import UsageError
from llamasize.estimate.params import count_params
from llamasize.data.spec import ModelSpec
from llamasize.units import TORCH_DTYPES, dtype_bytes
from llamasize.text import quote_value



def pattern_period(spec: ModelSpec) -> int:
    """Layers after which the MoE/dense and attention-type pattern repeats:
    lcm(interleave_moe_layer_step, nope_layer_interval) (1 when neither is set)."""
    period = spec.interleave_moe_layer_step
    if spec.nope_layer_interval:
        period = math.lcm(period, spec.nope_layer_interval)
    if spec.layer_types:
        types = spec.layer_types
        for p in range(1, len(types) + 1):
            if all(types[i] == types[i % p] for i in range(len(types))):
                period = math.lcm(period, p)
                break
    return period


def _even(x: float, minimum: int) -> int:
    """``x`` rounded to an even integer, at least ``minimum`` (RoPE rotates pairs)."""
    return max(minimum, 2 * round(x / 2))


def _mult(x: float, m: int, minimum: int) -> int:
    """``x`` rounded to a multiple of ``m``, at least ``minimum``."""
    return max(minimum, m * round(x / m))


def _scaled_fields(spec: ModelSpec, hidden: int, layers: int, experts: int | None, vocab: int,
                   heads: int, kv_heads: int, max_window: int | None) -> dict:
    """The fields of a scaled copy of ``spec`` (unvalidated)."""
    f = hidden / spec.hidden_size
    upd: dict = {"hidden_size": hidden, "num_hidden_layers": layers, "vocab_size": vocab,
                 "num_attention_heads": heads, "num_key_value_heads": kv_heads}
    if spec.head_dim is not None or spec.kv_lora_rank is None:
        # keep the attention width nh*hd in proportion to the hidden size, over the new head count; set
        # even when the config leaves head_dim out (hidden / heads of the scaled size can be odd, 824 / 8 =
        # 103, and RoPE rotates pairs: a broadcast error in verify/run, found by the fuzz suite)
        upd["head_dim"] = _even(spec.resolved_head_dim * spec.num_attention_heads * f / heads, 4)
    for name in ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size",
                 "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "v_head_dim"):
        if getattr(spec, name) is not None:
            upd[name] = _mult(getattr(spec, name) * f, 4, 4)
    if spec.qk_rope_head_dim is not None:
        upd["qk_rope_head_dim"] = _even(spec.qk_rope_head_dim * f, 4)
    if experts is not None:
        upd["num_local_experts"] = experts
        upd["num_experts_per_tok"] = min(spec.num_experts_per_tok or 1, experts)
    if spec.layer_types is not None:
        upd["layer_types"] = list(spec.layer_types[:layers])
    upd["first_k_dense_replace"] = min(spec.first_k_dense_replace, max(0, layers - 1))
    if max_window is not None:
        for name in ("attention_chunk_size", "sliding_window"):
            if getattr(spec, name) is not None:
                upd[name] = min(getattr(spec, name), max_window)
    return upd


def scaled_spec(spec: ModelSpec, budget_bytes: int, *, dtype: str = "float32", max_layers: int | None = None,
                max_experts: int = 16, max_vocab: int = 8192, max_kv_heads: int = 2,
                max_window: int | None = None, id_suffix: str = "scaled") -> ModelSpec:
    """A copy of ``spec`` whose weights (``count_params`` x dtype bytes) fit ``budget_bytes``.

    Layers: ``max_layers`` (default: two pattern periods, at least 4, never more than the
    original), rounded down to whole pattern periods after any leading dense layers. Experts:
    at most ``max_experts`` (top-k kept, capped at E). Vocabulary: at most ``max_vocab``. KV heads:
    at most ``max_kv_heads``, query heads scaled to keep the GQA ratio. Windows (chunk size,
    sliding window) capped at ``max_window`` when given. The hidden size is then the largest
    multiple of 8 (searched by bisection; bytes grow with it) whose weights fit; other
    widths scale with it. Raises ``UsageError`` when even the smallest width does not fit.
    """
    if dtype not in TORCH_DTYPES:
        raise UsageError(f"unknown runtime dtype {quote_value(dtype)} (choices: {', '.join(TORCH_DTYPES)})")
    torch_dtype, nbytes = dtype, dtype_bytes(dtype)  # runtime dtypes are torch names (units.DTYPE_BYTES)
    spec.need("scaling the model", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    period = pattern_period(spec)
    lead = spec.first_k_dense_replace
    n = spec.num_hidden_layers
    want = max_layers if max_layers is not None else max(4, 2 * period) + lead
    layers = min(n, want)
    if layers > lead + period:
        layers = lead + ((layers - lead) // period) * period
    experts = min(spec.num_local_experts, max_experts) if spec.num_local_experts else None
    vocab = min(spec.vocab_size, max_vocab)
    nh = spec.num_attention_heads
    nkv = spec.num_key_value_heads or nh
    group = nh // nkv
    kv_heads = min(nkv, max_kv_heads)
    heads = kv_heads * group
    base = dict(spec.model_dump())
    base.update(id=f"{spec.id}-{id_suffix}", name=f"{spec.name} (scaled for the runtime)", aliases=[],
                hf_names=[], hf_quantized={}, hf_other_license=[], release_status="test", torch_dtype=torch_dtype,
                published_params=None, vision_config=None, license=None,
                num_nextn_predict_layers=0,  # the runtime runs no MTP draft
                release_note=f"scaled from {spec.id} to fit {budget_bytes:,} bytes of {dtype} weights",
                source=f"llamasize.runtime.scaling.scaled_spec({spec.id})")
    step = 8

    def build(hidden: int) -> ModelSpec:
        """The scaled spec at this hidden size."""
        return ModelSpec.model_validate({**base, **_scaled_fields(spec, hidden, layers, experts, vocab,
                                                                  heads, kv_heads, max_window)})

    def size(s: ModelSpec) -> int:
        """Weight bytes of a spec in the runtime dtype."""
        return count_params(s).total_params * nbytes

    lo, hi = 1, max(1, spec.hidden_size // step)
    if size(build(lo * step)) > budget_bytes:
        raise UsageError(
            f"{spec.id} does not fit {budget_bytes:,} bytes even at hidden size {lo * step} "
            f"({layers} layers, {experts or 0} experts, vocabulary {vocab}): "
            f"{size(build(lo * step)):,} bytes needed"
        )
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(build(mid * step)) <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return build(lo * step)


#: Largest weight footprint the runtime builds without scaling a spec down (keeps verify well
#: under a minute on a CPU; micro-moe's 533 MB fits).
RUNTIME_WEIGHT_BUDGET = 640 * 2**20


def runnable_spec(spec: ModelSpec, device_memory_bytes: int | None, dtype: str = "float32",
                  budget_bytes: int = RUNTIME_WEIGHT_BUDGET) -> tuple[ModelSpec, str | None]:
    """The spec the runtime can build on this device, and a note when it had to be scaled down.

    Refuses (UsageError) what the runtime cannot run: an unpublished architecture or MLA
    attention. A spec whose weights exceed ``min(budget, device memory / 4)`` is scaled down with
    ``scaled_spec`` (same layer pattern), never allocated at full size.
    """
    from llamasize.runtime.weights import check_dtype

    s = spec
    s.need("the architecture the runtime builds", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    if s.is_mla:
        raise UsageError(f"the runtime runs GQA/MHA models; {s.id} uses multi-head latent attention (MLA)")
    itemsize = dtype_bytes(check_dtype(dtype))  # bfloat16 is stored as float16: 2 bytes either way
    total = count_params(s).total_params * itemsize
    limit = budget_bytes if device_memory_bytes is None else min(budget_bytes, device_memory_bytes // 4)
    if total <= limit:
        return s, None
    small = scaled_spec(s, limit, dtype=dtype)
    new = count_params(small).total_params * itemsize
    return small, (f"{s.id} needs {total / 1e9:,.1f} GB of {dtype} weights; running '{small.id}', the same layer "
                   f"pattern scaled down to {new / 1e6:,.0f} MB")
