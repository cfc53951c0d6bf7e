"""estimate.shards: per-stage weight bytes from layer classes equal the per-tensor sum, and the
planner's work does not grow with the layer count beyond one pass per spec and format (issue 10
R15: a 10,000-layer config took 33 s / 1.8 GB). Behaviour, not timing: calls are counted."""

from __future__ import annotations

import dataclasses
import math

import pytest

import llamasize.estimate.shards as shards
from llamasize.errors import UnknownValueError
from llamasize.estimate.deployment import Deployment
from llamasize.estimate.memory import quick_fit
from llamasize.estimate.parallel import pp_partition, shard_shape, tp_problem
from llamasize.estimate.params import weight_table
from llamasize.estimate.quant import FORMATS, get_format
from llamasize.estimate.traffic import stage_weights
from llamasize.plan.planner import PlanRequest, plan


def _per_tensor(spec, quant, tp, pp, ep):
    """The reference: every tensor of the weight table, sharded and stored one by one; per stage
    with and without the vision tower."""
    fmt = get_format(quant)
    stage_of = {i: k for k, layers in enumerate(pp_partition(spec.num_hidden_layers, pp)) for i in layers}
    out, text = [0] * pp, [0] * pp
    for t in weight_table(spec):
        k = stage_of[t.layer] if t.layer is not None else (0 if t.component in ("embedding", "vision") else pp - 1)
        nbytes = fmt.rule(spec, t).nbytes(shard_shape(t, spec, tp, ep))
        out[k] += nbytes
        if t.component != "vision":
            text[k] += nbytes
    return tuple(out), tuple(text)


def _known(registry):
    out = []
    for spec in registry.models:
        try:
            weight_table(spec)
        except UnknownValueError:
            continue
        out.append(spec)
    return out


def _layouts(spec):
    """TP 1; the widest TP of 8, 4, 2 that splits the heads; that TP over 3 stages, with EP on MoE."""
    tp = next((t for t in (8, 4, 2) if tp_problem(spec, t) is None), 1)
    return [(1, 1, False), (tp, 1, False), (tp, 3, spec.is_moe and tp > 1)]


def test_stage_bytes_from_layer_classes_equal_the_per_tensor_sum(registry):
    specs = _known(registry)
    assert len(specs) >= 5
    checked = 0
    for spec in specs:
        for quant in FORMATS:
            for tp, pp, ep in _layouts(spec):
                full, text = _per_tensor(spec, quant, tp, pp, ep)
                assert shards.stage_weight_bytes(spec, quant, tp, pp, ep, True) == full, (spec.id, quant, tp, pp, ep)
                assert shards.stage_weight_bytes(spec, quant, tp, pp, ep, False) == text, (spec.id, quant, tp, pp, ep)
                if (tp, pp) == (1, 1):
                    assert shards.total_weight_bytes(spec, quant) == sum(full)
                    assert shards.total_weight_bytes(spec, quant, False) == sum(text)
                checked += 1
    assert checked >= 3 * 18 * 5


def test_traffic_from_groups_matches_the_per_tensor_sums(registry):
    spec = registry.model("deepseek-v3")
    for quant in ("bf16", "fp8", "int4"):
        for tp, pp, ep in ((8, 1, False), (8, 2, True), (1, 3, False)):
            st = stage_weights(spec, quant, tp, pp, ep)
            fmt = get_format(quant)
            stages = pp_partition(spec.num_hidden_layers, pp)
            for k, layers in enumerate(stages):
                routed = [t for t in weight_table(spec) if t.layer in layers and t.component == "routed_experts"]
                assert st[k].routed_bytes == sum(fmt.rule(spec, t).nbytes(shard_shape(t, spec, tp, ep)) for t in routed)
                assert st[k].routed_matmul_params == sum(math.prod(shard_shape(t, spec, tp, ep))
                                                         for t in routed if t.kind == "linear")


