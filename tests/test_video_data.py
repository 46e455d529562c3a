"""prepare-video (talking videos → clips + manifest) and the training samples read from it."""

from __future__ import annotations

import json
import sys
import wave

import numpy as np
import pytest

from emo2cli.errors import InputError
from tests.conftest import random_hands
from tests.tiny import tiny_train_preset, torch_threads, write_talking_video

FPS = 25.0


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture
def no_mediapipe(monkeypatch):
    """As without the [vision] extra: centred placement, no body map (and ~1 s less per clip)."""
    monkeypatch.setitem(sys.modules, "mediapipe", None)


@pytest.fixture
def preset(tmp_path):
    from emo2cli.config import load_preset

    return load_preset(str(tiny_train_preset(tmp_path)))  # 32 x 32, clips of 2 + 4 = 6 frames


def make_videos(folder, specs):
    """specs: name → (frames, audio?, hands mask or None); writes NAME.mp4 and hands/NAME.hands.npz."""
    from emo2cli.formats.hands import write_hands

    (folder / "hands").mkdir(parents=True, exist_ok=True)
    for name, (frames, audio, mask) in specs.items():
        write_talking_video(folder / f"{name}.mp4", frames, FPS, audio=audio)
        hands = random_hands(frames, FPS, seed=len(name))
        hands.mask[:] = True if mask is None else mask
        write_hands(hands, folder / "hands" / f"{name}.hands.npz")
    return folder


def frame_count(path):
    from emo2cli.formats.video import probe_video

    return probe_video(path).num_frames


def test_two_videos_make_the_right_clips_and_manifest(tmp_path, preset, no_mediapipe):
    from emo2cli.audio.extract import extract_features
    from emo2cli.formats._tag import sha256_file
    from emo2cli.formats.handmaps import read_handmaps_info
    from emo2cli.formats.hands import read_hands
    from emo2cli.formats.video import probe_video
    from emo2cli.video.clips import read_manifest
    from emo2cli.video.data import prepare_video, write_manifest

    src = make_videos(tmp_path / "src", {"alpha": (30, True, None), "beta": (20, True, None)})
    data = tmp_path / "data"
    a = prepare_video(src / "alpha.mp4", data, preset, hands_from=src / "hands")
    b = prepare_video(src / "beta.mp4", data, preset, hands_from=src / "hands")
    assert (a["clips"], a["skipped"]) == (5, {})
    assert (b["clips"], b["skipped"]) == (3, {"too_short": 1})  # 20 = 3 x 6 + a 2-frame tail
    summary = write_manifest(data)
    assert (summary["videos"], summary["clips"], summary["frames"]) == (2, 8, 48)

    clips = read_manifest(data)
    assert [c.clip for c in clips] == [f"alpha/{k:04d}" for k in range(5)] + [f"beta/{k:04d}" for k in range(3)]
    whole = extract_features(src / "beta.mp4", preset.audio, FPS).features
    for clip in clips:
        assert (clip.num_frames, clip.fps, clip.height, clip.width) == (6, FPS, 32, 32)
        assert set(clip.files) == {"video", "audio", "feats", "hands", "handmaps"}  # no body map without mediapipe
        for kind, rel in clip.files.items():
            assert sha256_file(data / rel) == clip.sha256[kind]
        info = probe_video(clip.path(data, "video"))
        assert (info.num_frames, info.height, info.width, info.has_audio) == (6, 32, 32, True)
        assert frame_count(clip.path(data, "handmaps")) == 6
        assert read_hands(clip.path(data, "hands")).num_frames == 6
        assert read_handmaps_info(clip.path(data, "handmaps")).placement.frame_size == (32, 32)
        table = np.load(clip.path(data, "feats"))
        assert table.shape == (6, clip.audio_dim)
        if clip.source.endswith("beta.mp4"):  # the whole video's rows, sliced
            assert np.array_equal(table, whole[clip.start_frame : clip.start_frame + 6])
        with wave.open(str(clip.path(data, "audio"))) as w:
            assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (16000, 1, round(6 / FPS * 16000))


def test_clip_frames_are_fitted_like_a_portrait_at_inference(tmp_path, preset, no_mediapipe):
    from emo2cli.formats.handmaps import read_handmaps_info
    from emo2cli.formats.video import read_video_frames
    from emo2cli.render.placement import fit_portrait
    from emo2cli.video.clips import read_frames, read_manifest
    from emo2cli.video.data import prepare_video, write_manifest

    src = make_videos(tmp_path / "src", {"alpha": (12, True, None)})
    prepare_video(src / "alpha.mp4", tmp_path / "data", preset, hands_from=src / "hands")
    write_manifest(tmp_path / "data")
    clip = read_manifest(tmp_path / "data")[1]
    placement = read_handmaps_info(clip.path(tmp_path / "data", "handmaps")).placement
    source = list(read_video_frames(src / "alpha.mp4", FPS))[clip.start_frame + 3]
    expected = fit_portrait(source, placement).astype(int)
    got = read_frames(clip.path(tmp_path / "data", "video"), 3, 1)[0].astype(int)
    assert np.abs(got - expected).mean() < 6  # H.264 at crf 16 on a 32-px frame
    assert placement.portrait_size == (48, 64) and placement.fit_scale == pytest.approx(32 / 48)


def test_with_mediapipe_a_body_map_is_written(tmp_path, preset):
    pytest.importorskip("mediapipe")
    from emo2cli.video.clips import read_body
    from emo2cli.video.data import prepare_video

    src = make_videos(tmp_path / "src", {"alpha": (6, True, None)})
    info = prepare_video(src / "alpha.mp4", tmp_path / "data", preset, hands_from=src / "hands")
    assert info["clips"] == 1
    record = json.loads((tmp_path / "data" / "alpha" / "clips.jsonl").read_text())
    body = read_body(tmp_path / "data" / record["files"]["body"], (32, 32))
    assert body.shape == (32, 32) and body.dtype == np.float32 and 0 <= body.min() <= body.max() <= 1


