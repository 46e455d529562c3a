"""SMPL-X import/export and MANO fits, on synthetic files in the BEAT2 / TalkSHOW / fits layouts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from emo2cli.errors import InputError
from emo2cli.formats.hands import write_hands
from emo2cli.hands import smplx_io as X
from emo2cli.hands.mano_fits import read_mano_fits
from emo2cli.hands.rotations import axis_angle_to_matrix
from tests.conftest import random_hands
from tests.tiny import (
    SYNTHETIC_MANO_J0,
    synthetic_smplx_poses,
    write_synthetic_beat2,
    write_synthetic_mano,
    write_synthetic_smplx_model,
)


def _reference_fk(full_pose: np.ndarray, rest: np.ndarray):
    """smplx's own rigid-transform chain: (global rotations [T, 55, 3, 3], posed joints [T, 55, 3])."""
    from smplx.lbs import batch_rigid_transform

    rot = torch.as_tensor(axis_angle_to_matrix(full_pose))
    joints = torch.as_tensor(np.broadcast_to(rest, (len(full_pose), 55, 3)).copy())
    posed, transforms = batch_rigid_transform(rot, joints, torch.as_tensor(X.SMPLX_PARENTS), dtype=torch.float64)
    return transforms[..., :3, :3].numpy(), posed.numpy()


def test_arm_kinematics_matches_smplx():
    poses = synthetic_smplx_poses(8).astype(np.float64).reshape(8, 55, 3)
    rest = X.generic_rest_joints()
    rot, pos = X.arm_kinematics(poses, rest)
    ref_rot, ref_pos = _reference_fk(poses, rest)
    for j in (9, 16, 17, 20, 21):
        np.testing.assert_allclose(rot[j], ref_rot[:, j], atol=1e-10)
        np.testing.assert_allclose(pos[j], ref_pos[:, j], atol=1e-10)


