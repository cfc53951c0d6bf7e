"""From what a manifest wrote to what the estimator needs: model references -> registry specs, node
labels -> catalogue GPUs, flag values -> parallel sizes, weight format, KV dtype, context and engine
knobs. Values that cannot be used are reported where they are read (LS009, LS010, LS012, LS013) and
resolve to None, so the rules that need them are not applied.

The weight format when none is given is the checkpoint's (``ModelSpec.default_quant``), the one
default ``fit`` uses too; the engine's method and dtype names come from ``llamasize.estimate.engines``.
"""

from __future__ import annotations

import json

from llamasize.check.extract.pods import GPU_LABELS
from llamasize.check.report import PolicyLimits
from llamasize.check.rule import Issue
from llamasize.check.rules import LS009, LS010, LS012, LS013
from llamasize.check.target import Resolved, Target
from llamasize.check.yamltree import text
from llamasize.data.resolve import HfIndex, parse_reference, resolve, with_format
from llamasize.errors import DataError, UnknownIdError, UsageError
from llamasize.estimate.engines import (DTYPES, INT4_GROUP_METHODS, KV_CACHE_DTYPES, QUANTIZATION_METHODS, SGLANG_FLAGS,
                                        VLLM_FLAGS, method_key)
from llamasize.estimate.quant import get_format
from llamasize.estimate.serving_extras import Draft
from llamasize.plan.pricing import PriceBasis, gpu_hour_price
from llamasize.text import is_plain, quote_if_needed, quote_value
from llamasize.units import parse_count, parse_fraction


class CatalogIndex:
    """Registry lookups for manifests: repository ids -> models (``data.resolve.HfIndex``, the one
    table every command uses), node labels -> GPUs (built once)."""

    def __init__(self, reg) -> None:
        self.reg = reg
        self.hf = HfIndex(reg)
        self.gpu_labels = gpu_label_index(reg)

    def model(self, ref: str):
        """Registry spec for a model reference (HF name, ``hf://``, ``s3://.../org--name``, local
        path ending in ``org/name``; ``data.resolve.parse_reference``), plus the HF name it matched;
        (None, None) when no spec lists it. The spec carries a quantized repository's format."""
        m = self.hf.match(parse_reference(ref))
        return (with_format(m), m.hf_name) if m is not None else (None, None)

    def gpu(self, kind: str, value: str) -> list:
        """The catalogue GPUs a node label value names (empty when unknown; Karpenter's
        ``instance-gpu-name`` ``a100`` is two GPUs, 40GB and 80GB). GPU feature discovery values are
        matched without a ``-SHARED`` suffix (time-slicing) and with or without the ``NVIDIA-``
        prefix older drivers leave out (docs/facts/hardware-memory.md 4.1)."""
        key = value.strip().lower()
        if kind == "gpu.product":
            key = key.removesuffix("-shared")
            return self.gpu_labels.get((kind, key)) or self.gpu_labels.get((kind, "nvidia-" + key), [])
        return self.gpu_labels.get((kind, key), [])


def gpu_label_index(reg) -> dict[tuple[str, str], list]:
    """(label kind, lower-cased value) -> catalogue GPUs: GFD products and NVML names, GKE
    accelerators, instance types (the GPU shaped by its instance) and Karpenter GPU names."""
    index: dict[tuple[str, str], list] = {}

    def add(kind: str, value: str, g) -> None:
        gs = index.setdefault((kind, value.lower()), [])
        if g.id not in {x.id for x in gs}:
            gs.append(g)

    for g in reg.gpus:
        for v in g.gfd_products:
            add("gpu.product", v, g)
        for v in g.nvml_names:
            add("gpu.product", v.replace(" ", "-"), g)
        for v in g.gke_accelerators:
            add("gke-accelerator", v, g)
    for inst in reg.instances:
        add("instance-type", inst.spec.id, inst.gpu)  # the GPU shaped by its instance (one node each)
        if inst.spec.karpenter_gpu_name:  # a GPU name, not an instance: the catalogue's own node size
            add("karpenter-gpu-name", inst.spec.karpenter_gpu_name, reg.gpu(inst.spec.gpu))
    return index


