"""Stage 2 switches for EchoMimicV2's weights: context windows, no pose in the unconditional pass, noise clamp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emo2cli.video.pipeline import EMO2VideoPipeline
from tests.tiny import tiny_echomimic_components, tiny_video_inputs


@pytest.fixture(scope="module")
def pipe():
    pipe = EMO2VideoPipeline(**tiny_echomimic_components(), motion_norm="per_frame", pose_in_uncond=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _inputs(num_frames: int, **kwargs) -> dict:
    inputs = tiny_video_inputs(num_frames=num_frames, size=32)
    inputs.update(audio_features=np.random.default_rng(1).normal(size=(num_frames, 5, 16)).astype(np.float32))
    inputs.update({"guidance_audio": 2.5, "guidance_reference": 2.5, **kwargs})
    return inputs


def test_one_unshifted_window_equals_one_clip_without_motion_frames(pipe):
    clip = pipe(**_inputs(6, clip_frames=6, motion_frames=0)).frames
    window = pipe(**_inputs(6, clip_frames=12, long_video="context_windows", context_shift=0)).frames
    np.testing.assert_array_equal(window, clip)
    shifted = pipe(**_inputs(6, clip_frames=12, long_video="context_windows", context_shift=3)).frames
    assert np.abs(shifted.astype(int) - clip.astype(int)).max() > 0  # the window is rotated at every step


def test_context_windows_make_every_frame_and_stream_them(pipe):
    streamed, progress = [], []
    out = pipe(
        **_inputs(10, clip_frames=4, long_video="context_windows", context_overlap=1),
        on_frames=streamed.append, on_progress=lambda done, total: progress.append((done, total)), decode_chunk_size=3,
    )  # fmt: skip
    assert out.frames.shape == (10, 32, 32, 3) and out.num_frames == 10
    assert [len(c) for c in streamed] == [3, 3, 3, 1] and np.array_equal(np.concatenate(streamed), out.frames)
    assert progress == [(1, 2), (2, 2)]
    again = pipe(**_inputs(10, clip_frames=4, long_video="context_windows", context_overlap=1)).frames
    np.testing.assert_array_equal(again, out.frames)  # same seed, same video
    with pytest.raises(ValueError, match="long_video"):
        pipe(**_inputs(4, long_video="sliding"))


def test_the_unconditional_pass_sees_no_pose_when_so_configured(pipe):
    residuals = []
    handle = pipe.unet.conv_in.register_forward_hook(lambda m, a, out: residuals.append(pipe.conv_in_residual.residual.clone()))
    try:
        pipe(**_inputs(4, clip_frames=4, motion_frames=0, num_inference_steps=1))
    finally:
        handle.remove()
    residual = residuals[0].view(2, 4, *residuals[0].shape[1:])  # passes (full, none) x 4 frames
    assert residual[0].abs().sum() > 0 and not residual[1].any()
    one_pass = {"clip_frames": 4, "motion_frames": 0, "guidance_audio": 1.0, "guidance_reference": 1.0}
    with_pose = EMO2VideoPipeline(**{k: getattr(pipe, k) for k in ("vae", "unet", "reference_net", "guidance", "audio_proj", "scheduler")},
                                  motion_norm="per_frame", pose_in_uncond=True)  # fmt: skip
    with_pose.set_progress_bar_config(disable=True)
    # no unconditional pass: no difference; with one, the pose residual there changes the video
    np.testing.assert_array_equal(with_pose(**_inputs(4, **one_pass)).frames, pipe(**_inputs(4, **one_pass)).frames)
    two_pass = {"clip_frames": 4, "motion_frames": 0}
    assert (
        np.abs(with_pose(**_inputs(4, **two_pass)).frames.astype(int) - pipe(**_inputs(4, **two_pass)).frames.astype(int)).max()
        > 0
    )
    with_pose.conv_in_residual.remove()


def test_initial_noise_is_clamped(pipe):
    noise = pipe._initial_noise((1, 4, 3, 8, 8), seed=5, noise_clamp=0.5)
    free = pipe._initial_noise((1, 4, 3, 8, 8), seed=5)
    assert noise.abs().max() <= 0.5 * pipe.scheduler.init_noise_sigma and free.abs().max() > 0.5
    torch.testing.assert_close(noise, free.clamp(-0.5, 0.5))
    clamped = pipe(**_inputs(4, clip_frames=4, motion_frames=0, noise_clamp=0.5)).frames
    assert np.abs(clamped.astype(int) - pipe(**_inputs(4, clip_frames=4, motion_frames=0)).frames.astype(int)).max() > 0
