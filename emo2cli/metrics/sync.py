"""Lip sync: Sync-C (confidence) and Sync-D (distance) with a user-supplied SyncNet.

Adapted from joonson/syncnet_python (``SyncNetModel.py`` for the network ``S``,
``SyncNetInstance.py`` ``evaluate`` / ``calc_pdist`` for the protocol): the video at 25 fps as
224×224 BGR face crops (0..255, no normalisation), windows of 5 frames; the audio at 16 kHz as
13 MFCCs at 100 Hz (python_speech_features defaults, int16 sample scale), windows of 20 steps
starting at 4·i. For each video window i and offset k ∈ [−15, 15], ``d[i, k] = ‖v_i − a_{i+k}‖``
(zero-padded audio features beyond the ends); ``mdist[k] = mean_i d[i, k]``;
**Sync-D = min_k mdist**, **Sync-C = median_k mdist − min_k mdist**, offset = 15 − argmin.

Face crops: the reference pipeline tracks S3FD detections; here the largest YuNet face per frame
(the face-identity folder's detector), its centre and size median-filtered over 13 frames, cropped
as ``crop_video`` does (crop_scale 0.4, frame padded with grey 110) and resized to 224². The
weights are ``syncnet_v2.model`` (a state dict, loaded with ``weights_only=True``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

VSHIFT = 15
SYNC_PROTOCOL = (
    "Sync-C/Sync-D (joonson/syncnet_python evaluate): 25 fps 224x224 face crops (YuNet largest face, "
    "median-filtered, crop_scale 0.4; the reference uses S3FD), 16 kHz 13-MFCC, vshift 15; "
    "Sync-D = min over offsets of mean distance, Sync-C = median - min"
)


class SyncNet(nn.Module):
    """joonson's ``S``: audio [B, 1, 13, 20] MFCC and lips [B, 3, 5, 224, 224] → [B, 1024] each."""

    def __init__(self, num_layers_in_fc_layers: int = 1024):
        super().__init__()
        bn_relu2 = lambda c: [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        bn_relu3 = lambda c: [nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, 64, 3, 1, 1), *bn_relu2(64), nn.MaxPool2d(1, 1),
            nn.Conv2d(64, 192, 3, 1, 1), *bn_relu2(192), nn.MaxPool2d(3, (1, 2)),
            nn.Conv2d(192, 384, 3, padding=1), *bn_relu2(384),
            nn.Conv2d(384, 256, 3, padding=1), *bn_relu2(256),
            nn.Conv2d(256, 256, 3, padding=1), *bn_relu2(256), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 512, (5, 4), padding=0), *bn_relu2(512),
        )  # fmt: skip
        self.netfcaud = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, num_layers_in_fc_layers)
        )
        self.netfclip = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, num_layers_in_fc_layers)
        )
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2), 0), *bn_relu3(96), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), *bn_relu3(256), nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), *bn_relu3(256),
            nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), *bn_relu3(256),
            nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), *bn_relu3(256), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(256, 512, (1, 6, 6), padding=0), *bn_relu3(512),
        )  # fmt: skip

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | os.PathLike) -> SyncNet:
    """SyncNet from ``syncnet_v2.model`` (a state dict; tensors only)."""
    from emo2cli.metrics.checkpoints import load_state_dict_file

    return load_state_dict_file(SyncNet, path, "a SyncNet", "use syncnet_v2.model")


# ---------------------------------------------------------------------------------------------
# Audio: MFCC as python_speech_features.mfcc(signal, 16000) computes it
# ---------------------------------------------------------------------------------------------


def mfcc(
    samples_int16_scale: np.ndarray, sample_rate: int = 16000, numcep: int = 13, nfilt: int = 26, nfft: int = 512
) -> np.ndarray:
    """[N] samples on the int16 scale → [steps, 13] MFCC (25 ms rectangular windows, 10 ms step,
    pre-emphasis 0.97, 26 mel filters 0..sr/2, log, DCT-II ortho, lifter 22, c0 = log frame energy)."""
    from scipy.fft import dct

    x = np.asarray(samples_int16_scale, np.float64)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    frame_len, step = round(0.025 * sample_rate), round(0.01 * sample_rate)
    n = 1 if len(x) <= frame_len else 1 + int(np.ceil((len(x) - frame_len) / step))
    x = np.concatenate([x, np.zeros((n - 1) * step + frame_len - len(x))])
    frames = x[np.arange(frame_len)[None, :] + step * np.arange(n)[:, None]]
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    energy = power.sum(1)
    energy[energy == 0] = np.finfo(float).eps
    mel = np.linspace(0, 2595 * np.log10(1 + (sample_rate / 2) / 700), nfilt + 2)
    bins = np.floor((nfft + 1) * (700 * (10 ** (mel / 2595) - 1)) / sample_rate).astype(int)
    bank = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        bank[j, lo:mid] = (np.arange(lo, mid) - lo) / max(mid - lo, 1)
        bank[j, mid:hi] = (hi - np.arange(mid, hi)) / max(hi - mid, 1)
    feat = power @ bank.T
    feat[feat == 0] = np.finfo(float).eps
    feat = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :numcep]
    feat *= 1 + 11.0 * np.sin(np.pi * np.arange(numcep) / 22.0)
    feat[:, 0] = np.log(energy)
    return feat


# ---------------------------------------------------------------------------------------------
# Faces and scores
# ---------------------------------------------------------------------------------------------


