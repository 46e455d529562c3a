"""generate_video: intermediates reused when they match, redone when not; a stopped diffusion run resumes."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.conftest import PORTRAIT, SPEECH


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory):
    from emo2cli.audio.load import load_audio
    from tests.tiny import write_wav

    wave = load_audio(SPEECH, 16000)
    return write_wav(tmp_path_factory.mktemp("audio") / "short.wav", wave.samples[16000 : 16000 * 2], 16000)  # 1 s, 25 frames


def _preset(name: str = "default", **overrides):
    from emo2cli.config import apply_overrides, load_preset

    return apply_overrides(load_preset(name), {"audio.encoder": "mel", "render.height": 96, "render.width": 64, **overrides})


def _frames(path) -> np.ndarray:
    from emo2cli.formats.video import read_video_frames

    return np.stack(list(read_video_frames(path)))


def test_intermediates_are_reused_when_they_match_and_redone_when_not(short_speech, tmp_path):
    from emo2cli.video.generate import generate_video

    preset = _preset()
    out = generate_video(PORTRAIT, short_speech, preset, tmp_path / "a.mp4", backend="preview")
    names = ("a.feats.npy", "a.hands.npz", "a.handmaps.mp4")
    stamps = {n: (tmp_path / n).stat().st_mtime_ns for n in names}
    first = _frames(out)
    assert first.shape == (25, 96, 64, 3)
    generate_video(PORTRAIT, short_speech, preset, out, backend="preview", force=True)
    assert {n: (tmp_path / n).stat().st_mtime_ns for n in names} == stamps  # all three reused
    assert np.array_equal(_frames(out), first)
    generate_video(PORTRAIT, short_speech, preset, out, backend="preview", force=True, seed=1)
    assert (tmp_path / "a.feats.npy").stat().st_mtime_ns == stamps["a.feats.npy"]  # same audio: features kept
    assert (tmp_path / "a.hands.npz").stat().st_mtime_ns != stamps["a.hands.npz"]  # new seed: new gestures ...
    assert (tmp_path / "a.handmaps.mp4").stat().st_mtime_ns != stamps["a.handmaps.mp4"]  # ... and new maps


def test_existing_output_needs_force(short_speech, tmp_path):
    from emo2cli.errors import InputError
    from emo2cli.video.generate import generate_video

    (tmp_path / "b.mp4").write_bytes(b"keep")
    with pytest.raises(InputError, match="already exists"):
        generate_video(PORTRAIT, short_speech, _preset(), tmp_path / "b.mp4", backend="preview")
    assert (tmp_path / "b.mp4").read_bytes() == b"keep"


def test_a_stopped_diffusion_run_resumes_from_its_last_clip(short_speech, tmp_path, caplog):
    from emo2cli.video.generate import generate_video

    preset = _preset("tiny", **{"render.height": 64, "render.width": 64})
    steps = preset.video.steps
    reference = generate_video(PORTRAIT, short_speech, preset, tmp_path / "ref" / "c.mp4")

    class Stop(Exception):
        pass

    def stop_in_clip_3(done, total):
        if done > 2 * steps:
            raise Stop

    work = tmp_path / "run"
    with pytest.raises(Stop):
        generate_video(PORTRAIT, short_speech, preset, work / "c.mp4", on_progress=stop_in_clip_3)
    assert not (work / "c.mp4").exists()
    assert sorted(p.name for p in (work / "c.clips").iterdir()) == ["clip_00000.safetensors", "clip_00001.safetensors"]
    with caplog.at_level(logging.INFO, logger="emo2cli.video.generate"):
        generate_video(PORTRAIT, short_speech, preset, work / "c.mp4")
    resumed = [r.getMessage() for r in caplog.records if "resuming" in r.getMessage()]
    assert len(resumed) == 2
    assert np.array_equal(_frames(work / "c.mp4"), _frames(reference))
    assert not (work / "c.clips").exists()  # removed once the video is complete


def test_backend_choice(monkeypatch):
    from emo2cli.errors import MissingPrerequisite
    from emo2cli.video.generate import choose_backend

    monkeypatch.delenv("EMO2_STAGE2", raising=False)
    assert choose_backend(_preset())[0] == "preview"
    assert "no Stage 2 weights" in choose_backend(_preset())[1]
    assert choose_backend(_preset("tiny")) == ("diffusion", "")
    assert choose_backend(_preset("tiny"), "preview")[0] == "preview"
    with pytest.raises(MissingPrerequisite):
        choose_backend(_preset(), "diffusion")
