"""``emo2 prepare-video``: talking videos → Stage 2 training clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, InputsArg, JsonOpt, PresetOpt, QuietOpt, ShardOpt


def prepare_video(
    inputs: InputsArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The dataset folder (clips, manifest.jsonl).")],
    hands_from: Annotated[
        Path | None,
        typer.Option(
            "--hands-from", help="Folder of NAME.hands.npz, one per video NAME.mp4. Default: track the hands (mediapipe)."
        ),
    ] = None,
    clip_frames: Annotated[
        int | None, typer.Option("--clip-frames", help="Frames per clip. Default: video.motion_frames + video.clip_frames.")
    ] = None,
    min_hands: Annotated[
        float, typer.Option("--min-hand-coverage", help="Skip clips where fewer than this share of frames has a valid hand.")
    ] = 0.5,
    preset: PresetOpt = None,
    shard: ShardOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Cut talking videos into Stage 2 training clips: frames, hand maps, audio features, manifest.

    Each clip is fitted to the preset's frame (render.height x render.width) exactly as gen-video
    fits a portrait (its first frame plays the portrait), paired with its hands (from --hands-from,
    else tracked), drawn as hand maps, and given its audio and features. Clips that are too short,
    from videos without audio, or whose hands are mostly masked are skipped and counted. Videos
    already prepared are skipped unless --force; DIR/manifest.jsonl lists every clip.

    Examples:
        emo2 prepare-video "talks/*.mp4" -o data/stage2 --hands-from talks/hands
        emo2 prepare-video talk.mp4 -o data/tiny --preset tiny --hands-from hands/
    """
    from emo2cli.cli import batch
    from emo2cli.config import load_preset
    from emo2cli.video.data import check_video_names, video_output, write_manifest
    from emo2cli.video.data import prepare_video as prepare

    console.setup(quiet, debug)
    settings = load_preset(preset)
    sources = batch.expand_inputs(inputs, shard)
    check_video_names(sources)

    def work(source: Path, _: Path, on_progress) -> dict:
        info = prepare(
            source,
            output,
            settings,
            hands_from=hands_from,
            clip_frames=clip_frames,
            min_hand_coverage=min_hands,
            on_progress=on_progress,
        )
        skipped = ", ".join(f"{n} {reason}" for reason, n in info["skipped"].items()) or "none"
        console.notice(f"{source}: {info['clips']} clips, skipped: {skipped}")
        for note in info["notes"]:
            console.notice(f"  note: {note}")
        return info

    results = batch.run_each(
        sources, lambda s: video_output(s, output), work, force=force, label="prepare-video", item_progress=True
    )
    summary = write_manifest(output)
    totals: dict[str, int] = {}
    for r in results:
        for reason, n in (r.info or {}).get("skipped", {}).items():
            totals[reason] = totals.get(reason, 0) + n
    summary["skipped"] = totals
    if json_out:
        console.print_json({**summary, "videos_run": [r.to_dict() for r in results]})
    else:
        skipped = ", ".join(f"{n} {reason}" for reason, n in totals.items()) or "none"
        console.notice(
            f"{summary['manifest']}: {summary['clips']} clips from {summary['videos']} videos; skipped this run: {skipped}"
        )
    return batch.exit_code(results)
