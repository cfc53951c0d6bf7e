"""Cloud instance types (``hardware_catalog/instances/*.yaml``): instance -> catalogue GPU x count.

One file per provider (AWS, GCP, Azure), sources in docs/facts/hardware-memory.md section 3. Each entry
names a catalogue GPU and how many the instance carries; the per-GPU memory the provider prints is a
cross-check that the mapping names the right GPU (``check_instance``), not a figure that is budgeted
(the GPU's own ``Memory`` is).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llamasize.data.hardware import GpuSpec
from llamasize.data.spec import Frozen
from llamasize.errors import DataError
from llamasize.units import GIB, MIB

#: Bytes per unit of a provider's memory figure (Azure prints "GB" that is sometimes GiB: both are
#: accepted by the cross-check's range).
_UNIT_BYTES = {"MiB": MIB, "GiB": GIB, "GB": 10**9}
#: The cross-check accepts a per-GPU figure from 90 % of the datasheet's decimal GB to 110 % of its
#: binary GiB: providers print decimal GB (L4: 22888 MiB = 24e9 bytes), binary GiB (H100: 81920 MiB)
#: or the driver's figure (B200: 183359 MiB); a GPU of another memory size falls outside.
_LOW, _HIGH = 0.90, 1.10


class GpuMemoryAsPrinted(Frozen):
    """The GPU memory a provider prints for an instance, per GPU or for the whole instance."""

    value: float = Field(gt=0, le=10**7)
    unit: Literal["MiB", "GiB", "GB"]
    per: Literal["gpu", "instance"]

    def per_gpu_bytes(self, gpus: int) -> int:
        """Bytes per GPU."""
        total = self.value * _UNIT_BYTES[self.unit]
        return round(total / gpus if self.per == "instance" else total)


class InstanceType(Frozen):
    """One cloud instance (VM) type."""

    #: The provider's exact name (``p5.48xlarge``, ``a3-highgpu-8g``, ``Standard_ND96isr_H100_v5``).
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100)
    #: Catalogue GPU id.
    gpu: str
    gpus: int = Field(gt=0, le=72)
    gpu_memory: GpuMemoryAsPrinted | None = None
    vcpus: int | None = Field(default=None, gt=0)
    host_memory_mib: int | None = Field(default=None, gt=0)
    #: AWS: the ``karpenter.k8s.aws/instance-gpu-name`` label value Karpenter sets on the node.
    karpenter_gpu_name: str | None = None
    #: GCP: the accelerator type (= the ``cloud.google.com/gke-accelerator`` label value).
    accelerator: str | None = None
    source: str
    notes: list[str] = []


class InstanceCatalog(Frozen):
    """One provider's file of instance types."""

    provider: Literal["aws", "gcp", "azure"] | str
    source: str
    instances: list[InstanceType]


def check_instance(inst: InstanceType, gpu: GpuSpec, where: str) -> None:
    """DataError unless the instance's printed GPU memory and accelerator agree with ``gpu``."""
    if inst.accelerator is not None and inst.accelerator not in gpu.gke_accelerators:
        raise DataError(f"{where}: instance {inst.id}: accelerator '{inst.accelerator}' is not one of "
                        f"{gpu.id}'s gke_accelerators ({', '.join(gpu.gke_accelerators) or 'none'})")
    if inst.gpu_memory is None:
        return
    per_gpu = inst.gpu_memory.per_gpu_bytes(inst.gpus)
    low, high = _LOW * gpu.memory.datasheet_gb * 1e9, _HIGH * gpu.memory.datasheet_gb * GIB
    if not low <= per_gpu <= high:
        raise DataError(f"{where}: instance {inst.id}: {per_gpu / GIB:.1f} GiB per GPU as printed does not match "
                        f"{gpu.id} ({gpu.memory.datasheet_gb:g} GB); is the GPU right?")


def shaped_gpu(gpu: GpuSpec, inst: InstanceType, provider: str) -> GpuSpec:
    """The GPU as the instance carries it: a node is one instance (``gpus_per_node`` = its GPU count)."""
    return gpu.model_copy(update={
        "gpus_per_node": inst.gpus,
        "gpus_per_node_note": f"{provider} {inst.id}: {inst.gpus} x {gpu.id} per instance ({inst.source})",
    })
