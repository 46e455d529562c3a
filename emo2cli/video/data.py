"""Stage 2 training data: talking videos → a folder of clips (``emo2 prepare-video``).

The reading side (the manifest record, ``read_manifest``, training samples) is :mod:`emo2cli.video.clips`.

Each video is cut into clips of ``clip_frames`` frames (default: ``video.motion_frames +
video.clip_frames``, one training window) on the preset's frame grid. Every clip is fitted to the
preset's frame (``render.height`` × ``render.width``) with *the same fit as inference*: the clip's
first frame plays the portrait (:func:`emo2cli.render.placement.place_on_portrait`: shoulders →
anchor and scale, cover/contain crop), and every frame of the clip is cut the same way
(:func:`~emo2cli.render.placement.fit_portrait`). The hands (the user's ``NAME.hands.npz`` from
``--hands-from DIR``, or tracked with :mod:`emo2cli.tracking` when none is given) are drawn at
that placement as the hand maps gen-video would draw; the audio features are the whole video's
(``extract_features``), sliced per clip, so a clip's rows equal what extract-audio gives.

Layout of ``DATA_DIR`` (all paths in the manifest are relative to it)::

    manifest.jsonl                 one line per clip of every video (rebuilt by each run)
    NAME/clips.jsonl               the clips of video NAME, written last: it marks NAME as done
    NAME/0003.mp4                  clip 3, fitted frames, its audio muxed (H.264 + AAC)
    NAME/0003.wav                  its audio, 16 kHz mono 16-bit PCM
    NAME/0003.feats.npy / .json    its audio features (emo2.audio_features/1)
    NAME/0003.hands.npz            its hands (emo2.hands/1)
    NAME/0003.handmaps.mp4 / .json its hand maps and their placement (emo2.handmaps/1)
    NAME/0003.body.png             partial body map of its first frame (absent without mediapipe)

A manifest line (``emo2.video_clip/1``) holds the clip's id, source video and its sha256, first
frame, frame count, fps, size, the paths above, the sha256 of each file, the share of frames with
a valid hand, the audio encoder and feature width, and the preset's name and hash.

Skipped, and reported with a reason: a video with no audio track (``no_audio``), a video (or the
tail of one) shorter than a clip (``too_short``), a clip whose hands are valid in fewer than
``min_hand_coverage`` of its frames (``hands_masked``), a video without hands (``no_hands``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import wave
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError, require_file
from emo2cli.formats._tag import atomic_path, atomic_write_text, sha256_file
from emo2cli.video.clips import CLIP_FORMAT, MANIFEST, ClipRecord  # noqa: F401  (CLIP_FORMAT, ClipRecord re-exported)

logger = logging.getLogger(__name__)

VIDEO_MANIFEST = "clips.jsonl"
CLIP_AUDIO_RATE = 16000  # Hz of the per-clip WAV (what the audio encoders read)
SKIP_REASONS = {
    "no_audio": "the video has no audio track",
    "too_short": "fewer frames than one clip",
    "hands_masked": "hands valid in too few frames",
    "no_hands": "no hands file (and no tracker)",
}


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------


def write_manifest(data_dir: str | os.PathLike) -> dict:
    """Rebuild ``DATA_DIR/manifest.jsonl`` from every ``NAME/clips.jsonl`` (sorted by NAME).

    Returns:
        {"manifest", "videos", "clips", "frames"}.
    """
    data_dir = Path(data_dir)
    lines: list[str] = []
    videos = frames = 0
    for per_video in sorted(data_dir.glob(f"*/{VIDEO_MANIFEST}")):
        rows = [ln for ln in per_video.read_text().splitlines() if ln.strip()]
        videos += bool(rows)
        lines += rows
        frames += sum(int(json.loads(ln)["num_frames"]) for ln in rows)
    atomic_write_text(data_dir / MANIFEST, "".join(ln + "\n" for ln in lines), force=True)
    return {"manifest": str(data_dir / MANIFEST), "videos": videos, "clips": len(lines), "frames": frames}


# ---------------------------------------------------------------------------------------------
# prepare-video: one video
# ---------------------------------------------------------------------------------------------


def video_name(video: str | os.PathLike) -> str:
    """The folder name of a video's clips: its file name without the extension."""
    return Path(video).stem


