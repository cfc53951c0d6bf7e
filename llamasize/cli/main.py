"""The command line: parse, call one core function, render. Nothing here computes anything.

Results go to stdout; warnings, notes and errors to stderr. Every error is one line
(``llamasize: error: ...``) with the exit code of ``errors.ExitCode``; a traceback only with
``--debug`` (or ``LLAMASIZE_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from llamasize.errors import ExitCode, LlamasizeError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Deployment planner and hardware sizing calculator for Llama 4 and other dense and MoE LLMs.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# ----------------------------------------------------------------------------- shared options ---
SpecsDir = typer.Option(None, "--specs-dir", help="Extra model-spec directory (repeatable; also $LLAMASIZE_SPECS_PATH).")
CatalogDir = typer.Option(None, "--catalog-dir", help="Extra GPU-catalogue directory (repeatable; also $LLAMASIZE_CATALOG_PATH).")
Format = typer.Option("table", "--format", "-f", help="Output format: table, json or markdown.")
Debug = typer.Option(False, "--debug", help="Show a traceback on errors.")


def _registry(specs_dir, catalog_dir):
    from llamasize.data.registry import load_registry

    return load_registry(specs_dir or [], catalog_dir or [])


def _check_format(fmt: str, allowed=("table", "json", "markdown")) -> str:
    f = fmt.strip().lower()
    if f not in allowed:
        raise UsageError(f"unknown format '{fmt}' (choices: {', '.join(allowed)})")
    return f


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def warn(message: str) -> None:
    """One warning line on stderr."""
    sys.stderr.write(f"llamasize: warning: {message}\n")


# ----------------------------------------------------------------------------------- commands ---
@app.command("models")
def models_cmd(fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
               catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """List the models of the spec registry."""
    from llamasize.render.results import render_models

    fmt = _check_format(fmt)
    _out(render_models(_registry(specs_dir, catalog_dir).models, fmt))


@app.command("gpus")
def gpus_cmd(fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
             catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """List the GPUs of the catalogue."""
    from llamasize.render.results import render_gpus

    fmt = _check_format(fmt)
    _out(render_gpus(_registry(specs_dir, catalog_dir).gpus, fmt))


@app.command("params")
def params_cmd(model: str = typer.Argument(..., help="Model id, alias, or path to a Hugging Face config.json."),
               fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir,
               catalog_dir: Optional[List[Path]] = CatalogDir, debug: bool = Debug) -> None:
    """Parameter breakdown of a model: per component, total and active per token."""
    from llamasize.estimate.params import count_params
    from llamasize.data.registry import resolve_model
    from llamasize.render.results import render_params

    fmt = _check_format(fmt)
    spec = resolve_model(_registry(specs_dir, catalog_dir), model)
    _out(render_params(count_params(spec), fmt))


# ------------------------------------------------------------------------- deployment flags ---
ModelOpt = typer.Option(..., "--model", "-m", help="Model id, alias, or path to a Hugging Face config.json.")
GpuOpt = typer.Option(..., "--gpu", "-g", help="GPU id or alias (see 'llamasize gpus'), or 'local': the detected GPU, else this CPU.")
GpusOpt = typer.Option("1", "--gpus", "-n", help="Number of GPUs in the deployment.")
TpOpt = typer.Option(None, "--tp", help="Tensor-parallel size (default: --gpus / --pp).")
PpOpt = typer.Option("1", "--pp", help="Pipeline-parallel size.")
EpOpt = typer.Option(False, "--ep", help="Expert parallelism for MoE layers (vLLM --enable-expert-parallel).")
QuantOpt = typer.Option(None, "--quant", "-q", help="Weight format (fp32 bf16 fp16 fp8 fp8_mixed int4_mixed int8 int4 nf4 mxfp4 nvfp4 q8_0 q6_k q5_k_m q4_k_m q4_0 q3_k_m q2_k); default: the format the model's checkpoint ships in.")
KvDtypeOpt = typer.Option("auto", "--kv-dtype", help="KV-cache dtype: auto, bf16, fp16, fp8.")
BatchOpt = typer.Option("1", "--batch", "-b", help="Concurrent sequences at that context.")
EngineOpt = typer.Option("vllm", "--engine", "-e", help="Serving engine: vllm, sglang, generic.")
KvLayoutOpt = typer.Option("auto", "--kv-layout", help="KV layout: full (every layer full length), hybrid (windowed layers capped), auto (the engine's default).")
GmuOpt = typer.Option(None, "--gpu-memory-utilization", help="vLLM's fraction of total GPU memory (default 0.92).")
MfsOpt = typer.Option(None, "--mem-fraction-static", help="SGLang's fraction for weights + KV (default: SGLang's automatic rule).")
MnbtOpt = typer.Option(None, "--max-num-batched-tokens", help="Tokens per forward pass (activation peak; in-flight tokens of windowed layers).")
MnsOpt = typer.Option(None, "--max-num-seqs", help="Sequences per step (sampler peak).")
OverheadOpt = typer.Option(None, "--overhead-gib", help="Runtime overhead per GPU in GiB, replacing the engine default.")
TextOnlyOpt = typer.Option(False, "--text-only", help="Do not load the vision tower.")


def _deployment(reg, *, model, gpu, gpus, tp, pp, ep, quant, kv_dtype, ctx, batch, engine, kv_layout,
                gpu_memory_utilization, mem_fraction_static, max_num_batched_tokens, max_num_seqs, overhead_gib,
                text_only):
    """Build a Deployment from the shared deployment flags (every value validated, one-line errors)."""
    from llamasize.estimate.memory import Deployment
    from llamasize.data.registry import resolve_model
    from llamasize.units import GIB, parse_count, parse_fraction

    spec = resolve_model(reg, model)
    g = _resolve_gpu(reg, gpu)
    if quant is None:
        quant = spec.default_quant
    n = parse_count(gpus, "--gpus", maximum=4096)
    ppn = parse_count(pp, "--pp", maximum=1024)
    tpn = parse_count(tp, "--tp", maximum=4096) if tp is not None else None
    if tpn is None:
        if n % ppn:
            raise UsageError(f"--gpus ({n}) is not divisible by --pp ({ppn})")
        tpn = n // ppn
    return Deployment(
        model=spec, gpu=g, gpu_count=n, quant=quant, context_tokens=ctx,
        tensor_parallel_size=tpn, pipeline_parallel_size=ppn, expert_parallel=ep, kv_cache_dtype=kv_dtype,
        batch=parse_count(batch, "--batch", maximum=1_000_000), engine=engine, kv_layout=kv_layout.strip().lower(),
        gpu_memory_utilization=None if gpu_memory_utilization is None else parse_fraction(gpu_memory_utilization, "--gpu-memory-utilization"),
        mem_fraction_static=None if mem_fraction_static is None else parse_fraction(mem_fraction_static, "--mem-fraction-static"),
        max_num_batched_tokens=None if max_num_batched_tokens is None else parse_count(max_num_batched_tokens, "--max-num-batched-tokens"),
        max_num_seqs=None if max_num_seqs is None else parse_count(max_num_seqs, "--max-num-seqs", maximum=1_000_000),
        overhead_bytes=None if overhead_gib is None else int(parse_fraction(overhead_gib, "--overhead-gib", low=0, high=1024, low_inclusive=True) * GIB),
        include_vision=not text_only,
    )


def _note_default_quant(quant_flag, d) -> None:
    """Say on stderr which format was assumed when --quant was not given."""
    if quant_flag is None:
        sys.stderr.write(f"llamasize: note: --quant not given: {d.model.id}'s checkpoint format, {d.quant}\n")


def _resolve_gpu(reg, name: str, calibration=None):
    """A catalogue GPU by id/alias, or ``local``: the detected GPU, else this CPU as a device."""
    if name.strip().lower() == "local":
        from llamasize.verify import local_device_spec

        spec, note = local_device_spec(reg, calibration)
        sys.stderr.write(f"llamasize: note: {note}\n")
        return spec
    return reg.gpu(name)


@app.command("fit")
def fit_cmd(
    model: str = ModelOpt, gpu: str = GpuOpt, gpus: str = GpusOpt, tp: Optional[str] = TpOpt, pp: str = PpOpt,
    ep: bool = EpOpt, quant: Optional[str] = QuantOpt, kv_dtype: str = KvDtypeOpt,
    ctx: str = typer.Option(..., "--ctx", "-c", help="Context length per sequence (8K = 8,192; 8k = 8,000; 1M = 1,048,576)."),
    batch: str = BatchOpt, engine: str = EngineOpt, kv_layout: str = KvLayoutOpt,
    gpu_memory_utilization: Optional[str] = GmuOpt, mem_fraction_static: Optional[str] = MfsOpt,
    max_num_batched_tokens: Optional[str] = MnbtOpt, max_num_seqs: Optional[str] = MnsOpt,
    overhead_gib: Optional[str] = OverheadOpt, text_only: bool = TextOnlyOpt,
    fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir, catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Evaluate one deployment. Exit 0 when it fits, 3 when it does not (the report is printed either way)."""
    from llamasize.estimate.memory import estimate_memory
    from llamasize.render.results import render_fit
    from llamasize.units import parse_count

    fmt = _check_format(fmt)
    reg = _registry(specs_dir, catalog_dir)
    d = _deployment(reg, model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, quant=quant, kv_dtype=kv_dtype,
                    ctx=parse_count(ctx, "--ctx"), batch=batch, engine=engine, kv_layout=kv_layout,
                    gpu_memory_utilization=gpu_memory_utilization, mem_fraction_static=mem_fraction_static,
                    max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
                    overhead_gib=overhead_gib, text_only=text_only)
    e = estimate_memory(d)
    for w in e.warnings:
        warn(w)
    _note_default_quant(quant, d)
    _out(render_fit(e, fmt))
    raise typer.Exit(ExitCode.OK if e.fits else ExitCode.NO_FIT)


