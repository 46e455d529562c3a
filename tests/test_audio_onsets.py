"""Onset detection: clicks found within one frame, frame grid alignment, EMAGE/librosa protocol."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.audio.load import load_audio
from emo2cli.audio.onsets import detect_onsets, emage_onset_strength, emage_onset_times, peak_pick
from tests.conftest import SPEECH


def click_track(sample_rate: int = 16000, count: int = 20, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Decaying noise clicks at irregular times over a -80 dB noise floor → (samples, click times s)."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.2, 0.7, size=count)) + 0.3
    x = (rng.standard_normal(int((times[-1] + 0.5) * sample_rate)) * 1e-4).astype(np.float32)
    n = int(0.01 * sample_rate)
    for t in times:
        i = int(t * sample_rate)
        x[i : i + n] += (0.5 * np.exp(-np.arange(n) / (0.002 * sample_rate)) * rng.standard_normal(n)).astype(np.float32)
    return x, times


@pytest.mark.parametrize("fps, sample_rate", [(25.0, 16000), (30.0, 16000), (24.0, 44100), (60.0, 16000)])
def test_clicks_found_within_one_frame(fps, sample_rate):
    x, times = click_track(sample_rate)
    onsets = detect_onsets(x, sample_rate, fps)
    assert len(onsets.times_s) == len(times)
    assert np.all(np.abs(onsets.times_s - times) < 1 / fps)
    assert np.all(np.abs(onsets.frames - np.rint(times * fps)) <= 1)
    assert onsets.rate_per_s == pytest.approx(len(times) / (len(x) / sample_rate))
    # the envelope peaks at the clicks' frames and is zero in the silence between them
    assert np.all(onsets.envelope[onsets.frames] > 0)
    quiet = np.ones(len(onsets.envelope), bool)
    for f in onsets.frames:
        quiet[max(f - 2, 0) : f + 3] = False
    assert np.all(onsets.envelope[quiet] == 0)


@pytest.mark.parametrize("seconds", [0.5, 1.0, 3.37, 7.5, 12.01])
@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 50.0])
def test_per_frame_outputs_have_t_rows(seconds, fps):
    x = np.random.default_rng(0).uniform(-0.1, 0.1, int(seconds * 16000)).astype(np.float32)
    onsets = detect_onsets(x, 16000, fps)
    t = round(len(x) / 16000 * fps)
    assert onsets.envelope.shape == (t,) and onsets.loudness.shape == (t,)
    assert onsets.envelope.dtype == np.float32 and onsets.loudness.dtype == np.float32
    assert onsets.times_s.dtype == np.float64 and onsets.frames.dtype == np.int64 and onsets.strength.dtype == np.float32
    assert np.all((onsets.frames >= 0) & (onsets.frames < t))


def test_loudness_is_rms_dbfs():
    sr = 16000
    x = np.concatenate([np.zeros(sr), 0.5 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)]).astype(np.float32)
    onsets = detect_onsets(x, sr, 25.0)
    assert np.all(onsets.loudness[:20] == -100.0)
    np.testing.assert_allclose(onsets.loudness[30:48], 20 * np.log10(0.5 / np.sqrt(2)), atol=0.3)  # -9.03 dBFS
    assert len(onsets.times_s) == 1 and abs(onsets.times_s[0] - 1.0) < 0.04


def test_silence_gives_no_onsets():
    onsets = detect_onsets(np.zeros(16000, np.float32), 16000, 25.0)
    assert len(onsets.times_s) == 0 and onsets.rate_per_s == 0.0 and np.all(onsets.envelope == 0)


def test_speech_rate_is_syllable_like():
    wav = load_audio(SPEECH)
    onsets = detect_onsets(wav.samples, wav.sample_rate, 25.0)
    assert 2.0 < onsets.rate_per_s < 8.0  # English speech: about 3-6 syllables per second
    assert np.all(np.diff(onsets.times_s) >= 0.1 - 1e-9)


def test_peak_pick_rule():
    x = np.array([0, 1, 0, 0, 3, 2, 0, 0, 0, 2.5, 0, 0], float)
    assert peak_pick(x, 1, 2, 1, 2, 0.5, 0).tolist() == [1, 4, 9]
    assert peak_pick(x, 1, 2, 1, 2, 0.5, 6).tolist() == [1, 9]  # 4 is within wait of 1
    assert peak_pick(x, 1, 2, 1, 2, 1.0, 0).tolist() == [4, 9]  # 1 is below its mean + delta


def test_emage_protocol_shape_and_clicks():
    x, times = click_track(16000)
    env = emage_onset_strength(x)
    assert env.shape == (len(x) // 512 + 1,)
    found = emage_onset_times(x, 16000)
    assert np.allclose(found * 16000 / 512, np.rint(found * 16000 / 512))  # on the 32 ms grid
    nearest = np.abs(found[:, None] - times[None]).min(axis=0)
    assert np.all(nearest < 0.064)  # every click has an onset within two hops


def test_emage_protocol_equals_librosa():
    librosa = pytest.importorskip("librosa")  # optional: not a dependency, checked when present
    y = load_audio(SPEECH).samples
    np.testing.assert_allclose(emage_onset_strength(y), librosa.onset.onset_strength(y=y, sr=16000, hop_length=512), atol=1e-4)
    expected = librosa.onset.onset_detect(y=y, sr=16000, hop_length=512, units="time")
    np.testing.assert_allclose(emage_onset_times(y), expected, atol=1e-9)
