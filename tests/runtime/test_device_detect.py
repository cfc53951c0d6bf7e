"""Device detection (NVML, mocked where a GPU is needed) and backend selection."""

from __future__ import annotations

import sys
import types

import pytest

from llamasize.runtime.detect import detect_devices
from llamasize.errors import UsageError
from llamasize.runtime.backend import get_backend


def test_no_driver_returns_cpu_with_a_reason(registry):
    """This machine has nvidia-ml-py but no NVIDIA driver: a real call."""
    d = detect_devices(registry)
    if d.gpus:  # pragma: no cover - only on a GPU machine
        pytest.skip("this machine has an NVIDIA GPU")
    assert d.cpu_only
    assert d.reason and "CPU" in d.reason
    assert d.cpu.logical_cores and d.cpu.logical_cores >= 1
    assert d.cpu.memory_total_bytes and d.cpu.memory_total_bytes > 2**28
    assert d.cpu.model_name
    assert d.model_dump(mode="json")["gpus"] == []


class _NVMLError(Exception):
    def __init__(self, value=None):
        self.value = value

    def __str__(self):
        return {3: "Not Supported", 12: "NVML Shared Library Not Found"}.get(self.value, "Unknown Error")


def fake_pynvml(init_error: type | None = None, mig_supported: bool = False, name="NVIDIA H100 80GB HBM3"):
    """A stand-in for the pynvml module with one H100 SXM."""
    m = types.ModuleType("pynvml")
    m.NVMLError = _NVMLError
    m.NVMLError_NotSupported = type("NVMLError_NotSupported", (_NVMLError,), {})
    m.NVMLError_LibraryNotFound = type("NVMLError_LibraryNotFound", (_NVMLError,), {})
    m.NVMLError_DriverNotLoaded = type("NVMLError_DriverNotLoaded", (_NVMLError,), {})
    m.NVMLError_NoPermission = type("NVMLError_NoPermission", (_NVMLError,), {})
    m.NVML_CLOCK_SM, m.NVML_CLOCK_MEM, m.NVML_DEVICE_MIG_ENABLE = 1, 2, 1
    m.calls = []

    def init():
        m.calls.append("init")
        if init_error is not None:
            raise init_error(12)

    def mig(h):
        if not mig_supported:
            raise m.NVMLError_NotSupported(3)
        return [1, 1]

    m.nvmlInit = init
    m.nvmlShutdown = lambda: m.calls.append("shutdown")
    m.nvmlSystemGetDriverVersion = lambda: "575.57.08"
    m.nvmlDeviceGetCount = lambda: 1
    m.nvmlDeviceGetHandleByIndex = lambda i: ("handle", i)
    m.nvmlDeviceGetName = lambda h: name
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=81559 * 2**20, free=0, used=0)
    m.nvmlDeviceGetCudaComputeCapability = lambda h: (9, 0)
    m.nvmlDeviceGetMemoryBusWidth = lambda h: 5120
    m.nvmlDeviceGetMaxClockInfo = lambda h, t: {1: 1980, 2: 2619}[t]
    m.nvmlDeviceGetPowerManagementLimit = lambda h: 700_000
    m.nvmlDeviceGetMigMode = mig
    return m


def test_mocked_h100_is_matched_to_the_catalogue(monkeypatch, registry):
    fake = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    d = detect_devices(registry)
    assert d.reason is None and not d.cpu_only
    (g,) = d.gpus
    assert g.name == "NVIDIA H100 80GB HBM3"
    assert g.catalog_id == "h100-sxm"
    assert g.memory_total_bytes == 81559 * 2**20
    assert g.compute_capability == "9.0"
    assert g.memory_bus_width_bits == 5120
    assert (g.max_memory_clock_mhz, g.max_sm_clock_mhz) == (2619, 1980)
    assert g.power_limit_watts == 700.0
    assert g.mig_enabled is None  # NotSupported -> None, not an error
    assert g.notes == []
    assert d.driver_version == "575.57.08"
    assert fake.calls == ["init", "shutdown"]


def test_mig_mode_and_unknown_name(monkeypatch, registry):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(mig_supported=True, name="NVIDIA Future GPU"))
    (g,) = detect_devices(registry).gpus
    assert g.mig_enabled is True
    assert g.catalog_id is None and "no catalogue entry" in g.notes[0]
    (g,) = detect_devices(None).gpus  # without a registry: no matching, no complaint
    assert g.catalog_id is None and g.notes == []


@pytest.mark.parametrize("error", ["NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded",
                                   "NVMLError_NoPermission", "NVMLError"])
def test_nvml_init_errors_fall_back_to_cpu(monkeypatch, registry, error):
    fake = fake_pynvml()
    fake.nvmlInit = lambda: (_ for _ in ()).throw(getattr(fake, error)(12))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    d = detect_devices(registry)
    assert d.cpu_only and "running on the CPU" in d.reason


def test_missing_library_reason_mentions_nvidia_ml_py(monkeypatch, registry):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    d = detect_devices(registry)
    assert d.cpu_only and "nvidia-ml-py" in d.reason


def test_backend_auto_is_numpy_with_a_reason_here():
    be = get_backend("auto")
    if be.name == "cupy":  # pragma: no cover - only with CuPy and a GPU
        pytest.skip("CuPy and a GPU are present")
    import numpy as np

    assert be.name == "numpy" and be.xp is np and be.device == "cpu"
    assert be.reason and "CuPy" in be.reason
    assert get_backend("cpu").reason is None
    with pytest.raises(UsageError, match="cuda"):
        get_backend("cuda")
    with pytest.raises(UsageError, match="unknown device"):
        get_backend("tpu")
    with be.timer() as t:
        sum(range(1000))
    assert t.seconds is not None and t.seconds >= 0
    a = np.zeros(100, np.float32)
    assert be.allocated_bytes([a, a[:10], np.zeros(3)]) == 400 + 24
    with be.peak_memory() as pm:
        b = np.ones(10**6)
        del b
    assert pm.extra_peak_bytes >= 8 * 10**6
