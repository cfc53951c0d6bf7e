"""KServe ``InferenceService``: the Hugging Face runtime (vLLM backend) or a custom vLLM container."""

from __future__ import annotations

from llamasize.check.extract.pods import (apply_engine_kind, dedupe_types, gpu_resources, gpu_selectors, object_name,
                                          pod_env, pod_targets, replica_count)
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
            ws = pred.get("workerSpec")
            if isinstance(ws, dict):
                for key, skey in (("tensorParallelSize", "tp"), ("pipelineParallelSize", "pp")):
                    if ws.get(key) is not None and skey not in t.settings:
                        t.settings[skey] = Loc(text(ws[key]), key_line(ws, key, mline))
                t.count_comparable = False
                t.assumptions.append("multi-node InferenceService (workerSpec): GPUs across the Ray cluster are "
                                     "not compared with the layout")
            out.append(t)
    if not out:
        out += pod_targets(file, "InferenceService", name, pred, replicas=replicas)
    return out
