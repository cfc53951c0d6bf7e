"""The model spec schema (``model_specs/*.yaml``), validated with pydantic.

Architecture field names follow Hugging Face ``config.json``. Where model families use the same
HF name for different things, one meaning is fixed here (and ``hfconfig`` maps each family):

- ``intermediate_size``: width of the *dense* FFN (Llama 4 calls it ``intermediate_size_mlp``).
- ``moe_intermediate_size``: width of one routed expert (Llama 4 / Mixtral / gpt-oss call it
  ``intermediate_size``; DeepSeek and Qwen use this name).
- ``num_local_experts``: routed experts per MoE layer (DeepSeek ``n_routed_experts``,
  Qwen ``num_experts``).

Any architecture field may be null: the value is unknown (Llama 4 Behemoth publishes only totals).
Every computation that needs a null field raises ``UnknownValueError`` naming the field, and the
outputs say "unknown" instead of guessing.
"""

from __future__ import annotations

from typing import Collection, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llamasize.data.quantconfig import QuantScheme
from llamasize.errors import UnknownValueError
from llamasize.units import SHORT_DTYPE

#: Formats a 16/32-bit release checkpoint is served in by a dtype cast on load (``--dtype``), not a
#: quantization: ``serving_repo`` serves them from the release repository.
SERVED_AS_DTYPE = frozenset({"bf16", "fp16", "fp32"})

Label = Literal["exact-primary", "exact-mirror", "derived", "reported", "assumed", "unknown"]
LayerType = Literal["full_attention", "sliding_attention", "chunked_attention", "linear_attention"]

PositiveInt = Field(default=None, gt=0)


def Bounded(limit: int):  # noqa: N802 - reads like a type in field declarations
    """An optional positive int with an upper bound (absurd sizes are input errors, not models)."""
    return Field(default=None, gt=0, le=limit)


class Frozen(BaseModel):
    """Base for all data models: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PublishedParams(Frozen):
    """The parameter count the model's owner (or the Hub) publishes, with its source."""

    total: int = Field(gt=0)
    #: True when ``total`` is an exact count (safetensors metadata), False when rounded ("109B").
    total_exact: bool
    active: int | None = Field(default=None, gt=0)
    active_exact: bool = False
    source: str
    label: Label
    #: What the published figure includes (e.g. "text + vision", "without the MTP module").
    scope: str | None = None


class LicenseCondition(Frozen):
    """One condition of a model license that a deployer must know about."""

    id: str
    text: str
    label: Label = "reported"


class License(Frozen):
    """A model license: name, key conditions, and the monthly-active-user threshold if any."""

    name: str
    spdx: str | None = None
    url: str | None = None
    conditions: list[LicenseCondition] = []
    #: Monthly active users above which a separate license is needed (Llama: 700M), else null.
    mau_threshold: int | None = Field(default=None, gt=0)
    source: str
    label: Label = "reported"


# ---- towers / MoE / hybrid block (issue 11 item 4, the "towers" half) ---------------------------
#: Vision towers by kind (``model_type``), with the HF ``vision_config`` keys each kind needs:
#: llama4_vision_model (Llama 4), qwen2_vl / qwen2_5_vl / qwen3_5 (Qwen VL towers with their patch
#: merger), siglip_vision_model (Gemma 3, with its multi_modal_projector) and pixtral (Mistral 3,
#: with its patch merger and projector). Counting lives in ``estimate/towers.py``.
VisionKind = Literal["llama4_vision_model", "qwen2_vl", "qwen2_5_vl", "qwen3_5", "siglip_vision_model", "pixtral"]
_VISION_NEEDS: dict[str, tuple[str, ...]] = {
    "llama4_vision_model": ("image_size", "pixel_shuffle_ratio", "projector_input_dim", "projector_output_dim",
                            "vision_output_dim"),
    "qwen2_vl": ("temporal_patch_size", "spatial_merge_size", "out_hidden_size"),
    "qwen2_5_vl": ("temporal_patch_size", "spatial_merge_size", "out_hidden_size"),
    "qwen3_5": ("temporal_patch_size", "spatial_merge_size", "out_hidden_size", "num_position_embeddings"),
    "siglip_vision_model": ("image_size", "out_hidden_size"),
    "pixtral": ("spatial_merge_size", "out_hidden_size"),
}


