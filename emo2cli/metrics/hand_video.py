"""Hands in video: HKC (hand keypoint confidence) and HKV (hand keypoint variance).

CyberHost, EchoMimicV2 and EMO2 report HKC/HKV without public code; this is our stated protocol
(research note ``metrics.md`` §2.9), computed with the hand landmarker that ships inside the
``mediapipe`` 0.10.14 wheel (``solutions.hands``, model complexity 1, static-image mode so every
frame is detected on its own and a still video gives identical keypoints):

- **HKC[mp-handedness]** = mean over frames × 2 hands of the hand's score, a missing hand
  counting 0. The score is mediapipe's **handedness classification score of each detected hand**
  (the landmarker exposes no per-keypoint confidence), not a keypoint confidence. The share of
  frames in which each hand was found is reported beside it.
- **HKV[mp]** = for each hand, over the frames where its score is ≥ ``min_confidence`` (0.5), the
  variance over time of each keypoint's x / W and y / H; the mean over 21 keypoints × 2
  coordinates, then over the hands with at least 2 such frames. Unit: (frame size)². Papers' HKV
  scales differ (EMO2 ~0.1–0.2, CyberHost 25–47), so the numbers are not comparable with theirs.

Which detection is which hand: mediapipe labels handedness as if the image were mirrored, so on
an ordinary (unmirrored) video its "Right" is the subject's left hand (index 0). When both
detections get the same label, the one further right in the image is the subject's left.
The same :func:`hkc` / :func:`hkv` read any [F, 2, 21, 2] keypoints, e.g. DWPose tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from emo2cli.vision import import_mediapipe, open_graph

HKC_PROTOCOL = (
    "HKC[mp-handedness]: mean over frames x 2 hands of mediapipe 0.10.14 hands' handedness score per detected "
    "hand (not a keypoint confidence; static-image mode), a hand not detected in a frame counts 0"
)
HKV_PROTOCOL = (
    "HKV[mp]: per hand, variance over time of the 21 keypoints' x/W and y/H over frames with score >= {min_conf}, "
    "mean over keypoints, coordinates and hands; unit (frame size)^2; not on any paper's scale"
)


@dataclass
class HandTrack:
    """Hand keypoints found in a video.

    Attributes:
        keypoints: [F, 2, 21, 2] float32, (x / W, y / H), NaN where the hand was not found;
            hand 0 = the subject's left, 1 = right; OpenPose/MediaPipe 21-point order.
        score: [F, 2] float32 in [0, 1], 0 where the hand was not found.
    """

    keypoints: np.ndarray
    score: np.ndarray

    @property
    def found_share(self) -> np.ndarray:
        """[2] share of frames in which each hand was found."""
        return (self.score > 0).mean(axis=0) if len(self.score) else np.zeros(2)


def detect_hands(
    frames: Iterable[np.ndarray], on_progress: Callable | None = None, min_detection_confidence: float = 0.5
) -> HandTrack:
    """Run mediapipe 0.10.14's bundled hand landmarker on every frame (static-image mode).

    Args:
        frames: [H, W, 3] uint8 RGB.

    Raises:
        MissingPrerequisite: mediapipe (the [vision] extra) is not installed.
    """
    mp = import_mediapipe()
    keypoints, scores = [], []
    with open_graph(
        lambda: mp.solutions.hands.Hands(
            static_image_mode=True, max_num_hands=2, model_complexity=1, min_detection_confidence=min_detection_confidence
        )
    ) as hands:
        for i, frame in enumerate(frames):
            kp = np.full((2, 21, 2), np.nan, np.float32)
            sc = np.zeros(2, np.float32)
            result = hands.process(np.ascontiguousarray(frame[..., :3]))
            found = []
            for lms, handed in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
                cls = handed.classification[0]
                pts = np.array([[p.x, p.y] for p in lms.landmark], np.float32)
                found.append((0 if cls.label == "Right" else 1, float(cls.score), pts))
            if len(found) == 2 and found[0][0] == found[1][0]:
                # same label twice: the hand further right in the image is the subject's left
                found.sort(key=lambda f: -f[2][0, 0])
                found = [(slot, s, p) for slot, (_, s, p) in enumerate(found)]
            for slot, s, pts in found:
                if s > sc[slot]:
                    kp[slot], sc[slot] = pts, s
            keypoints.append(kp)
            scores.append(sc)
            if on_progress:
                on_progress(i + 1, None)
    if not keypoints:
        return HandTrack(np.zeros((0, 2, 21, 2), np.float32), np.zeros((0, 2), np.float32))
    return HandTrack(np.stack(keypoints), np.stack(scores))


def hkc(score: np.ndarray) -> float:
    """HKC: mean of a [F, 2] per-hand score (0 = not detected) over frames and hands."""
    score = np.nan_to_num(np.asarray(score, np.float64), nan=0.0)
    if score.size == 0:
        raise ValueError("no frames")
    return float(score.mean())


def hkv(keypoints: np.ndarray, score: np.ndarray, min_confidence: float = 0.5) -> float:
    """HKV: temporal variance of normalised hand keypoints (see the module docstring).

    Args:
        keypoints: [F, 2, 21, 2] (x / W, y / H); score: [F, 2]; min_confidence: frame threshold.

    Raises:
        ValueError: no hand was confidently found in at least 2 frames.
    """
    values = []
    for hand in range(2):
        ok = (score[:, hand] >= min_confidence) & ~np.isnan(keypoints[:, hand]).any(axis=(1, 2))
        if ok.sum() >= 2:
            values.append(float(keypoints[ok, hand].astype(np.float64).var(axis=0).mean()))
    if not values:
        raise ValueError(f"no hand found with score >= {min_confidence} in 2 or more frames")
    return float(np.mean(values))


def keypoint_hand_scores(keypoint_scores: np.ndarray) -> np.ndarray:
    """Per-hand score of a keypoint detector with per-keypoint scores (e.g. DWPose): [F, 2, 21] → [F, 2] mean."""
    return np.asarray(keypoint_scores, np.float64).mean(axis=-1)
