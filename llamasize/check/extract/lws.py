"""LeaderWorkerSet: the leader pod serves; GPUs per replica = leader + (size - 1) x worker pod."""

from __future__ import annotations

from llamasize.check.extract.pods import object_name, pod_targets, replica_count
from llamasize.check.target import Target
from llamasize.check.yamltree import get


def extract_lws(file: str, doc: dict) -> list[Target]:
    """LeaderWorkerSet: the leader pod serves; GPUs per replica = leader + (size - 1) x worker."""
    name = object_name(doc, "leaderworkerset")
    lwt = get(doc, "spec", "leaderWorkerTemplate")
    size = replica_count(get(lwt, "size"))
    worker = get(lwt, "workerTemplate", "spec")
    leader = get(lwt, "leaderTemplate", "spec")
    env = {"LWS_GROUP_SIZE": str(size)}
    replicas = replica_count(get(doc, "spec", "replicas"))
    targets = pod_targets(file, "LeaderWorkerSet", name, leader if leader is not None else worker,
                          replicas=replicas, env_extra=env, group=(worker, size))
    return targets
