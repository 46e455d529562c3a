"""``emo2 track-hands``: a real clip → a readable hands file (+ features + overlay), skip complete,
no audio → hands only, no person → all-false mask, refusals (exit 2, nothing left)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from emo2cli.formats.features import read_features
from emo2cli.formats.hands import read_hands
from emo2cli.formats.video import probe_video
from tests.conftest import SPEECH, VIDEOS
from tests.tiny import real_clip_frames, write_clip

# the tracking runs need mediapipe; the refusals run without it
needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="needs the [vision] extra")


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("silent") / "signer.mp4", real_clip_frames(frames=(135, 150)))


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.vision
@needs_mediapipe
def test_silent_clip_writes_hands_only_then_skips(run_cli, silent_clip, tmp_path):
    out = tmp_path / "track"
    result = run_cli("track-hands", silent_clip, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert _files(out) == ["signer.hands.npz"]
    assert "no audio track" in result.stderr
    hands = read_hands(out / "signer.hands.npz")
    assert hands.num_frames == 15 and hands.fps == 25.0 and hands.mask.mean() > 0.6
    assert hands.score is not None and hands.score.dtype == np.float32
    assert hands.meta["producer"].endswith("track-hands") and hands.meta["source_video"] == str(silent_clip)
    assert hands.meta["tracking"]["ik_error_median_mm"][0] < 15
    report = json.loads(result.stdout)
    assert report[0]["status"] == "done" and report[0]["features"] is None and report[0]["num_frames"] == 15
    again = run_cli("track-hands", silent_clip, "-o", out)
    assert again.exit_code == 0 and "skip" in again.stderr


@pytest.mark.vision
@needs_mediapipe
def test_pair_and_overlay_from_a_clip_with_sound(run_cli, tmp_path):
    clip = write_clip(tmp_path / "talk.mp4", real_clip_frames(frames=(135, 145)), audio_path=SPEECH)
    result = run_cli("track-hands", clip, "--overlay", tmp_path / "check.mp4", "--preset", "default", "--fps", "20")
    assert result.exit_code == 0, result.stderr
    hands = read_hands(tmp_path / "talk.hands.npz")
    feats = read_features(tmp_path / "talk.feats.npy")
    assert hands.fps == feats.fps == 20.0 and hands.num_frames == feats.num_frames == 8
    overlay = probe_video(tmp_path / "check.mp4")
    assert overlay.num_frames == 8 and overlay.fps == 20.0 and overlay.has_audio and (overlay.height, overlay.width) == (480, 640)


@pytest.mark.vision
@needs_mediapipe
def test_a_video_without_a_person_gets_an_all_false_mask(run_cli, tmp_path):
    clip = write_clip(tmp_path / "wall.mp4", np.full((6, 96, 128, 3), 90, np.uint8))
    result = run_cli("track-hands", clip, "--no-features")
    assert result.exit_code == 0, result.stderr
    assert "no person found" in result.stderr
    hands = read_hands(tmp_path / "wall.hands.npz")
    assert hands.num_frames == 6 and not hands.mask.any() and np.all(hands.score == 0)
    forced = run_cli("track-hands", clip, "--no-features", "--force")
    assert forced.exit_code == 0 and "skip" not in forced.stderr and "no person found" in forced.stderr


def test_missing_and_unreadable_videos_exit_2_and_leave_nothing(run_cli, tmp_path):
    result = run_cli("track-hands", tmp_path / "nope.mp4", "-o", tmp_path / "out")
    assert result.exit_code == 2 and "nope.mp4" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    result = run_cli("track-hands", bad, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "bad.mp4" in result.stderr and "Traceback" not in result.stderr
    assert _files(tmp_path / "out") == []


def test_one_output_file_for_many_videos_is_refused(run_cli, tmp_path):
    result = run_cli("track-hands", VIDEOS / "asl_signer1_11s.mp4", VIDEOS / "asl_signer2_3s.mkv", "-o", tmp_path / "x.hands.npz")
    assert result.exit_code == 2 and "x.hands.npz" in result.stderr and "folder" in result.stderr


def test_existing_features_are_not_overwritten_without_force(run_cli, tmp_path):
    clip = write_clip(tmp_path / "talk.mp4", real_clip_frames(frames=(135, 140)), audio_path=SPEECH)
    (tmp_path / "talk.feats.json").write_text("{}")
    result = run_cli("track-hands", clip)
    assert result.exit_code == 2 and "talk.feats.json" in result.stderr and "--force" in result.stderr
    assert not (tmp_path / "talk.hands.npz").exists() and not (tmp_path / "talk.feats.npy").exists()


def test_without_mediapipe_exit_2_names_the_extra(run_cli, silent_clip, tmp_path, no_mediapipe):
    result = run_cli("track-hands", silent_clip, "-o", tmp_path)
    assert result.exit_code == 2 and "emo2cli[vision]" in result.stderr and "Traceback" not in result.stderr
    assert _files(tmp_path) == []
