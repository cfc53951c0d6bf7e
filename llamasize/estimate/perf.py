"""Speed model: prefill and decode time, TTFT, TPOT, throughput and the dominating bound.

A roofline per pipeline stage and per GPU (docs/design.md rule 6, issue "Performance and cost"):

- **Prefill** (compute-bound): FLOPs / (dense peak of the compute dtype x prefill efficiency),
  floored by the bytes it must read / (bandwidth x decode efficiency), plus TP all-reduces.
  FLOPs = 2 x matmul parameters used per token x prompt tokens + attention
  ``2 x heads x (d_qk + d_v) x attended pairs`` (causal: P(P+1)/2 for full layers; within the
  window or chunk for windowed ones). A prompt runs through pipeline stages one after another.
- **Roofline per group**: the work of a stage is split into dense weights, routed experts and
  attention; each group takes ``max(FLOPs / rate, bytes / bandwidth)`` and the groups add up (a
  step whose dense GEMMs are compute-bound while its experts are memory-bound is slower than one
  global ``max`` would say).
- **Decode step** at batch B (memory-bound): bytes read / (bandwidth x decode efficiency), where
  bytes = dense and attention weights + shared experts + lm_head + the routed experts actually hit
  + the KV cache attended (``traffic``: a query at position p reads ``p % K + 1`` tokens of a
  chunked-local layer, ``min(p + 1, W)`` of a sliding one; over a generation the chunked reads
  are the exact mean over the decode positions). Under uniform routing a batch of B tokens hits
  ``E x (1 - (1 - k/E)^B)`` distinct experts per MoE layer (k at B = 1, -> E for large B). The
  compute roof (2 x active matmul parameters x B) and TP all-reduce / EP all-to-all time are added.
- **Communication**: ring all-reduce ``2 (n-1)/n x bytes / link + latency``, twice per layer for
  TP (after attention and after the MLP; under EP the MoE all-reduce becomes an all-to-all of
  ``2 x tokens x k x h x 2 bytes x (n-1)/n``). Link = the catalogue's per-GPU bandwidth halved
  (datasheets state bidirectional totals) x a communication efficiency.
- **Pipeline**: a decode batch is split into ``m = min(B, pp)`` micro-batches; TPOT = the sum of
  the stage times; the bubble fraction ``1 - m/pp`` is reported.
- **Attention data parallelism** (D ranks, ``parallel``): each rank runs attention, the dense
  layers and the lm_head on its own ``ceil(B / D)`` sequences (the batch above is per rank), while
  every MoE layer sees the tokens of all D ranks (experts hit, expert FLOPs and rows from
  ``D x`` the rank's tokens, on the GPU's ``1 / (D x TP)`` share of the experts). Per MoE layer
  the tokens are exchanged over the ``D x TP`` GPUs: with EP a dispatch and a combine all-to-all of
  ``tokens x k x h x 2`` bytes; without EP (experts split by width) an all-gather and a
  reduce-scatter of all ranks' activations, the volume of a ring all-reduce of ``D x tokens x h x 2``
  bytes with two collective latencies (two collectives, as EP's two all-to-alls). The TP all-reduces stay inside a rank (none when its TP is 1). In the steady state the
  ranks prefill their prompts in parallel (a prefill's MoE layers see one prompt per rank).

Efficiencies are named constants (below), replaced by a calibration measured by ``verify`` on the
device, or overridden per run. Numbers say ``analytical`` or ``calibrated``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict

from llamasize.errors import UnknownValueError, UsageError
from llamasize.estimate.deployment import Assumption, Deployment, DeploymentHead, ParallelLayoutFields
from llamasize.estimate.engine_profiles import engine_assumption
from llamasize.estimate.engines import TRTLLM_BATCH_DEFAULTS_BASIS
from llamasize.estimate.kv import causal_pairs
from llamasize.estimate.memory import quick_fit
from llamasize.estimate.params import architecture_warnings
from llamasize.estimate.traffic import (
    DecodeSpan, StageWeights, expected_distinct_experts, kv_read_per_sequence, stage_weights,
)
from llamasize.estimate.quant import get_format
from llamasize.estimate.simresult import SimulationSummary
from llamasize.data.spec import ModelSpec
from llamasize.units import dtype_bytes

#: Fraction of the dense tensor-core peak reached by prefill GEMMs (assumed planning figure; no
#: primary source measures it for every GPU — ``llamasize verify`` replaces it on a device).
PREFILL_EFFICIENCY = 0.5
#: Fraction of the datasheet memory bandwidth reached while streaming weights and KV in decode
#: (assumed planning figure; replaced by calibration).
DECODE_BANDWIDTH_EFFICIENCY = 0.7
#: Fraction of the link bandwidth reached by collectives (assumed).
COMM_EFFICIENCY = 0.7
#: Fixed latency per collective (all-reduce / all-to-all) in seconds (assumed: small-message NCCL
#: latency over NVLink is of the order of 10 microseconds; not from a sourced fact).
COLLECTIVE_LATENCY_S = 10e-6
#: Bytes per activation element exchanged by collectives (BF16).
ACT_BYTES = dtype_bytes("bf16")

Bound = Literal["compute", "memory", "communication"]


@dataclass(frozen=True)
class Efficiencies:
    """The efficiency factors a speed estimate uses, and where they come from.

    ``prefill`` is the achievable fraction of the GEMM peak at many rows and ``decode_bandwidth``
    of the memory bandwidth for a large step; with ``gemm_rows_half`` > 0 a matrix multiplication
    of ``t`` rows reaches ``prefill x t / (t + gemm_rows_half)`` (small GEMMs do not fill the
    tensor cores), with ``bandwidth_bytes_half`` > 0 a step that reads ``B`` bytes streams at
    ``decode_bandwidth x B / (B + bandwidth_bytes_half)`` of the datasheet bandwidth (a fixed cost
    per step: launches, synchronisation). ``comm`` is the achievable fraction of the link and
    ``collective_latency_s`` the fixed cost of one collective. The assumed defaults have both
    halves at 0 (constant fractions); ``default_efficiencies`` gives the fitted ones of the GPU's
    generation (``data.efficiency``)."""

    prefill: float = PREFILL_EFFICIENCY
    decode_bandwidth: float = DECODE_BANDWIDTH_EFFICIENCY
    comm: float = COMM_EFFICIENCY
    source: Literal["default", "fitted", "calibrated", "override"] = "default"
    note: str = ("assumed defaults: prefill 0.5 of dense peak, decode 0.7 of bandwidth, collectives 0.7 of link "
                 "bandwidth + 10 us each")
    #: Why a calibration was not applied, or applied with a caveat (``calibration.efficiencies_from``).
    warning: str | None = None
    gemm_rows_half: float = 0.0
    bandwidth_bytes_half: float = 0.0
    collective_latency_s: float = COLLECTIVE_LATENCY_S

    def gemm(self, rows):
        """Fraction of the GEMM peak a matrix multiplication of ``rows`` rows reaches (numpy-friendly)."""
        if not self.gemm_rows_half:
            return self.prefill + 0 * rows
        return self.prefill * rows / (rows + self.gemm_rows_half)

    def bandwidth(self, nbytes):
        """Fraction of the datasheet bandwidth a step reading ``nbytes`` bytes reaches (numpy-friendly)."""
        if not self.bandwidth_bytes_half:
            return self.decode_bandwidth + 0 * nbytes
        return self.decode_bandwidth * nbytes / (nbytes + self.bandwidth_bytes_half)

    def as_dict(self) -> dict[str, float]:
        """The factors as ``perf``'s JSON shows them."""
        return {"prefill": self.prefill, "decode_bandwidth": self.decode_bandwidth, "comm": self.comm,
                "gemm_rows_half": self.gemm_rows_half, "bandwidth_bytes_half": self.bandwidth_bytes_half,
                "collective_latency_s": self.collective_latency_s}


