"""Attention data parallelism with expert parallelism (issue 12 item 5): DeepSeek-V3/R1 on 8 x H200.

The worked numbers: DeepSeek-V3's MLA cache is ``(kv_lora_rank 512 + qk_rope_head_dim 64) x 61
layers x 2 bytes = 70,272`` bytes per token (docs/facts/models.md, "Derived KV bytes/token"); a 2,000-token
sequence is 125 vLLM blocks of 16 tokens, ``2,000 x 70,272 = 140,544,000`` bytes. Under TP attention
every GPU holds that latent for *every* sequence (MLA is not split by heads); with DP8 each GPU holds
it for its own rank's ``ceil(batch / 8)`` sequences only, and the deployment holds 8 x what one GPU
holds. The weights per GPU: attention, dense layers, shared experts, embedding and lm_head whole
on every rank, the routed experts split over the 8 GPUs.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamasize.estimate.checkpoint import uses_checkpoint_bytes
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.engine_memory import loaded_extra_bytes, model_dtype_bytes
from llamasize.estimate.memory import estimate_memory
from llamasize.estimate.params import weight_table
from llamasize.estimate.perf import default_efficiencies, estimate_perf
from llamasize.estimate.quant import get_format
from llamasize.estimate.shards import stage_weight_bytes
from llamasize.errors import LayoutError

MLA_BYTES_PER_TOKEN = (512 + 64) * 61 * 2  # 70,272 (docs/facts/models.md)
CTX = 2000
SEQ_BYTES = CTX * MLA_BYTES_PER_TOKEN  # 125 blocks of 16 tokens exactly


@pytest.fixture(scope="module")
def r1(registry):
    spec, gpu = registry.model("deepseek-v3"), registry.gpu("h200")
    return Deployment(model=spec, gpu=gpu, gpu_count=8, quant=spec.default_quant, context_tokens=CTX,
                      tensor_parallel_size=1, data_parallel_size=8, expert_parallel=True, batch=1)


def _tp8(d: Deployment) -> Deployment:
    return replace(d, tensor_parallel_size=8, data_parallel_size=1)


def test_the_worked_kv_numbers(r1):
    e = estimate_memory(r1)
    assert e.kv_cache_bytes_per_token == MLA_BYTES_PER_TOKEN == 70_272
    assert e.per_gpu.kv_cache_bytes == SEQ_BYTES == 140_544_000  # batch 1: one sequence on one rank's GPU
    assert e.data_parallel_size == 8 and e.tensor_parallel_size == 1


def test_dp_weights_are_the_whole_model_less_seven_eighths_of_the_routed_experts(r1):
    spec, quant = r1.model, r1.quant
    assert not uses_checkpoint_bytes(spec, quant)  # the format's own byte counts (exact), not a checkpoint's
    rule = get_format(quant).rule
    routed = sum(rule(spec, t).nbytes(t.shape) for t in weight_table(spec) if t.component == "routed_experts")
    whole = stage_weight_bytes(spec, quant, 1, 1, False, True)[0]  # everything on one GPU
    assert routed % 8 == 0
    # plus what vLLM loads on every rank beyond the weight table (rotary cache, vocabulary padding)
    extra = loaded_extra_bytes(spec, 1, 1, model_dtype_bytes(spec, quant))[0]
    assert estimate_memory(r1).per_gpu.weights_bytes == whole - routed + routed // 8 + extra
    # EP or not, the experts are split over the 8 GPUs (vLLM shards MoE over TP x DP): same bytes
    assert stage_weight_bytes(spec, quant, 1, 1, False, True, 8) == stage_weight_bytes(spec, quant, 1, 1, True, True, 8)


def test_dp8_ep8_fits_at_the_concurrency_its_kv_pool_allows_and_tp8_holds_far_fewer(r1):
    dp, tp = estimate_memory(r1), estimate_memory(_tp8(r1))
    cap_dp, cap_tp = dp.per_gpu.kv_capacity_bytes, tp.per_gpu.kv_capacity_bytes
    g = dp.per_gpu
    assert cap_dp == g.budget_bytes - g.weights_bytes - g.activation_bytes - g.overhead_bytes
    assert dp.max_concurrency == 8 * (cap_dp // SEQ_BYTES)
    assert tp.max_concurrency == cap_tp // SEQ_BYTES  # the latent of every sequence on every GPU
    # DP replicates the attention weights, so a GPU holds less KV, yet the deployment holds far more sequences
    assert cap_dp < cap_tp
    assert dp.max_concurrency >= 1024 > tp.max_concurrency
    assert dp.max_concurrency > 5 * tp.max_concurrency
    at_max = estimate_memory(replace(r1, batch=dp.max_concurrency))
    assert at_max.fits and at_max.per_gpu.kv_cache_bytes == (dp.max_concurrency // 8) * SEQ_BYTES
    over = estimate_memory(replace(r1, batch=dp.max_concurrency + 1))  # one rank gets one sequence more
    assert over.fits is False and over.reason_kinds == ["kv_cache"]
    assert "attention data-parallel ranks" in over.reasons[0]
    assert estimate_memory(replace(_tp8(r1), batch=1024)).fits is False
    assert estimate_memory(replace(r1, batch=1024)).fits is True
    # the whole deployment's KV: 8 ranks x 1 GPU x ceil(1024 / 8) sequences
    assert estimate_memory(replace(r1, batch=1024)).kv_cache_bytes == 8 * 128 * SEQ_BYTES


def test_uneven_batch_rounds_up_per_rank(r1):
    e = estimate_memory(replace(r1, batch=9))  # ranks hold 2, 1, 1, ...: the busiest decides
    assert e.per_gpu.kv_cache_bytes == 2 * SEQ_BYTES


def test_layout_rules(r1):
    with pytest.raises(LayoutError, match=r"data_parallel_size \(8\) x tensor_parallel_size \(2\)") as err:
        estimate_memory(replace(r1, tensor_parallel_size=2))
    assert err.value.setting == "gpus"
    with pytest.raises(LayoutError):
        estimate_memory(replace(r1, data_parallel_size=0))


def test_perf_each_rank_reads_its_own_kv_and_the_moe_layers_see_every_rank(r1):
    b = 256
    dp = estimate_perf(r1, prompt_tokens=1000, output_tokens=1000, concurrency=b)
    tp = estimate_perf(_tp8(r1), prompt_tokens=1000, output_tokens=1000, concurrency=b)
    # MLA: TP attention reads every sequence's latent on every GPU; a DP rank only its own 32
    assert tp.kv_bytes_read_per_step_per_gpu == 8 * dp.kv_bytes_read_per_step_per_gpu
    e, k = 256, 8
    assert dp.distinct_experts_per_moe_layer == pytest.approx(e * (1 - (1 - k / e) ** b))
    # attention TP 1: no all-reduce; per MoE layer a dispatch and a combine all-to-all over 8 GPUs
    spec = r1.model
    act = (b // 8) * spec.hidden_size * 2 * k
    eff = default_efficiencies(r1.gpu)  # the fitted link fraction and latency of the generation
    link = r1.gpu.interconnect.bandwidth_bytes_per_s / 2 * eff.comm
    moe_layers = spec.num_hidden_layers - 3
    want = moe_layers * 2 * (7 / 8 * act / link + eff.collective_latency_s)
    assert dp.decode.communication_s == pytest.approx(want, rel=1e-9)
    assert dp.tpot_s < tp.tpot_s  # the replicated KV reads dominate TP8's step at this batch
    assert dp.data_parallel_size == 8 and any(a.name == "attention_data_parallel" for a in dp.assumptions)


def test_fit_and_perf_flags(cli):
    base = ("--model", "deepseek-v3", "--gpu", "h200", "--gpus", "8", "--ctx", "2000", "--batch", "1024", "--ep")
    r = cli("fit", *base, "--dp-attention", "--format", "json")
    assert r.code == 0, r.err
    j = r.json()
    assert (j["tensor_parallel_size"], j["data_parallel_size"], j["fits"]) == (1, 8, True)
    assert cli("fit", *base, "--dp", "8", "--format", "json").json() == j  # the same layout, spelt twice
    no = cli("fit", *base, "--format", "json")
    assert no.code == 3 and "data_parallel_size" not in no.json()  # left out when 1: old documents unchanged
    r = cli("fit", *base, "--dp", "4", "--format", "json")  # 4 ranks x TP 2
    assert r.code in (0, 3) and (r.json()["tensor_parallel_size"], r.json()["data_parallel_size"]) == (2, 4)
    assert "DP 8 x TP 1" in cli("fit", *base, "--dp", "8").out
    bad = cli("fit", *base, "--dp", "3")
    assert bad.code == 2 and bad.err.startswith("llamasize: error:") and "--dp (3)" in bad.err and bad.out == ""
    p = cli("perf", *base, "--dp", "8", "--prompt-tokens", "1000", "--output-tokens", "1000", "--format", "json")
    assert p.code == 0 and p.json()["data_parallel_size"] == 8
    sim = cli("perf", *base, "--dp", "8", "--prompt-tokens", "1000", "--output-tokens", "1000",
              "--arrival", "offline", "--requests", "16")
    assert sim.code == 0 and "simulated: 16 requests" in sim.out, sim.err  # each rank scheduled (test_dp_simulation)


def test_plan_chooses_dp_where_tp_cannot_hold_the_batch_and_emits_it(cli):
    args = ("plan", "--model", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--ctx", "2000",
            "--batch", "1024")
    o = cli(*args, "--format", "json").json()["recommendation"]
    assert (o["gpu_count"], o["tensor_parallel_size"], o["data_parallel_size"]) == (8, 1, 8)
    assert o["max_concurrency"] >= 1024
    small = cli("plan", "--model", "deepseek-v3", "--gpu", "h200", "--quant", "fp8-block128x128", "--ctx", "2000",
                "--format", "json").json()["recommendation"]
    assert "data_parallel_size" not in small  # batch 1: TP wins the tie at the same count
    v = cli(*args, "--emit", "vllm")
    assert v.code == 0 and "--data-parallel-size 8" in v.out and "--tensor-parallel-size 1" in v.out
    s = cli(*args, "--engine", "sglang", "--emit", "sglang")
    assert s.code == 0, s.err
    assert "--tp-size 8" in s.out and "--dp-size 8 --enable-dp-attention" in s.out


def test_no_dp_layouts_for_models_tp_already_splits(registry):
    from llamasize.plan.planner import dp_layouts

    h100 = registry.gpu("h100")
    assert dp_layouts(registry.model("maverick"), h100, 8) == []  # 8 KV heads: TP8 splits them
    assert dp_layouts(registry.model("llama3.1-70b"), h100, 8) == []  # dense
    assert dp_layouts(registry.model("deepseek-v3"), h100, 8) == [(1, 1, 8)]
    assert dp_layouts(registry.model("deepseek-v3"), h100, 16) == [(1, 1, 16), (1, 2, 8)]
    assert dp_layouts(registry.model("deepseek-v3"), h100, 7) == []  # 256 experts do not split over 7


_MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: r1}}
spec:
  template:
    spec:
      nodeSelector: {{nvidia.com/gpu.product: NVIDIA-H200}}
      containers:
      - name: server
        image: serving:latest
        command: {command}
        resources: {{limits: {{nvidia.com/gpu: "8"}}}}
"""


