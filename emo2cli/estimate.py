"""Estimates before running (``--dry-run``): frames, clips, denoising steps, time and peak memory.

The figures come from a *calibration*: rates measured by ``emo2 bench video`` on this machine and
saved to ``$EMO2_HOME/calibration.json`` (:func:`save_calibration`). Without one, the stated
:data:`DEFAULT_CALIBRATION` is used and every estimate says so (``calibration: "default"``).

Cost model (simple on purpose; its error is the bench's run-to-run spread plus the scaling rules):

- extract-audio and the rules gesture generator: seconds per second of audio;
- render-hands and the preview video: seconds per frame-megapixel (frames × H × W / 1e6);
- diffusion: seconds per *clip step*, measured at a reference (checkpoint, frame size, clip +
  motion frames, CFG passes) and scaled linearly by the frame-megapixels of one clip window and
  by the number of CFG passes (UNet calls per step). A checkpoint the bench did not measure is
  assumed SD-1.5-class and uses the ``builtin:sd15-random`` entry (what ``emo2 bench video
  --device cuda`` measures);
- peak memory: process RSS (CPU) or peak allocated GPU memory at the reference; for diffusion the
  part above the process's starting RSS is scaled like the time (activations), the rest is kept;
  RAM figures add :data:`PROCESS_OVERHEAD_MB` for what a command's process holds beyond the bench's.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emo2cli.config import Preset
from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_write_text, check_tag, make_tag

logger = logging.getLogger(__name__)

TAG = make_tag("calibration", 1)
SD15_CLASS = "builtin:sd15-random"  # what an unmeasured (real, SD-1.5-class) checkpoint is scaled from
# CFG passes of the guidance scales the bench runs with (tiny and default presets share them); the
# pipeline batches the passes into one UNet call, so the bench's unet_calls cannot tell them apart.
BENCH_PASSES = 3
# A command's process holds more than the bench process at the same stage (typer, rich, the
# mediapipe models, allocator growth over several jobs): gen-video on the bundled example peaked
# at 1.07 GiB and a three-job batch at 1.23 GiB where the bench stages peaked at 0.82 GiB.
PROCESS_OVERHEAD_MB = 450.0

# Stated defaults, used when no calibration exists. The stages and the tiny entry were measured with
# `emo2 bench video --seconds 2` on the development box (2 x86 cores shared with other work, so a
# quiet machine is faster). The SD-1.5-class entry is NOT a measurement: an SD-1.5 UNet pass on a
# 512 x 512 frame takes about 0.05 s on one data-centre GPU in bf16; x 36 frames x 3 CFG passes x 1.375
# (704 x 512) x 1.3 (ReferenceNet reading, temporal layers) ≈ 9.6 s per clip step, and ~14 GB peak is a
# guess. Treat it as an order of magnitude until `emo2 bench video --device cuda` has run.
DEFAULT_CALIBRATION: dict = {
    "format": TAG,
    "source": "default",
    "device": "cpu",
    "stages": {
        "extract_audio_s_per_audio_s": 0.209,
        "gen_hands_s_per_audio_s": 0.173,
        "render_s_per_frame_mpx": 0.093,
        "preview_s_per_frame_mpx": 0.101,
        "peak_mb": 824.0,
    },
    "diffusion": {
        "builtin:tiny-random": {"device": "cpu", "frame_size": [64, 64], "window_frames": 10, "passes": 3,
                                "s_per_clip_step": 5.27, "load_s": 0.5, "base_mb": 1096.0, "delta_mb": 0.1, "memory": "ram"},
        SD15_CLASS: {"device": "cuda", "frame_size": [704, 512], "window_frames": 36, "passes": 3,
                     "s_per_clip_step": 9.6, "load_s": 30.0, "base_mb": 0.0, "delta_mb": 14000.0, "memory": "gpu"},
    },
}  # fmt: skip


@dataclass
class JobEstimate:
    """What one gen-video / gen-hands run will cost, before it runs."""

    audio_s: float  # length of the speech, seconds
    frames: int  # video (and motion) frames: round(audio_s * fps)
    backend: str  # preview | diffusion | hands (gen-hands only)
    clips: int = 0  # Stage 2 clips of clip_frames (diffusion only)
    denoising_steps: int = 0  # Stage 2 clip steps + Stage 1 window steps (0 for the rules generator)
    unet_passes: int = 0  # Stage 2 UNet passes: steps x CFG passes (batched into one call per step)
    time_s: float = 0.0  # estimated wall time on this device
    peak_memory_gb: float = 0.0  # estimated peak: GPU memory when memory == "gpu", else process RSS
    memory: str = "ram"  # ram | gpu
    calibration: str = "default"  # the calibration file used, or "default"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


# ---------------------------------------------------------------------------------------------
# Calibration file
# ---------------------------------------------------------------------------------------------


def calibration_path() -> Path:
    """``$EMO2_CALIBRATION`` or ``$EMO2_HOME/calibration.json``."""
    from emo2cli.weights import emo2_home

    return Path(os.environ.get("EMO2_CALIBRATION") or emo2_home() / "calibration.json")


def load_calibration(path: Path | None = None) -> dict:
    """The saved calibration (entries missing from it fall back to the defaults), or the defaults.

    Raises:
        InputError: the file exists but is not a calibration this version reads.
    """
    path = path or calibration_path()
    if not path.is_file():
        return DEFAULT_CALIBRATION
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(
            f"is not a readable calibration ({e})", path=path, hint="rerun `emo2 bench video` or delete it"
        ) from None
    check_tag(data.get("format"), "calibration", 1, path)
    merged = {**DEFAULT_CALIBRATION, **data, "source": str(path)}
    merged["stages"] = {**DEFAULT_CALIBRATION["stages"], **data.get("stages", {})}
    merged["diffusion"] = {**DEFAULT_CALIBRATION["diffusion"], **data.get("diffusion", {})}
    return merged


def calibration_from_bench(report: dict) -> dict | None:
    """Turn an ``emo2 bench`` report into calibration rates (None when it has no ``video`` section)."""
    video = report.get("sections", {}).get("video")
    if not video or "preview" not in video:
        return None
    p = video["preview"]
    h, w = p["frame_size"]
    frame_mpx = p["video_s"] * 25.0 * h * w / 1e6  # bench_stages runs the default preset: 25 fps
    stages = {
        "extract_audio_s_per_audio_s": p["extract_audio"]["wall_s"] / p["video_s"],
        "gen_hands_s_per_audio_s": p["gen_hands"]["wall_s"] / p["video_s"],
        "render_s_per_frame_mpx": p["render_hands"]["wall_s"] / frame_mpx,
        "preview_s_per_frame_mpx": p["video_preview"]["wall_s"] / frame_mpx,
        "peak_mb": max(v["peak_rss_mb"] for v in p.values() if isinstance(v, dict)),
    }
    diffusion = {}
    for name in ("tiny_pipeline", "sd15_random_diffusion"):
        d = video.get(name)
        if not d:
            continue
        clips = -(-d["frames"] // d["clip_frames"])
        gpu = "peak_gpu_mem_gb" in d
        diffusion[d["checkpoint"]] = {
            "device": d["device"],
            "frame_size": d["frame_size"],
            "window_frames": d["clip_frames"] + d["motion_frames"],
            "passes": BENCH_PASSES,
            "s_per_clip_step": d["wall_s"] / (clips * d["steps"]),
            "load_s": d["load_s"],
            "base_mb": 0.0 if gpu else d["peak_rss_mb"] - d["peak_delta_mb"],
            "delta_mb": d["peak_gpu_mem_gb"] * 1024 if gpu else d["peak_delta_mb"],
            "memory": "gpu" if gpu else "ram",
        }
    return {
        "format": TAG,
        "device": report.get("device", "cpu"),
        "machine": report.get("machine", {}),
        "stages": stages,
        "diffusion": diffusion,
    }


def save_calibration(report: dict, path: Path | None = None) -> Path | None:
    """Write the calibration of a bench report (kept entries of other devices/checkpoints); None if none."""
    new = calibration_from_bench(report)
    if new is None:
        return None
    path = path or calibration_path()
    old = json.loads(path.read_text()) if path.is_file() else {}
    new["diffusion"] = {**old.get("diffusion", {}), **new["diffusion"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(new, indent=2) + "\n", force=True)
    return path


# ---------------------------------------------------------------------------------------------
# Estimates
# ---------------------------------------------------------------------------------------------


def audio_duration_s(path: str | os.PathLike) -> float:
    """Length of the first audio stream from the container header (no decoding), seconds.

    Raises:
        InputError: the file is missing, unreadable, or has no audio stream.
    """
    import av

    if str(path).endswith(".feats.npy"):  # gen-hands input: the sidecar knows the length
        sidecar = Path(str(path)[: -len(".npy")] + ".json")
        if not sidecar.is_file():
            raise InputError("has no .feats.json sidecar", path=path)
        return float(json.loads(sidecar.read_text())["duration_s"])
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError("has no audio stream", path=path)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
    except (av.error.FFmpegError, OSError) as e:
        raise InputError(f"cannot read audio ({type(e).__name__})", path=path) from None
    raise InputError("has no duration in its header", path=path)


def estimate_job(
    preset: Preset, audio: str | os.PathLike, backend: str = "preview", calibration: dict | None = None, hands_only: bool = False
) -> JobEstimate:
    """Estimate one gen-video run (``backend`` preview or diffusion) or one gen-hands run (``hands_only``).

    Raises:
        InputError: the audio cannot be read (named).
    """
    from emo2cli.video.pipeline import guidance_passes

    cal = calibration or load_calibration()
    stages = cal["stages"]
    audio_s = audio_duration_s(audio)
    frames = round(audio_s * preset.fps)
    est = JobEstimate(audio_s, frames, "hands" if hands_only else backend, calibration=cal.get("source", "default"))
    if preset.motion.checkpoint:
        windows = -(-frames // preset.motion.window)
        est.denoising_steps += windows * preset.motion.steps
        est.notes.append("Stage 1 checkpoint: gen-hands time is the rules generator's rate (not calibrated for the DiT)")
    est.time_s = audio_s * (stages["extract_audio_s_per_audio_s"] + stages["gen_hands_s_per_audio_s"])
    est.peak_memory_gb = (stages["peak_mb"] + PROCESS_OVERHEAD_MB) / 1024
    if hands_only:
        return est
    frame_mpx = frames * preset.render.height * preset.render.width / 1e6
    est.time_s += frame_mpx * stages["render_s_per_frame_mpx"]
    if backend == "preview":
        est.time_s += frame_mpx * stages["preview_s_per_frame_mpx"]
        return est
    v = preset.video
    passes = len(guidance_passes(v.guidance_audio, v.guidance_reference))
    est.clips = -(-frames // v.clip_frames)
    est.denoising_steps += est.clips * v.steps
    est.unet_passes = est.clips * v.steps * passes
    ref_name = v.checkpoint if v.checkpoint in cal["diffusion"] else SD15_CLASS
    ref = cal["diffusion"][ref_name]
    window_mpx = (v.clip_frames + v.motion_frames) * preset.render.height * preset.render.width / 1e6
    ref_mpx = ref["window_frames"] * ref["frame_size"][0] * ref["frame_size"][1] / 1e6
    scale = window_mpx / ref_mpx
    est.time_s += ref["load_s"] + est.clips * v.steps * ref["s_per_clip_step"] * scale * passes / ref["passes"]
    est.memory = ref["memory"]
    # GPU figures include the weights, so they are never scaled down; RAM deltas are activations
    grow = max(scale, 1.0) if ref["memory"] == "gpu" else scale
    est.peak_memory_gb = (
        ref["base_mb"] + ref["delta_mb"] * grow + (PROCESS_OVERHEAD_MB if ref["memory"] == "ram" else 0.0)
    ) / 1024
    if ref_name != v.checkpoint:
        est.notes.append(f"scaled from the {ref_name} calibration ({ref['device']})")
    if not math.isclose(scale, 1.0, rel_tol=0.01):
        est.notes.append(f"frame size / clip scaled x{scale:.2f} from the measured reference")
    return est


def total(estimates: list[JobEstimate]) -> dict:
    """Sum over jobs run one after another: frames, clips, steps and time add; peak memory is the largest."""
    return {
        "jobs": len(estimates),
        "frames": sum(e.frames for e in estimates),
        "clips": sum(e.clips for e in estimates),
        "denoising_steps": sum(e.denoising_steps for e in estimates),
        "unet_passes": sum(e.unet_passes for e in estimates),
        "time_s": round(sum(e.time_s for e in estimates), 3),
        "peak_memory_gb": round(max((e.peak_memory_gb for e in estimates), default=0.0), 3),
    }


def estimate_runs(runs: list[tuple[str, Preset, Path]], hands_only: bool = False, calibration: dict | None = None) -> dict:
    """Estimates for several runs ``(label, preset, audio)``: ``{"jobs": rows, "total", "calibration", "failed"}``.

    A run whose audio cannot be read gets a row with ``error`` (and counts in ``failed``) instead
    of stopping the others. gen-video runs use the backend the preset would choose now.
    """
    from emo2cli.errors import Emo2Error
    from emo2cli.video.generate import choose_backend

    cal = calibration or load_calibration()
    rows, estimates = [], []
    for label, preset, audio in runs:
        try:
            backend = "hands" if hands_only else choose_backend(preset)[0]
            e = estimate_job(preset, audio, backend, cal, hands_only=hands_only)
        except Emo2Error as err:
            rows.append({"id": label, "error": str(err)})
            continue
        estimates.append(e)
        rows.append({"id": label, **e.to_dict()})
    return {
        "jobs": rows,
        "total": total(estimates),
        "calibration": cal.get("source", "default"),
        "failed": len(runs) - len(estimates),
    }


def check_memory(summary: dict, max_memory_gb: float | None, path: str | os.PathLike | None = None) -> None:
    """Refuse up front (InputError, exit 2) when a run's estimated peak exceeds ``max_memory_gb``."""
    if max_memory_gb is None:
        return
    for row in summary["jobs"]:
        if row.get("peak_memory_gb", 0.0) > max_memory_gb:
            raise InputError(
                f"{row['id']}: estimated peak memory {row['peak_memory_gb']:.2f} GB ({row['memory']}) exceeds --max-memory {max_memory_gb:g} GB",
                path=path,
                hint="use a smaller render size, clip_frames or decode_chunk, or raise --max-memory",
            )
