"""FVD: Fréchet video distance on I3D Kinetics-400 logits (Unterthiner et al. 2018).

Protocol (StyleGAN-V ``src/metrics/frechet_video_distance.py`` as copied into
JunyaoHu/common_metrics_on_video_quality ``fvd/styleganv/fvd.py``): each video is cut into
non-overlapping clips of ``clip_frames`` frames (16 by default; a tail shorter than that is
dropped; a video shorter than one clip is one clip of all its frames, at least 10); each clip's
frames are scaled so the shorter side is 224 (bilinear, ``ceil``), centre-cropped to 224², mapped
to [-1, 1]; I3D (:mod:`~emo2cli.metrics.i3d`) gives 400 logits per clip; FVD is the Fréchet
distance of the generated clips' logits against the reference clips'. With few clips the
covariance is rank-deficient (the ε fallback of :mod:`~emo2cli.metrics.frechet` applies), so FVD
is comparable only between runs with the same clip count; the count is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np

FVD_PROTOCOL = (
    "FVD: Frechet distance of I3D Kinetics-400 logits (400-d) per clip of {clip} frames (non-overlapping, "
    "tail dropped), shorter side to 224 bilinear + centre crop 224, [-1,1] (StyleGAN-V protocol); "
    "{gen} generated vs {ref} reference clips"
)
MIN_CLIP_FRAMES = 10


def video_clips(frames: Iterable[np.ndarray], clip_frames: int = 16) -> Iterator[np.ndarray]:
    """Cut a frame stream into [clip_frames, H, W, 3] uint8 clips (a short video gives one clip)."""
    buffer: list[np.ndarray] = []
    emitted = False
    for frame in frames:
        buffer.append(frame)
        if len(buffer) == clip_frames:
            yield np.stack(buffer)
            buffer, emitted = [], True
    if not emitted and len(buffer) >= MIN_CLIP_FRAMES:
        yield np.stack(buffer)


def preprocess_clip(clip: np.ndarray, size: int = 224):
    """[F, H, W, 3] uint8 → [1, 3, F, size, size] float32 torch tensor in [-1, 1]."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(clip[..., :3])).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[2:]
    scale = size / min(h, w)
    x = F.interpolate(x, size=(math.ceil(h * scale), math.ceil(w * scale)), mode="bilinear", align_corners=False)
    top, left = (x.shape[2] - size) // 2, (x.shape[3] - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    return (x * 2 - 1).permute(1, 0, 2, 3).unsqueeze(0)


def video_features(
    videos: Iterable[Iterable[np.ndarray]], model, clip_frames: int = 16, size: int = 224, on_progress: Callable | None = None
) -> np.ndarray:
    """I3D features of every clip of every video.

    Args:
        videos: iterable of frame iterables ([H, W, 3] uint8 RGB).
        model: torch module [1, 3, F, size, size] in [-1, 1] → [1, D] (I3D, or a tiny test network).
        size: crop side (224 for I3D).

    Returns:
        [N clips, D] float64.
    """
    import torch

    feats = []
    for video in videos:
        for clip in video_clips(video, clip_frames):
            with torch.no_grad():
                feats.append(model(preprocess_clip(clip, size)).reshape(1, -1).double().numpy())
            if on_progress:
                on_progress(len(feats), None)
    if not feats:
        raise ValueError(f"no clip of at least {MIN_CLIP_FRAMES} frames")
    return np.concatenate(feats)


def compute_fvd(features_generated: np.ndarray, features_reference: np.ndarray) -> float:
    """FVD from two [N, 400] clip-feature sets (:func:`video_features`)."""
    from emo2cli.metrics.frechet import frechet_distance_of_features

    return frechet_distance_of_features(features_generated, features_reference)
