"""``emo2 gen-video``: portrait + speech → the talking video (MP4 with the speech muxed in)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import (
    DebugOpt,
    DeviceOpt,
    DryRunOpt,
    ForceOpt,
    JsonOpt,
    MaxMemoryOpt,
    OutputOpt,
    PresetOpt,
    QuietOpt,
    SeedOpt,
)

BackendOpt = Annotated[
    str | None, typer.Option("--backend", help="auto (diffusion when Stage 2 weights resolve, else preview), diffusion or preview. Default: the preset's.")
]
CheckpointOpt = Annotated[str | None, typer.Option("--checkpoint", help="Stage 2 pipeline folder, EMO2 layers folder or hub id. Default: the preset's.")]
HandsOpt = Annotated[Path | None, typer.Option("--hands", help="Use this hands file (e.g. an edited one) instead of generating gestures.")]
WorkDirOpt = Annotated[Path | None, typer.Option("--work-dir", help="Folder for the intermediate files. Default: beside the output.")]
KeepOpt = Annotated[bool, typer.Option("--keep-intermediates/--no-keep-intermediates", help="Keep features, hands and hand maps for editing and resuming.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Stage 2 sampler steps per clip. Default: the preset's.")]


def gen_video(
    portrait: Annotated[Path, typer.Argument(help="Half-body portrait image (hands visible works best).", show_default=False)],
    audio: Annotated[Path, typer.Argument(help="Speech: any audio file, or a video with an audio track.", show_default=False)],
    output: OutputOpt = None,
    hands: HandsOpt = None,
    backend: BackendOpt = None,
    checkpoint: CheckpointOpt = None,
    steps: StepsOpt = None,
    work_dir: WorkDirOpt = None,
    keep_intermediates: KeepOpt = True,
    seed: SeedOpt = 0,
    device: DeviceOpt = None,
    dry_run: DryRunOpt = False,
    max_memory: MaxMemoryOpt = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Make a video of the portrait speaking the audio, with co-speech hand gestures.

    Runs every missing stage: extract-audio → gen-hands → render-hands → video, and keeps the
    intermediates (NAME.feats.npy, NAME.hands.npz, NAME.handmaps.mp4) beside the output, where a
    later run reuses them when they still match (edit the hands file and run again, or pass
    --hands). With Stage 2 weights the video is made by the diffusion model, clip by clip (a
    stopped run resumes from its last clip); without them it is a labelled PREVIEW (the portrait
    with the hand maps laid over it), and stderr says so. --preset tiny runs the real diffusion
    pipeline with random tiny weights: an install check, its video is noise.

    Examples:
        emo2 gen-video examples/halfbody_woman.png examples/speech_en_7s.wav -o talk.mp4
        emo2 gen-video me.png talk.wav --hands talk.edited.hands.npz --force
        emo2 gen-video me.png talk.wav --checkpoint ~/models/emo2-stage2 --steps 20 --seed 3
        emo2 gen-video examples/halfbody_man.png examples/speech_en_7s.wav --preset tiny -o check.mp4
        emo2 gen-video me.png talk.wav --dry-run --max-memory 24
    """
    from emo2cli.cli import batch
    from emo2cli.cli.batch_cmd import estimate_first
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.formats.video import probe_video
    from emo2cli.video.generate import choose_backend, generate_video

    console.setup(quiet, debug)
    overrides = {"video.backend": backend, "video.checkpoint": checkpoint, "video.steps": steps, "video.device": device}
    settings = apply_overrides(load_preset(preset), overrides)
    console.quiet_diffusers()
    if (stop := estimate_first([(str(audio), settings, audio)], dry_run, max_memory, json_out, path=audio)) is not None:
        return stop

    def work(source: Path, target: Path) -> dict:
        chosen, _ = choose_backend(settings)
        with console.progress(f"gen-video ({chosen})") as on_progress:
            generate_video(
                portrait, source, settings, target, hands=hands, work_dir=work_dir,
                keep_intermediates=keep_intermediates, seed=seed, force=force, on_progress=on_progress,
            )  # fmt: skip
        info = probe_video(target)
        console.notice(f"{portrait} + {source} → {target}: {info.num_frames} frames, {info.duration_s:.2f} s, {chosen}")
        return {"backend": chosen, "frames": info.num_frames, "duration_s": info.duration_s}

    results = batch.run_each([audio], lambda src: batch.output_for(src, ".mp4", output, many=False), work, force, label="gen-video")
    if json_out:
        console.print_json([{**r.to_dict(), "portrait": str(portrait)} for r in results])
    return batch.exit_code(results)
