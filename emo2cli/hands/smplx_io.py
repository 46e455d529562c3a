"""SMPL-X sequences → hands files (``import-hands``), and hands → SMPL-X arrays (``export-hands``).

Nothing here ships or downloads a licensed model: SMPL-X model files are read only from a path
the user gives (``--smplx-model``), as ``.npz`` with ``allow_pickle=False``.

Accepted inputs (anything else is refused with exit 2 and the key at fault):

* **BEAT2-style ``.npz``** (also AMASS SMPL-X): ``poses`` ``[T, 165]`` (or ``[T, 55, 3]``) axis-angle
  of the 55 SMPL-X joints (``[0:3]`` global orient, ``[3:66]`` body, ``[66:75]`` jaw and eyes,
  ``[75:120]`` left hand, ``[120:165]`` right hand); ``mocap_frame_rate`` (or ``mocap_framerate``,
  ``fps``) unless ``source_fps`` is given; optional ``betas``; optional ``flat_hand_mean`` (bool,
  default false: hand poses relative to the SMPL-X hand mean, as BEAT2 stores them). ``trans`` is
  not needed: the root translation cancels in the body frame.
* **TalkSHOW-style ``.npy``** ``[T, 265]``: ``[0:9]`` jaw, eyes, ``[9:12]`` global orient,
  ``[12:75]`` body, ``[75:120]`` left hand, ``[120:165]`` right hand (axis-angle, relative to the
  hand mean), ``[165:265]`` expression; 30 fps unless ``source_fps`` says otherwise. A ``[T, 165]``
  ``.npy`` is read as BEAT2 ``poses``.
* **MANO fits**: see :mod:`emo2cli.hands.mano_fits`.

Conversion (research note hands-data.md §3.3): global rotations ``G_j = G_parent · R_j`` down the
SMPL-X tree; the body frame is spine3 (joint 9; the pelvis would let torso turns leak into the
hands); wrist orientation ``G_9⁻¹ G_wrist`` (MANO and SMPL-X share the hand rest frames); wrist
position ``G_9⁻¹ (p_wrist − (p_16 + p_17) / 2)`` from the SMPL-X rest joints J(β) when the model
file is given, scaled so the rest shoulder width is DESIGN's 0.36 m; otherwise from a generic arm
chain (design values, flagged ``approximate`` in meta). Finger poses get the model's
``hands_mean{l,r}`` added (flat-hand-mean convention); without the model file this correction is
skipped, warned about and recorded.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo2cli import __version__
from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_path, sha256_file
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.limits import ARM_REACH_M
from emo2cli.hands.rest import rest_pose
from emo2cli.hands.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
)
from emo2cli.hands.smoothing import resample_hands

logger = logging.getLogger(__name__)

# SMPL-X 55-joint tree (note §3.3).
SMPLX_PARENTS = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip
SPINE3 = 9
SHOULDERS = (16, 17)
ARM_CHAINS = ((0, 3, 6, 9, 13, 16, 18, 20), (0, 3, 6, 9, 14, 17, 19, 21))  # pelvis → left / right wrist
HAND_SLICES = (slice(75, 120), slice(120, 165))  # in the 165-d pose: left, right hand (15 × 3)
NEUTRAL_SHOULDER_WIDTH_M = 0.36  # DESIGN §2
TALKSHOW_FPS = 30.0

# Generic SMPL-X-like rest joints of the arm chains (T-pose, metres, pelvis at the origin; x to
# the subject's left, y up, z forward). Design values for an adult of about 1.75 m: shoulder
# width 0.36 m, upper arm 0.29 m + forearm 0.26 m = the reach of emo2cli.hands.limits.
_UPPER_ARM_M, _FOREARM_M = 0.29, ARM_REACH_M - 0.29
_GENERIC_LEFT = {
    0: (0.0, 0.0, 0.0), 3: (0.0, 0.11, -0.01), 6: (0.0, 0.24, 0.0), 9: (0.0, 0.30, 0.01),
    13: (0.075, 0.41, -0.01), 16: (0.18, 0.44, -0.02),
    18: (0.18 + _UPPER_ARM_M, 0.44, -0.02), 20: (0.18 + _UPPER_ARM_M + _FOREARM_M, 0.44, -0.02),
}  # fmt: skip


def generic_rest_joints() -> np.ndarray:
    """[55, 3] float64 rest joints with only the arm chains filled (right side = x-mirror of left)."""
    joints = np.zeros((55, 3))
    for j, p in _GENERIC_LEFT.items():
        joints[j] = p
    for left, right in ((13, 14), (16, 17), (18, 19), (20, 21)):
        joints[right] = joints[left] * (-1.0, 1.0, 1.0)
    return joints


@dataclass
class SmplxModel:
    """What the conversion needs from a user's SMPL-X model file.

    Attributes:
        rest_joints: [55, 3] float64, J(β) = J_regressor @ (v_template + shapedirs · β), metres.
        hands_mean: [2, 45] float64 (left, right) or None when the file has no hands_mean.
        path: the model file.
    """

    rest_joints: np.ndarray
    hands_mean: np.ndarray | None
    path: Path | None = None


def read_npz_arrays(path: Path, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"is not a readable {what} .npz ({e})", path=path) from None


def shape_text(a: np.ndarray) -> str:
    return "[" + ", ".join(str(s) for s in a.shape) + "]"


def load_smplx_model(path: str | os.PathLike, betas: np.ndarray | None = None) -> SmplxModel:
    """Read J(β) and the hand means from a SMPL-X model ``.npz`` (a file, or a folder holding
    ``SMPLX_NEUTRAL.npz`` / ``smplx/SMPLX_NEUTRAL.npz``).

    Raises:
        InputError: missing file or key, a ``.pkl`` (needs chumpy: convert it to ``.npz``).
    """
    path = Path(path)
    if path.is_dir():
        found = (
            sorted(path.glob("SMPLX_NEUTRAL*.npz")) + sorted(path.glob("smplx/SMPLX_NEUTRAL*.npz")) + sorted(path.glob("*.npz"))
        )
        if not found:
            raise InputError("no SMPL-X model .npz in this folder (expected SMPLX_NEUTRAL.npz)", path=path)
        path = found[0]
    if path.suffix == ".pkl":
        raise InputError(
            "pickled SMPL-X model files are not read (they need chumpy and execute code)",
            path=path,
            hint="convert it once to .npz with the smplx repository's tools/clean_ch.py",
        )
    if not path.is_file():
        raise InputError("no such SMPL-X model file", path=path)
    data = read_npz_arrays(path, "SMPL-X model")
    for k in ("v_template", "shapedirs", "J_regressor"):
        if k not in data:
            raise InputError(f"missing key '{k}' (not a SMPL-X model file?)", path=path)
    v_template = data["v_template"].astype(np.float64)
    shapedirs = data["shapedirs"].astype(np.float64)
    regressor = data["J_regressor"].astype(np.float64)
    if regressor.shape != (55, v_template.shape[0]):
        raise InputError(
            f"key 'J_regressor' has shape {shape_text(regressor)}, expected [55, {v_template.shape[0]}] (SMPL-X)", path=path
        )
    shape_dims = 300 if shapedirs.shape[-1] >= 400 else 10  # smplx: 2020 models 300 + 100 expression, v1.1 10 + 10
    vertices = v_template
    if betas is not None and np.size(betas):
        b = np.asarray(betas, np.float64).ravel()[:shape_dims]
        vertices = v_template + shapedirs[:, :, : len(b)] @ b
    hands_mean = None
    if "hands_meanl" in data and "hands_meanr" in data:
        hands_mean = np.stack([data["hands_meanl"], data["hands_meanr"]]).astype(np.float64).reshape(2, 45)
    return SmplxModel(rest_joints=regressor @ vertices, hands_mean=hands_mean, path=path)


# ---------------------------------------------------------------------------------------------
# SMPL-X forward kinematics of the arm chains
# ---------------------------------------------------------------------------------------------


def arm_kinematics(full_pose: np.ndarray, rest_joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global rotations and positions of the arm-chain joints.

    Args:
        full_pose: [T, 55, 3] SMPL-X axis-angle (joint 0 = global orient).
        rest_joints: [55, 3] rest joints J(β) in metres.

    Returns:
        (rotations {joint: [T, 3, 3]}, positions {joint: [T, 3]}) for the joints of ARM_CHAINS,
        positions relative to the root (p_0 = J_0; translation omitted).
    """
    local = axis_angle_to_matrix(full_pose)  # [T, 55, 3, 3]
    rot, pos = {}, {}
    for chain in ARM_CHAINS:
        for j in chain:
            if j in rot:
                continue
            parent = SMPLX_PARENTS[j]
            if parent < 0:
                rot[j], pos[j] = local[:, j], np.broadcast_to(rest_joints[j], (len(full_pose), 3)).copy()
            else:
                rot[j] = rot[parent] @ local[:, j]
                pos[j] = pos[parent] + np.einsum("tij,j->ti", rot[parent], rest_joints[j] - rest_joints[parent])
    return rot, pos


