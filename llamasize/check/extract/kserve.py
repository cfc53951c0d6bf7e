"""KServe ``InferenceService``: the Hugging Face runtime (vLLM backend) or a custom vLLM container."""

from __future__ import annotations

from llamasize.check.extract.pods import (apply_engine_kind, dedupe_types, gpu_resources, gpu_selectors, object_name,
                                          other_accelerator, pod_env, pod_targets, replica_count)
from llamasize.check.flags import command_items, parse_flags
from llamasize.check.shell import substitute
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, key_line, line_of, text


def extract_isvc(file: str, doc: dict) -> list[Target]:
    """KServe InferenceService: the Hugging Face runtime (vLLM backend) or a custom vLLM container."""
    name = object_name(doc, "inferenceservice")
    pred = get(doc, "spec", "predictor")
    if not isinstance(pred, dict):
        return []
    replicas = replica_count(pred.get("minReplicas"))
    model = pred.get("model")
    out: list[Target] = []
    if isinstance(model, dict):
        fmt = str(text(get(model, "modelFormat", "name")) or "").lower()
        runtime = str(text(model.get("runtime")) or "").lower()
        if fmt == "huggingface" or "huggingface" in runtime or "vllm" in runtime:
            mline = key_line(pred, "model", line_of(model, 1))
            env, _ = pod_env(model)
            tokens = [(substitute(t, env), line) for t, line, _ in
                      command_items(model.get("args"), key_line(model, "args", mline))]
            inv = parse_flags(tokens, "kserve-huggingface", False)
            t = Target(file=file, line=mline, kind="InferenceService", name=name, engine=inv.engine,
                       settings=dict(inv.flags), replicas=replicas, unmodelled=list(inv.unmodelled))
            apply_engine_kind(t)
            uri = text(model.get("storageUri"))
            t.model = Loc(uri, key_line(model, "storageUri", mline)) if uri else inv.model
            t.gpu_count, resource = gpu_resources(model, mline, t.issues)
            t.gpu_types = dedupe_types(gpu_selectors(pred, mline))
            if resource and resource.startswith("nvidia.com/mig-"):
                t.gpu_types = [("resource", resource, t.gpu_count.line if t.gpu_count else mline)]
            _, where = pod_env(model)
            for var, skey in (("TENSOR_PARALLEL_SIZE", "tp"), ("PIPELINE_PARALLEL_SIZE", "pp")):
                if var in where and skey not in t.settings:
                    t.settings[skey] = Loc(where[var].value, where[var].line)
            ws = pred.get("workerSpec")
            if isinstance(ws, dict):
                multinode_layout(t, ws, mline)
            why = other_accelerator([model], [pred])
            if why:
                t.skip = ("not modelled", why)
            out.append(t)
    if not out:
        out += pod_targets(file, "InferenceService", name, pred, replicas=replicas)
    return out


def multinode_layout(t: Target, ws: dict, line: int) -> None:
    """KServe's multi-node Hugging Face runtime (docs/facts/serving.md 2.2 b): ``workerSpec``'s
    ``tensorParallelSize`` / ``pipelineParallelSize`` become ``TENSOR_PARALLEL_SIZE`` /
    ``PIPELINE_PARALLEL_SIZE`` and the ``--tensor-parallel-size`` / ``--pipeline-parallel-size`` of
    the server; the head and each of the ``pipelineParallelSize - 1`` workers is one node of
    ``tensorParallelSize`` GPUs (the controller sets their GPU resource from it), so the replica
    uses TP x PP GPUs whatever the predictor's own resources say (assumed from the runtime)."""
    for key, skey in (("tensorParallelSize", "tp"), ("pipelineParallelSize", "pp")):
        if ws.get(key) is not None:
            t.settings[skey] = Loc(text(ws[key]), key_line(ws, key, line))
    try:
        tp = int(str(t.settings["tp"].value)) if "tp" in t.settings else 1
        pp = int(str(t.settings["pp"].value)) if "pp" in t.settings else 1
    except ValueError:
        t.count_comparable = False
        return
    gline = t.gpu_count.line if t.gpu_count is not None else line
    t.gpu_count = Loc(tp * pp, gline)
    t.assumptions.append(f"multi-node InferenceService (workerSpec): {pp} node(s) x {tp} GPU(s) "
                         "(KServe sets each pod's GPUs from tensorParallelSize)")
