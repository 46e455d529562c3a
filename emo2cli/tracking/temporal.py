"""Tracked hands over time: short dropouts filled, long ones masked (DESIGN §2 ``mask``).

A hand unseen for at most ``max_gap_frames`` frames between two seen frames is filled in:
rotations by slerp, wrist positions linearly, between the two seen frames around the gap (the
resampling of :mod:`emo2cli.hands.smoothing`, applied to the seen frames only), and its mask is
true. Longer gaps, and the frames before the first and after the last sighting, keep a mask of
false; their values are filled the same way (held at the ends) so the file stays continuous for
tools that ignore the mask. A hand never seen holds the built-in rest pose. The ``score`` of a
frame that was filled, not seen, is 0.
"""

from __future__ import annotations

import numpy as np

from emo2cli.hands.rest import rest_pose
from emo2cli.hands.rotations import axis_angle_to_quat, quat_to_axis_angle
from emo2cli.hands.smoothing import resample_positions, resample_quaternions


def _gap_lengths(seen: np.ndarray) -> np.ndarray:
    """[T] bool → [T] int: for an unseen frame, the length of its run of unseen frames (0 where seen)."""
    lengths = np.zeros(len(seen), np.int64)
    t = 0
    while t < len(seen):
        if seen[t]:
            t += 1
            continue
        end = t
        while end < len(seen) and not seen[end]:
            end += 1
        lengths[t:end] = end - t
        t = end
    return lengths


def fill_dropouts(
    rotations: np.ndarray, transl: np.ndarray, seen: np.ndarray, max_gap_frames: int, hand: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the unseen frames of one hand and decide its mask.

    Args:
        rotations: [T, 16, 3] axis-angle (wrist, then the 15 finger joints); unseen frames ignored.
        transl: [T, 3] wrist positions; unseen frames ignored (may be NaN).
        seen: [T] bool, frames where the hand was observed.
        max_gap_frames: longest run of unseen frames that is filled and marked valid.
        hand: 0 left, 1 right (the rest pose of a hand never seen).

    Returns:
        (rotations [T, 16, 3] float64, transl [T, 3] float64, mask [T] bool), finite everywhere.
    """
    seen = np.asarray(seen, bool)
    num_frames = len(seen)
    if not seen.any():
        orient, pose, wrist = rest_pose()
        return (
            np.broadcast_to(np.concatenate([orient[hand][None], pose[hand]])[None], (num_frames, 16, 3)).astype(np.float64),
            np.broadcast_to(wrist[hand], (num_frames, 3)).astype(np.float64),
            np.zeros(num_frames, bool),
        )
    index = np.flatnonzero(seen)
    # fractional position of every frame in the sequence of seen frames (held beyond the ends)
    position = np.interp(np.arange(num_frames), index, np.arange(len(index)))
    quat = resample_quaternions(axis_angle_to_quat(np.asarray(rotations, np.float64)[index]), position)
    filled_transl = resample_positions(np.asarray(transl, np.float64)[index], position)
    inside = (np.arange(num_frames) > index[0]) & (np.arange(num_frames) < index[-1])
    mask = seen | (inside & (_gap_lengths(seen) <= max_gap_frames))
    return quat_to_axis_angle(quat), filled_transl, mask
