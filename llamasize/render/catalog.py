"""Renderers of the catalogue listings: ``llamasize models`` and ``llamasize gpus``."""

from __future__ import annotations

from typing import Sequence

from llamasize import SCHEMA_VERSION
from llamasize.data.hardware import GpuSpec
from llamasize.data.spec import ModelSpec
from llamasize.render.common import table, to_json, terminal
from llamasize.units import GIB, human_params, human_tokens


def model_rows(models: Sequence[ModelSpec]) -> list[dict]:
    """One summary record per model (the JSON of ``llamasize models``)."""
    from llamasize.estimate.params import count_params

    out = []
    for m in models:
        b = count_params(m)
        out.append({
            "id": m.id, "aliases": list(m.aliases), "name": m.name, "family": m.family,
            "release_status": m.release_status, "moe": m.is_moe,
            "total_params": b.total_params, "active_params": b.active_params, "params_confidence": b.confidence,
            "num_experts": m.num_local_experts, "experts_per_token": m.num_experts_per_tok,
            "max_context_tokens": m.max_position_embeddings,
            "license": m.license.name if m.license else None,
        })
    return out


@terminal
def render_models(models: Sequence[ModelSpec], fmt: str) -> str:
    """``llamasize models``."""
    rows = model_rows(models)
    if fmt == "json":
        return to_json({"schema_version": SCHEMA_VERSION, "models": rows})
    body = [
        [r["id"], ", ".join(r["aliases"]), human_params(r["total_params"]) + ("~" if r["params_confidence"] != "exact" else ""),
         human_params(r["active_params"]) + ("~" if r["params_confidence"] != "exact" else ""),
         f"{r['num_experts']}/{r['experts_per_token'] or '?'}" if r["moe"] else "dense",
         human_tokens(r["max_context_tokens"]), r["release_status"], r["license"] or "unknown"]
        for r in rows
    ]
    out = table(fmt, "Models", ["id", "aliases", "total", "active", "experts", "context", "status", "license"],
                 body, right=(2, 3, 5))
    return out + ("\n~ = rounded published figure; the architecture is not published\n")


def _smi_bytes(g: GpuSpec) -> int | None:
    """The lowest nvidia-smi / rocm-smi total of a GPU, None when none is sourced."""
    return min((r.bytes for r in g.memory.smi_totals), default=None)


def gpu_rows(gpus: Sequence[GpuSpec]) -> list[dict]:
    """One summary record per GPU (the JSON of ``llamasize gpus``)."""
    out = []
    for g in gpus:
        price = g.default_price()
        out.append({
            "id": g.id, "aliases": list(g.aliases), "name": g.name, "vendor": g.vendor,
            "architecture": g.architecture, "memory_bytes": g.memory_bytes, "memory_basis": g.memory.basis,
            "memory_flag": g.memory.flag, "smi_memory_bytes": _smi_bytes(g),
            "memory_bandwidth_bytes_per_s": g.memory_bandwidth_bytes_per_s,
            "bf16_flops_per_s": g.flops.per_second("bf16"), "fp8_flops_per_s": g.flops.per_second("fp8"),
            "fp4_flops_per_s": g.flops.per_second("fp4"),
            "native_fp8": g.native.fp8, "native_fp4": g.native.fp4,
            "interconnect": g.interconnect.type, "interconnect_bytes_per_s": g.interconnect.bandwidth_bytes_per_s,
            "gpus_per_node": g.gpus_per_node, "tdp_watts": g.tdp_watts,
            "price_usd_per_gpu_hour": price.usd_per_gpu_hour if price else None,
            "price_source": f"{price.provider}, {price.as_of or 'undated'}" if price else None,
        })
    return out


@terminal
def render_gpus(gpus: Sequence[GpuSpec], fmt: str) -> str:
    """``llamasize gpus``."""
    rows = gpu_rows(gpus)
    if fmt == "json":
        return to_json({"schema_version": SCHEMA_VERSION, "gpus": rows})

    def num(v, scale, digits=0):
        return "n/a" if v is None else f"{v / scale:,.{digits}f}"

    body = [
        [r["id"], ", ".join(r["aliases"]), f"{r['memory_bytes'] / GIB:.2f}" + ("" if r["memory_flag"] is None else "*"),
         num(r["memory_bandwidth_bytes_per_s"], 1e9), num(r["bf16_flops_per_s"], 1e12, 1),
         "yes" if r["native_fp8"] else "no", "yes" if r["native_fp4"] else "no", r["interconnect"],
         str(r["gpus_per_node"]),
         "n/a" if r["price_usd_per_gpu_hour"] is None else f"{r['price_usd_per_gpu_hour']:.2f}"]
        for r in rows
    ]
    out = table(fmt, "GPUs", ["id", "aliases", "memory GiB", "GB/s", "BF16 TFLOPS", "FP8", "FP4", "link",
                               "per node", "$/GPU-h"], body, right=(2, 3, 4, 8, 9))
    return out + ("\nmemory GiB: the total CUDA/HIP reports (what vLLM budgets); * = no such total is sourced, an upper\n"
                  "bound is used (nvidia-smi's total, else a cloud API's figure, else the binary capacity)\n"
                  "n/a = not found in the sourced facts; prices: first on-demand quote (llamasize gpus --format json)\n")


def instance_rows(instances: Sequence) -> list[dict]:
    """One record per cloud instance type (the JSON of ``llamasize gpus --instances``)."""
    out = []
    for i in instances:
        m = i.spec.gpu_memory
        out.append({
            "id": i.spec.id, "provider": i.provider, "gpu": i.gpu.id, "gpus": i.spec.gpus,
            "gpu_memory_bytes": i.gpu.memory_bytes, "memory_basis": i.gpu.memory.basis, "memory_flag": i.gpu.memory.flag,
            "provider_gpu_memory_bytes": None if m is None else m.per_gpu_bytes(i.spec.gpus),
            "vcpus": i.spec.vcpus, "karpenter_gpu_name": i.spec.karpenter_gpu_name,
            "gke_accelerator": i.spec.accelerator, "source": i.spec.source, "notes": list(i.spec.notes),
        })
    return out


@terminal
def render_instances(instances: Sequence, fmt: str) -> str:
    """``llamasize gpus --instances``."""
    rows = instance_rows(instances)
    if fmt == "json":
        return to_json({"schema_version": SCHEMA_VERSION, "instances": rows})
    body = [[r["provider"], r["id"], r["gpu"], str(r["gpus"]),
             f"{r['gpu_memory_bytes'] / GIB:.2f}" + ("" if r["memory_flag"] is None else "*"),
             "n/a" if r["provider_gpu_memory_bytes"] is None else f"{r['provider_gpu_memory_bytes'] / GIB:.2f}",
             r["karpenter_gpu_name"] or r["gke_accelerator"] or ""]
            for r in rows]
    out = table(fmt, "Cloud instance types", ["provider", "instance", "gpu", "gpus", "GiB/GPU (CUDA)",
                                              "GiB/GPU (provider)", "node label value"], body, right=(3, 4, 5))
    return out + ("\nGiB/GPU (CUDA): what llamasize budgets (see 'llamasize gpus'; * = flagged upper bound); "
                  "(provider): the provider's\nprinted figure, a cross-check only. node label value: "
                  "karpenter.k8s.aws/instance-gpu-name (AWS) or\ncloud.google.com/gke-accelerator (GCP)\n")
