import pytest

from emo2cli.config import Preset, apply_overrides
from emo2cli.errors import MissingPrerequisite
from emo2cli.weights import list_models, locate, resolve


def test_local_path_and_env_var(tmp_path, monkeypatch):
    d = tmp_path / "model"
    d.mkdir()
    assert resolve(str(d), "thing") == d
    monkeypatch.setenv("EMO2_TEST_MODEL", str(d))
    assert resolve("", "thing", env_var="EMO2_TEST_MODEL") == d


def test_emo2_home(tmp_path, monkeypatch):
    monkeypatch.setenv("EMO2_HOME", str(tmp_path))
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert resolve("org/name", "thing") == tmp_path / "org" / "name"


def test_missing_hub_id_is_offline_and_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("EMO2_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("EMO2_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(MissingPrerequisite) as e:
        resolve("nobody/no-such-model", "wav2vec 2.0 encoder", instead="the mel encoder is used")
    text = str(e.value)
    assert "nobody/no-such-model" in text and "Hugging Face cache" in text and "--allow-download" in text
    assert "the mel encoder is used" in text and str(tmp_path) in text


def test_list_models_reports_found_and_missing(tmp_path, monkeypatch):
    mano = tmp_path / "mano"
    mano.mkdir()
    monkeypatch.setenv("EMO2_MANO_DIR", str(mano))
    rows = {r["name"]: r for r in list_models(apply_overrides(Preset(), {"video.checkpoint": str(tmp_path / "nope")}))}
    assert rows["mano"]["found"] and rows["mano"]["path"] == str(mano)
    assert not rows["stage2"]["found"] and "preview" in rows["stage2"]["instead"]
    assert not locate("", None).path


def test_weights_command(run_cli):
    r = run_cli("weights", "--json")
    assert r.exit_code == 0 and '"models"' in r.stdout


def test_builtin_references_are_found(run_cli):
    import json

    r = run_cli("weights", "--preset", "tiny", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)["models"]}
    assert rows["stage2"]["found"] and rows["stage2"]["ref"] == "builtin:tiny-random"
