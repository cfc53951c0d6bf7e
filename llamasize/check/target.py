"""What check knows about one serving deployment: the ``Target`` extracted from a manifest (raw values
with their lines) and, once models, GPUs and settings are resolved, the ``Resolved`` deployment and
its ``GpuEstimate`` per GPU type (what the rules in ``llamasize.check.rules`` decide on)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llamasize.check.report import PolicyLimits
from llamasize.check.rule import Issue
from llamasize.text import quote_if_needed


@dataclass
class Loc:
    """A value as the manifest wrote it, and its line."""

    value: object
    line: int


@dataclass
class Target:
    """One serving deployment, extracted from a manifest: raw values with their lines."""

    file: str
    line: int
    kind: str
    name: str
    engine: str | None = "vllm"
    #: llamasize.yaml: ids are llamasize's own, not Kubernetes labels / vLLM method names.
    native: bool = False
    model: Loc | None = None
    #: Normalised settings: tp, pp, dp, ep, ep_size, max_model_len, quantization, dtype,
    #: kv_cache_dtype, gmu, mfs, max_num_seqs, max_num_batched_tokens, backend, dp_attention, kv_layout.
    settings: dict[str, Loc] = field(default_factory=dict)
    #: GPUs one replica requests (LWS: the whole group), with the line of the resource.
    gpu_count: Loc | None = None
    #: False when the count cannot be compared with the parallel layout (e.g. Ray spreads pods).
    count_comparable: bool = True
    #: (label key, value, line) of each GPU type the pods may land on.
    gpu_types: list[tuple[str, str, int]] = field(default_factory=list)
    replicas: int = 1
    batch: Loc | None = None
    policy: PolicyLimits | None = None
    issues: list[Issue] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    #: ``#2``, ``#3``... when an earlier deployment of the same file has the same ``Kind/name``
    #: (set by ``llamasize.check.run.tell_apart``; ids are unique within a file).
    suffix: str = ""

    @property
    def id(self) -> str:
        """``Kind/name`` (plus ``suffix`` for a twin), how findings name the deployment."""
        return f"{self.kind}/{self.name}{self.suffix}"

    @property
    def shown_id(self) -> str:
        """``Kind/name`` as messages show it: the name bare when plain, else quoted with its control
        and bidi characters escaped (``Deployment/'x\\nfile:1: error: forged'``)."""
        return f"{self.kind}/{quote_if_needed(self.name)}{self.suffix}"


@dataclass
class Resolved:
    """A target with its model, GPUs and settings resolved (None where unknown or unusable; the
    reason is already an issue)."""

    target: Target
    #: The run's limits merged with a llamasize.yaml file's own (the stricter wins).
    limits: PolicyLimits
    spec: object = None
    #: The Hugging Face name the model reference matched (None for llamasize ids).
    hf_name: str | None = None
    gpus: list = field(default_factory=list)
    tp: int | None = 1
    pp: int | None = 1
    dp: int | None = 1
    ep: bool = False
    #: Attention data parallelism (``estimate.parallel``): ranks whose MoE layers one model shares
    #: (vLLM ``--data-parallel-size`` of a MoE model, SGLang ``--dp-size`` with
    #: ``--enable-dp-attention``) and the attention TP inside a rank (SGLang: ``--tp-size / --dp-size``);
    #: set by ``resolve.layout``, passed to the Deployment as ``data_parallel_size`` / ``tensor_parallel_size``.
    attn_dp: int = 1
    attn_tp: int | None = 1
    quant: str | None = None
    quant_line: int = 1
    kv: str | None = "auto"
    kv_line: int = 1
    #: Context per sequence checked (--max-model-len, else the model's maximum), and whether the
    #: flag asked for the engine's automatic value (``-1`` / ``auto``).
    ctx: int | None = None
    ctx_auto: bool = False
    #: Why ``ctx`` is the model's maximum (the flag was not set), else None.
    context_note: str | None = None
    batch: int = 1
    #: Engine memory fractions, scheduler limits and the KV layout (``kv_layout``, ``gmu``, ``mfs``,
    #: ``mns``, ``mnbt``).
    knobs: dict = field(default_factory=dict)
    #: GPUs paid for per replica (the resource count, else TP x PP x DP) and, per GPU type, the
    #: on-demand USD/h of every replica (None when the catalogue has no price).
    n_paid: int | None = None
    prices: list = field(default_factory=list)

    @property
    def lines(self) -> dict[str, int]:
        """Line of each setting the manifest gives."""
        return {k: v.line for k, v in self.target.settings.items()}

    @property
    def ctx_name(self) -> str:
        """How the manifest names the context: ``ctx`` (llamasize.yaml) or ``--max-model-len``."""
        return "ctx" if self.target.native else "--max-model-len"


@dataclass
class GpuEstimate:
    """The memory estimate of a resolved deployment on one GPU type."""

    r: Resolved
    gpu: object
    estimate: object

    @property
    def what(self) -> str:
        """``model (quant) on N x gpu (TP t, PP p[, EP])``, how memory findings name the setup."""
        e = self.estimate
        dp = f"DP {e.data_parallel_size} x " if e.data_parallel_size > 1 else ""
        return (f"{self.r.spec.id} ({self.r.quant}) on {e.gpu_count} x {self.gpu.id} ({dp}TP {e.tensor_parallel_size}, "
                f"PP {e.pipeline_parallel_size}{', EP' if e.expert_parallel else ''})")
