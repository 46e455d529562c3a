"""MANO through smplx (synthetic model file) and the shared FK interface; real-MANO parity when configured."""

from __future__ import annotations

import os

import numpy as np
import pytest

from emo2cli.config import RenderConfig
from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.hands import skeleton
from emo2cli.hands.kinematics import BuiltinHands, load_hand_model, model_joints
from emo2cli.hands.mano import ManoHands
from tests.conftest import random_hands
from tests.tiny import SYNTHETIC_MANO_J0, write_synthetic_mano

REAL_MANO = os.environ.get("EMO2_TEST_MANO_DIR")  # a folder with the real, licensed MANO files
needs_mano = pytest.mark.skipif(not REAL_MANO, reason="real MANO files not available (set EMO2_TEST_MANO_DIR)")


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    return write_synthetic_mano(tmp_path_factory.mktemp("mano"))


@pytest.fixture(scope="module")
def mano(mano_dir):
    return ManoHands(mano_dir)


def test_synthetic_mano_loads_with_shapes_and_flat_mean(mano):
    for hand in (0, 1):
        model = mano.models[hand]
        assert not model.use_pca and model.flat_hand_mean
        assert float(model.pose_mean.abs().sum()) == 0.0  # hands_mean of the file is not added
        assert mano.faces[hand].shape == (1538, 3)
    joints, vertices = mano.forward(np.zeros((2, 3)), np.zeros((2, 15, 3)), np.zeros((2, 3)), 1, return_vertices=True)
    assert joints.shape == (2, 21, 3) and vertices.shape == (2, 778, 3)
    np.testing.assert_allclose(mano.rest_wrist(1), SYNTHETIC_MANO_J0, atol=1e-6)
    np.testing.assert_allclose(mano.rest_wrist(0), np.multiply(SYNTHETIC_MANO_J0, [-1, 1, 1]), atol=1e-6)


@pytest.mark.parametrize("hand", [0, 1])
def test_mano_path_equals_builtin_fk_for_the_same_parameters(mano, hand, rng):
    """The smplx path (joint order, tips, transl = wrist - J0) and the built-in FK agree exactly."""
    hands = random_hands(6, seed=3)
    expected = skeleton.forward_kinematics(hands.global_orient[:, hand], hands.hand_pose[:, hand], hands.transl[:, hand], hand)
    got = mano.forward(hands.global_orient[:, hand], hands.hand_pose[:, hand], hands.transl[:, hand], hand)
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_wrist_is_at_transl_for_any_shape(mano, rng):
    betas = rng.normal(0, 2.0, 10).astype(np.float32)
    orient = rng.normal(0, 1.0, (3, 3))
    transl = rng.normal(0, 0.3, (3, 3))
    for hand in (0, 1):
        joints = mano.forward(orient, np.zeros((3, 15, 3)), transl, hand, betas=betas)
        np.testing.assert_allclose(joints[:, 0], transl, atol=2e-5)
        assert not np.allclose(mano.rest_wrist(hand, betas), mano.rest_wrist(hand), atol=1e-4)


def test_left_shapedirs_sign_bug_is_fixed(tmp_path, mano):
    fixed = ManoHands(write_synthetic_mano(tmp_path / "bug", left_shapedirs_bug=True))
    clean = ManoHands(write_synthetic_mano(tmp_path / "clean", left_shapedirs_bug=False))
    for model in (fixed, clean):
        left, right = (m.shapedirs.numpy() for m in model.models)
        np.testing.assert_allclose(left, right * np.array([-1.0, 1.0, 1.0])[None, :, None])


def test_model_joints_interface(mano):
    hands = random_hands(5, seed=1)
    builtin = model_joints(hands)
    assert builtin.shape == (5, 2, 21, 3) and builtin.dtype == np.float32
    np.testing.assert_allclose(model_joints(hands, BuiltinHands()), builtin)
    np.testing.assert_allclose(model_joints(hands, mano), builtin, atol=3e-5)


def test_load_hand_model_choice(monkeypatch, mano_dir, tmp_path):
    monkeypatch.delenv("EMO2_MANO_DIR", raising=False)
    assert isinstance(load_hand_model(RenderConfig()), BuiltinHands)  # auto, nothing configured
    assert isinstance(load_hand_model(RenderConfig(), mano_dir=mano_dir), ManoHands)
    assert isinstance(load_hand_model(RenderConfig(hand_model="builtin"), mano_dir=mano_dir), BuiltinHands)
    monkeypatch.setenv("EMO2_MANO_DIR", str(mano_dir))
    assert isinstance(load_hand_model(RenderConfig()), ManoHands)
    monkeypatch.delenv("EMO2_MANO_DIR")
    with pytest.raises(MissingPrerequisite, match="MANO"):
        load_hand_model(RenderConfig(hand_model="mano"))
    with pytest.raises(MissingPrerequisite, match="no MANO_LEFT"):
        load_hand_model(RenderConfig(hand_model="mano"), mano_dir=tmp_path)


def test_pickles_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "objects"
    bad.mkdir()
    for side in ("LEFT", "RIGHT"):
        np.savez(bad / f"MANO_{side}.npz", v_template=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="pickle-free"):
        ManoHands(bad)
    pkl = tmp_path / "pkl"
    pkl.mkdir()
    for side in ("LEFT", "RIGHT"):
        (pkl / f"MANO_{side}.pkl").write_bytes(b"\x80\x04N.")
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "chumpy" else real_find_spec(name, *a))
    with pytest.raises(MissingPrerequisite, match="chumpy") as err:
        ManoHands(pkl)
    assert ".npz" in str(err.value)
    # auto falls back to the built-in hand instead of failing
    assert isinstance(load_hand_model(RenderConfig(), mano_dir=pkl), BuiltinHands)


@needs_mano
def test_builtin_skeleton_close_to_real_mano():
    """Real MANO (β = 0) vs the built-in hand: same parameters, joints within the stated tolerance.

    The built-in proportions come from anthropometry, not from MANO's template, so they differ
    by bone-length and knuckle-placement differences: mean joint distance < 15 mm at the flat
    pose and < 25 mm under moderate random poses (tolerances chosen, not yet measured on real files).
    """
    mano = ManoHands(REAL_MANO)
    hands = random_hands(20, seed=5)
    hands.hand_pose *= 0.5
    for hand in (0, 1):
        zero = np.zeros((1, 3))
        flat_mano = mano.forward(zero, np.zeros((1, 15, 3)), zero, hand)
        flat_builtin = skeleton.forward_kinematics(zero, np.zeros((1, 15, 3)), zero, hand)
        assert np.linalg.norm(flat_mano - flat_builtin, axis=-1).mean() < 0.015
        args = (hands.global_orient[:, hand], hands.hand_pose[:, hand], hands.transl[:, hand], hand)
        assert np.linalg.norm(mano.forward(*args) - skeleton.forward_kinematics(*args), axis=-1).mean() < 0.025
