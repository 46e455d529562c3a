"""The weight-free mel encoder: frame grid, columns (loudness, onset, pitch), block invariance."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.audio import mel, spectral
from emo2cli.audio.mel import encode_mel, yin

SR = 16000


def harmonic(f0: float, seconds: float = 1.0, rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(2 * np.pi * 2 * f0 * t) + 0.1 * np.sin(2 * np.pi * 3 * f0 * t)).astype(np.float32)


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.345, 7.5])
@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 60.0])
def test_one_row_per_video_frame(seconds, fps):
    x = np.random.default_rng(1).uniform(-0.2, 0.2, int(seconds * SR)).astype(np.float32)
    table = encode_mel(x, SR, fps, n_mels=16)
    assert table.shape == (round(seconds * fps), 16 + 4) and table.dtype == np.float32
    assert np.all(np.isfinite(table))


@pytest.mark.parametrize("f0", [80.0, 147.0, 220.5, 410.0])
def test_pitch_of_a_harmonic_tone(f0):
    table = encode_mel(harmonic(f0), SR, 25.0)
    inner = table[3:-3]
    np.testing.assert_allclose(np.exp(inner[:, -1]), f0, rtol=0.005)
    assert np.all(inner[:, -2] > 0.95)


def test_noise_is_mostly_unvoiced_and_silence_is_flat():
    noise = (np.random.default_rng(0).standard_normal(SR) * 0.1).astype(np.float32)
    assert encode_mel(noise, SR, 25.0)[:, -2].mean() < 0.4
    silent = encode_mel(np.zeros(SR, np.float32), SR, 25.0)
    assert np.all(silent[:, -4:] == [pytest.approx(-100, abs=1e-3), 0, 0, 0])
    assert np.all(silent[:, :-4] <= -99.99)


def test_rms_column_and_onset_column():
    x = np.concatenate([np.zeros(SR // 2, np.float32), harmonic(200.0, 1.0)])
    table = encode_mel(x, SR, 25.0)
    rms = table[:, 40]
    expected = 10 * np.log10(np.mean(harmonic(200.0, 1.0) ** 2))
    np.testing.assert_allclose(rms[16:-2], expected, atol=0.3)
    onset = table[:, 41]
    assert onset.argmax() in (12, 13)  # the tone starts at 0.5 s = frame 12.5
    assert np.all(onset[:10] == 0)


def test_blocks_do_not_change_the_result():
    x = np.random.default_rng(2).uniform(-0.3, 0.3, int(3.3 * SR)).astype(np.float32)
    np.testing.assert_allclose(encode_mel(x, SR, 25.0, block_frames=37), encode_mel(x, SR, 25.0, block_frames=4096), atol=1e-4)


def test_progress_reaches_the_total():
    calls = []
    encode_mel(harmonic(100.0, 2.0), SR, 25.0, on_progress=lambda done, total: calls.append((done, total)), block_frames=50)
    assert calls[-1][0] == calls[-1][1] == spectral.num_frames(2 * SR, 160) and len(calls) > 1


def test_yin_on_frames_at_other_rates():
    import torch

    rate = 44100
    x = harmonic(123.0, 0.2, rate)
    frames = torch.from_numpy(x).unfold(0, 2 * int(np.ceil(rate / mel.F0_MIN_HZ)) + 1, 441)
    f0, aperiodicity = yin(frames, rate)
    np.testing.assert_allclose(f0.numpy(), 123.0, rtol=0.003)
    assert aperiodicity.max() < 0.05


def test_revision_changes_with_settings():
    assert mel.revision(SR, 25.0, 40) == mel.revision(SR, 25.0, 40)
    assert mel.revision(SR, 25.0, 40) != mel.revision(SR, 25.0, 64)
    assert mel.revision(SR, 25.0, 40).startswith("mel-v1:")
