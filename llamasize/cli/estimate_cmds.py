"""Commands about the catalogue and one deployment: ``models``, ``gpus``, ``params``, ``fit``, ``perf``.

Each parses its flags (``cli.options``), builds the core request (``cli.inputs``), calls one core
function and renders. The JSON path dumps the result and imports no renderer.
"""

from __future__ import annotations

import typer

from llamasize.cli import inputs, perf_inputs, serving_flags
from llamasize.cli.options import (
    CpuOffloadGb, EnforceEager, KvCacheMemoryBytes, MaxLoraRank, MaxLoras,
    Admission, Arrival, Qps, Requests, SimSeed, Dp, DpAttention,
    Batch, Calibration, CatalogDir, Concurrency, Ctx, Debug, DecodeEfficiency, Engine, Ep, Format, Gpu, Gpus, Instances,
    GpuMemoryUtilization, KvDtype, KvLayout, MaxNumBatchedTokens, MaxNumSeqs, MemFractionStatic, ModelArg,
    ModelName, OutputTokens, OverheadGib, Pp, PrefillEfficiency, PromptTokens, Quant, RequestsPerDay, SpecsDir,
    TextOnly, Tp,
)
from llamasize.cli.options import EngineVersion, HybridKvCache, KvCacheFreeGpuMemFraction
from llamasize.cli.output import note, out, warn
from llamasize.errors import ExitCode, UsageError


def models_cmd(fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None,
               debug: Debug = False) -> None:
    """List the models of the spec registry."""
    from llamasize.render.catalog import render_models

    fmt = inputs.output_format(fmt)
    out(render_models(inputs.registry(specs_dir, catalog_dir).models, fmt))


def gpus_cmd(fmt: Format = None, instances: Instances = False, specs_dir: SpecsDir = None,
             catalog_dir: CatalogDir = None, debug: Debug = False) -> None:
    """List the GPUs of the catalogue (--instances: the cloud instance types)."""
    from llamasize.render.catalog import render_gpus, render_instances

    fmt = inputs.output_format(fmt)
    reg = inputs.registry(specs_dir, catalog_dir)
    out(render_instances(reg.instances, fmt) if instances else render_gpus(reg.gpus, fmt))


def params_cmd(model: ModelArg, fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None,
               debug: Debug = False) -> None:
    """Parameter breakdown of a model: per component, total and active per token."""
    from llamasize.estimate.params import count_params

    fmt = inputs.output_format(fmt)
    b = count_params(inputs.model_spec(inputs.registry(specs_dir, catalog_dir), model))
    for message in b.warnings:
        warn(message)
    for w in b.checkpoint.warnings if b.checkpoint else []:
        warn(w)
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(b))
        return
    from llamasize.render.estimate import render_params

    out(render_params(b, fmt))


def fit_cmd(
    *, model: ModelName, gpu: Gpu, gpus: Gpus = None, tp: Tp = None, pp: Pp = None, ep: Ep = False,
    dp: Dp = None, dp_attention: DpAttention = False,
    quant: Quant = None, kv_dtype: KvDtype = None, ctx: Ctx, batch: Batch = None, engine: Engine = None,
    kv_layout: KvLayout = None, gpu_memory_utilization: GpuMemoryUtilization = None,
    mem_fraction_static: MemFractionStatic = None, max_num_batched_tokens: MaxNumBatchedTokens = None,
    max_num_seqs: MaxNumSeqs = None, overhead_gib: OverheadGib = None, text_only: TextOnly = False,
    calibration: Calibration = None,
    engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
    kv_cache_free_gpu_mem_fraction: KvCacheFreeGpuMemFraction = None,
    fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None, debug: Debug = False,
    kv_cache_memory_bytes: KvCacheMemoryBytes = None, cpu_offload_gb: CpuOffloadGb = None, max_loras: MaxLoras = None,
    max_lora_rank: MaxLoraRank = None, enforce_eager: EnforceEager = False,
) -> None:
    """Evaluate one deployment. Exit 0 when it fits, 3 when it does not (the report is printed either way)."""
    from llamasize.estimate.memory import estimate_memory

    fmt = inputs.output_format(fmt)
    context = inputs.context(ctx)
    reg = inputs.registry(specs_dir, catalog_dir)
    d = inputs.deployment(reg, model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, quant=quant, kv_dtype=kv_dtype,
                          ctx=context, batch=batch, engine=engine, kv_layout=kv_layout,
                          gpu_memory_utilization=gpu_memory_utilization, mem_fraction_static=mem_fraction_static,
                          max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
                          overhead_gib=overhead_gib, text_only=text_only, dp=dp, dp_attention=dp_attention,
                          calibration=calibration, engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
                          kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    d = serving_flags.serving_extras(d, kv_cache_memory_bytes=kv_cache_memory_bytes, cpu_offload_gb=cpu_offload_gb,
                                     max_loras=max_loras, max_lora_rank=max_lora_rank, enforce_eager=enforce_eager)
    e = estimate_memory(d)
    _warn_and_note(e.warnings, quant, d)
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(e))
    else:
        from llamasize.render.estimate import render_fit

        out(render_fit(e, fmt))
    raise typer.Exit(ExitCode.OK if e.fits else ExitCode.NO_FIT)