@pytest.mark.parametrize("command", [
    '["vllm", "serve", "deepseek-ai/DeepSeek-R1", "--tensor-parallel-size", "1", "--data-parallel-size", "8", '
    '"--enable-expert-parallel", "--max-model-len", "8192"]',
    '["python", "-m", "sglang.launch_server", "--model-path", "deepseek-ai/DeepSeek-R1", "--tp-size", "8", '
    '"--dp-size", "8", "--enable-dp-attention", "--ep-size", "8", "--context-length", "8192"]',
])
def test_check_models_the_manifest_layout(cli, tmp_path, command):
    f = tmp_path / "r1.yaml"
    f.write_text(_MANIFEST.format(command=command))
    r = cli("check", str(f), "--format", "json")
    rep = r.json()
    (d,) = rep["deployments"]
    assert d["fits"] is True, rep
    assert not any("not modelled" in x["message"] for x in rep.get("findings", [])), rep


def test_perf_without_ep_gathers_every_ranks_activations(r1):
    """Experts split by width over the 8 GPUs: per MoE layer an all-gather + reduce-scatter of all
    ranks' activations, the volume of a ring all-reduce of ``ranks x tokens x h x 2`` bytes and two
    collective latencies (two collectives)."""
    b = 64
    d = replace(r1, expert_parallel=False)
    p = estimate_perf(d, prompt_tokens=1000, output_tokens=1000, concurrency=b)
    spec = d.model
    act = b * spec.hidden_size * 2  # 8 ranks x 8 tokens each
    eff = default_efficiencies(d.gpu)
    link = d.gpu.interconnect.bandwidth_bytes_per_s / 2 * eff.comm
    want = (spec.num_hidden_layers - 3) * (2 * 7 / 8 * act / link + 2 * eff.collective_latency_s)
    assert p.decode.communication_s == pytest.approx(want, rel=1e-9)
    # the same bytes per GPU either way: the experts are split over the 8 GPUs (by count or by width)
    assert estimate_memory(d).per_gpu.weights_bytes == estimate_memory(r1).per_gpu.weights_bytes


