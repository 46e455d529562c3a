"""The hand tracker: a talking video → ``NAME.hands.npz`` (+ ``NAME.feats.npy``), a Stage 1 training pair.

Steps (``track_video``): frames are streamed through PyAV on the preset's frame grid; pose and
hand landmarks per frame (:mod:`~emo2cli.tracking.landmarks`); the body frame and camera of
every frame (:mod:`~emo2cli.tracking.body`); inverse kinematics of each seen hand in body-frame
axes (:mod:`~emo2cli.tracking.ik`); wrist positions from the hand's wrist pixel and the pose's
depth; dropouts filled or masked (:mod:`~emo2cli.tracking.temporal`); rotations and positions
smoothed on the manifold (:func:`emo2cli.hands.smoothing.smooth_hands`, the one used by
``edit-hands --smooth``).

A hand counts as *seen* in a frame when a person was found, the hand was assigned to that side,
and its handedness score for that side is at least ``track.min_hand_score``: when mediapipe's
handedness contradicts the side (hands crossed or clasped), its 3D landmarks are those of the
other hand's shape, which the other side's skeleton cannot fit.

``track_hands_file`` is the command's job: features from the video's audio first (on the same
frame grid, so the pair lines up row for row), an optional overlay video, and the hands file
last (its presence marks a complete output).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo2cli.config import Preset, TrackConfig
from emo2cli.errors import InputError
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.smoothing import smooth_hands
from emo2cli.tracking.body import BodyCameras, body_cameras, hand_landmarks_in_body, wrists_in_body
from emo2cli.tracking.ik import fit_hand
from emo2cli.tracking.landmarks import LandmarkTrack, track_landmarks
from emo2cli.tracking.temporal import fill_dropouts

logger = logging.getLogger(__name__)

HAND_NAMES = ("left", "right")


@dataclass
class TrackedHands:
    """A tracked video: the hands file's content and what it was made from.

    Attributes:
        hands: the motion (``score`` set: the side probability where seen, 0 elsewhere).
        landmarks: the per-frame landmarks.
        cameras: the per-frame body frame and camera.
        seen: [T, 2] bool, frames where the hand was observed (``hands.mask`` adds filled gaps).
        ik_error_m: [T, 2, 21] float32 reconstruction error per joint, NaN where not seen.
        notes: things a user should know (no person, a hand never seen, ...).
    """

    hands: HandMotion
    landmarks: LandmarkTrack
    cameras: BodyCameras
    seen: np.ndarray
    ik_error_m: np.ndarray
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready figures: frames, seen / valid fractions, IK error, body measurements."""
        num_frames = self.hands.num_frames
        out: dict = {"num_frames": num_frames, "fps": self.hands.fps, "shoulder_width_m": round(self.cameras.shoulder_width_m, 4)}
        for h, name in enumerate(HAND_NAMES):
            error = self.ik_error_m[:, h][self.seen[:, h]]
            out[name] = {
                "seen_fraction": round(float(self.seen[:, h].mean()) if num_frames else 0.0, 4),
                "valid_fraction": round(float(self.hands.mask[:, h].mean()) if num_frames else 0.0, 4),
                "filled_frames": int((self.hands.mask[:, h] & ~self.seen[:, h]).sum()),
                "ik_error_median_mm": round(float(np.median(error)) * 1000, 2) if error.size else None,
            }
        return out


