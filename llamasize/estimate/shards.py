"""Per-GPU weight bytes by pipeline stage, aggregated over layers that hold the same tensors.

A model of ``L`` layers has ``L x ~16`` weight tensors, but only a handful of distinct *layer
classes*: layers whose tensors have the same shapes, split kinds and roles, and that the
quantization format stores the same way (DeepSeek-V3: a dense and a MoE class; Meta's
``fp8_mixed`` adds the unquantized first and last layer; llama.cpp's ``_M`` mixes add the layers
``use_more_bits`` upgrades). Bytes on one GPU depend only on those attributes
(``parallel.shard_shape`` reads the shape and split kind, ``quant.Storage.nbytes`` the shape), so
a stage's bytes are ``sum over classes of (bytes of one layer of the class) x (layers of the class
in the stage)`` -- the same integer the per-tensor sum gives, in ``O(classes x stages)`` per
deployment instead of ``O(L)``.

Cost: one pass over the weight table per (spec, format) to classify the layers (the format's rule
is evaluated on every tensor once, because a rule may depend on the layer index), cached; every
(TP, PP, EP) layout after that costs ``O(classes x tensors per layer + classes x stages x log L)``.
This keeps ``plan`` and ``sweep`` linear in the layer count (issue 10 R15: a 10,000-layer config).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

from llamasize.data.spec import ModelSpec
from llamasize.estimate.checkpoint import (
    checkpoint_ratios, checkpoint_stage_bytes, checkpoint_total_bytes, uses_checkpoint_bytes,
)
from llamasize.estimate.parallel import pp_partition, shard_shape
from llamasize.estimate.params import Tensor, weight_table
from llamasize.estimate.quant import Storage, get_format


@dataclass(frozen=True)
class LayerClass:
    """Layers that hold the same tensors stored the same way: the first such layer's tensors,
    the storage of each under the format, and the (sorted) indices of every layer of the class."""

    tensors: tuple[Tensor, ...]
    storages: tuple[Storage, ...]
    layers: tuple[int, ...]

    def count_in(self, first: int, stop: int) -> int:
        """Layers of this class among ``first .. stop - 1``."""
        return bisect_left(self.layers, stop) - bisect_left(self.layers, first)


@dataclass(frozen=True)
class FormatLayout:
    """A model's tensors under one format: the layer classes (in order of first appearance) and
    the tensors outside the layers (embedding, final norm, lm_head, vision tower) with their
    storage."""

    classes: tuple[LayerClass, ...]
    other: tuple[tuple[Tensor, Storage], ...]


@dataclass(frozen=True)
class _Layers:
    """The weight table split once per spec: per layer (in order) its tensors and a shape-class
    number (layers with the same number hold tensors of the same shapes, split kinds, components,
    kinds and roles: what bytes and traffic depend on), and the tensors outside the layers."""

    layers: tuple[tuple[tuple[Tensor, ...], int], ...]
    other: tuple[Tensor, ...]


@lru_cache(maxsize=256)
def _layer_tensors(spec: ModelSpec) -> _Layers:
    """One pass over the weight table (see ``_Layers``)."""
    per_layer: dict[int, list[Tensor]] = {}
    other = []
    for t in weight_table(spec):
        if t.layer is None:
            other.append(t)
        else:
            per_layer.setdefault(t.layer, []).append(t)
    shape_ids: dict[tuple, int] = {}
    out = []
    for i in sorted(per_layer):
        ts = tuple(per_layer[i])
        sig = tuple((t.shape, t.parallel, t.component, t.kind, t.role) for t in ts)
        out.append((ts, shape_ids.setdefault(sig, len(shape_ids))))
    return _Layers(tuple(out), tuple(other))


@lru_cache(maxsize=256)
def format_layout(spec: ModelSpec, quant: str) -> FormatLayout:
    """Classify the layers of ``spec`` under ``quant``: the format's rule on every tensor once (a
    rule may depend on the layer index), layers grouped by shape class and the storages chosen.
    Storages are compared by identity (the formats' storages are module constants; two equal
    objects could only split a class in two, never merge layers stored differently)."""
    rule = get_format(quant).rule
    groups: dict[tuple, tuple[tuple[Tensor, ...], tuple[Storage, ...], list[int]]] = {}
    split = _layer_tensors(spec)
    for ts, shape_id in split.layers:
        sts = tuple([rule(spec, t) for t in ts])
        key = (shape_id, tuple(map(id, sts)))
        g = groups.get(key)
        if g is None:
            g = groups[key] = (ts, sts, [])
        g[2].append(ts[0].layer)
    classes = tuple(LayerClass(ts, sts, tuple(ids)) for ts, sts, ids in groups.values())
    return FormatLayout(classes, tuple((t, rule(spec, t)) for t in split.other))


def _stage_of_other(t: Tensor, pp: int) -> int:
    """Stage of a tensor outside the layers: the embedding and vision tower on the first stage,
    the final norm and lm_head on the last."""
    return 0 if t.component in ("embedding", "vision") or t.name.startswith("embed_layernorm") else pp - 1


@lru_cache(maxsize=4096)
def stage_tensor_groups(spec: ModelSpec, quant: str, tp: int, pp: int, ep: bool,
                        dp: int = 1) -> tuple[tuple[int, Tensor, tuple, int, int], ...]:
    """Every tensor one GPU of each stage holds, grouped: ``(stage, tensor, shard_shape, nbytes,
    count)`` where ``count`` layers of the stage hold a tensor like ``tensor`` (a representative:
    its name and layer are the first layer's of its class). Summing ``nbytes x count`` gives the
    same total as summing every tensor of the weight table. ``dp``: attention data-parallel ranks
    (``parallel.shard_shape``: the routed experts split over ``dp x tp`` GPUs).

    A checkpoint served in its own format (``checkpoint.uses_checkpoint_bytes``): each shard's
    bytes are scaled by its component's ``checkpoint bytes / table bytes`` (floored per tensor), so
    memory and decode traffic rest on the checkpoint's exact bytes, split as the architecture
    splits them (derived)."""
    lay = format_layout(spec, quant)
    ratios = checkpoint_ratios(spec, quant)

    def scaled(t: Tensor, nbytes: int) -> int:
        if t.component in ratios:
            ck, table = ratios[t.component]
            return nbytes * ck // table
        return nbytes

    stages = pp_partition(spec.need("the pipeline split", "num_hidden_layers"), pp)
    out = []
    for c in lay.classes:
        shards = [(t, shard_shape(t, spec, tp, ep, dp), st) for t, st in zip(c.tensors, c.storages)]
        for k, layers in enumerate(stages):
            n = c.count_in(layers[0], layers[-1] + 1) if layers else 0
            if n:
                out += [(k, t, shape, scaled(t, st.nbytes(shape)), n) for t, shape, st in shards]
    for t, st in lay.other:
        shape = shard_shape(t, spec, tp, ep, dp)
        out.append((_stage_of_other(t, pp), t, shape, scaled(t, st.nbytes(shape)), 1))
    return tuple(out)


@lru_cache(maxsize=4096)
def stage_weight_bytes(spec: ModelSpec, quant: str, tp: int, pp: int, ep: bool,
                       include_vision: bool, dp: int = 1) -> tuple[int, ...]:
    """Weight bytes on one GPU of each pipeline stage (exact for the format's layout; from the
    checkpoint's own tensors when ``uses_checkpoint_bytes``); ``dp`` attention data-parallel ranks."""
    groups = stage_tensor_groups(spec, quant, tp, pp, ep, dp)
    if uses_checkpoint_bytes(spec, quant):
        return checkpoint_stage_bytes(spec, quant, groups, pp, include_vision)
    out = [0] * pp
    for k, t, _, nbytes, n in groups:
        if include_vision or t.component != "vision":
            out[k] += nbytes * n
    return tuple(out)


@lru_cache(maxsize=4096)
def total_weight_bytes(spec: ModelSpec, quant: str, include_vision: bool = True) -> int:
    """Bytes of the whole model under a format (unsharded), from the layer classes; a checkpoint
    served in its own format: the sum of its tensors' bytes (exact), without the vision tower's
    when ``include_vision`` is false."""
    if uses_checkpoint_bytes(spec, quant):
        return checkpoint_total_bytes(spec, include_vision)
    lay = format_layout(spec, quant)
    layers = sum(len(c.layers) * sum(st.nbytes(t.shape) for t, st in zip(c.tensors, c.storages))
                 for c in lay.classes)
    return layers + sum(st.nbytes(t.shape) for t, st in lay.other if include_vision or t.component != "vision")


def cache_clear() -> None:
    """Forget every cached layout (benchmarks time cold runs; tests count the work done)."""
    for f in (_layer_tensors, format_layout, stage_tensor_groups, stage_weight_bytes, total_weight_bytes):
        f.cache_clear()
