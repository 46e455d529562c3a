"""The Stage 1 model vector: 134 values per frame (DESIGN §2, "Model representation").

Per hand (left first): 16 unit quaternions (w, x, y, z; w ≥ 0) for the wrist rotation and the 15
finger joints in MANO order, then the wrist translation (3, metres) = 67; two hands = 134. The
vector never goes to disk; ``HandMotion`` is the file form.
"""

from __future__ import annotations

import numpy as np

from emo2cli.formats.hands import HandMotion
from emo2cli.hands.rotations import axis_angle_to_quat, quat_to_axis_angle

PER_HAND = 16 * 4 + 3
VECTOR_DIM = 2 * PER_HAND  # 134


def hands_to_vector(hands: HandMotion) -> np.ndarray:
    """HandMotion → [T, 134] float32 (mask is not part of the vector; keep ``hands.mask`` beside it)."""
    return pose_to_vector(hands.global_orient, hands.hand_pose, hands.transl)


def pose_to_vector(global_orient: np.ndarray, hand_pose: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """([T, 2, 3], [T, 2, 15, 3], [T, 2, 3]) → [T, 134] float32."""
    rot = np.concatenate([global_orient[:, :, None, :], hand_pose], axis=2)  # [T, 2, 16, 3]
    quat = axis_angle_to_quat(rot).reshape(rot.shape[0], 2, 64)  # [T, 2, 64]
    per_hand = np.concatenate([quat, np.asarray(transl, np.float64)], axis=-1)  # [T, 2, 67]
    return per_hand.reshape(rot.shape[0], VECTOR_DIM).astype(np.float32)


def vector_to_pose(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[T, 134] → (global_orient [T, 2, 3], hand_pose [T, 2, 15, 3], transl [T, 2, 3]), float32.

    Quaternions are renormalised (model outputs are not exactly unit length).
    """
    vector = np.asarray(vector, dtype=np.float64)
    if vector.ndim != 2 or vector.shape[1] != VECTOR_DIM:
        raise ValueError(f"expected [T, {VECTOR_DIM}], got {list(vector.shape)}")
    per_hand = vector.reshape(-1, 2, PER_HAND)
    rot = quat_to_axis_angle(per_hand[:, :, :64].reshape(-1, 2, 16, 4))  # [T, 2, 16, 3]
    return (
        rot[:, :, 0].astype(np.float32),
        rot[:, :, 1:].astype(np.float32),
        per_hand[:, :, 64:].astype(np.float32),
    )


def vector_to_hands(vector: np.ndarray, fps: float, mask: np.ndarray | None = None, meta: dict | None = None) -> HandMotion:
    """[T, 134] → HandMotion (mask all true unless given)."""
    orient, pose, transl = vector_to_pose(vector)
    return HandMotion(
        fps=float(fps),
        global_orient=orient,
        hand_pose=pose,
        transl=transl,
        mask=np.ones((len(orient), 2), bool) if mask is None else np.asarray(mask, bool),
        meta=dict(meta or {}),
    )
