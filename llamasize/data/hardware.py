"""The GPU catalogue schema (``hardware_catalog/*.yaml``), validated with pydantic.

Numbers are stored in the units datasheets use (GB, GB/s, dense TFLOPS) so each can be checked
against its source by eye; the properties convert them to bytes and FLOP/s. A value that no
source gives is null with a note, never made up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from llamasize.data.spec import Frozen, Label

from llamasize.units import MIB

#: Ranges a catalogue entry's rates must fall in (user catalogues too). Without them ``.inf`` or
#: ``1e300`` TFLOPS divided by zero and ``5e-324`` GB/s made every time infinite (internal errors on
#: the JSON; found by the fuzz suite). The floors are the calibration file's (1 MFLOP/s, 1 MB/s); the
#: ceilings about a thousand times the fastest GPU of the bundled catalogue (b200: 9,000 dense FP4
#: TFLOPS, 8,000 GB/s).
TFLOPS_RANGE = {"ge": 1e-6, "le": 1e7, "allow_inf_nan": False}
GB_PER_S_RANGE = {"ge": 1e-3, "le": 1e7, "allow_inf_nan": False}


class Memory(Frozen):
    """Device memory: the datasheet figure and, where sourced, what the driver reports."""

    datasheet_gb: float = Field(ge=0.001, le=10_000)
    type: str | None = None
    #: Total memory as nvidia-smi / NVML reports it (MiB). Null when no source gives it.
    driver_mib: int | None = Field(default=None, gt=0)
    source: str
    driver_source: str | None = None

    @model_validator(mode="after")
    def _driver_source(self) -> "Memory":
        if self.driver_mib is not None and not self.driver_source:
            raise ValueError("driver_mib needs driver_source")
        return self

    @property
    def bytes(self) -> int:
        """Memory to budget against: the driver's figure when known, else the datasheet's
        decimal GB (which is lower than what the driver shows, so the estimate errs safe)."""
        if self.driver_mib is not None:
            return self.driver_mib * MIB
        return round(self.datasheet_gb * 10**9)

    @property
    def basis(self) -> Literal["driver", "datasheet"]:
        """Which figure ``bytes`` comes from."""
        return "driver" if self.driver_mib is not None else "datasheet"


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
        """YAML reads 2025-01-01 as a date; keep it as the ISO text."""
        return v.isoformat() if hasattr(v, "isoformat") else v


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
    #: Cloud instance types carrying this GPU, with the GPU count per instance.
    instance_types: dict[str, int] = {}
    #: Values of GKE's ``cloud.google.com/gke-accelerator`` label.
    gke_accelerators: list[str] = []
    notes: list[str] = []
    #: True when even the entry's memory size is not from a sourced fact (outputs warn).
    unverified: bool = False

    def __hash__(self) -> int:  # dict/list fields make the generated hash fail
        return hash((self.id, self.name))

    @property
    def memory_bytes(self) -> int:
        """Total device memory to budget against (see ``Memory.bytes``)."""
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
