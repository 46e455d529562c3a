"""``emo2 import-hands``: SMPL-X sequences (BEAT2 / TalkSHOW layouts) or MANO fits → a hands file."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, OutputOpt, PresetOpt, QuietOpt


class Source(str, enum.Enum):
    smplx = "smplx"
    mano = "mano"


def import_hands(
    file: Annotated[
        Path, typer.Argument(help="SMPL-X .npz (BEAT2) / .npy (TalkSHOW), or MANO fits (.npz or a folder).", show_default=False)
    ],
    source: Annotated[
        Source, typer.Option("--from", help="What FILE holds: smplx (body + hands) or mano (hand fits).", show_default=False)
    ],
    output: OutputOpt = None,
    fps: Annotated[
        float | None, typer.Option("--fps", help="Output frame rate (default: the preset's fps); the source is resampled.")
    ] = None,
    source_fps: Annotated[float | None, typer.Option("--source-fps", help="Frame rate of FILE when it stores none.")] = None,
    smplx_model: Annotated[
        Path | None,
        typer.Option(
            "--smplx-model", help="Your SMPL-X model .npz or folder (licensed, never shipped): exact wrists and finger mean."
        ),
    ] = None,
    mano_dir: Annotated[
        Path | None, typer.Option("--mano-dir", help="Your MANO folder (MANO_LEFT/RIGHT): adds J0 to a MANO transl.")
    ] = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Import gestures from SMPL-X sequences or per-frame MANO fits as a hands file.

    Expected keys (other files are refused, naming the key):
    smplx .npz (BEAT2): poses [T, 165], mocap_frame_rate; betas optional
    smplx .npy (TalkSHOW): [T, 265]; 30 fps unless --source-fps
    mano .npz or folder: global_orient, hand_pose (45, no PCA), wrist | joints | transl; is_right for one hand

    Examples:
        emo2 import-hands 2_scott_0_1_1.npz --from smplx -o scott.hands.npz
        emo2 import-hands talk.npz --from smplx --smplx-model ~/models/smplx -o talk.hands.npz
        emo2 import-hands fits/ --from mano --source-fps 30 -o fits.hands.npz
    """
    from emo2cli.cli import batch
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.formats.hands import SUFFIX, write_hands
    from emo2cli.hands.smplx_io import import_hands as import_file

    console.setup(quiet, debug)
    cfg = apply_overrides(load_preset(preset), {"fps": fps})
    name = batch.base_name(file).removesuffix(".smplx") + SUFFIX
    out = output if output is not None and not output.is_dir() else (output or file.parent) / name

    def work(src: Path, dst: Path) -> dict:
        hands = import_file(src, source.value, cfg.fps, smplx_model=smplx_model, source_fps=source_fps, mano_dir=mano_dir)
        write_hands(hands, dst, force=force)
        console.notice(f"{src} → {dst}: {hands.num_frames} frames at {hands.fps:g} fps (wrists: {hands.meta['wrist_position']})")
        return {"frames": hands.num_frames, "fps": hands.fps, "meta": hands.meta}

    results = batch.run_each([file], lambda _src: out, work, force=force, label="import-hands")
    if json_out:
        console.print_json([r.to_dict() for r in results])
