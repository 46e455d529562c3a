import json

import numpy as np

from emo2cli.formats.hands import HandMotion, write_hands


def _moving_hands(tmp_path):
    h = HandMotion.rest(100, 25.0, meta={"producer": "test"})
    t = np.arange(100) / 25.0
    h.transl[:, 1, 1] += (0.1 * np.sin(2 * np.pi * t)).astype(np.float32)
    h.mask[40:50, 0] = False
    return write_hands(h, tmp_path / "m.hands.npz")


def test_inspect_json_summary(tmp_path, run_cli):
    p = _moving_hands(tmp_path)
    r = run_cli("inspect", p, "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["format"] == "emo2.hands/1" and d["frames"] == 100 and d["duration_s"] == 4.0
    assert d["hands"]["left"]["valid_fraction"] == 0.9 and d["hands"]["right"]["valid_fraction"] == 1.0
    assert d["hands"]["left"]["wrist_speed_mean_m_s"] == 0.0
    # peak-to-peak 0.2 m of a 1 Hz sine: mean speed 4 * 0.1 m/s
    assert abs(d["hands"]["right"]["wrist_speed_mean_m_s"] - 0.4) < 0.02
    assert abs(d["hands"]["right"]["wrist_range_m"][1] - 0.2) < 0.01


def test_plot_is_a_png_and_respects_force(tmp_path, run_cli):
    p = _moving_hands(tmp_path)
    png = tmp_path / "m.png"
    r = run_cli("inspect", p, "--plot", png, "-q")
    assert r.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_cli("inspect", p, "--plot", png)
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = run_cli("inspect", p, "--plot", png, "--force", "-q")
    assert r.exit_code == 0


def test_unknown_kind(tmp_path, run_cli):
    f = tmp_path / "x.txt"
    f.write_text("hi")
    r = run_cli("inspect", f)
    assert r.exit_code == 2 and "unknown file kind" in r.stderr


def test_plot_survives_a_silent_source_video(tmp_path, run_cli):
    import av
    import numpy as np

    video = tmp_path / "silent.mp4"
    with av.open(str(video), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for _ in range(5):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    h = HandMotion.rest(30, 25.0, meta={"producer": "test", "source": str(video)})
    p = write_hands(h, tmp_path / "s.hands.npz")
    r = run_cli("inspect", p, "--plot", tmp_path / "s.png", "-q")
    assert r.exit_code == 0, r.stderr
