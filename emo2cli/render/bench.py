"""``emo2 bench render``: hand-map frames per second at the preset's size (704×512 by default).

Measures, on ``seconds`` of synthetic gesture motion at 25 fps with the built-in hand and the
default placement: drawing alone (``emo2`` and ``keypoints`` styles), and drawing plus H.264
encoding through :class:`~emo2cli.formats.video.VideoWriter`. The goal is ≥ 50 fps for the
``emo2`` style on 2 CPU cores (twice real time at 25 fps). Placement on the bundled-size
portrait (mediapipe) is timed once when mediapipe is installed.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from emo2cli.bench import measure
from emo2cli.config import RenderConfig
from emo2cli.formats.hands import HandMotion

FPS = 25.0


def synthetic_motion(num_frames: int, fps: float = FPS, seed: int = 0) -> HandMotion:
    """The rest pose plus smooth sinusoidal wrist motion, wrist turns and finger curls (deterministic)."""
    g = np.random.default_rng(seed)
    hands = HandMotion.rest(num_frames, fps, meta={"producer": "emo2cli.render.bench", "seed": seed})
    t = np.arange(num_frames)[:, None] / fps  # [T, 1]
    freq = g.uniform(0.3, 1.2, (1, 2))
    phase = g.uniform(0, 2 * np.pi, (1, 2))
    wave = np.sin(2 * np.pi * freq * t + phase)  # [T, 2]
    hands.transl += (wave[..., None] * np.array([0.08, 0.15, 0.08])).astype(np.float32)
    hands.global_orient += (0.6 * wave[..., None] * np.array([1.0, 0.5, 0.3])).astype(np.float32)
    curl = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t + phase)  # [T, 2]
    hands.hand_pose[..., 2] *= (1.0 + 2.0 * curl[..., None]).astype(np.float32)
    return hands


def bench(seconds: float, device: str) -> dict:
    """Frames per second of the renderer (CPU only; ``device`` is ignored)."""
    from emo2cli.formats.video import VideoWriter
    from emo2cli.render.placement import place_on_portrait
    from emo2cli.render.render import render_hands

    cfg = RenderConfig()
    size = (cfg.height, cfg.width)
    num_frames = max(int(round(seconds * FPS)), 1)
    hands = synthetic_motion(num_frames)
    placement, _ = place_on_portrait(None, size)
    report: dict = {"frame_size": list(size), "frames": num_frames, "hand_model": "builtin", "device": "cpu"}

    for style in ("emo2", "keypoints"):
        count, m = measure(lambda style=style: sum(1 for _ in render_hands(hands, placement, style)))
        report[f"draw_{style}"] = {"fps": round(count / m.wall_s, 1), **m.to_dict()}

    def encode() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            with VideoWriter(Path(tmp) / "bench.handmaps.mp4", FPS, size) as writer:
                for frame in render_hands(hands, placement, "emo2"):
                    writer.write(frame)
            return writer.num_frames

    count, m = measure(encode)
    report["draw_and_encode_emo2"] = {"fps": round(count / m.wall_s, 1), **m.to_dict()}
    report["goal_fps"] = 50.0

    from emo2cli.errors import MissingPrerequisite
    from emo2cli.vision import import_mediapipe

    try:
        import_mediapipe()
    except MissingPrerequisite:
        report["placement"] = "unavailable: needs emo2cli[vision]"
    else:
        # a blank 1024² image runs all three attempts (pose, face, centre): the worst case
        portrait = np.full((1024, 1024, 3), 90, np.uint8)
        placement_log = logging.getLogger("emo2cli.render.placement")
        level = placement_log.level
        placement_log.setLevel(logging.ERROR)  # its fallback warnings are expected here
        try:
            _, m = measure(lambda: place_on_portrait(portrait, size))
        finally:
            placement_log.setLevel(level)
        report["placement_worst_case"] = m.to_dict()
    return report
