"""``emo2 export-hands``: a hands file → BVH (two-hand skeleton) or SMPL-X arrays (BEAT2-like .npz)."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, QuietOpt


class Unit(str, enum.Enum):
    m = "m"
    cm = "cm"


def export_hands(
    file: Annotated[Path, typer.Argument(help="A NAME.hands.npz.", show_default=False)],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="OUT.bvh (skeleton animation) or OUT.smplx.npz (SMPL-X arrays).", show_default=False),
    ],
    unit: Annotated[Unit, typer.Option("--unit", help="BVH length unit.")] = Unit.m,
    smplx_model: Annotated[
        Path | None,
        typer.Option("--smplx-model", help="Your SMPL-X model .npz or folder: its arm lengths and hand mean (BEAT2 convention)."),
    ] = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Export gestures to BVH (Blender and other 3D tools) or SMPL-X hand-pose arrays.

    OUT.bvh: both hands as 21-joint skeletons (built-in rest offsets, ZXY Euler channels).
    OUT.smplx.npz: BEAT2-like poses [T, 165]; arms posed by IK to reach the wrists.
    import-hands --from smplx reads the SMPL-X file back.

    Examples:
        emo2 export-hands talk.hands.npz -o talk.bvh
        emo2 export-hands talk.hands.npz -o talk.bvh --unit cm
        emo2 export-hands talk.hands.npz -o talk.smplx.npz --smplx-model ~/models/smplx
    """
    from emo2cli.errors import InputError
    from emo2cli.formats.hands import read_hands
    from emo2cli.hands.bvh import export_bvh
    from emo2cli.hands.smplx_io import export_smplx

    console.setup(quiet, debug)
    if output.suffix.lower() not in (".bvh", ".npz"):
        raise InputError("unknown export format: name the output OUT.bvh or OUT.smplx.npz", path=output)
    hands = read_hands(file)
    if output.suffix.lower() == ".bvh":
        export_bvh(hands, output, unit_scale=100.0 if unit is Unit.cm else 1.0, force=force)
    else:
        export_smplx(hands, output, smplx_model=smplx_model, force=force)
    console.notice(f"{file} → {output}: {hands.num_frames} frames at {hands.fps:g} fps")
