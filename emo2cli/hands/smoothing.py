"""Temporal filtering of hand motion: smoothing on the rotation manifold, and resampling in time.

One implementation serves ``edit-hands --smooth`` / ``--retime``, importing data recorded at
another frame rate, and the tracker's jitter filter.

Smoothing. Rotations are never averaged as raw axis-angle (which wraps at π and is not linear):
each frame's rotation is replaced by the Gaussian-weighted mean of its neighbours computed in
the tangent space around a running centre, ``c ← c · exp(Σ w_s log(c⁻¹ q_s) / Σ w_s)``, starting
at the frame's own rotation (two Karcher-mean iterations; the first is already exact to second
order for the small spreads of a temporal window). ``log(c⁻¹ q)`` goes through the canonical
(w ≥ 0) quaternion, so the sign ambiguity q ≡ -q is resolved toward the short arc. Positions get
the same Gaussian weights. Frames whose mask is false neither contribute nor change; near the
ends the truncated kernel is renormalised (no padding, so the first and last frames do not drift
toward a mirrored copy).

Resampling. A fractional source index ``s`` reads rotations by slerp between frames ⌊s⌋ and
⌊s⌋+1 and positions by linear interpolation. Masks use the nearest/AND rule: a new frame that
falls on a source frame (to 1e-6 of a frame) takes that frame's mask, one that falls between two
frames is valid only when both are.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from emo2cli.formats.hands import HandMotion
from emo2cli.hands.rotations import (
    axis_angle_to_quat,
    canonical_quat,
    quat_conjugate,
    quat_multiply,
    quat_to_axis_angle,
    slerp,
)

_ON_FRAME = 1e-6  # a fractional index this close to an integer is that frame (mask rule)


# ---------------------------------------------------------------------------------------------
# Smoothing
# ---------------------------------------------------------------------------------------------


def gaussian_weights(sigma_frames: float, truncate: float = 3.0) -> np.ndarray:
    """[2R+1] float64 Gaussian kernel (unnormalised, centre weight 1), R = ceil(truncate · sigma)."""
    if not sigma_frames > 0:
        raise ValueError(f"sigma_frames must be > 0, got {sigma_frames!r}")
    radius = max(1, int(np.ceil(truncate * sigma_frames)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.exp(-0.5 * (offsets / sigma_frames) ** 2)


def _frame_weights(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Mask [T, ...] (a prefix of ``shape``) → float64 weights broadcastable to ``shape``."""
    if mask is None:
        return np.ones(shape[:1] + (1,) * (len(shape) - 1))
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape[: mask.ndim]:
        raise ValueError(f"mask shape {list(mask.shape)} is not a prefix of {list(shape)}")
    return mask.reshape(mask.shape + (1,) * (len(shape) - mask.ndim)).astype(np.float64)


