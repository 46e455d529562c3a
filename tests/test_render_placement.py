"""Placement: portrait fit, projection, overrides, fallbacks (face, centre, no mediapipe), real shoulders."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from emo2cli.errors import InputError
from emo2cli.formats.handmaps import Placement
from emo2cli.render import placement as pl
from emo2cli.render.project import project_points, scale_at
from emo2cli.vision import import_mediapipe
from tests.conftest import PORTRAIT, PORTRAIT_MAN

SIZE = (704, 512)
# mediapipe's full-range face box on examples/halfbody_woman.png (x, y, w, h), measured once
WOMAN_FACE_BOX = (412.0, 146.0, 205.0, 205.0)


def test_weak_and_pinhole_projection():
    weak = Placement(frame_size=SIZE, anchor_px=(256.0, 300.0), pixels_per_m=500.0)
    pts = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.0], [-0.1, -0.2, 0.3]])
    np.testing.assert_allclose(project_points(pts, weak), [[256, 300], [306, 200], [206, 400]])
    pin = Placement(frame_size=SIZE, anchor_px=(256.0, 300.0), pixels_per_m=500.0, camera="pinhole", camera_distance_m=1.5)
    np.testing.assert_allclose(project_points(pts[:2], pin), project_points(pts[:2], weak))  # same at the body plane
    near = project_points(pts[2], pin)
    assert np.linalg.norm(near - [256, 300]) > np.linalg.norm(project_points(pts[2], weak) - [256, 300])
    assert scale_at(pts[2], pin) == pytest.approx(500 * 1.5 / 1.2)


def test_placement_without_portrait_and_overrides():
    base = pl.place_on_portrait(None, SIZE)[0]
    assert base.source == "centre" and base.frame_size == SIZE
    assert base.anchor_px == pytest.approx((256.0, 0.46 * 704), abs=1.0)
    assert base.pixels_per_m == pytest.approx(0.37 * 704 / 0.36, rel=1e-3)
    manual, fitted = pl.place_on_portrait(None, SIZE, anchor_px=(100, 200), shoulder_width_px=180, scale=2.0)
    assert fitted is None and manual.portrait_size == (0, 0) and manual.fit_scale == 1.0
    assert manual.source == "manual" and manual.anchor_px == (100.0, 200.0)
    assert manual.pixels_per_m == pytest.approx(2 * 180 / 0.36)
    assert pl.place_on_portrait(None, SIZE, scale=0.5)[0].pixels_per_m == pytest.approx(base.pixels_per_m / 2, rel=1e-4)
    pin, _ = pl.place_on_portrait(None, SIZE, camera="pinhole")
    assert pin.focal_px == pytest.approx(pin.pixels_per_m * pl.DEFAULT_CAMERA_DISTANCE_M, rel=1e-4)
    with pytest.raises(InputError, match="positive"):
        pl.place_on_portrait(None, SIZE, shoulder_width_px=0)


@pytest.mark.parametrize("fit", ["cover", "contain"])
def test_fit_maps_portrait_pixels_to_frame_pixels(fit):
    portrait = np.full((600, 900, 3), 40, np.uint8)
    marks = [(450, 300), (100, 80), (800, 520)]
    for x, y in marks:
        cv2.circle(portrait, (x, y), 12, (255, 255, 255), -1)
    found = pl.BodyLandmarks("centre", (450.0, 300.0), 200.0)
    placement = pl._placement(found, portrait.shape[:2], SIZE, fit, "weak", 1.5, None, None, None, measured=True)
    fitted = pl.fit_portrait(portrait, placement)
    assert fitted.shape == (*SIZE, 3) and fitted.dtype == np.uint8
    s, (ox, oy) = placement.fit_scale, placement.fit_offset_px
    for x, y in marks:
        fx, fy = x * s + ox, y * s + oy
        if 0 <= fx < SIZE[1] and 0 <= fy < SIZE[0]:
            assert fitted[int(round(fy)), int(round(fx))].min() > 200
    # the anchor follows the same transform
    assert placement.anchor_px == pytest.approx((450 * s + ox, 300 * s + oy), abs=1e-3)
    if fit == "cover":
        assert s == pytest.approx(max(704 / 600, 512 / 900))
        assert placement.anchor_px[0] == pytest.approx(256, abs=1)  # the body is centred horizontally
    else:
        assert s == pytest.approx(min(704 / 600, 512 / 900))
        assert (fitted[0] == 40).all() and (fitted[-1] == 40).all()  # padding repeats the edge


def test_non_image_portrait_is_refused(tmp_path):
    bad = tmp_path / "portrait.png"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="not an image") as err:
        pl.place_on_portrait(bad, SIZE)
    assert "portrait.png" in str(err.value)
    with pytest.raises(InputError, match="no such file"):
        pl.place_on_portrait(tmp_path / "missing.png", SIZE)


def test_without_mediapipe_falls_back_to_centre_with_a_warning(no_mediapipe, caplog):
    portrait = np.full((1000, 800, 3), 90, np.uint8)
    with caplog.at_level(logging.WARNING, logger="emo2cli.render.placement"):
        placement, fitted = pl.place_on_portrait(portrait, SIZE)
    assert placement.source == "centre"
    assert "emo2cli[vision]" in caplog.text
    s, (ox, oy) = placement.fit_scale, placement.fit_offset_px
    assert placement.pixels_per_m == pytest.approx(0.37 * 800 * s / 0.36, rel=1e-3)
    assert placement.anchor_px == pytest.approx((0.5 * 800 * s + ox, 0.46 * 1000 * s + oy), abs=0.01)
    # overrides still win
    manual, _ = pl.place_on_portrait(portrait, SIZE, anchor_px=(10, 20), shoulder_width_px=72)
    assert manual.source == "manual" and manual.anchor_px == (10.0, 20.0) and manual.pixels_per_m == pytest.approx(200.0)


@pytest.fixture(scope="module")
def mediapipe():
    return pytest.importorskip("mediapipe")


def test_face_fallback_on_a_synthetic_portrait(mediapipe, caplog):
    """A face pasted at a known place and size on a blank canvas: no shoulders, so the face box places the body."""
    woman = pl.load_portrait(PORTRAIT)
    crop_x, crop_y, crop = 362, 100, 300
    # pasted at full size (mediapipe's box shrinks ~7 % for faces a third of this size)
    paste_x, paste_y, paste = 250, 200, 300
    canvas = np.full((1000, 800, 3), 60, np.uint8)
    canvas[paste_y : paste_y + paste, paste_x : paste_x + paste] = cv2.resize(woman[crop_y : crop_y + crop, crop_x : crop_x + crop], (paste, paste), interpolation=cv2.INTER_AREA)
    k = paste / crop
    x, y, w, h = WOMAN_FACE_BOX
    box = ((x - crop_x) * k + paste_x, (y - crop_y) * k + paste_y, w * k, h * k)  # where the face box must be
    expected_ppm = box[2] / pl.FACE_BOX_WIDTH_M
    expected_anchor = (box[0] + box[2] / 2, box[1] + box[3] + pl.NECK_BELOW_FACE_M * expected_ppm)

    with caplog.at_level(logging.WARNING, logger="emo2cli.render.placement"):
        found = pl.detect_body(canvas)
    assert found.source == "face" and "no shoulders" in caplog.text
    assert found.shoulder_width_px / pl.SHOULDER_WIDTH_M == pytest.approx(expected_ppm, rel=0.05)
    assert np.hypot(found.anchor_px[0] - expected_anchor[0], found.anchor_px[1] - expected_anchor[1]) < 0.1 * box[2]

    placement, _ = pl.place_on_portrait(canvas, SIZE)
    s, (ox, oy) = placement.fit_scale, placement.fit_offset_px
    assert placement.source == "face"
    assert placement.pixels_per_m == pytest.approx(expected_ppm * s, rel=0.05)
    manual, _ = pl.place_on_portrait(canvas, SIZE, anchor_px=(200, 300), scale=1.5)
    assert manual.source == "manual" and manual.anchor_px == (200.0, 300.0)
    assert manual.pixels_per_m == pytest.approx(placement.pixels_per_m * 1.5, rel=1e-3)


def test_blank_portrait_ends_at_centre_framing(mediapipe, caplog):
    with caplog.at_level(logging.WARNING, logger="emo2cli.render.placement"):
        found = pl.detect_body(np.full((600, 600, 3), 128, np.uint8))
    assert found.source == "centre" and "no face found" in caplog.text


@pytest.mark.parametrize("portrait", [PORTRAIT, PORTRAIT_MAN], ids=["woman", "man"])
def test_real_portrait_finds_both_shoulders(mediapipe, portrait):
    image = pl.load_portrait(portrait)
    found = pl.detect_body(image, str(portrait))
    assert found.source == "pose"
    left, right = found.shoulders_px
    assert left[0] > right[0]  # the subject's left shoulder is on the image's right
    assert 0.3 * 1024 < found.shoulder_width_px < 0.45 * 1024
    assert 0.4 * 1024 < found.anchor_px[1] < 0.5 * 1024 and abs(found.anchor_px[0] - 512) < 30
    assert found.wrists_px is not None
    # the face fallback's ratios agree with the shoulders on real people (within 25 %)
    face = pl._detect_face(import_mediapipe(), image)
    assert face.shoulder_width_px == pytest.approx(found.shoulder_width_px, rel=0.25)
    assert abs(face.anchor_px[1] - found.anchor_px[1]) < 0.1 * found.shoulder_width_px
    placement, fitted = pl.place_on_portrait(portrait, SIZE)
    assert placement.source == "pose" and placement.portrait_size == (1024, 1024)
    assert placement.shoulder_width_px == pytest.approx(found.shoulder_width_px, rel=1e-3)
    assert placement.anchor_px[0] == pytest.approx(256, abs=2)
