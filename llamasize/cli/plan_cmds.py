"""Commands that search the catalogue: ``plan``, ``sweep`` and ``cost``.

Each merges its flags with the ``--workload`` file (``cli.inputs``; flags win), calls the planner
and renders. ``plan --format json`` dumps the result and imports no renderer.
"""

from __future__ import annotations

import sys

import typer

from llamasize.cli import inputs, perf_inputs
from llamasize.cli.options import (
    AllReferences, Alternatives, AmortizationYears, Batch, Budget, Calibration, CapexUsdPerGpu, CatalogDir,
    Concurrency, Contexts, CostOptions, Ctx, Debug, Emit, Engine, ExcludeGpu, Format, GpuMemoryUtilization,
    GpuTypes, Headroom, KvDtype, KvLayout, Layouts, Mau, MaxGpus, MaxNodes, MemFractionStatic, ModelName,
    Objective, OutputTokens, Price, PromptTokens, Pue, Quant, SpecsDir, Svg, Force, TextOnly, TokensPerDay, UsdPerGpuHour,
    UsdPerKwh, Utilization, Workload, EngineVersion, HybridKvCache, KvCacheFreeGpuMemFraction,
    Dp, DpAttention, Ep, FrontierConcurrency, Gpus, MaxTpot, MaxTtft, SimSeed, SloPercentile, SloQps, SloRequests,
    SloRequestsPerDay, Pp, Tp,
)
from llamasize.cli.output import out, raise_no_fit, warn
from llamasize.errors import ExitCode, UsageError
from llamasize.text import quote_value

PLAN_FORMATS = ("table", "json", "markdown", "tfvars")


def plan_cmd(
    model: ModelName = None, quant: Quant = None, ctx: Ctx = None, batch: Batch = None, gpu: GpuTypes = None,
    exclude_gpu: ExcludeGpu = None, max_gpus: MaxGpus = None, max_nodes: MaxNodes = None, budget: Budget = None,
    engine: Engine = None, kv_layout: KvLayout = None, kv_dtype: KvDtype = None, headroom: Headroom = None,
    objective: Objective = None, mau: Mau = None, gpu_memory_utilization: GpuMemoryUtilization = None,
    mem_fraction_static: MemFractionStatic = None, text_only: TextOnly = False, layouts: Layouts = None,
    alternatives: Alternatives = None, prompt_tokens: PromptTokens = None, output_tokens: OutputTokens = None,
    price: Price = None, calibration: Calibration = None, workload: Workload = None, emit: Emit = None,
    fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None, debug: Debug = False,
    max_ttft: MaxTtft = None, max_tpot: MaxTpot = None, slo_percentile: SloPercentile = None, qps: SloQps = None,
    requests_per_day: SloRequestsPerDay = None, requests: SloRequests = None, seed: SimSeed = None,
    engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
    kv_cache_free_gpu_mem_fraction: KvCacheFreeGpuMemFraction = None,
) -> None:
    """Search GPU type x count x layout x quantization and recommend a deployment. Exit 3 when nothing fits.
    With --max-ttft/--max-tpot and --qps (or --requests-per-day): the cheapest deployment x replicas x
    concurrency cap whose simulated latencies meet the targets at that load; exit 3 with the nearest miss."""
    from llamasize.estimate.params import architecture_warnings
    from llamasize.plan.planner import plan

    target = inputs.emit_target(emit)
    if target is not None and fmt is not None:  # it was ignored silently: --format json printed a shell command
        raise UsageError(f"--emit prints the launch command (or manifest) as shell text or YAML; leave out --format {quote_value(fmt)}")
    fmt = inputs.output_format(fmt, PLAN_FORMATS)
    req, reg, w = inputs.plan_request(
        model=model, quant=quant, ctx=ctx, batch=batch, gpu=gpu, exclude_gpu=exclude_gpu, max_gpus=max_gpus,
        max_nodes=max_nodes, budget=budget, engine=engine, kv_layout=kv_layout, kv_dtype=kv_dtype,
        headroom=headroom, objective=objective, mau=mau, gpu_memory_utilization=gpu_memory_utilization,
        mem_fraction_static=mem_fraction_static, text_only=text_only, layouts=layouts, alternatives=alternatives,
        workload_file=workload, specs_dir=specs_dir, catalog_dir=catalog_dir, engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
        kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    for key in inputs.unused_workload_keys(w, "plan"):
        warn(f"workload key '{key}' is not used by 'plan'")
    req = inputs.with_workload_shape(req, w, prompt_tokens, output_tokens, price, calibration)
    sreq = inputs.slo_request(req, max_ttft=max_ttft, max_tpot=max_tpot, percentile=slo_percentile, qps=qps,
                              requests_per_day=requests_per_day, requests=requests, sim_seed=seed)
    if sreq is not None:
        _slo_plan(sreq, reg, fmt, target)
    res = plan(req, reg)
    for message in architecture_warnings(req.model) + res.license_warnings:
        warn(message)
    rec = res.recommendation
    if target is not None:
        if rec is None:
            raise_no_fit(res.suggestions)
        out(_launch_text(target, req, rec, reg))
        raise typer.Exit(ExitCode.OK)
    if fmt == "tfvars" and rec is None:
        raise_no_fit(res.suggestions)
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(res))
    else:
        from llamasize.render.plan import render_plan

        out(render_plan(res, fmt))
    raise typer.Exit(ExitCode.OK if rec is not None else ExitCode.NO_FIT)


