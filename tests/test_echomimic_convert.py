"""convert-weights echomimicv2: their layout made from tiny components, converted back, compared.

No real EchoMimicV2 file exists here: the tests run the key mapping backwards on tiny diffusers
components in their architecture (tests/tiny.py), write their four ``.pth`` files, convert them,
and check that the converted pipeline computes what the original components compute.
"""

from __future__ import annotations

import copy
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emo2cli.video import echomimic as em
from emo2cli.video.convert import NOTICE_FILE, PROVENANCE_FILE, convert_echomimicv2
from emo2cli.video.pipeline import EMO2VideoPipeline
from emo2cli.video.reference import reference_features
from tests.tiny import tiny_echomimic_components, tiny_video_inputs, write_echomimic_files


@pytest.fixture(scope="module")
def em_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("echomimic")
    components = tiny_echomimic_components()
    files = write_echomimic_files(root / "src", components)
    result = convert_echomimicv2(root / "src", root / "out")
    original = EMO2VideoPipeline(**components, motion_norm="per_frame", pose_in_uncond=False)
    converted = EMO2VideoPipeline.from_pretrained(root / "out")
    for pipe in (original, converted):
        pipe.set_progress_bar_config(disable=True)
    return SimpleNamespace(root=root, files=files, result=result, original=original, converted=converted)


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


# ---------------------------------------------------------------------------------------------
# The mapping
# ---------------------------------------------------------------------------------------------


def test_their_layout_has_their_names(em_set):
    motion, denoiser = em_set.files[em.FILES["motion"]], em_set.files[em.FILES["denoiser"]]
    assert all(".temporal_transformer." in k for k in motion)
    assert not any(".attn1." in k or ".norm1." in k or ".norm3." in k for k in motion)
    assert any(".attention_blocks.1.to_v.weight" in k for k in motion) and any(k.endswith(".ff_norm.weight") for k in motion)
    pe = [k for k in motion if k.endswith(".pos_encoder.pe")]
    assert len(pe) == 2 * sum(k.endswith("attention_blocks.0.to_q.weight") for k in motion)  # one table per attention block
    assert all(motion[k].shape[:2] == (1, 32) for k in pe)
    assert not any(em.is_motion_key(k) for k in denoiser)
    reference = em_set.files[em.FILES["reference"]]
    assert not any(".attn2." in k or ".transformer_blocks.0.norm2." in k or k.startswith("conv_out") for k in reference)
    assert any(".resnets.0.norm2." in k for k in reference)  # the resnets' norm2 is not the transformer's


def test_motion_keys_map_both_ways():
    for theirs, ours in [
        ("down_blocks.0.motion_modules.1.temporal_transformer.transformer_blocks.0.attention_blocks.1.to_out.0.bias",
         "down_blocks.0.motion_modules.1.transformer_blocks.0.attn2.to_out.0.bias"),
        ("mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.norms.0.weight",
         "mid_block.motion_modules.0.transformer_blocks.0.norm1.weight"),
        ("up_blocks.3.motion_modules.2.temporal_transformer.transformer_blocks.0.ff_norm.bias",
         "up_blocks.3.motion_modules.2.transformer_blocks.0.norm3.bias"),
        ("up_blocks.3.motion_modules.2.temporal_transformer.proj_in.weight", "up_blocks.3.motion_modules.2.proj_in.weight"),
    ]:  # fmt: skip
        assert em.motion_key_to_diffusers(theirs) == ours
        assert em.motion_key_to_echomimic(ours) == theirs
    assert (
        em.motion_key_to_diffusers(
            "down_blocks.0.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.pos_encoder.pe"
        )
        is None
    )


def test_conversion_reports_no_missing_or_unexpected_keys(em_set):
    reports = em_set.result.reports
    assert all(not r.missing and not r.unexpected and not r.mismatched for r in reports.values())
    assert reports["unet"].filled and all(k.endswith(".pos_embed.pe") for k in reports["unet"].filled)
    assert reports["reference_net"].filled and all(em.is_reference_absent(k) for k in reports["reference_net"].filled)
    assert reports["guidance"].loaded == len(em_set.files[em.FILES["pose"]]) and not reports["guidance"].filled
    conv, orig = em_set.converted, em_set.original
    assert _max_diff(conv.unet.state_dict(), orig.unet.state_dict()) < 1e-6  # x3 / 3 in float32
    assert _max_diff(conv.reference_net.state_dict(), orig.reference_net.state_dict()) == 0
    assert _max_diff(conv.guidance.state_dict(), orig.guidance.state_dict()) == 0
    assert conv.config.motion_norm == "per_frame" and conv.config.pose_in_uncond is False
    assert conv.audio_proj.config.audio_encoder == "whisper-tiny"
    assert conv.scheduler.config.prediction_type == "v_prediction" and conv.scheduler.config.rescale_betas_zero_snr


