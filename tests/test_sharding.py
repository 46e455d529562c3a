import pytest

from emo2cli.errors import InputError
from emo2cli.sharding import Shard, parse_shard, resolve_shard, select_shard, shard_from_env


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_shards_cover_every_input_exactly_once(n):
    items = [f"in/{c}.wav" for c in "qwertyuiopasdfg"]
    shards = [select_shard(items, Shard(i, n)) for i in range(n)]
    flat = [x for s in shards for x in s]
    assert sorted(flat) == sorted(items) and len(flat) == len(items)
    # stable across discovery order
    assert [set(select_shard(items[::-1], Shard(i, n))) for i in range(n)] == [set(s) for s in shards]


def test_slurm_and_torchrun_env():
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}) == Shard(3, 4, "slurm")
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7"}) == Shard(1, 4, "slurm")
    assert shard_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == Shard(1, 2, "torchrun")
    assert shard_from_env({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert shard_from_env({}) is None


def test_explicit_shard_wins():
    env = {"RANK": "1", "WORLD_SIZE": "2"}
    assert resolve_shard("0/3", env) == Shard(0, 3)
    assert resolve_shard(None, env) == Shard(1, 2, "torchrun")


@pytest.mark.parametrize("bad", ["3/3", "a/b", "1", "-1/2"])
def test_bad_shard(bad):
    with pytest.raises(InputError):
        parse_shard(bad)


def test_expand_inputs_shards(tmp_path, monkeypatch):
    from emo2cli.cli.batch import expand_inputs

    for i in range(6):
        (tmp_path / f"{i}.wav").write_text("x")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    both = expand_inputs([str(tmp_path / "*.wav")], shard="0/2") + expand_inputs([str(tmp_path / "*.wav")], shard="1/2")
    assert sorted(both) == sorted(tmp_path.glob("*.wav"))
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert len(expand_inputs([str(tmp_path / "*.wav")])) == 2


def test_extract_audio_takes_its_shard(tmp_path, run_cli, monkeypatch):
    import numpy as np

    from tests.tiny import write_wav

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    t = np.arange(8000) / 16000
    for name in ("a", "b", "c"):
        write_wav(tmp_path / f"{name}.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    r = run_cli("extract-audio", tmp_path / "*.wav", "--encoder", "mel", "--shard", "1/2", "-q")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("*.feats.npy")) == ["b.feats.npy"]
