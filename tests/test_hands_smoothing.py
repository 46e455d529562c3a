import numpy as np
import pytest

from emo2cli.hands import smoothing as S
from emo2cli.hands.rotations import axis_angle_to_quat, quat_multiply, quat_to_axis_angle
from emo2cli.hands.skeleton import hands_joints
from tests.conftest import random_hands


def _angle_between(q0, q1):
    dot = np.abs(np.sum(q0 * q1, axis=-1))
    return 2 * np.arccos(np.clip(dot, -1, 1))


def jerk(joints: np.ndarray) -> float:
    """Mean magnitude of the third difference along the frame axis."""
    return float(np.linalg.norm(np.diff(joints, n=3, axis=0), axis=-1).mean())


def test_constant_signals_are_fixed_points():
    q = np.repeat(axis_angle_to_quat(np.array([[0.3, 2.9, 0.1], [0.0, 0.0, 3.1]]))[None], 30, 0)
    np.testing.assert_allclose(S.smooth_quaternions(q, 2.0), q, atol=1e-12)
    x = np.full((30, 2, 3), 0.25)
    np.testing.assert_allclose(S.smooth_positions(x, 3.0), x, atol=1e-12)


def test_manifold_smoothing_handles_the_pi_wrap():
    # Rotation about z oscillating around π: axis-angle jumps between +z·~π and -z·~π every frame,
    # so averaging raw axis-angle would give ~0 (a 180° error); the manifold mean stays near π.
    angles = np.pi + 0.05 * np.sin(np.arange(40))
    aa = np.zeros((40, 3))
    aa[:, 2] = angles
    aa = quat_to_axis_angle(axis_angle_to_quat(aa))  # as stored: angles in [0, π], axis flips sign
    assert (aa[:, 2] > 0).any() and (aa[:, 2] < 0).any()
    smoothed = S.smooth_axis_angle(aa, 2.0)
    naive = np.stack([np.convolve(aa[:, k], np.ones(5) / 5, mode="same") for k in range(3)], 1)
    ref = axis_angle_to_quat(np.array([0.0, 0.0, np.pi]))
    err_manifold = _angle_between(axis_angle_to_quat(smoothed), ref)[5:-5]
    err_naive = _angle_between(axis_angle_to_quat(naive), ref)[5:-5]
    assert err_manifold.max() < 0.05
    assert err_naive.max() > 1.0
    assert np.all(np.linalg.norm(smoothed, axis=-1) <= np.pi + 1e-9)


def noisy_motion(num_frames: int = 120, seed: int = 1):
    """Slow sinusoidal gestures plus per-frame jitter (a tracker's output), all frames valid."""
    hands = random_hands(num_frames, seed=seed)
    t = np.arange(num_frames) / hands.fps
    g = np.random.default_rng(seed + 1)
    base = hands.global_orient[:1].astype(np.float64)
    hands.global_orient = (base + 0.3 * np.sin(2 * t)[:, None, None] + g.normal(0, 0.05, (num_frames, 2, 3))).astype(np.float32)
    hands.hand_pose = (0.3 + 0.2 * np.sin(3 * t)[:, None, None, None] + g.normal(0, 0.05, (num_frames, 2, 15, 3))).astype(
        np.float32
    )
    hands.transl = (hands.transl[:1] + 0.1 * np.sin(t)[:, None, None] + g.normal(0, 0.01, (num_frames, 2, 3))).astype(np.float32)
    hands.mask[:] = True
    return hands


def test_smoothing_reduces_jerk_of_noisy_motion():
    hands = noisy_motion()
    smoothed = S.smooth_hands(hands, sigma_s=0.08)
    before, after = jerk(hands_joints(hands)), jerk(hands_joints(smoothed))
    assert after < 0.2 * before
    # The slow motion itself survives: wrist positions stay within the noise level of the input.
    assert np.abs(smoothed.transl - hands.transl).max() < 0.05


def test_masked_frames_neither_contribute_nor_change():
    g = np.random.default_rng(0)
    x = g.normal(size=(30, 2, 3))
    mask = np.ones((30, 2), bool)
    mask[10:15, 0] = False
    x_poisoned = x.copy()
    x_poisoned[10:15, 0] = 1e3  # garbage where the mask is false
    out = S.smooth_positions(x_poisoned, 2.0, mask)
    np.testing.assert_array_equal(out[10:15, 0], x_poisoned[10:15, 0])
    assert np.abs(out[:, 0][mask[:, 0]]).max() < 10
    q = axis_angle_to_quat(g.normal(0, 0.5, (30, 2, 3)))
    q_poisoned = q.copy()
    q_poisoned[10:15, 0] = axis_angle_to_quat(np.array([3.0, 0, 0]))
    a = S.smooth_quaternions(q, 2.0, mask)
    b = S.smooth_quaternions(q_poisoned, 2.0, mask)
    np.testing.assert_allclose(a[mask], b[mask], atol=1e-12)


def test_mean_quaternion_of_symmetric_pair():
    aa = np.array([[0.0, 0.0, 3.0], [0.0, 0.0, -3.0]])  # ±3 rad about z: mean is π about z
    mean = S.mean_quaternion(axis_angle_to_quat(aa))
    assert abs(abs(quat_to_axis_angle(mean)[2]) - np.pi) < 1e-9
    weights = np.array([1.0, 0.0])
    np.testing.assert_allclose(S.mean_quaternion(axis_angle_to_quat(aa), weights), axis_angle_to_quat(aa[0]), atol=1e-12)


def test_resample_identity_and_lengths():
    hands = random_hands(50)
    same = S.resample_hands(hands)
    np.testing.assert_allclose(same.global_orient, hands.global_orient, atol=1e-6)
    np.testing.assert_array_equal(same.mask, hands.mask)
    assert S.resample_hands(hands, fps=30.0).num_frames == 60  # 2 s at 30 fps
    assert S.resample_hands(hands, speed=2.0).num_frames == 25
    assert S.resample_hands(hands, speed=0.5).num_frames == 100
    index = S.resample_index(10, 25.0, 25.0, speed=0.7)
    assert len(index) == 14 and index.max() == 9.0


def test_resample_slerps_and_applies_the_and_mask_rule():
    aa = np.zeros((2, 2, 16, 3))
    aa[1, :, :, 0] = 1.0  # 1 rad about x
    q = axis_angle_to_quat(aa)
    mid = S.resample_quaternions(q, np.array([0.5]))
    np.testing.assert_allclose(quat_to_axis_angle(mid)[0, :, :, 0], 0.5, atol=1e-12)
    mask = np.array([[True, True], [False, True], [True, True]])
    out = S.resample_mask(mask, np.array([0.0, 0.5, 1.0, 1.5, 2.0]))
    np.testing.assert_array_equal(out[:, 0], [True, False, False, False, True])
    np.testing.assert_array_equal(out[:, 1], [True] * 5)


def test_smoothing_rejects_bad_sigma():
    with pytest.raises(ValueError):
        S.gaussian_weights(0.0)


def test_smoothed_rotation_is_a_proper_average():
    # Two alternating rotations 0.2 rad apart: the smoothed middle frames sit halfway between.
    a = axis_angle_to_quat(np.array([0.0, 0.0, 0.0]))
    b = axis_angle_to_quat(np.array([0.2, 0.0, 0.0]))
    q = np.stack([a if i % 2 else b for i in range(41)])
    out = S.smooth_quaternions(q, 4.0)
    half = quat_multiply(a, axis_angle_to_quat(np.array([0.1, 0.0, 0.0])))
    assert _angle_between(out[20], half) < 1e-3