def hands_from_landmarks(track: LandmarkTrack, cfg: TrackConfig, meta: dict | None = None) -> TrackedHands:
    """Landmarks of a video → hand parameters in the body frame, gaps filled, smoothed.

    Args:
        track: per-frame landmarks on the output frame grid.
        cfg: the preset's tracking settings.
        meta: provenance to store in the hands file (tracking figures are added).

    Returns:
        A :class:`TrackedHands`. A video with no person or no hand gives a valid file whose
        mask is all false (rest pose values), with a note saying so.
    """
    num_frames = track.num_frames
    cameras = body_cameras(track)
    seen = track.hand_found & track.person_found[:, None] & (track.hand_score >= cfg.min_hand_score)
    landmarks = hand_landmarks_in_body(track, cameras)  # [T, 2, 21, 3]
    wrists = wrists_in_body(track, cameras)  # [T, 2, 3]
    max_gap = math.floor(cfg.max_gap_s * track.fps + 1e-9)

    rotations = np.zeros((num_frames, 2, 16, 3))
    transl = np.zeros((num_frames, 2, 3))
    mask = np.zeros((num_frames, 2), bool)
    error = np.full((num_frames, 2, 21), np.nan, np.float32)
    hand_scale = [None, None]
    for h in (0, 1):
        index = np.flatnonzero(seen[:, h])
        if index.size:
            fit = fit_hand(landmarks[index, h], h)
            rotations[index, h, 0] = fit.global_orient
            rotations[index, h, 1:] = fit.hand_pose
            error[index, h] = fit.error_m
            hand_scale[h] = round(float(np.median(fit.scale)), 4)
        filled_rot, filled_transl, mask[:, h] = fill_dropouts(rotations[:, h], wrists[:, h], seen[:, h], max_gap, h)
        rotations[:, h], transl[:, h] = filled_rot, filled_transl

    notes = []
    if num_frames and not track.person_found.any():
        notes.append("no person found: every frame is masked")
    else:
        for h, name in enumerate(HAND_NAMES):
            if num_frames and not seen[:, h].any():
                notes.append(f"the {name} hand was never found: its frames are masked")
    meta = dict(meta or {})
    meta["tracking"] = {
        "ik": "emo2cli.tracking.ik (built-in skeleton, bone directions, joint limits)",
        "shoulder_width_m": round(cameras.shoulder_width_m, 4),
        "body_scale": round(cameras.body_scale, 4),
        "hand_scale": hand_scale,
        "ik_error_median_mm": [round(float(np.nanmedian(error[:, h])) * 1000, 2) if seen[:, h].any() else None for h in (0, 1)],
        "seen_fraction": [round(float(seen[:, h].mean()), 4) if num_frames else 0.0 for h in (0, 1)],
        "max_gap_s": cfg.max_gap_s,
        "smooth_s": cfg.smooth_s,
        "min_hand_score": cfg.min_hand_score,
    }
    hands = HandMotion(
        fps=track.fps,
        global_orient=rotations[:, :, 0].astype(np.float32),
        hand_pose=rotations[:, :, 1:].astype(np.float32),
        transl=transl.astype(np.float32),
        mask=mask,
        meta=meta,
        score=np.where(seen, track.hand_score, 0.0).astype(np.float32),
    )
    if cfg.smooth_s > 0 and num_frames > 1:
        hands = smooth_hands(hands, cfg.smooth_s)
    return TrackedHands(hands=hands, landmarks=track, cameras=cameras, seen=seen, ik_error_m=error, notes=notes)


def track_video(
    path: str | os.PathLike,
    preset: Preset,
    meta: dict | None = None,
    on_progress: Callable[[float, float], None] | None = None,
) -> TrackedHands:
    """Track both hands of the person in a video, on the preset's frame grid (``preset.fps``).

    Args:
        path: any video container PyAV reads.
        preset: ``fps`` and ``track`` settings.
        meta: provenance for the hands file.
        on_progress: ``on_progress(frames_done, frames_total)``.

    Raises:
        InputError: missing or unreadable video, no video stream.
        MissingPrerequisite: mediapipe (the ``[vision]`` extra) is not installed.
    """
    from emo2cli.formats.video import probe_video, read_video_frames
    from emo2cli.vision import import_mediapipe

    mp = import_mediapipe()  # a missing [vision] extra is reported before anything is decoded
    info = probe_video(path)
    cfg = preset.track
    meta = {
        **(meta or {}),
        "detector": f"mediapipe {mp.__version__} pose (full) + hands (complexity {cfg.hand_complexity}), video mode",
    }
    expected = max(1, round(info.duration_s * preset.fps))
    track = track_landmarks(
        read_video_frames(path, preset.fps),
        preset.fps,
        num_frames=expected,
        hand_complexity=cfg.hand_complexity,
        min_detection_confidence=cfg.min_detection_confidence,
        min_tracking_confidence=cfg.min_tracking_confidence,
        on_progress=on_progress,
    )
    if track.num_frames == 0:
        raise InputError("has no decodable video frames", path=path)
    return hands_from_landmarks(track, cfg, meta)


# ---------------------------------------------------------------------------------------------
# The track-hands job
# ---------------------------------------------------------------------------------------------


def match_length(hands: HandMotion, num_frames: int) -> HandMotion:
    """Trim ``hands`` to ``num_frames``, or pad it by holding the last frame with the mask false."""
    if num_frames == hands.num_frames:
        return hands
    index = np.minimum(np.arange(num_frames), hands.num_frames - 1)
    padded = np.arange(num_frames) >= hands.num_frames
    return dataclasses.replace(
        hands,
        global_orient=hands.global_orient[index],
        hand_pose=hands.hand_pose[index],
        transl=hands.transl[index],
        mask=hands.mask[index] & ~padded[:, None],
        score=None if hands.score is None else np.where(padded[:, None], 0.0, hands.score[index]).astype(np.float32),
        meta=dict(hands.meta),
    )


