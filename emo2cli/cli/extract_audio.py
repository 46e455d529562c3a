"""``emo2 extract-audio``: audio or video files → frame-aligned features (``NAME.feats.npy`` + ``.feats.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, DeviceOpt, ForceOpt, InputsArg, JsonOpt, OutputOpt, PresetOpt, QuietOpt, ShardOpt

EncoderOpt = Annotated[
    str | None,
    typer.Option(
        "--encoder",
        help="auto | wav2vec2 | mel | whisper-tiny (auto: wav2vec2 when its weights are on this machine, else mel; whisper-tiny: EchoMimicV2's [T, 50, 384] tokens). Default: the preset's.",
    ),
]
FpsOpt = Annotated[float | None, typer.Option("--fps", help="Video frame rate of the feature rows (default: the preset's, 25).")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Checkpoint of the wav2vec2 or whisper-tiny encoder: local folder or hub id (default: the preset's).")]


def extract_audio(
    inputs: InputsArg,
    output: OutputOpt = None,
    encoder: EncoderOpt = None,
    fps: FpsOpt = None,
    model: ModelOpt = None,
    device: DeviceOpt = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    shard: ShardOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Extract per-video-frame audio features from audio or video files.

    Writes NAME.feats.npy (float32 [T, D], T = round(duration x fps)) and NAME.feats.json (format,
    encoder and revision, fps, source hash) beside each input or into -o DIR. Complete outputs are
    skipped unless --force.

    Examples:
        emo2 extract-audio speech.wav
        emo2 extract-audio talks/*.mp4 -o feats/ --encoder mel --fps 30
        emo2 extract-audio speech.wav --encoder wav2vec2 --model ~/models/wav2vec2-base-960h --device cuda
    """
    from emo2cli import __version__
    from emo2cli.audio.extract import extract_features
    from emo2cli.cli import batch
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.formats.features import SUFFIX, feature_paths, write_features

    console.setup(quiet, debug)
    settings = apply_overrides(load_preset(preset), {"fps": fps, "audio.encoder": encoder, "audio.device": device})
    model_key = "audio.whisper_model" if settings.audio.encoder == "whisper-tiny" else "audio.wav2vec2_model"
    settings = apply_overrides(settings, {model_key: model})
    sources = batch.expand_inputs(inputs, shard)
    many = len(sources) > 1

    def sidecar_of(source: Path) -> Path:  # the sidecar is written last: its presence marks a complete output
        return feature_paths(batch.output_for(source, SUFFIX, output, many))[1]

    def work(source: Path, sidecar: Path) -> dict:
        feats = extract_features(source, settings.audio, settings.fps)
        feats.extra.update({"producer": f"emo2 {__version__} extract-audio", "preset": settings.name, "preset_sha256": settings.sha256()})
        table = write_features(feats, sidecar, force=True)  # complete outputs never reach here without --force
        console.notice(f"{source} → {table} [{feats.num_frames} × {feats.dim}, {feats.encoder}]")
        return {"features": str(table), "encoder": feats.encoder, "num_frames": feats.num_frames, "dim": feats.dim, "duration_s": feats.duration_s}

    results = batch.run_each(sources, sidecar_of, work, force, label="extract-audio")
    if json_out:
        console.print_json([r.to_dict() for r in results])
    return batch.exit_code(results)
