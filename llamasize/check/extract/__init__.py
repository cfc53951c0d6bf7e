"""Extractors: one module per manifest family turns a YAML document into serving ``Target``s (raw
values with their lines; facts/serving.md 2.2). ``extract`` picks the family by ``kind`` (and by the
file name for ``llamasize.yaml``)."""

from __future__ import annotations

from llamasize.check.extract.helm import extract_helm
from llamasize.check.extract.kserve import extract_isvc
from llamasize.check.extract.llamasize_yaml import extract_llamasize
from llamasize.check.extract.llmisvc import extract_llmisvc
from llamasize.check.extract.lws import extract_lws
from llamasize.check.extract.pods import WORKLOAD_KINDS, extract_workload
from llamasize.check.target import Target


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
    if "servingEngineSpec" in doc:
        return extract_helm(file, doc)
    return []
