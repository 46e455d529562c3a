"""The built-in rest pose: both hands relaxed in front of the lower torso (body frame).

Used as the first window's context in Stage 1, as the target of ``--mute`` and retraction
phases, and by ``HandMotion.rest``. Values are design choices for a seated or standing speaker
with elbows bent about 90°, checked by eye on rendered frames, not measured data.
"""

from __future__ import annotations

import numpy as np

from emo2cli.hands.rotations import matrix_to_axis_angle, mirror_axis_angle

# Wrist positions, metres, body frame (origin neck base, +x subject's left, +y up, +z forward).
REST_WRIST_M = np.array([[0.13, -0.42, 0.16], [-0.13, -0.42, 0.16]], dtype=np.float32)  # [2, 3] left, right

# Relaxed finger curl (radians of flexion per joint level: MCP, PIP, DIP), thumb slightly flexed.
_REST_CURL = (0.25, 0.35, 0.2)


def _right_wrist_rotation() -> np.ndarray:
    """Right-hand wrist rotation [3, 3]: MANO rest (fingers -x, palm -y, thumb +z) → resting pose.

    At rest the right hand's fingers point forward and inward (+z, +x) and slightly down; the
    palm faces inward and down, toward the other hand.
    """
    return wrist_rotation([0.45, -0.25, 0.85], [0.55, -0.8, -0.1])


def wrist_rotation(fingers: np.ndarray, palm: np.ndarray) -> np.ndarray:
    """Right-hand wrist rotation [3, 3] that points the fingers along ``fingers`` with the palm facing ``palm``.

    Args:
        fingers: [3] direction the fingers point, body frame (need not be unit length).
        palm: [3] direction the palm faces; its component along ``fingers`` is ignored.

    Returns:
        [3, 3] float64 matrix taking the MANO rest frame (fingers -x, palm -y, thumb +z) to the
        body frame. For the left hand, mirror the result's axis-angle (``mirror_axis_angle``).
    """
    fingers = np.asarray(fingers, np.float64) / np.linalg.norm(fingers)
    palm = np.asarray(palm, np.float64)
    palm = palm - fingers * palm.dot(fingers)
    palm /= np.linalg.norm(palm)
    # Rest-frame axes expressed in the body frame: -x → fingers, -y → palm, z = x × y.
    x_axis, y_axis = -fingers, -palm
    z_axis = np.cross(x_axis, y_axis)
    return np.stack([x_axis, y_axis, z_axis], axis=1)


def rest_finger_pose() -> np.ndarray:
    """[2, 15, 3] float32 axis-angle of a relaxed curl (flexion about +z for the right hand, -z for the left)."""
    right = np.zeros((15, 3), np.float32)
    for finger in range(4):  # index, middle, pinky, ring
        for level in range(3):
            right[finger * 3 + level, 2] = _REST_CURL[level]
    right[12:15, 2] = (0.1, 0.2, 0.15)  # thumb CMC, MCP, IP
    return np.stack([mirror_axis_angle(right), right]).astype(np.float32)


def rest_pose() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (global_orient [2, 3], hand_pose [2, 15, 3], transl [2, 3]), float32, left then right."""
    right = matrix_to_axis_angle(_right_wrist_rotation())
    orient = np.stack([mirror_axis_angle(right), right]).astype(np.float32)
    return orient, rest_finger_pose(), REST_WRIST_M.copy()