def test_one_sequence_is_one_ranks_prefill(r1):
    """At concurrency 1 only one rank holds a sequence: its prompt alone runs through the MoE layers,
    as on a TP1 replica with the experts split over 8 GPUs."""
    p1 = estimate_perf(r1, prompt_tokens=1000, output_tokens=100, concurrency=1)
    p8 = estimate_perf(r1, prompt_tokens=1000, output_tokens=100, concurrency=8)
    assert p1.prefill.flops_per_gpu < p8.prefill.flops_per_gpu  # 8 ranks' prompts meet in the experts
    assert math.isclose(p1.distinct_experts_per_moe_layer, 8.0)


@pytest.mark.parametrize("dp, fits", [(8, True), (1, False)])
def test_check_llamasize_yaml_dp(cli, tmp_path, dp, fits):
    """``dp:`` in llamasize.yaml is llamasize's --dp: DP8 holds 1,024 x 2,000 tokens, TP8 does not."""
    f = tmp_path / "llamasize.yaml"
    f.write_text(f"deployments:\n  - name: r1\n    model: deepseek-v3\n    gpu: h200\n    gpus: 8\n    dp: {dp}\n"
                 "    ep: true\n    ctx: 2000\n    concurrency: 1024\n")
    (d,) = cli("check", str(f), "--format", "json").json()["deployments"]
    assert d["fits"] is fits
    assert (d["tensor_parallel_size"], d["data_parallel_size"]) == ((1, 8) if dp == 8 else (8, 1))


@given(dp=st.sampled_from([2, 4, 8]), ctx=st.integers(1, 32_768), batch=st.integers(1, 20_000),
       ep=st.booleans())
def test_fits_exactly_up_to_max_concurrency(r1, dp, ctx, batch, ep):
    """A rank holds ``ceil(batch / dp)`` sequences, so a batch fits exactly when it is at most
    ``max_concurrency`` (a multiple of dp), and the per-GPU KV never shrinks as the batch grows."""
    d = replace(r1, tensor_parallel_size=8 // dp, data_parallel_size=dp, expert_parallel=ep, context_tokens=ctx,
                batch=batch)
    e = estimate_memory(d)
    assert e.max_concurrency % dp == 0
    assert e.fits is (batch <= e.max_concurrency)
    more = estimate_memory(replace(d, batch=batch + 1))
    assert more.per_gpu.kv_cache_bytes >= e.per_gpu.kv_cache_bytes