def smplx_pose_to_hands(
    full_pose: np.ndarray,
    fps: float,
    model: SmplxModel | None = None,
    hands_relative_to_mean: bool = True,
) -> tuple[HandMotion, dict]:
    """[T, 55, 3] SMPL-X poses → HandMotion at the source fps, and the conversion notes for meta."""
    full_pose = np.asarray(full_pose, np.float64)
    rest = generic_rest_joints() if model is None else model.rest_joints
    finite = np.all(np.isfinite(full_pose.reshape(len(full_pose), -1)), axis=1)
    full_pose = np.where(finite[:, None, None], full_pose, 0.0)
    rot, pos = arm_kinematics(full_pose, rest)
    body_inv = np.swapaxes(rot[SPINE3], -1, -2)  # G_9⁻¹
    mid = 0.5 * (pos[SHOULDERS[0]] + pos[SHOULDERS[1]])
    scale = 1.0
    if model is not None:
        scale = NEUTRAL_SHOULDER_WIDTH_M / max(float(np.linalg.norm(rest[16] - rest[17])), 1e-6)
    orient, transl = [], []
    for wrist in (20, 21):
        orient.append(matrix_to_axis_angle(body_inv @ rot[wrist]))
        transl.append(scale * np.einsum("tij,tj->ti", body_inv, pos[wrist] - mid))
    hand_pose = full_pose[:, 25:55].reshape(-1, 2, 15, 3).copy()
    corrected = False
    if hands_relative_to_mean:
        if model is not None and model.hands_mean is not None:
            hand_pose += model.hands_mean.reshape(1, 2, 15, 3)
            corrected = True
        else:
            logger.warning(
                "hand poses are relative to the SMPL-X hand mean but no SMPL-X model file with hands_mean was given: "
                "fingers come out flatter than captured (pass --smplx-model)"
            )
    hand_pose = matrix_to_axis_angle(axis_angle_to_matrix(hand_pose))  # angles into [0, π]
    mask = np.repeat(finite[:, None], 2, axis=1)
    rest_orient, rest_fingers, rest_transl = rest_pose()
    orient, transl = np.stack(orient, 1), np.stack(transl, 1)
    orient[~finite], hand_pose[~finite], transl[~finite] = rest_orient, rest_fingers, rest_transl
    hands = HandMotion(
        fps=float(fps),
        global_orient=orient.astype(np.float32),
        hand_pose=hand_pose.astype(np.float32),
        transl=transl.astype(np.float32),
        mask=mask,
    )
    notes = {
        "body_frame": "SMPL-X spine3 (joint 9), origin at the shoulder midpoint",
        "wrist_position": "smplx forward kinematics"
        if model is not None
        else "approximate: generic arm chain (no SMPL-X model file)",
        "shoulder_scale": scale,
        "hands_relative_to_mean": bool(hands_relative_to_mean),
        "flat_hand_mean_corrected": corrected if hands_relative_to_mean else None,
        "smplx_model": None if model is None or model.path is None else model.path.name,
    }
    return hands, notes


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------


