"""Parameter accounting from the architecture: a weight table, per-component totals, active params.

The weight table lists every tensor (name, shape, component, layer, how tensor parallelism splits
it). Everything else is derived from it: parameter totals (``count_params``), weight bytes under a
quantization scheme (``quant``), per-GPU weight bytes (``memory``) and the shapes the micro-MoE
runtime allocates, so all of them agree by construction.

Counting rules (docs/facts/models.md §1.4, reproduced to the parameter for Llama 4 Scout and Maverick):

- attention (GQA/MHA): q ``h x nh*hd``, k and v ``h x nkv*hd``, o ``nh*hd x h`` (+ biases when
  ``attention_bias``, q/k/v biases only when ``attention_qkv_bias`` (Qwen2); + one sink per head when
  ``attention_sinks``; + two ``hd`` norm weights when ``qk_norm == "rms_weighted"`` (Qwen3, Gemma 3),
  ``nh*hd`` and ``nkv*hd`` when ``"full_width"`` (OLMo 2 ``Olmo2RMSNorm(nh*hd)``, Cohere
  ``CohereLayerNorm((nh, hd))``)). Fused q/k/v (Phi-3 ``qkv_proj``, Falcon/BLOOM
  ``query_key_value``) and fused gate/up (Phi-3 ``gate_up_proj``) hold the same parameters as the
  separate tensors listed here.
- attention (MLA, DeepSeek-V3 ``modeling_deepseek.py``): q_a ``h x q_lora`` + norm ``q_lora`` +
  q_b ``q_lora x nh*(nope+rope)``; kv_a ``h x (kv_lora+rope)`` + norm ``kv_lora`` +
  kv_b ``kv_lora x nh*(nope+v)``; o ``nh*v x h``.
- ``norms_per_layer`` norms of ``h`` per layer (2; 1 for a parallel block; 4 for Gemma 2/3) and a
  final one; each RMSNorm or bias-free LayerNorm is ``h``, a LayerNorm with bias ``2h``
  (``norm_kind``); BLOOM adds one after the embedding (``embedding_norm``).
- MoE layer: ``E x 3*h*fe`` routed experts (SwiGLU gate/up/down) + shared experts ``3*h*fs`` +
  router ``h x E`` (no bias unless ``router_bias``). Dense layer: ``3*h*f`` gated
  (SwiGLU/GeGLU), ``2*h*f`` plain (``ffn_kind``: Falcon/BLOOM ``dense_h_to_4h``/``dense_4h_to_h``);
  ``mlp_bias`` adds ``f`` per input projection and ``h``.
- embedding ``vocab x h``, plus an lm_head of the same size unless tied.
- Gated DeltaNet layers (``linear_attention``, Qwen3-Next / Qwen3.5): see ``_linear_attention_tensors``;
  full-attention layers with ``attn_output_gate`` have a ``2 x nh*hd`` q_proj.
- MTP layers (DeepSeek-V3): see ``mtp_tensors``; counted in the checkpoint total, not in the
  weight table that serving loads.
- vision towers: ``estimate/towers.py``, one flat tensor per tower.
- RoPE, ALiBi, soft-capping and the Granite/Gemma scaling multipliers have no weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_serializer

from llamasize import SCHEMA_VERSION
from llamasize.errors import UnknownValueError
from llamasize.data.spec import CheckpointSummary, ModelSpec
from llamasize.estimate.towers import vision_params

Component = Literal[
    "embedding", "lm_head", "attention", "norms", "router", "routed_experts",
    "shared_experts", "dense_ffn", "vision", "mtp",
]
COMPONENTS: tuple[str, ...] = (
    "embedding", "lm_head", "attention", "norms", "router", "routed_experts",
    "shared_experts", "dense_ffn", "vision", "mtp",
)

#: How tensor parallelism splits a tensor (vLLM's layer classes):
#: column = output rows split (ColumnParallelLinear); row = input columns split (RowParallelLinear);
#: kv = like column but replicated once TP exceeds the KV heads (QKVParallelLinear);
#: vocab = rows split (VocabParallelEmbedding / ParallelLMHead); replicated = whole on every GPU;
#: expert = stacked (E, out, in) routed experts, split over TP by width or over EP by expert;
#: flat = an opaque block of parameters split evenly (the vision tower).
Parallel = Literal["column", "row", "kv", "vocab", "replicated", "expert_column", "expert_row", "flat"]


@dataclass(frozen=True)
class Tensor:
    """One weight tensor. Linear weights are ``(out, in)`` as in PyTorch; routed experts are
    stacked ``(E, out, in)``; vectors are ``(n,)``."""

    name: str
    component: str
    layer: int | None
    shape: tuple[int, ...]
    #: linear | embedding | norm | bias | router | vector | vision
    kind: str
    parallel: str
    #: Role used by quantization mix rules: q k v o gate up down embed lm_head router ...
    role: str

    @property
    def numel(self) -> int:
        """Number of parameters in the tensor."""
        return prod(self.shape)


def _attention_tensors(s: ModelSpec, i: int) -> list[Tensor]:
    h = s.need("attention parameters", "hidden_size")
    nh = s.need("attention parameters", "num_attention_heads")
    p = f"layers.{i}.self_attn"
    t: list[Tensor] = []
    if s.is_mla:
        rope, nope, vd, kvr = s.qk_rope_head_dim, s.qk_nope_head_dim, s.v_head_dim, s.kv_lora_rank
        if s.q_lora_rank:
            t += [
                Tensor(f"{p}.q_a_proj", "attention", i, (s.q_lora_rank, h), "linear", "replicated", "q_a"),
                Tensor(f"{p}.q_a_layernorm", "attention", i, (s.q_lora_rank,), "norm", "replicated", "norm"),
                Tensor(f"{p}.q_b_proj", "attention", i, (nh * (nope + rope), s.q_lora_rank), "linear", "column", "q"),
            ]
        else:
            t.append(Tensor(f"{p}.q_proj", "attention", i, (nh * (nope + rope), h), "linear", "column", "q"))
        t += [
            Tensor(f"{p}.kv_a_proj_with_mqa", "attention", i, (kvr + rope, h), "linear", "replicated", "kv_a"),
            Tensor(f"{p}.kv_a_layernorm", "attention", i, (kvr,), "norm", "replicated", "norm"),
            Tensor(f"{p}.kv_b_proj", "attention", i, (nh * (nope + vd), kvr), "linear", "column", "v"),
            Tensor(f"{p}.o_proj", "attention", i, (h, nh * vd), "linear", "row", "o"),
        ]
        return t
    nkv = s.need("attention parameters", "num_key_value_heads")
    hd = s.resolved_head_dim
    if s.layer_types and i < len(s.layer_types) and s.layer_types[i] == "linear_attention":
        return _linear_attention_tensors(s, i, h)
    gate = 2 if s.attn_output_gate else 1  # Qwen3NextAttention: q_proj emits the query and its gate
    t += [
        Tensor(f"{p}.q_proj", "attention", i, (gate * nh * hd, h), "linear", "column", "q"),
        Tensor(f"{p}.k_proj", "attention", i, (nkv * hd, h), "linear", "kv", "k"),
        Tensor(f"{p}.v_proj", "attention", i, (nkv * hd, h), "linear", "kv", "v"),
        Tensor(f"{p}.o_proj", "attention", i, (h, nh * hd), "linear", "row", "o"),
    ]
    if s.attention_qkv_bias and not s.attention_bias:
        t += [
            Tensor(f"{p}.q_proj.bias", "attention", i, (nh * hd,), "bias", "column", "bias"),
            Tensor(f"{p}.k_proj.bias", "attention", i, (nkv * hd,), "bias", "kv", "bias"),
            Tensor(f"{p}.v_proj.bias", "attention", i, (nkv * hd,), "bias", "kv", "bias"),
        ]
    if s.attention_bias:
        t += [
            Tensor(f"{p}.q_proj.bias", "attention", i, (nh * hd,), "bias", "column", "bias"),
            Tensor(f"{p}.k_proj.bias", "attention", i, (nkv * hd,), "bias", "kv", "bias"),
            Tensor(f"{p}.v_proj.bias", "attention", i, (nkv * hd,), "bias", "kv", "bias"),
            Tensor(f"{p}.o_proj.bias", "attention", i, (h,), "bias", "replicated", "bias"),
        ]
    if s.attention_sinks:
        t.append(Tensor(f"{p}.sinks", "attention", i, (nh,), "vector", "column", "sinks"))
    if s.qk_norm in ("rms_weighted", "full_width"):
        per_head = s.qk_norm == "rms_weighted"
        t += [
            Tensor(f"{p}.q_norm", "attention", i, (hd,) if per_head else (nh * hd,), "norm", "replicated", "norm"),
            Tensor(f"{p}.k_norm", "attention", i, (hd,) if per_head else (nkv * hd,), "norm", "replicated", "norm"),
        ]
    return t


def _linear_attention_tensors(s: ModelSpec, i: int, h: int) -> list[Tensor]:
    """A Gated DeltaNet token mixer (transformers modeling_qwen3_next.py ``Qwen3NextGatedDeltaNet``;
    Qwen3.5 splits the same projections as in_proj_qkv/z/b/a): with ``kd = nk*dk``, ``vd = nv*dv``
    and ``conv_dim = 2*kd + vd``: in_proj_qkvz ``(2kd + 2vd) x h``, in_proj_ba ``2nv x h``, a
    depthwise conv1d ``conv_dim x 1 x K`` (no bias), dt_bias and A_log ``nv`` each, a gated RMSNorm
    ``dv`` and out_proj ``h x vd``; no biases."""
    nk, nv = s.linear_num_key_heads, s.linear_num_value_heads
    kd, vd = nk * s.linear_key_head_dim, nv * s.linear_value_head_dim
    p = f"layers.{i}.linear_attn"
    return [
        Tensor(f"{p}.in_proj_qkvz", "attention", i, (2 * kd + 2 * vd, h), "linear", "column", "qkv"),
        Tensor(f"{p}.in_proj_ba", "attention", i, (2 * nv, h), "linear", "column", "qkv"),
        Tensor(f"{p}.conv1d", "attention", i, (2 * kd + vd, 1, s.linear_conv_kernel_dim), "vector", "column", "conv"),
        Tensor(f"{p}.dt_bias", "attention", i, (nv,), "vector", "column", "dt_bias"),
        Tensor(f"{p}.A_log", "attention", i, (nv,), "vector", "column", "a_log"),
        Tensor(f"{p}.norm", "attention", i, (s.linear_value_head_dim,), "norm", "replicated", "norm"),
        Tensor(f"{p}.out_proj", "attention", i, (h, vd), "linear", "row", "o"),
    ]


def _norm(s: ModelSpec, name: str, i: int | None) -> list[Tensor]:
    """One norm of width ``h``: the weight, plus a bias for a LayerNorm with bias (``norm_kind``)."""
    h = s.hidden_size
    t = [Tensor(name, "norms", i, (h,), "norm", "replicated", "norm")]
    if s.norm_kind == "layernorm":
        t.append(Tensor(f"{name}.bias", "norms", i, (h,), "bias", "replicated", "bias"))
    return t


#: Norm names per layout, split as (before attention, between attention and FFN, after the FFN):
#: Llama ``input_layernorm`` / ``post_attention_layernorm``; a parallel block (Cohere, Falcon-7B)
#: one input norm; Gemma 2/3 ``pre_feedforward_layernorm`` and ``post_feedforward_layernorm`` too.
_LAYER_NORMS = {
    1: (("input_layernorm",), (), ()),
    2: (("input_layernorm",), ("post_attention_layernorm",), ()),
    4: (("input_layernorm",), ("post_attention_layernorm", "pre_feedforward_layernorm"),
        ("post_feedforward_layernorm",)),
}


def _layer_norms(s: ModelSpec, i: int) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """The norms of layer ``i`` before attention, between attention and FFN, and after the FFN."""
    return tuple([x for name in names for x in _norm(s, f"layers.{i}.{name}", i)]
                 for names in _LAYER_NORMS[s.norms_per_layer])


def _mlp(prefix: str, component: str, i: int, h: int, f: int, bias: bool, gated: bool = True) -> list[Tensor]:
    """A gated MLP (gate, up: ``f x h``; down: ``h x f``) or a plain one (up, down), with biases
    (``f`` per input projection, ``h`` for down) when ``bias``."""
    t = [Tensor(f"{prefix}.gate_proj", component, i, (f, h), "linear", "column", "gate")] if gated else []
    t += [
        Tensor(f"{prefix}.up_proj", component, i, (f, h), "linear", "column", "up"),
        Tensor(f"{prefix}.down_proj", component, i, (h, f), "linear", "row", "down"),
    ]
    if bias:
        t += [
            Tensor(f"{prefix}.gate_up_proj.bias" if gated else f"{prefix}.up_proj.bias", component, i,
                   (2 * f if gated else f,), "bias", "column", "bias"),
            Tensor(f"{prefix}.down_proj.bias", component, i, (h,), "bias", "replicated", "bias"),
        ]
    return t


def _ffn_tensors(s: ModelSpec, i: int) -> list[Tensor]:
    h = s.need("FFN parameters", "hidden_size")
    p = f"layers.{i}.feed_forward"
    if not s.is_moe_layer(i):
        f = s.need("dense FFN parameters", "intermediate_size")
        return _mlp(p, "dense_ffn", i, h, f, s.mlp_bias, gated=s.ffn_kind == "gated")
    e = s.num_local_experts
    fe = s.need("expert parameters", "moe_intermediate_size")
    t = [Tensor(f"{p}.router", "router", i, (e, h), "router", "replicated", "router")]
    if s.router_bias:
        t.append(Tensor(f"{p}.router.bias", "router", i, (e,), "bias", "replicated", "bias"))
    t += [
        Tensor(f"{p}.experts.gate_proj", "routed_experts", i, (e, fe, h), "linear", "expert_column", "gate"),
        Tensor(f"{p}.experts.up_proj", "routed_experts", i, (e, fe, h), "linear", "expert_column", "up"),
        Tensor(f"{p}.experts.down_proj", "routed_experts", i, (e, h, fe), "linear", "expert_row", "down"),
    ]
    if s.mlp_bias:
        t += [
            Tensor(f"{p}.experts.gate_up_proj.bias", "routed_experts", i, (e, 2 * fe), "bias", "expert_column", "bias"),
            Tensor(f"{p}.experts.down_proj.bias", "routed_experts", i, (e, h), "bias", "expert_row", "bias"),
        ]
    if s.shared_width:
        t += _mlp(f"{p}.shared_expert", "shared_experts", i, h, s.shared_width, s.mlp_bias)
        if s.shared_expert_gate:
            t.append(Tensor(f"{p}.shared_expert_gate", "shared_experts", i, (1, h), "router", "replicated", "router"))
    return t


def _require_architecture(s: ModelSpec) -> None:
    s.need("the weight table", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
           "tie_word_embeddings")
    if not s.is_mla:
        s.need("the weight table", "num_key_value_heads")
    if s.is_moe:
        s.need("the weight table", "moe_intermediate_size", "num_experts_per_tok")
    if any(not s.is_moe_layer(i) for i in range(s.num_hidden_layers)):
        s.need("the weight table", "intermediate_size")


@lru_cache(maxsize=256)
def weight_table(s: ModelSpec) -> tuple[Tensor, ...]:
    """Every weight tensor of the model, in load order. Raises UnknownValueError for specs with
    unpublished architecture fields."""
    _require_architecture(s)
    h, n, vocab = s.hidden_size, s.num_hidden_layers, s.vocab_size
    t: list[Tensor] = [Tensor("embed_tokens", "embedding", None, (vocab, h), "embedding", "vocab", "embed")]
    if s.embedding_norm:
        t += _norm(s, "embed_layernorm", None)
    for i in range(n):
        before, between, after = _layer_norms(s, i)
        t += before + _attention_tensors(s, i) + between + _ffn_tensors(s, i) + after
    t += _norm(s, "norm", None)
    if not s.tie_word_embeddings:
        t.append(Tensor("lm_head", "lm_head", None, (vocab, h), "embedding", "vocab", "lm_head"))
    if s.vision_config is not None:
        t.append(Tensor("vision_model", "vision", None, (vision_params(s),), "vision", "flat", "vision"))
    return tuple(t)


@lru_cache(maxsize=256)
def mtp_tensors(s: ModelSpec) -> tuple[Tensor, ...]:
    """DeepSeek-V3 multi-token-prediction layers, numbered after the main ones (layer ids
    ``num_hidden_layers ..``), as README_WEIGHTS.md of deepseek-ai/DeepSeek-V3 lays them out: a full
    decoder layer (``model.layers.61.self_attn & mlp``, the same structure as a main layer, so MoE
    here) + ``enorm`` and ``hnorm`` RMSNorms ``h`` + ``eh_proj`` ``h x 2h`` (no bias) +
    ``shared_head.norm`` ``h``; ``embed_tokens`` and ``shared_head.head`` share the main model's
    (README_WEIGHTS: 11.5B unique parameters, without the shared 0.9B embedding and 0.9B head)."""
    if not s.num_nextn_predict_layers:
        return ()
    h, n = s.hidden_size, s.num_hidden_layers
    t: list[Tensor] = []
    for i in range(n, n + s.num_nextn_predict_layers):
        layer = [Tensor(f"layers.{i}.input_layernorm", "norms", i, (h,), "norm", "replicated", "norm"),
                 *_attention_tensors(s, i),
                 Tensor(f"layers.{i}.post_attention_layernorm", "norms", i, (h,), "norm", "replicated", "norm"),
                 *_ffn_tensors(s, i),
                 Tensor(f"layers.{i}.enorm", "norms", i, (h,), "norm", "replicated", "norm"),
                 Tensor(f"layers.{i}.hnorm", "norms", i, (h,), "norm", "replicated", "norm"),
                 Tensor(f"layers.{i}.eh_proj", "attention", i, (h, 2 * h), "linear", "replicated", "eh_proj"),
                 Tensor(f"layers.{i}.shared_head.norm", "norms", i, (h,), "norm", "replicated", "norm")]
        t += [Tensor(x.name, "mtp", x.layer, x.shape, x.kind, x.parallel, x.role) for x in layer]
    return tuple(t)


class ParamBreakdown(BaseModel):
    """Parameter counts per component, total and active, checked against the published figure."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    #: exact = derived from a mapped architecture; exact (checkpoint) = summed from the checkpoint's
    #: own tensor metadata; published = only the owner's (rounded) total is known; approximate =
    #: an unmapped architecture counted as a Llama-style decoder (the assumption is in ``warnings``).
    confidence: Literal["exact", "exact (checkpoint)", "published", "approximate"]
    total_params: int | None
    active_params: int | None
    #: Active parameters that do matmul work per token (active minus the input-embedding lookup).
    active_compute_params: int | None
    text_params: int | None
    vision_params: int | None
    components: dict[str, int | None]
    num_layers: int | None
    moe_layers: list[int] | None
    num_experts: int | None
    experts_per_token: int | None
    params_per_expert: int | None
    published_total_params: int | None
    published_total_exact: bool | None
    published_active_params: int | None
    published_source: str | None
    #: (derived - published) / published; None when either is unknown.
    deviation_from_published: float | None
    unknown: list[str] = []
    #: Assumptions the counts rest on (an unmapped architecture read by analogy); also on stderr.
    warnings: list[str] = []

    #: The checkpoint's own metadata (files, per-component params and bytes, dtypes, warnings) when
    #: the counts come from it; the key is left out of the JSON otherwise.
    checkpoint: CheckpointSummary | None = None

    @model_serializer(mode="wrap")
    def _drop_absent_checkpoint(self, handler):
        data = handler(self)
        if isinstance(data, dict) and data.get("checkpoint", 0) is None:
            del data["checkpoint"]
        return data


