"""The cost of one engine step and the KV pool it fills (the continuous-batching simulator's
physics; ``estimate.simulate`` has the overview, ``estimate.scheduler`` the scheduler's loop).

- **A step** holds ``D`` decoding requests at positions ``p_i`` and prefill chunks
  ``(start, length)``; it is timed with the same roofline-per-group model as ``perf``
  (``perf.roofline``): the dense weights (and the lm_head) read once per step for all its
  ``T = D + sum(length)`` tokens, the routed experts those ``T`` tokens hit
  (``E x (1 - (1 - k/E)^T)`` under uniform routing), ``2 x matmul params x T`` FLOPs, attention
  FLOPs over the attended pairs of every query, the KV each decoding request attends and the KV a
  chunk's queries attend (read once per chunk), plus the TP all-reduces / EP all-to-alls of ``T``
  tokens (``perf._layer_comm_s``). Pipeline stages add up (a step passes through every stage; the
  overlap of micro-batches across stages is not modelled, which is conservative for PP > 1).
- **Runs of decode-only steps** (``StepCost.decode_times``): the same step time for every step of
  a run at once, exactly (the attended-key sums of a set of positions advanced by ``j`` have closed
  forms over the sorted positions: ``sum(p + j)``, ``sum(min(p + j, W))``, ``sum((p + j) % K)``).
- **Attention data parallelism** (``--dp N``, ``StepCost(ranks=...)``): the step is one DP rank's.
  Attention, the dense layers, the shared experts and the lm_head run on the rank's own ``T``
  tokens with its replicated weights; the routed experts are split over the ``N x TP`` GPUs of a
  stage (``traffic.stage_weights(dp=N)``) and each GPU's experts see the tokens of every rank that
  holds requests, ``ranks x T`` (``_weight_works``); the collectives are ``perf._layer_comm_s``'s
  for those ranks (the EP all-to-alls, two per MoE layer, each GPU sending its rank's ``T x top_k``
  activations). This is the step of a rank whose peers carry as many tokens: ranks step in
  lockstep for the MoE layers (vLLM's ``DPEngineCoreProc``; an idle rank runs a dummy batch), so
  under symmetric load every rank's step is this one (``estimate.simulate`` has the caveats).
- **The pool** (``Pool``): block-granular KV bytes per GPU of every stage, as ``kv.KvModel``
  holds them (full layers every token, windowed layers their cap, linear layers a fixed state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llamasize.errors import UnknownValueError
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.kv import (
    attended_tokens_sum, first_attended_position, kv_bytes_per_token_layer, linear_state_bytes,
)
from llamasize.estimate.memory import quick_fit
from llamasize.estimate.perf import (
    Efficiencies, Work, _attention_dims, _layer_comm_s, base_dtype, compute_dtype, default_efficiencies,
)
from llamasize.estimate.traffic import expected_distinct_experts, stage_weights


@dataclass(frozen=True)
class _Stage:
    weights: object  # traffic.StageWeights
    #: (layer type, window or chunk size or None, number of layers of that type in the stage)
    groups: tuple[tuple[str, int | None, int], ...]
    kv_per_token_layer: int
    attn_flops_per_pair: int
    #: Fixed state of the stage's linear-attention layers one sequence reads per step (``kv.linear_state_bytes``).
    state_bytes: int = 0


#: The columns of a step's terms, one row per pipeline stage: per work group (dense, experts,
#: attention) its FLOPs, bytes read, rows of its matrix multiplications and the peak FLOP/s of
#: its dtype; then the seconds of the stage's collectives over the whole link with no latency,
#: and the number of collectives.
TERMS = ("dense_flops", "dense_bytes", "dense_rows", "dense_peak", "experts_flops", "experts_bytes", "experts_rows",
         "experts_peak", "attention_flops", "attention_bytes", "attention_rows", "attention_peak", "comm_link_s",
         "collectives")


def step_seconds(terms: np.ndarray, eff: Efficiencies, bandwidth: float) -> np.ndarray:
    """Seconds of each stage-step of ``terms`` (shape ``(..., len(TERMS))``): ``perf.roofline``
    per group, ``max(FLOPs / (peak x eff.gemm(rows)), bytes / (bandwidth x eff.bandwidth(B)))``
    with ``B`` the bytes the stage reads in the step, plus its collectives
    ``comm_link_s / eff.comm + collectives x eff.collective_latency_s``."""
    t = np.asarray(terms, dtype=np.float64)
    total_bytes = t[..., 1] + t[..., 5] + t[..., 9]
    bw = bandwidth * eff.bandwidth(total_bytes)
    out = t[..., 12] / eff.comm + t[..., 13] * eff.collective_latency_s
    for at in (0, 4, 8):
        compute = t[..., at] / (t[..., at + 3] * eff.gemm(t[..., at + 2]))
        out = out + np.maximum(compute, t[..., at + 1] / bw)
    return out


class StepCost:
    """Time of one engine step of a deployment (the roofline per group of ``perf``, for a step
    that mixes decodes and prefill chunks). Raises UnknownValueError when a rate is unknown."""

    def __init__(self, d: Deployment, eff: Efficiencies | None = None, ranks: int | None = None) -> None:
        self.d, self.eff = d, eff or default_efficiencies(d.gpu)
        #: When a list, every timed step appends its ``terms`` (``step_seconds`` re-times them).
        self.trace: list[np.ndarray] | None = None
        _, _, s, core = quick_fit(d)
        if core is None:
            d.model.need("the simulation", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
        self.s, self.core = s, core
        self.ranks = _dp_ranks(s.dp, ranks)
        spec, gpu = d.model, d.gpu
        dtype = compute_dtype(s.fmt.id, gpu)
        peak, base_peak = gpu.flops.per_second(dtype), gpu.flops.per_second(base_dtype(gpu))
        bw = gpu.memory_bandwidth_bytes_per_s
        if bw is None:
            raise UnknownValueError("the simulation", ["memory_bandwidth_gb_per_s"], f"the catalogue entry {gpu.id}")
        experts_only = s.fmt.compute_scope == "experts"
        if peak is None or (experts_only and base_peak is None):
            raise UnknownValueError("the simulation", [f"flops.{dtype}"], f"the catalogue entry {gpu.id}")
        self._peak_all, self._peak_base = float(peak), float(base_peak if experts_only else peak)
        self._bw_peak = float(bw)
        link = gpu.interconnect.bandwidth_bytes_per_s
        self._link_uni = None if link is None else link / 2
        dqk, dv = _attention_dims(spec)
        per_pair = 2 * (spec.num_attention_heads // s.tp) * (dqk + dv)
        per_tok = kv_bytes_per_token_layer(spec, s.kv_bytes, s.tp)
        types = spec.resolved_layer_types()
        stages = []
        for st in stage_weights(spec, s.fmt.id, s.tp, s.pp, s.ep, s.dp):
            counts: dict[str, int] = {}
            for i in st.layers:
                counts[types[i]] = counts.get(types[i], 0) + 1
            groups = tuple((lt, self._span_of(lt), n) for lt, n in sorted(counts.items()) if lt != "linear_attention")
            stages.append(_Stage(st, groups, per_tok, per_pair, linear_state_bytes(spec, st.layers, s.tp)))
        self.stages = tuple(stages)
        self._comm_cache: dict[tuple[int, int], tuple[float, float]] = {}
        self._decode_rows: dict[tuple[int, int], np.ndarray] = {}

    def _span_of(self, layer_type: str) -> int | None:
        spec = self.d.model
        if layer_type == "chunked_attention":
            return spec.attention_chunk_size
        return spec.window_of(layer_type)

    @staticmethod
    def _attended(layer_type: str, size: int | None, pos: np.ndarray) -> np.ndarray:
        """Keys a query at each position reads on one layer (``kv.attended_tokens``, vectorised)."""
        if size is None:
            return pos + 1
        if layer_type == "chunked_attention":
            return pos % size + 1
        return np.minimum(pos + 1, size)

    def time(self, decode_pos: np.ndarray, chunks: list[tuple[int, int, bool]]) -> float:
        """Seconds of one step: decoding requests whose queries sit at ``decode_pos`` (the tokens
        already cached) and prefill ``chunks`` ``(start, length, completes_prompt)``."""
        if int(decode_pos.size) + sum(c[1] for c in chunks) == 0:
            return 0.0
        return float(self.seconds(self.step_terms(decode_pos, chunks)))

    def seconds(self, terms: np.ndarray) -> np.ndarray:
        """Seconds of the steps of ``terms`` (shape ``(..., stages, len(TERMS))``): its stages add up."""
        return step_seconds(terms, self.eff, self._bw_peak).sum(axis=-1)

    def step_terms(self, decode_pos: np.ndarray, chunks: list[tuple[int, int, bool]]) -> np.ndarray:
        """The terms of the step ``time`` times, one row per stage (appended to ``trace`` if it is on)."""
        spec = self.d.model
        n_dec = int(decode_pos.size)
        tokens = n_dec + sum(c[1] for c in chunks)
        logits = n_dec + sum(1 for c in chunks if c[2])
        rows = []
        for stg in self.stages:
            st = stg.weights
            works = _weight_works(spec, st, tokens, logits, self.ranks)
            pairs = read = 0.0
            for lt, size, n in stg.groups:
                if n_dec:
                    a = float(self._attended(lt, size, decode_pos).sum())
                    pairs += n * a
                    read += n * a
                for start, length, _ in chunks:
                    last = start + length - 1
                    pairs += n * attended_tokens_sum(spec, lt, start, last)
                    read += n * (last + 1 - first_attended_position(spec, lt, start))
            state = stg.state_bytes * (n_dec + len(chunks))  # each sequence's recurrent state, once per step
            works.append(Work("attention", stg.attn_flops_per_pair * pairs, stg.kv_per_token_layer * read + state,
                              tokens))
            rows.append(self._terms(works, *self._comm_terms(st, tokens)))
        terms = np.array(rows)
        if self.trace is not None:
            self.trace.append(terms)
        return terms


    def decode_times(self, pos: np.ndarray, j: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """Seconds of decode-only steps: for each ``j``, the step whose ``pos.size`` requests have
        their queries at ``pos + j`` (``time(pos + j, [])`` for every ``j`` at once, exactly: the
        sum of attended keys over the positions has a closed form in ``j`` -- full layers
        ``sum(p) + n (j + 1)``; a window ``W`` ``sum(min(p + j + 1, W))`` by the count of the sorted
        positions below ``W - j - 1``; a chunk ``K`` ``sum((p + j) % K + 1)`` by the count of the sorted
        residues that wrap). ``counts`` (one per ``j``): the step holds only the first ``counts``
        requests of ``pos`` (``time(pos[:counts] + j, [])``; a run whose tail is preempted)."""
        j = np.asarray(j, dtype=np.int64)
        pos = np.asarray(pos, dtype=np.int64)
        counts = np.full(j.size, pos.size, dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
        live = counts > 0
        if live.all():
            return self.seconds(self.decode_terms(pos, j, counts))
        out = np.zeros(j.size)                              # a step of no request takes no time
        if live.any():
            out[live] = self.decode_times(pos, j[live], counts[live])
        return out

    def decode_terms(self, pos: np.ndarray, j: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The terms of the steps ``decode_times`` times, shape (step, stage, term); every count
        > 0 (appended to ``trace`` if it is on)."""
        j, pos, counts = (np.asarray(x, dtype=np.int64) for x in (j, pos, counts))
        change = counts[1:] != counts[:-1]
        starts = [0, *(change.nonzero()[0] + 1).tolist()]  # the segments of equal counts
        seg = np.concatenate([[0], np.cumsum(change)])      # the segment of each step
        attended: dict[tuple[str, int | None], np.ndarray] = {}
        for stg in self.stages:
            for lt, size, _ in stg.groups:
                if (lt, size) not in attended:
                    attended[(lt, size)] = self._attended_sums(lt, size, pos, j, counts, starts)
        terms = np.empty((j.size, len(self.stages), len(TERMS)))
        for si, stg in enumerate(self.stages):
            pairs = np.zeros(j.size)
            for lt, size, count in stg.groups:
                pairs = pairs + count * attended[(lt, size)]
            terms[:, si] = np.array([self._decode_row(si, int(counts[a])) for a in starts])[seg]
            terms[:, si, 8] = stg.attn_flops_per_pair * pairs
            terms[:, si, 9] = stg.kv_per_token_layer * pairs + stg.state_bytes * counts
        if self.trace is not None:
            self.trace.append(terms.reshape(-1, len(TERMS)))
        return terms

    @staticmethod
    def _attended_sums(lt: str, size: int | None, pos: np.ndarray, j: np.ndarray, counts: np.ndarray,
                       starts: list[int]) -> np.ndarray:
        """Keys attended on one layer of type ``lt`` (window or chunk ``size``) by the first
        ``counts`` queries of ``pos`` advanced by ``j``, summed, per step (``decode_times``)."""
        if size is None:                                    # the sum of the positions of each prefix
            csum = np.cumsum(pos)
            return (csum[counts - 1] + counts).astype(np.float64) + counts * j.astype(np.float64)
        out = np.empty(j.size)
        for a, b in zip(starts, [*starts[1:], j.size]):     # windows and chunks: the sorted prefix
            n, jj = int(counts[a]), j[a:b]
            p = np.sort(pos[:n])
            if lt == "chunked_attention":
                r = np.sort(p % size)
                jr = jj % size
                wrap = n - np.searchsorted(r, size - jr, side="left")
                out[a:b] = (float(r.sum() + n) + n * jr - size * wrap).astype(np.float64)
            else:
                below = np.searchsorted(p, size - 1 - jj, side="left")  # p + j + 1 < W
                csum = np.concatenate([[0], np.cumsum(p)])
                out[a:b] = (csum[below] + below * (jj + 1) + (n - below) * size).astype(np.float64)
        return out

    def _decode_row(self, si: int, n: int) -> np.ndarray:
        """The terms of stage ``si`` in a decode-only step of ``n`` requests but its attention
        FLOPs and bytes (cached: they depend on ``n`` only)."""
        row = self._decode_rows.get((si, n))
        if row is None:
            st, state = self.stages[si].weights, self.stages[si].state_bytes
            works = _weight_works(self.d.model, st, n, n, self.ranks)  # every decoding token samples
            row = self._decode_rows[(si, n)] = self._terms(works + [Work("attention", 0.0, state * n, n)],
                                                           *self._comm_terms(st, n))
        return row

    def _comm_terms(self, st, tokens: int) -> tuple[float, float]:
        """(seconds of the stage's collectives over the whole link with no latency, collectives):
        ``perf._layer_comm_s`` is linear in 1 / comm efficiency and in the latency, so two
        evaluations split it."""
        if self.s.tp * self.s.dp <= 1 or self._link_uni is None:
            return 0.0, 0.0
        key = (id(st), tokens)
        got = self._comm_cache.get(key)
        if got is None:
            spec = self.d.model
            link, lat = Efficiencies(comm=1.0, collective_latency_s=0.0), Efficiencies(comm=1.0, collective_latency_s=1.0)
            link_s = _layer_comm_s(spec, self.s, st, tokens, self._link_uni, link, self.ranks)
            with_lat = _layer_comm_s(spec, self.s, st, tokens, self._link_uni, lat, self.ranks)
            got = self._comm_cache[key] = (link_s, with_lat - link_s)
        return got

    def _terms(self, works: list[Work], comm_s: float, collectives: float) -> np.ndarray:
        """One stage of one step as the row ``TERMS`` names (groups not present are zeros)."""
        row = np.zeros(len(TERMS))
        row[[2, 3, 6, 7, 10, 11]] = 1.0
        for w in works:
            at = {"dense": 0, "experts": 4, "attention": 8}[w.name]
            peak = self._peak_all if w.name == "experts" else self._peak_base
            row[at:at + 4] = (w.flops, w.bytes, max(w.rows, 1e-9), peak)
        row[12], row[13] = comm_s, collectives
        return row

