"""Estimates before running: calibration from a bench report, the cost model, --dry-run and --max-memory."""

from __future__ import annotations

import json

import pytest

from emo2cli.config import apply_overrides, load_preset
from emo2cli.errors import InputError
from tests.conftest import PORTRAIT, SPEECH

BENCH_REPORT = {
    "device": "cpu",
    "machine": {"cpu_count": 2},
    "sections": {
        "video": {
            "preview": {
                "frame_size": [704, 512],
                "extract_audio": {"wall_s": 0.4, "peak_rss_mb": 800.0, "peak_delta_mb": 10.0},
                "gen_hands": {"wall_s": 0.2, "peak_rss_mb": 810.0, "peak_delta_mb": 10.0},
                "render_hands": {"wall_s": 1.8, "peak_rss_mb": 900.0, "peak_delta_mb": 10.0},
                "video_preview": {"wall_s": 3.6, "peak_rss_mb": 950.0, "peak_delta_mb": 10.0},
                "video_s": 4.0,
                "total_s": 6.0,
            },
            "tiny_pipeline": {
                "checkpoint": "builtin:tiny-random", "device": "cpu", "frame_size": [64, 64], "frames": 100, "clip_frames": 8,
                "motion_frames": 2, "steps": 2, "load_s": 0.5, "wall_s": 13.0, "peak_rss_mb": 1000.0, "peak_delta_mb": 200.0, "unet_calls": 78,
            },
        }
    },
}  # fmt: skip


def test_calibration_from_a_bench_report_round_trips(tmp_path):
    from emo2cli.estimate import calibration_from_bench, load_calibration, save_calibration

    cal = calibration_from_bench(BENCH_REPORT)
    frame_mpx = 100 * 704 * 512 / 1e6
    assert cal["stages"]["preview_s_per_frame_mpx"] == pytest.approx(3.6 / frame_mpx)
    assert cal["stages"]["extract_audio_s_per_audio_s"] == pytest.approx(0.1)
    assert cal["stages"]["peak_mb"] == 950.0
    tiny = cal["diffusion"]["builtin:tiny-random"]
    assert tiny["passes"] == 3 and tiny["s_per_clip_step"] == pytest.approx(13.0 / (13 * 2)) and tiny["base_mb"] == 800.0
    path = save_calibration(BENCH_REPORT, tmp_path / "calibration.json")
    loaded = load_calibration(path)
    assert loaded["source"] == str(path) and loaded["stages"] == cal["stages"]
    assert "builtin:sd15-random" in loaded["diffusion"]  # entries not measured keep the stated default
    assert save_calibration({"sections": {"audio": {}}}, tmp_path / "other.json") is None


def test_default_calibration_when_none_and_a_corrupt_one_is_named(tmp_path):
    from emo2cli.estimate import DEFAULT_CALIBRATION, load_calibration

    assert load_calibration(tmp_path / "none.json") is DEFAULT_CALIBRATION
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        load_calibration(tmp_path / "bad.json")
    (tmp_path / "future.json").write_text(json.dumps({"format": "emo2.calibration/9"}))
    with pytest.raises(InputError, match="future.json"):
        load_calibration(tmp_path / "future.json")


def test_preview_and_diffusion_counts_and_scaling():
    from emo2cli.estimate import DEFAULT_CALIBRATION, audio_duration_s, estimate_job

    seconds = audio_duration_s(SPEECH)
    preview = estimate_job(load_preset(), SPEECH, "preview", DEFAULT_CALIBRATION)
    assert preview.frames == round(seconds * 25) and preview.clips == 0 and preview.denoising_steps == 0 and preview.time_s > 0
    tiny = load_preset("tiny")
    d2 = estimate_job(tiny, SPEECH, "diffusion", DEFAULT_CALIBRATION)
    assert d2.clips == -(-d2.frames // 8) and d2.denoising_steps == d2.clips * 2 and d2.unet_passes == d2.clips * 2 * 3
    d4 = estimate_job(apply_overrides(tiny, {"video.steps": 4}), SPEECH, "diffusion", DEFAULT_CALIBRATION)
    assert d4.time_s - d2.time_s == pytest.approx(
        d2.clips * 2 * DEFAULT_CALIBRATION["diffusion"]["builtin:tiny-random"]["s_per_clip_step"]
    )
    assert d2.peak_memory_gb > 0 and d2.memory == "ram"
    full = estimate_job(
        apply_overrides(load_preset(), {"video.checkpoint": "/models/mine"}), SPEECH, "diffusion", DEFAULT_CALIBRATION
    )
    assert full.memory == "gpu" and any("sd15" in n for n in full.notes)


def test_check_memory_refuses_with_the_run_named():
    from emo2cli.estimate import check_memory, estimate_runs

    summary = estimate_runs([("talk", load_preset(), SPEECH)])
    check_memory(summary, 1000.0)
    with pytest.raises(InputError, match="talk: estimated peak memory .* exceeds --max-memory 0.1 GB"):
        check_memory(summary, 0.1)


def test_gen_video_dry_run_writes_nothing_and_prints_json(run_cli, tmp_path):
    out = tmp_path / "talk.mp4"
    result = run_cli("gen-video", PORTRAIT, SPEECH, "-o", out, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["jobs"][0]["frames"] == data["total"]["frames"] > 150 and data["jobs"][0]["backend"] == "preview"
    assert data["calibration"] == "default"  # tests' EMO2_HOME holds no calibration
    assert list(tmp_path.iterdir()) == []
    refused = run_cli("gen-video", PORTRAIT, SPEECH, "-o", out, "--max-memory", "0.01")
    assert refused.exit_code == 2 and "--max-memory" in refused.stderr and list(tmp_path.iterdir()) == []


def test_gen_hands_dry_run(run_cli, tmp_path):
    result = run_cli("gen-hands", SPEECH, "-o", tmp_path / "x.hands.npz", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)["jobs"][0]
    assert row["backend"] == "hands" and row["clips"] == 0 and row["frames"] > 150
    assert list(tmp_path.iterdir()) == []