def default_efficiencies(gpu) -> Efficiencies:
    """The efficiencies of a GPU without a calibration: the parameters fitted for its generation
    (``data.efficiency``, labelled ``fitted`` with their source), else the assumed defaults."""
    from llamasize.data.efficiency import fitted_for

    f = fitted_for(gpu.architecture)
    if f is None:
        return Efficiencies(note=Efficiencies.note + f" (no fitted parameters for the {gpu.architecture} generation)")
    return Efficiencies(prefill=f.gemm, decode_bandwidth=f.bandwidth, comm=f.comm, source="fitted",
                        gemm_rows_half=f.gemm_rows_half, bandwidth_bytes_half=f.bandwidth_bytes_half,
                        collective_latency_s=f.collective_latency_s,
                        note=f"fitted for {gpu.architecture}: {f.source}")


# ------------------------------------------------------------------------------------ results ---
class PhaseTime(BaseModel):
    """Time of one phase on the critical path, split by roof (seconds)."""

    model_config = ConfigDict(frozen=True)

    time_s: float | None
    compute_s: float | None
    memory_s: float
    communication_s: float
    bound: Bound | None
    flops_per_gpu: int
    bytes_read_per_gpu: int


class PerfEstimate(ParallelLayoutFields, DeploymentHead):
    """The JSON of ``llamasize perf``."""

    # fields: DeploymentHead's, ParallelLayoutFields', then these (the docstring is the JSON schema's description)

    model_config = ConfigDict(frozen=True)

    kv_layout: str
    engine: str
    prompt_tokens: int
    output_tokens: int
    concurrency: int
    compute_dtype: str
    peak_flops_per_s: float | None
    memory_bandwidth_bytes_per_s: float | None
    interconnect_bytes_per_s: float | None
    efficiencies: dict[str, float]
    efficiency_source: str
    confidence: Literal["analytical", "calibrated"]
    prefill: PhaseTime | None
    decode: PhaseTime | None
    distinct_experts_per_moe_layer: float | None
    kv_bytes_read_per_step_per_gpu: int
    ttft_s: float | None
    tpot_s: float | None
    tokens_per_s_per_sequence: float | None
    output_tokens_per_s: float | None
    input_tokens_per_s: float | None
    requests_per_s: float | None
    request_latency_s: float | None
    tokens_per_gpu_hour: float | None
    pipeline_bubble_fraction: float
    fits: bool | None
    max_concurrency: int | None
    #: Capacity check against a daily request volume (None when not asked).
    requests_per_day: float | None = None
    capacity_requests_per_day: float | None = None
    replicas_for_requests_per_day: int | None = None
    warnings: list[str]
    assumptions: list[Assumption]
    unknown: list[str]
    #: The continuous-batching simulation (``perf --arrival``); when it ran, ``output_tokens_per_s``,
    #: ``ttft_s``, ``tpot_s``, ``requests_per_s`` and ``request_latency_s`` are its means.
    simulation: SimulationSummary | None = None


