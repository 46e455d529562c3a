"""Jobs files: CSV and YAML parsing, per-row checks naming file and row, sharding by id, the run loop."""

from __future__ import annotations

import json

import pytest

from emo2cli.errors import InputError
from emo2cli.jobs import batch_exit_code, manifest_name, read_jobs, run_jobs, shard_jobs
from emo2cli.sharding import Shard


def test_csv_jobs_with_options_relative_paths_and_defaults(tmp_path):
    (tmp_path / "jobs.csv").write_text(
        "# comment line\nid,portrait,audio,seed,style,speed,steps,render.height\n"
        "a,me.png,talk.wav,3,lecture,150,5,128\n"
        ",/abs/you.png,sub/b.wav,,,,,\n"
    )
    a, b = read_jobs(tmp_path / "jobs.csv", tmp_path / "out")
    assert (a.id, a.seed, a.portrait, a.output) == ("a", 3, tmp_path / "me.png", tmp_path / "out" / "a.mp4")
    assert (a.preset.motion.style, a.preset.motion.speed, a.preset.video.steps, a.preset.render.height) == (
        "lecture",
        150.0,
        5,
        128,
    )
    assert (b.id, b.seed, str(b.portrait), b.audio) == ("you_b", 0, "/abs/you.png", tmp_path / "sub" / "b.wav")
    assert b.preset.motion.style == "talk" and b.options == {}


def test_yaml_jobs_with_defaults(tmp_path):
    (tmp_path / "jobs.yaml").write_text(
        "defaults: {style: sing, preset: tiny}\njobs:\n  - {portrait: p.png, audio: a.wav, output: x/one.mp4}\n  - {portrait: p.png, audio: b.wav, style: talk}\n"
    )
    one, two = read_jobs(tmp_path / "jobs.yaml")
    assert (one.id, one.output, one.preset.motion.style, one.preset.name) == ("one", tmp_path / "x" / "one.mp4", "sing", "tiny")
    assert (two.id, two.preset.motion.style, two.row) == ("p_b", "talk", 2)
    (tmp_path / "mine.yaml").write_text("render: {height: 96}\n")
    (tmp_path / "rel.yaml").write_text("- {portrait: p.png, audio: a.wav, preset: mine.yaml}\n")
    assert read_jobs(tmp_path / "rel.yaml")[0].preset.render.height == 96  # a row's preset file is relative to the jobs file


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("portrait,audio,stlye\np.png,a.wav,talk\n", r"row 2: unknown column 'stlye'.*did you mean 'style'"),
        ("portrait,audio,steps\np.png,a.wav,0\n", r"row 2: key 'video.steps' = 0 is out of range"),
        ("portrait,audio,seed\np.png,a.wav,-1\n", r"row 2: seed must be a non-negative integer"),
        ("portrait,audio\np.png,\n", r"row 2: 'audio' is required"),
        ("id,portrait,audio\nx,p.png,a.wav\nx,q.png,b.wav\n", r"rows 2 and 3 have the same id"),
        ("portrait,audio\n", r"has no jobs"),
        ("portrait,audio,preset\np.png,a.wav,nosuch\n", r"row 2: preset: unknown preset 'nosuch'"),
        ("portrait,audio\np.png,a.wav,extra\n", r"row 2: more cells"),
    ],
)
def test_bad_rows_name_the_file_and_row(tmp_path, text, match):
    (tmp_path / "jobs.csv").write_text(text)
    with pytest.raises(InputError, match=match) as info:
        read_jobs(tmp_path / "jobs.csv")
    assert info.value.path == tmp_path / "jobs.csv"


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_jobs(tmp_path / "none.csv")
    (tmp_path / "jobs.txt").write_text("x")
    with pytest.raises(InputError, match=r"\.csv, \.yaml"):
        read_jobs(tmp_path / "jobs.txt")
    (tmp_path / "jobs.yaml").write_text("portrait: p.png\n")
    with pytest.raises(InputError, match="YAML list of jobs"):
        read_jobs(tmp_path / "jobs.yaml")


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_shards_cover_every_job_once_whatever_the_row_order(tmp_path, count):
    names = ["e", "b", "a", "d", "c", "f", "g"]
    (tmp_path / "x.csv").write_text("id,portrait,audio\n" + "".join(f"{n},p.png,{n}.wav\n" for n in names))
    (tmp_path / "y.csv").write_text("id,portrait,audio\n" + "".join(f"{n},p.png,{n}.wav\n" for n in sorted(names)))
    x, y = read_jobs(tmp_path / "x.csv"), read_jobs(tmp_path / "y.csv")
    parts = [sorted(j.id for j in shard_jobs(x, Shard(i, count))) for i in range(count)]
    assert sorted(j for part in parts for j in part) == sorted(names)
    assert parts == [sorted(j.id for j in shard_jobs(y, Shard(i, count))) for i in range(count)]  # stable across orders
    assert manifest_name(Shard(count - 1, count)) == (
        "batch.jsonl" if count == 1 else f"batch.shard-{count - 1}-of-{count}.jsonl"
    )


def test_run_loop_records_each_job_and_keeps_going(tmp_path):
    (tmp_path / "jobs.csv").write_text("id,portrait,audio\nok,p.png,a.wav\nbad,p.png,b.wav\nbug,p.png,c.wav\nlater,p.png,d.wav\n")
    jobs = read_jobs(tmp_path / "jobs.csv")

    def run(job, force):
        if job.id == "bad":
            raise InputError("cannot decode audio", path=job.audio)
        if job.id == "bug":
            raise ZeroDivisionError("oops\nsecond line")
        job.output.write_bytes(job.id.encode())

    results = run_jobs(jobs, tmp_path / "batch.jsonl", run=run)
    assert [r.status for r in results] == ["done", "failed", "failed", "done"]
    lines = [json.loads(x) for x in (tmp_path / "batch.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["ok", "bad", "bug", "later"]
    assert lines[1]["error"] == f"{tmp_path / 'b.wav'}: cannot decode audio" and lines[1]["error_kind"] == "input"
    assert lines[2]["error_kind"] == "internal" and "ZeroDivisionError" in lines[2]["error"]
    assert lines[0]["outputs"][0]["sha256"] == __import__("hashlib").sha256(b"ok").hexdigest() and lines[1]["outputs"] == []
    assert batch_exit_code(results) == 1 and batch_exit_code(results[:2]) == 2 and batch_exit_code(results[:1]) == 0
    again = run_jobs(jobs, tmp_path / "batch.jsonl", run=run)
    assert [r.status for r in again] == ["skipped", "failed", "failed", "skipped"]
    assert [r.status for r in run_jobs(jobs[:1], tmp_path / "batch.jsonl", force=True, run=run)] == ["done"]


def test_local_rank_picks_the_gpu():
    from emo2cli.sharding import local_cuda

    assert local_cuda({"LOCAL_RANK": "2", "RANK": "6"}) == "cuda:2"
    assert local_cuda({}) == "cuda"
