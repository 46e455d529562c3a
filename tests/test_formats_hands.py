"""Hands file: round trip, edits, and every refusal of the reader (through `emo2 inspect`)."""

import json

import numpy as np
import pytest

from emo2cli.errors import InputError
from emo2cli.formats.hands import FORMAT, HandMotion, read_hands, write_hands
from tests.conftest import DATA, random_hands


def _save_raw(path, **overrides):
    """Write an npz like write_hands would, with some keys replaced (None = dropped)."""
    hands = random_hands(12)
    arrays = {
        "format": np.array(FORMAT),
        "fps": np.array(25.0),
        "global_orient": hands.global_orient,
        "hand_pose": hands.hand_pose,
        "transl": hands.transl,
        "mask": hands.mask,
        "betas": hands.betas,
        "meta": np.array(json.dumps({"producer": "test"})),
    }
    for k, v in overrides.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def test_round_trip_is_bit_exact(tmp_path):
    hands = random_hands(40)
    hands.score = np.linspace(0, 1, 80, dtype=np.float32).reshape(40, 2)
    p = write_hands(hands, tmp_path / "a.hands.npz")
    back = read_hands(p)
    for key in ("global_orient", "hand_pose", "transl", "mask", "betas", "score"):
        np.testing.assert_array_equal(getattr(back, key), getattr(hands, key))
        assert getattr(back, key).dtype == getattr(hands, key).dtype
    assert back.fps == hands.fps and back.meta == hands.meta
    # a second write of what was read gives the same bytes
    p2 = write_hands(back, tmp_path / "b.hands.npz")
    assert p.read_bytes() == p2.read_bytes()


def test_scripted_edit_round_trips(tmp_path):
    hands = random_hands(30)
    p = write_hands(hands, tmp_path / "a.hands.npz")
    edited = read_hands(p)
    edited.transl *= np.float32(1.5)
    edited.mask[:, 0] = False
    write_hands(edited, p, force=True)
    again = read_hands(p)
    np.testing.assert_array_equal(again.transl, hands.transl * np.float32(1.5))
    assert not again.mask[:, 0].any()


def test_frozen_v1_fixture_reads():
    hands = read_hands(DATA / "hands_v1_min.npz")
    assert hands.num_frames == 3 and hands.fps == 25.0
    assert hands.meta["producer"] == "fixture"


def test_refuses_overwrite_without_force(tmp_path):
    p = write_hands(random_hands(5), tmp_path / "a.hands.npz")
    before = p.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        write_hands(random_hands(5, seed=1), p)
    assert p.read_bytes() == before


def test_invalid_content_is_never_written(tmp_path):
    hands = random_hands(5)
    hands.transl[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_hands(hands, tmp_path / "bad.hands.npz")
    assert list(tmp_path.iterdir()) == []


T = 12
REFUSALS = {
    "unknown_version": ({"format": np.array("emo2.hands/7")}, "this emo2 reads up to /1"),
    "wrong_kind": ({"format": np.array("emo2.audio_features/1")}, "expected emo2.hands/1"),
    "not_a_tag": ({"format": np.array("hands")}, "not an emo2 tag"),
    "no_format": ({"format": None}, "missing key 'format'"),
    "missing_key": ({"transl": None}, "missing key 'transl'"),
    "wrong_dtype": ({"transl": np.zeros((T, 2, 3), np.float64)}, "key 'transl' has dtype float64"),
    "wrong_shape": ({"hand_pose": np.zeros((T, 2, 16, 3), np.float32)}, "key 'hand_pose' has shape"),
    "nan": ({"global_orient": np.full((T, 2, 3), np.nan, np.float32)}, "key 'global_orient' contains NaN"),
    "inf": ({"transl": np.full((T, 2, 3), np.inf, np.float32)}, "key 'transl' contains NaN or Inf"),
    "t_mismatch": ({"mask": np.ones((T + 1, 2), bool)}, "T mismatch"),
    "mask_not_bool": ({"mask": np.ones((T, 2), np.uint8)}, "key 'mask' has dtype uint8"),
    "bad_meta": ({"meta": np.array("{not json")}, "key 'meta' is not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_reader_refusals_through_the_cli(tmp_path, run_cli, case):
    overrides, message = REFUSALS[case]
    path = _save_raw(tmp_path / f"{case}.hands.npz", **overrides)
    result = run_cli("inspect", path)
    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_not_an_npz_and_missing_file(tmp_path, run_cli):
    junk = tmp_path / "junk.hands.npz"
    junk.write_bytes(b"this is not a zip file")
    r = run_cli("inspect", junk)
    assert r.exit_code == 2 and "not a readable .npz" in r.stderr and str(junk) in r.stderr
    r = run_cli("inspect", tmp_path / "missing.hands.npz")
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_debug_shows_the_traceback(tmp_path, run_cli):
    path = _save_raw(tmp_path / "v.hands.npz", format=np.array("emo2.hands/9"))
    r = run_cli("inspect", path, "--debug")
    assert r.exit_code == 2 and "Traceback" in r.stderr


def test_rest_pose_is_valid():
    rest = HandMotion.rest(10, 30.0)
    rest.validate()
    # hands in front of the body, below the shoulders, left hand on +x
    assert rest.transl[0, 0, 0] > 0 > rest.transl[0, 1, 0]
    assert np.all(rest.transl[:, :, 1] < -0.2) and np.all(rest.transl[:, :, 2] > 0)


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        p = write_hands(random_hands(3), tmp_path / "p.hands.npz")
    finally:
        os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o644