def merge_limits(run: PolicyLimits, file: PolicyLimits | None) -> PolicyLimits:
    """The stricter of the run's limits and a llamasize.yaml file's own."""
    if file is None:
        return run
    budgets = [x for x in (run.max_usd_per_hour, file.max_usd_per_hour) if x is not None]
    heads = [x for x in (run.min_headroom, file.min_headroom) if x is not None]
    return PolicyLimits(max_usd_per_hour=min(budgets) if budgets else None, min_headroom=max(heads) if heads else None)


def echoed(message: str, raw: object) -> str:
    """A message of ``parse_count``/``parse_fraction`` (which echo ``repr(raw)``) with the value
    shown by ``quote_value`` instead: cut at 200 characters with its length stated."""
    return message.replace(repr(raw), quote_value(raw)) if isinstance(raw, str) else message


def unknown_id(e: UnknownIdError, value: str) -> str:
    """The registry's "unknown id" message (``unknown gpu 'x'; did you mean ...``), which echoes the
    value raw in single quotes, with the value shown by ``quote_value`` when it is not plain (long,
    or holding quotes, control or bidi characters)."""
    if is_plain(value):
        return str(e)
    return str(e).replace(f"'{value}'", quote_value(value), 1)


def count(t: Target, key: str, what: str, out: list[Issue], maximum: int = 4096) -> int | None:
    """A whole-number setting (vLLM k/K/m/M suffixes); LS013/LS012 on junk / unresolved env refs."""
    loc = t.settings.get(key)
    if loc is None or loc.value is None:
        if loc is not None:
            out.append(LS013(loc.line, f"{what} has no value"))
        return None
    raw = text(loc.value)
    if raw is not None and "$" in raw:
        out.append(LS012(loc.line, f"{what} is {quote_value(raw)}, taken from a variable llamasize cannot resolve; "
                                   "not checked"))
        return None
    try:
        return parse_count(raw if raw is not None else loc.value, what, maximum=maximum)
    except UsageError as e:
        out.append(LS013(loc.line, echoed(str(e), raw)))
        return None