def _simulated(e, d, eff, prompt: int, output: int, sim: dict, concurrency: int, sds: tuple = (None, None)):
    """``e`` from a simulation (``estimate.simulate.simulated_perf``; ``--arrival closed``:
    ``concurrency`` clients); a request the KV cache cannot hold is a usage error."""
    from llamasize.estimate.simulate import simulated_perf

    try:
        return simulated_perf(e, d, eff=eff, prompt_tokens=prompt, output_tokens=output, arrival=sim["arrival"],
                              requests=sim["n"], qps=sim["qps"], seed=sim["seed"], admission=sim["admission"],
                              clients=concurrency if sim["arrival"] == "closed" else None, prompt_sd=sds[0],
                              output_sd=sds[1])
    except ValueError as err:
        raise UsageError(f"cannot simulate: {err}") from None


def perf_cmd(
    *, model: ModelName, gpu: Gpu, gpus: Gpus = None, tp: Tp = None, pp: Pp = None, ep: Ep = False,
    dp: Dp = None, dp_attention: DpAttention = False,
    quant: Quant = None, kv_dtype: KvDtype = None, ctx: Ctx = None, batch: Batch = None, engine: Engine = None,
    kv_layout: KvLayout = None, gpu_memory_utilization: GpuMemoryUtilization = None,
    mem_fraction_static: MemFractionStatic = None, max_num_batched_tokens: MaxNumBatchedTokens = None,
    max_num_seqs: MaxNumSeqs = None, overhead_gib: OverheadGib = None, text_only: TextOnly = False,
    prompt_tokens: PromptTokens = None, output_tokens: OutputTokens = None, concurrency: Concurrency = None,
    requests_per_day: RequestsPerDay = None, prefill_efficiency: PrefillEfficiency = None,
    decode_efficiency: DecodeEfficiency = None, calibration: Calibration = None, arrival: Arrival = None,
    requests: Requests = None, qps: Qps = None, admission: Admission = None, seed: SimSeed = None,
    engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
    kv_cache_free_gpu_mem_fraction: KvCacheFreeGpuMemFraction = None,
    fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None, debug: Debug = False,
) -> None:
    """Speed of one deployment: TTFT, TPOT, tokens/s, tokens per GPU-hour, and the dominating bound;
    with --arrival, from a step-by-step simulation of continuous batching."""
    from llamasize.estimate.perf import estimate_perf

    fmt = inputs.output_format(fmt)
    reg = inputs.registry(specs_dir, catalog_dir)
    p, o, c = perf_inputs.perf_shape(prompt_tokens, output_tokens, ctx)
    want_max = perf_inputs.is_max(concurrency) or perf_inputs.is_max(batch)  # the largest concurrency the KV pool holds
    d = inputs.deployment(reg, model=model, gpu=gpu, gpus=gpus, tp=tp, pp=pp, ep=ep, quant=quant, kv_dtype=kv_dtype,
                          ctx=c, batch=None if perf_inputs.is_max(batch) else batch, engine=engine, kv_layout=kv_layout,
                          gpu_memory_utilization=gpu_memory_utilization, mem_fraction_static=mem_fraction_static,
                          max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
                          overhead_gib=overhead_gib, text_only=text_only, calibration=calibration, dp=dp,
                          dp_attention=dp_attention, engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
                          kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    conc, rpd = perf_inputs.perf_load(None if want_max else concurrency, requests_per_day, d.batch)
    if want_max:
        conc = perf_inputs.max_concurrency(d, c, "--concurrency" if perf_inputs.is_max(concurrency) else "--batch")
    eff = inputs.efficiencies(d.gpu, calibration, prefill_efficiency, decode_efficiency)
    sim = perf_inputs.simulation(arrival, requests, qps, admission, seed)
    sds = tuple(perf_inputs.token_length(v, f)[1] if v is not None else None
                for v, f in ((prompt_tokens, "--prompt-tokens"), (output_tokens, "--output-tokens")))
    if any(sds) and sim is None:
        raise UsageError("a length distribution (normal:MEAN:SD) is drawn by the simulation: add --arrival")
    if any(sds) and sim["seed"] is None:
        sim["seed"] = inputs.seed(seed)  # the draws are seeded; the seed is in the output
    e = estimate_perf(d, prompt_tokens=p, output_tokens=o, concurrency=conc, eff=eff, requests_per_day=rpd)
    if sim is not None:
        e = _simulated(e, d, eff, p, o, sim, conc, sds)
    _warn_and_note(e.warnings, quant, d)
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(e))
        return
    from llamasize.render.estimate import render_perf

    out(render_perf(e, fmt))


def _warn_and_note(warnings: list[str], quant: str | None, d) -> None:
    """The estimate's warnings, then the note on the default weight format, on stderr."""
    for w in warnings:
        warn(w)
    inputs.warn_on_the_fly(d.model, quant)
    quant_note = inputs.default_quant_note(quant, d)
    if quant_note:
        note(quant_note)
