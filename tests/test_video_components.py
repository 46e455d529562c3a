"""Stage 2 components: zero-init identity, reference attention, audio windows, motion norm, positions."""

from __future__ import annotations

import pytest
import torch

from tests.tiny import TINY_VIDEO_AUDIO_DIM, tiny_video_components

FRAMES = 3


@pytest.fixture(scope="module")
def parts():
    return tiny_video_components(max_frames=8)


def _inputs(unet, seed=0, frames=FRAMES, rows=1):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(rows, 4, frames, 8, 8, generator=g)
    context = torch.randn(rows * frames, 2, unet.config.cross_attention_dim, generator=g)
    return sample, context


def _run(unet, sample, context, **kwargs):
    with torch.no_grad():
        return unet(sample, torch.tensor(500), encoder_hidden_states=context, return_dict=False, **kwargs)[0]


def test_guidance_and_audio_layers_are_identity_at_init_then_learn(parts):
    from emo2cli.video.attention import remove_stage2_processors, set_spatial_processors
    from emo2cli.video.audio_attention import AudioProjection, audio_attention_dims, audio_processors
    from emo2cli.video.guidance import ConvInResidual, MotionGuidanceEncoder

    unet = parts["unet"]
    remove_stage2_processors(unet)
    sample, context = _inputs(unet)
    base = _run(unet, sample, context)

    torch.manual_seed(1)
    audio_proj = AudioProjection(audio_dim=TINY_VIDEO_AUDIO_DIM, hidden_dim=16, token_dim=16, cross_attention_dim=16, null_context_tokens=2, attention_dims=audio_attention_dims(unet))
    guidance = MotionGuidanceEncoder(out_channels=16, block_out_channels=(8, 16))
    set_spatial_processors(unet, audio_processors(unet, audio_proj))
    slot = ConvInResidual(unet)
    feats = torch.randn(10, TINY_VIDEO_AUDIO_DIM)
    cond = torch.rand(FRAMES, guidance.in_channels, 16, 16)

    def forward():
        tokens = audio_proj(feats, torch.arange(FRAMES))
        with slot.added(guidance(cond)):
            return unet(sample, torch.tensor(500), encoder_hidden_states=context, cross_attention_kwargs={"audio_tokens": tokens}, return_dict=False)[0]

    with torch.no_grad():
        assert torch.equal(forward(), base)  # zero-initialised outputs: bit-identical
    params = list(audio_proj.parameters()) + list(guidance.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    target = torch.randn_like(base)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(forward(), target).backward()
        opt.step()
    with torch.no_grad():
        changed = (forward() - base).abs().max().item()
    assert changed > 1e-4
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in params)
    slot.remove()
    remove_stage2_processors(unet)
    assert torch.equal(_run(unet, sample, context), base)


def test_reference_attention_reads_the_reference_and_removal_restores_the_base(parts):
    from emo2cli.video.attention import remove_stage2_processors, set_spatial_processors
    from emo2cli.video.reference import reference_features, reference_readers, set_reference_writers

    unet, reference_net = parts["unet"], parts["reference_net"]
    remove_stage2_processors(unet)
    sample, context = _inputs(unet)
    base = _run(unet, sample, context)

    written = set_reference_writers(reference_net)
    set_spatial_processors(unet, reference_readers(unet, written))
    ref_context = context[:1]
    bank_a = reference_features(reference_net, torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3)), ref_context)
    bank_b = reference_features(reference_net, torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4)), ref_context)
    assert set(bank_a) == set(written) and all(v.ndim == 3 and v.shape[0] == 1 for v in bank_a.values())
    out_a = _run(unet, sample, context, cross_attention_kwargs={"reference_hidden_states": bank_a})
    out_b = _run(unet, sample, context, cross_attention_kwargs={"reference_hidden_states": bank_b})
    assert (out_a - out_b).abs().max() > 1e-4  # a different portrait gives a different output
    assert (out_a - base).abs().max() > 1e-4
    # reference_mask false = the unconditional half: plain self-attention
    off = _run(unet, sample, context, cross_attention_kwargs={"reference_hidden_states": bank_a, "reference_mask": torch.tensor([False])})
    torch.testing.assert_close(off, base, rtol=0, atol=1e-6)
    # a mixed batch: row 0 with reference, row 1 without, equals the two runs apart
    two = _run(unet, sample.repeat(2, 1, 1, 1, 1), context.repeat(2, 1, 1), cross_attention_kwargs={"reference_hidden_states": {k: v.expand(2, -1, -1) for k, v in bank_a.items()}, "reference_mask": torch.tensor([True, False])})
    torch.testing.assert_close(two[:1], out_a, rtol=0, atol=1e-5)
    torch.testing.assert_close(two[1:], base, rtol=0, atol=1e-5)
    remove_stage2_processors(unet)
    assert torch.equal(_run(unet, sample, context), base)


def test_reference_readers_refuse_a_mismatched_reference_net(parts):
    from diffusers import UNet2DConditionModel

    from emo2cli.video.reference import reference_readers, set_reference_writers

    other = UNet2DConditionModel(block_out_channels=(16,), layers_per_block=1, down_block_types=("CrossAttnDownBlock2D",), up_block_types=("CrossAttnUpBlock2D",), cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4)
    with pytest.raises(ValueError, match="different spatial attention"):
        reference_readers(parts["unet"], set_reference_writers(other))


