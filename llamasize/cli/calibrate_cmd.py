"""``llamasize calibrate --from-log FILE|-``: hold the engine memory model against a real start-up log.

Reads a vLLM (V1, V0) or SGLang start-up log (``data.enginelog``), builds the Deployment it describes
(model by the one resolution order, ``--model`` wins; GPU by ``--gpu``, else by the CUDA total the log
prints), prints predicted vs logged per line item (``estimate.log_report``), saves the logged items
as an engine-memory calibration (``estimate.calibration``; not with ``--no-save``) and exits 4 when
the available KV differs by more than 5 %, 0 otherwise.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import typer

from llamasize.cli import inputs
from llamasize.cli.options import Calibration, CatalogDir, Debug, Format, FromLog, Gpu, ModelName, NoSave, SpecsDir
from llamasize.cli.options import EngineVersion, HybridKvCache
from llamasize.cli.output import note, out
from llamasize.errors import ExitCode, UsageError
from llamasize.text import quote_value

#: Largest start-up log read (a multi-day server log is cut by the user, not read whole).
MAX_LOG_BYTES = 64 * 2**20
#: How close the log's CUDA total must be to a catalogue report to name the GPU: 0.02 GiB, a bit more
#: than the spread of one driver to the next on the same H100 (79.19 vs 79.205 GiB,
#: docs/facts/hardware-memory.md 1a) and less than the gap to the next GPU (A100 80GB: 79.256 GiB).
TOTAL_MATCH_GIB = 0.02


def read_log(source: str) -> tuple[str, str]:
    """(text, name) of ``--from-log``: a file, or ``-`` for stdin; undecodable bytes are replaced."""
    from llamasize.files import read_bytes_capped

    if source == "-":
        raw = sys.stdin.buffer.read(MAX_LOG_BYTES + 1) if hasattr(sys.stdin, "buffer") else \
            sys.stdin.read(MAX_LOG_BYTES + 1).encode()
        if len(raw) > MAX_LOG_BYTES:
            raise UsageError(f"stdin: the start-up log is over {MAX_LOG_BYTES // 2**20} MiB (cut it to the start-up)")
        return raw.decode("utf-8", "replace"), "stdin"
    path = Path(source)
    return read_bytes_capped(path, "start-up log", MAX_LOG_BYTES).decode("utf-8", "replace"), path.name


def log_gpu(reg, log, text: str, gpu: str | None, notes: list[str]):
    """The GPU: ``--gpu``; else the catalogue GPU whose CUDA-reported total is within TOTAL_MATCH_GIB of
    the log's; else one whose device name the log prints. UsageError (exit 2) when none or several."""
    if gpu is not None:
        g, gpu_note = inputs.resolve_gpu(reg, gpu)
        if gpu_note:
            notes.append(gpu_note)
        return g
    if log.device_total_bytes is not None:
        total = log.device_total_bytes / 2**30
        found = sorted({g.id: g for g in reg.gpus for r in g.memory.cuda_totals
                        if abs(r.bytes / 2**30 - total) <= TOTAL_MATCH_GIB}.values(), key=lambda g: g.id)
        if len(found) == 1:
            notes.append(f"GPU {found[0].id}: the log's device total {total:.2f} GiB is within {TOTAL_MATCH_GIB} GiB "
                         "of a CUDA total the catalogue records for it (a GPU whose total the catalogue lacks could "
                         "print the same: name it with --gpu)")
            return found[0]
        if found:
            raise UsageError(f"the log's device total ({total:.2f} GiB) fits several GPUs "
                             f"({', '.join(g.id for g in found)}): name it with --gpu")
    named = sorted({g.id: g for g in reg.gpus for n in g.nvml_names if n and n in text}.values(), key=lambda g: g.id)
    if len(named) == 1:
        notes.append(f"GPU {named[0].id}: the log names the device ({named[0].nvml_names[0]})")
        return named[0]
    what = (f"its device total ({log.device_total_bytes / 2**30:.2f} GiB) is not one the catalogue records"
            if log.device_total_bytes is not None else "it prints no device total ('total_memory=...GiB')")
    raise UsageError(f"the log does not name the GPU ({what}): --gpu is required")


def with_logged_total(g, log, source: str, notes: list[str]):
    """The GPU with the device total the log prints as its CUDA total, so the comparison is of the
    memory model, not of the catalogue's figure (the ``device total`` row still shows the catalogue's).
    Unchanged when the log prints none or the same to its two decimals."""
    from llamasize.data.hardware import MemoryReport

    if log.device_total_bytes is None or abs(log.device_total_bytes - g.memory_bytes) <= 0.005 * 2**30:
        return g
    notes.append(f"the log's device total ({log.device_total_bytes / 2**30:.2f} GiB) is not {g.id}'s in the "
                 f"catalogue ({g.memory_bytes / 2**30:.2f} GiB): the prediction budgets the log's")
    report = MemoryReport(value=round(log.device_total_bytes / 2**30, 2), unit="GiB", tool="start-up log (total memory)",
                          source=source)
    return g.model_copy(update={"memory": g.memory.model_copy(update={"cuda_totals": [report]})})


