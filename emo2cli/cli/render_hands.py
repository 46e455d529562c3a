"""``emo2 render-hands``: draw hands files as portrait-aligned hand maps (MP4 or PNG frames)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, InputsArg, JsonOpt, OutputOpt, PresetOpt, QuietOpt, ShardOpt
from emo2cli.errors import InputError

SUFFIX = ".handmaps.mp4"


def _pair(text: str | None, sep: str, what: str, kind: type) -> tuple | None:
    if text is None:
        return None
    try:
        a, b = (kind(v) for v in text.lower().split(sep))
    except ValueError:
        raise InputError(f"{what} '{text}' is not of the form A{sep}B") from None
    return a, b


def render_hands(
    inputs: InputsArg,
    portrait: Annotated[Path | None, typer.Option("--portrait", help="Portrait to place the hands on (shoulders found with mediapipe).")] = None,
    output: OutputOpt = None,
    frames: Annotated[Path | None, typer.Option("--frames", help="Write PNG frames into this folder instead of an MP4.")] = None,
    size: Annotated[str | None, typer.Option("--size", help="Output size HxW in pixels, both even (default: the preset's, 704x512).")] = None,
    overlay: Annotated[bool, typer.Option("--overlay", help="Draw over the portrait (a visual check, not a control map).")] = False,
    mano_dir: Annotated[Path | None, typer.Option("--mano-dir", help="MANO model folder (MANO_LEFT/RIGHT); also EMO2_MANO_DIR.")] = None,
    anchor: Annotated[str | None, typer.Option("--anchor", help="Neck-base pixel X,Y in the output frame (overrides detection).")] = None,
    shoulder_width: Annotated[float | None, typer.Option("--shoulder-width", help="Shoulder width in output pixels (sets the scale).")] = None,
    scale: Annotated[float | None, typer.Option("--scale", help="Factor on the hand size and motion range (1 = as placed).")] = None,
    style: Annotated[str | None, typer.Option("--style", help="emo2 (shaded hands), keypoints (OpenPose 21 points) or echomimicv2 (EchoMimicV2's hand-keypoint maps).")] = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    shard: ShardOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Draw hands files as hand maps aligned to a portrait (NAME.handmaps.mp4 + .json).

    Without --portrait the body is placed by a centred half-body framing. Hands of masked frames
    are not drawn. The sidecar NAME.handmaps.json records the placement for gen-video.

    Examples:
        emo2 render-hands talk.hands.npz --portrait examples/halfbody_woman.png
        emo2 render-hands talk.hands.npz --portrait me.png --overlay -o check.mp4
        emo2 render-hands talk.hands.npz --frames maps/ --size 512x512 --style keypoints
        emo2 render-hands "clips/*.hands.npz" --portrait me.png -o maps/ --anchor 256,330
    """
    from emo2cli import config
    from emo2cli.cli import batch
    from emo2cli.render.render import render_handmaps

    console.setup(quiet, debug)
    if output is not None and frames is not None:
        raise InputError("give either -o OUT.mp4 or --frames DIR, not both")
    height_width = _pair(size, "x", "--size", int)
    overrides = {"render.style": style, "render.height": height_width and height_width[0], "render.width": height_width and height_width[1]}
    settings = config.apply_overrides(config.load_preset(preset), overrides)
    anchor_px = _pair(anchor, ",", "--anchor", float)
    sources = batch.expand_inputs(inputs, shard)
    many = len(sources) > 1

    def output_of(src: Path) -> Path:
        if frames is not None:
            return frames / batch.base_name(src) if many else frames  # sidecar: NAME.handmaps.json beside it
        return batch.output_for(src, SUFFIX, output, many)

    def work(src: Path, dst: Path) -> dict:
        # no per-frame bar: run_each already shows one (rich allows one live display at a time)
        info = render_handmaps(
            src, dst, settings.render, portrait=portrait, frames_dir=frames is not None, overlay=overlay,
            anchor_px=anchor_px, shoulder_width_px=shoulder_width, scale=scale, mano_dir=mano_dir, force=force,
        )  # fmt: skip
        return {"frames": info.num_frames, "fps": info.fps, "placement": info.placement.source, "hand_model": info.extra["hand_model"]}

    results = batch.run_each(sources, output_of, work, force=force, label="render-hands")
    for r in results:
        if r.status == "done":
            console.notice(f"{r.source} → {r.output}: {r.info['frames']} frames, {r.info['hand_model']} hand, placed by {r.info['placement']}")
    if json_out:
        console.print_json([r.to_dict() for r in results])
    return batch.exit_code(results)
