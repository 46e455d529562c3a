"""Place the body frame on a portrait: shoulders → neck-base anchor and pixels per metre.

Order of attempts, each later one with a logged warning (never a crash):

1. **pose**: mediapipe's pose landmarker (``mediapipe.solutions.pose``, bundled in the 0.10.14
   wheel, runs offline) finds both shoulders (landmarks 11, 12, visibility ≥ 0.5). The anchor is
   their midpoint (the body frame's origin, DESIGN §2) and ``pixels_per_m = distance / 0.36``
   (the neutral shoulder width).
2. **face**: mediapipe's full-range face detector gives a face box. Ratios (adult anthropometry,
   checked against the pose placement on the two bundled portraits, agreeing within ~15 %): the
   box is ``FACE_BOX_WIDTH_M`` = 0.18 m wide (bizygomatic breadth ≈ 0.14 m plus the detector's
   margin), and the neck base lies ``NECK_BELOW_FACE_M`` = 0.125 m below the box's lower edge
   (chin to the shoulder line), under the box's centre.
3. **centre**: a centred half-body framing like the bundled portraits: neck base at
   (0.5, 0.46) of the portrait's width and height, shoulders 0.37 × its shorter side wide.

Without mediapipe (the ``emo2cli[vision]`` extra) step 3 is used, with a warning naming the
extra. Manual overrides win over all of them (``source = "manual"``): ``anchor_px`` and
``shoulder_width_px`` in *output-frame* pixels, and ``scale``, a factor on pixels per metre.

**Portrait fit** (recorded in the Placement, reproduced by :func:`fit_portrait`, so Stage 2
sees the same geometry): the portrait is scaled to *cover* the output frame (``fit="cover"``,
default: no padding, the overhang is cropped) and shifted so the anchor lands as near to
(0.5 W, 0.46 H) as the crop allows; or scaled to fit inside it (``fit="contain"``), centred, and
padded by repeating its edge pixels; or (``fit="halfbody"``) EchoMimicV2's square crop from the
eyebrows to the elbows, scaled from the shoulder width (:mod:`emo2cli.render.echomimic`), padded
the same way where it leaves the portrait. Frame pixel = portrait pixel × ``fit_scale`` +
``fit_offset_px`` (to within half a pixel of rounding).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.formats.handmaps import Placement
from emo2cli.vision import import_mediapipe, native_stderr_to_log

logger = logging.getLogger(__name__)

SHOULDER_WIDTH_M = 0.36  # neutral shoulder width of the body frame (DESIGN §2)
FACE_BOX_WIDTH_M = 0.18
NECK_BELOW_FACE_M = 0.125
CENTRE_ANCHOR = (0.5, 0.46)  # (x, y) fractions of width and height
CENTRE_SHOULDERS = 0.37  # × the shorter side
FRAME_ANCHOR = (0.5, 0.46)  # where the cover fit tries to put the anchor in the output frame
MIN_VISIBILITY = 0.5
DEFAULT_CAMERA_DISTANCE_M = 1.5  # pinhole camera in front of the body plane


@dataclass(frozen=True)
class BodyLandmarks:
    """What was found on the portrait, in portrait pixels.

    Attributes:
        source: "pose", "face" or "centre".
        anchor_px: (x, y) neck base.
        shoulder_width_px: shoulder distance (or its equivalent from the face / framing).
        shoulders_px: [2, 2] (subject's left, right) shoulders, pose only.
        wrists_px: [2, 2] (subject's left, right) wrists when the pose landmarker saw them
            (visibility ≥ 0.5), else None; gen-hands may use them to seed the rest pose.
        face_box_px: (x, y, w, h) when a face was detected.
    """

    source: str
    anchor_px: tuple[float, float]
    shoulder_width_px: float
    shoulders_px: np.ndarray | None = None
    wrists_px: np.ndarray | None = None
    face_box_px: tuple[float, float, float, float] | None = None


def load_portrait(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as [H, W, 3] uint8 RGB.

    Raises:
        InputError: missing file, or not an image OpenCV can decode.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", path=p)
    data = np.fromfile(p, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError("is not an image (PNG, JPEG, WebP ...)", path=p, hint="give a portrait picture with --portrait")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------------------------------------
# Detection (mediapipe, imported lazily through emo2cli.vision)
# ---------------------------------------------------------------------------------------------


def _detect_pose(mp, image: np.ndarray) -> BodyLandmarks | None:
    h, w = image.shape[:2]
    with native_stderr_to_log(), mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        result = pose.process(image)
    if result.pose_landmarks is None:
        return None
    lm = result.pose_landmarks.landmark

    def points(ids):
        xy = np.array([[lm[i].x * w, lm[i].y * h] for i in ids])
        ok = all(lm[i].visibility >= MIN_VISIBILITY for i in ids)
        return xy, ok

    shoulders, ok = points((11, 12))  # subject's left, right
    width = float(np.linalg.norm(shoulders[0] - shoulders[1]))
    if not ok or width < 0.02 * w:
        return None
    wrists, wrists_ok = points((15, 16))
    anchor = shoulders.mean(0)
    return BodyLandmarks("pose", (float(anchor[0]), float(anchor[1])), width, shoulders, wrists if wrists_ok else None)


def _detect_face(mp, image: np.ndarray) -> BodyLandmarks | None:
    h, w = image.shape[:2]
    with (
        native_stderr_to_log(),
        mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector,
    ):
        result = detector.process(image)
    if not result.detections:
        return None
    best = max(result.detections, key=lambda d: d.score[0])
    box = best.location_data.relative_bounding_box
    x, y, bw, bh = box.xmin * w, box.ymin * h, box.width * w, box.height * h
    if bw <= 1:
        return None
    ppm = bw / FACE_BOX_WIDTH_M
    anchor = (x + bw / 2, y + bh + NECK_BELOW_FACE_M * ppm)
    return BodyLandmarks("face", (float(anchor[0]), float(anchor[1])), SHOULDER_WIDTH_M * ppm, face_box_px=(x, y, bw, bh))


def centre_framing(size: tuple[int, int]) -> BodyLandmarks:
    """The centred half-body guess for an image of ``size`` (H, W)."""
    h, w = size
    return BodyLandmarks("centre", (CENTRE_ANCHOR[0] * w, CENTRE_ANCHOR[1] * h), CENTRE_SHOULDERS * min(h, w))


def detect_body(image: np.ndarray, name: str = "portrait") -> BodyLandmarks:
    """Shoulders, else face, else centred framing (see the module docstring); never raises for a hard image.

    Args:
        image: [H, W, 3] uint8 RGB.
        name: how warnings refer to the image (its path).
    """
    try:
        mp = import_mediapipe()
    except MissingPrerequisite as e:
        logger.warning(
            "%s: mediapipe is not installed, so no shoulders can be found; using a centred half-body framing (%s to find them)",
            name,
            e.hint,
        )
        return centre_framing(image.shape[:2])
    found = _detect_pose(mp, image)
    if found is not None:
        return found
    logger.warning("%s: no shoulders found; placing the hands from the face box (anthropometric ratios)", name)
    found = _detect_face(mp, image)
    if found is not None:
        return found
    logger.warning("%s: no face found either; using a centred half-body framing (override with --anchor / --shoulder-width)", name)
    return centre_framing(image.shape[:2])


# ---------------------------------------------------------------------------------------------
# Fit and placement
# ---------------------------------------------------------------------------------------------


def _fit(
    portrait_size: tuple[int, int], size: tuple[int, int], anchor_px: tuple[float, float], fit: str, shoulder_width_px: float = 0.0
) -> tuple[float, tuple[float, float]]:
    ph, pw = portrait_size
    h, w = size
    if fit == "halfbody":  # EchoMimicV2's square eyebrows-to-elbows crop (emo2cli.render.echomimic)
        from emo2cli.render.echomimic import halfbody_fit

        return halfbody_fit(size, anchor_px, shoulder_width_px)
    if fit == "cover":
        s = max(h / ph, w / pw)
        sh, sw = round(ph * s), round(pw * s)
        ox = np.clip(round(FRAME_ANCHOR[0] * w - anchor_px[0] * s), w - sw, 0)
        oy = np.clip(round(FRAME_ANCHOR[1] * h - anchor_px[1] * s), h - sh, 0)
    elif fit == "contain":
        s = min(h / ph, w / pw)
        sh, sw = round(ph * s), round(pw * s)
        ox, oy = (w - sw) // 2, (h - sh) // 2
    else:
        raise ValueError(f"fit must be 'cover', 'contain' or 'halfbody', got {fit!r}")
    return float(s), (float(ox), float(oy))


def fit_portrait(image: np.ndarray, placement: Placement) -> np.ndarray:
    """Apply the placement's crop/pad fit to the portrait: [Hp, Wp, 3] → [H, W, 3] uint8.

    Scaling uses area averaging when shrinking and bicubic when enlarging; padding repeats the
    edge pixels.
    """
    h, w = placement.frame_size
    s = placement.fit_scale
    ox, oy = (round(v) for v in placement.fit_offset_px)
    ph, pw = image.shape[:2]
    sh, sw = max(round(ph * s), 1), max(round(pw * s), 1)
    scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    padded = cv2.copyMakeBorder(scaled, max(oy, 0), max(h - sh - oy, 0), max(ox, 0), max(w - sw - ox, 0), cv2.BORDER_REPLICATE)
    y0, x0 = max(-oy, 0), max(-ox, 0)
    return np.ascontiguousarray(padded[y0 : y0 + h, x0 : x0 + w])


def _placement(
    found: BodyLandmarks,
    portrait_size: tuple[int, int],
    size: tuple[int, int],
    fit: str,
    camera: str,
    camera_distance_m: float,
    anchor_px: tuple[float, float] | None,
    shoulder_width_px: float | None,
    scale: float | None,
    measured: bool,
) -> Placement:
    s, offset = _fit(portrait_size, size, found.anchor_px, fit, found.shoulder_width_px)
    anchor = (found.anchor_px[0] * s + offset[0], found.anchor_px[1] * s + offset[1])
    ppm = found.shoulder_width_px * s / SHOULDER_WIDTH_M
    source = found.source
    if anchor_px is not None:
        anchor, source = (float(anchor_px[0]), float(anchor_px[1])), "manual"
    if shoulder_width_px is not None:
        if not shoulder_width_px > 0:
            raise InputError(f"shoulder width must be positive, got {shoulder_width_px}")
        ppm, source = shoulder_width_px / SHOULDER_WIDTH_M, "manual"
    if scale is not None:
        if not scale > 0:
            raise InputError(f"scale must be positive, got {scale}")
        ppm *= scale
    pinhole = camera == "pinhole"
    return Placement(
        frame_size=(int(size[0]), int(size[1])),
        anchor_px=(round(float(anchor[0]), 3), round(float(anchor[1]), 3)),
        pixels_per_m=round(float(ppm), 4),
        camera=camera,
        focal_px=round(float(ppm * camera_distance_m), 4) if pinhole else 0.0,
        camera_distance_m=float(camera_distance_m) if pinhole else 0.0,
        source=source,
        portrait_size=(int(portrait_size[0]), int(portrait_size[1])) if measured else (0, 0),
        fit_scale=s if measured else 1.0,
        fit_offset_px=offset if measured else (0.0, 0.0),
        shoulder_width_px=round(float(found.shoulder_width_px), 3) if found.source == "pose" else 0.0,
    )


def place_on_portrait(
    image_path_or_array: str | os.PathLike | np.ndarray | None,
    size: tuple[int, int] = (704, 512),
    *,
    camera: str = "weak",
    camera_distance_m: float = DEFAULT_CAMERA_DISTANCE_M,
    anchor_px: tuple[float, float] | None = None,
    shoulder_width_px: float | None = None,
    scale: float | None = None,
    fit: str = "cover",
) -> tuple[Placement, np.ndarray | None]:
    """Find the body on a portrait and fit the portrait to the output frame.

    Args:
        image_path_or_array: an image file, [Hp, Wp, 3] uint8 RGB, or None: no portrait, the
            centred framing of a square half-body portrait covering the frame (the framing
            detection falls back to); ``fit_scale`` 1 and ``portrait_size`` (0, 0) then.
        size: (H, W) of the output frame.
        camera: "weak" or "pinhole" (then ``camera_distance_m`` in front of the body plane).
        anchor_px: manual neck-base pixel (x, y) in the output frame.
        shoulder_width_px: manual shoulder width in output-frame pixels (sets pixels per metre).
        scale: factor on pixels per metre (bigger hands and wider motion), applied last.
        fit: "cover" (crop), "contain" (pad) or "halfbody" (EchoMimicV2's crop).

    Returns:
        (Placement, fitted portrait [H, W, 3] uint8 RGB, or None without a portrait).

    Raises:
        InputError: the file is missing or not an image; a non-positive override.
    """
    overrides = (camera, camera_distance_m, anchor_px, shoulder_width_px, scale)
    if image_path_or_array is None:
        side = max(size)
        return _placement(centre_framing((side, side)), (side, side), size, "cover", *overrides, measured=False), None
    if isinstance(image_path_or_array, np.ndarray):
        image, name = image_path_or_array, "portrait"
    else:
        image, name = load_portrait(image_path_or_array), str(image_path_or_array)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"portrait must be [H, W, 3] uint8 RGB, got {list(image.shape)} {image.dtype}", path=name)
    found = detect_body(image, name)
    logger.info("%s: placement from %s (neck base %.0f, %.0f px; shoulders %.0f px)", name, found.source, *found.anchor_px, found.shoulder_width_px)
    placement = _placement(found, image.shape[:2], size, fit, *overrides, measured=True)
    return placement, fit_portrait(image, placement)
