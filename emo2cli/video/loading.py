"""Stage 2 checkpoint references → an :class:`EMO2VideoPipeline` (the one place that reads ``video.checkpoint``).

``video.checkpoint`` (or ``$EMO2_STAGE2``, or ``--checkpoint``) names one of:

1. ``builtin:tiny-random`` / ``builtin:sd15-random``: random components of a built-in size
   (``emo2cli.video.builtin``), for install checks (``--preset tiny``) and GPU benchmarks;
2. a pipeline folder (``save_pretrained`` or ``convert-weights`` output, with ``model_index.json``);
3. an EMO2 *layers* folder (any of ``guidance/``, ``audio_proj/``, ``reference_net/``, ``unet/``
   as ``save_pretrained`` folders) put on top of ``video.base_model`` (an SD-1.5-class folder with
   ``unet/``, ``vae/``, ``scheduler/``) and ``video.motion_adapter`` (an AnimateDiff adapter);
   missing EMO2 layers start fresh (zero-initialised), which is how ``train-video`` begins.

Local folders and hub ids go through :func:`emo2cli.weights.resolve` (nothing is downloaded
unless the user allows it). An empty reference means "no Stage 2": ``gen-video`` makes a preview.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from emo2cli.config import VideoConfig
from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.video.builtin import builtin_size, is_builtin

logger = logging.getLogger(__name__)

STAGE2_ENV = "EMO2_STAGE2"
LAYER_FOLDERS = ("guidance", "audio_proj", "reference_net", "unet")


@dataclass(frozen=True)
class Stage2Source:
    """Where the Stage 2 weights come from: ``kind`` is "builtin", "pipeline" or "layers"."""

    kind: str
    ref: str
    path: Path | None = None


def find_stage2(cfg: VideoConfig) -> Stage2Source:
    """Resolve ``cfg.checkpoint`` (or ``$EMO2_STAGE2``) without loading anything.

    Raises:
        MissingPrerequisite: nothing given, or the reference is not found (the message says where
            it was looked for and that gen-video makes a preview instead).
        InputError: a folder that is neither a pipeline nor an EMO2 layers folder.
    """
    import os

    from emo2cli.weights import resolve

    ref = cfg.checkpoint or os.environ.get(STAGE2_ENV, "")
    if is_builtin(ref):
        try:
            builtin_size(ref)
        except ValueError as e:
            raise InputError(str(e)) from None
        return Stage2Source("builtin", ref)
    if not ref:
        raise MissingPrerequisite(
            "no Stage 2 weights configured (video.checkpoint is empty)",
            hint=f"set video.checkpoint or {STAGE2_ENV} to an EMO2 pipeline folder, or use --preset tiny for random tiny weights",
        )
    path = resolve(ref, "Stage 2 EMO2 pipeline folder", env_var=STAGE2_ENV, instead="gen-video makes a labelled preview")
    if (path / "model_index.json").is_file():
        return Stage2Source("pipeline", ref, path)
    if path.is_dir() and any((path / name / "config.json").is_file() for name in LAYER_FOLDERS):
        return Stage2Source("layers", ref, path)
    raise InputError(
        "is neither an EMO2 pipeline folder (model_index.json) nor an EMO2 layers folder",
        path=path,
        hint=f"expected model_index.json or subfolders {', '.join(LAYER_FOLDERS)}",
    )


def video_device(cfg: VideoConfig) -> str:
    """``video.device`` with "auto" resolved (cuda when available: ``cuda:LOCAL_RANK`` under accelerate)."""
    import torch

    from emo2cli.sharding import local_cuda

    if cfg.device == "auto":
        return local_cuda() if torch.cuda.is_available() else "cpu"  # LOCAL_RANK's GPU under accelerate/torchrun
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise MissingPrerequisite(f"video.device is '{cfg.device}' but no CUDA device is available", hint="set video.device: cpu (slow) or auto")
    return cfg.device


def video_dtype(cfg: VideoConfig, device: str):
    """The UNet's dtype: the preset's on a GPU, float32 on a CPU."""
    import torch

    if not device.startswith("cuda"):
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[cfg.dtype]


def load_pipeline(cfg: VideoConfig, audio_dim: int, audio_encoder: str = "", device: str | None = None):
    """Build the Stage 2 pipeline that ``cfg`` names, on ``device`` in the preset's dtype.

    Args:
        cfg: the preset's video settings (checkpoint, base model, adapter, sampler, dtype).
        audio_dim: width of one feature row of the audio to be used (D, or K·D).
        audio_encoder: the encoder that made the features (checked against the checkpoint).
        device: None = ``video_device(cfg)``.

    Raises:
        MissingPrerequisite: no Stage 2 weights, or a base model/adapter that is not found.
        InputError: features of another encoder or width than the checkpoint was trained on.
    """
    import torch

    device = device or video_device(cfg)
    dtype = video_dtype(cfg, device)
    source = find_stage2(cfg)
    max_frames = cfg.clip_frames + cfg.motion_frames
    if source.kind == "builtin":
        from emo2cli.video.builtin import random_components
        from emo2cli.video.pipeline import EMO2VideoPipeline

        components = random_components(builtin_size(source.ref), audio_dim=audio_dim, max_frames=max_frames, device=device)
        components["audio_proj"].register_to_config(audio_encoder=audio_encoder)
        pipe = EMO2VideoPipeline(**components)
    elif source.kind == "pipeline":
        from emo2cli.video.pipeline import EMO2VideoPipeline

        pipe = EMO2VideoPipeline.from_pretrained(source.path)
    else:
        pipe = pipeline_from_base(cfg, source.path, audio_dim, audio_encoder)
    check_audio(pipe.audio_proj, audio_dim, audio_encoder, source.path or source.ref)
    set_sampler(pipe, cfg.sampler)
    pipe.to(device)
    if dtype != torch.float32:
        from emo2cli.video.denoiser import quiet_dtype_warning

        with quiet_dtype_warning():
            for module in (pipe.unet, pipe.reference_net, pipe.guidance, pipe.audio_proj):
                module.to(dtype=dtype)
            if not (dtype == torch.float16 and pipe.vae.config.get("force_upcast", True)):
                pipe.vae.to(dtype=dtype)  # SD's VAE overflows in fp16: it stays float32 then
    if cfg.compile:
        pipe.unet.compile()
    logger.info("Stage 2: %s weights (%s) on %s, %s", source.kind, source.ref, device, str(dtype).removeprefix("torch."))
    return pipe


def check_audio(audio_proj, audio_dim: int, audio_encoder: str, where: object) -> None:
    """Refuse features the audio layers were not trained on (InputError naming the fix)."""
    trained = audio_proj.config.audio_encoder
    if trained and audio_encoder and trained != audio_encoder:
        raise InputError(
            f"Stage 2 weights were trained on '{trained}' audio features, these are '{audio_encoder}'",
            path=str(where),
            hint=f"extract the audio with --encoder {trained} (audio.encoder: {trained})",
        )
    if audio_proj.uses_audio_layers and audio_proj.config.audio_dim != audio_dim:
        raise InputError(f"Stage 2 audio layers read {audio_proj.config.audio_dim}-d features, these are {audio_dim}-d", path=str(where))


def set_sampler(pipe, sampler: str) -> None:
    """Swap the pipeline's scheduler for the preset's sampler, keeping its noise schedule."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    cls = {"ddim": DDIMScheduler, "dpm++": DPMSolverMultistepScheduler}[sampler]
    if not isinstance(pipe.scheduler, cls):
        pipe.scheduler = cls.from_config(pipe.scheduler.config)


