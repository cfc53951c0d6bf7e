"""Predicted vs logged: llamasize's engine memory model held against a real start-up log
(``llamasize calibrate --from-log``).

``compare_with_log(d, log, source)`` runs ``estimate_memory(d)`` on the deployment the log describes
and lines up each line item the engine printed with the model's prediction: weights, activation peak,
non-torch memory, CUDA graph (when logged), available KV, KV cache tokens, maximum concurrency, and the
device total. ``ratio`` is predicted / logged (1.36 = the model says 36 % more than the engine
printed). The check is on the available KV: within ``KV_TOLERANCE`` or not.
"""

from __future__ import annotations

from llamasize.errors import UsageError

from datetime import date

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION, __version__
from llamasize.data.enginelog import EngineLog
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.log_calibration import EngineMemoryEntry, shape_of
from llamasize.estimate.memory import FitEstimate, estimate_memory

#: Largest relative difference of the available KV per GPU that passes (the issue: exit 4 above 5 %).
KV_TOLERANCE = 0.05


class LineItem(BaseModel):
    """One line item: what llamasize predicts and what the engine printed (per GPU of rank 0)."""

    model_config = ConfigDict(frozen=True)

    item: str
    unit: str  # "bytes", "tokens" or "x" (requests of max_model_len tokens)
    predicted: float | int | None
    logged: float | int | None
    #: predicted / logged; None when either is missing or logged is 0.
    ratio: float | None
    #: 1-based line of the log the figure is on.
    log_line: int | None
    #: How the predicted value was obtained: "engine_report" (the engine memory model's own line item),
    #: "per_gpu" (the older per-GPU breakdown, a stand-in), "catalogue" (the device total), or
    #: "not modelled".
    predicted_from: str


class LogCalibrationReport(BaseModel):
    """The JSON of ``llamasize calibrate --from-log``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    source: str
    engine: str
    engine_version: str | None
    engine_generation: str | None
    model: str
    gpu: str
    tensor_parallel_size: int
    pipeline_parallel_size: int
    quant: str
    kv_cache_dtype: str
    gpu_memory_utilization: float | None
    mem_fraction_static: float | None
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    items: list[LineItem]
    kv_tolerance: float = KV_TOLERANCE
    #: True when the available KV is within the tolerance; None when the log does not print it.
    passed: bool | None
    notes: list[str]
    #: Where the logged items were saved (None with --no-save).
    calibration_path: str | None = None
    #: Which items were saved as corrections.
    saved_items: list[str] = []


def predicted_items(e: FitEstimate) -> tuple[dict[str, float | int | None], str]:
    """(predicted line items, where they come from) of a fit estimate: the engine memory model's
    ``engine_report`` (vLLM, SGLang, TensorRT-LLM). A generic-engine estimate has none: UsageError."""
    r = e.engine_report
    if r is None:
        raise UsageError(f"the {e.engine} engine has no start-up accounting to compare a log with")
    return {"weights_bytes": r.weights_bytes, "activation_peak_bytes": r.activation_peak_bytes,
            "non_torch_bytes": r.non_torch_bytes, "cuda_graph_bytes": r.cuda_graph_bytes,
            "available_kv_bytes": r.available_kv_bytes, "kv_cache_tokens": r.kv_cache_tokens,
            "max_concurrency": r.max_concurrency}, "engine_report"


#: (item name shown, EngineLog / prediction field, unit), in the order of the table.
ITEMS = (
    ("device total", "device_total_bytes", "bytes"),
    ("weights", "weights_bytes", "bytes"),
    ("activation peak", "activation_peak_bytes", "bytes"),
    ("non-torch", "non_torch_bytes", "bytes"),
    ("CUDA graph", "cuda_graph_bytes", "bytes"),
    ("available KV", "available_kv_bytes", "bytes"),
    ("KV cache tokens", "kv_cache_tokens", "tokens"),
    ("max concurrency", "max_concurrency", "x"),
)

#: The items a calibration stores (the others follow from them and the budget).
STORED = ("weights_bytes", "activation_peak_bytes", "non_torch_bytes", "cuda_graph_bytes")


def _ratio(predicted, logged) -> float | None:
    if predicted is None or logged is None or logged == 0:
        return None
    return round(predicted / logged, 4)


def compare_with_log(d: Deployment, log: EngineLog, source: str, notes: list[str] | None = None, *,
                     catalogue_total: int | None = None) -> LogCalibrationReport:
    """Predicted vs logged for the deployment ``d`` the log ``log`` describes (``d`` must carry no
    engine correction: the comparison is of the model's own numbers). ``catalogue_total``: the
    catalogue's device total, shown against the log's when ``d.gpu`` budgets the logged one."""
    e = estimate_memory(d)
    predicted, origin = predicted_items(e)
    predicted["device_total_bytes"] = e.per_gpu.total_bytes if catalogue_total is None else catalogue_total
    items = []
    for name, key, unit in ITEMS:
        logged = getattr(log, key)
        p = predicted.get(key)
        if logged is None and key in ("cuda_graph_bytes", "device_total_bytes"):
            continue  # shown only when logged
        basis = "not modelled" if p is None else "catalogue" if key == "device_total_bytes" else origin
        items.append(LineItem(item=name, unit=unit, predicted=p, logged=logged, ratio=_ratio(p, logged),
                              log_line=log.lines.get(key), predicted_from=basis))
    kv = next(i for i in items if i.item == "available KV")
    passed = None if kv.ratio is None else abs(kv.ratio - 1) <= KV_TOLERANCE
    s = shape_of(d)
    return LogCalibrationReport(
        source=source, engine=log.engine, engine_version=log.version, engine_generation=log.generation,
        model=d.model.id, gpu=d.gpu.id, tensor_parallel_size=s.tensor_parallel_size,
        pipeline_parallel_size=s.pipeline_parallel_size, quant=s.quant, kv_cache_dtype=s.kv_cache_dtype,
        gpu_memory_utilization=d.gpu_memory_utilization, mem_fraction_static=d.mem_fraction_static,
        max_model_len=d.context_tokens, max_num_seqs=s.max_num_seqs, max_num_batched_tokens=s.max_num_batched_tokens,
        items=items, passed=passed, notes=[*(notes or []), *log.notes, *e.warnings],
    )


def entry_from_log(d: Deployment, log: EngineLog, source_file: str, on: date) -> EngineMemoryEntry | None:
    """The calibration entry of the log's line items for ``d``'s shape (None when the log prints none
    of the stored items)."""
    if all(getattr(log, k) is None for k in STORED):
        return None
    s = shape_of(d)
    return EngineMemoryEntry(
        model=s.model, gpu=s.gpu, engine=s.engine, engine_version=log.version,
        tensor_parallel_size=s.tensor_parallel_size, pipeline_parallel_size=s.pipeline_parallel_size,
        expert_parallel=s.expert_parallel, quant=s.quant, kv_cache_dtype=s.kv_cache_dtype,
        max_num_seqs=s.max_num_seqs, max_num_batched_tokens=s.max_num_batched_tokens,
        gpu_memory_utilization=d.gpu_memory_utilization, mem_fraction_static=d.mem_fraction_static,
        weights_bytes=log.weights_bytes, activation_peak_bytes=log.activation_peak_bytes,
        non_torch_bytes=log.non_torch_bytes, cuda_graph_bytes=log.cuda_graph_bytes,
        available_kv_bytes=log.available_kv_bytes, source_file=source_file, source_date=on.isoformat(),
        llamasize_version=__version__,
    )
