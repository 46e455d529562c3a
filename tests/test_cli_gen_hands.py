"""``emo2 gen-hands``: rules default on the bundled speech, features input, checkpoints, refusals (exit 2)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from emo2cli.formats.features import AudioFeatures, write_features
from emo2cli.formats.hands import read_hands, write_hands
from tests.conftest import SPEECH, random_hands
from tests.tiny import one_torch_thread, tiny_motion_checkpoint


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture
def speech(tmp_path):
    return shutil.copy(SPEECH, tmp_path / "speech.wav")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_motion_checkpoint(tmp_path_factory.mktemp("ckpt") / "stage1")


def test_rules_on_the_bundled_speech(run_cli, speech, tmp_path):
    result = run_cli("gen-hands", speech)
    assert result.exit_code == 0, result.stderr
    hands = read_hands(tmp_path / "speech.hands.npz")
    assert hands.num_frames == round(7.52 * 25) and hands.fps == 25.0 and hands.mask.all()
    meta = hands.meta
    assert meta["generator"] == "rules" and meta["model"] == "rules" and meta["style"] == "talk" and meta["seed"] == 0
    assert meta["producer"].startswith("emo2cli") and meta["version"] and len(meta["preset_sha256"]) == 64
    assert len(meta["source_sha256"]) == 64 and meta["strokes"] > 3
    assert np.ptp(hands.transl[:, 1, 1]) > 0.1  # the right hand rises from rest to gesture


def test_same_seed_same_bytes_other_seed_other_file(run_cli, speech, tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert run_cli("gen-hands", speech, "-o", tmp_path / f"{name}.hands.npz", "--seed", seed, "-q").exit_code == 0
    assert (tmp_path / "a.hands.npz").read_bytes() == (tmp_path / "b.hands.npz").read_bytes()
    assert not np.array_equal(read_hands(tmp_path / "a.hands.npz").transl, read_hands(tmp_path / "c.hands.npz").transl)


def test_features_input_finds_its_audio(run_cli, speech, tmp_path):
    assert run_cli("extract-audio", speech, "--encoder", "mel", "-q").exit_code == 0
    assert run_cli("gen-hands", tmp_path / "speech.feats.npy", "-o", tmp_path / "from_feats.hands.npz", "--style", "lecture").exit_code == 0
    assert run_cli("gen-hands", speech, "-o", tmp_path / "from_wav.hands.npz", "--style", "lecture").exit_code == 0
    a, b = read_hands(tmp_path / "from_feats.hands.npz"), read_hands(tmp_path / "from_wav.hands.npz")
    assert np.array_equal(a.transl, b.transl) and a.meta["style"] == "lecture"
    # without its source audio the rules generator cannot run: exit 2, no output
    speech.unlink()
    result = run_cli("gen-hands", tmp_path / "speech.feats.npy", "-o", tmp_path / "x.hands.npz")
    assert result.exit_code == 2 and "source audio" in result.stderr and "speech.feats.npy" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.hands.npz").exists()


def test_skip_complete_and_force(run_cli, speech, tmp_path):
    assert run_cli("gen-hands", speech, "-q").exit_code == 0
    out = tmp_path / "speech.hands.npz"
    before = out.read_bytes()
    again = run_cli("gen-hands", speech, "--seed", "5")
    assert again.exit_code == 0 and "skip" in again.stderr and out.read_bytes() == before
    assert run_cli("gen-hands", speech, "--seed", "5", "--force", "-q").exit_code == 0 and out.read_bytes() != before


def test_init_hands_and_speed(run_cli, speech, tmp_path):
    init = random_hands(5, seed=1)
    init.mask[:] = True
    write_hands(init, tmp_path / "init.hands.npz")
    result = run_cli("gen-hands", speech, "--init-hands", tmp_path / "init.hands.npz", "--speed", "300", "-o", tmp_path / "o.hands.npz")
    assert result.exit_code == 0, result.stderr
    hands = read_hands(tmp_path / "o.hands.npz")
    np.testing.assert_allclose(hands.transl[0], init.transl[-1], atol=0.005)
    assert hands.meta["speed"] == 300.0


def test_checkpoint_on_audio(run_cli, speech, checkpoint, tmp_path):
    result = run_cli("gen-hands", speech, "--checkpoint", checkpoint, "--steps", "2", "--json")
    assert result.exit_code == 0, result.stderr
    hands = read_hands(tmp_path / "speech.hands.npz")
    assert hands.num_frames == 188 and hands.meta["generator"] == "motion_dit" and hands.meta["model"] == str(checkpoint)
    assert hands.meta["steps"] == 2 and hands.meta["sampler"] == "dpm++" and len(hands.meta["model_sha256"]) == 64
    assert '"generator": "motion_dit"' in result.stdout


def test_encoder_mismatch_is_refused(run_cli, checkpoint, tmp_path):
    feats = AudioFeatures(np.zeros((50, 16), np.float32), 25.0, 16000, "wav2vec2", "x", 2.0, source="talk.wav")
    write_features(feats, tmp_path / "talk.feats.npy")
    result = run_cli("gen-hands", tmp_path / "talk.feats.npy", "--checkpoint", checkpoint)
    assert result.exit_code == 2
    assert "talk.feats.npy" in result.stderr and "'wav2vec2'" in result.stderr and "extract-audio --encoder mel" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "talk.hands.npz").exists()


def test_missing_checkpoint_bad_style_bad_input(run_cli, speech, checkpoint, tmp_path):
    result = run_cli("gen-hands", speech, "--checkpoint", tmp_path / "nope")
    assert result.exit_code == 2 and "not found" in result.stderr and "nope" in result.stderr
    result = run_cli("gen-hands", speech, "--style", "rap")
    assert result.exit_code == 2 and "rap" in result.stderr and "talk" in result.stderr
    result = run_cli("gen-hands", speech, "--checkpoint", checkpoint, "--style", "rap")
    assert result.exit_code == 2 and "it knows: talk, lecture, sing" in result.stderr
    (tmp_path / "noise.wav").write_bytes(b"not audio")
    result = run_cli("gen-hands", tmp_path / "noise.wav")
    assert result.exit_code == 2 and "noise.wav" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.hands.npz"))