class Resolver:
    """Resolves targets against one registry (lookup tables built once per run)."""

    def __init__(self, reg, default_gpu: str | None = None) -> None:
        self.reg = reg
        self.index = CatalogIndex(reg)
        self.default_gpu = reg.gpu(default_gpu) if default_gpu else None

    def model(self, t: Target, out: list[Issue]):
        """The spec of the target's model (and the HF name it matched), or (None, None): the one
        resolution order of every command (``data.resolve``) without local paths, which name files
        on the serving machine (a path-like reference is matched by its tail)."""
        if t.model is None or not text(t.model.value):
            out.append(LS009(t.line, "no model found (no positional model, --model, storageUri, modelURL or "
                                     "spec.model.uri)"))
            return None, None
        ref = text(t.model.value)
        if "$" in ref and not t.native:
            out.append(LS012(t.model.line, f"the model {quote_value(ref)} comes from a variable llamasize cannot "
                                           "resolve; not checked"))
            return None, None
        try:
            r = resolve(self.reg, ref, paths=False, ids=t.native, index=self.index.hf)
        except UnknownIdError as e:
            if t.native:
                out.append(LS009(t.model.line, unknown_id(e, ref)))
            else:
                cache = " nor in the local Hugging Face cache" if parse_reference(ref).repo_id else ""
                out.append(LS009(t.model.line, f"model {quote_value(ref)} is not in the spec registry (no model lists "
                                               f"it in hf_names){cache} (see 'llamasize models'); memory not checked"))
            return None, None
        except DataError as e:  # an unreadable cache, a revision not cached, a bad config.json in a snapshot
            out.append(LS009(t.model.line, f"{e}; memory not checked"))
            return None, None
        return r.spec, r.hf_name

    def gpus(self, t: Target, out: list[Issue], assumptions: list[str]) -> list:
        """Catalogue GPUs the pods may land on (each is checked). A label that names several GPUs
        (Karpenter's ``a100``) is narrowed by the GPUs other labels pin, else all are checked."""
        gpus, ambiguous = [], []
        for key, value, line in t.gpu_types:
            if key == "llamasize":
                try:
                    g = self.reg.gpu(value)
                except UnknownIdError as e:
                    out.append(LS010(line, unknown_id(e, value)))
                    continue
            elif key == "resource" or (GPU_LABELS.get(key) == "gpu.product" and "-mig-" in value.lower()):
                out.append(LS010(line, f"{quote_if_needed(value)} is a MIG slice; slices are not in the GPU catalogue"))
                continue
            else:
                found = self.index.gpu(GPU_LABELS[key], value)
                if not found:
                    out.append(LS010(line, f"{key}={quote_if_needed(value)} matches no GPU in the catalogue "
                                           "(gfd_products / nvml_names, gke_accelerators, instance types, Karpenter GPU "
                                           "names; see 'llamasize gpus' and 'llamasize gpus --instances')"))
                    continue
                if len(found) > 1:
                    ambiguous.append((f"{key}={quote_if_needed(value)}", found))
                    continue
                g = found[0]
            if g.id not in {x.id for x in gpus}:
                gpus.append(g)
        for label, found in ambiguous:  # another label that pins one of them narrows the choice
            narrowed = [x for x in found if x.id in {y.id for y in gpus}]
            if not narrowed:
                assumptions.append(f"{label} is any of {', '.join(x.id for x in found)}: each is checked")
                gpus += [x for x in found if x.id not in {y.id for y in gpus}]
        if not t.gpu_types:
            if self.default_gpu is not None:
                gpus = [self.default_gpu]
                assumptions.append(f"GPU type not pinned by the manifest: {self.default_gpu.id} assumed "
                                   "(--default-gpu)")
            else:
                out.append(LS010(t.line, "GPU type not pinned (no nodeSelector/affinity on nvidia.com/gpu.product, "
                                         "node.kubernetes.io/instance-type, cloud.google.com/gke-accelerator or "
                                         "karpenter.k8s.aws/instance-gpu-name); "
                                         "memory not checked (--default-gpu ID assumes one)"))
        return gpus


def layout(r: Resolved, out: list[Issue], assumptions: list[str]) -> None:
    """``r.tp, r.pp, r.dp, r.ep``; a size is None when its value is unusable (already reported)."""
    t = r.target
    r.tp = count(t, "tp", "tensor-parallel size", out) if "tp" in t.settings else 1
    r.pp = count(t, "pp", "pipeline-parallel size", out, maximum=1024) if "pp" in t.settings else 1
    r.dp = count(t, "dp", "data-parallel size", out, maximum=100_000) if "dp" in t.settings else 1
    ep = False
    if "ep" in t.settings:
        v = t.settings["ep"].value
        ep = v if isinstance(v, bool) else str(v).strip().lower() in ("true", "1", "yes")
    if "ep_size" in t.settings:
        eps = count(t, "ep_size", "expert-parallel size", out)
        ep = ep or bool(eps and eps > 1)
    r.ep = ep
    r.attn_dp, r.attn_tp = 1, r.tp
    if t.engine == "sglang" and t.settings.get("dp_attention") and t.settings["dp_attention"].value:
        assumptions.append("SGLang --enable-dp-attention: data-parallel attention inside the TP group "
                           "(GPUs = TP x PP)")
        if r.dp and r.dp > 1 and r.tp and r.tp % r.dp == 0:  # attention TP = tp / dp in each of dp ranks
            r.attn_dp, r.attn_tp = r.dp, r.tp // r.dp
        elif r.dp and r.dp > 1 and r.tp:
            assumptions.append(f"--dp-size {r.dp} does not divide --tp-size {r.tp}: sized as TP attention")
        r.dp = 1
    elif t.native and r.dp and r.dp > 1:  # llamasize.yaml: dp is llamasize's --dp (attention DP)
        r.attn_dp = r.dp
    elif (t.engine == "vllm" and r.dp and r.dp > 1 and r.spec is not None and r.spec.is_moe
          and r.spec.num_local_experts):  # vLLM's DP ranks of a MoE model share its MoE layers
        r.attn_dp = r.dp
        assumptions.append(f"vLLM --data-parallel-size {r.dp} on a MoE model: attention data parallelism, the MoE "
                           f"layers sharded over {r.dp} x {r.tp} GPUs (docs/facts/serving.md 2.1)")


