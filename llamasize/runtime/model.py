"""The micro-MoE forward pass: plain functions over the numpy API (numpy or CuPy, same code).

Llama 4 semantics (docs/facts/models.md §1.6, Meta ``models/llama4/model.py`` and ``moe.py``):

- every layer: ``x += attention(rms_norm(x))``; ``x += ffn(rms_norm(x))`` (pre-norm residual);
- attention: GQA (query head j uses KV head ``j // (nh / nkv)``, as ``repeat_kv``);
  RoPE layers (chunked-local, ``(i+1) % nope_layer_interval != 0``) rotate q and k and see only
  their own chunk: position p attends to q iff ``floor(p/K) == floor(q/K)`` and ``q <= p``;
  global NoPE layers skip RoPE, attend causally to every earlier token and scale the query by the
  attention temperature ``log(floor((pos+1)/8192)+1)*0.1 + 1``; QK-norm ("l2") is a weightless
  RMSNorm of q and k after RoPE, on RoPE layers only;
- MoE layer: ``logits = x @ router.T``; top-k on the raw logits; ``score = sigmoid(selected
  logit)`` (no renormalisation); each selected expert computes ``expert(x * score)`` (the routed
  *input* is scaled); the shared expert always runs on ``x`` and is added;
- dense layers (``not spec.is_moe_layer(i)``) run one SwiGLU FFN; every FFN is SwiGLU
  ``down(silu(gate(x)) * up(x))``.

Other families run with the same semantics on their own shapes (Mixtral's softmax routing,
gpt-oss's clamped activation are not reproduced; biases, attention sinks, sliding windows and
Qwen3's weighted QK-norm are). MLA (DeepSeek-V3) is not implemented: the weights build, the
forward raises ``UsageError``.

Shapes: B sequences, T new tokens per step, S cached keys, h hidden, nh/nkv heads, hd head dim,
E experts, k experts per token, N = B*T token rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from llamasize.errors import UsageError
from llamasize.runtime.backend import array_module
from llamasize.estimate.kv import first_attended_position
from llamasize.runtime.kv_cache import KVCache
from llamasize.runtime.weights import Weights
from llamasize.data.spec import ModelSpec
from llamasize.text import quote_value

#: Llama 4 attention temperature tuning (Meta ``args.py`` defaults; docs/facts/models.md §1.1).
FLOOR_SCALE = 8192.0
ATTN_SCALE = 0.1
#: Queries per attention block in long steps (bounds the score matrix to QUERY_BLOCK x S).
QUERY_BLOCK = 256

#: Called with (layer index, selected expert ids (N, k)) for every MoE layer of every step.
RouteHook = Callable[[int, Any], None]


@dataclass(frozen=True)
class LayerPlan:
    """What one layer does, derived once from the spec."""

    index: int
    attention_type: str
    rope: bool
    #: Weightless RMSNorm of q and k after RoPE (Llama 4 ``use_qk_norm``, RoPE layers only).
    qk_l2: bool
    #: Llama 4 attention temperature on the query (global NoPE layers).
    temperature: bool
    moe: bool


@lru_cache(maxsize=64)
def layer_plans(spec: ModelSpec) -> tuple[LayerPlan, ...]:
    """One ``LayerPlan`` per layer. RoPE everywhere except Llama 4's NoPE layers
    (``ModelSpec.is_nope_layer``, Meta ``model.py``)."""
    if spec.is_mla:
        raise UsageError(f"the runtime implements GQA/MHA attention; {spec.id} uses MLA (not implemented)")
    types = spec.resolved_layer_types()
    out = []
    for i, t in enumerate(types):
        nope = spec.is_nope_layer(i)
        out.append(LayerPlan(index=i, attention_type=t, rope=not nope, qk_l2=spec.qk_norm == "l2" and not nope,
                             temperature=nope, moe=spec.is_moe_layer(i)))
    return tuple(out)


# ------------------------------------------------------------------------------- primitives ---
def rms_norm(x: Any, weight: Any | None, eps: float) -> Any:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis, computed in float32
    (Zhang & Sennrich 2019; Meta ``RMSNorm``, which also normalises in float). ``weight`` None =
    weightless (Llama 4 QK-norm / HF ``Llama4TextL2Norm``)."""
    xp = array_module(x)
    xf = x.astype(xp.float32, copy=False)
    y = xf * (1.0 / xp.sqrt(xp.mean(xf * xf, axis=-1, keepdims=True) + eps))
    if weight is not None:
        y *= weight
    return y.astype(x.dtype, copy=False)


