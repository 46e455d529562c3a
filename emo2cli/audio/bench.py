"""``emo2 bench audio``: real-time factors of decoding and of both encoders, peak memory for 10 minutes.

Real-time factor (RTF) = wall seconds / audio seconds (below 1 is faster than real time). The
wav2vec2 figures use a randomly initialised model built from ``Wav2Vec2Config()`` defaults: the
wav2vec2-base architecture (94 M parameters), so the same compute as the real checkpoint, with
no download. Peak memory is the process's peak resident set size during the call minus before it
(``emo2cli.bench.measure``); the 10-minute figures each run in a fresh process, so memory that
an earlier run freed (and the allocator kept) cannot hide a peak.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from emo2cli.bench import measure

SR = 16000
LONG_S = 600.0  # "10 minutes of audio" for the memory figures
WAV2VEC2_LONG_LIMIT_S = 120.0  # run wav2vec2 on 10 minutes only when it is expected to take less


def speechlike(seconds: float, sample_rate: int = SR, seed: int = 0) -> np.ndarray:
    """[N] float32: a voiced harmonic tone with a syllable-rate (4 Hz) envelope plus noise."""
    g = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = 0.3 * np.sin(phase) + 0.15 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return ((voiced * envelope) + 0.01 * g.standard_normal(len(t))).astype(np.float32)


def _write_wav(path: Path, seconds: float) -> Path:
    """A 44.1 kHz stereo 16-bit WAV of ``seconds`` (the usual recording a user gives)."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        for start in range(0, int(seconds), 60):  # a minute at a time: constant memory here too
            block = speechlike(min(60.0, seconds - start), 44100, seed=start)
            w.writeframes((np.repeat(block[:, None], 2, axis=1) * 32767).astype("<i2").tobytes())
    return path


def _rtf(measurement, seconds: float) -> dict:
    return {"rtf": round(measurement.wall_s / seconds, 5), **measurement.to_dict()}


def _base_sized_wav2vec2(device: str):
    """wav2vec2-base architecture with random weights (``Wav2Vec2Config()`` defaults), eval mode."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    return Wav2Vec2Model(Wav2Vec2Config()).to(torch.device(device)).eval()


def _long_run(stage: str, folder: str, device: str) -> dict:
    """One 10-minute measurement, run in a fresh process so earlier runs' freed memory does not hide its peak."""
    from emo2cli.audio.load import load_audio
    from emo2cli.audio.mel import encode_mel
    from emo2cli.audio.wav2vec import encode_wav2vec

    wav = Path(folder) / "long.wav"
    if stage == "load":
        load_audio(Path(folder) / "short.wav")  # warm-up: torch's first conv allocates its pools
        _, m = measure(lambda: load_audio(wav))
        return _rtf(m, LONG_S)
    samples = load_audio(wav).samples
    if stage == "mel":
        encode_mel(samples[: SR * 2], SR, 25.0)  # warm-up: filterbanks, FFT plans
        _, m = measure(lambda: encode_mel(samples, SR, 25.0))
    else:
        model = _base_sized_wav2vec2(device)
        encode_wav2vec(samples[: SR * 2], SR, 25.0, model)
        _, m = measure(lambda: encode_wav2vec(samples, SR, 25.0, model))
    return _rtf(m, LONG_S)


def bench(seconds: float = 60.0, device: str = "cpu") -> dict:
    """Time decoding, the mel encoder and a base-sized wav2vec2 on ``seconds`` of audio; memory on 10 min.

    Returns:
        JSON-ready dict: per stage ``rtf``, ``wall_s``, ``peak_rss_mb``, ``peak_delta_mb``.
    """
    import multiprocessing

    from emo2cli.audio.load import load_audio
    from emo2cli.audio.mel import encode_mel
    from emo2cli.audio.wav2vec import encode_wav2vec

    report: dict = {"audio_s": seconds, "long_audio_s": LONG_S, "device": device}
    with tempfile.TemporaryDirectory(prefix="emo2-bench-audio-") as tmp:
        short_wav = _write_wav(Path(tmp) / "short.wav", seconds)
        wave, m = measure(lambda: load_audio(short_wav))
        report["load_44k1_stereo_wav"] = _rtf(m, seconds)
        x = wave.samples
        encode_mel(x[: SR * 2], SR, 25.0)  # warm-up
        _, m = measure(lambda: encode_mel(x, SR, 25.0))
        report["mel"] = _rtf(m, seconds)

        model = _base_sized_wav2vec2(device)
        encode_wav2vec(x[: SR * 2], SR, 25.0, model)  # warm-up (allocator, kernels)
        _, m = measure(lambda: encode_wav2vec(x, SR, 25.0, model))
        report["wav2vec2"] = {
            "weights": "random init, Wav2Vec2Config() defaults (wav2vec2-base size; same compute as the real model)",
            "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
            "chunk_s": 20.0,
            "overlap_s": 1.0,
            **_rtf(m, seconds),
        }
        wav2vec2_rtf = m.wall_s / seconds

        _write_wav(Path(tmp) / "long.wav", LONG_S)
        long = {
            "note": "each in a fresh process; peak_delta_mb = peak RSS during the call minus RSS before it "
            "(for load: the 16 kHz output, 36.6 MB, included; for the encoders: the input waveform excluded)",
        }
        stages = ["load", "mel"]
        if wav2vec2_rtf * LONG_S < WAV2VEC2_LONG_LIMIT_S:
            stages.append("wav2vec2")
        else:
            long["wav2vec2"] = f"skipped: expected {wav2vec2_rtf * LONG_S:.0f} s (> {WAV2VEC2_LONG_LIMIT_S:.0f} s) at the RTF above"
        with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
            for stage in stages:
                long[stage] = pool.apply(_long_run, (stage, tmp, device))
        report["memory_10min"] = long
    return report
