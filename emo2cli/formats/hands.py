"""Hands files: ``NAME.hands.npz``, tag ``emo2.hands/1`` (DESIGN §2, docs/formats.md).

Index 0 of the hand axis is the subject's left hand, 1 the right. Rotations are MANO
axis-angle in the flat-hand-mean convention (all zeros = flat open hand), no PCA. Positions are
metres in the body frame: origin at the neck base (shoulder midpoint), +x toward the subject's
left, +y up, +z out of the chest toward the camera.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_path, check_tag, make_tag

KIND = "hands"
MAJOR = 1
FORMAT = make_tag(KIND, MAJOR)
SUFFIX = ".hands.npz"

# key → (dtype, shape with "T" for the frame axis); the order is the on-disk order.
_ARRAY_KEYS: dict[str, tuple[np.dtype, tuple]] = {
    "global_orient": (np.dtype(np.float32), ("T", 2, 3)),
    "hand_pose": (np.dtype(np.float32), ("T", 2, 15, 3)),
    "transl": (np.dtype(np.float32), ("T", 2, 3)),
    "mask": (np.dtype(np.bool_), ("T", 2)),
    "betas": (np.dtype(np.float32), (2, 10)),
}
# Optional keys: adding one is not a format bump (STYLE §4).
_OPTIONAL_KEYS: dict[str, tuple[np.dtype, tuple]] = {
    "score": (np.dtype(np.float32), ("T", 2)),
}


@dataclass
class HandMotion:
    """Both hands' MANO parameters over time, exactly the keys of a ``.hands.npz``.

    Attributes:
        fps: frames per second.
        global_orient: [T, 2, 3] float32, wrist rotation, axis-angle (radians), body frame.
        hand_pose: [T, 2, 15, 3] float32, MANO finger joint rotations relative to the parent
            joint, axis-angle, flat-hand-mean, joint order index1-3, middle1-3, pinky1-3,
            ring1-3, thumb1-3.
        transl: [T, 2, 3] float32, wrist position in metres, body frame.
        mask: [T, 2] bool, true where the hand is valid.
        betas: [2, 10] float32, MANO shape (zeros by default).
        meta: producer, version, seed, style, speed, source hash, model id (a JSON object).
        score: optional [T, 2] float32 per-frame confidence in [0, 1] (trackers write it).
    """

    fps: float
    global_orient: np.ndarray
    hand_pose: np.ndarray
    transl: np.ndarray
    mask: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros((2, 10), np.float32))
    meta: dict = field(default_factory=dict)
    score: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / float(self.fps)

    @classmethod
    def rest(cls, num_frames: int, fps: float, meta: dict | None = None) -> HandMotion:
        """A valid file of ``num_frames`` frames of the built-in rest pose (hands in front of the waist)."""
        from emo2cli.hands.rest import rest_pose

        orient, pose, transl = rest_pose()
        return cls(
            fps=float(fps),
            global_orient=np.repeat(orient[None], num_frames, 0).astype(np.float32),
            hand_pose=np.repeat(pose[None], num_frames, 0).astype(np.float32),
            transl=np.repeat(transl[None], num_frames, 0).astype(np.float32),
            mask=np.ones((num_frames, 2), bool),
            meta=dict(meta or {}),
        )

    def validate(self, path: str | os.PathLike | None = None) -> None:
        """Check dtypes, shapes, finiteness and frame counts.

        Raises:
            InputError: naming ``path`` (if given) and the offending key.
        """
        where = path if path is not None else "<hands>"
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise InputError(f"key 'fps' must be a positive number, got {self.fps!r}", path=where)
        num_frames = None
        for key, (dtype, shape) in {**_ARRAY_KEYS, **_OPTIONAL_KEYS}.items():
            value = getattr(self, key)
            if value is None and key in _OPTIONAL_KEYS:
                continue
            if not isinstance(value, np.ndarray):
                raise InputError(f"key '{key}' must be a numpy array, got {type(value).__name__}", path=where)
            if value.dtype != dtype:
                hint = "mask must be boolean" if key == "mask" else f"cast with .astype(np.{dtype.name})"
                raise InputError(f"key '{key}' has dtype {value.dtype}, expected {dtype.name}", path=where, hint=hint)
            if value.ndim != len(shape) or any(s != "T" and s != v for s, v in zip(shape, value.shape)):
                want = "[" + ", ".join(str(s) for s in shape) + "]"
                raise InputError(f"key '{key}' has shape {list(value.shape)}, expected {want}", path=where)
            if "T" in shape:
                t = value.shape[0]
                if num_frames is None:
                    num_frames = t
                elif t != num_frames:
                    raise InputError(
                        f"key '{key}' has {t} frames but 'global_orient' has {num_frames} (T mismatch between keys)",
                        path=where,
                    )
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise InputError(f"key '{key}' contains NaN or Inf", path=where)
        if num_frames == 0:
            raise InputError("has zero frames", path=where)
        if not isinstance(self.meta, dict):
            raise InputError("key 'meta' must be a JSON object", path=where)


def write_hands(hands: HandMotion, path: str | os.PathLike, force: bool = False) -> Path:
    """Validate and write ``hands`` atomically; returns the path.

    Raises:
        InputError: invalid content, ``path`` exists without ``force``, or cannot be written.
    """
    path = Path(path)
    hands.validate(path)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "fps": np.array(float(hands.fps), dtype=np.float64),
    }
    for key in _ARRAY_KEYS:
        arrays[key] = getattr(hands, key)
    arrays["meta"] = np.array(json.dumps(hands.meta, sort_keys=True))
    for key in _OPTIONAL_KEYS:
        if getattr(hands, key) is not None:
            arrays[key] = getattr(hands, key)
    with atomic_path(path, force) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def read_hands(path: str | os.PathLike) -> HandMotion:
    """Read and validate a ``.hands.npz`` (never unpickles).

    Raises:
        InputError: missing file, not an npz, wrong or unknown format version, missing key,
            wrong dtype or shape, NaN/Inf, T mismatch, non-boolean mask. The message names the key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"is not a readable .npz file ({e})", path=path) from None
    if "format" not in data:
        raise InputError("missing key 'format' (not an emo2 hands file)", path=path)
    check_tag(data["format"][()], KIND, MAJOR, path)
    for key in ("fps", "meta", *_ARRAY_KEYS):
        if key not in data:
            raise InputError(f"missing key '{key}'", path=path)
    if data["fps"].shape != () or data["fps"].dtype.kind not in "fi":
        raise InputError("key 'fps' must be a numeric scalar", path=path)
    try:
        meta = json.loads(str(data["meta"][()]))
    except json.JSONDecodeError as e:
        raise InputError(f"key 'meta' is not valid JSON ({e})", path=path) from None
    hands = HandMotion(
        fps=float(data["fps"][()]),
        meta=meta,
        **{k: data[k] for k in _ARRAY_KEYS},
        **{k: data.get(k) for k in _OPTIONAL_KEYS},
    )
    hands.validate(path)
    return hands