def architecture_warnings(s: ModelSpec) -> list[str]:
    """The warning every estimate of ``s`` carries when its architecture was read by analogy
    (``ModelSpec.architecture_assumption``): the counts, and any verdict built on them, are
    approximate. Empty for a mapped architecture."""
    if not s.architecture_assumption:
        return []
    if s.checkpoint is not None:  # the tensors give parameters and weight bytes; the rest is the guess's
        return [f"{s.id}: {s.architecture_assumption}; parameters and weight bytes are the checkpoint's tensors, "
                "but KV-cache, activation and speed figures are approximate, and any verdict built on them rests "
                "on that approximation"]
    return [f"{s.id}: {s.architecture_assumption}; parameter and memory figures are approximate, and any "
            "verdict built on them rests on that approximation"]


def params_confidence(s: ModelSpec) -> Literal["exact", "approximate"]:
    """``exact`` for a mapped architecture, ``approximate`` for one read by analogy (docs/design.md
    rule 8: never "exact" on a guess)."""
    return "approximate" if s.architecture_assumption else "exact"


def count_params(s: ModelSpec) -> ParamBreakdown:
    """Per-component parameter counts, total and active parameters per token.

    Active per token (docs/facts/models.md §1.3): everything except the routed experts a token does not
    visit, i.e. ``total_text - (E - k) x params_per_expert x n_moe_layers``; the vision tower is
    excluded (it runs once per image, not per token), and so are MTP layers (component ``mtp``:
    in ``total_params`` and ``text_params`` as checkpoint weights, but a draft, not the main model;
    ``deviation_from_published`` compares ``total - mtp`` with the published main-model figure).
    The input embedding is counted in ``active_params`` (the published convention: Scout 17,172,894,720) and left out of
    ``active_compute_params`` (a lookup, not a matmul; docs/design.md rule 2).
    """
    pub = s.published_params
    common = dict(
        model=s.id,
        published_total_params=pub.total if pub else None,
        published_total_exact=pub.total_exact if pub else None,
        published_active_params=pub.active if pub else None,
        published_source=pub.source if pub else None,
        num_experts=s.num_local_experts,
        experts_per_token=s.num_experts_per_tok,
    )
    if s.checkpoint is not None:
        return _checkpoint_breakdown(s, common)
    try:
        table = weight_table(s)
    except UnknownValueError as e:
        return ParamBreakdown(
            confidence="published", total_params=pub.total if pub else None,
            active_params=pub.active if pub else None, active_compute_params=None, text_params=None,
            vision_params=None, components={c: None for c in COMPONENTS}, num_layers=s.num_hidden_layers,
            moe_layers=None, params_per_expert=None, deviation_from_published=None,
            unknown=[f"per-component counts: {s.id} does not publish {', '.join(e.missing)}"],
            warnings=architecture_warnings(s), **common,
        )
    comps = {c: 0 for c in COMPONENTS}
    for t in table + mtp_tensors(s):
        comps[t.component] += t.numel
    total = sum(comps.values())
    vision, mtp = comps["vision"], comps["mtp"]
    text = total - vision
    moe_ids = s.moe_layer_ids() if s.is_moe else []
    per_expert = None
    active = text - mtp
    if moe_ids:
        routed_per_layer = comps["routed_experts"] // len(moe_ids)
        per_expert = routed_per_layer // s.num_local_experts
        active = text - mtp - (s.num_local_experts - s.num_experts_per_tok) * per_expert * len(moe_ids)
    deviation = None
    if pub:  # published totals leave the MTP module out (DeepSeek README_WEIGHTS: "671B" main model)
        deviation = (total - mtp - pub.total) / pub.total
    return ParamBreakdown(
        confidence=params_confidence(s), total_params=total, active_params=active,
        active_compute_params=active - comps["embedding"], text_params=text, vision_params=vision,
        components=comps, num_layers=s.num_hidden_layers, moe_layers=moe_ids,
        params_per_expert=per_expert, deviation_from_published=deviation, warnings=architecture_warnings(s),
        **common,
    )


