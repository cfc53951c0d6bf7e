"""Kubernetes pods and the workloads that template them (Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job, CronJob, Pod): the serving containers, their env, GPU resources and the GPU-type
labels the pod is pinned to. The pod helpers here are shared by the other Kubernetes extractors."""

from __future__ import annotations

from llamasize.check.flags import container_invocation
from llamasize.check.rules import LS013
from llamasize.check.rule import Issue
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, key_line, line_of, text
from llamasize.text import quote_if_needed, quote_value

#: Node labels that name a GPU type -> the kind of name their values are (``resolve`` looks them up).
GPU_LABELS = {
    "nvidia.com/gpu.product": "gpu.product",
    "node.kubernetes.io/instance-type": "instance-type",
    "beta.kubernetes.io/instance-type": "instance-type",
    "cloud.google.com/gke-accelerator": "gke-accelerator",
    "karpenter.k8s.aws/instance-gpu-name": "karpenter-gpu-name",
}
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
#: Accelerators outside the GPU catalogue: resource names and node labels -> what they are. A
#: deployment on one is ``not modelled`` (reported, LS017), never a "no GPUs requested" error.
OTHER_ACCELERATOR_RESOURCES = {"google.com/tpu": "Google TPU", "aws.amazon.com/neuron": "AWS Neuron (Inferentia/"
                               "Trainium)", "aws.amazon.com/neuroncore": "AWS Neuron (Inferentia/Trainium)",
                               "aws.amazon.com/neurondevice": "AWS Neuron (Inferentia/Trainium)",
                               "habana.ai/gaudi": "Intel Gaudi", "intel.com/gpu": "Intel GPU",
                               "gpu.intel.com/i915": "Intel GPU", "gpu.intel.com/xe": "Intel GPU"}
OTHER_ACCELERATOR_LABELS = {"cloud.google.com/gke-tpu-accelerator": "Google TPU",
                            "cloud.google.com/gke-tpu-topology": "Google TPU"}


def pod_env(container: dict, extra: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, Loc]]:
    """Literal env values of a container (plus ``extra``), and where each is set."""
    env = dict(extra or {})
    where: dict[str, Loc] = {}
    entries = container.get("env")
    if isinstance(entries, list):
        meta = getattr(entries, "meta", None) or []
        for i, e in enumerate(entries):
            if isinstance(e, dict) and isinstance(e.get("name"), str) and text(e.get("value")) is not None:
                env[e["name"]] = text(e["value"])
                line = key_line(e, "value", meta[i][0] if i < len(meta) else 1)
                where[e["name"]] = Loc(env[e["name"]], line)
    return env, where


def gpu_resources(container: dict, cline: int, issues: list[Issue]) -> tuple[Loc | None, str | None]:
    """GPUs a container requests (limits, else requests) and the resource name."""
    res = container.get("resources")
    for part in ("limits", "requests"):
        block = get(res, part)
        if not isinstance(block, dict):
            continue
        for key in sorted(block):
            if key in GPU_RESOURCES or key.startswith("nvidia.com/mig-"):
                line = key_line(block, key, cline)
                raw = text(block[key])
                try:
                    n = int(str(raw).strip())
                    if n < 0:
                        raise ValueError
                except (TypeError, ValueError):
                    issues.append(LS013(line, f"GPU resource {quote_if_needed(key)}: {quote_value(raw)} is not a "
                                              "whole number"))
                    return None, key
                return Loc(n, line), key
    return None, None


def other_accelerator(containers, podspecs) -> str | None:
    """Why a pod is not modelled: it requests a TPU or another non-GPU accelerator (resource or node
    label); None for GPU (or CPU) pods."""
    for c in containers:
        for part in ("limits", "requests"):
            block = get(c, "resources", part)
            if isinstance(block, dict):
                for key in sorted(block):
                    if key in OTHER_ACCELERATOR_RESOURCES:
                        return (f"{OTHER_ACCELERATOR_RESOURCES[key]} ({key}) accelerators are not modelled "
                                "(the catalogue holds NVIDIA and AMD GPUs)")
    for ps in podspecs:
        sel = get(ps, "nodeSelector")
        if isinstance(sel, dict):
            for key in sorted(sel):
                if key in OTHER_ACCELERATOR_LABELS:
                    return (f"{OTHER_ACCELERATOR_LABELS[key]} ({key}={quote_if_needed(text(sel[key]) or '')}) "
                            "accelerators are not modelled (the catalogue holds NVIDIA and AMD GPUs)")
    return None


def gpu_selectors(podspec, default_line: int) -> list[tuple[str, str, int]]:
    """GPU-type labels a pod is pinned to: nodeSelector and required nodeAffinity ``In`` terms."""
    out: list[tuple[str, str, int]] = []
    if not isinstance(podspec, dict):
        return out
    sel = podspec.get("nodeSelector")
    if isinstance(sel, dict):
        for key in sorted(sel):
            if key in GPU_LABELS and text(sel[key]):
                out.append((key, text(sel[key]), key_line(sel, key, default_line)))
    terms = get(podspec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                 "nodeSelectorTerms")
    out += selector_terms(terms, default_line)
    return out


