"""Print llamasize's engine start-up report against every calibration log row (issue 12 item 1):
available KV, KV tokens and concurrency, predicted vs logged, with the error.

    .venv/bin/python benchmarks/engine_log_accuracy.py

The rows (and their quoted log lines) live in tests/test_engine_logs.py, the one copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_engine_logs import ROWS, deployment  # noqa: E402

from llamasize.cli.inputs import registry as load_registry  # noqa: E402
from llamasize.estimate.memory import estimate_memory  # noqa: E402
from llamasize.units import GIB  # noqa: E402


def main() -> None:
    reg = load_registry(None, None)
    worst = {"kv": 0.0, "tokens": 0.0, "concurrency": 0.0}
    print(f"{'row':>5} {'version':>7} {'avail GiB':>17} {'err':>7} {'tokens':>21} {'err':>7} {'conc':>15} {'err':>7}")
    for r in ROWS:
        rep = estimate_memory(deployment(reg, r)).engine_report
        kv = rep.available_kv_bytes / GIB
        e_kv = kv / r.available - 1
        worst["kv"] = max(worst["kv"], abs(e_kv))
        tok = conc = "-"
        e_tok = e_conc = None
        if r.tokens:
            e_tok, e_conc = rep.kv_cache_tokens / r.tokens - 1, rep.max_concurrency / r.concurrency - 1
            worst["tokens"] = max(worst["tokens"], abs(e_tok))
            worst["concurrency"] = max(worst["concurrency"], abs(e_conc))
            tok, conc = f"{rep.kv_cache_tokens:,}/{r.tokens:,}", f"{rep.max_concurrency:.2f}/{r.concurrency:.2f}"
        fmt = (lambda e: "-" if e is None else f"{e:+.2%}")
        print(f"{r.row:>5} {r.version:>7} {kv:>8.2f}/{r.available:<8.2f} {fmt(e_kv):>7} {tok:>21} {fmt(e_tok):>7} "
              f"{conc:>15} {fmt(e_conc):>7}")
    print("worst |error|: " + ", ".join(f"{k} {v:.2%}" for k, v in worst.items()))


if __name__ == "__main__":
    main()
