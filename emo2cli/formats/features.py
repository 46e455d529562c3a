"""Audio features: ``NAME.feats.npy`` (float32 [T, D]) + ``NAME.feats.json``, tag ``emo2.audio_features/1``.

One row per video frame: row i describes the audio around time i / fps. T equals
``round(duration_s * fps)`` (DESIGN §2).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_path, atomic_write_text, make_tag, read_tagged_json, refuse_overwrite

KIND = "audio_features"
MAJOR = 1
FORMAT = make_tag(KIND, MAJOR)
SUFFIX = ".feats.npy"
SIDECAR_SUFFIX = ".feats.json"


@dataclass
class AudioFeatures:
    """A frame-aligned audio feature table and its provenance.

    Attributes:
        features: [T, D] float32, one row per video frame (or [T, K, D] for token encoders).
        fps: video frame rate the rows are aligned to.
        sample_rate: rate (Hz) the encoder read the waveform at.
        encoder: encoder name ("mel", "wav2vec2", ...), checked against Stage 1 checkpoints.
        encoder_revision: model id/revision or the mel settings hash.
        duration_s: audio duration in seconds.
        source: the audio file the features came from (as given).
        source_sha256: hex sha256 of the source file's bytes.
        extra: encoder-specific settings (layer, bands, ...), kept verbatim in the sidecar.
    """

    features: np.ndarray
    fps: float
    sample_rate: int
    encoder: str
    encoder_revision: str
    duration_s: float
    source: str = ""
    source_sha256: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        return int(self.features.shape[-1])

    def sidecar(self) -> dict:
        d = asdict(self)
        d.pop("features")
        return {"format": FORMAT, **d, "dim": self.dim, "num_frames": self.num_frames}

    def validate(self, path: str | os.PathLike | None = None) -> None:
        where = path if path is not None else "<features>"
        f = self.features
        if not isinstance(f, np.ndarray) or f.dtype != np.float32:
            raise InputError(f"features must be float32, got {getattr(f, 'dtype', type(f).__name__)}", path=where)
        if f.ndim not in (2, 3) or f.shape[0] == 0 or f.shape[-1] == 0:
            raise InputError(f"features have shape {list(f.shape)}, expected [T, D] with T, D > 0", path=where)
        if not np.all(np.isfinite(f)):
            raise InputError("features contain NaN or Inf", path=where)
        if not (self.fps > 0 and self.sample_rate > 0 and self.duration_s > 0):
            raise InputError("fps, sample_rate and duration_s must be positive", path=where)
        expected = round(self.duration_s * self.fps)
        if f.shape[0] != expected:
            raise InputError(
                f"has {f.shape[0]} frames but round(duration_s * fps) = {expected} (T mismatch)", path=where
            )


def feature_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """Any of ``NAME``, ``NAME.feats.npy``, ``NAME.feats.json`` → (npy path, json path)."""
    p = Path(path)
    name = p.name
    for suffix in (SUFFIX, SIDECAR_SUFFIX):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.with_name(name + SUFFIX), p.with_name(name + SIDECAR_SUFFIX)


def write_features(feats: AudioFeatures, path: str | os.PathLike, force: bool = False) -> Path:
    """Write the table and its sidecar atomically (the sidecar last: its presence marks completion)."""
    npy, sidecar = feature_paths(path)
    feats.validate(npy)
    refuse_overwrite(sidecar, force)
    with atomic_path(npy, force) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, feats.features, allow_pickle=False)
    atomic_write_text(sidecar, json.dumps(feats.sidecar(), indent=2, sort_keys=True) + "\n", force=True)
    return npy


def read_features(path: str | os.PathLike) -> AudioFeatures:
    """Read ``NAME.feats.npy`` + ``NAME.feats.json`` (either path works).

    Raises:
        InputError: a missing table or sidecar, an unknown version, a corrupt array, a T or D
            mismatch between the table and the sidecar.
    """
    npy, sidecar = feature_paths(path)
    for p in (npy, sidecar):
        if not p.is_file():
            raise InputError("no such file", path=p, hint="run `emo2 extract-audio` first")
    meta = read_tagged_json(
        sidecar, KIND, MAJOR, ("fps", "sample_rate", "encoder", "encoder_revision", "duration_s", "dim", "num_frames")
    )
    try:
        table = np.load(npy, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"is not a readable .npy array ({e})", path=npy) from None
    if table.ndim < 2 or table.shape[0] != meta["num_frames"] or table.shape[-1] != meta["dim"]:
        raise InputError(
            f"has shape {list(table.shape)} but the sidecar says [{meta['num_frames']}, {meta['dim']}]", path=npy
        )
    feats = AudioFeatures(
        features=table,
        fps=float(meta["fps"]),
        sample_rate=int(meta["sample_rate"]),
        encoder=str(meta["encoder"]),
        encoder_revision=str(meta["encoder_revision"]),
        duration_s=float(meta["duration_s"]),
        source=str(meta.get("source", "")),
        source_sha256=str(meta.get("source_sha256", "")),
        extra=dict(meta.get("extra", {})),
    )
    feats.validate(npy)
    return feats
