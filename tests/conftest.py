"""Shared fixtures: sample-data paths, an in-process CLI runner, seeded generators."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # CI is offline: nothing may reach the hub
os.environ.setdefault("EMO2_HOME", str(Path(__file__).parent / "data" / "no_emo2_home"))  # no stray user models

try:  # tiny models are overhead-bound: one thread is as fast, and parallel runs don't oversubscribe
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DATA = Path(__file__).resolve().parent / "data"
PORTRAIT = EXAMPLES / "halfbody_woman.png"
PORTRAIT_MAN = EXAMPLES / "halfbody_man.png"
SPEECH = EXAMPLES / "speech_en_7s.wav"
POSES = DATA / "poses"
VIDEOS = DATA / "videos"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run ``emo2 ARGS...`` in-process; returns exit code, stdout and stderr."""
    from emo2cli.cli.main import main

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def no_mediapipe(monkeypatch):
    """As if the [vision] extra were not installed: ``import mediapipe`` raises ImportError."""
    import sys

    monkeypatch.setitem(sys.modules, "mediapipe", None)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def random_hands(num_frames: int = 20, fps: float = 25.0, seed: int = 0):
    """A valid HandMotion with random rotations (angles < π) and positions near the rest pose."""
    from emo2cli.formats.hands import HandMotion

    g = np.random.default_rng(seed)

    def aa(*shape):
        axis = g.normal(size=(*shape, 3))
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        return (axis * g.uniform(0, 3.0, size=(*shape, 1))).astype(np.float32)

    return HandMotion(
        fps=fps,
        global_orient=aa(num_frames, 2),
        hand_pose=aa(num_frames, 2, 15) * 0.3,
        transl=(np.array([[0.13, -0.4, 0.15], [-0.13, -0.4, 0.15]]) + g.normal(0, 0.05, (num_frames, 2, 3))).astype(np.float32),
        mask=g.uniform(size=(num_frames, 2)) > 0.1,
        meta={"producer": "test", "seed": seed},
    )
