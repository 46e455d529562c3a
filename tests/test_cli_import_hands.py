"""``emo2 import-hands``: SMPL-X / MANO files in, round trips and refusals through the CLI."""

from __future__ import annotations

import numpy as np

from emo2cli.formats.hands import read_hands, write_hands
from emo2cli.hands.rotations import axis_angle_to_matrix
from tests.conftest import random_hands
from tests.tiny import write_synthetic_beat2, write_synthetic_smplx_model


def test_export_smplx_then_import_round_trip(run_cli, tmp_path):
    hands = random_hands(20)
    src = write_hands(hands, tmp_path / "talk.hands.npz")
    exported = tmp_path / "talk.smplx.npz"
    assert run_cli("export-hands", src, "-o", exported).exit_code == 0
    result = run_cli("import-hands", exported, "--from", "smplx", "-o", tmp_path / "back.hands.npz", "--json")
    assert result.exit_code == 0, result.stderr
    back = read_hands(tmp_path / "back.hands.npz")
    np.testing.assert_allclose(axis_angle_to_matrix(back.hand_pose), axis_angle_to_matrix(hands.hand_pose), atol=1e-5)
    assert back.meta["producer"] == "emo2 import-hands" and '"status": "done"' in result.stdout


def test_import_beat2_with_model_default_name_and_fps(run_cli, tmp_path):
    seq = write_synthetic_beat2(tmp_path / "2_x_0_1_1.npz", num_frames=30, fps=30.0)
    model = write_synthetic_smplx_model(tmp_path / "models" / "SMPLX_NEUTRAL.npz")
    result = run_cli("import-hands", seq, "--from", "smplx", "--smplx-model", model.parent)
    assert result.exit_code == 0, result.stderr
    hands = read_hands(tmp_path / "2_x_0_1_1.hands.npz")
    assert hands.fps == 25.0 and hands.num_frames == 25  # resampled to the preset's fps
    assert hands.meta["flat_hand_mean_corrected"] is True


def test_import_refusals(run_cli, tmp_path):
    src = write_hands(random_hands(5), tmp_path / "talk.hands.npz")
    cases = [
        ((src, "--from", "smplx"), "talk.hands.npz", "missing key 'poses'"),
        ((tmp_path / "none.npz", "--from", "smplx"), "none.npz", "no such file"),
        ((src, "--from", "bvh"), "--from", "bvh"),
    ]
    for args, name, message in cases:
        result = run_cli("import-hands", *args, "-o", tmp_path / "x.hands.npz")
        assert result.exit_code == 2, (args, result.stderr)
        assert name in result.stderr and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.hands.npz").exists()
    np.savez(
        tmp_path / "fits.npz",
        global_orient=np.zeros((4, 3)),
        hand_pose=np.zeros((4, 12)),
        transl=np.zeros((4, 3)),
        is_right=np.array(1),
    )
    result = run_cli("import-hands", tmp_path / "fits.npz", "--from", "mano", "--source-fps", "25")
    assert result.exit_code == 2 and "'hand_pose'" in result.stderr and "PCA" in result.stderr
