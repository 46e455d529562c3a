"""train-video on the tiny random Stage 2: what each phase trains, the loss, checkpoints and resuming."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from emo2cli.errors import InputError, MissingPrerequisite
from tests.conftest import random_hands
from tests.tiny import tiny_train_preset, torch_threads, write_talking_video


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A prepared folder: two 12-frame videos at 32 x 32, clips of 6 frames (2 motion + 4 new); and its preset."""
    from emo2cli.config import load_preset
    from emo2cli.formats.hands import write_hands
    from emo2cli.video.data import prepare_video, write_manifest

    root = tmp_path_factory.mktemp("trainvideo")
    preset = load_preset(str(tiny_train_preset(root)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "mediapipe", None)  # centred placement, no body map: fast
        for i, name in enumerate(("alpha", "beta")):
            write_talking_video(root / f"{name}.mp4", 12)
            hands = random_hands(12, seed=i)
            hands.mask[:] = True
            write_hands(hands, root / f"{name}.hands.npz")
            prepare_video(root / f"{name}.mp4", root / "data", preset, hands_from=root)
    write_manifest(root / "data")
    return root / "data", preset


def make_trainer(dataset, phase, **overrides):
    from accelerate import Accelerator

    from emo2cli.video.clips import read_manifest
    from emo2cli.video.train import TrainVideoConfig, VideoTrainer, load_initial_pipeline

    data, preset = dataset
    cfg = TrainVideoConfig(str(data), "unused", phase=phase, batch_size=2, workers=0, **overrides)
    clip = read_manifest(data)[0]
    pipe = load_initial_pipeline(cfg, preset, clip.audio_dim, clip.audio_encoder)
    return VideoTrainer(pipe, cfg, preset, Accelerator(cpu=True))


def a_batch(trainer, phase, seed=0):
    from torch.utils.data import default_collate

    from emo2cli.video.clips import ClipSamples, read_manifest

    data = trainer.cfg.data_dir
    frames = 1 if phase == "image" else trainer.preset.video.motion_frames + trainer.preset.video.clip_frames
    samples = ClipSamples(data, read_manifest(data), frames, trainer.pipe.audio_proj.config.window_radius, seed)
    return default_collate([samples[i] for i in range(2)])


def snapshot(pipe) -> dict[str, torch.Tensor]:
    return {
        f"{c}.{n}": p.detach().clone()
        for c in ("vae", "unet", "reference_net", "guidance", "audio_proj")
        for n, p in getattr(pipe, c).named_parameters()
    }


def changed(before: dict, pipe) -> set[str]:
    after = snapshot(pipe)
    return {k for k in before if not torch.equal(before[k], after[k])}


def fixed_noise(monkeypatch):
    """Every step draws the same timesteps, noise and dropout: a repeated batch is then a fixed regression target."""
    from emo2cli.video import train

    monkeypatch.setattr(train, "step_generator", lambda seed, rank, step, micro=0: torch.Generator().manual_seed(1))


@pytest.mark.parametrize("phase", ["image", "video"])
def test_loss_is_finite_and_falls_on_a_repeated_batch(dataset, phase, monkeypatch):
    fixed_noise(monkeypatch)
    trainer = make_trainer(dataset, phase, lr=2e-3, drop_reference=0.0, drop_audio=0.0, first_clip=0.0)
    batch = a_batch(trainer, phase)
    losses = [trainer.train_step([batch]) for _ in range(6)]
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < (0.8 if phase == "image" else 0.9) * losses[0], losses  # the video phase trains fewer layers
    assert trainer.step == 6


def test_image_phase_trains_reference_guidance_and_spatial_layers_only(dataset):
    trainer = make_trainer(dataset, "image", lr=1e-3, drop_reference=0.0)
    before = snapshot(trainer.pipe)
    trainer.train_step([a_batch(trainer, "image")])
    moved = changed(before, trainer.pipe)
    assert any(k.startswith("reference_net.") for k in moved)
    assert any(k.startswith("guidance.") for k in moved)
    assert any(k.startswith("unet.") and "motion_modules" not in k for k in moved)
    assert "audio_proj.null_context" in moved
    assert not [k for k in moved if "motion_modules" in k or k.startswith(("vae.", "audio_proj.layers", "audio_proj.proj"))]


def test_video_phase_leaves_frozen_modules_bit_identical(dataset):
    trainer = make_trainer(dataset, "video", lr=1e-3)
    before = snapshot(trainer.pipe)
    for seed in range(2):
        trainer.train_step([a_batch(trainer, "video", seed)])
    moved = changed(before, trainer.pipe)
    frozen = [
        k
        for k in before
        if k.startswith(("vae.", "reference_net.", "guidance.")) or (k.startswith("unet.") and "motion_modules" not in k)
    ]
    assert not moved & set(frozen + ["audio_proj.null_context"])
    assert any("motion_modules" in k for k in moved)
    assert any(k.startswith("audio_proj.layers") for k in moved)  # the zero-initialised audio output projections


def test_motion_modules_are_bypassed_only_in_the_image_phase(dataset):
    from emo2cli.video.train import motion_modules_bypassed

    trainer = make_trainer(dataset, "image")
    unet = trainer.pipe.unet
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "motion_modules" in name:
                p.normal_(0, 0.2)  # a trained adapter: not the identity
    x = torch.randn(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    text = trainer.pipe.audio_proj.null_text_context(3)

    def run():
        return unet(x, torch.tensor([10]), encoder_hidden_states=text, return_dict=False)[0]

    with torch.no_grad():
        plain = run()
        with motion_modules_bypassed(unet):
            bypassed = run()
        assert not torch.allclose(plain, bypassed)
        # bypassed, frames are independent: each equals the one-frame video of itself
        with motion_modules_bypassed(unet):
            single = unet(x[:, :, 1:2], torch.tensor([10]), encoder_hidden_states=text[:1], return_dict=False)[0]
        assert torch.allclose(bypassed[:, :, 1:2], single, atol=1e-5)
        assert torch.equal(run(), plain)  # the hooks are gone afterwards


def test_train_save_resume_continues_exactly(dataset, tmp_path):
    from emo2cli.video.train import STATE_DIR, TrainVideoConfig, train_video

    data, preset = dataset
    settings = {"phase": "video", "batch_size": 2, "workers": 0, "validate_every": 0, "save_every": 2, "log_every": 1, "lr": 1e-3}
    straight = train_video(TrainVideoConfig(str(data), str(tmp_path / "straight"), steps=3, **settings), preset)
    assert (straight["step"], straight["resumed_from"]) == (3, 0)
    first = train_video(TrainVideoConfig(str(data), str(tmp_path / "split"), steps=2, **settings), preset)
    state = json.loads((tmp_path / "split" / STATE_DIR / "state.json").read_text())
    assert (first["step"], state["step"], state["phase"]) == (2, 2, "video")
    rest = train_video(TrainVideoConfig(str(data), str(tmp_path / "split"), steps=3, **settings), preset)
    assert (rest["resumed_from"], rest["step"]) == (2, 3)
    from safetensors.torch import load_file

    for name in ("trained.safetensors", "ema.safetensors", "optimizer.safetensors"):
        a, b = load_file(tmp_path / "straight" / STATE_DIR / name), load_file(tmp_path / "split" / STATE_DIR / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in log)


def test_loading_restores_the_optimiser_state(dataset, tmp_path):
    trainer = make_trainer(dataset, "video", lr=1e-3)
    trainer.train_step([a_batch(trainer, "video")])
    trainer.save(tmp_path)
    saved = trainer.optimizer.state_dict()
    fresh = make_trainer(dataset, "video", lr=1e-3)
    fresh.load(tmp_path)
    loaded = fresh.optimizer.state_dict()
    assert fresh.step == 1 and loaded["param_groups"] == saved["param_groups"]
    for index, values in saved["state"].items():
        for key, value in values.items():
            assert torch.equal(loaded["state"][index][key], value), (index, key)
    for (name, p), q in zip(trainer.params.items(), fresh.params.values()):
        assert torch.equal(p, q), name
    assert all(torch.equal(a, b) for a, b in zip(trainer.ema.shadow_params, fresh.ema.shadow_params))


def test_checkpoint_is_a_pipeline_folder_with_the_ema_weights(dataset, tmp_path):
    from emo2cli.video.pipeline import EMO2VideoPipeline

    trainer = make_trainer(dataset, "video", lr=1e-2, ema_decay=0.5)
    for seed in range(2):
        trainer.train_step([a_batch(trainer, "video", seed)])
    trainer.save(tmp_path)
    loaded = EMO2VideoPipeline.from_pretrained(tmp_path)
    moved = []
    for (name, param), shadow in zip(trainer.params.items(), trainer.ema.shadow_params):
        component, key = name.split(".", 1)
        saved = dict(getattr(loaded, component).named_parameters())[key]
        assert torch.equal(saved, shadow), name
        moved += [name] if not torch.equal(saved, param) else []
    assert moved  # raw and EMA weights differ


def test_bad_runs_are_refused(dataset, tmp_path):
    from emo2cli.video.train import TrainVideoConfig, train_video

    data, preset = dataset
    with pytest.raises(InputError, match="unknown phase"):
        TrainVideoConfig(str(data), str(tmp_path / "x"), phase="audio")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a train-video folder"):
        train_video(TrainVideoConfig(str(data), str(tmp_path / "foreign"), steps=1, batch_size=2, workers=0), preset)
    with pytest.raises(InputError, match="cannot be shared"):
        train_video(TrainVideoConfig(str(data), str(tmp_path / "odd"), steps=1, batch_size=3, grad_accum=2, workers=0), preset)
    pytest.importorskip("accelerate")
    if "bitsandbytes" not in sys.modules:
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(sys.modules, "bitsandbytes", None)
            with pytest.raises(MissingPrerequisite, match="bitsandbytes"):
                make_trainer(dataset, "video", use_8bit_adam=True)


def test_a_video_run_refuses_an_image_run_folder(dataset, tmp_path):
    from emo2cli.video.train import TrainVideoConfig, train_video

    data, preset = dataset
    train_video(
        TrainVideoConfig(str(data), str(tmp_path / "run"), phase="image", steps=1, batch_size=2, workers=0, validate_every=0),
        preset,
    )
    with pytest.raises(InputError, match="holds a run of the image phase"):
        train_video(TrainVideoConfig(str(data), str(tmp_path / "run"), phase="video", steps=1, batch_size=2, workers=0), preset)


def test_bench_reports_both_phases(monkeypatch):
    from emo2cli.video import train_bench

    monkeypatch.setitem(train_bench.TINY, "height", 16)
    monkeypatch.setitem(train_bench.TINY, "width", 16)
    report = train_bench.bench(0.1, "cpu")
    assert set(report["phases"]) == {"image", "video"}
    assert report["phases"]["video"]["frames_per_sample"] == 36 and report["phases"]["image"]["frames_per_sample"] == 1
    assert all(p["step_s"] > 0 and p["steps_timed"] >= 2 for p in report["phases"].values())
