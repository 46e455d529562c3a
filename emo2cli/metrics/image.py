"""Per-frame image metrics (PSNR, SSIM) and FID.

- **PSNR**: ``10 log10(255² / MSE)`` on uint8 RGB frames, per frame, capped at 100 dB when the
  MSE is below 1e-10 (identical frames); a video's PSNR is the mean of its frames' (DESIGN §11:
  the standard formula, not EMO2's unexplained 64–68 dB scale).
- **SSIM**: Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error
  visibility to structural similarity", IEEE TIP 13(4). Gaussian window σ = 1.5 truncated at 3.5σ
  (11 taps), K1 = 0.01, K2 = 0.03, L = 255, population (not sample) covariances, reflect padding,
  the map's border of 5 pixels dropped before the mean, each RGB channel separately then averaged:
  exactly scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=-1)`` (tested against it).
- **FID**: Fréchet distance (:mod:`~emo2cli.metrics.frechet`) of Inception-v3 pool features
  (:mod:`~emo2cli.metrics.inception`, 2048-d) of every frame of the generated videos against every
  frame of the reference videos (pytorch-fid preprocessing: bilinear resize to 299², [-1, 1]).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

PSNR_CAP_DB = 100.0
SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scipy/skimage truncation: radius int(3.5 * 1.5 + 0.5) = 5 → 11 taps
SSIM_K1, SSIM_K2 = 0.01, 0.03

PSNR_PROTOCOL = "PSNR: 10*log10(255^2/MSE) per frame on uint8 RGB, capped at 100 dB, mean over frames"
SSIM_PROTOCOL = (
    "SSIM (Wang et al. 2004): Gaussian window 11 (sigma 1.5), K1 0.01, K2 0.03, L 255, per RGB channel, "
    "5-px border dropped (= skimage gaussian_weights=True, use_sample_covariance=False), mean over frames"
)
FID_PROTOCOL = (
    "FID: Frechet distance of Inception-v3 pool3 (2048-d) features, all frames of all generated vs all "
    "reference videos, bilinear resize to 299, [-1,1] (pytorch-fid preprocessing)"
)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")


def psnr(frame: np.ndarray, reference: np.ndarray, max_value: float = 255.0) -> float:
    """PSNR in dB of one frame against its reference.

    Args:
        frame, reference: [H, W, 3] (or any equal shape) uint8 or float on a 0..max_value scale.
        max_value: the peak value (255 for uint8).

    Returns:
        dB, at most :data:`PSNR_CAP_DB`.
    """
    _check_pair(frame, reference)
    mse = float(np.mean((frame.astype(np.float64) - reference.astype(np.float64)) ** 2))
    if mse < 1e-10:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * np.log10(max_value**2 / mse))


def ssim(frame: np.ndarray, reference: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) of one frame against its reference.

    Args:
        frame, reference: [H, W, C] or [H, W], uint8 or float, same shape; H, W ≥ 11.
        data_range: L, the dynamic range (255 for uint8).

    Returns:
        Mean SSIM over the map (border of 5 px excluded) and the channels, in [-1, 1].
    """
    from scipy.ndimage import gaussian_filter

    _check_pair(frame, reference)
    x = frame.astype(np.float64)
    y = reference.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    pad = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if min(x.shape[:2]) < 2 * pad + 1:
        raise ValueError(f"frames of {x.shape[:2]} are smaller than the 11x11 SSIM window")

    def blur(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, sigma=SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    values = []
    for c in range(x.shape[2]):
        xc, yc = x[..., c], y[..., c]
        ux, uy = blur(xc), blur(yc)
        vx = blur(xc * xc) - ux * ux
        vy = blur(yc * yc) - uy * uy
        vxy = blur(xc * yc) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        values.append(s[pad:-pad, pad:-pad].mean())
    return float(np.mean(values))


def frame_pair_scores(
    frames: Iterable[np.ndarray], references: Iterable[np.ndarray], on_progress: Callable | None = None
) -> dict[str, np.ndarray]:
    """PSNR and SSIM of each frame against the reference frame of the same index.

    The shorter sequence sets the length (the caller reports the counts). A reference of another
    size is resized to the frame's size (cv2 area/linear) so any two videos can be compared.

    Returns:
        {"PSNR": [F] float64 dB, "SSIM": [F] float64}.
    """
    import cv2

    out: dict[str, list[float]] = {"PSNR": [], "SSIM": []}
    for i, (frame, ref) in enumerate(zip(frames, references)):
        if ref.shape != frame.shape:
            ref = cv2.resize(ref, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_AREA)
        out["PSNR"].append(psnr(frame, ref))
        out["SSIM"].append(ssim(frame, ref))
        if on_progress:
            on_progress(i + 1, None)
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def image_features(frames: Iterable[np.ndarray], model, batch_size: int = 16, every: int = 1) -> np.ndarray:
    """Features of video frames from an image network (FID's Inception, or a tiny test network).

    Args:
        frames: iterable of [H, W, 3] uint8 RGB.
        model: torch module mapping [B, 3, H, W] float in [0, 1] to [B, D] (it resizes itself).
        every: keep every n-th frame (1 = all).

    Returns:
        [N, D] float64.
    """
    import torch

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    feats: list[np.ndarray] = []
    batch: list[np.ndarray] = []

    def flush() -> None:
        x = torch.from_numpy(np.stack(batch)).to(device).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            feats.append(model(x).reshape(len(batch), -1).double().cpu().numpy())
        batch.clear()

    for i, frame in enumerate(frames):
        if i % every == 0:
            batch.append(np.ascontiguousarray(frame[..., :3]))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if not feats:
        raise ValueError("no frames to compute features of")
    return np.concatenate(feats)


def compute_fid(features_generated: np.ndarray, features_reference: np.ndarray) -> float:
    """FID from two [N, D] feature sets (see :func:`image_features`)."""
    from emo2cli.metrics.frechet import frechet_distance_of_features

    return frechet_distance_of_features(features_generated, features_reference)
