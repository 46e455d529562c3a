"""Per-frame pose and hand landmarks from mediapipe 0.10.14 (the ``[vision]`` extra, DESIGN §9).

Two ``mediapipe.solutions`` graphs run on every frame: Pose (the bundled "full" model,
``model_complexity=1``; the lite and heavy models are not in the wheel and would be downloaded)
and Hands (two hands, palm detection + landmarks). In video mode both track from frame to
frame, which is faster than detecting anew and steadier. From them we keep:

- pose world landmarks: [33, 3] metres, camera-aligned axes (x right, y down, z away from the
  camera), origin between the hips; image landmarks in pixels; visibility;
- per hand: 21 world landmarks (metres, the same camera-aligned axes, origin at the hand's
  centre), 21 image landmarks (pixels) and the handedness classifier's label and score.

**Left or right** comes from the pose: each detected hand goes to the nearer pose wrist (the
assignment of the two hands that minimises the summed distance), not from mediapipe's handedness
label, which assumes a mirrored selfie image and flips easily when hands cross or show their
backs. The label still gives the hand's ``score``: the probability that the hand is the side we
assigned (the label's score when it agrees, one minus it when not; a "Right" label means the
subject's left hand in an unmirrored image). A hand farther than ``MAX_WRIST_DISTANCE`` shoulder
widths from its pose wrist is someone else's and is dropped; with no person, no hand is kept
(there is no body frame to put it in).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from emo2cli.vision import import_mediapipe, open_graph

logger = logging.getLogger(__name__)

# MediaPipe Pose landmark indices (anatomical sides: 11 is the subject's left shoulder).
NUM_POSE_LANDMARKS = 33
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_ELBOW, RIGHT_ELBOW = 13, 14
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
POSE_WRISTS = (LEFT_WRIST, RIGHT_WRIST)  # indexed by hand: 0 left, 1 right
# Pose landmarks of the upper body, used to relate world metres to image pixels.
UPPER_BODY = (LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_ELBOW, RIGHT_ELBOW, LEFT_WRIST, RIGHT_WRIST, LEFT_HIP, RIGHT_HIP)

MAX_WRIST_DISTANCE = 1.5  # shoulder widths: a hand farther from its pose wrist is someone else's
# mediapipe's handedness label of a subject's left hand in an unmirrored image (it assumes a selfie)
_LABEL_OF_SIDE = ("Right", "Left")


@dataclass
class FrameLandmarks:
    """What the detectors found in one frame (pixels for image landmarks, metres for world ones).

    Attributes:
        pose_world: [33, 3] float32, camera-aligned metres (x right, y down, z away), origin
            between the hips; None when no person was found.
        pose_image: [33, 2] float32 pixels (x right, y down); None with ``pose_world``.
        pose_visibility: [33] float32 in [0, 1]; None with ``pose_world``.
        hand_world: list of [21, 3] float32, camera-aligned metres, origin at the hand's centre.
        hand_image: list of [21, 2] float32 pixels.
        hand_label: list of "Left" / "Right", mediapipe's handedness label (selfie convention).
        hand_label_score: list of float, that label's score.
    """

    pose_world: np.ndarray | None
    pose_image: np.ndarray | None
    pose_visibility: np.ndarray | None
    hand_world: list[np.ndarray]
    hand_image: list[np.ndarray]
    hand_label: list[str]
    hand_label_score: list[float]


class LandmarkDetector:
    """mediapipe Pose + Hands on RGB frames; a context manager that owns both graphs.

    Args:
        video: track from frame to frame (frames of one video, in order); False detects every
            image on its own (unrelated images, e.g. portraits).
        hand_complexity: 0 (lite) or 1 (full) hand landmark model.
        min_detection_confidence: person / palm detection threshold.
        min_tracking_confidence: below this, a tracked hand or person is detected anew.

    Raises:
        MissingPrerequisite: mediapipe is not installed.
    """

    def __init__(
        self,
        video: bool = True,
        hand_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ):
        solutions = import_mediapipe().solutions
        self._pose = open_graph(
            lambda: solutions.pose.Pose(
                static_image_mode=not video,
                model_complexity=1,  # the only pose model inside the 0.10.14 wheel
                smooth_landmarks=video,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
        )
        self._hands = open_graph(
            lambda: solutions.hands.Hands(
                static_image_mode=not video,
                max_num_hands=2,
                model_complexity=hand_complexity,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
        )

    def __enter__(self) -> LandmarkDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pose.close()
        self._hands.close()

    def detect(self, frame: np.ndarray) -> FrameLandmarks:
        """Landmarks of one ``[H, W, 3] uint8`` RGB frame."""
        frame = np.ascontiguousarray(frame)
        height, width = frame.shape[:2]
        size = np.array([width, height], np.float32)
        pose = self._pose.process(frame)
        hands = self._hands.process(frame)
        out = FrameLandmarks(None, None, None, [], [], [], [])
        if pose.pose_world_landmarks is not None and pose.pose_landmarks is not None:
            image = pose.pose_landmarks.landmark
            out.pose_world = np.array([[p.x, p.y, p.z] for p in pose.pose_world_landmarks.landmark], np.float32)
            out.pose_image = np.array([[p.x, p.y] for p in image], np.float32) * size
            out.pose_visibility = np.array([p.visibility for p in image], np.float32)
        for image, world, handedness in zip(
            hands.multi_hand_landmarks or [], hands.multi_hand_world_landmarks or [], hands.multi_handedness or []
        ):
            out.hand_image.append(np.array([[p.x, p.y] for p in image.landmark], np.float32) * size)
            out.hand_world.append(np.array([[p.x, p.y, p.z] for p in world.landmark], np.float32))
            label = handedness.classification[0]
            out.hand_label.append(str(label.label))
            out.hand_label_score.append(float(label.score))
        return out


def assign_hands(pose_image: np.ndarray | None, hand_wrists_px: list[np.ndarray]) -> list[int]:
    """Side of each detected hand from the nearest pose wrist.

    Args:
        pose_image: [33, 2] pose image landmarks (pixels), or None when no person was found.
        hand_wrists_px: per detected hand, its [2] wrist pixel (hand landmark 0).

    Returns:
        Per detected hand: 0 (subject's left), 1 (right) or -1 (dropped: no person, farther than
        ``MAX_WRIST_DISTANCE`` shoulder widths from its pose wrist, or a third hand). The two
        hands never get the same side; the pairing with the smaller summed distance wins.
    """
    sides = [-1] * len(hand_wrists_px)
    if pose_image is None or not hand_wrists_px:
        return sides
    pose_wrists = pose_image[list(POSE_WRISTS)].astype(np.float64)  # [2, 2]
    cost = np.linalg.norm(np.asarray(hand_wrists_px, np.float64)[:, None] - pose_wrists[None], axis=-1)  # [N, 2]
    shoulder_px = float(np.linalg.norm(pose_image[LEFT_SHOULDER] - pose_image[RIGHT_SHOULDER]))
    best, best_cost = None, np.inf
    # every injective map of up to two hands onto the two sides
    for chosen in itertools.permutations(range(len(hand_wrists_px)), min(2, len(hand_wrists_px))):
        for side_order in itertools.permutations((0, 1), len(chosen)):
            total = sum(cost[h, s] for h, s in zip(chosen, side_order))
            if total < best_cost:
                best, best_cost = list(zip(chosen, side_order)), total
    for h, s in best or []:
        if cost[h, s] <= MAX_WRIST_DISTANCE * max(shoulder_px, 1.0):
            sides[h] = s
    return sides


def side_probability(side: int, label: str, label_score: float) -> float:
    """P(the hand is ``side``) from mediapipe's handedness (label, score) in the selfie convention."""
    return float(label_score) if label == _LABEL_OF_SIDE[side] else 1.0 - float(label_score)


