"""KServe ``LLMInferenceService``: ``spec.model``, ``spec.parallelism``, the ``main`` container's
``VLLM_ADDITIONAL_ARGS`` and resources; a ``worker`` pod spec makes it multi-node."""

from __future__ import annotations

from llamasize.check.extract.pods import (dedupe_types, gpu_resources, gpu_selectors, object_name, other_accelerator,
                                          pod_containers, pod_env, replica_count)
from llamasize.check.flags import container_invocation, parse_flags
from llamasize.check.shell import script_segments
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, key_line, line_of, text


def extract_llmisvc(file: str, doc: dict) -> list[Target]:
    """KServe LLMInferenceService: ``spec.model``, ``spec.parallelism``, the ``main`` container's
    ``VLLM_ADDITIONAL_ARGS`` and resources; a ``worker`` pod spec makes it multi-node."""
    name = object_name(doc, "llminferenceservice")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    template = spec.get("template")
    containers = pod_containers(template)
    main = next(((c, ln) for c, ln in containers if c.get("name") == "main"), containers[0] if containers else None)
    anchor = main[1] if main else key_line(spec, "template", line_of(spec, 1))
    t = Target(file=file, line=anchor, kind="LLMInferenceService", name=name, engine="vllm",
               replicas=replica_count(spec.get("replicas")))
    m = spec.get("model")
    uri = text(get(m, "uri")) or text(get(m, "name"))
    if uri:
        t.model = Loc(uri, key_line(m, "uri" if text(get(m, "uri")) else "name", line_of(m, anchor)))
    par = spec.get("parallelism")
    if isinstance(par, dict):
        for key, skey in (("tensor", "tp"), ("pipeline", "pp"), ("data", "dp"), ("expert", "ep")):
            if par.get(key) is not None:
                t.settings[skey] = Loc(par[key], key_line(par, key, anchor))
    if main:
        container, cline = main
        env, where = pod_env(container)
        inv = container_invocation(container, env, cline)
        if inv is not None:
            t.settings.update(inv.flags)
            t.unmodelled += inv.unmodelled
            t.model = inv.model or t.model
        extra = where.get("VLLM_ADDITIONAL_ARGS")
        if extra is not None:
            tokens = [tok for seg in script_segments(str(extra.value), extra.line, None) for tok in seg]
            inv = parse_flags(tokens, "vllm", False)
            t.settings.update(inv.flags)
            t.unmodelled += inv.unmodelled
            t.model = inv.model or t.model
        t.gpu_count, resource = gpu_resources(container, cline, t.issues)
        if resource and resource.startswith("nvidia.com/mig-"):
            t.gpu_types = [("resource", resource, t.gpu_count.line if t.gpu_count else cline)]
    t.gpu_types = t.gpu_types or dedupe_types(gpu_selectors(template, anchor)
                                               + gpu_selectors(spec.get("worker"), anchor))
    worker = spec.get("worker")
    if worker is not None and t.gpu_count is not None:
        data, local = get(par, "data"), get(par, "dataLocal")
        try:
            pods = int(str(data)) // int(str(local))
        except (TypeError, ValueError, ZeroDivisionError):
            pods = None
        wcount = None
        for wc, wline in pod_containers(worker):
            wcount, _ = gpu_resources(wc, wline, t.issues)
            if wcount is not None:
                break
        if pods and pods > 1:
            per_worker = wcount.value if wcount else t.gpu_count.value
            t.gpu_count = Loc(t.gpu_count.value + (pods - 1) * per_worker, t.gpu_count.line)
            t.assumptions.append(f"GPUs per replica = leader pod + {pods - 1} worker pod(s) "
                                 "(parallelism.data / parallelism.dataLocal pods)")
        else:
            t.count_comparable = False
            t.assumptions.append("multi-node LLMInferenceService without data/dataLocal: pods per replica unknown")
    why = other_accelerator([c for c, _ in containers + pod_containers(worker)], [template, worker])
    if why:
        t.skip = ("not modelled", why)
    return [t]