def silu(z: Any) -> Any:
    """``z * sigmoid(z) = z / (1 + exp(-z))``, in place on ``z`` (Elfwing et al. 2017)."""
    xp = array_module(z)
    with np.errstate(over="ignore"):  # exp(-z) -> inf for z << 0 gives z / inf = -0, the limit
        d = xp.exp(-z)
    d += 1
    z /= d
    return z


def sigmoid(z: Any) -> Any:
    """``1 / (1 + exp(-z))``."""
    xp = array_module(z)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + xp.exp(-z))


def swiglu(x: Any, gate: Any, up: Any, down: Any, gate_up_bias: Any | None = None,
           down_bias: Any | None = None) -> Any:
    """SwiGLU FFN ``down(silu(x gate^T) * (x up^T))`` (Shazeer 2020, "GLU Variants Improve
    Transformer"). x: (N, h); gate, up: (f, h); down: (h, f) -> (N, h). ``gate_up_bias`` is (2f,):
    the gate half, then the up half."""
    g = x @ gate.T  # (N, f)
    u = x @ up.T  # (N, f)
    if gate_up_bias is not None:
        f = gate.shape[0]
        g += gate_up_bias[:f]
        u += gate_up_bias[f:]
    g = silu(g)
    g *= u
    y = g @ down.T  # (N, h)
    if down_bias is not None:
        y += down_bias
    return y


def rope_angles(positions: Any, head_dim: int, theta: float) -> tuple[Any, Any]:
    """cos and sin of the RoPE angles ``pos x theta^(-2j/hd)``, j = 0..hd/2-1 (Su et al. 2021,
    RoFormer; Meta ``precompute_freqs_cis``); angles in float64, returned as float32 (T, hd/2)."""
    xp = array_module(positions)
    inv_freq = 1.0 / theta ** (xp.arange(0, head_dim, 2, dtype=xp.float64) / head_dim)  # (hd/2,)
    ang = positions.astype(xp.float64)[:, None] * inv_freq[None, :]  # (T, hd/2)
    return xp.cos(ang).astype(xp.float32), xp.sin(ang).astype(xp.float32)


def apply_rope(x: Any, cos: Any, sin: Any) -> Any:
    """Rotate adjacent pairs ``(x[2j], x[2j+1])`` by the angle of their position:
    ``(a + ib)(cos + i sin)`` (Meta ``apply_rotary_emb``, which views the pairs as complex).
    x: (B, H, T, hd); cos, sin: (T, hd/2) -> (B, H, T, hd)."""
    xp = array_module(x)
    a, b = x[..., 0::2], x[..., 1::2]  # (B, H, T, hd/2) each
    out = xp.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def attention_temperature(positions: Any) -> Any:
    """Llama 4 query scale on NoPE layers: ``log(floor((pos+1)/floor_scale)+1) * attn_scale + 1``
    with floor_scale 8192 and attn_scale 0.1 (Meta ``model.py``, docs/facts/models.md §1.6); 1.0 for
    every position below 8191. positions: (T,) -> (T,) float32."""
    xp = array_module(positions)
    p = positions.astype(xp.float64)
    return (xp.log(xp.floor((p + 1.0) / FLOOR_SCALE) + 1.0) * ATTN_SCALE + 1.0).astype(xp.float32)


