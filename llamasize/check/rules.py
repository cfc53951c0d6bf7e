"""Every rule of ``llamasize check``, each declared once with its id, name, severity, description,
where its line points, and the code that decides it (the way yamllint and ruff organise rules).

- Rules decided on a resolved deployment are the functions decorated with ``@rule``: the function is
  the whole answer to "what does LS002 check?". They yield ``(line, message)``; the run calls them in
  the order of ``llamasize.check.run.Checker.evaluate`` (some only when an earlier one passed: no
  context check when the weights alone do not fit).
- Rules reported where their problem is noticed (a file that cannot be parsed, a value that cannot
  be read, a model or GPU that is not in the catalogue) are declared with ``reported``; the ``Rule``
  is called at each of those places, ``LS013(line, message)``.

``RULES`` (``llamasize.check.rule``) holds them all by id; ``rule_table()`` lists them sorted.
Messages here leave out the ``Kind/name:`` prefix; the run adds it.
"""

from __future__ import annotations

from llamasize.check.rule import RULES, Rule, reported, rule
from llamasize.check.target import GpuEstimate, Resolved
from llamasize.errors import LayoutError
from llamasize.estimate.parallel import validate_layout
from llamasize.estimate.quant import get_format
from llamasize.files import MAX_MANIFEST_FILE_BYTES

# ------------------------------------------------------------------ decided on a deployment ---


def _reason(e, kind: str) -> str:
    """The estimate's reason of that kind (typed, ``FitEstimate.reason_kinds``), else all reasons."""
    return next((r for r, k in zip(e.reasons, e.reason_kinds) if k == kind), "; ".join(e.reasons))


def _weights_overflow(e) -> bool:
    """Weights, activations and overhead alone exceed the budget (no room for any KV cache)."""
    cap = e.per_gpu.kv_capacity_bytes
    return e.fits is not None and cap is not None and cap < 0


def _context_overflow(g: GpuEstimate) -> bool:
    """The KV cache of the checked context does not fit in what the weights leave."""
    free = g.estimate.per_gpu.free_bytes
    return not g.r.ctx_auto and free is not None and free < 0


@rule("LS001", "does-not-fit", "error",
      "The weights, activation peak and runtime overhead exceed the engine's memory budget per GPU.",
      where="the serving container (llamasize.yaml: the entry)")
def does_not_fit(g: GpuEstimate):
    """No room for any KV cache once the weights, activations and overhead are placed."""
    if _weights_overflow(g.estimate):
        yield g.r.target.line, f"{g.what} does not fit: {_reason(g.estimate, 'weights')}"


@rule("LS002", "context-does-not-fit", "error",
      "The KV cache for --max-model-len (x the concurrency of a llamasize.yaml entry) does not fit "
      "in the memory left after the weights (vLLM refuses to start when one such sequence does not fit).",
      where="`--max-model-len` / `maxModelLen` / `ctx`; the container when it is not set")
def context_does_not_fit(g: GpuEstimate):
    """The weights fit but ``batch`` sequences of the context do not (with ``-1``/``auto``: not
    even one token of KV cache fits)."""
    e, r = g.estimate, g.r
    if e.fits is None or _weights_overflow(e):
        return
    line = r.lines.get("max_model_len", r.target.line)
    if r.ctx_auto:
        if not e.max_context_tokens:
            yield line, f"{g.what}: no room for any KV cache"
    elif _context_overflow(g):
        head = f"{r.ctx_name} {r.ctx:,}" if r.context_note is None else f"the default context ({r.context_note})"
        per = f" x {r.batch} sequences" if r.batch > 1 else ""
        yield line, f"{head}{per} does not fit on {g.what}: {_reason(e, 'kv_cache')}"


@rule("LS003", "context-above-model-maximum", "error",
      "--max-model-len is above the model's maximum context (max_position_embeddings).",
      where="`--max-model-len` / `ctx`")
