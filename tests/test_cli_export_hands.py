"""``emo2 export-hands``: BVH and SMPL-X out, refusals through the CLI."""

from __future__ import annotations

from emo2cli.formats.hands import write_hands
from emo2cli.hands.bvh import read_bvh
from tests.conftest import random_hands


def test_export_bvh(run_cli, tmp_path):
    src = write_hands(random_hands(10), tmp_path / "talk.hands.npz")
    assert run_cli("export-hands", src, "-o", tmp_path / "talk.bvh", "--unit", "cm").exit_code == 0
    bvh = read_bvh(tmp_path / "talk.bvh")
    assert len(bvh.values) == 10 and bvh.offsets.max() > 1.0  # centimetres


def test_export_refusals(run_cli, tmp_path):
    src = write_hands(random_hands(5), tmp_path / "talk.hands.npz")
    for args, name, message in [
        (("-o", tmp_path / "x.fbx"), "x.fbx", "unknown export format"),
        (("-o", tmp_path / "x.bvh"), "none.hands.npz", "no such file"),
    ]:
        source = tmp_path / "none.hands.npz" if name == "none.hands.npz" else src
        result = run_cli("export-hands", source, *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert name in result.stderr and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.bvh").exists() and not (tmp_path / "x.fbx").exists()
    assert run_cli("export-hands", src, "-o", tmp_path / "t.bvh").exit_code == 0
    again = run_cli("export-hands", src, "-o", tmp_path / "t.bvh")
    assert again.exit_code == 2 and "already exists" in again.stderr