def _efficiencies(gpu_id: str, calibration, prefill_efficiency, decode_efficiency):
    """Calibrated efficiencies for the device, with per-run overrides on top."""
    from dataclasses import replace

    from llamasize.estimate.calibration import efficiencies_for
    from llamasize.units import parse_fraction

    eff = efficiencies_for(gpu_id, calibration)
    if prefill_efficiency is not None or decode_efficiency is not None:
        eff = replace(
            eff, source="override",
            prefill=eff.prefill if prefill_efficiency is None else parse_fraction(prefill_efficiency, "--prefill-efficiency"),
            decode_bandwidth=eff.decode_bandwidth if decode_efficiency is None else parse_fraction(decode_efficiency, "--decode-efficiency"),
        )
    return eff


PromptOpt = typer.Option("2048", "--prompt-tokens", "-p", help="Prompt length per request.")
OutputOpt = typer.Option("512", "--output-tokens", "-o", help="Generated tokens per request.")
ConcurrencyOpt = typer.Option(None, "--concurrency", help="Sequences decoded together (default: --batch).")
PrefillEffOpt = typer.Option(None, "--prefill-efficiency", help="Override the prefill efficiency (fraction of dense peak).")
DecodeEffOpt = typer.Option(None, "--decode-efficiency", help="Override the decode efficiency (fraction of memory bandwidth).")
CalibrationOpt = typer.Option(None, "--calibration", help="Calibration file written by 'llamasize verify' (default: the user cache).")


