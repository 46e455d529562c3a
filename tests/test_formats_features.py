import json

import numpy as np
import pytest

from emo2cli.errors import InputError
from emo2cli.formats.features import AudioFeatures, feature_paths, read_features, write_features
from tests.conftest import DATA


def _feats(T=50, D=8, fps=25.0):
    return AudioFeatures(
        features=np.random.default_rng(0).normal(size=(T, D)).astype(np.float32),
        fps=fps, sample_rate=16000, encoder="mel", encoder_revision="test", duration_s=T / fps,
        source="a.wav", source_sha256="00", extra={"n_mels": 40},
    )


def test_round_trip(tmp_path):
    f = _feats()
    npy = write_features(f, tmp_path / "a.feats.npy")
    assert npy.name == "a.feats.npy" and (tmp_path / "a.feats.json").is_file()
    back = read_features(tmp_path / "a.feats.json")
    np.testing.assert_array_equal(back.features, f.features)
    assert back.sidecar() == f.sidecar()
    side = json.loads((tmp_path / "a.feats.json").read_text())
    assert side["format"] == "emo2.audio_features/1" and side["dim"] == 8 and side["num_frames"] == 50


def test_paths():
    assert feature_paths("x/a.feats.json") == feature_paths("x/a.feats.npy") == feature_paths("x/a")


def test_frozen_fixture():
    f = read_features(DATA / "feats_v1_min.feats.npy")
    assert f.features.shape == (4, 2) and f.encoder == "mel"


def test_t_must_match_duration(tmp_path):
    f = _feats()
    f.duration_s = 3.0
    with pytest.raises(InputError, match="T mismatch"):
        write_features(f, tmp_path / "a.feats.npy")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(format="emo2.audio_features/2"), "reads up to /1"),
        (lambda d: d.pop("encoder"), "missing key 'encoder'"),
        (lambda d: d.update(dim=9), "but the sidecar says"),
    ],
)
def test_sidecar_refusals(tmp_path, run_cli, edit, message):
    write_features(_feats(), tmp_path / "a.feats.npy")
    side = tmp_path / "a.feats.json"
    d = json.loads(side.read_text())
    edit(d)
    side.write_text(json.dumps(d))
    r = run_cli("inspect", tmp_path / "a.feats.npy")
    assert r.exit_code == 2 and message in r.stderr and "a.feats" in r.stderr


def test_missing_sidecar_and_corrupt_table(tmp_path, run_cli):
    write_features(_feats(), tmp_path / "a.feats.npy")
    (tmp_path / "a.feats.npy").write_bytes(b"garbage")
    r = run_cli("inspect", tmp_path / "a.feats.npy")
    assert r.exit_code == 2 and "not a readable .npy" in r.stderr
    (tmp_path / "a.feats.json").unlink()
    r = run_cli("inspect", tmp_path / "a.feats.npy")
    assert r.exit_code == 2 and "a.feats.json: no such file" in r.stderr
