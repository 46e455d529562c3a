"""Rasterise hand maps with OpenCV: shaded hands (``emo2``), OpenPose keypoints, or a MANO mesh.

All three draw with the painter's algorithm: every primitive (a finger bone, a palm, a keypoint
edge, a mesh triangle) gets a depth (body +z, larger = nearer the camera), the primitives of
*both* hands are sorted together, and the farthest is drawn first. So a hand in front hides the
other, and fingers curled in front of their own palm are drawn over it (and behind it when the
back of the hand faces the camera). Only primitives loop in Python (about 40 per hand); pixels
are OpenCV's job.

``emo2`` style: each finger bone is a tapered capsule (a cone between two joint discs) with a
lighter highlight stripe; the palm is a filled polygon (wrist, thumb base, the four knuckles) with
a rounded outline as thick as a palm. Colours come from one palette per hand, warm for the right
hand and cool for the left, a hue per finger. Palm facing is shaded: when the palm faces the
camera the hand is tinted toward white, when the back faces the camera it is darkened, so a
viewer (or Stage 2) can tell the sides apart. Backgrounds are black.

``keypoints`` style: the 21-point OpenPose hand layer as drawn by controlnet_aux /
DWPose ``draw_handpose`` (edges in HSV rainbow colours, hue = edge / 20, 2 px wide; joints as
blue dots of radius 4), for tools that want 2D keypoint maps.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from emo2cli.formats.handmaps import Placement
from emo2cli.hands.skeleton import FINGER_CHAINS
from emo2cli.render.project import depth_of, project_points, scale_at

_SHIFT = 4  # sub-pixel bits for cv2 drawing (coordinates × 16)
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class HandPalette:
    """RGB colours of one hand: ``palm`` and ``fingers`` (thumb, index, middle, ring, pinky)."""

    palm: tuple[int, int, int]
    fingers: tuple[tuple[int, int, int], ...]


# Right hand warm (hues 320°-80°), left hand cool (hues 155°-280°): no colour is shared, and
# the hue steps along the fingers so finger order can be read.
PALETTES: dict[int, HandPalette] = {
    0: HandPalette(palm=(40, 70, 210), fingers=((0, 200, 120), (0, 220, 220), (0, 150, 255), (110, 90, 255), (190, 70, 255))),
    1: HandPalette(palm=(200, 40, 40), fingers=((230, 0, 150), (255, 110, 0), (255, 190, 0), (235, 235, 0), (150, 230, 0))),
}

# Surface sizes of the built-in hand (radii in metres at each joint of a finger chain, base →
# tip), from typical adult finger widths (about 20 mm proximal, 15 mm distal).
_FINGER_RADII_M = np.array(
    [
        [0.0130, 0.0105, 0.0092, 0.0080],  # thumb: CMC, MCP, IP, tip
        [0.0095, 0.0088, 0.0080, 0.0070],  # index: MCP, PIP, DIP, tip
        [0.0098, 0.0090, 0.0082, 0.0072],  # middle
        [0.0092, 0.0085, 0.0077, 0.0068],  # ring
        [0.0082, 0.0075, 0.0068, 0.0060],  # pinky
    ]
)
_PALM_EDGE_RADIUS_M = 0.011  # half the palm's thickness: the outline's rounding
_WRIST_HALF_WIDTH = 0.4  # wrist corners at ±0.4 × (index knuckle - pinky knuckle) from the wrist joint
_HIGHLIGHT_MIX = 0.35  # highlight stripe: this much toward white
_HIGHLIGHT_WIDTH = 0.4  # stripe radius / bone radius

# OpenPose hand edges in draw_handpose order (its colour index is the position in this list).
OPENPOSE_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
    (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
OPENPOSE_EDGE_COLOURS = tuple(
    tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(i / len(OPENPOSE_EDGES), 1.0, 1.0)) for i in range(len(OPENPOSE_EDGES))
)
OPENPOSE_POINT_COLOUR = (0, 0, 255)


def _fixed(points_px: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points_px) * _ONE).astype(np.int32)


def _colour(rgb: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.round(rgb), 0, 255))


def palm_facing(joints_m: np.ndarray, hand: int) -> np.ndarray:
    """Cosine between the palm's outward normal and the direction to the camera (+z).

    Args:
        joints_m: [..., 21, 3] joints, body frame.
        hand: 0 left, 1 right.

    Returns:
        [...] in [-1, 1]: 1 = palm faces the camera, -1 = the back of the hand does.
    """
    wrist = joints_m[..., 0, :]
    normal = np.cross(joints_m[..., 5, :] - wrist, joints_m[..., 17, :] - wrist)
    normal *= 1.0 if hand == 1 else -1.0  # the right hand's (index × pinky) points out of the palm; mirrored for the left
    return normal[..., 2] / np.maximum(np.linalg.norm(normal, axis=-1), 1e-12)


def _shade(rgb: tuple[int, int, int], facing: float) -> np.ndarray:
    """Palm side → toward white (up to 40 %), back side → darker (down to 55 %)."""
    base = np.asarray(rgb, np.float64)
    if facing >= 0:
        return base + (255.0 - base) * 0.4 * facing
    return base * (1.0 + 0.45 * facing)


def _draw_cone(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float, colour: tuple) -> None:
    """A tapered capsule between pixel points ``a`` and ``b`` with radii ``ra``, ``rb`` (pixels)."""
    fa, fb = _fixed(a), _fixed(b)
    cv2.circle(canvas, tuple(fa), max(int(round(ra * _ONE)), 1), colour, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(canvas, tuple(fb), max(int(round(rb * _ONE)), 1), colour, -1, cv2.LINE_AA, _SHIFT)
    d = b - a
    length = float(np.hypot(*d))
    if length > 1e-6:
        n = np.array([-d[1], d[0]]) / length
        quad = np.stack([a + n * ra, b + n * rb, b - n * rb, a - n * ra])
        cv2.fillConvexPoly(canvas, _fixed(quad), colour, cv2.LINE_AA, _SHIFT)


def _hand_primitives(joints_m: np.ndarray, hand: int, placement: Placement) -> list[tuple[float, int, tuple]]:
    """(depth, order, drawing arguments) of one hand's palm and 15 finger bones."""
    px = project_points(joints_m, placement)  # [21, 2]
    ppm = scale_at(joints_m, placement)  # [21]
    depth = depth_of(joints_m)
    palette = PALETTES[hand]
    facing = float(palm_facing(joints_m, hand))
    prims: list[tuple[float, int, tuple]] = []

    # palm: wrist corners, thumb base and the middle of the thumb's metacarpal (the thenar
    # pad), knuckles (index → pinky)
    across = joints_m[5] - joints_m[17]
    thenar = joints_m[1] + 0.75 * (joints_m[2] - joints_m[1])
    palm_m = np.stack([joints_m[0] + _WRIST_HALF_WIDTH * across, joints_m[1], thenar, joints_m[5], joints_m[9], joints_m[13], joints_m[17], joints_m[0] - _WRIST_HALF_WIDTH * across])
    palm_px = project_points(palm_m, placement)
    palm_colour = _colour(_shade(palette.palm, facing))
    edge_px = float(_PALM_EDGE_RADIUS_M * scale_at(palm_m, placement).mean())
    prims.append((float(depth_of(palm_m).mean()), 0, ("palm", palm_px, palm_colour, edge_px)))

    for finger in range(5):
        chain = FINGER_CHAINS[finger]
        base_rgb = _shade(palette.fingers[finger], facing)
        colour = _colour(base_rgb)
        highlight = _colour(base_rgb + (255.0 - base_rgb) * _HIGHLIGHT_MIX)
        for level in range(3):
            j0, j1 = chain[level], chain[level + 1]
            r0 = _FINGER_RADII_M[finger, level] * ppm[j0]
            r1 = _FINGER_RADII_M[finger, level + 1] * ppm[j1]
            prims.append((0.5 * (depth[j0] + depth[j1]), 1 + finger * 3 + level, ("bone", px[j0], px[j1], r0, r1, colour, highlight)))
    return prims


