"""``emo2 batch``: a jobs file with a corrupt audio, the manifest, rerun skips, dry-run, --max-memory, --shard."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PORTRAIT, PORTRAIT_MAN, SPEECH


@pytest.fixture
def batch_inputs(tmp_path):
    """A 1 s speech clip, a corrupt "audio" file and a 64 x 64 preview preset, in tmp_path."""
    from emo2cli.audio.load import load_audio
    from tests.tiny import write_wav

    write_wav(tmp_path / "short.wav", load_audio(SPEECH, 16000).samples[:16000], 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav file")
    (tmp_path / "small.yaml").write_text("audio: {encoder: mel}\nrender: {height: 64, width: 64}\nvideo: {backend: preview}\n")
    return tmp_path


def _jobs_csv(folder) -> str:
    rows = [
        "id,portrait,audio,seed,style",
        f"woman,{PORTRAIT},short.wav,0,",
        f"man,{PORTRAIT_MAN},short.wav,3,lecture",
        f"bad,{PORTRAIT},broken.wav,0,",
    ]
    (folder / "jobs.csv").write_text("\n".join(rows) + "\n")
    return folder / "jobs.csv"


def _manifest(path) -> dict:
    return {line["id"]: line for line in map(json.loads, path.read_text().splitlines())}


def test_one_corrupt_audio_fails_alone_and_a_rerun_skips_the_done_jobs(run_cli, batch_inputs):
    jobs = _jobs_csv(batch_inputs)
    out = batch_inputs / "out"
    result = run_cli("batch", jobs, "-o", out, "--preset", batch_inputs / "small.yaml")
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.glob("*.mp4") if ".handmaps" not in p.name) == ["man.mp4", "woman.mp4"]
    assert not (out / "bad.mp4").exists()
    lines = _manifest(out / "batch.jsonl")
    assert {k: v["status"] for k, v in lines.items()} == {"woman": "done", "man": "done", "bad": "failed"}
    assert "broken.wav" in lines["bad"]["error"] and "\n" not in lines["bad"]["error"] and lines["bad"]["error_kind"] == "input"
    from emo2cli.formats._tag import sha256_file

    assert lines["woman"]["outputs"] == [{"path": str(out / "woman.mp4"), "sha256": sha256_file(out / "woman.mp4")}]
    assert lines["man"]["seed"] == 3 and lines["woman"]["wall_s"] > 0
    # rerun: the two done jobs are skipped, the bad one fails again
    (out / "batch.jsonl").unlink()
    again = run_cli("batch", jobs, "-o", out, "--preset", batch_inputs / "small.yaml", "--json")
    assert again.exit_code == 2
    statuses = {r["id"]: r["status"] for r in json.loads(again.stdout)}
    assert statuses == {"woman": "skipped", "man": "skipped", "bad": "failed"}
    assert _manifest(out / "batch.jsonl")["woman"]["outputs"][0]["sha256"] == lines["woman"]["outputs"][0]["sha256"]


def test_dry_run_writes_nothing_and_prints_json(run_cli, batch_inputs):
    jobs = _jobs_csv(batch_inputs)
    out = batch_inputs / "out"
    result = run_cli("batch", jobs, "-o", out, "--preset", batch_inputs / "small.yaml", "--dry-run", "--json")
    assert result.exit_code == 2  # the corrupt audio cannot be estimated: named, not run
    data = json.loads(result.stdout)
    by_id = {r["id"]: r for r in data["jobs"]}
    assert by_id["woman"]["frames"] == 25 and by_id["woman"]["backend"] == "preview" and by_id["woman"]["time_s"] > 0
    assert "broken.wav" in by_id["bad"]["error"]
    assert data["total"]["frames"] == 50 and data["total"]["jobs"] == 2
    assert not out.exists()


def test_max_memory_refuses_before_running(run_cli, batch_inputs):
    (batch_inputs / "jobs.csv").write_text(f"portrait,audio\n{PORTRAIT},short.wav\n")
    out = batch_inputs / "out"
    result = run_cli(
        "batch", batch_inputs / "jobs.csv", "-o", out, "--preset", batch_inputs / "small.yaml", "--max-memory", "0.01"
    )
    assert result.exit_code == 2
    assert "--max-memory" in result.stderr and "jobs.csv" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_shard_takes_a_slice_by_job_id(run_cli, batch_inputs):
    jobs = _jobs_csv(batch_inputs)
    result = run_cli(
        "batch",
        jobs,
        "-o",
        batch_inputs / "out",
        "--preset",
        batch_inputs / "small.yaml",
        "--dry-run",
        "--json",
        "--shard",
        "1/2",
    )
    ids = [r["id"] for r in json.loads(result.stdout)["jobs"]]
    assert ids == ["man"]  # sorted ids: bad, man, woman → shard 1 of 2 holds "man"


def test_bad_column_is_named_with_file_and_row(run_cli, batch_inputs):
    (batch_inputs / "jobs.csv").write_text(f"portrait,audio,stlye\n{PORTRAIT},short.wav,talk\n")
    result = run_cli("batch", batch_inputs / "jobs.csv")
    assert result.exit_code == 2
    assert "jobs.csv" in result.stderr and "row 2" in result.stderr and "stlye" in result.stderr and "style" in result.stderr


def test_jobs_share_one_loaded_pipeline_and_match_single_runs(run_cli, tmp_path, monkeypatch):
    from emo2cli.audio.load import load_audio
    from emo2cli.video import loading
    from tests.tiny import write_wav

    write_wav(tmp_path / "s.wav", load_audio(SPEECH, 16000).samples[:5120], 16000)  # 0.32 s: 8 frames, one clip
    (tmp_path / "jobs.csv").write_text(f"id,portrait,audio,seed\none,{PORTRAIT},s.wav,1\ntwo,{PORTRAIT_MAN},s.wav,2\n")
    loads = []
    load = loading.load_pipeline
    monkeypatch.setattr(loading, "load_pipeline", lambda *a, **k: loads.append(a) or load(*a, **k))
    result = run_cli("batch", tmp_path / "jobs.csv", "-o", tmp_path / "out", "--preset", "tiny")
    assert result.exit_code == 0, result.stderr
    assert len(loads) == 1  # loaded once for both jobs
    single = run_cli(
        "gen-video", PORTRAIT_MAN, tmp_path / "s.wav", "-o", tmp_path / "single" / "two.mp4", "--preset", "tiny", "--seed", "2"
    )
    assert single.exit_code == 0 and len(loads) == 2
    assert (tmp_path / "out" / "two.mp4").read_bytes() == (tmp_path / "single" / "two.mp4").read_bytes()


def test_the_bundled_jobs_file_reads():
    from emo2cli.jobs import read_jobs
    from tests.conftest import EXAMPLES

    jobs = read_jobs(EXAMPLES / "jobs.csv")
    assert [j.id for j in jobs] == ["woman_talk", "man_talk", "woman_lecture"]
    assert all(j.portrait.is_file() and j.audio.is_file() for j in jobs)
