"""Rasterisation: occlusion between hands, palettes, palm-facing shading, masks, keypoint layer, mesh path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emo2cli.formats.handmaps import Placement
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.rotations import matrix_to_axis_angle, mirror_axis_angle
from emo2cli.render import draw
from emo2cli.render.project import project_points
from emo2cli.render.render import composite, render_hands

SIZE = (352, 256)
PLACEMENT = Placement(frame_size=SIZE, anchor_px=(128.0, 120.0), pixels_per_m=600.0)
# right hand: fingers up (+y), palm toward the camera (+z): rest -x → +y, rest -y → +z
_RIGHT_PALM_FRONT = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _hands(transl, palm_front=(True, True), num_frames=1) -> HandMotion:
    right = matrix_to_axis_angle(_RIGHT_PALM_FRONT)
    flip = matrix_to_axis_angle(_RIGHT_PALM_FRONT @ np.diag([1.0, -1.0, -1.0]))  # 180° about the finger axis
    orient = []
    for hand, front in enumerate(palm_front):
        aa = right if front else flip
        orient.append(mirror_axis_angle(aa) if hand == 0 else aa)
    hands = HandMotion.rest(num_frames, 25.0)
    hands.global_orient[:] = np.array(orient, np.float32)
    hands.hand_pose[:] = 0.0
    hands.transl[:] = np.asarray(transl, np.float32)
    return hands


def _render(hands, style="emo2", placement=PLACEMENT):
    return list(render_hands(hands, placement, style))


def _side(pixels: np.ndarray) -> np.ndarray:
    """Per pixel: 0 = left palette (cool hues), 1 = right palette (warm), -1 = dark or grey."""
    hsv = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(int)
    hue = hsv[:, 0] * 2  # degrees
    coloured = (hsv[:, 1] > 50) & (hsv[:, 2] > 60)
    side = np.full(len(hsv), -1)
    side[coloured & (hue >= 145) & (hue <= 290)] = 0
    side[coloured & ((hue >= 310) | (hue <= 90))] = 1
    return side.reshape(pixels.shape[:-1])


def test_palettes_are_distinct_per_hand():
    hands = _hands([[0.1, -0.1, 0.0], [-0.1, -0.1, 0.0]])
    for hand in (0, 1):
        hands.mask[:] = False
        hands.mask[:, hand] = True
        frame = _render(hands)[0]
        drawn = frame.any(axis=2)
        assert drawn.sum() > 1500
        side = _side(frame[drawn])
        assert (side == hand).mean() > 0.93 and (side == 1 - hand).sum() == 0  # the rest: dark anti-aliased edges
    # the subject's left hand (index 0, body +x) appears on the image's right
    hands.mask[:] = True
    frame = _render(hands)[0]
    cols = np.nonzero(_side(frame) == 0)[1]
    assert cols.mean() > SIZE[1] / 2


@pytest.mark.parametrize("front", [0, 1])
def test_the_nearer_hand_hides_the_other(front):
    transl = np.array([[0.0, -0.1, 0.0], [0.0, -0.1, 0.0]])
    transl[front, 2] = 0.1  # nearer the camera
    hands = _hands(transl)
    frame = _render(hands)[0]
    joints_px = project_points(np.array(transl), PLACEMENT)  # wrists (same pixel for both)
    centre = joints_px[0] + np.array([0, -0.05 * PLACEMENT.pixels_per_m])  # 5 cm up the palm
    x, y = int(round(centre[0])), int(round(centre[1]))
    patch = frame[y - 3 : y + 4, x - 3 : x + 4]
    assert (_side(patch) == front).all()
    # the one behind still shows where it is not covered (its thumb is on the other side)
    assert (_side(frame) == 1 - front).sum() > 100


def test_palm_facing_is_shaded():
    transl = [[0.1, -0.1, 0.0], [-0.1, -0.1, 0.0]]
    front = _render(_hands(transl, (True, True)))[0]
    back = _render(_hands(transl, (False, False)))[0]
    for hand in (0, 1):
        centre = project_points(np.array(transl[hand]), PLACEMENT) + np.array([0, -0.04 * PLACEMENT.pixels_per_m])
        x, y = (int(round(v)) for v in centre)
        v_front = cv2.cvtColor(front[y : y + 1, x : x + 1], cv2.COLOR_RGB2HSV)[0, 0]
        v_back = cv2.cvtColor(back[y : y + 1, x : x + 1], cv2.COLOR_RGB2HSV)[0, 0]
        # palm side: tinted toward white (less saturated); back: darker
        assert int(v_front[1]) < int(v_back[1]) - 40 or int(v_front[2]) > int(v_back[2]) + 40
        assert _side(front[y : y + 1, x : x + 1])[0, 0] == hand and _side(back[y : y + 1, x : x + 1])[0, 0] == hand
    assert draw.palm_facing(np.zeros((21, 3)), 1) == 0.0  # degenerate hand: no facing, no NaN


def test_masks_give_empty_frames_and_counts_match():
    hands = _hands([[0.1, -0.1, 0.0], [-0.1, -0.1, 0.0]], num_frames=4)
    hands.mask[:] = False
    frames = _render(hands)
    assert len(frames) == 4
    assert all(f.shape == (*SIZE, 3) and f.dtype == np.uint8 and not f.any() for f in frames)
    assert not any(f.any() for f in _render(hands, "keypoints"))


def test_keypoint_layer_uses_openpose_colours():
    hands = _hands([[0.1, -0.1, 0.0], [-0.1, -0.1, 0.0]])
    frame = _render(hands, "keypoints")[0]
    colours = {tuple(c) for c in frame.reshape(-1, 3)}
    assert draw.OPENPOSE_POINT_COLOUR in colours
    assert sum(c in colours for c in draw.OPENPOSE_EDGE_COLOURS) >= 15  # most edges show in pure colour
    assert draw.OPENPOSE_EDGE_COLOURS[0] == (255, 0, 0)
    # a point is drawn at every projected joint
    from emo2cli.hands.skeleton import hands_joints

    px = project_points(hands_joints(hands)[0], PLACEMENT).reshape(-1, 2)
    for x, y in np.round(px).astype(int):
        assert tuple(frame[y, x]) == draw.OPENPOSE_POINT_COLOUR or frame[y, x].any()


def test_rendering_is_deterministic_and_overlay_keeps_background(rng):
    from tests.conftest import random_hands

    hands = random_hands(3)
    a, b = _render(hands), _render(hands)
    assert all((x == y).all() for x, y in zip(a, b))
    background = rng.integers(0, 255, (*SIZE, 3), dtype=np.uint8)
    over = composite(a[0], background)
    untouched = ~a[0].any(axis=2)
    assert (over[untouched] == background[untouched]).all()
    assert not (over[~untouched] == background[~untouched]).all()
    layered = list(render_hands(hands, PLACEMENT, background=background))
    assert (layered[0] == over).all()


def test_mano_mesh_path_draws_in_the_palettes(tmp_path):
    from emo2cli.hands.mano import ManoHands
    from tests.tiny import write_synthetic_mano

    model = ManoHands(write_synthetic_mano(tmp_path / "mano"))
    hands = _hands([[0.12, -0.1, 0.0], [-0.12, -0.1, 0.0]], num_frames=2)
    hands.mask[1, 1] = False
    frames = list(render_hands(hands, PLACEMENT, "emo2", model))
    assert len(frames) == 2
    side0, side1 = _side(frames[0]), _side(frames[1])
    assert (side0 == 0).sum() > 50 and (side0 == 1).sum() > 50
    assert (side1 == 1).sum() == 0 and (side1 == 0).sum() > 50
    parts = draw.mesh_parts(model.models[1].lbs_weights.numpy())
    assert parts.shape == (778,) and set(np.unique(parts)) <= set(range(6))
