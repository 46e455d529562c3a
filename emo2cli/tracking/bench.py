"""``emo2 bench track``: frames per second of hand tracking on this machine.

Input: a real video with a person and both hands. ``EMO2_BENCH_VIDEO`` names one; otherwise the
repository's ``tests/data/videos/asl_signer1_11s.mp4`` (640×480, a signer) is used when this is
a source checkout, looped to ``seconds``. Without either, a grey video is timed and labelled as
such (no person: mediapipe's detection-only path, much faster than real tracking).

Figures, on the preset's frame grid (25 fps): ``landmarks`` = decoding + mediapipe pose + hands
(video mode); ``fit`` = body frames, IK, dropout filling, smoothing; ``track`` = both, the
``track-hands`` command without audio features and overlay; ``overlay`` = drawing the
``--overlay`` frames (encoding excluded). ``cpu_ms_per_frame`` is the process's CPU time (all
threads) per frame of ``landmarks``: unlike the wall-clock fps it does not drop when other work
shares the machine. mediapipe runs on the CPU whatever ``device`` says.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emo2cli.bench import measure

BENCH_VIDEO_ENV = "EMO2_BENCH_VIDEO"
_REPO_VIDEO = Path(__file__).resolve().parents[2] / "tests" / "data" / "videos" / "asl_signer1_11s.mp4"


def bench_video() -> tuple[Path | None, str]:
    """(video, label): the benchmark input, or (None, reason) when there is no real video."""
    if os.environ.get(BENCH_VIDEO_ENV):
        return Path(os.environ[BENCH_VIDEO_ENV]), f"${BENCH_VIDEO_ENV}"
    if _REPO_VIDEO.is_file():
        return _REPO_VIDEO, "tests/data/videos/asl_signer1_11s.mp4"
    return None, f"grey frames (no person): set {BENCH_VIDEO_ENV} to a talking video for real figures"


def _looped(video: Path | None, fps: float) -> Iterator[np.ndarray]:
    from emo2cli.formats.video import read_video_frames

    if video is None:
        while True:
            yield np.full((480, 640, 3), 128, np.uint8)
    while True:
        yield from read_video_frames(video, fps)


def _fps(num_frames: int, wall_s: float) -> float:
    return round(num_frames / max(wall_s, 1e-9), 2)


def bench(seconds: float = 60.0, device: str = "cpu") -> dict:
    """Time tracking ``seconds`` of video.

    Returns:
        JSON-ready dict: input, frames, per stage ``fps`` + wall time and memory, the IK error.
    """
    from emo2cli.config import Preset
    from emo2cli.hands.skeleton import hands_joints
    from emo2cli.tracking.landmarks import track_landmarks
    from emo2cli.tracking.overlay import overlay_frame
    from emo2cli.tracking.track import hands_from_landmarks

    preset = Preset()
    video, label = bench_video()
    num_frames = max(1, round(seconds * preset.fps))
    frames = itertools.islice(_looped(video, preset.fps), num_frames)
    cpu_start = time.process_time()
    landmarks, m_landmarks = measure(
        lambda: track_landmarks(frames, preset.fps, num_frames, hand_complexity=preset.track.hand_complexity)
    )
    cpu_landmarks = time.process_time() - cpu_start
    tracked, m_fit = measure(lambda: hands_from_landmarks(landmarks, preset.track))

    overlay_frames = min(num_frames, 100)
    joints = hands_joints(tracked.hands)
    sample = list(itertools.islice(_looped(video, preset.fps), overlay_frames))
    _, m_overlay = measure(lambda: [overlay_frame(f, tracked, joints[t], t) for t, f in enumerate(sample)])

    summary = tracked.summary()
    return {
        "input": label,
        "frames": num_frames,
        "frame_size": list(landmarks.frame_size),
        "device": "cpu (mediapipe)",
        "landmarks": {
            "fps": _fps(num_frames, m_landmarks.wall_s),
            "cpu_ms_per_frame": round(1000 * cpu_landmarks / num_frames, 2),  # all threads; unlike fps, not load-dependent
            **m_landmarks.to_dict(),
        },
        "fit": {"fps": _fps(num_frames, m_fit.wall_s), **m_fit.to_dict()},
        "track": {"fps": _fps(num_frames, m_landmarks.wall_s + m_fit.wall_s)},
        "overlay": {"fps": _fps(overlay_frames, m_overlay.wall_s), "frames": overlay_frames, **m_overlay.to_dict()},
        "ik_error_median_mm": {side: summary[side]["ik_error_median_mm"] for side in ("left", "right")},
        "seen_fraction": {side: summary[side]["seen_fraction"] for side in ("left", "right")},
    }
