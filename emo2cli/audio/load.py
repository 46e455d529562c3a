"""Decode any audio or video container into a mono float32 waveform at a requested rate.

PyAV (FFmpeg) reads the container (WAV, FLAC, MP3, OGG, M4A/AAC, the audio track of
MP4/MOV/MKV ...) packet by packet; each decoded frame is converted to float, mixed to mono
(the plain mean of the channels) and fed to a streaming resampler. Memory therefore stays at
one output array plus about ten seconds of source audio, whatever the file's length.

Why torchaudio and not FFmpeg's own resampler (``av.AudioResampler``): torchaudio's windowed-sinc
resampler is the one the rest of the toolkit (and most speech models' training code) uses, its
output does not depend on how FFmpeg was built, and applied block by block here it equals a
single ``torchaudio.functional.resample`` call over the whole signal (blocks start on the
resampler's period and carry enough context on both sides; ``tests/test_audio_load.py`` checks
it). ``av.AudioResampler`` is used only to convert sample formats (int16, planar ...) to float,
at the source's own rate and layout.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError, require_file

logger = logging.getLogger(__name__)

MIN_SAMPLE_RATE = 8000  # Hz: below this speech loses the band the encoders read
SILENCE_PEAK = 1e-4  # peak |sample| below this (-80 dBFS) counts as silent: warned, not refused
BLOCK_S = 10.0  # seconds of source audio resampled per block


@dataclass
class Waveform:
    """Decoded mono audio.

    Attributes:
        samples: [N] float32, mono, nominally in [-1, 1].
        sample_rate: Hz of ``samples``.
        duration_s: N / sample_rate, seconds.
        source: the file it was read from.
        source_rate: Hz of the audio stream in the file (before resampling).
        source_channels: channel count of the audio stream in the file (before mixing).
    """

    samples: np.ndarray
    sample_rate: int
    duration_s: float
    source: Path
    source_rate: int = 0
    source_channels: int = 0


class StreamResampler:
    """Resample a stream block by block with the same result as one ``torchaudio.functional.resample`` call.

    torchaudio's sinc resampler with reduced rates ``orig = o * g``, ``new = n * g`` maps every
    ``o`` input samples onto ``n`` output samples, and output ``j`` reads inputs within
    ``width + o`` of ``j * o / n``. A block whose start is a multiple of ``o``, resampled with
    ``context`` (a multiple of ``o`` no smaller than ``width + o``) extra input samples on each
    side, therefore yields exactly the outputs of the single pass for that block.

    Args:
        orig_rate: input rate, Hz.
        new_rate: output rate, Hz.
        block_s: input seconds per block (rounded to a multiple of ``o``).
    """

    def __init__(self, orig_rate: int, new_rate: int, block_s: float = BLOCK_S):
        import torchaudio

        g = math.gcd(orig_rate, new_rate)
        self.o, self.n = orig_rate // g, new_rate // g
        self.resample = torchaudio.transforms.Resample(orig_rate, new_rate) if orig_rate != new_rate else None
        width = self.resample.width if self.resample is not None else 0
        self.context = math.ceil((width + self.o) / self.o) * self.o
        self.step = max(1, round(block_s * orig_rate / self.o)) * self.o
        self._parts: list[np.ndarray] = []  # input not yet joined into _buf
        self._parts_len = 0
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # global input index of _buf[0]
        self._next = 0  # global input index of the next block to emit (a multiple of o)

    def _run(self, lo: int, hi: int) -> np.ndarray:
        """Resample global input [lo, hi) (held in the buffer) and return it; lo is a multiple of o."""
        import torch

        seg = self._buf[lo - self._buf_start : hi - self._buf_start]
        if self.resample is None:
            return seg.copy()
        with torch.inference_mode():
            return self.resample(torch.from_numpy(np.ascontiguousarray(seg))).numpy()

    def _join(self) -> None:
        if self._parts:
            self._buf = np.concatenate([self._buf, *self._parts])
            self._parts, self._parts_len = [], 0

    def push(self, x: np.ndarray) -> list[np.ndarray]:
        """Add input samples ([n] float32); return the output blocks that are now final."""
        self._parts.append(x)
        self._parts_len += len(x)
        out: list[np.ndarray] = []
        end = self._buf_start + len(self._buf) + self._parts_len
        if end - self._next < self.step + self.context:
            return out
        self._join()
        while end - self._next >= self.step + self.context:
            s, e = self._next, self._next + self.step
            lo = max(0, s - self.context)
            y = self._run(lo, e + self.context)
            first = (s - lo) // self.o * self.n
            out.append(y[first : first + self.step // self.o * self.n])
            self._next = e
        drop = max(0, self._next - self.context) - self._buf_start
        self._buf, self._buf_start = self._buf[drop:].copy(), self._buf_start + drop
        return out

    def flush(self) -> list[np.ndarray]:
        """Resample what is left; the total output length is ``ceil(N * n / o)``."""
        self._join()
        end = self._buf_start + len(self._buf)
        if end <= self._next:
            return []
        lo = max(0, self._next - self.context)
        y = self._run(lo, end)
        first = (self._next - lo) // self.o * self.n
        self._next = end
        return [y[first:]]


class _Output:
    """A growable float32 array (amortised doubling), so decoding holds one output copy."""

    def __init__(self, capacity: int):
        self.data = np.empty(max(capacity, 1024), np.float32)
        self.size = 0

    def extend(self, x: np.ndarray) -> None:
        if self.size + len(x) > len(self.data):
            grown = np.empty(max(self.size + len(x), int(len(self.data) * 1.5)), np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : self.size + len(x)] = x
        self.size += len(x)

    def result(self) -> np.ndarray:
        # Trim only when the over-allocation is large: a slice keeps the whole buffer alive.
        if len(self.data) - self.size > max(self.size // 8, 1 << 16):
            return self.data[: self.size].copy()
        return self.data[: self.size]


def load_audio(path: str | os.PathLike, sample_rate: int = 16000) -> Waveform:
    """Read the first audio stream of ``path`` as mono float32 at ``sample_rate``.

    Args:
        path: any container FFmpeg reads (audio file, or a video with an audio track).
        sample_rate: output rate in Hz.

    Returns:
        Waveform with ``samples`` [N] float32 mono at ``sample_rate``.

    Raises:
        InputError: the file is missing, is not a readable container, has no audio stream,
            has zero samples, is sampled below 8 kHz, or fails to decode. All-silent audio is
            only warned about (logging), since silence is valid input.
    """
    import av

    path = require_file(path)
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(f"is not a readable audio or video file (corrupt or unsupported container: {_why(e)})", path=path) from None
    with container:
        if not container.streams.audio:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            raise InputError(f"has no audio stream (found: {kinds})", path=path, hint="give a file with a sound track")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if rate and rate < MIN_SAMPLE_RATE:
            raise InputError(f"is sampled at {rate} Hz; at least {MIN_SAMPLE_RATE} Hz is needed", path=path)
        channels = int(stream.codec_context.channels or 0)
        estimate = _estimated_samples(stream, container, sample_rate)
        out = _Output(estimate)
        resampler: StreamResampler | None = None
        to_float = None
        decoded = 0
        try:
            for frame in container.decode(stream):
                if resampler is None:
                    rate = int(frame.sample_rate)
                    if rate < MIN_SAMPLE_RATE:
                        raise InputError(f"is sampled at {rate} Hz; at least {MIN_SAMPLE_RATE} Hz is needed", path=path)
                    channels = len(frame.layout.channels)
                    # format conversion only (same rate and layout): later frames that change
                    # layout or rate mid-stream are brought back to the first frame's
                    to_float = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=rate)
                    resampler = StreamResampler(rate, sample_rate)
                for converted in to_float.resample(frame):
                    mono = converted.to_ndarray().mean(axis=0, dtype=np.float32)
                    decoded += len(mono)
                    for block in resampler.push(mono):
                        out.extend(block)
        except av.FFmpegError as e:
            raise InputError(f"could not be decoded after {decoded / max(rate, 1):.2f} s ({_why(e)})", path=path) from None
        if resampler is None or decoded == 0:
            raise InputError("contains no audio samples (zero length)", path=path)
        for block in resampler.flush():
            out.extend(block)
    samples = out.result()
    if not np.all(np.isfinite(samples)):
        raise InputError("decodes to NaN or Inf samples (corrupt audio)", path=path)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak < SILENCE_PEAK:
        logger.warning("%s: the audio is silent (peak %.1f dBFS); features will be flat", path, 20 * math.log10(max(peak, 1e-12)))
    return Waveform(samples, sample_rate, len(samples) / sample_rate, path, rate, channels)


def _estimated_samples(stream, container, sample_rate: int) -> int:
    """Output length guess from the container's duration (0 when unknown); only sizes a buffer."""
    seconds = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / 1_000_000  # AV_TIME_BASE
    return int(seconds * sample_rate * 1.01) + 4096 if seconds and seconds > 0 else 0


def _why(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return str(text).split(":")[0].strip() or type(error).__name__