def _slo_plan(sreq, reg, fmt: str, target: str | None) -> None:
    """``plan`` with latency targets (``plan.slo``): the report on stdout, the nearest miss on stderr
    and exit 3 when nothing meets them."""
    from llamasize.estimate.params import architecture_warnings
    from llamasize.plan.slo import plan_slo

    if target is not None or fmt == "tfvars":
        raise UsageError("--max-ttft/--max-tpot plans print table, json or markdown (no --emit or tfvars yet)")
    res = plan_slo(sreq, reg)
    for message in architecture_warnings(sreq.plan.model):
        warn(message)
    from llamasize.render.slo import render_slo_plan

    out(render_slo_plan(res, fmt))
    if res.recommendation is None:
        sys.stderr.write(f"llamasize: {res.nearest_miss_text or 'no candidate deployment fits in memory'}\n")
        raise typer.Exit(ExitCode.NO_FIT)
    raise typer.Exit(ExitCode.OK)


def _launch_text(engine: str, req, rec, reg) -> str:
    """The launch command (stdout) and its notes (stderr, as comments). The plan must have been
    sized for the same engine: vLLM and SGLang budget memory differently."""
    from llamasize.integrations.launch import serve_command

    manifest = engine in ("deployment", "lws", "kserve")
    if manifest:
        engine, kind = req.engine, engine
    if engine != req.engine:
        raise UsageError(f"--emit {engine} needs a plan sized for {engine}'s memory rules: add --engine {engine} "
                         f"(this plan used --engine {req.engine})")
    cmd = serve_command(engine, req.model, reg.gpu(rec.gpu), tp=rec.tensor_parallel_size,
                        pp=rec.pipeline_parallel_size, ep=rec.expert_parallel, quant=rec.quant,
                        kv_cache_dtype=rec.kv_cache_dtype, max_model_len=req.context_tokens, nodes=rec.nodes,
                        kv_layout=rec.kv_layout, gpu_memory_utilization=req.gpu_memory_utilization,
                        mem_fraction_static=req.mem_fraction_static, dp=rec.data_parallel_size)
    if manifest:
        return _manifest_text(kind, cmd, req, rec, reg)
    for n in cmd.notes:
        sys.stderr.write(f"# note: {n}\n")
    sys.stderr.write(f"# {rec.gpu_count} x {rec.gpu}, {rec.nodes} node(s)\n")
    return "".join(line + "\n" for line in cmd.setup) + cmd.text() + "\n"


