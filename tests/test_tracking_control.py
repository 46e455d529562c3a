"""Hand-control metrics: a video that follows its driving hands scores perfectly; offsets, flat
fingers and missing hands are measured."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emo2cli.formats.handmaps import Placement
from emo2cli.hands.skeleton import REST_HAND_LENGTH_M, hands_joints
from emo2cli.render.project import project_points
from emo2cli.tracking.control import PROTOCOL, hand_control_from_track
from emo2cli.tracking.landmarks import empty_track
from emo2cli.tracking.track import TrackedHands
from tests.test_tracking_temporal import true_motion

PLACEMENT = Placement(frame_size=(352, 256), anchor_px=(128.0, 150.0), pixels_per_m=300.0, source="manual")


def tracked_view(hands, placement=PLACEMENT, seen=None) -> TrackedHands:
    """A tracker that saw exactly ``hands`` drawn at ``placement`` (its IK = the hands' own rotations)."""
    track = empty_track(hands.num_frames, hands.fps, placement.frame_size)
    track.hand_image[:] = project_points(hands_joints(hands), placement)
    seen = hands.mask.copy() if seen is None else seen
    return TrackedHands(
        hands=hands, landmarks=track, cameras=None, seen=seen, ik_error_m=np.zeros((hands.num_frames, 2, 21), np.float32)
    )


def test_a_video_that_follows_its_hands_scores_perfectly():
    driving = true_motion(20)
    result = hand_control_from_track(tracked_view(driving), driving, PLACEMENT)
    assert result["HCE-2D"] == pytest.approx(0, abs=1e-6) and result["HC-PCK"] == 1.0
    assert result["HCE-angle"] == pytest.approx(0, abs=1e-3) and result["HC-detect"] == 1.0 and result["frames"] == 40
    assert result["protocol"] == PROTOCOL.format(tau=0.1) and "handmaps.json" in result["protocol"]
    assert len(result["per_frame_hce"]) == 20


def test_offsets_flat_fingers_and_misses_are_measured():
    driving = true_motion(20)
    # the video's hands sit 5 cm to the subject's left of where they should: 0.05 m / hand size
    moved = dataclasses.replace(driving, transl=driving.transl + np.float32([0.05, 0, 0]))
    result = hand_control_from_track(tracked_view(moved), driving, PLACEMENT)
    assert result["HCE-2D"] == pytest.approx(0.05 / REST_HAND_LENGTH_M, rel=1e-4)
    assert result["HC-PCK"] == 0.0  # 0.27 hand sizes away: no keypoint within 0.1
    assert hand_control_from_track(tracked_view(moved), driving, PLACEMENT, pck_relative=0.3)["HC-PCK"] == 1.0
    flat = dataclasses.replace(driving, hand_pose=np.zeros_like(driving.hand_pose))
    result = hand_control_from_track(tracked_view(flat), driving, PLACEMENT)
    expected_deg = np.degrees(np.linalg.norm(driving.hand_pose.astype(np.float64), axis=-1)).mean()
    assert result["HCE-angle"] == pytest.approx(expected_deg, rel=1e-3) and result["HCE-2D"] > 0.02
    seen = driving.mask.copy()
    seen[:5, 1] = False
    result = hand_control_from_track(tracked_view(driving, seen=seen), driving, PLACEMENT)
    assert result["HC-detect"] == pytest.approx(35 / 40) and result["frames"] == 35


def test_masked_driving_frames_do_not_count():
    driving = true_motion(10)
    driving.mask[:, 0] = False
    shifted = dataclasses.replace(driving, transl=driving.transl + np.float32([[0.1, 0, 0], [0, 0, 0]]))
    result = hand_control_from_track(tracked_view(shifted, seen=np.ones((10, 2), bool)), driving, PLACEMENT)
    assert result["HCE-2D"] == pytest.approx(0, abs=1e-6) and result["frames"] == 10 and result["HC-detect"] == 1.0
    driving.mask[:] = False
    empty = hand_control_from_track(tracked_view(driving, seen=np.ones((10, 2), bool)), driving, PLACEMENT)
    assert empty["HCE-2D"] is None and empty["HC-detect"] is None and np.isnan(empty["per_frame_hce"]).all()
