"""Parallel layouts: which tensor / pipeline / expert parallel layouts can run, and what each GPU holds.

- **Tensor parallelism** (TP) splits attention by heads: TP must divide the attention heads, and
  the KV heads and TP must divide one another (vLLM replicates KV heads when TP exceeds them).
- **Pipeline parallelism** (PP) splits the layers as vLLM's ``get_pp_indices`` does.
- **Expert parallelism** (EP, vLLM: EP size = TP size) gives each GPU whole experts instead of a
  slice of every expert's width.
- **Attention data parallelism** (DP ranks ``D``): each rank runs attention, the dense layers, the
  shared experts and the lm_head on its own sequences, sharded by the attention TP ``T`` inside the
  rank (replicated across ranks); the routed experts are sharded over all ``D x T`` GPUs of a stage,
  whole experts with EP, by width without (vLLM: "MoE layers will be sharded according to the product
  of the tensor, prefill-context, and data parallel sizes", docs/facts/serving.md 2.1). A stage has
  ``D x T`` GPUs, a deployment ``D x T x PP``. vLLM ``-dp D -tp T``: D x T GPUs; SGLang ``--tp-size N
  --dp-size D --enable-dp-attention``: N GPUs, attention TP ``N / D`` (docs/facts/serving.md 2.3).
- **Shards**: the part of each weight-table tensor one GPU holds, by ``params.Parallel`` kind.

Errors are ``LayoutError`` (``llamasize.errors``) naming the setting at fault.
"""

from __future__ import annotations

from llamasize.data.spec import ModelSpec
from llamasize.errors import LayoutError
from llamasize.estimate.params import Tensor
from llamasize.text import quote_value


def tp_problem(spec: ModelSpec, tp: int) -> str | None:
    """Why tensor parallelism of degree ``tp`` cannot split this model's attention, or None:
    TP must divide the attention heads, and the KV heads and TP must divide one another (KV heads
    are replicated when TP exceeds them); Gated DeltaNet key and value heads are split, so TP must
    divide them (vLLM shards them by head, as known). Unpublished head counts are not checked."""
    nh, nkv = spec.num_attention_heads, spec.num_key_value_heads
    if nh is not None and nh % tp:
        return f"num_attention_heads ({nh}) is not divisible by tensor_parallel_size ({tp})"
    if nkv is not None and not spec.is_mla and nkv % tp and tp % nkv:
        return f"num_key_value_heads ({nkv}) and tensor_parallel_size ({tp}) must divide one another"
    if spec.layer_types and "linear_attention" in spec.layer_types:  # Gated DeltaNet heads split over TP
        for name in ("linear_num_key_heads", "linear_num_value_heads"):
            if getattr(spec, name) % tp:
                return f"{name} ({getattr(spec, name)}) is not divisible by tensor_parallel_size ({tp})"
    return None


def validate_layout(spec: ModelSpec, gpu_count: int, tp: int, pp: int, ep: bool, dp: int = 1) -> None:
    """Raise UsageError when a parallel layout cannot run (docs/design.md rule 7). Checks that need an
    unpublished value are skipped (the estimate reports it as unknown instead). ``dp``: attention
    data-parallel ranks (the module docstring)."""
    if tp < 1 or pp < 1:
        raise LayoutError("tensor and pipeline parallel sizes must be at least 1", "tp" if tp < 1 else "pp")
    if dp < 1:
        raise LayoutError(f"data_parallel_size must be at least 1, got {dp}", "dp")
    if dp > 1 and tp * pp * dp != gpu_count:
        raise LayoutError(
            f"--gpus ({gpu_count}) must equal data_parallel_size ({dp}) x tensor_parallel_size ({tp}) x "
            f"pipeline_parallel_size ({pp})", "gpus"
        )
    if tp * pp * dp != gpu_count:
        raise LayoutError(
            f"--gpus ({gpu_count}) must equal tensor_parallel_size ({tp}) x pipeline_parallel_size ({pp}); "
            "data-parallel replicas are not modelled: size one replica (--dp is attention data parallelism)",
            "gpus"
        )
    layers = spec.num_hidden_layers
    problem = tp_problem(spec, tp)
    if problem:
        raise LayoutError(problem, "tp")
    if layers is not None and pp > layers:
        raise LayoutError(f"pipeline_parallel_size ({pp}) exceeds num_hidden_layers ({layers})", "pp")
    if ep and not spec.is_moe:
        raise LayoutError(f"--ep needs a mixture-of-experts model; {spec.id} is dense", "ep")