# ----------------------------------------------------------------------------------- formulas ---
def attended_pairs(tokens: int, window: int | None, chunked: bool) -> int:
    """Causal (query, key) pairs in a prefill of ``tokens`` tokens for one layer
    (``kv.causal_pairs``). Full: ``P(P+1)/2``. Sliding window w: each query sees ``min(t, w)``
    keys. Llama 4 chunked (chunk K): a query at position t sees ``(t mod K) + 1`` keys
    (docs/facts/models.md 1.6)."""
    return causal_pairs(tokens, window, chunked)


def ring_allreduce_s(nbytes: float, n: int, link_bytes_per_s: float | None, eff: float,
                     latency_s: float = COLLECTIVE_LATENCY_S) -> float:
    """Ring all-reduce time: ``2 (n-1)/n x bytes / (link x eff) + latency``; 0 for n = 1."""
    if n <= 1:
        return 0.0
    if not link_bytes_per_s:
        raise UnknownValueError("communication time", ["interconnect.bandwidth_gb_per_s"], "the GPU catalogue entry")
    return 2 * (n - 1) / n * nbytes / (link_bytes_per_s * eff) + latency_s


def all_to_all_s(nbytes: float, n: int, link_bytes_per_s: float | None, eff: float,
                 latency_s: float = COLLECTIVE_LATENCY_S) -> float:
    """All-to-all time: ``(n-1)/n x bytes / (link x eff) + latency``; 0 for n = 1."""
    if n <= 1:
        return 0.0
    if not link_bytes_per_s:
        raise UnknownValueError("communication time", ["interconnect.bandwidth_gb_per_s"], "the GPU catalogue entry")
    return (n - 1) / n * nbytes / (link_bytes_per_s * eff) + latency_s


