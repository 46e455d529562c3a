"""``generate_video``: portrait + audio → the final MP4, running every stage that is missing (``emo2 gen-video``).

Stages, each writing its intermediate into the work folder (default: beside the output) as
``NAME.feats.npy``/``.json``, ``NAME.hands.npz``, ``NAME.handmaps.mp4``/``.json`` (NAME = the
output's name), and each reused when the file there matches:

1. **extract-audio** — reused when the sidecar's ``source_sha256`` is the audio's, its fps the
   preset's and its encoder the one that would be chosen now;
2. **gen-hands** (skipped with ``hands=``) — reused when ``meta`` records the same source audio
   hash, seed and style and the frame count is T;
3. **render-hands** — reused when the sidecar's ``hands_sha256`` is the hands file's, and its
   frame size, style, frame count and portrait are the current ones;
4. **video** — the diffusion pipeline when Stage 2 weights resolve (``backend="auto"``), else the
   labelled preview. The MP4 (H.264 + AAC) has exactly T frames at the preset's fps, so it lasts
   as long as the audio to within one frame.

The diffusion backend keeps each finished clip in ``NAME.clips/`` (safetensors: frames, the next
clip's context latents and hand maps, and a key of everything that determines them). A run that
is stopped continues from its last finished clip; the folder is removed when the MP4 is done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError, MissingPrerequisite, require_file
from emo2cli.formats._tag import refuse_overwrite, sha256_file

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "diffusion", "preview")


# ---------------------------------------------------------------------------------------------
# Backend choice
# ---------------------------------------------------------------------------------------------


def choose_backend(preset: Preset, backend: str | None = None) -> tuple[str, str]:
    """(backend to run, why it is a preview or "") for ``backend`` (None = ``preset.video.backend``).

    Raises:
        MissingPrerequisite: ``diffusion`` asked for and no Stage 2 weights resolve.
        InputError: an unknown backend, or a Stage 2 folder of the wrong shape.
    """
    from emo2cli.video.loading import find_stage2

    backend = backend or preset.video.backend
    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'", hint=f"choose from {', '.join(BACKENDS)}")
    if backend == "preview":
        return "preview", "the preview backend was asked for"
    try:
        find_stage2(preset.video)
    except MissingPrerequisite as e:
        if backend == "diffusion":
            raise
        return "preview", f"{e.message}{f'; {e.hint}' if e.hint else ''}"
    return "diffusion", ""


def stage2_audio_encoder(preset: Preset) -> str:
    """The audio encoder the Stage 2 weights were trained on, read from their config ("" if none)."""
    from emo2cli.video.loading import find_stage2

    source = find_stage2(preset.video)
    config = source.path / "audio_proj" / "config.json" if source.path is not None else None
    if config is None or not config.is_file():
        return ""
    return str(json.loads(config.read_text()).get("audio_encoder", ""))


def stage2_whisper(preset: Preset) -> Preset:
    """A ``convert-weights echomimicv2`` folder may carry their Whisper-tiny (``whisper-tiny/``): use it for
    the audio tokens unless the preset or ``EMO2_WHISPER`` names another model."""
    from dataclasses import replace

    from emo2cli.config import AudioConfig
    from emo2cli.video.loading import find_stage2

    source = find_stage2(preset.video)
    own = source.path / "whisper-tiny" if source.path is not None else None
    if own is None or not (own / "config.json").is_file() or os.environ.get("EMO2_WHISPER"):
        return preset
    if preset.audio.whisper_model != AudioConfig().whisper_model:
        return preset
    return replace(preset, audio=replace(preset.audio, whisper_model=str(own)))


# ---------------------------------------------------------------------------------------------
# Stages 1-3: reuse or make
# ---------------------------------------------------------------------------------------------


def ensure_features(audio: Path, path: Path, preset: Preset, encoder: str = ""):
    """Stage 1: the feature table at ``path`` (reused when it matches), as AudioFeatures."""
    from dataclasses import replace

    from emo2cli.audio.extract import choose_encoder, extract_features
    from emo2cli.formats.features import read_features, write_features

    cfg = preset.audio if not encoder or preset.audio.encoder != "auto" else replace(preset.audio, encoder=encoder)
    want_encoder = choose_encoder(cfg)[0]
    if path.exists():
        try:
            feats = read_features(path)
            if feats.source_sha256 == sha256_file(audio) and feats.fps == preset.fps and feats.encoder == want_encoder:
                logger.info("extract-audio: reusing %s", path)
                return feats
        except InputError as e:
            logger.info("extract-audio: %s does not match (%s): redoing it", path, e)
    feats = extract_features(audio, cfg, preset.fps)
    write_features(feats, path, force=True)
    logger.info("extract-audio: wrote %s [%d frames, %s]", path, feats.num_frames, feats.encoder)
    return feats


def ensure_hands(audio: Path, feats, feats_path: Path, path: Path, preset: Preset, seed: int) -> Path:
    """Stage 2: the hands file at ``path`` (reused when it matches); returns ``path``."""
    from emo2cli.audio.load import load_audio
    from emo2cli.formats.hands import read_hands, write_hands
    from emo2cli.motion.generate import generate_hands, generate_hands_file, resolve_checkpoint

    if path.exists():
        try:
            old = read_hands(path)
            meta = old.meta
            if (
                meta.get("source_sha256") == feats.source_sha256
                and meta.get("seed") == seed
                and meta.get("style") == preset.motion.style
                and old.num_frames == feats.num_frames
                and old.fps == feats.fps
            ):
                logger.info("gen-hands: reusing %s", path)
                return path
        except InputError as e:
            logger.info("gen-hands: %s does not match (%s): redoing it", path, e)
    if resolve_checkpoint(preset) is not None:
        generate_hands_file(audio, path, preset, seed, force=True)  # the DiT extracts with its own encoder
    else:
        waveform = load_audio(audio, feats.sample_rate)
        write_hands(generate_hands(feats, preset, seed, waveform=waveform, features_path=feats_path), path, force=True)
    logger.info("gen-hands: wrote %s", path)
    return path


def check_hands(path: Path, feats, preset: Preset) -> None:
    """A given hands file must be at the preset's fps with one frame per feature row."""
    from emo2cli.formats.hands import read_hands

    hands = read_hands(path)
    if hands.fps != preset.fps:
        raise InputError(f"is at {hands.fps:g} fps, the video at {preset.fps:g} fps", path=path, hint="set fps in the preset to match")
    if hands.num_frames != feats.num_frames:
        raise InputError(
            f"has {hands.num_frames} frames, the audio {feats.num_frames} at {preset.fps:g} fps",
            path=path,
            hint="make the hands from this audio (gen-hands), or trim/pad them with edit-hands",
        )


