"""Per-frame MANO fits from a hand-pose estimator → a hands file (``import-hands --from mano``).

MANO fits: one ``.npz`` for the sequence, or a folder of per-frame ``.npz`` files sorted by
name (natural order: frame_2 before frame_10), each with the frame axis dropped. Keys:
``global_orient`` ``[T, 3]`` or ``[T, 3, 3]``,
``hand_pose`` ``[T, 45]``, ``[T, 15, 3]`` or ``[T, 15, 3, 3]`` (flat-hand-mean, no PCA), and the
wrist position as ``wrist`` ``[T, 3]``, ``joints`` ``[T, J, 3]`` (joint 0) or ``transl`` ``[T, 3]``;
each may carry a hand axis of 2 after T (``[T, 2, ...]``, left then right); single-hand arrays
need ``is_right`` (scalar or ``[T]``). Optional: ``mask`` / ``valid`` ``[T]`` or ``[T, 2]``,
``fps``, ``betas``. Rotations and positions must already be in the body frame. MANO's own
``transl`` puts the wrist at J0(β) + transl: with the MANO files (``mano_dir``) J0 is added;
without them ``transl`` is taken as the wrist position (about 10 cm off) and meta says so.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.rest import rest_pose
from emo2cli.hands.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from emo2cli.hands.smplx_io import read_npz_arrays, scalar_of, shape_text

logger = logging.getLogger(__name__)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


_MANO_ROT_SHAPES = {"global_orient": ((3,), (3, 3)), "hand_pose": ((45,), (15, 3), (15, 3, 3))}


def _mano_rotation(data: dict, key: str, path: Path) -> tuple[np.ndarray, bool]:
    """[T, (2,) ...] rotation key → ([T, (2,), n, 3] axis-angle float64, two_hands)."""
    a = np.asarray(data[key], np.float64)
    for tail in _MANO_ROT_SHAPES[key]:
        for two in (False, True):
            if a.ndim == 1 + two + len(tail) and a.shape[1 + two :] == tail and (not two or a.shape[1] == 2):
                if tail[-2:] == (3, 3):
                    a = matrix_to_axis_angle(a)
                return a.reshape(a.shape[: 1 + two] + (-1, 3)), two
    wanted = " or ".join("[T, " + ", ".join(map(str, t)) + "]" for t in _MANO_ROT_SHAPES[key])
    extra = " (PCA coefficients are not supported: expand them to 45 axis-angle values)" if key == "hand_pose" else ""
    raise InputError(
        f"key '{key}' has shape {shape_text(a)}; expected {wanted}, optionally with a hand axis of 2 after T{extra}", path=path
    )


def read_mano_fits(
    path: str | os.PathLike, source_fps: float | None = None, mano_dir: str | os.PathLike | None = None
) -> tuple[HandMotion, dict]:
    """Per-frame MANO fits (one ``.npz`` or a folder of per-frame ``.npz``) → HandMotion at their fps.

    ``mano_dir`` (MANO_LEFT/RIGHT files) turns a MANO ``transl`` into the wrist, J0(β) + transl.

    Raises:
        InputError: naming the file and the missing or malformed key.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.npz"), key=_natural_key)
        if not files:
            raise InputError("no .npz files in this folder (expected one MANO fit per frame)", path=path)
        frames = [read_npz_arrays(f, "MANO fit") for f in files]
        keys = set(frames[0])
        for f, d in zip(files, frames):
            if set(d) != keys:
                raise InputError(
                    f"has keys {sorted(d)} but {files[0].name} has {sorted(keys)} (all frames need the same keys)", path=f
                )
        data = {k: np.stack([d[k] for d in frames]) for k in keys if k not in ("fps", "betas")}
        data.update({k: frames[0][k] for k in ("fps", "betas") if k in keys})
    elif path.is_file():
        data = read_npz_arrays(path, "MANO fits")
    else:
        raise InputError("no such file or folder", path=path)
    for k in ("global_orient", "hand_pose"):
        if k not in data:
            raise InputError(
                f"missing key '{k}' (MANO fits need global_orient, hand_pose and wrist/joints/transl; "
                f"found: {', '.join(sorted(data))})",
                path=path,
            )
    position_key = next((k for k in ("wrist", "joints", "transl") if k in data), None)
    if position_key is None:
        raise InputError(
            f"missing key 'transl' (or 'wrist' / 'joints') for the wrist position; found: {', '.join(sorted(data))}", path=path
        )
    orient, two = _mano_rotation(data, "global_orient", path)
    pose, two_pose = _mano_rotation(data, "hand_pose", path)
    position = np.asarray(data[position_key], np.float64)
    if position_key == "joints":
        position = position[..., 0, :]
    num_frames = orient.shape[0]
    if two != two_pose or position.shape != ((num_frames, 2, 3) if two else (num_frames, 3)) or pose.shape[0] != num_frames:
        raise InputError(
            f"keys disagree: global_orient {shape_text(orient)}, hand_pose {shape_text(pose)}, "
            f"{position_key} {shape_text(position)} "
            "(same T, and all with or all without the hand axis of 2)",
            path=path,
        )
    if not two:  # one hand per frame: put it on the side is_right says
        if "is_right" not in data:
            raise InputError("missing key 'is_right' (single-hand arrays must say which hand: 0 left, 1 right)", path=path)
        side = np.broadcast_to(np.asarray(data["is_right"]).astype(np.int64).reshape(-1), (num_frames,))
        valid = np.zeros((num_frames, 2), bool)
        valid[np.arange(num_frames), side] = True
        rest_orient, rest_fingers, rest_transl = rest_pose()
        orient2 = np.broadcast_to(rest_orient, (num_frames, 2, 3)).copy()
        pose2 = np.broadcast_to(rest_fingers, (num_frames, 2, 15, 3)).copy()
        pos2 = np.broadcast_to(rest_transl, (num_frames, 2, 3)).astype(np.float64)
        orient2[valid], pose2[valid], pos2[valid] = orient[:, 0], pose, position
        orient, pose, position = orient2, pose2, pos2
    else:
        orient, valid = orient[:, :, 0], np.ones((num_frames, 2), bool)
    for k in ("mask", "valid"):
        if k in data:
            m = np.asarray(data[k]).astype(bool)
            valid &= m if m.shape == (num_frames, 2) else m.reshape(num_frames, 1)
    finite = np.isfinite(orient).all(-1) & np.isfinite(pose).all((-1, -2)) & np.isfinite(position).all(-1)
    valid &= finite
    orient, pose, position = (np.where(np.isfinite(a), a, 0.0) for a in (orient, pose, position))
    fps = source_fps or scalar_of(data, ("fps",))
    if not fps:
        raise InputError("missing key 'fps' (the frame rate of the fits)", path=path, hint="pass --source-fps")
    betas = np.zeros((2, 10), np.float32)
    if "betas" in data and np.size(data["betas"]) in (10, 20):
        betas[:] = np.asarray(data["betas"], np.float32).reshape(-1, 10)
    approximate = position_key == "transl" and mano_dir is None
    if position_key == "transl" and mano_dir is not None:
        from emo2cli.hands.mano import ManoHands

        mano = ManoHands(mano_dir)
        position = position + np.stack([mano.rest_wrist(h, betas[h]) for h in (0, 1)])
    hands = HandMotion(
        fps=float(fps),
        global_orient=matrix_to_axis_angle(axis_angle_to_matrix(orient)).astype(np.float32),
        hand_pose=matrix_to_axis_angle(axis_angle_to_matrix(pose)).astype(np.float32),
        transl=position.astype(np.float32),
        mask=valid,
        betas=betas,
    )
    if approximate:
        logger.warning(
            "%s: MANO 'transl' taken as the wrist position (the wrist is at J0(β) + transl: pass --mano-dir)", path.name
        )
    how = {"wrist": "key 'wrist'", "joints": "key 'joints' (joint 0)", "transl": "MANO transl + J0 from the MANO files"}[
        position_key
    ]
    notes = {"wrist_position": "approximate: MANO transl without J0 (no MANO files)" if approximate else how}
    return hands, notes
