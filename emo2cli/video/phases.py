"""The two Stage 2 training phases: what each trains, the denoiser pass of a training batch, and the loss.

Following EMO / Animate Anyone (DESIGN §4):

- **image**: pairs of frames of a clip, one the reference and one the target. Trained: the
  ReferenceNet, the motion-guidance encoder, the denoising UNet's spatial layers and the null
  text context. The AnimateDiff motion modules are bypassed (:func:`motion_modules_bypassed`)
  and the audio layers are not used, as EMO's image stage has neither. Paper: batch 32, lr 1e-5.
- **video**: windows of ``video.motion_frames + video.clip_frames`` frames (12 + 24); the first
  ``motion_frames`` latents are clean context, as at inference, and the loss covers the others.
  Trained: the motion modules and the audio layers (the audio projection and attention of
  ``AudioProjection``; with ``injection="attn2"`` weights, the UNet's spatial ``attn2``, which is
  where their audio enters); everything else, the ReferenceNet included, is frozen and stays
  bit-identical. Paper: batch 4, lr 1e-5. A share ``first_clip`` of the windows use the
  reference latent as context with empty context hand maps: what the first clip of a video sees.

The loss (:func:`diffusion_loss`) is the standard one: MSE to the noise (or to v for
v-prediction weights) at a uniform random step, through ``DDPMScheduler.add_noise`` with the
pipeline's own noise schedule. Conditioning dropout trains the pipeline's two-scale CFG:
``drop_reference`` of the samples see neither reference nor audio (the "none" pass),
``drop_audio`` see the reference but no audio; the hand guidance is always on, as at inference.

References: EMO (arXiv:2402.17485) §3.3; Animate Anyone (arXiv:2311.17117) §3.3; AnimateDiff
(arXiv:2307.04725).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PHASES = ("image", "video")
MOTION_MODULES = "motion_modules"


# ---------------------------------------------------------------------------------------------
# What each phase trains
# ---------------------------------------------------------------------------------------------


def trained_parameters(pipe, phase: str) -> dict[str, nn.Parameter]:
    """Name → parameter of everything ``phase`` trains; also sets ``requires_grad`` on every component.

    Names are ``component.parameter`` (``unet.down_blocks.0.motion_modules.0.proj_in.weight``).
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    audio_in_attn2 = not pipe.audio_proj.uses_audio_layers
    chosen: dict[str, nn.Parameter] = {}
    for component in ("vae", "unet", "reference_net", "guidance", "audio_proj"):
        for name, param in getattr(pipe, component).named_parameters():
            if component == "unet":
                temporal = f".{MOTION_MODULES}." in f".{name}"
                audio = audio_in_attn2 and ".attn2." in name and not temporal
                train = (temporal or audio) if phase == "video" else not temporal
            elif component == "audio_proj":
                train = (name == "null_context") == (phase == "image")
            else:
                train = phase == "image" and component in ("reference_net", "guidance")
            param.requires_grad_(train)
            if train:
                chosen[f"{component}.{name}"] = param
    return chosen


