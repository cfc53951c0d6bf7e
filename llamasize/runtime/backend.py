"""The array module the runtime computes with: numpy on the CPU (always), CuPy on an NVIDIA GPU.

``get_backend("auto")`` picks CuPy when it imports and sees a device, else numpy with the reason;
``get_backend("cuda")`` raises ``UsageError`` with the reason when CuPy or the device is missing
(an explicit request must not silently measure the CPU); ``get_backend("cpu")`` is numpy. Every
CuPy call lives in ``runtime/gpu.py``; this module only dispatches to it.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass
from typing import Any, Iterable, Literal

import numpy as np

from llamasize.errors import UsageError
from llamasize.runtime import gpu
from llamasize.text import quote_value

DEVICES = ("auto", "cpu", "cuda")
#: The runtime's dtype per device: float32 with numpy on the CPU, float16 on a GPU (tensor cores).
RUNTIME_DTYPE = {"cpu": "float32", "cuda": "float16"}


class _CpuTimer:
    """Context manager timing host work with ``time.perf_counter``; ``seconds`` is set on exit."""

    def __init__(self) -> None:
        """An unstarted timer."""
        self.seconds: float | None = None
        self._t0 = 0.0

    def __enter__(self) -> "_CpuTimer":
        """Start timing."""
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        """Stop timing and set ``seconds``."""
        self.seconds = time.perf_counter() - self._t0


class PeakMemory:
    """Context manager measuring the peak of memory allocated inside the block, above what was
    allocated when it started; ``extra_peak_bytes`` is set on exit.

    numpy: ``tracemalloc`` (numpy reports every array buffer to it, in its own domain); the peak
    also includes Python objects, which are small next to the arrays. tracemalloc slows Python
    code down, so never time inside this block. CuPy: the default pool's free blocks are released
    at the start; the pool keeps every block it allocates until released, so the bytes it holds at
    the end are its high-water mark (up to fragmentation).
    """

    def __init__(self, backend: "Backend") -> None:
        """A tracker for ``backend`` (numpy or CuPy)."""
        self.backend = backend
        self.extra_peak_bytes: int | None = None
        self._base = 0
        self._was_tracing = False

    def __enter__(self) -> "PeakMemory":
        """Start tracking from the memory allocated now."""
        if self.backend.name == "cupy":
            self.backend.synchronize()
            gpu.pool_release()
            self._base = gpu.pool_used_bytes()
        else:
            self._was_tracing = tracemalloc.is_tracing()
            if not self._was_tracing:
                tracemalloc.start()
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc) -> None:
        """Stop tracking and set ``extra_peak_bytes``."""
        if self.backend.name == "cupy":
            self.backend.synchronize()
            self.extra_peak_bytes = max(0, gpu.pool_total_bytes() - self._base)
        else:
            peak = tracemalloc.get_traced_memory()[1]
            if not self._was_tracing:
                tracemalloc.stop()
            self.extra_peak_bytes = max(0, peak - self._base)


@dataclass(frozen=True)
class Backend:
    """An array module and the few device operations the runtime needs."""

    #: "numpy" or "cupy".
    name: Literal["numpy", "cupy"]
    #: "cpu" or "cuda".
    device: Literal["cpu", "cuda"]
    #: The array module (``numpy`` or ``cupy``).
    xp: Any
    #: Why the CPU was chosen when "auto" could not use a GPU (None otherwise).
    reason: str | None = None
    #: Human-readable device name ("NVIDIA H100 80GB HBM3", or the CPU's model name).
    device_name: str = "CPU"

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU: numpy is synchronous)."""
        if self.name == "cupy":
            gpu.synchronize()

    def timer(self):
        """A context manager whose ``seconds`` attribute holds the elapsed time of the block
        (CUDA events on the GPU, ``perf_counter`` on the CPU)."""
        return gpu.EventTimer() if self.name == "cupy" else _CpuTimer()

    def peak_memory(self) -> PeakMemory:
        """A context manager measuring the peak allocation inside the block (see ``PeakMemory``)."""
        return PeakMemory(self)

    def allocated_bytes(self, arrays: Iterable[Any]) -> int:
        """Bytes the given arrays own (sum of ``nbytes``; views of one buffer counted once by
        their base). Works the same for numpy and CuPy arrays."""
        seen: set[int] = set()
        total = 0
        for a in arrays:
            base = a.base if getattr(a, "base", None) is not None else a
            if id(base) in seen:
                continue
            seen.add(id(base))
            total += int(base.nbytes)
        return total

    def pool_bytes(self) -> tuple[int, int] | None:
        """CuPy memory pool ``(used, held)`` bytes; None on the CPU."""
        if self.name != "cupy":
            return None
        return gpu.pool_used_bytes(), gpu.pool_total_bytes()

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move a host array to the device (no copy on the CPU when the dtype already matches)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """A host numpy array of ``a`` (a copy from the GPU; the same array on the CPU)."""
        return gpu.to_numpy(a) if self.name == "cupy" else np.asarray(a)


def _cpu_name() -> str:
    """The CPU model name (see ``llamasize.runtime.detect.detect_cpu``)."""
    from llamasize.runtime.detect import detect_cpu

    return detect_cpu().model_name


def cpu_backend(reason: str | None = None) -> Backend:
    """The numpy backend."""
    return Backend(name="numpy", device="cpu", xp=np, reason=reason, device_name=_cpu_name())


def get_backend(device: str = "auto") -> Backend:
    """The backend for ``--device``: ``auto`` (CuPy when importable with a device, else numpy with
    the reason), ``cpu`` (numpy) or ``cuda`` (CuPy; ``UsageError`` with the reason when missing)."""
    key = device.strip().lower()
    if key not in DEVICES:
        raise UsageError(f"unknown device {quote_value(device)} (choices: {', '.join(DEVICES)})")
    if key == "cpu":
        return cpu_backend()
    cupy, why = gpu.load_cupy()
    if cupy is None:
        if key == "cuda":
            raise UsageError(f"--device cuda: {why}")
        return cpu_backend(f"{why}; running on the CPU with numpy")
    return Backend(name="cupy", device="cuda", xp=cupy, device_name=gpu.device_name())


def array_module(a: Any):
    """numpy or CuPy, whichever module ``a`` belongs to."""
    return gpu.array_module(a) if gpu.is_cupy_array(a) else np