def log_quant(log, res, notes: list[str]) -> str:
    """The weight format: the format the resolved repository ships in when it is a quantized one;
    else the engine's ``quantization`` method (``fp8`` = runtime FP8; ``engines.QUANTIZATION_METHODS``)
    or, for a method llamasize does not map (``compressed-tensors``), the checkpoint's format; else
    the dtype of an unquantized checkpoint (``engines.DTYPES``)."""
    from llamasize.estimate.engines import DTYPES, QUANTIZATION_METHODS, method_key
    from llamasize.estimate.quant import checkpoint_default

    spec = res.spec
    method = method_key(log.quantization or "")
    if res.quant:
        return res.quant
    if method in QUANTIZATION_METHODS:
        return QUANTIZATION_METHODS[method]
    if method:
        q = checkpoint_default(spec) or spec.default_quant
        notes.append(f"quantization={log.quantization}: the checkpoint's format, {q}")
        return q
    return DTYPES.get(method_key(log.dtype or "auto"), spec.default_quant)


def log_deployment(reg, log, text: str, source: str, *, model: str | None, gpu: str | None, notes: list[str]):
    """(the Deployment a start-up log describes, the catalogue's total of its GPU); one-line
    UsageErrors for what is missing."""
    from llamasize.estimate.deployment import Deployment

    name = model or log.model
    if name is None:
        raise UsageError("the log does not name the model (no config or arguments line): --model is required")
    try:
        res = inputs.model_resolution(reg, name)
    except UsageError as e:  # unknown id, unreadable path (a path on the server the log came from)
        if model is not None:
            raise
        raise UsageError(f"{e} (the model the log names; name it with --model)") from None
    g = log_gpu(reg, log, text, gpu, notes)
    catalogue_total = g.memory_bytes
    g = with_logged_total(g, log, source, notes)
    tp, pp = log.tensor_parallel_size or 1, log.pipeline_parallel_size or 1
    if log.generation == "v0" and log.non_torch_bytes is not None:
        notes.append("vLLM V0's non_torch_memory includes the CUDA context (V1 reports the forward increase "
                     "only: docs/facts/engine-memory.md item 4)")
    if (log.data_parallel_size or 1) > 1:
        notes.append(f"data parallel size {log.data_parallel_size}: one replica of TP {tp} x PP {pp} is compared")
    from llamasize.estimate.engines import DTYPES, KV_CACHE_DTYPES, method_key

    kv_in = method_key(log.kv_cache_dtype or "auto")
    if kv_in not in KV_CACHE_DTYPES:
        raise UsageError(f"the log's kv_cache_dtype {quote_value(log.kv_cache_dtype)} is not one llamasize models "
                         f"({', '.join(sorted(KV_CACHE_DTYPES))})")
    run_dtype = DTYPES.get(method_key(log.dtype or "auto"))
    if kv_in == "auto" and run_dtype in ("bf16", "fp16"):
        kv_in = run_dtype  # vLLM's 'auto' KV dtype is the dtype the model runs in
    elif kv_in == "auto" and run_dtype == "fp32":
        notes.append("the run's KV cache is fp32 (dtype float32, kv_cache_dtype auto); llamasize models 8- and "
                     "16-bit KV only, so the KV figures are predicted at the checkpoint's dtype")
    ctx = log.max_model_len
    if ctx is None:
        ctx = res.spec.max_position_embeddings or 8192
        notes.append(f"max_model_len not in the log: the model's maximum, {ctx:,} tokens")
    util = log.gpu_memory_utilization
    if log.engine == "vllm" and util is None:
        parts = (log.available_kv_bytes, log.weights_bytes, log.activation_peak_bytes, log.non_torch_bytes,
                 log.device_total_bytes)
        if all(p is not None for p in parts):
            util = round(sum(parts[:4]) / parts[4], 2)
            notes.append(f"gpu_memory_utilization not in the log: {util} from its budget identity "
                         "(available KV + weights + activation + non-torch) / total")
        else:
            notes.append("gpu_memory_utilization not in the log: the engine default is assumed")
    version = _modelled_version(log, notes)
    return Deployment(
        model=res.spec, gpu=g, gpu_count=tp * pp, quant=log_quant(log, res, notes), context_tokens=ctx,
        tensor_parallel_size=tp, pipeline_parallel_size=pp, expert_parallel=bool(log.expert_parallel),
        kv_cache_dtype=KV_CACHE_DTYPES[kv_in], engine=log.engine, gpu_memory_utilization=util,
        mem_fraction_static=log.mem_fraction_static, max_num_batched_tokens=log.max_num_batched_tokens,
        max_num_seqs=log.max_num_seqs, engine_version=version,
    ), catalogue_total


