"""The continuous-batching simulator (estimate/simulate.py): the scheduler's rules hold, its timing
is the step cost model's, and closed-form runs agree with stepping one step at a time."""

from __future__ import annotations

import numpy as np
import pytest

from llamasize.estimate import scheduler, stepcost
from llamasize.estimate import simulate as sim
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.simulate import Request, StepCost, poisson_arrivals, simulate


@pytest.fixture(scope="module")
def reg():
    from llamasize.data.registry import load_registry

    return load_registry()


def _dep(reg, model="llama3.1-8b", gpu="h100-sxm", n=1, quant="bf16", ctx=4096, **kw):
    return Deployment(model=reg.model(model), gpu=reg.gpu(gpu), gpu_count=n, quant=quant, context_tokens=ctx,
                      batch=1, **kw)


def test_one_request_is_its_prefill_then_its_decode_steps(reg):
    d = _dep(reg)
    cost = StepCost(d)
    r = simulate(d, [Request(0.0, 500, 20)])
    prefill = cost.time(np.zeros(0, dtype=np.int64), [(0, 500, True)])
    assert r.ttft_s[0] == pytest.approx(prefill, rel=1e-12)
    # 19 decode steps at query positions 500 .. 518 (stepped one by one: fewer than a closed-form run)
    decode = sum(cost.time(np.array([p]), []) for p in range(500, 519))
    assert r.e2e_s[0] == pytest.approx(prefill + decode, rel=1e-9)
    assert r.tpot_s[0] == pytest.approx(decode / 19, rel=1e-9)
    assert r.steps == 20 and r.preemptions == 0


def test_a_long_prompt_is_prefilled_in_chunks_of_the_token_budget(reg):
    d = _dep(reg, ctx=32768, max_num_batched_tokens=8192)
    r = simulate(d, [Request(0.0, 20000, 2)])
    # 8192 + 8192 + 3616 tokens: the first token after the third step, the second after a fourth
    assert r.steps == 4
    cost = StepCost(d)
    expected = sum(cost.time(np.zeros(0, dtype=np.int64), [(a, n, last)])
                   for a, n, last in [(0, 8192, False), (8192, 8192, False), (16384, 3616, True)])
    assert r.ttft_s[0] == pytest.approx(expected, rel=1e-12)


def test_decodes_and_prefill_share_a_step(reg):
    """Batched prompts: 64 short requests at once take far fewer steps than 64 serial prefills."""
    d = _dep(reg)
    r = simulate(d, [Request(0.0, 128, 128) for _ in range(64)])
    assert r.max_running == 64
    assert r.steps == 128  # one step prefills all 64 prompts (8,192 tokens), then 127 shared decode steps


@pytest.mark.parametrize("admission", sim.ADMISSION)
def test_limits_hold_under_load(reg, admission):
    d = _dep(reg, model="llama3.1-70b", n=2, quant="fp8", max_num_seqs=64)
    reqs = [Request(0.0, 1000, 300) for _ in range(400)]
    r = simulate(d, reqs, admission=admission)
    assert r.max_running <= 64
    assert r.kv_utilization_max <= 1.0 + 1e-12
    assert all(np.isfinite(r.e2e_s)) and len(r.e2e_s) == 400
    assert r.output_tokens == 400 * 300


def test_greedy_admission_preempts_when_the_pool_fills_and_reserve_never_does(reg):
    d = _dep(reg, model="llama3.1-70b", n=2, quant="fp8", ctx=8192)
    reqs = [Request(0.0, 2000, 2000) for _ in range(600)]
    greedy = simulate(d, reqs, admission="greedy")
    reserve = simulate(d, reqs, admission="reserve")
    assert greedy.preemptions > 0 and reserve.preemptions == 0
    assert greedy.kv_utilization_max <= 1.0 + 1e-12 and reserve.kv_utilization_max <= 1.0 + 1e-12


