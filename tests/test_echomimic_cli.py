"""``emo2 convert-weights echomimicv2``: refusals (exit 2 naming the file and key, nothing left), the
report, and the whole way to a video: convert tiny files, then ``gen-video --checkpoint``."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from emo2cli.video import echomimic as em
from emo2cli.video.convert import PROVENANCE_FILE
from tests.conftest import PORTRAIT, SPEECH
from tests.tiny import tiny_echomimic_components, tiny_whisper, write_echomimic_files, write_openai_whisper, write_wav


@pytest.fixture(scope="module")
def their_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("em") / "pretrained_weights"
    write_echomimic_files(folder, tiny_echomimic_components())
    return folder


@pytest.fixture
def src(their_files, tmp_path):
    copy = tmp_path / "pretrained_weights"
    shutil.copytree(their_files, copy)
    return copy


class Opaque:  # a class the weights-only unpickler must refuse
    pass


def _refused(result, *words):
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_converts_and_reports(run_cli, src, tmp_path):
    out = tmp_path / "converted"
    result = run_cli("convert-weights", "echomimicv2", src, "-o", out, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["variant"] == "standard" and report["dtype"] == "fp32"
    for part in ("unet", "reference_net", "guidance"):
        assert report["reports"][part]["missing"] == [] and report["reports"][part]["unexpected"] == []
    assert (out / "model_index.json").is_file() and (out / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    again = run_cli("convert-weights", "echomimicv2", src, "-o", out)
    _refused(again, str(out), "already exists")
    assert run_cli("convert-weights", "echomimicv2", src, "-o", out, "--force", "--dtype", "fp16", "-q").exit_code == 0
    assert json.loads((out / PROVENANCE_FILE).read_text())["dtype"] == "fp16"


def test_a_pth_that_needs_pickled_objects_is_refused(run_cli, src, tmp_path):
    torch.save({"conv_in.weight": torch.zeros(1), "extra": Opaque()}, src / em.FILES["pose"])
    out = tmp_path / "converted"
    _refused(run_cli("convert-weights", "echomimicv2", src, "-o", out), "pose_encoder.pth", "plain tensors", "Opaque")
    assert not out.exists() and not _leftovers(tmp_path)


def test_a_missing_file_is_named(run_cli, src, tmp_path):
    (src / em.FILES["motion"]).unlink()
    _refused(run_cli("convert-weights", "echomimicv2", src, "-o", tmp_path / "converted"), "motion_module.pth", "no such file")
    _refused(
        run_cli("convert-weights", "echomimicv2", tmp_path / "nowhere", "-o", tmp_path / "converted"), "nowhere", "no such folder"
    )
    assert not (tmp_path / "converted").exists()


def test_a_shape_mismatch_names_the_key(run_cli, src, tmp_path):
    state = torch.load(src / em.FILES["denoiser"], weights_only=True)
    key = next(k for k in state if k.endswith("attn1.to_q.weight"))
    state[key] = torch.zeros(state[key].shape[0] + 1, state[key].shape[1])
    torch.save(state, src / em.FILES["denoiser"])
    _refused(run_cli("convert-weights", "echomimicv2", src, "-o", tmp_path / "converted"), key, "has shape", "denoising_unet.pth")
    assert not (tmp_path / "converted").exists() and not _leftovers(tmp_path)


def test_a_missing_key_is_named_and_an_unused_key_is_reported(run_cli, src, their_files, tmp_path):
    state = torch.load(src / em.FILES["reference"], weights_only=True)
    key = next(k for k in state if k.endswith("attn1.to_k.weight"))
    del state[key]
    torch.save(state, src / em.FILES["reference"])
    _refused(run_cli("convert-weights", "echomimicv2", src, "-o", tmp_path / "converted"), key, "missing", "reference_unet.pth")
    shutil.copy(their_files / em.FILES["reference"], src / em.FILES["reference"])
    state = torch.load(src / em.FILES["denoiser"], weights_only=True)
    state["some_extra.weight"] = torch.zeros(2)
    torch.save(state, src / em.FILES["denoiser"])
    result = run_cli("convert-weights", "echomimicv2", src, "-o", tmp_path / "converted", "--json")
    assert result.exit_code == 0, result.stderr
    assert (
        json.loads(result.stdout)["reports"]["unet"]["unexpected"] == ["some_extra.weight"]
        and "some_extra.weight" in result.stderr
    )


def test_a_position_table_that_is_not_sinusoidal_is_refused(run_cli, src, tmp_path):
    state = torch.load(src / em.FILES["motion"], weights_only=True)
    key = next(k for k in state if k.endswith("pos_encoder.pe"))
    state[key] = state[key] * 2
    torch.save(state, src / em.FILES["motion"])
    _refused(run_cli("convert-weights", "echomimicv2", src, "-o", tmp_path / "converted"), key, "sinusoidal")


def test_convert_then_gen_video_makes_an_mp4(run_cli, src, tmp_path):
    """The whole way: their (tiny, random) files, Whisper included → convert-weights → gen-video --checkpoint
    with the bundled echomimicv2 preset at toy size. The video is noise: the weights are random."""
    import yaml

    from emo2cli.audio.load import load_audio
    from emo2cli.config import PRESETS_DIR
    from emo2cli.formats.video import probe_video

    write_openai_whisper(src / em.WHISPER_FILE, tiny_whisper())
    converted = tmp_path / "converted"
    assert run_cli("convert-weights", "echomimicv2", src, "-o", converted, "-q").exit_code == 0
    assert (converted / "whisper-tiny" / "config.json").is_file()
    speech = write_wav(tmp_path / "speech.wav", load_audio(SPEECH).samples[:16000], 16000)  # 1 s of the bundled speech
    preset = yaml.safe_load((PRESETS_DIR / "echomimicv2.yaml").read_text())
    preset["fps"] = 12.0
    preset["render"].update(height=32, width=32)
    preset["video"].update(steps=2, dtype="fp32")
    (tmp_path / "echomimicv2-tiny.yaml").write_text(yaml.safe_dump(preset))
    out = tmp_path / "talk.mp4"
    result = run_cli(
        "gen-video",
        PORTRAIT,
        speech,
        "--preset",
        tmp_path / "echomimicv2-tiny.yaml",
        "--checkpoint",
        converted,
        "-o",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    info = probe_video(out)
    assert (info.num_frames, info.height, info.width, info.has_audio) == (12, 32, 32, True)
    assert json.loads(result.stdout)[0]["backend"] == "diffusion"
    feats = json.loads((tmp_path / "talk.feats.json").read_text())
    assert feats["encoder"] == "whisper-tiny" and feats["num_frames"] == 12
    assert feats["extra"]["model"] == str(converted / "whisper-tiny")  # their Whisper, from the converted folder
    assert json.loads((tmp_path / "talk.handmaps.json").read_text())["style"] == "echomimicv2"
