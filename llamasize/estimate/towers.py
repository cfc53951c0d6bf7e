"""Vision towers: parameters of each tower kind (``VisionConfig.model_type``), projector included.

One function per kind, each written out from the transformers 5.24 modeling file that defines the
tower (the authority for tensor names and shapes); ``vision_params`` dispatches. Notation: ``d`` the
encoder width (``hidden_size``), ``F`` its MLP width (``intermediate_size``), ``L`` its layers,
``C`` input channels, ``P`` patch size, ``T`` temporal patch size, ``m`` spatial merge size, ``th``
the text model's hidden size. ``nn.Linear(a, b)`` is ``a*b + b`` with a bias, ``nn.LayerNorm(d)``
is ``2*d`` (weight + bias), an RMSNorm ``d``. Rotary embeddings and pooling hold no parameters.
"""

from __future__ import annotations

from llamasize.data.spec import ModelSpec, VisionConfig


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    """Parameters of ``nn.Linear(n_in, n_out, bias=bias)``."""
    return n_in * n_out + (n_out if bias else 0)


def _vit_layer(d: int, f: int) -> int:
    """A pre-norm ViT block with biases everywhere: two LayerNorms ``4d``, fused or separate q/k/v
    and output projections ``4(d^2 + d)``, a two-layer MLP ``dF + F + Fd + d`` (SigLIP
    ``SiglipEncoderLayer``; Qwen2-VL ``Qwen2VLVisionBlock``; Llama 4 ``Llama4VisionEncoderLayer``)."""
    return 4 * d + 4 * (d * d + d) + _linear(d, f, True) + _linear(f, d, True)


def _qwen_merger(d: int, m2: int, out: int, norm: int) -> int:
    """The Qwen VL patch merger: a norm of ``norm`` parameters on the width ``d``, then
    ``Linear(d m^2, d m^2)`` and ``Linear(d m^2, out)``, both with biases."""
    return norm + _linear(d * m2, d * m2, True) + _linear(d * m2, out, True)


def _conv_patch(v: VisionConfig, temporal: int, bias: bool) -> int:
    """A patch-embedding convolution ``C*T*P*P*d`` (+ ``d`` with a bias); ``temporal`` = T (1 for 2-D)."""
    d = v.hidden_size
    return v.num_channels * temporal * v.patch_size**2 * d + (d if bias else 0)