def attention_mask(qpos: Any, kpos: Any, layer_type: str, window: int | None) -> Any:
    """Which keys each query may see: (T, S) bool, True = attend.

    causal ``k <= q`` everywhere; chunked-local (chunk K): also ``floor(k/K) == floor(q/K)``
    (Meta ``create_chunked_attention_mask``); sliding (window W): also ``q - k < W``.
    """
    q, k = qpos[:, None], kpos[None, :]
    allowed = k <= q
    if layer_type == "chunked_attention":
        allowed &= (k // window) == (q // window)
    elif layer_type == "sliding_attention":
        allowed &= (q - k) < window
    return allowed


def attend(q: Any, k: Any, v: Any, mask: Any | None, sinks: Any | None = None) -> Any:
    """Scaled dot-product attention with grouped KV heads.

    q: (B, nh, Tq, hd); k, v: (B, nkv, S, hd); mask: (Tq, S) bool or None (all allowed);
    sinks: (nh,) per-head logits added to the softmax denominator (gpt-oss) or None.
    ``softmax(q k^T / sqrt(hd)) v`` (Vaswani et al. 2017), scores and softmax in float32.
    Returns (B, nh, Tq, hd).
    """
    xp = array_module(q)
    b, nh, tq, hd = q.shape
    nkv, s = k.shape[1], k.shape[2]
    g = nh // nkv
    qg = q.reshape(b, nkv, g * tq, hd)  # query heads kv*g .. kv*g+g-1 share KV head kv
    scores = (qg @ k.transpose(0, 1, 3, 2)).astype(xp.float32, copy=False)  # (B, nkv, g*Tq, S)
    scores *= 1.0 / math.sqrt(hd)
    scores = scores.reshape(b, nkv, g, tq, s)
    if mask is not None:
        scores = xp.where(mask, scores, -xp.inf)
    m = scores.max(axis=-1, keepdims=True)  # (B, nkv, g, Tq, 1)
    if sinks is not None:
        sk = sinks.astype(xp.float32).reshape(1, nkv, g, 1, 1)
        m = xp.maximum(m, sk)
    scores -= m
    p = xp.exp(scores, out=scores)
    denom = p.sum(axis=-1, keepdims=True)
    if sinks is not None:
        denom += xp.exp(sk - m)
    p /= denom
    out = p.reshape(b, nkv, g * tq, s).astype(v.dtype, copy=False) @ v  # (B, nkv, g*Tq, hd)
    return out.reshape(b, nh, tq, hd)


# ---------------------------------------------------------------------------------- layers ---
def attention_layer(w: Weights, plan: LayerPlan, x: Any, batch: int, cache: KVCache, start_pos: int) -> Any:
    """One attention block on normalised input x: (B*T, h) -> (B*T, h); stores the step's K/V."""
    spec, xp = w.spec, w.xp
    i, p = plan.index, f"layers.{plan.index}.self_attn"
    nh, nkv, hd = spec.num_attention_heads, spec.num_key_value_heads, spec.resolved_head_dim
    t = x.shape[0] // batch
    q = x @ w[f"{p}.q_proj"].T  # (N, nh*hd)
    k = x @ w[f"{p}.k_proj"].T  # (N, nkv*hd)
    v = x @ w[f"{p}.v_proj"].T  # (N, nkv*hd)
    if spec.attention_bias:
        q += w[f"{p}.q_proj.bias"]
        k += w[f"{p}.k_proj.bias"]
        v += w[f"{p}.v_proj.bias"]
    q = q.reshape(batch, t, nh, hd).transpose(0, 2, 1, 3)  # (B, nh, T, hd)
    k = k.reshape(batch, t, nkv, hd).transpose(0, 2, 1, 3)  # (B, nkv, T, hd)
    v = v.reshape(batch, t, nkv, hd).transpose(0, 2, 1, 3)  # (B, nkv, T, hd)
    pos = xp.arange(start_pos, start_pos + t)  # (T,)
    eps = spec.rms_norm_eps or 1e-5
    if spec.qk_norm == "rms_weighted":  # Qwen3: weighted RMSNorm per head, before RoPE, every layer
        q = rms_norm(q, w[f"{p}.q_norm"], eps)
        k = rms_norm(k, w[f"{p}.k_norm"], eps)
    if plan.rope:
        cos, sin = rope_angles(pos, hd, spec.rope_theta or 10000.0)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    if plan.qk_l2:
        q, k = rms_norm(q, None, eps), rms_norm(k, None, eps)
    if plan.temperature:
        q = q * attention_temperature(pos).astype(q.dtype)[None, None, :, None]
    cache.store(i, start_pos, k, v)

    window = spec.window_of(plan.attention_type)
    sinks = w.get(f"{p}.sinks")
    out = xp.empty((batch, nh, t, hd), dtype=q.dtype)  # (B, nh, T, hd)
    for t0 in range(0, t, QUERY_BLOCK):
        t1 = min(t, t0 + QUERY_BLOCK)
        lo = max(first_attended_position(spec, plan.attention_type, start_pos + t0), cache.offset[i])
        hi = start_pos + t1
        kk, vv = cache.view(i, lo, hi)  # (B, nkv, S, hd): keys this query block may need
        # One query (decode): [lo, hi) is exactly what it may see, so no mask is needed.
        mask = None if t1 - t0 == 1 else attention_mask(pos[t0:t1], xp.arange(lo, hi), plan.attention_type, window)
        out[:, :, t0:t1] = attend(q[:, :, t0:t1], kk, vv, mask, sinks)
    o = out.transpose(0, 2, 1, 3).reshape(batch * t, nh * hd)  # (N, nh*hd)
    y = o @ w[f"{p}.o_proj"].T  # (N, h)
    if spec.attention_bias:
        y += w[f"{p}.o_proj.bias"]
    return y


def _mlp(w: Weights, prefix: str, x: Any) -> Any:
    """The SwiGLU MLP stored under ``prefix`` (dense FFN or shared expert)."""
    return swiglu(x, w[f"{prefix}.gate_proj"], w[f"{prefix}.up_proj"], w[f"{prefix}.down_proj"],
                  w.get(f"{prefix}.gate_up_proj.bias"), w.get(f"{prefix}.down_proj.bias"))


def route(w: Weights, layer: int, x: Any) -> tuple[Any, Any]:
    """Top-k routing: ``logits = x @ router.T`` (+ bias), top-k on the raw logits, sigmoid of
    the selected ones, no renormalisation (Meta ``moe.py``). x: (N, h) -> expert ids (N, k) and
    scores (N, k) in x's dtype."""
    xp, spec = w.xp, w.spec
    p = f"layers.{layer}.feed_forward.router"
    logits = x @ w[p].T  # (N, E)
    if spec.router_bias:
        logits += w[f"{p}.bias"]
    k = spec.num_experts_per_tok
    if k == 1:
        idx = xp.argmax(logits, axis=-1)[:, None]  # (N, 1)
    else:
        idx = xp.argpartition(-logits, k - 1, axis=-1)[:, :k]  # (N, k), unordered top-k
    top = xp.take_along_axis(logits, idx, axis=-1)  # (N, k) raw logits of the selected experts
    return idx, sigmoid(top.astype(xp.float32)).astype(x.dtype)


def _expert(w: Weights, layer: int, e: int, x: Any) -> Any:
    """Routed expert ``e`` of a MoE layer on x: (n, h) -> (n, h); views into the stacked
    (E, out, in) tensors, no copy."""
    p = f"layers.{layer}.feed_forward.experts"
    gub, db = w.get(f"{p}.gate_up_proj.bias"), w.get(f"{p}.down_proj.bias")
    return swiglu(x, w[f"{p}.gate_proj"][e], w[f"{p}.up_proj"][e], w[f"{p}.down_proj"][e],
                  None if gub is None else gub[e], None if db is None else db[e])


def moe_sparse(w: Weights, layer: int, x: Any, on_route: RouteHook | None = None) -> Any:
    """MoE block with sparse dispatch: tokens are grouped by expert and only the selected experts
    compute, each once on all its tokens (a GEMM per expert hit, never a gather of weights).
    x: (N, h) -> (N, h)."""
    xp, spec = w.xp, w.spec
    k, e_count = spec.num_experts_per_tok, spec.num_local_experts
    idx, scores = route(w, layer, x)  # (N, k), (N, k)
    if on_route is not None:
        on_route(layer, idx)
    out = _mlp(w, f"layers.{layer}.feed_forward.shared_expert", x) if spec.shared_width else xp.zeros_like(x)
    flat = idx.reshape(-1)  # (N*k,)
    if flat.shape[0] == 1:  # one token, top-1: no grouping needed
        e = int(flat[0])
        out += _expert(w, layer, e, x * scores.reshape(1, 1))
        return out
    order = xp.argsort(flat)  # assignments grouped by expert
    counts = xp.bincount(flat, minlength=e_count)
    counts_host = counts.tolist()  # one small device->host copy on the GPU
    tok = order // k  # (N*k,) token row of each assignment
    sc = scores.reshape(-1)[order][:, None]  # (N*k, 1)
    start = 0
    for e, c in enumerate(counts_host):
        if c == 0:
            continue
        rows = tok[start:start + c]  # distinct: top-k picks k different experts per token
        xin = x[rows] * sc[start:start + c]  # (c, h): the routed INPUT scaled by its score
        out[rows] += _expert(w, layer, e, xin)
        start += c
    return out


def moe_dense_reference(w: Weights, layer: int, x: Any) -> Any:
    """Reference MoE block: every expert computes every token (input scaled by the token's score
    for that expert, 0 when not selected), outputs masked by the routing and summed, plus the
    shared expert (Meta ``moe.py``'s formulation). For tests; E times the work. x: (N, h)."""
    xp, spec = w.xp, w.spec
    idx, scores = route(w, layer, x)
    n = x.shape[0]
    gates = xp.zeros((n, spec.num_local_experts), dtype=x.dtype)  # (N, E) score, 0 = not selected
    rows = xp.arange(n)[:, None]
    gates[rows, idx] = scores
    selected = xp.zeros((n, spec.num_local_experts), dtype=bool)
    selected[rows, idx] = True
    out = _mlp(w, f"layers.{layer}.feed_forward.shared_expert", x) if spec.shared_width else xp.zeros_like(x)
    for e in range(spec.num_local_experts):
        y = _expert(w, layer, e, x * gates[:, e:e + 1])  # (N, h)
        out += xp.where(selected[:, e:e + 1], y, 0)
    return out


# --------------------------------------------------------------------------------- forward ---
def forward(w: Weights, tokens: Any, cache: KVCache, start_pos: int, *, dispatch: str = "sparse",
            last_only: bool = False, on_route: RouteHook | None = None) -> Any:
    """One forward step over ``tokens`` (B, T) at positions ``start_pos .. start_pos+T-1``.

    Stores the step's keys/values in ``cache`` (which must hold exactly ``start_pos`` positions)
    and returns float32 logits (B, T, V), or (B, V) for the last position when ``last_only``.
    ``dispatch``: "sparse" (only selected experts compute) or "dense" (the masked reference).
    """
    spec, xp = w.spec, w.xp
    if dispatch not in ("sparse", "dense"):
        raise UsageError(f"unknown dispatch {quote_value(dispatch)} (choices: sparse, dense)")
    plans = layer_plans(spec)
    b, t = tokens.shape
    if b != cache.batch:
        raise UsageError(f"tokens have batch {b}; the KV cache was built for {cache.batch}")
    if t > cache.in_flight:
        raise UsageError(f"a step of {t} tokens exceeds the cache's in_flight ({cache.in_flight}); use prefill")
    eps = spec.rms_norm_eps or 1e-5
    x = w["embed_tokens"][tokens.reshape(-1)]  # (N, h): a row gather
    for plan in plans:
        i = plan.index
        x += attention_layer(w, plan, rms_norm(x, w[f"layers.{i}.input_layernorm"], eps), b, cache, start_pos)
        hn = rms_norm(x, w[f"layers.{i}.post_attention_layernorm"], eps)
        if not plan.moe:
            x += _mlp(w, f"layers.{i}.feed_forward", hn)
        elif dispatch == "sparse":
            x += moe_sparse(w, i, hn, on_route)
        else:
            x += moe_dense_reference(w, i, hn)
    cache.advance(t)
    if last_only:
        x = x.reshape(b, t, -1)[:, -1]  # (B, h)
    x = rms_norm(x, w["norm"], eps)
    head = w.get("lm_head")
    if head is None:  # tied embeddings
        head = w["embed_tokens"]
    logits = (x @ head.T).astype(xp.float32, copy=False)  # (N, V) or (B, V)
    return logits if last_only else logits.reshape(b, t, -1)


def prefill(w: Weights, tokens: Any, cache: KVCache, start_pos: int = 0, *, all_logits: bool = False,
            dispatch: str = "sparse", on_route: RouteHook | None = None) -> Any:
    """Process a prompt (B, P) from ``start_pos`` in steps of at most ``cache.in_flight`` tokens
    (chunked prefill). Returns float32 logits of the last position (B, V), or of every position
    (B, P, V) when ``all_logits``."""
    xp = w.xp
    p = tokens.shape[1]
    if p < 1:
        raise UsageError("the prompt needs at least one token")
    outs = []
    last = None
    for s0 in range(0, p, cache.in_flight):
        chunk = tokens[:, s0:s0 + cache.in_flight]
        last = forward(w, chunk, cache, start_pos + s0, dispatch=dispatch, last_only=not all_logits,
                       on_route=on_route)
        if all_logits:
            outs.append(last)
    return xp.concatenate(outs, axis=1) if all_logits else last


def decode_one_token(w: Weights, tokens: Any, cache: KVCache, pos: int, *, dispatch: str = "sparse",
                     on_route: RouteHook | None = None) -> Any:
    """One decode step: ``tokens`` (B,) at position ``pos`` -> float32 logits (B, V)."""
    return forward(w, tokens.reshape(-1, 1), cache, pos, dispatch=dispatch, last_only=True, on_route=on_route)


def generate(w: Weights, prompt: Any, max_new_tokens: int, *, cache: KVCache | None = None,
             layout: str = "full", in_flight: int | None = None, dispatch: str = "sparse") -> Any:
    """Greedy generation: prefill ``prompt`` (B, P), then ``max_new_tokens`` decode steps taking
    the argmax token each time. Returns the tokens (B, P + max_new_tokens)."""
    xp = w.xp
    prompt = xp.asarray(prompt)
    b, p = prompt.shape
    if cache is None:
        cache = KVCache(w.spec, b, p + max_new_tokens, layout=layout, in_flight=in_flight or max(1, p),
                        dtype=w.dtype, backend=w.backend)
    start = cache.length
    logits = prefill(w, prompt, cache, start, dispatch=dispatch)
    out = [prompt]
    pos = start + p
    for _ in range(max_new_tokens):
        nxt = xp.argmax(logits, axis=-1)  # (B,)
        out.append(nxt[:, None])
        if len(out) - 1 == max_new_tokens:
            break
        logits = decode_one_token(w, nxt, cache, pos, dispatch=dispatch)
        pos += 1
    return xp.concatenate(out, axis=1)