class VisionConfig(Frozen):
    """Vision tower of a multimodal model, one ``model_type`` (kind) per tower family.

    Common fields use the HF names of the tower's encoder (``hidden_size`` = encoder width; Qwen2-VL
    calls it ``embed_dim`` and its ``hidden_size`` is the merger output, mapped to
    ``out_hidden_size`` by ``hfconfig_moe``). ``out_hidden_size`` is the projector's output width
    (the text model's hidden size). Each kind's extra keys are required by ``_VISION_NEEDS``.
    """

    model_type: VisionKind = "llama4_vision_model"
    hidden_size: int = Field(gt=0, le=1_000_000)
    num_hidden_layers: int = Field(gt=0, le=10_000)
    num_attention_heads: int = Field(gt=0, le=100_000)
    intermediate_size: int = Field(gt=0, le=10_000_000)
    patch_size: int = Field(gt=0, le=10_000)
    num_channels: int = Field(default=3, gt=0, le=1_000)
    image_size: int | None = Bounded(1_000_000)
    # llama4
    pixel_shuffle_ratio: float | None = Field(default=None, gt=0, le=1)
    projector_input_dim: int | None = Bounded(1_000_000)
    projector_output_dim: int | None = Bounded(1_000_000)
    vision_output_dim: int | None = Bounded(1_000_000)
    # qwen VL towers, pixtral
    temporal_patch_size: int | None = Bounded(1_000)
    spatial_merge_size: int | None = Bounded(1_000)
    out_hidden_size: int | None = Bounded(1_000_000)
    #: Qwen3.5 learned position table rows.
    num_position_embeddings: int | None = Bounded(100_000_000)
    #: SigLIP: the attention-pooling head (transformers default True; Gemma 3 sets False).
    vision_use_head: bool = False
    #: Mistral 3: biases on the projector's two linears, and how many encoder layers feed it.
    multimodal_projector_bias: bool = False
    num_feature_layers: int = Field(default=1, gt=0, le=10_000)
    source: str | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> "VisionConfig":
        missing = [k for k in _VISION_NEEDS[self.model_type] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"vision_config of kind {self.model_type} lacks {', '.join(missing)}")
        return self
# ---- end of the towers block (ModelSpec's MoE / hybrid fields are in the block marked "towers") ---


# --- checkpoint metadata (data/checkpoint.py, data/gguf_file.py) ----------------------------------
class CheckpointPart(Frozen):
    """Parameters, bytes and tensor count of one part of a checkpoint (a component or a dtype)."""

    params: int = Field(ge=0)
    bytes: int = Field(ge=0)
    tensors: int = Field(ge=0)


class CheckpointSummary(Frozen):
    """What a checkpoint's own tensor metadata says (safetensors headers or GGUF tensor infos):
    exact bytes and parameters per component (``estimate.params.COMPONENTS`` plus ``other``, what
    no name pattern claims), per dtype, and the files read. Built by ``data.checkpoint``."""

    format: Literal["safetensors", "gguf"]
    path: str
    files: list[str]
    tensor_count: int = Field(ge=0)
    total_params: int = Field(ge=0)
    #: Sum of the tensors' bytes (data only: headers excluded), exact.
    total_bytes: int = Field(ge=0)
    components: dict[str, CheckpointPart]
    #: Keyed by the file's own dtype names (safetensors ``BF16``, GGUF ``Q4_K``).
    dtypes: dict[str, CheckpointPart]
    #: Components whose parameter count rests on an assumed packing (their bytes stay exact);
    #: empty when every count is exact.
    approximate: list[str] = []
    #: ``metadata.total_size`` of the shard index, when it states one (a cross-check).
    index_total_size: int | None = None
    warnings: list[str] = []