def test_fp8_mixed_and_gguf_mixes_keep_their_layer_exceptions_apart(registry):
    # fp8_mixed leaves layer 0 and the last layer in BF16; q4_k_m upgrades some layers: both split
    # a uniform model's layers into more than one class, or the totals above would not match.
    maverick = registry.model("maverick")
    assert len(shards.format_layout(maverick, "bf16").classes) == 2  # dense and MoE layers
    assert len(shards.format_layout(maverick, "fp8_mixed").classes) > 2
    assert len(shards.format_layout(maverick, "q4_k_m").classes) > 2


def _deep(registry, layers: int):
    base = registry.model("deepseek-v3")
    return base.model_copy(update={"num_hidden_layers": layers, "id": f"deepseek-v3-{layers}"})


def _clear():
    shards.cache_clear()


def _counting(monkeypatch):
    """Count shard-shape calls, quantization-rule calls and the formats asked for inside ``shards``."""
    calls = {"shard_shape": 0, "rule": 0, "formats": set()}

    def counted_shape(*a, **kw):
        calls["shard_shape"] += 1
        return shard_shape(*a, **kw)

    def counted_format(quant):
        fmt = get_format(quant)
        calls["formats"].add(fmt.id)

        def rule(spec, t):
            calls["rule"] += 1
            return fmt.rule(spec, t)

        return dataclasses.replace(fmt, rule=rule)

    monkeypatch.setattr(shards, "shard_shape", counted_shape)
    monkeypatch.setattr(shards, "get_format", counted_format)
    return calls


@pytest.mark.parametrize("layers", [61, 610])
def test_each_tensor_is_classified_once_per_format_per_run(registry, monkeypatch, layers):
    """A whole plan (search, rejections, suggestions) evaluates each tensor's storage once per
    format searched: one pass over the layers per format, whatever the number of candidates."""
    spec = _deep(registry, layers)
    _clear()
    calls = _counting(monkeypatch)
    res = plan(PlanRequest(model=spec, context_tokens=8192, gpus=("h100", "b200")), registry)
    assert res.candidates_evaluated > 20
    assert len(calls["formats"]) >= 4  # auto: bf16, fp8, int8, int4 (+ FP4 on B200)
    assert calls["rule"] == len(calls["formats"]) * len(weight_table(spec))
    _clear()


def test_per_candidate_work_does_not_grow_with_the_layer_count(registry, monkeypatch):
    """The same candidates on a 61- and a 1,220-layer model shard the same number of tensors: a
    candidate costs O(layer classes x stages), not O(layers)."""
    h100 = registry.gpu("h100")
    counts = {}
    for layers in (61, 1220):
        spec = _deep(registry, layers)
        _clear()
        calls = _counting(monkeypatch)
        for quant in ("bf16", "int4"):
            for n, tp, pp in ((8, 8, 1), (16, 8, 2), (32, 8, 4)):
                for ep in (False, True):
                    d = Deployment(model=spec, gpu=h100, gpu_count=n, tensor_parallel_size=tp,
                                   pipeline_parallel_size=pp, expert_parallel=ep, quant=quant, context_tokens=8192)
                    fits, _, _, core = quick_fit(d)
                    assert core is not None
        counts[layers] = calls["shard_shape"]
    assert counts[61] == counts[1220] > 0
    _clear()


def test_fit_reasons_agree_with_the_full_estimate(registry):
    """The planner explains rejections with ``fit_reasons`` (no per-layer lists): same verdict,
    reasons and headroom as ``estimate_memory``, fitting or not, known architecture or not."""
    from llamasize.estimate.memory import estimate_memory, fit_reasons

    seen = set()
    for model in ("scout", "maverick", "deepseek-v3", "behemoth"):
        for gpu in ("l4", "h100", "b200"):
            for n, ctx in ((1, 8192), (8, 2**20), (8, 10 * 2**20)):
                d = Deployment(model=registry.model(model), gpu=registry.gpu(gpu), gpu_count=n, quant="int4",
                               context_tokens=ctx)
                e = estimate_memory(d)
                assert fit_reasons(d) == (e.fits, e.reasons, e.per_gpu.headroom_fraction), (model, gpu, n, ctx)
                seen.add(e.fits)
    assert seen == {True, False, None}
