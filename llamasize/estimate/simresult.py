"""What a continuous-batching simulation reports (``estimate.simulate``), as ``perf`` shows it.

Its own module so that ``perf`` (whose results carry it) and ``simulate`` (which imports ``perf``'s
step cost) do not import each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class SimulationSummary(BaseModel):
    """The simulated run: the workload, then throughput and the latency distributions (seconds)."""

    model_config = ConfigDict(frozen=True)

    arrival: Literal["offline", "poisson", "closed"]
    requests: int
    #: Clients of a closed loop (``--arrival closed``: each sends its next request when the last
    #: finishes); None otherwise.
    clients: int | None = None
    #: Arrival rate of the Poisson process (requests/s); None offline (all queued at t = 0).
    qps: float | None
    #: Seed of the arrival times (None offline: nothing is random).
    seed: int | None
    admission: Literal["greedy", "reserve"]
    output_tokens_per_s: float
    requests_per_s: float
    makespan_s: float
    ttft_s_mean: float
    ttft_s_p50: float
    ttft_s_p90: float
    ttft_s_p99: float
    tpot_s_mean: float
    tpot_s_p50: float
    tpot_s_p90: float
    tpot_s_p99: float
    e2e_s_mean: float
    e2e_s_p50: float
    e2e_s_p90: float
    e2e_s_p99: float
    #: Time-weighted mean and the peak of the KV pool's use (the fullest pipeline stage).
    kv_utilization: float
    kv_utilization_max: float
    preemptions: int
    max_running: int
    steps: int
    #: Steps timed one by one (the others advanced in closed form).
    evaluated_steps: int
