"""The Fréchet distance between two Gaussians fitted to feature sets (FID, FVD, FGD, EFID).

``d² = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)`` (Dowson & Landau 1982; Heusel et al. 2017).

Adapted from the reference implementations (pytorch-fid ``fid_score.calculate_frechet_distance``,
EMAGE ``emage_evaltools/mertic.py::FGD``): covariances by ``np.cov(rowvar=False)`` (unbiased), the
matrix square root by ``scipy.linalg.sqrtm``; when the product is singular or the root is not
finite, ``eps · I`` is added to both covariances (pytorch-fid's fallback, eps = 1e-6); the real
part is taken (imaginary residue from round-off is checked to be small).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

logger = logging.getLogger(__name__)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set.

    Args:
        features: [N, D] samples (N ≥ 1). One sample gives a zero covariance.

    Returns:
        (mu [D] float64, sigma [D, D] float64).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"features must be [N, D] with N >= 1, got shape {x.shape}")
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False) if x.shape[0] > 1 else np.zeros((x.shape[1], x.shape[1]))
    return mu, np.atleast_2d(sigma)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: [D] means.
        sigma1, sigma2: [D, D] covariances.
        eps: diagonal offset used only when ``sqrtm(sigma1 @ sigma2)`` is singular or not finite.

    Returns:
        The squared Fréchet distance (as FID reports it), ≥ 0 up to round-off; clipped at 0.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are expected with few samples; handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        logger.debug("sqrtm of the covariance product is singular; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(covmean.imag)) if covmean.size else 0.0
        scale = max(1.0, float(np.max(np.abs(covmean.real))) if covmean.size else 1.0)
        if imag > 1e-3 * scale:
            logger.warning("Fréchet distance: imaginary part %.3g in sqrtm (ill-conditioned covariances)", imag)
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def frechet_distance_of_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two [N, D] feature sets (same D)."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))