def context_above_model_maximum(r: Resolved):
    """The context asked for is longer than ``max_position_embeddings``."""
    maxpos = r.spec.max_position_embeddings
    if r.ctx is not None and maxpos is not None and r.ctx > maxpos:
        yield (r.lines.get("max_model_len", r.target.line),
               f"{r.ctx_name} {r.ctx:,} is above {r.spec.id}'s maximum of {maxpos:,} tokens")


@rule("LS004", "invalid-parallel-layout", "error",
      "The tensor-parallel size does not divide the attention heads (or KV heads), the pipeline is "
      "longer than the model, or expert parallelism is asked of a dense model.",
      where="`--tensor-parallel-size` (the pipeline or expert flag when that is the problem)")
def invalid_parallel_layout(r: Resolved):
    """The estimator's own layout check (``memory.validate_layout``); the line is the setting its
    typed ``LayoutError.setting`` names."""
    try:
        tp, dp = (r.attn_tp, r.attn_dp) if r.attn_tp else (r.tp, 1)  # attention TP and DP (resolve.layout)
        validate_layout(r.spec, tp * r.pp * dp, tp, r.pp, r.ep, dp)
    except LayoutError as e:
        key = "tp" if e.setting == "gpus" else e.setting
        yield r.lines.get(key, r.target.line), str(e)


@rule("LS005", "gpu-count-mismatch", "error",
      "The GPUs requested in the resources differ from tensor x pipeline x data parallel size "
      "(x the LeaderWorkerSet group size).",
      where="the GPU resource limit (`requestGPU`, `gpus`)")
def gpu_count_mismatch(r: Resolved):
    """GPUs requested per replica != TP x PP x DP (when the count is comparable and the sizes known).
    A llamasize.yaml entry without ``tp`` whose ``gpus`` is not divisible by ``pp`` has no TP to
    compare; its extractor (``extract.llamasize_yaml``) reports that case with ``LS005(...)``."""
    t = r.target
    if t.gpu_count is None or not t.gpu_count.value or None in (r.tp, r.pp, r.dp) or not t.count_comparable:
        return
    need = r.tp * r.pp * r.dp
    if t.gpu_count.value != need:
        dp_txt = f" x data-parallel {r.dp}" if r.dp > 1 else ""
        where = "the group requests" if t.kind == "LeaderWorkerSet" else "the resources request"
        default = " (vLLM's default is 1 when --tensor-parallel-size is not set)" \
            if "tp" not in t.settings and not t.native else ""
        yield (t.gpu_count.line, f"{where} {t.gpu_count.value} GPU(s) but tensor-parallel {r.tp} x "
                                 f"pipeline-parallel {r.pp}{dp_txt} uses {need}{default}")


@rule("LS006", "fp8-without-native-support", "warning",
      "FP8 weights or FP8 KV cache on a GPU without native FP8: it runs weight-only / converted in "
      "software, slower than on FP8 hardware.",
      where="`--quantization` / `--kv-cache-dtype`; the model for an FP8 checkpoint")
def fp8_without_native_support(g: GpuEstimate):
    """FP8 weights (a format that needs native FP8) or an FP8 KV cache on a GPU without FP8."""
    r = g.r
    if g.gpu.native.fp8 is not False:
        return
    if get_format(r.quant).needs_native == "fp8":
        yield (r.quant_line, f"{r.quant} weights on {g.gpu.id}, which has no native FP8: they run weight-only "
                             "(FP8 weights, BF16 matmuls), slower than on FP8 hardware")
    if r.kv == "fp8":
        yield (r.kv_line, f"FP8 KV cache on {g.gpu.id}, which has no native FP8: it is stored in FP8 and "
                          "converted in software")


@rule("LS007", "headroom-below-policy", "error",
      "Free memory per GPU (fraction of the engine budget) is below the policy's minimum headroom.",
      where="the serving container (llamasize.yaml: the entry)")
