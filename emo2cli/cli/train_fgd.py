"""``emo2 train-fgd``: train the FGD motion autoencoder on reference hands files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, PresetOpt, QuietOpt, SeedOpt


def train_fgd(
    data_dir: Annotated[Path, typer.Argument(help="Folder searched recursively for *.hands.npz reference motion.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (config.json + safetensors).")],
    steps: Annotated[int | None, typer.Option("--steps", help="Optimiser steps (default: the preset's eval.fgd_steps).")] = None,
    window: Annotated[
        int | None, typer.Option("--window", help="Frames per training window, a multiple of 4 (eval.fgd_window).")
    ] = None,
    seed: SeedOpt = 0,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Train the feature encoder FGD uses (a small motion autoencoder on the 42 hand joints).

    FGD scores are comparable only between runs that use the same encoder folder.

    Examples:
        emo2 train-fgd data/reference_hands -o fgd_encoder
        emo2 evaluate hands gen/*.hands.npz --reference data/reference_hands/*.hands.npz --fgd-encoder fgd_encoder
    """
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.metrics.fgd_encoder import train_fgd as run

    console.setup(quiet, debug)
    cfg = apply_overrides(load_preset(preset), {"eval.fgd_steps": steps, "eval.fgd_window": window}).eval
    with console.progress("train-fgd", cfg.fgd_steps) as on_progress:
        info = run(data_dir, output, cfg.fgd_window, cfg.fgd_steps, seed, force=force, on_progress=on_progress)
    if json_out:
        console.print_json(info)
    else:
        console.notice(
            f"FGD encoder → {info['output']}: {info['windows']} windows from {info['files']} files, loss {info['loss_first']:.4f} → {info['loss_last']:.4f}"
        )
