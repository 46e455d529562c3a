"""Onsets, loudness and speech rate on the video frame grid (used by the rules generator and BA).

Two detectors share one spectral-flux front end (:mod:`emo2cli.audio.spectral`):

* :func:`detect_onsets`, ours, tuned for speech at video frame rates: 32 ms Hann windows every
  10 ms (or half a video frame, if shorter), 40 mel bands in dB, flux = mean positive rise per
  band, gated by loudness, then peak-picked (the rule is in the function's docstring).
* :func:`emage_onset_times`, the audio beats of the BA metric as EMAGE computes them with
  ``librosa.onset.onset_detect(y, sr=16000, hop_length=512, units="time")`` (librosa 0.10
  defaults: 2048-point STFT, 128 Slaney mel bands, ``power_to_db(top_db=80)``, flux lag 1,
  mean over bands, envelope shifted by ``n_fft // (2 * hop)`` frames, normalised to [0, 1],
  ``peak_pick(pre_max=0, post_max=1, pre_avg=3, post_avg=4, delta=0.07, wait=0)``),
  re-implemented with torch/numpy/scipy because we do not depend on librosa. Known
  differences: torch's FFT instead of numpy's (float32 rounding), and zero padding at the
  edges (librosa >= 0.10; 0.9 padded by reflection, which changes only the first and last two
  frames). Note that with these parameters librosa's ``pre_max`` rounds to 0, so every frame
  above the moving average + 0.07 counts as an onset, runs of neighbours included: that is the
  reference protocol, and it is kept as is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from emo2cli.audio import spectral

WINDOW_S = 0.032  # analysis window of detect_onsets
N_MELS = 40  # bands of the onset detector's flux
MIN_GAP_S = 0.1  # at most one onset per 100 ms: syllables come at about 4-7 per second
LOCAL_MAX_S = 0.03  # a peak is the largest value within +-30 ms
AVERAGE_S = 0.1  # ... and exceeds the mean over +-100 ms by DELTA (envelope normalised to [0, 1])
DELTA = 0.07
GATE_DB = 50.0  # frames more than this below the loudest frame (or below -60 dBFS) cannot hold onsets
SILENCE_DBFS = -60.0
LOUDNESS_FLOOR_DB = -100.0


@dataclass
class Onsets:
    """Onset analysis of one waveform.

    Attributes:
        envelope: [T] float32, onset strength per video frame (max of the gated spectral flux in
            the frame, dB rise per 10 ms hop averaged over 40 mel bands; 0 in silence).
        times_s: [K] float64, onset times in seconds, increasing.
        frames: [K] int64, the video frame of each onset, round(times_s * fps) clipped to [0, T-1].
        strength: [K] float32, flux at each onset (same units as ``envelope``).
        rate_per_s: syllable-like onsets per second over the whole clip (K / duration).
        loudness: [T] float32, RMS level per video frame in dBFS (floor -100).
        fps: the video frame rate of ``envelope``, ``frames`` and ``loudness``.
        duration_s: length of the waveform in seconds.
    """

    envelope: np.ndarray
    times_s: np.ndarray
    frames: np.ndarray
    strength: np.ndarray
    rate_per_s: float
    loudness: np.ndarray
    fps: float = 25.0
    duration_s: float = 0.0


def peak_pick(x: np.ndarray, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float, wait: int) -> np.ndarray:
    """Indices ``n`` where x[n] is a peak, with the rule (and edge handling) of ``librosa.util.peak_pick``.

    A sample n is kept if ``x[n] == max(x[n - pre_max : n + post_max])``, ``x[n] >= mean(x[n -
    pre_avg : n + post_avg]) + delta`` (windows truncated at the edges), ``x[n] > 0``, and more
    than ``wait`` samples passed since the previous kept one.

    Args:
        x: [N] envelope.
        pre_max, post_max, pre_avg, post_avg, wait: window sizes in samples (>= 0; post_max >= 1).

    Returns:
        [K] int64 indices, increasing.
    """
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return np.zeros(0, np.int64)
    mov_max = scipy.ndimage.maximum_filter1d(
        x, int(pre_max + post_max), mode="constant", origin=int(np.ceil(0.5 * (pre_max - post_max))), cval=x.min()
    )
    mov_avg = scipy.ndimage.uniform_filter1d(x, int(pre_avg + post_avg), mode="nearest", origin=int(np.ceil(0.5 * (pre_avg - post_avg))))
    n = len(x)
    for i in [*range(min(pre_avg, n)), *range(max(n - post_avg, 0), n)]:  # truncated windows at the edges
        mov_avg[i] = x[max(i - pre_avg, 0) : i + post_avg].mean()
    detections = x * (x == mov_max)
    detections = detections * (detections >= mov_avg + delta)
    peaks: list[int] = []
    last = -np.inf
    for i in np.flatnonzero(detections):
        if i > last + wait:
            peaks.append(int(i))
            last = i
    return np.asarray(peaks, np.int64)


def detect_onsets(
    samples: np.ndarray,
    sample_rate: int,
    fps: float = 25.0,
    min_gap_s: float = MIN_GAP_S,
    delta: float = DELTA,
    gate_db: float = GATE_DB,
) -> Onsets:
    """Find syllable-like onsets and per-video-frame onset strength and loudness.

    The rule:

    1. flux: 40-band log-mel (dB) spectrum of 32 ms Hann windows every ``hop`` (10 ms, or half a
       video frame if shorter); flux = mean over bands of the positive rise since the last hop.
    2. gate: a hop can hold an onset only if the loudness (RMS dBFS of its window, or of one of
       the next two windows) is above -60 dBFS and within ``gate_db`` dB of the loudest window,
       and its window ends inside the signal (the zero padding after the end is no onset).
    3. peaks (:func:`peak_pick`) on the gated flux divided by its maximum: the largest value within
       +-30 ms, at least ``delta`` above the mean within +-100 ms, and at least ``min_gap_s`` after
       the previous onset.
    4. time of an onset = its window's centre + ``win / 2 - hop`` samples: the flux jumps as soon as
       a sound enters the window, half a window before the centre reaches it (librosa makes the
       same correction). Onsets therefore lie within one hop of the true start of a sound.

    Args:
        samples: [N] float32 mono waveform.
        sample_rate: Hz.
        fps: video frame rate of the per-frame outputs.
        min_gap_s, delta, gate_db: the peak-picking parameters above.

    Returns:
        Onsets (see the class for shapes and units); T = round(N / sample_rate * fps).
    """
    samples = np.asarray(samples, np.float32)
    duration_s = len(samples) / sample_rate
    t_frames = max(spectral.video_frames(duration_s, fps), 1)
    hop = spectral.analysis_hop(sample_rate, fps)
    win = round(WINDOW_S * sample_rate)
    n_fft = spectral.next_pow2(win)
    flux_parts, ms_parts = [], []
    previous = None
    for j0, j1 in spectral.iter_blocks(len(samples), hop):
        frames = spectral.frame_signal(samples, hop, win, j0, j1)
        log_mel = spectral.power_to_db(spectral.mel_power(frames, n_fft, N_MELS, sample_rate))
        flux_parts.append(spectral.positive_flux(log_mel, previous))
        ms_parts.append(frames.square().mean(dim=1).numpy())
        previous = log_mel[-1]
    flux = np.concatenate(flux_parts)
    level_db = spectral.power_to_db(np.concatenate(ms_parts))
    threshold = max(SILENCE_DBFS, float(level_db.max()) - gate_db)
    loud = level_db > threshold
    loud_soon = loud | np.concatenate([loud[1:], [False]]) | np.concatenate([loud[2:], [False, False]])
    # windows that run past the end see the sound cut off, a broadband "rise" that is no onset
    inside = np.arange(len(flux)) * hop + win - win // 2 <= len(samples)
    gated = np.where(loud_soon & inside, flux, 0.0).astype(np.float32)

    peak = float(gated.max())

    def to_hops(seconds: float) -> int:
        return max(0, round(seconds * sample_rate / hop))

    if peak > 0:
        idx = peak_pick(
            gated / peak,
            pre_max=to_hops(LOCAL_MAX_S),
            post_max=to_hops(LOCAL_MAX_S) + 1,
            pre_avg=to_hops(AVERAGE_S),
            post_avg=to_hops(AVERAGE_S) + 1,
            delta=delta,
            wait=max(to_hops(min_gap_s) - 1, 0),
        )
    else:
        idx = np.zeros(0, np.int64)
    times_s = np.clip((idx * hop + win / 2 - hop) / sample_rate, 0.0, duration_s)

    pool = spectral.FramePool(t_frames, 2, hop, sample_rate, fps)
    pool.add(0, np.stack([gated, np.concatenate(ms_parts)], axis=1))
    envelope = pool.maximum()[:, 0]
    loudness = np.maximum(spectral.power_to_db(pool.mean()[:, 1]), LOUDNESS_FLOOR_DB)
    return Onsets(
        envelope=envelope.astype(np.float32),
        times_s=times_s.astype(np.float64),
        frames=np.clip(np.rint(times_s * fps), 0, t_frames - 1).astype(np.int64),
        strength=gated[idx].astype(np.float32),
        rate_per_s=float(len(idx) / duration_s) if duration_s > 0 else 0.0,
        loudness=loudness.astype(np.float32),
        fps=float(fps),
        duration_s=float(duration_s),
    )


# ---------------------------------------------------------------------------------------------
# EMAGE / librosa protocol (BA metric)
# ---------------------------------------------------------------------------------------------

EMAGE_SAMPLE_RATE = 16000
EMAGE_HOP = 512
EMAGE_N_FFT = 2048
EMAGE_N_MELS = 128
EMAGE_TOP_DB = 80.0


def emage_onset_strength(samples: np.ndarray) -> np.ndarray:
    """librosa ``onset_strength(y, sr=16000, hop_length=512)`` (0.10 defaults), [J] float32, J = N // 512 + 1."""
    samples = np.asarray(samples, np.float32)
    total = spectral.num_frames(len(samples), EMAGE_HOP)
    frames = spectral.frame_signal(samples, EMAGE_HOP, EMAGE_N_FFT, 0, total)
    s_db = spectral.power_to_db(spectral.mel_power(frames, EMAGE_N_FFT, EMAGE_N_MELS, EMAGE_SAMPLE_RATE))
    s_db = np.maximum(s_db, s_db.max() - EMAGE_TOP_DB)
    flux = np.maximum(s_db[1:] - s_db[:-1], 0.0).mean(axis=1)
    shift = 1 + EMAGE_N_FFT // (2 * EMAGE_HOP)  # lag + centring correction, as librosa pads
    return np.concatenate([np.zeros(shift, np.float32), flux.astype(np.float32)])[:total]


