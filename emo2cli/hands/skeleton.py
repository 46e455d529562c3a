"""The built-in 21-joint hand: rest skeleton and forward kinematics, no MANO files needed.

Layout (OpenPose / MediaPipe order): 0 wrist; 1-4 thumb CMC, MCP, IP, tip; 5-8 index MCP, PIP,
DIP, tip; 9-12 middle; 13-16 ring; 17-20 pinky. The 15 rotating joints map one-to-one onto
MANO's 15 (index1 = index MCP ... thumb1 = thumb CMC), so the hand consumes the ``hand_pose``
``[15, 3]`` of a hands file unchanged, in MANO's joint order (index, middle, pinky, ring, thumb)
and frames: each rotation is relative to the parent joint, applied at the joint itself, and it
turns the bones below that joint.

Rest frame (MANO's, right hand): fingers point -x, the palm faces -y, the thumb is toward +z;
the left hand is the x-mirror. With the mirror rule of :func:`~emo2cli.hands.rotations.mirror_axis_angle`
(axis-angle (x, y, z) → (x, -y, -z)) the same code serves both hands: right-hand flexion is a
rotation about +z, left-hand flexion about -z.

Rest offsets (``_RIGHT_REST_MM``): phalanx lengths are the mean adult bone lengths of Buryanov &
Kotiuk 2010, "Proportions of hand segments", Int. J. Morphol. 28(3):755-758,
doi:10.4067/S0717-95022010000300015 (as transcribed in public code; the distal segment adds the
soft tissue past the distal bone so the tip is the fingertip, not the bone end). The wrist-to-MCP
offsets (metacarpal + ~20 mm of carpus), the finger fan and the thumb base are design values of
the research note ``hands-data.md`` §2.7. The resulting wrist-to-middle-fingertip length is
184 mm, an average adult hand (about 19 cm men, 17-18 cm women). These are not MANO template
numbers; ``tests/test_hands_kinematics.py`` compares them with MANO's joints when real MANO files
are configured.

The built-in hand ignores ``betas`` (MANO shape); scale it with ``scale`` if needed.
"""

from __future__ import annotations

import numpy as np

from emo2cli.hands.rotations import axis_angle_to_matrix

JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
NUM_JOINTS = 21
FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
# [5, 4] joint indices of each finger's chain (base → tip), fingers in OpenPose order.
FINGER_CHAINS = np.arange(1, 21).reshape(5, 4)
TIPS = FINGER_CHAINS[:, 3]

# MANO hand_pose joint (0-14: index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3) of each rotating
# OpenPose joint, per finger and level: [5 fingers (thumb, index, middle, ring, pinky), 3 levels].
MANO_OF_FINGER_LEVEL = np.array([[12, 13, 14], [0, 1, 2], [3, 4, 5], [9, 10, 11], [6, 7, 8]])
# OpenPose joint of each of the 15 MANO hand_pose joints.
OPENPOSE_OF_MANO = np.empty(15, np.int64)
OPENPOSE_OF_MANO[MANO_OF_FINGER_LEVEL.ravel()] = FINGER_CHAINS[:, :3].ravel()
# MANO's 16 joints + 5 tips (thumb, index, middle, ring, pinky appended as 16-20) → OpenPose 21.
OPENPOSE_FROM_MANO21 = np.array([0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20])

# OpenPose / MediaPipe bones (child, parent) and the palm edges MediaPipe also draws.
BONES: tuple[tuple[int, int], ...] = tuple((j, p) for j, p in enumerate(PARENTS) if p >= 0)
PALM_EDGES: tuple[tuple[int, int], ...] = ((5, 9), (9, 13), (13, 17))


def _finger(base_mm: tuple[float, float, float], direction: tuple[float, float, float], lengths_mm: tuple[float, ...]) -> list:
    d = np.asarray(direction, np.float64)
    d /= np.linalg.norm(d)
    points = [np.asarray(base_mm, np.float64)]
    for length in lengths_mm:
        points.append(points[-1] + length * d)
    return points


def _fan(deg: float) -> tuple[float, float, float]:
    """Direction -x turned by ``deg`` about +y (positive fans toward the thumb, +z)."""
    a = np.deg2rad(deg)
    return (-np.cos(a), 0.0, np.sin(a))


def _right_rest_mm() -> np.ndarray:
    """[21, 3] float64, right-hand rest joints in millimetres, wrist at the origin (see module docstring)."""
    joints = [np.zeros(3)]
    # thumb: CMC base, metacarpal 46.22, proximal 31.57, distal 21.67 + 5.67 soft tissue
    joints += _finger((-25.0, -12.0, 25.0), (-0.6, -0.1, 0.8), (46.22, 31.57, 21.67 + 5.67))
    # fingers: MCP position, fan angle, proximal / middle / distal (+ soft tissue) phalanx lengths
    joints += _finger((-88.0, 0.0, 20.0), _fan(5.0), (39.78, 22.38, 15.82 + 3.84))  # index
    joints += _finger((-92.0, 0.0, 0.0), _fan(0.0), (44.63, 26.33, 17.40 + 3.95))  # middle
    joints += _finger((-85.0, 0.0, -18.0), _fan(-5.0), (41.37, 25.65, 17.30 + 3.95))  # ring
    joints += _finger((-76.0, 0.0, -35.0), _fan(-10.0), (32.57, 18.11, 15.96 + 3.73))  # pinky
    return np.stack(joints)


