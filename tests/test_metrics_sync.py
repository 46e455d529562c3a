import numpy as np
import pytest
import torch

from emo2cli.metrics import sync as S
from tests.conftest import PORTRAIT
from tests.tiny import TinyFaceEmbedder, small_portrait

# python_speech_features 0.6 mfcc(x, 16000) of the signal in test_mfcc_matches_python_speech_features,
# rows 0, 4 and 8 (computed once with that package; it is not a dependency)
PSF_ROWS = np.array([
    [19.0812, 21.286009, 5.850068, -8.690025, -21.166672, -28.098024, -25.994012, -17.473403, -5.095231, 5.469032, 11.371417, 10.260149, 4.096173],
    [18.818764, 16.539578, -1.063411, -16.390106, -27.909426, -32.711234, -28.122081, -17.810078, -4.453386, 6.285064, 12.665673, 12.318502, 7.446462],
    [19.023316, 22.654749, 3.929334, -14.267613, -27.016554, -29.579539, -20.435115, -6.268069, 7.006341, 13.577035, 13.588003, 8.388003, 2.380209],
])  # fmt: skip


def test_mfcc_matches_python_speech_features():
    t = np.arange(1600) / 16000.0
    x = (8000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1300 * t**1.5)).round()
    feats = S.mfcc(x)
    assert feats.shape == (9, 13)
    np.testing.assert_allclose(feats[[0, 4, 8]], PSF_ROWS, atol=1e-5)


def test_scores_from_a_known_distance_matrix():
    dists = np.full((50, 31), 10.0)
    dists[:, 15 + 3] = 4.0  # audio 3 frames after the video is closest
    scores = S.sync_scores(dists)
    assert scores == {"Sync-C": 6.0, "Sync-D": 4.0, "offset": -3}
    lip = torch.randn(6, 8)
    d = S.sync_distances(lip, lip)
    assert d.shape == (6, 31) and np.allclose(d[:, 15], 0, atol=1e-5) and S.sync_scores(d)["offset"] == 0


def test_sync_code_path_with_a_random_syncnet(tmp_path):
    torch.manual_seed(0)
    model = S.SyncNet().eval()
    torch.save(model.state_dict(), tmp_path / "syncnet_v2.model")
    loaded = S.load_syncnet(tmp_path / "syncnet_v2.model")
    frames = [small_portrait(PORTRAIT, (120, 96))] * 8
    samples = np.random.default_rng(0).normal(0, 0.1, 16000 * 8 // 25).astype(np.float32)
    out = S.lip_sync(loaded, frames, samples, TinyFaceEmbedder().detect)
    assert set(out) >= {"Sync-C", "Sync-D", "offset", "per_window_confidence"}
    assert out["Sync-C"] >= 0 and out["Sync-D"] > 0 and -15 <= out["offset"] <= 15
    assert len(out["per_window_confidence"]) == 3  # 8 frames → 3 windows of 5


def test_face_crops_follow_joonson_crop():
    frames = [np.zeros((100, 80, 3), np.uint8)] * 3
    boxes = np.array([[20, 20, 40, 40], [np.nan] * 4, [22, 20, 40, 40]], float)
    crops = S.face_crops(frames, boxes, size=32)
    assert crops.shape == (3, 32, 32, 3)
    with pytest.raises(ValueError, match="no face"):
        S.face_crops(frames, np.full((3, 4), np.nan))