def headroom_below_policy(g: GpuEstimate):
    """It fits, but the free fraction of the budget is below ``min_headroom``."""
    e, r = g.estimate, g.r
    if e.fits is None or _weights_overflow(e) or r.ctx_auto or _context_overflow(g):
        return
    head, minimum = e.per_gpu.headroom_fraction, r.limits.min_headroom
    if minimum is not None and head is not None and head < minimum:
        yield (r.target.line, f"{g.what}: free memory is {head:.1%} of the engine budget per GPU, below the "
                              f"policy minimum of {minimum:.0%}")


@rule("LS008", "over-budget", "error",
      "The deployment's on-demand price per hour (all replicas) is above the policy budget.",
      where="the GPU resource limit")
def over_budget(r: Resolved):
    """Some GPU type's on-demand price for every replica is above ``max_usd_per_hour``."""
    t, budget = r.target, r.limits.max_usd_per_hour
    if budget is None:
        return
    for g, p in r.prices:
        if p is not None and p > budget:
            reps = f" x {t.replicas} replicas" if t.replicas > 1 else ""
            yield (_resource_line(r), f"${p:,.2f}/h ({r.n_paid} x {g.id} at ${p / r.n_paid / t.replicas:,.2f}/GPU-h "
                                      f"on demand{reps}) is above the policy budget of ${budget:,.2f}/h")


@rule("LS011", "no-gpus-requested", "error",
      "A serving container requests no GPU (no nvidia.com/gpu or amd.com/gpu resource).",
      where="the serving container")
def no_gpus_requested(r: Resolved):
    """No GPU resource, or zero (an unreadable count is an LS013 already)."""
    t = r.target
    if (t.gpu_count is None or t.gpu_count.value == 0) and all(i.rule is not LS013 for i in t.issues):
        yield (_resource_line(r), "the serving container requests no GPU (resources.limits nvidia.com/gpu or "
                                  "amd.com/gpu)")


@rule("LS014", "price-unknown", "warning",
      "A budget policy is set but the catalogue has no on-demand price for the GPU.",
      where="the GPU resource limit")
def price_unknown(r: Resolved):
    """A budget is set and some GPU type has no on-demand price."""
    budget = r.limits.max_usd_per_hour
    if budget is None:
        return
    for g, p in r.prices:
        if p is None:
            yield (_resource_line(r), f"no on-demand price for {g.id} in the catalogue; the ${budget:,.2f}/h "
                                      "budget is not checked")


@rule("LS015", "kv-cache-memory-over-device", "error",
      "--kv-cache-memory-bytes plus the weights, activation peak and overhead exceed the GPU's memory "
      "(vLLM sizes the KV cache from the flag and ignores --gpu-memory-utilization, so it runs out of memory).",
      where="`--kv-cache-memory-bytes`")
def kv_cache_memory_over_device(g: GpuEstimate):
    """The KV bytes the flag asks for do not fit next to the weights on the device."""
    e, r = g.estimate, g.r
    want = r.extras.get("kv_cache_memory_bytes")
    cap = e.per_gpu.kv_capacity_bytes
    if want is None or cap is None or _weights_overflow(e) or cap >= want:
        return
    p = e.per_gpu
    need = p.weights_bytes + p.activation_bytes + p.overhead_bytes + want
    yield (r.lines.get("kv_cache_memory_bytes", r.target.line),
           f"{g.what}: weights ({p.weights_bytes / 2**30:.1f} GiB) + activations + overhead + "
           f"--kv-cache-memory-bytes ({want / 2**30:.1f} GiB) need {need / 2**30:.1f} GiB per GPU; the device has "
           f"{p.total_bytes / 2**30:.1f} GiB")


def _resource_line(r: Resolved) -> int:
    """The line of the GPU resource (the container's when there is none)."""
    t = r.target
    return t.gpu_count.line if t.gpu_count is not None else t.line


# -------------------------------------------------------- reported where they are noticed ---
LS009 = reported(
    "LS009", "unknown-model", "warning",
    "The model is not in the spec registry (or no model could be found): nothing about memory was checked.",
    where="the model reference; the container when there is none", strict_error=True)
