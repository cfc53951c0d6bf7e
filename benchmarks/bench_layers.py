"""Layer-count benchmark (issue 10 R15): wall time and peak RSS of ``plan`` and ``sweep`` on a
DeepSeek-V3 config.json with its real 61 layers and with 10,000 layers, and of the README's
``plan --model maverick --quant int4 --ctx 1M``; then, in process, how the work splits into the
one-time passes over the layers and the search.

Each command runs as a child process; its peak RSS is the kernel's ``ru_maxrss`` for that child
(``os.wait4``, the figure ``/usr/bin/time -v`` prints as "Maximum resident set size"). The
config is written to a temp dir from ``model_specs/deepseek-v3.yaml``'s numbers.

Run: .venv/bin/python benchmarks/bench_layers.py [--llamasize PATH] [--layers 61,10000] [--repeat 1]
(``--llamasize /other/checkout/.venv/bin/llamasize`` measures another build, e.g. before a change).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: DeepSeek-V3's config.json keys (values as in model_specs/deepseek-v3.yaml, docs/facts/models.md §5).
DEEPSEEK_V3 = {
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
    "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128, "vocab_size": 129280,
    "tie_word_embeddings": False, "max_position_embeddings": 163840, "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6, "attention_bias": False, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "n_routed_experts": 256, "num_experts_per_tok": 8, "n_shared_experts": 1,
    "first_k_dense_replace": 3, "moe_layer_freq": 1, "torch_dtype": "bfloat16",
}


def write_config(directory: Path, layers: int) -> Path:
    """A DeepSeek-V3 config.json with ``layers`` layers in ``directory``."""
    path = directory / f"deepseek-v3-{layers}" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(DEEPSEEK_V3 | {"num_hidden_layers": layers}))
    return path


def run(argv: list[str]) -> tuple[float, int, int]:
    """``(wall seconds, peak RSS in KiB, exit code)`` of one child process."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, p.returncode


def in_process(config: Path) -> str:
    """How ``plan --ctx 8K`` on ``config`` splits, in process: the weight table (one pass over the
    layers), the layer classes of four formats (one pass each), the first plan (which classifies
    the formats it still needs) and a second plan with every table cached (the search alone)."""
    from llamasize.data.local import load_local_model
    from llamasize.data.registry import load_registry
    from llamasize.estimate.params import weight_table
    from llamasize.estimate.shards import format_layout
    from llamasize.plan import planner
    from llamasize.plan.planner import PlanRequest, plan

    spec, reg = load_local_model(config), load_registry()
    req = PlanRequest(model=spec, context_tokens=8192)
    t0 = time.perf_counter()
    table = weight_table(spec)
    t1 = time.perf_counter()
    classes = {q: len(format_layout(spec, q).classes) for q in ("bf16", "fp8", "int8", "int4")}
    t2 = time.perf_counter()
    plan(req, reg)
    t3 = time.perf_counter()
    calls, quick_fit = [0], planner.quick_fit

    def counted(*a, **kw):
        calls[0] += 1
        return quick_fit(*a, **kw)

    planner.quick_fit = counted  # count every candidate, the suggestion searches' included
    try:
        plan(req, reg)
    finally:
        planner.quick_fit = quick_fit
    t4 = time.perf_counter()
    return (f"weight table {len(table):,} tensors {t1 - t0:.2f} s; layer classes {classes} {t2 - t1:.2f} s; "
            f"first plan {t3 - t2:.2f} s; plan with every table cached {t4 - t3:.2f} s for {calls[0]:,} "
            f"candidates ({(t4 - t3) / calls[0] * 1e3:.2f} ms each)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llamasize", default=str(Path(sys.executable).with_name("llamasize")))
    ap.add_argument("--layers", default="61,10000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process split")
    args = ap.parse_args()
    exe = args.llamasize
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for n in (int(x) for x in args.layers.split(",")):
            cfg = write_config(Path(tmp), n)
            cases.append((f"plan deepseek-v3 {n:,} layers --ctx 8K", [exe, "plan", "--model", str(cfg), "--ctx", "8K"]))
            cases.append((f"sweep deepseek-v3 {n:,} layers", [exe, "sweep", "--model", str(cfg)]))
        cases.append(("plan --model maverick --quant int4 --ctx 1M",
                      [exe, "plan", "--model", "maverick", "--quant", "int4", "--ctx", "1M"]))
        print(f"{'command':45} {'best s':>8} {'peak RSS MiB':>13} {'exit':>5}")
        for name, argv in cases:
            runs = [run(argv) for _ in range(args.repeat)]
            wall = min(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            print(f"{name:45} {wall:8.2f} {rss / 1024:13.1f} {runs[0][2]:5d}", flush=True)
        if not args.no_in_process:
            for n in (int(x) for x in args.layers.split(",")):
                print(f"in process, {n:,} layers: {in_process(write_config(Path(tmp), n))}")


if __name__ == "__main__":
    main()
