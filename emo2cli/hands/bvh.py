"""BVH export of both hands (the built-in 21-joint skeleton), and a small BVH reader.

Hierarchy: a root ``body`` at the body-frame origin (neck base, no motion), then per hand a
``left_wrist`` / ``right_wrist`` joint with OFFSET 0 whose position channels hold the wrist
position itself (readers differ on whether position channels add to a joint's OFFSET or replace
it, Blender's replaces; with a zero OFFSET both agree), then the 20 finger joints of
:mod:`emo2cli.hands.skeleton` (``left_thumb_cmc`` ... ``left_pinky_tip``) with the built-in hand's
rest offsets. Each fingertip joint (always zero rotation) ends in a short End Site along its last
bone, so a tool that makes bones from joints draws the distal phalanx. 21 joints per hand.

Channels: ``Zrotation Xrotation Yrotation`` in degrees (BVH order ZXY, i.e. R = Rz · Rx · Ry,
intrinsic), six channels (position first) on the root and the wrists. A joint's rotation turns
its children's offsets, exactly the kinematics of
:func:`emo2cli.hands.skeleton.forward_kinematics`, so the BVH joint positions equal our forward
kinematics. Axes are the body frame (x subject's left, y up, z toward the camera), which is also
BVH's usual Y-up convention; units are metres by default (``unit_scale=100`` for centimetres).
Blender's importer (File → Import → Motion Capture) reads the file; the BVH has no mask, so
masked frames are written as they are in the hands file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_write_text
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.rotations import axis_angle_to_matrix
from emo2cli.hands.skeleton import JOINT_NAMES, OPENPOSE_OF_MANO, PARENTS, TIPS, rest_joints

HAND_PREFIX = ("left_", "right_")
_ROT = "Zrotation Xrotation Yrotation"
_END_SITE_FRACTION = 0.3  # End Site length, as a share of the distal bone


def _children(parent: int) -> list[int]:
    return [j for j, p in enumerate(PARENTS) if p == parent]


def _depth_first(j: int = 0) -> list[int]:
    """Joints of the 21-joint hand in BVH (depth-first) order, starting at ``j``."""
    return [j] + [k for child in _children(j) for k in _depth_first(child)]


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def _joint_lines(j: int, depth: int, prefix: str, rest: np.ndarray) -> list[str]:
    """HIERARCHY lines of joint ``j`` and its subtree (``rest``: [21, 3] rest joints, file units)."""
    pad = "\t" * depth
    offset = np.zeros(3) if j == 0 else rest[j] - rest[PARENTS[j]]
    channels = f"CHANNELS 6 Xposition Yposition Zposition {_ROT}" if j == 0 else f"CHANNELS 3 {_ROT}"
    lines = [f"{pad}JOINT {prefix}{JOINT_NAMES[j]}", f"{pad}{{", f"{pad}\tOFFSET {_fmt(offset)}", f"{pad}\t{channels}"]
    for child in _children(j):
        lines += _joint_lines(child, depth + 1, prefix, rest)
    if j in TIPS:
        end = (rest[j] - rest[PARENTS[j]]) * _END_SITE_FRACTION
        lines += [f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(end)}", f"{pad}\t}}"]
    return lines + [f"{pad}}}"]


def _hierarchy(unit_scale: float) -> list[str]:
    lines = ["HIERARCHY", "ROOT body", "{", f"\tOFFSET {_fmt(np.zeros(3))}", f"\tCHANNELS 6 Xposition Yposition Zposition {_ROT}"]
    for hand, prefix in enumerate(HAND_PREFIX):
        lines += _joint_lines(0, 1, prefix, rest_joints(hand) * unit_scale)
    return lines + ["}"]


def _euler_zxy_deg(aa: np.ndarray) -> np.ndarray:
    """[..., 3] axis-angle → [..., 3] (z, x, y) degrees with Rz · Rx · Ry = R."""
    mats = axis_angle_to_matrix(aa).reshape(-1, 3, 3)
    return Rotation.from_matrix(mats).as_euler("ZXY", degrees=True).reshape(aa.shape)


def hands_to_bvh(hands: HandMotion, unit_scale: float = 1.0) -> str:
    """The BVH text of ``hands`` (see the module docstring). ``unit_scale``: 1 = metres, 100 = cm."""
    num_frames = hands.num_frames
    columns = [np.zeros((num_frames, 6))]  # root
    for hand in (0, 1):
        # Rotation of each OpenPose joint: wrist = global_orient, MANO joints at their OpenPose index, tips 0.
        rotations = np.zeros((num_frames, 21, 3))
        rotations[:, 0] = _euler_zxy_deg(hands.global_orient[:, hand].astype(np.float64))
        rotations[:, OPENPOSE_OF_MANO] = _euler_zxy_deg(hands.hand_pose[:, hand].astype(np.float64))
        position = hands.transl[:, hand].astype(np.float64) * unit_scale
        for j in _depth_first():
            columns.append(np.concatenate([position, rotations[:, 0]], axis=1) if j == 0 else rotations[:, j])
    values = np.concatenate(columns, axis=1)
    lines = _hierarchy(unit_scale)
    lines += ["MOTION", f"Frames: {num_frames}", f"Frame Time: {1.0 / hands.fps:.8f}"]
    lines += [_fmt(row) for row in values]
    return "\n".join(lines) + "\n"


def export_bvh(hands: HandMotion, path: str | os.PathLike, unit_scale: float = 1.0, force: bool = False) -> Path:
    """Write :func:`hands_to_bvh` to ``path`` atomically (refuses to overwrite without ``force``)."""
    atomic_write_text(path, hands_to_bvh(hands, unit_scale), force=force)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------------------------


@dataclass
class BvhMotion:
    """A parsed BVH file.

    Attributes:
        names: joint names (End Sites are named ``<parent>_end``).
        parents: parent index per joint (-1 for the root).
        offsets: [J, 3] float64 OFFSET of each joint, file units.
        channels: per joint, its channel names in file order (End Sites have none).
        frame_time: seconds per frame.
        values: [F, C] float64 motion rows (C = the sum of all channel counts).
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    frame_time: float
    values: np.ndarray


