"""memory.budget_step_notes and plan's notes (issue 10 item 7): a candidate next to a step of its
engine's budget (vLLM's 70 / 160 GiB profile tiers, SGLang's 60 GiB reserve step and its growth with
tp x pp) gets a note naming the step and its source; candidates away from a step get none."""

from __future__ import annotations

import json

import pytest

from llamasize.estimate.deployment import Deployment
from llamasize.estimate.memory import budget_step_notes, estimate_memory
from llamasize.estimate.engines import vllm_batch_defaults
from llamasize.plan.planner import PlanRequest, plan
from llamasize.units import GIB


def _d(registry, gpu, n=8, model="scout", quant="int4", ctx=8192, **kw):
    return Deployment(model=registry.model(model), gpu=gpu if not isinstance(gpu, str) else registry.gpu(gpu),
                      gpu_count=n, quant=quant, context_tokens=ctx, **kw)


def _with_memory(registry, gpu_id: str, gib: float):
    """A catalogue GPU with its memory budget set to ``gib`` (binary capacity, no reported totals):
    the steps are properties of the budget, so the tests place GPUs next to them."""
    g = registry.gpu(gpu_id)
    mem = g.memory.model_copy(update={"datasheet_gb": gib, "cuda_totals": [], "smi_totals": [], "api_totals": []})
    return g.model_copy(update={"id": f"{gpu_id}-{gib:g}gib", "memory": mem})


def test_gpus_next_to_a_vllm_tier(registry):
    # 74.5 GiB (an H100 PCIe budgeted at its datasheet's decimal 80 GB): 6 % above the 70 GiB step;
    # 167.6 GiB (a B200 at 180 GB decimal): 5 % above 160 GiB
    pcie = budget_step_notes(_d(registry, _with_memory(registry, "h100-pcie", 74.5)))
    assert len(pcie) == 1 and "70 GiB step" in pcie[0] and "get_batch_defaults" in pcie[0]
    assert "1,024 sequences x 8,192 batched tokens here, 256 x 2,048 on the other side" in pcie[0]
    b200 = budget_step_notes(_d(registry, _with_memory(registry, "b200", 167.6), n=1))  # TP 8 hides the step
    assert len(b200) == 1 and "160 GiB step" in b200[0]
    assert "1,024 sequences x 16,384 batched tokens here, 1,024 x 8,192 on the other side" in b200[0]


@pytest.mark.parametrize("gpu", ["h100-sxm", "h200", "mi300x", "l40s", "a100-pcie-80gb"])
def test_no_vllm_note_away_from_a_tier(registry, gpu):
    # h100-sxm 79.2 GiB (13 % above 70), h200 140 GiB, mi300x 192 GiB (20 % above 160), l40s 44.5 GiB;
    # a100-pcie-80gb: A100s stay on the small shape below 160 GiB
    assert budget_step_notes(_d(registry, gpu)) == []
    assert budget_step_notes(_d(registry, _with_memory(registry, "a100-pcie-80gb", 74.5))) == []


def test_the_vllm_note_numbers_are_the_other_shapes_estimate(registry):
    pcie = _with_memory(registry, "h100-pcie", 74.5)
    d = _d(registry, pcie, n=1, ctx=32768)
    (note,) = budget_step_notes(d)
    here = estimate_memory(d)
    there = estimate_memory(_d(registry, pcie, n=1, ctx=32768, max_num_seqs=256, max_num_batched_tokens=2048))
    assert there.max_context_tokens > here.max_context_tokens  # just below the step it would hold more
    assert f"max context {here.max_context_tokens:,} vs {there.max_context_tokens:,} tokens" in note
    # same memory, the A100 shape: an A100 with that memory holds the larger context
    a100 = estimate_memory(_d(registry, _with_memory(registry, "a100-pcie-80gb", 74.5), n=1, ctx=32768))
    assert a100.max_context_tokens == there.max_context_tokens


