"""EMO2VideoPipeline: hand maps + portrait + audio features → video frames, clip by clip (DESIGN §4).

Long videos are made in clips of ``clip_frames`` new frames. Each clip's UNet input is
``[motion_frames clean latents | clip_frames noisy latents]``: the motion frames are the last
latents made so far (the reference latent, repeated, before the first clip), put back clean after
every sampler step and never decoded again, so memory does not grow with the video and clips join
without a seam. Each clip is decoded in chunks of ``decode_chunk_size`` frames and handed to
``on_frames`` before the next clip starts. The first clip's context frames have empty hand maps and
the audio of frame 0; the last clip is padded by holding its last hand map and audio row.

Classifier-free guidance has two scales (InstructPix2Pix-style, up to three UNet passes per step):
``eps = eps_none + s_ref · (eps_ref - eps_none) + s_audio · (eps_full - eps_ref)``, where
``eps_full`` sees reference and audio, ``eps_ref`` the reference only, ``eps_none`` neither
(passes that the scales do not need are skipped: one pass at 1/1, two at equal scales). The hand
guidance is in every pass: it is a constraint, not a condition to amplify; weights trained
otherwise (EchoMimicV2's: ``pose_in_uncond=False``) get no pose residual in the pass with neither.

``long_video="context_windows"`` (EchoMimicV2's sampler, :mod:`emo2cli.video.context_sampler`)
instead denoises the whole video at once in overlapping windows of ``clip_frames`` frames; its
memory grows with the length (every latent and hand map is held), and it cannot resume.
``noise_clamp`` clips the initial noise to ±value (theirs: 1.5) in either mode.

A checkpoint is a diffusers pipeline folder (``save_pretrained`` / ``from_pretrained``):
``model_index.json`` records ``emo2cli.video.*`` module paths for the EMO2 components.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel, UNetMotionModel
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from emo2cli.video.attention import set_spatial_processors
from emo2cli.video.audio_attention import AudioProjection, audio_processors
from emo2cli.video.denoiser import extend_motion_positions, set_motion_norm
from emo2cli.video.guidance import ConvInResidual, MotionGuidanceEncoder, guidance_input
from emo2cli.video.reference import reference_features, reference_readers, set_reference_writers

logger = logging.getLogger(__name__)


@dataclass
class EMO2VideoPipelineOutput(BaseOutput):
    """frames: [F, H, W, 3] uint8 (None when ``return_frames=False``); num_frames: F."""

    frames: np.ndarray | None
    num_frames: int


@dataclass
class ClipResult:
    """What a finished clip leaves behind (for resuming): its frames and the next clip's context.

    frames: [n, H, W, 3] uint8 new frames; context: [1, C, M, h, w] float32 latents;
    hand_maps: [M, H, W, 3] uint8 hand maps of the context frames.
    """

    frames: np.ndarray
    context: torch.Tensor
    hand_maps: np.ndarray


class EMO2VideoPipeline(DiffusionPipeline):
    """Stage 2 of EMO2: a portrait speaks and moves its body to follow the given hands.

    Components: ``vae`` (AutoencoderKL), ``unet`` (UNetMotionModel: SD-1.5-class UNet +
    AnimateDiff motion modules), ``reference_net`` (UNet2DConditionModel run once on the portrait
    latent), ``guidance`` (MotionGuidanceEncoder), ``audio_proj`` (AudioProjection: audio tokens,
    null text context, audio layers), ``scheduler`` (DDIM or DPM-Solver++).

    Args:
        motion_norm: "joint" (diffusers' motion-module GroupNorm) or "per_frame" (original
            AnimateDiff, for EchoMimicV2-converted weights).
        pose_in_uncond: the hand guidance is also in the pass with neither reference nor audio
            (EMO2); False zeroes it there (EchoMimicV2's unconditional branch).
    """

    model_cpu_offload_seq = "reference_net->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        unet: UNetMotionModel,
        reference_net: UNet2DConditionModel,
        guidance: MotionGuidanceEncoder,
        audio_proj: AudioProjection,
        scheduler,
        motion_norm: str = "joint",
        pose_in_uncond: bool = True,
    ):
        super().__init__()
        self.register_modules(vae=vae, unet=unet, reference_net=reference_net, guidance=guidance, audio_proj=audio_proj, scheduler=scheduler)
        self.register_to_config(motion_norm=motion_norm, pose_in_uncond=pose_in_uncond)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self._check_components()
        set_motion_norm(unet, motion_norm)
        written = set_reference_writers(reference_net)
        set_spatial_processors(unet, {**reference_readers(unet, written), **audio_processors(unet, audio_proj)})
        self.conv_in_residual = ConvInResidual(unet)

    def _check_components(self) -> None:
        unet, guidance, audio_proj = self.unet, self.guidance, self.audio_proj
        if guidance.config.out_channels != unet.conv_in.out_channels:
            raise ValueError(f"guidance makes {guidance.config.out_channels} channels, the UNet's conv_in {unet.conv_in.out_channels}")
        if guidance.downsample_factor != self.vae_scale_factor:
            raise ValueError(f"guidance downsamples {guidance.downsample_factor}x, the VAE {self.vae_scale_factor}x")
        if audio_proj.config.cross_attention_dim != unet.config.cross_attention_dim:
            raise ValueError(f"null context is {audio_proj.config.cross_attention_dim}-d, the UNet's cross-attention {unet.config.cross_attention_dim}-d")

    # ------------------------------------------------------------------------------------------
    # Pieces of __call__
    # ------------------------------------------------------------------------------------------

    def encode_reference(self, image: np.ndarray) -> torch.Tensor:
        """[H, W, 3] uint8 → [1, C, h, w] scaled latent (the posterior mean: no sampling noise)."""
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        pixels = pixels.to(device=self._execution_device, dtype=self.vae.dtype)
        return self.vae.encode(pixels).latent_dist.mean.float() * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor, chunk: int) -> Iterator[np.ndarray]:
        """[1, C, F, h, w] → chunks of [n, H, W, 3] uint8, ``chunk`` frames at a time."""
        frames = latents[0].permute(1, 0, 2, 3)  # [F, C, h, w]
        for start in range(0, frames.shape[0], chunk):
            z = frames[start : start + chunk].to(self.vae.dtype) / self.vae.config.scaling_factor
            pixels = self.vae.decode(z).sample.float()
            yield ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    def _text_context(self, rows: int, audio_rows: torch.Tensor | None, pass_audio: list[bool]) -> torch.Tensor:
        """encoder_hidden_states for the UNet: the null context, or (attn2 injection) the audio rows."""
        dtype = self.unet.dtype
        if self.audio_proj.uses_audio_layers or audio_rows is None:
            return self.audio_proj.null_text_context(rows).to(dtype)
        zeros = torch.zeros_like(audio_rows)
        return torch.cat([audio_rows if a else zeros for a in pass_audio]).to(dtype)

    # ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        reference_image: np.ndarray,
        hand_maps: Iterable[np.ndarray],
        audio_features: np.ndarray | torch.Tensor,
        body_map: np.ndarray | None = None,
        num_frames: int | None = None,
        clip_frames: int = 24,
        motion_frames: int = 12,
        num_inference_steps: int = 30,
        guidance_audio: float = 3.5,
        guidance_reference: float = 2.0,
        generator: torch.Generator | None = None,
        decode_chunk_size: int = 8,
        on_frames: Callable[[np.ndarray], None] | None = None,
        return_frames: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
        clip_cache: object | None = None,
        long_video: str = "motion_frames",
        context_overlap: int = 3,
        context_shift: int = 3,
        noise_clamp: float = 0.0,
    ) -> EMO2VideoPipelineOutput:
        """Generate a video.

        Args:
            reference_image: [H, W, 3] uint8, the portrait already fitted to the output frame.
            hand_maps: iterable of [H, W, 3] uint8 hand maps, at least ``num_frames`` of them
                (read lazily, one clip at a time).
            audio_features: [T, D] (or [T, K, D]) float32, one row per video frame.
            body_map: [H, W] float32 in [0, 1], the partial body map (None: an empty channel).
            num_frames: F frames to make (default T).
            clip_frames, motion_frames: new frames per clip, clean context frames per clip.
            num_inference_steps: sampler steps per clip.
            guidance_audio, guidance_reference: CFG scales (1 = no guidance on that condition).
            generator: the source of all noise; each clip's noise comes from a seed drawn from it
                up front, so a resumed run repeats the same clips.
            decode_chunk_size: frames per VAE decode call.
            on_frames: called with each clip's new frames [n, H, W, 3] uint8, in order, as soon as
                the clip is decoded (only one clip's frames are held at a time).
            return_frames: also collect every frame into the output (memory grows with F).
            on_progress: ``on_progress(done_steps, total_steps)``.
            clip_cache: optional store of finished clips (``get(k) -> ClipResult | None``,
                ``put(k, ClipResult)``), for resuming a long run.
            long_video: "motion_frames" (clips) or "context_windows" (windows of ``clip_frames``
                overlapping by ``context_overlap``, moved by ``context_shift`` frames per step;
                ``motion_frames`` and ``clip_cache`` are then unused).
            noise_clamp: clip the initial noise to ±this (0: off).

        Returns:
            EMO2VideoPipelineOutput: ``frames`` [F, H, W, 3] uint8 or None, ``num_frames``.
        """
        # 1. Check inputs
        height, width = reference_image.shape[:2]
        feats = torch.as_tensor(np.asarray(audio_features), dtype=torch.float32)
        num_frames = int(feats.shape[0] if num_frames is None else num_frames)
        factor = self.vae_scale_factor
        if reference_image.ndim != 3 or reference_image.shape[2] != 3 or reference_image.dtype != np.uint8:
            raise ValueError(f"reference_image must be [H, W, 3] uint8, got {reference_image.shape} {reference_image.dtype}")
        if height % factor or width % factor:
            raise ValueError(f"frame size {height}x{width} must be a multiple of {factor} (the VAE's down-sampling)")
        if long_video not in ("motion_frames", "context_windows"):
            raise ValueError(f"long_video must be 'motion_frames' or 'context_windows', got {long_video!r}")
        if long_video == "context_windows":
            motion_frames = 0  # windows carry no clean context frames
        if num_frames < 1 or clip_frames < 1 or motion_frames < 0:
            raise ValueError(f"need num_frames >= 1, clip_frames >= 1, motion_frames >= 0 (got {num_frames}, {clip_frames}, {motion_frames})")
        if self.unet.config.motion_max_seq_length < clip_frames + motion_frames:
            extend_motion_positions(self.unet, clip_frames + motion_frames)
        device = self._execution_device
        dtype = self.unet.dtype
        feats = feats.to(device)

        # 2. The portrait: latent (also the first clip's context) and ReferenceNet features
        ref_latent = self.encode_reference(reference_image)  # [1, C, h, w]
        ref_bank = reference_features(self.reference_net, ref_latent.to(dtype), self.audio_proj.null_text_context(1).to(dtype))

        # 3. CFG passes (reference?, audio?) and their rows
        passes = guidance_passes(guidance_audio, guidance_reference)
        num_passes = len(passes)
        bank = {k: v.expand(num_passes, -1, -1) for k, v in ref_bank.items()}
        if long_video == "context_windows":
            from emo2cli.video.context_sampler import generate_in_windows

            frames = generate_in_windows(
                self, ref_latent, hand_maps, feats, body_map, num_frames, clip_frames, context_overlap, context_shift, passes, bank,
                guidance_audio, guidance_reference, num_inference_steps, generator, noise_clamp, decode_chunk_size, on_frames,
                return_frames, on_progress,
            )  # fmt: skip
            self.maybe_free_model_hooks()
            return EMO2VideoPipelineOutput(frames=frames, num_frames=num_frames)

        # 4. Per-clip seeds, drawn up front (a resumed run draws the same ones)
        num_clips = -(-num_frames // clip_frames)
        clip_seeds = torch.randint(0, 2**62, (num_clips,), generator=generator).tolist()
        total_steps = num_clips * num_inference_steps

        # 5. Clip loop
        context = ref_latent[:, :, None].expand(-1, -1, motion_frames, -1, -1).clone()  # [1, C, M, h, w]
        context_maps = np.zeros((motion_frames, height, width, 3), np.uint8)
        maps_iter = iter(hand_maps)
        last_map: np.ndarray | None = None
        collected: list[np.ndarray] = []
        for k in range(num_clips):
            start = k * clip_frames
            valid = min(clip_frames, num_frames - start)
            new_maps = []
            for _ in range(valid):
                last_map = next(maps_iter, None)
                if last_map is None:
                    raise ValueError(f"hand maps ran out at frame {start + len(new_maps)} of {num_frames}")
                new_maps.append(last_map)
            new_maps += [last_map] * (clip_frames - valid)  # pad the last clip by holding its last map
            clip_maps = np.concatenate([context_maps, np.stack(new_maps)], axis=0)  # [M + N, H, W, 3]

            cached = clip_cache.get(k) if clip_cache is not None else None
            if cached is None:
                latents = self._denoise_clip(
                    context, clip_maps, body_map, feats, start, motion_frames, clip_frames, passes, bank, noise_clamp,
                    guidance_audio, guidance_reference, num_inference_steps, clip_seeds[k],
                    lambda i, k=k: on_progress(k * num_inference_steps + i, total_steps) if on_progress else None,
                )  # fmt: skip
                frames = np.concatenate(list(self.decode_latents(latents[:, :, motion_frames : motion_frames + valid], decode_chunk_size)))
                context = latents[:, :, latents.shape[2] - motion_frames :].clone()
                cached = ClipResult(frames, context.cpu(), clip_maps[clip_maps.shape[0] - motion_frames :])
                if clip_cache is not None:
                    clip_cache.put(k, cached)
            else:
                context = cached.context.to(device)
                if on_progress:
                    on_progress((k + 1) * num_inference_steps, total_steps)
            context_maps = cached.hand_maps
            if on_frames is not None:
                on_frames(cached.frames)
            if return_frames:
                collected.append(cached.frames)
            del cached

        # 6. Output
        self.maybe_free_model_hooks()
        return EMO2VideoPipelineOutput(frames=np.concatenate(collected) if return_frames else None, num_frames=num_frames)

    def _conditions(self, maps, body_map, feats, frame_index, passes, bank) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """What the denoiser reads for the frames ``frame_index`` ([n] int64; audio rows edge-clamped), in every pass.

        Args:
            maps: [n, H, W, 3] uint8 hand maps of those frames.

        Returns:
            (guidance residual [P·n, C, h, w], encoder_hidden_states [P·n, L, D], cross_attention_kwargs).
        """
        device, dtype = self._execution_device, self.unet.dtype
        num_passes, n = len(passes), len(frame_index)
        # Guidance residual, the same in every pass (but the one with neither, when pose_in_uncond is off)
        cond = guidance_input(maps, body_map, self.guidance.config.body_map).to(device=device, dtype=self.guidance.dtype)
        residual = self.guidance(cond).to(dtype).repeat(num_passes, 1, 1, 1)
        if not self.config.get("pose_in_uncond", True) and (False, False) in passes:
            p = passes.index((False, False))
            residual[p * n : (p + 1) * n] = 0
        audio = self.audio_proj(feats, frame_index).to(dtype)  # [n, L, D]
        use_layers = self.audio_proj.uses_audio_layers
        kwargs = {"reference_hidden_states": bank, "reference_mask": [r for r, _ in passes]}  # a list: no host syncs
        if use_layers:
            audio_mask = torch.tensor([a for _, a in passes], device=device, dtype=dtype).repeat_interleave(n)
            kwargs.update(audio_tokens=audio.repeat(num_passes, 1, 1), audio_mask=audio_mask)
        text = self._text_context(num_passes * n, None if use_layers else audio, [a for _, a in passes])
        return residual, text, kwargs

    def _guided_prediction(self, model_in, t, residual, text, kwargs, passes, guidance_audio, guidance_reference) -> torch.Tensor:
        """[1, C, n, h, w] scaled model input → [1, C, n, h, w] float32 guided prediction (the passes in one UNet batch)."""
        model_in = model_in.expand(len(passes), -1, -1, -1, -1).to(self.unet.dtype)
        with self.conv_in_residual.added(residual):
            pred = self.unet(model_in, t, encoder_hidden_states=text, cross_attention_kwargs=kwargs, return_dict=False)[0].float()
        return combine_guidance(pred, passes, guidance_audio, guidance_reference)

    def _initial_noise(self, shape: tuple[int, ...], seed: int, noise_clamp: float = 0.0) -> torch.Tensor:
        """Seeded noise (drawn on the CPU: the same on every device), clipped to ±noise_clamp when > 0, times init_noise_sigma."""
        noise = randn_tensor(shape, generator=torch.Generator().manual_seed(int(seed)), device=torch.device("cpu"), dtype=torch.float32)
        if noise_clamp > 0:
            noise = noise.clamp(-noise_clamp, noise_clamp)  # EchoMimicV2's prepare_latents_smooth
        return noise.to(self._execution_device) * self.scheduler.init_noise_sigma

    def _denoise_clip(
        self, context, clip_maps, body_map, feats, start, motion_frames, clip_frames, passes, bank, noise_clamp,
        guidance_audio, guidance_reference, steps, seed, on_step,
    ) -> torch.Tensor:  # fmt: skip
        """One clip: [1, C, M + N, h, w] float32 latents, the first M equal to ``context``."""
        device = self._execution_device
        frame_index = torch.arange(start - motion_frames, start + clip_frames, device=device)  # audio rows, edge-clamped
        residual, text, kwargs = self._conditions(clip_maps, body_map, feats, frame_index, passes, bank)
        noise = self._initial_noise((1, context.shape[1], clip_frames, context.shape[3], context.shape[4]), seed, noise_clamp)
        self.scheduler.set_timesteps(steps, device=device)
        latents = torch.cat([context, noise], dim=2)
        for i, t in enumerate(self.scheduler.timesteps):
            model_in = self.scheduler.scale_model_input(latents, t)
            model_in[:, :, :motion_frames] = context  # the motion frames stay clean
            pred = self._guided_prediction(model_in, t, residual, text, kwargs, passes, guidance_audio, guidance_reference)
            latents = self.scheduler.step(pred, t, latents, return_dict=False)[0]
            latents[:, :, :motion_frames] = context
            on_step(i + 1)
        return latents

def guidance_passes(guidance_audio: float, guidance_reference: float) -> list[tuple[bool, bool]]:
    """The UNet passes (reference?, audio?) the two scales need, the full pass first.

    Equal scales need no reference-only pass: the formula reduces to ``none + s · (full - none)``.
    """
    if guidance_audio == 1.0 and guidance_reference == 1.0:
        return [(True, True)]
    if guidance_audio == guidance_reference:
        return [(True, True), (False, False)]
    if guidance_reference == 1.0:
        return [(True, True), (True, False)]
    return [(True, True), (True, False), (False, False)]


def combine_guidance(pred: torch.Tensor, passes: list[tuple[bool, bool]], guidance_audio: float, guidance_reference: float) -> torch.Tensor:
    """[P, ...] predictions of ``passes`` → [1, ...] guided prediction (see the module docstring)."""
    by_pass = dict(zip(passes, pred.split(1)))
    full = by_pass[(True, True)]
    ref_only = by_pass.get((True, False))
    none = by_pass.get((False, False))
    if ref_only is None and none is None:
        return full
    if ref_only is None:  # equal scales
        return none + guidance_audio * (full - none)
    if none is None:  # reference scale 1
        return ref_only + guidance_audio * (full - ref_only)
    return none + guidance_reference * (ref_only - none) + guidance_audio * (full - ref_only)
