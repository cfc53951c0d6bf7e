"""Parallel-layout defaults of one deployment.

vLLM and SGLang place ``tensor_parallel_size x pipeline_parallel_size`` ranks on the GPUs of a
deployment (vLLM's world size is TP x PP, facts/serving.md 2.1); with only the GPU count and the
pipeline size given, the tensor-parallel size is what fills the GPUs.
"""

from __future__ import annotations

from llamasize.errors import UsageError


def default_tensor_parallel(gpu_count: int, pipeline_parallel_size: int) -> int:
    """TP = GPUs / PP (world size = TP x PP); UsageError when PP does not divide the GPU count."""
    if gpu_count % pipeline_parallel_size:
        raise UsageError(f"--gpus ({gpu_count}) is not divisible by --pp ({pipeline_parallel_size})")
    return gpu_count // pipeline_parallel_size