def _shifted(x: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """x[t + offset] for every t (edge frames repeated) and [T] validity of that neighbour."""
    num_frames = x.shape[0]
    index = np.arange(num_frames) + offset
    inside = (index >= 0) & (index < num_frames)
    return x[np.clip(index, 0, num_frames - 1)], inside


def smooth_positions(x: np.ndarray, sigma_frames: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing along the frame axis of any [T, ...] array (positions, scores).

    Args:
        x: [T, ...] values (e.g. [T, 2, 3] wrist positions, metres).
        sigma_frames: Gaussian standard deviation in frames (> 0).
        mask: optional [T, ...] bool with a prefix of ``x``'s shape; false frames neither
            contribute nor change.

    Returns:
        [T, ...] float64.
    """
    x = np.asarray(x, dtype=np.float64)
    valid = _frame_weights(mask, x.shape)
    kernel = gaussian_weights(sigma_frames)
    radius = len(kernel) // 2
    total = np.zeros_like(x)
    weight = np.zeros(np.broadcast_shapes(x.shape, valid.shape))
    for k, w in zip(range(-radius, radius + 1), kernel):
        xs, inside = _shifted(x, k)
        vs, _ = _shifted(valid, k)
        ws = w * vs * inside.reshape((-1,) + (1,) * (x.ndim - 1))
        total += ws * xs
        weight += ws
    out = total / np.maximum(weight, 1e-12)
    return np.where((valid > 0) & (weight > 0), out, x)


def _tangent_mean(centre: np.ndarray, samples: list[np.ndarray], weights: list[np.ndarray]) -> np.ndarray:
    """Weighted mean rotation vector of ``samples`` seen from ``centre``: Σ w log(c⁻¹ q) / Σ w.

    centre [..., 4]; samples: list of [..., 4]; weights: list of [...] (≥ 0). Returns [..., 3].
    """
    inv = quat_conjugate(canonical_quat(centre))
    total = np.zeros(centre.shape[:-1] + (3,))
    weight_sum = np.zeros(centre.shape[:-1] + (1,))
    for q, w in zip(samples, weights):
        w = w[..., None]
        total += w * quat_to_axis_angle(quat_multiply(inv, q))  # canonical → short arc
        weight_sum += w
    return total / np.maximum(weight_sum, 1e-12)


def _step(centre: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    return canonical_quat(quat_multiply(centre, axis_angle_to_quat(tangent)))


def mean_quaternion(quat: np.ndarray, weights: np.ndarray | None = None, iterations: int = 3) -> np.ndarray:
    """Weighted Karcher mean over the first axis of [N, ..., 4] quaternions → [..., 4] (w ≥ 0).

    Args:
        quat: [N, ..., 4] unit quaternions (any sign).
        weights: optional [N, ...] non-negative weights (e.g. a mask); all zero → the first sample.
        iterations: tangent-space refinement steps (3 is plenty for spreads below ~90°).
    """
    quat = canonical_quat(quat)
    w = np.ones(quat.shape[:-1]) if weights is None else np.asarray(weights, dtype=np.float64) * np.ones(quat.shape[:-1])
    # Start from the sample with the largest weight so an all-masked leading frame is not the seed.
    centre = np.take_along_axis(quat, np.argmax(w, axis=0)[None, ..., None], axis=0)[0]
    for _ in range(iterations):
        centre = _step(centre, _tangent_mean(centre, list(quat), list(w)))
    return centre


def smooth_quaternions(quat: np.ndarray, sigma_frames: float, mask: np.ndarray | None = None, iterations: int = 2) -> np.ndarray:
    """Gaussian smoothing of [T, ..., 4] rotations on the manifold (see the module docstring).

    Args:
        quat: [T, ..., 4] unit quaternions (w, x, y, z), any sign.
        sigma_frames: Gaussian standard deviation in frames (> 0).
        mask: optional [T, ...] bool (prefix of ``quat.shape[:-1]``); false frames neither
            contribute nor change.
        iterations: running-mean refinements per frame.

    Returns:
        [T, ..., 4] float64 unit quaternions, w ≥ 0.
    """
    quat = canonical_quat(quat)
    valid = _frame_weights(mask, quat.shape[:-1])
    valid = np.broadcast_to(valid, quat.shape[:-1])
    kernel = gaussian_weights(sigma_frames)
    radius = len(kernel) // 2
    samples, weights = [], []
    for k, w in zip(range(-radius, radius + 1), kernel):
        qs, inside = _shifted(quat, k)
        vs, _ = _shifted(valid, k)
        samples.append(qs)
        weights.append(w * vs * inside.reshape((-1,) + (1,) * (vs.ndim - 1)))
    centre = quat
    for _ in range(iterations):
        centre = _step(centre, _tangent_mean(centre, samples, weights))
    return np.where(valid[..., None] > 0, centre, quat)


def smooth_axis_angle(aa: np.ndarray, sigma_frames: float, mask: np.ndarray | None = None) -> np.ndarray:
    """[T, ..., 3] axis-angle → smoothed [T, ..., 3] axis-angle (angles in [0, π]), via quaternions."""
    return quat_to_axis_angle(smooth_quaternions(axis_angle_to_quat(aa), sigma_frames, mask))


def smooth_hands(hands: HandMotion, sigma_s: float) -> HandMotion:
    """Smooth every rotation (on the manifold) and the wrist positions of a HandMotion.

    Args:
        hands: the motion; its mask decides which frames take part (per hand).
        sigma_s: Gaussian standard deviation in seconds (converted with ``hands.fps``).

    Returns:
        A new HandMotion (same length, mask and meta); float32, angles in [0, π].
    """
    sigma_frames = sigma_s * hands.fps
    rot = np.concatenate([hands.global_orient[:, :, None], hands.hand_pose], axis=2)  # [T, 2, 16, 3]
    rot = smooth_axis_angle(rot, sigma_frames, hands.mask)
    return dataclasses.replace(
        hands,
        global_orient=rot[:, :, 0].astype(np.float32),
        hand_pose=rot[:, :, 1:].astype(np.float32),
        transl=smooth_positions(hands.transl, sigma_frames, hands.mask).astype(np.float32),
        meta=dict(hands.meta),
    )


# ---------------------------------------------------------------------------------------------
# Resampling in time
# ---------------------------------------------------------------------------------------------


def resample_index(num_frames: int, src_fps: float, dst_fps: float, speed: float = 1.0) -> np.ndarray:
    """Fractional source-frame index of every output frame.

    The output lasts ``num_frames / src_fps / speed`` seconds at ``dst_fps``, i.e.
    ``max(1, round(num_frames · dst_fps / (src_fps · speed)))`` frames; output frame j reads the
    source at time ``j / dst_fps · speed``. Indices past the last frame hold the last frame.

    Returns:
        [T_out] float64 indices in [0, num_frames - 1].
    """
    if num_frames < 1 or not (src_fps > 0 and dst_fps > 0 and speed > 0):
        raise ValueError(f"bad resampling arguments: frames={num_frames}, fps {src_fps}→{dst_fps}, speed={speed}")
    step = src_fps * speed / dst_fps  # source frames per output frame
    num_out = max(1, int(round(num_frames / step)))
    return np.minimum(np.arange(num_out) * step, num_frames - 1.0)


def _bracket(index: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = np.asarray(index, dtype=np.float64)
    if num_frames == 1:
        zeros = np.zeros(index.shape, np.int64)
        return zeros, zeros, np.zeros(index.shape)
    i0 = np.clip(np.floor(index).astype(np.int64), 0, num_frames - 2)
    return i0, i0 + 1, np.clip(index - i0, 0.0, 1.0)


def resample_positions(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Linear interpolation of [T, ...] at fractional frame indices [T'] → [T', ...] float64."""
    x = np.asarray(x, dtype=np.float64)
    i0, i1, frac = _bracket(index, x.shape[0])
    frac = frac.reshape((-1,) + (1,) * (x.ndim - 1))
    return (1.0 - frac) * x[i0] + frac * x[i1]


def resample_quaternions(quat: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Slerp of [T, ..., 4] rotations at fractional frame indices [T'] → [T', ..., 4] (w ≥ 0)."""
    i0, i1, frac = _bracket(index, quat.shape[0])
    frac = np.broadcast_to(frac.reshape((-1,) + (1,) * (quat.ndim - 2)), (len(frac),) + quat.shape[1:-1])
    return slerp(quat[i0], quat[i1], frac)


def resample_mask(mask: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Nearest/AND rule for [T, ...] bool at fractional indices [T'] → [T', ...] bool."""
    mask = np.asarray(mask, dtype=bool)
    i0, i1, frac = _bracket(index, mask.shape[0])
    frac = frac.reshape((-1,) + (1,) * (mask.ndim - 1))
    both = mask[i0] & mask[i1]
    return np.where(frac <= _ON_FRAME, mask[i0], np.where(frac >= 1.0 - _ON_FRAME, mask[i1], both))


def resample_hands(hands: HandMotion, fps: float | None = None, speed: float = 1.0) -> HandMotion:
    """Resample a HandMotion to another frame rate and/or play it ``speed`` times as fast.

    Args:
        hands: the motion.
        fps: output frame rate (default: the same as ``hands.fps``).
        speed: > 1 plays faster (fewer frames), < 1 slower; the duration becomes ``duration / speed``.

    Returns:
        A new HandMotion; ``speed = 1`` at the same fps returns the same values (float tolerance).
    """
    dst_fps = float(hands.fps if fps is None else fps)
    index = resample_index(hands.num_frames, hands.fps, dst_fps, speed)
    rot = np.concatenate([hands.global_orient[:, :, None], hands.hand_pose], axis=2)  # [T, 2, 16, 3]
    rot = quat_to_axis_angle(resample_quaternions(axis_angle_to_quat(rot), index))
    return dataclasses.replace(
        hands,
        fps=dst_fps,
        global_orient=rot[:, :, 0].astype(np.float32),
        hand_pose=rot[:, :, 1:].astype(np.float32),
        transl=resample_positions(hands.transl, index).astype(np.float32),
        mask=resample_mask(hands.mask, index),
        score=None if hands.score is None else resample_positions(hands.score, index).astype(np.float32),
        meta=dict(hands.meta),
    )