def read_bvh(path: str | os.PathLike) -> BvhMotion:
    """Parse a BVH file (any rotation order, position channels on any joint).

    Raises:
        InputError: not a readable BVH (naming the file and the first problem).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read ({e})", path=path) from None
    head, sep, motion = text.partition("MOTION")
    if not sep or "HIERARCHY" not in head:
        raise InputError("is not a BVH file (no HIERARCHY / MOTION sections)", path=path)
    tokens = head.split()
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i = tokens.index("HIERARCHY") + 1
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append(np.zeros(3))
                channels.append([])
                i += 2
            elif tok == "End":
                names.append(f"{names[stack[-1]]}_end")
                parents.append(stack[-1])
                offsets.append(np.zeros(3))
                channels.append([])
                i += 2
            elif tok == "{":
                stack.append(len(names) - 1)
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                offsets[stack[-1]] = np.array([float(t) for t in tokens[i + 1 : i + 4]])
                i += 4
            elif tok == "CHANNELS":
                count = int(tokens[i + 1])
                channels[stack[-1]] = tokens[i + 2 : i + 2 + count]
                i += 2 + count
            else:
                raise ValueError(f"unexpected token {tok!r}")
        lines = [ln for ln in motion.strip().splitlines() if ln.strip()]
        num_frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
        values = np.array([[float(v) for v in ln.split()] for ln in lines[2 : 2 + num_frames]], dtype=np.float64)
    except (ValueError, IndexError) as e:
        raise InputError(f"is not a valid BVH file ({e})", path=path) from None
    width = sum(len(c) for c in channels)
    if values.shape != (num_frames, width):
        raise InputError(f"has motion rows of shape {list(values.shape)}, expected [{num_frames}, {width}]", path=path)
    return BvhMotion(names, parents, np.stack(offsets), channels, frame_time, values)


def bvh_positions(bvh: BvhMotion) -> np.ndarray:
    """World positions of every joint (End Sites included) → [F, J, 3] float64, file units."""
    num_frames = len(bvh.values)
    positions = np.zeros((num_frames, len(bvh.names), 3))
    rotations = np.zeros((num_frames, len(bvh.names), 3, 3))
    column = 0
    for j, (parent, chans) in enumerate(zip(bvh.parents, bvh.channels)):
        data = bvh.values[:, column : column + len(chans)]
        column += len(chans)
        translation = np.broadcast_to(bvh.offsets[j], (num_frames, 3)).copy()
        order, angles = "", []
        for k, name in enumerate(chans):
            axis = "XYZ".index(name[0].upper())
            if name[1:].lower() == "position":
                translation[:, axis] += data[:, k]
            else:
                order += "XYZ"[axis]
                angles.append(data[:, k])
        local = (
            Rotation.from_euler(order, np.stack(angles, 1), degrees=True).as_matrix()
            if order
            else np.broadcast_to(np.eye(3), (num_frames, 3, 3))
        )
        if parent < 0:
            positions[:, j], rotations[:, j] = translation, local
        else:
            positions[:, j] = positions[:, parent] + np.einsum("fij,fj->fi", rotations[:, parent], translation)
            rotations[:, j] = rotations[:, parent] @ local
    return positions