def test_no_vllm_note_when_the_shape_is_given(registry):
    pcie = _with_memory(registry, "h100-pcie", 74.5)
    assert budget_step_notes(_d(registry, pcie, max_num_seqs=1024, max_num_batched_tokens=8192)) == []


def _sglang(registry, n, pp, **kw):
    return _d(registry, "l40s", n=n, model="scout", quant="bf16", ctx=10_300_000, engine="sglang",
              tensor_parallel_size=8, pipeline_parallel_size=pp, **kw)


def test_sglang_more_gpus_holding_less_is_noted(registry):
    d64, d72 = _sglang(registry, 64, 8), _sglang(registry, 72, 9)
    assert estimate_memory(d72).max_context_tokens < estimate_memory(d64).max_context_tokens
    (note,) = budget_step_notes(d64, d72)
    assert note.startswith("more GPUs hold less here") and "tp x pp / 8 GiB" in note and "serving.md 2.3" in note


def test_no_sglang_note_when_more_gpus_hold_more(registry):
    d56, d64 = _sglang(registry, 56, 7), _sglang(registry, 64, 8)
    assert estimate_memory(d64).max_context_tokens > estimate_memory(d56).max_context_tokens
    assert budget_step_notes(d56, d64) == []
    assert budget_step_notes(_sglang(registry, 64, 8, mem_fraction_static=0.8), d64) == []  # fraction given


@pytest.mark.parametrize("datasheet_gb, noted", [(62.0, True), (65.0, True), (48.0, False), (80.0, False)])  # GiB budgets
def test_sglang_60_gib_step(registry, datasheet_gb, noted):
    gpu = _with_memory(registry, "l40s", datasheet_gb)
    notes = budget_step_notes(_d(registry, gpu, n=8, model="scout", quant="int4", engine="sglang"))
    assert any("SGLang's 60 GiB step" in n for n in notes) == noted


def test_plan_puts_the_notes_on_the_options_next_to_a_step(registry):
    res = plan(PlanRequest(model=registry.model("maverick"), context_tokens=2**20, quant="int4"), registry)
    options = [res.recommendation, *res.alternatives]
    assert len(options) > 3
    for o in options:  # a note is there exactly when the GPU is within 10 % of a tier that applies to it
        mem = registry.gpu(o.gpu).memory_bytes / GIB
        tiers = [160] + ([] if o.gpu.startswith("a100") else [70])
        assert bool(o.notes) == any(abs(mem - t) <= 0.1 * t for t in tiers), o.gpu
        assert vllm_batch_defaults(registry.gpu(o.gpu))  # the shape the note starts from exists


def test_plan_text_shows_notes_for_table_rows(cli, tmp_path):
    """A catalogue GPU next to a step (one of the user's, at 74.5 GiB) gets its note in the table."""
    import yaml

    from llamasize.files import bundled_dir

    data = yaml.safe_load((bundled_dir("hardware_catalog") / "h100-pcie.yaml").read_text())
    data.update(id="h100-pcie-745", name="H100 PCIe at 74.5 GiB (test)", aliases=[], nvml_names=[], gfd_products=[],
                gke_accelerators=[])
    data["memory"].update(datasheet_gb=74.5, cuda_totals=[], smi_totals=[], api_totals=[])
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "h100-pcie-745.yaml").write_text(yaml.safe_dump(data))
    args = ("plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M", "--catalog-dir", str(tmp_path / "cat"),
            "--gpu", "h100-pcie-745", "--gpu", "h100-sxm")
    r = cli(*args)
    assert r.code == 0, r.err
    assert "next to a vLLM profile step" in r.out and "70 GiB step" in r.out
    doc = json.loads(cli(*args, "--format", "json").out)
    assert all("notes" in o for o in doc["alternatives"])
    opts = {o["gpu"]: o for o in [doc["recommendation"], *doc["alternatives"]]}
    assert opts["h100-pcie-745"]["notes"] and opts["h100-sxm"]["notes"] == []
