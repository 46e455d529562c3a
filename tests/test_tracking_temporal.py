"""Landmarks → hands without mediapipe: a synthetic camera view of a known motion comes back; dropouts
are filled (≤ max gap) or masked; the score key round-trips through the hands file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emo2cli.config import TrackConfig
from emo2cli.formats.hands import HandMotion, read_hands, write_hands
from emo2cli.hands.rotations import axis_angle_to_quat, mirror_axis_angle, quat_to_axis_angle, slerp
from emo2cli.hands.skeleton import hands_joints
from emo2cli.tracking.body import body_cameras, body_to_pixels, lift_hand_landmarks, wrists_in_body
from emo2cli.tracking.control import rotation_angle_deg
from emo2cli.tracking.landmarks import LEFT_SHOULDER, LEFT_WRIST, RIGHT_SHOULDER, RIGHT_WRIST, empty_track
from emo2cli.tracking.temporal import fill_dropouts
from emo2cli.tracking.track import hands_from_landmarks
from tests.test_tracking_ik import random_orient, random_poses

FPS = 25.0
SHOULDER_M = 0.34  # camera-world shoulder width of the synthetic person
PPM = 400.0  # image pixels per camera-world metre
ANCHOR = np.array([320.0, 200.0])
FRONTAL = np.diag([1.0, -1.0, -1.0])  # body axes in camera-world axes for a person facing the camera


def true_motion(num_frames: int, seed: int = 0) -> HandMotion:
    """Smooth motion within the joint limits (swing-form finger rotations, so IK is exact)."""
    g = np.random.default_rng(seed)
    t = np.linspace(0, 1, num_frames)[:, None]
    right_pose = random_poses(g, 2)
    pose = (1 - t)[..., None] * right_pose[0] + t[..., None] * right_pose[1]  # [T, 15, 3]
    orient = quat_to_axis_angle(slerp(*axis_angle_to_quat(random_orient(g, 2)), t[:, 0]))
    transl = np.stack([[0.15, -0.3, 0.25], [-0.15, -0.25, 0.2]])[None] + 0.1 * np.sin(6 * t)[..., None] * [1, 1, 0.5]
    return HandMotion(
        fps=FPS,
        global_orient=np.stack([mirror_axis_angle(orient), orient], 1).astype(np.float32),
        hand_pose=np.stack([mirror_axis_angle(pose), pose], 1).astype(np.float32),
        transl=transl.astype(np.float32),
        mask=np.ones((num_frames, 2), bool),
    )


def synthetic_track(hands: HandMotion):
    """What a perfect detector would report for ``hands`` seen by a frontal weak camera."""
    num_frames = hands.num_frames
    body_scale = 0.36 / SHOULDER_M
    track = empty_track(num_frames, FPS, (480, 640))
    origin = np.array([0.0, -0.45, 0.1])  # shoulder midpoint, camera-world (hips at the origin)
    joints = origin + hands_joints(hands).astype(np.float64) @ FRONTAL.T / body_scale  # [T, 2, 21, 3] camera-world

    def image(points):
        return ANCHOR + PPM * (points[..., :2] - origin[:2])

    world = np.zeros((num_frames, 33, 3))
    world[:, LEFT_SHOULDER] = origin + [SHOULDER_M / 2, 0, 0]
    world[:, RIGHT_SHOULDER] = origin - [SHOULDER_M / 2, 0, 0]
    world[:, [LEFT_WRIST, RIGHT_WRIST]] = joints[:, :, 0]
    track.pose_world[:] = world
    track.pose_image[:] = image(world)
    track.pose_visibility[:] = 0.0
    track.pose_visibility[:, [LEFT_SHOULDER, RIGHT_SHOULDER]] = 1.0
    track.hand_world[:] = joints - joints.mean(-2, keepdims=True)
    track.hand_image[:] = image(joints)
    track.hand_score[:] = 0.9
    return track


EXACT = TrackConfig(smooth_s=0.0)


def test_a_perfect_view_of_a_known_motion_comes_back():
    truth = true_motion(30)
    tracked = hands_from_landmarks(synthetic_track(truth), EXACT, meta={"producer": "test"})
    hands = tracked.hands
    assert hands.mask.all() and tracked.seen.all()
    np.testing.assert_allclose(hands.transl, truth.transl, atol=1e-5)
    assert rotation_angle_deg(hands.global_orient, truth.global_orient).max() < 0.1
    assert rotation_angle_deg(hands.hand_pose, truth.hand_pose).max() < 0.1
    assert np.nanmax(tracked.ik_error_m) < 1e-4
    np.testing.assert_allclose(hands.score, 0.9)
    assert tracked.cameras.shoulder_width_m == pytest.approx(SHOULDER_M)
    assert hands.meta["producer"] == "test" and hands.meta["tracking"]["shoulder_width_m"] == pytest.approx(SHOULDER_M)
    # projecting the body-frame wrists through each frame's camera gives back the wrist pixels
    np.testing.assert_allclose(body_to_pixels(hands.transl, tracked.cameras), tracked.landmarks.hand_image[:, :, 0], atol=1e-2)


def test_body_frame_follows_a_turned_and_leaning_torso():
    truth = true_motion(5)
    track = synthetic_track(truth)
    turn = np.deg2rad(30)  # turn the shoulders about the vertical: left shoulder away from the camera
    half = SHOULDER_M / 2 * np.array([np.cos(turn), 0, np.sin(turn)])
    mid = track.pose_world[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].mean(1)
    track.pose_world[:, LEFT_SHOULDER], track.pose_world[:, RIGHT_SHOULDER] = mid + half, mid - half
    cameras = body_cameras(track)
    x_axis = cameras.rotation[:, :, 0]
    np.testing.assert_allclose(x_axis, np.tile([np.cos(turn), 0, np.sin(turn)], (5, 1)), atol=1e-9)
    np.testing.assert_allclose(
        np.einsum("tij,tik->tjk", cameras.rotation, cameras.rotation), np.tile(np.eye(3), (5, 1, 1)), atol=1e-9
    )
    assert np.all(np.linalg.det(cameras.rotation) > 0.999)
    assert cameras.rotation[0, 1, 1] == pytest.approx(-1.0)  # body up is camera up (y down in the camera)


def test_lifted_landmarks_keep_image_layout_and_world_bone_lengths():
    from emo2cli.hands.skeleton import PARENTS

    track = synthetic_track(true_motion(4))
    image_xy = (track.hand_image - track.hand_image[..., :1, :]) / PPM
    lifted = lift_hand_landmarks(track.hand_world, track.hand_image)
    np.testing.assert_allclose(
        lifted, track.hand_world - track.hand_world[..., :1, :], atol=1e-5
    )  # consistent input: unchanged (float32 input)
    bent = track.hand_world.copy()
    bent[..., 2] *= 1.5  # a world output that exaggerates depth: bones get longer, the image stays
    relifted = lift_hand_landmarks(bent, track.hand_image)
    np.testing.assert_allclose(relifted[..., :2], image_xy, atol=1e-6)
    child, parent = np.arange(1, 21), np.array(PARENTS[1:])
    length = lambda j: np.linalg.norm(j[..., child, :] - j[..., parent, :], axis=-1)
    np.testing.assert_allclose(length(relifted), length(bent), atol=1e-6)


def test_dropouts_filled_up_to_the_max_gap_and_masked_beyond():
    truth = true_motion(40)
    track = synthetic_track(truth)
    short, long_ = slice(10, 17), slice(24, 33)  # 7 frames (0.28 s) and 9 frames (0.36 s) at 25 fps
    for blank in (short, long_):
        track.hand_world[blank, 1] = np.nan
        track.hand_image[blank, 1] = np.nan
        track.hand_score[blank, 1] = 0.0
    track.hand_world[:3, 0] = np.nan  # the left hand appears late: no frame before it to fill from
    track.hand_score[:3, 0] = 0.0
    tracked = hands_from_landmarks(track, TrackConfig(smooth_s=0.0, max_gap_s=0.3))
    mask = tracked.hands.mask
    assert mask[short, 1].all() and not mask[long_, 1].any() and mask[33:, 1].all()
    assert not mask[:3, 0].any() and mask[3:, 0].all()
    assert (tracked.hands.score[short, 1] == 0).all() and (tracked.hands.score[17:24, 1] > 0).all()
    # inside the short gap: slerp / linear between the seen frames around it
    u = (13 - 9) / (17 - 9)
    expected = slerp(axis_angle_to_quat(tracked.hands.hand_pose[9, 1]), axis_angle_to_quat(tracked.hands.hand_pose[17, 1]), u)
    assert rotation_angle_deg(tracked.hands.hand_pose[13, 1], quat_to_axis_angle(expected)).max() < 1e-3
    np.testing.assert_allclose(
        tracked.hands.transl[13, 1], (1 - u) * tracked.hands.transl[9, 1] + u * tracked.hands.transl[17, 1], atol=1e-6
    )
    assert np.isfinite(tracked.hands.transl).all() and np.isfinite(tracked.hands.hand_pose).all()
    assert tracked.summary()["right"]["filled_frames"] == 7


def test_a_hand_whose_handedness_contradicts_its_side_is_unseen():
    track = synthetic_track(true_motion(10))
    track.hand_score[4, 0] = 0.2
    tracked = hands_from_landmarks(track, EXACT)
    assert not tracked.seen[4, 0] and tracked.hands.mask[4, 0] and tracked.hands.score[4, 0] == 0


def test_no_person_gives_a_valid_all_masked_file(tmp_path):
    track = empty_track(12, FPS, (480, 640))
    tracked = hands_from_landmarks(track, TrackConfig())
    assert not tracked.hands.mask.any() and tracked.notes == ["no person found: every frame is masked"]
    back = read_hands(write_hands(tracked.hands, tmp_path / "none.hands.npz"))
    assert back.num_frames == 12 and not back.mask.any() and (back.score == 0).all()


def test_one_hand_never_seen_is_noted():
    track = synthetic_track(true_motion(8))
    track.hand_world[:, 0] = np.nan
    tracked = hands_from_landmarks(track, TrackConfig())
    assert not tracked.hands.mask[:, 0].any() and tracked.hands.mask[:, 1].all()
    assert tracked.notes == ["the left hand was never found: its frames are masked"]


def test_fill_dropouts_holds_the_ends_and_rests_when_never_seen():
    rotations = np.zeros((6, 16, 3))
    rotations[:, 1, 2] = np.linspace(0, 1, 6)
    transl = np.arange(18, dtype=float).reshape(6, 3)
    seen = np.array([False, True, False, True, False, False])
    _, pos, mask = fill_dropouts(rotations, transl, seen, max_gap_frames=1, hand=1)
    assert mask.tolist() == [False, True, True, True, False, False]
    np.testing.assert_allclose(pos[0], transl[1]) and np.testing.assert_allclose(pos[5], transl[3])
    np.testing.assert_allclose(pos[2], 0.5 * (transl[1] + transl[3]))
    _, _, never = fill_dropouts(rotations, np.full((6, 3), np.nan), np.zeros(6, bool), 2, hand=0)
    assert not never.any()


def test_smoothing_reduces_jitter_and_keeps_the_score(tmp_path):
    truth = true_motion(40)
    track = synthetic_track(truth)
    g = np.random.default_rng(3)
    track.hand_image[:, :, :] += g.normal(0, 2.0, (40, 2, 1, 2))  # the whole hand jitters by 2 px
    raw = hands_from_landmarks(track, EXACT).hands
    smooth = hands_from_landmarks(track, TrackConfig(smooth_s=0.08)).hands
    jitter = lambda h: np.abs(np.diff(h.transl, 2, axis=0)).mean()
    assert jitter(smooth) < 0.5 * jitter(raw)
    back = read_hands(write_hands(smooth, tmp_path / "s.hands.npz"))
    np.testing.assert_array_equal(back.score, smooth.score)
    assert back.score.dtype == np.float32 and back.score.shape == (40, 2)
    edited = dataclasses.replace(back, score=None)
    assert read_hands(write_hands(edited, tmp_path / "e.hands.npz")).score is None


def test_wrists_in_body_are_nan_where_the_hand_is_missing():
    track = synthetic_track(true_motion(3))
    track.hand_image[1, 0] = np.nan
    wrists = wrists_in_body(track, body_cameras(track))
    assert np.isnan(wrists[1, 0]).all() and np.isfinite(wrists[[0, 2]]).all()
