"""vLLM production-stack operator ``VLLMRuntime`` (``production-stack.vllm.ai/v1alpha1``): the model
(``spec.model.modelURL``), the vLLM settings and the GPU count. The operator's samples have put the
settings under ``spec.vllmConfig`` / ``spec.model`` and the pod under ``spec.deploymentConfig`` or at
``spec`` itself; every one of those places is read (the later wins: ``spec``, ``spec.model``,
``spec.vllmConfig``), so both layouts check the same."""

from __future__ import annotations

from llamasize.check.extract.pods import dedupe_types, gpu_selectors, object_name, replica_count, selector_terms
from llamasize.check.extract.helm import read_fields
from llamasize.check.rules import LS013
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, key_line, line_of, text
from llamasize.text import quote_value

#: camelCase fields -> settings (the same names as production-stack's Helm ``vllmConfig``).
FIELDS = (("tensorParallelSize", "tp"), ("pipelineParallelSize", "pp"), ("maxModelLen", "max_model_len"),
          ("maxNumSeqs", "max_num_seqs"), ("gpuMemoryUtilization", "gmu"), ("dtype", "dtype"),
          ("maxLoras", "max_loras"), ("enableLoRA", "lora"), ("enablePrefixCaching", "prefix_caching"),
          ("maxNumBatchedTokens", "max_num_batched_tokens"), ("kvCacheDtype", "kv_cache_dtype"))


def extract_vllmruntime(file: str, doc: dict) -> list[Target]:
    """One target per ``VLLMRuntime``."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return []
    line = line_of(spec, 1)
    dc = spec.get("deploymentConfig") if isinstance(spec.get("deploymentConfig"), dict) else spec
    t = Target(file=file, line=line, kind="VLLMRuntime", name=object_name(doc, "vllmruntime"), engine="vllm",
               replicas=replica_count(dc.get("replicas")))
    model = spec.get("model")
    url = text(get(model, "modelURL")) or text(spec.get("modelURL"))
    if url:
        where = model if text(get(model, "modelURL")) else spec
        t.model = Loc(url, key_line(where, "modelURL", line))
    for block in (spec, model, spec.get("vllmConfig")):
        read_fields(block, line, t, FIELDS)
    res = dc.get("resources")
    if isinstance(res, dict) and res.get("gpu") is not None:
        gline = key_line(res, "gpu", line)
        try:
            t.gpu_count = Loc(int(str(res["gpu"])), gline)
        except ValueError:
            t.issues.append(LS013(gline, f"resources.gpu: {quote_value(res['gpu'])} is not a whole number"))
    t.gpu_types = dedupe_types(gpu_selectors(dc, line) + selector_terms(dc.get("nodeSelectorTerms"), line))
    return [t]
