"""llamasize's all-reduce time against measured TensorRT-LLM all-reduce times (docs/facts/trtllm.md section 2).

    python benchmarks/comm_vs_measured.py

The speed model times a TP all-reduce of ``B`` bytes over ``p`` GPUs as a ring,
``2 (p - 1) / p x B / (link x comm) + collective_latency_s`` (``perf.ring_allreduce_s``), with ``comm`` and the
latency fitted on the calibration set (``hardware_catalog/efficiency/fitted.yaml``, TensorRT-LLM v0.17 rows). This
script prints that time next to the measured TensorRT-LLM 1.2.0rc5 times on H100 SXM for every cell of the table, and
the ratio: a figure for the README's "what is fitted" section, not a test.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from llamasize.data.registry import load_registry
from llamasize.estimate.perf import default_efficiencies, ring_allreduce_s

FACTS = Path(__file__).resolve().parent.parent / "docs" / "facts" / "trtllm.md"


def measured() -> list[tuple[int, dict[int, float]]]:
    """(bytes, {tp: microseconds}) per row of the facts table."""
    text = FACTS.read_text(encoding="utf-8").split("## 2.", 1)[1].split("## 3.", 1)[0]
    rows = []
    for m in re.finditer(r"^\| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M):
        rows.append((int(m.group(2)), {2: float(m.group(3)), 4: float(m.group(4)), 8: float(m.group(5))}))
    if not rows:
        raise SystemExit(f"no measured rows found in {FACTS}")
    return rows


def main() -> int:
    gpu = load_registry().gpu("h100-sxm")
    eff = default_efficiencies(gpu)
    link = gpu.interconnect.bandwidth_bytes_per_s / 2
    print(f"h100-sxm link {link / 1e9:.0f} GB/s each way; comm {eff.comm:.4f}, latency "
          f"{eff.collective_latency_s * 1e6:.1f} us per collective ({eff.source})")
    print(f"{'bytes':>11} " + " ".join(f"{'TP' + str(p) + ' meas':>9} {'model':>7} {'x':>5}" for p in (2, 4, 8)))
    ratios = []
    for nbytes, by_tp in measured():
        cells = []
        for p in (2, 4, 8):
            model = ring_allreduce_s(nbytes, p, link, eff.comm, eff.collective_latency_s) * 1e6
            ratios.append(model / by_tp[p])
            cells.append(f"{by_tp[p]:>9.1f} {model:>7.1f} {model / by_tp[p]:>5.2f}")
        print(f"{nbytes:>11,} " + " ".join(cells))
    ratios.sort()
    print(f"model / measured: median {ratios[len(ratios) // 2]:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f} "
          f"({len(ratios)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
