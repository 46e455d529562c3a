import json

import pytest

from emo2cli.formats.handmaps import HandMapsInfo, Placement, read_handmaps_info, sidecar_path, write_handmaps_info


def test_round_trip_and_paths(tmp_path):
    info = HandMapsInfo(fps=25.0, num_frames=10, placement=Placement(frame_size=(704, 512), anchor_px=(256.0, 200.0), pixels_per_m=600.0, source="pose"))
    out = write_handmaps_info(info, tmp_path / "a.handmaps.mp4")
    assert out == tmp_path / "a.handmaps.json" == sidecar_path(tmp_path / "a.handmaps.json")
    back = read_handmaps_info(out)
    assert back == info


def test_refusals(tmp_path, run_cli):
    p = tmp_path / "a.handmaps.json"
    p.write_text(json.dumps({"format": "emo2.handmaps/3", "fps": 25, "num_frames": 3, "placement": {}}))
    r = run_cli("inspect", p)
    assert r.exit_code == 2 and "reads up to /1" in r.stderr
    p.write_text(json.dumps({"format": "emo2.handmaps/1", "fps": 25, "num_frames": 3, "placement": {"frame_size": [4, 4], "anchor_px": [1, 1], "pixels_per_m": 10, "bogus": 1}}))
    r = run_cli("inspect", p)
    assert r.exit_code == 2 and "unknown keys ['bogus']" in r.stderr


def test_placement_validates():
    with pytest.raises(ValueError):
        Placement(frame_size=(4, 4), anchor_px=(0, 0), pixels_per_m=-1)


def test_sidecar_of_a_plain_video_and_a_folder(tmp_path):
    assert sidecar_path(tmp_path / "x.mp4") == tmp_path / "x.handmaps.json"
    assert sidecar_path(tmp_path / "frames") == tmp_path / "frames.handmaps.json"
