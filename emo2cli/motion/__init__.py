"""Stage 1: audio features → MANO hands (DESIGN §3).

``model`` (MotionDiT and its size table), ``pipeline`` (MotionPipeline: windowed sampling with
context frames and audio CFG), ``data`` (training windows from hands + audio pairs), ``train``
(train_hands), ``generate`` (generate_hands: the checkpoint or the rules generator), ``bench``
(``emo2 bench hands``). Importing this package does not import torch; the names below load on
first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "MotionDiT": "emo2cli.motion.model",
    "MotionPipeline": "emo2cli.motion.pipeline",
    "generate_hands": "emo2cli.motion.generate",
    "train_hands": "emo2cli.motion.train",
    "TrainHandsConfig": "emo2cli.motion.train",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emo2cli.motion' has no attribute {name!r}")
