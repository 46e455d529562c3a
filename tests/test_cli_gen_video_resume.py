"""A gen-video run killed after its first clip and restarted gives the same bytes as an uninterrupted run."""

from __future__ import annotations

from tests.conftest import PORTRAIT, SPEECH


def test_killed_after_the_first_clip_then_restarted_is_byte_identical(run_cli, tmp_path, monkeypatch):
    from emo2cli.audio.load import load_audio
    from emo2cli.video import generate
    from tests.tiny import write_wav

    short = write_wav(tmp_path / "short.wav", load_audio(SPEECH, 16000).samples[:16000], 16000)  # 25 frames: 4 clips of 8
    args = ("--preset", "tiny", "--seed", "5")
    whole = run_cli("gen-video", PORTRAIT, short, "-o", tmp_path / "whole" / "v.mp4", *args)
    assert whole.exit_code == 0, whole.stderr

    put = generate.ClipStore.put

    def put_then_die(self, k, result):  # the test hook: the process "dies" right after clip 0 is saved
        put(self, k, result)
        raise KeyboardInterrupt

    monkeypatch.setattr(generate.ClipStore, "put", put_then_die)
    out = tmp_path / "run" / "v.mp4"
    killed = run_cli("gen-video", PORTRAIT, short, "-o", out, *args)
    assert killed.exit_code == 130 and not out.exists()
    assert [p.name for p in (tmp_path / "run" / "v.clips").iterdir()] == ["clip_00000.safetensors"]

    monkeypatch.setattr(generate.ClipStore, "put", put)
    resumed = run_cli("gen-video", PORTRAIT, short, "-o", out, *args, "--debug")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming: clip 0" in resumed.stderr
    assert out.read_bytes() == (tmp_path / "whole" / "v.mp4").read_bytes()  # cmp: identical
    assert not (tmp_path / "run" / "v.clips").exists()  # the state folder is removed on success
