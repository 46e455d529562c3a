"""The ``whisper-tiny`` encoder: EchoMimicV2's audio tokens, 50 × 384 per video frame.

EchoMimicV2 (and MuseTalk, whose code it reuses) drive their denoiser's cross-attention with a
patched OpenAI Whisper-tiny encoder. This module reproduces that feature with transformers'
``WhisperModel`` encoder from a local folder or the Hugging Face cache; references are to
``BadToBest/EchoMimicV2:src/models/whisper/{audio2feature.py, whisper/audio.py, whisper/model.py,
whisper/transcribe.py}`` (MuseTalk's ``musetalk/whisper`` is the same code):

1. **Log-mel** of the whole 16 kHz clip as ``whisper/audio.py``: 400-point periodic-Hann STFT,
   hop 160, centred with reflection padding, the last frame dropped; 80 Slaney mel bands
   (librosa's filters); log10 with floor 1e-10; clamped to (global max - 8); then (x + 4) / 4.
2. **30 s segments** as the patched ``transcribe``: mel frames [s, s + 3000), zero-padded to 3000,
   each encoded on its own; of each segment, the first ``(len // 2)`` 50 Hz steps are kept.
3. **Hidden states** as the patched ``AudioEncoder.forward(include_embeddings=True)``: the input
   embedding (after the positional embedding) and the output of every block, *before* the
   final LayerNorm, stacked to [S, 1 + L, D] (tiny: L = 4, D = 384). transformers' own
   ``hidden_states`` ends with the LayerNorm applied, so hooks on the blocks read them instead.
4. **Per video frame** i at fps f, as ``get_sliced_feature(audio_feat_length=[2, 2])``: centre
   ``int(i * 50 / f)``, steps [centre - 4, centre + 6) clamped to [0, S - 1], flattened step-major
   to (10 · (1 + L)) tokens: ``[T, 50, 384]`` float32 for whisper-tiny.

Differences: the encoder runs in float32 (their CUDA path runs float16), and T is ours,
round(duration · fps) (theirs runs one frame past the audio).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from emo2cli.audio import spectral
from emo2cli.errors import InputError

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
STEPS_BEFORE, STEPS_AFTER = 4, 6  # audio_feat_length = [2, 2]: [centre - 2·2, centre + (2 + 1)·2)


def log_mel(samples: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    """Whisper's normalised log-mel of a whole clip, [n_mels, N // 160] float32."""
    x = torch.from_numpy(np.ascontiguousarray(samples, np.float32))
    pad = N_FFT // 2
    if len(x) <= pad:  # reflection needs more samples than the pad
        x = torch.nn.functional.pad(x, (0, pad + 1 - len(x)))
    stft = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)  # center, reflect
    power = stft[:, : len(samples) // HOP].abs().square()
    mel = spectral.mel_filterbank(N_FFT, n_mels, SAMPLE_RATE).T @ power
    log_spec = mel.clamp_min(1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def load_encoder(path: str | os.PathLike, device: str = "cpu"):
    """The encoder of ``WhisperModel.from_pretrained(path)`` (eval, on ``device``; the last one is cached).

    Raises:
        InputError: the folder is not a Whisper checkpoint (names the folder).
    """
    return _load_encoder(str(Path(path).resolve()), str(device))


@functools.lru_cache(maxsize=1)
def _load_encoder(path: str, device: str):
    from transformers import WhisperModel

    from emo2cli.audio.wav2vec import load_pretrained

    return load_pretrained(WhisperModel, path, "Whisper").get_encoder().to(torch.device(device)).eval()


def encoder_states(encoder, mel_segment: torch.Tensor) -> torch.Tensor:
    """[1 + L, S, D] hidden states of one padded segment [n_mels, 2·S]: embedding, then each block, no final LayerNorm.

    The one place with forward hooks (STYLE §1): transformers applies the final LayerNorm before
    it returns the last hidden state, and the feature needs the block output without it.
    """
    captured: list[torch.Tensor] = []

    def keep_input(_module, args):
        captured.append(args[0])

    def keep_output(_module, _args, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    handles = [encoder.layers[0].register_forward_pre_hook(keep_input)]
    handles += [layer.register_forward_hook(keep_output) for layer in encoder.layers]
    try:
        encoder(mel_segment[None].to(next(encoder.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack([c[0].float().cpu() for c in captured])


def encode_whisper(
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    encoder,
    on_progress: Callable[[float, float], None] | None = None,
) -> np.ndarray:
    """EchoMimicV2's Whisper tokens per video frame.

    Args:
        samples: [N] float32 mono at 16 kHz.
        sample_rate: Hz (must be 16000).
        fps: video frame rate; T = round(N / 16000 · fps).
        encoder: a transformers ``WhisperEncoder`` (:func:`load_encoder`).
        on_progress: called with (segments done, segments).

    Returns:
        [T, 10 · (1 + L), D] float32 ([T, 50, 384] for whisper-tiny), tokens step-major.
    """
    if sample_rate != SAMPLE_RATE:
        raise InputError(f"audio.sample_rate = {sample_rate}: Whisper reads {SAMPLE_RATE} Hz")
    t_frames = spectral.video_frames(len(samples) / sample_rate, fps)
    mel = log_mel(samples, encoder.config.num_mel_bins)
    segment = 2 * encoder.config.max_source_positions  # mel frames per segment (3000 = 30 s)
    starts = range(0, max(mel.shape[1], 1), segment)
    kept = []
    with torch.inference_mode():
        for k, seek in enumerate(starts):
            piece = mel[:, seek : seek + segment]
            steps = piece.shape[1] // 2
            piece = torch.nn.functional.pad(piece, (0, segment - piece.shape[1]))
            kept.append(encoder_states(encoder, piece)[:, :steps])
            if on_progress is not None:
                on_progress(k + 1, len(starts))
    states = torch.cat(kept, dim=1).permute(1, 0, 2).numpy()  # [S, 1 + L, D]
    if len(states) == 0:
        raise InputError(f"is {len(samples) / sample_rate * 1000:.0f} ms long: too short for Whisper's 20 ms steps")
    centre = (np.arange(t_frames) * 50.0 / fps).astype(np.int64)
    steps = np.clip(centre[:, None] + np.arange(-STEPS_BEFORE, STEPS_AFTER), 0, len(states) - 1)  # [T, 10]
    return np.ascontiguousarray(states[steps].reshape(t_frames, -1, states.shape[-1]), dtype=np.float32)