def _modelled_version(log, notes: list[str]) -> str | None:
    """The engine version to predict with: the log's, except a vLLM V0 release (< 0.10), whose memory
    rules are not modelled (``engine_profiles``): it is predicted with the oldest modelled rules, and a
    note says so (the stored entry keeps the log's own version)."""
    from llamasize.estimate.engine_profiles import VLLM_OLDEST, parse_version, version_text

    if log.engine != "vllm" or not log.version or parse_version(log.version) >= VLLM_OLDEST:
        return log.version
    oldest = version_text(VLLM_OLDEST)
    notes.append(f"vLLM {log.version} is the V0 engine, whose memory rules llamasize does not model: predicted "
                 f"with the vLLM {oldest} (V1) rules, so the activation peak differs (V0 profiled one "
                 "max_model_len prefill)")
    return oldest


def with_flag_version(log, engine_version: str | None):
    """``log`` with ``--engine-version`` as its release when the log does not print one (checked as
    ``fit`` checks it, ``engine_profiles``); a UsageError when the log prints another release."""
    from dataclasses import replace

    from llamasize.estimate.engine_profiles import engine_profile, parse_version

    if engine_version is None:
        return log
    given = engine_profile(log.engine, engine_version.strip()).version.lstrip("vV")
    if log.version is None:
        return replace(log, version=given)
    if parse_version(log.version) != parse_version(given):
        raise UsageError(f"--engine-version {given}: the log prints {log.engine} {log.version} (leave the flag out)")
    return log


def calibrate_cmd(
    from_log: FromLog = None, model: ModelName = None, gpu: Gpu = None, calibration: Calibration = None,
    no_save: NoSave = False, fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None,
    debug: Debug = False, engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
) -> None:
    """Compare llamasize's engine memory model with a vLLM or SGLang start-up log and store the logged
    line items as a calibration. Exit 0 when the available KV is within 5 %, 4 when not."""
    from llamasize.data.enginelog import NoEngineLines, parse_engine_log
    from llamasize.estimate.calibration import calibration_path, check_writable, save_engine_memory
    from llamasize.estimate.log_report import compare_with_log, entry_from_log

    fmt = inputs.output_format(fmt)
    if from_log is None:
        raise UsageError("--from-log FILE is required ('-' reads the log from stdin)")
    if no_save and calibration is not None:
        raise UsageError("--calibration names the file calibrate saves to; with --no-save nothing is saved (drop one)")
    target = None if no_save else calibration_path(calibration, writing=True)
    if target is not None:
        check_writable(target)
    text, source = read_log(from_log)
    try:
        log = parse_engine_log(text)
    except NoEngineLines as e:
        raise UsageError(f"{source}: {e}") from None
    if not log.has_memory_lines:
        raise UsageError(f"{source}: no engine memory lines found (the log stops before the KV cache is sized?): "
                         "expected e.g. 'Available KV cache memory: ... GiB'")
    log = with_flag_version(log, engine_version)
    reg = inputs.registry(specs_dir, catalog_dir)
    notes: list[str] = []
    d, catalogue_total = log_deployment(reg, log, text, source, model=model, gpu=gpu, notes=notes)
    if hybrid_kv_cache is not None:  # the log does not say whether the environment variable was set
        from dataclasses import replace

        d = replace(d, hybrid_kv_cache=hybrid_kv_cache.strip().lower())
    report = compare_with_log(d, log, source, notes, catalogue_total=catalogue_total)
    if target is not None:
        entry = entry_from_log(d, log, source, datetime.now(timezone.utc).date())
        if entry is not None:
            path = save_engine_memory(entry, target)
            saved = [k.removesuffix("_bytes") for k in ("weights_bytes", "activation_peak_bytes", "non_torch_bytes",
                                                        "cuda_graph_bytes") if getattr(entry, k) is not None]
            report = report.model_copy(update={"calibration_path": str(path), "saved_items": saved})
            sys.stderr.write(f"llamasize: engine memory of {entry.model} on {entry.gpu} ({entry.engine} "
                             f"{entry.engine_version or 'version not logged'}) saved to {path}\n")
    for n in report.notes:
        note(n)
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(report))
    else:
        from llamasize.render.calibrate import render_log_calibration

        out(render_log_calibration(report, fmt))
    raise typer.Exit(ExitCode.VERIFY_FAILED if report.passed is False else ExitCode.OK)