def _attention_dims(spec: ModelSpec) -> tuple[int, int]:
    """(d_qk, d_v) per head for attention FLOPs."""
    if spec.is_mla:
        return spec.qk_nope_head_dim + spec.qk_rope_head_dim, spec.v_head_dim
    hd = spec.resolved_head_dim
    return hd, hd


def base_dtype(gpu) -> str:
    """The 16-bit dtype with a known rate (BF16, else FP16), or FP32 on a device that only has
    that (the CPU as a device)."""
    for dt in ("bf16", "fp16"):
        if gpu.flops.per_second(dt) is not None:
            return dt
    return "fp32" if gpu.flops.per_second("fp32") is not None else "bf16"


def compute_dtype(quant: str, gpu) -> str:
    """The dtype the matmuls run in: the format's compute dtype when the GPU has it natively and
    a rate for it is known, else the 16-bit ``base_dtype`` (weight-only execution)."""
    fmt = get_format(quant)
    want = fmt.compute_dtype
    if want == "fp8" and not gpu.native.fp8:
        return base_dtype(gpu)
    if want == "fp4" and not gpu.native.fp4:
        return base_dtype(gpu)
    if want in ("fp8", "fp4", "int8", "fp32", "bf16", "fp16") and gpu.flops.per_second(want) is None:
        return base_dtype(gpu)
    return want


