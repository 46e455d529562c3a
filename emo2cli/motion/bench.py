"""``emo2 bench hands``: speed of Stage 1 on ``seconds`` of audio: the paper-size DiT and the rules generator.

The DiT is ``MotionDiT_L`` (24 blocks, hidden 512, 8 heads, ~104 M parameters) with **random
weights** (no checkpoint is needed to time it; the output is meaningless and labelled so), fed
random wav2vec2-base-width (768) features at 25 fps, windows of N = 300 with C = 12 context
frames, audio guidance 2 (the batched conditional + null pair). It runs with the default
sampler (the default preset's ``dpm++``, 20 steps) and a few-step one (``dpm++``, 6 steps), each
in the default ``motion.dtype`` (``auto``: bf16 where the device computes it natively) and in
fp32. The rules generator runs on a synthetic speech-like waveform (onset detection included).

Figures: ``rtf`` = wall seconds / audio seconds (the project's convention: below 1 is faster
than real time) and ``x_realtime`` = audio seconds / wall seconds (the goal: paper size at least
1.5× real time on 2 CPU cores, i.e. ``x_realtime`` ≥ 1.5). Peak memory as ``emo2cli.bench.measure``.

On a shared machine wall time measures the neighbours too, so each DiT run also reports
``cpu_s`` (this process's CPU seconds) and ``x_realtime_cpu`` = audio seconds × torch threads /
``cpu_s``: the speed with the cores to itself, assuming the threads scale (threads spinning at
barriers while descheduled inflate ``cpu_s``, so this errs low). ``load_avg`` is the 1-minute
load average before the first run.
"""

from __future__ import annotations

import os
import time

import numpy as np

from emo2cli.bench import measure

FPS = 25.0
AUDIO_DIM = 768  # wav2vec2-base hidden size
FEW_STEPS = 6
GOAL_X_REALTIME = 1.5


def _speed(m, seconds: float, cpu_s: float | None = None, threads: int = 1) -> dict:
    out = {"rtf": round(m.wall_s / seconds, 4), "x_realtime": round(seconds / m.wall_s, 3), **m.to_dict()}
    if cpu_s is not None:
        out.update({"cpu_s": round(cpu_s, 2), "x_realtime_cpu": round(seconds * threads / cpu_s, 3)})
    return out


def bench(seconds: float, device: str) -> dict:
    """Real-time factors of the paper-size DiT (default and few-step samplers) and of the rules generator."""
    import torch

    from emo2cli.audio.bench import speechlike
    from emo2cli.audio.onsets import detect_onsets
    from emo2cli.config import MotionConfig
    from emo2cli.hands.rules import generate_rules
    from emo2cli.motion.generate import sampling_dtype
    from emo2cli.motion.model import MotionDiT_L, num_parameters
    from emo2cli.motion.pipeline import MotionPipeline, make_sampler, training_scheduler

    defaults = MotionConfig()
    num_frames = max(round(seconds * FPS), 1)
    with torch.random.fork_rng(devices=[]):  # seeded random weights, global RNG untouched
        torch.manual_seed(0)
        model = MotionDiT_L(audio_dim=AUDIO_DIM).to(device).eval()
    pipe = MotionPipeline(model, training_scheduler())
    features = np.random.default_rng(0).normal(size=(1, num_frames, AUDIO_DIM)).astype(np.float32)
    auto = sampling_dtype("auto", device)
    report: dict = {
        "model": "MotionDiT_L: 24 blocks x 512, 8 heads, RANDOM weights (timing only, output meaningless)",
        "parameters_m": round(num_parameters(model) / 1e6, 1),
        "audio_s": seconds,
        "frames": num_frames,
        "windows": -(-num_frames // model.config.window),
        "guidance": defaults.guidance,
        "auto_dtype": "bf16" if auto is not None else "fp32",
        "torch_threads": torch.get_num_threads(),
        "load_avg": round(os.getloadavg()[0], 2),
        "runs": [],
    }
    for label, sampler, steps in (("default", defaults.sampler, defaults.steps), ("few-step", "dpm++", FEW_STEPS)):
        for dtype_name, dtype in (("auto", auto), ("fp32", None)):
            if dtype_name == "fp32" and auto is None:
                continue  # auto already is fp32 here
            pipe.scheduler = make_sampler(sampler, training_scheduler().config)

            def run(steps=steps, dtype=dtype):
                return pipe(features, num_inference_steps=steps, guidance_scale=defaults.guidance, generator=torch.Generator().manual_seed(0), dtype=dtype)

            cpu0 = time.process_time()
            _, m = measure(run)
            cpu_s = time.process_time() - cpu0
            report["runs"].append(
                {"run": label, "sampler": sampler, "steps": steps, "dtype": "bf16" if dtype is not None else "fp32",
                 **_speed(m, seconds, cpu_s, torch.get_num_threads())}
            )  # fmt: skip
    best = max(r["x_realtime"] for r in report["runs"])
    report["goal"] = f"paper size >= {GOAL_X_REALTIME}x real time (x_realtime)"
    report["goal_met_by"] = [f"{r['run']} {r['dtype']}" for r in report["runs"] if r["x_realtime"] >= GOAL_X_REALTIME]
    report["best_x_realtime"] = best

    samples = speechlike(seconds, 16000)
    onsets, m_onsets = measure(lambda: detect_onsets(samples, 16000, FPS))
    _, m_rules = measure(lambda: generate_rules(onsets, seed=0))
    total = m_onsets.wall_s + m_rules.wall_s
    report["rules"] = {
        "onsets": _speed(m_onsets, seconds),
        "generate": _speed(m_rules, seconds),
        "x_realtime_total": round(seconds / total, 1),
    }
    return report
