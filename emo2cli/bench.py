"""Benchmarks: timed runs written to JSON (``emo2 bench``). Speed is measured here, never asserted in tests.

Each stage owns its benchmark section in its own package (``emo2cli.audio.bench`` ...), a
function ``bench(seconds: float, device: str) -> dict``; this module runs the chosen sections,
adds the machine description, and measures wall time and peak memory.
"""

from __future__ import annotations

import importlib
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# section name → "module:function"
SECTIONS: dict[str, str] = {
    "audio": "emo2cli.audio.bench:bench",
    "render": "emo2cli.render.bench:bench",
    "track": "emo2cli.tracking.bench:bench",
    "hands": "emo2cli.motion.bench:bench",
    "video": "emo2cli.video.bench:bench",
    "train-video": "emo2cli.video.train_bench:bench",
}


@dataclass
class Measurement:
    wall_s: float
    peak_rss_mb: float  # peak resident memory of this process during the call
    rss_before_mb: float

    @property
    def peak_delta_mb(self) -> float:
        return self.peak_rss_mb - self.rss_before_mb

    def to_dict(self) -> dict:
        return {"wall_s": round(self.wall_s, 4), "peak_rss_mb": round(self.peak_rss_mb, 1), "peak_delta_mb": round(self.peak_delta_mb, 1)}


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def measure(fn: Callable[[], object], interval_s: float = 0.005) -> tuple[object, Measurement]:
    """Run ``fn()`` once; return its result and the wall time and peak RSS (sampled every ``interval_s``)."""
    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            done.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    try:
        result = fn()
    finally:
        wall = time.perf_counter() - t0
        done.set()
        thread.join()
    peak[0] = max(peak[0], rss_mb())
    return result, Measurement(wall, peak[0], before)


def machine() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_bench(sections: list[str], seconds: float, device: str, on_section: Callable[[str], None] | None = None) -> dict:
    """Run the named sections (all when empty) and return one JSON-ready report."""
    names = sections or list(SECTIONS)
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        from emo2cli.errors import InputError

        raise InputError(f"unknown bench section(s) {unknown}; known: {', '.join(SECTIONS)}")
    report: dict = {"machine": machine(), "seconds": seconds, "device": device, "sections": {}}
    for name in names:
        if on_section:
            on_section(name)
        module, func = SECTIONS[name].split(":")
        report["sections"][name] = getattr(importlib.import_module(module), func)(seconds=seconds, device=device)
    return report
