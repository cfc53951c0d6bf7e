"""The engine's own start-up memory line items, by mechanism (issue 12 item 1).

What vLLM V1 measures at start-up (docs/facts/engine-memory.md items 1-6, rows 1-33, vLLM 0.15-0.19 on
H100) and what its budget identity does with it::

    available KV = util x CUDA total - weights as loaded - activation peak - non-torch
                   [- CUDA-graph estimate, from 0.21]

Each item here is a mechanism, not a fit per row; ``tests/test_engine_logs.py`` holds every row
against it.

- **Weights as loaded** (``loaded_extra_bytes``): the sharded tensors (``shards``) plus what every
  rank holds whole: the rotary ``cos_sin_cache`` (``max_position_embeddings x rotary_dim`` in the
  model dtype, vLLM ``RotaryEmbedding``; one per model, ``get_rope`` caches it), and vocabulary
  padding of the embedding and lm_head to a multiple of 64 x TP (``VocabParallelEmbedding``,
  ``DEFAULT_VOCAB_PADDING_SIZE = 64``). The rotary cache is the whole gap between params x bytes / TP
  and the log: 0.031 GiB for Llama 3.1 (131,072 x 128 x 2 B) at every TP and PP rank [rows 1-11,
  21]; 2.5 GiB for Llama 4 Scout (10M positions) [issue 12: 53.12 GiB logged vs 50.6].
- **Activation peak** (``sampler_bytes`` + ``moe_workspace_bytes`` + ``encoder_bytes``): the profile
  run's sampler over ``max_num_seqs`` dummy requests holds the lm_head logits in the model dtype plus
  ``copies`` fp32 copies (``EngineProfile.sampler_fp32_copies``: 3.25 = three fp32 tensors and a
  one-byte mask per element, calibrated on rows 1, 9, 10, 22, 27, 32) while the forward's final
  hidden states (``max_num_batched_tokens x hidden`` in the model dtype) are alive. MoE models add
  the fused-MoE workspace sized for ``max_num_batched_tokens`` (intermediate caches
  ``M x k x (2N + N + h)`` in the activation dtype, ``N`` = expert width per rank); multimodal
  models the encoder cache of the profiled items (the largest number of whole items within
  ``max_num_batched_tokens``, each item's tokens x the text hidden size). Only the last pipeline
  stage samples; earlier stages peak in the forward pass (``forward_peak_bytes``).
- **Non-torch forward increase** (``non_torch_bytes``): 0.25 GiB at TP1 PP1 (0.13 before 0.18),
  0.07 GiB at PP >= 2 with TP1, and the custom all-reduce + NCCL buffers at TP >= 2: 2.07 GiB
  at TP2 and 2.13 GiB at TP4 (medians of rows 3, 10, 23 and 4, 11, 24), 0.06 GiB more per doubling
  beyond (assumed).
- **CUDA graphs** (``cuda_graph_bytes``, outside the budget in 0.19, deducted from 0.21): fitted on
  the 0.19.0 rows' actual pool sizes: ``(0.24 + 0.0193 x layers on the stage) GiB x (1 - 0.13 log2
  TP)`` (within about 0.15 GiB of rows 1-33).
- **Start-up context** (``startup_context_bytes``, outside the budget): 0.51 GiB at TP1 PP1,
  1.51 GiB with TP >= 2 or PP >= 2 (rows 1-11).
"""

from __future__ import annotations

import math

from llamasize.data.spec import ModelSpec
from llamasize.estimate.parallel import pp_partition
from llamasize.units import GIB