def _manifest_text(kind: str, cmd, req, rec, reg) -> str:
    """``--emit deployment|lws|kserve``: the manifest (stdout), its notes also on stderr."""
    from llamasize.integrations import k8s
    from llamasize.integrations.launch import model_repo
    from llamasize.render.plan import option_line

    if req.engine not in ("vllm", "sglang"):
        raise UsageError(f"--emit {kind} needs a plan for vllm or sglang (this plan used --engine {req.engine})")
    kw = dict(name=k8s.object_name(req.model.id), gpus=rec.gpu_count, nodes=rec.nodes,
              summary=f"{req.model.id}, {option_line(rec)}, {req.context_tokens:,}-token context")
    gpu = reg.gpu(rec.gpu)
    if kind == "deployment":
        text, notes = k8s.deployment(cmd, gpu, **kw)
    elif kind == "lws":
        text, notes = k8s.leaderworkerset(cmd, gpu, **kw)
    else:
        text, notes = k8s.llm_inference_service(cmd, gpu, tp=rec.tensor_parallel_size, ep=rec.expert_parallel,
                                                repo=model_repo(req.model, rec.quant), **kw)
    for n in notes:
        sys.stderr.write(f"# note: {n}\n")
    return text


def sweep_cmd(
    model: ModelName = None, quant: Quant = None, ctx: Contexts = None, batch: Batch = None, gpu: GpuTypes = None,
    exclude_gpu: ExcludeGpu = None, max_gpus: MaxGpus = None, max_nodes: MaxNodes = None, engine: Engine = None,
    kv_layout: KvLayout = None, kv_dtype: KvDtype = None, headroom: Headroom = None, text_only: TextOnly = False,
    layouts: Layouts = None, workload: Workload = None, fmt: Format = None, specs_dir: SpecsDir = None,
    catalog_dir: CatalogDir = None, debug: Debug = False,
    engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
    kv_cache_free_gpu_mem_fraction: KvCacheFreeGpuMemFraction = None,
) -> None:
    """Minimum GPU count per GPU type and context length: how does this model scale?"""
    from llamasize.estimate.params import architecture_warnings
    from llamasize.plan.sweep import sweep

    fmt = inputs.output_format(fmt)
    w = inputs.workload(workload)
    contexts = inputs.sweep_contexts(ctx, w)
    # the request's own context is replaced by each swept one; passing the first keeps plan_request
    # from reading the workload's ctx (a list here) as one length
    req, reg, w = inputs.plan_request(
        model=model, quant=quant, ctx=str(contexts[0]), batch=batch, gpu=gpu, exclude_gpu=exclude_gpu,
        max_gpus=max_gpus, max_nodes=max_nodes, budget=None, engine=engine, kv_layout=kv_layout, kv_dtype=kv_dtype,
        headroom=headroom, objective=None, mau=None, gpu_memory_utilization=None, mem_fraction_static=None,
        text_only=text_only, layouts=layouts, alternatives=0, workload_file=w, specs_dir=specs_dir,
        catalog_dir=catalog_dir, engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
        kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    for key in inputs.unused_workload_keys(w, "sweep"):
        warn(f"workload key '{key}' is not used by 'sweep'")
    for message in architecture_warnings(req.model):
        warn(message)
    res = sweep(req, contexts, reg)
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(res))
        return
    from llamasize.render.plan import render_sweep

    out(render_sweep(res, fmt))


