"""Body-frame metres → output-frame pixels, through a :class:`~emo2cli.formats.handmaps.Placement`.

Image axes: x to the right, y down. The subject faces the camera, so the body's +x (the
subject's left) is the image's +x (the subject's left hand appears on the viewer's right), and
the body's +y (up) is the image's -y. Cameras:

- ``weak`` (default): ``px = anchor_px + pixels_per_m * (x, -y)``; depth only orders drawing.
- ``pinhole``: the camera sits ``camera_distance_m`` in front of the body plane (at body
  ``z = D``) looking at the anchor: ``px = anchor_px + focal_px * (x, -y) / (D - z)``, with
  ``focal_px = pixels_per_m * D`` so the body plane (z = 0) has the same scale as ``weak``.
"""

from __future__ import annotations

import numpy as np

from emo2cli.formats.handmaps import Placement

_MIN_DEPTH_M = 0.05  # points closer to the pinhole than this are clamped (they would flip)


def _focal_px(placement: Placement) -> float:
    return placement.focal_px or placement.pixels_per_m * placement.camera_distance_m


def scale_at(points_m: np.ndarray, placement: Placement) -> np.ndarray:
    """Pixels per metre at each point: [..., 3] → [...] (constant under the weak camera)."""
    points_m = np.asarray(points_m, np.float64)
    if placement.camera == "weak":
        return np.full(points_m.shape[:-1], placement.pixels_per_m)
    distance = np.maximum(placement.camera_distance_m - points_m[..., 2], _MIN_DEPTH_M)
    return _focal_px(placement) / distance


def project_points(points_m: np.ndarray, placement: Placement) -> np.ndarray:
    """[..., 3] metres, body frame → [..., 2] float64 pixels (x right, y down) in the output frame."""
    points_m = np.asarray(points_m, np.float64)
    scale = scale_at(points_m, placement)[..., None]
    xy = points_m[..., :2] * np.array([1.0, -1.0])
    return np.asarray(placement.anchor_px, np.float64) + scale * xy


def depth_of(points_m: np.ndarray) -> np.ndarray:
    """Drawing depth of [..., 3] points: larger is nearer the camera (body +z, both cameras)."""
    return np.asarray(points_m, np.float64)[..., 2]
