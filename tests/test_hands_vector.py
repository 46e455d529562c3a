import numpy as np

from emo2cli.hands.vector import VECTOR_DIM, hands_to_vector, vector_to_hands
from tests.conftest import random_hands


def test_vector_shape_and_unit_quaternions():
    hands = random_hands(30)
    vec = hands_to_vector(hands)
    assert vec.shape == (30, VECTOR_DIM) == (30, 134)
    assert vec.dtype == np.float32
    quats = vec.reshape(30, 2, 67)[:, :, :64].reshape(30, 2, 16, 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-6)
    assert np.all(quats[..., 0] >= 0)
    np.testing.assert_array_equal(vec.reshape(30, 2, 67)[:, :, 64:], hands.transl)


def test_vector_round_trip():
    hands = random_hands(50, seed=3)
    back = vector_to_hands(hands_to_vector(hands), hands.fps, hands.mask)
    np.testing.assert_allclose(back.global_orient, hands.global_orient, atol=2e-5)
    np.testing.assert_allclose(back.hand_pose, hands.hand_pose, atol=2e-5)
    np.testing.assert_array_equal(back.transl, hands.transl)
    np.testing.assert_array_equal(back.mask, hands.mask)
    back.validate()
