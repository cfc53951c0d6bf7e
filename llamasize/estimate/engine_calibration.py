"""Engine memory line items measured in a real start-up log (``llamasize calibrate --from-log``).

A ``EngineCorrection`` rides on the ``Deployment`` it was measured for; the engine memory model
uses each item it carries in place of its own prediction and labels that item ``calibrated``
with ``source``. Items left ``None`` stay modelled.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineCorrection:
    """Per-GPU bytes read from an engine's start-up log for one deployment shape."""

    #: Where the figures come from, e.g. ``start-up log vllm.log (vLLM 0.19.0)``.
    source: str
    weights_bytes: int | None = None
    activation_peak_bytes: int | None = None
    non_torch_bytes: int | None = None
    cuda_graph_bytes: int | None = None
