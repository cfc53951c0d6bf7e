"""Engine memory measured in a start-up log (``llamasize calibrate --from-log``): the stored entry, the
deployment shape it is keyed by, and which entry applies to a deployment.

An ``EngineMemoryEntry`` holds the per-GPU bytes an engine logged for one deployment shape (weights
as loaded, activation peak, non-torch memory, CUDA-graph memory), with where they come from. ``fit``,
``perf`` (and the CLI's other commands that build one Deployment) look the deployment's shape up with
``engine_correction_for`` and attach the result as ``Deployment.engine_correction``; the memory model
uses each item in place of its own prediction and labels it ``calibrated``.

**What "matching" means.** Each item depends on only part of the shape, so an entry applies item by
item:

- every item needs the same model, GPU, engine and tensor/pipeline-parallel sizes, the same weight
  format and expert parallelism, and the same engine version when the deployment names one (a
  deployment without ``engine_version`` takes the entry of any version; with several, the newest);
- **weights** and **non-torch** memory need nothing more: what a rank loads and the NCCL / custom
  all-reduce buffers do not change with the batch settings, the KV dtype or the memory fraction
  (docs/facts/engine-memory.md rows 1, 2 and 7: same weights and non-torch at other max_model_len and KV dtype);
- **activation peak** and **CUDA-graph** memory also need the same ``max_num_seqs`` and
  ``max_num_batched_tokens`` (the sampler's logits and the profiled batch scale with them; the graph
  capture sizes follow ``max_num_seqs``), compared after the engine's defaults are filled in;
- the memory fraction (``gpu_memory_utilization`` / ``mem_fraction_static``), the context length and
  the KV dtype never stop an entry from applying: they change what is left for the KV cache, not
  these four items (facts item 3: the activation peak is flat in max_model_len; rows 7 and 25: an
  FP8 KV cache leaves the figures unchanged).

The most specific entry wins: one whose batch settings match too, then the newest engine version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field

from llamasize.estimate.deployment import Deployment
from llamasize.estimate.engine_calibration import EngineCorrection


class EngineMemoryEntry(BaseModel):
    """Per-GPU bytes one start-up log printed for one deployment shape (rank 0's GPU)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # the deployment shape (``shape_of``): registry ids and the resolved settings
    model: str
    gpu: str
    engine: str
    engine_version: str | None = None
    tensor_parallel_size: int = Field(ge=1)
    pipeline_parallel_size: int = Field(ge=1)
    expert_parallel: bool = False
    quant: str
    kv_cache_dtype: str
    max_num_seqs: int = Field(ge=1, le=2**40)
    max_num_batched_tokens: int = Field(ge=1, le=2**40)
    gpu_memory_utilization: float | None = None
    mem_fraction_static: float | None = None
    # the logged line items, bytes per GPU (None: the log does not print it)
    weights_bytes: int | None = Field(default=None, ge=0, le=2**50)
    activation_peak_bytes: int | None = Field(default=None, ge=0, le=2**50)
    non_torch_bytes: int | None = Field(default=None, ge=0, le=2**50)
    cuda_graph_bytes: int | None = Field(default=None, ge=0, le=2**50)
    #: For reference (not applied: the model computes it from the items above).
    available_kv_bytes: int | None = Field(default=None, ge=0, le=2**50)
    # where the figures come from
    source_file: str
    source_date: str
    llamasize_version: str

    @property
    def key(self) -> str:
        """The entry's id in the calibration file: every field of the shape."""
        return " ".join([
            self.engine, self.engine_version or "-", self.model, self.gpu,
            f"tp{self.tensor_parallel_size}", f"pp{self.pipeline_parallel_size}", "ep" if self.expert_parallel else "noep",
            self.quant, f"kv:{self.kv_cache_dtype}", f"seqs{self.max_num_seqs}", f"mnbt{self.max_num_batched_tokens}",
            f"util{self.gpu_memory_utilization if self.gpu_memory_utilization is not None else '-'}",
            f"mfs{self.mem_fraction_static if self.mem_fraction_static is not None else '-'}",
        ])

    def source(self) -> str:
        """How the correction names its source."""
        version = f" {self.engine_version}" if self.engine_version else ""
        return f"start-up log {self.source_file} ({self.engine}{version}, calibrated {self.source_date})"


@dataclass(frozen=True)
class Shape:
    """The fields of a deployment an entry is matched on (the engine's defaults filled in)."""

    model: str
    gpu: str
    engine: str
    engine_version: str | None
    tensor_parallel_size: int
    pipeline_parallel_size: int
    expert_parallel: bool
    quant: str
    kv_cache_dtype: str
    max_num_seqs: int
    max_num_batched_tokens: int


def shape_of(d: Deployment) -> Shape:
    """A deployment's shape, resolved as the memory model resolves it (``memory.resolve``: the same
    TP default, format id and batch defaults), so an entry saved from a log matches the same
    deployment given by flags."""
    from llamasize.estimate.memory import resolve

    s = resolve(d)
    return Shape(model=d.model.id, gpu=d.gpu.id, engine=s.budget.engine, engine_version=d.engine_version,
                 tensor_parallel_size=s.tp, pipeline_parallel_size=s.pp, expert_parallel=s.ep, quant=s.fmt.id,
                 kv_cache_dtype=s.kv_dtype, max_num_seqs=s.max_seqs, max_num_batched_tokens=s.batched_tokens)


def _version_key(v: str | None) -> tuple:
    """Sort key of an engine version: numeric parts compared as numbers (0.19.0 > 0.9.2)."""
    parts = []
    for p in (v or "").replace("-", ".").split("."):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return tuple(parts)


def _same_base(e: EngineMemoryEntry, s: Shape) -> bool:
    return (e.model == s.model and e.gpu == s.gpu and e.engine == s.engine
            and e.tensor_parallel_size == s.tensor_parallel_size
            and e.pipeline_parallel_size == s.pipeline_parallel_size and e.expert_parallel == s.expert_parallel
            and e.quant == s.quant and (s.engine_version is None or e.engine_version == s.engine_version))


def _same_batch(e: EngineMemoryEntry, s: Shape) -> bool:
    return e.max_num_seqs == s.max_num_seqs and e.max_num_batched_tokens == s.max_num_batched_tokens


def matching_entry(entries, s: Shape) -> tuple[EngineMemoryEntry, bool] | None:
    """(entry, batch settings match too) of the most specific entry for the shape, or None."""
    found = [e for e in entries if _same_base(e, s)]
    if not found:
        return None
    best = max(found, key=lambda e: (_same_batch(e, s), _version_key(e.engine_version), e.source_date, e.key))
    return best, _same_batch(best, s)


def correction_from(entry: EngineMemoryEntry, batch_matches: bool) -> EngineCorrection | None:
    """The items of ``entry`` that apply (see the module docstring); None when none does."""
    c = EngineCorrection(
        source=entry.source(), weights_bytes=entry.weights_bytes, non_torch_bytes=entry.non_torch_bytes,
        activation_peak_bytes=entry.activation_peak_bytes if batch_matches else None,
        cuda_graph_bytes=entry.cuda_graph_bytes if batch_matches else None,
    )
    items = (c.weights_bytes, c.activation_peak_bytes, c.non_torch_bytes, c.cuda_graph_bytes)
    return None if all(v is None for v in items) else c


def engine_correction_for(entries, d: Deployment) -> EngineCorrection | None:
    """The correction the stored ``entries`` give deployment ``d`` (None when no entry matches).
    Entries of another model or GPU are set aside before the deployment is resolved (the planner
    asks for every candidate)."""
    entries = [e for e in entries if e.model == d.model.id and e.gpu == d.gpu.id]
    if not entries:
        return None
    found = matching_entry(entries, shape_of(d))
    return None if found is None else correction_from(*found)


def with_engine_correction(d: Deployment, entries) -> Deployment:
    """``d`` with the correction of the matching entry attached (``d`` itself when none matches or
    it already carries one)."""
    if d.engine_correction is not None:
        return d
    c = engine_correction_for(entries, d)
    return d if c is None else replace(d, engine_correction=c)