_RIGHT_REST_M = (_right_rest_mm() / 1000.0).astype(np.float64)
_MIRROR_X = np.array([-1.0, 1.0, 1.0])


def rest_joints(hand: int, scale: float = 1.0) -> np.ndarray:
    """Rest (flat hand, zero pose) joints of the built-in hand.

    Args:
        hand: 0 left, 1 right.
        scale: uniform size factor (1 = the average adult hand, 184 mm wrist to middle tip).

    Returns:
        [21, 3] float64, metres, MANO rest frame (right hand: fingers -x, palm -y, thumb +z; the
        left hand is the x-mirror), wrist at the origin.
    """
    if hand not in (0, 1):
        raise ValueError(f"hand must be 0 (left) or 1 (right), got {hand!r}")
    joints = _RIGHT_REST_M * scale
    return joints * _MIRROR_X if hand == 0 else joints.copy()


def forward_kinematics(
    global_orient: np.ndarray,
    hand_pose: np.ndarray,
    transl: np.ndarray,
    hand: int,
    rest: np.ndarray | None = None,
) -> np.ndarray:
    """Posed joints of one hand (vectorised over any leading axes).

    Each joint's rotation is applied at that joint: ``G_j = G_parent(j) · R_j`` with
    ``G_wrist = R(global_orient)``, and ``p_j = p_parent + G_parent · (rest_j - rest_parent)``,
    the same kinematics as MANO (wrist at ``transl`` instead of MANO's ``J0 + transl``).

    Args:
        global_orient: [..., 3] wrist rotation, axis-angle (radians), body frame.
        hand_pose: [..., 15, 3] finger rotations, axis-angle, MANO order (index, middle, pinky,
            ring, thumb; 3 joints each), flat-hand-mean (zeros = flat hand).
        transl: [..., 3] wrist position, metres, body frame.
        hand: 0 left, 1 right (selects the mirrored rest skeleton).
        rest: optional [21, 3] rest joints (wrist at the origin) to use instead of the built-in.

    Returns:
        [..., 21, 3] float64 joints in metres, body frame, OpenPose order.
    """
    global_orient = np.asarray(global_orient, np.float64)
    hand_pose = np.asarray(hand_pose, np.float64)
    transl = np.asarray(transl, np.float64)
    rest = rest_joints(hand) if rest is None else np.asarray(rest, np.float64)
    lead = np.broadcast_shapes(global_orient.shape[:-1], hand_pose.shape[:-2], transl.shape[:-1])

    wrist_rot = axis_angle_to_matrix(global_orient)  # [..., 3, 3]
    finger_rot = axis_angle_to_matrix(hand_pose[..., MANO_OF_FINGER_LEVEL, :])  # [..., 5, 3, 3, 3]
    bones = rest[FINGER_CHAINS] - rest[np.concatenate([[[0]] * 5, FINGER_CHAINS[:, :3]], axis=1)]  # [5, 4, 3]

    joints = np.empty((*lead, NUM_JOINTS, 3), np.float64)
    joints[..., 0, :] = transl
    # Walk the four levels of all five fingers at once: the bone to level k is turned by the
    # parent's global rotation; then that rotation composes with the joint's own.
    parent_rot = np.broadcast_to(wrist_rot[..., None, :, :], (*lead, 5, 3, 3))
    parent_pos = np.broadcast_to(transl[..., None, :], (*lead, 5, 3))
    for level in range(4):
        pos = parent_pos + np.einsum("...fij,fj->...fi", parent_rot, bones[:, level])
        joints[..., FINGER_CHAINS[:, level], :] = pos
        if level < 3:
            parent_rot = parent_rot @ finger_rot[..., level, :, :]
            parent_pos = pos
    return joints


def hands_joints(hands, rest: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """All joints of both hands of a :class:`~emo2cli.formats.hands.HandMotion`.

    Masked frames are computed like any other (the mask is the caller's business).

    Args:
        hands: a HandMotion (``global_orient`` [T, 2, 3], ``hand_pose`` [T, 2, 15, 3], ``transl`` [T, 2, 3]).
        rest: optional (left, right) [21, 3] rest skeletons.

    Returns:
        [T, 2, 21, 3] float32, metres, body frame, OpenPose order; hand 0 left, 1 right.
    """
    out = [
        forward_kinematics(
            hands.global_orient[:, h], hands.hand_pose[:, h], hands.transl[:, h], h, None if rest is None else rest[h]
        )
        for h in (0, 1)
    ]
    return np.stack(out, axis=1).astype(np.float32)


def hand_length(joints: np.ndarray) -> np.ndarray:
    """Wrist-to-middle-fingertip length along the middle finger's bones (pose-invariant).

    This is the hand size PCK scales its threshold by (DESIGN §11): the sum of the wrist→MCP,
    MCP→PIP, PIP→DIP and DIP→tip distances, so a curled finger measures the same as a flat one.

    Args:
        joints: [..., 21, 3] joints (any unit), OpenPose order.

    Returns:
        [...] lengths in the joints' unit (0.184 m for the built-in rest hand).
    """
    joints = np.asarray(joints)
    chain = joints[..., [0, 9, 10, 11, 12], :]
    return np.linalg.norm(np.diff(chain, axis=-2), axis=-1).sum(-1)


REST_HAND_LENGTH_M = float(hand_length(_RIGHT_REST_M))
