"""MotionPipeline: windowed sampling of the Stage 1 DiT, audio features → 134-vectors (DESIGN §3).

Long audio is cut into windows of N frames. Each window is denoised with the last C generated
frames of the previous window prepended as clean context (the first window gets the rest pose,
or the last C frames of ``--init-hands``), so any length comes out seamless and memory does not
grow with the length: one window of activations at a time, and the audio keys/values of each
window computed once (``MotionDiT.encode_audio``) and reused by every step.

Prediction type: **x0** (diffusers ``prediction_type="sample"``). Motion diffusion models (MDM,
EDGE) predict x0 because the losses that matter for motion are defined on the clean sequence:
the hand mask and the context exclusion act per frame, and the velocity loss is a difference of
predicted frames; with ε or v they would need the noisy input to be undone first, which amplifies
errors at high noise. x0 is also the native parameterisation of DPM-Solver++ (a data-prediction
solver) and works unchanged in DDIM, and a zero-initialised final layer makes an untrained model
predict the dataset mean rather than noise. v-prediction mostly pays off with zero-terminal-SNR
image schedules; we use the cosine schedule with trailing timestep spacing instead, which starts
sampling from pure noise.

Classifier-free guidance on audio: the conditional and the null-audio halves run as one batch
of 2B (``guidance_scale != 1``); at scale 1 only the conditional half runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from emo2cli.hands.rest import REST_WRIST_M, rest_pose
from emo2cli.hands.vector import pose_to_vector
from emo2cli.motion.model import MotionDiT

logger = logging.getLogger(__name__)

SAMPLERS = ("ddim", "dpm++")


def training_scheduler(num_train_timesteps: int = 1000) -> DDPMScheduler:
    """The DDPM noise schedule Stage 1 trains with (saved beside the weights)."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule="squaredcos_cap_v2",  # cosine: keeps more signal at mid noise than linear for low-dim data
        prediction_type="sample",
        clip_sample=False,
    )


def make_sampler(sampler: str, train_config: dict) -> SchedulerMixin:
    """A fresh inference scheduler ("ddim" or "dpm++") on the checkpoint's training noise schedule."""
    if sampler == "ddim":
        return DDIMScheduler.from_config(train_config, timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=True)
    if sampler == "dpm++":
        return DPMSolverMultistepScheduler.from_config(
            train_config,
            algorithm_type="dpmsolver++",
            solver_order=2,
            timestep_spacing="trailing",
            lower_order_final=True,  # first-order last step: stable at 4-10 steps
            final_sigmas_type="zero",
        )
    raise ValueError(f"unknown sampler '{sampler}'; expected one of {', '.join(SAMPLERS)}")


def rest_vector() -> np.ndarray:
    """[134] float32: the built-in rest pose as a 134-vector (the first window's context)."""
    orient, pose, transl = rest_pose()
    return pose_to_vector(orient[None], pose[None], transl[None])[0]


@dataclass
class MotionPipelineOutput(BaseOutput):
    """motion: [B, T, 134] float32 numpy, 134-vectors (quaternions not yet renormalised, metres)."""

    motion: np.ndarray