def test_provenance_and_licence_notice(em_set):
    record = json.loads((em_set.root / "out" / PROVENANCE_FILE).read_text())
    assert record["format"] == "emo2.converted_weights/1" and record["preset"] == "echomimicv2"
    assert record["sources"]["denoiser"]["file"] == "denoising_unet.pth" and len(record["sources"]["pose"]["sha256"]) == 64
    assert record["audio_output_scale_folded"] == 3.0 and "OpenRAIL-M" in record["licence"]
    notice = (em_set.root / "out" / NOTICE_FILE).read_text()
    assert "Apache-2.0" in notice and "no licence" in notice and "OpenRAIL-M" in notice and "Do not redistribute" in notice


# ---------------------------------------------------------------------------------------------
# Numerical equivalences
# ---------------------------------------------------------------------------------------------


def test_folding_the_audio_scale_equals_scaling_the_output(em_set):
    from diffusers.models.attention_processor import AttnProcessor2_0

    unet = em_set.original.unet
    name = next(k for k in dict(unet.named_modules()) if k.endswith("attentions.0.transformer_blocks.0.attn2"))
    attn = copy.deepcopy(dict(unet.named_modules())[name])
    attn.set_processor(AttnProcessor2_0())
    g = torch.Generator().manual_seed(0)
    hidden, tokens = torch.randn(3, 10, attn.to_q.in_features, generator=g), torch.randn(3, 50, 16, generator=g)
    with torch.no_grad():
        plain = attn(hidden, encoder_hidden_states=tokens)
        for p in (attn.to_out[0].weight, attn.to_out[0].bias):
            p.copy_(em.fold_audio_scale(p))
        folded = attn(hidden, encoder_hidden_states=tokens)
    torch.testing.assert_close(folded, 3.0 * plain, atol=1e-5, rtol=1e-5)


def test_a_zero_cross_attention_equals_none(em_set):
    from diffusers.models.attention import BasicTransformerBlock

    reference_net = copy.deepcopy(em_set.converted.reference_net)  # carries the writer processors
    without = copy.deepcopy(em_set.converted.reference_net)
    for block in without.modules():
        if isinstance(block, BasicTransformerBlock):
            block.attn2, block.norm2 = None, None  # their ReferenceNet's blocks
    outputs = []
    for block in reference_net.modules():
        if isinstance(block, BasicTransformerBlock):
            block.attn2.register_forward_hook(lambda module, args, out: outputs.append(out))
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    context = em_set.converted.audio_proj.null_text_context(1) + 1.0  # any context: the branch adds exactly zero
    ours, theirs = reference_features(reference_net, latent, context), reference_features(without, latent, context)
    assert len(outputs) == 4 and all(not o.any() for o in outputs)
    assert ours.keys() == theirs.keys()
    for key in ours:  # equal up to float noise (copies of mmap-loaded weights may take other SIMD paths)
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-5, rtol=0)


def _unet_output(pipe, seed: int = 0) -> torch.Tensor:
    """One CFG-batched denoiser call with reference, audio rows and the pose residual, as the pipeline makes it."""
    g = torch.Generator().manual_seed(seed)
    frames = 5
    bank = reference_features(pipe.reference_net, torch.randn(1, 4, 8, 8, generator=g), pipe.audio_proj.null_text_context(1))
    sample = torch.randn(2, 4, frames, 8, 8, generator=g)
    audio = torch.randn(frames, 7, 16, generator=g)
    maps = torch.rand(frames, 3, 16, 16, generator=g)
    kwargs = {
        "reference_hidden_states": {k: v.expand(2, -1, -1) for k, v in bank.items()},
        "reference_mask": torch.tensor([True, False]),
    }
    with torch.no_grad(), pipe.conv_in_residual.added(pipe.guidance(maps).repeat(2, 1, 1, 1)):
        return pipe.unet(
            sample,
            torch.tensor(600),
            encoder_hidden_states=torch.cat([audio, torch.zeros_like(audio)]),
            cross_attention_kwargs=kwargs,
        ).sample


def test_converted_pipeline_computes_what_the_original_components_compute(em_set):
    diff = float((_unet_output(em_set.converted) - _unet_output(em_set.original)).abs().max())
    assert diff < 1e-5, diff
    inputs = tiny_video_inputs(num_frames=4, size=32)
    inputs.update(
        audio_features=np.random.default_rng(0).normal(size=(4, 7, 16)).astype(np.float32),
        guidance_audio=2.5,
        guidance_reference=2.5,
    )
    frames = [
        pipe(**{**inputs, "generator": torch.Generator().manual_seed(0)}).frames for pipe in (em_set.converted, em_set.original)
    ]
    assert frames[0].shape == (4, 32, 32, 3)
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).max() <= 1


