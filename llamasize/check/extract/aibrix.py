"""AIBrix ``StormService`` (roles such as prefill / decode, each a pod template) and Ray clusters that
serve (AIBrix ``RayClusterFleet``, KubeRay ``RayCluster`` / ``RayService``): the head pod starts the
engine; GPUs per replica = the head pod's + every worker group's ``replicas`` x its pod's GPUs.

Shapes as AIBrix's samples write them (``orchestration.aibrix.ai/v1alpha1``):
``StormService.spec.template.spec.roles[] = {name, replicas, podGroupSize?, template: pod template}``;
``RayClusterFleet.spec.template.spec`` is a KubeRay ``RayCluster`` spec
(``headGroupSpec.template``, ``workerGroupSpecs[].{replicas, template}``); ``RayService`` holds it
under ``spec.rayClusterConfig``."""

from __future__ import annotations

from llamasize.check.extract.pods import gpu_resources, object_name, pod_containers, pod_targets, replica_count
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, text

RAY_KINDS = {"RayClusterFleet", "RayCluster", "RayService"}


def extract_stormservice(file: str, doc: dict) -> list[Target]:
    """One target per role that starts an engine (``name/role``); replicas = service x role."""
    name = object_name(doc, "stormservice")
    replicas = replica_count(get(doc, "spec", "replicas"))
    roles = get(doc, "spec", "template", "spec", "roles")
    out: list[Target] = []
    if not isinstance(roles, list):
        return out
    for i, role in enumerate(roles):
        if not isinstance(role, dict):
            continue
        rname = text(role.get("name")) or f"role{i}"
        podspec = get(role, "template", "spec")
        size = replica_count(role.get("podGroupSize"))
        group = (podspec, size) if size > 1 else None
        for t in pod_targets(file, "StormService", f"{name}/{rname}", podspec,
                             replicas=replicas * replica_count(role.get("replicas")), group=group):
            if size > 1:
                t.assumptions.append(f"role {rname}: podGroupSize {size} pods per group, each like the first")
            out.append(t)
    return out


def extract_ray(file: str, doc: dict) -> list[Target]:
    """The head pod's engine; GPUs of the whole Ray cluster per replica."""
    kind = doc["kind"]
    name = object_name(doc, kind.lower())
    if kind == "RayClusterFleet":
        cluster, replicas = get(doc, "spec", "template", "spec"), replica_count(get(doc, "spec", "replicas"))
    elif kind == "RayService":
        cluster, replicas = get(doc, "spec", "rayClusterConfig"), 1
    else:
        cluster, replicas = doc.get("spec"), 1
    head = get(cluster, "headGroupSpec", "template", "spec")
    targets = pod_targets(file, kind, name, head, replicas=replicas)
    workers = get(cluster, "workerGroupSpecs")
    extra, parts = 0, []
    for wg in workers if isinstance(workers, list) else []:
        n = replica_count(get(wg, "replicas"), default=replica_count(get(wg, "minReplicas")))
        for c, line in pod_containers(get(wg, "template", "spec")):
            count, _ = gpu_resources(c, line, [])
            if count is not None:
                extra += n * count.value
                parts.append(f"{n} x {count.value}")
                break
    for t in targets:
        if parts:
            head_n = t.gpu_count.value if t.gpu_count is not None else 0
            t.gpu_count = Loc(head_n + extra, t.gpu_count.line if t.gpu_count is not None else t.line)
            t.assumptions.append(f"GPUs per replica = Ray head ({head_n}) + worker groups ({' + '.join(parts)})")
    return targets
