"""The partial body map: where the person is, without saying how the arms lie (guidance channel 4).

EMO2's guidance gives the hands exactly and leaves the arms to the video model ("pixel-prior IK").
The body map tells the model where the body is: the portrait's person mask (mediapipe's bundled
selfie segmentation), minus the arms' region — a band along shoulder → elbow → wrist → hand on each
side (mediapipe pose), ``ARM_WIDTH`` shoulder widths wide, and a disc around each hand — so the
arms' pose in the portrait does not leak into every frame.

mediapipe is the optional ``[vision]`` extra (DESIGN §9). Without it, or when no person is
found, there is no body map (None) and the encoder gets an empty channel; that is logged.
"""

from __future__ import annotations

import logging
import warnings

import cv2
import numpy as np

logger = logging.getLogger(__name__)

ARM_WIDTH = 0.42  # band width, in shoulder widths (an upper arm is ~0.3; the margin hides its outline)
HAND_RADIUS = 0.45  # disc around each wrist/hand, in shoulder widths
# mediapipe pose landmark ids: shoulder, elbow, wrist, then hand points (pinky, index, thumb)
_ARMS = ((11, 13, 15, 17, 19, 21), (12, 14, 16, 18, 20, 22))


def _mediapipe():
    """mediapipe (the [vision] extra), or None when it is not installed."""
    from emo2cli.errors import MissingPrerequisite
    from emo2cli.vision import import_mediapipe

    try:
        return import_mediapipe()
    except MissingPrerequisite:
        return None


def person_mask(image: np.ndarray) -> np.ndarray | None:
    """[H, W, 3] uint8 RGB → [H, W] float32 person probability in [0, 1], or None without mediapipe."""
    from emo2cli.vision import native_stderr_to_log

    mp = _mediapipe()
    if mp is None:
        return None
    with native_stderr_to_log(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
            result = segmenter.process(np.ascontiguousarray(image))
    return None if result.segmentation_mask is None else np.clip(result.segmentation_mask, 0.0, 1.0).astype(np.float32)


def arm_landmarks(image: np.ndarray) -> np.ndarray | None:
    """[H, W, 3] uint8 RGB → [2, 6, 2] float pixels (per side: shoulder, elbow, wrist, 3 hand points) or None."""
    from emo2cli.vision import native_stderr_to_log

    mp = _mediapipe()
    if mp is None:
        return None
    with native_stderr_to_log(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as detector:
            result = detector.process(np.ascontiguousarray(image))
    if result.pose_landmarks is None:
        return None
    height, width = image.shape[:2]
    marks = result.pose_landmarks.landmark
    return np.array([[[marks[i].x * width, marks[i].y * height] for i in side] for side in _ARMS], np.float64)


def arms_region(size: tuple[int, int], arms: np.ndarray) -> np.ndarray:
    """[H, W] float32 in {0, 1}: the band along each arm and a disc around each hand.

    Args:
        size: (H, W).
        arms: [2, 6, 2] pixels from :func:`arm_landmarks`.
    """
    region = np.zeros(size, np.uint8)
    shoulder_px = float(np.linalg.norm(arms[0, 0] - arms[1, 0]))
    band = max(1, round(ARM_WIDTH * shoulder_px))
    radius = max(1, round(HAND_RADIUS * shoulder_px))
    for side in arms:
        points = np.round(side[:3]).astype(np.int32)
        cv2.polylines(region, [points.reshape(-1, 1, 2)], False, 1, band, cv2.LINE_8)
        hand_centre = np.round(side[2:].mean(axis=0)).astype(int)
        cv2.circle(region, (int(hand_centre[0]), int(hand_centre[1])), radius, 1, -1)
    return region.astype(np.float32)


def partial_body_map(image: np.ndarray) -> np.ndarray | None:
    """The fitted portrait → [H, W] float32 body map in [0, 1] (person minus arms), or None.

    Args:
        image: [H, W, 3] uint8 RGB, the portrait as fitted to the output frame.
    """
    mask = person_mask(image)
    if mask is None:
        logger.info("no partial body map: mediapipe (the [vision] extra) is not installed; the guidance gets an empty body channel")
        return None
    arms = arm_landmarks(image)
    if arms is None:
        logger.info("no pose found in the portrait: the body map keeps the arms")
        return mask
    return mask * (1.0 - arms_region(mask.shape, arms))