#: vLLM ``DEFAULT_VOCAB_PADDING_SIZE``: vocabularies are padded to a multiple of 64 x TP.
VOCAB_PADDING = 64
#: Non-torch forward increase (docs/facts/engine-memory.md item 4, rows named in the module docstring).
NON_TORCH_PP_BYTES = int(0.07 * GIB)
NON_TORCH_TP2_BYTES = int(2.07 * GIB)
NON_TORCH_PER_TP_DOUBLING_BYTES = int(0.06 * GIB)
#: Start-up CUDA context + NCCL before loading (facts item 2, rows 1-11 "init ctx").
STARTUP_CONTEXT_TP1_BYTES = int(0.51 * GIB)
STARTUP_CONTEXT_MULTI_BYTES = int(1.51 * GIB)
#: CUDA-graph pool fit (module docstring): intercept, per layer, per TP doubling.
CUDA_GRAPH_BASE_GIB = 0.24
CUDA_GRAPH_PER_LAYER_GIB = 0.0193
CUDA_GRAPH_TP_SHRINK = 0.13
#: Llama 4 image tiles vLLM profiles per image (``max_patches`` 16 + a global tile; assumed, not in
#: the facts).
LLAMA4_TILES_PER_IMAGE = 17


def model_dtype_bytes(spec: ModelSpec, fmt_id: str) -> int:
    """Bytes of the activation dtype: fp32 for ``--quant fp32`` / an fp32 checkpoint, else 2."""
    return 4 if fmt_id == "fp32" else 2


def rotary_cache_bytes(spec: ModelSpec, act_bytes: int) -> int:
    """vLLM's rotary ``cos_sin_cache``: ``max_position_embeddings x rotary_dim x dtype`` bytes on every
    rank (module docstring); 0 when the model has no rotary layers or no known limit."""
    if spec.max_position_embeddings is None:
        return 0
    if spec.is_mla:
        dim = spec.qk_rope_head_dim
    else:
        dim = int(spec.resolved_head_dim * (getattr(spec, "partial_rotary_factor", None) or 1.0))
    return spec.max_position_embeddings * dim * act_bytes