@pytest.mark.parametrize("model,quant,n,admission,shape", [
    ("mixtral-8x7b", "fp8", 1, "greedy", (300, 700)),
    ("llama3.1-8b", "fp8", 1, "greedy", (1000, 1000)),    # the pool fills: preemptions inside runs
    ("llama3.1-8b", "fp8", 1, "reserve", (1000, 1000)),
    ("llama4-scout", "bf16", 4, "greedy", (9000, 300)),   # chunked-local layers (8,192-token chunks)
    ("gpt-oss-20b", "mxfp4", 1, "greedy", (200, 300)),     # sliding-window layers (128 tokens)
])
def test_closed_form_runs_agree_with_stepping(reg, monkeypatch, model, quant, n, admission, shape):
    """A run applied at once (exact step times, preemptions inside it) gives what stepping one
    step at a time gives: the same steps, preemptions and latencies, to rounding."""
    d = _dep(reg, model=model, quant=quant, n=n, ctx=16384)
    isl, osl = shape
    count = 400 if model == "llama3.1-8b" else 40
    reqs = [Request(0.0, isl, osl) for _ in range(count)] + [Request(0.5, isl // 2, osl // 2) for _ in range(10)]
    fast = simulate(d, reqs, admission=admission)
    monkeypatch.setattr(scheduler, "RUNS", False)  # every step evaluated one by one
    slow = simulate(d, reqs, admission=admission)
    assert slow.evaluated_steps == slow.steps and fast.evaluated_steps < fast.steps / 5
    assert (fast.steps, fast.preemptions, fast.max_running) == (slow.steps, slow.preemptions, slow.max_running)
    assert fast.makespan_s == pytest.approx(slow.makespan_s, rel=1e-9)
    assert np.allclose(fast.ttft_s, slow.ttft_s, rtol=1e-9) and np.allclose(fast.e2e_s, slow.e2e_s, rtol=1e-9)
    assert np.allclose(fast.tpot_s, slow.tpot_s, rtol=1e-9)
    assert fast.kv_utilization_mean == pytest.approx(slow.kv_utilization_mean, rel=1e-9)
    assert fast.kv_utilization_max == pytest.approx(slow.kv_utilization_max, rel=1e-12)


def _same(a, b, rel):
    """Two simulation results agree: the same counts, every latency to ``rel``."""
    assert (a.steps, a.preemptions, a.max_running, a.output_tokens) == \
        (b.steps, b.preemptions, b.max_running, b.output_tokens)
    for f in ("ttft_s", "tpot_s", "e2e_s"):
        assert np.allclose(getattr(a, f), getattr(b, f), rtol=rel, atol=0), f
    for f in ("makespan_s", "kv_utilization_mean", "kv_utilization_max"):
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=rel), f


_CHURN = [  # (model, quant, n, ctx, requests, clients): workloads whose pool fills (preemptions), with arrivals
    ("llama3.1-70b", "fp8", 2, 8192, [Request(0.0, 2000, 1500 + 50 * (i % 5)) for i in range(300)], None),
    ("mixtral-8x7b", "fp8", 1, 4096, [Request(0.002 * i, 900 + i % 300, 500 + (i * 7) % 600) for i in range(300)], None),
    ("llama3.1-8b", "fp8", 1, 4096, [Request(0.0, 1200 + i % 400, 900 + (i * 13) % 500) for i in range(500)], 300),
]


@pytest.mark.parametrize("case", range(len(_CHURN)))
def test_runs_through_preemption_churn_agree_with_stepping(reg, monkeypatch, case):
    """Preemption churn (runs cut by finishes, re-admissions of preempted requests), requests still
    arriving, and a closed loop: runs give what stepping gives, to rounding (TTFT and TPOT of every
    request)."""
    model, quant, n, ctx, reqs, clients = _CHURN[case]
    d = _dep(reg, model=model, quant=quant, n=n, ctx=ctx)
    fast = simulate(d, reqs, clients=clients)
    monkeypatch.setattr(scheduler, "RUNS", False)
    slow = simulate(d, reqs, clients=clients)
    assert fast.preemptions > 0 and fast.evaluated_steps < fast.steps / 3 and slow.evaluated_steps == slow.steps
    _same(fast, slow, 1e-9)


@pytest.mark.parametrize("admission", ["greedy", "reserve"])
def test_batched_timing_gives_the_numbers_of_timing_each_step(reg, monkeypatch, admission):
    """Steps timed together once every request has arrived (queued terms, the clock summed in
    order, times stamped from it) give what timing each step when it is taken gives; so do a
    look-ahead that starts at one step, a queue flushed every few steps and prefill chunks applied
    as arrays."""
    for model, quant, n, ctx, reqs, clients in _CHURN:
        d = _dep(reg, model=model, quant=quant, n=n, ctx=ctx)
        batched = simulate(d, reqs, admission=admission, clients=clients)
        with monkeypatch.context() as m:
            m.setattr(scheduler, "BATCH_TIMING", False)
            each = simulate(d, reqs, admission=admission, clients=clients)
            assert each.evaluated_steps == batched.evaluated_steps
            _same(batched, each, 1e-12)
        with monkeypatch.context() as m:
            m.setattr(scheduler, "_HORIZON", 1)
            m.setattr(scheduler, "_PENDING_STEPS", 7)
            m.setattr(scheduler, "_CHUNKS_ONE_BY_ONE", 0)   # every step's chunks applied as arrays
            _same(batched, simulate(d, reqs, admission=admission, clients=clients), 1e-12)


def test_decode_times_is_time_at_every_offset(reg):
    """``StepCost.decode_times`` (closed-form attended sums) equals ``time`` step by step, for full,
    chunked-local and sliding-window layers."""
    for model, quant, n in (("llama3.1-8b", "bf16", 1), ("llama4-scout", "bf16", 4), ("gpt-oss-20b", "mxfp4", 1)):
        cost = StepCost(_dep(reg, model=model, quant=quant, n=n, ctx=32768))
        pos = np.array([0, 5, 127, 128, 900, 8191, 8192, 20000], dtype=np.int64)
        j = np.array([0, 1, 2, 100, 127, 128, 8190, 9000], dtype=np.int64)
        got = cost.decode_times(pos, j)
        want = [cost.time(pos + x, []) for x in j]
        assert np.allclose(got, want, rtol=1e-12), model
        # a run whose tail is preempted: step i holds the first counts[i] requests only
        counts = np.array([8, 8, 7, 5, 5, 2, 1, 0], dtype=np.int64)
        got = cost.decode_times(pos, j, counts)
        want = [cost.time(pos[:c] + x, []) for c, x in zip(counts, j)]
        assert np.allclose(got, want, rtol=1e-12) and got[-1] == 0.0 and len(set(got[:-1].tolist())) > 3, model


def test_poisson_arrivals_are_seeded():
    a, b, c = poisson_arrivals(100, 2.0, 7), poisson_arrivals(100, 2.0, 7), poisson_arrivals(100, 2.0, 8)
    assert a == b and a != c and a[0] == 0.0 and all(x <= y for x, y in zip(a, a[1:]))
    assert 100 / 2.0 * 0.7 < a[-1] < 100 / 2.0 * 1.3


def test_light_load_has_no_queueing(reg):
    d = _dep(reg)
    cost = StepCost(d)
    arrivals = poisson_arrivals(50, 0.5, 1)  # one request every 2 s, each done in well under a second
    r = simulate(d, [Request(t, 400, 50) for t in arrivals])
    alone = cost.time(np.zeros(0, dtype=np.int64), [(0, 400, True)])
    # most arrive at an idle engine; one that arrives mid-step waits for that step and shares the next
    assert float(np.median(r.ttft_s)) == pytest.approx(alone, rel=1e-9)
    assert max(r.ttft_s) < 2 * alone


def test_a_request_too_long_for_the_pool_is_refused(reg):
    d = _dep(reg, model="llama3.1-70b", gpu="l4", n=8, quant="int4", ctx=131072)
    with pytest.raises(ValueError, match="does not fit"):
        simulate(d, [Request(0.0, 4_000_000, 10)])


def test_the_simulation_is_deterministic(reg):
    d = _dep(reg, model="mixtral-8x7b", quant="fp8")
    reqs = [Request(t, 500, 200) for t in poisson_arrivals(200, 20.0, 3)]
    assert simulate(d, reqs) == simulate(d, reqs)


def test_linear_attention_state_is_held_per_request_not_per_token(reg, tmp_path):
    """A hybrid Qwen3-Next-style model: the pool holds each request's fixed recurrent state and
    the KV of its full-attention layers only (kv.KvModel.per_sequence), so it is what fit sizes."""
    from llamasize.estimate.memory import quick_fit

    cfg = tmp_path / "config.json"
    import json

    cfg.write_text(json.dumps({
        "model_type": "qwen3_next", "hidden_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 16,
        "num_key_value_heads": 2, "head_dim": 256, "vocab_size": 151936, "intermediate_size": 5120,
        "moe_intermediate_size": 512, "num_experts": 64, "num_experts_per_tok": 10,
        "shared_expert_intermediate_size": 512, "full_attention_interval": 4, "linear_num_key_heads": 16,
        "linear_num_value_heads": 32, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4, "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}))
    from llamasize.data.local import load_local_model

    spec = load_local_model(cfg)
    d = Deployment(model=spec, gpu=reg.gpu("h100-sxm"), gpu_count=1, quant="bf16", context_tokens=4096, batch=1)
    _, _, _, core = quick_fit(d)
    pool = stepcost.Pool(core)
    for n in (1, 100, 3000):
        assert int(pool.bytes(n)[0]) == core.kvms[0].per_sequence(n)
    assert core.kvms[0].state_bytes > 0
    r = simulate(d, [Request(0.0, 300, 50) for _ in range(20)])
    assert len(r.e2e_s) == 20 and r.preemptions == 0


def test_a_closed_loop_keeps_its_clients_busy(reg):
    """--arrival closed: at most ``clients`` requests in the system; each finish sends the next at once."""
    d = _dep(reg, model="mixtral-8x7b", quant="fp8")
    reqs = [Request(123.0, 200, 100 + 13 * (i % 7)) for i in range(60)]  # arrival times are ignored
    r = simulate(d, reqs, clients=8)
    assert r.max_running <= 8 and len(r.e2e_s) == 60
    assert min(r.ttft_s) > 0 and r.makespan_s > 0
    one = simulate(d, reqs, clients=1)
    assert one.max_running == 1
    # one client: the requests run one after another, so the makespan is the sum of the latencies
    assert one.makespan_s == pytest.approx(sum(one.e2e_s), rel=1e-9)
    with pytest.raises(ValueError, match="client"):
        simulate(d, reqs, clients=0)