@dataclass
class LandmarkTrack:
    """Landmarks of every frame of a video on the output frame grid (NaN where not found).

    Attributes:
        fps: frame rate of the grid.
        frame_size: (H, W) pixels.
        pose_world: [T, 33, 3] float32, camera-aligned metres (see :class:`FrameLandmarks`).
        pose_image: [T, 33, 2] float32 pixels.
        pose_visibility: [T, 33] float32 (0 where no person).
        hand_world: [T, 2, 21, 3] float32, camera-aligned metres, hand 0 left, 1 right.
        hand_image: [T, 2, 21, 2] float32 pixels.
        hand_score: [T, 2] float32, P(the hand is that side) from the handedness classifier;
            0 where the hand was not found.
    """

    fps: float
    frame_size: tuple[int, int]
    pose_world: np.ndarray
    pose_image: np.ndarray
    pose_visibility: np.ndarray
    hand_world: np.ndarray
    hand_image: np.ndarray
    hand_score: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.pose_world.shape[0])

    @property
    def person_found(self) -> np.ndarray:
        """[T] bool."""
        return np.isfinite(self.pose_world[:, 0, 0])

    @property
    def hand_found(self) -> np.ndarray:
        """[T, 2] bool."""
        return np.isfinite(self.hand_world[:, :, 0, 0])