# ---------------------------------------------------------------------------- KV pool ---
class Pool:
    """Block-granular KV bytes per GPU of every stage, vectorised over requests
    (``kv.KvModel.per_sequence``: full layers hold every token, capped layers their cap, and
    linear-attention layers a fixed state per request)."""

    def __init__(self, core) -> None:
        self.capacity = np.array([core.capacity(k) for k in range(len(core.kvms))], dtype=np.float64)
        self.models = []
        for kvm in core.kvms:
            full = sum(1 for c in kvm.caps if c is None)
            caps: dict[int, int] = {}
            for c in kvm.caps:
                if c is not None:
                    caps[c] = caps.get(c, 0) + 1
            self.models.append((kvm.bytes_per_token_layer, kvm.block, full, tuple(sorted(caps.items())),
                                kvm.state_bytes))
        self.cap_list = [float(c) for c in self.capacity]

    def bytes(self, tokens) -> np.ndarray:
        """Bytes each request of ``tokens`` cached tokens holds, per stage: shape (stages, *tokens)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        out = np.empty((len(self.models), *tokens.shape))
        for k, (per, block, full, caps, state) in enumerate(self.models):
            blocks = -(-tokens // block)
            if caps:
                if full != 1:
                    blocks *= full
                for cap, n in caps:
                    blocks = blocks + n * (-(-np.minimum(tokens, cap) // block))
                blocks *= block * per
            else:                                           # full layers only: one product
                blocks *= full * block * per
            if state:
                blocks += np.where(tokens > 0, state, 0)
            out[k] = blocks
        return out

    def bytes1(self, tokens: int) -> list[int]:
        """``bytes`` of one request, per stage, in plain ints (the admission loop is hot)."""
        out = []
        for per, block, full, caps, state in self.models:
            blocks = full * -(-tokens // block)
            for cap, n in caps:
                blocks += n * -(-min(tokens, cap) // block)
            out.append(blocks * block * per + (state if tokens > 0 else 0))
        return out

    def fits1(self, used: list[float]) -> bool:
        return all(u <= c for u, c in zip(used, self.cap_list))

    def fits(self, used: np.ndarray) -> bool:
        """``used``: bytes per stage."""
        return bool((used <= self.capacity).all())

    def utilization(self, used: np.ndarray) -> float:
        return float(np.max(used / np.maximum(self.capacity, 1.0)))


def _dp_ranks(dp: int, ranks: int | None) -> int:
    """Attention data-parallel ranks whose tokens meet in the MoE layers: ``ranks`` (those holding
    requests; the others run dummy batches) or every one of the ``dp`` ranks."""
    if ranks is None:
        return dp
    if not 1 <= ranks <= dp:
        raise ValueError(f"ranks holding requests must be 1 .. {dp}, got {ranks}")
    return ranks


def _weight_works(spec, st, tokens: int, logits: int, ranks: int = 1) -> list[Work]:
    """The weight work of one stage in a step of ``tokens`` tokens, ``logits`` of them sampled: the
    dense matmuls (and the lm_head for the sampled rows) reading the stage's dense weights once, and,
    for an MoE stage, the routed experts with the distinct experts the step hits
    (``traffic.expected_distinct_experts``: uniform routing) read once each. With attention data
    parallelism the routed experts see ``ranks x tokens`` (every rank's, as ``perf._stage_work``)."""
    works = [Work("dense", 2 * tokens * st.dense_matmul_params + 2 * logits * st.lm_head_params,
                  st.dense_bytes + tokens * st.embedding_row_bytes, tokens)]
    if spec.is_moe and st.moe_layers:
        e, k = spec.num_local_experts, spec.num_experts_per_tok
        moe = tokens * ranks
        hit = expected_distinct_experts(e, k, moe)
        works.append(Work("experts", 2 * moe * st.routed_matmul_params * k / e,
                          st.routed_bytes * hit / e, moe * k / hit))
    return works
