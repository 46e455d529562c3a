"""Inverse kinematics: 21 hand landmarks → the built-in skeleton's ``global_orient`` + ``hand_pose``.

The fit is analytic and per frame (no optimiser), in three steps, for the right hand (a left
hand is mirrored in, fitted as a right hand and mirrored out, the rule of
:func:`~emo2cli.hands.rotations.mirror_axis_angle`):

1. **Wrist frame** from the palm: the rotation that best maps the rest knuckles (index, middle,
   ring, pinky MCP; the wrist is the fixed point) onto the landmarks (Kabsch / orthogonal
   Procrustes). Every point of the palm is rigid in the skeleton, so a skeleton pose is
   recovered exactly.
2. **Finger joints**, base to tip: each joint's rotation, in its parent's frame, is the swing
   that turns the rest bone direction onto the landmark bone direction (the shortest rotation:
   its axis is perpendicular to the bone, so it adds no twist about the bone; the twist is the
   palm's, as a bone direction cannot show it). The swing is clamped to the joint limits of
   :mod:`emo2cli.hands.limits` before the next joint is solved in the clamped parent's frame.

Hinge joints (PIP, DIP, thumb MCP and IP) bending in their plane, and two-axis MCP joints, are
exactly swings, so forward kinematics → :func:`fit_hand` gives back the same parameters.
Only bone *directions* enter the angles, so the hand's size and the skeleton's bone lengths do
not bias them. The reconstruction error (:func:`reconstruction_error`) is the distance from each
landmark to the fitted skeleton's joint after the least-squares scale and translation: what the
skeleton's proportions and the joint limits cannot follow. On mediapipe landmarks it is
dominated by proportions: mediapipe's MCP→PIP segment is about 0.65 × the skeleton's proximal
phalanx, and its bone lengths vary by 15-30 % from frame to frame (the landmarks are not a rigid
skeleton), while the bone directions are matched to about 1.3° (median).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emo2cli.hands.limits import FINGER_LIMITS_RAD
from emo2cli.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle, mirror_axis_angle
from emo2cli.hands.skeleton import FINGER_CHAINS, MANO_OF_FINGER_LEVEL, PARENTS, forward_kinematics, rest_joints

PALM_KNUCKLES = (5, 9, 13, 17)  # index, middle, ring, pinky MCP (OpenPose order)
_MIRROR_X = np.array([-1.0, 1.0, 1.0])
_BONE_CHILD = np.arange(1, 21)
_BONE_PARENT = np.asarray(PARENTS[1:])


@dataclass
class HandFit:
    """Fitted parameters of one hand, in the axes of the landmarks given to :func:`fit_hand`.

    Attributes:
        global_orient: [..., 3] float64 wrist rotation, axis-angle (radians).
        hand_pose: [..., 15, 3] float64 finger rotations, MANO order, flat-hand-mean.
        scale: [...] float64 hand size relative to the built-in skeleton (1 = 184 mm hand), the
            least-squares scale of :func:`reconstruction_error`.
        error_m: [..., 21] float64 distance (metres) from each landmark to the fitted joint,
            after that scale and a translation.
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    scale: np.ndarray
    error_m: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def palm_rotation(rest: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Kabsch: the rotation [..., 3, 3] that best maps rest knuckles onto the landmarks' (wrists at the origin).

    Args:
        rest: [21, 3] rest joints, wrist at the origin.
        joints: [..., 21, 3] landmarks, wrist at the origin.
    """
    knuckles = list(PALM_KNUCKLES)
    cov = np.einsum("ki,...kj->...ij", rest[knuckles], joints[..., knuckles, :])  # Σ r q^T
    u, _, vt = np.linalg.svd(cov)
    v = np.swapaxes(vt, -1, -2)
    d = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
    fix = np.ones(d.shape + (3,))
    fix[..., 2] = np.where(d == 0, 1.0, d)  # a reflection is turned into the nearest rotation
    return (v * fix[..., None, :]) @ np.swapaxes(u, -1, -2)


def swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest rotation (axis-angle [..., 3], axis ⊥ u) turning unit vectors ``u`` onto ``v``."""
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(u * v, axis=-1, keepdims=True)
    angle = np.arctan2(sin, cos)
    return np.where(sin > 1e-12, axis / np.maximum(sin, 1e-12) * angle, 0.0)


def _fit_right(joints: np.ndarray, clamp: bool) -> tuple[np.ndarray, np.ndarray]:
    """Right-hand fit of [N, 21, 3] landmarks with the wrist at the origin → (orient [N, 3, 3], pose [N, 15, 3])."""
    rest = rest_joints(1)
    wrist_rot = palm_rotation(rest, joints)  # [N, 3, 3]
    hand_pose = np.zeros(joints.shape[:-2] + (15, 3))
    low, high = FINGER_LIMITS_RAD[..., 0], FINGER_LIMITS_RAD[..., 1]  # [15, 3] each
    parent_rot = np.repeat(wrist_rot[:, None], 5, axis=1)  # [N, 5, 3, 3], all fingers at once
    for level in range(3):
        joint, child = FINGER_CHAINS[:, level], FINGER_CHAINS[:, level + 1]
        mano = MANO_OF_FINGER_LEVEL[:, level]
        rest_dir = _unit(rest[child] - rest[joint])  # [5, 3]
        target = np.einsum("nfji,nfj->nfi", parent_rot, joints[:, child] - joints[:, joint])  # G_parentᵀ (q_c - q_j)
        omega = swing(np.broadcast_to(rest_dir, target.shape), _unit(target))  # [N, 5, 3]
        if clamp:
            omega = np.clip(omega, low[mano], high[mano])
        hand_pose[:, mano] = omega
        parent_rot = parent_rot @ axis_angle_to_matrix(omega)
    return wrist_rot, hand_pose


def fit_hand(joints: np.ndarray, hand: int, clamp: bool = True) -> HandFit:
    """Fit the built-in skeleton to hand landmarks.

    Args:
        joints: [..., 21, 3] landmarks in metres, OpenPose / MediaPipe order, any origin, in
            any right-handed axes (the fitted ``global_orient`` is in those axes).
        hand: 0 left, 1 right (which skeleton: the landmarks must be that hand's).
        clamp: clamp every finger rotation to the human joint limits.

    Returns:
        A :class:`HandFit` (float64).
    """
    if hand not in (0, 1):
        raise ValueError(f"hand must be 0 (left) or 1 (right), got {hand!r}")
    joints = np.asarray(joints, np.float64)
    lead = joints.shape[:-2]
    flat = (joints - joints[..., :1, :]).reshape(-1, 21, 3)
    if hand == 0:
        flat = flat * _MIRROR_X
    wrist_rot, hand_pose = _fit_right(flat, clamp)
    orient = matrix_to_axis_angle(wrist_rot)
    if hand == 0:
        orient, hand_pose = mirror_axis_angle(orient), mirror_axis_angle(hand_pose)
    orient, hand_pose = orient.reshape(*lead, 3), hand_pose.reshape(*lead, 15, 3)
    scale, error_m = reconstruction_error(forward_kinematics(orient, hand_pose, np.zeros(3), hand), joints)
    return HandFit(orient, hand_pose, scale, error_m)


def reconstruction_error(fitted: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint distance after the least-squares scale and translation that align ``fitted`` to ``joints``.

    The hand's size is not a parameter of the skeleton, and hand world landmarks have no
    meaningful origin (mediapipe puts it at the hand's centre), so both are fitted; rotation is
    not (it is what the fit is judged on).

    Args:
        fitted: [..., 21, 3] skeleton joints (unit scale, any origin).
        joints: [..., 21, 3] landmarks, metres.

    Returns:
        (scale [...], error_m [..., 21]) float64.
    """
    f = fitted - fitted.mean(-2, keepdims=True)
    q = joints - joints.mean(-2, keepdims=True)
    scale = np.sum(f * q, axis=(-1, -2)) / np.maximum(np.sum(f * f, axis=(-1, -2)), 1e-12)
    return scale, np.linalg.norm(scale[..., None, None] * f - q, axis=-1)
