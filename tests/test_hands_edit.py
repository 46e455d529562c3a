"""Edit operations on synthetic hands files: identities, lengths, masks, limits, history, parsing."""

from __future__ import annotations

import numpy as np
import pytest

from emo2cli.errors import InputError
from emo2cli.formats.hands import HandMotion, read_hands, write_hands
from emo2cli.hands import edit as E
from emo2cli.hands.limits import FINGER_LIMITS_RAD, SHOULDER_M, clip_hand_pose
from emo2cli.hands.rest import rest_pose
from emo2cli.hands.rotations import axis_angle_to_matrix
from emo2cli.hands.skeleton import hands_joints
from tests.conftest import random_hands
from tests.test_hands_smoothing import jerk, noisy_motion


def _close(a: HandMotion, b: HandMotion, atol: float = 1e-5) -> None:
    """Same motion: rotations compared as matrices (axis-angle is ambiguous at π), positions, mask."""
    np.testing.assert_allclose(axis_angle_to_matrix(a.global_orient), axis_angle_to_matrix(b.global_orient), atol=atol)
    np.testing.assert_allclose(axis_angle_to_matrix(a.hand_pose), axis_angle_to_matrix(b.hand_pose), atol=atol)
    np.testing.assert_allclose(a.transl, b.transl, atol=atol)
    np.testing.assert_array_equal(a.mask, b.mask)


def _valid_rotations(h: HandMotion) -> None:
    for rot in (h.global_orient, h.hand_pose):
        assert rot.dtype == np.float32
        assert np.linalg.norm(rot.astype(np.float64), axis=-1).max() <= np.pi + 1e-6


def test_amplitude_one_and_retime_one_are_identities():
    hands = random_hands(40)
    _close(E.amplify(hands, 1.0), hands)
    _close(E.retime(hands, 1.0), hands)


def test_mirror_twice_is_identity_and_mirror_reflects_the_joints():
    hands = random_hands(30)
    twice = E.mirror(E.mirror(hands))
    _close(twice, hands, atol=1e-6)
    once = E.mirror(hands)
    joints, mirrored = hands_joints(hands), hands_joints(once)
    # New left hand = old right hand reflected across x = 0 (and vice versa), joint for joint.
    np.testing.assert_allclose(mirrored[:, 0], joints[:, 1] * np.array([-1, 1, 1]), atol=1e-5)
    np.testing.assert_array_equal(once.mask[:, 0], hands.mask[:, 1])


def test_smooth_reduces_jerk_and_keeps_length():
    hands = noisy_motion(100, seed=3)
    smoothed = E.smooth(hands, 0.1)
    assert smoothed.num_frames == hands.num_frames
    assert jerk(hands_joints(smoothed)) < 0.2 * jerk(hands_joints(hands))
    _valid_rotations(smoothed)


def test_retime_changes_length_by_the_speed():
    hands = random_hands(50)
    assert E.retime(hands, 2.0).num_frames == 25
    slow = E.retime(hands, 0.5)
    assert slow.num_frames == 100
    # Frame 2k of the slowed motion is frame k of the original.
    np.testing.assert_allclose(slow.transl[::2][:50], hands.transl, atol=1e-6)


def test_amplitude_scales_excursions_and_keeps_limits():
    hands = random_hands(60, seed=4)
    hands.mask[:] = True
    hands.hand_pose = clip_hand_pose(hands.hand_pose).astype(np.float32)  # a within-limits input
    big = E.amplify(hands, 3.0)
    mean = hands.transl.mean(0)
    spread_in = np.linalg.norm(hands.transl - mean, axis=-1).mean()
    spread_out = np.linalg.norm(big.transl - big.transl.mean(0), axis=-1).mean()
    assert spread_out > 2.0 * spread_in
    reach_in = np.linalg.norm(hands.transl - SHOULDER_M, axis=-1)
    assert np.all(np.linalg.norm(big.transl - SHOULDER_M, axis=-1) <= np.maximum(0.55, reach_in) + 1e-5)
    np.testing.assert_allclose(clip_hand_pose(big.hand_pose), big.hand_pose, atol=1e-5)  # already within
    _valid_rotations(big)
    frozen = E.amplify(hands, 0.0)
    np.testing.assert_allclose(frozen.transl, np.broadcast_to(mean, frozen.transl.shape), atol=1e-6)
    np.testing.assert_allclose(frozen.hand_pose, np.broadcast_to(rest_pose()[1], frozen.hand_pose.shape), atol=1e-5)


