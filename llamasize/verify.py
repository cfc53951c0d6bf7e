"""``llamasize verify``: run the micro-MoE runtime on this device and check the estimator against it.

1. Device rates: memory bandwidth from a large copy, matmul rate in the runtime dtype (a large
   square GEMM, and the GEMM shapes a decode step of B sequences runs).
2. The model runs (``runtime.measure.measure_model``): prefill of a prompt, decode at each batch.
3. Predictions come from the estimator's own code for the same spec: weight bytes
   (``memory.total_weight_bytes``), KV bytes (``kv.kv_models``), the activation peak
   (``memory.activation_peak_bytes``), and the work of each phase (``perf.phase_work``: FLOPs and
   bytes read, with the routed experts hit ``E x (1 - (1 - k/E)^B)``) divided by the device's
   measured rates -- bandwidth x the speed model's default decode efficiency, and the measured
   GEMM rate at the phase's row count (a CPU's small-row GEMMs run far below its square-GEMM peak,
   so the square peak alone would mis-predict small batches).
4. Checks: byte counts must match exactly; times, peak memory and experts hit must be within
   ``tolerance``: ``1/(1 + tol) <= measured / predicted <= 1 + tol``.
   Steps 1-2 run in interleaved **rounds** (``repeats``, default 3, ``--repeats``). In each round
   the device rates are measured before and after the model (the best of the two kept), each
   timing is the minimum over the round's repeats (and, for decode, its timed steps), and the
   prediction is built from *that round's* rates. Each timing check then reports the round whose
   measured / predicted ratio is the **median** over the rounds (``combine_rounds``). Every timed
   region is throughput-bound work of a fixed size: another process can only add time to it. A
   busy stretch over a whole round slows its rates and its model alike, so its ratio barely moves;
   one that hits the model but not the rates (or the reverse) moves that round's ratio, and the
   median ignores it while it hits a minority of rounds. When the rounds disagree (``settled``: no
   strict majority of ratios within ``sqrt(1 + tol)`` of the median) more rounds run, up to
   ``max_rounds`` (2 x repeats + 1). A wrong estimator gives the same ratio every round: it settles
   at once and still fails (tests/test_verify.py injects one). ``benchmarks/verify_under_load.py``
   runs ``verify`` 10 times beside a busy core. (The previous statistic, the minimum time over all
   rounds against the best rates over all rounds, failed 2 of 10 such runs: a busy stretch over
   the model but not the rates, or the reverse, gave ratios up to 1.96.)
5. Calibration: the measured prefill efficiency (FLOP rate achieved / device peak) and decode
   bandwidth efficiency (bytes read per second at batch 1 / device bandwidth), against the
   catalogue's datasheet figures for a known GPU and against the measured peaks for the CPU, so
   ``perf``/``plan``/``cost`` can use them for this device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict

from llamasize import SCHEMA_VERSION, __version__
from llamasize.estimate.calibration import DeviceCalibration, calibration_path, load_calibrations
from llamasize.errors import UsageError
from llamasize.text import quote_value
from llamasize.data.hardware import Flops, GpuSpec, Interconnect, Memory, MemoryReport, NativeFormats
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.kv import kv_models
from llamasize.estimate.memory import activation_peak_bytes, total_weight_bytes
from llamasize.estimate.perf import DECODE_BANDWIDTH_EFFICIENCY, phase_work, roofline
from llamasize.estimate.traffic import expected_distinct_experts
from llamasize.data.registry import Registry
from llamasize.data.spec import ModelSpec
from llamasize.units import SHORT_DTYPE

DEFAULT_TOLERANCE = 0.5
DEFAULT_BATCHES = (1, 4, 16, 64)
#: Rounds of device + model measurements (at least; more when they disagree, ``max_rounds``).
DEFAULT_REPEATS = 3
#: Short decode steps are timed more often: up to STEP_FACTOR x --steps timed steps while their total
#: stays under STEP_BUDGET_SECONDS (``measure_model``), so the minimum of a few-ms step has more
#: samples on a loaded machine; steps of 60 ms and more keep --steps samples.
STEP_FACTOR = 4
STEP_BUDGET_SECONDS = 0.5
#: What each timing check reports (printed and in the JSON; module docstring, 4).
TIMING_STATISTIC = ("the median round's measured/predicted (each round: its minimum times against its own "
                    "device rates)")
#: Runtime dtype -> the llamasize format (and FLOP-rate key) of the same precision.
#: Runtime dtype -> the quantization format / compute dtype of the same name (``units.SHORT_DTYPE``).
_FORMAT = SHORT_DTYPE
Progress = Callable[[str, int, int], None]


class Check(BaseModel):
    """One predicted-vs-measured comparison."""

    model_config = ConfigDict(frozen=True)

    name: str
    unit: Literal["bytes", "seconds", "experts"]
    predicted: float
    measured: float
    #: measured / predicted.
    ratio: float
    kind: Literal["exact", "tolerance"]
    passed: bool
    note: str = ""
    #: Timings: measured / predicted of every round, each round against its own device rates; the
    #: check reports the median round (``combine_rounds``). Empty for the other checks.
    round_ratios: list[float] = []


class VerifyReport(BaseModel):
    """The JSON of ``llamasize verify``."""

    model_config = ConfigDict(frozen=True)

    schema_version: str = SCHEMA_VERSION
    model: str
    device: str
    device_name: str
    backend: str
    backend_reason: str | None
    dtype: str
    tolerance: float
    measured_bandwidth_bytes_per_s: float
    measured_matmul_flops_per_s: float
    matmul_flops_per_s_by_rows: dict[int, float]
    prompt_tokens: int
    kv_layout: str
    checks: list[Check]
    passed: bool
    calibration: DeviceCalibration
    calibration_path: str | None
    skipped_batches: dict[int, str]
    #: Rounds of device and model measurements, and the statistic each timing is (module docstring, 4).
    #: Rounds run (``repeats_requested``, or more up to ``max_rounds`` when the rounds disagreed).
    repeats: int = 1
    repeats_requested: int = 1
    timing_statistic: str = TIMING_STATISTIC
    #: Whether the calibration was written, and why not when it was not.
    calibration_saved: bool = False
    calibration_note: str | None = None
    #: Set when the requested spec was too large to build and a scaled-down copy ran instead.
    scaled_note: str | None = None
    seconds: float


def _check(name, unit, predicted, measured, *, exact=False, tol=DEFAULT_TOLERANCE, note="") -> Check:
    ratio = measured / predicted if predicted else float("inf")
    ok = (measured == predicted) if exact else (1 / (1 + tol) <= ratio <= 1 + tol)
    return Check(name=name, unit=unit, predicted=predicted, measured=measured, ratio=ratio,
                 kind="exact" if exact else "tolerance", passed=ok, note=note)


def _rate_fn(by_rows: dict[int, float]):
    """rows -> FLOP/s, interpolated linearly in log-log between the measured row counts and held
    flat outside them."""
    import math

    pts = sorted(by_rows.items())

    def rate(rows: float) -> float:
        if rows <= pts[0][0]:
            return pts[0][1]
        for (r0, f0), (r1, f1) in zip(pts, pts[1:]):
            if rows <= r1:
                t = (math.log(rows) - math.log(r0)) / (math.log(r1) - math.log(r0))
                return math.exp(math.log(f0) + t * (math.log(f1) - math.log(f0)))
        return pts[-1][1]

    return rate


@dataclass
class Round:
    """One round: its device rates (best of the samples before and after the model), the model
    measurement, and each timing check's (predicted from this round's rates, measured, note)."""

    bw: object
    rates: dict[int, float]
    run: object
    timings: dict[str, tuple[float, float, str]] = field(default_factory=dict)


def _prefill_name(prompt_tokens: int) -> str:
    return f"prefill time, {prompt_tokens} tokens"


def _decode_name(batch: int) -> str:
    return f"decode step, batch {batch}"


def max_rounds(repeats: int) -> int:
    """The most rounds ``verify`` runs when the per-round ratios disagree (``settled``): twice the
    requested rounds plus one, at most 100 (bounded, so a machine that never settles still ends)."""
    return min(100, 2 * repeats + 1)


def round_timings(rnd: Round, pre_work, dec_works: dict, prompt_tokens: int) -> dict[str, tuple[float, float, str]]:
    """Each timing check of one round: the estimator's roofline (``perf.roofline``) of the phase's
    work with *this round's* measured GEMM rates and bandwidth x the default decode efficiency,
    against this round's measured time (the minimum over its repeats / timed steps)."""
    by_rows = _rate_fn(rnd.rates)
    band = rnd.bw.bytes_per_s * DECODE_BANDWIDTH_EFFICIENCY

    def rate(w) -> float:
        """Measured GEMM rate at the group's row count."""
        return by_rows(w.rows)

    out = {}
    pred, c, mem = roofline(pre_work, rate, band)
    out[_prefill_name(prompt_tokens)] = (pred, rnd.run.prefill.best_seconds,
                                         f"{'compute' if c > mem else 'memory'}-bound; "
                                         f"{sum(w.flops for w in pre_work) / 1e9:,.2f} GFLOP")
    for m in rnd.run.decode:
        works = dec_works[m.batch]
        fl, by = sum(w.flops for w in works), sum(w.bytes for w in works)
        pred, c, mem = roofline(works, rate, band)
        out[_decode_name(m.batch)] = (pred, m.min_step_seconds,
                                      f"{'compute' if c > mem else 'memory'}-bound; {by / 1e6:,.1f} MB and "
                                      f"{fl / 1e9:,.2f} GFLOP per step")
    return out