_TRACK_ARRAYS = ("pose_world", "pose_image", "pose_visibility", "hand_world", "hand_image", "hand_score")


def empty_track(num_frames: int, fps: float, frame_size: tuple[int, int]) -> LandmarkTrack:
    """A track of ``num_frames`` frames where nothing was found."""
    nan = np.float32(np.nan)
    return LandmarkTrack(
        fps=float(fps),
        frame_size=(int(frame_size[0]), int(frame_size[1])),
        pose_world=np.full((num_frames, NUM_POSE_LANDMARKS, 3), nan, np.float32),
        pose_image=np.full((num_frames, NUM_POSE_LANDMARKS, 2), nan, np.float32),
        pose_visibility=np.zeros((num_frames, NUM_POSE_LANDMARKS), np.float32),
        hand_world=np.full((num_frames, 2, 21, 3), nan, np.float32),
        hand_image=np.full((num_frames, 2, 21, 2), nan, np.float32),
        hand_score=np.zeros((num_frames, 2), np.float32),
    )


def _store(track: LandmarkTrack, t: int, found: FrameLandmarks) -> None:
    if found.pose_world is not None:
        track.pose_world[t], track.pose_image[t], track.pose_visibility[t] = (
            found.pose_world,
            found.pose_image,
            found.pose_visibility,
        )
    sides = assign_hands(found.pose_image, [image[0] for image in found.hand_image])
    for h, side in enumerate(sides):
        if side >= 0:
            track.hand_world[t, side] = found.hand_world[h]
            track.hand_image[t, side] = found.hand_image[h]
            track.hand_score[t, side] = side_probability(side, found.hand_label[h], found.hand_label_score[h])


def track_landmarks(
    frames: Iterable[np.ndarray],
    fps: float,
    num_frames: int | None = None,
    video: bool = True,
    hand_complexity: int = 1,
    min_detection_confidence: float = 0.5,
    min_tracking_confidence: float = 0.5,
    on_progress: Callable[[float, float], None] | None = None,
) -> LandmarkTrack:
    """Run the detectors over a stream of frames (constant memory in the frames).

    Args:
        frames: ``[H, W, 3] uint8`` RGB frames, in order, on the output grid.
        fps: the grid's frame rate.
        num_frames: expected count (for progress and preallocation); the stream decides.
        video: tracking mode (see :class:`LandmarkDetector`).
        on_progress: called as ``on_progress(done, total)`` after each frame.

    Returns:
        A :class:`LandmarkTrack` with one entry per frame read.
    """
    chunks: list[LandmarkTrack] = []
    track: LandmarkTrack | None = None
    t = 0
    block = max(int(num_frames or 0), 256)
    with LandmarkDetector(video, hand_complexity, min_detection_confidence, min_tracking_confidence) as detector:
        for frame in frames:
            if track is None or t == track.num_frames:
                if track is not None:
                    chunks.append(track)
                track, t = empty_track(block, fps, frame.shape[:2]), 0
            _store(track, t, detector.detect(frame))
            t += 1
            if on_progress is not None:
                done = sum(c.num_frames for c in chunks) + t
                on_progress(done, max(done, num_frames or done))
    if track is None:
        return empty_track(0, fps, (0, 0))
    chunks.append(slice_track(track, slice(0, t)))
    return concat_tracks(chunks)


def slice_track(track: LandmarkTrack, index) -> LandmarkTrack:
    """Frames ``index`` (a slice or an index array) of a track."""
    arrays = {k: getattr(track, k)[index] for k in _TRACK_ARRAYS}
    return LandmarkTrack(fps=track.fps, frame_size=track.frame_size, **arrays)


def concat_tracks(tracks: list[LandmarkTrack]) -> LandmarkTrack:
    """Join tracks of the same video along the frame axis."""
    arrays = {k: np.concatenate([getattr(tr, k) for tr in tracks]) for k in _TRACK_ARRAYS}
    return LandmarkTrack(fps=tracks[0].fps, frame_size=tracks[0].frame_size, **arrays)
