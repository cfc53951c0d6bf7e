"""Pricing of GPU time: the price basis, USD per GPU-hour, and $/1M tokens at a utilisation.

- **Price per GPU-hour**: a catalogue quote of the chosen kind (on-demand, spot, reserved,
  capacity block), a price given by the user, or owned hardware:
  ``capex / (years x 8760 h) + TDP kW x PUE x $/kWh`` (straight-line amortisation plus power).
- **$/1M tokens** at a utilisation ``u``, from the speed model's steady state with B concurrent
  sequences: GPU-seconds per request ``= TTFT + O x TPOT / B``; input ``= $/s x TTFT / P``, output
  ``= $/s x TPOT / B``, blended ``= $/s x (TTFT + O x TPOT / B) / (P + O)``, each divided by
  ``u``, times 10^6.

Used by the planner (ranking) and by ``cost`` (the report); neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from llamasize.data.hardware import GpuSpec
from llamasize.errors import UsageError
from llamasize.estimate.perf import PerfEstimate
from llamasize.text import quote_value

PRICE_KINDS = ("on_demand", "spot", "reserved", "capacity_block", "owned")
HOURS_PER_YEAR = 8760
SECONDS_PER_DAY = 86_400
#: Default amortisation term for owned hardware (assumed; a common straight-line depreciation
#: period for servers; override with --amortization-years).
AMORTIZATION_YEARS = 3.0



@dataclass(frozen=True)
class PriceBasis:
    """How a GPU-hour is priced."""

    kind: str = "on_demand"
    #: A price per GPU-hour given by the user (wins over the catalogue).
    usd_per_gpu_hour: float | None = None
    capex_usd_per_gpu: float | None = None
    amortization_years: float = AMORTIZATION_YEARS
    usd_per_kwh: float | None = None
    pue: float = 1.0
    utilization: float = 1.0


def gpu_hour_price(gpu: GpuSpec, basis: PriceBasis) -> tuple[float | None, str]:
    """USD per GPU-hour and where it comes from (None when the catalogue has no such quote)."""
    if basis.kind not in PRICE_KINDS:
        raise UsageError(f"unknown price kind {quote_value(basis.kind)} (choices: {', '.join(PRICE_KINDS)})")
    if basis.usd_per_gpu_hour is not None:
        return basis.usd_per_gpu_hour, "--usd-per-gpu-hour"
    if basis.kind == "owned":
        if basis.capex_usd_per_gpu is None or basis.usd_per_kwh is None:
            raise UsageError("--price owned needs --capex-usd-per-gpu and --usd-per-kwh")
        if gpu.tdp_watts is None:
            return None, f"{gpu.id} has no TDP in the catalogue: power cost unknown"
        capex_h = basis.capex_usd_per_gpu / (basis.amortization_years * HOURS_PER_YEAR)
        power_h = gpu.tdp_watts / 1000 * basis.pue * basis.usd_per_kwh
        return capex_h + power_h, (f"owned: ${basis.capex_usd_per_gpu:,.0f} over {basis.amortization_years:g} years "
                                   f"+ {gpu.tdp_watts} W x PUE {basis.pue:g} x ${basis.usd_per_kwh:g}/kWh")
    p = gpu.default_price(basis.kind)
    if p is None:
        return None, f"no {basis.kind.replace('_', '-')} price for {gpu.id} in the catalogue"
    return p.usd_per_gpu_hour, f"{p.provider}, {p.kind.replace('_', '-')}, {p.as_of or 'undated'} ({p.source})"


def usd_per_mtok(usd_per_hour: float | None, perf: PerfEstimate, utilization: float = 1.0
                 ) -> tuple[float | None, float | None, float | None]:
    """``(input, output, blended)`` $/1M tokens of a deployment at a utilisation (module docstring):
    GPU-seconds per request ``= TTFT + O x TPOT / B``; None when the price or the speed is unknown."""
    if usd_per_hour is None or perf.ttft_s is None or perf.tpot_s is None:
        return None, None, None
    p, o, b = perf.prompt_tokens, perf.output_tokens, perf.concurrency
    usd_s = usd_per_hour / 3600 / utilization
    return (usd_s * perf.ttft_s / p * 1e6, usd_s * perf.tpot_s / b * 1e6,
            usd_s * (perf.ttft_s + o * perf.tpot_s / b) / (p + o) * 1e6)
