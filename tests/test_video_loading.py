"""Stage 2 references → pipelines: built-in sets, pipeline folders, EMO2 layers on an SD base + adapter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.tiny import tiny_video_inputs, tiny_video_pipeline


def _cfg(**kwargs):
    from emo2cli.config import VideoConfig

    return VideoConfig(device="cpu", clip_frames=4, motion_frames=2, **kwargs)


def test_find_stage2_tells_the_kinds_apart(tmp_path, monkeypatch):
    from emo2cli.errors import InputError, MissingPrerequisite
    from emo2cli.video.loading import find_stage2

    monkeypatch.delenv("EMO2_STAGE2", raising=False)
    assert find_stage2(_cfg(checkpoint="builtin:tiny-random")).kind == "builtin"
    with pytest.raises(InputError, match="builtin:tiny-random"):
        find_stage2(_cfg(checkpoint="builtin:huge-random"))
    with pytest.raises(MissingPrerequisite, match="video.checkpoint is empty"):
        find_stage2(_cfg())
    with pytest.raises(MissingPrerequisite, match="not_here"):
        find_stage2(_cfg(checkpoint=str(tmp_path / "not_here")))
    (tmp_path / "pipe").mkdir()
    (tmp_path / "pipe" / "model_index.json").write_text("{}")
    assert find_stage2(_cfg(checkpoint=str(tmp_path / "pipe"))).kind == "pipeline"
    (tmp_path / "layers" / "guidance").mkdir(parents=True)
    (tmp_path / "layers" / "guidance" / "config.json").write_text("{}")
    assert find_stage2(_cfg(checkpoint=str(tmp_path / "layers"))).kind == "layers"
    (tmp_path / "junk").mkdir()
    with pytest.raises(InputError, match="neither"):
        find_stage2(_cfg(checkpoint=str(tmp_path / "junk")))
    monkeypatch.setenv("EMO2_STAGE2", str(tmp_path / "pipe"))
    assert find_stage2(_cfg()).path == tmp_path / "pipe"


def test_pipeline_folder_loads_and_checks_the_audio_encoder(tmp_path):
    from emo2cli.errors import InputError
    from emo2cli.video.loading import load_pipeline

    pipe = tiny_video_pipeline()
    pipe.audio_proj.register_to_config(audio_encoder="mel")
    pipe.save_pretrained(tmp_path)
    loaded = load_pipeline(_cfg(checkpoint=str(tmp_path), sampler="dpm++"), audio_dim=8, audio_encoder="mel")
    assert type(loaded.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert loaded(**tiny_video_inputs(num_frames=4)).frames.shape == (4, 32, 32, 3)
    with pytest.raises(InputError, match="--encoder mel"):
        load_pipeline(_cfg(checkpoint=str(tmp_path)), audio_dim=8, audio_encoder="wav2vec2")
    with pytest.raises(InputError, match="8-d features, these are 5-d"):
        load_pipeline(_cfg(checkpoint=str(tmp_path)), audio_dim=5, audio_encoder="mel")


def test_emo2_layers_go_on_an_sd_base_and_a_motion_adapter(tmp_path):
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel

    from emo2cli.video.builtin import sd_scheduler_config, size_spec
    from emo2cli.video.guidance import MotionGuidanceEncoder
    from emo2cli.video.loading import load_pipeline

    spec = size_spec("tiny")
    torch.manual_seed(0)
    UNet2DConditionModel(**spec["unet2d"]).save_pretrained(tmp_path / "base" / "unet")
    AutoencoderKL(**spec["vae"]).save_pretrained(tmp_path / "base" / "vae")
    DDIMScheduler(**sd_scheduler_config()).save_pretrained(tmp_path / "base" / "scheduler")
    MotionAdapter(**spec["adapter"]).save_pretrained(tmp_path / "adapter")
    guidance = MotionGuidanceEncoder(**spec["guidance"])
    with torch.no_grad():
        guidance.embedding.conv_out.weight.normal_()  # as if trained
    guidance.save_pretrained(tmp_path / "layers" / "guidance")

    cfg = _cfg(checkpoint=str(tmp_path / "layers"), base_model=str(tmp_path / "base"), motion_adapter=str(tmp_path / "adapter"))
    pipe = load_pipeline(cfg, audio_dim=8, audio_encoder="mel")
    assert torch.equal(pipe.guidance.embedding.conv_out.weight, guidance.embedding.conv_out.weight)
    assert pipe.audio_proj.config.audio_encoder == "mel"  # fresh audio layers record their encoder
    assert all(torch.count_nonzero(layer.to_out.weight) == 0 for layer in pipe.audio_proj.layers)
    frames = pipe(**tiny_video_inputs(num_frames=4)).frames
    assert frames.shape == (4, 32, 32, 3) and np.isfinite(frames).all()

    from emo2cli.errors import MissingPrerequisite

    with pytest.raises(MissingPrerequisite, match="motion adapter"):
        load_pipeline(_cfg(checkpoint=str(tmp_path / "layers"), base_model=str(tmp_path / "base"), motion_adapter=str(tmp_path / "nope")), 8)
