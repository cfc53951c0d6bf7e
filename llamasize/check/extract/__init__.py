"""Extractors: one module per manifest family turns a YAML document into serving ``Target``s (raw
values with their lines; docs/facts/serving.md 2.2). ``extract`` picks the family by ``kind`` (and by the
file name for ``llamasize.yaml``, by their top-level keys for Helm values); ``describe`` says why a
document that yields no target is not a serving deployment, so none is skipped in silence."""

from __future__ import annotations

from llamasize.check.extract.aibrix import RAY_KINDS, extract_ray, extract_stormservice
from llamasize.check.extract.helm import extract_helm
from llamasize.check.extract.kserve import extract_isvc
from llamasize.check.extract.llamasize_yaml import extract_llamasize
from llamasize.check.extract.llmd import extract_llmd_values, is_llmd_values
from llamasize.check.extract.llmisvc import extract_llmisvc
from llamasize.check.extract.lws import extract_lws
from llamasize.check.extract.pods import WORKLOAD_KINDS, extract_workload, object_name
from llamasize.check.extract.prodstack import extract_vllmruntime
from llamasize.check.target import Target
from llamasize.check.yamltree import get, line_of, text

#: Kinds that are never serving deployments themselves, and why (the ``describe`` reason).
_NOT_SERVING = {
    "ServingRuntime": "a KServe runtime template (the InferenceServices that use it are checked)",
    "ClusterServingRuntime": "a KServe runtime template (the InferenceServices that use it are checked)",
    "LLMInferenceServiceConfig": "a KServe LLMInferenceService preset (the services that use it are checked)",
}


def extract(file: str, doc, *, llamasize_file: bool, stem: str, depth: int = 0) -> list[Target]:
    """Every serving target of one YAML document."""
    if llamasize_file:
        return extract_llamasize(file, doc, stem)
    if not isinstance(doc, dict):
        return []
    kind = doc.get("kind") if isinstance(doc.get("kind"), str) else None
    if kind == "List" and isinstance(doc.get("items"), list) and depth < 3:
        return [t for item in doc["items"]
                for t in extract(file, item, llamasize_file=False, stem=stem, depth=depth + 1)]
    if kind in WORKLOAD_KINDS:
        return extract_workload(file, doc)
    if kind == "LeaderWorkerSet":
        return extract_lws(file, doc)
    if kind == "InferenceService":
        return extract_isvc(file, doc)
    if kind == "LLMInferenceService":
        return extract_llmisvc(file, doc)
    if kind == "StormService":
        return extract_stormservice(file, doc)
    if kind in RAY_KINDS:
        return extract_ray(file, doc)
    if kind == "VLLMRuntime":
        return extract_vllmruntime(file, doc)
    if "servingEngineSpec" in doc:
        return extract_helm(file, doc)
    if kind is None and is_llmd_values(doc):
        return extract_llmd_values(file, doc)
    return []


def documents(doc, depth: int = 0) -> list:
    """A document, or the items of a ``List`` (nested up to 3 deep), each accounted for on its own."""
    if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list) and depth < 3:
        return [x for item in doc["items"] for x in documents(item, depth + 1)]
    return [doc]


def describe(doc) -> tuple[int, str, str, str]:
    """``(line, id, status, reason)`` of a document that yields no serving target."""
    line = line_of(doc, 1)
    if not isinstance(doc, dict):
        return line, "?", "not a serving deployment", f"a YAML {type(doc).__name__}, not a Kubernetes object"
    kind = text(doc.get("kind"))
    name = text(get(doc, "metadata", "name"))
    did = f"{kind}/{name}" if kind and name else (kind or "?")
    if kind in _NOT_SERVING:
        return line, did, "not a serving deployment", _NOT_SERVING[kind]
    if kind == "List":
        return line, did, "not a serving deployment", "a List with no serving deployment among its items"
    if kind in WORKLOAD_KINDS or kind in ("LeaderWorkerSet", "InferenceService", "LLMInferenceService",
                                          "StormService", "VLLMRuntime") or kind in RAY_KINDS:
        return (line, f"{kind}/{object_name(doc, kind.lower())}", "not a serving deployment",
                "no container starts vLLM or SGLang (vllm serve, python -m vllm.entrypoints.openai.api_server, "
                "python -m sglang.launch_server, the vllm/vllm-openai image, KServe's Hugging Face runtime)")
    if kind:
        return line, did, "not a serving deployment", f"a {kind}: not a kind that serves a model"
    if "servingEngineSpec" in doc:
        return line, "modelSpec", "not a serving deployment", "production-stack values with no modelSpec entry"
    return line, did, "not a serving deployment", "no kind, and not production-stack or llm-d modelservice values"