def test_limits_never_push_an_out_of_range_input_further():
    pose = np.zeros((1, 2, 15, 3))
    pose[0, 1, 1, 2] = np.deg2rad(150)  # right index PIP beyond its 110° flexion limit
    np.testing.assert_allclose(clip_hand_pose(pose, reference=pose), pose)
    assert np.isclose(clip_hand_pose(pose)[0, 1, 1, 2], FINGER_LIMITS_RAD[1, 2, 1])
    left = pose[:, ::-1] * np.array([1, -1, -1])  # the same bend on the left hand (mirror rule)
    assert np.isclose(clip_hand_pose(left)[0, 0, 1, 2], -FINGER_LIMITS_RAD[1, 2, 1])


def test_mute_lowers_to_rest_then_masks():
    hands = random_hands(50)
    hands.mask[:] = True
    hands.transl[:] = hands.transl[:1]  # still wrists, so every step below comes from the fade
    muted = E.mute(hands, "left", at_s=0.4, fade_s=0.4)  # fade over frames 10..20
    assert muted.mask[:20, 0].all() and not muted.mask[20:, 0].any()
    np.testing.assert_array_equal(muted.mask[:, 1], hands.mask[:, 1])
    orient, pose, transl = rest_pose()
    np.testing.assert_allclose(muted.transl[20:, 0], np.broadcast_to(transl[0], (30, 3)), atol=1e-6)
    np.testing.assert_allclose(muted.transl[:10], hands.transl[:10], atol=1e-6)
    # The fade is gradual: the wrist moves a little each frame, never jumps.
    steps = np.linalg.norm(np.diff(muted.transl[9:21, 0], axis=0), axis=-1)
    assert steps.max() < 0.2 * np.linalg.norm(muted.transl[20, 0] - hands.transl[10, 0])
    back = E.mute(hands, "both", at_s=0.4, duration_s=0.8, fade_s=0.2)  # masked frames 15..30, rise after
    assert not back.mask[15:30].any() and back.mask[30:].all() and back.mask[:15].all()
    np.testing.assert_allclose(back.transl[40:], hands.transl[40:], atol=1e-6)


def test_splice_length_arithmetic_and_crossfade():
    hands = random_hands(50)
    other = random_hands(60, fps=30.0, seed=5)
    spliced = E.splice(hands, other, at_s=1.0, from_s=0.5, duration_s=0.8, crossfade_s=0.2)
    assert spliced.num_frames == 50 + 20
    np.testing.assert_allclose(spliced.transl[:25], hands.transl[:25], atol=1e-6)
    np.testing.assert_allclose(spliced.transl[45:], hands.transl[25:], atol=1e-6)
    assert E.splice(hands, other).num_frames == 50 + 50  # append all of other (2 s at 25 fps)
    # Without a cross-fade the segment is other's motion (resampled to 25 fps) verbatim.
    raw = E.splice(hands, other, at_s=0.0, duration_s=0.4, crossfade_s=0.0)
    np.testing.assert_allclose(raw.transl[0], other.transl[0], atol=1e-6)
    # With one, the first inserted frame starts close to the frame before the join.
    faded = E.splice(hands, other, at_s=1.0, duration_s=0.8, crossfade_s=0.2)
    gap_faded = np.linalg.norm(faded.transl[25] - hands.transl[24], axis=-1)
    gap_raw = np.linalg.norm(other.transl[0] - hands.transl[24], axis=-1)
    mask = hands.mask[24]
    assert np.all(gap_faded[mask] < 0.5 * gap_raw[mask])
    assert [r["op"] for r in faded.meta["edits"]] == ["splice"] and faded.meta["edits"][0]["frames"] == [50, 70]


