"""Workload files (``--workload FILE``): the planner's flags as YAML keys.

Keys are the long flag names with ``-`` written as ``_`` (``max_gpus``, ``kv_dtype`` ...). A flag
given on the command line wins over the file. Unknown keys are an error, like everything else the
user gives that llamasize would otherwise ignore. Example::

    model: maverick
    quant: int4
    ctx: 1M
    batch: 4
    gpu: [h100, h200]
    budget: 60
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llamasize.errors import DataError
from llamasize.files import pydantic_message, read_yaml_file


class Workload(BaseModel):
    """The keys a workload file may set (all optional)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    quant: str | None = None
    ctx: str | None = None
    batch: str | None = None
    gpu: list[str] | None = None
    exclude_gpu: list[str] | None = None
    max_gpus: int | None = Field(default=None, gt=0)
    max_nodes: int | None = Field(default=None, gt=0)
    budget: float | None = Field(default=None, gt=0)
    engine: str | None = None
    kv_layout: str | None = None
    kv_dtype: str | None = None
    headroom: float | None = Field(default=None, ge=0, lt=1)
    objective: str | None = None
    mau: int | None = Field(default=None, ge=0)
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    mem_fraction_static: float | None = Field(default=None, gt=0, le=1)
    text_only: bool | None = None
    layouts: str | None = None
    # performance / cost workload (used by perf, cost and the perf-aware plan objectives)
    prompt_tokens: str | None = None
    output_tokens: str | None = None
    concurrency: str | None = None
    requests_per_day: str | None = None
    tokens_per_day: str | None = None

    @field_validator("ctx", "batch", "prompt_tokens", "output_tokens", "concurrency", "requests_per_day",
                     "tokens_per_day", mode="before")
    @classmethod
    def _count_as_text(cls, v):
        """Counts may be written as numbers or with suffixes (``1M``); keep them as text for parse_count."""
        if isinstance(v, bool):
            raise ValueError("must be a number such as 8192 or 8K")
        return None if v is None else str(v)

    @field_validator("gpu", "exclude_gpu", mode="before")
    @classmethod
    def _list(cls, v):
        """Accept ``h100,h200`` as well as a YAML list."""
        if isinstance(v, str):
            return [x.strip() for x in v.split(",") if x.strip()]
        return v


def load_workload(path: Path) -> Workload:
    """Read and validate a workload YAML file (DataError with the file name on any problem)."""
    data = read_yaml_file(Path(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DataError(f"{path}: a workload file must be a mapping of keys, got {type(data).__name__}")
    try:
        return Workload.model_validate(data)
    except ValidationError as e:
        raise DataError(f"{path}: {pydantic_message(e)}") from None


def split_list(values: list[str] | None) -> list[str]:
    """Flatten repeated and comma-separated option values (``--gpu h100,h200 --gpu b200``)."""
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out