def llama4_params(v: VisionConfig, text_hidden: int) -> int:
    """Llama 4 vision tower (encoder + pixel-shuffle adapter + projector), docs/facts/models.md 1.4:
    per encoder layer ``_vit_layer``; class embedding ``d``, positional embedding
    ``((image/patch)^2 + 1) * d``, patch embedding ``P^2 C d`` (no bias), pre/post LayerNorms ``4d``;
    adapter ``(d / ratio^2) * proj_in + proj_in * proj_out``; projector ``vision_output_dim * th``
    (modeling_llama4 ``Llama4MultiModalProjector``, no bias). Reproduces 811,115,008 + 39,845,888
    (+ 20,971,520 projector) for Llama 4 Scout / Maverick."""
    d, f = v.hidden_size, v.intermediate_size
    positions = (v.image_size // v.patch_size) ** 2 + 1
    encoder = v.num_hidden_layers * _vit_layer(d, f) + d + positions * d + _conv_patch(v, 1, False) + 4 * d
    shuffled = round(d / (v.pixel_shuffle_ratio**2))
    adapter = shuffled * v.projector_input_dim + v.projector_input_dim * v.projector_output_dim
    return encoder + adapter + v.vision_output_dim * text_hidden


def qwen2_vl_params(v: VisionConfig) -> int:
    """Qwen2-VL ``Qwen2VisionTransformerPretrainedModel`` (modeling_qwen2_vl.py): ``PatchEmbed``
    Conv3d ``C*T*P*P*d`` (no bias); ``depth`` x ``Qwen2VLVisionBlock`` = ``_vit_layer(d, F)`` with
    ``F = embed_dim * mlp_ratio`` (LayerNorms, qkv and proj with bias, fc1/fc2 with bias);
    ``PatchMerger``: LayerNorm ``ln_q`` ``2d``, ``Linear(d m^2, d m^2)`` and ``Linear(d m^2, out)``
    with biases."""
    d, f, m2 = v.hidden_size, v.intermediate_size, v.spatial_merge_size**2
    merger = _qwen_merger(d, m2, v.out_hidden_size, 2 * d)
    return _conv_patch(v, v.temporal_patch_size, False) + v.num_hidden_layers * _vit_layer(d, f) + merger


def qwen2_5_vl_params(v: VisionConfig) -> int:
    """Qwen2.5-VL ``Qwen2_5_VisionTransformerPretrainedModel`` (modeling_qwen2_5_vl.py): patch
    Conv3d ``C*T*P*P*d`` (no bias); per ``Qwen2_5_VLVisionBlock``: two RMSNorms ``2d``, qkv
    ``3(d^2 + d)``, proj ``d^2 + d``, gated MLP with biases (gate, up ``dF + F`` each, down
    ``Fd + d``); ``Qwen2_5_VLPatchMerger``: RMSNorm ``ln_q`` ``d`` and the two merger linears."""
    d, f, m2 = v.hidden_size, v.intermediate_size, v.spatial_merge_size**2
    block = 2 * d + 4 * (d * d + d) + 2 * _linear(d, f, True) + _linear(f, d, True)
    merger = _qwen_merger(d, m2, v.out_hidden_size, d)
    return _conv_patch(v, v.temporal_patch_size, False) + v.num_hidden_layers * block + merger


def qwen3_5_params(v: VisionConfig) -> int:
    """Qwen3.5 ``Qwen3_5MoeVisionModel`` / ``Qwen3_5VisionModel`` (modeling_qwen3_5_moe.py):
    patch Conv3d ``C*T*P*P*d + d`` (with bias); learned ``pos_embed`` ``num_position_embeddings x
    d``; ``depth`` x ``_vit_layer(d, F)`` (LayerNorms, qkv/proj and fc1/fc2 with biases);
    ``Qwen3_5MoeVisionPatchMerger`` (no post-shuffle norm): LayerNorm ``2d`` and the two merger
    linears."""
    d, f, m2 = v.hidden_size, v.intermediate_size, v.spatial_merge_size**2
    merger = _qwen_merger(d, m2, v.out_hidden_size, 2 * d)
    return (_conv_patch(v, v.temporal_patch_size, True) + v.num_position_embeddings * d
            + v.num_hidden_layers * _vit_layer(d, f) + merger)


def siglip_gemma3_params(v: VisionConfig) -> int:
    """SigLIP vision tower (modeling_siglip.py ``SiglipVisionModel``) + Gemma 3's projector
    (modeling_gemma3.py ``Gemma3MultiModalProjector``): patch Conv2d ``C*P*P*d + d``; position
    embedding ``(image/patch)^2 x d``; ``L`` x ``_vit_layer(d, F)``; ``post_layernorm`` ``2d``;
    the attention-pooling head only when ``vision_use_head`` (probe ``d``, MultiheadAttention
    ``3d^2 + 3d + d^2 + d``, LayerNorm ``2d``, MLP); projector ``mm_input_projection_weight``
    ``d x th`` and ``mm_soft_emb_norm`` RMSNorm ``d`` (average pooling holds nothing)."""
    d, f = v.hidden_size, v.intermediate_size
    patch = _conv_patch(v, 1, True)
    positions = (v.image_size // v.patch_size) ** 2 * d
    head = (d + 4 * (d * d + d) + 2 * d + _linear(d, f, True) + _linear(f, d, True)) if v.vision_use_head else 0
    projector = d * v.out_hidden_size + d
    return patch + positions + v.num_hidden_layers * _vit_layer(d, f) + 2 * d + head + projector


def pixtral_mistral3_params(v: VisionConfig) -> int:
    """Pixtral vision encoder (modeling_pixtral.py ``PixtralVisionModel``) + Mistral 3's projector
    (modeling_mistral3.py ``Mistral3MultiModalProjector``): ``patch_conv`` ``C*P*P*d`` (no bias),
    ``ln_pre`` RMSNorm ``d``; per ``PixtralAttentionLayer``: two RMSNorms ``2d``, q/k/v/o ``4d^2``
    (no bias), gated MLP ``3dF`` (no bias); projector: RMSNorm ``d``, ``patch_merger.merging_layer``
    ``d m^2 x d`` (no bias), ``linear_1`` ``d*nfl x th`` and ``linear_2`` ``th x th`` (biases iff
    ``multimodal_projector_bias``)."""
    d, f, m2, th = v.hidden_size, v.intermediate_size, v.spatial_merge_size**2, v.out_hidden_size
    encoder = _conv_patch(v, 1, False) + d + v.num_hidden_layers * (2 * d + 4 * d * d + 3 * d * f)
    bias = v.multimodal_projector_bias
    projector = d + d * m2 * d + _linear(d * v.num_feature_layers, th, bias) + _linear(th, th, bias)
    return encoder + projector


def vision_params(s: ModelSpec) -> int:
    """Parameters of ``s.vision_config`` (tower + projector into the text model), by kind."""
    v = s.vision_config
    kind = v.model_type
    if kind == "llama4_vision_model":
        return llama4_params(v, s.need("the vision projector", "hidden_size"))
    if kind == "qwen2_vl":
        return qwen2_vl_params(v)
    if kind == "qwen2_5_vl":
        return qwen2_5_vl_params(v)
    if kind == "qwen3_5":
        return qwen3_5_params(v)
    if kind == "siglip_vision_model":
        return siglip_gemma3_params(v)
    return pixtral_mistral3_params(v)
