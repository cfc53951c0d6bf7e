"""llm-d ``modelservice`` Helm values (the ``llm-d-modelservice`` chart): ``modelArtifacts`` names the
model; ``decode`` and ``prefill`` are roles (``create: false`` = not deployed), each with
``replicas``, ``parallelism: {tensor, data, dataLocal}``, ``containers`` (``modelCommand: vllmServe``
runs ``vllm serve <model>`` with the container's ``args``) and ``acceleratorTypes: {labelKey,
labelValues}`` (the node label the pods are pinned to). ``accelerator.type`` other than nvidia/amd
(e.g. ``google`` for TPUs) is not modelled.

GPUs per replica: the pod's GPU resource, times ``data / dataLocal`` pods when ``multinode`` is set
(each pod runs ``dataLocal`` data-parallel ranks of ``tensor`` GPUs)."""

from __future__ import annotations

from llamasize.check.extract.pods import (GPU_LABELS, dedupe_types, gpu_resources, gpu_selectors, other_accelerator,
                                          pod_containers, pod_env, replica_count)
from llamasize.check.flags import command_items, container_invocation, parse_flags
from llamasize.check.shell import substitute
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, key_line, line_of, text

ROLES = ("prefill", "decode")


def is_llmd_values(doc: dict) -> bool:
    """A values file of the llm-d modelservice chart."""
    return "modelArtifacts" in doc and any(isinstance(doc.get(r), dict) for r in ROLES)


def extract_llmd_values(file: str, doc: dict) -> list[Target]:
    """One target per role (``modelservice/decode``, ``modelservice/prefill``)."""
    art = doc.get("modelArtifacts")
    uri = text(get(art, "uri")) or text(get(art, "name"))
    accel = str(text(get(doc, "accelerator", "type")) or "nvidia").lower()
    multinode = str(text(doc.get("multinode")) or "false").lower() == "true"
    out: list[Target] = []
    for role in ROLES:
        spec = doc.get(role)
        if not isinstance(spec, dict):
            continue
        line = key_line(doc, role, line_of(spec, 1))
        t = Target(file=file, line=line, kind="modelservice", name=role, engine="vllm",
                   replicas=replica_count(spec.get("replicas")))
        if uri:
            t.model = Loc(uri, key_line(art, "uri" if text(get(art, "uri")) else "name", line))
        if str(text(spec.get("create")) or "true").lower() == "false":
            t.skip = ("not a serving deployment", f"{role}.create: false (not deployed)")
            out.append(t)
            continue
        par = spec.get("parallelism")
        if isinstance(par, dict):
            for key, skey in (("tensor", "tp"), ("pipeline", "pp")):
                if par.get(key) is not None:
                    t.settings[skey] = Loc(par[key], key_line(par, key, line))
            local = par.get("dataLocal")
            dp_key = "data" if multinode else ("dataLocal" if local is not None else "data")
            if par.get(dp_key) is not None:
                t.settings["dp"] = Loc(par[dp_key], key_line(par, dp_key, line))
        containers = pod_containers(spec)
        for c, cline in containers:
            env, _ = pod_env(c)
            inv = container_invocation(c, env, cline)
            if inv is None and (c.get("modelCommand") is not None or c.get("args") is not None):
                tokens = [(substitute(w, env), ln) for w, ln, _ in command_items(c.get("args"),
                                                                                 key_line(c, "args", cline))]
                inv = parse_flags(tokens, "vllm", False)
            if inv is None:
                continue
            t.line = cline
            t.engine = inv.engine
            t.settings.update(inv.flags)
            t.unmodelled += inv.unmodelled
            t.model = inv.model or t.model
            t.gpu_count, _ = gpu_resources(c, cline, t.issues)
            break
        types = gpu_selectors(spec, line)
        at = spec.get("acceleratorTypes")
        key = text(get(at, "labelKey"))
        values = get(at, "labelValues")
        if key in GPU_LABELS and isinstance(values, list):
            meta = getattr(values, "meta", None) or [(line, None)] * len(values)
            types += [(key, text(v), meta[i][0]) for i, v in enumerate(values) if text(v)]
        t.gpu_types = dedupe_types(types)
        if multinode and isinstance(par, dict) and t.gpu_count is not None:
            try:
                pods = int(str(par.get("data"))) // int(str(par.get("dataLocal")))
            except (TypeError, ValueError, ZeroDivisionError):
                pods = 0
            if pods > 1:
                t.gpu_count = Loc(t.gpu_count.value * pods, t.gpu_count.line)
                t.assumptions.append(f"multinode: {pods} pods (parallelism.data / dataLocal) per replica")
        why = other_accelerator([c for c, _ in containers], [spec])
        if accel not in ("nvidia", "amd", "cuda", "rocm"):
            why = why or f"accelerator.type {accel}: not modelled (the catalogue holds NVIDIA and AMD GPUs)"
        if why:
            t.skip = ("not modelled", why)
        out.append(t)
    return out
