"""``emo2 edit-hands``: edit gesture files with operations applied in the order typed.

Click does not keep the order of different options, so this command takes its inputs and
operations as one token list (``CONTEXT_SETTINGS`` lets the operation options through) and
:func:`emo2cli.hands.edit.parse_operations` reads it left to right.
"""

from __future__ import annotations

from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, OutputOpt, QuietOpt

# main.py passes this to app.command(): unknown options reach the token list in order.
CONTEXT_SETTINGS = {"ignore_unknown_options": True}
SUFFIX = ".edited.hands.npz"


def edit_hands(
    tokens: Annotated[
        list[str],
        typer.Argument(
            metavar="IN.hands.npz... OPERATIONS...", help="Hands files (globs, @list.txt), then operations.", show_default=False
        ),
    ],
    output: OutputOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Edit a gesture file: amplitude, speed, smoothing, mute, mirror, splice, keyframes.

    Operations run left to right and may repeat; times are in seconds.

    [bold]--amplitude X[/]: scale gestures about each hand's mean (0 = frozen)
    [bold]--retime X[/]: play X times as fast (2 = half as long; slerp)
    [bold]--smooth SIGMA[/]: Gaussian smoothing on the rotation manifold
    [bold]--mute left|right|both[/] [--at T --duration D --fade F]: to rest, masked
    [bold]--mirror[/]: swap the hands with the left-right reflection
    [bold]--splice OTHER.hands.npz[/] [--at T0 --from S0 --duration D --crossfade F]:
    insert D s of OTHER from S0 at T0 (default: append), slerp cross-fade
    [bold]--key T=POSE.hands.npz[/] [--from S --duration HOLD --fade F]:
    hold POSE's frame at S from time T, blended in and out

    Examples:
        emo2 edit-hands talk.hands.npz -o calm.hands.npz --smooth 0.08 --amplitude 0.7
        emo2 edit-hands talk.hands.npz -o t2.hands.npz --mute left --at 2 --duration 3 --mirror
        emo2 edit-hands talk.hands.npz -o t3.hands.npz --splice wave.hands.npz --at 1.5 --crossfade 0.3
        emo2 edit-hands "clips/*.hands.npz" -o edited/ --retime 0.8
    """
    from emo2cli.cli import batch
    from emo2cli.hands.edit import edit_file, parse_operations

    console.setup(quiet, debug)
    inputs, ops = parse_operations(tokens)
    sources = batch.expand_inputs(inputs)
    many = len(sources) > 1
    results = batch.run_each(
        sources,
        lambda src: batch.output_for(src, SUFFIX, output, many),
        lambda src, dst: edit_file(src, dst, ops, force=force),
        force=force,
        label="edit-hands",
    )
    for r in results:
        if r.status == "done":
            frames, edits = r.info["frames"], ", ".join(r.info["edits"])
            console.notice(f"{r.source} → {r.output}: {frames[0]} → {frames[1]} frames ({edits})")
    if json_out:
        console.print_json([r.to_dict() for r in results])
    return batch.exit_code(results)
