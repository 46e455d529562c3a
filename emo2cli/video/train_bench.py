"""``emo2 bench train-video``: seconds per optimiser step and peak memory of both training phases.

On CUDA: the SD-1.5 / AnimateDiff-size Stage 2 with **random weights** (``builtin:sd15-random``;
timing only) at 704 × 512, bf16 autocast, gradient checkpointing, AdamW; image phase 4 frame
pairs per step, video phase 1 window of 12 motion + 24 new frames (the paper's video batch 4 is
4 such windows: on one GPU, ``--grad-accum 4``). Elsewhere: the tiny set at 64 × 64 (a smoke
figure). Synthetic frames stand in for a dataset, so data loading is not counted.
"""

from __future__ import annotations

import time

import numpy as np

REAL = {"size": "sd15", "height": 704, "width": 512, "audio_dim": 768, "image_batch": 4, "video_batch": 1}
TINY = {"size": "tiny", "height": 64, "width": 64, "audio_dim": 44, "image_batch": 2, "video_batch": 1}


def synthetic_batch(batch: int, frames: int, height: int, width: int, audio_rows: int, audio_dim: int, seed: int = 0) -> dict:
    """Tensors shaped like collated ``ClipSamples`` (random pixels, hand maps and features)."""
    import torch

    g = np.random.default_rng(seed)
    return {
        "reference": torch.from_numpy(g.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)),
        "frames": torch.from_numpy(g.integers(0, 256, (batch, frames, height, width, 3), dtype=np.uint8)),
        "hand_maps": torch.from_numpy(g.integers(0, 256, (batch, frames, height, width, 3), dtype=np.uint8)),
        "body": torch.zeros(batch, height, width),
        "audio": torch.from_numpy(g.normal(size=(batch, audio_rows, audio_dim)).astype(np.float32)),
    }


def bench(seconds: float, device: str) -> dict:
    """Per phase: seconds per step (after one warm-up step), steps timed, peak memory (GPU or RSS)."""
    import torch
    from accelerate import Accelerator

    from emo2cli.bench import rss_mb
    from emo2cli.config import Preset
    from emo2cli.video.builtin import random_components
    from emo2cli.video.pipeline import EMO2VideoPipeline
    from emo2cli.video.train import TrainVideoConfig, VideoTrainer

    cuda = device.startswith("cuda")
    spec = REAL if cuda else TINY
    preset = Preset()
    window = preset.video.motion_frames + preset.video.clip_frames
    accelerator = Accelerator(mixed_precision="bf16" if cuda else "no", cpu=not cuda)
    report: dict = {
        "model": f"builtin:{spec['size']}-random (RANDOM weights: timing only)",
        "frame": [spec["height"], spec["width"]],
        "phases": {},
    }
    for phase in ("image", "video"):
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        pipe = EMO2VideoPipeline(**random_components(spec["size"], audio_dim=spec["audio_dim"], max_frames=window, device=device))
        pipe.set_progress_bar_config(disable=True)
        batch = spec[f"{phase}_batch"]
        cfg = TrainVideoConfig("", "", phase=phase, batch_size=batch, workers=0)
        trainer = VideoTrainer(pipe, cfg, preset, accelerator)
        frames = 1 if phase == "image" else window
        radius = pipe.audio_proj.config.window_radius
        data = synthetic_batch(batch, frames, spec["height"], spec["width"], frames + 2 * radius, spec["audio_dim"])
        trainer.train_step([data])  # warm-up (allocator, kernels)
        times = []
        budget = time.perf_counter() + seconds / 2
        while len(times) < 2 or (time.perf_counter() < budget and len(times) < 20):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            trainer.train_step([data])
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        trained = sum(p.numel() for p in trainer.params.values())
        report["phases"][phase] = {
            "batch": batch,
            "frames_per_sample": frames,
            "trained_parameters_m": round(trained / 1e6, 1),
            "step_s": round(float(np.median(times)), 4),
            "steps_timed": len(times),
            **({"peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)} if cuda else {"rss_mb": round(rss_mb(), 1)}),
        }
        del trainer, pipe
        accelerator.free_memory()  # drops accelerate's references to this phase's model and optimiser
    return report