def test_audio_tokens_see_exactly_their_window():
    from emo2cli.video.audio_attention import AudioProjection

    torch.manual_seed(0)
    proj = AudioProjection(audio_dim=4, window_radius=2, hidden_dim=8, token_dim=8, cross_attention_dim=8, null_context_tokens=1)
    feats = torch.randn(20, 4)
    frames = torch.tensor([-3, 0, 10, 19, 25])
    tokens = proj(feats, frames)
    assert tokens.shape == (5, 5, 8)
    rows = proj.window_rows(feats, frames)
    assert torch.equal(rows[0], feats[[0, 0, 0, 0, 0]])  # clamped before the start
    assert torch.equal(rows[2], feats[8:13])
    assert torch.equal(rows[4], feats[[19] * 5])
    moved = feats.clone()
    moved[13] += 5.0  # frame 10 sees 8..12 only
    assert torch.equal(proj(moved, torch.tensor([10])), tokens[2:3])
    moved[12] += 5.0
    assert not torch.equal(proj(moved, torch.tensor([10])), tokens[2:3])
    # [T, K, D] token tables flatten per frame
    proj3 = AudioProjection(audio_dim=12, window_radius=1, hidden_dim=8, token_dim=8, cross_attention_dim=8, null_context_tokens=1)
    assert proj3(torch.randn(6, 3, 4), torch.arange(6)).shape == (6, 3, 8)


def test_attn2_injection_has_no_layers_and_passes_rows():
    from emo2cli.video.audio_attention import AudioProjection

    proj = AudioProjection(audio_dim=4, window_radius=0, cross_attention_dim=4, null_context_tokens=1, injection="attn2")
    assert not hasattr(proj, "layers") and not proj.uses_audio_layers
    feats = torch.randn(7, 5, 4)  # e.g. 5 Whisper tokens x 4 per frame
    assert torch.equal(proj(feats, torch.arange(7)), feats)
    with pytest.raises(ValueError, match="injection"):
        AudioProjection(injection="text")


def test_guidance_reaches_latent_resolution_and_starts_at_zero():
    import numpy as np

    from emo2cli.video.guidance import MotionGuidanceEncoder, guidance_input

    enc = MotionGuidanceEncoder()  # EchoMimicV2's pose-encoder widths, + the body channel
    assert enc.downsample_factor == 8 and enc.in_channels == 4
    maps = np.zeros((2, 64, 48, 3), np.uint8)
    maps[:, 10:20, 10:20] = 255
    body = np.ones((64, 48), np.float32)
    x = guidance_input(maps, body, body_channel=True)
    assert x.shape == (2, 4, 64, 48) and x[:, 3].min() == 1.0 and x[:, :3].max() == 1.0
    out = enc(x)
    assert out.shape == (2, 320, 8, 6) and torch.count_nonzero(out) == 0
    assert guidance_input(maps, None, body_channel=False).shape == (2, 3, 64, 48)
    keys = set(enc.state_dict())
    assert {"embedding.conv_in.weight", "embedding.blocks.5.weight", "embedding.conv_out.weight"} <= keys


def test_per_frame_motion_norm_normalises_each_frame(parts):
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D

    from emo2cli.video.denoiser import FrameGroupNorm, set_motion_norm

    norm = torch.nn.GroupNorm(2, 4)
    framed = FrameGroupNorm(2, 4)
    framed.load_state_dict(norm.state_dict())
    x = torch.randn(2, 4, 3, 5, 5) * torch.arange(1, 4).view(1, 1, 3, 1, 1)
    want = torch.stack([norm(x[:, :, f]) for f in range(3)], dim=2)
    torch.testing.assert_close(framed(x), want)
    assert not torch.allclose(norm(x), want, atol=1e-3)  # the joint norm is a real difference

    unet = parts["unet"]
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    sample, context = _inputs(unet)
    joint = _run(unet, sample, context)
    set_motion_norm(unet, "per_frame")
    assert all(isinstance(m.norm, FrameGroupNorm) for m in unet.modules() if isinstance(m, AnimateDiffTransformer3D))
    assert unet.state_dict().keys() == state.keys()
    assert (_run(unet, sample, context) - joint).abs().max() > 1e-5
    set_motion_norm(unet, "joint")
    assert torch.equal(_run(unet, sample, context), joint)


def test_motion_positions_extend_without_changing_the_first_rows(parts):
    from diffusers.models.embeddings import SinusoidalPositionalEmbedding

    from emo2cli.video.denoiser import extend_motion_positions

    unet = parts["unet"]
    before = [m.pe.clone() for m in unet.modules() if isinstance(m, SinusoidalPositionalEmbedding)]
    extend_motion_positions(unet, 40)
    after = [m.pe for m in unet.modules() if isinstance(m, SinusoidalPositionalEmbedding)]
    assert before and all(a.shape[1] == 40 and torch.equal(a[:, :32], b[:, :32]) for a, b in zip(after, before))
    assert unet.config.motion_max_seq_length == 40
    sample, context = _inputs(unet, frames=36)
    assert _run(unet, sample, context).shape == sample.shape