#: How a quantized checkpoint's format is named in an assumption ("... is an FP8 checkpoint").
_FORMAT_WORDS = {"fp8": "FP8", "fp8_mixed": "FP8", "fp8_experts": "FP8", "nvfp4": "NVFP4", "mxfp4": "MXFP4", "int4": "INT4", "int8": "INT8"}


def _checkpoint_format(spec, hf_name: str | None) -> str | None:
    """The format of the quantized repository a reference matched (``ModelSpec.hf_quantized``), else None."""
    return spec.hf_quantized.get(hf_name) if hf_name else None


def quant(r: Resolved, out: list[Issue], assumptions: list[str]) -> None:
    """``r.quant`` (llamasize format of the weights) and its line: the flag, else what the checkpoint
    ships in (``ModelSpec.default_quant``, as ``fit``)."""
    t, spec = r.target, r.spec
    loc = t.settings.get("quantization")
    mline = t.model.line if t.model is not None else t.line
    r.quant, r.quant_line = None, loc.line if loc is not None else t.line
    if t.native:
        if loc is None:  # the same default as ``fit``: the format the checkpoint ships in
            r.quant = spec.default_quant
            return
        try:
            r.quant = get_format(str(loc.value)).id
        except UnknownIdError as e:
            out.append(LS013(loc.line, unknown_id(e, str(loc.value))))
        return
    if loc is not None and loc.value is not None:
        method = method_key(str(loc.value))
        q = QUANTIZATION_METHODS.get(method)
        if q is None and method == "compressed_tensors":
            q = _checkpoint_format(spec, r.hf_name)
        if q is None:
            out.append(LS012(loc.line, f"--quantization {quote_if_needed(str(loc.value))} is not modelled (known: "
                                       f"{', '.join(sorted(QUANTIZATION_METHODS))}); memory not checked"))
            return
        if method in INT4_GROUP_METHODS:
            assumptions.append(f"--quantization {quote_if_needed(str(loc.value))}: 4-bit group-128 weights "
                               "assumed (int4)")
        r.quant = q
        return
    r.quant_line = mline
    q = _checkpoint_format(spec, r.hf_name)
    if q is not None:
        assumptions.append(f"{r.hf_name} is an {_FORMAT_WORDS.get(q, q)} checkpoint: {q} weights")
        r.quant = q
        return
    if spec.checkpoint_quant:  # the checkpoint's own format (``ModelSpec.default_quant``, as ``fit``)
        assumptions.append(f"{spec.id}'s checkpoint ships in {spec.default_quant}: {spec.default_quant} weights")
        r.quant = spec.default_quant
        return
    dloc = t.settings.get("dtype")
    if dloc is not None and text(dloc.value) and str(dloc.value).lower() != "auto":
        r.quant_line = dloc.line
        r.quant = DTYPES.get(str(dloc.value).strip().lower())
        if r.quant is None:
            out.append(LS013(dloc.line, f"unknown --dtype {quote_value(dloc.value)}"))
        return
    r.quant = spec.default_quant


