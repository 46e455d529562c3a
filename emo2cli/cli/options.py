"""Shared ``Annotated`` options, so every command spells them the same way (DESIGN §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

PresetOpt = Annotated[str | None, typer.Option("--preset", help="Preset name (see `emo2 presets`) or path to a YAML file.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: the same seed and inputs give the same file.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing outputs (otherwise complete outputs are skipped).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors; no progress bar.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Verbose logs and full tracebacks.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Output file (one input) or folder (several inputs). Default: beside the input.")
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="cpu, cuda or cuda:N (default: the preset's).")]
InputsArg = Annotated[list[str], typer.Argument(help="Input files, globs, or @list.txt (one path per line).", show_default=False)]
ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", help="Take slice I/N of the inputs (sorted, stable across machines). Default: from SLURM_ARRAY_* or RANK/WORLD_SIZE."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print frames, clips, denoising steps, estimated time and peak memory (per input and in total); run nothing.")
]
MaxMemoryOpt = Annotated[
    float | None, typer.Option("--max-memory", help="Refuse (exit 2) before running when the estimated peak memory exceeds this many GB.")
]
