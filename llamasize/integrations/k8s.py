"""Kubernetes manifests for a plan option (``plan --emit deployment|lws|kserve``).

Each manifest runs the same launch command as ``--emit vllm|sglang`` (``integrations.launch``: the
checkpoint that holds the planned format, or a local path the user fills after quantizing) with the
GPU count and type of the plan, in the shapes ``llamasize check`` reads (docs/facts/serving.md 2.2), so
``check`` on the emitted file gives the plan's verdict back (tests/test_emit_k8s.py):

- ``deployment``: an ``apps/v1`` Deployment, one pod per replica, for a one-node plan.
- ``lws``: a LeaderWorkerSet (``leaderworkerset.x-k8s.io/v1``) for a multi-node plan: ``size`` =
  nodes, every pod requests the node's GPUs, so GPUs per replica = size x GPUs per pod (2.2 d).
  vLLM runs on a Ray cluster started by the image's ``multi-node-serving.sh`` (the leader line of
  the LWS vLLM example, 2.2 d; its worker line as in the same example file); SGLang starts on every
  pod with ``--nnodes/--node-rank/--dist-init-addr`` from the LWS environment variables.
- ``kserve``: a KServe ``LLMInferenceService`` (``serving.kserve.io/v1alpha2``, 2.2 c): ``spec.model``,
  ``spec.parallelism`` and the ``main`` container's ``VLLM_ADDITIONAL_ARGS``. vLLM only (that
  variable is vLLM's) and one node (a multi-node LLMInferenceService is laid out by data
  parallelism, which llamasize's plans do not use).

The GPU type is pinned by the first node label the catalogue lists for it: the GPU feature
discovery product (``nvidia.com/gpu.product``), else the GKE accelerator; with neither, the
manifest says so in a comment and pins nothing. Images: vLLM's is ``vllm/vllm-openai`` (2.2 a, d)
tagged ``v`` + the vLLM version whose flags the command uses (0.33.0, 2.1; the ``v0.8.5`` form of
the LWS example). The facts name no SGLang image, so an SGLang manifest carries a placeholder image
the user must set, and says so.
"""

from __future__ import annotations

import re
import shlex

import yaml

from llamasize.data.hardware import GpuSpec
from llamasize.errors import UsageError
from llamasize.estimate.engines import VLLM_FLAGS
from llamasize.integrations.launch import LaunchCommand

#: Manifest kinds of ``plan --emit``.
MANIFEST_TARGETS = ("deployment", "lws", "kserve")
#: vLLM's image (docs/facts/serving.md 2.2 a, d), tagged with the version whose flags launch.py writes (2.1).
VLLM_IMAGE = "vllm/vllm-openai:v0.33.0"
#: No SGLang image is named in the facts: the user sets one (the manifest and stderr say so).
SGLANG_IMAGE_PLACEHOLDER = "SET-AN-SGLANG-0.5.23-IMAGE"
#: The image's multi-node helper (the LWS vLLM example, docs/facts/serving.md 2.2 d).
VLLM_MULTINODE_SCRIPT = "bash /vllm-workspace/examples/online_serving/multi-node-serving.sh"
#: SGLang's distributed-init port in ``--dist-init-addr`` (the one ``launch.sglang_command`` writes).
SGLANG_INIT_PORT = 5000
SERVE_PORT = 8000


def gpu_selector(gpu: GpuSpec) -> tuple[dict[str, str], str | None]:
    """(nodeSelector, note): the first node label the catalogue lists for the GPU (module docstring)."""
    if gpu.gfd_products:
        return {"nvidia.com/gpu.product": gpu.gfd_products[0]}, None
    if gpu.gke_accelerators:
        return {"cloud.google.com/gke-accelerator": gpu.gke_accelerators[0]}, None
    return {}, (f"the catalogue lists no node label for {gpu.id}: add a nodeSelector that pins it "
                f"(check cannot tell the GPU type without one; pass --default-gpu {gpu.id})")


