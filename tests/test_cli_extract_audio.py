"""``emo2 extract-audio``: outputs, skip/--force, batches, encoders, and every refusal (exit 2)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emo2cli.formats.features import read_features
from tests.conftest import SPEECH, VIDEOS
from tests.test_audio_load import REFUSALS, _refusal
from tests.tiny import tiny_wav2vec, tiny_whisper, write_audio, write_wav


@pytest.fixture(autouse=True)
def no_local_wav2vec(monkeypatch):
    monkeypatch.delenv("EMO2_WAV2VEC2", raising=False)


def tone(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * 180 * np.arange(int(seconds * rate)) / rate)


def test_bundled_speech_with_mel(run_cli, tmp_path):
    speech = shutil.copy(SPEECH, tmp_path / "speech.wav")
    result = run_cli("extract-audio", speech, "--json")
    assert result.exit_code == 0, result.stderr
    feats = read_features(tmp_path / "speech.feats.npy")
    assert feats.encoder == "mel" and feats.features.shape == (188, 44) and feats.fps == 25.0
    assert feats.extra["preset"] == "default" and feats.extra["producer"].startswith("emo2 ")
    rows = json.loads(result.stdout)
    assert rows[0]["status"] == "done" and rows[0]["num_frames"] == 188 and rows[0]["encoder"] == "mel"
    assert "built-in mel encoder" in result.stderr  # auto fell back, and said so
    # a complete output is skipped, --force redoes it
    before = (tmp_path / "speech.feats.npy").stat().st_mtime_ns
    again = run_cli("extract-audio", speech)
    assert again.exit_code == 0 and "skip" in again.stderr
    assert (tmp_path / "speech.feats.npy").stat().st_mtime_ns == before
    assert run_cli("extract-audio", speech, "--force", "--fps", "30", "-q").exit_code == 0
    assert read_features(tmp_path / "speech.feats.json").features.shape == (225, 44)


def test_bundled_speech_with_a_local_wav2vec2(run_cli, tmp_path):
    folder = tmp_path / "w2v"
    tiny_wav2vec(folder)
    out = tmp_path / "out" / "talk.feats.npy"
    result = run_cli("extract-audio", SPEECH, "--encoder", "wav2vec2", "--model", folder, "-o", out)
    assert result.exit_code == 0, result.stderr
    feats = read_features(out)
    assert feats.encoder == "wav2vec2" and feats.features.shape == (188, 16)
    assert feats.encoder_revision.startswith(str(folder))


def test_whisper_tokens_from_a_local_folder(run_cli, tmp_path):
    folder = tmp_path / "whisper"
    tiny_whisper(folder)
    audio = write_wav(tmp_path / "a.wav", tone(1.0), 16000)
    result = run_cli("extract-audio", audio, "--encoder", "whisper-tiny", "--model", folder, "--fps", "24")
    assert result.exit_code == 0, result.stderr
    feats = read_features(tmp_path / "a.feats.npy")
    assert feats.encoder == "whisper-tiny" and feats.features.shape == (24, 50, 16)


def test_batch_into_a_folder_with_one_bad_input(run_cli, tmp_path):
    a = write_wav(tmp_path / "a.wav", tone(), 16000)
    b = write_audio(tmp_path / "b.mp4", tone(1.2, 44100), 44100, "aac", "libx264")
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS but not really")
    out = tmp_path / "feats"
    result = run_cli("extract-audio", a, bad, b, "-o", out, "--encoder", "mel", "--json")
    assert result.exit_code == 2
    assert "bad.ogg" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.feats.json", "a.feats.npy", "b.feats.json", "b.feats.npy"]
    assert [r["status"] for r in json.loads(result.stdout)] == ["done", "failed", "done"]
    assert read_features(out / "b.feats.npy").features.shape == (round(read_features(out / "b.feats.npy").duration_s * 25), 44)


@pytest.mark.parametrize("kind", REFUSALS)
def test_refusals(run_cli, tmp_path, kind):
    path, words = _refusal(tmp_path, kind)
    out = tmp_path / "out"
    result = run_cli("extract-audio", path, "-o", out / "x.feats.npy")
    assert result.exit_code == 2
    assert path.name in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing partial left behind


def test_missing_models_are_refused(run_cli, tmp_path):
    audio = write_wav(tmp_path / "a.wav", tone(), 16000)
    result = run_cli("extract-audio", audio, "--encoder", "wav2vec2", "--model", tmp_path / "nowhere")
    assert result.exit_code == 2 and "nowhere" in result.stderr and "not found" in result.stderr
    result = run_cli("extract-audio", audio, "--encoder", "whisper-tiny", "--model", tmp_path / "no-whisper")
    assert result.exit_code == 2 and "no-whisper" in result.stderr and "not found" in result.stderr
    result = run_cli("extract-audio", audio, "--encoder", "nope")
    assert result.exit_code == 2 and "audio.encoder" in result.stderr
    assert not list(tmp_path.glob("*.feats.*"))


def test_too_short_and_bad_device(run_cli, tmp_path):
    blip = write_wav(tmp_path / "blip.wav", tone(0.01), 16000)
    result = run_cli("extract-audio", blip, "--encoder", "mel")
    assert result.exit_code == 2 and "blip.wav" in result.stderr and "shorter than one video frame" in result.stderr
    audio = write_wav(tmp_path / "a.wav", tone(), 16000)
    result = run_cli("extract-audio", audio, "--encoder", "mel", "--device", "tpu")
    assert result.exit_code == 2 and "tpu" in result.stderr


def test_video_without_sound_names_the_problem(run_cli, tmp_path):
    video = shutil.copy(VIDEOS / "asl_signer2_3s.mkv", tmp_path / "signer.mkv")
    result = run_cli("extract-audio", video)
    assert result.exit_code == 2 and "signer.mkv" in result.stderr and "no audio stream" in result.stderr