def test_beat2_import_with_model(tmp_path):
    model_path = write_synthetic_smplx_model(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz")
    seq = write_synthetic_beat2(tmp_path / "clip.npz", num_frames=12, fps=30.0)
    hands = X.import_hands(seq, "smplx", fps=30.0, smplx_model=tmp_path / "smplx")
    poses = np.load(seq)["poses"].astype(np.float64).reshape(12, 55, 3)
    model = X.load_smplx_model(model_path)
    ref_rot, ref_pos = _reference_fk(poses, model.rest_joints)
    body_inv = np.swapaxes(ref_rot[:, 9], -1, -2)
    scale = 0.36 / np.linalg.norm(model.rest_joints[16] - model.rest_joints[17])
    mid = 0.5 * (ref_pos[:, 16] + ref_pos[:, 17])
    for h, wrist in enumerate((20, 21)):
        np.testing.assert_allclose(axis_angle_to_matrix(hands.global_orient[:, h]), body_inv @ ref_rot[:, wrist], atol=1e-5)
        np.testing.assert_allclose(
            hands.transl[:, h], scale * np.einsum("tij,tj->ti", body_inv, ref_pos[:, wrist] - mid), atol=1e-5
        )
    data = np.load(model_path)
    fingers = poses[:, 25:55].reshape(12, 2, 15, 3) + np.stack([data["hands_meanl"], data["hands_meanr"]]).reshape(2, 15, 3)
    np.testing.assert_allclose(axis_angle_to_matrix(hands.hand_pose), axis_angle_to_matrix(fingers), atol=1e-5)
    assert hands.meta["flat_hand_mean_corrected"] is True and hands.meta["wrist_position"] == "smplx forward kinematics"
    assert hands.meta["source_layout"] == "beat2" and hands.mask.all()


def test_model_betas_shape_the_rest_joints(tmp_path):
    from smplx.lbs import blend_shapes, vertices2joints

    path = write_synthetic_smplx_model(tmp_path / "m.npz")
    data = np.load(path)
    betas = np.random.default_rng(1).normal(size=300)  # longer than the model's 10 shape dims
    model = X.load_smplx_model(path, betas)
    v = torch.as_tensor(data["v_template"])[None] + blend_shapes(
        torch.as_tensor(betas[:10])[None], torch.as_tensor(data["shapedirs"][:, :, :10])
    )
    np.testing.assert_allclose(model.rest_joints, vertices2joints(torch.as_tensor(data["J_regressor"]), v)[0].numpy(), atol=1e-10)


def test_talkshow_layout_matches_beat2(tmp_path):
    poses = synthetic_smplx_poses(10)
    talkshow = np.concatenate(
        [poses[:, 66:75], poses[:, 0:3], poses[:, 3:66], poses[:, 75:165], np.zeros((10, 100), np.float32)], 1
    )
    assert talkshow.shape == (10, 265)
    np.save(tmp_path / "ts.npy", talkshow)
    np.savez(tmp_path / "b2.npz", poses=poses, mocap_frame_rate=np.array(30.0))
    a = X.import_hands(tmp_path / "ts.npy", "smplx", fps=30.0)
    b = X.import_hands(tmp_path / "b2.npz", "smplx", fps=30.0)
    np.testing.assert_array_equal(a.global_orient, b.global_orient)
    np.testing.assert_array_equal(a.transl, b.transl)
    assert a.meta["source_layout"] == "talkshow"


def test_import_without_model_is_flagged_and_resampled(tmp_path, caplog):
    seq = write_synthetic_beat2(tmp_path / "clip.npz", num_frames=30, fps=30.0)
    with caplog.at_level(logging.WARNING):
        hands = X.import_hands(seq, "smplx", fps=25.0)
    assert hands.num_frames == 25 and hands.fps == 25.0
    assert hands.meta["wrist_position"].startswith("approximate")
    assert hands.meta["flat_hand_mean_corrected"] is False
    assert "hands_mean" in caplog.text


@pytest.mark.parametrize("with_model", [False, True])
def test_export_then_import_gives_back_the_hand_pose(tmp_path, with_model):
    hands = random_hands(20)
    model = write_synthetic_smplx_model(tmp_path / "m.npz") if with_model else None
    X.export_smplx(hands, tmp_path / "out.smplx.npz", smplx_model=model)
    data = np.load(tmp_path / "out.smplx.npz")
    assert data["poses"].shape == (20, 165) and float(data["mocap_frame_rate"]) == 25.0
    assert bool(data["flat_hand_mean"]) is (not with_model)
    back = X.import_hands(tmp_path / "out.smplx.npz", "smplx", fps=25.0, smplx_model=model)
    np.testing.assert_allclose(axis_angle_to_matrix(back.hand_pose), axis_angle_to_matrix(hands.hand_pose), atol=1e-5)
    np.testing.assert_allclose(axis_angle_to_matrix(back.global_orient), axis_angle_to_matrix(hands.global_orient), atol=1e-5)
    # The arm IK reaches these wrists (all within the arm's length), so positions come back too.
    np.testing.assert_allclose(back.transl, hands.transl, atol=1e-4)
    np.testing.assert_array_equal(back.mask, hands.mask)


def test_export_ik_keeps_elbows_below_the_shoulders(tmp_path):
    from emo2cli.formats.hands import HandMotion

    arrays = X.hands_to_smplx(HandMotion.rest(2, 25.0))
    rot, pos = X.arm_kinematics(arrays["poses"].astype(np.float64).reshape(2, 55, 3), X.generic_rest_joints())
    for shoulder, elbow in ((16, 18), (17, 19)):
        assert np.all(pos[elbow][:, 1] < pos[shoulder][:, 1] - 0.15)


@pytest.mark.parametrize(
    "arrays, name, message",
    [
        ({"trans": np.zeros((4, 3))}, "a.npz", "missing key 'poses'"),
        ({"poses": np.zeros((4, 156))}, "a.npz", "key 'poses' has shape"),
        ({"poses": np.zeros((4, 165))}, "a.npz", "mocap_frame_rate"),
    ],
)
def test_smplx_refusals_name_the_key(tmp_path, arrays, name, message):
    np.savez(tmp_path / name, **arrays)
    with pytest.raises(InputError, match=message) as info:
        X.import_hands(tmp_path / name, "smplx", fps=25.0)
    assert info.value.path.name == name


def test_smplx_refuses_wrong_npy_width_and_pickled_models(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 100), np.float32))
    with pytest.raises(InputError, match=r"\[T, 265\]"):
        X.import_hands(tmp_path / "x.npy", "smplx", fps=25.0)
    (tmp_path / "SMPLX_NEUTRAL.pkl").write_bytes(b"not read")
    with pytest.raises(InputError, match="chumpy"):
        X.load_smplx_model(tmp_path / "SMPLX_NEUTRAL.pkl")


# ---------------------------------------------------------------------------------------------
# MANO fits
# ---------------------------------------------------------------------------------------------


