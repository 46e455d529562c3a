import numpy as np
import pytest

from emo2cli.metrics import hand_video as HV
from tests.conftest import PORTRAIT, POSES
from tests.tiny import small_portrait


def test_hkc_hkv_on_the_real_half_body_photo():
    pytest.importorskip("mediapipe")
    img = small_portrait(PORTRAIT, (512, 512))
    still = HV.detect_hands([img, img, img])
    assert still.keypoints.shape == (3, 2, 21, 2) and still.found_share.tolist() == [1.0, 1.0]
    assert HV.hkc(still.score) > 0.5
    assert HV.hkv(still.keypoints, still.score) == 0.0  # a still video: zero variance
    # left hand (subject's) is on the image's right side
    assert still.keypoints[0, 0, 0, 0] > still.keypoints[0, 1, 0, 0]
    shifted = np.roll(img, 12, axis=1)
    moving = HV.detect_hands([img, shifted])
    assert HV.hkv(moving.keypoints, moving.score) > 0
    empty = HV.detect_hands([np.zeros_like(img)])
    assert HV.hkc(empty.score) == 0.0  # no hand counts as 0
    with pytest.raises(ValueError, match="no hand"):
        HV.hkv(empty.keypoints, empty.score)


def test_hkc_hkv_from_real_dwpose_keypoints():
    with np.load(POSES / "pose_01.npz", allow_pickle=False) as data:
        kp, kp_score = data["hands"], data["hands_score"]
    score = HV.keypoint_hand_scores(kp_score)
    assert score.shape == (len(kp), 2)
    value = HV.hkv(kp, score, min_confidence=0.3)
    assert 1e-5 < value < 0.05  # talking gestures move the hands a few % of the frame
    frozen = np.repeat(kp[:1], len(kp), axis=0)
    assert HV.hkv(frozen, score, min_confidence=0.3) == 0.0
    assert HV.hkc(np.where(score > 0.3, score, 0.0)) <= HV.hkc(score)


def test_hkc_counts_missing_hands_as_zero():
    score = np.array([[0.9, 0.0], [0.9, 0.8]])
    assert HV.hkc(score) == pytest.approx((0.9 + 0 + 0.9 + 0.8) / 4)
