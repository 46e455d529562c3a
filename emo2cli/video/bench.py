"""``emo2 bench video``: time and peak memory of each gen-video stage for ``seconds`` of video.

On every machine (CPU): the bundled speech, looped to ``seconds``, through the default preset's
stages as ``gen-video`` runs them (extract-audio, gen-hands, render-hands, the preview video), then
the real diffusion pipeline with the ``tiny`` preset's random components (64 × 64).
On a GPU (``--device cuda``) also: the full-size Stage 2 (``builtin:sd15-random``: SD-1.5 +
AnimateDiff widths, random weights) at the default preset's size, clip, steps and dtype, reporting
seconds per video-second, peak GPU memory and the UNet's achieved TFLOP/s (FLOPs counted by
``torch.utils.flop_counter`` on one UNet call, time by CUDA events around every UNet call).
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from emo2cli.bench import measure
from emo2cli.config import Preset, apply_overrides, load_preset

logger = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peaks


def speech_of_length(seconds: float, folder: Path) -> Path:
    """The bundled speech clip looped (or cut) to ``seconds``, as a 16 kHz WAV in ``folder``."""
    import wave

    from emo2cli.audio.load import load_audio

    samples = load_audio(EXAMPLES / "speech_en_7s.wav", 16000).samples
    n = round(seconds * 16000)
    looped = np.resize(samples, n)
    path = folder / "bench_speech.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(looped, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _stage(report: dict, name: str, fn):
    result, m = measure(fn)
    report[name] = m.to_dict()
    return result


def bench_stages(preset: Preset, audio: Path, portrait: Path, folder: Path, backend: str) -> tuple[dict, object]:
    """Time each gen-video stage (``backend`` "preview", "diffusion" or "" for none); returns (report, features)."""
    from emo2cli.video.generate import ensure_features, ensure_handmaps, ensure_hands, write_diffusion, write_preview

    report: dict = {"frame_size": [preset.render.height, preset.render.width]}
    feats = _stage(report, "extract_audio", lambda: ensure_features(audio, folder / "b.feats.npy", preset))
    hands = _stage(report, "gen_hands", lambda: ensure_hands(audio, feats, folder / "b.feats.npy", folder / "b.hands.npz", preset, 0))
    info = _stage(report, "render_hands", lambda: ensure_handmaps(portrait, hands, folder / "b.handmaps.mp4", preset, feats.num_frames))
    if backend == "preview":
        _stage(report, "video_preview", lambda: write_preview(portrait, audio, folder / "b.handmaps.mp4", info, folder / "b.mp4", preset.fps, feats.num_frames, "bench", True, None))
    elif backend == "diffusion":
        _stage(report, "video_diffusion", lambda: write_diffusion(portrait, audio, folder / "b.handmaps.mp4", info, feats, folder / "b.mp4", preset, 0, None, True, None))
    video_s = feats.num_frames / preset.fps
    report["video_s"] = round(video_s, 3)
    report["total_s"] = round(sum(v["wall_s"] for v in report.values() if isinstance(v, dict)), 3)
    report["s_per_video_s"] = round(report["total_s"] / video_s, 3)
    return report, feats


class UNetTimer:
    """Counts UNet calls and their time (CUDA events on a GPU, wall clock on a CPU); keeps the first call's inputs."""

    def __init__(self, unet, cuda: bool):
        import torch

        self.cuda, self.calls, self.events, self.wall = cuda, 0, [], 0.0
        self.first: tuple | None = None
        self._torch = torch
        self._handles = [unet.register_forward_pre_hook(self._pre, with_kwargs=True), unet.register_forward_hook(self._post)]

    def _pre(self, module, args, kwargs):
        if self.first is None:
            self.first = (args, dict(kwargs))
        if self.cuda:
            start = self._torch.cuda.Event(enable_timing=True)
            start.record()
            self.events.append([start, None])
        else:
            self._t0 = time.perf_counter()

    def _post(self, module, args, output):
        self.calls += 1
        if self.cuda:
            end = self._torch.cuda.Event(enable_timing=True)
            end.record()
            self.events[-1][1] = end
        else:
            self.wall += time.perf_counter() - self._t0

    def seconds(self) -> float:
        if self.cuda:
            self._torch.cuda.synchronize()
            return sum(a.elapsed_time(b) for a, b in self.events) / 1000.0
        return self.wall

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def unet_flops(pipe, args: tuple, kwargs: dict) -> float:
    """FLOPs of one UNet call with these inputs (torch's FlopCounterMode: matmuls, convs, attention)."""
    import torch
    from torch.utils._pytree import tree_map
    from torch.utils.flop_counter import FlopCounterMode

    # inputs made under no_grad from parameters (views of the null context) still report
    # requires_grad; detach them so the counter's module tracker does not try to hook them
    args, kwargs = tree_map(lambda x: x.detach() if torch.is_tensor(x) else x, (args, kwargs))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        pipe.unet(*args, **kwargs)
    return float(counter.get_total_flops())


