"""Decoding every container to mono float32 at 16 kHz; streaming resampling; every refusal."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torchaudio

from emo2cli.audio.load import StreamResampler, load_audio
from emo2cli.errors import InputError
from tests.conftest import SPEECH, VIDEOS
from tests.tiny import write_audio, write_wav


def _tone(rate: int, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)])  # [2, N]


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


CONTAINERS = [
    # name, codec, rate, video codec, codec options
    ("tone.wav", "pcm_s16le", 44100, None, None),
    ("tone.flac", "flac", 44100, None, None),
    ("tone.mp3", "libmp3lame", 44100, None, None),
    ("tone.ogg", "libopus", 48000, None, None),
    ("tone_vorbis.ogg", "vorbis", 44100, None, {"strict": "experimental"}),
    ("tone.m4a", "aac", 44100, None, None),
    ("tone.mp4", "aac", 44100, "libx264", None),
    ("tone.mov", "aac", 48000, "mpeg4", None),
    ("tone.mkv", "libopus", 48000, "mpeg4", None),
]


@pytest.mark.parametrize("name, codec, rate, video, options", CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_every_container_decodes_to_mono_16k(tmp_path, name, codec, rate, video, options):
    path = write_audio(tmp_path / name, _tone(rate), rate, codec, video, options)
    wav = load_audio(path)
    assert wav.sample_rate == 16000 and wav.samples.dtype == np.float32 and wav.samples.ndim == 1
    assert wav.source_rate == rate and wav.source_channels == 2
    assert abs(wav.duration_s - 1.5) < 0.06  # codec priming/padding only
    assert wav.duration_s == len(wav.samples) / 16000
    assert abs(_peak_hz(wav.samples, 16000) - 440) < 3
    middle = wav.samples[4000:-4000]
    assert 0.35 < np.abs(middle).max() < 0.45  # mean of the channels (0.5 and 0.3 amplitude)


def test_lossless_equals_single_pass_torchaudio(tmp_path):
    tone = _tone(44100, 2.3)
    path = write_audio(tmp_path / "t.flac", tone, 44100, "flac")
    quantised = (np.clip(tone, -1, 1) * 32767).astype(np.int16).astype(np.float32) / 32768
    expected = torchaudio.functional.resample(torch.from_numpy(quantised.mean(axis=0)), 44100, 16000).numpy()
    got = load_audio(path).samples
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("orig, new", [(44100, 16000), (48000, 16000), (22050, 16000), (8000, 16000), (16000, 16000), (16000, 24000)])
def test_stream_resampler_matches_one_pass(orig, new):
    rng = np.random.default_rng(orig)
    x = rng.uniform(-1, 1, orig * 7 + 123).astype(np.float32)
    expected = torchaudio.functional.resample(torch.from_numpy(x), orig, new).numpy()
    resampler = StreamResampler(orig, new, block_s=1.3)
    blocks, i = [], 0
    while i < len(x):  # uneven pushes, as decoded frames come
        n = int(rng.integers(1, 4000))
        blocks += resampler.push(x[i : i + n])
        i += n
    got = np.concatenate(blocks + resampler.flush())
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_bundled_speech_clip():
    wav = load_audio(SPEECH)
    assert wav.source_rate == 44100 and wav.source_channels == 2
    assert abs(wav.duration_s - 7.5) < 0.01 and len(wav.samples) == round(wav.duration_s * 16000)
    assert 0.1 < np.abs(wav.samples).max() <= 1.0


def test_other_output_rate(tmp_path):
    path = write_wav(tmp_path / "a.wav", 0.5 * np.sin(np.arange(8000) * 0.3), 8000)
    wav = load_audio(path, sample_rate=24000)
    assert wav.sample_rate == 24000 and len(wav.samples) == 24000


def test_silence_warns_but_loads(tmp_path, caplog):
    path = write_wav(tmp_path / "quiet.wav", np.zeros(16000), 16000)
    with caplog.at_level(logging.WARNING, logger="emo2cli.audio.load"):
        wav = load_audio(path)
    assert len(wav.samples) == 16000
    assert any("silent" in r.getMessage() and "quiet.wav" in r.getMessage() for r in caplog.records)


def _refusal(tmp_path, kind):
    if kind == "missing":
        return tmp_path / "nope.wav", "no such file"
    if kind == "no audio stream":
        return VIDEOS / "asl_signer1_11s.mp4", "has no audio stream"
    if kind == "zero length":
        return write_wav(tmp_path / "empty.wav", np.zeros(0), 16000), "zero length"
    if kind == "corrupt":
        path = tmp_path / "broken.mp3"
        path.write_bytes(b"this is not audio at all\n" * 40)
        return path, "not a readable audio or video file"
    if kind == "low rate":
        return write_wav(tmp_path / "phone.wav", np.sin(np.arange(4000) * 0.2), 4000), "4000 Hz"
    raise ValueError(kind)


REFUSALS = ["missing", "no audio stream", "zero length", "corrupt", "low rate"]


@pytest.mark.parametrize("kind", REFUSALS)
def test_refusals_name_the_file(tmp_path, kind):
    path, words = _refusal(tmp_path, kind)
    with pytest.raises(InputError) as info:
        load_audio(path)
    assert words in str(info.value) and path.name in str(info.value)


def test_truncated_file_is_refused_or_short(tmp_path):
    path = write_audio(tmp_path / "t.m4a", _tone(44100), 44100, "aac")
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(path.read_bytes()[: 600])  # header only: the moov atom is gone
    with pytest.raises(InputError, match="cut.m4a"):
        load_audio(cut)