def kv(r: Resolved, out: list[Issue]) -> None:
    """``r.kv``: llamasize KV dtype of ``--kv-cache-dtype`` (None when not modelled) and its line."""
    t = r.target
    loc = t.settings.get("kv_cache_dtype")
    if loc is None or loc.value is None:
        r.kv, r.kv_line = "auto", t.line
        return
    r.kv, r.kv_line = KV_CACHE_DTYPES.get(method_key(str(loc.value))), loc.line
    if r.kv is None:
        rule = LS013 if t.native else LS012
        out.append(rule(loc.line, f"KV-cache dtype {quote_value(loc.value)} is not modelled (known: "
                                  f"{', '.join(sorted(KV_CACHE_DTYPES))}); memory not checked"))


def context(r: Resolved, out: list[Issue]) -> None:
    """``r.ctx`` (--max-model-len; None when unset or unusable), ``r.ctx_auto`` (``-1``/``auto``)
    and ``r.batch`` (the sequences that must fit)."""
    t = r.target
    loc = t.settings.get("max_model_len")
    if loc is not None and str(text(loc.value)).strip().lower() in ("-1", "auto"):
        r.ctx_auto = True
    elif loc is not None:
        r.ctx = count(t, "max_model_len", r.ctx_name, out, maximum=2**40)
    if t.batch is not None:
        try:
            r.batch = parse_count(str(t.batch.value), "concurrency", maximum=1_000_000)
        except UsageError as e:
            out.append(LS013(t.batch.line, echoed(str(e), str(t.batch.value))))


def default_context(r: Resolved) -> None:
    """Without --max-model-len the engine uses the model's maximum context (noted for the message)."""
    maxpos = r.spec.max_position_embeddings
    if r.ctx is None and not r.ctx_auto and maxpos is not None:
        r.ctx = maxpos
        engine = {"vllm": "vLLM", "sglang": "SGLang"}.get(r.target.engine, r.target.engine)
        flag = (SGLANG_FLAGS if r.target.engine == "sglang" else VLLM_FLAGS).max_model_len
        r.context_note = f"{flag} not set: {engine} uses {r.spec.id}'s maximum of {maxpos:,} tokens"


def engine_knobs(r: Resolved, out: list[Issue]) -> None:
    """``r.knobs``: memory fractions, scheduler limits and the KV layout the engine is started with."""
    t = r.target
    knobs: dict = {"kv_layout": str(t.settings["kv_layout"].value) if "kv_layout" in t.settings else "auto"}
    for key, what in (("gmu", "--gpu-memory-utilization"), ("mfs", "--mem-fraction-static")):
        loc = t.settings.get(key)
        if loc is not None:
            try:
                knobs[key] = parse_fraction(text(loc.value), what)
            except UsageError as e:
                out.append(LS013(loc.line, echoed(str(e), text(loc.value))))
    if "max_num_seqs" in t.settings:
        knobs["mns"] = count(t, "max_num_seqs", "--max-num-seqs", out, maximum=1_000_000)
    if "max_num_batched_tokens" in t.settings:
        knobs["mnbt"] = count(t, "max_num_batched_tokens", "--max-num-batched-tokens", out, maximum=2**30)
    r.knobs = knobs


def prices(r: Resolved) -> None:
    """``r.n_paid`` (GPUs per replica) and ``r.prices``: on-demand USD/h of every replica per GPU type."""
    t = r.target
    r.n_paid = t.gpu_count.value if t.gpu_count is not None and t.gpu_count.value else (
        r.tp * r.pp * r.dp if None not in (r.tp, r.pp, r.dp) else None)
    r.prices = []
    for g in r.gpus:
        per_gpu, _ = gpu_hour_price(g, PriceBasis())
        r.prices.append((g, None if per_gpu is None or r.n_paid is None else round(per_gpu * r.n_paid * t.replicas, 4)))