def vocab_padding_bytes(spec: ModelSpec, tp: int, embed_bytes: int, copies: int) -> int:
    """Bytes the vocabulary padding adds per rank: ``(padded - vocab) / tp`` rows of ``hidden`` in
    ``embed_bytes``, for ``copies`` tables (embedding and an untied lm_head)."""
    step = VOCAB_PADDING * tp
    padded = -(-spec.vocab_size // step) * step
    return (padded - spec.vocab_size) // tp * spec.hidden_size * embed_bytes * copies


def loaded_extra_bytes(spec: ModelSpec, tp: int, pp: int, act_bytes: int) -> tuple[int, ...]:
    """Per pipeline stage: bytes every rank loads beyond its share of the weight table (rotary cache
    on every stage, vocabulary padding on the stages holding the embedding / lm_head)."""
    rope = rotary_cache_bytes(spec, act_bytes)
    tied = bool(getattr(spec, "tie_word_embeddings", False))
    out = []
    for k in range(pp):
        tables = (k == 0) + (k == pp - 1 and not tied)
        out.append(rope + vocab_padding_bytes(spec, tp, act_bytes, tables))
    return tuple(out)


def sampler_bytes(spec: ModelSpec, seqs: int, tokens: int, act_bytes: int, copies: float) -> int:
    """The sampler's peak in the profile run: ``seqs x vocab x (act_bytes + 4 x copies)`` plus the
    final hidden states ``tokens x hidden x act_bytes`` (module docstring)."""
    logits = seqs * spec.vocab_size
    return int(logits * act_bytes + logits * 4 * copies) + tokens * spec.hidden_size * act_bytes


def moe_workspace_bytes(spec: ModelSpec, tp: int, ep: bool, tokens: int, act_bytes: int) -> int:
    """The fused-MoE intermediate caches at ``tokens`` tokens: ``tokens x k x (3N + h) x act_bytes``,
    ``N`` the expert width on one rank (``fe / tp``; the whole ``fe`` under EP) (module docstring)."""
    if not spec.is_moe:
        return 0
    n = spec.moe_intermediate_size if ep else spec.moe_intermediate_size // tp
    return tokens * spec.num_experts_per_tok * (3 * n + spec.hidden_size) * act_bytes


def encoder_item_tokens(spec: ModelSpec) -> int | None:
    """Text-side tokens of one image at the tower's maximum size, where the kind says so: Pixtral
    ``(image / patch)^2 / merge^2``; Llama 4 ``tiles x (image / patch)^2 x shuffle^2``; else None."""
    v = spec.vision_config
    if v is None or not v.image_size:
        return None
    side = v.image_size // v.patch_size
    if v.model_type == "pixtral":
        m = v.spatial_merge_size or 1
        return (side // m) ** 2
    if v.model_type == "llama4_vision_model" and v.pixel_shuffle_ratio:
        return LLAMA4_TILES_PER_IMAGE * int(side * side * v.pixel_shuffle_ratio ** 2)
    return None


def encoder_bytes(spec: ModelSpec, tokens: int, act_bytes: int, include_vision: bool) -> int:
    """The encoder cache of the profile run: as many whole items as fit ``tokens`` (at least one),
    each ``encoder_item_tokens`` x text hidden x act_bytes; ``tokens`` worth when the item size is
    not known; 0 without a vision tower."""
    if spec.vision_config is None or not include_vision:
        return 0
    per_item = encoder_item_tokens(spec)
    budget = tokens if per_item is None else per_item * max(1, tokens // per_item)
    return budget * spec.hidden_size * act_bytes


def forward_peak_bytes(spec: ModelSpec, tp: int, tokens: int, act_bytes: int) -> int:
    """A non-sampling pipeline stage's forward peak at ``tokens`` tokens: the MLP's gate/up output
    and activation ``3f / tp``, the residual stream, the hidden states and the PP intermediate
    buffers ``7h`` per token (fitted to rows 5-6: 1.1 / 1.05 GiB at 8,192 tokens for Llama 3.1 8B)."""
    f = spec.intermediate_size or 0
    if spec.is_moe and spec.moe_intermediate_size:
        f = max(f, spec.num_experts_per_tok * spec.moe_intermediate_size + spec.shared_width)
    return tokens * act_bytes * (3 * f // tp + 7 * spec.hidden_size)


def non_torch_bytes(tp: int, pp: int, tp1_bytes: int) -> int:
    """The non-torch forward increase per GPU (module docstring)."""
    if tp <= 1:
        return tp1_bytes if pp <= 1 else NON_TORCH_PP_BYTES
    doublings = max(0.0, math.log2(tp) - 1)
    return NON_TORCH_TP2_BYTES + int(doublings * NON_TORCH_PER_TP_DOUBLING_BYTES)


def startup_context_bytes(tp: int, pp: int) -> int:
    """The CUDA/NCCL context created before loading (outside the budget; module docstring)."""
    return STARTUP_CONTEXT_TP1_BYTES if tp * pp == 1 else STARTUP_CONTEXT_MULTI_BYTES


def cuda_graph_bytes(spec: ModelSpec, tp: int, pp: int) -> tuple[int, ...]:
    """The CUDA-graph pool per stage (fitted; module docstring)."""
    shrink = max(0.5, 1 - CUDA_GRAPH_TP_SHRINK * math.log2(max(tp, 1)))
    return tuple(int((CUDA_GRAPH_BASE_GIB + CUDA_GRAPH_PER_LAYER_GIB * len(layers)) * shrink * GIB)
                 for layers in pp_partition(spec.num_hidden_layers, pp))


def activation_bytes(spec: ModelSpec, *, tp: int, pp: int, ep: bool, tokens: int, seqs: int, act_bytes: int,
                     copies: float, include_vision: bool) -> tuple[int, ...]:
    """The activation peak per pipeline stage (module docstring): the last stage samples, the first
    runs the encoder; MoE workspaces on every stage with MoE layers."""
    moe = moe_workspace_bytes(spec, tp, ep, tokens, act_bytes)
    enc = encoder_bytes(spec, tokens, act_bytes, include_vision)
    out = []
    for k in range(pp):
        if k == pp - 1:
            peak = sampler_bytes(spec, seqs, tokens, act_bytes, copies) + moe
        else:
            peak = forward_peak_bytes(spec, tp, tokens, act_bytes)
        out.append(peak + (enc if k == 0 else 0))
    return tuple(out)


def sampler_warmup_bytes(spec: ModelSpec, seqs: int) -> int:
    """The sampler warm-up after the KV cache is allocated: ``max_num_seqs x vocab x 4`` B of fp32
    logits (facts item 2), outside the budget."""
    return seqs * spec.vocab_size * 4
