"""EchoMimicV2's hand-keypoint maps (``render-hands --style echomimicv2``) and its square half-body crop.

Their pose encoder was trained on maps drawn by ``draw_pose_select_v2`` + ``draw_handpose``
(antgroup/echomimic_v2 ``src/utils/dwpose_util.py`` at a312dec; the maps ``infer.py`` feeds it),
and converted weights (``emo2 convert-weights echomimicv2``) only see what looks like them:

- **hands only**: 21 OpenPose-order points per hand (our forward kinematics, projected with the
  placement), hand 0 (the subject's left, DWPose's first hand) drawn first, then hand 1;
- a **black canvas** whose short side is 800 px (``ref_w=800``), the frame's aspect kept;
- per hand, the **20 bones** as ``cv2.line`` (8-connected, thickness 2), colour
  ``hsv_to_rgb(i / 20, 1, 1) · int(s_a · s_b · 255)`` for bone i and end confidences s, then the
  **21 points** as filled radius-4 circles of colour ``(0, 0, int(s · 255))``; a point whose
  canvas coordinate (``int(x · W_canvas)``, as theirs) is not > 0.01 is skipped with its bones;
- all colours written into a BGR canvas, then ``cv2.resize`` to the frame (bilinear) and
  **BGR → RGB**, so bone i's RGB colour is the reversed triple and the points are red.

Our hands have confidence 1 where the mask is true. A masked hand would be drawn at confidence 0
(black) by theirs; we skip it, which differs only where that black would cover the other hand.
The pose encoder reads these RGB maps / 255 in [0, 1] (``emo2cli.video.guidance.guidance_input``).

**Crop** (``render.fit: halfbody``): their training crop (``EMTD_dataset/preprocess.py``
``get_pose_params``) spans the top of the face landmarks (eyebrows) to the lowest of the nose,
neck, shoulders, right elbow/wrist and left elbow, plus 0.1625 h above and 0.125 h below,
squared around the neck, at 768 × 768. We have a neck base and a shoulder width (pose, face or
centred framing), so the same box comes from body proportions in the body frame's units
(shoulders 0.36 m apart): eyebrows 0.26 m above the neck base (0.25 and 0.285 m measured through
our placement on the two bundled portraits) and the elbows of hanging arms 0.30 m below it
(h = 0.56 m) give a square of ``HALFBODY_SIDE_M`` = 0.72 m with the neck base ``HALFBODY_TOP_M``
= 0.35 m below its top edge, centred horizontally. Where the box leaves the portrait, the
portrait's edge pixels are repeated (theirs pads black only to square a non-square crop).
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from emo2cli.formats.handmaps import Placement
from emo2cli.render.draw import OPENPOSE_EDGES
from emo2cli.render.project import project_points

REF_SHORT_SIDE = 800  # ref_w in their infer.py
POINT_RADIUS = 4
LINE_THICKNESS = 2
EPS = 0.01  # their threshold on canvas coordinates

_EYEBROWS_M, _ELBOWS_M = 0.26, 0.30  # above / below the neck base, body-frame metres (module docstring)
_H = _EYEBROWS_M + _ELBOWS_M
HALFBODY_TOP_M = _EYEBROWS_M + 0.1625 * _H  # neck base below the crop's top edge
HALFBODY_SIDE_M = _H * (1 + 0.1625 + 0.125)  # the square's side
SHOULDER_WIDTH_M = 0.36  # the body frame's neutral shoulder width (DESIGN §2)


def bone_colour(index: int, score: float = 1.0) -> tuple[float, float, float]:
    """Canvas (BGR) colour of bone ``index`` as theirs: ``hsv_to_rgb(i / 20, 1, 1) · int(score · 255)``."""
    level = int(score * 255)
    return tuple(c * level for c in colorsys.hsv_to_rgb(index / len(OPENPOSE_EDGES), 1.0, 1.0))


def draw_keypoint_map(points_px: np.ndarray, scores: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Their hand-keypoint map of the given points.

    Args:
        points_px: [N, 21, 2] float (x, y) pixels in the output frame, OpenPose hand order, drawn
            in order (hand 0 first).
        scores: [N, 21] confidences in [0, 1].
        size: (H, W) of the output frame.

    Returns:
        [H, W, 3] uint8 RGB.
    """
    height, width = size
    ratio = REF_SHORT_SIDE / min(height, width) if min(height, width) != REF_SHORT_SIDE else 1
    canvas = np.zeros((int(height * ratio), int(width * ratio), 3), np.uint8)
    canvas_h, canvas_w = canvas.shape[:2]
    for peaks, conf in zip(np.asarray(points_px, np.float64), np.asarray(scores, np.float64)):
        xs = [int(x / width * canvas_w) for x in peaks[:, 0]]
        ys = [int(y / height * canvas_h) for y in peaks[:, 1]]
        for i, (a, b) in enumerate(OPENPOSE_EDGES):
            if xs[a] > EPS and ys[a] > EPS and xs[b] > EPS and ys[b] > EPS:
                cv2.line(canvas, (xs[a], ys[a]), (xs[b], ys[b]), bone_colour(i, conf[a] * conf[b]), thickness=LINE_THICKNESS)
        for x, y, s in zip(xs, ys, conf):
            if x > EPS and y > EPS:
                cv2.circle(canvas, (x, y), POINT_RADIUS, (0, 0, int(s * 255)), thickness=-1)
    return cv2.cvtColor(cv2.resize(canvas, (width, height)), cv2.COLOR_BGR2RGB)


def draw_hands_echomimic(joints_m: np.ndarray, visible: np.ndarray, placement: Placement) -> np.ndarray:
    """[2, 21, 3] body-frame joints (metres), [2] bool mask → [H, W, 3] uint8 RGB map (visible hands only)."""
    hands = [h for h in (0, 1) if visible[h]]
    points = project_points(np.asarray(joints_m)[hands], placement)  # [n, 21, 2]
    return draw_keypoint_map(points, np.ones(points.shape[:2]), placement.frame_size)


def halfbody_fit(
    size: tuple[int, int], anchor_px: tuple[float, float], shoulder_width_px: float
) -> tuple[float, tuple[float, float]]:
    """(scale, offset) that maps a portrait onto their square half-body crop (``render.fit: halfbody``).

    Args:
        size: (H, W) of the output frame (square for their weights: 768 × 768).
        anchor_px: neck base in portrait pixels.
        shoulder_width_px: shoulder width in portrait pixels (0.36 m).

    Returns:
        scale (portrait → frame pixels) and the frame pixel of the portrait's top-left corner.
    """
    height, width = size
    portrait_ppm = shoulder_width_px / SHOULDER_WIDTH_M
    scale = min(height, width) / (HALFBODY_SIDE_M * portrait_ppm)
    offset_x = round(width / 2 - anchor_px[0] * scale)
    offset_y = round((height - min(height, width)) / 2 + HALFBODY_TOP_M * portrait_ppm * scale - anchor_px[1] * scale)
    return float(scale), (float(offset_x), float(offset_y))
