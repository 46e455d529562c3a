"""``generate_hands``: audio features → a :class:`HandMotion`, by the Stage 1 DiT or the rules generator.

What runs:

- a Stage 1 checkpoint when ``--checkpoint`` / ``motion.checkpoint`` / ``$EMO2_STAGE1`` resolves
  (``emo2cli.weights``): a ``MotionPipeline`` folder (``model_index.json``, ``transformer/``,
  ``scheduler/``) as ``train-hands`` writes it. An explicit ``--checkpoint`` that is missing is an
  error; a preset's that is missing falls back to the rules generator with a warning;
- otherwise the rules generator (:mod:`emo2cli.hands.rules`). It needs the audio samples, not the
  features: it takes the ``waveform`` it is given, or loads the features' ``source`` audio
  (looked for as recorded, then beside the features file). ``gen-hands`` on an audio file passes
  the audio itself.

Features are checked against the checkpoint: another encoder, width or frame rate is refused
with the encoder to re-extract with. Every result carries provenance in ``meta``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

from emo2cli import __version__
from emo2cli.config import Preset
from emo2cli.errors import InputError
from emo2cli.formats._tag import sha256_file
from emo2cli.formats.features import AudioFeatures, feature_paths
from emo2cli.formats.hands import HandMotion

logger = logging.getLogger(__name__)

STAGE1_ENV = "EMO2_STAGE1"
STAGE1_WHAT = "Stage 1 motion DiT checkpoint"


def resolve_checkpoint(preset: Preset, checkpoint: str | None = None) -> Path | None:
    """The checkpoint folder to use, or None for the rules generator.

    Raises:
        MissingPrerequisite: an explicit ``checkpoint`` that is not found.
    """
    from emo2cli.weights import locate, resolve

    if checkpoint:
        return resolve(checkpoint, STAGE1_WHAT, instead=None)
    ref = preset.motion.checkpoint
    found = locate(ref, STAGE1_ENV)
    if found.path is None and (ref or os.environ.get(STAGE1_ENV)):
        logger.warning("%s '%s' not found (looked in: %s): using the rules generator", STAGE1_WHAT, ref, "; ".join(found.looked))
    return found.path


def load_pipeline(path: str | os.PathLike, device: str = "cpu"):
    """A :class:`MotionPipeline` from a checkpoint folder (cached while its files are unchanged:
    a batch loads it once).

    Raises:
        InputError: the folder is not a Stage 1 checkpoint.
    """
    folder = Path(path)
    for part in ("transformer/config.json", "scheduler/scheduler_config.json"):
        if not (folder / part).is_file():
            raise InputError(f"is not a Stage 1 checkpoint (no {part})", path=folder, hint="train one with `emo2 train-hands`")
    stamp = tuple(p.stat().st_mtime_ns for p in sorted((folder / "transformer").iterdir()))
    return _load_pipeline(str(folder.resolve()), device, stamp)


@functools.lru_cache(maxsize=2)
def _load_pipeline(folder: str, device: str, stamp: tuple):
    from diffusers import DDPMScheduler

    from emo2cli.motion.model import MotionDiT
    from emo2cli.motion.pipeline import MotionPipeline

    folder = Path(folder)
    model = MotionDiT.from_pretrained(folder / "transformer").eval()
    pipe = MotionPipeline(model, DDPMScheduler.from_pretrained(folder / "scheduler"))
    return pipe.to(device)


def check_features(features: AudioFeatures, model_config, where: str | os.PathLike | None = None) -> None:
    """Refuse features the checkpoint was not trained on (encoder, width, frame rate).

    Raises:
        InputError: naming both encoders and the command that makes matching features.
    """
    enc, dim, fps = model_config.audio_encoder, model_config.audio_dim, float(model_config.fps)
    fix = f"re-extract with `emo2 extract-audio --encoder {enc} --fps {fps:g}`, or pass the audio file to gen-hands"
    if features.encoder != enc or features.dim != dim:
        raise InputError(
            f"features come from the '{features.encoder}' encoder ({features.dim} wide) but the Stage 1 checkpoint was "
            f"trained on '{enc}' ({dim} wide)",
            path=where,
            hint=fix,
        )
    if features.features.ndim != 2:
        raise InputError(f"features have shape {list(features.features.shape)}; Stage 1 reads [T, D]", path=where, hint=fix)
    if abs(features.fps - fps) > 1e-6:
        raise InputError(f"features are at {features.fps:g} fps but the checkpoint at {fps:g} fps", path=where, hint=fix)


def sampling_dtype(dtype: str, device: str):
    """``motion.dtype`` → the autocast dtype (None = fp32)."""
    import torch

    if dtype == "fp32":
        return None
    if dtype == "bf16":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return torch.bfloat16 if native else None


def find_source_audio(features: AudioFeatures, features_path: str | os.PathLike | None = None) -> Path:
    """The audio file the features were made from: as recorded, else beside the features file.

    Raises:
        InputError: not found (the rules generator needs the audio samples).
    """
    recorded = Path(features.source) if features.source else None
    candidates = [recorded] if recorded else []
    if features_path is not None and recorded is not None:
        folder = Path(features_path).parent
        candidates += [folder / recorded, folder / recorded.name]
    for c in candidates:
        if c.is_file():
            if features.source_sha256 and sha256_file(c) != features.source_sha256:
                logger.warning("%s differs from the audio the features were made from (sha256 mismatch)", c)
            return c
    raise InputError(
        f"the rules generator needs the source audio of these features ('{features.source}'), which was not found",
        path=features_path,
        hint="pass the audio file itself to gen-hands, or use a Stage 1 --checkpoint",
    )


def generate_hands(
    features: AudioFeatures,
    preset: Preset,
    seed: int = 0,
    style: str | None = None,
    speed: float | None = None,
    checkpoint: str | None = None,
    init_hands: HandMotion | None = None,
    on_progress: Callable[[float, float], None] | None = None,
    waveform=None,
    features_path: str | os.PathLike | None = None,
) -> HandMotion:
    """Hands for every frame of ``features``.

    Args:
        features: frame-aligned audio features ([T, D] float32).
        preset: run settings (``preset.motion``: checkpoint, sampler, steps, guidance, style, speed, device, dtype).
        seed: the same seed and inputs give the same motion.
        style, speed: None = the preset's (speed in cm², variance of wrist translation).
        checkpoint: a Stage 1 folder or hub id; overrides the preset (a missing one is an error).
        init_hands: the first window starts from this motion's last frames instead of the rest pose.
        on_progress: (done, total) sampler steps.
        waveform: the source audio (``emo2cli.audio.load.Waveform``) for the rules generator.
        features_path: where ``features`` were read from (to find their source audio).

    Returns:
        HandMotion [T frames at the features' fps] with ``meta``: producer, version, generator,
        model, seed, style, speed, preset name and sha256, source audio and its sha256.

    Raises:
        InputError: mismatching features, unknown style, source audio not found (rules).
        MissingPrerequisite: an explicit checkpoint not found.
    """
    style = style or preset.motion.style
    speed = preset.motion.speed if speed is None else speed
    path = resolve_checkpoint(preset, checkpoint)
    meta = {
        "producer": "emo2cli gen-hands",
        "version": __version__,
        "seed": int(seed),
        "style": style,
        "speed": speed,
        "preset": preset.name,
        "preset_sha256": preset.sha256(),
        "source": features.source,
        "source_sha256": features.source_sha256,
        "encoder": features.encoder,
    }
    if path is None:
        hands = _generate_rules(features, seed, style, speed, init_hands, waveform, features_path)
        meta.update({"generator": "rules", "model": "rules", "strokes": hands.meta.get("strokes")})
    else:
        hands, info = _generate_dit(features, preset, path, seed, style, speed, checkpoint or preset.motion.checkpoint, init_hands, on_progress, features_path)
        meta.update(info)
    hands.meta = meta
    return hands


def _generate_rules(features, seed, style, speed, init_hands, waveform, features_path) -> HandMotion:
    from emo2cli.audio.load import load_audio
    from emo2cli.audio.onsets import detect_onsets
    from emo2cli.hands.rules import generate_rules

    if waveform is None:
        waveform = load_audio(find_source_audio(features, features_path), features.sample_rate)
    onsets = detect_onsets(waveform.samples, waveform.sample_rate, features.fps)
    return generate_rules(onsets, num_frames=features.num_frames, fps=features.fps, seed=seed, style=style, speed=speed, init=init_hands)


def _generate_dit(features, preset, path, seed, style, speed, ref, init_hands, on_progress, features_path) -> tuple[HandMotion, dict]:
    import torch

    from emo2cli.audio.extract import check_device
    from emo2cli.hands.vector import hands_to_vector, vector_to_hands
    from emo2cli.motion.data import hand_offset
    from emo2cli.motion.pipeline import MotionPipeline, make_sampler

    device = check_device(preset.motion.device)
    loaded = load_pipeline(path, device)
    model = loaded.transformer
    check_features(features, model.config, features_path or features.source or None)
    if style not in model.config.style_names:
        raise InputError(f"unknown style '{style}' for this checkpoint", hint=f"it knows: {', '.join(model.config.style_names)}")
    init_motion = offset = None
    if init_hands is not None:
        valid = init_hands.mask.all(axis=1)
        if not valid.any():
            raise InputError("--init-hands has no frame where both hands are valid")
        init_motion = hands_to_vector(init_hands)[valid][None]
        offset = hand_offset(init_hands.transl, init_hands.mask)[None]
    pipe = MotionPipeline(model, make_sampler(preset.motion.sampler, loaded.scheduler.config))  # the cached one keeps its DDPM schedule
    dtype = sampling_dtype(preset.motion.dtype, device)
    motion = pipe(
        features.features[None],
        num_inference_steps=preset.motion.steps,
        guidance_scale=preset.motion.guidance,
        style=style,
        speed=speed,
        offset=offset,
        init_motion=init_motion,
        generator=torch.Generator().manual_seed(int(seed)),
        dtype=dtype,
        on_progress=on_progress,
    ).motion[0]
    weights = path / "transformer" / "diffusion_pytorch_model.safetensors"
    info = {
        "generator": "motion_dit",
        "model": str(ref or path),
        "model_sha256": sha256_file(weights) if weights.is_file() else "",
        "sampler": preset.motion.sampler,
        "steps": preset.motion.steps,
        "guidance": preset.motion.guidance,
        "speed_used": float(model.typical_speed(style) if speed is None else speed),
        "dtype": "bf16" if dtype is not None else "fp32",
    }
    return vector_to_hands(motion, features.fps), info


def generate_hands_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    preset: Preset,
    seed: int = 0,
    style: str | None = None,
    speed: float | None = None,
    checkpoint: str | None = None,
    init_hands: str | os.PathLike | None = None,
    force: bool = False,
    on_progress: Callable[[float, float], None] | None = None,
) -> HandMotion:
    """``gen-hands`` for one input: a ``.feats.npy``/``.feats.json`` or an audio/video file → ``output``.

    Audio is encoded on the fly with ``preset.audio`` (encoder ``auto`` follows the checkpoint's
    encoder); the rules generator reads the audio directly.

    Raises:
        InputError, MissingPrerequisite: as :func:`generate_hands`, plus unreadable inputs.
    """
    from dataclasses import replace

    from emo2cli.audio.extract import extract_features
    from emo2cli.audio.load import load_audio
    from emo2cli.formats.features import read_features
    from emo2cli.formats.hands import read_hands, write_hands

    source = Path(source)
    init = read_hands(init_hands) if init_hands else None
    waveform = None
    if source.name.endswith((".feats.npy", ".feats.json")):
        features = read_features(source)
        features_path = feature_paths(source)[0]
    else:
        features_path = None
        path = resolve_checkpoint(preset, checkpoint)
        audio_cfg = preset.audio
        fps = preset.fps
        if path is not None:
            config = load_pipeline(path, preset.motion.device).transformer.config
            fps = float(config.fps)
            if audio_cfg.encoder == "auto":
                audio_cfg = replace(audio_cfg, encoder=config.audio_encoder)
        elif audio_cfg.encoder == "auto":
            audio_cfg = replace(audio_cfg, encoder="mel")  # the rules read the audio; features only give T
        features = extract_features(source, audio_cfg, fps)
        if path is None:
            waveform = load_audio(source, audio_cfg.sample_rate)
    hands = generate_hands(features, preset, seed, style, speed, checkpoint, init, on_progress, waveform, features_path)
    write_hands(hands, output, force=force)
    return hands
