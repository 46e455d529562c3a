"""The ``wav2vec2`` encoder: transformers ``Wav2Vec2Model`` hidden states on the video frame grid.

Baevski et al. 2020, "wav2vec 2.0" (arXiv:2006.11477); the model class is transformers'
``Wav2Vec2Model`` (any checkpoint of that architecture: base, large, a CTC fine-tune, whose CTC
head is ignored).

* **Layer choice.** ``layer`` indexes ``hidden_states`` (0 = the projected convolutional features
  after the positional convolution, L = the last transformer layer; negative counts from the
  end); ``average_last = k`` averages the k states ending at ``layer``.
* **Long audio.** Chunks of ``chunk_s`` seconds overlapping by ``overlap_s``; chunk starts lie on
  the model's 320-sample frame grid, so a chunk's frames are frames of the global grid. Each chunk
  is weighted by a trapezoid that is 0 on the outer quarter of each overlap and ramps linearly to
  1 across its middle half (cross-fade); weights are normalised per frame. Anything in the model
  that sees less than a quarter of the overlap (the convolutional front end, layer 0 with a
  short positional convolution) is therefore reproduced exactly; transformer layers attend over
  the whole input, so their chunked output is an approximation of a single pass by design (a
  single pass over 10 minutes would need a 30000² attention matrix per head). The input is
  normalised with the mean and variance of the *whole* waveform, as the feature extractor does
  for one utterance, so chunks do not each renormalise.
* **Frame grid.** Model frame g covers samples [320 g, 320 g + 400) and is placed at its centre;
  video frame i (time i / fps) is linearly interpolated between the two nearest model frames
  (clamped at the ends).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from emo2cli.audio import spectral
from emo2cli.errors import InputError

logger = logging.getLogger(__name__)

MODEL_SAMPLE_RATE = 16000  # every wav2vec 2.0 checkpoint reads 16 kHz


def frame_geometry(config) -> tuple[int, int]:
    """(receptive field, hop) of the convolutional feature encoder in samples (400, 320 for base)."""
    field, jump = 1, 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        field += (kernel - 1) * jump
        jump *= stride
    return field, jump


def load_model(path: str | os.PathLike, device: str = "cpu"):
    """``Wav2Vec2Model.from_pretrained(path)`` in eval mode on ``device``, kept for the next call.

    A batch of files reuses the loaded model (one model is cached; asking for another replaces it).

    Raises:
        InputError: the folder is not a wav2vec 2.0 checkpoint (names the folder).
    """
    return _load_model(str(Path(path).resolve()), str(device))


@functools.lru_cache(maxsize=1)
def _load_model(path: str, device: str):
    from transformers import Wav2Vec2Model

    return load_pretrained(Wav2Vec2Model, path, "wav2vec 2.0").to(torch.device(device)).eval()


def load_pretrained(model_class, path: str, what: str):
    """``model_class.from_pretrained(path)`` without transformers' progress bars, errors as InputError.

    Raises:
        InputError: the folder is not a ``what`` checkpoint (names the folder).
    """
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the library never draws on the terminal; restored below
    try:
        return model_class.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"is not a loadable {what} checkpoint ({str(e).splitlines()[0]})", path=path) from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def reads_normalised(path: str | os.PathLike) -> bool:
    """The checkpoint's ``preprocessor_config.json`` ``do_normalize`` (True when absent, the extractor's default)."""
    config = Path(path) / "preprocessor_config.json"
    if config.is_file():
        try:
            return bool(json.loads(config.read_text()).get("do_normalize", True))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return True
    return True


@functools.lru_cache(maxsize=8)
def _hash_files(files: tuple[tuple[str, int, int], ...]) -> str:
    from emo2cli.formats._tag import sha256_file

    h = hashlib.sha256()
    for name, _size, _mtime in files:
        h.update(Path(name).name.encode())
        h.update(sha256_file(name).encode())
    return h.hexdigest()


def revision(ref: str, path: str | os.PathLike) -> str:
    """``<ref>@<commit>`` for a Hugging Face cache snapshot, else ``<ref>@sha256:<16 hex>`` of the files."""
    path = Path(path)
    if path.parent.name == "snapshots" and len(path.name) == 40:
        return f"{ref}@{path.name}"
    files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".safetensors", ".bin") and p.is_file())
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return f"{ref}@sha256:{_hash_files(stats)[:16]}"


def layer_indices(num_states: int, layer: int, average_last: int) -> list[int]:
    """Indices into ``hidden_states`` (``num_states`` = layers + 1) read for ``layer`` / ``average_last``.

    Raises:
        InputError: naming the preset key when the layers do not exist in this model.
    """
    last = layer if layer >= 0 else num_states + layer
    first = last - average_last + 1
    if not 0 <= last < num_states:
        raise InputError(f"audio.wav2vec2_layer = {layer} does not exist: this model has hidden states 0..{num_states - 1}")
    if first < 0:
        raise InputError(f"audio.wav2vec2_average_last = {average_last} reaches below hidden state 0 from layer {last}")
    return list(range(first, last + 1))


def chunk_starts(num_samples: int, chunk: int, overlap: int, hop: int) -> list[int]:
    """Chunk start samples (multiples of ``hop``): every ``chunk - overlap``, the last one moved back so it is full length."""
    if num_samples <= chunk:
        return [0]
    step = chunk - overlap
    starts = list(range(0, num_samples - chunk, step))
    final = (num_samples - chunk) // hop * hop
    return sorted(set(starts + [final]))


def _trapezoid(n: int, left: bool, right: bool, margin: int, ramp: int) -> np.ndarray:
    """[n] weights: 0 on ``margin`` frames at an interior edge, then a linear ramp of ``ramp`` frames to 1."""
    i = np.arange(n, dtype=np.float64)
    w = np.ones(n)
    if left:
        w = np.minimum(w, np.clip((i - margin + 1) / (ramp + 1), 0, 1))
    if right:
        w = np.minimum(w, np.clip((n - i - margin) / (ramp + 1), 0, 1))
    return w


def encode_wav2vec(
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    model,
    layer: int = -1,
    average_last: int = 1,
    chunk_s: float = 20.0,
    overlap_s: float = 1.0,
    normalise: bool = True,
    on_progress: Callable[[float, float], None] | None = None,
) -> np.ndarray:
    """Encode a waveform with a ``Wav2Vec2Model`` and resample the states to the video grid.

    Args:
        samples: [N] float32 mono at 16 kHz.
        sample_rate: Hz (must be 16000).
        fps: video frame rate; T = round(N / sample_rate * fps).
        model: a ``Wav2Vec2Model`` in eval mode (its device is used).
        layer, average_last: which hidden states (module docstring).
        chunk_s, overlap_s: chunking of long audio (overlap raised to at least the receptive
            field plus three frames).
        normalise: zero-mean, unit-variance input (the checkpoint's ``do_normalize``).
        on_progress: called with (chunks done, chunks).

    Returns:
        [T, hidden_size] float32.
    """
    if sample_rate != MODEL_SAMPLE_RATE:
        raise InputError(f"audio.sample_rate = {sample_rate}: wav2vec 2.0 reads {MODEL_SAMPLE_RATE} Hz")
    samples = np.asarray(samples, np.float32)
    t_frames = spectral.video_frames(len(samples) / sample_rate, fps)
    field, hop = frame_geometry(model.config)
    indices = layer_indices(model.config.num_hidden_layers + 1, layer, average_last)
    n = max(len(samples), field)
    mean = float(samples.mean(dtype=np.float64)) if normalise else 0.0
    scale = 1.0 / math.sqrt(float(samples.var(dtype=np.float64)) + 1e-7) if normalise else 1.0

    chunk = max(1, round(chunk_s * sample_rate / hop)) * hop
    overlap = max(round(overlap_s * sample_rate / hop) * hop, math.ceil(field / hop) * hop + 3 * hop)
    chunk = max(chunk, 2 * overlap + hop)
    overlap_frames = (overlap - field) // hop + 1
    margin = overlap_frames // 4
    ramp = overlap_frames - 2 * margin
    num_global = (n - field) // hop + 1
    total = np.zeros((num_global, model.config.hidden_size), np.float32)  # 50 Hz accumulator: 92 MB per 10 min (base)
    weight = np.zeros(num_global, np.float32)
    starts = chunk_starts(n, chunk, overlap, hop)
    device = next(model.parameters()).device
    for k, start in enumerate(starts):
        end = n if k == len(starts) - 1 else min(start + chunk, n)
        piece = np.zeros(end - start, np.float32)
        real = samples[start : min(end, len(samples))]
        piece[: len(real)] = (real - mean) * scale
        with torch.inference_mode():
            out = model(torch.from_numpy(piece)[None].to(device), output_hidden_states=True)
            states = torch.stack([out.hidden_states[i][0] for i in indices]).mean(dim=0).float().cpu().numpy()
        g0 = start // hop
        w = _trapezoid(len(states), start > 0, end < n, margin, ramp)
        total[g0 : g0 + len(states)] += (w[:, None] * states).astype(np.float32)
        weight[g0 : g0 + len(states)] += w.astype(np.float32)
        if on_progress is not None:
            on_progress(k + 1, len(starts))
    total /= weight[:, None]  # in place: the stitched 50 Hz states
    stitched = total

    centre_s = (np.arange(num_global) * hop + (field - 1) / 2) / sample_rate
    pos = np.interp(np.arange(t_frames) / fps, centre_s, np.arange(num_global, dtype=np.float64))
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, num_global - 1)
    frac = (pos - lo)[:, None]
    frac = frac.astype(np.float32)
    return (1 - frac) * stitched[lo] + frac * stitched[hi]


def resolve_model(ref: str, allow_missing: bool = False) -> Path | None:
    """Local folder of the wav2vec 2.0 checkpoint named by ``ref`` (``$EMO2_WAV2VEC2`` wins).

    Args:
        allow_missing: return None instead of raising (the ``auto`` encoder's probe; never downloads).

    Raises:
        MissingPrerequisite: not found (unless ``allow_missing``).
    """
    from emo2cli import weights

    if allow_missing:
        return weights.locate(ref, "EMO2_WAV2VEC2", allow_download=False).path
    return weights.resolve(ref, "wav2vec 2.0 encoder", env_var="EMO2_WAV2VEC2", instead="pass --encoder mel (built in, needs no weights)")
