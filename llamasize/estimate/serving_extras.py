"""Memory effects of the serving flags beyond the parallel layout (issue 13 item 2): vLLM's
``--kv-cache-memory-bytes`` and ``--cpu-offload-gb``, LoRA adapter slots, speculative decoding
(a draft model, or EAGLE / MTP heads) and ``--enforce-eager``. ``memory.memory_core`` calls
``apply`` once: it returns the core with the weights per stage, the KV models and the engine budget
adjusted. Host-memory flags (``--swap-space``, ``--max-cpu-loras``) and flags that leave GPU memory
unchanged (``--enable-prefix-caching``) are described by ``host_and_no_change_notes``.

Sources and labels (the facts files have no section on LoRA or speculative decoding; the rules
below are what vLLM's documentation of the flags says, labelled as such):

- ``--kv-cache-memory-bytes`` (docs/facts/serving.md 2.1): "Sets the KV cache size per GPU directly and
  ignores gpu_memory_utilization". Modelled: the KV capacity per GPU is that many bytes; what bounds
  the rest is the device's total memory (weights + activations + overhead + KV <= total). exact
  (the flag's meaning).
- ``--cpu-offload-gb`` (docs/facts/serving.md 2.1, ``vllm/config/offload.py``): "The space in GiB to
  offload to CPU, per GPU". Modelled: each GPU holds that many GiB fewer weight bytes (never below
  zero). assumed: vLLM offloads whole parameters until the amount is reached, so it may move up to
  one tensor more.
- LoRA (vLLM ``--enable-lora --max-loras N --max-lora-rank R``): vLLM pre-allocates, for every
  LoRA-capable linear layer of every decoder layer, ``N`` slots of ``A`` (rank x in) and ``B``
  (out x rank) in the model dtype. Column-parallel layers (qkv, gate_up) keep ``A`` whole and split
  ``B``'s out over TP; row-parallel layers (o, down) split ``A``'s in over TP and keep ``B`` whole
  (``fully_sharded_loras`` off, vLLM's default). assumed: routed experts carry no LoRA slots (only
  attention and dense / shared MLPs), MLA attention is not modelled (LoRA unknown).
- Speculative decoding: a draft model's weights are held on every GPU of the last pipeline stage
  (split over the draft's TP, by default the target's), and its KV layers share the target's KV
  pool (vLLM allocates the draft's layers in the same cache), counted as extra full-length layers
  of the target's per-layer size, rounded up (assumed). EAGLE / MTP heads: ``layers`` decoder
  layers of the target's average layer size plus their KV (assumed, unless the model publishes
  its MTP layers: DeepSeek-V3's ``num_nextn_predict_layers``). n-gram / suffix speculation holds
  no weights (no memory change).
- ``--enforce-eager`` (vLLM): no CUDA graphs are captured, so the 0.5 GiB CUDA-graph share of
  ``engines.VLLM_OVERHEAD_BYTES`` (itself assumed) is not reserved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llamasize.data.spec import ModelSpec
from llamasize.estimate.kv import kv_bytes_per_token_layer
from llamasize.estimate.parallel import pp_partition
from llamasize.estimate.shards import stage_weight_bytes
from llamasize.units import DTYPE_BYTES, GIB

#: The CUDA-graph share of ``engines.VLLM_OVERHEAD_BYTES`` (1 GiB non-torch + 0.5 GiB CUDA graphs,
#: assumed there); ``--enforce-eager`` captures no graphs.
VLLM_CUDA_GRAPH_BYTES = GIB // 2


@dataclass(frozen=True)
class Draft:
    """What speculative decoding adds: a draft ``model`` (None: heads of the target's shape),
    ``layers`` head layers (EAGLE: 1; MTP: the model's ``num_nextn_predict_layers``), the draft's
    weight format and TP size (None: the target's)."""

    method: str
    model: ModelSpec | None = None
    layers: int = 1
    quant: str | None = None
    tp: int | None = None


def lora_bytes_per_layer(spec: ModelSpec, rank: int, tp: int, layer: int) -> int | None:
    """LoRA bytes of ONE adapter slot in one decoder layer on one GPU (module docstring): per linear
    ``rank x (in_shard + out_shard)`` elements in the model dtype. None for MLA attention."""
    if spec.is_mla:
        return None
    h, nh = spec.hidden_size, spec.num_attention_heads
    nkv, hd = spec.num_key_value_heads or nh, spec.resolved_head_dim
    q, kv = nh * hd, nkv * hd
    elems = rank * (h + (q + 2 * kv) // tp)   # qkv_proj: column parallel (A whole, B split)
    elems += rank * (q // tp + h)             # o_proj: row parallel (A split, B whole)
    dense = spec.intermediate_size if not spec.is_moe_layer(layer) else spec.shared_width
    if dense:
        elems += rank * (h + 2 * dense // tp)  # gate_up_proj: column parallel
        elems += rank * (dense // tp + h)      # down_proj: row parallel
    return elems * DTYPE_BYTES[spec.torch_dtype]


def lora_stage_bytes(spec: ModelSpec, slots: int, rank: int, tp: int, pp: int) -> tuple[int, ...] | None:
    """LoRA bytes per GPU of each pipeline stage: ``slots`` x the per-layer bytes of its layers."""
    out = []
    for layers in pp_partition(spec.num_hidden_layers, pp):
        total = 0
        for i in layers:
            b = lora_bytes_per_layer(spec, rank, tp, i)
            if b is None:
                return None
            total += b
        out.append(slots * total)
    return tuple(out)


def average_layer_bytes(spec: ModelSpec, quant: str, tp: int, ep: bool) -> int:
    """One decoder layer's weight bytes per GPU, the average over the model (embedding and head
    included: an overestimate, assumed for EAGLE / MTP heads of the target's shape)."""
    return -(-sum(stage_weight_bytes(spec, quant, tp, 1, ep, False)) // spec.num_hidden_layers)


def draft_weight_bytes(spec: ModelSpec, quant: str, tp: int, ep: bool, draft: Draft) -> int:
    """Weight bytes per GPU the draft adds (module docstring)."""
    if draft.method in ("ngram", "suffix"):
        return 0
    if draft.model is not None:
        dq = draft.quant or draft.model.default_quant
        return sum(stage_weight_bytes(draft.model, dq, draft.tp or tp, 1, False, False))
    return draft.layers * average_layer_bytes(spec, quant, tp, ep)


def draft_kv_layers(spec: ModelSpec, kv_bytes: int, tp: int, draft: Draft) -> int:
    """Extra full-length KV layers (of the target's per-layer size) the draft adds to the pool."""
    if draft.method in ("ngram", "suffix"):
        return 0
    if draft.model is None:
        return draft.layers
    target = kv_bytes_per_token_layer(spec, kv_bytes, tp)
    mine = kv_bytes_per_token_layer(draft.model, kv_bytes, draft.tp or tp) * draft.model.num_hidden_layers
    return -(-mine // target)


def apply(d, core):
    """The memory core of deployment ``d`` with the serving extras applied (returned unchanged when
    ``d`` sets none of them). ``core`` is ``memory.MemoryCore``: weights per stage, KV models,
    settings with the engine budget."""
    lora = bool(d.lora_slots and d.lora_rank)
    if not (d.kv_cache_memory_bytes is not None or d.cpu_offload_bytes or lora or d.draft or d.enforce_eager):
        return core
    s, spec = core.settings, d.model
    weights = list(core.weights)
    kvms = list(core.kvms)
    budget = s.budget
    if d.cpu_offload_bytes:
        weights = [max(0, w - d.cpu_offload_bytes) for w in weights]
    if lora:
        extra = lora_stage_bytes(spec, d.lora_slots, d.lora_rank, s.tp, s.pp)
        if extra is not None:
            weights = [w + x for w, x in zip(weights, extra)]
    if d.draft is not None:
        weights[-1] += draft_weight_bytes(spec, s.fmt.id, s.tp, s.ep, d.draft)
        layers = draft_kv_layers(spec, s.kv_bytes, s.tp, d.draft)
        if layers:
            kvms[-1] = replace(kvms[-1], caps=kvms[-1].caps + (None,) * layers)
    graphs, deducted = core.graphs, core.deducted
    if d.enforce_eager and budget.engine == "vllm":
        # no CUDA graphs are captured: no pool, nothing deducted (engine_memory.cuda_graph_bytes)
        graphs = deducted = (0,) * len(weights)
    if d.kv_cache_memory_bytes is not None and budget.engine == "vllm":
        # KV capacity = the flag's bytes; bounded by the device total, not by the utilization
        used = max(w + a + g for w, a, g in zip(weights, core.activations, deducted)) + budget.overhead_bytes
        budget = replace(budget, budget_bytes=min(budget.total_bytes, used + d.kv_cache_memory_bytes),
                         fraction=None, fraction_name="kv_cache_memory_bytes")
    return replace(core, settings=replace(s, budget=budget), weights=tuple(weights), kvms=tuple(kvms),
                   graphs=graphs, deducted=deducted)


def lora_supported(spec: ModelSpec) -> bool:
    """Whether ``lora_bytes_per_layer`` models the architecture (not MLA)."""
    return not spec.is_mla
