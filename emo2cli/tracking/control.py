"""Hand control: does a generated video move its hands where the driving hands file told it to?

Our metrics (no paper defines them), for ``emo2 evaluate video GEN.mp4 --hands DRIVING.hands.npz``.
The generated video is tracked like any video (:func:`~emo2cli.tracking.track.track_video`, at
the driving file's fps), then, over the frames where a hand is valid in the driving file and
seen by the tracker:

- **HCE-2D** (hand-control keypoint error): mean distance between the tracked 21 image keypoints
  and the driving hand's joints (built-in skeleton forward kinematics) projected with the
  video's ``handmaps.json`` placement, divided by the driving hand's size in pixels (its
  wrist-to-middle-fingertip length × the placement's pixels per metre at the wrist). Lower is
  better.
- **HC-PCK**: share of those keypoints within ``eval.pck_relative`` (0.1) × that hand size.
- **HCE-angle**: mean geodesic angle (degrees) between the tracked hand's finger rotations
  (our IK of the tracked landmarks) and the driving ``hand_pose``, over the 15 joints.
- **HC-detect**: share of driving-valid hand-frames in which the tracker saw the hand.

Even a perfect video has a floor: mediapipe places its knuckle and finger landmarks with other
proportions than our skeleton (about 8 mm median IK error on real hands, see
:mod:`~emo2cli.tracking.ik`), so HCE-2D of a real hand against its own re-rendered track is
not 0. Compare videos with each other, not with 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError
from emo2cli.formats.handmaps import Placement
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.rotations import axis_angle_to_quat, quat_conjugate, quat_multiply, quat_to_axis_angle
from emo2cli.hands.skeleton import hand_length, hands_joints
from emo2cli.render.project import project_points, scale_at
from emo2cli.tracking.track import TrackedHands

PROTOCOL = (
    "hand-control[mp-track]/1: the video tracked with emo2 track-hands (mediapipe pose+hands, video mode) at the driving fps; "
    "frames where the driving mask is true and the hand is seen; HCE-2D = mean |tracked 21 image keypoints - driving "
    "built-in-FK joints projected with the handmaps.json placement| / (driving wrist-to-middle-tip length x pixels per metre); "
    "HC-PCK = share of keypoints within {tau:g} x that size; HCE-angle = mean geodesic angle of the 15 finger rotations "
    "(tracked IK vs driving), degrees; HC-detect = seen / driving-valid hand-frames"
)


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle between axis-angle rotations [..., 3] and [..., 3] → [...] degrees."""
    relative = quat_multiply(quat_conjugate(axis_angle_to_quat(a)), axis_angle_to_quat(b))
    return np.degrees(np.linalg.norm(quat_to_axis_angle(relative), axis=-1))


def hand_control_from_track(tracked: TrackedHands, driving: HandMotion, placement: Placement, pck_relative: float = 0.1) -> dict:
    """Hand-control figures of a tracked video against the driving hands (no mediapipe needed).

    Args:
        tracked: the generated video's track (on the driving frame grid).
        driving: the hands file that drove the video.
        placement: the video's hand-map placement (``NAME.handmaps.json``).
        pck_relative: PCK threshold as a fraction of the hand size.

    Returns:
        ``{"HCE-2D", "HC-PCK", "HCE-angle", "HC-detect"}`` (None where no frame counts), plus
        ``frames`` (hand-frames that count), ``per_frame_hce`` ([T] list, NaN where none) and
        ``protocol``.
    """
    num_frames = min(tracked.hands.num_frames, driving.num_frames)
    if num_frames == 0:
        raise InputError("the video and the hands file share no frame")
    driving_joints = hands_joints(driving)[:num_frames].astype(np.float64)  # [T, 2, 21, 3]
    target_px = project_points(driving_joints, placement)  # [T, 2, 21, 2]
    size_px = hand_length(driving_joints) * scale_at(driving_joints[..., 0, :], placement)  # [T, 2]
    tracked_px = tracked.landmarks.hand_image[:num_frames].astype(np.float64)
    driving_valid = driving.mask[:num_frames]
    counted = driving_valid & tracked.seen[:num_frames]

    distance = np.linalg.norm(tracked_px - target_px, axis=-1) / np.maximum(size_px, 1e-9)[..., None]  # [T, 2, 21]
    angle = rotation_angle_deg(tracked.hands.hand_pose[:num_frames], driving.hand_pose[:num_frames]).mean(-1)  # [T, 2]
    counts = counted.sum(1)
    per_frame_hce = np.where(counts > 0, np.where(counted, distance.mean(-1), 0.0).sum(1) / np.maximum(counts, 1), np.nan)  # [T]

    def mean(values: np.ndarray) -> float | None:
        return round(float(values.mean()), 6) if values.size else None

    return {
        "HCE-2D": mean(distance[counted].mean(-1)),
        "HC-PCK": mean((distance[counted] <= pck_relative).astype(np.float64)),
        "HCE-angle": mean(angle[counted]),
        "HC-detect": round(float(counted.sum() / driving_valid.sum()), 6) if driving_valid.any() else None,
        "frames": int(counted.sum()),
        "per_frame_hce": per_frame_hce.tolist(),
        "protocol": PROTOCOL.format(tau=pck_relative),
    }


def hand_control(
    video: str | os.PathLike,
    driving: HandMotion,
    placement: Placement,
    preset: Preset,
    on_progress: Callable[[float, float], None] | None = None,
) -> dict:
    """Track a generated video and measure its hand control (see the module docstring).

    Args:
        video: the generated video.
        driving: the hands file that drove it.
        placement: the video's hand-map placement (``read_handmaps_info(...).placement``).
        preset: ``track`` settings; ``eval.pck_relative`` is the PCK threshold. The video is
            tracked at ``driving.fps``.
        on_progress: ``on_progress(frames_done, frames_total)`` while tracking.

    Raises:
        InputError: unreadable video, no shared frame; MissingPrerequisite: no mediapipe.
    """
    import dataclasses

    from emo2cli.tracking.track import track_video

    tracked = track_video(video, dataclasses.replace(preset, fps=float(driving.fps)), on_progress=on_progress)
    return hand_control_from_track(tracked, driving, placement, preset.eval.pck_relative)