def test_mano_fits_two_hand_array_with_rotation_matrices(tmp_path):
    hands = random_hands(10)
    np.savez(
        tmp_path / "fits.npz",
        global_orient=axis_angle_to_matrix(hands.global_orient),
        hand_pose=hands.hand_pose.reshape(10, 2, 45),
        wrist=hands.transl,
        fps=np.array(25.0),
        mask=hands.mask,
    )
    back, notes = read_mano_fits(tmp_path / "fits.npz")
    np.testing.assert_allclose(axis_angle_to_matrix(back.global_orient), axis_angle_to_matrix(hands.global_orient), atol=1e-5)
    np.testing.assert_allclose(back.transl, hands.transl, atol=1e-7)
    np.testing.assert_array_equal(back.mask, hands.mask)
    assert notes["wrist_position"] == "key 'wrist'"


def test_mano_fits_folder_of_single_hand_frames(tmp_path):
    g = np.random.default_rng(0)
    folder = tmp_path / "fits"
    folder.mkdir()
    for i in range(12):  # frame_2 must come before frame_10 (natural order)
        np.savez(
            folder / f"frame_{i}.npz",
            global_orient=np.full(3, 0.01 * i),
            hand_pose=g.normal(0, 0.2, (15, 3)),
            joints=np.full((21, 3), float(i)),
            is_right=np.array(i % 2),
        )
    hands, _ = read_mano_fits(folder, source_fps=30.0)
    assert hands.num_frames == 12 and hands.fps == 30.0
    np.testing.assert_array_equal(hands.mask[:, 1], np.arange(12) % 2 == 1)
    np.testing.assert_array_equal(hands.mask[:, 0], np.arange(12) % 2 == 0)
    np.testing.assert_allclose(hands.transl[np.arange(12), np.arange(12) % 2, 0], np.arange(12))


def test_mano_transl_gets_j0_from_the_mano_files(tmp_path):
    mano = write_synthetic_mano(tmp_path / "mano")
    transl = np.zeros((3, 2, 3), np.float32)
    np.savez(
        tmp_path / "fits.npz",
        global_orient=np.zeros((3, 2, 3)),
        hand_pose=np.zeros((3, 2, 45)),
        transl=transl,
        fps=np.array(25.0),
    )
    hands, notes = read_mano_fits(tmp_path / "fits.npz", mano_dir=mano)
    np.testing.assert_allclose(hands.transl[:, 1], np.broadcast_to(SYNTHETIC_MANO_J0, (3, 3)), atol=1e-6)
    np.testing.assert_allclose(hands.transl[:, 0], np.broadcast_to(np.multiply(SYNTHETIC_MANO_J0, [-1, 1, 1]), (3, 3)), atol=1e-6)
    assert "J0" in notes["wrist_position"]
    rough, notes = read_mano_fits(tmp_path / "fits.npz")
    assert notes["wrist_position"].startswith("approximate")


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"hand_pose": np.zeros((4, 45)), "transl": np.zeros((4, 3))}, "missing key 'global_orient'"),
        (
            {
                "global_orient": np.zeros((4, 3)),
                "hand_pose": np.zeros((4, 12)),
                "transl": np.zeros((4, 3)),
                "is_right": np.array(1),
            },
            "PCA",
        ),
        ({"global_orient": np.zeros((4, 3)), "hand_pose": np.zeros((4, 45))}, "missing key 'transl'"),
        ({"global_orient": np.zeros((4, 3)), "hand_pose": np.zeros((4, 45)), "transl": np.zeros((4, 3))}, "is_right"),
        (
            {
                "global_orient": np.zeros((4, 3)),
                "hand_pose": np.zeros((4, 45)),
                "transl": np.zeros((4, 3)),
                "is_right": np.array(1),
            },
            "fps",
        ),
    ],
)
def test_mano_fits_refusals(tmp_path, arrays, message):
    np.savez(tmp_path / "f.npz", **arrays)
    with pytest.raises(InputError, match=message):
        read_mano_fits(tmp_path / "f.npz")


def test_our_own_hands_file_reads_as_two_hand_fits(tmp_path):
    hands = random_hands(6)
    write_hands(hands, tmp_path / "h.hands.npz")
    back = X.import_hands(tmp_path / "h.hands.npz", "mano", fps=25.0)
    np.testing.assert_allclose(back.transl, hands.transl)
    np.testing.assert_array_equal(back.mask, hands.mask)
