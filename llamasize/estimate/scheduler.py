"""The engine's scheduler, step by step (issue 12): the loop of ``estimate.simulate``.

vLLM's V1 scheduler (``vllm/v1/core/sched/scheduler.py``, ``schedule()``) builds every step from a
token budget (``max_num_batched_tokens``) that it fills first with the running requests -- one
token for each decoding request, the next chunk of a prompt being prefilled -- and then with
waiting requests, chunk-prefilling their prompts, up to ``max_num_seqs`` running requests. KV
blocks are allocated as a request grows; when a running request needs a block and the pool is
full, the most recently admitted running request is preempted (its blocks freed, recomputed
later: V1's default) and nothing is admitted in that step.

**Runs** (``_Sim._advance_run``): while every running request decodes, the steps to come are
known in advance up to the next event -- the first finish (included), the next arrival, or a step
at which the head of the queue could be admitted. Preemptions inside the run are part of it: the
running set at step ``j`` is the longest prefix (in admission order) whose grown KV fits the pool,
which is what preempting from the tail leaves. Such a run is applied at once: its block table
(request x step), its step times (``StepCost.decode_times``, exact), the KV use of each step, the
preempted requests queued at the front as the step loop would queue them. The result is the one
of stepping one step at a time (``RUNS = False``), to rounding. The run looks ahead over a horizon
that doubles until it holds the next event (most runs of a saturated pool end within a few steps).

**Batched timing** (``_Sim._flush``): once every request has arrived, no scheduling decision reads
the clock (only arrivals do), so the steps' terms (``StepCost.step_terms`` / ``decode_terms``) are
queued and timed together (``StepCost.seconds``), the clock summed over them in the same order,
and the first-token, finish and closed-loop issue times stamped from it: the same numbers as timing
each step when it is taken (``BATCH_TIMING = False``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from llamasize.estimate.stepcost import Pool, StepCost


@dataclass(frozen=True)
class Request:
    """One request: when it arrives (seconds), its prompt and output lengths (tokens)."""

    arrival_s: float
    prompt_tokens: int
    output_tokens: int


#: How a waiting request is admitted: ``greedy`` when the KV it needs now fits (vLLM V1's
#: ``allocate_slots``; a request that later cannot grow preempts the newest running one), or
#: ``reserve`` when its whole prompt + output fits beside the reservations of the running ones
#: (TensorRT-LLM's default capacity scheduler, ``GUARANTEED_NO_EVICT``: never preempts).
ADMISSION = ("greedy", "reserve")

#: Advance runs of decode-only steps in closed form (``_Sim._advance_run``); False steps one by one
#: (the tests compare the two).
RUNS = True
#: Time steps in batches once every request has arrived (``_Sim._flush``); False times each step
#: when it is taken (the tests compare the two).
BATCH_TIMING = True
#: A run is cut at this many (request x step) entries of its block table (memory bound, not a result).
_RUN_CELLS = 2_000_000
#: First look-ahead of a run, in steps (doubled until it holds the run's end; speed only, not a result).
_HORIZON = 64
#: A step applies up to this many prefill chunks one by one, more as arrays (speed only, not a result).
_CHUNKS_ONE_BY_ONE = 4
#: Steps queued for timing before they are timed (memory bound, not a result).
_PENDING_STEPS = 100_000


class _Sim:
    """The scheduler's state, one array entry per request (request order)."""

    def __init__(self, cost: StepCost, requests: list[Request], admission: str = "greedy",
                 clients: int | None = None) -> None:
        if admission not in ADMISSION:
            raise ValueError(f"admission must be one of {', '.join(ADMISSION)}")
        self.reserve = admission == "reserve"
        self.cost, self.pool = cost, Pool(cost.core)
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
        #: the last run ended at a step where the head of the queue can be admitted, so the next
        #: step is a scheduler step (a run starting there would end at its first step)
        self.admits = False
        #: once every request has arrived the schedule no longer depends on the clock, so steps are
        #: timed in batches (``_flush``): their terms, KV utilisation and the times to stamp wait here
        self.lazy = False
        self.pend_terms: list[np.ndarray] = []
        self.pend_util: list = []
        self.pend_marks: list[tuple[np.ndarray, object, int]] = []
        self.pend_steps = 0

    # per-request quantities
    def cached1(self, i: int) -> int:
        """Tokens request ``i`` holds in the KV cache (plain ints: the per-request paths are hot)."""
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
            self.lazy = BATCH_TIMING and not self.order
            if not self._advance_run():
                self._step()
            if self.pend_steps >= _PENDING_STEPS:
                self._flush()
        self._flush()

    def _pend(self, terms: np.ndarray, util) -> None:
        """Queue steps to time (``terms``: step, stage, term) with their KV utilisation."""
        self.pend_terms.append(terms)
        self.pend_util.append(util)
        self.pend_steps += len(terms)

    def _stamp(self, times: np.ndarray, idx) -> None:
        """``times[idx]`` = now: at once, or when the steps queued so far are timed."""
        if self.lazy:
            self.pend_marks.append((times, idx, self.pend_steps))
        else:
            times[idx] = self.now

    def _flush(self) -> None:
        """Time the queued steps at once, in order: the same clock, utilisation and stamps as
        timing each when it was taken (the same sums in the same order)."""
        if not self.pend_terms:
            return
        dt = self.cost.seconds(np.concatenate(self.pend_terms))
        clock = np.cumsum(np.concatenate([[self.now], dt]))
        at = 0
        for util in self.pend_util:
            if isinstance(util, float):                     # one scheduler step
                self.util_time += (util + util) / 2 * float(dt[at])
                at += 1
            else:                                           # a run
                self.util_time += float((util * dt[at:at + util.size]).sum())
                at += util.size
        for times, idx, t in self.pend_marks:
            times[idx] = clock[t]
        self.now = float(clock[-1])
        self.pend_terms, self.pend_util, self.pend_marks, self.pend_steps = [], [], [], 0

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
        gen, pf = self.generated[run], self.prefilled[run]
        decoding = (self.recompute[run] == 0) & (gen > 0)
        cached = pf + np.where(decoding, gen, 0)
        tokens = decoding.astype(np.int64)                  # one token for each decoding request
        n_dec = int(np.count_nonzero(decoding))
        if n_dec > self.budget:                             # the budget holds the first ones only
            tokens[decoding.nonzero()[0][self.budget:]] = 0
        left = self.budget - min(n_dec, self.budget)
        if n_dec < run.size:                                # prompts being prefilled: their next chunk
            left_to = np.where(self.recompute[run] > 0, self.recompute[run], self.prompt[run]) - pf
            for j in (~decoding).nonzero()[0].tolist():
                if left <= 0:
                    break
                tokens[j] = n = min(left, int(left_to[j]))
                left -= n
        grown = self.prompt[run] + self.output[run] if self.reserve else cached + tokens
        used = self.pool.bytes(grown).sum(axis=1) if run.size else np.zeros(len(self.pool.models))
        before = self.preemptions
        tokens, used = self._preempt_tail(tokens, used)
        run = self.running
        m = int(run.size)                                   # the running set the step keeps
        admitted, adm_tokens = [], []
        if self.preemptions == before and self.waiting:
            total = [float(u) for u in used]
            while self.waiting and left > 0 and m + len(admitted) < self.max_seqs:
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
            self.running = np.concatenate([run, np.array(admitted, dtype=np.int64)])
        if not (m and tokens.any()) and not admitted:
            raise ValueError("nothing can be scheduled: the KV cache cannot hold even one request")
        # the step's work, in admission order: decodes (a decoding request's query sits at position
        # cached - 1, its newest token, attending ``cached`` keys), then prefill chunks
        # (start, length, completes the prompt)
        decoding, tokens = decoding[:m], tokens[:m]
        dec_mask = decoding & (tokens > 0)
        decoders = run[dec_mask]
        decode_pos = cached[:m][dec_mask] - 1
        chunked = [(int(run[j]), int(tokens[j])) for j in (~decoding & (tokens > 0)).nonzero()[0].tolist()]
        chunked += zip(admitted, adm_tokens)
        chunks = [(int(self.prefilled[i]), n, n == self.left1(i)) for i, n in chunked]
        self.evaluated += 1
        if admitted:
            used = np.array(total)
        u = self.pool.utilization(used)                     # the same at the step's start and end
        self.util_max = max(self.util_max, u)
        if self.lazy:
            self._pend(self.cost.step_terms(decode_pos, chunks)[None], u)
        else:
            dt = self.cost.time(decode_pos, chunks)
            self.util_time += (u + u) / 2 * dt
            self.now += dt
        self.steps += 1
        # apply: prefill chunks advance; a finished prompt samples its first token; decodes add one
        if len(chunked) > _CHUNKS_ONE_BY_ONE:               # many chunks: as arrays
            pi = np.array([i for i, _ in chunked], dtype=np.int64)
            self.prefilled[pi] += np.array([n for _, n in chunked], dtype=np.int64)
            done = pi[np.array([c[2] for c in chunks])]
            rec = done[self.recompute[done] > 0]
            self.prefilled[rec], self.recompute[rec] = self.prompt[rec], 0
            fresh = done[np.isnan(self.first[done])]
            self.first[fresh] = 0.0                         # stamped now or when the step is timed
            self._stamp(self.first, fresh)
            self.generated[done] += 1
        else:
            for (i, n), (_, _, done) in zip(chunked, chunks):
                self.prefilled[i] += n
                if done:
                    if self.recompute[i] > 0:
                        self.prefilled[i], self.recompute[i] = self.prompt[i], 0
                    if np.isnan(self.first[i]):
                        self.first[i] = 0.0                 # stamped now or when the step is timed
                        self._stamp(self.first, i)
                    self.generated[i] += 1
        self.generated[decoders] += 1
        self._retire()

    def _retire(self) -> None:
        run = self.running
        gen = self.generated[run]
        fin = (gen >= self.output[run]) & (self.recompute[run] == 0) & (gen > 0)
        if not fin.any():
            self.max_running = max(self.max_running, int(run.size))
            return
        self._stamp(self.finish, run[fin])
        for _ in range(min(int(fin.sum()), len(self.backlog))):  # closed loop: each client sends its next request
            j = self.backlog.popleft()
            self._stamp(self.arrival, j)
            self.waiting.append(j)
        self.running = run[~fin]
        self.max_running = max(self.max_running, int(self.running.size) + int(fin.sum()))

    def _run_end(self, run: np.ndarray, c: np.ndarray, gen: np.ndarray, k: int):
        """The end of the run over its first ``k`` steps (``k`` when no event comes before);
        whether the head of the queue can be admitted at that end; the longest prefix of ``run``
        that fits at each step; the cumulated KV of the prefixes (stages, prefix, step); the step
        offsets."""
        r = int(run.size)
        j = np.arange(k, dtype=np.int64)
        cap = self.pool.capacity
        if self.reserve:                                    # reserved up front: the use does not grow
            cum = np.cumsum(self.pool.bytes((self.prompt[run] + self.output[run])[:, None]), axis=1)
            live = np.broadcast_to((cum <= cap[:, None, None]).all(axis=0).sum(axis=0), (k,))
            cum = np.broadcast_to(cum, (cum.shape[0], r, k))
        else:
            grown = c[:, None] + j[None, :] + 1             # what each holds after step j's token
            cum = np.cumsum(self.pool.bytes(grown), axis=1)     # (stages, request prefix, step)
            live = (cum <= cap[:, None, None]).all(axis=0).sum(axis=0)  # longest prefix that fits, by step
        end, admits = k, False
        zero = (live == 0).nonzero()[0]
        if zero.size:
            end = int(zero[0])
        prev = np.concatenate([[r], live[:-1]])
        pre = live < prev                                   # steps that preempt (no admission in them)
        # admission can only become possible where a segment of constant running set starts
        starts = (~pre[:end] & np.concatenate([[True], pre[:end - 1]])).nonzero()[0] if end else live[:0]
        if starts.size:
            n_run = live[starts]
            need = np.zeros(starts.size, dtype=np.int64)
            can = (n_run < self.max_seqs) & (self.budget - n_run > 0)
            later = starts > 0                              # the head is the last request preempted
            if later.any():
                nr = n_run[later]
                at = np.searchsorted(-live, -nr, side="left")  # the step it was preempted at (live never grows)
                need[later] = np.minimum(self.budget - nr, self.prompt[run[nr]] + gen[nr] + at)
            if starts[0] == 0:                              # the head of the queue, at the run's first step
                if self.waiting and can[0]:
                    q = self.waiting[0]
                    need[0] = self._need(q, min(self.budget - int(n_run[0]), self.left1(q)))
                else:
                    can[0] = False
            fits = can & (cum[:, n_run - 1, starts] + self.pool.bytes(need) <= cap[:, None]).all(axis=0)
            first = fits.nonzero()[0]
            if first.size:
                end, admits = int(starts[first[0]]), True
        return end, admits, live, cum, j

    def _admits_now(self, run: np.ndarray, c: np.ndarray) -> bool:
        """Whether the head of the queue can be admitted at the first step of a run of ``run``
        (cached tokens ``c``): the run's check at step 0 (``_run_end``), on that step alone."""
        used = self.pool.bytes(self.prompt[run] + self.output[run] if self.reserve else c + 1).sum(axis=1)
        q = self.waiting[0]
        need = self.pool.bytes1(self._need(q, min(self.budget - int(run.size), self.left1(q))))
        return self.pool.fits1(used.tolist()) and self.pool.fits1([u + b for u, b in zip(used.tolist(), need)])

    def _advance_run(self) -> bool:
        """Apply the run of decode-only steps that starts now (module docstring); False when there
        is none (a request is prefilling, more decode than the budget holds, or the very first
        step is an event), and the caller takes one step."""
        run = self.running
        r = int(run.size)
        if not RUNS or not r or r > self.budget or self.admits:
            self.admits = False
            return False
        gen = self.generated[run]
        if self.recompute[run].any() or not gen.all():
            return False
        c = self.prefilled[run] + gen                       # cached tokens of each (all decoding)
        if self.waiting and r < self.max_seqs and self.budget > r and self._admits_now(run, c):
            return False
        k = min(int((self.output[run] - gen).min()), max(1, _RUN_CELLS // r))  # up to the first finish
        # look ahead over a horizon that doubles until it holds the run's end (an event before the
        # horizon ends the run exactly where the whole of ``k`` would: step j depends on steps <= j)
        h = k if self.reserve else min(k, _HORIZON)         # reserve: the use is the same at every step
        while True:
            end, admits, live, cum, j = self._run_end(run, c, gen, h)
            if end < h or h == k:
                break
            h = min(2 * h, k)
        if end < 1:
            return False
        lv = live[:end]
        if self.lazy:
            terms = self.cost.decode_terms(c[:int(lv[0])] - 1, j[:end], lv)
        else:
            dt = self.cost.decode_times(c[:int(lv[0])] - 1, j[:end], lv)
            clock = np.cumsum(np.concatenate([[self.now], dt]))   # step starts, then the end of the last
        if self.order:
            late = (clock[:end] >= float(self.arrival[self.order[0]])).nonzero()[0]
            if late.size:
                end, admits = int(late[0]), False
                if end < 1:
                    return False
                dt, lv = dt[:end], lv[:end]
        used = cum[:, lv - 1, np.arange(end)]               # (stages, step): the survivors' KV
        util = (used / np.maximum(self.pool.capacity, 1.0)[:, None]).max(axis=0)
        self.util_max = max(self.util_max, float(util.max()))
        if self.lazy:
            self._pend(terms, util)
        else:
            self.util_time += float((util * dt).sum())
            self.now = float(clock[end])
        self.steps += end
        self.admits = admits
        keep = int(lv[-1])
        gone = run[keep:]
        if gone.size:                                       # preempted at the step their prefix shrank
            at = np.searchsorted(-lv, -np.arange(keep, r), side="left")  # the first step each does not fit
            self.generated[gone] += at
            self.recompute[gone] = self.prompt[gone] + self.generated[gone]
            self.prefilled[gone] = 0
            self.preemptions += int(gone.size)
            self.waiting.extendleft(int(v) for v in gone[::-1])
        self.running = run[:keep]
        self.generated[self.running] += end
        self._retire()
        return True
