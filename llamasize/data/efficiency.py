"""Fitted speed-model efficiencies per GPU generation (``hardware_catalog/efficiency/fitted.yaml``).

A few physical parameters per generation (``architecture`` of a catalogue entry), not per model:
the achievable fraction of the GEMM peak at many rows (``gemm``) and the rows at which a GEMM
reaches half of it (``gemm_rows_half``), the achievable fraction of the memory bandwidth for a
large step (``bandwidth``) and the bytes per step at which streaming reaches half of it
(``bandwidth_bytes_half``), the achievable fraction of the link (``comm``) and the fixed cost of a
collective (``collective_latency_s``). ``benchmarks/fit_efficiency.py`` fits them on the published
calibration set (docs/facts/benchmarks.md) and writes the file; each generation records which rows it
was fitted on. A generation that is not in the file has no fitted parameters (``perf`` then uses
its assumed defaults and says so).
"""

from __future__ import annotations

from functools import lru_cache

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamasize.errors import DataError
from llamasize.files import bundled_dir

FITTED_FILE = ("efficiency", "fitted.yaml")


class FittedEfficiency(BaseModel):
    """The fitted parameters of one generation and where they come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gemm: float = Field(gt=0, le=1)
    gemm_rows_half: float = Field(ge=0)
    bandwidth: float = Field(gt=0, le=1)
    bandwidth_bytes_half: float = Field(ge=0)
    comm: float = Field(gt=0, le=1)
    collective_latency_s: float = Field(ge=0)
    #: The calibration rows the parameters were fitted on, and by what.
    source: str


@lru_cache(maxsize=1)
def load_fitted() -> dict[str, FittedEfficiency]:
    """Generation -> fitted parameters (the bundled file; DataError, one line, when it is malformed)."""
    path = bundled_dir("hardware_catalog").joinpath(*FITTED_FILE)
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {str(k): FittedEfficiency(**v) for k, v in (raw.get("generations") or {}).items()}
    except (yaml.YAMLError, ValidationError, TypeError, AttributeError) as e:
        raise DataError(f"{path}: invalid fitted efficiencies ({str(e).splitlines()[0]})") from None


def fitted_for(architecture: str | None) -> FittedEfficiency | None:
    """The fitted parameters of a GPU generation, None when it has none."""
    if not architecture:
        return None
    return load_fitted().get(architecture.strip().lower())