LS010 = reported(
    "LS010", "unknown-gpu", "warning",
    "The GPU type is not pinned by a node selector/affinity, or the label value is not in the "
    "catalogue: nothing about memory was checked.",
    where="the node-selector value; the container when the type is not pinned", strict_error=True)
LS012 = reported(
    "LS012", "not-checkable", "warning",
    "A value llamasize cannot model decides the verdict (an unpublished architecture, an "
    "architecture read by analogy so the counts are approximate, a quantization method or KV dtype it does not model, wide expert parallelism, a value taken "
    "from an environment variable).",
    where="the value concerned", strict_error=True)
LS013 = reported(
    "LS013", "invalid-value", "error",
    "A flag or field value cannot be parsed, or a llamasize.yaml entry breaks its schema.",
    where="the value concerned")
LS100 = reported(
    "LS100", "unparseable-file", "error",
    f"The file cannot be checked: invalid YAML, binary or not UTF-8, larger than {MAX_MANIFEST_FILE_BYTES // 2**20} "
    "MiB, nested too deeply, or aliases that expand without bound.",
    where="where parsing stopped (1 for the whole file)")
LS101 = reported(
    "LS101", "no-deployment-found", "note",
    "A file named on the command line holds no serving deployment llamasize recognises.",
    where="line 1")
LS102 = reported(
    "LS102", "template-skipped", "note",
    "A file with Go-template markup ({{ ... }}) that is not valid YAML (e.g. a Helm chart template) "
    "was skipped.",
    where="where parsing stopped")
LS103 = reported(
    "LS103", "duplicate-key", "error",
    "A YAML mapping repeats a key. YAML requires keys to be unique and parsers disagree on such a "
    "file (some keep the last value, some the first, some refuse it); llamasize checked the last "
    "value. An error, as yamllint's key-duplicates rule is by default.",
    where="the repeated key")
#: Rules about inline waivers (decided in ``llamasize.check.waivers``).
LS110 = reported(
    "LS110", "invalid-waiver", "warning",
    "An inline waiver (`# llamasize: ignore[LS002] reason`) names no rule, an id that is not a rule, "
    "or gives no reason; it waives nothing (a reason is required).",
    where="the waiver comment")
LS111 = reported(
    "LS111", "unused-waiver", "note",
    "An inline waiver waives nothing: no finding of the rules it names is on the line it covers.",
    where="the waiver comment")

LS016 = reported(
    "LS016", "flag-not-modelled", "note",
    "An engine flag llamasize does not model (its memory effect, if any, is not in the verdict); "
    "reported once per deployment and flag.",
    where="the flag")
LS017 = reported(
    "LS017", "not-modelled", "note",
    "A serving deployment llamasize does not model (a TPU or another accelerator outside the GPU "
    "catalogue): reported, not checked.",
    where="the accelerator resource or node selector")
LS018 = reported(
    "LS018", "unverified", "error",
    "With --require-verified (or require_verified in the policy): a deployment whose memory was not "
    "checked (unknown model or GPU, or a value llamasize cannot model).",
    where="the serving container")

LS001 = does_not_fit.rule
LS002 = context_does_not_fit.rule
LS003 = context_above_model_maximum.rule
LS004 = invalid_parallel_layout.rule
LS005 = gpu_count_mismatch.rule
LS006 = fp8_without_native_support.rule
LS007 = headroom_below_policy.rule
LS008 = over_budget.rule
LS011 = no_gpus_requested.rule
LS014 = price_unknown.rule
LS015 = kv_cache_memory_over_device.rule

#: Rules decided per deployment and per GPU estimate, in the order the run applies them.
DEPLOYMENT_RULES = (no_gpus_requested, gpu_count_mismatch)
PRICE_RULES = (price_unknown, over_budget)
MEMORY_RULES = (fp8_without_native_support, does_not_fit, context_does_not_fit, headroom_below_policy,
                kv_cache_memory_over_device)


def rule_table() -> list[Rule]:
    """Every rule, sorted by id (for SARIF, ``--list-rules`` and the README)."""
    return [RULES[k] for k in sorted(RULES)]
