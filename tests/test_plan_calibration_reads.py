"""A plan (and a cost comparison) reads the calibration file once, not once per candidate."""

from __future__ import annotations

import pytest

from llamasize import __version__
from llamasize.estimate import calibration
from llamasize.estimate.calibration import DeviceCalibration, save_calibration
from llamasize.plan.cost import compare_costs
from llamasize.plan.planner import PlanRequest, plan
from llamasize.plan.pricing import PriceBasis


@pytest.fixture
def calibrated(tmp_path, monkeypatch):
    """A calibration file for the H100 SXM and a counter of the times it is read."""
    path = tmp_path / "calibration.json"
    save_calibration(DeviceCalibration(
        device="h100-sxm", device_name="NVIDIA H100 80GB HBM3", prefill_efficiency=0.41,
        decode_bandwidth_efficiency=0.63, measured_bandwidth_bytes_per_s=2.9e12, measured_flops_per_s=7e14,
        runtime_dtype="float16", model="micro-moe", llamasize_version=__version__), path)
    reads: list[str] = []
    real = calibration.read_text_file

    def counting(p, what, *args, **kwargs):
        reads.append(str(p))
        return real(p, what, *args, **kwargs)

    monkeypatch.setattr(calibration, "read_text_file", counting)
    return path, reads


@pytest.mark.parametrize("objective", ["cost-per-token", "throughput", "cost"])
def test_plan_reads_the_calibration_once(registry, calibrated, objective):
    path, reads = calibrated
    req = PlanRequest(model=registry.model("scout"), context_tokens=2**15, quant="auto", objective=objective,
                      gpus=("h100", "a100-sxm-80gb"), calibration=path)
    res = plan(req, registry)
    assert res.candidates_evaluated > 5  # many candidates, each with a speed estimate when ranked by speed
    assert reads == [str(path)]
    by_gpu = {o.gpu: o.perf_confidence for o in [res.recommendation, *res.alternatives]}
    assert by_gpu["h100-sxm"] == "calibrated"  # the one read is used
    assert by_gpu.get("a100-sxm-80gb", "analytical") == "analytical"


def test_cost_reads_the_calibration_once(registry, calibrated):
    path, reads = calibrated
    req = PlanRequest(model=registry.model("scout"), context_tokens=2**15, quant="auto", objective="cost-per-token",
                      gpus=("h100",), calibration=path)
    report, res = compare_costs(req, registry, PriceBasis())
    assert report is not None and res.recommendation.perf_confidence == "calibrated"
    assert reads == [str(path)]
