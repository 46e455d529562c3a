import numpy as np
import pytest
import torch

from tests.conftest import PORTRAIT, PORTRAIT_MAN
from tests.tiny import small_portrait, tiny_image_feature_net


@pytest.fixture(scope="module")
def images():
    a = small_portrait(PORTRAIT, (96, 80))
    b = small_portrait(PORTRAIT_MAN, (96, 80))
    rng = np.random.default_rng(0)
    noisy = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    return a, b, noisy


def test_psnr_ssim_match_scikit_image(images):
    skm = pytest.importorskip("skimage.metrics")
    from emo2cli.metrics.image import psnr, ssim

    a, b, noisy = images
    for x, y in ((noisy, a), (b, a), (a[..., 0], noisy[..., 0])):
        ref = skm.structural_similarity(
            x,
            y,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1 if x.ndim == 3 else None,
        )
        assert ssim(x, y) == pytest.approx(ref, abs=1e-4)
        assert psnr(x, y) == pytest.approx(skm.peak_signal_noise_ratio(y, x, data_range=255), abs=1e-4)
    assert ssim(a, a) == pytest.approx(1.0) and psnr(a, a) == 100.0
    assert ssim(noisy, a) < 0.95 and 20 < psnr(noisy, a) < 35


def test_frame_pair_scores_resizes_the_reference(images):
    from emo2cli.metrics.image import frame_pair_scores

    a, _, noisy = images
    big = np.repeat(np.repeat(a, 2, 0), 2, 1)
    scores = frame_pair_scores([a, noisy], [big, big])
    assert scores["PSNR"].shape == (2,) and scores["PSNR"][0] > 35 and scores["PSNR"][1] < scores["PSNR"][0]


def test_fid_code_path_with_a_tiny_network(images):
    from emo2cli.metrics.image import compute_fid, image_features

    a, b, noisy = images
    net = tiny_image_feature_net()
    fa = image_features([a] * 3 + [noisy] * 3, net, batch_size=4)
    fb = image_features([b] * 3 + [noisy] * 3, net)
    assert fa.shape == (6, 8)
    assert compute_fid(fa, fa) == pytest.approx(0.0, abs=1e-9)
    assert compute_fid(fa, fb) > 0


def test_fid_inception_loads_its_own_state_dict(tmp_path):
    from emo2cli.errors import InputError
    from emo2cli.metrics.inception import FIDInceptionV3, load_fid_inception

    torch.manual_seed(0)
    model = FIDInceptionV3().eval()
    state = model.state_dict()
    state["fc.weight"] = torch.zeros(2, 2)  # pytorch-fid's file also holds the classifier (ignored)
    torch.save(state, tmp_path / "pt_inception.pth")
    loaded = load_fid_inception(tmp_path / "pt_inception.pth")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    loaded.resize_input = False  # 80 px instead of 299: the same layers, 14x cheaper
    with torch.no_grad():
        assert loaded(torch.rand(1, 3, 80, 80)).shape == (1, 2048)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="keys missing"):
        load_fid_inception(tmp_path / "other.pth")
