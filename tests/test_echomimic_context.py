"""EchoMimicV2's context-window sampler: the window schedule, the per-step shift, the averaging."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler

from emo2cli.video.context_sampler import context_windows, denoise_windows, shifted_windows
from emo2cli.video.echomimic import SCHEDULER_CONFIG


def test_windows_of_12_overlapping_by_3_wrap_around_the_end():
    windows = context_windows(30, 12, 3)
    assert [w[0] for w in windows] == [0, 9, 18, 27]
    assert all(len(w) == 12 for w in windows)
    assert windows[-1] == [27, 28, 29, 0, 1, 2, 3, 4, 5, 6, 7, 8]  # closed loop, as theirs
    assert windows[0][-3:] == windows[1][:3]  # 3 frames shared with the next window
    assert context_windows(30, 12, 3, closed_loop=False)[-1] == list(range(18, 30))
    assert context_windows(10, 12, 3) == [list(range(10))]  # short videos are one window
    assert context_windows(12, 12, 3) == [list(range(12))]


def test_windows_move_by_three_frames_per_step():
    windows = context_windows(30, 12, 3)
    assert shifted_windows(windows, 0, 30) == windows
    moved = shifted_windows(windows, 2, 30)
    assert moved[0] == list(range(6, 18)) and moved[-1][:4] == [3, 4, 5, 6]
    assert shifted_windows([list(range(10))], 1, 10) == [[3, 4, 5, 6, 7, 8, 9, 0, 1, 2]]  # a rotation


class EchoStep:
    """A stand-in scheduler whose step returns the (averaged) model output: exposes what was averaged."""

    timesteps = torch.tensor([999])

    def step(self, model_output, t, sample, return_dict=False):
        return (model_output,)


def test_each_frame_gets_the_mean_of_its_windows_predictions():
    latents = torch.zeros(1, 1, 30, 1, 1)

    def predict(window, frames, t):  # every window predicts its own first frame index
        return torch.full_like(window, float(frames[0]))

    out = denoise_windows(latents, EchoStep(), predict, context_windows(30, 12, 3))[0, 0, :, 0, 0]
    want = [13.5] * 9 + [4.5] * 3 + [9.0] * 6 + [13.5] * 3 + [18.0] * 6 + [22.5] * 3  # frames 0-8 also sit in the wrapped window
    assert out.tolist() == want


def test_per_frame_models_give_the_same_video_as_one_window():
    torch.manual_seed(0)
    latents = torch.randn(1, 4, 30, 3, 3)
    steps = []

    def predict(window, frames, t):  # depends only on each frame: the windowing must not change anything
        return 0.3 * window + 0.01 * frames.view(1, 1, -1, 1, 1).float() + t.float() / 1000

    def run(windows):
        scheduler = DDIMScheduler(**SCHEDULER_CONFIG)
        scheduler.set_timesteps(4)
        return denoise_windows(latents.clone(), scheduler, predict, windows, on_step=steps.append)

    torch.testing.assert_close(run(context_windows(30, 12, 3)), run([list(range(30))]), atol=1e-6, rtol=1e-6)
    assert steps[:4] == [1, 2, 3, 4]
