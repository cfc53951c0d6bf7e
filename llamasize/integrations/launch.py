"""Serving-engine launch commands for a plan option (``plan --emit vllm|sglang``).

Flag names are those of vLLM 0.33.0 and SGLang 0.5.23 (docs/facts/serving.md 2.1, 2.3). vLLM has no
literal ``int4`` method: INT4/INT8/NVFP4 checkpoints declare their scheme (GPTQ, AWQ,
compressed-tensors, ModelOpt) and vLLM reads it, so no ``--quantization`` is passed for them; the
note says which checkpoint to use. ``--quantization fp8`` quantizes a BF16 checkpoint on load.
Multi-node vLLM uses a Ray cluster (as in the LeaderWorkerSet example, docs/facts/serving.md 2.2);
multi-node SGLang uses ``--nnodes/--node-rank/--dist-init-addr``.

Attention data parallelism (``dp`` ranks of attention TP ``tp``; ``estimate.parallel``): vLLM
``--tensor-parallel-size tp --data-parallel-size dp`` (its DP ranks share the MoE layers of a MoE
model; ``--enable-expert-parallel`` makes them whole experts over ``dp x tp`` GPUs); SGLang counts
every GPU of a stage in its TP size: ``--tp-size dp x tp --dp-size dp --enable-dp-attention``
(``--ep-size dp x tp`` with EP).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from llamasize.estimate.engines import (DTYPE_VALUES, ENGINE_FLAGS, NO_ENGINE_METHOD, ONLINE_QUANTIZATION,
                                        QUANTIZATION_METHODS, SGLANG_FLAGS, VLLM_FLAGS, VLLM_GPU_MEMORY_UTILIZATION)
from llamasize.errors import UsageError
from llamasize.data.spec import ModelSpec
from llamasize.data.hardware import GpuSpec  # serve_command
from llamasize.estimate.engines import engine_budget  # serve_command: SGLang's automatic fraction
from llamasize.estimate.quant import checkpoint_default, get_format, on_the_fly
from llamasize.text import quote_value

#: Formats whose checkpoint carries its own quantization config (no flag), with the advice.
_CHECKPOINT = {
    "int4": "an INT4 W4A16 checkpoint (GPTQ, AWQ or compressed-tensors)",
    "int8": "an INT8 checkpoint (compressed-tensors W8A8 or W8A16)",
    "nvfp4": "an NVFP4 checkpoint (NVIDIA ModelOpt)",
    "int4_mixed": "an INT4 checkpoint of the experts; vLLM has no on-the-fly equivalent of Meta's int4_mixed, "
                  "and a full INT4 checkpoint quantizes attention too",
}


@dataclass(frozen=True)
class LaunchCommand:
    """A command line plus notes (printed as comments on stderr, never on stdout)."""

    engine: str
    command: list[str]
    notes: list[str]
    #: Setup lines to run on each node first (multi-node), as text.
    setup: list[str]

    def text(self) -> str:
        """The shell-quoted command."""
        return shlex.join(self.command)


#: Where ``--emit`` points a checkpoint the user must make first: the release repository id under
#: ``/models/<format>/``, so the path's tail names the model and ``check`` resolves it (its
#: ``parse_reference`` matches a path's last two parts against the registry).
LOCAL_CHECKPOINT_ROOT = "/models"
#: ``--quantization`` values (vLLM's and SGLang's method names, ``estimate.engines.QUANTIZATION_METHODS``)
#: that declare the format of a checkpoint the user makes, so the command and manifest say which
#: format they expect and ``check`` reads the plan's format back. Formats missing here (int8,
#: int4_mixed) have no method name that means exactly them: the notes say which checkpoint to make.
DECLARED_METHOD = {fmt: next(m for m, f in QUANTIZATION_METHODS.items() if f == fmt)  # the first listed: awq,
                   for fmt in ("int4", "nvfp4", "mxfp4")}                          # modelopt_fp4, mxfp4


#: The checkpoint a user makes for a format nothing published holds (``checkpoint``'s note).
_MAKE = {
    "int4": "INT4 W4A16 (GPTQ, AWQ or compressed-tensors, group size 128)",
    "int8": "INT8 (compressed-tensors W8A8 or W8A16)",
    "nvfp4": "NVFP4 (NVIDIA ModelOpt)",
    "mxfp4": "MXFP4",
    "int4_mixed": "INT4 routed and shared experts with the rest BF16 (Meta's int4_mixed rule; the engines have "
                  "no on-the-fly equivalent, and a full INT4 checkpoint quantizes attention too)",
}


@dataclass(frozen=True)
class Checkpoint:
    """What a launch command loads for a plan: ``published`` (a checkpoint in the planned format),
    ``release`` (the release checkpoint holds the format, or a dtype cast), ``on-the-fly`` (the
    engine quantizes the release checkpoint on load) or ``quantize-first`` (nothing published holds
    the format: ``repo`` is a local path the user fills with a checkpoint they make)."""

    repo: str
    kind: str
    note: str | None = None


def checkpoint(spec: ModelSpec, quant: str) -> Checkpoint:
    """The checkpoint to serve ``quant`` from (``ModelSpec.serving_repo``; module docstring)."""
    repo = spec.serving_repo(quant, ONLINE_QUANTIZATION)
    release = spec.release_repo()
    if repo is None:
        path = f"{LOCAL_CHECKPOINT_ROOT}/{quant}/{release}"
        what = _MAKE.get(quant, f"a {quant} checkpoint")
        return Checkpoint(path, "quantize-first",
                          f"no {quant} checkpoint of {release} is published (none in the registry) and the engine "
                          f"cannot quantize to {quant} on load: you must quantize it first, to {what}, and put it "
                          f"at {path} (the {spec.default_quant} release checkpoint does not fit this plan)")
    if repo != release:
        return Checkpoint(repo, "published", f"{repo} is a published {quant} checkpoint: the engine reads its "
                                             "quantization_config")
    if (quant in ONLINE_QUANTIZATION or quant.startswith("fp8")) and quant != spec.default_quant:
        return Checkpoint(repo, "on-the-fly")
    return Checkpoint(repo, "release")


def model_repo(spec: ModelSpec, quant: str) -> str:
    """The repository (or local path) the command loads (``checkpoint``)."""
    return checkpoint(spec, quant).repo


def _quant_flags(spec: ModelSpec, quant: str, engine: str) -> tuple[list[str], list[str]]:
    """(flags, notes) for the weight format."""
    flags = ENGINE_FLAGS[engine]
    ckpt = _checkpoint_flags(spec, quant, engine)
    if ckpt is not None:
        return ckpt
    if quant in NO_ENGINE_METHOD:
        raise UsageError(f"--emit {engine}: {quant} ({NO_ENGINE_METHOD[quant]}) is not among {engine}'s "
                         "quantization methods; serve it with llama.cpp or choose another --quant")
    ck = checkpoint(spec, quant)
    if ck.kind == "published":
        return [], [ck.note]
    if ck.kind == "quantize-first":
        method = DECLARED_METHOD.get(quant)
        other = " (for a checkpoint of another method, GPTQ say, change it to that method)" if quant == "int4" else ""
        declared = ([flags.quantization, method], [f"{flags.quantization} {method} declares the checkpoint's "
                                                   f"format ({quant}){other}"]) if method else ([], [])
        return declared[0], [ck.note] + declared[1]
    if quant in ONLINE_QUANTIZATION:
        return [flags.quantization, ONLINE_QUANTIZATION[quant]], ["FP8 weights are quantized from the BF16 "
                                                                  "checkpoint at load time"]
    if quant in ("fp8_mixed", "fp8_experts"):
        repo = model_repo(spec, quant)
        if repo.upper().endswith("-FP8"):
            return [], [f"{repo} is Meta's FP8 checkpoint; the engine reads its scheme from the checkpoint"]
        published = [n for n, f in spec.hf_quantized.items() if f in ("fp8_mixed", "fp8_experts")]
        hint = (f"no {quant} checkpoint is listed for this model (the FP8 one it lists, {published[0]}, is "
                f"{spec.hf_quantized[published[0]]})" if published else "no FP8 checkpoint is listed for this model")
        return [flags.quantization, ONLINE_QUANTIZATION["fp8"]], [f"{hint}: online FP8 quantizes every linear layer, "
                                                                  f"more than Meta's {quant} rule"]
    if quant == "mxfp4":
        if spec.family == "gpt-oss":
            return [], ["gpt-oss ships its experts in MXFP4; the engine reads it from the checkpoint"]
        return [], ["use an MXFP4 checkpoint; the engine reads its scheme from the checkpoint"]
    if quant in _CHECKPOINT:
        tail = " (vLLM has no literal 'int4' method)" if quant == "int4" and engine == "vllm" else ""
        return [], [f"use {_CHECKPOINT[quant]} of {spec.id}; {engine} reads the method from its config{tail}"]
    if quant in DTYPE_VALUES:
        return [flags.dtype, DTYPE_VALUES[quant]], []
    method = get_format(quant).checkpoint_method
    if method is not None:  # a checkpoint format (deepseek-v3's fp8-block128x128): the config declares it
        return [], [f"{engine} reads the {method} scheme ({quant}) from {model_repo(spec, quant)}'s config"]
    return [], []


def _checkpoint_flags(spec: ModelSpec, quant: str, engine: str) -> tuple[list[str], list[str]] | None:
    """(flags, notes) when the checkpoint carries its own quantization config (``checkpoint_quant``
    from a local config.json) or ``quant`` contradicts it; None for the rules below. The engine
    reads a checkpoint's method from its config, so serving it as is needs no flag; another --quant
    is an on-the-fly quantization, which vLLM does only to FP8 (``--quantization fp8``) and only from
    a 16-bit checkpoint."""
    ck = checkpoint_default(spec)
    if ck is None:
        return None
    mismatch = on_the_fly(spec, quant)
    flags = ENGINE_FLAGS[engine]
    if mismatch is None:
        method = get_format(ck).checkpoint_method or "an unmodelled method"
        if method == "bitsandbytes" and engine == "vllm":
            raise UsageError(f"--emit {engine}: {ck} (bitsandbytes) is not among {engine}'s quantization methods")
        return [], [f"serve the checkpoint as it is: {engine} reads its quantization_config ({method}, {ck})"]
    if quant in ONLINE_QUANTIZATION:
        return [flags.quantization, ONLINE_QUANTIZATION[quant]], [
            f"on-the-fly quantization from {ck} to {quant}: --quantization {ONLINE_QUANTIZATION[quant]} quantizes a "
            f"16-bit checkpoint at load, so point the command at the BF16 repository, not the {ck} checkpoint"]
    return [], [f"on-the-fly quantization from {ck} to {quant}: {engine} has no flag for it; serve a {quant} "
                f"checkpoint instead of the {ck} one"]


def _layout_notes(spec: ModelSpec, kv_layout: str, engine: str) -> list[str]:
    """A hybrid-layout plan needs the engine's hybrid KV manager for chunked layers, which is off
    by default for Llama 4 (vLLM PR #21761; SGLang's hybrid KV is opt-in)."""
    if kv_layout != "hybrid":
        return []
    try:
        chunked = "chunked_attention" in spec.resolved_layer_types()
    except Exception:  # noqa: BLE001 - unknown architecture: nothing to say
        return []
    if not chunked:
        return []
    return [f"this plan assumes the hybrid KV layout: {engine} keeps {spec.id}'s chunked-local layers at full "
            "length by default, so enable its hybrid KV cache for chunked local attention, or the context will "
            "not fit (docs/facts/serving.md 2.1)"]


def vllm_command(spec: ModelSpec, *, tp: int, pp: int, ep: bool, quant: str, kv_cache_dtype: str,
                 max_model_len: int, nodes: int, gpu_memory_utilization: float | None = None,
                 kv_layout: str = "full", dp: int = 1) -> LaunchCommand:
    """``vllm serve`` for one deployment (docs/facts/serving.md 2.1 flag names); ``dp`` attention
    data-parallel ranks (the module docstring)."""
    qflags, notes = _quant_flags(spec, quant, "vllm")
    notes = notes + _layout_notes(spec, kv_layout, "vLLM")
    f = VLLM_FLAGS
    cmd = [*f.launch, model_repo(spec, quant), f.tp, str(tp), f.pp, str(pp)]
    if dp > 1:
        cmd += [f.dp, str(dp)]
        notes = notes + [f"attention data parallelism: {dp} engine ranks of TP {tp}, each with its own scheduler and "
                         f"KV cache; the MoE layers span all {dp * tp} GPUs of a stage"]
        if nodes > 1:
            notes = notes + ["data-parallel ranks on several nodes: set vLLM's --data-parallel-size-local (ranks per "
                             "node) and the rank/address flags for your launcher (docs/facts/serving.md 2.1); the command "
                             "below is the single-launch form"]
    if ep:
        cmd.append(f.ep_switch)
    cmd += [f.max_model_len, str(max_model_len)]
    if kv_cache_dtype == "fp8":
        cmd += [f.kv_cache_dtype, f.kv_fp8]
    util = VLLM_GPU_MEMORY_UTILIZATION if gpu_memory_utilization is None else gpu_memory_utilization
    cmd += [f.memory_fraction, f"{util:g}"] + qflags
    setup = []
    if nodes > 1:
        cmd += ["--distributed-executor-backend", "ray"]
        setup = ["# on the head node:", "ray start --head --port 6379",
                 f"# on each of the other {nodes - 1} node(s):", "ray start --address <head-node-ip>:6379",
                 "# then, on the head node:"]
    return LaunchCommand("vllm", cmd, notes, setup)


def sglang_command(spec: ModelSpec, *, tp: int, pp: int, ep: bool, quant: str, kv_cache_dtype: str,
                   max_model_len: int, nodes: int, mem_fraction_static: float | None = None,
                   kv_layout: str = "full", dp: int = 1) -> LaunchCommand:
    """``python -m sglang.launch_server`` for one deployment (docs/facts/serving.md 2.3 flag names); with
    ``dp`` attention data-parallel ranks SGLang's TP size counts every GPU of a stage (``dp x tp``)."""
    qflags, notes = _quant_flags(spec, quant, "sglang")
    notes = notes + _layout_notes(spec, kv_layout, "SGLang")
    f = SGLANG_FLAGS
    group = tp * dp
    cmd = [*f.launch, f.model_flag, model_repo(spec, quant), f.tp, str(group), f.pp, str(pp)]
    if dp > 1:
        cmd += [f.dp, str(dp), f.dp_attention_switch]
    if ep:
        cmd += [f.ep_size, str(group)]
    cmd += [f.max_model_len, str(max_model_len)]
    if kv_cache_dtype == "fp8":
        cmd += [f.kv_cache_dtype, f.kv_fp8]
    if mem_fraction_static is not None:
        cmd += [f.memory_fraction, f"{mem_fraction_static:g}"]
    cmd += qflags
    setup = []
    if nodes > 1:
        cmd += ["--nnodes", str(nodes), "--node-rank", "<rank>", "--dist-init-addr", "<node0-ip>:5000"]
        setup = [f"# run on each of the {nodes} nodes with --node-rank 0..{nodes - 1}"]
    return LaunchCommand("sglang", cmd, notes, setup)


def serve_command(engine: str, spec: ModelSpec, gpu: GpuSpec, *, tp: int, pp: int, ep: bool, quant: str,
                  kv_cache_dtype: str, max_model_len: int, nodes: int, kv_layout: str,
                  gpu_memory_utilization: float | None = None,
                  mem_fraction_static: float | None = None, dp: int = 1) -> LaunchCommand:
    """The launch command of ``engine`` (vllm or sglang) for a deployment sized with that engine's
    memory rules. For SGLang without an explicit ``mem_fraction_static``, the automatic value the
    deployment was sized with (``engines.engine_budget``) is pinned, so the server budgets what the
    estimate assumed."""
    kw = dict(tp=tp, pp=pp, ep=ep, quant=quant, kv_cache_dtype=kv_cache_dtype, max_model_len=max_model_len,
              nodes=nodes, kv_layout=kv_layout, dp=dp)
    if engine == "vllm":
        return vllm_command(spec, gpu_memory_utilization=gpu_memory_utilization, **kw)
    if engine != "sglang":
        raise UsageError(f"no launch command for engine {quote_value(engine)} (choices: vllm, sglang)")
    fraction = mem_fraction_static
    if fraction is None:
        fraction = engine_budget("sglang", gpu, tp=tp * dp, pp=pp).fraction  # SGLang's tp_size: dp x tp
    return sglang_command(spec, mem_fraction_static=fraction, **kw)
