"""PyAV video I/O: H.264 writer (atomic, deterministic, AAC mux, trimmed audio), probe, reader."""

from __future__ import annotations

import av
import numpy as np
import pytest

from emo2cli.errors import InputError
from emo2cli.formats.video import AUDIO_RATE, VideoWriter, probe_video, read_video_frames
from tests.conftest import SPEECH, VIDEOS

H, W = 64, 48


def _frames(n: int = 20) -> list[np.ndarray]:
    g = np.random.default_rng(0)
    frames = []
    for i in range(n):
        f = np.full((H, W, 3), 8 * i, np.uint8)
        f[10:30, 5:25] = g.integers(0, 255, 3, dtype=np.uint8)  # a coloured block that changes per frame
        frames.append(f)
    return frames


def _write(path, frames, fps=25.0, audio=None, force=False):
    with VideoWriter(path, fps, (H, W), audio_path=audio, force=force) as writer:
        for f in frames:
            writer.write(f)
    return path


def test_write_probe_read_round_trip(tmp_path):
    frames = _frames()
    path = _write(tmp_path / "a.mp4", frames)
    info = probe_video(path)
    assert (info.fps, info.num_frames, info.height, info.width, info.has_audio) == (25.0, 20, H, W, False)
    assert info.duration_s == pytest.approx(0.8)
    decoded = list(read_video_frames(path))
    assert len(decoded) == 20 and decoded[0].shape == (H, W, 3) and decoded[0].dtype == np.uint8
    err = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(decoded, frames)])
    assert err < 3.0
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]  # no temp file left


def test_same_frames_give_the_same_bytes(tmp_path):
    frames = _frames()
    a = _write(tmp_path / "a.mp4", frames, audio=SPEECH).read_bytes()
    b = _write(tmp_path / "b.mp4", frames, audio=SPEECH).read_bytes()
    assert a == b
    c = _write(tmp_path / "c.mp4", frames[::-1], audio=SPEECH).read_bytes()
    assert a != c


def test_audio_is_muxed_as_aac_and_trimmed_to_the_video(tmp_path):
    path = _write(tmp_path / "a.mp4", _frames(20), audio=SPEECH)  # 0.8 s of video, 7.5 s of speech
    assert probe_video(path).has_audio
    with av.open(str(path)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.rate == AUDIO_RATE
        samples = sum(f.samples for f in c.decode(audio))
    # the AAC decoder adds at most a frame of priming/padding around the 0.8 s
    assert abs(samples / AUDIO_RATE - 0.8) < 2048 / AUDIO_RATE
    # audio taken from a video container works too (its audio stream is read)
    with pytest.raises(InputError, match="no audio stream"):
        _write(tmp_path / "b.mp4", _frames(2), audio=VIDEOS / "asl_signer2_3s.mkv")
    assert not (tmp_path / "b.mp4").exists()


def test_non_integer_fps(tmp_path):
    path = _write(tmp_path / "a.mp4", _frames(6), fps=30000 / 1001)
    assert probe_video(path).fps == pytest.approx(29.97, abs=1e-3)


def test_resampling_reader_takes_the_nearest_frame(tmp_path):
    frames = [np.full((H, W, 3), 10 * i, np.uint8) for i in range(20)]  # grey level names the frame
    path = _write(tmp_path / "a.mp4", frames)

    def index_of(frame):
        return int(round(frame.mean() / 10))

    down = [index_of(f) for f in read_video_frames(path, fps=10)]
    assert down == [0, 2, 5, 7, 10, 12, 15, 17]  # times 0, .1, .2 ... → frames at 0.04 s spacing; ties go earlier
    up = [index_of(f) for f in read_video_frames(path, fps=50)]
    assert up == [i for i in range(20) for _ in range(2)]


def test_writer_refusals_leave_nothing_behind(tmp_path):
    with pytest.raises(InputError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 25, (63, 48))
    existing = tmp_path / "x.mp4"
    existing.write_bytes(b"keep")
    with pytest.raises(InputError, match="already exists"):
        _write(existing, _frames(2))
    assert existing.read_bytes() == b"keep"
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "boom.mp4", 25, (H, W)) as writer:
            writer.write(_frames(1)[0])
            raise RuntimeError("renderer failed")
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(tmp_path / "bad.mp4", 25, (H, W)) as writer:
            writer.write(np.zeros((H, W, 3), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


def test_reader_refuses_non_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(InputError, match="bad.mp4"):
        probe_video(bad)
    with pytest.raises(InputError, match="no video stream"):
        list(read_video_frames(SPEECH))
    with pytest.raises(InputError, match="no such file"):
        probe_video(tmp_path / "missing.mp4")


def test_probe_real_video_without_header_frame_count():
    info = probe_video(VIDEOS / "asl_signer2_3s.mkv")
    assert info.width == 640 and info.height == 480 and info.num_frames > 30 and not info.has_audio


def test_encoding_is_deterministic_on_flat_regions_beside_noise(tmp_path):
    """x264's mbtree read uninitialised memory on this content: 7-9 different files in 15 encodes."""
    import hashlib

    import numpy as np

    from emo2cli.formats.video import VideoWriter

    g = np.random.default_rng(0)
    frames = g.uniform(0, 255, (30, 96, 64, 3)).astype(np.uint8)
    frames[:, 20:60] = 40
    digests = set()
    for i in range(20):
        path = tmp_path / f"{i}.mp4"
        with VideoWriter(path, 25.0, (96, 64)) as writer:
            for frame in frames:
                writer.write(frame)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