def draw_hands_emo2(canvas: np.ndarray, joints_m: np.ndarray, visible: np.ndarray, placement: Placement) -> np.ndarray:
    """Draw both hands in the ``emo2`` style onto ``canvas`` (in place) and return it.

    Args:
        canvas: [H, W, 3] uint8 RGB.
        joints_m: [2, 21, 3] joints, metres, body frame (hand 0 left, 1 right).
        visible: [2] bool, hands to draw (the frame's mask).
        placement: body frame → pixels.
    """
    prims = []
    for hand in (0, 1):
        if visible[hand]:
            prims += [(d, hand, order, args) for d, order, args in _hand_primitives(joints_m[hand], hand, placement)]
    prims.sort(key=lambda p: (p[0], p[1], p[2]))  # farthest first; ties in a fixed order (deterministic)
    for _, _, _, args in prims:
        if args[0] == "palm":
            _, palm_px, colour, edge_px = args
            hull = cv2.convexHull(_fixed(palm_px))
            cv2.fillConvexPoly(canvas, hull, colour, cv2.LINE_AA, _SHIFT)
            cv2.polylines(canvas, [hull], True, colour, max(int(round(2 * edge_px)), 1), cv2.LINE_AA, _SHIFT)
        else:
            _, a, b, r0, r1, colour, highlight = args
            _draw_cone(canvas, a, b, r0, r1, colour)
            # highlight stripe: a thinner cone shifted toward the upper left (a light from there)
            offset = np.array([-0.25, -0.35]) * (r0 + r1) * 0.5
            _draw_cone(canvas, a + offset, b + offset, r0 * _HIGHLIGHT_WIDTH, r1 * _HIGHLIGHT_WIDTH, highlight)
    return canvas


