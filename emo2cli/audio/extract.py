"""``extract_features``: any audio or video file → a frame-aligned :class:`AudioFeatures` table.

The only audio function the CLI calls. It decodes the file (:mod:`emo2cli.audio.load`), picks
the encoder, and fills the sidecar's provenance:

* ``mel``: the built-in weight-free encoder (:mod:`emo2cli.audio.mel`);
* ``wav2vec2``: ``audio.wav2vec2_model`` through the weights resolver (:mod:`emo2cli.audio.wav2vec`);
  a missing model is a :class:`MissingPrerequisite` naming where it was looked for;
* ``auto`` (default): ``wav2vec2`` when its weights are already on this machine (never
  downloads), else ``mel``, with one notice per process saying so;
* ``whisper-tiny``: EchoMimicV2's audio tokens (:mod:`emo2cli.audio.whisper`), ``audio.whisper_model``
  through the resolver; a ``[T, 50, 384]`` table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from emo2cli.audio import mel, spectral, wav2vec
from emo2cli.audio.load import load_audio
from emo2cli.config import AudioConfig
from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.formats._tag import sha256_file
from emo2cli.formats.features import AudioFeatures

logger = logging.getLogger(__name__)

_noticed: set[str] = set()  # wav2vec2 references already reported missing by `auto`


def choose_encoder(cfg: AudioConfig) -> tuple[str, Path | None]:
    """(encoder name, model folder or None) for ``cfg.encoder``.

    Raises:
        MissingPrerequisite: ``wav2vec2`` or ``whisper-tiny`` asked for and its model not found.
    """
    if cfg.encoder == "mel":
        return "mel", None
    if cfg.encoder == "wav2vec2":
        return "wav2vec2", wav2vec.resolve_model(cfg.wav2vec2_model)
    if cfg.encoder == "whisper-tiny":
        from emo2cli import weights

        return "whisper-tiny", weights.resolve(
            cfg.whisper_model, "Whisper-tiny encoder", env_var="EMO2_WHISPER", instead="pass --encoder mel or wav2vec2"
        )
    path = wav2vec.resolve_model(cfg.wav2vec2_model, allow_missing=True)
    if path is not None:
        return "wav2vec2", path
    if cfg.wav2vec2_model not in _noticed:
        _noticed.add(cfg.wav2vec2_model)
        logger.info(
            "wav2vec 2.0 weights '%s' are not on this machine: using the built-in mel encoder "
            "(see `emo2 weights`; place the model there or set EMO2_WAV2VEC2 to use wav2vec2)",
            cfg.wav2vec2_model,
        )
    return "mel", None


def check_device(device: str) -> str:
    """Validate a device string; cuda must be present.

    Raises:
        InputError: not a device name; MissingPrerequisite: CUDA asked for and not available.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"unknown device '{device}'", hint="use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise MissingPrerequisite(f"device '{device}' asked for, but CUDA is not available here", hint="use --device cpu")
    if parsed.type not in ("cpu", "cuda"):
        raise InputError(f"unsupported device '{device}'", hint="use cpu, cuda or cuda:N")
    return device


def extract_features(
    path: str | os.PathLike,
    audio_cfg: AudioConfig,
    fps: float,
    on_progress: Callable[[float, float], None] | None = None,
) -> AudioFeatures:
    """Decode ``path`` and encode it into one feature row per video frame.

    Args:
        path: audio file, or a video with an audio track.
        audio_cfg: encoder choice and settings (``preset.audio``).
        fps: video frame rate; T = round(duration_s * fps).
        on_progress: called with (done, total) units of encoder work.

    Returns:
        AudioFeatures: ``features`` [T, D] float32 (D = n_mels + 4 for mel, hidden size for
        wav2vec2) or [T, 50, 384] (whisper-tiny), with the encoder, its revision and settings recorded.

    Raises:
        InputError: unreadable audio (see :func:`load_audio`), audio shorter than one frame.
        MissingPrerequisite: the chosen encoder's weights or device are missing.
    """
    path = Path(path)
    encoder, model_dir = choose_encoder(audio_cfg)
    device = check_device(audio_cfg.device)
    wave = load_audio(path, audio_cfg.sample_rate)
    if spectral.video_frames(wave.duration_s, fps) < 1:
        raise InputError(f"is {wave.duration_s * 1000:.1f} ms long: shorter than one video frame at {fps:g} fps", path=path)
    extra: dict = {"source_sample_rate": wave.source_rate, "source_channels": wave.source_channels}
    if encoder == "mel":
        table = mel.encode_mel(wave.samples, wave.sample_rate, fps, audio_cfg.n_mels, on_progress)
        revision = mel.revision(wave.sample_rate, fps, audio_cfg.n_mels)
        extra.update(mel.settings(wave.sample_rate, fps, audio_cfg.n_mels))
    elif encoder == "whisper-tiny":
        from emo2cli.audio import whisper

        table = whisper.encode_whisper(wave.samples, wave.sample_rate, fps, whisper.load_encoder(model_dir, device), on_progress)
        revision = wav2vec.revision(audio_cfg.whisper_model, model_dir)
        extra.update({"model": audio_cfg.whisper_model, "tokens_per_frame": table.shape[1], "layout": "[T, tokens, D]: 10 steps at 50 Hz x (embedding + blocks), step-major"})
    else:
        model = wav2vec.load_model(model_dir, device)
        table = wav2vec.encode_wav2vec(
            wave.samples,
            wave.sample_rate,
            fps,
            model,
            layer=audio_cfg.wav2vec2_layer,
            average_last=audio_cfg.wav2vec2_average_last,
            chunk_s=audio_cfg.chunk_s,
            overlap_s=audio_cfg.overlap_s,
            normalise=wav2vec.reads_normalised(model_dir),
            on_progress=on_progress,
        )
        revision = wav2vec.revision(audio_cfg.wav2vec2_model, model_dir)
        extra.update(
            {
                "model": audio_cfg.wav2vec2_model,
                "layer": audio_cfg.wav2vec2_layer,
                "average_last": audio_cfg.wav2vec2_average_last,
                "chunk_s": audio_cfg.chunk_s,
                "overlap_s": audio_cfg.overlap_s,
                "model_frame_rate_hz": wave.sample_rate / wav2vec.frame_geometry(model.config)[1],
                "interpolation": "linear",
            }
        )
    return AudioFeatures(
        features=table,
        fps=float(fps),
        sample_rate=wave.sample_rate,
        encoder=encoder,
        encoder_revision=revision,
        duration_s=wave.duration_s,
        source=str(path),
        source_sha256=sha256_file(path),
        extra=extra,
    )
