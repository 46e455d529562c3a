"""``emo2 gen-video``: the bundled example as a preview, the tiny preset as a diffusion video, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import PORTRAIT, SPEECH


def _check_mp4(path, num_frames: int, duration_s: float, fps: float = 25.0) -> None:
    import av

    from emo2cli.formats.video import probe_video

    info = probe_video(path)
    assert info.num_frames == num_frames and info.has_audio and info.fps == fps
    assert abs(info.duration_s - duration_s) <= 1 / fps
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and video.codec_context.pix_fmt == "yuv420p"
        assert audio.codec_context.name == "aac"
        assert float(container.duration / 1e6) == pytest.approx(duration_s, abs=2 / fps)


def test_preview_of_the_bundled_example_is_a_labelled_mp4_with_audio(run_cli, tmp_path):
    out = tmp_path / "talk.mp4"
    result = run_cli("gen-video", PORTRAIT, SPEECH, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert "PREVIEW" in result.stderr and "no Stage 2 weights" in result.stderr  # says it is a preview, and why
    sidecar = json.loads((tmp_path / "talk.feats.json").read_text())
    _check_mp4(out, sidecar["num_frames"], sidecar["duration_s"])
    assert json.loads(result.stdout)[0]["backend"] == "preview"
    for suffix in (".feats.npy", ".hands.npz", ".handmaps.mp4", ".handmaps.json"):
        assert (tmp_path / f"talk{suffix}").is_file()
    from emo2cli.formats.video import read_video_frames

    frame = next(f for i, f in enumerate(read_video_frames(out)) if i == 40)
    assert frame.shape == (704, 512, 3)
    assert frame[:20, :120].mean() > 25  # the label's white text on its dark box
    # a second run skips the complete output without --force
    again = run_cli("gen-video", PORTRAIT, SPEECH, "-o", out)
    assert again.exit_code == 0 and "exists" in again.stderr


def test_tiny_preset_makes_a_diffusion_video(run_cli, tmp_path):
    from emo2cli.audio.load import load_audio
    from tests.tiny import write_wav

    wave = load_audio(SPEECH, 16000)
    short = write_wav(tmp_path / "short.wav", wave.samples[: 16000 * 2], 16000)  # 2 s: two clips of 8 + a tail
    out = tmp_path / "tiny.mp4"
    result = run_cli("gen-video", PORTRAIT, short, "-o", out, "--preset", "tiny", "--json", "--no-keep-intermediates")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["backend"] == "diffusion"
    assert "PREVIEW" not in result.stderr
    _check_mp4(out, 50, 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.wav", "tiny.mp4"]  # no intermediates kept


def test_missing_portrait_is_exit_2_with_no_output(run_cli, tmp_path):
    out = tmp_path / "x.mp4"
    result = run_cli("gen-video", tmp_path / "nope.png", SPEECH, "-o", out)
    assert result.exit_code == 2
    assert "nope.png" in result.stderr and "no such file" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_diffusion_backend_without_weights_is_exit_2(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("EMO2_STAGE2", raising=False)
    result = run_cli("gen-video", PORTRAIT, SPEECH, "-o", tmp_path / "x.mp4", "--backend", "diffusion")
    assert result.exit_code == 2
    assert "Stage 2" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
    missing = run_cli("gen-video", PORTRAIT, SPEECH, "-o", tmp_path / "x.mp4", "--checkpoint", tmp_path / "no_such_ckpt", "--backend", "diffusion")
    assert missing.exit_code == 2 and "no_such_ckpt" in missing.stderr


def test_hands_that_do_not_fit_the_audio_are_refused(run_cli, tmp_path):
    from emo2cli.formats.hands import write_hands
    from tests.conftest import random_hands

    hands = write_hands(random_hands(num_frames=20), tmp_path / "short.hands.npz")
    result = run_cli("gen-video", PORTRAIT, SPEECH, "-o", tmp_path / "x.mp4", "--hands", hands)
    assert result.exit_code == 2
    assert "short.hands.npz" in result.stderr and "20 frames" in result.stderr
    assert not (tmp_path / "x.mp4").exists()
    assert np.load(hands, allow_pickle=False)["fps"] == 25.0  # the given file is left alone