# ---------------------------------------------------------------------------------- estimator --
def estimate_perf(d: Deployment, *, prompt_tokens: int, output_tokens: int, concurrency: int | None = None,
                  eff: Efficiencies | None = None, requests_per_day: float | None = None) -> PerfEstimate:
    """Speed of one deployment for a workload of ``concurrency`` sequences, each a prompt of
    ``prompt_tokens`` followed by ``output_tokens`` generated tokens (see the module docstring)."""
    if prompt_tokens < 1 or output_tokens < 1:
        raise UsageError("prompt and output lengths must be at least 1 token")
    b = concurrency or d.batch
    if b < 1:
        raise UsageError(f"--concurrency must be at least 1, got {b}")
    spec, gpu = d.model, d.gpu
    eff = eff or default_efficiencies(gpu)
    ctx = prompt_tokens + output_tokens
    mem_d = Deployment(**{**d.__dict__, "context_tokens": max(d.context_tokens, ctx), "batch": b})
    fits, _, s, core = quick_fit(mem_d)
    warnings: list[str] = architecture_warnings(spec)
    unknown: list[str] = []
    dtype = compute_dtype(s.fmt.id, gpu)
    peak = gpu.flops.per_second(dtype)
    bw = gpu.memory_bandwidth_bytes_per_s
    link = gpu.interconnect.bandwidth_bytes_per_s
    link_uni = None if link is None else link / 2
    max_conc = core.max_concurrency(ctx) if core is not None else None
    if fits is False:
        warnings.append(f"this deployment does not fit {b} x {ctx:,} tokens in memory (see 'llamasize fit')")
    elif max_conc is not None and b > max_conc:
        warnings.append(f"concurrency {b} exceeds the {max_conc} sequences of {ctx:,} tokens that fit")
    if s.fmt.needs_native and dtype == "bf16":
        warnings.append(f"{gpu.id} runs {s.fmt.id} weight-only: matmuls in BF16")
    if eff.warning:
        warnings.append(eff.warning)
    common = dict(
        model=spec.id, gpu=gpu.id, gpu_count=d.gpu_count, tensor_parallel_size=s.tp, pipeline_parallel_size=s.pp,
        data_parallel_size=s.dp, expert_parallel=s.ep, quant=s.fmt.id, kv_cache_dtype=s.kv_dtype, kv_layout=s.layout, engine=s.budget.engine,
        prompt_tokens=prompt_tokens, output_tokens=output_tokens, concurrency=b, compute_dtype=dtype,
        peak_flops_per_s=peak, memory_bandwidth_bytes_per_s=bw, interconnect_bytes_per_s=link,
        efficiencies=eff.as_dict(),
        efficiency_source=eff.source, confidence="calibrated" if eff.source == "calibrated" else "analytical",
        fits=fits, max_concurrency=max_conc,
    )
    assumptions = _assumptions(eff, dtype, prompt_tokens, output_tokens, b, s.layout, s.fmt.compute_scope,
                               base_dtype(gpu))
    assumptions += [engine_assumption(s.profile), Assumption(
        name="scheduler_limits", value=f"max_num_seqs {s.max_seqs:,}, max_num_batched_tokens {s.batched_tokens:,}",
        source="--max-num-seqs / --max-num-batched-tokens" if d.max_num_seqs or d.max_num_batched_tokens else
        TRTLLM_BATCH_DEFAULTS_BASIS if s.budget.engine == "trtllm" else
        f"the {s.budget.engine} engine's defaults (llamasize.estimate.engines)")]
    if s.dp > 1:
        assumptions.append(Assumption(
            name="attention_data_parallel",
            value=f"{s.dp} ranks x TP {s.tp}: {s.rank_batch(b)} of the {b} sequences per rank for attention and the "
                  f"dense layers; the MoE layers see every rank's tokens, "
                  + ("dispatched and combined by two all-to-alls" if s.ep else "gathered and scattered back")
                  + f" over {s.dp * s.tp} GPUs",
            source="llamasize.perf (module docstring): vLLM --data-parallel-size, SGLang --enable-dp-attention"))
    if spec.num_nextn_predict_layers:
        assumptions.append(Assumption(
            name="speculative_decoding", value=f"none: the checkpoint's {spec.num_nextn_predict_layers} MTP layer(s) "
            "could serve as a draft (vLLM --speculative-config method deepseek_mtp)", source="not modelled"))
    try:
        if core is None:
            spec.need("the speed estimate", "hidden_size", "num_hidden_layers", "num_attention_heads",
                      "vocab_size")
        if bw is None:
            raise UnknownValueError("decode speed", ["memory_bandwidth_gb_per_s"], f"the catalogue entry {gpu.id}")
        stages = stage_weights(spec, s.fmt.id, s.tp, s.pp, s.ep, s.dp)
    except UnknownValueError as e:
        return PerfEstimate(prefill=None, decode=None, distinct_experts_per_moe_layer=None,
                            kv_bytes_read_per_step_per_gpu=0, ttft_s=None, tpot_s=None,
                            tokens_per_s_per_sequence=None, output_tokens_per_s=None, input_tokens_per_s=None,
                            requests_per_s=None, request_latency_s=None, tokens_per_gpu_hour=None,
                            pipeline_bubble_fraction=0.0, warnings=warnings, assumptions=assumptions,
                            unknown=[str(e)], **common)
    if peak is None:
        unknown.append(f"{gpu.id} has no {dtype} FLOP rate in the catalogue: compute time and prefill are unknown")
    if link is None and (s.tp > 1 or s.ep or s.dp > 1):
        unknown.append(f"{gpu.id} has no interconnect bandwidth in the catalogue: communication time is unknown")
    base_peak = gpu.flops.per_second(base_dtype(gpu))
    b_rank = s.rank_batch(b)  # sequences of one attention data-parallel rank (b when dp = 1)
    ranks = min(s.dp, b)  # ranks with a sequence: their tokens meet in the MoE layers
    prefill, _ = _phase(spec, s, stages, prompt_tokens, peak, bw, link_uni, eff, prefill=True, base_peak=base_peak,
                        ranks=ranks)
    micro = min(b_rank, s.pp)
    per_micro = -(-b_rank // micro)
    span = DecodeSpan.generation(prompt_tokens, output_tokens)  # the decode steps of the generation
    decode, kv_read = _phase(spec, s, stages, per_micro, peak, bw, link_uni, eff, prefill=False, span=span,
                             base_peak=base_peak, ranks=ranks)
    experts = (expected_distinct_experts(spec.num_local_experts, spec.num_experts_per_tok, per_micro * ranks)
               if spec.is_moe else None)
    bubble = 1.0 - micro / s.pp
    ttft = prefill.time_s
    tpot = decode.time_s
    per_seq = None if tpot is None else 1.0 / tpot
    # deployment throughput needs the steady state (prefill included): unknown without a TTFT
    req_s = latency = in_tps = out_tps = per_gpu_hour = None
    if ttft is not None and tpot is not None:
        # steady state: b sequences share the decode steps; prompts are prefilled one after another
        # (on each attention data-parallel rank, the ranks in parallel)
        cycle = output_tokens * tpot + b_rank * ttft
        req_s = b / cycle
        out_tps = req_s * output_tokens
        in_tps = req_s * prompt_tokens
        latency = ttft + output_tokens * tpot
        per_gpu_hour = (in_tps + out_tps) * 3600 / d.gpu_count
    if decode.bound == "communication":
        warnings.append("decode is communication-bound: fewer GPUs per replica or a faster link would help")
    cap_rpd = replicas = None
    if req_s is not None:
        cap_rpd = req_s * 86_400
        if requests_per_day is not None:
            replicas = max(1, math.ceil(requests_per_day / cap_rpd)) if cap_rpd > 0 else None
            if replicas and replicas > 1:
                warnings.append(f"{requests_per_day:,.0f} requests/day need {replicas} replicas of this deployment "
                                f"(one serves {cap_rpd:,.0f} at full load)")
    return PerfEstimate(
        requests_per_day=requests_per_day, capacity_requests_per_day=cap_rpd, replicas_for_requests_per_day=replicas,
        prefill=prefill, decode=decode, distinct_experts_per_moe_layer=experts, kv_bytes_read_per_step_per_gpu=kv_read,
        ttft_s=ttft, tpot_s=tpot, tokens_per_s_per_sequence=per_seq, output_tokens_per_s=out_tps,
        input_tokens_per_s=in_tps, requests_per_s=req_s, request_latency_s=latency, tokens_per_gpu_hour=per_gpu_hour,
        pipeline_bubble_fraction=round(bubble, 6), warnings=warnings, assumptions=assumptions, unknown=unknown,
        **common,
    )


def _bound(compute: float | None, memory: float, comm: float) -> Bound | None:
    if compute is None:
        return None
    roofs = {"compute": compute, "memory": memory, "communication": comm}
    return max(roofs, key=lambda k: (roofs[k], k))


def _layer_comm_s(spec: ModelSpec, s, stage: StageWeights, tokens: int, link_uni, eff: Efficiencies,
                  ranks: int = 1) -> float:
    """TP all-reduces and EP all-to-alls of one stage for ``tokens`` tokens (per attention
    data-parallel rank; ``ranks`` ranks hold tokens). With attention DP the MoE layers exchange the
    tokens over the ``dp x tp`` GPUs (the module docstring)."""
    moe_gpus = s.tp * s.dp
    if moe_gpus <= 1 or link_uni is None:
        return 0.0
    h = spec.hidden_size
    act = tokens * h * ACT_BYTES
    lat = eff.collective_latency_s
    n_layers = len(stage.layers)
    t = n_layers * ring_allreduce_s(act, s.tp, link_uni, eff.comm, lat)  # after attention
    dense_layers = n_layers - stage.moe_layers
    t += dense_layers * ring_allreduce_s(act, s.tp, link_uni, eff.comm, lat)  # after a dense MLP
    if s.ep:
        k = spec.num_experts_per_tok
        t += stage.moe_layers * 2 * all_to_all_s(act * k, moe_gpus, link_uni, eff.comm, lat)
    elif s.dp > 1:  # the experts split by width: every rank's activations all-gathered, the results
        # reduce-scattered back (docs/facts/trtllm.md section 3): a ring all-reduce's volume, two collectives
        t += stage.moe_layers * (ring_allreduce_s(act * max(1, ranks), moe_gpus, link_uni, eff.comm, lat) + lat)
    else:
        t += stage.moe_layers * ring_allreduce_s(act, moe_gpus, link_uni, eff.comm, lat)
    return t


def _attn_flops(spec: ModelSpec, s, layers: tuple[int, ...], pairs_of: Callable[[str], float]) -> float:
    """Attention score + value FLOPs of these layers on one GPU: 2 x heads/tp x (d_qk + d_v) x pairs."""
    dqk, dv = _attention_dims(spec)
    heads = spec.num_attention_heads // s.tp
    types = spec.resolved_layer_types()
    total = 0
    for i in layers:
        lt = types[i]
        total += 2 * heads * (dqk + dv) * pairs_of(lt)
    return total


@dataclass(frozen=True)
class Work:
    """One group of operations of a pipeline stage on one GPU: FLOPs, bytes read, and the rows
    (tokens) each of its matrix multiplications sees."""

    name: Literal["dense", "experts", "attention"]
    flops: float
    bytes: float
    rows: float


#: work group -> achievable FLOP/s for its matrix multiplications (rows, compute dtype).
RateFn = Callable[["Work"], float]


def _stage_work(spec: ModelSpec, s, st: StageWeights, tokens: int, *, prefill: bool,
                span: DecodeSpan | None = None, ranks: int = 1) -> list[Work]:
    """The work of one stage: a prefill of ``tokens`` tokens, or a decode step of ``tokens``
    sequences over the decode ``span`` (``traffic.DecodeSpan``). Three groups, each with its own roofline:

    - dense: attention projections, norms, router, dense FFN, shared experts (all ``tokens``
      rows), the lm_head (once per sequence: a prefill computes only its last position's logits)
      plus one embedding row per token;
    - experts: the routed experts hit, ``E x (1 - (1 - k/E)^T)`` of them, each multiplying its
      share ``T x k / hit`` of the rows;
    - attention: scores and values over the attended pairs; in decode it reads the KV cache.

    With attention data parallelism ``tokens`` are one rank's and the experts see ``ranks x tokens``.
    """
    sequences = 1 if prefill else tokens  # a prefill needs the logits of its last position only
    out = [Work("dense", 2 * tokens * st.dense_matmul_params + 2 * sequences * st.lm_head_params,
                st.dense_bytes + tokens * st.embedding_row_bytes, tokens)]
    if spec.is_moe and st.moe_layers:
        e, k = spec.num_local_experts, spec.num_experts_per_tok
        moe_tokens = tokens * max(1, ranks)  # every attention data-parallel rank's tokens meet here
        hit = expected_distinct_experts(e, k, moe_tokens)
        out.append(Work("experts", 2 * moe_tokens * st.routed_matmul_params * k / e, st.routed_bytes * hit / e,
                        moe_tokens * k / hit))
    if prefill:
        out.append(Work("attention", _attn_flops(
            spec, s, st.layers, lambda lt: attended_pairs(tokens, spec.window_of(lt), lt == "chunked_attention")),
            0, tokens))
    else:
        out.append(Work("attention",
                        tokens * _attn_flops(spec, s, st.layers, lambda lt: span.attended(spec, lt)),
                        tokens * kv_read_per_sequence(spec, s.kv_bytes, s.tp, st.layers, span), tokens))
    return out


def roofline(works: list[Work], rate: RateFn | None, bandwidth: float) -> tuple[float | None, float | None, float]:
    """``(time, compute, memory)`` of a list of work groups: each group takes
    ``max(FLOPs / rate(group), bytes / bandwidth)``; compute and memory are the sums of the two
    roofs (None when the FLOP rate is unknown; the time is then unknown too)."""
    memory = sum(w.bytes for w in works) / bandwidth
    if rate is None:
        return None, None, memory
    compute = time = 0.0
    for w in works:
        c = w.flops / rate(w)
        compute += c
        time += max(c, w.bytes / bandwidth)
    return time, compute, memory


def phase_work(d: Deployment, tokens: int, *, prefill: bool, ctx: int = 0) -> list[list[Work]]:
    """The work groups of each pipeline stage on one GPU for a prefill of ``tokens`` tokens or a
    decode step of ``tokens`` sequences at context ``ctx`` (the query at position ``ctx - 1``, so
    ``ctx`` tokens on a full layer) -- what the speed model divides by the
    device's rates (``verify`` uses it with measured rates)."""
    _, _, s, _ = quick_fit(d)
    stages = stage_weights(d.model, s.fmt.id, s.tp, s.pp, s.ep, s.dp)
    span = None if prefill else DecodeSpan.at(ctx - 1)
    return [_stage_work(d.model, s, st, tokens, prefill=prefill, span=span) for st in stages]


def _phase(spec: ModelSpec, s, stages, tokens: int, peak, bw, link_uni, eff: Efficiencies, *, prefill: bool,
           span: DecodeSpan | None = None, base_peak=None, ranks: int = 1) -> tuple[PhaseTime, int]:
    """Stages run one after another: time = sum over stages of the roofline of their work groups
    + communication. A format that quantizes only the experts (``compute_scope == "experts"``)
    runs its other matmuls at ``base_peak`` (the 16-bit rate)."""
    experts_only = s.fmt.compute_scope == "experts"
    if peak is None or (experts_only and base_peak is None):
        rate = None
    else:
        def rate(w: Work) -> float:
            return (peak if (w.name == "experts" or not experts_only) else base_peak) * eff.gemm(w.rows)
    compute: float | None = 0.0
    memory = comm = total = 0.0
    flops_max = bytes_max = kv_max = 0
    for st in stages:
        works = _stage_work(spec, s, st, tokens, prefill=prefill, span=span, ranks=ranks)
        t, c, m = roofline(works, rate, bw * eff.bandwidth(sum(w.bytes for w in works)))
        cm = _layer_comm_s(spec, s, st, tokens, link_uni, eff, ranks)
        memory += m
        comm += cm
        if compute is not None and c is not None:
            compute += c
            total += t + cm
        else:
            compute = None
        kv = 0 if prefill else int(next(w.bytes for w in works if w.name == "attention"))
        flops_max = max(flops_max, int(sum(w.flops for w in works)))
        bytes_max = max(bytes_max, int(sum(w.bytes for w in works)))
        kv_max = max(kv_max, kv)
    if compute is None:
        # the compute roof is unknown: decode is at least its memory + communication time; prefill unknown
        time = None if prefill else memory + comm
        bound = None if prefill else ("memory" if memory >= comm else "communication")
    else:
        time, bound = total, _bound(compute, memory, comm)
    return PhaseTime(time_s=time, compute_s=compute, memory_s=memory, communication_s=comm, bound=bound,
                     flops_per_gpu=flops_max, bytes_read_per_gpu=bytes_max), kv_max


def _assumptions(eff: Efficiencies, dtype: str, prompt: int, output: int, b: int, layout: str, scope: str,
                 base: str) -> list[Assumption]:
    label = {"default": "assumed", "fitted": "fitted", "calibrated": "calibrated", "override": "override"}[eff.source]
    src = eff.note if eff.source != "override" else "given on the command line"
    comm_src = eff.note if eff.source == "fitted" else "assumed default (verify does not measure collectives)"
    return [
        Assumption(name="prefill_efficiency", value=f"{eff.prefill:g} ({label}"
                   + (f"; x t/(t + {eff.gemm_rows_half:g}) for a GEMM of t rows)" if eff.gemm_rows_half else ")"),
                   source=src),
        Assumption(name="decode_bandwidth_efficiency", value=f"{eff.decode_bandwidth:g} ({label}"
                   + (f"; x B/(B + {eff.bandwidth_bytes_half:.3g}) for a step reading B bytes)"
                      if eff.bandwidth_bytes_half else ")"), source=src),
        Assumption(name="comm_efficiency", value=f"{eff.comm:g} + {eff.collective_latency_s * 1e6:g} us per collective"
                   f" ({'fitted' if eff.source == 'fitted' else 'assumed'})", source=comm_src),
        Assumption(name="compute_dtype",
                   value=dtype if scope == "all" else f"{dtype} for the routed experts, {base} for the rest",
                   source="format's compute dtype if the GPU runs it natively"),
        Assumption(name="routing", value="uniform: E x (1 - (1 - k/E)^B) distinct experts per MoE layer",
                   source="docs/design.md rule 6"),
        Assumption(name="workload", value=f"{b} concurrent sequences, {prompt:,} prompt + {output:,} output tokens",
                   source="--concurrency / --prompt-tokens / --output-tokens"),
        Assumption(name="decode_context", value=f"prompt + output/2 = {prompt + output // 2:,} tokens on average",
                   source="average over the generation"),
        Assumption(name="windowed_attention_reads", value="sliding/chunked layers read at most their window of KV "
                   f"(storage layout: {layout})", source="docs/facts/serving.md 2.1 (ChunkedLocalAttentionSpec)"),
        Assumption(name="steady_state", value="prompts prefilled one after another; decode steps shared by the batch",
                   source="llamasize.perf"),
    ]
