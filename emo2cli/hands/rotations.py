"""Rotations: axis-angle ↔ unit quaternion (w, x, y, z; canonical w ≥ 0) ↔ 3×3 matrix, slerp.

All functions take numpy arrays with the rotation in the last axis (``[..., 3]`` axis-angle in
radians, ``[..., 4]`` quaternion, ``[..., 3, 3]`` matrix) and compute in float64 internally.
Axis-angle → quaternion → axis-angle is exact to float precision for angles in [0, π]; the
angle of every returned axis-angle lies in [0, π].
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle (radians) → [..., 4] unit quaternion (w, x, y, z), w ≥ 0 for angles ≤ π."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(θ/2)/θ, with its Taylor series near 0 so tiny rotations stay exact.
    small = angle < 1e-6
    scale = np.where(small, 0.5 - angle**2 / 48.0, np.sin(half) / np.where(small, 1.0, angle))
    quat = np.concatenate([np.cos(half), aa * scale], axis=-1)
    return canonical_quat(quat)


def canonical_quat(quat: np.ndarray) -> np.ndarray:
    """[..., 4] → the same rotations with unit norm and w ≥ 0 (q and -q are the same rotation)."""
    quat = np.asarray(quat, dtype=np.float64)
    norm = np.linalg.norm(quat, axis=-1, keepdims=True)
    quat = quat / np.maximum(norm, _EPS)
    return np.where(quat[..., :1] < 0, -quat, quat)


def quat_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """[..., 4] quaternion (any sign, any norm > 0) → [..., 3] axis-angle with angle in [0, π]."""
    quat = canonical_quat(quat)
    w, v = quat[..., :1], quat[..., 1:]
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(n, w)
    small = n < 1e-6
    # θ / sin(θ/2) → 2/w (1 + n²/(6 w²)) as n → 0
    scale = np.where(small, 2.0 / np.maximum(w, _EPS) * (1.0 + n**2 / 6.0), angle / np.where(small, 1.0, n))
    return v * scale


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a ⊗ b of [..., 4] quaternions (apply b first, then a)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., :1], -q[..., 1:]], axis=-1)


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """[..., 4] quaternion → [..., 3, 3] rotation matrix."""
    q = canonical_quat(quat)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def matrix_to_quat(mat: np.ndarray) -> np.ndarray:
    """[..., 3, 3] rotation matrix → [..., 4] unit quaternion, w ≥ 0 (Shepperd's method, stable)."""
    m = np.asarray(mat, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate solutions; take the one with the largest pivot for each rotation.
    cands = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )
    pivots = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(pivots, axis=-1)
    quat = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    return canonical_quat(quat)


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle → [..., 3, 3]."""
    return quat_to_matrix(axis_angle_to_quat(aa))


def matrix_to_axis_angle(mat: np.ndarray) -> np.ndarray:
    """[..., 3, 3] → [..., 3] axis-angle, angle in [0, π]."""
    return quat_to_axis_angle(matrix_to_quat(mat))


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation of [..., 4] quaternions along the shorter arc; t in [0, 1] broadcasts."""
    q0 = canonical_quat(q0)
    q1 = canonical_quat(q1)
    t = np.asarray(t, dtype=np.float64)[..., None]  # broadcasts against q0.shape[:-1]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(near, 1.0, sin_theta))
    w1 = np.where(near, t, np.sin(t * theta) / np.where(near, 1.0, sin_theta))
    return canonical_quat(w0 * q0 + w1 * q1)


def mirror_axis_angle(aa: np.ndarray) -> np.ndarray:
    """Left ↔ right reflection of [..., 3] axis-angle across the body's x = 0 plane: (x, y, z) → (x, -y, -z)."""
    aa = np.asarray(aa)
    return aa * np.array([1.0, -1.0, -1.0], dtype=aa.dtype)
