"""IK: synthetic landmarks from our own forward kinematics come back exactly; limits; error; mirror rule."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.hands.limits import FINGER_LIMITS_RAD
from emo2cli.hands.rotations import mirror_axis_angle
from emo2cli.hands.skeleton import FINGER_CHAINS, MANO_OF_FINGER_LEVEL, forward_kinematics, rest_joints
from emo2cli.tracking.control import rotation_angle_deg
from emo2cli.tracking.ik import fit_hand, reconstruction_error, swing


def random_poses(g: np.random.Generator, num: int) -> np.ndarray:
    """[num, 15, 3] right-hand finger rotations within the joint limits, each a swing (no twist about its bone)."""
    rest = rest_joints(1)
    low, high = FINGER_LIMITS_RAD[..., 0], FINGER_LIMITS_RAD[..., 1]
    pose = np.zeros((num, 15, 3))
    for finger in range(5):
        for level in range(3):
            mano = MANO_OF_FINGER_LEVEL[finger, level]
            bone = rest[FINGER_CHAINS[finger, level + 1]] - rest[FINGER_CHAINS[finger, level]]
            bone /= np.linalg.norm(bone)
            omega = g.uniform(low[mano], high[mano], size=(num, 3))
            omega -= (omega @ bone)[:, None] * bone  # a swing: perpendicular to the bone
            with np.errstate(divide="ignore", invalid="ignore"):  # shrink back inside the limits (they hold 0)
                ratio = np.where(omega > high[mano], high[mano] / omega, np.where(omega < low[mano], low[mano] / omega, 1.0))
            pose[:, mano] = omega * np.nan_to_num(ratio, nan=1.0).min(1, keepdims=True)
    return pose


def random_orient(g: np.random.Generator, num: int) -> np.ndarray:
    axis = g.normal(size=(num, 3))
    return axis / np.linalg.norm(axis, axis=1, keepdims=True) * g.uniform(0, 3.1, (num, 1))


@pytest.mark.parametrize("hand", [0, 1])
def test_fk_landmarks_are_recovered_within_1mm_and_1deg(hand):
    g = np.random.default_rng(hand)
    pose = random_poses(g, 300)
    pose = pose if hand == 1 else mirror_axis_angle(pose)
    orient = random_orient(g, 300)
    transl = g.normal(0, 0.3, (300, 3))
    scale = g.uniform(0.7, 1.2, 300)
    landmarks = transl[:, None] + (forward_kinematics(orient, pose, transl, hand) - transl[:, None]) * scale[:, None, None]
    fit = fit_hand(landmarks, hand)
    assert fit.global_orient.shape == (300, 3) and fit.hand_pose.shape == (300, 15, 3) and fit.error_m.shape == (300, 21)
    assert fit.error_m.max() < 1e-3
    assert rotation_angle_deg(fit.global_orient, orient).max() < 1.0
    assert rotation_angle_deg(fit.hand_pose, pose).max() < 1.0
    np.testing.assert_allclose(fit.scale, scale, rtol=1e-6)


def test_left_fit_is_the_mirror_of_the_right_fit():
    g = np.random.default_rng(5)
    landmarks = forward_kinematics(random_orient(g, 20), random_poses(g, 20), np.zeros(3), 1) + g.normal(0, 0.004, (20, 21, 3))
    right = fit_hand(landmarks, 1)
    left = fit_hand(landmarks * [-1, 1, 1], 0)
    np.testing.assert_allclose(left.hand_pose, mirror_axis_angle(right.hand_pose), atol=1e-9)
    np.testing.assert_allclose(left.error_m, right.error_m, atol=1e-12)


def test_clamped_to_joint_limits_and_error_reports_what_cannot_be_followed():
    rest = rest_joints(1)
    bent_back = rest.copy()
    index_tip = FINGER_CHAINS[1]
    # bend the index finger 80 degrees backwards (toward the back of the hand, +y) at its MCP
    angle = np.deg2rad(80)
    for j in index_tip[1:]:
        offset = rest[j] - rest[index_tip[0]]
        bent_back[j] = rest[index_tip[0]] + [offset[0] * np.cos(angle), -offset[0] * np.sin(angle), offset[2]]
    free = fit_hand(bent_back, 1, clamp=False)
    clamped = fit_hand(bent_back, 1)
    mano = MANO_OF_FINGER_LEVEL[1, 0]
    assert np.degrees(free.hand_pose[mano, 2]) == pytest.approx(-80, abs=2)  # extension is negative flexion
    assert np.all(clamped.hand_pose >= FINGER_LIMITS_RAD[..., 0] - 1e-9) and np.all(
        clamped.hand_pose <= FINGER_LIMITS_RAD[..., 1] + 1e-9
    )
    assert free.error_m.max() < 2e-3
    assert clamped.error_m[..., index_tip[1:]].min() > 0.01  # the limit (-30°) cannot reach an 80° extension


def test_swing_has_no_twist_and_turns_u_onto_v():
    g = np.random.default_rng(1)
    u = g.normal(size=(50, 3))
    v = g.normal(size=(50, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    omega = swing(u, v)
    from emo2cli.hands.rotations import axis_angle_to_matrix

    np.testing.assert_allclose(np.einsum("nij,nj->ni", axis_angle_to_matrix(omega), u), v, atol=1e-9)
    np.testing.assert_allclose(np.sum(omega * u, axis=1), 0, atol=1e-9)
    assert np.allclose(swing(u, u), 0)


def test_reconstruction_error_ignores_scale_and_translation_only():
    joints = rest_joints(1)
    scale, error = reconstruction_error(joints, joints * 0.8 + [0.1, 0.2, 0.3])
    assert scale == pytest.approx(0.8) and error.max() < 1e-12
    rotated = joints @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]).T
    assert reconstruction_error(joints, rotated)[1].mean() > 0.02
