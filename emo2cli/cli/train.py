"""``emo2 train-hands``: train (or resume) the Stage 1 motion DiT on a folder of hands + audio pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, PresetOpt, QuietOpt, SeedOpt


def train_hands(
    data_dir: Annotated[Path, typer.Argument(help="Folder of NAME.hands.npz + NAME.wav (or NAME.feats.npy) pairs.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Checkpoint folder (resumed when it holds a run).")],
    steps: Annotated[int, typer.Option("--steps", help="Total optimiser steps (a resumed run continues to this).")] = 20000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per step (per GPU).")] = 32,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate (after a linear warm-up).")] = 1e-4,
    size: Annotated[str, typer.Option("--size", help="Model size: tiny | S | B | L (L = the paper's 24 blocks x 512).")] = "S",
    velocity_weight: Annotated[float, typer.Option("--velocity-weight", help="Weight of the velocity loss; 0 turns it off.")] = 1.0,
    save_every: Annotated[int, typer.Option("--save-every", help="Write a checkpoint every this many steps.")] = 1000,
    seed: SeedOpt = 0,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train the Stage 1 motion diffusion transformer (audio features → MANO hands).

    Windows of motion.window frames with motion.context context frames (from the preset) are
    drawn at random; the loss is logged to OUT/log.jsonl; OUT is a checkpoint gen-hands reads
    (EMA weights) and OUT/train_state/ lets a second run resume. bf16 on GPUs; several GPUs
    through accelerate. --force starts over in a folder that holds a run.

    Examples:
        emo2 train-hands data/pairs -o runs/stage1 --size S --steps 20000
        emo2 train-hands data/pairs -o runs/stage1 --steps 40000        # resumes at its last step
        accelerate launch -m emo2cli train-hands data/pairs -o runs/stage1_L --size L --batch-size 16
        emo2 gen-hands speech.wav --checkpoint runs/stage1
    """
    from emo2cli.config import load_preset
    from emo2cli.motion.train import TrainHandsConfig
    from emo2cli.motion.train import train_hands as run

    console.setup(quiet, debug)
    cfg = TrainHandsConfig(
        str(data_dir), str(output), size=size, steps=steps, batch_size=batch_size, lr=lr,
        velocity_weight=velocity_weight, save_every=save_every, seed=seed,
    )  # fmt: skip
    with console.progress("train-hands", steps) as on_progress:
        info = run(cfg, load_preset(preset), force=force, on_progress=on_progress)
    if json_out:
        console.print_json(info)
    else:
        console.notice(f"checkpoint → {info['output']}: step {info['step']} (from {info['resumed_from']}), loss {info['loss']:.4f}")
