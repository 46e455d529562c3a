"""``emo2 prepare-video`` (talking videos → Stage 2 training clips) and ``emo2 train-video`` (the two training phases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, InputsArg, JsonOpt, PresetOpt, QuietOpt, SeedOpt, ShardOpt


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


def train_video(
    data_dir: Annotated[Path, typer.Argument(help="A prepare-video folder.", show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Checkpoint folder (resumed when it holds a run of this phase).")
    ],
    phase: Annotated[
        str, typer.Option("--phase", help="image (ReferenceNet, guidance, spatial layers) or video (temporal + audio layers).")
    ] = "image",
    init: Annotated[
        str | None,
        typer.Option(
            "--init",
            help="Stage 2 weights to start from (the image phase's folder for the video phase). Default: video.checkpoint, else base model + motion adapter.",
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Total optimiser steps (a resumed run continues to this).")] = 30000,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Global batch over all GPUs and accumulation steps. Default: 32 image, 4 video."),
    ] = None,
    grad_accum: Annotated[int, typer.Option("--grad-accum", help="Micro-batches per optimiser step (divides the batch).")] = 1,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-5,
    save_every: Annotated[int, typer.Option("--save-every", help="Write the checkpoint every this many steps.")] = 1000,
    validate_every: Annotated[
        int, typer.Option("--validate-every", help="Write a validation video every this many steps (0: never).")
    ] = 1000,
    mixed_precision: Annotated[str, typer.Option("--mixed-precision", help="auto (bf16 on GPUs), no, bf16 or fp16.")] = "auto",
    checkpointing: Annotated[
        bool,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing", help="Recompute activations in the backward pass: less memory, slower steps."
        ),
    ] = True,
    adam8bit: Annotated[bool, typer.Option("--use-8bit-adam", help="8-bit AdamW (needs bitsandbytes).")] = False,
    workers: Annotated[int, typer.Option("--workers", help="Data loader processes.")] = 2,
    seed: SeedOpt = 0,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train Stage 2 (the video model) in two phases on a prepare-video folder.

    The image phase trains the ReferenceNet, the hand guidance and the UNet's spatial layers on
    (reference, target) frame pairs; the video phase then trains the motion modules and the audio
    layers on clips with motion frames (--init the image phase's folder). OUT is a pipeline folder
    gen-video reads (EMA weights); OUT/train_state lets a second run resume; the loss goes to
    OUT/log.jsonl (and TensorBoard if installed), sample videos to OUT/validation/. Several GPUs or
    machines: accelerate launch -m emo2cli train-video ... --force starts over.

    Examples:
        emo2 train-video data/stage2 -o runs/image --phase image --grad-accum 4
        emo2 train-video data/stage2 -o runs/video --phase video --init runs/image
        accelerate launch --multi_gpu -m emo2cli train-video data/stage2 -o runs/video --phase video --init runs/image
        emo2 gen-video me.png talk.wav --checkpoint runs/video
    """
    from emo2cli.cli.gen_video import _quiet_diffusers
    from emo2cli.config import load_preset
    from emo2cli.video.train import TrainVideoConfig
    from emo2cli.video.train import train_video as run

    console.setup(quiet, debug)
    _quiet_diffusers()
    cfg = TrainVideoConfig(
        str(data_dir), str(output), phase=phase, init=init or "", steps=steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr,
        save_every=save_every, validate_every=validate_every, mixed_precision=mixed_precision, gradient_checkpointing=checkpointing,
        use_8bit_adam=adam8bit, workers=workers, seed=seed,
    )  # fmt: skip
    with console.progress(f"train-video ({phase})", steps) as on_progress:
        info = run(cfg, load_preset(preset), force=force, on_progress=on_progress)
    if info["process"] != 0:  # several processes (accelerate launch): the main one reports
        return
    if json_out:
        console.print_json(info)
    else:
        console.notice(
            f"checkpoint → {info['output']}: {phase} phase, step {info['step']} (from {info['resumed_from']}), loss {info['loss']:.4f}"
        )