def bench_diffusion(preset: Preset, feats, hand_maps: Path, portrait: Path, device: str, clips: int | None = None) -> dict:
    """The Stage 2 pipeline alone on ``preset`` (its checkpoint, size, clip, steps, dtype)."""
    import torch

    from emo2cli.formats.handmaps import read_handmaps_info
    from emo2cli.formats.video import read_video_frames
    from emo2cli.render.render import load_fitted_portrait
    from emo2cli.video.loading import load_pipeline, video_dtype

    cfg = dataclasses.replace(preset.video, device=device)
    cuda = device.startswith("cuda")
    t0 = time.perf_counter()
    pipe = load_pipeline(cfg, int(np.prod(feats.features.shape[1:])), feats.encoder, device)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t0
    fitted = load_fitted_portrait(portrait, read_handmaps_info(hand_maps).placement)
    frames = feats.num_frames if clips is None else min(feats.num_frames, clips * cfg.clip_frames)
    timer = UNetTimer(pipe.unet, cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    _, m = measure(
        lambda: pipe(
            fitted, read_video_frames(hand_maps), feats.features, num_frames=frames, clip_frames=cfg.clip_frames,
            motion_frames=cfg.motion_frames, num_inference_steps=cfg.steps, guidance_audio=cfg.guidance_audio,
            guidance_reference=cfg.guidance_reference, generator=torch.Generator().manual_seed(0),
            decode_chunk_size=cfg.decode_chunk, on_frames=lambda f: None, return_frames=False,
        )
    )
    if cuda:
        torch.cuda.synchronize()
    unet_s = timer.seconds()
    timer.remove()
    flops = unet_flops(pipe, *timer.first) if timer.first else 0.0
    video_s = frames / preset.fps
    report = {
        "checkpoint": cfg.checkpoint,
        "device": device,
        "dtype": str(video_dtype(cfg, device)).removeprefix("torch."),
        "frame_size": list(fitted.shape[:2]),
        "frames": frames,
        "clip_frames": cfg.clip_frames,
        "motion_frames": cfg.motion_frames,
        "steps": cfg.steps,
        "load_s": round(load_s, 3),
        **m.to_dict(),
        "s_per_video_s": round(m.wall_s / video_s, 3),
        "unet_calls": timer.calls,
        "unet_s": round(unet_s, 3),
        "unet_tflop_per_call": round(flops / 1e12, 4),
        "unet_tflops": round(flops * timer.calls / max(unet_s, 1e-9) / 1e12, 3),
    }
    if cuda:
        name = torch.cuda.get_device_name(0)
        report["gpu"] = name
        report["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
        if peak and report["dtype"] in ("bfloat16", "float16"):
            report["unet_fraction_of_bf16_peak"] = round(report["unet_tflops"] / peak, 3)
    return report


def bench(seconds: float, device: str) -> dict:
    """Per-stage figures for ``seconds`` of video: preview (CPU), tiny diffusion, and on a GPU full size."""
    portrait = EXAMPLES / "halfbody_woman.png"
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audio = speech_of_length(seconds, folder)
        default = apply_overrides(load_preset(), {"audio.encoder": "mel", "video.backend": "preview"})
        report["preview"], feats = bench_stages(default, audio, portrait, folder, "preview")
        tiny = apply_overrides(load_preset("tiny"), {"video.device": "cpu"})
        tiny_folder = folder / "tiny"
        tiny_folder.mkdir()
        report["tiny_diffusion"], tiny_feats = bench_stages(tiny, audio, portrait, tiny_folder, "diffusion")
        report["tiny_pipeline"] = bench_diffusion(tiny, tiny_feats, tiny_folder / "b.handmaps.mp4", portrait, "cpu")
        if device.startswith("cuda"):
            full = apply_overrides(default, {"video.checkpoint": "builtin:sd15-random", "video.backend": "diffusion"})
            report["sd15_random_diffusion"] = bench_diffusion(full, feats, folder / "b.handmaps.mp4", portrait, device)
    return report
