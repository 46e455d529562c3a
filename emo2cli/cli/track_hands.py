"""``emo2 track-hands``: talking videos → ``NAME.hands.npz`` + ``NAME.feats.npy`` (Stage 1 training pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, InputsArg, JsonOpt, PresetOpt, QuietOpt, ShardOpt

HANDS_SUFFIX = ".hands.npz"
OVERLAY_SUFFIX = ".overlay.mp4"


def track_hands(
    inputs: InputsArg,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (or NAME.hands.npz for one input). Default: beside each video."),
    ] = None,
    fps: Annotated[
        float | None, typer.Option("--fps", help="Frame rate of the hands and features (default: the preset's, 25).")
    ] = None,
    no_features: Annotated[bool, typer.Option("--no-features", help="Write the hands only, not the audio features.")] = False,
    overlay: Annotated[
        Path | None,
        typer.Option(
            "--overlay",
            help="Also write a check video: re-rendered hands and landmarks over the input (OUT.mp4, or a folder for several).",
        ),
    ] = None,
    preset: PresetOpt = None,
    shard: ShardOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Track both hands of the person in talking videos: real hand motion + aligned audio features.

    Writes NAME.hands.npz (MANO parameters of the built-in hand in the body frame, mask, per-frame
    score) and, from the video's audio, NAME.feats.npy + .json on the same frame grid: a Stage 1
    training pair as it stands (emo2 train-hands reads the folder). Needs mediapipe 0.10.14, the
    vision extra of emo2cli. Dropouts up to track.max_gap_s are filled, longer ones masked.
    Complete outputs are skipped unless --force.

    Examples:
        emo2 track-hands talk.mp4
        emo2 track-hands "videos/*.mp4" -o pairs/ --fps 30
        emo2 track-hands talk.mp4 -o pairs/ --overlay check.mp4
    """
    from emo2cli.cli import batch
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.errors import InputError
    from emo2cli.tracking.track import track_hands_file

    console.setup(quiet, debug)
    settings = apply_overrides(load_preset(preset), {"fps": fps})
    sources = batch.expand_inputs(inputs, shard)
    many = len(sources) > 1
    to_file = output is not None and output.name.endswith(HANDS_SUFFIX)
    if to_file and many:
        raise InputError(f"-o {output} names one file but {len(sources)} videos were given", hint="give a folder")

    def hands_of(source: Path) -> Path:
        if to_file:
            return output
        return (output if output is not None else source.parent) / (batch.base_name(source) + HANDS_SUFFIX)

    def overlay_of(source: Path) -> Path | None:
        if overlay is None or (not many and overlay.suffix == ".mp4"):
            return overlay
        return overlay / (batch.base_name(source) + OVERLAY_SUFFIX)

    def work(source: Path, hands_path: Path, on_progress) -> dict:
        info = track_hands_file(
            source,
            hands_path,
            settings,
            features=not no_features,
            overlay=overlay_of(source),
            force=force,
            on_progress=on_progress,
        )
        seen = ", ".join(f"{side} {info[side]['valid_fraction']:.0%}" for side in ("left", "right"))
        console.notice(f"{source} → {hands_path}: {info['num_frames']} frames, valid {seen}")
        for note in info["notes"]:
            console.notice(f"  note: {note}")
        return info

    results = batch.run_each(sources, hands_of, work, force=force, label="track-hands", item_progress=True)
    if json_out:
        console.print_json([r.to_dict() for r in results])
    return batch.exit_code(results)
