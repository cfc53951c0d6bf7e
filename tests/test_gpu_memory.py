"""The memory each catalogue GPU is budgeted with (issue 11 item 6): a sourced CUDA/HIP-reported total,
else a flagged upper bound (nvidia-smi's total, a cloud API's figure, the binary capacity), and the
flag reaches ``fit`` and ``plan``. Figures from docs/facts/hardware-memory.md."""

from __future__ import annotations

import pytest

from llamasize.data.hardware import Memory, MemoryReport
from llamasize.units import GIB, MIB

#: GPUs the issue asks for (where sourced) and the ones the catalogue had.
REQUIRED = ["a10g", "a10", "l4", "l40", "l20", "t4", "v100-16gb", "v100-32gb", "rtx-6000-ada", "rtx-pro-6000",
            "gh200", "gb200", "b300", "mi250x", "mi355x", "h100-sxm", "h200", "a100-sxm-80gb", "b200", "mi300x"]


def test_every_required_gpu_is_in_the_catalogue(registry):
    assert set(REQUIRED) <= {g.id for g in registry.gpus}


def test_every_budget_is_a_sourced_total_or_flagged(registry):
    for g in registry.gpus:
        m = g.memory
        r = m.budget_report
        if m.basis == "binary_capacity":
            assert r is None and m.flag and "binary capacity" in m.flag, g.id
            assert g.memory_bytes == round(m.datasheet_gb * GIB), g.id
            assert any("binary capacity" in n for n in m.notes), f"{g.id}: the data must say so too"
            continue
        assert r is not None and r.source and r.tool, g.id
        assert g.memory_bytes == r.bytes, g.id
        if m.basis == "cuda_total" and r.flag is None:
            assert m.flag is None, g.id
        else:
            assert m.flag, f"{g.id}: a budget that is not a firm CUDA/HIP total must be flagged"


def test_cuda_totals_sit_below_the_smi_totals(registry):
    # docs/facts/hardware-memory.md 0, 1c: the CUDA total is nvidia-smi's total less the driver's reservation
    # (equal on AMD), so no firm CUDA report may exceed a firm SMI report of the same GPU
    checked = 0
    for g in registry.gpus:
        cuda = [r.bytes for r in g.memory.cuda_totals if r.flag is None]
        smi = [r.bytes for r in g.memory.smi_totals if r.flag is None]
        if cuda and smi:
            assert max(cuda) <= min(smi), g.id
            assert min(smi) - max(cuda) <= 1_103 * MIB + 16 * MIB, g.id  # the largest reservation measured
            checked += 1
    assert checked >= 12


def test_the_lowest_firm_cuda_total_is_budgeted(registry):
    h100 = registry.gpu("h100-sxm")
    # vLLM 0.19.0's 79.19 GiB, below deviceQuery's 85045477376 bytes on another driver
    assert [r.bytes for r in h100.memory.cuda_totals] == [round(79.19 * GIB), 85_045_477_376]
    assert h100.memory_bytes == round(79.19 * GIB)
    # RTX 5090: three captures, the lowest (aikitoria) budgeted
    assert registry.gpu("rtx-5090").memory_bytes == 33_677_180_928
    assert registry.gpu("t4").memory_bytes == 15_095 * MIB


@pytest.mark.parametrize("gpu, total", [  # docs/facts/hardware-memory.md 1a (deviceQuery bytes, HIP MiB)
    ("a100-sxm-80gb", 85_100_068_864), ("a10", 23_595_909_120), ("l4", 23_570_219_008),
    ("l40s", 47_803_596_800), ("gh200", 101_468_602_368), ("v100-16gb", 16_928_342_016),
    ("rtx-4090", 25_386_352_640), ("rtx-6000-ada", 51_002_867_712), ("h100-nvl", 99_861_594_112),
    ("mi300x", 196_592 * MIB), ("a100-sxm-40gb", 42_298_834_944),
])
def test_cuda_totals_from_the_facts(registry, gpu, total):
    g = registry.gpu(gpu)
    assert g.memory_bytes == total and g.memory.basis == "cuda_total" and g.memory.flag is None


def test_a100_is_budgeted_what_cuda_reports_not_decimal_gb(registry):
    # the case: an A100 80GB was 80e9 bytes to llamasize, 79.26 GiB to CUDA (6 % more)
    a100 = registry.gpu("a100")
    assert a100.memory_bytes == 85_100_068_864 > 80 * 10**9


def test_fallbacks_in_order():
    base = dict(datasheet_gb=80, type="HBM2e", source="datasheet")
    smi = MemoryReport(value=81920, unit="MiB", tool="nvidia-smi", source="s")
    cuda = MemoryReport(value=85_000_000_000, unit="bytes", tool="deviceQuery", source="c")
    flagged = MemoryReport(value=84_000_000_000, unit="bytes", tool="prog", source="p", flag="unknown call")
    api = MemoryReport(value=80000, unit="MiB", tool="EC2 API", source="a")
    assert Memory(**base).bytes == 80 * GIB and Memory(**base).basis == "binary_capacity"
    assert Memory(**base, api_totals=[api]).basis == "api_total"
    assert Memory(**base, smi_totals=[smi], api_totals=[api]).bytes == 81920 * MIB
    m = Memory(**base, cuda_totals=[cuda, flagged], smi_totals=[smi])
    assert m.bytes == 85_000_000_000 and m.flag is None  # a firm report wins over a lower flagged one
    m = Memory(**base, cuda_totals=[flagged], smi_totals=[smi])
    assert m.bytes == 84_000_000_000 and "unknown call" in m.flag


def test_flag_reaches_fit(cli):
    r = cli("fit", "--model", "llama3.1-8b", "--gpu", "a100-pcie-80gb", "--ctx", "8K", "-f", "json")
    d = r.json()
    assert d["memory_basis"] == "binary_capacity"
    assert any("binary capacity" in w and "a100-pcie-80gb" in w for w in d["warnings"])
    firm = cli("fit", "--model", "llama3.1-8b", "--gpu", "a100", "--ctx", "8K", "-f", "json").json()
    assert firm["memory_basis"] == "cuda_total" and not any("memory budget" in w for w in firm["warnings"])


def test_flag_reaches_plan(cli):
    d = cli("plan", "--model", "llama3.1-8b", "--ctx", "8K", "--gpu", "b200", "-f", "json").json()
    assert any("b200 memory budget" in w and "nvidia-smi" in w for w in d["recommendation"]["warnings"])


def test_gpus_listing_marks_flagged_totals(cli):
    rows = {g["id"]: g for g in cli("gpus", "-f", "json").json()["gpus"]}
    assert rows["b300"]["memory_basis"] == "api_total" and rows["b300"]["memory_flag"]
    assert rows["b300"]["memory_bytes"] == 275_040 * MIB
    assert rows["l4"]["smi_memory_bytes"] == 23_034 * MIB
    table = cli("gpus").out
    line = next(x for x in table.splitlines() if x.startswith("gh200-144gb"))
    assert "144.00*" in line
