import numpy as np
import pytest

from emo2cli.metrics.frechet import frechet_distance, frechet_distance_of_features, gaussian_stats


def test_closed_form_for_two_gaussians():
    # For commuting covariances Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt(a) - sqrt(b))^2.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 0.5, 0.5, 1.0])
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)  # symmetric


def test_non_commuting_covariances_match_the_eigen_form():
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = m1 @ m1.T + np.eye(5), m2 @ m2.T + np.eye(5)
    # Tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1))) (symmetric, so eigh is exact)
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr = np.sqrt(np.linalg.eigvalsh(r1 @ s2 @ r1)).sum()
    expected = np.trace(s1) + np.trace(s2) - 2 * tr
    assert frechet_distance(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(expected, rel=1e-8)


def test_zero_for_a_set_against_itself_and_sample_statistics(rng):
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    assert frechet_distance_of_features(x, x) == pytest.approx(0.0, abs=1e-8)
    _mu, sigma = gaussian_stats(x)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False))
    # large samples of two known Gaussians approach the closed form (means differ by 2 in one dim)
    a = rng.normal(size=(20000, 3))
    b = rng.normal(size=(20000, 3)) + [2.0, 0, 0]
    assert frechet_distance_of_features(a, b) == pytest.approx(4.0, abs=0.1)


def test_singular_covariances_fall_back_to_eps():
    x = np.zeros((10, 3))
    x[:, 0] = np.arange(10)  # rank 1 covariance
    y = x + [0, 1.0, 0]
    assert frechet_distance_of_features(x, y) == pytest.approx(1.0, abs=1e-3)