def ensure_handmaps(portrait: Path, hands: Path, path: Path, preset: Preset, num_frames: int):
    """Stage 3: hand maps at ``path`` (+ sidecar), reused when they match; returns their HandMapsInfo."""
    from emo2cli.formats.handmaps import read_handmaps_info, sidecar_path
    from emo2cli.render.render import render_handmaps

    render = preset.render
    if path.exists() and sidecar_path(path).exists():
        try:
            info = read_handmaps_info(path)
            drawn = info.extra.get("portrait", "")
            if (
                info.hands_sha256 == sha256_file(hands)
                and tuple(info.placement.frame_size) == (render.height, render.width)
                and info.style == render.style
                and info.num_frames == num_frames
                and drawn
                and Path(drawn).exists()
                and os.path.samefile(drawn, portrait)
            ):
                logger.info("render-hands: reusing %s", path)
                return info
        except InputError as e:
            logger.info("render-hands: %s does not match (%s): redoing it", path, e)
    info = render_handmaps(hands, path, render, portrait=portrait, force=True)
    logger.info("render-hands: wrote %s", path)
    return info


# ---------------------------------------------------------------------------------------------
# Resumable clips (diffusion backend)
# ---------------------------------------------------------------------------------------------


class ClipStore:
    """Finished clips on disk: ``folder/clip_00003.safetensors`` (frames, context, hand_maps).

    Every file carries ``key``, a hash of everything that determines the clip (inputs, preset,
    seed, weights reference); files with another key are ignored, so a changed input never
    resumes from stale clips.
    """

    def __init__(self, folder: Path, key: str):
        self.folder = folder
        self.key = key

    def _path(self, k: int) -> Path:
        return self.folder / f"clip_{k:05d}.safetensors"

    def get(self, k: int):
        from safetensors import safe_open

        from emo2cli.video.pipeline import ClipResult

        path = self._path(k)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), "pt") as f:
                if (f.metadata() or {}).get("key") != self.key:
                    return None
                frames, context, maps = f.get_tensor("frames"), f.get_tensor("context"), f.get_tensor("hand_maps")
        except Exception as e:  # noqa: BLE001 - a torn or foreign file is simply not a finished clip
            logger.info("ignoring unreadable %s (%s)", path, e)
            return None
        logger.info("resuming: clip %d from %s", k, path)
        return ClipResult(frames.numpy(), context, maps.numpy())

    def put(self, k: int, result) -> None:
        import torch
        from safetensors.torch import save_file

        from emo2cli.formats._tag import atomic_path

        self.folder.mkdir(parents=True, exist_ok=True)
        tensors = {
            "frames": torch.from_numpy(np.ascontiguousarray(result.frames)),
            "context": result.context.contiguous(),
            "hand_maps": torch.from_numpy(np.ascontiguousarray(result.hand_maps)),
        }
        with atomic_path(self._path(k), force=True) as tmp:
            save_file(tensors, str(tmp), metadata={"key": self.key})


