"""MotionDiT: shapes, conditioning, masking, zero init, audio K/V cache, save/load (tiny config, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emo2cli.motion.model import MotionDiT, MotionDiT_models, num_parameters
from tests.tiny import one_torch_thread, randomize_motion_dit, tiny_motion_dit


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def inputs(batch=2, frames=10, seed=0, audio_dim=16):
    g = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch, frames, 134, generator=g),
        "timestep": torch.randint(0, 1000, (batch,), generator=g),
        "style": torch.arange(batch) % 3,
        "speed": torch.rand(batch, generator=g) * 100,
        "offset": torch.randn(batch, 2, 3, generator=g) * 0.1,
        "num_context": 2,
        "audio": torch.randn(batch, frames, audio_dim, generator=g),
    }


@torch.no_grad()
def test_output_shape_and_dtype():
    model = randomize_motion_dit(tiny_motion_dit())
    out = model(**inputs())
    assert out.shape == (2, 10, 134) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@torch.no_grad()
def test_untrained_model_predicts_the_mean_and_ignores_audio():
    # zero-init final layer: x0 = 0 (the normalised mean); zero-init cross-attention output: audio has no effect
    model = tiny_motion_dit()
    x = inputs()
    assert torch.equal(model(**x), torch.zeros(2, 10, 134))
    for block in model.blocks:
        assert not block.attn2.to_out.weight.any() and not block.scale_shift_table[2].any() and not block.scale_shift_table[5].any()
    torch.nn.init.normal_(model.final_linear.weight, std=0.1)  # make the output visible
    a = model(**x)
    b = model(**{**x, "audio": torch.randn(2, 10, 16)})
    assert torch.equal(a, b)


@torch.no_grad()
@pytest.mark.parametrize("name", ["timestep", "style", "speed", "offset", "audio", "sample"])
def test_every_condition_changes_the_output(name):
    model = randomize_motion_dit(tiny_motion_dit())
    x = inputs()
    changed = dict(x)
    changed[name] = {"style": (x["style"] + 1) % 3, "timestep": (x["timestep"] + 300) % 1000}.get(name, x[name] + 1.0)
    assert not torch.allclose(model(**x), model(**changed), atol=1e-6)


@torch.no_grad()
def test_hand_mask_and_context_flags_are_embedded():
    model = randomize_motion_dit(tiny_motion_dit())
    x = inputs()
    full = model(**x)
    mask = torch.ones(2, 10, 2, dtype=torch.bool)
    assert torch.equal(model(**x, hand_mask=mask), full)  # None means all valid
    mask[:, 5:, 0] = False
    assert not torch.allclose(model(**x, hand_mask=mask), full)
    assert not torch.allclose(model(**{**x, "num_context": 3}), full)


@torch.no_grad()
def test_null_audio_and_audio_band():
    model = randomize_motion_dit(tiny_motion_dit())  # radius 2: frame t sees audio t-2 .. t+2
    x = inputs(frames=12)
    base = model(**x)
    assert not torch.allclose(model(**x, drop_audio=torch.tensor([True, False]))[0], base[0])
    late = x["audio"].clone()
    late[:, 9:] += 5.0  # audio of frames 9-11 changes ...
    out = model(**{**x, "audio": late})
    # ... which only frames 7-11 can hear in the cross-attention; earlier frames change only through self-attention
    assert not torch.allclose(out[:, 7:], base[:, 7:])
    band = model.audio_mask(12, 14, torch.device("cpu"))  # 2 frames of lookahead audio
    assert band.shape == (12, 14) and band[0, 2] and not band[0, 3] and band[11, 13] and not band[11, 8]
    longer = model(**{**x, "audio": torch.cat([x["audio"], torch.randn(2, 2, 16)], dim=1)})
    assert not torch.allclose(longer[:, 8:], base[:, 8:])  # frames 8-9 hear the lookahead audio 10-11


@torch.no_grad()
def test_cached_audio_keys_values_equal_the_direct_path():
    model = randomize_motion_dit(tiny_motion_dit())
    x = inputs()
    drop = torch.tensor([False, True])
    kv = model.encode_audio(x["audio"], drop)
    direct = model(**x, drop_audio=drop)
    cached = model(**{k: v for k, v in x.items() if k != "audio"}, audio_kv=kv)
    assert torch.equal(direct, cached)


@torch.no_grad()
def test_batch_of_two_equals_two_singles():
    model = randomize_motion_dit(tiny_motion_dit())
    x = inputs()
    both = model(**x)
    for i in range(2):
        single = model(**{k: (v[i : i + 1] if torch.is_tensor(v) else v) for k, v in x.items()})
        torch.testing.assert_close(single[0], both[i], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    stats = {"motion_mean": np.linspace(-1, 1, 134).tolist(), "motion_std": np.linspace(0.5, 2, 134).tolist(),
             "audio_mean": [0.5] * 16, "audio_std": [2.0] * 16, "style_speeds": {"talk": 77.0}}  # fmt: skip
    model = randomize_motion_dit(tiny_motion_dit(audio_encoder="mel", fps=30.0, **stats))
    model.save_pretrained(tmp_path)
    loaded = MotionDiT.from_pretrained(tmp_path)
    x = inputs()
    torch.testing.assert_close(loaded(**x), model(**x), atol=1e-5, rtol=0)
    assert loaded.config.audio_encoder == "mel" and loaded.config.fps == 30.0 and loaded.typical_speed("talk") == 77.0
    v = torch.randn(3, 134)
    torch.testing.assert_close(loaded.denormalize_motion(loaded.normalize_motion(v)), v)
    torch.testing.assert_close(loaded.normalize_motion(v), (v - torch.tensor(stats["motion_mean"])) / torch.tensor(stats["motion_std"]))


def test_size_table_and_style_lookup():
    assert set(MotionDiT_models) == {"tiny", "S", "B", "L"}
    with torch.device("meta"):
        large = MotionDiT_models["L"](audio_dim=768)
    assert (large.config.depth, large.config.hidden_size, large.config.num_heads) == (24, 512, 8)
    assert 90e6 < num_parameters(large) < 120e6
    model = tiny_motion_dit()
    assert model.style_index("sing") == 2
    with pytest.raises(ValueError, match="talk, lecture, sing"):
        model.style_index("rap")
