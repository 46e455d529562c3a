"""The weight-free ``mel`` encoder: log-mel bands, loudness, onset strength and pitch per video frame.

Columns of the ``[T, n_mels + 4]`` float32 table (row i describes the audio around i / fps):

====================  =========================================================================
``0 .. n_mels-1``     log-mel power, dB (10·log10, floor -100), Slaney mel bands 0 Hz .. sr/2,
                      32 ms Hann windows; the power is averaged over the row's analysis frames
``n_mels``            RMS level, dBFS (floor -100)
``n_mels + 1``        onset strength: max over the row of the spectral flux (mean positive rise
                      of the log-mel bands per 10 ms hop, dB), as :mod:`emo2cli.audio.onsets`
``n_mels + 2``        voiced probability in [0, 1]: 1 - the YIN aperiodicity at the chosen lag
                      (0 where the level is below -60 dBFS), averaged over the row
``n_mels + 3``        log F0, ln(Hz), averaged over the row weighted by voicing; 0 when unvoiced
====================  =========================================================================

The analysis runs block by block on 10 ms hops (:mod:`emo2cli.audio.spectral`), so memory holds
one block and the output table, however long the audio. Pitch is YIN (de Cheveigné & Kawahara
2002: cumulative mean normalised difference, absolute threshold 0.15, parabolic refinement),
vectorised over frames with FFT correlations, searching 60-500 Hz.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np
import torch

from emo2cli.audio import spectral

WINDOW_S = 0.032  # log-mel analysis window
F0_MIN_HZ = 60.0
F0_MAX_HZ = 500.0
YIN_THRESHOLD = 0.15
VOICING_FLOOR_DBFS = -60.0  # quieter frames are unvoiced whatever their periodicity
VERSION = "mel-v1"  # bump when the columns or their computation change


def yin(frames: torch.Tensor, sample_rate: int, f0_min: float = F0_MIN_HZ, f0_max: float = F0_MAX_HZ, threshold: float = YIN_THRESHOLD):
    """YIN pitch of each frame.

    Args:
        frames: [K, L] float32 windows with L >= 2 * ceil(sample_rate / f0_min) + 1.
        sample_rate: Hz.
        f0_min, f0_max: search range, Hz.
        threshold: absolute threshold on the normalised difference.

    Returns:
        (f0_hz [K] float32, aperiodicity [K] float32 in [0, 1]: the normalised difference at the
        chosen lag; near 0 for periodic frames, near 1 for noise or silence).
    """
    tau_min = max(2, int(sample_rate // f0_max))
    tau_max = int(np.ceil(sample_rate / f0_min))
    width = tau_max  # integration window W
    x = frames[:, : width + tau_max + 1].float()
    k = x.shape[0]
    prefix = torch.nn.functional.pad(x.square().cumsum(dim=1), (1, 0))  # [K, L+1]
    lags = torch.arange(tau_max + 1)
    energy_head = prefix[:, width] - prefix[:, 0]  # sum of x_j^2, j < W
    energy_lag = prefix[:, lags + width] - prefix[:, lags]  # sum of x_{j+tau}^2, j < W
    n = spectral.next_pow2(x.shape[1] + width)
    corr = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(x[:, :width], n).conj(), n)[:, : tau_max + 1]
    diff = (energy_head[:, None] + energy_lag - 2 * corr).clamp_min(0)  # d(tau), [K, tau_max + 1]
    running = diff[:, 1:].cumsum(dim=1)
    cmnd = torch.ones_like(diff)
    cmnd[:, 1:] = torch.where(running > 1e-12, diff[:, 1:] * lags[1:] / running.clamp_min(1e-12), torch.ones_like(running))

    search = cmnd[:, tau_min : tau_max + 1]
    below = search < threshold
    has_dip = below.any(dim=1)
    first = below.int().argmax(dim=1)
    # the dip is the run of below-threshold lags starting at `first`; take its minimum
    positions = torch.arange(search.shape[1]).expand(k, -1)
    breaks = (~below).int().cumsum(dim=1)
    in_run = (positions >= first[:, None]) & (breaks == breaks.gather(1, first[:, None]))
    dip = torch.where(in_run, search, torch.full_like(search, np.inf)).argmin(dim=1)
    best = torch.where(has_dip, dip, search.argmin(dim=1)) + tau_min  # [K] lag, samples

    # parabolic refinement on the normalised difference around the chosen lag
    lo, hi = (best - 1).clamp_min(1), (best + 1).clamp_max(tau_max)
    a, b, c = cmnd.gather(1, lo[:, None])[:, 0], cmnd.gather(1, best[:, None])[:, 0], cmnd.gather(1, hi[:, None])[:, 0]
    curvature = a - 2 * b + c
    shift = torch.where(curvature.abs() > 1e-12, 0.5 * (a - c) / curvature, torch.zeros_like(b)).clamp(-0.5, 0.5)
    f0 = sample_rate / (best.double() + shift)
    return f0.float(), b.clamp(0, 1).float()


def settings(sample_rate: int, fps: float, n_mels: int) -> dict:
    """Every value the encoder's output depends on (recorded in the sidecar's ``extra``)."""
    hop = spectral.analysis_hop(sample_rate, fps)
    return {
        "version": VERSION,
        "n_mels": n_mels,
        "window_s": WINDOW_S,
        "hop_samples": hop,
        "f0_range_hz": [F0_MIN_HZ, F0_MAX_HZ],
        "yin_threshold": YIN_THRESHOLD,
        "columns": {
            "log_mel_db": [0, n_mels],
            "rms_dbfs": n_mels,
            "onset_strength": n_mels + 1,
            "voiced_prob": n_mels + 2,
            "log_f0": n_mels + 3,
        },
    }


def revision(sample_rate: int, fps: float, n_mels: int) -> str:
    """``mel-v1:<12 hex>``: the hash of :func:`settings`, so two tables compare by their revision."""
    digest = hashlib.sha256(json.dumps(settings(sample_rate, fps, n_mels), sort_keys=True).encode()).hexdigest()
    return f"{VERSION}:{digest[:12]}"


def encode_mel(
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    n_mels: int = 40,
    on_progress: Callable[[float, float], None] | None = None,
    block_frames: int = 1024,
) -> np.ndarray:
    """Encode a waveform into the mel feature table.

    Args:
        samples: [N] float32 mono.
        sample_rate: Hz.
        fps: video frame rate; T = round(N / sample_rate * fps).
        n_mels: mel bands.
        on_progress: called with (analysis frames done, total).
        block_frames: analysis frames per block (memory vs. overhead).

    Returns:
        [T, n_mels + 4] float32 (columns in the module docstring).
    """
    samples = np.asarray(samples, np.float32)
    t_frames = spectral.video_frames(len(samples) / sample_rate, fps)
    hop = spectral.analysis_hop(sample_rate, fps)
    win = round(WINDOW_S * sample_rate)
    n_fft = spectral.next_pow2(win)
    pitch_len = 2 * int(np.ceil(sample_rate / F0_MIN_HZ)) + 1
    total = spectral.num_frames(len(samples), hop)
    # pooled columns: n_mels mel powers, mean square, voiced prob, log F0 (voicing-weighted)
    means = spectral.FramePool(t_frames, n_mels + 3, hop, sample_rate, fps)
    fluxes = spectral.FramePool(t_frames, 1, hop, sample_rate, fps)
    previous = None
    with torch.inference_mode():
        for j0, j1 in spectral.iter_blocks(len(samples), hop, block_frames):
            frames = spectral.frame_signal(samples, hop, win, j0, j1)
            mel = spectral.mel_power(frames, n_fft, n_mels, sample_rate)
            log_mel = spectral.power_to_db(mel)
            flux = spectral.positive_flux(log_mel, previous)
            previous = log_mel[-1]
            mean_square = frames.square().mean(dim=1)
            f0, aperiodicity = yin(spectral.frame_signal(samples, hop, pitch_len, j0, j1), sample_rate)
            voiced = (1 - aperiodicity) * (spectral.power_to_db(mean_square) > VOICING_FLOOR_DBFS)
            values = np.concatenate(
                [mel.numpy(), mean_square.numpy()[:, None], voiced.numpy()[:, None], np.log(f0.numpy())[:, None]], axis=1
            )
            weights = np.ones_like(values)
            weights[:, -1] = voiced.numpy()
            means.add(j0, values, weights)
            fluxes.add(j0, flux[:, None])
            if on_progress is not None:
                on_progress(j1, total)
    pooled = means.mean()
    return np.concatenate(
        [
            spectral.power_to_db(pooled[:, :n_mels]),
            spectral.power_to_db(pooled[:, n_mels : n_mels + 1]),
            fluxes.maximum(),
            pooled[:, n_mels + 1 : n_mels + 3],
        ],
        axis=1,
    ).astype(np.float32)
