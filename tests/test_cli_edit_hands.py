"""``emo2 edit-hands``: operations in typed order, outputs, refusals (exit 2, no traceback, no output)."""

from __future__ import annotations

import numpy as np

from emo2cli.formats.hands import read_hands, write_hands
from tests.conftest import random_hands


def _input(tmp_path, name="talk.hands.npz", num_frames=50):
    hands = random_hands(num_frames)
    hands.mask[:] = True
    return write_hands(hands, tmp_path / name), hands


def test_edit_applies_operations_in_typed_order(run_cli, tmp_path):
    src, hands = _input(tmp_path)
    other = write_hands(random_hands(30, seed=7), tmp_path / "wave.hands.npz")
    out = tmp_path / "out.hands.npz"
    result = run_cli("edit-hands", src, "--mute", "left", "--fade", "0.2", "-o", out, "--mirror",
                     "--splice", other, "--at", "1", "--crossfade", "0.2", "--smooth", "0.05", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    edited = read_hands(out)
    assert [e["op"] for e in edited.meta["edits"]] == ["mute", "mirror", "splice", "smooth"]
    assert edited.num_frames == 80
    assert not edited.mask[-1, 1] and edited.mask[-1, 0]  # muted left, then mirrored → right is masked
    assert '"status": "done"' in result.stdout


def test_edit_default_output_name_and_skip(run_cli, tmp_path):
    src, _ = _input(tmp_path)
    assert run_cli("edit-hands", src, "--amplitude", "1.2").exit_code == 0
    out = tmp_path / "talk.edited.hands.npz"
    assert out.is_file()
    before = out.read_bytes()
    again = run_cli("edit-hands", src, "--amplitude", "2")
    assert again.exit_code == 0 and "skip" in again.stderr and out.read_bytes() == before
    assert run_cli("edit-hands", src, "--amplitude", "2", "--force").exit_code == 0
    assert out.read_bytes() != before


def test_edit_many_inputs_into_a_folder(run_cli, tmp_path):
    _input(tmp_path, "a.hands.npz")
    _input(tmp_path, "b.hands.npz")
    result = run_cli("edit-hands", str(tmp_path / "*.hands.npz"), "-o", tmp_path / "edited", "--retime", "2")
    assert result.exit_code == 0, result.stderr
    assert read_hands(tmp_path / "edited" / "a.edited.hands.npz").num_frames == 25


def test_edit_refusals_exit_2_without_output(run_cli, tmp_path):
    src, _ = _input(tmp_path)
    out = tmp_path / "o.hands.npz"
    cases = [
        (("--smoth", "1"), "--smooth"),
        (("--amplitude", "-1"), "--amplitude must be >= 0"),
        (("--splice", tmp_path / "missing.hands.npz"), "missing.hands.npz: no such file"),
        (("--mute", "left", "--at", "9"), "outside the motion"),
        ((), "no edit operation"),
    ]
    for ops, message in cases:
        result = run_cli("edit-hands", src, "-o", out, *ops)
        assert result.exit_code == 2, (ops, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not out.exists()
    bad = tmp_path / "bad.hands.npz"
    bad.write_bytes(b"nope")
    result = run_cli("edit-hands", bad, "-o", out, "--mirror")
    assert result.exit_code == 2 and "bad.hands.npz" in result.stderr and not out.exists()
    # A file at fault is named when an operation fails on the input.
    result = run_cli("edit-hands", src, "-o", out, "--retime", "0")
    assert "talk.hands.npz" in result.stderr


def test_edit_identity_edits_keep_the_motion(run_cli, tmp_path):
    src, hands = _input(tmp_path)
    out = tmp_path / "same.hands.npz"
    assert run_cli("edit-hands", src, "-o", out, "--amplitude", "1", "--retime", "1", "--mirror", "--mirror").exit_code == 0
    back = read_hands(out)
    np.testing.assert_allclose(back.transl, hands.transl, atol=1e-6)
    np.testing.assert_array_equal(back.mask, hands.mask)