#: Where the attention data-parallel rules come from (the module docstring).
ATTENTION_DP_SOURCE = ("llamasize.parallel: vLLM --data-parallel-size (MoE sharded over TP x DP), SGLang "
                       "--enable-dp-attention (docs/facts/serving.md 2.1, 2.3)")


def attention_dp_summary(tp: int, pp: int, dp: int, ep: bool) -> str:
    """What each GPU of an attention data-parallel layout holds, in words (``fit``'s assumption)."""
    return (f"{dp} ranks x TP {tp} (x PP {pp}): attention, dense layers, shared experts and lm_head replicated per "
            f"rank, routed experts split over {dp * tp} GPUs" + (" (whole experts, EP)" if ep else " (by width)")
            + f"; each rank's GPUs hold the KV of its own ceil(batch / {dp}) sequences")


def attention_dp_warnings(gpus_per_node: int, tp: int, dp: int, ep: bool) -> list[str]:
    """The MoE layers' collectives of ``dp x tp`` GPUs cross nodes when they exceed a node."""
    if dp <= 1 or tp * dp <= gpus_per_node:
        return []
    return [f"attention data parallelism: the MoE layers' {'all-to-all' if ep else 'collectives'} over {dp} x {tp} "
            "GPUs cross the inter-node network (its bandwidth is not in the catalogue)"]


def pp_partition(num_layers: int, pp: int) -> list[list[int]]:
    """Layers of each pipeline stage, as vLLM's ``get_pp_indices`` splits them: ``L // pp`` each,
    the remainder added one by one to the stages before the last."""
    parts = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        parts[-i] += 1
    out, start = [], 0
    for n in parts:
        out.append(list(range(start, start + n)))
        start += n
    return out


def shard_shape(t: Tensor, spec: ModelSpec, tp: int, ep: bool, dp: int = 1) -> tuple[int, ...]:
    """Shape of the part of tensor ``t`` one GPU holds under TP degree ``tp`` (and EP over the same
    GPUs when ``ep``); see ``params.Parallel`` for the split of each kind. With ``dp`` attention
    data-parallel ranks the routed experts are split over ``dp x tp`` GPUs, everything else over
    the rank's ``tp`` (the module docstring)."""
    s = t.shape
    p = t.parallel
    if dp > 1 and p in ("expert_column", "expert_row"):
        tp = tp * dp
    c = lambda n: -(-n // tp)  # noqa: E731 - ceil division
    if p == "replicated" or tp == 1:
        return s
    if p in ("column", "vocab"):
        return (c(s[0]),) + s[1:]
    if p == "row":
        return s[:-1] + (c(s[-1]),)
    if p == "kv":
        nkv = spec.num_key_value_heads
        per_head = s[0] // nkv
        return (max(1, nkv // tp) * per_head,) + s[1:]
    if p in ("expert_column", "expert_row"):
        if ep:
            return (c(s[0]),) + s[1:]
        if len(s) == 2:  # stacked biases: column biases split, row biases replicated
            return (s[0], c(s[1])) if p == "expert_column" else s
        return (s[0], c(s[1]), s[2]) if p == "expert_column" else (s[0], s[1], c(s[2]))
    if p == "flat":
        return (c(s[0]),)
    raise ValueError(f"unknown parallel kind {quote_value(p)}")


def default_tensor_parallel(gpu_count: int, pipeline_parallel_size: int) -> int:
    """TP = GPUs / PP: vLLM and SGLang place ``TP x PP`` ranks on a deployment's GPUs (vLLM's world size
    is TP x PP), so with only the GPU count and the pipeline size given, TP is what fills the GPUs.
    LayoutError when PP does not divide the GPU count."""
    if gpu_count % pipeline_parallel_size:
        raise LayoutError(f"--gpus ({gpu_count}) is not divisible by --pp ({pipeline_parallel_size})", "pp")
    return gpu_count // pipeline_parallel_size
