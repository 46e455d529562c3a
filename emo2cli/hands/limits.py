"""Human joint limits for finger rotations and wrist reach (research note hands-data.md §2.7).

Finger limits are ranges of the rotation-vector components of each MANO ``hand_pose`` joint in
its rest frame, right-hand convention: x runs along the finger (twist), y is the palm normal
(abduction, + toward the thumb), z is the flexion axis (+ curls toward the palm). The left hand
uses the mirror rule (axis-angle (x, y, z) → (x, -y, -z)), so its limits are the mirrored ranges.
Component ranges are an approximation of a joint's range of motion (exact for single-axis bends,
close for the small combined rotations fingers make).

Values (degrees): MCP flexion -30..90, abduction ±20; PIP flexion 0..110; DIP flexion 0..80 (the
note's typical active ranges). The twist and the PIP/DIP side bend ranges (±10-15°) are design
values: the note gives none. The thumb's MANO axes are not its anatomical axes (its bone points
about (-0.6, -0.1, 0.8)), so each thumb component gets the joint's largest range symmetrically
(CMC ±45, MCP ±60, IP ±80).

Reach: a wrist stays within ``ARM_REACH_M`` of its shoulder (body frame, shoulders at ±0.18 m on
x: the neutral 0.36 m shoulder width of DESIGN §2). 0.55 m = upper arm + forearm of an adult of
about 1.75 m (Drillis-Contini ratios, note §3.3), a design value.

Clipping takes an optional ``reference`` (the values before an edit): the range is widened to
include it, so an edit never pushes a joint further out than its input already was, and an
identity edit of an out-of-range input changes nothing.
"""

from __future__ import annotations

import numpy as np

from emo2cli.hands.rotations import mirror_axis_angle

_FINGER_DEG = {  # per level: (x twist, y abduction, z flexion) ranges
    1: ((-15, 15), (-20, 20), (-30, 90)),
    2: ((-10, 10), (-10, 10), (0, 110)),
    3: ((-10, 10), (-10, 10), (0, 80)),
}
_THUMB_DEG = {1: 45, 2: 60, 3: 80}

# [15, 3, 2] (low, high) radians, right hand, MANO order index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3.
FINGER_LIMITS_RAD = np.deg2rad(
    np.array(
        [_FINGER_DEG[level] for _finger in range(4) for level in (1, 2, 3)]
        + [[(-_THUMB_DEG[level], _THUMB_DEG[level])] * 3 for level in (1, 2, 3)],
        dtype=np.float64,
    )
)

SHOULDER_M = np.array([[0.18, 0.0, 0.0], [-0.18, 0.0, 0.0]])  # [2, 3] left, right; body frame
ARM_REACH_M = 0.55


def _widen(low: np.ndarray, high: np.ndarray, reference: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if reference is None:
        return low, high
    return np.minimum(low, reference), np.maximum(high, reference)


def clip_hand_pose(hand_pose: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Clip finger rotations of both hands to the joint limits.

    Args:
        hand_pose: [..., 2, 15, 3] axis-angle, hand 0 left, 1 right (MANO order, flat-hand-mean).
        reference: optional array of the same shape whose values widen the limits (see module).

    Returns:
        [..., 2, 15, 3] float64 axis-angle.
    """
    hand_pose = np.asarray(hand_pose, dtype=np.float64)
    if hand_pose.shape[-3:] != (2, 15, 3):
        raise ValueError(f"expected [..., 2, 15, 3], got {list(hand_pose.shape)}")
    # Work in the right-hand convention: mirror the left hand in, clip, mirror it back out.
    flip = np.stack([mirror_axis_angle(np.ones(3)), np.ones(3)])[:, None, :]  # [2, 1, 3]
    pose = hand_pose * flip
    ref = None if reference is None else np.asarray(reference, dtype=np.float64) * flip
    low, high = _widen(FINGER_LIMITS_RAD[..., 0], FINGER_LIMITS_RAD[..., 1], ref)
    return np.clip(pose, low, high) * flip


def clip_reach(transl: np.ndarray, reference: np.ndarray | None = None, reach_m: float = ARM_REACH_M) -> np.ndarray:
    """Pull wrists that are further than ``reach_m`` from their shoulder back onto that sphere.

    Args:
        transl: [..., 2, 3] wrist positions, metres, body frame.
        reference: optional [..., 2, 3] positions whose distances widen the reach (see module).

    Returns:
        [..., 2, 3] float64.
    """
    offset = np.asarray(transl, dtype=np.float64) - SHOULDER_M
    dist = np.linalg.norm(offset, axis=-1, keepdims=True)
    limit = np.full_like(dist, reach_m)
    if reference is not None:
        limit = np.maximum(limit, np.linalg.norm(np.asarray(reference, np.float64) - SHOULDER_M, axis=-1, keepdims=True))
    return SHOULDER_M + offset * np.minimum(1.0, limit / np.maximum(dist, 1e-12))
