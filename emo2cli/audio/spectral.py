"""Short-time analysis shared by the mel encoder and the onset detector.

Everything here works on *analysis frames*: frame ``j`` is a window centred on sample
``j * hop`` (zero padding outside the signal, as ``torch.stft(center=True, pad_mode="constant")``),
so a signal of N samples has ``N // hop + 1`` frames and frame ``j`` belongs to time
``j * hop / sample_rate``. Frames are computed block by block (:func:`iter_blocks`): each block
reads only its own samples plus half a window on each side, so memory does not grow with the
length of the audio and a block's frames equal those of one pass over the whole signal.

Video frames are coarser: video frame ``i`` covers the analysis frames whose time rounds to
``i / fps`` (:func:`video_frame_of`); :class:`FramePool` averages (or takes the max of) analysis
values over each video frame. Analysis hops are at most half a video frame, so every video frame
gets at least one analysis frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch

LOG_FLOOR = 1e-10  # power floor before the log (-100 dB)


def analysis_hop(sample_rate: int, fps: float, hop_s: float = 0.01) -> int:
    """Hop in samples: ``hop_s`` (10 ms), or less when needed to keep two hops per video frame."""
    return max(1, round(sample_rate * min(hop_s, 0.5 / fps)))


def num_frames(num_samples: int, hop: int) -> int:
    """Analysis frames of a signal of ``num_samples`` samples (centred frames, as torch.stft)."""
    return num_samples // hop + 1


def video_frames(duration_s: float, fps: float) -> int:
    """T = round(duration * fps), the row count of every feature table (DESIGN §2)."""
    return round(duration_s * fps)


def video_frame_of(frame_index: np.ndarray, hop: int, sample_rate: int, fps: float, num_video_frames: int) -> np.ndarray:
    """Video frame of each analysis frame: round(time * fps), clipped to [0, T-1]. [K] int64."""
    t = np.asarray(frame_index, np.float64) * hop / sample_rate
    return np.clip(np.rint(t * fps), 0, num_video_frames - 1).astype(np.int64)


def frame_signal(samples: np.ndarray, hop: int, length: int, j0: int, j1: int) -> torch.Tensor:
    """Windows of ``length`` samples centred on ``j * hop`` for j in [j0, j1), zero-padded.

    Returns:
        [j1 - j0, length] float32 tensor (no window function applied).
    """
    half = length // 2
    lo, hi = j0 * hop - half, (j1 - 1) * hop - half + length
    seg = np.zeros(hi - lo, np.float32)
    a, b = max(lo, 0), min(hi, len(samples))
    if b > a:
        seg[a - lo : b - lo] = samples[a:b]
    return torch.from_numpy(seg).unfold(0, length, hop)


@functools.lru_cache(maxsize=16)
def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Slaney-style mel filterbank (librosa's default), [n_fft // 2 + 1, n_mels] float32."""
    import torchaudio

    return torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1, f_min, f_max or sample_rate / 2, n_mels, sample_rate, norm="slaney", mel_scale="slaney"
    ).float()


@functools.lru_cache(maxsize=16)
def hann(length: int) -> torch.Tensor:
    return torch.hann_window(length, periodic=True)


def mel_power(frames: torch.Tensor, n_fft: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Mel power spectrum of raw windows [K, win] (win <= n_fft, Hann window) → [K, n_mels] float32."""
    win = frames.shape[-1]
    # a window shorter than n_fft is zero-padded at the end; compared with centring it in the
    # FFT frame that only changes the phase, so the power spectrum is the same
    spectrum = torch.fft.rfft(frames * hann(win), n=n_fft)
    power = spectrum.real.square() + spectrum.imag.square()
    return power @ mel_filterbank(n_fft, n_mels, sample_rate)


def power_to_db(power: torch.Tensor | np.ndarray) -> np.ndarray:
    """10·log10(max(power, 1e-10)) as float32 numpy (dB re 1, floor -100 dB)."""
    p = power.numpy() if isinstance(power, torch.Tensor) else power
    return (10.0 * np.log10(np.maximum(p, LOG_FLOOR))).astype(np.float32)


def positive_flux(log_mel: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Spectral flux: mean over bands of the positive rise of log-mel since the previous frame.

    Args:
        log_mel: [K, M] dB.
        previous: [M] dB, the frame before the block (None at the start: its flux is 0).

    Returns:
        [K] float32, dB per hop, >= 0.
    """
    prev = np.concatenate([log_mel[:1] if previous is None else previous[None], log_mel[:-1]])
    return np.maximum(log_mel - prev, 0.0).mean(axis=1).astype(np.float32)


def iter_blocks(num_samples: int, hop: int, block_frames: int = 4096) -> Iterator[tuple[int, int]]:
    """[j0, j1) ranges of analysis frames, ``block_frames`` at a time."""
    total = num_frames(num_samples, hop)
    for j0 in range(0, total, block_frames):
        yield j0, min(j0 + block_frames, total)


class FramePool:
    """Reduce analysis-frame values onto the video grid, block by block.

    Args:
        num_video_frames: T.
        width: values per analysis frame (D).
        hop, sample_rate, fps: the analysis and video grids.
    """

    def __init__(self, num_video_frames: int, width: int, hop: int, sample_rate: int, fps: float):
        self.t, self.hop, self.sample_rate, self.fps = num_video_frames, hop, sample_rate, fps
        self.sum = np.zeros((num_video_frames, width), np.float64)
        self.weight = np.zeros((num_video_frames, width), np.float64)
        self.max = np.full((num_video_frames, width), -np.inf, np.float64)

    def add(self, j0: int, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add analysis frames j0 .. j0+K-1: ``values`` [K, D], optional ``weights`` [K, D] (default 1)."""
        rows = video_frame_of(np.arange(j0, j0 + len(values)), self.hop, self.sample_rate, self.fps, self.t)
        w = np.ones_like(values, np.float64) if weights is None else weights.astype(np.float64)
        np.add.at(self.sum, rows, values * w)
        np.add.at(self.weight, rows, w)
        np.maximum.at(self.max, rows, values)

    def mean(self, empty: float = 0.0) -> np.ndarray:
        """Weighted mean per video frame [T, D] float32; ``empty`` where the weight is zero."""
        out = np.full(self.sum.shape, empty, np.float64)
        np.divide(self.sum, self.weight, out=out, where=self.weight > 1e-12)
        return out.astype(np.float32)

    def maximum(self, empty: float = 0.0) -> np.ndarray:
        """Max per video frame [T, D] float32; ``empty`` where no analysis frame fell."""
        return np.where(np.isfinite(self.max), self.max, empty).astype(np.float32)


def next_pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))
