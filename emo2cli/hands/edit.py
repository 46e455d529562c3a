"""Edits of a hands file: amplitude, retime, smooth, mute, mirror, splice, key (``emo2 edit-hands``).

Every operation is a function ``HandMotion → HandMotion`` whose result is again a valid hands
file: rotations pass through unit quaternions (so every axis-angle has its angle in [0, π]),
edits that can push joints past human limits clip them (:mod:`emo2cli.hands.limits`, never
further out than the input already was), and ``meta["edits"]`` gains one record per operation
(``{"op": "amplitude", "factor": 1.5}``), so the history travels with the file.

Blends (mute, key, the splice cross-fade) slerp each joint rotation and lerp the wrist position
with a smoothstep weight (3u² - 2u³: zero velocity at both ends, so no visible kink).

Command-line order. ``edit-hands`` applies operations in the order they are typed, which click
(and so Typer) does not keep across different options. The command therefore takes its
arguments as one token list (Typer ``ignore_unknown_options`` + a variadic argument) and
:func:`parse_operations` reads it left to right: an operation option (``--smooth 0.05``) starts
an operation, a sub-option (``--at``, ``--from``, ``--duration``, ``--crossfade``, ``--fade``)
belongs to the operation before it, anything else is an input file.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats._tag import sha256_file
from emo2cli.formats.hands import HandMotion, read_hands, write_hands
from emo2cli.hands.limits import clip_hand_pose, clip_reach
from emo2cli.hands.rest import rest_pose
from emo2cli.hands.rotations import (
    axis_angle_to_quat,
    mirror_axis_angle,
    quat_conjugate,
    quat_multiply,
    quat_to_axis_angle,
    slerp,
)
from emo2cli.hands.smoothing import mean_quaternion, resample_hands, smooth_hands

logger = logging.getLogger(__name__)

SIDES = {"left": (0,), "right": (1,), "both": (0, 1)}


# ---------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------


def _quats(hands: HandMotion) -> np.ndarray:
    """[T, 2, 16, 4] float64: wrist then the 15 finger joints, as quaternions."""
    return axis_angle_to_quat(np.concatenate([hands.global_orient[:, :, None], hands.hand_pose], axis=2))


def _rest_quats() -> tuple[np.ndarray, np.ndarray]:
    """The built-in rest pose as ([2, 16, 4] quaternions, [2, 3] wrist positions)."""
    orient, pose, transl = rest_pose()
    return axis_angle_to_quat(np.concatenate([orient[:, None], pose], axis=1)), transl.astype(np.float64)


def _finish(hands: HandMotion, quat: np.ndarray, record: dict, **changes) -> HandMotion:
    """Build the result from [T, 2, 16, 4] rotations, append ``record`` to the history, validate."""
    rot = quat_to_axis_angle(quat)  # canonical: angles in [0, π]
    meta = dict(hands.meta)
    meta["edits"] = [*meta.get("edits", []), record]
    for k in ("transl", "score"):
        if changes.get(k) is not None:
            changes[k] = np.asarray(changes[k], np.float32)
    out = dataclasses.replace(
        hands, global_orient=rot[:, :, 0].astype(np.float32), hand_pose=rot[:, :, 1:].astype(np.float32), meta=meta, **changes
    )
    out.validate()
    return out


def _frame(seconds: float, fps: float) -> int:
    return int(round(seconds * fps))


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _ramp_window(num_frames: int, rise: tuple[int, int], fall: tuple[int, int]) -> np.ndarray:
    """[T] float64 blend weight: 0 before ``rise[0]``, smoothstep up to 1 at ``rise[1]``, 1 until
    ``fall[0]``, smoothstep down to 0 at ``fall[1]``. A zero-length ramp is a step."""
    t = np.arange(num_frames, dtype=np.float64)
    up = _smoothstep((t - rise[0]) / max(rise[1] - rise[0], 1e-9))
    down = _smoothstep((fall[1] - t) / max(fall[1] - fall[0], 1e-9))
    return np.minimum(up, down)


def _blend(
    quat: np.ndarray, transl: np.ndarray, hand: int, target_q: np.ndarray, target_t: np.ndarray, weight: np.ndarray
) -> None:
    """In place: move hand ``hand`` of [T, 2, 16, 4] / [T, 2, 3] toward a [16, 4] / [3] target by [T] weight."""
    quat[:, hand] = slerp(quat[:, hand], np.broadcast_to(target_q, quat[:, hand].shape), weight[:, None])
    transl[:, hand] = (1.0 - weight[:, None]) * transl[:, hand] + weight[:, None] * target_t


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(message)


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


def amplify(hands: HandMotion, factor: float) -> HandMotion:
    """``--amplitude X``: scale gestures by ``factor`` (1 = unchanged, 0 = frozen mean pose).

    Wrist positions scale about each hand's mean position, wrist orientations about each hand's
    mean orientation (Karcher mean, valid frames only), finger rotations about the rest curl
    (all on the rotation manifold). Results past the finger limits or the arm's reach are
    clipped.
    """
    _check(np.isfinite(factor) and factor >= 0, f"--amplitude must be >= 0, got {factor}")
    quat = _quats(hands)
    valid = hands.mask.astype(np.float64)
    valid = np.where(valid.sum(0, keepdims=True) > 0, valid, 1.0)  # a hand masked everywhere: use all frames
    # Wrist orientation about its mean.
    mean_q = mean_quaternion(quat[:, :, 0], valid)  # [2, 4]
    rel = quat_to_axis_angle(quat_multiply(quat_conjugate(mean_q), quat[:, :, 0]))
    quat[:, :, 0] = quat_multiply(mean_q, axis_angle_to_quat(factor * rel))
    # Finger rotations about the rest curl.
    rest_q = _rest_quats()[0][:, 1:]  # [2, 15, 4]
    rel = quat_to_axis_angle(quat_multiply(quat_conjugate(rest_q), quat[:, :, 1:]))
    pose = quat_to_axis_angle(quat_multiply(rest_q, axis_angle_to_quat(factor * rel)))
    quat[:, :, 1:] = axis_angle_to_quat(clip_hand_pose(pose, reference=hands.hand_pose))
    # Wrist positions about their mean.
    mean_t = (hands.transl * valid[..., None]).sum(0) / valid.sum(0)[:, None]  # [2, 3]
    transl = clip_reach(mean_t + factor * (hands.transl - mean_t), reference=hands.transl)
    return _finish(hands, quat, {"op": "amplitude", "factor": float(factor)}, transl=transl)


def retime(hands: HandMotion, speed: float) -> HandMotion:
    """``--retime X``: play ``speed`` times as fast (2 = half as long), resampled with slerp."""
    _check(np.isfinite(speed) and speed > 0, f"--retime must be > 0, got {speed}")
    out = resample_hands(hands, speed=speed)
    return _finish(out, _quats(out), {"op": "retime", "speed": float(speed), "frames": [hands.num_frames, out.num_frames]})


def smooth(hands: HandMotion, sigma_s: float) -> HandMotion:
    """``--smooth SIGMA``: Gaussian smoothing (SIGMA seconds) of rotations on the manifold and positions."""
    _check(np.isfinite(sigma_s) and sigma_s > 0, f"--smooth must be > 0 seconds, got {sigma_s}")
    out = smooth_hands(hands, sigma_s)
    return _finish(out, _quats(out), {"op": "smooth", "sigma_s": float(sigma_s)})


def mute(hands: HandMotion, side: str, at_s: float = 0.0, duration_s: float | None = None, fade_s: float = 0.5) -> HandMotion:
    """``--mute left|right|both``: lower the hand to the rest pose, then mask it.

    From ``at_s`` the hand blends to the built-in rest pose over ``fade_s``; from then its mask
    is false until ``at_s + duration_s`` (default: the end), after which it rises back to the
    original motion over ``fade_s`` with its original mask.
    """
    _check(side in SIDES, f"--mute takes left, right or both, got {side!r}")
    fps, num_frames = hands.fps, hands.num_frames
    start, fade = _frame(at_s, fps), max(0, _frame(fade_s, fps))
    end = num_frames if duration_s is None else start + _frame(duration_s, fps)
    _check(0 <= start < num_frames, f"--mute --at {at_s} s is outside the motion (0 to {hands.duration_s:.2f} s)")
    _check(end > start, f"--mute --duration must be > 0, got {duration_s}")
    fall = (num_frames + 1, num_frames + 1) if end >= num_frames else (end, end + fade)
    weight = _ramp_window(num_frames, (start, start + fade), fall)
    quat, transl, mask = _quats(hands), hands.transl.astype(np.float64), hands.mask.copy()
    rest_q, rest_t = _rest_quats()
    for h in SIDES[side]:
        _blend(quat, transl, h, rest_q[h], rest_t[h], weight)
        mask[start + fade : end, h] = False
    record = {"op": "mute", "side": side, "at_s": float(at_s), "duration_s": duration_s, "fade_s": float(fade_s)}
    return _finish(hands, quat, record, transl=transl, mask=mask)


def mirror(hands: HandMotion) -> HandMotion:
    """``--mirror``: swap the hands and reflect them across the body's x = 0 plane.

    Rotations (x, y, z) → (x, -y, -z), positions x → -x (DESIGN body frame, note §2.4); mask,
    betas and scores swap with their hand. Mirroring twice gives back the input exactly.
    """
    swap = [1, 0]
    transl = hands.transl[:, swap] * np.array([-1.0, 1.0, 1.0], np.float32)
    quat = axis_angle_to_quat(
        mirror_axis_angle(np.concatenate([hands.global_orient[:, swap, None], hands.hand_pose[:, swap]], axis=2))
    )
    return _finish(
        hands,
        quat,
        {"op": "mirror"},
        transl=transl,
        mask=hands.mask[:, swap],
        betas=hands.betas[swap],
        score=None if hands.score is None else hands.score[:, swap],
    )


def splice(
    hands: HandMotion,
    other: HandMotion,
    at_s: float | None = None,
    from_s: float = 0.0,
    duration_s: float | None = None,
    crossfade_s: float = 0.2,
    source: str | None = None,
    source_sha256: str | None = None,
) -> HandMotion:
    """``--splice OTHER --at T0 [--from S0] [--duration D] [--crossfade F]``: insert a segment.

    ``D`` seconds of ``other`` from ``S0`` (default: to its end), resampled to this file's fps,
    are inserted at ``T0`` (default: the end), so the result has ``T + round(D · fps)`` frames.
    Over the segment's first and last ``F`` seconds (at most half the segment) it cross-fades
    by slerp from / to the frames it is inserted between. The segment keeps its own mask.
    """
    if not np.isclose(other.fps, hands.fps):
        other = resample_hands(other, fps=hands.fps)
    fps, num_frames = hands.fps, hands.num_frames
    at = num_frames if at_s is None else _frame(at_s, fps)
    first = _frame(from_s, fps)
    count = other.num_frames - first if duration_s is None else _frame(duration_s, fps)
    name = source or "the spliced file"
    _check(0 <= at <= num_frames, f"--splice --at {at_s} s is outside the motion (0 to {hands.duration_s:.2f} s)")
    _check(0 <= first < other.num_frames, f"--splice --from {from_s} s is outside {name} (0 to {other.duration_s:.2f} s)")
    _check(count >= 1, f"--splice --duration {duration_s} s is shorter than one frame")
    _check(
        first + count <= other.num_frames,
        f"--splice --from {from_s} --duration {duration_s} runs past the end of {name} ({other.duration_s:.2f} s)",
    )
    fade = min(max(0, _frame(crossfade_s, fps)), count // 2)

    seg_q, seg_t = _quats(other)[first : first + count], other.transl[first : first + count].astype(np.float64)
    quat_a = _quats(hands)
    k = np.arange(count, dtype=np.float64)
    # Weight of the original's boundary frame at each segment frame (0 outside the fades).
    fade_in = 1.0 - _smoothstep((k + 1) / (fade + 1)) if fade else np.zeros(count)
    fade_out = 1.0 - _smoothstep((count - k) / (fade + 1)) if fade else np.zeros(count)
    for anchor, weight in ((at - 1, fade_in), (at, fade_out)):
        if not 0 <= anchor < num_frames:
            continue
        for h in (0, 1):
            if hands.mask[anchor, h]:
                _blend(seg_q, seg_t, h, quat_a[anchor, h], hands.transl[anchor, h], weight)

    score = None
    if hands.score is not None and other.score is not None:
        score = np.concatenate([hands.score[:at], other.score[first : first + count], hands.score[at:]])
    record = {
        "op": "splice",
        "source": source,
        "source_sha256": source_sha256,
        "at_s": at / fps,
        "from_s": float(from_s),
        "duration_s": count / fps,
        "crossfade_s": fade / fps,
        "frames": [num_frames, num_frames + count],
    }
    return _finish(
        hands,
        np.concatenate([quat_a[:at], seg_q, quat_a[at:]]),
        record,
        transl=np.concatenate([hands.transl[:at], seg_t, hands.transl[at:]]),
        mask=np.concatenate([hands.mask[:at], other.mask[first : first + count], hands.mask[at:]]),
        score=score,
    )


def key(
    hands: HandMotion,
    pose: HandMotion,
    at_s: float,
    from_s: float = 0.0,
    hold_s: float = 0.0,
    fade_s: float = 0.3,
    source: str | None = None,
    source_sha256: str | None = None,
) -> HandMotion:
    """``--key T=POSE.npz [--from S] [--duration HOLD] [--fade F]``: hold a keyframe pose.

    The pose is frame ``S`` of ``pose`` (default its first), for each hand valid there. The
    motion blends into it over the ``F`` seconds before ``T``, holds it for ``HOLD`` seconds and
    blends back out over ``F``; the keyed hand's mask is true where the pose is fully held.
    """
    fps, num_frames = hands.fps, hands.num_frames
    name = source or "the pose file"
    index = _frame(from_s, pose.fps)
    start, hold, fade = _frame(at_s, fps), max(0, _frame(hold_s, fps)), max(0, _frame(fade_s, fps))
    _check(0 <= index < pose.num_frames, f"--key --from {from_s} s is outside {name} (0 to {pose.duration_s:.2f} s)")
    _check(0 <= start < num_frames, f"--key at {at_s} s is outside the motion (0 to {hands.duration_s:.2f} s)")
    _check(bool(pose.mask[index].any()), f"--key: {name} has no valid hand at {from_s} s")
    weight = _ramp_window(num_frames, (start - fade, start), (start + hold, start + hold + fade))
    quat, transl, mask = _quats(hands), hands.transl.astype(np.float64), hands.mask.copy()
    target_q = _quats(pose)[index]
    for h in np.flatnonzero(pose.mask[index]):
        _blend(quat, transl, h, target_q[h], pose.transl[index, h], weight)
        mask[weight >= 1.0 - 1e-9, h] = True
    record = {
        "op": "key",
        "source": source,
        "source_sha256": source_sha256,
        "at_s": float(at_s),
        "from_s": float(from_s),
        "hold_s": float(hold_s),
        "fade_s": float(fade_s),
    }
    return _finish(hands, quat, record, transl=transl, mask=mask)


# ---------------------------------------------------------------------------------------------
# The operation list of ``edit-hands``
# ---------------------------------------------------------------------------------------------


@dataclass
class EditOp:
    """One parsed operation: ``name`` (amplitude, retime, smooth, mute, mirror, splice, key) and
    the keyword arguments of its function (``path`` for the file that splice and key read)."""

    name: str
    params: dict = field(default_factory=dict)


# option → (operation, keyword of its value or None for a flag)
_OPERATIONS = {
    "--amplitude": ("amplitude", "factor"),
    "--retime": ("retime", "speed"),
    "--smooth": ("smooth", "sigma_s"),
    "--mute": ("mute", "side"),
    "--mirror": ("mirror", None),
    "--splice": ("splice", "path"),
    "--key": ("key", "at_s=path"),
}
# sub-option → keyword, per operation that takes it
_SUBOPTIONS = {
    "mute": {"--at": "at_s", "--duration": "duration_s", "--fade": "fade_s"},
    "splice": {"--at": "at_s", "--from": "from_s", "--duration": "duration_s", "--crossfade": "crossfade_s"},
    "key": {"--from": "from_s", "--duration": "hold_s", "--fade": "fade_s"},
}
_ALL_SUBOPTIONS = sorted({s for subs in _SUBOPTIONS.values() for s in subs})


def _number(option: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{option} needs a number, got {text!r}") from None
    if not np.isfinite(value):
        raise InputError(f"{option} needs a finite number, got {text!r}")
    return value


def parse_operations(tokens: list[str]) -> tuple[list[str], list[EditOp]]:
    """Split ``edit-hands`` tokens into input files and operations, keeping the typed order.

    Accepts ``--opt value`` and ``--opt=value``. Returns (inputs, operations).

    Raises:
        InputError: unknown option (with a suggestion), missing or non-numeric value, a
            sub-option with no operation before it that takes it.
    """
    inputs: list[str] = []
    ops: list[EditOp] = []
    queue = list(tokens)
    while queue:
        token = queue.pop(0)
        if not token.startswith("--") or token == "--":
            if token != "--":
                inputs.append(token)
            continue
        option, _, inline = token.partition("=")
        if option not in _OPERATIONS and option not in _ALL_SUBOPTIONS:
            guess = difflib.get_close_matches(option, [*_OPERATIONS, *_ALL_SUBOPTIONS], n=1)
            raise InputError(f"unknown option {option!r}" + (f" (did you mean {guess[0]}?)" if guess else ""))
        name, keyword = _OPERATIONS.get(option, (None, None))
        takes_value = option in _ALL_SUBOPTIONS or keyword is not None
        value = None
        if takes_value:
            if inline:
                value = inline
            elif queue and not queue[0].startswith("--"):
                value = queue.pop(0)
            else:
                raise InputError(f"{option} needs a value")
        elif inline:
            raise InputError(f"{option} takes no value, got {inline!r}")
        if name is None:  # a sub-option: attach to the previous operation
            owner = ops[-1].name if ops else None
            if owner not in _SUBOPTIONS or option not in _SUBOPTIONS[owner]:
                takers = ", ".join(f"--{op}" for op, subs in _SUBOPTIONS.items() if option in subs)
                raise InputError(f"{option} must follow an operation that takes it ({takers})")
            ops[-1].params[_SUBOPTIONS[owner][option]] = _number(option, value)
            continue
        op = EditOp(name)
        if keyword in ("factor", "speed", "sigma_s"):
            op.params[keyword] = _number(option, value)
        elif keyword == "side":
            if value not in SIDES:
                raise InputError(f"--mute takes left, right or both, got {value!r}")
            op.params["side"] = value
        elif keyword == "path":
            op.params["path"] = Path(value)
        elif keyword == "at_s=path":
            time_text, sep, path = value.partition("=")
            if not sep or not path:
                raise InputError(f"--key needs TIME=POSE.npz, got {value!r}")
            op.params.update(at_s=_number("--key", time_text), path=Path(path))
        ops.append(op)
    return inputs, ops


_FUNCTIONS = {
    "amplitude": amplify,
    "retime": retime,
    "smooth": smooth,
    "mute": mute,
    "mirror": mirror,
    "splice": splice,
    "key": key,
}


def apply_edits(hands: HandMotion, ops: list[EditOp]) -> HandMotion:
    """Apply ``ops`` in order; splice and key read their ``path`` (a hands file).

    Raises:
        InputError: a bad parameter or an unreadable file (naming the option or the file).
    """
    for op in ops:
        params = dict(op.params)
        if "path" in params:
            path = Path(params.pop("path"))
            params["pose" if op.name == "key" else "other"] = read_hands(path)
            params.update(source=path.name, source_sha256=sha256_file(path))
        logger.debug("edit %s %s", op.name, params)
        hands = _FUNCTIONS[op.name](hands, **params)
    return hands


def edit_file(source: str | os.PathLike, output: str | os.PathLike, ops: list[EditOp], force: bool = False) -> dict:
    """Read ``source``, apply ``ops`` in order, write ``output`` atomically; returns a summary.

    Raises:
        InputError: unreadable input, bad operation, output exists without ``force``.
    """
    if not ops:
        raise InputError(
            "no edit operation given", hint="e.g. --smooth 0.05, --amplitude 1.3, --mirror; see emo2 edit-hands --help"
        )
    hands = read_hands(source)
    try:
        edited = apply_edits(hands, ops)
    except InputError as e:
        if e.path is None:
            e.path = Path(source)
        raise
    write_hands(edited, output, force=force)
    return {
        "frames": [hands.num_frames, edited.num_frames],
        "duration_s": [round(hands.duration_s, 3), round(edited.duration_s, 3)],
        "edits": [r["op"] for r in edited.meta["edits"][len(hands.meta.get("edits", [])) :]],
    }
