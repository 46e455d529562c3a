"""wav2vec 2.0 encoder with a tiny random model: resolver, chunking, layers, frame grid."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from emo2cli.audio import wav2vec
from emo2cli.audio.extract import choose_encoder, extract_features
from emo2cli.audio.wav2vec import encode_wav2vec
from emo2cli.config import AudioConfig
from emo2cli.errors import InputError, MissingPrerequisite
from tests.tiny import tiny_wav2vec, write_wav

SR = 16000


@pytest.fixture(scope="module")
def model():
    return tiny_wav2vec()


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with a slowly changing envelope (10 Hz steps), so chunks see different content."""
    g = np.random.default_rng(seed)
    n = int(seconds * SR)
    envelope = np.repeat(g.uniform(0, 1, n // 1600 + 1), 1600)[:n]
    return (g.standard_normal(n) * 0.1 * envelope).astype(np.float32)


def test_chunked_matches_single_pass_on_60_s(model):
    """Layer 0 (conv front end + short positional conv) sees < a quarter overlap: chunking is exact."""
    x = speechlike(60.0)
    single = encode_wav2vec(x, SR, 25.0, model, layer=0, chunk_s=1000.0)
    chunked = encode_wav2vec(x, SR, 25.0, model, layer=0, chunk_s=20.0, overlap_s=1.0)
    assert chunked.shape == single.shape == (1500, 16)
    np.testing.assert_allclose(chunked, single, atol=1e-5)


def test_chunks_are_stitched_in_place(model):
    """Transformer layers attend to the whole chunk, so compare each chunk's untouched interior."""
    x = speechlike(45.0, seed=1)
    chunked = encode_wav2vec(x, SR, 50.0, model, layer=-1, chunk_s=20.0, overlap_s=1.0)
    starts = wav2vec.chunk_starts(len(x), 20 * SR, SR, 320)
    assert starts == [0, 19 * SR, 25 * SR]
    mean, scale = x.mean(dtype=np.float64), 1 / np.sqrt(x.var(dtype=np.float64) + 1e-7)
    for start, (lo_s, hi_s) in zip(starts[:2], [(1.0, 18.0), (21.0, 24.0)]):
        piece = ((x[start : start + 20 * SR] - mean) * scale).astype(np.float32)
        alone = encode_wav2vec(piece, SR, 50.0, model, layer=-1, chunk_s=1000.0, normalise=False)
        offset = start * 50 // SR
        rows = np.arange(int(lo_s * 50), int(hi_s * 50))
        np.testing.assert_allclose(chunked[rows], alone[rows - offset], atol=1e-5)


@pytest.mark.parametrize("seconds", [0.05, 0.8, 3.21, 12.0])
@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0, 60.0])
def test_one_row_per_video_frame(model, seconds, fps):
    x = speechlike(seconds)
    table = encode_wav2vec(x, SR, fps, model, chunk_s=5.0, overlap_s=1.0)
    assert table.shape == (round(seconds * fps), 16) and table.dtype == np.float32
    assert np.all(np.isfinite(table))


def test_layer_average_is_the_mean_of_layers(model):
    x = speechlike(2.0)
    last = encode_wav2vec(x, SR, 25.0, model, layer=-1)
    before = encode_wav2vec(x, SR, 25.0, model, layer=-2)
    both = encode_wav2vec(x, SR, 25.0, model, layer=-1, average_last=2)
    np.testing.assert_allclose(both, (last + before) / 2, atol=1e-6)
    assert not np.allclose(last, before)


def test_frames_are_interpolated_between_model_frames(model):
    """At 50 fps video frame i lies between model frames i-1 and i (centres 12.5 ms later)."""
    x = speechlike(2.0)
    table = encode_wav2vec(x, SR, 50.0, model, layer=-1)
    with torch.inference_mode():
        xn = (x - x.mean(dtype=np.float64)) / np.sqrt(x.var(dtype=np.float64) + 1e-7)
        states = model(torch.from_numpy(xn.astype(np.float32))[None]).last_hidden_state[0].numpy()
    frac = (0.02 - 0.0124688) / 0.02  # (i·320 - 199.5) / 320 past frame i-1
    np.testing.assert_allclose(table[10], (1 - frac) * states[9] + frac * states[10], atol=1e-5)
    np.testing.assert_allclose(table[0], states[0], atol=1e-5)  # clamped before the first centre


def test_bad_layers_name_the_preset_key(model):
    with pytest.raises(InputError, match="audio.wav2vec2_layer"):
        encode_wav2vec(speechlike(1.0), SR, 25.0, model, layer=5)
    with pytest.raises(InputError, match="audio.wav2vec2_average_last"):
        encode_wav2vec(speechlike(1.0), SR, 25.0, model, layer=1, average_last=3)
    with pytest.raises(InputError, match="16000"):
        encode_wav2vec(speechlike(1.0), 22050, 25.0, model)


def test_saved_model_through_the_resolver(tmp_path, monkeypatch):
    folder = tmp_path / "tiny-w2v"
    tiny_wav2vec(folder)
    audio = write_wav(tmp_path / "a.wav", speechlike(1.5), SR)
    cfg = AudioConfig(encoder="wav2vec2", wav2vec2_model=str(folder))
    feats = extract_features(audio, cfg, 25.0)
    assert feats.encoder == "wav2vec2" and feats.features.shape == (38, 16)
    assert feats.encoder_revision.startswith(f"{folder}@sha256:")
    assert feats.extra["layer"] == -1 and feats.extra["model_frame_rate_hz"] == 50.0
    feats.validate()
    # the same model through $EMO2_WAV2VEC2, picked by `auto`
    monkeypatch.setenv("EMO2_WAV2VEC2", str(folder))
    assert choose_encoder(AudioConfig()) == ("wav2vec2", folder)
    np.testing.assert_array_equal(extract_features(audio, AudioConfig(), 25.0).features, feats.features)


def test_auto_falls_back_to_mel_with_one_notice(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("EMO2_WAV2VEC2", raising=False)
    cfg = AudioConfig(wav2vec2_model=str(tmp_path / "absent-model"))
    with caplog.at_level("INFO", logger="emo2cli.audio.extract"):
        assert choose_encoder(cfg) == ("mel", None)
        assert choose_encoder(cfg) == ("mel", None)
    assert sum("built-in mel encoder" in r.getMessage() for r in caplog.records) == 1


def test_missing_and_unavailable_encoders(tmp_path, monkeypatch):
    monkeypatch.delenv("EMO2_WAV2VEC2", raising=False)
    with pytest.raises(MissingPrerequisite, match="absent-model.*not found"):
        choose_encoder(AudioConfig(encoder="wav2vec2", wav2vec2_model=str(tmp_path / "absent-model")))
    with pytest.raises(MissingPrerequisite, match="whisper-tiny"):
        choose_encoder(AudioConfig(encoder="whisper-tiny"))
    not_a_model = tmp_path / "empty-model"
    not_a_model.mkdir()
    audio = write_wav(tmp_path / "a.wav", speechlike(0.5), SR)
    with pytest.raises(InputError, match="empty-model.*not a loadable wav2vec 2.0 checkpoint"):
        extract_features(audio, dataclasses.replace(AudioConfig(), encoder="wav2vec2", wav2vec2_model=str(not_a_model)), 25.0)
