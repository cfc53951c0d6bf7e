"""Weight bytes of a checkpoint served in its own format: the exact sums of its tensors
(``ModelSpec.checkpoint``, read by ``data.checkpoint`` / ``data.gguf_file``), and one GPU's share.

The totals are exact (checkpoint). Per GPU they are derived: each component's exact bytes are
split as the architecture's weight table (``params.weight_table``) splits that component under
TP/PP/EP (``shards.stage_tensor_groups`` scales every shard by its component's
``checkpoint bytes / table bytes``). Components the table does not have (``other``; a vision
tower the config does not describe; an lm_head the config calls tied) are spread like the whole
table. Any other format than the checkpoint's own is a re-quantization, sized by that format's
rule (``quant``), not from here.
"""

from __future__ import annotations

from functools import lru_cache

from llamasize.data.spec import ModelSpec
from llamasize.estimate.params import Tensor, weight_table
from llamasize.estimate.quant import get_format


def uses_checkpoint_bytes(spec: ModelSpec, quant: str) -> bool:
    """Whether weight bytes come from the checkpoint's own tensors: the spec was read from a
    checkpoint and the deployment serves it in its own format (``quant`` is ``spec.default_quant``)."""
    return spec.checkpoint is not None and quant == spec.default_quant


def checkpoint_total_bytes(spec: ModelSpec, include_vision: bool = True) -> int:
    """The sum of the checkpoint's tensor bytes (exact), without the vision tower's when asked."""
    ck = spec.checkpoint
    return ck.total_bytes - (0 if include_vision else ck.components["vision"].bytes)


@lru_cache(maxsize=256)
def checkpoint_ratios(spec: ModelSpec, quant: str) -> dict[str, tuple[int, int]]:
    """Component -> (the checkpoint's exact bytes, the weight table's bytes under the format), for
    the components the table has, when ``uses_checkpoint_bytes``; else empty (no scaling)."""
    if not uses_checkpoint_bytes(spec, quant):
        return {}
    fmt = get_format(quant)
    table: dict[str, int] = {}
    for t in weight_table(spec):
        table[t.component] = table.get(t.component, 0) + fmt.rule(spec, t).nbytes(t.shape)
    parts = spec.checkpoint.components
    return {c: (parts[c].bytes if c in parts else 0, n) for c, n in table.items() if n}


def checkpoint_stage_bytes(spec: ModelSpec, quant: str, staged: tuple[tuple[int, Tensor, tuple, int, int], ...],
                           pp: int, include_vision: bool) -> tuple[int, ...]:
    """One GPU's bytes per pipeline stage: the scaled shards ``staged`` (``shards.stage_tensor_groups``:
    ``count`` layers hold each), plus each component the table lacks spread like the whole table:
    stage ``k`` gets ``ceil(B x table bytes of k / table bytes)``."""
    fmt = get_format(quant)
    ratios = checkpoint_ratios(spec, quant)
    out = [0] * pp
    table_stage = [0] * pp
    for k, t, shape, nbytes, count in staged:
        table_stage[k] += fmt.rule(spec, t).nbytes(shape) * count
        if include_vision or t.component != "vision":
            out[k] += nbytes * count
    table_all = sum(table for _, table in ratios.values())  # the table's bytes, summed once in checkpoint_ratios
    for c, part in spec.checkpoint.components.items():
        if c in ratios or not part.bytes or (c == "vision" and not include_vision):
            continue
        for k in range(pp):
            out[k] += -(-part.bytes * table_stage[k] // table_all)
    return tuple(out)