class ModelSpec(Frozen):
    """One model of the registry. See the module docstring for field-name conventions."""

    # --- identity -----------------------------------------------------------------------------
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str
    aliases: list[str] = []
    # --- Hugging Face repositories (``data/resolve``: --model and check's model references) -------
    #: Repository ids that resolve to this spec and ship in its checkpoint format (``default_quant``):
    #: the release described, its base/Instruct siblings and same-architecture variants.
    hf_names: list[str] = []
    #: Repository ids of this architecture published quantized: repo id -> the llamasize weight format
    #: its weights ship in (an id of ``estimate.quant``; tests/test_resolve.py checks each). Naming one
    #: resolves to this spec with that format as its default (``checkpoint_quant``).
    hf_quantized: dict[str, str] = {}
    #: Repositories above whose weights are published under another license than ``license``
    #: (DeepSeek-R1: MIT): naming one resolves with no license rather than a wrong one, and says so.
    hf_other_license: list[str] = []
    family: str
    model_type: str
    release_status: Literal["released", "preview", "announced", "unreleased", "test"]
    release_note: str | None = None
    torch_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    #: The weight format the published checkpoint ships in, when it is not ``torch_dtype``
    #: (gpt-oss: mxfp4 experts; DeepSeek-V3: fp8). ``fit``/``perf`` use it when --quant is not given.
    checkpoint_quant: str | None = None
    #: The checkpoint's own quantization config (``data/quantconfig``), read from a local
    #: checkpoint; its ``format_id`` is ``checkpoint_quant``.
    quantization: QuantScheme | None = None
    source: str
    notes: list[str] = []

    # --- transformer body ---------------------------------------------------------------------
    hidden_size: int | None = Bounded(1_000_000)
    num_hidden_layers: int | None = Bounded(10_000)
    num_attention_heads: int | None = Bounded(100_000)
    num_key_value_heads: int | None = Bounded(100_000)
    head_dim: int | None = Bounded(100_000)
    vocab_size: int | None = Bounded(100_000_000)
    tie_word_embeddings: bool | None = False
    max_position_embeddings: int | None = Bounded(2**40)
    rope_theta: float | None = Field(default=None, gt=0)
    rms_norm_eps: float | None = Field(default=None, gt=0)
    attention_bias: bool = False
    #: Qwen2: biases on q, k and v only (not on o).
    attention_qkv_bias: bool = False
    #: gpt-oss: one learned attention-sink logit per head per layer.
    attention_sinks: bool = False
    #: Llama 4: weightless L2 norm of q and k on RoPE layers ("l2"); Qwen3, Gemma 3: RMSNorm with a
    #: head_dim weight on every layer ("rms_weighted"); OLMo 2, Cohere ``use_qk_norm``: one weight
    #: over all heads, ``nh*hd`` for q and ``nkv*hd`` for k ("full_width").
    qk_norm: Literal["l2", "rms_weighted", "full_width"] | None = None

    # --- feed-forward ---------------------------------------------------------------------------
    intermediate_size: int | None = Bounded(10_000_000)
    moe_intermediate_size: int | None = Bounded(10_000_000)
    num_local_experts: int | None = Bounded(1_000_000)
    num_experts_per_tok: int | None = Bounded(1_000_000)
    n_shared_experts: int | None = Field(default=None, ge=0)
    shared_expert_intermediate_size: int | None = Bounded(10_000_000)
    #: Meta's rule: layer i is MoE iff (i + 1) % interleave_moe_layer_step == 0 ...
    interleave_moe_layer_step: int = Field(default=1, gt=0)
    #: ... and i >= first_k_dense_replace (DeepSeek's rule).
    first_k_dense_replace: int = Field(default=0, ge=0)
    router_bias: bool = False
    mlp_bias: bool = False
    #: Qwen2-MoE: a sigmoid gate (hidden x 1) on the shared expert's output.
    shared_expert_gate: bool = False

    # --- attention layout ----------------------------------------------------------------------
    #: Explicit per-layer types; when absent, derived from the fields below.
    layer_types: list[LayerType] | None = None
    sliding_window: int | None = Bounded(2**40)
    attention_chunk_size: int | None = Bounded(2**40)
    #: Llama 4: every nope_layer_interval-th layer ((i+1) % n == 0) is a global NoPE layer.
    nope_layer_interval: int | None = PositiveInt
    # MLA (DeepSeek-V3)
    q_lora_rank: int | None = Bounded(1_000_000)
    kv_lora_rank: int | None = Bounded(1_000_000)
    qk_rope_head_dim: int | None = Bounded(100_000)
    qk_nope_head_dim: int | None = Bounded(100_000)
    v_head_dim: int | None = Bounded(100_000)
    # ---- towers block: MoE / MTP / hybrid linear-attention fields (data/hfconfig_moe.py maps them) ----
    #: DeepSeek-V3 multi-token-prediction layers: counted in the checkpoint total (component "mtp"),
    #: not loaded for serving (vLLM loads them only as a draft: --speculative-config deepseek_mtp).
    num_nextn_predict_layers: int = Field(default=0, ge=0, le=1_000)
    #: DeepSeek-V2/V3: layer i >= first_k_dense_replace is MoE iff i % moe_layer_freq == 0.
    moe_layer_freq: int = Field(default=1, gt=0, le=10_000)
    #: Qwen3-Next / Qwen3.5: q_proj also emits a per-head output gate (its output is 2 x nh x hd).
    attn_output_gate: bool = False
    #: Gated DeltaNet (layer_types "linear_attention"): heads, head dims and the causal conv kernel.
    linear_num_key_heads: int | None = Bounded(100_000)
    linear_num_value_heads: int | None = Bounded(100_000)
    linear_key_head_dim: int | None = Bounded(100_000)
    linear_value_head_dim: int | None = Bounded(100_000)
    linear_conv_kernel_dim: int | None = Bounded(1_000)

    @model_validator(mode="after")
    def _linear_attention_fields(self) -> "ModelSpec":
        if self.layer_types and "linear_attention" in self.layer_types:
            need = ["linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim",
                    "linear_value_head_dim", "linear_conv_kernel_dim"]
            missing = [k for k in need if getattr(self, k) is None]
            if missing:
                raise ValueError(f"layer_types has linear_attention layers but {', '.join(missing)} is not set")
            if self.linear_num_value_heads % self.linear_num_key_heads:
                raise ValueError(f"linear_num_value_heads ({self.linear_num_value_heads}) is not divisible by "
                                 f"linear_num_key_heads ({self.linear_num_key_heads})")
        return self
    # ---- end of the towers block ---------------------------------------------------------------

    # --- dense-decoder layout (issue 11 item 4, dense families; hfconfig maps each family) --------
    # Defaults are Llama's, so registry specs do not set them. Sources: the transformers modeling
    # files named in hfconfig's family table.
    #: Every norm's weights: "rms" = RMSNorm weight ``h``; "layernorm" = LayerNorm weight + bias
    #: ``2h`` (Falcon, BLOOM); "layernorm_nobias" = LayerNorm weight only ``h`` (Cohere).
    norm_kind: Literal["rms", "layernorm", "layernorm_nobias"] = "rms"
    #: Norms per decoder layer: 2 = before attention and before the FFN (Llama) or after each
    #: (OLMo 2); 1 = one input norm shared by the parallel attention + FFN (Cohere, Falcon-7B);
    #: 4 = pre and post norms around both (Gemma 2, Gemma 3).
    norms_per_layer: Literal[1, 2, 4] = 2
    #: "gated" = gate, up, down (SwiGLU / GeGLU); "plain" = up, down (the GELU MLP of Falcon, BLOOM).
    ffn_kind: Literal["gated", "plain"] = "gated"
    #: BLOOM: a norm right after the token embedding (``word_embeddings_layernorm``).
    embedding_norm: bool = False
    #: How positions enter attention; none of them has weights (ALiBi: BLOOM; none: NoPE models).
    position_encoding: Literal["rope", "alibi", "none"] = "rope"
    #: Set when the architecture was read by analogy (a model_type with no mapping and no
    #: checkpoint metadata): what was assumed. Counts from such a spec are "approximate", never exact.
    architecture_assumption: str | None = None

    # --- extras ----------------------------------------------------------------------------------
    vision_config: VisionConfig | None = None
    published_params: PublishedParams | None = None
    license: License | None = None
    #: The checkpoint's own tensor metadata, when the model was read from a checkpoint directory or
    #: a ``.gguf`` file: parameters and weight bytes in its own format are then exact (checkpoint).
    checkpoint: CheckpointSummary | None = None

    def __hash__(self) -> int:  # lists make the generated hash fail; equality still compares all fields
        return hash((self.id, self.name))

    # ---------------------------------------------------------------------------- validation ----
    @field_validator("aliases", "hf_names")
    @classmethod
    def _no_blank(cls, v: list[str]) -> list[str]:
        for item in v:
            if not item.strip():
                raise ValueError("entries must be non-empty strings")
        return v

    @field_validator("hf_quantized")
    @classmethod
    def _repo_ids(cls, v: dict[str, str]) -> dict[str, str]:
        for repo, fmt in v.items():
            if "/" not in repo.strip() or not fmt.strip():
                raise ValueError(f"entries must map an 'org/name' repository id to a format, got {repo!r}: {fmt!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
        twice = {n.lower() for n in self.hf_names} & {n.lower() for n in self.hf_quantized}
        if twice:
            raise ValueError(f"{sorted(twice)[0]} is in both hf_names and hf_quantized; a repository ships in one format")
        stray = [n for n in self.hf_other_license if n not in self.hf_repos()]
        if stray:
            raise ValueError(f"hf_other_license: {stray[0]} is not in hf_names or hf_quantized")
        nh, nkv = self.num_attention_heads, self.num_key_value_heads
        if nh and nkv and nh % nkv:
            raise ValueError(f"num_attention_heads ({nh}) is not divisible by num_key_value_heads ({nkv})")
        if self.num_local_experts and self.num_experts_per_tok:
            if self.num_experts_per_tok > self.num_local_experts:
                raise ValueError(
                    f"num_experts_per_tok ({self.num_experts_per_tok}) exceeds "
                    f"num_local_experts ({self.num_local_experts})"
                )
        if self.layer_types is not None and self.num_hidden_layers is not None:
            if len(self.layer_types) != self.num_hidden_layers:
                raise ValueError(
                    f"layer_types has {len(self.layer_types)} entries but num_hidden_layers is "
                    f"{self.num_hidden_layers}"
                )
        if self.layer_types:
            if "sliding_attention" in self.layer_types and not self.sliding_window:
                raise ValueError("layer_types has sliding_attention layers but sliding_window is not set")
            if "chunked_attention" in self.layer_types and not self.attention_chunk_size:
                raise ValueError("layer_types has chunked_attention layers but attention_chunk_size is not set")
        if self.nope_layer_interval and not self.attention_chunk_size:
            raise ValueError("nope_layer_interval needs attention_chunk_size (Llama 4 chunked-local layers)")
        mla = [self.kv_lora_rank, self.qk_rope_head_dim, self.qk_nope_head_dim, self.v_head_dim]
        if any(x is not None for x in mla) and not all(x is not None for x in mla):
            raise ValueError("MLA needs kv_lora_rank, qk_rope_head_dim, qk_nope_head_dim and v_head_dim together")
        if self.hidden_size and self.num_hidden_layers and self.first_k_dense_replace > self.num_hidden_layers:
            raise ValueError(
                f"first_k_dense_replace ({self.first_k_dense_replace}) exceeds num_hidden_layers "
                f"({self.num_hidden_layers})"
            )
        return self

    # ------------------------------------------------------------------------- derived views ----
    def need(self, what: str, *fields: str):
        """Return the named fields' values, or raise UnknownValueError naming those that are null."""
        values = [getattr(self, f) for f in fields]
        missing = [f for f, v in zip(fields, values) if v is None]
        if missing:
            raise UnknownValueError(what, missing, self.id)
        return values if len(values) > 1 else values[0]

    @property
    def is_moe(self) -> bool:
        """True when the model has routed experts (known or not how many: Behemoth is MoE)."""
        return bool(self.num_local_experts)

    @property
    def is_mla(self) -> bool:
        """True for multi-head latent attention (DeepSeek-V3)."""
        return self.kv_lora_rank is not None

    @property
    def resolved_head_dim(self) -> int:
        """``head_dim``, defaulting to hidden_size / num_attention_heads as Hugging Face does."""
        if self.head_dim is not None:
            return self.head_dim
        h, nh = self.need("head_dim", "hidden_size", "num_attention_heads")
        return h // nh

    def is_moe_layer(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) is a MoE layer.

        Meta ``models/llama4/model.py``: MoE iff ``(layer_id + 1) % interleave_moe_layer_step == 0``;
        DeepSeek (``modeling_deepseek.py`` of the V2/V3 repos): dense for ``layer_id <
        first_k_dense_replace``, then MoE iff ``layer_id % moe_layer_freq == 0`` (transformers 5.24
        ignores ``moe_layer_freq``; every published config has 1). All rules combined.
        """
        if not self.is_moe:
            return False
        return (i >= self.first_k_dense_replace and (i + 1) % self.interleave_moe_layer_step == 0
                and i % self.moe_layer_freq == 0)

    def moe_layer_ids(self) -> list[int]:
        """Indices of the MoE layers."""
        n = self.need("the MoE layer pattern", "num_hidden_layers")
        return [i for i in range(n) if self.is_moe_layer(i)]

    def serving_repo(self, quant: str, made_on_load: Collection[str] = ()) -> str | None:
        """The Hugging Face repository to serve in ``quant``: a published checkpoint in that format
        (``hf_quantized``, the one the user named first: ``data.resolve``) when the registry lists one;
        else the release checkpoint (first of ``hf_names``, else the spec id) when it holds ``quant``
        or the engine makes ``quant`` from it: its own format (``default_quant``), a 16/32-bit dtype
        (a cast on load), or a format the engine quantizes on load (``made_on_load``:
        ``estimate.engines.ONLINE_QUANTIZATION``, passed by the callers). None otherwise: no
        published checkpoint holds ``quant`` and the release one does not (an int4 plan of a BF16
        release), so the user must quantize it first -- never the BF16 repository for an int4 plan
        (issue 13 item 6: Maverick's 800 GB of BF16 weights onto 8 x A100 80GB)."""
        release = self.release_repo()
        if quant not in made_on_load:
            for name, fmt in self.hf_quantized.items():
                if fmt == quant:
                    return name
        if quant in made_on_load or quant == self.default_quant or quant in SERVED_AS_DTYPE:
            return release
        if quant.startswith("fp8") and "fp8" in made_on_load:  # a finer FP8 rule (fp8_mixed, ...) with no
            return release  # checkpoint: the engine's on-load FP8 quantizes every linear layer, fewer bytes (safe)
        return None

    def release_repo(self) -> str:
        """The release checkpoint's repository (first of ``hf_names``, else the spec id)."""
        return self.hf_names[0] if self.hf_names else self.id

    def hf_repos(self) -> list[str]:
        """Every repository id that resolves to this spec: ``hf_names``, then ``hf_quantized``."""
        return [*self.hf_names, *self.hf_quantized]

    def is_nope_layer(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) is a Llama 4 global NoPE layer -- the one NoPE rule (Meta
        ``models/llama4/model.py``): ``(layer_id + 1) % nope_layer_interval == 0``. NoPE layers skip
        RoPE and attend to every earlier token (full attention); the others are chunked-local."""
        return bool(self.nope_layer_interval) and (i + 1) % self.nope_layer_interval == 0

    def resolved_layer_types(self) -> list[str]:
        """Attention type of every layer.

        Explicit ``layer_types`` win. Otherwise Llama 4's rule (``is_nope_layer``): NoPE layers
        -> global full attention;
        every other layer is RoPE + chunked-local attention over ``attention_chunk_size`` tokens.
        Without either, every layer is full attention.
        """
        n = self.need("the attention layout", "num_hidden_layers")
        if self.layer_types is not None:
            return list(self.layer_types)
        if self.nope_layer_interval:
            return [
                "full_attention" if self.is_nope_layer(i) else "chunked_attention"
                for i in range(n)
            ]
        if self.sliding_window and not self.layer_types:
            return ["sliding_attention"] * n
        return ["full_attention"] * n

    def window_of(self, layer_type: str) -> int | None:
        """Tokens a layer of this type can attend to at most (None = unbounded; 0 for a Gated
        DeltaNet ``linear_attention`` layer: it reads a fixed recurrent state, no cached tokens)."""
        if layer_type == "linear_attention":
            return 0
        if layer_type == "sliding_attention":
            return self.sliding_window
        if layer_type == "chunked_attention":
            return self.attention_chunk_size
        return None

    @property
    def shared_width(self) -> int:
        """Total width of the shared expert(s) in a MoE layer (0 when there are none).

        ``shared_expert_intermediate_size`` when given (Qwen2-MoE name), else
        ``n_shared_experts x moe_intermediate_size`` (DeepSeek's convention).
        """
        if not self.n_shared_experts:
            return 0
        if self.shared_expert_intermediate_size is not None:
            return self.shared_expert_intermediate_size
        fe = self.need("the shared expert width", "moe_intermediate_size")
        return self.n_shared_experts * fe

    def all_names(self) -> list[str]:
        """The id and every alias (lower-case), for lookups."""
        return [self.id, *self.aliases]

    @property
    def default_quant(self) -> str:
        """The format the published checkpoint is in: ``checkpoint_quant``, else its dtype."""
        if self.checkpoint_quant:
            return self.checkpoint_quant
        return SHORT_DTYPE[self.torch_dtype]
