import json

import numpy as np
import pytest

from emo2cli.metrics.evaluation import HAND_CONTROL
from tests.conftest import PORTRAIT, SPEECH, random_hands
from tests.tiny import TinyFaceEmbedder, small_portrait, tiny_image_feature_net, tiny_video_feature_net, write_test_video


@pytest.fixture(scope="module")
def hands_files(tmp_path_factory):
    from emo2cli.formats.hands import write_hands

    d = tmp_path_factory.mktemp("hands")
    paths = []
    for seed in range(3):
        h = random_hands(60, seed=seed)
        h.mask[:] = True
        h.meta["source_audio_sha256"] = "same-audio"
        paths.append(write_hands(h, d / f"g{seed}.hands.npz"))
    return paths


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    still = small_portrait(PORTRAIT, (160, 128))
    rng = np.random.default_rng(0)
    noisy = [np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    gen = write_test_video(d / "gen.mp4", noisy, audio_path=SPEECH)
    ref = write_test_video(d / "ref.mp4", [still] * 12)
    return gen, ref


@pytest.fixture
def no_weights_preset(tmp_path):
    p = tmp_path / "now.yaml"
    p.write_text(f"eval:\n  fvd_i3d: {tmp_path}/none/i3d.ckpt\n  face_identity: {tmp_path}/none/faces\n")
    return p


def test_evaluate_hands_table_json_csv_plot(run_cli, hands_files, tmp_path):
    g0, g1, g2 = hands_files
    out = tmp_path / "m.json"
    r = run_cli(
        "evaluate",
        "hands",
        g0,
        g1,
        "--reference",
        g2,
        "--audio",
        SPEECH,
        "--json",
        out,
        "--per-frame",
        tmp_path / "f.csv",
        "--plot",
        tmp_path / "p.png",
    )
    assert r.exit_code == 0, r.stderr
    for name in ("DIV", "BA", "PCK", "FGD-kin", "FGD"):
        assert name in r.stdout
    data = json.loads(out.read_text())
    rows = {m["metric"]: m for m in data["metrics"]}
    assert rows["DIV"]["value"] > 0 and 0 <= rows["BA"]["value"] <= 1 and 0 <= rows["PCK"]["value"] <= 1
    assert rows["FGD"]["status"] == "unavailable" and "train-fgd" in rows["FGD"]["note"]
    assert all(m["protocol"] for m in data["metrics"]) and "tau" in rows["PCK"]["protocol"]
    assert (tmp_path / "f.csv").read_text().startswith("input,frame,time_s,mean joint speed")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    # outputs are never overwritten without --force
    r = run_cli("evaluate", "hands", g0, "--json", out)
    assert r.exit_code == 2 and "already exists" in r.stderr


def test_evaluate_hands_bad_input(run_cli, hands_files, tmp_path):
    r = run_cli("evaluate", "hands", tmp_path / "missing.hands.npz", "--json", tmp_path / "m.json")
    assert r.exit_code == 2 and "missing.hands.npz" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.json").exists()
    r = run_cli("evaluate", "hands", hands_files[0], "--div-protocol", "nope")
    assert r.exit_code == 2 and "eval.div_protocol" in r.stderr
    r = run_cli("evaluate", "hands", hands_files[0], "--reference", hands_files[1], "--reference", hands_files[2], "--json", "-")
    rows = {m["metric"]: m for m in json.loads(r.stdout)["metrics"]}
    assert r.exit_code == 0 and "got 2 for 1" in rows["PCK"]["note"] and rows["FGD-kin"]["value"] > 0
    r = run_cli("evaluate", "hands", hands_files[0], "--audio", SPEECH, "--audio", SPEECH)
    assert r.exit_code == 2 and "got 2 audio files for 1 inputs" in r.stderr


def test_train_fgd_then_fgd(run_cli, hands_files, tmp_path):
    enc = tmp_path / "enc"
    r = run_cli("train-fgd", hands_files[0].parent, "-o", enc, "--steps", "3", "--window", "16", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["windows"] > 0 and (enc / "config.json").is_file()
    r = run_cli("train-fgd", hands_files[0].parent, "-o", enc, "--steps", "3")
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = run_cli("evaluate", "hands", *hands_files[:2], "--reference", hands_files[2], "--fgd-encoder", enc, "--json", "-")
    rows = {m["metric"]: m for m in json.loads(r.stdout)["metrics"]}
    assert r.exit_code == 0 and rows["FGD"]["value"] > 0 and rows["FGD"]["weights"] == str(enc)


def test_evaluate_video_without_weights_prints_unavailable(run_cli, videos, no_weights_preset, monkeypatch):
    pytest.importorskip("mediapipe")
    for var in ("EMO2_FID_INCEPTION", "EMO2_FVD_I3D", "EMO2_FACE_IDENTITY", "EMO2_SYNCNET", "EMO2_EXPRESSION_3DMM"):
        monkeypatch.delenv(var, raising=False)
    gen, ref = videos
    r = run_cli(
        "evaluate", "video", gen, "--reference", ref, "--portrait", PORTRAIT, "--preset", no_weights_preset, "--json", "-"
    )
    assert r.exit_code == 0, r.stderr
    rows = {m["metric"]: m for m in json.loads(r.stdout)["metrics"]}
    for name in ("FID", "FVD", "CSIM[sface]", "EFID", "Sync-C", "Sync-D"):
        assert rows[name]["status"] == "unavailable" and rows[name]["value"] is None
        assert rows[name]["note"].startswith("unavailable: needs")
    assert "place it at" in rows["FID"]["note"] and "pip install --no-deps" in rows["FVD"]["note"]
    assert 25 < rows["PSNR"]["value"] < 60 and 0.5 < rows["SSIM"]["value"] <= 1
    assert rows["HKC[mp-handedness]"]["value"] > 0 and rows["EFID-mesh"]["status"] == "ok"
    for name in HAND_CONTROL:
        assert rows[name]["note"] == "unavailable: needs the driving hands: pass --hands DRIVING.hands.npz"
    r = run_cli("evaluate", "video", gen, "--preset", no_weights_preset)
    assert r.exit_code == 0 and "unavailable" in r.stdout
    assert "HKC[mp-handedness]" in r.stdout and "CSIM[sface]" in r.stdout  # names in brackets are not rich markup


def test_evaluate_video_code_paths_with_tiny_networks(videos, tmp_path):
    import torch

    from emo2cli.config import load_preset
    from emo2cli.metrics.evaluation import evaluate_video
    from emo2cli.metrics.report import per_frame_csv, plot_per_second
    from emo2cli.metrics.sync import SyncNet

    torch.manual_seed(0)
    nets = {
        "fid_inception": tiny_image_feature_net(),
        "fvd_i3d": tiny_video_feature_net(),
        "face_identity": TinyFaceEmbedder(),
        "syncnet": SyncNet().eval(),
    }
    gen, ref = videos
    report = evaluate_video([gen], [ref], load_preset(), portrait=PORTRAIT, networks=nets)
    rows = {r.name: r for r in report.results}
    for name in ("FID", "FVD", "CSIM[sface]", "Sync-C", "Sync-D", "PSNR", "SSIM"):
        assert rows[name].value is not None and np.isfinite(rows[name].value), name
        assert rows[name].protocol
    assert rows["FID"].value > 0 and rows["FID"].weights == "injected test network"
    assert rows["EFID"].status == "unavailable"
    assert "CSIM[sface]" in per_frame_csv(report).splitlines()[0]
    plot_per_second(report, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000


# ---------------------------------------------------------------------------------------------
# Hand control (--hands): a "generated" video made by drawing a known hands file over a portrait
# ---------------------------------------------------------------------------------------------


def _rows(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return {m["metric"]: m for m in json.loads(result.stdout)["metrics"]}


@pytest.fixture(scope="module")
def driven_video(tmp_path_factory):
    """(video, its driving hands file): the hands drawn (emo2 style) over a portrait cropped above
    the real hands, so the only hands in the video are the drawn ones; NAME.handmaps.json beside it."""
    from PIL import Image

    from emo2cli.config import RenderConfig
    from emo2cli.formats.hands import HandMotion, write_hands
    from emo2cli.hands.rest import rest_pose
    from emo2cli.render.render import render_handmaps

    d = tmp_path_factory.mktemp("driven")
    Image.open(PORTRAIT).convert("RGB").crop((112, 0, 912, 640)).save(d / "upper_body.png")  # head and chest only
    orient, pose, _ = rest_pose()
    frames = 10
    sway = 0.03 * np.sin(np.linspace(0, np.pi, frames))[:, None, None] * np.float32([1, 0, 0])
    transl = np.float32([[0.2, -0.02, 0.25], [-0.2, -0.02, 0.25]])[None] + sway  # in front of the chest
    driving = HandMotion(
        fps=25.0,
        global_orient=np.repeat(orient[None], frames, 0),
        hand_pose=np.repeat(pose[None], frames, 0),
        transl=transl.astype(np.float32),
        mask=np.ones((frames, 2), bool),
    )
    hands = write_hands(driving, d / "gen.hands.npz")
    render = RenderConfig(height=256, width=320)
    render_handmaps(hands, d / "gen.mp4", render, portrait=d / "upper_body.png", overlay=True)
    return d / "gen.mp4", hands


def test_evaluate_video_hand_control_follows_the_driving_hands(run_cli, driven_video, no_weights_preset, tmp_path):
    pytest.importorskip("mediapipe")
    import dataclasses

    from emo2cli.formats.hands import read_hands, write_hands

    video, hands = driven_video
    csv = tmp_path / "frames.csv"
    rows = _rows(
        run_cli("evaluate", "video", video, "--hands", hands, "--preset", no_weights_preset, "--json", "-", "--per-frame", csv)
    )
    for name in HAND_CONTROL:
        assert rows[name]["status"] == "ok" and rows[name]["protocol"].startswith("hand-control[mp-track]/1"), name
    # mediapipe finds the right hand's red-palette map, not the left hand's blue one
    assert rows["HC-detect"]["value"] == 0.5 and rows["HCE-2D"]["details"]["hand_frames"] == [10]
    assert rows["HCE-2D"]["value"] < 0.1 and rows["HC-PCK"]["value"] > 0.8 and 0 < rows["HCE-angle"]["value"] < 60
    assert "HCE-2D" in csv.read_text().splitlines()[0].split(",")
    # a hands file the video does not follow (5 cm to the side): about 0.27 hand sizes more error
    driving = read_hands(hands)
    moved = write_hands(
        dataclasses.replace(driving, transl=driving.transl + np.float32([0.05, 0, 0])), tmp_path / "moved.hands.npz"
    )
    handmaps = video.with_name("gen.handmaps.json")
    off = _rows(
        run_cli(
            "evaluate", "video", video, "--hands", moved, "--handmaps", handmaps, "--preset", no_weights_preset, "--json", "-"
        )
    )
    assert off["HCE-2D"]["value"] > rows["HCE-2D"]["value"] + 0.15 and off["HC-PCK"]["value"] < 0.3


def test_evaluate_video_hand_control_refusals(run_cli, driven_video, tmp_path):
    import json as json_module
    import shutil

    video, hands = driven_video
    lone = shutil.copy(video, tmp_path / "lone.mp4")  # no lone.handmaps.json beside it
    out = tmp_path / "m.json"
    r = run_cli("evaluate", "video", lone, "--hands", hands, "--json", out)
    assert r.exit_code == 2 and "lone.handmaps.json" in r.stderr and "--handmaps" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("evaluate", "video", video, "--hands", tmp_path / "none.hands.npz", "--json", out)
    assert r.exit_code == 2 and "none.hands.npz" in r.stderr
    r = run_cli("evaluate", "video", video, "--handmaps", video.with_name("gen.handmaps.json"), "--json", out)
    assert r.exit_code == 2 and "--hands" in r.stderr
    info = json_module.loads(video.with_name("gen.handmaps.json").read_text())
    info["placement"]["frame_size"] = [512, 640]
    (tmp_path / "big.handmaps.json").write_text(json_module.dumps(info))
    r = run_cli("evaluate", "video", video, "--hands", hands, "--handmaps", tmp_path / "big.handmaps.json", "--json", out)
    assert r.exit_code == 2 and "320x256" in r.stderr and "640x512" in r.stderr
    r = run_cli("evaluate", "video", video, "--hands", hands, "--hands", hands, "--json", out)
    assert r.exit_code == 2 and "got 2 hands files for 1 inputs" in r.stderr
    assert not out.exists()


def test_evaluate_video_hand_control_without_mediapipe(run_cli, driven_video, no_weights_preset, no_mediapipe):
    video, hands = driven_video
    rows = _rows(run_cli("evaluate", "video", video, "--hands", hands, "--preset", no_weights_preset, "--json", "-"))
    for name in (*HAND_CONTROL, "HKC[mp-handedness]"):
        assert rows[name]["status"] == "unavailable" and "emo2cli[vision]" in rows[name]["note"], name
