"""Other projects' PyTorch checkpoints, read safely and loaded into our models with a key report.

:func:`read_state_dict` is ``torch.load(weights_only=True, mmap=True)``: plain tensors only, never
arbitrary pickled objects, with errors that name the file and what is wrong. :func:`load_checked`
fills a model built on the meta device (:func:`build_on_meta`) from such a state dict: every key
the model needs must be supplied (by the file or by a fill rule) with the right shape, or the
load fails naming the key; keys the model does not use are reported. Used by
``emo2 convert-weights`` (:mod:`emo2cli.video.convert`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from emo2cli.errors import InputError

logger = logging.getLogger(__name__)

UNET_HINT = "these files do not fit the expected architecture; pass --base-unet with the UNet config they were trained from"
SOURCE_HINT = (
    "EchoMimicV2's Stage-2 files come from the BadToBest/EchoMimicV2 model page (download them yourself; emo2 never does)"
)


@dataclass
class KeyReport:
    """How one component's keys matched the files.

    loaded: keys taken from the files; filled: absent keys set by rule (position tables, the
    ReferenceNet's unused cross-attention); unexpected: keys in the files that the component
    does not have (skipped); missing / mismatched: what made the conversion fail (key, file
    shape, model shape).
    """

    component: str
    loaded: int = 0
    from_base: int = 0
    filled: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, list[int], list[int]]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.component}: {self.loaded} keys loaded, {self.from_base} from the base UNet, {len(self.filled)} filled, "
            f"{len(self.unexpected)} unexpected, {len(self.missing)} missing, {len(self.mismatched)} mismatched"
        )


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A ``.pth`` of plain tensors, memory-mapped: ``{key: tensor}``.

    Raises:
        InputError: no such file; a file that needs more than tensors to unpickle (named class);
            not a PyTorch checkpoint; not a flat mapping of tensors (names the key).
    """
    path = Path(path)
    state = _safe_load(path)
    if isinstance(state, dict) and set(state) == {"state_dict"} and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return _tensors_only(state, path)


def _tensors_only(state: object, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict):
        raise InputError(f"holds a {type(state).__name__}, not a mapping of tensor names to tensors", path=path)
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise InputError(f"key {key!r} holds a {type(value).__name__}, not a tensor", path=path)
    return state


def read_whisper_checkpoint(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """OpenAI's Whisper checkpoint (their ``audio_processor/tiny.pt``) → (dims, state dict).

    Raises:
        InputError: as :func:`read_state_dict`, or not ``{"dims": {...}, "model_state_dict": {...}}``.
    """
    path = Path(path)
    checkpoint = _safe_load(path)
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("dims"), dict) and "model_state_dict" in checkpoint):
        raise InputError("is not an OpenAI Whisper checkpoint (no 'dims' and 'model_state_dict')", path=path)
    dims = checkpoint["dims"]
    missing = [k for k in ("n_mels", "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                           "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer") if not isinstance(dims.get(k), int)]  # fmt: skip
    if missing:
        raise InputError(f"'dims' lacks {', '.join(missing)}", path=path)
    return dims, _tensors_only(checkpoint["model_state_dict"], path)


def _safe_load(path: Path) -> object:
    """``torch.load(weights_only=True, mmap=True)`` with errors that say what is wrong with the file."""
    if not path.is_file():
        raise InputError("no such file", path=path, hint=SOURCE_HINT)
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (pre-zip) format: no mmap
    except pickle.UnpicklingError as e:
        reason = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line), "")
        reason = reason.split(" was not")[0].replace("WeightsUnpickler error: ", "")
        if "Unsupported global" not in reason:
            raise InputError("is not a readable PyTorch checkpoint (corrupt or another format)", path=path) from None
        raise InputError(
            f"needs more than plain tensors to load ({reason}): refused, emo2 never unpickles arbitrary objects",
            path=path,
            hint="use the original EchoMimicV2 files, which hold only tensors",
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise InputError(f"is not a readable PyTorch checkpoint ({str(e).splitlines()[0][:120]})", path=path) from None
    return state


# ---------------------------------------------------------------------------------------------
# Loading into a model
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def diffusers_quiet():
    """diffusers' loading and dtype notices are noise in a conversion log; errors still raise."""
    from diffusers.utils import logging as diffusers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(verbosity)


def build_on_meta(build: Callable):
    with torch.device("meta"):
        return build()


def _take(state: dict, key: str, dtype: torch.dtype) -> torch.Tensor:
    """An owned, contiguous copy in ``dtype`` (out of the mmap and any shared storage: safetensors needs that)."""
    value = state[key]
    return torch.empty(value.shape, dtype=dtype).copy_(value)


def load_checked(
    model,
    files: dict,
    report: KeyReport,
    dtype,
    fills: Callable[[str, torch.Tensor], torch.Tensor | None],
    where: str,
    hint: str = UNET_HINT,
):
    """Fill ``model`` (meta) from ``files`` (our key → tensor); ``fills(key, meta)`` supplies absent keys by rule.

    Raises:
        InputError: naming the first missing or mismatched keys and ``where`` they should come from.
    """
    expected = model.state_dict()
    state = {}
    for key, meta in expected.items():
        if key in files:
            if tuple(files[key].shape) != tuple(meta.shape):
                report.mismatched.append((key, list(files[key].shape), list(meta.shape)))
                continue
            state[key] = _take(files, key, dtype)
            report.loaded += 1
        else:
            value = fills(key, meta)
            if value is None:
                report.missing.append(key)
            else:
                state[key] = value.to(dtype)
                report.filled.append(key)
    report.unexpected = sorted(k for k in files if k not in expected)
    if report.mismatched:
        key, theirs, ours = report.mismatched[0]
        more = f" (and {len(report.mismatched) - 1} more)" if len(report.mismatched) > 1 else ""
        raise InputError(
            f"key '{key}' has shape {theirs}, the {report.component} needs {ours}{more}",
            path=where,
            hint=hint,
        )
    if report.missing:
        more = f" (and {len(report.missing) - 1} more)" if len(report.missing) > 1 else ""
        raise InputError(
            f"key '{report.missing[0]}' is missing: the {report.component} needs it{more}", path=where, hint=SOURCE_HINT
        )
    model.load_state_dict(state, strict=True, assign=True)
    for report_key in report.unexpected[:5]:
        logger.warning("%s: unexpected key '%s' ignored", where, report_key)
    return model
