"""``emo2 render-hands``: outputs, frame count and fps, sidecar, PNG frames, refusals (exit 2, nothing left)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emo2cli.formats.handmaps import read_handmaps_info
from emo2cli.formats.hands import write_hands
from emo2cli.formats.video import probe_video
from emo2cli.render.bench import synthetic_motion
from tests.conftest import PORTRAIT

SMALL = "128x96"


@pytest.fixture
def hands_file(tmp_path):
    return write_hands(synthetic_motion(12, fps=24.0), tmp_path / "talk.hands.npz")


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_mp4_and_sidecar_without_portrait(run_cli, hands_file, tmp_path):
    result = run_cli("render-hands", hands_file, "--size", SMALL, "--shoulder-width", "40")
    assert result.exit_code == 0, result.stderr
    video = tmp_path / "talk.handmaps.mp4"
    info = probe_video(video)
    assert (info.num_frames, info.fps, info.height, info.width) == (12, 24.0, 128, 96)
    sidecar = read_handmaps_info(video)
    assert sidecar.num_frames == 12 and sidecar.fps == 24.0 and sidecar.style == "emo2"
    assert sidecar.placement.source == "manual" and sidecar.placement.pixels_per_m == pytest.approx(40 / 0.36)
    assert sidecar.placement.frame_size == (128, 96) and sidecar.extra["hand_model"] == "builtin"
    assert len(sidecar.hands_sha256) == 64
    # complete outputs are skipped, --force redoes them
    again = run_cli("render-hands", hands_file, "--size", SMALL)
    assert again.exit_code == 0 and "skip" in again.stderr


def test_overlay_on_the_portrait_and_png_frames(run_cli, hands_file, tmp_path):
    frames = tmp_path / "maps"
    result = run_cli("render-hands", hands_file, "--portrait", PORTRAIT, "--overlay", "--frames", frames, "--size", "176x128", "--style", "keypoints", "--json")
    assert result.exit_code == 0, result.stderr
    assert _files(frames) == [f"{i:06d}.png" for i in range(12)]
    sidecar = json.loads((tmp_path / "maps.handmaps.json").read_text())
    assert sidecar["format"] == "emo2.handmaps/1" and sidecar["style"] == "keypoints" and sidecar["extra"]["overlay"]
    assert sidecar["placement"]["source"] in ("pose", "centre")  # centre only when mediapipe is absent
    report = json.loads(result.stdout)
    assert report[0]["status"] == "done" and report[0]["frames"] == 12


def test_non_image_portrait_exits_2_and_leaves_nothing(run_cli, hands_file, tmp_path):
    bad = tmp_path / "face.png"
    bad.write_text("not a picture")
    before = _files(tmp_path)
    result = run_cli("render-hands", hands_file, "--portrait", bad, "--size", SMALL)
    assert result.exit_code == 2
    assert "face.png" in result.stderr and "not an image" in result.stderr and "Traceback" not in result.stderr
    assert _files(tmp_path) == before


def test_wrong_version_hands_file_exits_2(run_cli, hands_file, tmp_path):
    with np.load(hands_file) as npz:
        data = dict(npz)
    data["format"] = np.array("emo2.hands/9")
    newer = tmp_path / "newer.hands.npz"
    np.savez(newer, **data)
    result = run_cli("render-hands", newer, "--size", SMALL)
    assert result.exit_code == 2
    assert "newer.hands.npz" in result.stderr and "emo2.hands/9" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "newer.handmaps.mp4").exists()


def test_unwritable_output_exits_2(run_cli, hands_file, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    result = run_cli("render-hands", hands_file, "--size", SMALL, "-o", blocker / "out.handmaps.mp4")
    assert result.exit_code == 2
    assert "out.handmaps.mp4" in result.stderr and "cannot write" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "127x96"], "render.height"),
        (["--size", "big"], "--size"),
        (["--anchor", "1;2"], "--anchor"),
        (["--style", "sketch"], "render.style"),
        (["--overlay"], "--portrait"),
        (["-o", "x.mp4", "--frames", "d"], "not both"),
    ],
)
def test_bad_flags_exit_2(run_cli, hands_file, tmp_path, args, message):
    result = run_cli("render-hands", hands_file, *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "talk.handmaps.mp4").exists()


def test_many_inputs_into_a_frames_folder(run_cli, hands_file, tmp_path):
    other = write_hands(synthetic_motion(5, fps=24.0, seed=1), tmp_path / "other.hands.npz")
    out = tmp_path / "maps"
    result = run_cli("render-hands", hands_file, other, "--frames", out, "--size", SMALL)
    assert result.exit_code == 0, result.stderr
    assert _files(out) == ["other", "other.handmaps.json", "talk", "talk.handmaps.json"]
    assert len(_files(out / "talk")) == 12 and len(_files(out / "other")) == 5
    assert read_handmaps_info(out / "other").num_frames == 5
