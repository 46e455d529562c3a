"""EchoMimicV2's context-window sampler: the whole video denoised at once in overlapping windows.

The alternative to our motion-frame clips (``video.long_video: context_windows``, DESIGN §4.1).
Every sampler step runs the denoiser on windows of ``context_frames`` latents that overlap by
``overlap`` frames, averages each frame's predictions over the windows that hold it, and takes
one scheduler step on the whole video. As theirs (antgroup/echomimic_v2
``src/pipelines/context.py`` ``uniform`` with ``context_stride=1``, and
``pipeline_echomimicv2.py``, at a312dec):

- windows start every ``context_frames - overlap`` frames from 0 up to the last frame, and wrap
  around the end (``closed_loop``): the last window holds the last frames and the first ones;
- at step i every window is shifted by ``shift · i`` frames (modulo the length; their shift is 3),
  so window borders move between steps and no seam stays in one place;
- a video no longer than a window is one window, shifted in the same way (a rotation).

All latents stay in memory for the whole run (their memory grows with the length, about 0.15 MB
per 768² frame for the latents plus the hand maps); our motion-frame clips keep it flat.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def context_windows(num_frames: int, context_frames: int = 12, overlap: int = 3, closed_loop: bool = True) -> list[list[int]]:
    """Frame indices of each window at step 0 (their ``uniform`` schedule at step 0, stride 1).

    Args:
        num_frames: F, frames in the video.
        context_frames: frames per window.
        overlap: frames shared by consecutive windows (< ``context_frames``).
        closed_loop: windows run to the last frame and wrap to the first ones; otherwise the
            last window start leaves ``overlap`` frames (their ``closed_loop=False``).

    Returns:
        windows, each a list of ``min(F, context_frames)`` frame indices in [0, F).
    """
    if not 0 <= overlap < context_frames:
        raise ValueError(f"need 0 <= overlap < context_frames, got {overlap}, {context_frames}")
    if num_frames <= context_frames:
        return [list(range(num_frames))]
    stride = context_frames - overlap
    end = num_frames if closed_loop else num_frames - overlap
    return [[f % num_frames for f in range(start, start + context_frames)] for start in range(0, end, stride)]


def shifted_windows(windows: list[list[int]], step: int, num_frames: int, shift: int = 3) -> list[list[int]]:
    """The windows at sampler step ``step``: every index moved by ``shift · step`` (modulo F)."""
    return [[(f + shift * step) % num_frames for f in window] for window in windows]


def denoise_windows(
    latents: torch.Tensor,
    scheduler,
    predict: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    windows: list[list[int]],
    shift: int = 3,
    on_step: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Run the scheduler's timesteps over the whole video, one window at a time.

    Args:
        latents: [1, C, F, h, w] initial noise (already scaled by ``init_noise_sigma``).
        scheduler: a diffusers scheduler with ``set_timesteps`` already called.
        predict: ``predict(window_latents [1, C, n, h, w], frames [n] int64, t) -> [1, C, n, h, w]``,
            the guided model output for those frames (classifier-free guidance is linear, so
            averaging guided outputs equals guiding averaged ones, as theirs do).
        windows: :func:`context_windows` of the video.
        shift: frames the windows move per step.
        on_step: called with the number of steps done.

    Returns:
        [1, C, F, h, w] denoised latents.
    """
    num_frames = latents.shape[2]
    for i, t in enumerate(scheduler.timesteps):
        total = torch.zeros_like(latents)
        count = torch.zeros(num_frames, device=latents.device, dtype=latents.dtype)
        for window in shifted_windows(windows, i, num_frames, shift):
            frames = torch.tensor(window, device=latents.device)
            pred = predict(latents[:, :, frames], frames, t).to(latents.dtype)
            total.index_add_(2, frames, pred)
            count.index_add_(0, frames, torch.ones(len(window), device=latents.device, dtype=latents.dtype))
        latents = scheduler.step(total / count.view(1, 1, -1, 1, 1), t, latents, return_dict=False)[0]
        if on_step is not None:
            on_step(i + 1)
    return latents


def generate_in_windows(
    pipe, ref_latent, hand_maps, feats, body_map, num_frames, window, overlap, shift, passes, bank,
    guidance_audio, guidance_reference, steps, generator, noise_clamp, decode_chunk, on_frames, return_frames, on_progress,
):  # fmt: skip
    """``EMO2VideoPipeline.__call__`` with ``long_video="context_windows"``: the whole video in windows.

    Reads all ``num_frames`` hand maps up front (memory grows with the length), draws one seed from
    ``generator`` for the noise of the whole video, runs :func:`denoise_windows` with the
    pipeline's own conditioning and guided prediction, then decodes in chunks.

    Returns:
        [F, H, W, 3] uint8 frames, or None when ``return_frames`` is false.
    """
    import itertools

    import numpy as np

    maps = list(itertools.islice(hand_maps, num_frames))
    if len(maps) < num_frames:
        raise ValueError(f"hand maps ran out at frame {len(maps)} of {num_frames}")
    maps = np.stack(maps)  # [F, H, W, 3] uint8
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    _, channels, height, width = ref_latent.shape
    latents = pipe._initial_noise((1, channels, num_frames, height, width), seed, noise_clamp)
    pipe.scheduler.set_timesteps(steps, device=latents.device)

    def predict(window_latents: torch.Tensor, frames: torch.Tensor, t) -> torch.Tensor:
        residual, text, kwargs = pipe._conditions(maps[frames.cpu().numpy()], body_map, feats, frames, passes, bank)
        model_in = pipe.scheduler.scale_model_input(window_latents, t)
        return pipe._guided_prediction(model_in, t, residual, text, kwargs, passes, guidance_audio, guidance_reference)

    windows = context_windows(num_frames, window, overlap)
    latents = denoise_windows(
        latents, pipe.scheduler, predict, windows, shift, on_step=lambda i: on_progress(i, steps) if on_progress else None
    )
    collected = []
    for chunk in pipe.decode_latents(latents, decode_chunk):
        if on_frames is not None:
            on_frames(chunk)
        if return_frames:
            collected.append(chunk)
    return np.concatenate(collected) if return_frames else None
