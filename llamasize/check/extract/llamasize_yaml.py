"""llamasize's own deployment format (``llamasize.yaml``, ``ManifestFile``); schema problems become
LS013 findings at the line of the offending key."""

from __future__ import annotations

from pydantic import ValidationError

from llamasize.check.report import ManifestFile
from llamasize.check.rules import LS005, LS013
from llamasize.check.target import Loc, Target
from llamasize.check.yamltree import YList, YMap, key_line, line_of
from llamasize.text import quote_if_needed


def extract_llamasize(file: str, doc, stem: str) -> list[Target]:
    """llamasize's own format (``ManifestFile``); schema problems become LS013 findings."""
    if not isinstance(doc, dict):
        t = Target(file=file, line=line_of(doc, 1), kind="llamasize", name=stem, engine=None, native=True)
        t.issues = [LS013(t.line, f"llamasize.yaml: a document must be a mapping of keys, got "
                                           f"{type(doc).__name__}")]
        return [t]
    data = dict(doc)
    shorthand = "deployments" not in data
    if shorthand:
        policy = data.pop("policy", None)
        version = data.pop("version", None)
        data = {"deployments": [data]}
        if policy is not None:
            data["policy"] = policy
        if version is not None:
            data["version"] = version
    try:
        mf = ManifestFile.model_validate(data)
    except ValidationError as e:
        issues = []
        for err in e.errors()[:5]:
            loc = list(err["loc"])
            if shorthand and loc[:2] and loc[0] == "deployments":
                loc = loc[2:]
            node, line = doc, line_of(doc, 1)
            for part in loc:
                if isinstance(node, YMap) and part in node:
                    line = node.meta[part][0]
                    node = node[part]
                elif isinstance(node, YList) and isinstance(part, int) and part < len(node):
                    line = node.meta[part][0]
                    node = node[part]
                else:
                    break
            msg = "unknown key" if err["type"] == "extra_forbidden" else (
                "required key missing" if err["type"] == "missing" else err["msg"])
            where = ".".join(quote_if_needed(str(x)) for x in loc) or "(top level)"
            issues.append(LS013(line, f"llamasize.yaml: {where}: {msg}"))
        t = Target(file=file, line=line_of(doc, 1), kind="llamasize", name=stem, engine=None, native=True)
        t.issues = issues
        return [t]
    entries = doc.get("deployments") if not shorthand else YList([doc])
    if shorthand:
        entries.line, entries.meta = line_of(doc, 1), [(line_of(doc, 1), None)]
    out = []
    for i, d in enumerate(mf.deployments):
        raw = entries[i]
        line = entries.meta[i][0]

        def at(key, default=line, raw=raw):
            return key_line(raw, key, default)

        name = d.name or (stem if len(mf.deployments) == 1 else f"#{i}")
        t = Target(file=file, line=line, kind="llamasize", name=name,
                   engine=d.engine, native=True, model=Loc(d.model, at("model")), replicas=d.replicas,
                   batch=Loc(d.concurrency, at("concurrency")), policy=mf.policy)
        t.gpu_types = [("llamasize", d.gpu, at("gpu"))]
        t.gpu_count = Loc(d.gpus, at("gpus"))
        tp = d.tp if d.tp is not None else (d.gpus // (d.pp * d.dp) if d.gpus % (d.pp * d.dp) == 0 else None)
        if tp is None:
            t.issues.append(LS005(at("pp"), f"gpus ({d.gpus}) is not divisible by pp ({d.pp})"
                                  + (f" x dp ({d.dp})" if d.dp > 1 else "")))
            t.count_comparable = False
            tp = 1
        t.settings = {"tp": Loc(tp, at("tp") if d.tp is not None else at("gpus")), "pp": Loc(d.pp, at("pp")),
                      "ep": Loc(d.ep, at("ep")), "max_model_len": Loc(d.ctx, at("ctx")),
                      "kv_cache_dtype": Loc(d.kv_dtype, at("kv_dtype")), "kv_layout": Loc(d.kv_layout, at("kv_layout"))}
        if d.dp > 1:
            t.settings["dp"] = Loc(d.dp, at("dp"))
        if d.quant is not None:
            t.settings["quantization"] = Loc(d.quant, at("quant"))
        if d.gpu_memory_utilization is not None:
            t.settings["gmu"] = Loc(d.gpu_memory_utilization, at("gpu_memory_utilization"))
        if d.mem_fraction_static is not None:
            t.settings["mfs"] = Loc(d.mem_fraction_static, at("mem_fraction_static"))
        out.append(t)
    return out