# ------------------------------------------------ memory flags beyond the layout (issue 13) ---
#: ``--speculative-config`` methods / SGLang ``--speculative-algorithm`` values -> the kind of draft
#: (``serving_extras.Draft.method``): heads of the target's shape, a separate draft model, or none.
_SPEC_METHODS = {"eagle": "eagle", "eagle3": "eagle", "medusa": "eagle", "mlp_speculator": "eagle",
                 "mtp": "mtp", "deepseek_mtp": "mtp", "nextn": "mtp", "qwen3_next_mtp": "mtp",
                 "draft_model": "draft_model", "standalone": "draft_model", "ngram": "ngram",
                 "suffix": "ngram", "ngram_gpu": "ngram"}


def _on(t: Target, key: str) -> bool:
    """A switch setting is on (``--enable-lora``, ``--enable-lora=true``)."""
    loc = t.settings.get(key)
    return loc is not None and (loc.value is True or str(loc.value).strip().lower() in ("true", "1", "yes"))


def _gib(t: Target, key: str, what: str, out: list[Issue]) -> int | None:
    """A GiB amount (``--cpu-offload-gb 80``, ``--swap-space 4``) -> bytes (1 GiB = 2**30)."""
    loc = t.settings.get(key)
    if loc is None:
        return None
    try:
        return int(round(parse_fraction(text(loc.value), what, low=0.0, high=1e6, low_inclusive=True) * 2**30))
    except UsageError as e:
        out.append(LS013(loc.line, echoed(str(e), text(loc.value))))
        return None


def _speculative(r: Resolved, index: CatalogIndex, out: list[Issue], notes: list[str]):
    """The draft of ``--speculative-config`` (vLLM JSON), ``--speculative-model`` (older vLLM) or
    SGLang's ``--speculative-algorithm`` / ``--speculative-draft-model-path``; None when there is none."""
    t = r.target
    method, model_ref, tp, line = None, None, None, t.line
    loc = t.settings.get("speculative_config")
    if loc is not None:
        line = loc.line
        try:
            cfg = json.loads(text(loc.value) or "")
        except ValueError:
            cfg = None
        if not isinstance(cfg, dict):
            out.append(LS013(loc.line, f"--speculative-config {quote_value(loc.value)} is not a JSON object"))
            return None
        method = str(cfg.get("method") or "").lower() or None
        model_ref = cfg.get("model") if isinstance(cfg.get("model"), str) else None
        tp = cfg.get("draft_tensor_parallel_size") if isinstance(cfg.get("draft_tensor_parallel_size"), int) else None
    if "speculative_algorithm" in t.settings:
        line = t.settings["speculative_algorithm"].line
        method = str(text(t.settings["speculative_algorithm"].value) or "").lower() or method
    if "draft_model" in t.settings:
        line = line if loc is not None else t.settings["draft_model"].line
        model_ref = model_ref or text(t.settings["draft_model"].value)
    if method is None and model_ref is None:
        return None
    kind = _SPEC_METHODS.get(method or "draft_model")
    if kind is None:
        out.append(LS012(line, f"speculative method {quote_value(method)} is not modelled; its draft's memory is "
                               "not counted in the verdict"))
        return None
    if kind == "ngram":
        notes.append(f"speculative decoding ({method}): no draft weights, no GPU memory change")
        return Draft("ngram")
    if kind == "mtp":
        layers = r.spec.num_nextn_predict_layers or 1
        src = "the model's num_nextn_predict_layers" if r.spec.num_nextn_predict_layers else "assumed"
        notes.append(f"speculative decoding ({method}): {layers} MTP layer(s) ({src}) of the target's average "
                     "layer size, plus their KV (assumed)")
        return Draft("mtp", layers=layers)
    if kind == "eagle":
        notes.append(f"speculative decoding ({method}): one draft decoder layer of the target's average layer size, "
                     "plus its KV (assumed)")
        return Draft("eagle", layers=1)
    spec, _ = index.model(model_ref) if model_ref else (None, None)
    if spec is None:
        out.append(LS012(line, f"draft model {quote_value(model_ref)} is not in the spec registry: its weights and "
                               "KV are not counted in the verdict"))
        return None
    notes.append(f"speculative decoding: draft model {spec.id} ({spec.default_quant}) on the last pipeline stage, "
                 "its KV in the target's pool (assumed)")
    return Draft("draft_model", model=spec, tp=tp)