@contextlib.contextmanager
def motion_modules_bypassed(unet: nn.Module, active: bool = True) -> Iterator[None]:
    """While active, every AnimateDiff motion module of ``unet`` returns its input unchanged.

    The image phase trains the spatial layers alone (EMO's image stage has no temporal layers).
    Why forward hooks: ``UNetMotionModel`` has no switch to skip its motion modules, and building
    a separate ``UNet2DConditionModel`` on the same weights would double the memory and the code
    paths. The module still computes; its output is dropped (it is one frame: cheap).
    """
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

    if not active:
        yield
        return

    def identity(module, args, kwargs, output):
        return args[0] if args else kwargs["hidden_states"]

    handles = [
        m.register_forward_hook(identity, with_kwargs=True) for m in unet.modules() if isinstance(m, AnimateDiffTransformer3D)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class Stage2Trainee(nn.Module):
    """The pipeline's learnable components as one module, so accelerate wraps (DDP) and syncs them together.

    ``forward`` is one denoiser pass of a training batch, built from the same pieces as the
    pipeline's sampler step: the ReferenceNet's bank, the guidance residual after ``conv_in``,
    the audio tokens, and the attention processors the pipeline installed.
    """

    def __init__(self, pipe, phase: str):
        super().__init__()
        self.unet, self.reference_net, self.guidance, self.audio_proj = (
            pipe.unet,
            pipe.reference_net,
            pipe.guidance,
            pipe.audio_proj,
        )
        self.conv_in_residual = pipe.conv_in_residual  # the pipeline's conv_in hook (not a module)
        self.phase = phase

    def forward(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        reference_latent: torch.Tensor,
        reference_mask: torch.Tensor,
        guidance_in: torch.Tensor,
        audio: torch.Tensor | None,
        audio_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Predict the noise (or v) of ``noisy``.

        Args:
            noisy: [B, C, F, h, w] noised latents (clean in the context frames).
            timesteps: [B] int64 diffusion steps.
            reference_latent: [B, C, h, w] scaled VAE latent of the reference frame.
            reference_mask: [B] bool, samples that see the reference.
            guidance_in: [B·F, c, H, W] hand maps (+ body map) in [0, 1], batch-major rows.
            audio: [B, F + 2r, D] feature rows around the window (None: no audio, image phase).
            audio_mask: [B] float, 1 for samples that hear the audio.

        Returns:
            [B, C, F, h, w] prediction.
        """
        from emo2cli.video.reference import reference_features

        batch, _, frames = noisy.shape[:3]
        proj = self.audio_proj
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.phase == "image"):
            bank = reference_features(self.reference_net, reference_latent, proj.null_text_context(batch))
        residual = self.guidance(guidance_in)  # [B·F, C', h, w]
        kwargs: dict = {"reference_hidden_states": bank, "reference_mask": reference_mask}
        text = proj.null_text_context(batch * frames)
        if audio is not None:
            radius = proj.config.window_radius
            index = torch.arange(radius, radius + frames, device=audio.device)
            tokens = torch.cat([proj(audio[b], index) for b in range(batch)])  # [B·F, L, D]
            rows_mask = audio_mask.repeat_interleave(frames)
            if proj.uses_audio_layers:
                kwargs.update(audio_tokens=tokens, audio_mask=rows_mask)
            else:  # attn2 injection: the audio rows are the cross-attention context, zero for "no audio"
                text = tokens * rows_mask[:, None, None].to(tokens.dtype)
        with self.conv_in_residual.added(residual), motion_modules_bypassed(self.unet, self.phase == "image"):
            return self.unet(noisy, timesteps, encoder_hidden_states=text, cross_attention_kwargs=kwargs, return_dict=False)[0]


# ---------------------------------------------------------------------------------------------
# One step
# ---------------------------------------------------------------------------------------------


def step_generator(seed: int, rank: int, step: int, micro: int = 0) -> torch.Generator:
    """The CPU generator of one micro-batch: a function of (seed, process, step, micro-batch) only."""
    state = np.random.SeedSequence([seed, rank, step, micro]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def encode_frames(vae, pixels: torch.Tensor, generator: torch.Generator | None, chunk: int = 16) -> torch.Tensor:
    """[N, H, W, 3] uint8 → [N, C, h, w] scaled latents (a posterior sample, or the mean when ``generator`` is None)."""
    out = []
    for start in range(0, pixels.shape[0], chunk):
        x = pixels[start : start + chunk].permute(0, 3, 1, 2).to(vae.device, vae.dtype) / 127.5 - 1.0
        dist = vae.encode(x).latent_dist
        z = (
            dist.mean
            if generator is None
            else dist.mean + dist.std * torch.randn(dist.mean.shape, generator=generator).to(dist.mean)
        )
        out.append(z * vae.config.scaling_factor)
    return torch.cat(out)


def diffusion_loss(
    model,
    vae,
    noise_scheduler,
    batch: dict,
    motion_frames: int,
    generator: torch.Generator,
    drop_reference: float = 0.05,
    drop_audio: float = 0.05,
    first_clip: float = 0.1,
) -> torch.Tensor:
    """The loss of one micro-batch (module docstring).

    Args:
        model: :class:`Stage2Trainee` (or its accelerate wrapper).
        vae: the frozen VAE.
        noise_scheduler: DDPMScheduler with the pipeline's noise schedule.
        batch: collated :class:`~emo2cli.video.clips.ClipSamples` samples (tensors).
        motion_frames: M clean context frames at the start of each window (0 in the image phase).
        generator: the micro-batch's CPU generator (timesteps, noise, dropout, VAE sampling).
        drop_reference, drop_audio, first_clip: shares of the batch (module docstring).
    """
    from emo2cli.video.guidance import guidance_input

    core = model.module if hasattr(model, "module") else model
    device = vae.device
    frames = batch["frames"]  # [B, F, H, W, 3] uint8
    b, f = frames.shape[:2]
    with torch.no_grad():
        latents = encode_frames(vae, frames.flatten(0, 1), generator)
        latents = latents.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4).float()  # [B, C, F, h, w]
        reference = encode_frames(vae, batch["reference"], None).float()  # [B, C, h, w], the mean as at inference
    u = torch.rand(b, generator=generator)
    reference_mask = (u >= drop_reference).to(device)
    audio_mask = (u >= drop_reference + drop_audio).float().to(device)
    maps = batch["hand_maps"].numpy().copy()
    if motion_frames:
        first = (torch.rand(b, generator=generator) < first_clip).to(device)
        latents[:, :, :motion_frames] = torch.where(
            first[:, None, None, None, None], reference[:, :, None], latents[:, :, :motion_frames]
        )
        maps[first.cpu().numpy(), :motion_frames] = 0  # the first clip's context has no hand maps
    body_channel = core.guidance.config.body_map
    guidance_in = torch.cat([guidance_input(maps[i], batch["body"][i].numpy(), body_channel) for i in range(b)]).to(device)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (b,), generator=generator).to(device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    noisy[:, :, :motion_frames] = latents[:, :, :motion_frames]  # the motion frames stay clean
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    audio = batch["audio"].to(device) if core.phase == "video" else None
    pred = model(noisy, timesteps, reference, reference_mask, guidance_in, audio, audio_mask)
    return F.mse_loss(pred.float()[:, :, motion_frames:], target.float()[:, :, motion_frames:])
