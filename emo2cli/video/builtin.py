"""Built-in, randomly initialised Stage 2 component sets (no weights): a size table, as minGPT's ``gpt-nano``.

- ``tiny``: toy widths, 4× VAE (64 × 64 frames → 16 × 16 latents); runs the real pipeline on a CPU in seconds. Used by the tests
  (``tests/tiny.py``) and by ``--preset tiny`` (``video.checkpoint: "builtin:tiny-random"``) to
  check an install end to end. Its videos are noise: the weights are random.
- ``sd15``: SD-1.5 / AnimateDiff v2 sizes (320-640-1280-1280 UNet, 8× VAE, 77-token null
  context, EMO2 guidance and audio layers): a full-size stand-in for GPU benchmarks
  (``builtin:sd15-random``) when real weights are absent.

Components are built with ``torch.manual_seed(seed)`` before each one, as diffusers' tests do,
so a size and seed always give the same weights.
"""

from __future__ import annotations

import torch

from emo2cli.weights import BUILTIN_PREFIX  # one definition of the prefix
SIZES = ("tiny", "sd15")

# Architecture only; run settings (frames, steps, guidance) live in the preset.
_TINY = {
    "unet2d": dict(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    ),
    "adapter": dict(
        block_out_channels=(16, 32), motion_layers_per_block=1, motion_norm_num_groups=4, motion_num_attention_heads=2, motion_max_seq_length=32
    ),
    "vae": dict(
        block_out_channels=(8, 8, 16),
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    ),
    "guidance": dict(out_channels=16, block_out_channels=(8, 8, 16)),
    "audio": dict(window_radius=2, hidden_dim=16, token_dim=16, cross_attention_dim=16, null_context_tokens=2),
}

_SD15 = {
    "unet2d": dict(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768,
        attention_head_dim=8,
        norm_num_groups=32,
    ),
    "adapter": dict(block_out_channels=(320, 640, 1280, 1280), motion_layers_per_block=2, use_motion_mid_block=True, motion_max_seq_length=32),
    "vae": dict(
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=512,
    ),
    "guidance": dict(out_channels=320, block_out_channels=(16, 32, 96, 256)),
    "audio": dict(window_radius=2, hidden_dim=512, token_dim=768, cross_attention_dim=768, null_context_tokens=77),
}

_TABLE = {"tiny": _TINY, "sd15": _SD15}


def size_spec(size: str) -> dict:
    """The constructor kwargs of a built-in size: {"unet2d", "adapter", "vae", "guidance", "audio"} (a copy)."""
    import copy

    return copy.deepcopy(_TABLE[size])


def is_builtin(ref: str) -> bool:
    return ref.startswith(BUILTIN_PREFIX)


def builtin_size(ref: str) -> str:
    """``"builtin:tiny-random"`` → ``"tiny"``.

    Raises:
        ValueError: an unknown built-in name.
    """
    name = ref[len(BUILTIN_PREFIX) :].removesuffix("-random")
    if name not in SIZES:
        raise ValueError(f"unknown built-in Stage 2 set '{ref}': known {', '.join(f'builtin:{s}-random' for s in SIZES)}")
    return name


def sd_scheduler_config() -> dict:
    """SD-1.5's noise schedule, for DDIM sampling (the base model's scheduler folder has the same values)."""
    return dict(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        timestep_spacing="trailing",
    )


def random_components(size: str = "tiny", audio_dim: int = 16, max_frames: int = 32, seed: int = 0, device: str | torch.device = "cpu") -> dict:
    """The six pipeline components of a built-in size, randomly initialised (EMO2 layers zero-init as always).

    Args:
        size: "tiny" or "sd15".
        audio_dim: width of one audio feature row (the feature table's D).
        max_frames: longest clip (motion + new frames) the denoiser must take.
        seed: torch seed set before each component.
        device: where to build (build full-size sets directly on the GPU).

    Returns:
        {"vae", "unet", "reference_net", "guidance", "audio_proj", "scheduler"}: EMO2VideoPipeline kwargs.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel

    from emo2cli.video.audio_attention import AudioProjection, audio_attention_dims
    from emo2cli.video.denoiser import build_denoiser
    from emo2cli.video.guidance import MotionGuidanceEncoder

    spec = size_spec(size)
    with torch.device(device):
        torch.manual_seed(seed)
        unet2d = UNet2DConditionModel(**spec["unet2d"])
        torch.manual_seed(seed)
        reference_net = UNet2DConditionModel(**spec["unet2d"])
        torch.manual_seed(seed)
        adapter = MotionAdapter(**spec["adapter"])
        unet = build_denoiser(unet2d, adapter, max_frames)
        del unet2d, adapter
        torch.manual_seed(seed)
        vae = AutoencoderKL(**spec["vae"])
        torch.manual_seed(seed)
        guidance = MotionGuidanceEncoder(**spec["guidance"])
        torch.manual_seed(seed)
        audio_proj = AudioProjection(audio_dim=audio_dim, attention_dims=audio_attention_dims(unet), **spec["audio"])
    scheduler = DDIMScheduler(**sd_scheduler_config())
    return {"vae": vae, "unet": unet, "reference_net": reference_net, "guidance": guidance, "audio_proj": audio_proj, "scheduler": scheduler}
