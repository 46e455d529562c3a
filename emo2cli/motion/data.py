"""Stage 1 training data: a folder of ``NAME.hands.npz`` + ``NAME.wav`` (or ``NAME.feats.npy``) pairs → random windows.

Each pair becomes a :class:`MotionClip` (134-vectors, hand mask, features on the same frame grid).
:class:`MotionWindows` draws training windows of C + N frames from them, with the conditions the
model takes (style, speed, rest offset). :func:`motion_statistics` computes the normalisation
that the checkpoint records.

Definitions shared with the samplers and the rules generator:

- **speed** (:func:`translation_speed`): variance over time of the wrist translation, summed over
  x, y, z, averaged over the hands that are valid, in cm² (DESIGN §3: "the variance of hand
  translation"). Training computes it on each window's N generated frames.
- **offset**: each hand's body-relative rest position, the median wrist position over the clip's
  valid frames (metres); the rest pose's wrists when a hand is never valid.
- **style**: ``meta["style"]`` of the hands file when the checkpoint knows it, else ``talk``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError
from emo2cli.formats.features import SUFFIX as FEATS_SUFFIX
from emo2cli.formats.features import AudioFeatures, read_features
from emo2cli.formats.hands import SUFFIX as HANDS_SUFFIX
from emo2cli.formats.hands import HandMotion, read_hands
from emo2cli.hands.rest import REST_WRIST_M
from emo2cli.hands.vector import PER_HAND, VECTOR_DIM, hands_to_vector

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac", ".mp4", ".mov", ".mkv", ".webm")
STD_FLOOR = 1e-3  # a value that never changes (e.g. an unused joint) is divided by this, not by 0
MAX_FRAME_MISMATCH = 2  # features and hands may differ by this many frames (rounding); more is an error


def translation_speed(transl: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Speed as the model is conditioned on it: variance of wrist translation, cm².

    Args:
        transl: [T, 2, 3] metres; mask: [T, 2] bool (None = all valid).

    Returns:
        mean over hands with ≥ 2 valid frames of the summed per-axis variance, in cm²; 0 if none.
    """
    transl = np.asarray(transl, np.float64)
    mask = np.ones(transl.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    values = [transl[mask[:, h], h].var(axis=0).sum() for h in range(2) if mask[:, h].sum() >= 2]
    return float(np.mean(values) * 1e4) if values else 0.0


def hand_offset(transl: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[2, 3] float32: median wrist position of each hand over its valid frames (rest wrist if none)."""
    out = REST_WRIST_M.astype(np.float64).copy()
    for h in range(2):
        if mask[:, h].any():
            out[h] = np.median(transl[mask[:, h], h], axis=0)
    return out.astype(np.float32)


@dataclass
class MotionClip:
    """One training pair on a common frame grid.

    Attributes:
        name: the pair's base name.
        vector: [T, 134] float32 134-vectors (frames whose hand is invalid hold whatever the file had).
        mask: [T, 2] bool valid hands.
        features: [T, D] float32 audio features.
        style: style name.
        offset: [2, 3] float32 rest wrist positions, metres.
    """

    name: str
    vector: np.ndarray
    mask: np.ndarray
    features: np.ndarray
    style: str
    offset: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.vector.shape[0])


def make_clip(name: str, hands: HandMotion, feats: AudioFeatures, style: str | None = None, where: Path | None = None) -> MotionClip:
    """Align a hands file and its features into a :class:`MotionClip`.

    Raises:
        InputError: different frame rates, or frame counts that differ by more than a rounding.
    """
    if abs(hands.fps - feats.fps) > 1e-6:
        raise InputError(f"hands are at {hands.fps:g} fps but the features at {feats.fps:g} fps", path=where,
                         hint=f"re-extract with `emo2 extract-audio --fps {hands.fps:g}`")  # fmt: skip
    if feats.features.ndim != 2:
        raise InputError(f"features have shape {list(feats.features.shape)}; Stage 1 needs [T, D] (one row per frame)", path=where)
    t = min(hands.num_frames, feats.num_frames)
    if abs(hands.num_frames - feats.num_frames) > MAX_FRAME_MISMATCH:
        raise InputError(f"hands have {hands.num_frames} frames but the features {feats.num_frames}", path=where)
    return MotionClip(
        name=name,
        vector=hands_to_vector(hands)[:t],
        mask=hands.mask[:t].copy(),
        features=feats.features[:t].astype(np.float32),
        style=style or str(hands.meta.get("style") or "talk"),
        offset=hand_offset(hands.transl[:t], hands.mask[:t]),
    )


def find_pairs(data_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """(name, hands file, features-or-audio file) for every ``NAME.hands.npz`` with a partner.

    ``NAME.feats.npy`` is preferred over an audio file of the same name.

    Raises:
        InputError: no such folder, or no complete pair in it.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("no such folder", path=data_dir)
    pairs, lonely = [], []
    for hands_path in sorted(data_dir.glob("*" + HANDS_SUFFIX)):
        name = hands_path.name[: -len(HANDS_SUFFIX)]
        partners = [data_dir / (name + FEATS_SUFFIX)] + [data_dir / (name + s) for s in AUDIO_SUFFIXES]
        found = next((p for p in partners if p.is_file()), None)
        if found is None:
            lonely.append(name)
        else:
            pairs.append((name, hands_path, found))
    if lonely:
        logger.warning("%d hands files have no NAME.feats.npy or audio partner and are skipped: %s", len(lonely), ", ".join(lonely[:5]))
    if not pairs:
        raise InputError(f"holds no NAME{HANDS_SUFFIX} + NAME.wav (or NAME{FEATS_SUFFIX}) pair", path=data_dir,
                         hint="make pairs with `emo2 track-hands`, `emo2 import-hands` and `emo2 extract-audio`")  # fmt: skip
    return pairs


def load_clips(data_dir: str | Path, preset: Preset, on_progress: Callable[[int, int], None] | None = None) -> list[MotionClip]:
    """Read every pair of ``data_dir``; audio files are encoded with ``preset.audio`` at the hands' fps.

    Raises:
        InputError: a bad file (named), or clips whose features differ in encoder or width.
    """
    from emo2cli.audio.extract import extract_features

    pairs = find_pairs(data_dir)
    clips, encoders = [], set()
    for i, (name, hands_path, partner) in enumerate(pairs):
        hands = read_hands(hands_path)
        if partner.name.endswith(FEATS_SUFFIX):
            feats = read_features(partner)
        else:
            feats = extract_features(partner, preset.audio, hands.fps)
        encoders.add((feats.encoder, feats.dim))
        if len(encoders) > 1:
            raise InputError(f"features of several encoders in one dataset: {sorted(encoders)}", path=partner,
                             hint="extract all features with the same --encoder")  # fmt: skip
        clips.append(make_clip(name, hands, feats, where=partner))
        if on_progress is not None:
            on_progress(i + 1, len(pairs))
    return clips


def dataset_encoder(data_dir: str | Path, preset: Preset) -> tuple[str, str]:
    """(encoder, revision) the features of ``data_dir`` come from (first feats file, else the preset's choice)."""
    from emo2cli.audio.extract import choose_encoder

    for _, _, partner in find_pairs(data_dir):
        if partner.name.endswith(FEATS_SUFFIX):
            feats = read_features(partner)
            return feats.encoder, feats.encoder_revision
    return choose_encoder(preset.audio)[0], ""


def motion_statistics(clips: list[MotionClip], window: int) -> dict:
    """Normalisation and typical speeds recorded in the checkpoint config.

    Returns:
        ``motion_mean``/``motion_std`` [134] over valid hand values, ``audio_mean``/``audio_std``
        [D], and ``style_speeds`` {style: median speed of the clips' non-overlapping N-frame windows}.
    """
    sums = np.zeros(VECTOR_DIM)
    squares = np.zeros(VECTOR_DIM)
    counts = np.zeros(VECTOR_DIM)
    feats = np.concatenate([c.features for c in clips])
    speeds: dict[str, list[float]] = {}
    for clip in clips:
        weights = np.repeat(clip.mask, PER_HAND, axis=1).astype(np.float64)  # [T, 134]
        sums += (clip.vector * weights).sum(0)
        squares += (clip.vector.astype(np.float64) ** 2 * weights).sum(0)
        counts += weights.sum(0)
        transl = clip.vector.reshape(-1, 2, PER_HAND)[:, :, 64:]
        for start in range(0, max(clip.num_frames - window, 0) + 1, window):
            speeds.setdefault(clip.style, []).append(translation_speed(transl[start : start + window], clip.mask[start : start + window]))
    mean = sums / np.maximum(counts, 1)
    std = np.sqrt(np.maximum(squares / np.maximum(counts, 1) - mean**2, 0))
    return {
        "motion_mean": mean.astype(np.float32).tolist(),
        "motion_std": np.maximum(std, STD_FLOOR).astype(np.float32).tolist(),
        "audio_mean": feats.mean(0).astype(np.float32).tolist(),
        "audio_std": np.maximum(feats.std(0), STD_FLOOR).astype(np.float32).tolist(),
        "style_speeds": {k: float(np.median(v)) for k, v in sorted(speeds.items())},
    }


class MotionWindows:
    """Random training windows of ``context + window`` frames from a list of clips.

    A clip is drawn with probability proportional to its length, a start uniformly; clips shorter
    than a window are padded with their last frame, marked invalid. The audio runs ``lookahead``
    frames past the window (the clip's last frame repeated past its end, as the sampler pads). With probability
    ``rest_context`` the context frames become the rest pose (and their audio the window's first
    frame), which is what the sampler gives the first window.
    """

    def __init__(self, clips: list[MotionClip], window: int, context: int, style_names: list[str], rest_context: float = 0.1, lookahead: int = 0):
        if not clips:
            raise ValueError("no clips")
        from emo2cli.motion.pipeline import rest_vector

        self.clips = clips
        self.window, self.context = window, context
        self.length = window + context
        self.lookahead = lookahead
        lengths = np.array([c.num_frames for c in clips], np.float64)
        self.prob = lengths / lengths.sum()
        self.style_ids = np.array([style_names.index(c.style) if c.style in style_names else 0 for c in clips])
        self.rest = rest_vector()
        self.rest_context = rest_context

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A batch: ``motion`` [B, C+N, 134], ``audio`` [B, C+N+A, D], ``mask`` [B, C+N, 2] bool,
        ``style`` [B] int64, ``speed`` [B] float32 cm², ``offset`` [B, 2, 3] float32."""
        out: dict[str, list] = {k: [] for k in ("motion", "audio", "mask", "style", "speed", "offset")}
        for k in rng.choice(len(self.clips), size=batch_size, p=self.prob):
            clip = self.clips[k]
            start = int(rng.integers(0, max(clip.num_frames - self.length, 0) + 1))
            idx = np.arange(start, start + self.length + self.lookahead)
            valid = idx[: self.length] < clip.num_frames
            idx = np.minimum(idx, clip.num_frames - 1)
            motion, audio = clip.vector[idx[: self.length]].copy(), clip.features[idx].copy()
            mask = clip.mask[idx[: self.length]] & valid[:, None]
            if self.context and rng.random() < self.rest_context:
                motion[: self.context] = self.rest
                audio[: self.context] = audio[self.context]
                mask[: self.context] = True
            transl = motion[self.context :].reshape(-1, 2, PER_HAND)[:, :, 64:]
            out["motion"].append(motion)
            out["audio"].append(audio)
            out["mask"].append(mask)
            out["style"].append(self.style_ids[k])
            out["speed"].append(translation_speed(transl, mask[self.context :]))
            out["offset"].append(clip.offset)
        return {
            "motion": np.stack(out["motion"]).astype(np.float32),
            "audio": np.stack(out["audio"]).astype(np.float32),
            "mask": np.stack(out["mask"]),
            "style": np.array(out["style"], np.int64),
            "speed": np.array(out["speed"], np.float32),
            "offset": np.stack(out["offset"]).astype(np.float32),
        }
