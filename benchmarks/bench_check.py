"""``llamasize check`` benchmark: generate N manifests (every supported shape, with varied models,
GPUs, layouts and contexts) into a temporary directory and print files per second, in-process
(one registry, the estimate cache warm across files as in one CI run) and for the CLI end to end.

Run: .venv/bin/python benchmarks/bench_check.py [N]   (default 500)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llamasize.check.report import CheckOptions
from llamasize.check.run import check_paths
from llamasize.data.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
SHAPES = sorted((REPO / "examples" / "manifests").glob("*/*.yaml"))
MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct",
          "meta-llama/Llama-4-Scout-17B-16E-Instruct", "meta-llama/Llama-4-Maverick-17B-128E-Instruct"]
GPUS = ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H200", "NVIDIA-A100-SXM4-80GB", "NVIDIA-L40S"]


def deployment(i: int) -> str:
    """A Deployment running ``vllm serve`` whose settings vary with ``i``."""
    tp = (1, 2, 4, 8)[i % 4]
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: model-{i}
spec:
  replicas: {1 + i % 3}
  template:
    spec:
      nodeSelector:
        nvidia.com/gpu.product: {GPUS[(i // 4) % len(GPUS)]}
      containers:
        - name: vllm
          image: vllm/vllm-openai:latest
          command: ["vllm", "serve", "{MODELS[(i // 16) % len(MODELS)]}"]
          args: ["--tensor-parallel-size", "{tp}", "--max-model-len", "{2 ** (12 + i % 6)}"]
          resources:
            limits:
              nvidia.com/gpu: "{tp}"
"""


def generate(directory: Path, n: int) -> None:
    """``n`` files: every example manifest shape in turn, and generated Deployments in between."""
    for i in range(n):
        if SHAPES and i % 2:
            src = SHAPES[(i // 2) % len(SHAPES)]
            name = "llamasize.yaml" if src.name == "llamasize.yaml" else f"m{i:05d}-{src.name}"
            target = directory / f"d{i:05d}" / name if name == "llamasize.yaml" else directory / name
            target.parent.mkdir(exist_ok=True)
            target.write_text(src.read_text())
        else:
            (directory / f"m{i:05d}-generated.yaml").write_text(deployment(i))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    reg = load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        generate(d, n)
        t = time.perf_counter()
        report = check_paths([d], reg, CheckOptions(cwd=d))
        dt = time.perf_counter() - t
        s = report.summary
        print(f"in-process: {s.files} files, {s.deployments} deployments, {len(report.findings)} findings "
              f"in {dt:.2f} s = {s.files / dt:,.0f} files/s")
        cli = Path(sys.executable).parent / "llamasize"
        cmd = [str(cli)] if cli.exists() else [sys.executable, "-m", "llamasize"]
        t = time.perf_counter()
        subprocess.run(cmd + ["check", str(d), "--format", "json"], capture_output=True, check=False)
        dt = time.perf_counter() - t
        print(f"CLI end to end (process start included): {s.files} files in {dt:.2f} s = {s.files / dt:,.0f} files/s")


if __name__ == "__main__":
    main()
