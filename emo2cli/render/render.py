"""Hands file + placement → hand-map frames (DESIGN §2 "Hand maps"), and the ``render-hands`` job.

:func:`render_hands` is the frame iterator everything else uses (the CLI, the Stage 2 preview,
evaluation); :func:`render_handmaps` is the whole command: read the hands file, place the body
on the portrait, draw, write ``NAME.handmaps.mp4`` (or PNG frames) and the ``.handmaps.json``
sidecar that lets Stage 2 and ``evaluate`` reproduce the placement.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from emo2cli import __version__
from emo2cli.config import RenderConfig
from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_dir, refuse_overwrite, sha256_file
from emo2cli.formats.handmaps import HandMapsInfo, Placement, sidecar_path, write_handmaps_info
from emo2cli.formats.hands import HandMotion, read_hands
from emo2cli.hands.skeleton import FINGER_NAMES
from emo2cli.hands.kinematics import BuiltinHands, load_hand_model, model_joints
from emo2cli.render import draw
from emo2cli.render.echomimic import draw_hands_echomimic

logger = logging.getLogger(__name__)

STYLES = ("emo2", "keypoints", "echomimicv2")
OVERLAY_ALPHA = 0.85  # hand-map opacity over the portrait with --overlay
_MESH_CHUNK = 32  # frames of MANO vertices computed at a time (bounded memory)


def render_hands(
    hands: HandMotion,
    placement: Placement,
    style: str = "emo2",
    hand_model=None,
    background: np.ndarray | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[np.ndarray]:
    """Draw every frame of ``hands`` at ``placement``.

    Args:
        hands: the motion; frames where a hand's mask is false do not draw that hand (a frame
            with both masked is black, or the plain background).
        placement: body frame → output pixels (``frame_size`` is the output size).
        style: "emo2" (shaded hands; the MANO mesh when ``hand_model`` is MANO),
            "keypoints" (OpenPose 21-point layer) or "echomimicv2" (EchoMimicV2's hand-keypoint maps).
        hand_model: :class:`~emo2cli.hands.kinematics.BuiltinHands` (None) or a ``ManoHands``.
        background: optional [H, W, 3] uint8 fitted portrait: hands are composited over it
            (``--overlay``) instead of black.
        on_progress: called as ``on_progress(done, total)`` after each frame.

    Yields:
        [H, W, 3] uint8 RGB frames, ``hands.num_frames`` of them.
    """
    if style not in STYLES:
        raise InputError(f"unknown style '{style}'; choose from {', '.join(STYLES)}")
    h, w = placement.frame_size
    if background is not None and background.shape != (h, w, 3):
        raise ValueError(f"background must be [{h}, {w}, 3], got {list(background.shape)}")
    hand_model = hand_model or BuiltinHands()
    joints = model_joints(hands, hand_model).astype(np.float64)  # [T, 2, 21, 3]
    mask = np.asarray(hands.mask, bool)
    total = hands.num_frames
    mesh = style == "emo2" and getattr(hand_model, "faces", None) is not None
    if mesh:
        parts = tuple(draw.mesh_parts(m.lbs_weights.numpy()) for m in hand_model.models)
    vertices = None
    for t in range(total):
        canvas = np.zeros((h, w, 3), np.uint8)
        if mask[t].any():
            if style == "keypoints":
                draw.draw_hands_keypoints(canvas, joints[t], mask[t], placement)
            elif style == "echomimicv2":  # EchoMimicV2's maps, drawn at their canvas size (emo2cli.render.echomimic)
                canvas = draw_hands_echomimic(joints[t], mask[t], placement)
            elif mesh:
                if t % _MESH_CHUNK == 0:
                    vertices = _mesh_chunk(hands, hand_model, t, min(t + _MESH_CHUNK, total))
                draw.draw_hands_mesh(canvas, vertices[t % _MESH_CHUNK], hand_model.faces, parts, joints[t], mask[t], placement)
            else:
                draw.draw_hands_emo2(canvas, joints[t], mask[t], placement)
        elif mesh and t % _MESH_CHUNK == 0:
            vertices = _mesh_chunk(hands, hand_model, t, min(t + _MESH_CHUNK, total))
        yield canvas if background is None else composite(canvas, background)
        if on_progress is not None:
            on_progress(t + 1, total)


def _mesh_chunk(hands: HandMotion, model, start: int, stop: int) -> np.ndarray:
    """[stop - start, 2, 778, 3] MANO vertices (body frame)."""
    sl = slice(start, stop)
    per_hand = [
        model.forward(hands.global_orient[sl, h], hands.hand_pose[sl, h], hands.transl[sl, h], h, hands.betas[h], return_vertices=True)[1]
        for h in (0, 1)
    ]
    return np.stack(per_hand, axis=1)


def composite(hand_map: np.ndarray, background: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Hand-map pixels (non-black) over the background at ``alpha`` opacity: [H, W, 3] uint8."""
    drawn = hand_map.any(axis=2, keepdims=True)
    mixed = cv2.addWeighted(hand_map, alpha, background, 1.0 - alpha, 0.0)
    return np.where(drawn, mixed, background)


# ---------------------------------------------------------------------------------------------
# The render-hands job
# ---------------------------------------------------------------------------------------------


def _write_frames_dir(frames: Iterator[np.ndarray], folder: Path, force: bool) -> int:
    """PNG frames ``000000.png ...`` into ``folder``, built in a temporary sibling and renamed."""
    count = 0
    with atomic_dir(folder, force) as tmp:
        for i, frame in enumerate(frames):
            if not cv2.imwrite(str(tmp / f"{i:06d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
                raise InputError("cannot write PNG frames here", path=folder)
            count += 1
    return count


def render_handmaps(
    hands_path: str | os.PathLike,
    output: str | os.PathLike,
    render: RenderConfig | None = None,
    *,
    portrait: str | os.PathLike | None = None,
    frames_dir: bool = False,
    overlay: bool = False,
    anchor_px: tuple[float, float] | None = None,
    shoulder_width_px: float | None = None,
    scale: float | None = None,
    mano_dir: str | os.PathLike | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> HandMapsInfo:
    """Render one hands file to ``output`` (an ``.mp4``, or a PNG folder when ``frames_dir``).

    The sidecar ``NAME.handmaps.json`` (``DIR.handmaps.json`` for a folder) is written after the
    frames. Size, camera, style and hand model come from ``render`` (the preset); the keyword
    arguments are the command's flags.

    Raises:
        InputError: unreadable or wrong-version hands file, non-image portrait, ``--overlay``
            without a portrait, an existing output without ``force``, an unwritable output.
        MissingPrerequisite: ``hand_model: mano`` without MANO files.
    """
    from emo2cli.formats.video import VideoWriter
    from emo2cli.render.placement import place_on_portrait

    render = render or RenderConfig()
    hands_path, output = Path(hands_path), Path(output)
    hands = read_hands(hands_path)
    if overlay and portrait is None:
        raise InputError("--overlay needs --portrait (the picture to draw the hands over)")
    sidecar = sidecar_path(output)
    refuse_overwrite(output, force)
    refuse_overwrite(sidecar, force)
    size = (render.height, render.width)
    overrides = dict(camera=render.camera, camera_distance_m=render.camera_distance_m, anchor_px=anchor_px, shoulder_width_px=shoulder_width_px, scale=scale)
    placement, fitted = place_on_portrait(portrait, size, fit=render.fit, **overrides)
    model = load_hand_model(render, mano_dir)
    logger.info("%s: %d frames at %g fps, %s hand, %s placement", hands_path, hands.num_frames, hands.fps, model.name, placement.source)
    frames = render_hands(hands, placement, render.style, model, fitted if overlay else None, on_progress)
    if frames_dir:
        _write_frames_dir(frames, output, force)
    else:
        with VideoWriter(output, hands.fps, size, force=force) as writer:
            for frame in frames:
                writer.write(frame)
    info = HandMapsInfo(
        fps=float(hands.fps),
        num_frames=hands.num_frames,
        placement=placement,
        style=render.style,
        hands_source=str(hands_path),
        hands_sha256=sha256_file(hands_path),
        extra={
            "producer": f"emo2cli {__version__}",
            "hand_model": model.name,
            "overlay": overlay,
            "portrait": str(portrait) if portrait is not None else "",
            "container": "png" if frames_dir else "mp4",
            "fit": render.fit,
            "palettes": {"left": _palette_dict(0), "right": _palette_dict(1)},
        },
    )
    write_handmaps_info(info, sidecar, force=force)
    return info


def _palette_dict(hand: int) -> dict:
    p = draw.PALETTES[hand]
    return {"palm": list(p.palm), **{name: list(c) for name, c in zip(FINGER_NAMES, p.fingers)}}


def load_fitted_portrait(portrait: str | os.PathLike, placement: Placement) -> np.ndarray:
    """The portrait as it appears under a recorded placement (Stage 2 uses this): [H, W, 3] uint8."""
    from emo2cli.render.placement import fit_portrait, load_portrait

    return fit_portrait(load_portrait(portrait), placement)
