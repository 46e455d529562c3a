"""EchoMimicV2's Stage-2 weights in diffusers terms: the key mapping (both ways), the recipe, the architecture.

EchoMimicV2 (antgroup/echomimic_v2, Apache-2.0 code; weights on the BadToBest/EchoMimicV2 model
page) publishes a denoising UNet with AnimateDiff-v2 motion modules, a ReferenceNet and a pose
encoder. They load into our Stage 2 (DESIGN §4.1) with these rules, established from their code
(``src/models/unet_3d_emo.py``, ``motion_module.py``, ``mutual_self_attention.py``,
``pose_encoder.py`` at a312dec) and diffusers' ``scripts/convert_animatediff_motion_module_to_diffusers.py``:

| their file | our component | rule |
|---|---|---|
| ``denoising_unet.pth`` (spatial) | ``unet`` (``UNetMotionModel``, ``cross_attention_dim`` 384) | identity; ``attn2.to_out.0`` × 3 |
| ``motion_module.pth`` | ``unet`` motion modules | drop ``.temporal_transformer``; ``attention_blocks.0/1`` → ``attn1/attn2``; ``norms.0/1`` → ``norm1/norm2``; ``ff_norm`` → ``norm3``; ``pos_encoder.pe`` dropped (recomputed, same formula) |
| ``reference_unet.pth`` | ``reference_net`` (``UNet2DConditionModel``) | identity; it has no ``attn2``/``norm2``/``conv_norm_out``/``conv_out`` |
| ``pose_encoder.pth`` | ``guidance.embedding`` (``ControlNetConditioningEmbedding``) | identity under ``embedding.`` |

- **Audio scale.** Their audio cross-attention is each spatial block's ``attn2`` (keys/values from
  the 384-d Whisper tokens), its output multiplied by ``audio_feature_ratio = 3.0``
  (``mutual_self_attention.py``). ``to_out.0`` is linear, so ``3 · (W x + b) = (3W) x + 3b``:
  folding the factor into the weight and bias is exact.
- **Reference net without cross-attention.** Ours keeps diffusers' ``attn2`` so the folder is a
  plain ``UNet2DConditionModel``; it is filled with zeros (weights and output bias), so the
  block adds exactly 0 and the ``attn1`` inputs the reference pass writes are theirs. Its
  ``conv_norm_out``/``conv_out`` are never read (only ``attn1`` inputs are) and are filled with
  an identity norm and a zero conv. Its ``cross_attention_dim`` is the denoiser's, so the same
  null context serves both UNets.
- **Precedence** as their loader: base UNet < ``motion_module.pth`` < ``denoising_unet.pth``.

Nothing here reads a file; ``emo2cli.video.convert`` does. :func:`echomimic_layout` runs the
mapping backwards (tests build "their" files from tiny diffusers components with it).
"""

from __future__ import annotations

import re

import torch

FILES = {
    "denoiser": "denoising_unet.pth",
    "motion": "motion_module.pth",
    "reference": "reference_unet.pth",
    "pose": "pose_encoder.pth",
}
ACC_FILES = {"denoiser": "denoising_unet_acc.pth", "motion": "motion_module_acc.pth"}  # 6-step distilled variant
AUDIO_OUTPUT_SCALE = 3.0  # audio_feature_ratio in their mutual_self_attention.py
MOTION_HEADS = 8  # inference_v2.yaml motion_module_kwargs.num_attention_heads (not visible in shapes)
MOTION_NORM_GROUPS = 32  # AnimateDiff's GroupNorm groups in the motion modules (not visible in shapes)
AUDIO_ENCODER = "whisper-tiny"  # the feature the audio attention was trained on (emo2cli.audio.whisper)

# DDIM as their configs/inference/inference_v2.yaml noise_scheduler_kwargs (30 steps, eta 0)
SCHEDULER_CONFIG = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "linear",
    "steps_offset": 1,
    "clip_sample": False,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing",
}

