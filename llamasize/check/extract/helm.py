"""vLLM production-stack Helm values: one target per ``servingEngineSpec.modelSpec`` entry."""

from __future__ import annotations

from llamasize.check.extract.pods import dedupe_types, replica_count, selector_terms
from llamasize.check.flags import command_items, parse_flags
from llamasize.check.rules import LS013
from llamasize.check.shell import script_segments
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import get, key_line, text
from llamasize.text import quote_value


_HELM_FIELDS = (("tensorParallelSize", "tp"), ("pipelineParallelSize", "pp"), ("maxModelLen", "max_model_len"),
                ("maxNumSeqs", "max_num_seqs"), ("gpuMemoryUtilization", "gmu"), ("dtype", "dtype"),
                ("maxLoras", "max_loras"), ("enableLoRA", "lora"), ("enablePrefixCaching", "prefix_caching"))


def read_fields(block, default_line: int, t: Target, fields: tuple[tuple[str, str], ...]) -> None:
    """The camelCase vLLM ``fields`` (``(key, setting)`` pairs) and ``extraArgs`` of one mapping into ``t``
    (Helm ``vllmConfig``, the VLLMRuntime blocks); not a mapping: nothing."""
    if not isinstance(block, dict):
        return
    for key, skey in fields:
        if block.get(key) is not None:
            t.settings[skey] = Loc(block[key], key_line(block, key, default_line))
    extra = block.get("extraArgs")
    if extra is not None:
        tokens = []
        for word, tline, style in command_items(extra, key_line(block, "extraArgs", default_line)):
            if " " in word.strip():
                tokens += [tok for seg in script_segments(word, tline, style) for tok in seg]
            else:
                tokens.append((word, tline))
        inv = parse_flags(tokens, "vllm", False)
        t.settings.update(inv.flags)
        t.unmodelled += inv.unmodelled
        t.model = inv.model or t.model


def extract_helm(file: str, doc: dict) -> list[Target]:
    """vLLM production-stack Helm values: one target per ``servingEngineSpec.modelSpec`` entry."""
    specs = get(doc, "servingEngineSpec", "modelSpec")
    if not isinstance(specs, list):
        return []
    meta = getattr(specs, "meta", None) or [(1, None)] * len(specs)
    out = []
    for i, ms in enumerate(specs):
        if not isinstance(ms, dict):
            continue
        line = meta[i][0]
        t = Target(file=file, line=line, kind="modelSpec", name=text(ms.get("name")) or f"#{i}", engine="vllm",
                   replicas=replica_count(ms.get("replicaCount")))
        url = text(ms.get("modelURL"))
        if url:
            t.model = Loc(url, key_line(ms, "modelURL", line))
        read_fields(ms.get("vllmConfig"), line, t, _HELM_FIELDS)
        if ms.get("requestGPU") is not None:
            gline = key_line(ms, "requestGPU", line)
            try:
                t.gpu_count = Loc(int(str(ms["requestGPU"])), gline)
            except ValueError:
                t.issues.append(LS013(gline, f"requestGPU: {quote_value(ms['requestGPU'])} is not a whole number"))
        gtype = text(ms.get("requestGPUType")) or ""
        t.gpu_types = dedupe_types(selector_terms(ms.get("nodeSelectorTerms"), line))
        if gtype.startswith("nvidia.com/mig-"):
            t.gpu_types = [("resource", gtype, key_line(ms, "requestGPUType", line))]
        off = [k for k in ("enabled", "enable") if str(text(ms.get(k)) or "").lower() == "false"]
        if off:
            t.skip = ("not a serving deployment", f"{off[0]}: false (not deployed)")
        elif str(text(get(doc, "servingEngineSpec", "enableEngine")) or "").lower() == "false":
            t.skip = ("not a serving deployment", "servingEngineSpec.enableEngine: false (not deployed)")
        if ms.get("raySpec") is not None:
            t.count_comparable = False
            t.assumptions.append("raySpec: GPUs across the Ray cluster are not compared with the layout")
        out.append(t)
    return out