class MotionPipeline(DiffusionPipeline):
    """Audio features → hand motion with a :class:`MotionDiT` and any diffusers scheduler.

    ``save_pretrained(dir)`` writes ``model_index.json``, ``transformer/`` (config.json +
    safetensors) and ``scheduler/`` (the training DDPM schedule); ``from_pretrained(dir)`` reads
    them back. Sampling uses ``self.scheduler`` as it is: set it with :func:`make_sampler`.
    """

    model_cpu_offload_seq = "transformer"

    def __init__(self, transformer: MotionDiT, scheduler: SchedulerMixin):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler)

    def _conditions(self, batch: int, style, speed, offset, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        model = self.transformer
        styles = [style] * batch if isinstance(style, str) else list(style)
        speeds = speed if isinstance(speed, (list, tuple)) else [speed] * batch
        if len(styles) != batch or len(speeds) != batch:
            raise ValueError(f"style and speed need one value or {batch} values")
        style_ids = torch.tensor([model.style_index(s) for s in styles], dtype=torch.long, device=device)
        speed_t = torch.tensor([model.typical_speed(s) if v is None else float(v) for s, v in zip(styles, speeds)], device=device)
        if offset is None:
            offset = np.broadcast_to(REST_WRIST_M, (batch, 2, 3))
        offset_t = torch.as_tensor(np.array(offset, np.float32), device=device).reshape(batch, 2, 3)
        return style_ids, speed_t, offset_t

    @torch.no_grad()
    def __call__(
        self,
        audio_features: torch.Tensor | np.ndarray,
        num_inference_steps: int = 20,
        guidance_scale: float = 2.0,
        style: str | list[str] = "talk",
        speed: float | list[float | None] | None = None,
        offset: np.ndarray | None = None,
        init_motion: np.ndarray | None = None,
        window: int | None = None,
        context: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        dtype: torch.dtype | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> MotionPipelineOutput:
        """Generate motion for every frame of the features.

        Args:
            audio_features: [B, T, audio_dim] float32, one row per frame at the checkpoint's fps.
            num_inference_steps: scheduler steps per window.
            guidance_scale: audio CFG scale; 1 = conditional only (one forward per step).
            style: a style name, or one per batch item.
            speed: cm² (variance of wrist translation), one or per item; None = the style's typical.
            offset: [B, 2, 3] (or [2, 3]) rest wrist positions, metres; None = the built-in rest.
            init_motion: [B, T0, 134] 134-vectors whose last C frames are the first context;
                None = the rest pose. T0 < C is padded with its first frame.
            window, context: N and C; None = what the checkpoint was trained with.
            generator: one, or one per batch item (a batch then equals the single runs).
            dtype: autocast dtype for the transformer (torch.bfloat16), None = its own dtype.
            on_progress: called with (steps done, steps total) over all windows.

        Returns:
            MotionPipelineOutput with ``motion`` [B, T, 134].
        """
        model = self.transformer
        device = model.device
        # 1. Inputs
        audio = torch.as_tensor(np.asarray(audio_features, np.float32) if isinstance(audio_features, np.ndarray) else audio_features)
        audio = audio.to(device=device, dtype=torch.float32)
        if audio.ndim != 3 or audio.shape[-1] != model.config.audio_dim:
            raise ValueError(f"audio_features must be [B, T, {model.config.audio_dim}], got {list(audio.shape)}")
        batch, num_frames, _ = audio.shape
        n = window or model.config.window
        c = model.config.context if context is None else context
        style_ids, speed_t, offset_t = self._conditions(batch, style, speed, offset, device)
        do_cfg = guidance_scale != 1.0

        # 2. First context: the rest pose, or the last C frames of the given motion
        if init_motion is None:
            init = torch.as_tensor(rest_vector(), device=device).expand(batch, max(c, 1), -1)
        else:
            init = torch.as_tensor(np.asarray(init_motion, np.float32), device=device).reshape(batch, -1, model.config.motion_dim)
        if init.shape[1] < c:
            init = torch.cat([init[:, :1].expand(-1, c - init.shape[1], -1), init], dim=1)
        ctx = model.normalize_motion(init[:, init.shape[1] - c :])  # [B, C, 134]

        # 3. Audio padded so that window w reads frames [w N - C, w N + N + A): edge frames repeat
        num_windows = -(-num_frames // n)
        lookahead = model.config.audio_lookahead
        tail = num_windows * n - num_frames + lookahead
        audio = torch.cat([audio[:, :1].expand(-1, c, -1), audio, audio[:, -1:].expand(-1, tail, -1)], dim=1)

        # 4. Conditions, doubled for the batched CFG pair (conditional first, then null audio)
        if do_cfg:
            style_ids, speed_t, offset_t = style_ids.repeat(2), speed_t.repeat(2), offset_t.repeat(2, 1, 1)
            drop = torch.arange(2 * batch, device=device) >= batch
        else:
            drop = None
        autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

        # 5. Windows
        windows = []
        total = num_windows * num_inference_steps
        for w in range(num_windows):
            window_audio = audio[:, w * n : w * n + c + n + lookahead]  # [B, C + N + A, audio_dim]
            with autocast:
                audio_kv = model.encode_audio(torch.cat([window_audio] * 2) if do_cfg else window_audio, drop)
            latents = randn_tensor((batch, n, model.config.motion_dim), generator=generator, device=device, dtype=torch.float32)
            latents = latents * self.scheduler.init_noise_sigma
            self.scheduler.set_timesteps(num_inference_steps, device=device)
            for i, t in enumerate(self.scheduler.timesteps):
                x = torch.cat([ctx, latents], dim=1)  # [B, C + N, 134]
                x_in = torch.cat([x, x]) if do_cfg else x
                with autocast:
                    pred = model(x_in, t, style_ids, speed_t, offset_t, c, audio_kv=audio_kv)
                pred = pred[:, c:].float()  # [B(×2), N, 134] predicted x0 of the generated frames
                if do_cfg:
                    pred_cond, pred_null = pred.chunk(2)
                    pred = pred_null + guidance_scale * (pred_cond - pred_null)
                latents = self.scheduler.step(pred, t, latents, generator=generator).prev_sample
                if on_progress is not None:
                    on_progress(w * num_inference_steps + i + 1, total)
            windows.append(latents)
            ctx = latents[:, n - c :] if c else latents[:, :0]  # the next window's clean context

        motion = model.denormalize_motion(torch.cat(windows, dim=1)[:, :num_frames])  # [B, T, 134]
        return MotionPipelineOutput(motion=motion.cpu().numpy().astype(np.float32))