def object_name(model_id: str) -> str:
    """An RFC 1123 name from a model id (lower case, ``[a-z0-9-]``, at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", model_id.lower()).strip("-")[:63].strip("-")
    return name or "llm"


def _resources(gpus: int) -> dict:
    return {"limits": {"nvidia.com/gpu": str(gpus)}, "requests": {"nvidia.com/gpu": str(gpus)}}


def _pod(container: dict, selector: dict[str, str]) -> dict:
    """A pod spec with the serving container, the GPU-type selector and a RAM-backed /dev/shm
    (tensor-parallel workers exchange data through shared memory; as in the LWS vLLM example)."""
    spec: dict = {}
    if selector:
        spec["nodeSelector"] = dict(selector)
    container = {**container, "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]}
    spec["containers"] = [container]
    spec["volumes"] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    return spec


def _image(engine: str) -> str:
    return VLLM_IMAGE if engine == "vllm" else SGLANG_IMAGE_PLACEHOLDER


class _PlainDumper(yaml.SafeDumper):
    """No ``&id001`` anchors for values used twice (the leader's and workers' command): every pod
    spec is written out in full, as people write manifests."""

    def ignore_aliases(self, data) -> bool:
        return True


def _dump(header: list[str], doc: dict) -> str:
    comments = "".join(f"# {line}\n" for line in header)
    return comments + yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, width=10_000)


def _header(kind: str, summary: str, cmd: LaunchCommand, gpu: GpuSpec) -> tuple[list[str], list[str]]:
    """(comment lines, notes for stderr)."""
    notes = list(cmd.notes)
    sel, sel_note = gpu_selector(gpu)
    if sel_note:
        notes.append(sel_note)
    if cmd.engine == "sglang":
        notes.append(f"the shared facts name no SGLang image: replace {SGLANG_IMAGE_PLACEHOLDER} with an SGLang "
                     "0.5.23 image")
    head = [f"llamasize plan --emit {kind}: {summary}"] + [f"note: {n}" for n in notes]
    return head, notes


def deployment(cmd: LaunchCommand, gpu: GpuSpec, *, name: str, gpus: int, nodes: int, summary: str) -> tuple[str, list[str]]:
    """A one-node Deployment running ``cmd`` on ``gpus`` GPUs (module docstring)."""
    if nodes != 1:
        raise UsageError(f"--emit deployment writes one pod per replica, and this plan spans {nodes} nodes: "
                         "use --emit lws (a LeaderWorkerSet)")
    head, notes = _header("deployment", summary, cmd, gpu)
    sel, _ = gpu_selector(gpu)
    container = {"name": cmd.engine, "image": _image(cmd.engine), "command": list(cmd.command),
                 "ports": [{"containerPort": SERVE_PORT}], "resources": _resources(gpus)}
    doc = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": _pod(container, sel)}}}
    return _dump(head, doc), notes


def _lws_commands(cmd: LaunchCommand) -> tuple[list[str], list[str]]:
    """(leader command, worker command) of a multi-node group."""
    if cmd.engine == "vllm":
        serve = [t for t in cmd.command]
        leader = ["sh", "-c", f"{VLLM_MULTINODE_SCRIPT} leader --ray_cluster_size=$(LWS_GROUP_SIZE); "
                              + shlex.join(serve)]
        worker = ["sh", "-c", f"{VLLM_MULTINODE_SCRIPT} worker --ray_address=$(LWS_LEADER_ADDRESS)"]
        return leader, worker
    base = list(cmd.command)
    for flag, value in (("--nnodes", "$(LWS_GROUP_SIZE)"), ("--node-rank", "$(LWS_WORKER_INDEX)"),
                        ("--dist-init-addr", f"$(LWS_LEADER_ADDRESS):{SGLANG_INIT_PORT}")):
        if flag in base:
            base[base.index(flag) + 1] = value
    return base, base


def leaderworkerset(cmd: LaunchCommand, gpu: GpuSpec, *, name: str, gpus: int, nodes: int,
                    summary: str) -> tuple[str, list[str]]:
    """A LeaderWorkerSet of ``nodes`` pods with ``gpus / nodes`` GPUs each (module docstring)."""
    if nodes < 2:
        raise UsageError("--emit lws is for a plan that spans nodes, and this one fits on one node: "
                         "use --emit deployment")
    if gpus % nodes:
        raise UsageError(f"{gpus} GPUs do not split evenly over {nodes} nodes")
    per_pod = gpus // nodes
    head, notes = _header("lws", summary, cmd, gpu)
    sel, _ = gpu_selector(gpu)
    leader_cmd, worker_cmd = _lws_commands(cmd)
    leader = {"name": f"{cmd.engine}-leader", "image": _image(cmd.engine), "command": leader_cmd,
              "ports": [{"containerPort": SERVE_PORT}], "resources": _resources(per_pod)}
    worker = {"name": f"{cmd.engine}-worker", "image": _image(cmd.engine), "command": worker_cmd,
              "resources": _resources(per_pod)}
    doc = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": {"name": name},
           "spec": {"replicas": 1, "leaderWorkerTemplate": {
               "size": nodes,
               "leaderTemplate": {"metadata": {"labels": {"role": "leader"}}, "spec": _pod(leader, sel)},
               "workerTemplate": {"spec": _pod(worker, sel)}}}}
    return _dump(head, doc), notes


def _model_uri(repo: str) -> str:
    """``hf://org/name`` for a Hub repository; a local checkpoint path as a ``pvc://`` URI on a claim
    named ``models`` (the user's volume; the path's tail still names the model for ``check``)."""
    if repo.startswith("/"):
        return "pvc://models" + repo.removeprefix("/models")
    return f"hf://{repo}"


def llm_inference_service(cmd: LaunchCommand, gpu: GpuSpec, *, name: str, gpus: int, nodes: int, tp: int,
                          ep: bool, repo: str, summary: str) -> tuple[str, list[str]]:
    """A one-node KServe LLMInferenceService (module docstring)."""
    if cmd.engine != "vllm":
        raise UsageError("--emit kserve writes a KServe LLMInferenceService, whose VLLM_ADDITIONAL_ARGS are vLLM's: "
                         "plan with --engine vllm, or use --emit deployment for SGLang")
    if nodes != 1:
        raise UsageError(f"--emit kserve writes a one-node LLMInferenceService, and this plan spans {nodes} nodes: "
                         "use --emit lws")
    head, notes = _header("kserve", summary, cmd, gpu)
    if repo.startswith("/"):
        notes.append(f"spec.model.uri points at a PersistentVolumeClaim named 'models' holding {repo}: "
                     "create it, or change the URI")
        head.append(f"note: {notes[-1]}")
    sel, _ = gpu_selector(gpu)
    # the command's flags after the model, without the ones spec.model / spec.parallelism carry
    tokens = list(cmd.command)
    tokens = tokens[tokens.index(repo) + 1:]
    extra: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == VLLM_FLAGS.tp:  # spec.parallelism.tensor carries it
            i += 2
            continue
        if t == VLLM_FLAGS.ep_switch:  # spec.parallelism.expert
            i += 1
            continue
        extra.append(t)
        i += 1
    template: dict = {}
    if sel:
        template["nodeSelector"] = dict(sel)
    template["containers"] = [{"name": "main", "env": [{"name": "VLLM_ADDITIONAL_ARGS", "value": shlex.join(extra)}],
                               "resources": _resources(gpus)}]
    parallelism: dict = {"tensor": tp}
    if ep:
        parallelism["expert"] = True
    doc = {"apiVersion": "serving.kserve.io/v1alpha2", "kind": "LLMInferenceService", "metadata": {"name": name},
           "spec": {"model": {"uri": _model_uri(repo), "name": repo.removeprefix("/models/")},
                    "replicas": 1, "parallelism": parallelism, "template": template}}
    return _dump(head, doc), notes
