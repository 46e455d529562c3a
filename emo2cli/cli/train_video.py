"""``emo2 train-video``: the two Stage 2 training phases on a prepare-video folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, PresetOpt, QuietOpt, SeedOpt


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
    from emo2cli.config import load_preset
    from emo2cli.video.train import TrainVideoConfig
    from emo2cli.video.train import train_video as run

    console.setup(quiet, debug)
    console.quiet_diffusers()
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
