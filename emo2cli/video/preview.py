"""The weight-free preview backend: the portrait with the hand maps composited, clearly labelled.

Without Stage 2 weights ``gen-video`` cannot make the diffusion video. It makes this instead, so
the rest of the pipeline (audio features, gestures, placement, timing) can be checked: each frame
is the portrait, fitted to the output frame exactly as ``render-hands`` fitted it, with that
frame's hand map laid over it (``render-hands --overlay``'s compositing: black is transparent;
near-black H.264 noise of the hand-map video is dropped first) and a "PREVIEW" label that says what it is. It never pretends to be the diffusion output (DESIGN §4). Frames stay in step with the audio
because there is one per feature row, written at the preset's fps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from emo2cli.render.render import composite

logger = logging.getLogger(__name__)

LABEL = "PREVIEW"
SUBLABEL = "portrait + hand maps, not the diffusion video"
NOISE_FLOOR = 24  # hand-map pixels dimmer than this (max channel) are codec noise on the black background


def draw_label(frame: np.ndarray, text: str = LABEL, subtext: str = SUBLABEL) -> np.ndarray:
    """Draw the preview label (white on a dark box, top left) in place; returns ``frame``.

    Sizes follow the frame width, so the label reads the same at 64 or 1024 pixels.
    """
    height, width = frame.shape[:2]
    scale = max(width / 512.0, 0.2)
    font = cv2.FONT_HERSHEY_DUPLEX
    big, small = 1.1 * scale, 0.42 * scale
    thick_big, thick_small = max(1, round(2 * scale)), max(1, round(scale))
    (tw, th), _ = cv2.getTextSize(text, font, big, thick_big)
    (sw, sh), _ = cv2.getTextSize(subtext, font, small, thick_small)
    pad = max(2, round(8 * scale))
    box_w = min(width, max(tw, sw) + 2 * pad)
    box_h = min(height, th + sh + 3 * pad)
    region = frame[:box_h, :box_w].astype(np.float32)
    frame[:box_h, :box_w] = (region * 0.35).astype(np.uint8)  # darken, keep a hint of the image
    cv2.putText(frame, text, (pad, pad + th), font, big, (255, 255, 255), thick_big, cv2.LINE_AA)
    cv2.putText(frame, subtext, (pad, 2 * pad + th + sh), font, small, (235, 235, 235), thick_small, cv2.LINE_AA)
    return frame


def preview_frames(portrait: np.ndarray, hand_maps: Iterable[np.ndarray], reason: str = "") -> Iterator[np.ndarray]:
    """The preview video, one frame per hand map.

    Args:
        portrait: [H, W, 3] uint8, the portrait already fitted to the output frame
            (``emo2cli.render.placement.place_on_portrait``).
        hand_maps: [H, W, 3] uint8 hand maps drawn with the same placement.
        reason: why this is a preview (logged once as a warning).

    Yields:
        [H, W, 3] uint8 labelled frames.
    """
    logger.warning("making a PREVIEW (portrait + hand maps, labelled), not the diffusion video%s", f": {reason}" if reason else "")
    for hand_map in hand_maps:
        if hand_map.shape != portrait.shape:
            raise ValueError(f"hand map is {hand_map.shape}, the fitted portrait {portrait.shape}")
        clean = np.where(hand_map.max(axis=2, keepdims=True) >= NOISE_FLOOR, hand_map, 0).astype(np.uint8)
        yield draw_label(composite(clean, portrait))