def _ratios(per_round: Sequence[dict[str, tuple[float, float, str]]], name: str) -> list[float]:
    return [t[name][1] / t[name][0] if t[name][0] else float("inf") for t in per_round]


def settled(per_round: Sequence[dict[str, tuple[float, float, str]]], tolerance: float) -> bool:
    """Whether more rounds would not move the median: for every timing check, a strict majority of
    the rounds' ratios lie within a factor ``sqrt(1 + tolerance)`` (half the tolerance band, in
    log terms) of their median. A wrong estimator gives the same ratio every round, so it settles
    at once (and fails); a busy stretch over a minority of rounds does not move the median."""
    import math

    band = math.sqrt(1 + tolerance)
    for name in per_round[0]:
        rs = _ratios(per_round, name)
        med = sorted(rs)[(len(rs) - 1) // 2]
        if 2 * sum(med / band <= r <= med * band for r in rs) <= len(rs):
            return False
    return True


def combine_rounds(per_round: Sequence[dict[str, tuple[float, float, str]]], tolerance: float) -> dict[str, Check]:
    """One check per timing: the round whose measured / predicted ratio is the median (the lower
    median for an even count) over the rounds, each round's prediction from that round's own
    device rates -- so a busy stretch that slows a round's rates and its model alike cancels, and
    one that hits a minority of rounds does not move the verdict (module docstring, 4)."""
    out = {}
    for name in per_round[0]:
        rs = _ratios(per_round, name)
        i = sorted(range(len(rs)), key=lambda j: rs[j])[(len(rs) - 1) // 2]
        pred, meas, note = per_round[i][name]
        if len(rs) > 1:
            note += f"; median of {len(rs)} rounds' ratios ({min(rs):.2f} to {max(rs):.2f})"
        c = _check(name, "seconds", pred, meas, tol=tolerance, note=note)
        out[name] = c.model_copy(update={"round_ratios": rs})
    return out


def cpu_device_spec(name: str, memory_bytes: int, bandwidth_bytes_per_s: float, fp32_flops_per_s: float,
                    source: str) -> GpuSpec:
    """The host CPU as a device: its memory and its *measured* copy bandwidth and FP32 GEMM rate
    stand in for datasheet figures (``--gpu local`` on a machine without a GPU)."""
    return GpuSpec(
        id="cpu", name=name, vendor="cpu", architecture="cpu",
        memory=Memory(datasheet_gb=memory_bytes / 1e9, source="operating system (/proc/meminfo)",
                      cuda_totals=[MemoryReport(value=memory_bytes, unit="bytes", tool="/proc/meminfo MemTotal",
                                                source="operating system (the host's memory is the device's)")]),
        memory_bandwidth_gb_per_s=bandwidth_bytes_per_s / 1e9, bandwidth_source=f"measured: {source}",
        flops=Flops(fp32=fp32_flops_per_s / 1e12, source=f"measured: {source}"),
        native=NativeFormats(fp8=False, fp4=False, source="a CPU has no FP8/FP4 tensor cores"),
        interconnect=Interconnect(type="none (one device)", fast=False, source="single device"),
        gpus_per_node=1, gpus_per_node_note="the host itself", prices=[],
        notes=["measured on this machine by llamasize; not a catalogue entry"],
    )


def _device(backend, registry: Registry, bw: float, peak: float) -> tuple[str, GpuSpec]:
    """(calibration id, device spec) for the backend: a catalogue GPU by NVML name, else the CPU
    with its measured rates."""
    from llamasize.runtime.detect import detect_cpu

    if backend.device == "cuda":
        for g in registry.gpus:
            if backend.device_name in g.nvml_names:
                return g.id, g
        raise UsageError(f"GPU {quote_value(backend.device_name)} is not in the catalogue: add it (see 'Adding a model or a "
                         "GPU' in the README) so its datasheet figures can be calibrated")
    cpu = detect_cpu()
    return "cpu", cpu_device_spec(cpu.model_name, cpu.memory_total_bytes or 1, bw, peak,
                                  "copy bandwidth and GEMM rate by llamasize verify")


def run_verify(spec: ModelSpec, registry: Registry, *, device: str = "auto", tolerance: float = DEFAULT_TOLERANCE,
               batch_sizes: Sequence[int] = DEFAULT_BATCHES, prompt_tokens: int = 64, decode_steps: int = 8,
               seed: int = 0, layout: str = "full", repeats: int = DEFAULT_REPEATS,
               progress: Progress | None = None) -> VerifyReport:
    """Measure the device and the runtime model, compare with the estimator (module docstring)."""
    from llamasize.runtime.backend import RUNTIME_DTYPE, get_backend
    from llamasize.runtime.kv_cache import KVCache
    from llamasize.runtime.measure import measure_bandwidth, measure_matmul, measure_model

    if not 0 < tolerance <= 10:
        raise UsageError(f"--tolerance must be in (0, 10], got {tolerance:g}")
    if not 1 <= repeats <= 100:
        raise UsageError(f"--repeats must be from 1 to 100, got {repeats}")
    from llamasize.runtime.detect import detect_cpu
    from llamasize.runtime.scaling import runnable_spec

    t0 = time.perf_counter()
    be = get_backend(device)
    dtype = RUNTIME_DTYPE[be.device]
    device_mem = detect_cpu().memory_total_bytes if be.device == "cpu" else None
    spec, scaled_note = runnable_spec(spec, device_mem, dtype)
    itemsize = 4 if dtype == "float32" else 2
    h = spec.need("verify", "hidden_size")
    width = max(spec.intermediate_size or 0, spec.moe_intermediate_size or 0, h)
    rows = sorted(set(batch_sizes) | {1, 2, prompt_tokens})
    # weights streamed from memory (more distinct matrices than the last-level cache holds)
    streams = max(2, (64 * 2**20) // (h * width * itemsize) + 1)
    mem_bytes = (device_mem or 1) // 2 if be.device == "cpu" else None  # the CPU's memory, as before

    def gemm_rates() -> dict[int, float]:
        """The measured GEMM rate at each row count a phase runs (weights streamed from memory)."""
        return {m: measure_matmul(be, dtype=dtype, shape=(m, h, width), repeats=3, streams=streams).flops_per_s
                for m in rows}

    quant = _FORMAT[dtype]
    d = pre_work = None  # the deployment and prefill work: fixed by the spec, the same every round
    dec_works: dict[tuple[int, int], list] = {}  # (batch, context) -> one decode step's work
    rounds: list[Round] = []
    mms = []
    limit = max_rounds(repeats)
    while True:  # interleaved rounds, each one's model timings against its own device rates
        bw0 = measure_bandwidth(be, progress=progress)
        mms.append(measure_matmul(be, dtype=dtype, progress=progress))
        rows0 = gemm_rates()
        run = measure_model(spec, be, dtype=dtype, seed=seed, prompt_tokens=prompt_tokens, batch_sizes=batch_sizes,
                            decode_steps=decode_steps, layout=layout, max_memory_bytes=mem_bytes, progress=progress,
                            max_decode_steps=STEP_FACTOR * decode_steps, step_budget_seconds=STEP_BUDGET_SECONDS)
        # the rates again after the model: the round's rates are the best of its two samples
        bw1 = measure_bandwidth(be, progress=progress)
        rows1 = gemm_rates()
        rnd = Round(bw=max(bw0, bw1, key=lambda x: x.bytes_per_s), rates={m: max(rows0[m], rows1[m]) for m in rows},
                    run=run)
        if d is None:
            d = Deployment(model=spec, gpu=_device(be, registry, rnd.bw.bytes_per_s, mms[0].flops_per_s)[1],
                           gpu_count=1, quant=quant, context_tokens=run.kv_max_tokens, engine="generic")
            pre_work = phase_work(d, prompt_tokens, prefill=True)[0]
        for m in run.decode:  # a step's work depends on its context, which the timed step count sets
            if (m.batch, m.context_tokens) not in dec_works:
                dec_works[m.batch, m.context_tokens] = phase_work(d, m.batch, prefill=False,
                                                                  ctx=m.context_tokens - 1)[0]
        works = (pre_work, {m.batch: dec_works[m.batch, m.context_tokens] for m in run.decode})
        rnd.timings = round_timings(rnd, works[0], works[1], prompt_tokens)
        rounds.append(rnd)
        if len(rounds) >= repeats and (len(rounds) >= limit or settled([r.timings for r in rounds], tolerance)):
            break
    runs = [r.run for r in rounds]
    bw = max((r.bw for r in rounds), key=lambda x: x.bytes_per_s)
    mm = max(mms, key=lambda x: x.flops_per_s)
    by_rows = {m: max(r.rates[m] for r in rounds) for m in rows}
    run = best_of_runs(runs)
    combined = combine_rounds([r.timings for r in rounds], tolerance)
    cal_id, dev = _device(be, registry, bw.bytes_per_s, mm.flops_per_s)
    checks: list[Check] = []
    # -- exact byte counts
    checks.append(_check("resident weight bytes", "bytes", total_weight_bytes(spec, quant, include_vision=True),
                         run.resident_weight_bytes, exact=True,
                         note=f"parameters x {itemsize} bytes (llamasize params)"))
    kv_bytes = itemsize
    pred_kv = kv_models(spec, kv_bytes, 1, 1, layout, 1, run.kv_in_flight)[0].per_sequence(run.kv_max_tokens)
    checks.append(_check(f"KV bytes, {layout} layout, {run.kv_max_tokens} tokens", "bytes", pred_kv,
                         run.prefill_kv_bytes, exact=True))
    window = spec.attention_chunk_size or spec.sliding_window
    if window:
        n = 3 * window + 5  # past several windows, where the two layouts differ
        for lay in ("full", "hybrid"):
            cache = KVCache(spec, 2, n, layout=lay, in_flight=run.kv_in_flight, dtype=dtype, backend=be)
            pred = 2 * kv_models(spec, kv_bytes, 1, 1, lay, 1, run.kv_in_flight)[0].per_sequence(n)
            checks.append(_check(f"KV bytes, {lay} layout, 2 x {n} tokens", "bytes", pred, cache.kv_bytes(),
                                 exact=True))
            del cache
    # -- speed: per check, the median over the rounds of measured / predicted (module docstring, 4)
    bw_ref = dev.memory_bandwidth_bytes_per_s or bw.bytes_per_s
    peak_ref = dev.flops.per_second(_FORMAT[dtype]) or mm.flops_per_s
    pre_flops = sum(w.flops for w in pre_work)
    checks.append(combined[_prefill_name(prompt_tokens)])
    decode_b1 = None
    for m in run.decode:
        checks.append(combined[_decode_name(m.batch)])
        if m.batch == 1:
            decode_b1 = (sum(w.bytes for w in dec_works[1, m.context_tokens]), m.min_step_seconds)
        if m.experts_hit_mean is not None:
            expected = expected_distinct_experts(spec.num_local_experts, spec.num_experts_per_tok, m.batch)
            checks.append(_check(f"routed experts hit per MoE layer, batch {m.batch}", "experts", expected,
                                 m.experts_hit_mean, tol=tolerance, note="E x (1 - (1 - k/E)^B)"))
    largest = max((m.batch for m in run.decode), default=1)
    pred_peak = (total_weight_bytes(spec, quant) + largest * run.prefill_kv_bytes
                 + activation_peak_bytes(spec, 1, run.kv_in_flight, largest, act_bytes=itemsize))
    checks.append(_check("peak memory", "bytes", pred_peak, run.peak_memory_bytes, tol=tolerance,
                         note=run.peak_method))
    # -- calibration: efficiencies against the reference peaks perf uses for this device
    prefill_eff = pre_flops / run.prefill.best_seconds / peak_ref
    if decode_b1 is None:
        raise UsageError("verify needs batch size 1 among --batches to calibrate decode")
    decode_eff = decode_b1[0] / decode_b1[1] / bw_ref
    cal = DeviceCalibration(
        device=cal_id, device_name=be.device_name, prefill_efficiency=min(prefill_eff, 1.5),
        decode_bandwidth_efficiency=min(decode_eff, 1.5), measured_bandwidth_bytes_per_s=bw.bytes_per_s,
        measured_flops_per_s=mm.flops_per_s, runtime_dtype=dtype, model=spec.id, llamasize_version=__version__,
    )
    return VerifyReport(
        model=spec.id, device=cal_id, device_name=be.device_name, backend=be.name, backend_reason=be.reason,
        dtype=dtype, tolerance=tolerance, measured_bandwidth_bytes_per_s=bw.bytes_per_s,
        measured_matmul_flops_per_s=mm.flops_per_s, matmul_flops_per_s_by_rows=by_rows, prompt_tokens=prompt_tokens,
        kv_layout=layout, checks=checks, passed=all(c.passed for c in checks), calibration=cal,
        calibration_path=None, skipped_batches=run.skipped_batches, scaled_note=scaled_note, repeats=len(rounds),
        repeats_requested=repeats,
        seconds=time.perf_counter() - t0,
    )


def best_of_runs(runs: Sequence):
    """One model measurement from ``runs`` rounds of the same seeded work: the first round's
    counts (bytes, experts hit, peak memory: identical across rounds, the seed fixes them) with the
    minimum prefill time and, per batch, the minimum step time over every round (module
    docstring, 4); the median step time reported is the median of the rounds' medians."""
    import statistics

    first = runs[0]
    pre = min((r.prefill for r in runs), key=lambda p: p.best_seconds)
    pre = pre.model_copy(update={"repeats": sum(r.prefill.repeats for r in runs)})
    decodes = []
    for d in first.decode:
        same = [x for r in runs for x in r.decode if x.batch == d.batch]
        decodes.append(d.model_copy(update={
            "min_step_seconds": min(x.min_step_seconds for x in same),
            "median_step_seconds": statistics.median(x.median_step_seconds for x in same),
            "steps": sum(x.steps for x in same)}))
    return first.model_copy(update={"prefill": pre, "decode": decodes})


def local_device_spec(registry: Registry, calibration_file: Path | None = None) -> tuple[GpuSpec, str]:
    """The device ``--gpu local`` means, and a note: the detected GPU's catalogue entry, else this
    CPU with the rates the last ``verify`` measured (or measured now, briefly)."""
    from llamasize.runtime.detect import detect_cpu, detect_devices

    found = detect_devices(registry)
    if found.gpus:
        g = found.gpus[0]
        if g.catalog_id is None:
            raise UsageError(f"detected GPU {quote_value(g.name)} is not in the catalogue; add it (see the README) or pass --gpu")
        return registry.gpu(g.catalog_id), f"--gpu local: detected {g.name} ({g.catalog_id})"
    cpu = detect_cpu()
    cal = load_calibrations(calibration_path(calibration_file),
                            must_exist=calibration_file is not None).devices.get("cpu")
    ignored = ""
    if cal is not None and cal.device_name != cpu.model_name:
        # measured on another CPU (a copied file): its rates say nothing about this one
        ignored = (f"; the calibration's CPU rates were measured on {quote_value(cal.device_name)}, not this "
                   f"{quote_value(cpu.model_name)}, and are ignored")
        cal = None
    if cal is not None:
        spec = cpu_device_spec(cpu.model_name, cpu.memory_total_bytes or 1, cal.measured_bandwidth_bytes_per_s,
                               cal.measured_flops_per_s, f"llamasize verify ({cal.model}, {cal.runtime_dtype})")
        return spec, f"--gpu local: no GPU ({found.reason}); this CPU with the rates 'llamasize verify' measured"
    from llamasize.runtime.backend import cpu_backend
    from llamasize.runtime.measure import measure_bandwidth, measure_matmul

    be = cpu_backend()
    bw = measure_bandwidth(be, repeats=3)
    mm = measure_matmul(be, repeats=3)
    spec = cpu_device_spec(cpu.model_name, cpu.memory_total_bytes or 1, bw.bytes_per_s, mm.flops_per_s,
                           "quick copy and GEMM measurement just now")
    return spec, (f"--gpu local: no GPU ({found.reason}); this CPU, rates measured just now (run 'llamasize verify')"
                  + ignored)