MOTION_MARK = ".motion_modules."
# (their name, ours) inside a motion module, in the order diffusers' conversion script applies them
_MOTION_RENAMES = (
    (".norms.0", ".norm1"),
    (".norms.1", ".norm2"),
    (".ff_norm", ".norm3"),
    (".attention_blocks.0", ".attn1"),
    (".attention_blocks.1", ".attn2"),
)
_MOTION_MODULE = re.compile(r"^(.*?\.motion_modules\.\d+)\.")
_REFERENCE_ABSENT = re.compile(r"(\.transformer_blocks\.\d+\.(attn2|norm2)\.|^conv_norm_out\.|^conv_out\.)")
POSE_PREFIX = "embedding."


def is_motion_key(key: str) -> bool:
    return MOTION_MARK in f".{key}"


def motion_key_to_diffusers(key: str) -> str | None:
    """Their motion-module key → ours; None for ``pos_encoder.pe`` (diffusers recomputes it)."""
    if "pos_encoder" in key:
        return None
    for theirs, ours in _MOTION_RENAMES:
        key = key.replace(theirs, ours)
    return key.replace(".temporal_transformer", "")


def motion_key_to_echomimic(key: str) -> str:
    """Our motion-module key → theirs (``...transformer_blocks.0.attn1.to_q.weight`` →
    ``...temporal_transformer.transformer_blocks.0.attention_blocks.0.to_q.weight``)."""
    key = _MOTION_MODULE.sub(r"\1.temporal_transformer.", key, count=1)
    for theirs, ours in _MOTION_RENAMES:
        key = key.replace(ours + ".", theirs + ".")
    return key


def position_keys_to_echomimic(key: str) -> tuple[str, str]:
    """Our ``...transformer_blocks.N.pos_embed.pe`` (one table per block, read by both attentions)
    → their two tables, one per attention block (``attention_blocks.{0,1}.pos_encoder.pe``)."""
    block = motion_key_to_echomimic(key).removesuffix(".pos_embed.pe")
    return (f"{block}.attention_blocks.0.pos_encoder.pe", f"{block}.attention_blocks.1.pos_encoder.pe")


def is_audio_output_key(key: str) -> bool:
    """``attn2.to_out.0.{weight,bias}`` of a spatial transformer block (the audio attention's output)."""
    return not is_motion_key(key) and (key.endswith((".attn2.to_out.0.weight", ".attn2.to_out.0.bias")))


def fold_audio_scale(tensor: torch.Tensor, scale: float = AUDIO_OUTPUT_SCALE) -> torch.Tensor:
    """``scale · tensor`` computed in float32 and returned in the tensor's dtype (a new tensor)."""
    return (tensor.float() * scale).to(tensor.dtype)


