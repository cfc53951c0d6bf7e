"""Continuous batching, step by step: the engine's scheduler over a stream of requests (issue 12).

``perf``'s closed-form steady state prefills prompts one after another, each paying a full weight
read. Engines do not: vLLM's V1 scheduler (``vllm/v1/core/sched/scheduler.py``, ``schedule()``)
builds every step from a token budget (``max_num_batched_tokens``) that it fills first with the
running requests -- one token for each decoding request, the next chunk of a prompt being
prefilled -- and then with waiting requests, chunk-prefilling their prompts (chunked prefill is on
by default in V1), up to ``max_num_seqs`` running requests. KV blocks are allocated as a request
grows; when a running request needs a block and the pool is full, the most recently admitted
running request is preempted (its blocks freed, recomputed later: V1's default). This module
simulates that loop:

- **A step** holds ``D`` decoding requests at positions ``p_i`` and prefill chunks
  ``(start, length)``; it is timed with the same roofline-per-group model as ``perf``
  (``perf.roofline``): the dense weights (and the lm_head) read once per step for all its
  ``T = D + sum(length)`` tokens, the routed experts those ``T`` tokens hit
  (``E x (1 - (1 - k/E)^T)`` under uniform routing), ``2 x matmul params x T`` FLOPs, attention
  FLOPs over the attended pairs of every query, the KV each decoding request attends and the KV a
  chunk's queries attend (read once per chunk), plus the TP all-reduces / EP all-to-alls of ``T``
  tokens (``perf._layer_comm_s``). Pipeline stages add up (a step passes through every stage; the
  overlap of micro-batches across stages is not modelled, which is conservative for PP > 1).
- **Runs of identical steps** (only decodes, nothing to admit before the next arrival or finish,
  the pool not filling) are advanced in closed form: the step time along the run is integrated by
  the composite trapezoid rule on the exact step time at a few positions (the time is piecewise
  linear in the position: each group is the max of two linear roofs), so 3,000 requests of
  1,000 / 1,000 tokens take a few hundred evaluated steps, not three million.
- **Timing of tokens**: a request's first token appears at the end of the step that finishes its
  prompt (TTFT = that time - arrival); each later token at the end of a step that decodes it;
  TPOT = (finish - first token) / (output - 1).

What is modelled and what is not: the token budget, ``max_num_seqs``, chunked prefill, decode
first, block-granular KV (the engine's block size, windowed layers capped as ``kv.KvModel`` caps
them), recompute preemption. Not modelled: prefix caching, speculative decoding, CUDA-graph padding
of batch sizes, scheduler and sampling CPU time, and the efficiency factors (``perf.Efficiencies``)
are the ones ``perf`` uses.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from llamasize.errors import UnknownValueError
from llamasize.estimate.deployment import Assumption, Deployment
from llamasize.estimate.kv import (
    attended_tokens_sum, first_attended_position, kv_bytes_per_token_layer, linear_state_bytes,
)
from llamasize.estimate.memory import quick_fit
from llamasize.estimate.perf import (
    Efficiencies, PerfEstimate, Work, _attention_dims, _layer_comm_s, base_dtype, compute_dtype, roofline,
)
from llamasize.estimate.simresult import SimulationSummary
from llamasize.estimate.traffic import expected_distinct_experts, stage_weights


# ------------------------------------------------------------------------------ requests ---
@dataclass(frozen=True)
class Request:
    """One request: when it arrives (seconds), its prompt and output lengths (tokens)."""

    arrival_s: float
    prompt_tokens: int
    output_tokens: int


# ----------------------------------------------------------------------------- step cost ---
@dataclass(frozen=True)
class _Stage:
    weights: object  # traffic.StageWeights
    #: (layer type, window or chunk size or None, number of layers of that type in the stage)
    groups: tuple[tuple[str, int | None, int], ...]
    kv_per_token_layer: int
    attn_flops_per_pair: int
    #: Fixed state of the stage's linear-attention layers one sequence reads per step (``kv.linear_state_bytes``).
    state_bytes: int = 0


class StepCost:
    """Time of one engine step of a deployment (the roofline per group of ``perf``, for a step
    that mixes decodes and prefill chunks). Raises UnknownValueError when a rate is unknown."""

    def __init__(self, d: Deployment, eff: Efficiencies | None = None) -> None:
        self.d, self.eff = d, eff or Efficiencies()
        _, _, s, core = quick_fit(d)
        if core is None:
            d.model.need("the simulation", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
        self.s, self.core = s, core
        spec, gpu = d.model, d.gpu
        dtype = compute_dtype(s.fmt.id, gpu)
        peak, base_peak = gpu.flops.per_second(dtype), gpu.flops.per_second(base_dtype(gpu))
        bw = gpu.memory_bandwidth_bytes_per_s
        if bw is None:
            raise UnknownValueError("the simulation", ["memory_bandwidth_gb_per_s"], f"the catalogue entry {gpu.id}")
        experts_only = s.fmt.compute_scope == "experts"
        if peak is None or (experts_only and base_peak is None):
            raise UnknownValueError("the simulation", [f"flops.{dtype}"], f"the catalogue entry {gpu.id}")
        self._rate_all = peak * self.eff.prefill
        self._rate_base = (base_peak if experts_only else peak) * self.eff.prefill
        self._bw = bw * self.eff.decode_bandwidth
        link = gpu.interconnect.bandwidth_bytes_per_s
        self._link_uni = None if link is None else link / 2
        dqk, dv = _attention_dims(spec)
        per_pair = 2 * (spec.num_attention_heads // s.tp) * (dqk + dv)
        per_tok = kv_bytes_per_token_layer(spec, s.kv_bytes, s.tp)
        types = spec.resolved_layer_types()
        stages = []
        for st in stage_weights(spec, s.fmt.id, s.tp, s.pp, s.ep):
            counts: dict[str, int] = {}
            for i in st.layers:
                counts[types[i]] = counts.get(types[i], 0) + 1
            groups = tuple((lt, self._span_of(lt), n) for lt, n in sorted(counts.items()) if lt != "linear_attention")
            stages.append(_Stage(st, groups, per_tok, per_pair, linear_state_bytes(spec, st.layers, s.tp)))
        self.stages = tuple(stages)

    def _span_of(self, layer_type: str) -> int | None:
        spec = self.d.model
        if layer_type == "chunked_attention":
            return spec.attention_chunk_size
        return spec.window_of(layer_type)

    def _rate(self, w: Work) -> float:
        return self._rate_all if w.name == "experts" else self._rate_base

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
        spec, s = self.d.model, self.s
        n_dec = int(decode_pos.size)
        tokens = n_dec + sum(c[1] for c in chunks)
        if tokens == 0:
            return 0.0
        logits = n_dec + sum(1 for c in chunks if c[2])
        total = 0.0
        for stg in self.stages:
            st = stg.weights
            works = [Work("dense", 2 * tokens * st.dense_matmul_params + 2 * logits * st.lm_head_params,
                          st.dense_bytes + tokens * st.embedding_row_bytes, tokens)]
            if spec.is_moe and st.moe_layers:
                e, k = spec.num_local_experts, spec.num_experts_per_tok
                hit = expected_distinct_experts(e, k, tokens)
                works.append(Work("experts", 2 * tokens * st.routed_matmul_params * k / e,
                                  st.routed_bytes * hit / e, tokens * k / hit))
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
            t, _, _ = roofline(works, self._rate, self._bw)
            total += t + _layer_comm_s(spec, s, st, tokens, self._link_uni, self.eff)
        return total


# ---------------------------------------------------------------------------- KV pool ---
class _Pool:
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
        out = []
        for per, block, full, caps, state in self.models:
            blocks = full * (-(-tokens // block))
            for cap, n in caps:
                blocks = blocks + n * (-(-np.minimum(tokens, cap) // block))
            out.append(blocks * (block * per) + np.where(tokens > 0, state, 0))
        return np.array(out, dtype=np.float64)

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
        return bool(np.all(used <= self.capacity))

    def utilization(self, used: np.ndarray) -> float:
        return float(np.max(used / np.maximum(self.capacity, 1.0)))


# -------------------------------------------------------------------------- simulation ---
@dataclass(frozen=True)
class SimulationResult:
    """What the simulation measured (seconds, tokens/s); per-request arrays in request order."""

    ttft_s: tuple[float, ...]
    tpot_s: tuple[float, ...]
    e2e_s: tuple[float, ...]
    makespan_s: float
    output_tokens: int
    steps: int
    evaluated_steps: int
    preemptions: int
    kv_utilization_mean: float
    kv_utilization_max: float
    max_running: int

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.makespan_s if self.makespan_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return len(self.e2e_s) / self.makespan_s if self.makespan_s > 0 else 0.0


#: How a waiting request is admitted: ``greedy`` when the KV it needs now fits (vLLM V1's
#: ``allocate_slots``; a request that later cannot grow preempts the newest running one), or
#: ``reserve`` when its whole prompt + output fits beside the reservations of the running ones
#: (TensorRT-LLM's default capacity scheduler, ``GUARANTEED_NO_EVICT``: never preempts).
ADMISSION = ("greedy", "reserve")

#: Runs of identical decode steps at least this long are integrated (trapezoid on this many points).
_RUN_POINTS = 8


class _Sim:
    """The scheduler's state, one array entry per request (request order)."""

    def __init__(self, cost: StepCost, requests: list[Request], admission: str = "greedy",
                 clients: int | None = None) -> None:
        if admission not in ADMISSION:
            raise ValueError(f"admission must be one of {', '.join(ADMISSION)}")
        self.reserve = admission == "reserve"
        self.cost, self.pool = cost, _Pool(cost.core)
        self.budget, self.max_seqs = cost.s.batched_tokens, cost.s.max_seqs
        n = len(requests)
        self.prompt = np.array([r.prompt_tokens for r in requests], dtype=np.int64)
        self.output = np.array([r.output_tokens for r in requests], dtype=np.int64)
        self.arrival = np.array([r.arrival_s for r in requests], dtype=np.float64)
        self.prefilled = np.zeros(n, dtype=np.int64)   # tokens of the (re)prefill done
        self.generated = np.zeros(n, dtype=np.int64)
        self.recompute = np.zeros(n, dtype=np.int64)   # > 0: prefilling again after a preemption
        self.first = np.full(n, np.nan)
        self.finish = np.full(n, np.nan)
        self.order = deque(sorted(range(n), key=lambda i: (requests[i].arrival_s, i)))  # not arrived yet
        #: closed loop: requests not issued yet; each finish issues the next at its finish time
        self.backlog: deque[int] = deque()
        if clients is not None:
            self.arrival[:clients] = 0.0
            self.arrival[clients:] = np.nan
            self.order, self.backlog = deque(range(min(clients, n))), deque(range(min(clients, n), n))
        self.waiting: deque[int] = deque()
        self.running = np.zeros(0, dtype=np.int64)     # admission order
        self.now = 0.0
        self.steps = self.evaluated = self.preemptions = self.max_running = 0
        self.util_time = self.util_max = 0.0

    # per-request quantities (vectorised over an index array)
    def target(self, i):
        return np.where(self.recompute[i] > 0, self.recompute[i], self.prompt[i])

    def cached(self, i):
        return np.where(self.recompute[i] > 0, self.prefilled[i], self.prefilled[i] + self.generated[i])

    def cached1(self, i: int) -> int:
        """``cached`` of one request (plain ints: the per-request paths are hot)."""
        return int(self.prefilled[i]) + (0 if self.recompute[i] else int(self.generated[i]))

    def left1(self, i: int) -> int:
        """Tokens request ``i`` still has to (re)prefill."""
        target = int(self.recompute[i]) or int(self.prompt[i])
        return target - int(self.prefilled[i])

    def _need(self, q: int, n: int) -> int:
        """Tokens of KV request ``q`` must be granted to take ``n`` more tokens: what it will hold
        (greedy admission), or its whole prompt + output up front (reserve)."""
        return int(self.prompt[q] + self.output[q]) if self.reserve else self.cached1(q) + n

    def run(self) -> None:
        while self.order or self.waiting or self.running.size or self.backlog:
            while self.order and self.arrival[self.order[0]] <= self.now:
                self.waiting.append(self.order.popleft())
            if not self.running.size and not self.waiting:
                self.now = float(self.arrival[self.order[0]])
                continue
            if not self._advance_run():
                self._step()

    def _preempt_tail(self, tokens: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Preempt the most recently admitted running requests until ``used`` fits."""
        while self.running.size and not self.pool.fits(used):
            v = int(self.running[-1])
            used = used - self.pool.bytes(self.cached1(v) + int(tokens[-1]))
            self.running, tokens = self.running[:-1], tokens[:-1]
            self.preemptions += 1
            # its blocks are freed; it prefills again what it had (prompt + the tokens it generated)
            self.recompute[v] = self.prompt[v] + self.generated[v] if self.generated[v] else 0
            self.prefilled[v] = 0
            self.waiting.appendleft(v)
        return tokens, used

    def _step(self) -> None:
        """One scheduler step: the running requests first (each decoding one gets one token, then
        prompts being prefilled get their next chunk, in admission order), preempting from the most
        recently admitted while the grown set does not fit the pool; then waiting requests, first
        come first served, while the budget, ``max_num_seqs`` and the pool allow (none in a step
        that preempted, as vLLM V1)."""
        run = self.running
        cached = self.cached(run)
        left_to = self.target(run) - self.prefilled[run]
        left_to = np.where(self.recompute[run] > 0, left_to, np.where(self.generated[run] > 0, 0, left_to))
        tokens = np.zeros(run.size, dtype=np.int64)
        dec = np.flatnonzero(left_to == 0)[: self.budget]
        tokens[dec] = 1
        left = self.budget - dec.size
        for j in np.flatnonzero(left_to > 0):
            if left <= 0:
                break
            tokens[j] = min(left, int(left_to[j]))
            left -= int(tokens[j])
        grown = self.prompt[run] + self.output[run] if self.reserve else cached + tokens
        used = self.pool.bytes(grown).sum(axis=1) if run.size else np.zeros(len(self.pool.models))
        before = self.preemptions
        tokens, used = self._preempt_tail(tokens, used)
        run = self.running
        admitted, adm_tokens = [], []
        if self.preemptions == before and self.waiting:
            total = [float(u) for u in used]
            while self.waiting and left > 0 and run.size + len(admitted) < self.max_seqs:
                q = self.waiting[0]
                n = min(left, self.left1(q))
                grown = [u + b for u, b in zip(total, self.pool.bytes1(self._need(q, n)))]
                if not self.pool.fits1(grown):
                    break
                total = grown
                self.waiting.popleft()
                admitted.append(q)
                adm_tokens.append(n)
                left -= n
        if admitted:
            run = np.concatenate([run, np.array(admitted, dtype=np.int64)])
            tokens = np.concatenate([tokens, np.array(adm_tokens, dtype=np.int64)])
            self.running = run
        if not run.size or not tokens.any():
            raise ValueError("nothing can be scheduled: the KV cache cannot hold even one request")
        sched = tokens > 0
        idx, tok = run[sched], tokens[sched]
        remaining = self.target(idx) - self.prefilled[idx]
        is_prefill = (self.recompute[idx] > 0) | (self.generated[idx] == 0)
        # a decoding request's query sits at position cached - 1 (its newest token), attending ``cached`` keys
        decode_pos = self.cached(idx[~is_prefill]) - 1
        chunks = [(int(self.prefilled[i]), int(n), int(n) == int(r))
                  for i, n, r in zip(idx[is_prefill], tok[is_prefill], remaining[is_prefill])]
        dt = self.cost.time(decode_pos, chunks)
        self.evaluated += 1
        if admitted:
            used = np.array(total)
        self._charge(used, used, dt)
        self.now += dt
        self.steps += 1
        # apply: prefill chunks advance; a finished prompt samples its first token; decodes add one
        pi = idx[is_prefill]
        self.prefilled[pi] += tok[is_prefill]
        done_pf = pi[self.prefilled[pi] >= self.target(pi)]
        rec = done_pf[self.recompute[done_pf] > 0]
        self.prefilled[rec], self.recompute[rec] = self.prompt[rec], 0
        fresh = done_pf[np.isnan(self.first[done_pf])]
        self.first[fresh] = self.now
        self.generated[done_pf] += 1
        self.generated[idx[~is_prefill]] += 1
        self._retire()

    def _retire(self) -> None:
        run = self.running
        fin = (self.generated[run] >= self.output[run]) & (self.recompute[run] == 0) & (self.generated[run] > 0)
        self.finish[run[fin]] = self.now
        for _ in range(min(int(fin.sum()), len(self.backlog))):  # closed loop: each client sends its next request
            j = self.backlog.popleft()
            self.arrival[j] = self.now
            self.waiting.append(j)
        self.running = run[~fin]
        self.max_running = max(self.max_running, int(self.running.size) + int(fin.sum()))

    def _charge(self, used_start: np.ndarray, used_end: np.ndarray, dt: float) -> None:
        u0, u1 = self.pool.utilization(used_start), self.pool.utilization(used_end)
        self.util_time += (u0 + u1) / 2 * dt
        self.util_max = max(self.util_max, u0, u1)

    def _advance_run(self) -> bool:
        """Advance a run of decode-only steps in closed form when the next steps are all alike:
        every running request decodes, nobody waits who could be admitted, and the run ends before
        the first request finishes, the next arrival, or the pool filling. False when no such run of
        at least ``_RUN_POINTS`` steps exists (the caller then takes one step)."""
        run = self.running
        if not run.size or run.size > self.budget:
            return False
        if np.any(self.recompute[run] > 0) or np.any(self.generated[run] == 0):
            return False
        pos = self.cached(run)
        used = self.pool.bytes(self.prompt[run] + self.output[run] if self.reserve else pos + 1).sum(axis=1)
        if self.waiting and run.size < self.max_seqs:
            q = self.waiting[0]
            if self.pool.fits(used + self.pool.bytes(self._need(q, min(self.budget - run.size, self.left1(q))))):
                return False  # it would be admitted next step; while the others grow it cannot be later

        k = int(np.min(self.output[run] - self.generated[run])) - 1  # stop one step before a finish
        if k < _RUN_POINTS:
            return False
        while k >= _RUN_POINTS and not self.pool.fits(self.pool.bytes(pos + k + 1).sum(axis=1)):
            k //= 2
        if k < _RUN_POINTS:
            return False
        duration = _run_time(self.cost, pos - 1, k)
        if self.order:
            gap = float(self.arrival[self.order[0]]) - self.now
            while k >= _RUN_POINTS and duration > gap:
                k = int(k * gap / duration) if duration > 0 else 0
                if k >= _RUN_POINTS:
                    duration = _run_time(self.cost, pos - 1, k)
            if k < _RUN_POINTS:
                return False
        self._charge(self.pool.bytes(pos).sum(axis=1), self.pool.bytes(pos + k).sum(axis=1), duration)
        self.now += duration
        self.steps += k
        self.generated[run] += k
        return True


def simulate(d: Deployment, requests: list[Request], *, eff: Efficiencies | None = None,
             admission: str = "greedy", clients: int | None = None) -> SimulationResult:
    """Run the scheduler (module docstring) until every request has finished.

    ``clients`` (a closed loop, ``--arrival closed``): the requests' arrival times are ignored; the
    first ``clients`` arrive at t = 0 and each finish sends the next request at that moment, so at
    most ``clients`` are in the system (benchmark tools' fixed concurrency).

    The deployment's ``max_num_batched_tokens`` and ``max_num_seqs`` (engine defaults when not
    given) bound each step; the KV pool is what ``fit`` leaves for KV on each GPU. A request whose
    prompt plus output cannot fit in an empty pool is refused with ValueError (the engine refuses
    it too: its length exceeds what the KV cache can hold)."""
    if d.data_parallel_size > 1:  # each rank schedules its own requests: not modelled step by step yet
        raise ValueError("the step simulator does not model attention data parallelism (--dp) yet; "
                         "drop --arrival for the analytical estimate")
    cost = StepCost(d, eff)
    if clients is not None and clients < 1:
        raise ValueError("a closed loop needs at least one client")
    sim = _Sim(cost, requests, admission, clients)
    if requests and (sim.prompt.min() < 1 or sim.output.min() < 1):
        raise ValueError("every request needs at least one prompt and one output token")
    if requests:  # the KV a request holds grows with its length: the longest one decides
        i = int(np.argmax(sim.prompt + sim.output))
        if not sim.pool.fits1(sim.pool.bytes1(int(sim.prompt[i] + sim.output[i]))):
            raise ValueError(f"a request of {int(sim.prompt[i]):,} + {int(sim.output[i]):,} tokens does not fit in "
                             "the KV cache even alone")
    if requests:
        sim.now = float(np.nanmin(sim.arrival))
    start = sim.now
    sim.run()
    first, finish = sim.first, sim.finish
    out = sim.output
    ttft = first - sim.arrival
    tpot = np.where(out > 1, (finish - first) / np.maximum(out - 1, 1), 0.0)
    e2e = finish - sim.arrival
    span = sim.now - start
    return SimulationResult(
        ttft_s=tuple(float(x) for x in ttft), tpot_s=tuple(float(x) for x in tpot), e2e_s=tuple(float(x) for x in e2e),
        makespan_s=span, output_tokens=int(out.sum()), steps=sim.steps, evaluated_steps=sim.evaluated,
        preemptions=sim.preemptions, kv_utilization_mean=sim.util_time / span if span > 0 else 0.0,
        kv_utilization_max=sim.util_max, max_running=sim.max_running)


def _run_time(cost: StepCost, pos: np.ndarray, k: int) -> float:
    """Seconds of ``k`` decode steps starting at query positions ``pos`` (each step advances
    every position by one): composite trapezoid over ``_RUN_POINTS`` evaluated steps."""
    points = np.unique(np.linspace(0, k - 1, _RUN_POINTS).round().astype(np.int64))
    times = np.array([cost.time(pos + j, []) for j in points])
    if len(points) == 1:
        return float(times[0]) * k
    # the sum over step indices 0 .. k-1 of a piecewise-linear time: trapezoid over the points
    # plus the half steps at both ends
    inner = float(np.sum((times[1:] + times[:-1]) / 2 * np.diff(points)))
    return inner + float(times[0] + times[-1]) / 2


def workload(arrival: str, n: int, prompt_tokens: int, output_tokens: int, *, qps: float | None = None,
             seed: int = 0) -> list[Request]:
    """``n`` requests of a fixed shape: ``offline`` (all queued at t = 0, as benchmark tables are
    measured), ``closed`` (the same list; ``simulate(clients=...)`` issues them) or ``poisson`` at
    ``qps`` requests/s (seeded)."""
    if arrival in ("offline", "closed"):
        return [Request(0.0, prompt_tokens, output_tokens) for _ in range(n)]
    return [Request(t, prompt_tokens, output_tokens) for t in poisson_arrivals(n, qps, seed)]


def summarize(r: SimulationResult, *, arrival: str, qps: float | None, seed: int | None,
              admission: str, clients: int | None = None) -> SimulationSummary:
    """The ``simulation`` block of ``perf``: means and percentiles (numpy's linear interpolation)."""
    def dist(name: str, values) -> dict:
        return {f"{name}_mean": mean(values), **{f"{name}_p{p}": percentile(values, p) for p in (50, 90, 99)}}

    return SimulationSummary(
        arrival=arrival, requests=len(r.e2e_s), qps=qps, seed=seed, admission=admission, clients=clients,
        output_tokens_per_s=r.output_tokens_per_s, requests_per_s=r.requests_per_s, makespan_s=r.makespan_s,
        **dist("ttft_s", r.ttft_s), **dist("tpot_s", r.tpot_s), **dist("e2e_s", r.e2e_s),
        kv_utilization=r.kv_utilization_mean, kv_utilization_max=r.kv_utilization_max, preemptions=r.preemptions,
        max_running=r.max_running, steps=r.steps, evaluated_steps=r.evaluated_steps)


def simulated_perf(e: PerfEstimate, d: Deployment, *, eff: Efficiencies | None, prompt_tokens: int,
                   output_tokens: int, arrival: str, requests: int, qps: float | None, seed: int | None,
                   admission: str, clients: int | None) -> PerfEstimate:
    """``perf``'s estimate ``e`` with a simulation of ``requests`` requests of that shape: the
    ``simulation`` block, and the headline fields become its means (throughput, TTFT, TPOT, latency;
    input tokens/s and tokens per GPU-hour from its request rate, as ``perf.estimate_perf`` derives
    them from its steady state). ValueError when a request cannot fit in the KV cache."""
    reqs = workload(arrival, requests, prompt_tokens, output_tokens, qps=qps, seed=seed or 0)
    s = summarize(simulate(d, reqs, eff=eff, admission=admission, clients=clients), arrival=arrival, qps=qps,
                  seed=seed, admission=admission, clients=clients)
    steady = Assumption(name="steady_state", value=f"simulated step by step: {s.requests:,} requests, "
                        f"{s.arrival} arrivals, {s.admission} admission, chunked prefill mixed with decodes under "
                        "the engine's token budget", source="llamasize.estimate.simulate")
    in_tps = s.requests_per_s * prompt_tokens
    return e.model_copy(update={
        "simulation": s, "assumptions": [steady if a.name == "steady_state" else a for a in e.assumptions],
        "tokens_per_s_per_sequence": 1 / s.tpot_s_mean if s.tpot_s_mean > 0 else None,
        "output_tokens_per_s": s.output_tokens_per_s, "ttft_s": s.ttft_s_mean, "tpot_s": s.tpot_s_mean,
        "requests_per_s": s.requests_per_s, "request_latency_s": s.e2e_s_mean, "input_tokens_per_s": in_tps,
        "tokens_per_gpu_hour": (s.output_tokens_per_s + in_tps) * 3600 / d.gpu_count})


def mean(values) -> float:
    """Arithmetic mean (0 for none)."""
    return float(np.mean(values)) if len(values) else 0.0


def percentile(values, p: float) -> float:
    """The ``p``-th percentile (linear interpolation, numpy's default)."""
    return float(np.percentile(values, p)) if len(values) else 0.0


def poisson_arrivals(n: int, qps: float, seed: int) -> list[float]:
    """``n`` arrival times of a Poisson process of rate ``qps`` (seeded: the same seed, the same
    times), starting at 0."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / qps, size=n)
    gaps[0] = 0.0
    return [float(x) for x in np.cumsum(gaps)]