def video_output(video: str | os.PathLike, data_dir: str | os.PathLike) -> Path:
    """``DATA_DIR/NAME/clips.jsonl``: the file whose presence marks the video as prepared."""
    return Path(data_dir) / video_name(video) / VIDEO_MANIFEST


def check_video_names(videos: list[Path]) -> None:
    """Raise InputError when two videos share a name (their clips would share a folder)."""
    names: dict[str, Path] = {}
    for source in videos:
        if names.setdefault(video_name(source), source) != source:
            raise InputError(
                f"two videos share the name '{video_name(source)}' ({names[video_name(source)]})", path=source, hint="rename one"
            )


def default_clip_frames(preset: Preset) -> int:
    """One video-phase training window: motion frames + new frames."""
    return preset.video.motion_frames + preset.video.clip_frames


def load_video_hands(video: Path, num_frames: int, preset: Preset, hands_from: Path | None, notes: list[str]):
    """The video's hands at the preset's fps with ``num_frames`` frames, or None (no hands, no tracker).

    From ``hands_from/NAME.hands.npz`` when a folder is given; otherwise tracked from the video
    (:func:`emo2cli.tracking.track.track_video`, mediapipe) when the tracker is installed.
    """
    from emo2cli.formats.hands import read_hands
    from emo2cli.hands.smoothing import resample_hands
    from emo2cli.tracking.track import match_length

    if hands_from is not None:
        path = hands_from / f"{video_name(video)}.hands.npz"
        if not path.is_file():
            notes.append(f"no hands file {path}")
            return None
        hands = read_hands(path)
    else:
        from emo2cli.errors import MissingPrerequisite
        from emo2cli.tracking.track import track_video

        try:
            hands = track_video(video, preset, {"source_video": str(video)}).hands
        except MissingPrerequisite as e:
            notes.append(f"no --hands-from folder and the tracker is unavailable ({e.message})")
            return None
        notes.append("hands tracked from the video (mediapipe)")
    if hands.fps != preset.fps:
        notes.append(f"hands resampled from {hands.fps:g} to {preset.fps:g} fps")
        hands = resample_hands(hands, preset.fps)
    if abs(hands.num_frames - num_frames) > 1:
        notes.append(f"hands have {hands.num_frames} frames, the video {num_frames}: trimmed or padded (masked)")
    return match_length(hands, num_frames)


def hands_slice(hands, start: int, stop: int, meta: dict):
    """Frames [start, stop) of a HandMotion, with ``meta`` added."""
    sl = slice(start, stop)
    return dataclasses.replace(
        hands,
        global_orient=hands.global_orient[sl],
        hand_pose=hands.hand_pose[sl],
        transl=hands.transl[sl],
        mask=hands.mask[sl],
        score=None if hands.score is None else hands.score[sl],
        meta={**hands.meta, **meta},
    )


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """[N] float32 mono in [-1, 1] → 16-bit PCM WAV, atomically (overwrites)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with atomic_path(path, force=True) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def _clear_video_folder(folder: Path) -> None:
    """Remove what an earlier run wrote for this video (its clip files and clips.jsonl), nothing else."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.name == VIDEO_MANIFEST or (p.is_file() and p.name[:4].isdigit() and p.name[4:5] == "."):
            p.unlink()


