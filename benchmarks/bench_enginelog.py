"""Start-up log parser benchmark (``llamasize calibrate --from-log``): the row-1 vLLM 0.19.0 fixture log
followed by N request-log lines (a server log that ran for a while), parsed in-process; prints MB/s
and lines/s.

Run: .venv/bin/python benchmarks/bench_enginelog.py [N]   (default 200000)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from llamasize.data.enginelog import parse_engine_log

REPO = Path(__file__).resolve().parent.parent


def main(n: int) -> None:
    head = (REPO / "tests" / "data" / "logs" / "vllm-0.19.0-llama31-8b-tp1.log").read_text()
    noise = "".join(f"INFO 04-22 10:00:{i % 60:02d} [logger.py:1] Received request cmpl-{i}: prompt: 'hello', "
                    f"params: SamplingParams(n=1, max_tokens=16)\n" for i in range(n))
    text = head + noise
    t0, c0 = time.perf_counter(), time.process_time()
    log = parse_engine_log(text)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert log.available_kv_bytes is not None
    mb = len(text.encode()) / 1e6
    print(f"{mb:.1f} MB, {n + head.count(chr(10)):,} lines: {dt:.2f} s wall ({cpu:.2f} s CPU) = {mb / dt:.1f} MB/s, "
          f"{n / dt:,.0f} lines/s (wall; the machine's load shows in the wall figure)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