def test_the_acc_files_convert_with_acc(em_set, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(em_set.root / "src", src)
    for part in ("denoiser", "motion"):
        (src / em.FILES[part]).rename(src / em.ACC_FILES[part])
    result = convert_echomimicv2(src, tmp_path / "acc", acc=True)
    assert result.variant == "acc" and json.loads((tmp_path / "acc" / PROVENANCE_FILE).read_text())["preset"] == "echomimicv2-acc"
    with pytest.raises(Exception, match="denoising_unet.pth: no such file"):
        convert_echomimicv2(src, tmp_path / "standard")
    assert not (tmp_path / "standard").exists()


def test_at_full_size_the_layout_has_the_key_counts_of_their_files():
    """SD-1.5 + AnimateDiff-v2 sizes on the meta device: the four files' key and parameter counts that
    their code implies (686 / 588 with 42 position tables / 570 / 16 keys; 849.9M / 454.4M / 815.5M /
    1.09M parameters, the published file sizes at fp16)."""
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from emo2cli.video.builtin import _TABLE
    from emo2cli.video.guidance import MotionGuidanceEncoder

    config = {**_TABLE["sd15"]["unet2d"], "cross_attention_dim": 384}
    with torch.device("meta"):
        adapter = MotionAdapter(
            block_out_channels=(320, 640, 1280, 1280), motion_layers_per_block=2, motion_num_attention_heads=em.MOTION_HEADS,
            motion_max_seq_length=32, use_motion_mid_block=True,
        )  # fmt: skip
        unet = UNetMotionModel.from_unet2d(UNet2DConditionModel(**config), adapter, load_weights=False)
        files = em.echomimic_layout(unet, UNet2DConditionModel(**config), MotionGuidanceEncoder(out_channels=320, body_map=False))
    counts = {name: (len(state), round(sum(t.numel() for t in state.values()) / 1e6, 1)) for name, state in files.items()}
    assert counts == {
        "denoising_unet.pth": (686, 849.9), "motion_module.pth": (588, 454.4), "reference_unet.pth": (570, 815.5), "pose_encoder.pth": (16, 1.1),
    }  # fmt: skip
    assert sum(k.endswith("pos_encoder.pe") for k in files["motion_module.pth"]) == 42


def test_their_whisper_checkpoint_becomes_a_transformers_folder(em_set, tmp_path):
    from transformers import WhisperModel

    from emo2cli.audio.whisper import encoder_states
    from emo2cli.video.convert import WHISPER_FOLDER
    from tests.tiny import tiny_whisper, write_openai_whisper

    src = tmp_path / "src"
    shutil.copytree(em_set.root / "src", src)
    original = tiny_whisper(seed=3)
    write_openai_whisper(src / em.WHISPER_FILE, original)
    result = convert_echomimicv2(src, tmp_path / "out")
    assert result.whisper == tmp_path / "out" / WHISPER_FOLDER
    report = result.reports["whisper"]
    assert not report.missing and not report.unexpected and report.loaded == len(original.state_dict())
    loaded = WhisperModel.from_pretrained(result.whisper).eval()
    mel = torch.randn(80, 3000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(encoder_states(loaded.get_encoder(), mel), encoder_states(original.get_encoder(), mel))
    assert json.loads((tmp_path / "out" / PROVENANCE_FILE).read_text())["sources"]["whisper"]["file"] == em.WHISPER_FILE


def test_precedence_is_base_then_motion_module_then_denoiser(em_set, tmp_path):
    from diffusers import UNet2DConditionModel, UNetMotionModel

    src = tmp_path / "src"
    shutil.copytree(em_set.root / "src", src)
    denoiser = torch.load(src / em.FILES["denoiser"], weights_only=True)
    motion = torch.load(src / em.FILES["motion"], weights_only=True)
    del denoiser["conv_in.weight"]  # absent from their files: the base UNet's weight fills it
    key = next(k for k in motion if k.endswith("temporal_transformer.proj_in.bias"))
    denoiser[key] = motion[key] + 1.0  # in both files: the denoiser's wins
    torch.save(denoiser, src / em.FILES["denoiser"])
    base = UNet2DConditionModel.from_config(em_set.original.reference_net.config)
    with torch.no_grad():
        base.conv_in.weight.fill_(7.0)
    base.save_pretrained(tmp_path / "base" / "unet")
    result = convert_echomimicv2(src, tmp_path / "out", base_unet=tmp_path / "base")
    assert result.reports["unet"].from_base == 1
    unet = UNetMotionModel.from_pretrained(tmp_path / "out" / "unet")
    assert bool((unet.conv_in.weight == 7.0).all())
    torch.testing.assert_close(unet.state_dict()[em.motion_key_to_diffusers(key)], motion[key] + 1.0)
    with pytest.raises(Exception, match="conv_in.weight' is missing"):
        convert_echomimicv2(src, tmp_path / "no-base")  # the tiny base config sits in src, without weights


def test_a_preset_other_than_theirs_is_warned_about(em_set):
    from emo2cli.config import load_preset
    from emo2cli.video.convert import recipe_warnings

    lines = recipe_warnings(em_set.root / "out", load_preset("default"))
    assert len(lines) == 2 and all("use --preset echomimicv2" in line for line in lines)
    assert recipe_warnings(em_set.root / "out", load_preset("echomimicv2")) == []
    assert recipe_warnings(em_set.root / "src", load_preset("default")) == []  # not a converted folder
