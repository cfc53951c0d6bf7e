"""Flags -> core requests: the only place the CLI chooses a default.

Every optional flag reaches the commands as ``None`` when it was not given (``cli.options``); the
functions here merge flag > workload file > default, validate each value (one-line ``UsageError``s
that name the flag) and build the core's request objects (``Deployment``, ``PlanRequest``,
``PriceBasis``, ``CheckOptions``, ...). Defaults that are facts of the core are imported from it,
never restated: the TP size (``estimate.parallel.default_tensor_parallel``), the planner's headroom
and request shape, the SGLang memory fraction (``integrations.launch.serve_command``).

Core modules are imported inside the functions: ``llamasize --help`` or ``check`` must not pay for
the planner, and the runtime modules load numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llamasize.errors import UsageError
from llamasize.units import parse_fraction
from llamasize.text import quote_value

if TYPE_CHECKING:
    from llamasize.data.hardware import GpuSpec
    from llamasize.data.registry import Registry
    from llamasize.data.resolve import Resolution
    from llamasize.data.spec import ModelSpec
    from llamasize.estimate.calibration import Efficiencies
    from llamasize.estimate.deployment import Deployment
    from llamasize.plan.pricing import PriceBasis
    from llamasize.plan.planner import PlanRequest
    from llamasize.workload import Workload

FORMATS_BASIC = ("table", "json", "markdown")
DEFAULT_FORMAT = "table"
#: Context lengths of ``sweep`` when neither --ctx nor the workload's ``ctx`` gives them.
DEFAULT_SWEEP_CONTEXTS = "8K,128K,1M"
#: Sequences decoded together in ``cost`` (a workload choice, not a fact).
DEFAULT_COST_CONCURRENCY = 32
DEFAULT_COST_OPTIONS = 3
DEFAULT_ALTERNATIVES = 5
DEFAULT_PRICE = "on_demand"
#: The runtime commands run the bundled micro-MoE model unless told otherwise.
RUNTIME_MODEL = "micro-moe"
DEFAULT_DEVICE = "auto"
DEFAULT_SEED = 0

#: Workload-file keys each command reads; others are reported on stderr, never silently ignored.
_PLAN_KEYS = frozenset({"model", "quant", "ctx", "batch", "gpu", "exclude_gpu", "max_gpus", "max_nodes", "budget",
                        "engine", "kv_layout", "kv_dtype", "headroom", "objective", "mau", "gpu_memory_utilization",
                        "mem_fraction_static", "text_only", "layouts", "prompt_tokens", "output_tokens"})
WORKLOAD_KEYS_USED = {
    "plan": _PLAN_KEYS,
    "terraform-external": _PLAN_KEYS,
    "sweep": _PLAN_KEYS - {"budget", "objective", "mau", "gpu_memory_utilization", "mem_fraction_static",
                           "prompt_tokens", "output_tokens"},
    "cost": (_PLAN_KEYS - {"objective", "mau"}) | {"concurrency", "tokens_per_day"},
}


# -------------------------------------------------------------------------------------- basics ---
#: Smallest efficiency or utilisation accepted: below 1 % a figure is a typo, and it divides every
#: time or price (1e-300 made prices of 1e298 $ and infinite times).
MIN_FRACTION = 0.01


def fraction_flag(text: str, what: str) -> float:
    """An efficiency or utilisation flag: a finite number in [0.01, 1]."""
    return parse_fraction(text, what, low=MIN_FRACTION, low_inclusive=True)


def seed(value: int | None) -> int:
    """``--seed``: a whole number from 0 to 2**64 - 1 (numpy's PCG64 takes no negative seed)."""
    if value is None:
        return DEFAULT_SEED
    if not 0 <= value < 2 ** 64:
        raise UsageError(f"--seed must be a whole number from 0 to 2**64 - 1, got {value}")
    return value


def pick(flag, file_value=None, default=None):
    """A flag wins over the workload file, which wins over the default."""
    if flag is not None:
        return flag
    if file_value is not None:
        return file_value
    return default


def output_format(fmt: str | None, allowed: tuple[str, ...] = FORMATS_BASIC) -> str:
    """``--format`` checked against the command's formats (default: table)."""
    f = (fmt or DEFAULT_FORMAT).strip().lower()
    if f not in allowed:
        raise UsageError(f"unknown format {quote_value(fmt)} (choices: {', '.join(allowed)})")
    return f


def registry(specs_dir: list[Path] | None, catalog_dir: list[Path] | None) -> Registry:
    """The bundled registry merged with --specs-dir / --catalog-dir (and the environment's)."""
    from llamasize.data.registry import load_registry

    return load_registry(specs_dir or [], catalog_dir or [])


def workload(path: Path | Workload | None) -> Workload:
    """A Workload from a path (parsed once), an already parsed Workload, or None (empty)."""
    from llamasize.workload import Workload, load_workload

    if isinstance(path, Workload):
        return path
    return load_workload(path) if path is not None else Workload()


def unused_workload_keys(w: Workload, command: str) -> list[str]:
    """Workload keys the command does not read, sorted (the command warns about each)."""
    return sorted(w.model_fields_set - WORKLOAD_KEYS_USED[command])


def model_resolution(reg: Registry, name: str) -> Resolution:
    """What a ``--model`` value names, by the one resolution order (``data.resolve``); what the
    resolution has to tell (a revision that was not read, ...) goes to stderr."""
    from llamasize.cli.output import note
    from llamasize.data.resolve import resolve

    r = resolve(reg, name)
    for line in r.notes:
        note(line)
    return r


def model_spec(reg: Registry, name: str) -> ModelSpec:
    """The spec a ``--model`` value names (``model_resolution``)."""
    return model_resolution(reg, name).spec


# ---------------------------------------------------------------------------- one deployment ---
def resolve_gpu(reg: Registry, name: str, calibration=None) -> tuple[GpuSpec, str | None]:
    """(GPU, note): a catalogue GPU by id/alias, a cloud instance type (its GPU, one node per
    instance, with a note), or ``local``: the detected GPU, else this CPU as a device, with a note
    saying which."""
    if name.strip().lower() == "local":
        from llamasize.verify import local_device_spec

        return local_device_spec(reg, calibration)
    g = reg.gpu(name)
    inst = reg.instance(name)
    if inst is not None and inst.gpu is g:
        return g, (f"--gpu {inst.spec.id}: {inst.provider} instance with {inst.spec.gpus} x {g.id} "
                   f"({g.memory_bytes / 2**30:.2f} GiB each as CUDA reports it); one node = one instance")
    return g, None


def instance_gpu_count(reg: Registry, gpu: str, gpus: str | None) -> int:
    """``--gpus`` for ``--gpu``: as given (default 1), or for a cloud instance type its GPU count by
    default. An explicit count above the instance's must be a whole number of instances (each one
    node); fewer GPUs than the instance has are allowed (the rest idle)."""
    from llamasize.units import parse_count

    inst = reg.instance(gpu) if gpu.strip().lower() != "local" else None
    if inst is None or inst.gpu is not reg.gpu(gpu):
        return parse_count(pick(gpus, default="1"), "--gpus", maximum=4096)
    k = inst.spec.gpus
    if gpus is None:
        return k
    n = parse_count(gpus, "--gpus", maximum=4096)
    if n > k and n % k:
        raise UsageError(f"--gpus {n} is not a whole number of {inst.spec.id} instances ({k} GPUs each): "
                         f"use at most {k}, or a multiple of {k} for several instances")
    return n


def deployment(reg: Registry, *, model: str, gpu: str, gpus: str | None, tp: str | None, pp: str | None, ep: bool,
               quant: str | None, kv_dtype: str | None, ctx: int, batch: str | None, engine: str | None,
               kv_layout: str | None, gpu_memory_utilization: str | None, mem_fraction_static: str | None,
               max_num_batched_tokens: str | None, max_num_seqs: str | None, overhead_gib: str | None,
               text_only: bool, calibration: Path | None = None, dp: str | None = None,
               dp_attention: bool = False, engine_version: str | None = None,
               hybrid_kv_cache: str | None = None, kv_cache_free_gpu_mem_fraction: str | None = None) -> Deployment:
    """The Deployment of the deployment flags of ``fit`` and ``perf`` (every value validated,
    one-line errors); ``--gpu local`` says on stderr which device it found (on a CPU, with the rates
    of the ``calibration`` file: perf's --calibration, else the default location). ``dp`` /
    ``dp_attention``: attention data parallelism (``attention_layout``)."""
    from llamasize.cli.output import note
    from llamasize.estimate.deployment import Deployment
    from llamasize.cli.serving_flags import engine_profile_flags
    from llamasize.estimate.parallel import default_tensor_parallel
    from llamasize.units import GIB, parse_count, parse_fraction

    spec = model_spec(reg, model)
    g, gpu_note = resolve_gpu(reg, gpu, calibration)
    if gpu_note:
        note(gpu_note)
    n = instance_gpu_count(reg, gpu, gpus)
    ppn = parse_count(pick(pp, default="1"), "--pp", maximum=1024)
    if dp is None and not dp_attention:
        tpn, dpn = parse_count(tp, "--tp", maximum=4096) if tp is not None else default_tensor_parallel(n, ppn), 1
    else:
        from llamasize.cli.serving_flags import attention_layout

        tpn, dpn = attention_layout(n, ppn, tp, dp)
    d = Deployment(
        model=spec, gpu=g, gpu_count=n, quant=spec.default_quant if quant is None else quant, context_tokens=ctx,
        tensor_parallel_size=tpn, pipeline_parallel_size=ppn, expert_parallel=ep,
        kv_cache_dtype=pick(kv_dtype, default="auto"),
        batch=parse_count(pick(batch, default="1"), "--batch", maximum=1_000_000), engine=pick(engine, default="vllm"),
        kv_layout=pick(kv_layout, default="auto").strip().lower(),
        gpu_memory_utilization=None if gpu_memory_utilization is None else parse_fraction(gpu_memory_utilization, "--gpu-memory-utilization"),
        mem_fraction_static=None if mem_fraction_static is None else parse_fraction(mem_fraction_static, "--mem-fraction-static"),
        max_num_batched_tokens=None if max_num_batched_tokens is None else parse_count(max_num_batched_tokens, "--max-num-batched-tokens"),
        max_num_seqs=None if max_num_seqs is None else parse_count(max_num_seqs, "--max-num-seqs", maximum=1_000_000),
        overhead_bytes=None if overhead_gib is None else int(parse_fraction(overhead_gib, "--overhead-gib", low=0, high=1024, low_inclusive=True) * GIB),
        include_vision=not text_only, data_parallel_size=dpn,
        **engine_profile_flags(engine_version, hybrid_kv_cache, kv_cache_free_gpu_mem_fraction),
    )
    from llamasize.cli.engine_hook import engine_calibrated

    return engine_calibrated(d, calibration)


def warn_on_the_fly(spec, quant: str | None) -> None:
    """Warn on stderr when --quant contradicts the checkpoint's own quantized format."""
    from llamasize.cli.output import warn
    from llamasize.estimate.quant import on_the_fly

    message = on_the_fly(spec, quant)
    if message:
        warn(message)


def default_quant_note(quant: str | None, d: Deployment) -> str | None:
    """What to say on stderr when --quant was not given: the format that was assumed."""
    return f"--quant not given: {d.model.id}'s checkpoint format, {d.quant}" if quant is None else None


def context(ctx: str) -> int:
    """``--ctx`` of ``fit`` (a required flag)."""
    from llamasize.units import parse_count

    return parse_count(ctx, "--ctx")


def efficiencies(gpu: GpuSpec, calibration: Path | None, prefill_efficiency: str | None,
                 decode_efficiency: str | None) -> Efficiencies:
    """Calibrated efficiencies for the device, with per-run overrides on top."""
    from dataclasses import replace

    from llamasize.estimate.calibration import efficiencies_for

    eff = efficiencies_for(gpu, calibration)
    if prefill_efficiency is not None or decode_efficiency is not None:
        eff = replace(
            eff, source="override",
            prefill=eff.prefill if prefill_efficiency is None else fraction_flag(prefill_efficiency, "--prefill-efficiency"),
            decode_bandwidth=eff.decode_bandwidth if decode_efficiency is None else fraction_flag(decode_efficiency, "--decode-efficiency"),
            # an overridden factor is a constant fraction (the fitted curve's shape no longer applies)
            gemm_rows_half=eff.gemm_rows_half if prefill_efficiency is None else 0.0,
            bandwidth_bytes_half=eff.bandwidth_bytes_half if decode_efficiency is None else 0.0,
        )
    return eff


# ------------------------------------------------------------------------------------ searches ---
def plan_request(*, model, quant, ctx, batch, gpu, exclude_gpu, max_gpus, max_nodes, budget, engine, kv_layout,
                 kv_dtype, headroom, objective, mau, gpu_memory_utilization, mem_fraction_static, text_only,
                 layouts, alternatives, workload_file, specs_dir, catalog_dir, engine_version=None, hybrid_kv_cache=None,
                 kv_cache_free_gpu_mem_fraction=None) -> tuple[PlanRequest, Registry, Workload]:
    """Merge flags and the workload file into a PlanRequest (flags win); the engine profile flags
    (``serving_flags.engine_profile_flags``) reach every candidate Deployment."""
    from llamasize.cli.serving_flags import engine_profile_flags
    from llamasize.estimate.engines import check_engine
    from llamasize.estimate.quant import check_kv_dtype, checkpoint_default, get_format
    from llamasize.plan.planner import DEFAULT_HEADROOM, PlanRequest
    from llamasize.units import parse_count, parse_fraction
    from llamasize.workload import split_list

    w = workload(workload_file)
    reg = registry(specs_dir, catalog_dir)
    model_name = pick(model, w.model)
    if model_name is None:
        raise UsageError("--model is required (or 'model:' in the --workload file)")
    res = model_resolution(reg, model_name)
    spec = res.spec
    if pick(quant, w.quant) is None and res.quant:  # a quantized repository: its format, not every format
        from llamasize.cli.output import note

        note(f"--quant not given: {res.hf_name} ships in {res.quant}, the format searched")
    q = pick(quant, w.quant, res.quant or checkpoint_default(spec) or "auto").strip().lower().replace("-", "_")
    if q != "auto":
        q = get_format(q).id
    warn_on_the_fly(spec, pick(quant, w.quant))
    kv = pick(kv_dtype, w.kv_dtype, "auto").strip().lower()
    if kv != "any":
        kv = check_kv_dtype(kv)
    ctx_text = pick(ctx, w.ctx)
    if ctx_text is None:
        raise UsageError("--ctx is required (or 'ctx:' in the --workload file)")
    gpus = split_list(gpu) or (w.gpu or [])
    excluded = split_list(exclude_gpu) or (w.exclude_gpu or [])
    for g in gpus + excluded:
        if g.strip().lower() == "local":
            raise UsageError("--gpu local is for 'fit' and 'perf' (one device); plan, sweep and cost search the "
                             "catalogue")
        reg.gpu(g)  # unknown ids fail here with a suggestion
    max_g = pick(max_gpus, w.max_gpus)
    max_n = pick(max_nodes, w.max_nodes)
    bud = pick(budget, w.budget)
    head = pick(headroom, w.headroom)
    gmu = pick(gpu_memory_utilization, w.gpu_memory_utilization)
    mfs = pick(mem_fraction_static, w.mem_fraction_static)
    users = pick(mau, w.mau)
    req = PlanRequest(
        model=spec,
        context_tokens=parse_count(ctx_text, "--ctx"),
        quant=q,
        batch=parse_count(pick(batch, w.batch, "1"), "--batch", maximum=1_000_000),
        gpus=tuple(gpus), exclude_gpus=tuple(excluded),
        max_gpus=None if max_g is None else parse_count(str(max_g), "--max-gpus", maximum=100_000),
        max_nodes=None if max_n is None else parse_count(str(max_n), "--max-nodes", maximum=1024),
        budget_usd_per_hour=None if bud is None else parse_fraction(bud, "--budget", low=0, high=1e7),
        engine=check_engine(pick(engine, w.engine, "vllm")),
        kv_layout=pick(kv_layout, w.kv_layout, "auto").strip().lower(),
        kv_cache_dtype=kv,
        headroom=DEFAULT_HEADROOM if head is None else parse_fraction(head, "--headroom", low=0, high=0.99,
                                                                       low_inclusive=True),
        objective=pick(objective, w.objective, "cost").strip().lower(),
        gpu_memory_utilization=None if gmu is None else parse_fraction(gmu, "--gpu-memory-utilization"),
        mem_fraction_static=None if mfs is None else parse_fraction(mfs, "--mem-fraction-static"),
        include_vision=not (text_only or bool(w.text_only)),
        mau=None if users is None else parse_count(str(users), "--mau", minimum=0, maximum=10**11),
        alternatives=DEFAULT_ALTERNATIVES if alternatives is None else alternatives,
        layout_mode=pick(layouts, w.layouts, "practical").strip().lower(),
        **engine_profile_flags(engine_version, hybrid_kv_cache, kv_cache_free_gpu_mem_fraction),
    )
    return req, reg, w


def with_workload_shape(req: PlanRequest, w: Workload, prompt_tokens: str | None, output_tokens: str | None,
                        price: str | None, calibration: Path | None) -> PlanRequest:
    """Prompt/output lengths (flag > workload file > default), price kind and calibration of a plan."""
    from dataclasses import replace

    from llamasize.cli.engine_hook import engine_memory_entries
    from llamasize.plan.pricing import PRICE_KINDS, PriceBasis
    from llamasize.plan.planner import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
    from llamasize.units import parse_count

    price = pick(price, default=DEFAULT_PRICE)
    kind = price.strip().lower().replace("-", "_")
    if kind not in PRICE_KINDS or kind == "owned":
        raise UsageError(f"unknown --price {quote_value(price)} for plan (choices: on_demand, spot, reserved, capacity_block; "
                         "owned hardware is priced by 'llamasize cost')")
    return replace(
        req,
        prompt_tokens=parse_count(pick(prompt_tokens, w.prompt_tokens, str(DEFAULT_PROMPT_TOKENS)), "--prompt-tokens"),
        output_tokens=parse_count(pick(output_tokens, w.output_tokens, str(DEFAULT_OUTPUT_TOKENS)), "--output-tokens"),
        price_basis=PriceBasis(kind=kind), calibration=calibration,
        engine_memory=engine_memory_entries(calibration),
    )


def slo_request(req: PlanRequest, *, max_ttft: str | None, max_tpot: str | None, percentile: str | None,
                qps: str | None, requests_per_day: str | None, requests: str | None, sim_seed: int | None):
    """``plan``/``cost`` latency targets and load -> an ``SloRequest``; None without a target. The load
    flags are refused without a target (they would be ignored) and a target needs exactly one load."""
    if max_ttft is None and max_tpot is None:  # before importing the search: it loads numpy
        given = [f for f, v in (("--slo-percentile", percentile), ("--qps", qps), ("--requests-per-day", requests_per_day),
                                ("--requests", requests), ("--seed", sim_seed)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} set(s) the SLO search: add --max-ttft and/or --max-tpot")
        return None
    from llamasize.plan.slo import (
        DEFAULT_PERCENTILE, DEFAULT_SLO_REQUESTS, DEFAULT_SLO_SEED, SloRequest, qps_from_requests_per_day,
    )
    from llamasize.units import parse_amount, parse_count, parse_duration

    if (qps is None) == (requests_per_day is None):
        raise UsageError("latency targets need the load: give --qps R or --requests-per-day N (one of them)")
    rpd = None if requests_per_day is None else parse_amount(requests_per_day, "--requests-per-day", maximum=1e13)
    rate = parse_amount(qps, "--qps", maximum=1e7) if qps is not None else qps_from_requests_per_day(rpd)
    return SloRequest(
        plan=req, qps=rate, requests_per_day=rpd,
        max_ttft_s=None if max_ttft is None else parse_duration(max_ttft, "--max-ttft"),
        max_tpot_s=None if max_tpot is None else parse_duration(max_tpot, "--max-tpot"),
        percentile=pick(percentile, default=DEFAULT_PERCENTILE).strip().lower(),
        requests=parse_count(pick(requests, default=str(DEFAULT_SLO_REQUESTS)), "--requests", maximum=100_000),
        seed=DEFAULT_SLO_SEED if sim_seed is None else seed(sim_seed))


def emit_target(emit: str | None) -> str | None:
    """``plan --emit``: vllm, sglang (a launch command), deployment, lws, kserve (a Kubernetes
    manifest, ``integrations.k8s``) or None."""
    if emit is None:
        return None
    target = emit.strip().lower()
    if target not in ("vllm", "sglang", "deployment", "lws", "kserve"):
        raise UsageError(f"unknown --emit target {quote_value(emit)} (choices: vllm, sglang, deployment, lws, kserve)")
    return target


def sweep_contexts(ctx: str | None, w: Workload) -> list[int]:
    """Context lengths of ``sweep``: --ctx, else the workload's ``ctx`` (one length or a comma list),
    else DEFAULT_SWEEP_CONTEXTS."""
    from llamasize.units import parse_count

    text = pick(ctx, w.ctx, DEFAULT_SWEEP_CONTEXTS)
    contexts = [parse_count(c, "--ctx") for c in text.split(",") if c.strip()]
    if not contexts:
        raise UsageError("--ctx needs at least one context length")
    return contexts


def cost_shape(w: Workload, *, prompt_tokens: str | None, output_tokens: str | None, concurrency: str | None,
               tokens_per_day: str | None) -> tuple[int, int, int, float | None]:
    """(prompt, output, concurrency, tokens per day) of ``cost`` (flag > workload file > default).
    The workload's ``batch`` stands in for concurrency when only it is given."""
    from llamasize.plan.planner import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
    from llamasize.units import parse_amount, parse_count

    p = parse_count(pick(prompt_tokens, w.prompt_tokens, str(DEFAULT_PROMPT_TOKENS)), "--prompt-tokens")
    o = parse_count(pick(output_tokens, w.output_tokens, str(DEFAULT_OUTPUT_TOKENS)), "--output-tokens")
    conc = parse_count(pick(concurrency, w.concurrency or w.batch, str(DEFAULT_COST_CONCURRENCY)), "--concurrency",
                       maximum=1_000_000)
    tpd_text = pick(tokens_per_day, w.tokens_per_day)
    tpd = None if tpd_text is None else parse_amount(tpd_text, "--tokens-per-day")
    return p, o, conc, tpd


#: (lowest, highest) accepted for cost's own prices: a tenth of a cent per GPU-hour or per kWh, one
#: dollar per GPU, a tenth of a year (about five weeks) of amortization. The highs were there before.
PRICE_FLOORS = {"usd_per_gpu_hour": (0.001, 1000), "capex_usd_per_gpu": (1.0, 1e7),
                "amortization_years": (0.1, 50), "usd_per_kwh": (0.001, 100)}


def price_basis(*, price: str | None, usd_per_gpu_hour: str | None, capex_usd_per_gpu: str | None,
                amortization_years: str | None, usd_per_kwh: str | None, pue: str | None,
                utilization: str | None) -> PriceBasis:
    """How ``cost`` prices a GPU-hour (the catalogue's quote of a kind, your own price, or owned)."""
    from llamasize.plan.pricing import AMORTIZATION_YEARS, PriceBasis
    from llamasize.units import parse_fraction

    def money(text: str | None, flag: str, low: float, high: float) -> float | None:
        return None if text is None else parse_fraction(text, flag, low=low, high=high, low_inclusive=True)

    # Lower bounds (PRICE_FLOORS): a price of 5e-324 made every break-even volume infinite (an internal
    # error on the JSON, found by the fuzz suite); nothing real costs less than these.
    return PriceBasis(
        kind=pick(price, default=DEFAULT_PRICE).strip().lower().replace("-", "_"),
        usd_per_gpu_hour=money(usd_per_gpu_hour, "--usd-per-gpu-hour", *PRICE_FLOORS["usd_per_gpu_hour"]),
        capex_usd_per_gpu=money(capex_usd_per_gpu, "--capex-usd-per-gpu", *PRICE_FLOORS["capex_usd_per_gpu"]),
        amortization_years=AMORTIZATION_YEARS if amortization_years is None else money(
            amortization_years, "--amortization-years", *PRICE_FLOORS["amortization_years"]),
        usd_per_kwh=money(usd_per_kwh, "--usd-per-kwh", *PRICE_FLOORS["usd_per_kwh"]),
        pue=1.0 if pue is None else parse_fraction(pue, "--pue", low=1.0, high=5.0, low_inclusive=True),
        utilization=1.0 if utilization is None else fraction_flag(utilization, "--utilization"),
    )


def terraform_request(q: dict[str, str]) -> tuple[PlanRequest, Registry]:
    """The PlanRequest of a ``terraform-external`` query (plan's flag names in snake_case)."""
    from llamasize.units import parse_count

    def paths(key: str) -> list[Path] | None:
        return [Path(p.strip()) for p in q[key].split(",") if p.strip()] if key in q else None

    req, reg, w = plan_request(
        model=q.get("model"), quant=q.get("quant"), ctx=q.get("ctx"), batch=q.get("batch"),
        gpu=[q["gpu"]] if "gpu" in q else None, exclude_gpu=[q["exclude_gpu"]] if "exclude_gpu" in q else None,
        max_gpus=q.get("max_gpus"), max_nodes=q.get("max_nodes"), budget=q.get("budget"), engine=q.get("engine"),
        kv_layout=q.get("kv_layout"), kv_dtype=q.get("kv_dtype"), headroom=q.get("headroom"),
        objective=q.get("objective"), mau=q.get("mau"), gpu_memory_utilization=q.get("gpu_memory_utilization"),
        mem_fraction_static=q.get("mem_fraction_static"), text_only=q.get("text_only", "false").lower() == "true",
        layouts=q.get("layouts"),
        alternatives=parse_count(q.get("alternatives", str(DEFAULT_ALTERNATIVES)), "alternatives", minimum=0,
                                 maximum=50),
        workload_file=Path(q["workload"]) if "workload" in q else None, specs_dir=paths("specs_dir"),
        catalog_dir=paths("catalog_dir"), engine_version=q.get("engine_version"),
        hybrid_kv_cache=q.get("hybrid_kv_cache"), kv_cache_free_gpu_mem_fraction=q.get("kv_cache_free_gpu_mem_fraction"))
    req = with_workload_shape(req, w, q.get("prompt_tokens"), q.get("output_tokens"), q.get("price"),
                              Path(q["calibration"]) if "calibration" in q else None)
    return req, reg


# --------------------------------------------------------------------------------------- check ---
def check_format(fmt: str | None, github_actions: bool) -> str:
    """``check --format``: text by default (github on GitHub Actions); ``table`` means text."""
    from llamasize.check.formats import CHECK_FORMATS

    if fmt is None:
        fmt = "github" if github_actions else "text"
    f = fmt.strip().lower()
    f = "text" if f == "table" else f
    if f not in CHECK_FORMATS:
        raise UsageError(f"unknown format {quote_value(fmt)} (choices: {', '.join(CHECK_FORMATS)})")
    return f


def check_options(*, policy: Path | None, max_usd_per_hour: str | None, min_headroom: str | None,
                  fail_on: str | None, strict: bool | None, default_gpu: str | None,
                  require_verified: bool | None = None):
    """CheckOptions from the flags and the --policy file (flags win)."""
    from llamasize.check.report import CheckOptions, Policy, PolicyLimits
    from llamasize.check.run import load_policy
    from llamasize.units import parse_fraction

    pol = load_policy(policy) if policy is not None else Policy()
    budget = pol.max_usd_per_hour if max_usd_per_hour is None else \
        parse_fraction(max_usd_per_hour, "--max-usd-per-hour", low=0, high=1e7)
    head = pol.min_headroom if min_headroom is None else \
        parse_fraction(min_headroom, "--min-headroom", low=0, high=0.99, low_inclusive=True)
    level = (fail_on or pol.fail_on or "error").strip().lower()
    if level not in ("error", "warning"):
        raise UsageError(f"unknown --fail-on {quote_value(fail_on)} (choices: error, warning)")
    return CheckOptions(policy=PolicyLimits(max_usd_per_hour=budget, min_headroom=head), fail_on=level,
                        strict=bool(pol.strict if strict is None else strict), default_gpu=default_gpu,
                        require_verified=bool(pol.require_verified if require_verified is None else require_verified))


# ------------------------------------------------------------------------------------- runtime ---
def verify_settings(*, tolerance: str | None, batches: str | None, prompt_tokens: str | None,
                    steps: str | None) -> tuple[float, list[int], int, int]:
    """(tolerance, batch sizes, prompt tokens, decode steps) of ``verify``."""
    from llamasize.units import parse_count, parse_fraction

    tol = parse_fraction(pick(tolerance, default="0.5"), "--tolerance", high=10)
    bs = sorted({parse_count(b, "--batches", maximum=4096) for b in pick(batches, default="1,4,16,64").split(",")
                 if b.strip()})
    if 1 not in bs:
        raise UsageError("--batches must include 1 (the decode calibration point)")
    return (tol, bs, parse_count(pick(prompt_tokens, default="64"), "--prompt-tokens", maximum=65536),
            parse_count(pick(steps, default="8"), "--steps", maximum=1000))


def run_settings(*, prompt_tokens: str | None, new_tokens: str | None, batch: str | None,
                 kv_layout: str | None) -> tuple[int, int, int, str]:
    """(prompt tokens, new tokens, batch, KV layout) of ``run``."""
    from llamasize.units import parse_count

    layout = pick(kv_layout, default="full").strip().lower()
    if layout not in ("full", "hybrid"):
        raise UsageError(f"unknown --kv-layout {quote_value(kv_layout)} (choices: full, hybrid)")
    return (parse_count(pick(prompt_tokens, default="32"), "--prompt-tokens", maximum=65536),
            parse_count(pick(new_tokens, default="32"), "--new-tokens", maximum=65536),
            parse_count(pick(batch, default="1"), "--batch", maximum=4096), layout)