def denoiser_state(motion: dict[str, torch.Tensor], denoiser: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Their motion + denoiser files → (our UNetMotionModel keys with the audio scale folded, their pe buffers).

    The denoiser file wins where both hold a key (their precedence). Motion-module keys are
    renamed wherever they come from (the denoiser file may carry some too).
    """
    merged: dict[str, torch.Tensor] = {}
    positions: dict[str, torch.Tensor] = {}
    for source in (motion, denoiser):
        for key, value in source.items():
            if is_motion_key(key):
                ours = motion_key_to_diffusers(key)
                if ours is None:
                    positions[key] = value
                    continue
                key = ours
            merged[key] = value
    for key in [k for k in merged if is_audio_output_key(k)]:
        merged[key] = fold_audio_scale(merged[key])
    return merged, positions


def is_reference_absent(key: str) -> bool:
    """Keys of a diffusers UNet2DConditionModel that their ReferenceNet does not have."""
    return bool(_REFERENCE_ABSENT.search(key))


def reference_fill(key: str, like: torch.Tensor) -> torch.Tensor:
    """What an absent reference key is filled with: zeros (attn2, conv_out), ones for norm weights."""
    if like.ndim == 1 and ("norm2.weight" in key or key == "conv_norm_out.weight"):
        return torch.ones_like(like)
    return torch.zeros_like(like)


# ---------------------------------------------------------------------------------------------
# The architecture, read from the state dicts where shapes tell it
# ---------------------------------------------------------------------------------------------


def cross_attention_width(state: dict[str, torch.Tensor]) -> int:
    """Width of the audio tokens: the input width of the spatial ``attn2.to_k``.

    Raises:
        KeyError: no spatial ``attn2.to_k.weight`` in the state.
    """
    for key, value in state.items():
        if key.endswith(".attn2.to_k.weight") and not is_motion_key(key):
            return int(value.shape[1])
    raise KeyError("attn2.to_k.weight")


def motion_positions(positions: dict[str, torch.Tensor], default: int = 32) -> int:
    """Length of their sinusoidal position tables ([1, L, C] each); ``default`` when there are none."""
    lengths = {int(v.shape[1]) for v in positions.values() if v.ndim == 3}
    return max(lengths) if lengths else default


def motion_layers(state: dict[str, torch.Tensor]) -> dict:
    """``use_motion_mid_block`` and ``motion_transformer_layers_per_block`` from our motion keys."""
    blocks = {int(m.group(1)) for k in state if (m := re.search(r"\.motion_modules\.\d+\.transformer_blocks\.(\d+)\.", "." + k))}
    return {
        "use_motion_mid_block": any(k.startswith("mid_block.motion_modules.") for k in state),
        "motion_transformer_layers_per_block": max(blocks) + 1 if blocks else 1,
    }


def pose_encoder_shape(state: dict[str, torch.Tensor]) -> dict:
    """``ControlNetConditioningEmbedding`` arguments from their pose encoder's shapes.

    Raises:
        KeyError: a key the encoder must have is absent.
    """
    first = state["conv_in.weight"]
    last = state["conv_out.weight"]
    widths = [int(first.shape[0])]
    k = 1
    while f"blocks.{k}.weight" in state:
        widths.append(int(state[f"blocks.{k}.weight"].shape[0]))
        k += 2
    return {"out_channels": int(last.shape[0]), "hand_channels": int(first.shape[1]), "block_out_channels": tuple(widths)}


# ---------------------------------------------------------------------------------------------
# The mapping backwards (their layout from our components)
# ---------------------------------------------------------------------------------------------


def echomimic_layout(
    unet, reference_net, guidance, audio_scale: float = AUDIO_OUTPUT_SCALE
) -> dict[str, dict[str, torch.Tensor]]:
    """Our components → their four files' state dicts (``FILES`` names), as their code saves them.

    The denoiser file holds the spatial keys (``attn2.to_out.0`` divided by ``audio_scale``), the
    motion file the motion modules in AnimateDiff names with ``pos_encoder.pe`` buffers, the
    reference file the ReferenceNet without ``attn2``/``norm2``/``conv_norm_out``/``conv_out``, the
    pose file the guidance embedding without its ``embedding.`` prefix.
    """
    denoiser, motion = {}, {}
    for key, value in unet.state_dict().items():
        value = value.detach().clone()
        if key.endswith(".pos_embed.pe"):
            motion.update({theirs: value.clone() for theirs in position_keys_to_echomimic(key)})
        elif is_motion_key(key):
            motion[motion_key_to_echomimic(key)] = value
        else:
            denoiser[key] = (value.float() / audio_scale).to(value.dtype) if is_audio_output_key(key) else value
    reference = {k: v.detach().clone() for k, v in reference_net.state_dict().items() if not is_reference_absent(k)}
    pose = {k[len(POSE_PREFIX) :]: v.detach().clone() for k, v in guidance.state_dict().items() if k.startswith(POSE_PREFIX)}
    return {FILES["denoiser"]: denoiser, FILES["motion"]: motion, FILES["reference"]: reference, FILES["pose"]: pose}


# ---------------------------------------------------------------------------------------------
# Their Whisper-tiny (OpenAI's checkpoint format) → a transformers WhisperModel folder
# ---------------------------------------------------------------------------------------------

WHISPER_FILE = "audio_processor/tiny.pt"  # {"dims": {...}, "model_state_dict": {...}}, OpenAI's format
# OpenAI whisper names → transformers names, as transformers' convert_openai_to_hf.py
_WHISPER_RENAMES = (
    ("blocks", "layers"),
    ("mlp.0", "fc1"),
    ("mlp.2", "fc2"),
    ("mlp_ln", "final_layer_norm"),
    (".attn.query", ".self_attn.q_proj"),
    (".attn.key", ".self_attn.k_proj"),
    (".attn.value", ".self_attn.v_proj"),
    (".attn_ln", ".self_attn_layer_norm"),
    (".attn.out", ".self_attn.out_proj"),
    (".cross_attn.query", ".encoder_attn.q_proj"),
    (".cross_attn.key", ".encoder_attn.k_proj"),
    (".cross_attn.value", ".encoder_attn.v_proj"),
    (".cross_attn_ln", ".encoder_attn_layer_norm"),
    (".cross_attn.out", ".encoder_attn.out_proj"),
    ("decoder.ln.", "decoder.layer_norm."),
    ("encoder.ln.", "encoder.layer_norm."),
    ("token_embedding", "embed_tokens"),
    ("encoder.positional_embedding", "encoder.embed_positions.weight"),
    ("decoder.positional_embedding", "decoder.embed_positions.weight"),
    ("ln_post", "layer_norm"),
)


def whisper_key_to_transformers(key: str) -> str:
    for theirs, ours in _WHISPER_RENAMES:
        key = key.replace(theirs, ours)
    return key


_WHISPER_REVERSE = (  # ordered so no rename hits another's result
    ("encoder.layer_norm.", "encoder.ln_post."),
    ("decoder.layer_norm.", "decoder.ln."),
    (".self_attn_layer_norm", ".attn_ln"),
    (".encoder_attn_layer_norm", ".cross_attn_ln"),
    ("final_layer_norm", "mlp_ln"),
    (".self_attn.q_proj", ".attn.query"),
    (".self_attn.k_proj", ".attn.key"),
    (".self_attn.v_proj", ".attn.value"),
    (".self_attn.out_proj", ".attn.out"),
    (".encoder_attn.q_proj", ".cross_attn.query"),
    (".encoder_attn.k_proj", ".cross_attn.key"),
    (".encoder_attn.v_proj", ".cross_attn.value"),
    (".encoder_attn.out_proj", ".cross_attn.out"),
    (".fc1", ".mlp.0"),
    (".fc2", ".mlp.2"),
    (".layers.", ".blocks."),
    ("embed_tokens", "token_embedding"),
    ("encoder.embed_positions.weight", "encoder.positional_embedding"),
    ("decoder.embed_positions.weight", "decoder.positional_embedding"),
)


def whisper_key_to_openai(key: str) -> str:
    """The reverse of :func:`whisper_key_to_transformers` (tests write OpenAI-format files with it)."""
    for ours, theirs in _WHISPER_REVERSE:
        key = key.replace(ours, theirs)
    return key


def whisper_config(dims: dict, state: dict[str, torch.Tensor] | None = None) -> dict:
    """OpenAI ``ModelDimensions`` (+ the state, for the MLP widths; 4 × width without it) → ``WhisperConfig``
    keyword arguments, special tokens as openai/whisper-tiny's (only the encoder is used)."""
    state = state or {}
    last = dims["n_vocab"] - 1

    def ffn(side: str, width: int) -> int:
        weight = state.get(f"{side}.blocks.0.mlp.0.weight")
        return int(weight.shape[0]) if weight is not None else 4 * width

    return {
        "pad_token_id": min(50257, last),
        "bos_token_id": min(50257, last),
        "eos_token_id": min(50257, last),
        "decoder_start_token_id": min(50258, last),
        "vocab_size": dims["n_vocab"],
        "num_mel_bins": dims["n_mels"],
        "max_source_positions": dims["n_audio_ctx"],
        "d_model": dims["n_audio_state"],
        "encoder_attention_heads": dims["n_audio_head"],
        "encoder_layers": dims["n_audio_layer"],
        "encoder_ffn_dim": ffn("encoder", dims["n_audio_state"]),
        "max_target_positions": dims["n_text_ctx"],
        "decoder_attention_heads": dims["n_text_head"],
        "decoder_layers": dims["n_text_layer"],
        "decoder_ffn_dim": ffn("decoder", dims["n_text_state"]),
    }
