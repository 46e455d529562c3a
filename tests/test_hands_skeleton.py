"""Built-in hand skeleton: rest layout, forward kinematics, mirror symmetry, hand length."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.hands import skeleton as sk
from emo2cli.hands.rotations import mirror_axis_angle
from tests.conftest import random_hands


def _random_params(g: np.random.Generator, *lead: int):
    def aa(*shape):
        axis = g.normal(size=(*shape, 3))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        return axis * g.uniform(0, 3.0, size=(*shape, 1))

    return aa(*lead), aa(*lead, 15) * 0.5, g.normal(0, 0.2, (*lead, 3))


def test_layout_constants_agree():
    assert len(sk.JOINT_NAMES) == len(sk.PARENTS) == 21
    assert sk.PARENTS == (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
    # every MANO hand_pose joint maps to exactly one non-tip, non-wrist OpenPose joint
    assert sorted(sk.OPENPOSE_OF_MANO.tolist()) == [j for j in range(1, 21) if j not in sk.TIPS]
    assert sk.JOINT_NAMES[sk.OPENPOSE_OF_MANO[0]] == "index_mcp"
    assert sk.JOINT_NAMES[sk.OPENPOSE_OF_MANO[6]] == "pinky_mcp"
    assert sk.JOINT_NAMES[sk.OPENPOSE_OF_MANO[9]] == "ring_mcp"
    assert sk.JOINT_NAMES[sk.OPENPOSE_OF_MANO[12]] == "thumb_cmc"


def test_rest_skeleton_is_an_average_adult_hand_in_mano_frame():
    right = sk.rest_joints(1)
    assert right.shape == (21, 3)
    assert np.allclose(right[0], 0)
    assert sk.hand_length(right) == pytest.approx(0.184, abs=0.002)
    assert np.all(right[[8, 12, 16, 20], 0] < -0.14)  # fingers along -x
    assert right[4, 2] > 0.05  # thumb toward +z
    assert np.allclose(sk.rest_joints(0), right * [-1, 1, 1])
    assert np.allclose(sk.rest_joints(1, scale=0.5), right * 0.5)


def test_zero_pose_gives_the_rest_skeleton_at_transl():
    transl = np.array([[0.1, -0.4, 0.2], [-0.3, 0.0, 0.1]])
    for hand in (0, 1):
        joints = sk.forward_kinematics(np.zeros((2, 3)), np.zeros((2, 15, 3)), transl, hand)
        assert joints.shape == (2, 21, 3)
        np.testing.assert_allclose(joints, sk.rest_joints(hand)[None] + transl[:, None], atol=1e-12)


@pytest.mark.parametrize("mano_joint", [1, 0, 7, 13])  # index PIP, index MCP, pinky PIP, thumb MCP
def test_rotating_one_joint_moves_only_its_children_by_that_angle(mano_joint):
    rest = sk.rest_joints(1)
    pose = np.zeros((15, 3))
    pose[mano_joint, 2] = np.pi / 2  # 90° about +z: right-hand flexion
    joints = sk.forward_kinematics(np.zeros(3), pose, np.zeros(3), 1)
    pivot = sk.OPENPOSE_OF_MANO[mano_joint]
    finger = int(np.nonzero(sk.FINGER_CHAINS == pivot)[0][0])
    chain = sk.FINGER_CHAINS[finger].tolist()
    children = chain[chain.index(pivot) + 1 :]
    others = [j for j in range(21) if j not in children]
    np.testing.assert_allclose(joints[others], rest[others], atol=1e-12)
    for child in children:
        before, after = rest[child] - rest[pivot], joints[child] - rest[pivot]
        assert np.linalg.norm(after) == pytest.approx(np.linalg.norm(before))
        cos = before @ after / np.linalg.norm(before) / np.linalg.norm(after)
        # a rotation about z keeps the z component; the angle in the xy plane is exactly 90°
        assert after[2] == pytest.approx(before[2])
        a, b = before[:2], after[:2]
        assert np.degrees(np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b)) == pytest.approx(90.0)
        assert cos < 0.99
    if mano_joint in (0, 1, 7):  # finger flexion about +z curls toward the palm (-y) for the right hand
        assert joints[children[-1], 1] < -0.01


def test_left_hand_is_the_mirror_of_the_right(rng):
    orient, pose, transl = _random_params(rng, 7)
    right = sk.forward_kinematics(orient, pose, transl, 1)
    left = sk.forward_kinematics(mirror_axis_angle(orient), mirror_axis_angle(pose), transl * [-1, 1, 1], 0)
    np.testing.assert_allclose(left, right * [-1, 1, 1], atol=1e-12)


def test_bone_lengths_and_hand_length_are_pose_invariant(rng):
    orient, pose, transl = _random_params(rng, 5)
    joints = sk.forward_kinematics(orient, pose, transl, 1)
    rest = sk.rest_joints(1)
    for child, parent in sk.BONES:
        np.testing.assert_allclose(np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1), np.linalg.norm(rest[child] - rest[parent]))
    np.testing.assert_allclose(sk.hand_length(joints), sk.REST_HAND_LENGTH_M)


def test_hands_joints_shape_and_wrists():
    hands = random_hands(9)
    joints = sk.hands_joints(hands)
    assert joints.shape == (9, 2, 21, 3) and joints.dtype == np.float32
    np.testing.assert_allclose(joints[:, :, 0], hands.transl, atol=1e-6)
    single = sk.forward_kinematics(hands.global_orient[3, 0], hands.hand_pose[3, 0], hands.transl[3, 0], 0)
    np.testing.assert_allclose(joints[3, 0], single, atol=1e-6)