def face_crops(frames: Sequence[np.ndarray], boxes: np.ndarray, crop_scale: float = 0.4, size: int = 224) -> np.ndarray:
    """joonson ``crop_video``: [F, H, W, 3] RGB + [F, 4] (x, y, w, h) boxes → [F, size, size, 3] BGR.

    Boxes are median-filtered over 13 frames (NaN rows, frames without a face, are filled from
    the nearest detected frame first).
    """
    import cv2
    from scipy.signal import medfilt

    ok = ~np.isnan(boxes).any(axis=1)
    if not ok.any():
        raise ValueError("no face in any frame")
    idx = np.arange(len(boxes))
    filled = np.stack([np.interp(idx, idx[ok], boxes[ok, c]) for c in range(4)], axis=1)
    half = np.maximum(filled[:, 2], filled[:, 3]) / 2
    cx, cy = filled[:, 0] + filled[:, 2] / 2, filled[:, 1] + filled[:, 3] / 2
    kernel = min(13, len(boxes) - (1 - len(boxes) % 2))
    if kernel >= 3:
        half, cx, cy = (medfilt(v, kernel_size=kernel) for v in (half, cx, cy))
    out = []
    for frame, bs, mx, my in zip(frames, half, cx, cy):
        bsi = int(bs * (1 + 2 * crop_scale))
        bgr = cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2BGR)
        padded = np.pad(bgr, ((bsi, bsi), (bsi, bsi), (0, 0)), constant_values=110)
        my, mx = my + bsi, mx + bsi
        crop = padded[
            int(my - bs) : int(my + bs * (1 + 2 * crop_scale)), int(mx - bs * (1 + crop_scale)) : int(mx + bs * (1 + crop_scale))
        ]
        out.append(cv2.resize(crop, (size, size)))
    return np.stack(out)


def sync_distances(lip_feats: torch.Tensor, audio_feats: torch.Tensor, vshift: int = VSHIFT) -> np.ndarray:
    """``calc_pdist``: [N, D] each → [N, 2·vshift + 1] distances d[i, k] = ‖v_i − a_{i+k−vshift}‖."""
    win = 2 * vshift + 1
    padded = torch.nn.functional.pad(audio_feats, (0, 0, vshift, vshift))
    rows = [
        torch.nn.functional.pairwise_distance(lip_feats[[i], :].repeat(win, 1), padded[i : i + win, :])
        for i in range(len(lip_feats))
    ]
    return torch.stack(rows).double().numpy()


def sync_scores(dists: np.ndarray, vshift: int = VSHIFT) -> dict[str, float]:
    """{"Sync-C", "Sync-D", "offset"} from [N, 2·vshift + 1] distances (mean over windows first)."""
    mdist = dists.mean(axis=0)
    k = int(np.argmin(mdist))
    return {"Sync-C": float(np.median(mdist) - mdist[k]), "Sync-D": float(mdist[k]), "offset": vshift - k}


def syncnet_features(
    model: SyncNet, crops_bgr: np.ndarray, samples_16k: np.ndarray, batch_size: int = 20
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Lip and audio features per 5-frame window, plus the per-window distance at each offset.

    Args:
        crops_bgr: [F, 224, 224, 3] uint8 at 25 fps. samples_16k: [N] float in [-1, 1] at 16 kHz.

    Returns:
        (lip [W, D], audio [W, D], dists [W, 31]).
    """
    cc = torch.from_numpy(mfcc(samples_16k * 32768.0).T.copy()).float()[None, None]  # [1, 1, 13, steps]
    video = torch.from_numpy(crops_bgr.astype(np.float32)).permute(3, 0, 1, 2)[None]  # [1, 3, F, 224, 224]
    last = min(len(crops_bgr), len(samples_16k) // 640) - 5
    if last < 1:
        raise ValueError("Sync-C needs at least 6 frames (0.24 s) of video and audio")
    lips, auds = [], []
    with torch.no_grad():
        for i in range(0, last, batch_size):
            frames = range(i, min(last, i + batch_size))
            lips.append(model.forward_lip(torch.cat([video[:, :, v : v + 5] for v in frames])))
            auds.append(model.forward_aud(torch.cat([cc[:, :, :, v * 4 : v * 4 + 20] for v in frames])))
    lip, aud = torch.cat(lips), torch.cat(auds)
    return lip, aud, sync_distances(lip, aud)


def per_frame_confidence(dists: np.ndarray) -> np.ndarray:
    """joonson's frame-wise confidence: median(mdist) − d[i, argmin], median-filtered (kernel 9)."""
    from scipy.signal import medfilt

    mdist = dists.mean(axis=0)
    conf = np.median(mdist) - dists[:, int(np.argmin(mdist))]
    return medfilt(conf, kernel_size=9) if len(conf) >= 9 else conf


def lip_sync(
    model: SyncNet,
    frames_25fps: Sequence[np.ndarray],
    samples_16k: np.ndarray,
    detect_face: Callable[[np.ndarray], np.ndarray | None],
) -> dict:
    """Sync-C / Sync-D / offset of one video, and the per-window confidence.

    Args:
        frames_25fps: [H, W, 3] uint8 RGB frames at 25 fps.
        samples_16k: [N] float32 mono at 16 kHz.
        detect_face: image → YuNet row (x, y, w, h, ...) or None.
    """
    boxes = np.array([np.full(4, np.nan) if (f := detect_face(fr)) is None else f[:4] for fr in frames_25fps], np.float64)
    crops = face_crops(frames_25fps, boxes)
    _, _, dists = syncnet_features(model, crops, samples_16k)
    return {
        **sync_scores(dists),
        "per_window_confidence": per_frame_confidence(dists),
        "frames_without_face": int(np.isnan(boxes).any(axis=1).sum()),
    }
