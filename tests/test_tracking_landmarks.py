"""Landmarks: left/right from the pose wrists (pure rules and a mirrored real frame); the real
half-body portraits: both shoulders and hands, wrists in front of the lower torso, IK error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emo2cli.config import TrackConfig
from emo2cli.tracking.landmarks import (
    LEFT_SHOULDER,
    LEFT_WRIST,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    assign_hands,
    side_probability,
)
from tests.conftest import PORTRAIT, PORTRAIT_MAN


def pose_with(left_wrist, right_wrist, shoulders=((300, 100), (100, 100))) -> np.ndarray:
    pose = np.zeros((33, 2), np.float32)
    pose[LEFT_SHOULDER], pose[RIGHT_SHOULDER] = shoulders
    pose[LEFT_WRIST], pose[RIGHT_WRIST] = left_wrist, right_wrist
    return pose


def test_each_hand_goes_to_the_nearer_pose_wrist():
    pose = pose_with((280, 300), (120, 300))
    assert assign_hands(pose, [np.array([125, 290]), np.array([270, 310])]) == [1, 0]
    assert assign_hands(pose, [np.array([270, 310])]) == [0]
    # both hands nearer the left wrist: the pairing with the smaller total distance wins
    assert assign_hands(pose, [np.array([250, 300]), np.array([290, 300])]) == [1, 0]


def test_far_hands_no_person_and_a_third_hand_are_dropped():
    pose = pose_with((280, 300), (120, 300))
    assert assign_hands(pose, [np.array([1000, 300])]) == [-1]  # 4 shoulder widths away: someone else's
    assert assign_hands(None, [np.array([120, 300])]) == [-1]
    sides = assign_hands(pose, [np.array([120, 300]), np.array([280, 300]), np.array([200, 300])])
    assert sorted(sides) == [-1, 0, 1] and sides[2] == -1


def test_side_probability_reads_the_selfie_label():
    # mediapipe assumes a mirrored selfie: "Right" is the subject's left hand in an ordinary video
    assert side_probability(0, "Right", 0.9) == pytest.approx(0.9)
    assert side_probability(0, "Left", 0.9) == pytest.approx(0.1)
    assert side_probability(1, "Left", 0.8) == pytest.approx(0.8)


# ---------------------------------------------------------------------------------------------
# With mediapipe, on the real portraits
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mediapipe():
    return pytest.importorskip("mediapipe")


def _portrait(path, size: int = 512) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))


@pytest.mark.vision
def test_left_right_survive_a_mirrored_frame(mediapipe):
    from emo2cli.tracking.landmarks import LandmarkDetector

    image = _portrait(PORTRAIT)
    width = image.shape[1]
    with LandmarkDetector(video=False) as detector:
        plain = detector.detect(image)
        mirrored = detector.detect(np.ascontiguousarray(image[:, ::-1]))
    sides_plain = assign_hands(plain.pose_image, [im[0] for im in plain.hand_image])
    sides_mirror = assign_hands(mirrored.pose_image, [im[0] for im in mirrored.hand_image])
    assert sorted(sides_plain) == sorted(sides_mirror) == [0, 1]
    wrist = {s: plain.hand_image[i][0] for i, s in enumerate(sides_plain)}
    wrist_m = {s: mirrored.hand_image[i][0] for i, s in enumerate(sides_mirror)}
    assert wrist[0][0] > wrist[1][0]  # facing the camera, the subject's left hand is on the image's right
    for side in (0, 1):  # mirrored: each side's hand is the other side's hand, reflected
        assert abs(wrist_m[side][0] - (width - wrist[1 - side][0])) < 4 and abs(wrist_m[side][1] - wrist[1 - side][1]) < 4
    # and the pose, not the label, decided: the label names the same geometric hand in both frames
    label_plain = plain.hand_label[sides_plain.index(0)]
    label_mirror = mirrored.hand_label[sides_mirror.index(0)]
    assert label_plain == label_mirror == "Right"


@pytest.mark.vision
@pytest.mark.parametrize("path", [PORTRAIT, PORTRAIT_MAN], ids=["woman", "man"])
def test_portraits_hands_in_front_of_the_lower_torso(mediapipe, path):
    from emo2cli.tracking.landmarks import track_landmarks
    from emo2cli.tracking.track import hands_from_landmarks

    track = track_landmarks([_portrait(path)], fps=25.0, video=False)
    assert track.person_found.all() and track.hand_found.all()
    assert np.all(track.pose_visibility[0, [LEFT_SHOULDER, RIGHT_SHOULDER]] > 0.9)
    assert np.all(track.hand_score[0] > 0.8)
    tracked = hands_from_landmarks(track, TrackConfig())
    wrists = tracked.hands.transl[0]  # [2, 3] body frame, metres (shoulder width 0.36)
    assert tracked.hands.mask.all()
    assert np.all(wrists[:, 1] < -0.1)  # below the shoulders
    assert np.all(wrists[:, 2] > 0.05)  # in front of the chest
    assert np.all(np.abs(wrists[:, 0]) < 0.36)  # within a shoulder width of the midline
    assert wrists[0, 0] > 0 > wrists[1, 0]  # left hand on the subject's left
    error_mm = tracked.summary()
    assert 0.2 < tracked.cameras.shoulder_width_m < 0.5
    for side in ("left", "right"):
        assert error_mm[side]["ik_error_median_mm"] < 15  # reported in the closing note: ~7-12 mm
