"""Device detection: NVIDIA GPUs through NVML (``nvidia-ml-py``) and the host CPU.

Never raises. Without the library, the driver or the permission to use it, the result is CPU-only
with a human-readable ``reason`` (docs/facts/hardware.md §3.3: importing ``pynvml`` works without a
driver; ``nvmlInit()`` raises ``NVMLError_LibraryNotFound`` - seen as "NVML Shared Library Not
Found" - when ``libnvidia-ml.so.1`` is missing). Optional per-device fields are None when NVML
answers ``NVMLError_NotSupported`` (MIG mode on non-MIG GPUs, power or bus width on some SKUs);
any other per-field NVML error also gives None, with a note.

NVML calls used (docs/facts/hardware.md §3.2, all present in nvidia-ml-py 13.615.71):
``nvmlDeviceGetName`` (str), ``nvmlDeviceGetMemoryInfo(h).total`` (bytes, what the driver
reports: 81,559 MiB for an H100 80GB), ``nvmlDeviceGetCudaComputeCapability`` ((major, minor)),
``nvmlDeviceGetMemoryBusWidth`` (bits), ``nvmlDeviceGetMaxClockInfo(h, NVML_CLOCK_MEM=2 /
NVML_CLOCK_SM=1)`` (MHz), ``nvmlDeviceGetPowerManagementLimit`` (milliwatts),
``nvmlDeviceGetMigMode`` ([current, pending], ``NVML_DEVICE_MIG_ENABLE`` = 1).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pydantic import Field

from llamasize import SCHEMA_VERSION
from llamasize.data.spec import Frozen

if TYPE_CHECKING:  # pragma: no cover
    from llamasize.data.registry import Registry

#: NVML constants, used when the module does not expose them (values from pynvml.py 13.615.71).
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_DEVICE_MIG_ENABLE = 1

INSTALL_HINT = "install nvidia-ml-py (pip install nvidia-ml-py) to detect NVIDIA GPUs"


class DetectedGpu(Frozen):
    """One NVIDIA GPU as NVML reports it, matched to a catalogue entry when its name is known."""

    index: int = Field(ge=0)
    name: str
    #: Total device memory the driver reports (bytes), e.g. 85,520,809,984 for an H100 80GB HBM3.
    memory_total_bytes: int | None = None
    #: "major.minor", e.g. "9.0" for Hopper.
    compute_capability: str | None = None
    memory_bus_width_bits: int | None = None
    max_memory_clock_mhz: int | None = None
    max_sm_clock_mhz: int | None = None
    #: Power management limit in watts (NVML reports milliwatts).
    power_limit_watts: float | None = None
    #: True when MIG is currently enabled; None when the GPU does not support MIG.
    mig_enabled: bool | None = None
    #: Catalogue id whose ``nvml_names`` contains ``name`` (None: unknown GPU or no catalogue given).
    catalog_id: str | None = None
    notes: list[str] = []


class CpuInfo(Frozen):
    """The host CPU and its memory."""

    model_name: str
    logical_cores: int | None = None
    memory_total_bytes: int | None = None
    #: Where the numbers come from ("/proc/cpuinfo + /proc/meminfo", "platform + sysconf", ...).
    source: str


class DetectedDevices(Frozen):
    """What ``llamasize detect`` reports: GPUs (possibly none), the CPU, and why there are no GPUs."""

    schema_version: str = SCHEMA_VERSION
    gpus: list[DetectedGpu] = []
    cpu: CpuInfo
    driver_version: str | None = None
    #: Human-readable reason when no GPU is reported (None when GPUs were found).
    reason: str | None = None

    @property
    def cpu_only(self) -> bool:
        """True when no GPU was detected."""
        return not self.gpus


# ----------------------------------------------------------------------------------- CPU side ---
def _read_text(path: str) -> str | None:
    """Contents of a small system file, or None when it cannot be read."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def detect_cpu() -> CpuInfo:
    """Model name (``/proc/cpuinfo`` "model name", else ``platform``), logical cores
    (``os.cpu_count``) and total memory (``/proc/meminfo`` MemTotal in KiB, else
    ``SC_PAGE_SIZE x SC_PHYS_PAGES``). Never raises."""
    sources = []
    name = None
    cpuinfo = _read_text("/proc/cpuinfo")
    if cpuinfo:
        for line in cpuinfo.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model Name", "Hardware") and value.strip():
                name = value.strip()
                break
        if name:
            sources.append("/proc/cpuinfo")
    if not name:
        name = platform.processor() or platform.machine() or "unknown CPU"
        sources.append("platform")
    mem = None
    meminfo = _read_text("/proc/meminfo")
    if meminfo:
        for line in meminfo.splitlines():
            if line.startswith("MemTotal:"):
                parts = line.split()
                try:
                    mem = int(parts[1]) * (1024 if len(parts) < 3 or parts[2].lower() == "kb" else 1)
                except (IndexError, ValueError):
                    mem = None
                break
        if mem:
            sources.append("/proc/meminfo")
    if mem is None:
        try:
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            sources.append("sysconf")
        except (AttributeError, ValueError, OSError):
            mem = None
    return CpuInfo(model_name=name, logical_cores=os.cpu_count(), memory_total_bytes=mem,
                   source=" + ".join(sources) + " + os.cpu_count")


# ----------------------------------------------------------------------------------- GPU side ---
class _Never(Exception):
    """Stand-in for an NVML error class the module does not define (never raised)."""