def features_path_for(hands_path: str | os.PathLike) -> Path:
    """``DIR/NAME.hands.npz`` → ``DIR/NAME.feats.npy`` (the pair's other half)."""
    from emo2cli.formats.features import SUFFIX as FEATS_SUFFIX
    from emo2cli.formats.hands import SUFFIX as HANDS_SUFFIX

    hands_path = Path(hands_path)
    name = hands_path.name[: -len(HANDS_SUFFIX)] if hands_path.name.endswith(HANDS_SUFFIX) else hands_path.stem
    return hands_path.with_name(name + FEATS_SUFFIX)


def track_hands_file(
    video: str | os.PathLike,
    hands_path: str | os.PathLike,
    preset: Preset,
    features: bool = True,
    overlay: str | os.PathLike | None = None,
    force: bool = False,
    meta: dict | None = None,
    on_progress: Callable[[float, float], None] | None = None,
) -> dict:
    """Track a video and write ``NAME.hands.npz`` (+ ``NAME.feats.npy``/``.json``, + the overlay).

    Features come from the video's audio with ``preset.audio`` at ``preset.fps``; the hands are
    trimmed or padded (mask false) to the features' T, so the pair is a Stage 1 example as it
    stands. A video without audio gives the hands only (noted). Outputs are written atomically:
    features first, then the overlay, then the hands file.

    Args:
        video: the input video.
        hands_path: where the hands file goes (the features go beside it, same base name).
        preset: fps, ``audio``, ``track`` settings.
        features: also write the audio features.
        overlay: optional overlay video path.
        force: overwrite existing outputs.
        meta: extra provenance for the hands file.
        on_progress: ``on_progress(frames_done, frames_total)`` while tracking.

    Returns:
        A JSON-ready summary (paths, frames, seen fractions, IK error, notes).

    Raises:
        InputError: unreadable video, an output that exists without ``force``.
        MissingPrerequisite: mediapipe is not installed.
    """
    from emo2cli import __version__
    from emo2cli.errors import require_file
    from emo2cli.formats._tag import refuse_overwrite, sha256_file
    from emo2cli.formats.features import feature_paths, write_features
    from emo2cli.formats.hands import write_hands
    from emo2cli.formats.video import probe_video
    from emo2cli.vision import import_mediapipe

    video = require_file(video)
    hands_path = Path(hands_path)
    info = probe_video(video)
    feats_path = features_path_for(hands_path)
    outputs = [hands_path, *feature_paths(feats_path)] if features and info.has_audio else [hands_path]
    outputs += [Path(overlay)] if overlay is not None else []
    for out in outputs:  # refuse before hours of tracking, not after
        refuse_overwrite(out, force)
    import_mediapipe()  # before the audio features: a missing extra costs nothing
    notes = []
    feats = None
    if features and info.has_audio:
        from emo2cli.audio.extract import extract_features

        feats = extract_features(video, preset.audio, preset.fps)
    elif features:
        notes.append("no audio track: wrote the hands only")
    provenance = {
        "producer": f"emo2 {__version__} track-hands",
        "model": "track",
        "source_video": str(video),
        "source_sha256": sha256_file(video),
        **({"source_audio": str(video)} if info.has_audio else {}),
        "preset": preset.name,
        "preset_sha256": preset.sha256(),
        **(meta or {}),
    }
    tracked = track_video(video, preset, provenance, on_progress)
    notes += tracked.notes
    hands = tracked.hands
    if feats is not None:
        if abs(hands.num_frames - feats.num_frames) > 1:
            notes.append(f"video has {hands.num_frames} frames and audio {feats.num_frames}: hands fitted to the audio's length")
        hands = match_length(hands, feats.num_frames)
        feats.extra.update({"producer": provenance["producer"], "preset": preset.name, "preset_sha256": preset.sha256()})
    hands.meta["notes"] = notes
    if feats is not None:
        write_features(feats, feats_path, force=force)
    if overlay is not None:
        from emo2cli.tracking.overlay import write_overlay

        write_overlay(video, dataclasses.replace(tracked, hands=hands), overlay, force=force)
    write_hands(hands, hands_path, force=force)
    return {
        "hands": str(hands_path),
        "features": str(feats_path) if feats is not None else None,
        "overlay": str(overlay) if overlay is not None else None,
        **tracked.summary(),
        "num_frames": hands.num_frames,
        "notes": notes,
    }