def run_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Stage 4 and the whole job
# ---------------------------------------------------------------------------------------------


def generate_video(
    portrait: str | os.PathLike,
    audio: str | os.PathLike,
    preset: Preset,
    output: str | os.PathLike | None = None,
    *,
    hands: str | os.PathLike | None = None,
    backend: str | None = None,
    work_dir: str | os.PathLike | None = None,
    keep_intermediates: bool = True,
    seed: int = 0,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    models: dict | None = None,
) -> Path:
    """Make the talking video of ``portrait`` speaking ``audio``; returns the MP4 path.

    Args:
        portrait: a half-body portrait image.
        audio: the speech (any audio or video container).
        preset: every run setting (fps, audio, motion, render, video).
        output: the MP4 (default: ``AUDIO_NAME.mp4`` beside the audio).
        hands: use this hands file instead of generating one (an edited gesture file).
        backend: "auto", "diffusion" or "preview" (None = the preset's).
        work_dir: where intermediates go (default: the output's folder).
        keep_intermediates: False removes the intermediates made by this run when it succeeds.
        seed: for the gestures and the video noise; the same seed and inputs give the same file.
        force: overwrite an existing output.
        on_progress: ``(done, total)`` of the video stage (frames for the preview, sampler steps
            for the diffusion backend).
        models: a dict kept by the caller across calls (``emo2 batch``): the Stage 2 pipeline is
            loaded once per distinct video config and audio width, then reused.

    Raises:
        InputError: unreadable inputs, an existing output without ``force``, a hands file that
            does not fit the audio.
        MissingPrerequisite: ``backend="diffusion"`` without Stage 2 weights, and the like.
    """
    portrait, audio = require_file(portrait), require_file(audio)
    output = Path(output) if output is not None else audio.with_suffix(".mp4")
    if output.suffix.lower() != ".mp4":
        raise InputError("output must be an .mp4 file", path=output)
    refuse_overwrite(output, force)
    backend_name, reason = choose_backend(preset, backend)
    name = output.name[: -len(output.suffix)]
    temp_work = None
    if work_dir is None and not keep_intermediates:
        temp_work = Path(tempfile.mkdtemp(prefix=f".{name}.work.", dir=output.parent if output.parent.is_dir() else None))
    work = Path(work_dir) if work_dir is not None else temp_work or output.parent
    work.mkdir(parents=True, exist_ok=True)
    intermediates = [work / f"{name}{suffix}" for suffix in (".feats.npy", ".feats.json", ".hands.npz", ".handmaps.mp4", ".handmaps.json")]
    existed = {p for p in intermediates if p.exists()}
    try:
        # 1-3. Intermediates
        feats_path, _, own_hands, maps_path, _ = intermediates
        encoder = stage2_audio_encoder(preset) if backend_name == "diffusion" else ""
        feats = ensure_features(audio, feats_path, stage2_whisper(preset) if encoder else preset, encoder)
        if hands is not None:
            hands_path = require_file(hands)
            check_hands(hands_path, feats, preset)
        else:
            hands_path = ensure_hands(audio, feats, feats_path, own_hands, preset, seed)
        info = ensure_handmaps(portrait, hands_path, maps_path, preset, feats.num_frames)

        # 4. Video
        if backend_name == "preview":
            write_preview(portrait, audio, maps_path, info, output, preset.fps, feats.num_frames, reason, force, on_progress)
        else:
            key = run_key(sha256_file(portrait), feats.source_sha256, sha256_file(hands_path), preset.sha256(), seed, preset.video.checkpoint)
            store = ClipStore(work / f"{name}.clips", key)
            write_diffusion(portrait, audio, maps_path, info, feats, output, preset, seed, store, force, on_progress, models)
            shutil.rmtree(store.folder, ignore_errors=True)
    finally:
        if temp_work is not None:
            shutil.rmtree(temp_work, ignore_errors=True)
    if not keep_intermediates and temp_work is None:
        for p in intermediates:
            if p not in existed:
                p.unlink(missing_ok=True)
    return output