def cost_cmd(
    model: ModelName = None, tokens_per_day: TokensPerDay = None, quant: Quant = None, ctx: Ctx = None,
    concurrency: Concurrency = None, prompt_tokens: PromptTokens = None, output_tokens: OutputTokens = None,
    gpu: GpuTypes = None, exclude_gpu: ExcludeGpu = None, max_gpus: MaxGpus = None, max_nodes: MaxNodes = None,
    engine: Engine = None, kv_dtype: KvDtype = None, price: Price = None, usd_per_gpu_hour: UsdPerGpuHour = None,
    capex_usd_per_gpu: CapexUsdPerGpu = None, amortization_years: AmortizationYears = None,
    usd_per_kwh: UsdPerKwh = None, pue: Pue = None, utilization: Utilization = None, options: CostOptions = None,
    all_references: AllReferences = False, svg: Svg = None, force: Force = False, workload: Workload = None,
    calibration: Calibration = None, fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None,
    debug: Debug = False, max_ttft: MaxTtft = None, max_tpot: MaxTpot = None, slo_percentile: SloPercentile = None,
    qps: SloQps = None, requests_per_day: SloRequestsPerDay = None, requests: SloRequests = None,
    seed: SimSeed = None,
    engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
    kv_cache_free_gpu_mem_fraction: KvCacheFreeGpuMemFraction = None,
) -> None:
    """Self-hosting vs API: $/day, $/1M tokens, break-even volumes, and a cost-vs-volume chart.
    With --max-ttft/--max-tpot and --qps (or --requests-per-day): priced at the SLO-feasible operating
    point (replicas and concurrency cap from the SLO search) instead of a fixed concurrency."""
    from dataclasses import replace

    from llamasize.cli.engine_hook import engine_memory_entries
    from llamasize.plan.cost import compare_costs

    from llamasize.files import check_new_file, write_new_file

    fmt = inputs.output_format(fmt)
    if svg is not None:
        check_new_file(svg, force)  # before the search: a refusal costs nothing
    w = inputs.workload(workload)
    p, o, conc, tpd = inputs.cost_shape(w, prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                                        concurrency=concurrency, tokens_per_day=tokens_per_day)
    n_options = inputs.DEFAULT_COST_OPTIONS if options is None else options
    basis = inputs.price_basis(price=price, usd_per_gpu_hour=usd_per_gpu_hour, capex_usd_per_gpu=capex_usd_per_gpu,
                               amortization_years=amortization_years, usd_per_kwh=usd_per_kwh, pue=pue,
                               utilization=utilization)
    req, reg, _ = inputs.plan_request(
        model=model, quant=quant, ctx=ctx or w.ctx or str(p + o), batch=str(conc), gpu=gpu,
        exclude_gpu=exclude_gpu, max_gpus=max_gpus, max_nodes=max_nodes, budget=None, engine=engine,
        kv_layout=None, kv_dtype=kv_dtype, headroom=None, objective="cost-per-token", mau=None,
        gpu_memory_utilization=None, mem_fraction_static=None, text_only=False, layouts=None,
        alternatives=max(8, 4 * n_options), workload_file=w, specs_dir=specs_dir, catalog_dir=catalog_dir,
        engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
        kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    for key in inputs.unused_workload_keys(w, "cost"):
        warn(f"workload key '{key}' is not used by 'cost'")
    req = replace(req, prompt_tokens=p, output_tokens=o, price_basis=basis, calibration=calibration,
                  engine_memory=engine_memory_entries(calibration))
    if req.context_tokens < p + o:
        raise UsageError(f"--ctx ({req.context_tokens:,}) is shorter than prompt + output ({p + o:,} tokens)")
    sreq = inputs.slo_request(replace(req, objective="cost"), max_ttft=max_ttft, max_tpot=max_tpot,
                              percentile=slo_percentile, qps=qps, requests_per_day=requests_per_day,
                              requests=requests, sim_seed=seed)
    if sreq is not None:
        from llamasize.cli.output import NoFitError
        from llamasize.plan.cost import compare_costs_slo

        report, sres = compare_costs_slo(sreq, reg, basis, tokens_per_day=tpd, options=n_options,
                                         all_references=all_references)
        if report is None:
            raise NoFitError(f"no deployment meets the targets; {sres.nearest_miss_text or 'nothing fits in memory'}")
    else:
        report, res = compare_costs(req, reg, basis, tokens_per_day=tpd, options=n_options,
                                    all_references=all_references)
        if report is None:
            raise_no_fit(res.suggestions)
    for message in report.warnings:
        warn(message)
    if svg is not None:
        from llamasize.render.cost import cost_chart_svg

        write_new_file(svg, cost_chart_svg(report), force)
        sys.stderr.write(f"llamasize: wrote {svg}\n")
    if fmt == "json":
        from llamasize.render.common import to_json

        out(to_json(report))
        return
    from llamasize.render.cost import render_cost

    out(render_cost(report, fmt))


def frontier_cmd(
    model: ModelName = None, gpu: GpuTypes = None, exclude_gpu: ExcludeGpu = None, quant: Quant = None,
    ctx: Ctx = None, prompt_tokens: PromptTokens = None, output_tokens: OutputTokens = None, kv_dtype: KvDtype = None,
    engine: Engine = None, max_gpus: MaxGpus = None, max_nodes: MaxNodes = None, gpus: Gpus = None, tp: Tp = None,
    pp: Pp = None, ep: Ep = False, dp: Dp = None, dp_attention: DpAttention = False,
    max_concurrency: FrontierConcurrency = None, requests: SloRequests = None, alternatives: Alternatives = None,
    svg: Svg = None, force: Force = False, calibration: Calibration = None,
    fmt: Format = None, specs_dir: SpecsDir = None, catalog_dir: CatalogDir = None, debug: Debug = False,
    engine_version: EngineVersion = None, hybrid_kv_cache: HybridKvCache = None,
    kv_cache_free_gpu_mem_fraction: KvCacheFreeGpuMemFraction = None,
) -> None:
    """Pareto frontier of output tokens/s per GPU against tokens/s per user, one curve per deployment
    (the planner's candidates, or the one given with --gpu and --gpus), from closed-loop simulations."""
    from dataclasses import replace

    from llamasize.files import check_new_file, write_new_file
    from llamasize.plan.frontier import DEFAULT_CURVES, FrontierRequest, frontier
    from llamasize.units import parse_count

    fmt = inputs.output_format(fmt)
    if svg is not None:
        check_new_file(svg, force)
    p, o, c = perf_inputs.perf_shape(prompt_tokens, output_tokens, ctx)
    req, reg, _ = inputs.plan_request(
        model=model, quant=quant, ctx=str(c), batch=None, gpu=gpu, exclude_gpu=exclude_gpu, max_gpus=max_gpus,
        max_nodes=max_nodes, budget=None, engine=engine, kv_layout=None, kv_dtype=kv_dtype, headroom=None,
        objective=None, mau=None, gpu_memory_utilization=None, mem_fraction_static=None, text_only=False,
        layouts=None, alternatives=0, workload_file=None, specs_dir=specs_dir, catalog_dir=catalog_dir,
        engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
        kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    req = replace(req, prompt_tokens=p, output_tokens=o, calibration=calibration)
    fixed = None
    if gpus is not None or tp is not None or pp is not None or ep or dp is not None or dp_attention:
        if len(req.gpus) != 1:
            raise UsageError("--gpus/--tp/--pp/--ep/--dp describe one deployment: give exactly one --gpu")
        if (quant is not None and req.quant == "auto") or req.kv_cache_dtype == "any":
            raise UsageError("one deployment needs one format: --quant auto / --kv-dtype any search formats; "
                             "name one, or leave them out for the checkpoint's format (as fit and perf do)")
        fixed = inputs.deployment(  # no --quant: the format the checkpoint ships in, as fit and perf default to
            reg, model=model, gpu=req.gpus[0], gpus=gpus, tp=tp, pp=pp, ep=ep,
            quant=None if quant is None else req.quant, kv_dtype=req.kv_cache_dtype, ctx=c, batch=None, engine=req.engine, kv_layout=None,
            gpu_memory_utilization=None, mem_fraction_static=None, max_num_batched_tokens=None, max_num_seqs=None,
            overhead_gib=None, text_only=False, calibration=calibration, dp=dp, dp_attention=dp_attention,
            engine_version=engine_version, hybrid_kv_cache=hybrid_kv_cache,
            kv_cache_free_gpu_mem_fraction=kv_cache_free_gpu_mem_fraction)
    freq = FrontierRequest(
        plan=req, deployment=fixed,
        max_concurrency=None if max_concurrency is None else parse_count(max_concurrency, "--max-concurrency",
                                                                          maximum=65_536),
        requests=None if requests is None else parse_count(requests, "--requests", maximum=100_000),
        curves=DEFAULT_CURVES if alternatives is None else max(1, alternatives))
    res = frontier(freq, reg)
    for message in res.warnings:
        warn(message)
    if not any(cv.frontier for cv in res.curves):
        raise UsageError("no candidate deployment could be simulated (nothing fits, or rates are unknown)")
    if svg is not None:
        from llamasize.render.frontier import frontier_chart_svg

        write_new_file(svg, frontier_chart_svg(res), force)
        sys.stderr.write(f"llamasize: wrote {svg}\n")
    from llamasize.render.frontier import render_frontier

    out(render_frontier(res, fmt))
