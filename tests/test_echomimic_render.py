"""EchoMimicV2's hand-keypoint maps (golden pixels of a known pose) and its square half-body crop."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.formats.handmaps import Placement
from emo2cli.render import echomimic
from tests.conftest import PORTRAIT


def straight_hand(x0: float, y0: float) -> np.ndarray:
    """[21, 2] pixels: wrist at (x0, y0), five straight fingers 20 px apart pointing up, joints 40 px apart."""
    points = np.zeros((21, 2))
    points[0] = (x0, y0)
    for finger in range(5):
        for joint in range(4):
            points[1 + 4 * finger + joint] = (x0 - 80 + 40 * finger, y0 - 60 - 40 * joint)
    return points


def test_golden_pixels_of_a_known_pose():
    # at 800 x 800 the canvas is the frame (ratio 1, no resize): pixels are exactly their colours
    hands = np.stack([straight_hand(200.0, 600.0), straight_hand(600.0, 600.0)])
    image = echomimic.draw_keypoint_map(hands, np.ones((2, 21)), (800, 800))
    assert image.shape == (800, 800, 3) and image.dtype == np.uint8
    # points: BGR (0, 0, 255) on their canvas = pure red after BGR → RGB
    assert tuple(image[600, 200]) == (255, 0, 0)  # left wrist
    assert tuple(image[420, 680]) == (255, 0, 0)  # right pinky tip (x0 + 80, y0 - 180)
    # bone 1 (thumb 1 → 2, (120, 540) → (120, 500)), hue 1/20: (255, 76.5, 0) written as BGR → RGB (0, 77, 255)
    assert tuple(image[520, 120]) == (0, 77, 255)
    # bone 10 (middle 2 → 3, (200, 500) → (200, 460)), hue 0.5: (0, 255, 255) as BGR → RGB (255, 255, 0)
    assert tuple(image[480, 200]) == (255, 255, 0)
    # bone 17 (right pinky 1 → 2, (680, 540) → (680, 500)), hue 0.85: (255, 0, 229.5) as BGR → RGB (230, 0, 255)
    assert tuple(image[520, 680]) == (230, 0, 255)
    assert tuple(image[100, 400]) == (0, 0, 0)  # background
    assert len(np.unique(image.reshape(-1, 3), axis=0)) == 22  # no anti-aliasing: black, red and 20 bone colours


def test_points_at_the_canvas_edge_are_skipped_with_their_bones_and_scores_dim_colours():
    hand = straight_hand(200.0, 600.0)
    hand[0] = (0.0, 600.0)  # x = 0 is not > 0.01: the wrist and its five bones are not drawn
    image = echomimic.draw_keypoint_map(hand[None], np.ones((1, 21)), (800, 800))
    assert not image[590:611, 0:5].any()
    assert not image[565:576, 55:66].any()  # where the wrist → thumb bone would pass
    assert tuple(image[520, 120]) == (0, 77, 255)  # the thumb's own bones stay
    half = echomimic.draw_keypoint_map(straight_hand(200.0, 600.0)[None], np.full((1, 21), 0.5), (800, 800))
    assert tuple(half[600, 200]) == (127, 0, 0)  # int(0.5 · 255)
    assert tuple(half[480, 200]) == (63, 63, 0)  # bone 10 at int(0.25 · 255) = 63


def test_map_is_drawn_at_800_on_the_short_side_then_resized():
    import cv2

    hands = np.stack([straight_hand(200.0, 600.0)]) / 2  # a 400 x 400 frame: canvas 800 x 800, exact halves
    small = echomimic.draw_keypoint_map(hands, np.ones((1, 21)), (400, 400))
    big = echomimic.draw_keypoint_map(hands * 2, np.ones((1, 21)), (800, 800))
    np.testing.assert_array_equal(small, cv2.resize(big, (400, 400)))  # the resize commutes with the channel swap
    wide = echomimic.draw_keypoint_map(hands, np.ones((1, 21)), (400, 600))
    assert wide.shape == (400, 600, 3) and wide.any()
    np.testing.assert_array_equal(wide[:, :400], small)  # the aspect is kept: no stretching


def test_render_hands_style_echomimicv2_draws_visible_hands_only():
    from emo2cli.formats.hands import HandMotion
    from emo2cli.hands.rest import rest_pose
    from emo2cli.render.render import render_hands

    orient, pose, transl = rest_pose()
    transl = transl + np.array([0.0, 0.15, 0.0], np.float32)
    mask = np.array([[True, True], [True, False], [False, False]])
    hands = HandMotion(fps=24.0, global_orient=np.repeat(orient[None], 3, 0), hand_pose=np.repeat(pose[None], 3, 0),
                       transl=np.repeat(transl[None], 3, 0), mask=mask, meta={})  # fmt: skip
    placement = Placement(frame_size=(256, 256), anchor_px=(128.0, 100.0), pixels_per_m=400.0)
    both, left, none = list(render_hands(hands, placement, style="echomimicv2"))
    assert both.any() and left.any() and not none.any()
    assert left[:, :128].sum() < left[:, 128:].sum()  # the subject's left hand appears on the viewer's right
    red = (both[..., 0] == 255) & (both[..., 1] == 0) & (both[..., 2] == 0)
    assert red.sum() > 20  # the points


def test_halfbody_crop_frames_the_neck_and_scales_from_the_shoulders():
    from emo2cli.render.placement import place_on_portrait

    scale, (ox, oy) = echomimic.halfbody_fit((768, 768), anchor_px=(500.0, 400.0), shoulder_width_px=360.0)
    ppm = 360.0 / 0.36  # portrait pixels per metre
    assert scale == pytest.approx(768 / (echomimic.HALFBODY_SIDE_M * ppm))
    assert 500 * scale + ox == pytest.approx(384, abs=0.5)  # neck centred
    assert 400 * scale + oy == pytest.approx(echomimic.HALFBODY_TOP_M / echomimic.HALFBODY_SIDE_M * 768, abs=0.5)
    assert 0.7 < echomimic.HALFBODY_SIDE_M < 0.75 and 0.45 < echomimic.HALFBODY_TOP_M / echomimic.HALFBODY_SIDE_M < 0.5

    placement, fitted = place_on_portrait(PORTRAIT, (768, 768), fit="halfbody")
    assert fitted.shape == (768, 768, 3)
    assert placement.pixels_per_m == pytest.approx(768 / echomimic.HALFBODY_SIDE_M, rel=1e-3)
    assert placement.anchor_px[0] == pytest.approx(384, abs=1)
