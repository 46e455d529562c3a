"""MotionPipeline: windows with context, CFG, samplers, determinism, batching, save/load (tiny DiT, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emo2cli.motion.pipeline import MotionPipeline, make_sampler, rest_vector, training_scheduler
from tests.tiny import one_torch_thread, randomize_motion_dit, tiny_motion_dit


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def tiny_pipeline(sampler="ddim", seed=0):
    pipe = MotionPipeline(randomize_motion_dit(tiny_motion_dit(), seed, std=0.05), training_scheduler())
    pipe.scheduler = make_sampler(sampler, pipe.scheduler.config)
    return pipe


def audio(frames=20, batch=1, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, frames, 16)).astype(np.float32)


def run(pipe, feats, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 3)
    return pipe(feats, generator=torch.Generator().manual_seed(seed), **kwargs).motion


@pytest.mark.parametrize("sampler", ["ddim", "dpm++"])
def test_shape_dtype_and_same_seed_same_output(sampler):
    pipe = tiny_pipeline(sampler)
    a = run(pipe, audio(19))
    assert a.shape == (1, 19, 134) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, run(pipe, audio(19)))  # bitwise
    assert not np.allclose(a, run(pipe, audio(19), seed=1))


def test_batch_of_two_equals_two_singles():
    pipe = tiny_pipeline()
    feats = audio(20, batch=2)
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    both = pipe(feats, num_inference_steps=3, generator=gens, style=["talk", "sing"], speed=[10.0, None]).motion
    for i, (seed, style, speed) in enumerate([(3, "talk", 10.0), (4, "sing", None)]):
        single = run(pipe, feats[i : i + 1], seed=seed, style=style, speed=speed)
        np.testing.assert_allclose(single[0], both[i], atol=1e-5)


def test_guidance_one_is_the_conditional_path():
    pipe = tiny_pipeline()
    feats = audio()
    base = run(pipe, feats, guidance_scale=1.0)
    with torch.no_grad():
        pipe.transformer.null_audio.add_(3.0)  # the unconditional branch would see this
    assert np.array_equal(run(pipe, feats, guidance_scale=1.0), base)
    assert not np.allclose(run(pipe, feats, guidance_scale=2.0), base, atol=1e-4)


def test_batched_guidance_pair_matches_its_formula():
    pipe = tiny_pipeline()
    model = pipe.transformer
    feats = torch.as_tensor(audio(10))  # one window: C = 2 rest frames + N = 8
    ctx = model.normalize_motion(torch.as_tensor(rest_vector())).expand(1, 2, 134)
    x = torch.cat([ctx, torch.randn(1, 8, 134)], dim=1)
    cond = {"style": torch.tensor([0]), "speed": torch.tensor([40.0]), "offset": torch.zeros(1, 2, 3), "num_context": 2}
    padded = torch.cat([feats[:, :1].expand(1, 2, 16), feats[:, :8]], dim=1)
    with torch.no_grad():
        c = model(x, torch.tensor([500]), audio=padded, **cond)
        u = model(x, torch.tensor([500]), audio=padded, drop_audio=torch.tensor([True]), **cond)
        kv = model.encode_audio(torch.cat([padded] * 2), torch.tensor([False, True]))
        pair = model(torch.cat([x, x]), torch.tensor([500]), audio_kv=kv, **{k: (v.repeat(2, *[1] * (v.ndim - 1)) if torch.is_tensor(v) else v) for k, v in cond.items()})
    torch.testing.assert_close(pair[:1], c, atol=1e-5, rtol=0)
    torch.testing.assert_close(pair[1:], u, atol=1e-5, rtol=0)


def test_init_motion_and_offset_and_style_change_the_result():
    pipe = tiny_pipeline()
    feats = audio()
    base = run(pipe, feats)
    init = rest_vector()[None, None].repeat(5, 1) + 0.05
    assert not np.allclose(run(pipe, feats, init_motion=init), base)
    assert not np.allclose(run(pipe, feats, offset=np.full((2, 3), 0.2)), base)
    assert not np.allclose(run(pipe, feats, style="lecture"), base)


def test_windows_carry_their_last_frames_as_clean_context():
    """Every window's context is exactly the previous window's last C outputs (normalised), and the
    first window's is the rest pose; 30 frames at N = 8 is 4 windows."""
    pipe = tiny_pipeline()
    model = pipe.transformer
    seen = []
    forward = model.forward

    def spy(sample, *args, **kwargs):  # records the clean context rows of every call
        seen.append(sample[:, : kwargs.get("num_context", args[4] if len(args) > 4 else None)].clone())
        return forward(sample, *args, **kwargs)

    model.forward = spy  # test-only spy, restored below
    try:
        out = run(pipe, audio(30), num_inference_steps=2)
    finally:
        del model.forward
    contexts = seen[::2]  # 2 steps per window: one context per window
    assert len(contexts) == 4
    rest = model.normalize_motion(torch.as_tensor(rest_vector()))
    torch.testing.assert_close(contexts[0][0], rest.expand(2, 134))
    normalised = model.normalize_motion(torch.as_tensor(out[0]))
    for w in range(1, 4):
        torch.testing.assert_close(contexts[w][0], normalised[w * 8 - 2 : w * 8], atol=1e-5, rtol=0)


def test_save_load_pipeline_round_trip(tmp_path):
    pipe = tiny_pipeline()
    pipe.scheduler = training_scheduler()
    pipe.save_pretrained(tmp_path)
    loaded = MotionPipeline.from_pretrained(tmp_path)
    assert (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").is_file()
    for p in (pipe, loaded):
        p.scheduler = make_sampler("dpm++", p.scheduler.config)
    np.testing.assert_allclose(run(loaded, audio()), run(pipe, audio()), atol=1e-5)


def test_bad_audio_width_is_refused():
    with pytest.raises(ValueError, match=r"\[B, T, 16\]"):
        run(tiny_pipeline(), np.zeros((1, 10, 8), np.float32))
