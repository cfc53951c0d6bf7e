"""Everything CuPy-specific, in one small module: import, device check, synchronisation, timing with
CUDA events, memory-pool accounting and host transfer.

Nothing else in llamasize imports CuPy. Every function imports it lazily, so this module imports
(and the CPU path runs) without CuPy or a driver. Untested on this project's CI (no GPU there);
the calls are CuPy's documented public API (``cupy.cuda.runtime.getDeviceCount``,
``cupy.cuda.Event`` / ``cupy.cuda.get_elapsed_time`` in milliseconds,
``cupy.get_default_memory_pool().used_bytes()`` / ``.total_bytes()`` / ``.free_all_blocks()``,
``cupy.get_array_module``, ``cupy.asnumpy``).
"""

from __future__ import annotations

from typing import Any

INSTALL_HINT = "install the gpu extra (pip install 'llamasize[gpu]') for CuPy"


def load_cupy() -> tuple[Any | None, str | None]:
    """``(cupy, None)`` when CuPy imports and sees at least one CUDA device, else ``(None, reason)``."""
    try:
        import cupy
    except ImportError:
        return None, f"CuPy is not installed: {INSTALL_HINT}"
    except Exception as e:  # a broken CUDA installation raises all sorts of errors at import
        return None, f"CuPy failed to import ({type(e).__name__}: {e})"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # CUDARuntimeError without a driver
        return None, f"CuPy found no usable CUDA device ({e})"
    if count < 1:
        return None, "CuPy found no CUDA device"
    return cupy, None


def _cupy():
    """The CuPy module (only called after ``load_cupy`` succeeded)."""
    import cupy

    return cupy


def device_name() -> str:
    """Name of the current CUDA device (e.g. "NVIDIA H100 80GB HBM3")."""
    cp = _cupy()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props.get("name", b"CUDA device")
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait until every kernel queued on the current device has finished."""
    _cupy().cuda.Device().synchronize()


class EventTimer:
    """Context manager timing GPU work with CUDA events; ``seconds`` is set on exit.

    Events are recorded on the current stream and the end event is synchronised, so the time is
    the device time of the work queued inside the block.
    """

    def __init__(self) -> None:
        """An unstarted timer."""
        self.seconds: float | None = None
        self._start = self._end = None

    def __enter__(self) -> "EventTimer":
        """Record the start event on the current stream."""
        cp = _cupy()
        self._start, self._end = cp.cuda.Event(), cp.cuda.Event()
        self._start.record()
        return self

    def __exit__(self, *exc) -> None:
        """Record the end event, wait for it, and set ``seconds``."""
        cp = _cupy()
        self._end.record()
        self._end.synchronize()
        self.seconds = cp.cuda.get_elapsed_time(self._start, self._end) / 1000.0  # ms -> s


def pool_used_bytes() -> int:
    """Bytes of the default memory pool currently handed out to arrays."""
    return int(_cupy().get_default_memory_pool().used_bytes())


def pool_total_bytes() -> int:
    """Bytes the default memory pool holds from the device (used + cached free blocks)."""
    return int(_cupy().get_default_memory_pool().total_bytes())


def pool_release() -> None:
    """Return the pool's cached free blocks to the device (so ``pool_total_bytes`` restarts from
    what is in use)."""
    _cupy().get_default_memory_pool().free_all_blocks()


def device_free_bytes() -> int:
    """Free device memory reported by the CUDA runtime (``cudaMemGetInfo``)."""
    free, _total = _cupy().cuda.runtime.memGetInfo()
    return int(free)


def is_cupy_array(a: Any) -> bool:
    """True for a CuPy ndarray (checked by module name: CuPy need not be importable)."""
    return type(a).__module__.split(".")[0] == "cupy"


def array_module(a: Any):
    """``cupy.get_array_module(a)``."""
    return _cupy().get_array_module(a)


def to_numpy(a: Any):
    """Copy a CuPy array to the host (``cupy.asnumpy``)."""
    return _cupy().asnumpy(a)