def write_preview(portrait, audio, maps_path, info, output, fps, num_frames, reason, force, on_progress) -> None:
    """The preview backend: labelled portrait + hand maps, muxed with the audio."""
    from emo2cli.formats.video import VideoWriter, read_video_frames
    from emo2cli.render.render import load_fitted_portrait
    from emo2cli.video.preview import preview_frames

    fitted = load_fitted_portrait(portrait, info.placement)
    with VideoWriter(output, fps, info.placement.frame_size, audio_path=audio, force=force) as writer:
        for i, frame in enumerate(preview_frames(fitted, read_video_frames(maps_path), reason)):
            writer.write(frame)
            if on_progress:
                on_progress(i + 1, num_frames)
        if writer.num_frames != num_frames:  # inside the block: no output is left behind
            raise InputError(f"has {writer.num_frames} frames, the audio {num_frames}", path=maps_path, hint="delete it to re-render")


def write_diffusion(portrait, audio, maps_path, info, feats, output, preset, seed, store, force, on_progress, models=None) -> None:
    """The diffusion backend: EMO2VideoPipeline clip by clip, frames streamed into the MP4."""
    import torch

    from emo2cli.formats.video import VideoWriter, read_video_frames
    from emo2cli.render.render import load_fitted_portrait
    from emo2cli.video.body import partial_body_map
    from emo2cli.video.convert import recipe_warnings
    from emo2cli.video.loading import find_stage2, load_pipeline

    cfg = preset.video
    table = feats.features
    for line in recipe_warnings(find_stage2(cfg).path, preset):  # a converted EchoMimicV2 folder under another recipe
        logger.warning(line)
    key = (cfg, int(np.prod(table.shape[1:])), feats.encoder)
    pipe = models.get(key) if models is not None else None
    if pipe is None:
        pipe = load_pipeline(*key)
        if models is not None:
            models[key] = pipe
    pipe.set_progress_bar_config(disable=True)
    fitted = load_fitted_portrait(portrait, info.placement)
    body = partial_body_map(fitted) if pipe.guidance.config.body_map else None
    with VideoWriter(output, preset.fps, info.placement.frame_size, audio_path=audio, force=force) as writer:

        def on_frames(frames: np.ndarray) -> None:
            for frame in frames:
                writer.write(frame)

        pipe(
            fitted,
            read_video_frames(maps_path),
            table,
            body_map=body,
            num_frames=feats.num_frames,
            clip_frames=cfg.clip_frames,
            motion_frames=cfg.motion_frames,
            num_inference_steps=cfg.steps,
            guidance_audio=cfg.guidance_audio,
            guidance_reference=cfg.guidance_reference,
            generator=torch.Generator().manual_seed(int(seed)),
            decode_chunk_size=cfg.decode_chunk,
            on_frames=on_frames,
            return_frames=False,
            on_progress=on_progress,
            clip_cache=store,
            long_video=cfg.long_video,
            context_overlap=cfg.context_overlap,
            context_shift=cfg.context_shift,
            noise_clamp=cfg.noise_clamp,
        )