def extras(r: Resolved, index: CatalogIndex, out: list[Issue], notes: list[str]) -> None:
    """``r.extras``: the ``Deployment`` fields of the memory flags beyond the layout (module
    ``estimate.serving_extras`` has the byte rules), and notes for the flags that move memory to
    the host or change nothing on the GPU."""
    t, x = r.target, {}
    vllm = t.engine == "vllm"
    if "kv_cache_memory_bytes" in t.settings:
        kvmb = count(t, "kv_cache_memory_bytes", "--kv-cache-memory-bytes", out, maximum=2**50)
        if kvmb is not None and vllm:
            x["kv_cache_memory_bytes"] = kvmb
            notes.append(f"--kv-cache-memory-bytes {kvmb:,}: the KV cache per GPU, --gpu-memory-utilization ignored")
    off = _gib(t, "cpu_offload_gb", "--cpu-offload-gb", out)
    if off:
        x["cpu_offload_bytes"] = off
        notes.append(f"--cpu-offload-gb: {off / 2**30:g} GiB of weights per GPU held in host memory "
                     "(whole tensors: vLLM may move slightly more)")
    swap = _gib(t, "swap_space", "--swap-space", out)
    if swap:
        notes.append(f"--swap-space: {swap / 2**30:g} GiB of host memory per GPU for preempted KV; GPU memory unchanged")
    lora = _on(t, "lora") or "lora_paths" in t.settings
    if lora:
        slots = count(t, "max_loras", "--max-loras", out) if "max_loras" in t.settings else (1 if vllm else 8)
        rank = count(t, "max_lora_rank", "--max-lora-rank", out, maximum=65536) if "max_lora_rank" in t.settings \
            else 16
        if slots and rank:
            x["lora_slots"], x["lora_rank"] = slots, rank
            shown = "" if "max_loras" in t.settings and "max_lora_rank" in t.settings else \
                " (unset values: vLLM's defaults --max-loras 1 / SGLang 8 per batch, --max-lora-rank 16)"
            notes.append(f"LoRA: {slots} adapter slot(s) x rank {rank} pre-allocated per GPU in the model dtype"
                         f"{shown}; routed experts carry none (assumed)")
            if r.spec is not None and r.spec.is_mla:
                out.append(LS012(t.settings.get("lora", t.settings.get("lora_paths")).line,
                                 "LoRA on MLA attention is not modelled: adapter memory is not counted"))
        if "max_cpu_loras" in t.settings:
            cpu = count(t, "max_cpu_loras", "--max-cpu-loras", out)
            if cpu:
                notes.append(f"--max-cpu-loras {cpu}: adapters cached in host memory; GPU memory unchanged")
    if r.spec is not None:
        draft = _speculative(r, index, out, notes)
        if draft is not None and draft.method != "ngram":
            x["draft"] = draft
    if _on(t, "enforce_eager"):
        if vllm:
            x["enforce_eager"] = True
            notes.append("--enforce-eager: no CUDA graphs, their 0.5 GiB share of the assumed overhead not reserved")
    if _on(t, "disable_cuda_graph") and t.engine == "sglang":
        notes.append("--disable-cuda-graph: SGLang's modelled reserve has no CUDA-graph term; no change")
    if _on(t, "prefix_caching") or "prefix_caching_off" in t.settings:
        notes.append("prefix caching: reuses blocks of the same KV pool; no memory change")
    r.extras = x
