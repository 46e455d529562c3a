"""``emo2 prepare-video`` and ``emo2 train-video`` end to end on the tiny random Stage 2, then gen-video with the result."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import PORTRAIT, random_hands
from tests.tiny import tiny_train_preset, torch_threads, write_talking_video


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread (tiny tensors); no mediapipe (centred placement, no body map: ~1 s less per clip)."""
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with torch_threads(1):
        yield


@pytest.fixture
def videos(tmp_path):
    """Two talking videos with hands files, one silent video; and the 32-px tiny preset."""
    from emo2cli.formats.hands import write_hands

    (tmp_path / "hands").mkdir()
    for name, frames, audio in (("alpha", 12, True), ("beta", 14, True), ("silent", 12, False)):
        write_talking_video(tmp_path / f"{name}.mp4", frames, audio=audio)
        hands = random_hands(frames, seed=frames)
        hands.mask[:] = True
        write_hands(hands, tmp_path / "hands" / f"{name}.hands.npz")
    return tmp_path, tiny_train_preset(tmp_path)


def test_prepare_reports_skips_and_skips_complete_videos(run_cli, videos):
    root, preset = videos
    data = root / "data"
    args = [
        "prepare-video",
        root / "alpha.mp4",
        root / "beta.mp4",
        root / "silent.mp4",
        "-o",
        data,
        "--hands-from",
        root / "hands",
        "--preset",
        preset,
    ]
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["clips"], report["videos"], report["frames"]) == (4, 2, 24)
    assert report["skipped"] == {"too_short": 1, "no_audio": 1}
    assert "silent.mp4: 0 clips, skipped: 1 no_audio" in " ".join(result.stderr.split())  # rich wraps lines
    assert len((data / "manifest.jsonl").read_text().splitlines()) == 4
    again = run_cli(*args)
    assert again.exit_code == 0 and "alpha.mp4" in again.stderr and "exists" in again.stderr
    assert len((data / "manifest.jsonl").read_text().splitlines()) == 4


def test_prepare_bad_input_is_one_line_without_traceback(run_cli, videos, tmp_path):
    root, preset = videos
    result = run_cli("prepare-video", root / "missing.mp4", "-o", tmp_path / "data", "--preset", preset)
    assert result.exit_code == 2
    assert "missing.mp4" in result.stderr and "no such file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "manifest.jsonl").exists() or not (tmp_path / "data" / "manifest.jsonl").read_text()
    bad = root / "notavideo.mp4"
    bad.write_text("hello")
    result = run_cli("prepare-video", bad, "-o", tmp_path / "data", "--preset", preset)
    assert result.exit_code == 2 and "notavideo.mp4" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "notavideo").exists()


def test_train_both_phases_then_gen_video_with_the_checkpoint(run_cli, videos):
    from emo2cli.formats.video import probe_video

    root, preset = videos
    data, image, video = root / "data", root / "runs" / "image", root / "runs" / "video"
    assert (
        run_cli("prepare-video", root / "alpha.mp4", "-o", data, "--hands-from", root / "hands", "--preset", preset).exit_code
        == 0
    )
    common = ["--preset", preset, "--batch-size", 2, "--workers", 0, "--quiet"]
    result = run_cli("train-video", data, "-o", image, "--phase", "image", "--steps", 1, "--validate-every", 0, "--json", *common)
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["phase"], info["step"], info["resumed_from"]) == ("image", 1, 0)
    assert (image / "model_index.json").is_file() and (image / "train_state" / "optimizer.safetensors").is_file()

    result = run_cli(
        "train-video",
        data,
        "-o",
        video,
        "--phase",
        "video",
        "--init",
        image,
        "--steps",
        1,
        "--validate-every",
        1,
        "--json",
        *common,
    )
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    (sample,) = info["validation"]
    check = probe_video(sample)  # generated | real, with the clip's audio
    assert (check.num_frames, check.height, check.width, check.has_audio) == (6, 32, 64, True)
    log = [json.loads(line) for line in (video / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1]

    out = root / "made.mp4"
    result = run_cli(
        "gen-video",
        PORTRAIT,
        data / "alpha" / "0000.wav",
        "-o",
        out,
        "--backend",
        "diffusion",
        "--checkpoint",
        video,
        "--preset",
        preset,
        "--steps",
        1,
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    made = probe_video(out)
    assert (made.num_frames, made.height, made.width, made.has_audio) == (6, 32, 32, True)


def test_train_refuses_bad_folders_and_options(run_cli, tmp_path):
    result = run_cli("train-video", tmp_path, "-o", tmp_path / "run", "--steps", 1)
    assert result.exit_code == 2 and "manifest.jsonl" in result.stderr and "prepare-video" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
    result = run_cli("train-video", tmp_path, "-o", tmp_path / "run", "--phase", "sound")
    assert result.exit_code == 2 and "unknown phase 'sound'" in result.stderr


def test_train_without_base_weights_says_what_is_missing_and_writes_nothing(run_cli, videos, monkeypatch):
    root, preset = videos
    monkeypatch.setenv("HF_HOME", str(root / "empty_hf_home"))  # no SD-1.5 in any cache
    assert (
        run_cli(
            "prepare-video", root / "alpha.mp4", "-o", root / "data", "--hands-from", root / "hands", "--preset", preset
        ).exit_code
        == 0
    )
    result = run_cli(
        "train-video", root / "data", "-o", root / "run", "--steps", 1, "--workers", 0
    )  # default preset: SD-1.5 base
    assert result.exit_code == 2, result.stderr
    text = " ".join(result.stderr.split())
    assert "base model" in text and "not found" in text and "--preset tiny" in text and "Traceback" not in text
    assert not (root / "run").exists()