def pipeline_from_base(cfg: VideoConfig, layers: Path | None, audio_dim: int, audio_encoder: str = ""):
    """SD-1.5-class base + AnimateDiff adapter (+ EMO2 layers from ``layers``) → a pipeline.

    Fresh EMO2 layers are zero-initialised; a fresh null context starts from the base model's CLIP
    embedding of the empty prompt when the base folder has ``text_encoder/`` and ``tokenizer/``.

    Raises:
        MissingPrerequisite: base model or motion adapter not found.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from emo2cli.video.audio_attention import AudioProjection, audio_attention_dims
    from emo2cli.video.builtin import sd_scheduler_config
    from emo2cli.video.denoiser import build_denoiser, extend_motion_positions
    from emo2cli.video.guidance import MotionGuidanceEncoder
    from emo2cli.video.pipeline import EMO2VideoPipeline
    from emo2cli.weights import resolve

    base = resolve(cfg.base_model, "SD-1.5-class base model (unet/, vae/, scheduler/)", env_var="EMO2_BASE_MODEL", instead="gen-video makes a labelled preview")
    max_frames = cfg.clip_frames + cfg.motion_frames

    def layer(name: str) -> Path | None:
        p = layers / name if layers is not None else None
        return p if p is not None and (p / "config.json").is_file() else None

    if layer("unet"):
        unet = UNetMotionModel.from_pretrained(layer("unet"))
        extend_motion_positions(unet, max_frames)
    else:
        adapter_dir = resolve(cfg.motion_adapter, "AnimateDiff motion adapter", env_var="EMO2_MOTION_ADAPTER", instead="gen-video makes a labelled preview")
        unet = build_denoiser(UNet2DConditionModel.from_pretrained(base, subfolder="unet"), MotionAdapter.from_pretrained(adapter_dir), max_frames)
    reference_net = UNet2DConditionModel.from_pretrained(layer("reference_net") or base, subfolder=None if layer("reference_net") else "unet")
    vae = AutoencoderKL.from_pretrained(base, subfolder="vae")
    scheduler_dir = base / "scheduler"
    scheduler = DDIMScheduler.from_pretrained(base, subfolder="scheduler") if scheduler_dir.is_dir() else DDIMScheduler(**sd_scheduler_config())
    if layer("guidance"):
        guidance = MotionGuidanceEncoder.from_pretrained(layer("guidance"))
    else:
        guidance = MotionGuidanceEncoder(out_channels=unet.conv_in.out_channels)
    if layer("audio_proj"):
        audio_proj = AudioProjection.from_pretrained(layer("audio_proj"))
    else:
        audio_proj = AudioProjection(
            audio_dim=audio_dim, attention_dims=audio_attention_dims(unet), cross_attention_dim=unet.config.cross_attention_dim, audio_encoder=audio_encoder
        )
        context = null_context_from_text_encoder(base)
        if context is not None and context.shape[-1] == audio_proj.null_context.shape[-1]:
            audio_proj.null_context.data = context[: audio_proj.config.null_context_tokens].clone()
    return EMO2VideoPipeline(vae=vae, unet=unet, reference_net=reference_net, guidance=guidance, audio_proj=audio_proj, scheduler=scheduler)


def null_context_from_text_encoder(base: Path):
    """[77, D] CLIP text embedding of the empty prompt from ``base/text_encoder`` + ``base/tokenizer``, or None."""
    if not ((base / "text_encoder").is_dir() and (base / "tokenizer").is_dir()):
        return None
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer")
        encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
    except (OSError, ValueError) as e:
        logger.info("null context starts at zero: the base text encoder did not load (%s)", e)
        return None
    ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    with torch.no_grad():
        return encoder(ids)[0][0].float()
