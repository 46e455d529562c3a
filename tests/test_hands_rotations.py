import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emo2cli.hands import rotations as R


def _random_aa(g, n, max_angle=np.pi):
    axis = g.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis * g.uniform(0, max_angle, size=(n, 1))


def test_axis_angle_quat_round_trip_exact():
    g = np.random.default_rng(0)
    aa = _random_aa(g, 10000)
    aa[:5] = 0.0  # identity
    aa[5:10] *= 1e-9  # tiny angles take the series branch
    q = R.axis_angle_to_quat(aa)
    assert np.all(q[:, 0] >= 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_axis_angle(q), aa, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), st.floats(0, np.pi),
)
def test_round_trip_property(x, y, z, angle):
    axis = np.array([x, y, z])
    if np.linalg.norm(axis) < 1e-3:
        axis = np.array([0.0, 0.0, 1.0])
    aa = axis / np.linalg.norm(axis) * angle
    back = R.quat_to_axis_angle(R.axis_angle_to_quat(aa))
    assert np.linalg.norm(back) <= np.pi + 1e-9
    # angle pi: axis and -axis are the same rotation
    if angle < np.pi - 1e-6:
        np.testing.assert_allclose(back, aa, atol=1e-9)
    np.testing.assert_allclose(R.axis_angle_to_matrix(back), R.axis_angle_to_matrix(aa), atol=1e-9)


def test_matrix_round_trip_and_orthonormal():
    g = np.random.default_rng(1)
    aa = _random_aa(g, 2000)
    m = R.axis_angle_to_matrix(aa)
    np.testing.assert_allclose(m @ np.swapaxes(m, -1, -2), np.broadcast_to(np.eye(3), m.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m), 1.0, atol=1e-12)
    np.testing.assert_allclose(R.matrix_to_axis_angle(m), aa, atol=1e-7)


def test_rotation_of_a_vector_matches_rodrigues():
    m = R.axis_angle_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(m @ np.array([1.0, 0, 0]), [0, 1, 0], atol=1e-12)


def test_quat_multiply_composes_matrices():
    g = np.random.default_rng(2)
    a, b = R.axis_angle_to_quat(_random_aa(g, 100)), R.axis_angle_to_quat(_random_aa(g, 100))
    np.testing.assert_allclose(R.quat_to_matrix(R.quat_multiply(a, b)), R.quat_to_matrix(a) @ R.quat_to_matrix(b), atol=1e-12)


def test_slerp_endpoints_and_midpoint():
    q0 = R.axis_angle_to_quat(np.array([0.0, 0.0, 0.0]))
    q1 = R.axis_angle_to_quat(np.array([0.0, 0.0, 2.0]))
    np.testing.assert_allclose(R.slerp(q0, q1, 0.0), q0, atol=1e-12)
    np.testing.assert_allclose(R.slerp(q0, q1, 1.0), q1, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_axis_angle(R.slerp(q0, q1, 0.5)), [0, 0, 1.0], atol=1e-12)
    # broadcasting t over a sequence
    t = np.linspace(0, 1, 5)
    out = R.slerp(np.broadcast_to(q0, (5, 4)), np.broadcast_to(q1, (5, 4)), t)
    np.testing.assert_allclose(R.quat_to_axis_angle(out)[:, 2], 2.0 * t, atol=1e-12)


def test_mirror_is_an_involution_and_reflects_the_matrix():
    g = np.random.default_rng(3)
    aa = _random_aa(g, 50)
    np.testing.assert_allclose(R.mirror_axis_angle(R.mirror_axis_angle(aa)), aa)
    flip = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(R.axis_angle_to_matrix(R.mirror_axis_angle(aa)), flip @ R.axis_angle_to_matrix(aa) @ flip, atol=1e-12)
