"""BVH export: structure, and export → parse → forward kinematics equals our own FK."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.errors import InputError
from emo2cli.hands import bvh as B
from emo2cli.hands.skeleton import JOINT_NAMES, hands_joints
from tests.conftest import random_hands

HAND_JOINTS = [prefix + name for prefix in B.HAND_PREFIX for name in JOINT_NAMES]


@pytest.mark.parametrize("unit_scale", [1.0, 100.0])
def test_bvh_joint_positions_match_forward_kinematics(tmp_path, unit_scale):
    hands = random_hands(25)
    path = B.export_bvh(hands, tmp_path / "h.bvh", unit_scale=unit_scale)
    bvh = B.read_bvh(path)
    positions = B.bvh_positions(bvh) / unit_scale
    index = [bvh.names.index(n) for n in HAND_JOINTS]
    expected = hands_joints(hands).astype(np.float64).reshape(25, 42, 3)
    error = np.abs(positions[:, index] - expected).max()
    assert error < 1e-3  # the bound: 1 mm
    assert error < 1e-5  # what 6 decimals actually give
    assert bvh.frame_time == pytest.approx(1 / 25.0)


def test_bvh_structure(tmp_path):
    path = B.export_bvh(random_hands(3), tmp_path / "h.bvh")
    bvh = B.read_bvh(path)
    joints = [n for n in bvh.names if not n.endswith("_end")]
    assert joints[0] == "body" and len(joints) == 1 + 42
    assert all(n in bvh.names for n in HAND_JOINTS)
    for name, channels in zip(bvh.names, bvh.channels):
        if name.endswith("_end"):
            assert channels == []
        else:
            assert channels[-3:] == ["Zrotation", "Xrotation", "Yrotation"]
            assert len(channels) == (6 if name in ("body", "left_wrist", "right_wrist") else 3)
    ends = [n for n in bvh.names if n.endswith("_end")]
    assert sorted(ends) == sorted(f"{p}{f}_tip_end" for p in B.HAND_PREFIX for f in ("thumb", "index", "middle", "ring", "pinky"))
    assert bvh.values.shape == (3, 6 + 2 * (6 + 20 * 3))
    with pytest.raises(InputError, match="already exists"):
        B.export_bvh(random_hands(3), path)


def test_reader_handles_other_rotation_orders(tmp_path):
    text = """HIERARCHY
ROOT r
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT a
  {
    OFFSET 1 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    End Site
    {
      OFFSET 1 0 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.04
0 0 0 0 0 90 0 0 0
"""
    (tmp_path / "x.bvh").write_text(text)
    positions = B.bvh_positions(B.read_bvh(tmp_path / "x.bvh"))
    np.testing.assert_allclose(positions[0], [[0, 0, 0], [0, 1, 0], [0, 2, 0]], atol=1e-12)  # 90° about z


def test_reader_refuses_garbage(tmp_path):
    (tmp_path / "bad.bvh").write_text("hello")
    with pytest.raises(InputError, match="not a BVH"):
        B.read_bvh(tmp_path / "bad.bvh")
    (tmp_path / "short.bvh").write_text(
        "HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 3 Xrotation Yrotation Zrotation\n}\n"
        "MOTION\nFrames: 2\nFrame Time: 0.1\n0 0 0\n"
    )
    with pytest.raises(InputError, match="shape"):
        B.read_bvh(tmp_path / "short.bvh")