def write_clip(stem: Path, source_frames: list, hands, feats, audio: np.ndarray, preset: Preset, hand_model) -> dict[str, Path]:
    """Write one clip's files (``STEM.mp4``, ``.wav``, ``.feats.npy``, ``.hands.npz``, ``.handmaps.mp4``, ``.body.png``).

    The first source frame plays the portrait: it is placed and fitted as gen-video fits a
    portrait, and every frame is cut the same way; the hands are drawn at that placement.

    Args:
        stem: ``DATA_DIR/NAME/0003`` (suffixes are added).
        source_frames: F frames [Hs, Ws, 3] uint8 of the source video.
        hands: the clip's HandMotion (F frames); feats: its AudioFeatures (F rows).
        audio: [N] float32 mono samples at ``CLIP_AUDIO_RATE`` (F / fps seconds).
        preset: frame size, fit, camera and drawing style (``render``), fps.
        hand_model: from :func:`emo2cli.hands.kinematics.load_hand_model`.

    Returns:
        kind → path of every file written ("body" only when mediapipe found a person mask).
    """
    from emo2cli import __version__
    from emo2cli.formats.features import write_features
    from emo2cli.formats.handmaps import HandMapsInfo, write_handmaps_info
    from emo2cli.formats.hands import write_hands
    from emo2cli.formats.video import VideoWriter
    from emo2cli.render.placement import fit_portrait, place_on_portrait
    from emo2cli.render.render import render_hands
    from emo2cli.video.body import partial_body_map

    render, fps = preset.render, float(preset.fps)
    size = (render.height, render.width)
    files = {
        kind: stem.with_suffix(suffix)
        for kind, suffix in (
            ("video", ".mp4"),
            ("audio", ".wav"),
            ("feats", ".feats.npy"),
            ("hands", ".hands.npz"),
            ("handmaps", ".handmaps.mp4"),
        )
    }
    placement, fitted_first = place_on_portrait(
        source_frames[0], size, camera=render.camera, camera_distance_m=render.camera_distance_m, fit=render.fit
    )
    write_wav(files["audio"], audio, CLIP_AUDIO_RATE)
    write_features(feats, files["feats"], force=True)
    with VideoWriter(files["video"], fps, size, audio_path=files["audio"], force=True) as writer:
        writer.write(fitted_first)
        for frame in source_frames[1:]:
            writer.write(fit_portrait(frame, placement))
    write_hands(hands, files["hands"], force=True)
    with VideoWriter(files["handmaps"], fps, size, force=True) as writer:
        for frame in render_hands(hands, placement, render.style, hand_model):
            writer.write(frame)
    producer = {
        "producer": f"emo2 {__version__} prepare-video",
        "hand_model": hand_model.name,
        "fit": render.fit,
        "source_video": feats.source,
    }
    maps_info = HandMapsInfo(
        fps=fps, num_frames=len(source_frames), placement=placement, style=render.style,
        hands_source=str(files["hands"]), hands_sha256=sha256_file(files["hands"]), extra=producer,
    )  # fmt: skip
    write_handmaps_info(maps_info, files["handmaps"], force=True)
    body = partial_body_map(fitted_first)
    if body is not None:
        files["body"] = stem.with_suffix(".body.png")
        with atomic_path(files["body"], force=True) as tmp:
            if not cv2.imwrite(str(tmp), np.round(body * 255).astype(np.uint8)):
                raise InputError("cannot write PNG here", path=files["body"])
    return files