def test_splice_refuses_a_segment_past_the_end():
    hands, other = random_hands(50), random_hands(20)
    with pytest.raises(InputError, match="past the end"):
        E.splice(hands, other, from_s=0.4, duration_s=0.6)
    with pytest.raises(InputError, match="outside the motion"):
        E.splice(hands, other, at_s=5.0)


def test_key_holds_the_pose_and_blends():
    hands = random_hands(50)
    pose = HandMotion.rest(1, 25.0)
    keyed = E.key(hands, pose, at_s=1.0, hold_s=0.2, fade_s=0.2)
    np.testing.assert_allclose(keyed.transl[25:31], np.broadcast_to(pose.transl[0], (6, 2, 3)), atol=1e-6)
    assert keyed.mask[25:31].all()
    np.testing.assert_allclose(keyed.transl[:20], hands.transl[:20], atol=1e-6)
    np.testing.assert_allclose(keyed.transl[36:], hands.transl[36:], atol=1e-6)
    with pytest.raises(InputError, match="outside the motion"):
        E.key(hands, pose, at_s=9.0)


def test_results_round_trip_through_the_file_format(tmp_path):
    hands = random_hands(40)
    edited = E.mirror(E.smooth(E.amplify(hands, 1.4), 0.05))
    _valid_rotations(edited)
    write_hands(edited, tmp_path / "e.hands.npz")
    back = read_hands(tmp_path / "e.hands.npz")
    assert [r["op"] for r in back.meta["edits"]] == ["amplitude", "smooth", "mirror"]
    assert back.meta["producer"] == "test"
    np.testing.assert_array_equal(back.hand_pose, edited.hand_pose)


def test_parse_operations_keeps_the_typed_order():
    inputs, ops = E.parse_operations(
        ["a.hands.npz", "--smooth", "0.05", "--mute", "left", "--at=1", "--fade", "0.2", "--mirror", "--smooth", "0.1",
         "--splice", "b.hands.npz", "--at", "2", "--crossfade", "0.3", "--key", "1.5=p.hands.npz", "--duration", "0.5"]
    )  # fmt: skip
    assert inputs == ["a.hands.npz"]
    assert [op.name for op in ops] == ["smooth", "mute", "mirror", "smooth", "splice", "key"]
    assert ops[1].params == {"side": "left", "at_s": 1.0, "fade_s": 0.2}
    assert ops[3].params == {"sigma_s": 0.1}
    assert ops[5].params["at_s"] == 1.5 and ops[5].params["hold_s"] == 0.5


@pytest.mark.parametrize(
    "tokens, message",
    [
        (["--smoth", "1"], "did you mean --smooth"),
        (["--amplitude", "big"], "needs a number"),
        (["--amplitude"], "needs a value"),
        (["--at", "1"], "must follow an operation"),
        (["--mirror", "--crossfade", "1"], "must follow an operation"),
        (["--mute", "middle"], "left, right or both"),
        (["--key", "p.npz"], "TIME=POSE"),
        (["--mirror=yes"], "takes no value"),
    ],
)
def test_parse_operations_refuses_bad_input(tokens, message):
    with pytest.raises(InputError, match=message):
        E.parse_operations(["a.hands.npz", *tokens])


def test_order_matters():
    hands = random_hands(30)
    hands.mask[:] = True
    a = E.mirror(E.mute(hands, "left"))
    b = E.mute(E.mirror(hands), "left")
    assert not a.mask[-1, 1] and a.mask[-1, 0]
    assert not b.mask[-1, 0] and b.mask[-1, 1]
