"""``track-hands --overlay``: the tracked video with our re-rendered hands and the raw landmarks on it.

Each frame shows, over the source frame: the hands of the written hands file (forward
kinematics of the fitted, filled and smoothed parameters, drawn in the ``emo2`` style of
:mod:`emo2cli.render.draw` through that frame's body-frame camera, half transparent), and on top
mediapipe's raw 2D hand landmarks (OpenPose keypoint style) and the shoulder line. Where the
re-rendered hand sits on the person's hand, the body frame, the wrist positions and the IK
agree with the video. Filled frames draw the hand without landmarks; masked frames draw nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from emo2cli.formats.video import VideoWriter, probe_video, read_video_frames
from emo2cli.hands.skeleton import hands_joints
from emo2cli.render.draw import OPENPOSE_EDGE_COLOURS, OPENPOSE_EDGES, draw_hands_emo2
from emo2cli.render.render import composite
from emo2cli.tracking.landmarks import LEFT_SHOULDER, RIGHT_SHOULDER
from emo2cli.tracking.track import TrackedHands

HAND_ALPHA = 0.6  # opacity of the re-rendered hands over the video
_SHOULDER_COLOUR = (255, 255, 255)
_LANDMARK_COLOUR = (255, 255, 255)


def _px(point) -> tuple[int, int]:
    return tuple(np.round(np.asarray(point, np.float64)).astype(int).tolist())


def draw_landmarks(canvas: np.ndarray, points_px: np.ndarray) -> np.ndarray:
    """Thin OpenPose-coloured edges and small dots of one hand's [21, 2] pixel landmarks; in place.

    Thinner than :func:`emo2cli.render.draw.draw_hands_keypoints` (2 px edges, 4 px dots), so the
    re-rendered hand under them stays visible.
    """
    points = [_px(point) for point in points_px]
    for (a, b), colour in zip(OPENPOSE_EDGES, OPENPOSE_EDGE_COLOURS):
        cv2.line(canvas, points[a], points[b], colour, 1, cv2.LINE_AA)
    for point in points:
        cv2.circle(canvas, point, 2, _LANDMARK_COLOUR, -1, cv2.LINE_AA)
    return canvas


def overlay_frame(frame: np.ndarray, tracked: TrackedHands, joints_body: np.ndarray, t: int) -> np.ndarray:
    """One overlay frame.

    Args:
        frame: [H, W, 3] uint8 RGB source frame.
        tracked: the tracking result.
        joints_body: [2, 21, 3] joints of frame ``t`` in the body frame (metres).
        t: frame index.

    Returns:
        [H, W, 3] uint8 RGB.
    """
    size = frame.shape[:2]
    placement, view = tracked.cameras.placement(t, size)
    hands_layer = draw_hands_emo2(np.zeros_like(frame), joints_body @ view.T, tracked.hands.mask[t], placement)
    out = composite(hands_layer, frame, HAND_ALPHA)
    landmarks = tracked.landmarks
    for h in np.flatnonzero(tracked.seen[t]):
        draw_landmarks(out, landmarks.hand_image[t, h])
    if landmarks.person_found[t]:
        a, b = landmarks.pose_image[t, [LEFT_SHOULDER, RIGHT_SHOULDER]]
        cv2.line(out, _px(a), _px(b), _SHOULDER_COLOUR, 2, cv2.LINE_AA)
        cv2.circle(out, _px(tracked.cameras.anchor_px[t]), 4, _SHOULDER_COLOUR, -1, cv2.LINE_AA)
    return out


def write_overlay(
    video: str | os.PathLike,
    tracked: TrackedHands,
    path: str | os.PathLike,
    force: bool = False,
    on_progress: Callable[[float, float], None] | None = None,
) -> Path:
    """Write the overlay video (H.264, the source audio muxed when there is some).

    Frames are cropped to an even size (H.264 yuv420p). The video has ``tracked.hands.num_frames``
    frames at most (fewer if the source ends first).

    Raises:
        InputError: ``path`` exists without ``force``, or cannot be written.
    """
    info = probe_video(video)
    height, width = info.height - info.height % 2, info.width - info.width % 2
    hands = tracked.hands
    joints = hands_joints(hands)  # [T, 2, 21, 3]
    total = hands.num_frames
    with VideoWriter(path, hands.fps, (height, width), audio_path=video if info.has_audio else None, force=force) as writer:
        for t, frame in enumerate(read_video_frames(video, hands.fps)):
            if t >= total:
                break
            writer.write(np.ascontiguousarray(overlay_frame(frame, tracked, joints[t], t)[:height, :width]))
            if on_progress is not None:
                on_progress(t + 1, total)
    return Path(path)