def prepare_video(
    video: str | os.PathLike,
    data_dir: str | os.PathLike,
    preset: Preset,
    *,
    hands_from: str | os.PathLike | None = None,
    clip_frames: int | None = None,
    min_hand_coverage: float = 0.5,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Cut one talking video into training clips under ``DATA_DIR/NAME/`` (module docstring).

    Args:
        video: a video with an audio track (any container PyAV reads).
        data_dir: the dataset folder.
        preset: fps, frame size and fit (``render``), audio encoder (``audio``), tracker settings.
        hands_from: folder of ``NAME.hands.npz`` files; None = track the hands from the video.
        clip_frames: frames per clip (default :func:`default_clip_frames`).
        min_hand_coverage: a clip is kept when at least this share of its frames has a valid hand.
        on_progress: ``on_progress(clips_done, clips_total)``.

    Returns:
        {"video", "name", "clips", "frames", "skipped": {reason: count}, "notes": [...]}; the clip
        records are in ``DATA_DIR/NAME/clips.jsonl`` (only written when at least one clip is kept).

    Raises:
        InputError: unreadable video or hands file, a bad setting.
        MissingPrerequisite: the audio encoder's weights are missing.
    """
    from emo2cli import __version__
    from emo2cli.audio.extract import extract_features
    from emo2cli.audio.load import load_audio
    from emo2cli.formats.features import AudioFeatures
    from emo2cli.formats.video import probe_video, read_video_frames
    from emo2cli.hands.kinematics import load_hand_model

    video, data_dir = require_file(video), Path(data_dir)
    clip_len = clip_frames or default_clip_frames(preset)
    if clip_len < 2:
        raise InputError(f"clips need at least 2 frames, got {clip_len}")
    if not 0.0 <= min_hand_coverage <= 1.0:
        raise InputError(f"min_hand_coverage must be in [0, 1], got {min_hand_coverage}")
    name, fps = video_name(video), float(preset.fps)
    summary: dict = {"video": str(video), "name": name, "clips": 0, "frames": 0, "skipped": {}, "notes": []}
    notes: list[str] = summary["notes"]

    def skip(reason: str, count: int = 1) -> None:
        summary["skipped"][reason] = summary["skipped"].get(reason, 0) + count

    info = probe_video(video)
    if not info.has_audio:
        skip("no_audio")
        return summary
    num_video_frames = max(1, round(info.duration_s * fps))
    if num_video_frames < clip_len:  # decide before any decoding or tracking
        skip("too_short")
        return summary
    feats = extract_features(video, preset.audio, fps)
    num_frames = min(num_video_frames, feats.num_frames)
    num_clips = num_frames // clip_len
    if num_clips == 0:
        skip("too_short")
        return summary
    hands = load_video_hands(video, num_frames, preset, Path(hands_from) if hands_from is not None else None, notes)
    if hands is None:
        skip("no_hands", num_clips)
        return summary
    if num_frames % clip_len:
        skip("too_short")  # the tail
    waveform = load_audio(video, CLIP_AUDIO_RATE)
    source_sha = sha256_file(video)
    hand_model = load_hand_model(preset.render)
    folder = data_dir / name
    _clear_video_folder(folder)
    records: list[ClipRecord] = []
    frames_iter = read_video_frames(video, fps)
    for k in range(num_clips):
        start = k * clip_len
        source_frames = list(itertools.islice(frames_iter, clip_len))
        if len(source_frames) < clip_len:
            skip("too_short")
            break
        clip_hands = hands_slice(
            hands,
            start,
            start + clip_len,
            {"source_video": str(video), "start_frame": start, "producer": f"emo2 {__version__} prepare-video"},
        )
        coverage = float(clip_hands.mask.any(axis=1).mean())
        if coverage < min_hand_coverage:
            skip("hands_masked")
            if on_progress:
                on_progress(k + 1, num_clips)
            continue
        a0, a1 = round(start / fps * CLIP_AUDIO_RATE), round((start + clip_len) / fps * CLIP_AUDIO_RATE)
        segment = waveform.samples[a0:a1]
        clip_feats = AudioFeatures(
            features=np.ascontiguousarray(feats.features[start : start + clip_len]),
            fps=fps,
            sample_rate=feats.sample_rate,
            encoder=feats.encoder,
            encoder_revision=feats.encoder_revision,
            duration_s=clip_len / fps,
            source=str(video),
            source_sha256=source_sha,
            extra={**feats.extra, "start_frame": start},
        )
        files = write_clip(
            folder / f"{k:04d}",
            source_frames,
            clip_hands,
            clip_feats,
            np.pad(segment, (0, a1 - a0 - len(segment))),
            preset,
            hand_model,
        )
        records.append(
            ClipRecord(
                clip=f"{name}/{k:04d}",
                source=str(video),
                source_sha256=source_sha,
                start_frame=start,
                num_frames=clip_len,
                fps=fps,
                height=preset.render.height,
                width=preset.render.width,
                files={kind: str(p.relative_to(data_dir)) for kind, p in files.items()},
                sha256={kind: sha256_file(p) for kind, p in files.items()},
                hand_coverage=round(coverage, 4),
                audio_encoder=feats.encoder,
                audio_dim=int(np.prod(feats.features.shape[1:])),
                preset=preset.name,
                preset_sha256=preset.sha256(),
            )
        )
        if on_progress:
            on_progress(k + 1, num_clips)
    if records:
        atomic_write_text(
            folder / VIDEO_MANIFEST, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records), force=True
        )
    summary["clips"] = len(records)
    summary["frames"] = len(records) * clip_len
    logger.info("%s: %d clips of %d frames; skipped %s", video, len(records), clip_len, summary["skipped"] or "none")
    return summary
