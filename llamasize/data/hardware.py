"""The GPU catalogue schema (``hardware_catalog/*.yaml``), validated with pydantic.

Numbers are stored in the units datasheets use (GB, GB/s, dense TFLOPS) so each can be checked
against its source by eye; the properties convert them to bytes and FLOP/s. A value that no
source gives is null with a note, never made up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from llamasize.data.spec import Frozen, Label

from llamasize.units import GIB, MIB

#: Ranges a catalogue entry's rates must fall in (user catalogues too). Without them ``.inf`` or
#: ``1e300`` TFLOPS divided by zero and ``5e-324`` GB/s made every time infinite (internal errors on
#: the JSON; found by the fuzz suite). The floors are the calibration file's (1 MFLOP/s, 1 MB/s); the
#: ceilings about a thousand times the fastest GPU of the bundled catalogue (b200: 9,000 dense FP4
#: TFLOPS, 8,000 GB/s).
TFLOPS_RANGE = {"ge": 1e-6, "le": 1e7, "allow_inf_nan": False}
GB_PER_S_RANGE = {"ge": 1e-3, "le": 1e7, "allow_inf_nan": False}


def iso_text(v):
    """A date as its ISO text (YAML reads ``2025-01-01`` as a date); anything else unchanged."""
    return v.isoformat() if hasattr(v, "isoformat") else v


#: Bytes per unit of a printed memory figure (deviceQuery's "MBytes" and rocminfo's "KB" are binary).
_UNIT_BYTES = {"bytes": 1, "KiB": 2**10, "MiB": MIB, "GiB": GIB}

MemoryBasis = Literal["cuda_total", "smi_total", "api_total", "binary_capacity"]


class MemoryReport(Frozen):
    """One device-memory total as a tool printed it on a real machine (docs/facts/hardware-memory.md).

    ``value`` and ``unit`` are as printed (``85100068864 bytes``, ``81559 MiB``, ``22.20 GiB``), so
    ``bytes`` is exact for byte and MiB figures and good to half a printed digit for GiB ones."""

    value: float = Field(gt=0, le=2**50)
    unit: Literal["bytes", "KiB", "MiB", "GiB"]
    #: What printed it: ``deviceQuery``, ``vLLM 0.19.0 log``, ``PyTorch OOM message``, ``nvidia-smi``, ...
    tool: str
    #: The device name printed with the figure, when there is one.
    device_name: str | None = None
    driver: str | None = None
    source: str
    #: Date of the source (commit or post), ISO text; None when the facts do not record it.
    as_of: str | None = None
    #: Why the figure is doubtful (unnamed SKU, program of unknown method, ...); None = firm.
    flag: str | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_as_text(cls, v):
        """Dates as ISO text (``iso_text``)."""
        return iso_text(v)

    @property
    def bytes(self) -> int:
        """The figure in bytes (``value`` x the unit)."""
        return round(self.value * _UNIT_BYTES[self.unit])


def _lowest(reports: list[MemoryReport]) -> MemoryReport | None:
    """The lowest firm report, else the lowest flagged one, else None."""
    for group in ([r for r in reports if r.flag is None], reports):
        if group:
            return min(group, key=lambda r: r.bytes)
    return None


class Memory(Frozen):
    """Device memory: the datasheet capacity and the totals the software stack reports.

    Which figure is budgeted (``bytes``, ``basis``), in order (DESIGN rules 5 and 9: budget what the
    engine sees):

    1. ``cuda_totals``: what the CUDA / HIP runtime reports as the device total
       (``torch.cuda.mem_get_info()[1]``, deviceQuery's ``totalGlobalMem``, vLLM's ``total_memory``),
       the figure vLLM multiplies by ``gpu_memory_utilization``. It is nvidia-smi's total less the
       driver's reservation (240-1,103 MiB on 13 machines, docs/facts/hardware-memory.md 1c), and it varies
       with the driver, so the lowest firm report is used; a flagged report only when no firm one exists.
    2. else ``smi_totals`` (nvidia-smi ``memory.total``, rocm-smi VRAM total): an upper bound of (1).
    3. else ``api_totals``: a cloud API's per-GPU figure (EC2 ``MemoryInfo.SizeInMiB``), which for the
       B200 equals nvidia-smi's total and for other GPUs is a marketing figure (docs/facts/hardware-memory.md 0).
    4. else the binary capacity ``datasheet_gb`` x 2^30 (memory chips come in binary sizes: an
       80 GB HBM2e card has 80 GiB), also an upper bound.

    (2) to (4) are flagged (``flag``) and the flag is shown by ``fit`` and ``plan``."""

    datasheet_gb: float = Field(ge=0.001, le=10_000)
    type: str | None = None
    source: str
    cuda_totals: list[MemoryReport] = []
    smi_totals: list[MemoryReport] = []
    api_totals: list[MemoryReport] = []
    notes: list[str] = []

    @property
    def budget_report(self) -> MemoryReport | None:
        """The report ``bytes`` comes from (None for the binary capacity)."""
        return _lowest(self.cuda_totals) or _lowest(self.smi_totals) or _lowest(self.api_totals)

    @property
    def basis(self) -> MemoryBasis:
        """Which figure ``bytes`` is (see the class docstring)."""
        if _lowest(self.cuda_totals) is not None:
            return "cuda_total"
        if self.smi_totals:
            return "smi_total"
        return "api_total" if self.api_totals else "binary_capacity"

    @property
    def bytes(self) -> int:
        """Total device memory to budget against (see the class docstring)."""
        r = self.budget_report
        return r.bytes if r is not None else round(self.datasheet_gb * GIB)

    @property
    def flag(self) -> str | None:
        """Why the budgeted total may be off (None when it is a firm CUDA/HIP report)."""
        r = self.budget_report
        if self.basis == "cuda_total":
            return None if r.flag is None else f"the device total ({r.tool}) is flagged: {r.flag}"
        if self.basis == "smi_total":
            return (f"no CUDA/HIP-reported total is sourced; budgeted from {r.tool}'s total, an upper bound "
                    "(CUDA reports it less the driver's reservation, 240-1,103 MiB on the GPUs measured)")
        if self.basis == "api_total":
            return (f"no CUDA/HIP- or driver-reported total is sourced; budgeted from {r.tool} ({r.source}), "
                    "which is not what the driver reports on most GPUs")
        return (f"no reported device total is sourced; budgeted from the binary capacity ({self.datasheet_gb:g} GB "
                f"{self.type or 'memory'} = {self.datasheet_gb:g} GiB), an upper bound (CUDA reports less: the "
                "driver's reservation is 240-1,103 MiB on the GPUs measured)")

    @property
    def budget_source(self) -> str:
        """Where the budgeted total comes from, for the ``device_memory`` assumption."""
        r = self.budget_report
        if r is None:
            return f"binary capacity of the datasheet's {self.datasheet_gb:g} GB ({self.source})"
        return f"{r.tool}{', driver ' + r.driver if r.driver else ''}: {r.source}"


class Flops(Frozen):
    """Dense (no sparsity) tensor-core rates in TFLOPS (TOPS for int8). Null = not found."""

    bf16: float | None = Field(default=None, **TFLOPS_RANGE)
    fp16: float | None = Field(default=None, **TFLOPS_RANGE)
    fp8: float | None = Field(default=None, **TFLOPS_RANGE)
    int8: float | None = Field(default=None, **TFLOPS_RANGE)
    fp4: float | None = Field(default=None, **TFLOPS_RANGE)
    #: Dense FP32 matmul rate (only where sourced or measured).
    fp32: float | None = Field(default=None, **TFLOPS_RANGE)
    source: str
    notes: list[str] = []

    def per_second(self, dtype: str) -> float | None:
        """Dense rate in FLOP/s for a compute dtype (``bf16``, ``fp16``, ``fp8``, ``int8``, ``fp4``, ``fp32``)."""
        tflops = getattr(self, dtype)
        return None if tflops is None else tflops * 1e12


class NativeFormats(Frozen):
    """Low-precision formats the tensor cores execute natively."""

    fp8: bool
    fp4: bool
    source: str


class Interconnect(Frozen):
    """GPU-to-GPU link inside a node."""

    type: str
    #: Per-GPU bandwidth as the datasheet states it (NVLink figures are bidirectional totals).
    bandwidth_gb_per_s: float | None = Field(default=None, **GB_PER_S_RANGE)
    #: True for NVLink / Infinity Fabric class links; False for PCIe-only boards.
    fast: bool
    source: str
    notes: list[str] = []

    @property
    def bandwidth_bytes_per_s(self) -> float | None:
        """Bandwidth in bytes/s, or None when unknown."""
        return None if self.bandwidth_gb_per_s is None else self.bandwidth_gb_per_s * 1e9


class Price(Frozen):
    """One dated price quote per GPU-hour."""

    #: At least a tenth of a cent, as cost's --usd-per-gpu-hour (5e-324 made break-even volumes infinite).
    usd_per_gpu_hour: float = Field(ge=0.001, lt=1000)
    kind: Literal["on_demand", "spot", "reserved", "capacity_block"]
    provider: str
    as_of: str | None = None
    source: str
    label: Label = "reported"
    note: str | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_as_text(cls, v):
        """Dates as ISO text (``iso_text``)."""
        return iso_text(v)


class GpuSpec(Frozen):
    """One GPU type of the catalogue."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    aliases: list[str] = []
    #: ``cpu`` only for the host itself as a device (``--gpu local`` without a GPU).
    vendor: Literal["nvidia", "amd", "cpu"]
    architecture: str
    compute_capability: str | None = None
    memory: Memory
    memory_bandwidth_gb_per_s: float | None = Field(default=None, **GB_PER_S_RANGE)
    bandwidth_source: str
    flops: Flops
    native: NativeFormats
    interconnect: Interconnect
    gpus_per_node: int = Field(gt=0, le=72)
    gpus_per_node_note: str | None = None
    tdp_watts: int | None = Field(default=None, gt=0)
    tdp_source: str | None = None
    #: Price quotes; the first ``on_demand`` quote is the default price.
    prices: list[Price] = []
    #: Device names as NVML reports them (``nvmlDeviceGetName``), for detection.
    nvml_names: list[str] = []
    #: Values of the ``nvidia.com/gpu.product`` node label (GPU feature discovery).
    gfd_products: list[str] = []
    #: Values of GKE's ``cloud.google.com/gke-accelerator`` label.
    gke_accelerators: list[str] = []
    notes: list[str] = []
    #: True when even the entry's memory size is not from a sourced fact (outputs warn).
    unverified: bool = False

    def __hash__(self) -> int:  # dict/list fields make the generated hash fail
        return hash((self.id, self.name))

    @property
    def memory_bytes(self) -> int:
        """Total device memory to budget against: what CUDA/HIP reports (see ``Memory``)."""
        return self.memory.bytes

    @property
    def memory_bandwidth_bytes_per_s(self) -> float | None:
        """Peak memory bandwidth in bytes/s, None when unknown."""
        return None if self.memory_bandwidth_gb_per_s is None else self.memory_bandwidth_gb_per_s * 1e9

    def default_price(self, kind: str = "on_demand") -> Price | None:
        """The first quote of the given kind, or None when the catalogue has none."""
        for p in self.prices:
            if p.kind == kind:
                return p
        return None

    def all_names(self) -> list[str]:
        """The id and every alias, for lookups."""
        return [self.id, *self.aliases]
