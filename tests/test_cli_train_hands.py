"""``emo2 train-hands``: a folder of speech + hands pairs → a checkpoint gen-hands uses; resume; refusals."""

from __future__ import annotations

import json
import shutil

import pytest

from emo2cli.formats.hands import read_hands
from tests.conftest import SPEECH
from tests.tiny import one_torch_thread


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture
def dataset(run_cli, tmp_path):
    """Two pairs: the bundled speech (as NAME.wav) and the rules' gestures for it (two styles)."""
    data = tmp_path / "data"
    data.mkdir()
    for name, style in (("a", "talk"), ("b", "lecture")):
        shutil.copy(SPEECH, data / f"{name}.wav")
        assert run_cli("gen-hands", data / f"{name}.wav", "--style", style, "--seed", "1", "-q").exit_code == 0
    return data


def test_train_then_generate_with_the_checkpoint(run_cli, dataset, tmp_path):
    preset = tmp_path / "small.yaml"
    preset.write_text("motion:\n  window: 16\n  context: 4\n")
    out = tmp_path / "run"
    args = ["train-hands", dataset, "-o", out, "--size", "tiny", "--batch-size", "4", "--preset", preset, "--json"]
    result = run_cli(*args, "--steps", "6", "--save-every", "3")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["step"] == 6 and info["resumed_from"] == 0
    config = json.loads((out / "transformer" / "config.json").read_text())
    assert config["audio_encoder"] == "mel" and config["audio_dim"] == 44 and (config["window"], config["context"]) == (16, 4)
    assert set(config["style_speeds"]) == {"talk", "lecture"}
    again = run_cli(*args, "--steps", "8")
    assert again.exit_code == 0 and json.loads(again.stdout)["resumed_from"] == 6
    # the checkpoint drives gen-hands on audio
    speech = shutil.copy(SPEECH, tmp_path / "new.wav")
    result = run_cli("gen-hands", speech, "--checkpoint", out, "--steps", "2", "--style", "lecture")
    assert result.exit_code == 0, result.stderr
    hands = read_hands(tmp_path / "new.hands.npz")
    assert hands.num_frames == 188 and hands.meta["generator"] == "motion_dit" and hands.meta["style"] == "lecture"


def test_refusals(run_cli, dataset, tmp_path):
    result = run_cli("train-hands", tmp_path / "missing", "-o", tmp_path / "run", "--size", "tiny")
    assert result.exit_code == 2 and "missing" in result.stderr and "no such folder" in result.stderr
    result = run_cli("train-hands", dataset, "-o", tmp_path / "run", "--size", "XL")
    assert result.exit_code == 2 and "XL" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()