def _checkpoint_breakdown(s: ModelSpec, common: dict) -> ParamBreakdown:
    """Counts summed from the checkpoint's own tensors (``data.checkpoint``): per component as its
    name patterns assign them (``other``: what none claims), total = their sum. Active per token as in
    ``count_params``, with the routed experts taken from the checkpoint: ``text - routed x (E - k) / E``
    (every expert the same size). ``exact (checkpoint)``, or ``approximate`` when a packed weight's
    bit width was assumed (``CheckpointSummary.approximate``)."""
    ck = s.checkpoint
    comps = {c: p.params for c, p in ck.components.items()}
    total = ck.total_params
    vision = comps.get("vision", 0)
    text = total - vision
    routed = comps.get("routed_experts", 0)
    active, per_expert = text, None
    moe_ids = s.moe_layer_ids() if s.num_hidden_layers else None
    e, k = s.num_local_experts, s.num_experts_per_tok
    unknown: list[str] = []
    if s.is_moe and routed:
        if e and k and moe_ids is not None:
            active = text - routed * (e - k) // e
            if moe_ids and routed % (e * len(moe_ids)) == 0:
                per_expert = routed // (e * len(moe_ids))
        else:
            active = None
            unknown.append("active parameters: the expert count or experts per token is unknown")
    pub = s.published_params
    deviation = (total - pub.total) / pub.total if pub else None
    return ParamBreakdown(
        confidence="approximate" if ck.approximate else "exact (checkpoint)", total_params=total,
        active_params=active, active_compute_params=None if active is None else active - comps.get("embedding", 0),
        text_params=text, vision_params=vision, components=comps, num_layers=s.num_hidden_layers,
        moe_layers=moe_ids, params_per_expert=per_expert, deviation_from_published=deviation, unknown=unknown,
        warnings=architecture_warnings(s), checkpoint=ck, **common,
    )