def selector_terms(terms, default_line: int) -> list[tuple[str, str, int]]:
    """``nodeSelectorTerms`` -> GPU-type label values (operator ``In``; terms are alternatives)."""
    out: list[tuple[str, str, int]] = []
    if not isinstance(terms, list):
        return out
    for term in terms:
        exprs = get(term, "matchExpressions")
        if not isinstance(exprs, list):
            continue
        for expr in exprs:
            if not isinstance(expr, dict) or not isinstance(expr.get("key"), str) or expr["key"] not in GPU_LABELS:
                continue
            if str(expr.get("operator", "In")) != "In":
                continue
            values = expr.get("values")
            if isinstance(values, list):
                meta = getattr(values, "meta", None) or [(line_of(expr, default_line), None)] * len(values)
                for i, v in enumerate(values):
                    if text(v):
                        out.append((expr["key"], text(v), meta[i][0]))
    return out


def dedupe_types(types: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """GPU-type labels without repeats, first occurrence kept."""
    seen, out = set(), []
    for key, value, line in types:
        if (key, value) not in seen:
            seen.add((key, value))
            out.append((key, value, line))
    return out


def pod_containers(podspec) -> list[tuple[dict, int]]:
    """``(container, line)`` of a pod spec's containers (init containers do not serve)."""
    cs = get(podspec, "containers")
    if not isinstance(cs, list):
        return []
    meta = getattr(cs, "meta", None) or [(line_of(podspec, 1), None)] * len(cs)
    return [(c, meta[i][0]) for i, c in enumerate(cs) if isinstance(c, dict)]


def object_name(doc, default: str) -> str:
    """``metadata.name`` of a Kubernetes object."""
    return text(get(doc, "metadata", "name")) or default


def replica_count(v, default: int = 1) -> int:
    """A replica count as written (``default`` when absent or not a positive integer)."""
    try:
        n = int(str(v))
        return n if n >= 1 else default
    except (TypeError, ValueError):
        return default


WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}


def pod_targets(file: str, kind: str, name: str, podspec, *, replicas: int, env_extra=None,
                group: tuple[object, int] | None = None, extra_types=()) -> list[Target]:
    """Targets for every serving container of a pod (``group``: LWS worker pod spec and size)."""
    out = []
    serving = []
    for container, cline in pod_containers(podspec):
        env, _ = pod_env(container, env_extra)
        inv = container_invocation(container, env, cline)
        if inv is not None:
            serving.append((container, cline, inv))
    for container, cline, inv in serving:
        cname = text(container.get("name")) or "container"
        t = Target(file=file, line=cline, kind=kind, name=name if len(serving) == 1 else f"{name}/{cname}",
                   engine=inv.engine, model=inv.model, settings=dict(inv.flags), replicas=replicas,
                   unmodelled=list(inv.unmodelled))
        apply_engine_kind(t)
        issues: list[Issue] = []
        count, resource = gpu_resources(container, cline, issues)
        t.issues += issues
        t.gpu_types = dedupe_types(gpu_selectors(podspec, cline) + list(extra_types))
        if resource and resource.startswith("nvidia.com/mig-"):
            t.gpu_types = [("resource", resource, count.line if count else cline)]
        if group is not None:
            worker_spec, size = group
            worker_count = None
            worker_containers = pod_containers(worker_spec) if worker_spec is not None else []
            if worker_spec is not None and size > 1:
                for wc, wline in worker_containers:
                    wcount, _ = gpu_resources(wc, wline, t.issues)
                    if wcount is not None:
                        worker_count = wcount.value
                        break
                t.gpu_types = dedupe_types(t.gpu_types + gpu_selectors(worker_spec, cline))
            leader = count.value if count else 0
            if size > 1:
                total = leader + (size - 1) * (worker_count if worker_count is not None else leader)
                t.assumptions.append(f"GPUs per replica = leader pod ({leader}) + {size - 1} worker pod(s) x "
                                     f"{worker_count if worker_count is not None else leader}")
                count = Loc(total, count.line if count else cline)
        t.gpu_count = count
        worker_cs = [c for c, _ in pod_containers(group[0])] if group is not None else []
        why = other_accelerator([container] + worker_cs, [podspec] + ([group[0]] if group is not None else []))
        if why:
            t.skip = ("not modelled", why)
        out.append(t)
    return out


def apply_engine_kind(t: Target) -> None:
    """KServe's Hugging Face server runs vLLM unless ``--backend=huggingface``."""
    if t.engine == "kserve-huggingface":
        backend = t.settings.get("backend")
        t.engine = "generic" if backend and str(backend.value).lower() in ("huggingface", "hf") else "vllm"


def extract_workload(file: str, doc: dict) -> list[Target]:
    """Deployment / StatefulSet / DaemonSet / ReplicaSet / Job / CronJob / Pod."""
    kind = doc.get("kind")
    name = object_name(doc, kind.lower())
    if kind == "Pod":
        podspec, replicas = doc.get("spec"), 1
    elif kind == "CronJob":
        podspec, replicas = get(doc, "spec", "jobTemplate", "spec", "template", "spec"), 1
    else:
        podspec = get(doc, "spec", "template", "spec")
        replicas = replica_count(get(doc, "spec", "replicas"))
    return pod_targets(file, kind, name, podspec, replicas=replicas)