def scalar_of(data: dict, keys: tuple[str, ...]) -> float | None:
    for k in keys:
        if k in data and np.size(data[k]) == 1 and data[k].dtype.kind in "fiub":
            return float(np.ravel(data[k])[0])
    return None


def read_smplx_sequence(path: str | os.PathLike, source_fps: float | None = None) -> tuple[np.ndarray, float, dict]:
    """Read a BEAT2-style ``.npz`` or a TalkSHOW-style ``.npy``.

    Returns:
        (full_pose [T, 55, 3] float64, fps, info) with info keys ``layout``, ``betas``
        (or None) and ``hands_relative_to_mean``.

    Raises:
        InputError: unreadable file, missing key, wrong width, no frame rate.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"is not a readable .npy array ({e})", path=path) from None
        if array.ndim != 2 or array.shape[1] not in (265, 165):
            raise InputError(
                f"has shape {shape_text(array)}; expected [T, 265] (TalkSHOW layout) or [T, 165] (SMPL-X poses)", path=path
            )
        array = array.astype(np.float64)
        if array.shape[1] == 165:
            poses = array
        else:  # TalkSHOW: jaw, leye, reye, global orient, body, hands → SMPL-X joint order
            poses = np.concatenate([array[:, 9:12], array[:, 12:75], array[:, 0:9], array[:, 75:165]], axis=1)
        fps = source_fps or TALKSHOW_FPS
        if source_fps is None:
            logger.info("%s carries no frame rate: assuming %g fps (TalkSHOW's; --source-fps to change)", path.name, fps)
        return (
            poses.reshape(-1, 55, 3),
            float(fps),
            {"layout": "talkshow" if array.shape[1] == 265 else "smplx-poses", "betas": None, "hands_relative_to_mean": True},
        )
    data = read_npz_arrays(path, "SMPL-X sequence")
    if "poses" not in data:
        raise InputError(
            "missing key 'poses' (a BEAT2-style SMPL-X .npz needs poses [T, 165] and mocap_frame_rate; "
            f"found: {', '.join(sorted(data)) or 'nothing'})",
            path=path,
        )
    poses = data["poses"]
    if poses.dtype.kind not in "fi" or not (poses.ndim == 2 and poses.shape[1] == 165 or poses.shape[1:] == (55, 3)):
        raise InputError(
            f"key 'poses' has shape {shape_text(poses)} {poses.dtype}; expected [T, 165] floats (55 SMPL-X joints × 3)", path=path
        )
    fps = source_fps or scalar_of(data, ("mocap_frame_rate", "mocap_framerate", "fps"))
    if not fps or fps <= 0:
        raise InputError("missing key 'mocap_frame_rate' (the frame rate)", path=path, hint="pass --source-fps")
    flat = scalar_of(data, ("flat_hand_mean",))
    mask = data.get("emo2_mask")  # written by our own export; not part of BEAT2
    if mask is not None and (mask.dtype != bool or mask.shape != (len(poses), 2)):
        mask = None
    return (
        poses.astype(np.float64).reshape(-1, 55, 3),
        float(fps),
        {"layout": "beat2", "betas": data.get("betas"), "hands_relative_to_mean": not bool(flat), "mask": mask},
    )


def import_hands(
    path: str | os.PathLike,
    source: str,
    fps: float,
    smplx_model: str | os.PathLike | None = None,
    source_fps: float | None = None,
    mano_dir: str | os.PathLike | None = None,
) -> HandMotion:
    """Read a SMPL-X sequence (``source="smplx"``) or MANO fits (``"mano"``) as a HandMotion at ``fps``.

    ``smplx_model`` (SMPL-X) and ``mano_dir`` (MANO) are the user's licensed model files, optional.

    Raises:
        InputError: unknown source, unreadable file, missing or malformed key.
    """
    path = Path(path)
    if source == "smplx":
        full_pose, src_fps, info = read_smplx_sequence(path, source_fps)
        model = None if smplx_model is None else load_smplx_model(smplx_model, info["betas"])
        hands, notes = smplx_pose_to_hands(full_pose, src_fps, model, info["hands_relative_to_mean"])
        if info.get("mask") is not None:
            hands.mask &= info["mask"]
        notes["source_layout"] = info["layout"]
    elif source == "mano":
        from emo2cli.hands.mano_fits import read_mano_fits

        hands, notes = read_mano_fits(path, source_fps, mano_dir)
        notes["source_layout"] = "mano-fits"
    else:
        raise InputError(f"unknown source {source!r}: expected smplx or mano")
    hands.meta = {
        "producer": "emo2 import-hands",
        "version": __version__,
        "source": path.name,
        "source_sha256": sha256_file(path) if path.is_file() else None,
        "source_fps": hands.fps,
        **notes,
    }
    if not np.isclose(hands.fps, fps):
        hands = resample_hands(hands, fps=fps)
    hands.validate(path)
    return hands


# ---------------------------------------------------------------------------------------------
# Export: hands → BEAT2-like SMPL-X arrays
# ---------------------------------------------------------------------------------------------


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[..., 3, 3] shortest rotation taking direction a [..., 3] onto b [..., 3]."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(sin, np.sum(a * b, -1, keepdims=True))
    # Antiparallel: any axis perpendicular to a.
    fallback = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]))
    axis = np.where(sin > 1e-9, axis, fallback)
    return axis_angle_to_matrix(axis / np.linalg.norm(axis, axis=-1, keepdims=True) * angle)


def _arm_ik(
    target: np.ndarray, shoulder: np.ndarray, upper: np.ndarray, fore: np.ndarray, side: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: shoulder [T, 3, 3] and elbow [T, 3, 3] local rotations putting the wrist at
    ``target`` [T, 3] (clamped to the reachable shell), the elbow pointing down, back and out."""
    len_u, len_f = np.linalg.norm(upper), np.linalg.norm(fore)
    reach = target - shoulder
    dist = np.clip(np.linalg.norm(reach, axis=-1), abs(len_u - len_f) + 1e-4, len_u + len_f - 1e-4)
    cos_bend = (dist**2 - len_u**2 - len_f**2) / (2 * len_u * len_f)  # angle between upper arm and forearm directions
    bend = np.arccos(np.clip(cos_bend, -1.0, 1.0))
    elbow_axis = np.array([0.0, -1.0 if side == 0 else 1.0, 0.0])  # forearm folds forward (+z) in the T-pose
    elbow = axis_angle_to_matrix(elbow_axis * bend[:, None])
    arm = upper + np.einsum("tij,j->ti", elbow, fore)  # shoulder → wrist in the shoulder frame
    align = _rotation_between(arm, reach)
    # Twist about the shoulder→wrist line so the elbow points toward the pole.
    pole = np.array([0.3 if side == 0 else -0.3, -1.0, -0.3])
    direction = reach / np.linalg.norm(reach, axis=-1, keepdims=True)

    def _perp(v: np.ndarray) -> np.ndarray:
        return v - np.sum(v * direction, -1, keepdims=True) * direction

    elbow_now, want = _perp(np.einsum("tij,j->ti", align, upper)), _perp(np.broadcast_to(pole, reach.shape))
    twist = np.arctan2(np.sum(np.cross(elbow_now, want) * direction, -1), np.sum(elbow_now * want, -1))
    shoulder_rot = axis_angle_to_matrix(direction * twist[:, None]) @ align
    return shoulder_rot, elbow


