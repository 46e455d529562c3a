"""whisper-tiny tokens (EchoMimicV2's audio feature) with a tiny random Whisper: mel, hooks, segments, windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emo2cli.audio.extract import extract_features
from emo2cli.audio.load import load_audio
from emo2cli.audio.whisper import encode_whisper, encoder_states, log_mel
from emo2cli.config import AudioConfig
from emo2cli.formats.features import read_features, write_features
from tests.conftest import SPEECH
from tests.tiny import tiny_whisper, write_wav

SR = 16000


@pytest.fixture(scope="module")
def encoder():
    return tiny_whisper().get_encoder()


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH).samples


def padded_mel(samples: np.ndarray, start: int = 0) -> torch.Tensor:
    mel = log_mel(samples)[:, start : start + 3000]
    return torch.nn.functional.pad(mel, (0, 3000 - mel.shape[1]))


def test_log_mel_equals_the_whisper_feature_extractor(speech):
    from transformers import WhisperFeatureExtractor

    ours = log_mel(speech).numpy()
    theirs = WhisperFeatureExtractor()(speech, sampling_rate=SR, return_tensors="np").input_features[0]
    assert ours.shape == (80, len(speech) // 160)
    # the extractor pads the clip to 30 s first, which changes only the last frames' context
    np.testing.assert_allclose(ours[:, :-3], theirs[:, : ours.shape[1] - 3], atol=1e-4)


def test_states_are_taken_before_the_final_layer_norm(encoder, speech):
    mel = padded_mel(speech)
    with torch.inference_mode():
        states = encoder_states(encoder, mel)
        out = encoder(mel[None], output_hidden_states=True)
        normed = encoder.layer_norm(states[4])
    assert states.shape == (5, 1500, 16)
    for i in range(4):  # embedding and blocks 1-3 equal transformers' hidden states
        torch.testing.assert_close(states[i], out.hidden_states[i][0])
    torch.testing.assert_close(normed, out.last_hidden_state[0])
    assert not torch.allclose(states[4], out.last_hidden_state[0], atol=1e-3)


def test_windows_centre_and_edge_clamping(encoder, speech):
    table = encode_whisper(speech, SR, 25.0, encoder)
    assert table.shape == (188, 50, 16) and table.dtype == np.float32
    with torch.inference_mode():
        states = encoder_states(encoder, padded_mel(speech))[:, : len(speech) // 320].permute(1, 0, 2).numpy()  # [S, 5, 16]
    tokens = table.reshape(188, 10, 5, 16)  # step-major: 10 steps x 5 states
    np.testing.assert_allclose(tokens[40], states[76:86], atol=1e-6)  # centre int(40 * 50 / 25) = 80: steps 76..85
    np.testing.assert_allclose(tokens[0], states[[0, 0, 0, 0, 0, 1, 2, 3, 4, 5]], atol=1e-6)  # clamped at the start
    last = len(states) - 1
    assert np.all(tokens[-1][-3:] == states[last])  # centre 374: steps 370..379 clamped to 374


def test_segments_of_30_s(encoder):
    g = np.random.default_rng(0)
    x = (g.standard_normal(35 * SR) * 0.05).astype(np.float32)
    table = encode_whisper(x, SR, 24.0, encoder)
    assert table.shape == (840, 50, 16)
    with torch.inference_mode():
        second = encoder_states(encoder, padded_mel(x, start=3000)).permute(1, 0, 2).numpy()
    i = 800  # centre int(800 * 50 / 24) = 1666 = step 166 of the second segment (steps 1500..1749)
    np.testing.assert_allclose(table[i].reshape(10, 5, 16), second[162:172], atol=1e-5)


@pytest.mark.parametrize("seconds, fps", [(0.3, 25.0), (2.0, 24.0), (3.33, 30.0)])
def test_one_row_per_video_frame(encoder, seconds, fps):
    x = (np.random.default_rng(1).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)
    assert encode_whisper(x, SR, fps, encoder).shape == (round(seconds * fps), 50, 16)


def test_through_the_resolver_and_the_file_format(tmp_path):
    folder = tmp_path / "whisper-tiny"
    tiny_whisper(folder)
    audio = write_wav(tmp_path / "a.wav", 0.2 * np.sin(np.arange(SR) * 0.1), SR)
    feats = extract_features(audio, AudioConfig(encoder="whisper-tiny", whisper_model=str(folder)), 25.0)
    assert feats.encoder == "whisper-tiny" and feats.features.shape == (25, 50, 16) and feats.dim == 16
    assert feats.extra["tokens_per_frame"] == 50
    write_features(feats, tmp_path / "a.feats.npy")
    back = read_features(tmp_path / "a.feats.npy")
    np.testing.assert_array_equal(back.features, feats.features)