def _error_class(nvml: Any, name: str) -> type[BaseException]:
    """``pynvml.<name>`` when it is an exception class, else a class nothing raises."""
    cls = getattr(nvml, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else _Never


def _optional(nvml: Any, notes: list[str], field: str, call: Callable[[], Any]) -> Any:
    """Result of one NVML query, or None when NVML does not support it (or fails; noted)."""
    not_supported = _error_class(nvml, "NVMLError_NotSupported")
    base = _error_class(nvml, "NVMLError")
    try:
        return call()
    except not_supported:
        return None
    except base as e:  # e.g. NoPermission, FunctionNotFound on an old driver
        notes.append(f"{field}: NVML error: {e}")
        return None


def _match_catalog(name: str, registry: "Registry | None") -> str | None:
    """Catalogue id whose ``nvml_names`` lists ``name`` exactly (then case-insensitively)."""
    if registry is None:
        return None
    gpus = registry.gpus
    for g in gpus:
        if name in g.nvml_names:
            return g.id
    key = " ".join(name.lower().split())
    for g in gpus:
        if key in (" ".join(n.lower().split()) for n in g.nvml_names):
            return g.id
    return None


def _text(value: Any) -> str:
    """NVML strings are str in nvidia-ml-py on Python 3; decode bytes from older bindings."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _gpu(nvml: Any, index: int, registry: "Registry | None") -> DetectedGpu:
    """Query one device by index (the name is required; every other field is optional)."""
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    name = _text(nvml.nvmlDeviceGetName(handle)).strip()
    notes: list[str] = []
    clock_mem = getattr(nvml, "NVML_CLOCK_MEM", NVML_CLOCK_MEM)
    clock_sm = getattr(nvml, "NVML_CLOCK_SM", NVML_CLOCK_SM)
    mig_enable = getattr(nvml, "NVML_DEVICE_MIG_ENABLE", NVML_DEVICE_MIG_ENABLE)

    mem = _optional(nvml, notes, "memory", lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).total))
    cc = _optional(nvml, notes, "compute capability", lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle))
    bus = _optional(nvml, notes, "memory bus width", lambda: int(nvml.nvmlDeviceGetMemoryBusWidth(handle)))
    mclk = _optional(nvml, notes, "max memory clock", lambda: int(nvml.nvmlDeviceGetMaxClockInfo(handle, clock_mem)))
    sclk = _optional(nvml, notes, "max SM clock", lambda: int(nvml.nvmlDeviceGetMaxClockInfo(handle, clock_sm)))
    power_mw = _optional(nvml, notes, "power limit", lambda: nvml.nvmlDeviceGetPowerManagementLimit(handle))
    mig = _optional(nvml, notes, "MIG mode", lambda: nvml.nvmlDeviceGetMigMode(handle))

    catalog_id = _match_catalog(name, registry)
    if registry is not None and catalog_id is None:
        notes.append(f"'{name}' matches no catalogue entry's nvml_names; pass --gpu explicitly")
    return DetectedGpu(
        index=index, name=name, memory_total_bytes=mem,
        compute_capability=f"{cc[0]}.{cc[1]}" if cc is not None else None,
        memory_bus_width_bits=bus, max_memory_clock_mhz=mclk, max_sm_clock_mhz=sclk,
        power_limit_watts=None if power_mw is None else power_mw / 1000.0,
        mig_enabled=None if mig is None else bool(mig[0] == mig_enable),
        catalog_id=catalog_id, notes=notes,
    )


def _detect_gpus(registry: "Registry | None") -> tuple[list[DetectedGpu], str | None, str | None]:
    """(gpus, driver version, reason-when-none). Every failure becomes a reason; never raises."""
    try:
        import pynvml as nvml  # lazy: optional at run time, and importable without a driver
    except ImportError:
        return [], None, f"nvidia-ml-py is not installed: {INSTALL_HINT}; running on the CPU"
    except Exception as e:  # a broken installation must not break detection
        return [], None, f"nvidia-ml-py failed to import ({e}); running on the CPU"

    base = _error_class(nvml, "NVMLError")
    no_driver = tuple(_error_class(nvml, n) for n in ("NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded"))
    try:
        nvml.nvmlInit()
    except no_driver as e:
        return [], None, f"no NVIDIA driver found ({e}); running on the CPU"
    except _error_class(nvml, "NVMLError_NoPermission") as e:
        return [], None, f"no permission to use the NVIDIA driver ({e}); running on the CPU"
    except base as e:
        return [], None, f"NVML failed to initialise ({e}); running on the CPU"
    except Exception as e:
        return [], None, f"NVML failed to initialise ({type(e).__name__}: {e}); running on the CPU"
    try:
        driver = _optional(nvml, [], "driver version", lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        try:
            count = int(nvml.nvmlDeviceGetCount())
            gpus = [_gpu(nvml, i, registry) for i in range(count)]
        except Exception as e:  # NVMLError or anything unexpected from the bindings
            return [], driver, f"NVML failed to list GPUs ({e}); running on the CPU"
        if not gpus:
            return [], driver, "the NVIDIA driver reports no GPUs; running on the CPU"
        return gpus, driver, None
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def detect_devices(registry: "Registry | None" = None) -> DetectedDevices:
    """Detect NVIDIA GPUs (matched to ``registry``'s catalogue by NVML name) and the CPU.

    Never raises: a machine without nvidia-ml-py, the driver or the permission to use it is
    reported as CPU-only with the reason. Pass the registry to match GPUs to catalogue ids
    (without it ``catalog_id`` stays None).
    """
    gpus, driver, reason = _detect_gpus(registry)
    return DetectedDevices(gpus=gpus, cpu=detect_cpu(), driver_version=driver, reason=reason)