def emage_onset_times(samples: np.ndarray, sample_rate: int = EMAGE_SAMPLE_RATE) -> np.ndarray:
    """Audio beats of EMAGE's BA: ``librosa.onset.onset_detect(y, sr=16000, hop_length=512, units="time")``.

    Args:
        samples: [N] float32 mono; resampled to 16 kHz first when ``sample_rate`` differs (EMAGE
            loads its audio at 16 kHz).
        sample_rate: Hz of ``samples``.

    Returns:
        [K] float64 onset times in seconds (multiples of 32 ms).
    """
    samples = np.asarray(samples, np.float32)
    if sample_rate != EMAGE_SAMPLE_RATE:
        import torch
        import torchaudio

        samples = torchaudio.functional.resample(torch.from_numpy(samples), sample_rate, EMAGE_SAMPLE_RATE).numpy()
    env = emage_onset_strength(samples).astype(np.float64)
    env = env - env.min()
    env = env / (env.max() + np.finfo(env.dtype).tiny)
    if not env.any() or not np.all(np.isfinite(env)):
        return np.zeros(0, np.float64)
    per_s = EMAGE_SAMPLE_RATE / EMAGE_HOP  # librosa's defaults, in frames: 0.03 s → 0, 0.1 s → 3
    idx = peak_pick(
        env,
        pre_max=int(np.ceil(0.03 * EMAGE_SAMPLE_RATE // EMAGE_HOP)),
        post_max=int(np.ceil(0.00 * EMAGE_SAMPLE_RATE // EMAGE_HOP + 1)),
        pre_avg=int(np.ceil(0.10 * EMAGE_SAMPLE_RATE // EMAGE_HOP)),
        post_avg=int(np.ceil(0.10 * EMAGE_SAMPLE_RATE // EMAGE_HOP + 1)),
        delta=0.07,
        wait=int(np.ceil(0.03 * EMAGE_SAMPLE_RATE // EMAGE_HOP)),
    )
    return idx.astype(np.float64) / per_s