@app.command("perf")
def perf_cmd(
    model: str = ModelOpt, gpu: str = GpuOpt, gpus: str = GpusOpt, tp: Optional[str] = TpOpt, pp: str = PpOpt,
    ep: bool = EpOpt, quant: Optional[str] = QuantOpt, kv_dtype: str = KvDtypeOpt,
    ctx: Optional[str] = typer.Option(None, "--ctx", "-c", help="Context the deployment is sized for (default: prompt + output)."),
    batch: str = BatchOpt, engine: str = EngineOpt, kv_layout: str = KvLayoutOpt,
    gpu_memory_utilization: Optional[str] = GmuOpt, mem_fraction_static: Optional[str] = MfsOpt,
    max_num_batched_tokens: Optional[str] = MnbtOpt, max_num_seqs: Optional[str] = MnsOpt,
    overhead_gib: Optional[str] = OverheadOpt, text_only: bool = TextOnlyOpt,
    prompt_tokens: str = PromptOpt, output_tokens: str = OutputOpt, concurrency: Optional[str] = ConcurrencyOpt,
    requests_per_day: Optional[str] = typer.Option(None, "--requests-per-day", help="Daily requests to check the deployment's capacity against."),
    prefill_efficiency: Optional[str] = PrefillEffOpt, decode_efficiency: Optional[str] = DecodeEffOpt,
    calibration: Optional[Path] = CalibrationOpt,
    fmt: str = Format, specs_dir: Optional[List[Path]] = SpecsDir, catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Speed of one deployment: TTFT, TPOT, tokens/s, tokens per GPU-hour, and the dominating bound."""
    from llamasize.estimate.perf import estimate_perf
    from llamasize.render.results import render_perf
    from llamasize.units import parse_amount, parse_count

    fmt = _check_format(fmt)
    reg = _registry(specs_dir, catalog_dir)
    p = parse_count(prompt_tokens, "--prompt-tokens")
    o = parse_count(output_tokens, "--output-tokens")
    c = parse_count(ctx, "--ctx") if ctx is not None else p + o
    d = _deployment(reg, model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, quant=quant, kv_dtype=kv_dtype,
                    ctx=c, batch=batch, engine=engine, kv_layout=kv_layout,
                    gpu_memory_utilization=gpu_memory_utilization, mem_fraction_static=mem_fraction_static,
                    max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
                    overhead_gib=overhead_gib, text_only=text_only)
    conc = parse_count(concurrency, "--concurrency", maximum=1_000_000) if concurrency is not None else d.batch
    rpd = None if requests_per_day is None else parse_amount(requests_per_day, "--requests-per-day", maximum=1e15)
    eff = _efficiencies(d.gpu.id, calibration, prefill_efficiency, decode_efficiency)
    e = estimate_perf(d, prompt_tokens=p, output_tokens=o, concurrency=conc, eff=eff, requests_per_day=rpd)
    for w in e.warnings:
        warn(w)
    _note_default_quant(quant, d)
    _out(render_perf(e, fmt))


def _pick(flag, file_value, default=None):
    """A flag wins over the workload file, which wins over the default."""
    if flag is not None:
        return flag
    if file_value is not None:
        return file_value
    return default


#: Workload-file keys each command reads; others are reported on stderr, never silently ignored.
_PLAN_KEYS = {"model", "quant", "ctx", "batch", "gpu", "exclude_gpu", "max_gpus", "max_nodes", "budget", "engine",
              "kv_layout", "kv_dtype", "headroom", "objective", "mau", "gpu_memory_utilization",
              "mem_fraction_static", "text_only", "layouts", "prompt_tokens", "output_tokens"}
WORKLOAD_KEYS_USED = {
    "plan": _PLAN_KEYS,
    "terraform-external": _PLAN_KEYS,
    "sweep": _PLAN_KEYS - {"budget", "objective", "mau", "gpu_memory_utilization", "mem_fraction_static",
                           "prompt_tokens", "output_tokens"},
    "cost": (_PLAN_KEYS - {"objective", "mau"}) | {"concurrency", "tokens_per_day"},
}


def _workload(workload):
    """A Workload from a path (parsed once), an already parsed Workload, or None (empty)."""
    from llamasize.workload import Workload, load_workload

    if isinstance(workload, Workload):
        return workload
    return load_workload(workload) if workload is not None else Workload()


def warn_unused_workload_keys(w, command: str) -> None:
    """One stderr warning per workload key the command does not read."""
    for key in sorted(w.model_fields_set - WORKLOAD_KEYS_USED[command]):
        warn(f"workload key '{key}' is not used by '{command}'")


def _plan_request(*, model, quant, ctx, batch, gpu, exclude_gpu, max_gpus, max_nodes, budget, engine, kv_layout,
                  kv_dtype, headroom, objective, mau, gpu_memory_utilization, mem_fraction_static, text_only,
                  layouts, alternatives, workload, specs_dir, catalog_dir, need_ctx=True):
    """Merge flags and the workload file into a PlanRequest (flags win)."""
    from llamasize.estimate.engines import check_engine
    from llamasize.plan.planner import DEFAULT_HEADROOM, PlanRequest
    from llamasize.estimate.quant import check_kv_dtype, get_format
    from llamasize.data.registry import resolve_model
    from llamasize.units import parse_count, parse_fraction
    from llamasize.workload import split_list

    w = _workload(workload)
    reg = _registry(specs_dir, catalog_dir)
    model_name = _pick(model, w.model)
    if model_name is None:
        raise UsageError("--model is required (or 'model:' in the --workload file)")
    spec = resolve_model(reg, model_name)
    q = _pick(quant, w.quant, "auto").strip().lower().replace("-", "_")
    if q != "auto":
        q = get_format(q).id
    kv = _pick(kv_dtype, w.kv_dtype, "auto").strip().lower()
    if kv != "any":
        kv = check_kv_dtype(kv)
    ctx_text = _pick(ctx, w.ctx)
    if ctx_text is None and need_ctx:
        raise UsageError("--ctx is required (or 'ctx:' in the --workload file)")
    gpus = split_list(gpu) or (w.gpu or [])
    excluded = split_list(exclude_gpu) or (w.exclude_gpu or [])
    for g in gpus + excluded:
        if g.strip().lower() == "local":
            raise UsageError("--gpu local is for 'fit' and 'perf' (one device); plan, sweep and cost search the "
                             "catalogue")
        reg.gpu(g)  # unknown ids fail here with a suggestion
    max_g = _pick(max_gpus, w.max_gpus)
    max_n = _pick(max_nodes, w.max_nodes)
    bud = _pick(budget, w.budget)
    head = _pick(headroom, w.headroom)
    gmu = _pick(gpu_memory_utilization, w.gpu_memory_utilization)
    mfs = _pick(mem_fraction_static, w.mem_fraction_static)
    req = PlanRequest(
        model=spec,
        context_tokens=parse_count(ctx_text, "--ctx") if ctx_text is not None else 1,
        quant=q,
        batch=parse_count(_pick(batch, w.batch, "1"), "--batch", maximum=1_000_000),
        gpus=tuple(gpus), exclude_gpus=tuple(excluded),
        max_gpus=None if max_g is None else parse_count(str(max_g), "--max-gpus", maximum=100_000),
        max_nodes=None if max_n is None else parse_count(str(max_n), "--max-nodes", maximum=1024),
        budget_usd_per_hour=None if bud is None else parse_fraction(bud, "--budget", low=0, high=1e7),
        engine=check_engine(_pick(engine, w.engine, "vllm")),
        kv_layout=_pick(kv_layout, w.kv_layout, "auto").strip().lower(),
        kv_cache_dtype=kv,
        headroom=DEFAULT_HEADROOM if head is None else parse_fraction(head, "--headroom", low=0, high=0.99,
                                                                       low_inclusive=True),
        objective=_pick(objective, w.objective, "cost").strip().lower(),
        gpu_memory_utilization=None if gmu is None else parse_fraction(gmu, "--gpu-memory-utilization"),
        mem_fraction_static=None if mfs is None else parse_fraction(mfs, "--mem-fraction-static"),
        include_vision=not (text_only or bool(w.text_only)),
        mau=None if _pick(mau, w.mau) is None else parse_count(str(_pick(mau, w.mau)), "--mau", minimum=0,
                                                                 maximum=10**11),
        alternatives=alternatives,
        layout_mode=_pick(layouts, w.layouts, "practical").strip().lower(),
    )
    return req, reg, w


PLAN_FORMATS = ("table", "json", "markdown", "tfvars")


def _with_workload_shape(req, workload, prompt_tokens, output_tokens, price, calibration):
    """Prompt/output lengths (flag > workload file > default), price kind and calibration of a plan."""
    from dataclasses import replace

    from llamasize.plan.cost import PRICE_KINDS, PriceBasis
    from llamasize.plan.planner import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
    from llamasize.units import parse_count

    w = _workload(workload)
    kind = price.strip().lower().replace("-", "_")
    if kind not in PRICE_KINDS or kind == "owned":
        raise UsageError(f"unknown --price '{price}' for plan (choices: on_demand, spot, reserved, capacity_block; "
                         "owned hardware is priced by 'llamasize cost')")
    return replace(
        req,
        prompt_tokens=parse_count(_pick(prompt_tokens, w.prompt_tokens, str(DEFAULT_PROMPT_TOKENS)), "--prompt-tokens"),
        output_tokens=parse_count(_pick(output_tokens, w.output_tokens, str(DEFAULT_OUTPUT_TOKENS)), "--output-tokens"),
        price_basis=PriceBasis(kind=kind), calibration=calibration,
    )


@app.command("plan")
def plan_cmd(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model id, alias, or path to a config.json."),
    quant: Optional[str] = typer.Option(None, "--quant", "-q", help="Weight format, or 'auto' (every format the GPU runs well). Default auto."),
    ctx: Optional[str] = typer.Option(None, "--ctx", "-c", help="Context length per sequence (8K, 128K, 1M, ...)."),
    batch: Optional[str] = typer.Option(None, "--batch", "-b", help="Concurrent sequences at that context (default 1)."),
    gpu: Optional[List[str]] = typer.Option(None, "--gpu", "-g", help="Allowed GPU types (comma-separated or repeated)."),
    exclude_gpu: Optional[List[str]] = typer.Option(None, "--exclude-gpu", help="GPU types to leave out."),
    max_gpus: Optional[str] = typer.Option(None, "--max-gpus", help="At most this many GPUs."),
    max_nodes: Optional[str] = typer.Option(None, "--max-nodes", help="At most this many nodes (default: one, widened to 4 when nothing fits in one)."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Budget in USD per hour for the whole deployment."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="vllm (default), sglang, generic."),
    kv_layout: Optional[str] = typer.Option(None, "--kv-layout", help="auto (engine default), full, hybrid."),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="auto (model dtype), bf16, fp16, fp8, or 'any' to search."),
    headroom: Optional[str] = typer.Option(None, "--headroom", help="Fraction of the engine budget that must stay free (default 0.05)."),
    objective: Optional[str] = typer.Option(None, "--objective", help="cost (default: cheapest per hour), gpus (fewest), headroom (most)."),
    mau: Optional[str] = typer.Option(None, "--mau", help="Monthly active users, checked against the license's threshold."),
    gpu_memory_utilization: Optional[str] = typer.Option(None, "--gpu-memory-utilization", help="vLLM's fraction of total GPU memory."),
    mem_fraction_static: Optional[str] = typer.Option(None, "--mem-fraction-static", help="SGLang's weights + KV fraction."),
    text_only: bool = typer.Option(False, "--text-only", help="Do not load the vision tower."),
    layouts: Optional[str] = typer.Option(None, "--layouts", help="practical (TP in a node, PP across nodes; default) or all."),
    alternatives: int = typer.Option(5, "--alternatives", min=0, max=50, help="How many alternatives to list."),
    prompt_tokens: Optional[str] = typer.Option(None, "--prompt-tokens", "-p", help="Prompt tokens per request for the speed and $/token columns (default 2048)."),
    output_tokens: Optional[str] = typer.Option(None, "--output-tokens", "-o", help="Output tokens per request (default 512)."),
    price: str = typer.Option("on_demand", "--price", help="GPU-hour price kind: on_demand, spot, reserved, capacity_block."),
    calibration: Optional[Path] = CalibrationOpt,
    workload: Optional[Path] = typer.Option(None, "--workload", "-w", help="YAML file with the same keys as the flags (flags win)."),
    emit: Optional[str] = typer.Option(None, "--emit", help="Print the launch command of the recommendation: vllm or sglang."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, markdown or tfvars."),
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Search GPU type x count x layout x quantization and recommend a deployment. Exit 3 when nothing fits."""
    from llamasize.plan.planner import plan

    fmt = _check_format(fmt, PLAN_FORMATS)
    if emit is not None and emit.strip().lower() not in ("vllm", "sglang"):
        raise UsageError(f"unknown --emit target '{emit}' (choices: vllm, sglang)")
    req, reg, w = _plan_request(
        model=model, quant=quant, ctx=ctx, batch=batch, gpu=gpu, exclude_gpu=exclude_gpu, max_gpus=max_gpus,
        max_nodes=max_nodes, budget=budget, engine=engine, kv_layout=kv_layout, kv_dtype=kv_dtype,
        headroom=headroom, objective=objective, mau=mau, gpu_memory_utilization=gpu_memory_utilization,
        mem_fraction_static=mem_fraction_static, text_only=text_only, layouts=layouts, alternatives=alternatives,
        workload=workload, specs_dir=specs_dir, catalog_dir=catalog_dir)
    warn_unused_workload_keys(w, "plan")
    req = _with_workload_shape(req, w, prompt_tokens, output_tokens, price, calibration)
    res = plan(req, reg)
    for w in res.license_warnings:
        warn(w)
    rec = res.recommendation
    if emit is not None:
        if rec is None:
            raise_no_fit(res)
        _out(_emit(emit.strip().lower(), req, rec, reg))
        raise typer.Exit(ExitCode.OK)
    if fmt == "tfvars":
        if rec is None:
            raise_no_fit(res)
        from llamasize.render.results import render_plan

        _out(render_plan(res, "tfvars"))
        raise typer.Exit(ExitCode.OK)
    from llamasize.render.results import render_plan

    _out(render_plan(res, fmt))
    raise typer.Exit(ExitCode.OK if rec is not None else ExitCode.NO_FIT)


class NoFitError(LlamasizeError):
    """Nothing fits (exit 3) where only a recommendation could be printed."""

    exit_code = ExitCode.NO_FIT


def raise_no_fit(res) -> None:
    """Exit 3 with the planner's suggestions in one line."""
    hint = "; ".join(res.suggestions) if res.suggestions else "no tried change fits either"
    raise NoFitError(f"nothing fits within the limits; what would: {hint}")


def _emit(engine: str, req, rec, reg) -> str:
    """The launch command (stdout) and its notes (stderr, as comments). The plan must have been
    sized for the same engine: vLLM and SGLang budget memory differently."""
    from llamasize.integrations.launch import sglang_command, vllm_command

    if engine != req.engine:
        raise UsageError(f"--emit {engine} needs a plan sized for {engine}'s memory rules: add --engine {engine} "
                         f"(this plan used --engine {req.engine})")
    kw = dict(tp=rec.tensor_parallel_size, pp=rec.pipeline_parallel_size, ep=rec.expert_parallel, quant=rec.quant,
              kv_cache_dtype=rec.kv_cache_dtype, max_model_len=req.context_tokens, nodes=rec.nodes,
              kv_layout=rec.kv_layout)
    if engine == "vllm":
        cmd = vllm_command(req.model, gpu_memory_utilization=req.gpu_memory_utilization, **kw)
    else:
        from llamasize.estimate.engines import engine_budget

        fraction = req.mem_fraction_static
        if fraction is None:  # the automatic value the plan was sized with, pinned so the server matches
            fraction = engine_budget("sglang", reg.gpu(rec.gpu), tp=rec.tensor_parallel_size,
                                     pp=rec.pipeline_parallel_size).fraction
        cmd = sglang_command(req.model, mem_fraction_static=fraction, **kw)
    for n in cmd.notes:
        sys.stderr.write(f"# note: {n}\n")
    sys.stderr.write(f"# {rec.gpu_count} x {rec.gpu}, {rec.nodes} node(s)\n")
    return "".join(line + "\n" for line in cmd.setup) + cmd.text() + "\n"


@app.command("sweep")
def sweep_cmd(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model id, alias, or path to a config.json."),
    quant: Optional[str] = typer.Option(None, "--quant", "-q", help="Weight format or 'auto' (default auto)."),
    ctx: str = typer.Option("8K,128K,1M", "--ctx", "-c", help="Comma-separated context lengths (e.g. 8K,128K,1M,10M)."),
    batch: Optional[str] = typer.Option(None, "--batch", "-b", help="Concurrent sequences (default 1)."),
    gpu: Optional[List[str]] = typer.Option(None, "--gpu", "-g", help="GPU types to include (default: all)."),
    exclude_gpu: Optional[List[str]] = typer.Option(None, "--exclude-gpu", help="GPU types to leave out."),
    max_gpus: Optional[str] = typer.Option(None, "--max-gpus", help="At most this many GPUs."),
    max_nodes: Optional[str] = typer.Option(None, "--max-nodes", help="At most this many nodes (default 4)."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="vllm (default), sglang, generic."),
    kv_layout: Optional[str] = typer.Option(None, "--kv-layout", help="auto, full, hybrid."),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="auto, bf16, fp16, fp8, any."),
    headroom: Optional[str] = typer.Option(None, "--headroom", help="Required free fraction of the budget (default 0.05)."),
    text_only: bool = typer.Option(False, "--text-only", help="Do not load the vision tower."),
    layouts: Optional[str] = typer.Option(None, "--layouts", help="practical (default) or all."),
    workload: Optional[Path] = typer.Option(None, "--workload", "-w", help="YAML workload file (flags win)."),
    fmt: str = Format,
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Minimum GPU count per GPU type and context length: how does this model scale?"""
    from llamasize.plan.sweep import sweep
    from llamasize.render.results import render_sweep
    from llamasize.units import parse_count

    fmt = _check_format(fmt)
    contexts = [parse_count(c, "--ctx") for c in ctx.split(",") if c.strip()]
    if not contexts:
        raise UsageError("--ctx needs at least one context length")
    req, reg, w = _plan_request(
        model=model, quant=quant, ctx=None, batch=batch, gpu=gpu, exclude_gpu=exclude_gpu, max_gpus=max_gpus,
        max_nodes=max_nodes, budget=None, engine=engine, kv_layout=kv_layout, kv_dtype=kv_dtype, headroom=headroom,
        objective=None, mau=None, gpu_memory_utilization=None, mem_fraction_static=None, text_only=text_only,
        layouts=layouts, alternatives=0, workload=workload, specs_dir=specs_dir, catalog_dir=catalog_dir,
        need_ctx=False)
    warn_unused_workload_keys(w, "sweep")
    _out(render_sweep(sweep(req, contexts, reg), fmt))


@app.command("cost")
def cost_cmd(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model id, alias, or path to a config.json."),
    tokens_per_day: Optional[str] = typer.Option(None, "--tokens-per-day", help="Daily token volume (input + output) to price, e.g. 50m or 2e9."),
    quant: Optional[str] = typer.Option(None, "--quant", "-q", help="Weight format or 'auto' (default)."),
    ctx: Optional[str] = typer.Option(None, "--ctx", "-c", help="Context the deployment is sized for (default: prompt + output)."),
    concurrency: Optional[str] = typer.Option(None, "--concurrency", help="Sequences decoded together (default 32)."),
    prompt_tokens: Optional[str] = typer.Option(None, "--prompt-tokens", "-p", help="Prompt tokens per request (default 2048)."),
    output_tokens: Optional[str] = typer.Option(None, "--output-tokens", "-o", help="Output tokens per request (default 512)."),
    gpu: Optional[List[str]] = typer.Option(None, "--gpu", "-g", help="Allowed GPU types (comma-separated or repeated)."),
    exclude_gpu: Optional[List[str]] = typer.Option(None, "--exclude-gpu", help="GPU types to leave out."),
    max_gpus: Optional[str] = typer.Option(None, "--max-gpus", help="At most this many GPUs per replica."),
    max_nodes: Optional[str] = typer.Option(None, "--max-nodes", help="At most this many nodes per replica."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="vllm (default), sglang, generic."),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="auto, bf16, fp16, fp8, any."),
    price: str = typer.Option("on_demand", "--price", help="GPU-hour price: on_demand, spot, reserved, capacity_block, owned."),
    usd_per_gpu_hour: Optional[str] = typer.Option(None, "--usd-per-gpu-hour", help="Your own price per GPU-hour (wins over the catalogue)."),
    capex_usd_per_gpu: Optional[str] = typer.Option(None, "--capex-usd-per-gpu", help="--price owned: purchase price per GPU (USD)."),
    amortization_years: Optional[str] = typer.Option(None, "--amortization-years", help="--price owned: straight-line term (default 3)."),
    usd_per_kwh: Optional[str] = typer.Option(None, "--usd-per-kwh", help="--price owned: electricity price."),
    pue: Optional[str] = typer.Option(None, "--pue", help="--price owned: power usage effectiveness (default 1.0)."),
    utilization: Optional[str] = typer.Option(None, "--utilization", help="Fraction of the day serving at full throughput (default 1.0)."),
    options: int = typer.Option(3, "--options", min=1, max=20, help="How many self-hosted options to compare."),
    all_references: bool = typer.Option(False, "--all-references", help="Compare with every frontier reference API, not only GPT-4o and Claude Sonnet."),
    svg: Optional[Path] = typer.Option(None, "--svg", help="Also write the cost-vs-volume chart to this SVG file."),
    workload: Optional[Path] = typer.Option(None, "--workload", "-w", help="YAML workload file (flags win)."),
    calibration: Optional[Path] = CalibrationOpt,
    fmt: str = Format,
    specs_dir: Optional[List[Path]] = SpecsDir,
    catalog_dir: Optional[List[Path]] = CatalogDir,
    debug: bool = Debug,
) -> None:
    """Self-hosting vs API: $/day, $/1M tokens, break-even volumes, and a cost-vs-volume chart."""
    from dataclasses import replace

    from llamasize.plan.cost import AMORTIZATION_YEARS, PriceBasis, compare_costs
    from llamasize.plan.planner import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
    from llamasize.render.results import render_cost
    from llamasize.units import parse_amount, parse_count, parse_fraction

    fmt = _check_format(fmt)
    w = _workload(workload)
    p = parse_count(_pick(prompt_tokens, w.prompt_tokens, str(DEFAULT_PROMPT_TOKENS)), "--prompt-tokens")
    o = parse_count(_pick(output_tokens, w.output_tokens, str(DEFAULT_OUTPUT_TOKENS)), "--output-tokens")
    # the workload's batch (concurrent sequences) stands in for concurrency when only it is given
    conc = parse_count(_pick(concurrency, w.concurrency or w.batch, "32"), "--concurrency", maximum=1_000_000)
    tpd_text = _pick(tokens_per_day, w.tokens_per_day)
    tpd = None if tpd_text is None else parse_amount(tpd_text, "--tokens-per-day")
    basis = PriceBasis(
        kind=price.strip().lower().replace("-", "_"),
        usd_per_gpu_hour=None if usd_per_gpu_hour is None else parse_fraction(usd_per_gpu_hour, "--usd-per-gpu-hour", high=1000),
        capex_usd_per_gpu=None if capex_usd_per_gpu is None else parse_fraction(capex_usd_per_gpu, "--capex-usd-per-gpu", high=1e7),
        amortization_years=AMORTIZATION_YEARS if amortization_years is None else parse_fraction(amortization_years, "--amortization-years", high=50),
        usd_per_kwh=None if usd_per_kwh is None else parse_fraction(usd_per_kwh, "--usd-per-kwh", high=100),
        pue=1.0 if pue is None else parse_fraction(pue, "--pue", low=1.0, high=5.0, low_inclusive=True),
        utilization=1.0 if utilization is None else parse_fraction(utilization, "--utilization"),
    )
    req, reg, _ = _plan_request(
        model=model, quant=quant, ctx=ctx or w.ctx or str(p + o), batch=str(conc), gpu=gpu,
        exclude_gpu=exclude_gpu, max_gpus=max_gpus, max_nodes=max_nodes, budget=None, engine=engine,
        kv_layout=None, kv_dtype=kv_dtype, headroom=None, objective="cost-per-token", mau=None,
        gpu_memory_utilization=None, mem_fraction_static=None, text_only=False, layouts=None,
        alternatives=max(8, 4 * options), workload=w, specs_dir=specs_dir, catalog_dir=catalog_dir)
    warn_unused_workload_keys(w, "cost")
    req = replace(req, prompt_tokens=p, output_tokens=o, price_basis=basis, calibration=calibration)
    if req.context_tokens < p + o:
        raise UsageError(f"--ctx ({req.context_tokens:,}) is shorter than prompt + output ({p + o:,} tokens)")
    report, res = compare_costs(req, reg, basis, tokens_per_day=tpd, options=options, all_references=all_references)
    if report is None:
        raise_no_fit(res)
    for wmsg in report.warnings:
        warn(wmsg)
    if svg is not None:
        from llamasize.render.results import cost_chart_svg

        try:
            svg.write_text(cost_chart_svg(report), encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {svg}: {e.strerror or e}") from None
        sys.stderr.write(f"llamasize: wrote {svg}\n")
    _out(render_cost(report, fmt))


# ------------------------------------------------------------------------------------- main ----
def _debug_wanted(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("LLAMASIZE_DEBUG", "") not in ("", "0")


def _is_usage_error(e: Exception) -> bool:
    """Click's (or typer's vendored click's) UsageError family, recognised without importing click."""
    return any(cls.__name__ == "UsageError" for cls in type(e).__mro__) and hasattr(e, "format_message")


#: Commands that run the numpy runtime: BLAS is pinned to one thread for them (unless the user set
#: the variables), because a multi-threaded BLAS stalls badly when another process holds a core and
#: the measurements would then say more about the machine's load than about the model.
RUNTIME_COMMANDS = ("verify", "run")
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _pin_blas_threads(argv: list[str]) -> None:
    """One BLAS thread for the runtime commands and for ``--gpu local`` (which may measure this
    CPU), when numpy is not imported yet."""
    if "numpy" in sys.modules or not argv or (argv[0] not in RUNTIME_COMMANDS and "local" not in argv):
        return
    for var in BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code and at most one stderr line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _pin_blas_threads(argv)
    command = typer.main.get_command(app)
    debug = _debug_wanted(argv)
    try:
        rv = command.main(args=argv, prog_name="llamasize", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("llamasize: interrupted\n")
        code = 130
    except LlamasizeError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"llamasize: error: {e}\n")
        code = e.exit_code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitCode.OK
    except Exception as e:  # noqa: BLE001 - the one place that maps crashes to an exit code
        if _is_usage_error(e):
            if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:
                sys.stdout.write(e.ctx.get_help() + "\n")
                code = ExitCode.OK
            else:
                ctx = getattr(e, "ctx", None)
                sub = ctx.info_name if ctx is not None and ctx.parent is not None else None
                hint = f" (see 'llamasize {sub} --help')" if sub else " (see 'llamasize --help')"
                sys.stderr.write(f"llamasize: error: {e.format_message()}{hint}\n")
                code = ExitCode.USAGE
        else:
            if debug:
                import traceback

                traceback.print_exc()
            sys.stderr.write(f"llamasize: internal error: {type(e).__name__}: {e} (run with --debug for a traceback)\n")
            code = ExitCode.INTERNAL
    sys.exit(int(code))
from llamasize.cli import infra  # noqa: E402,F401 - registers check, terraform-external, schema
from llamasize.cli import runtime  # noqa: E402,F401 - registers detect, verify, run