def hands_to_smplx(hands: HandMotion, model: SmplxModel | None = None) -> dict[str, np.ndarray]:
    """A HandMotion → BEAT2-like SMPL-X arrays (``poses`` [T, 165], ``trans``, ``betas``, ...).

    The body stays in its rest pose except the arms: a two-bone IK on the SMPL-X (or generic) arm
    chain puts each wrist at its ``transl`` (clamped to the arm's reach), and the wrist joint's
    local rotation makes its global orientation equal ``global_orient``. Hand poses are written
    relative to the model's hand mean when a model with ``hands_mean`` is given (BEAT2's
    convention, ``flat_hand_mean`` = False); otherwise in the flat-hand-mean convention with
    ``flat_hand_mean`` = True, which :func:`read_smplx_sequence` honours.
    """
    rest = generic_rest_joints() if model is None else model.rest_joints
    scale = 1.0 if model is None else NEUTRAL_SHOULDER_WIDTH_M / max(float(np.linalg.norm(rest[16] - rest[17])), 1e-6)
    num_frames = hands.num_frames
    poses = np.zeros((num_frames, 55, 3))
    mid = 0.5 * (rest[16] + rest[17])
    for side, (shoulder, elbow, wrist) in enumerate(((16, 18, 20), (17, 19, 21))):
        target = mid + hands.transl[:, side].astype(np.float64) / scale  # body frame → model metres, spine3 = identity
        shoulder_rot, elbow_rot = _arm_ik(target, rest[shoulder], rest[elbow] - rest[shoulder], rest[wrist] - rest[elbow], side)
        wrist_global = axis_angle_to_matrix(hands.global_orient[:, side].astype(np.float64))
        poses[:, shoulder] = matrix_to_axis_angle(shoulder_rot)
        poses[:, elbow] = matrix_to_axis_angle(elbow_rot)
        poses[:, wrist] = matrix_to_axis_angle(np.swapaxes(shoulder_rot @ elbow_rot, -1, -2) @ wrist_global)
    hand_pose = hands.hand_pose.astype(np.float64).reshape(num_frames, 2, 45)
    relative = model is not None and model.hands_mean is not None
    if relative:
        hand_pose = hand_pose - model.hands_mean[None]
    poses = poses.reshape(num_frames, 165)
    poses[:, HAND_SLICES[0]], poses[:, HAND_SLICES[1]] = hand_pose[:, 0], hand_pose[:, 1]
    return {
        "poses": poses.astype(np.float32),
        "trans": np.zeros((num_frames, 3), np.float32),
        "betas": np.zeros(300, np.float32),
        "expressions": np.zeros((num_frames, 100), np.float32),
        "mocap_frame_rate": np.array(float(hands.fps)),
        "model": np.array("smplx2020"),
        "gender": np.array("neutral"),
        "flat_hand_mean": np.array(not relative),
        "emo2_mask": hands.mask.copy(),
    }


def export_smplx(
    hands: HandMotion, path: str | os.PathLike, smplx_model: str | os.PathLike | None = None, force: bool = False
) -> Path:
    """Write :func:`hands_to_smplx` arrays to ``path`` (``.npz``) atomically."""
    model = None if smplx_model is None else load_smplx_model(smplx_model)
    if model is None or model.hands_mean is None:
        logger.warning("no SMPL-X model with hands_mean: hand poses are written flat-hand-mean (flat_hand_mean=True in the file)")
    arrays = hands_to_smplx(hands, model)
    with atomic_path(path, force) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return Path(path)