def draw_hands_keypoints(canvas: np.ndarray, joints_m: np.ndarray, visible: np.ndarray, placement: Placement) -> np.ndarray:
    """Draw both hands as OpenPose 21-keypoint maps (edges by depth, then the dots); in place."""
    px = project_points(joints_m, placement)  # [2, 21, 2]
    depth = depth_of(joints_m)
    edges = []
    for hand in (0, 1):
        if visible[hand]:
            edges += [(0.5 * (depth[hand, a] + depth[hand, b]), hand, i) for i, (a, b) in enumerate(OPENPOSE_EDGES)]
    edges.sort()
    for _, hand, i in edges:
        a, b = OPENPOSE_EDGES[i]
        cv2.line(canvas, tuple(_fixed(px[hand, a])), tuple(_fixed(px[hand, b])), OPENPOSE_EDGE_COLOURS[i], 2, cv2.LINE_AA, _SHIFT)
    for hand in (0, 1):
        if visible[hand]:
            for point in _fixed(px[hand]):
                cv2.circle(canvas, tuple(point), 4 * _ONE, OPENPOSE_POINT_COLOUR, -1, cv2.LINE_AA, _SHIFT)
    return canvas


def mesh_parts(weights: np.ndarray) -> np.ndarray:
    """[V, 16] MANO skinning weights → [V] part id: 0 palm, 1-5 thumb, index, middle, ring, pinky."""
    joint = np.argmax(np.asarray(weights), axis=1)
    # MANO joints: 0 wrist, 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb
    part_of_joint = np.array([0, 2, 2, 2, 3, 3, 3, 5, 5, 5, 4, 4, 4, 1, 1, 1])
    return part_of_joint[joint]


def draw_hands_mesh(
    canvas: np.ndarray,
    vertices_m: np.ndarray,
    faces: tuple[np.ndarray, np.ndarray],
    parts: tuple[np.ndarray, np.ndarray],
    joints_m: np.ndarray,
    visible: np.ndarray,
    placement: Placement,
) -> np.ndarray:
    """Draw MANO meshes of both hands (painter's order over all triangles); in place.

    Triangle colour is its part's palette colour, shaded by palm facing like ``emo2`` and by
    Lambert lighting of the triangle's normal (|n_z|, so both windings light alike).

    Args:
        vertices_m: [2, V, 3] body frame; faces: per hand [F, 3] int; parts: per hand [V] part id
            (:func:`mesh_parts`); joints_m: [2, 21, 3] (for palm facing); visible: [2] bool.
    """
    tris_px, tris_depth, tris_colour = [], [], []
    for hand in (0, 1):
        if not visible[hand]:
            continue
        palette = PALETTES[hand]
        facing = float(palm_facing(joints_m[hand], hand))
        colours = np.array([_shade(palette.palm, facing)] + [_shade(c, facing) for c in palette.fingers])  # [6, 3]
        tri = vertices_m[hand][faces[hand]]  # [F, 3, 3]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        light = 0.45 + 0.55 * np.abs(normal[:, 2]) / np.maximum(np.linalg.norm(normal, axis=1), 1e-12)
        tris_px.append(project_points(tri, placement))
        tris_depth.append(depth_of(tri).mean(1))
        tris_colour.append(colours[parts[hand][faces[hand][:, 0]]] * light[:, None])
    if not tris_px:
        return canvas
    px = _fixed(np.concatenate(tris_px))
    order = np.argsort(np.concatenate(tris_depth), kind="stable")
    colour = np.clip(np.round(np.concatenate(tris_colour)), 0, 255).astype(int)
    for i in order:
        cv2.fillConvexPoly(canvas, px[i], colour[i].tolist(), cv2.LINE_8, _SHIFT)
    return canvas