def test_no_audio_too_short_masked_and_missing_hands_are_skipped_with_reasons(tmp_path, preset, no_mediapipe):
    from emo2cli.video.data import prepare_video, video_output

    mask = np.ones((12, 2), bool)
    mask[6:] = False  # the second clip has no valid hand
    src = make_videos(
        tmp_path / "src",
        {"silent": (12, False, None), "short": (4, True, None), "masked": (12, True, mask), "nohands": (12, True, None)},
    )
    (src / "hands" / "nohands.hands.npz").unlink()
    data = tmp_path / "data"
    results = {
        name: prepare_video(src / f"{name}.mp4", data, preset, hands_from=src / "hands")
        for name in ("silent", "short", "masked", "nohands")
    }
    assert results["silent"]["skipped"] == {"no_audio": 1} and results["silent"]["clips"] == 0
    assert results["short"]["skipped"] == {"too_short": 1}
    assert results["masked"]["skipped"] == {"hands_masked": 1} and results["masked"]["clips"] == 1
    assert results["nohands"]["skipped"] == {"no_hands": 2} and "nohands.hands.npz" in results["nohands"]["notes"][0]
    assert video_output(src / "masked.mp4", data).is_file()
    for name in ("silent", "short", "nohands"):  # nothing written for a video without clips
        assert not (data / name).exists()


def test_hands_at_another_fps_are_resampled(tmp_path, preset, no_mediapipe):
    from emo2cli.formats.hands import read_hands, write_hands
    from emo2cli.video.data import prepare_video

    src = make_videos(tmp_path / "src", {"alpha": (12, True, None)})
    hands = random_hands(24, 50.0)
    hands.mask[:] = True
    write_hands(hands, src / "hands" / "alpha.hands.npz", force=True)
    info = prepare_video(src / "alpha.mp4", tmp_path / "data", preset, hands_from=src / "hands")
    assert info["clips"] == 2 and any("resampled from 50 to 25 fps" in n for n in info["notes"])
    assert read_hands(tmp_path / "data" / "alpha" / "0001.hands.npz").fps == FPS


def test_manifest_errors_name_the_problem(tmp_path, preset, no_mediapipe):
    from emo2cli.video.clips import read_manifest
    from emo2cli.video.data import prepare_video, write_manifest

    with pytest.raises(InputError, match="has no manifest.jsonl"):
        read_manifest(tmp_path)
    src = make_videos(tmp_path / "src", {"alpha": (6, True, None)})
    prepare_video(src / "alpha.mp4", tmp_path / "data", preset, hands_from=src / "hands")
    write_manifest(tmp_path / "data")
    (tmp_path / "data" / "alpha" / "0000.handmaps.mp4").unlink()
    with pytest.raises(InputError, match="handmaps file is missing"):
        read_manifest(tmp_path / "data")


def test_samples_are_a_function_of_the_index_with_the_right_shapes(tmp_path, preset, no_mediapipe):
    from emo2cli.video.clips import ClipSamples, read_frames, read_manifest
    from emo2cli.video.data import prepare_video, write_manifest

    src = make_videos(tmp_path / "src", {"alpha": (12, True, None)})
    prepare_video(src / "alpha.mp4", tmp_path / "data", preset, hands_from=src / "hands")
    write_manifest(tmp_path / "data")
    clips = read_manifest(tmp_path / "data")
    video = ClipSamples(tmp_path / "data", clips, num_frames=6, window_radius=2, seed=3)
    s = video[7]
    assert s["frames"].shape == (6, 32, 32, 3) and s["hand_maps"].shape == (6, 32, 32, 3) and s["reference"].shape == (32, 32, 3)
    assert s["audio"].shape == (6 + 4, clips[0].audio_dim) and s["body"].shape == (32, 32)
    table = np.load(clips[int(s["clip"])].path(tmp_path / "data", "feats"))
    assert np.array_equal(s["audio"][:3], table[[0, 0, 0]]) and np.array_equal(s["audio"][-3:], table[[5, 5, 5]])  # edge-clamped
    again = ClipSamples(tmp_path / "data", clips, num_frames=6, window_radius=2, seed=3)[7]
    assert all(np.array_equal(s[k], again[k]) for k in s)
    image = ClipSamples(tmp_path / "data", clips, num_frames=1, seed=0)
    for i in range(6):  # the reference is never the target frame
        pair = image[i]
        frames = read_frames(clips[int(pair["clip"])].path(tmp_path / "data", "video"), 0, 6)
        target = [j for j in range(6) if np.array_equal(frames[j], pair["frames"][0])]
        ref = [j for j in range(6) if np.array_equal(frames[j], pair["reference"])]
        assert target and ref and set(target) != set(ref)
    with pytest.raises(InputError, match="no clip has the 7 frames"):
        ClipSamples(tmp_path / "data", clips, num_frames=7)


def test_without_hands_files_or_tracker_the_video_is_skipped(tmp_path, preset, no_mediapipe):
    from emo2cli.video.data import prepare_video

    src = make_videos(tmp_path / "src", {"alpha": (12, True, None)})
    info = prepare_video(src / "alpha.mp4", tmp_path / "data", preset)  # no --hands-from: track, but mediapipe is absent
    assert info["clips"] == 0 and info["skipped"] == {"no_hands": 2}
    assert "tracker is unavailable" in info["notes"][0] and "mediapipe" in info["notes"][0]
    assert not (tmp_path / "data" / "alpha").exists()
