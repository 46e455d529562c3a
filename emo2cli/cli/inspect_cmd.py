"""``emo2 inspect``: summary and plot of any intermediate file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, QuietOpt


def inspect_file(
    file: Annotated[Path, typer.Argument(help="NAME.hands.npz, NAME.feats.npy/.json or NAME.handmaps.json.", show_default=False)],
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a PNG plot here.")] = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Summarise an intermediate file (format, frames, per-hand motion, meta) and optionally plot it.

    Examples:
        emo2 inspect speech.hands.npz
        emo2 inspect speech.hands.npz --plot speech.hands.png
        emo2 inspect speech.feats.npy --json
    """
    from emo2cli.summary import plot as plot_file
    from emo2cli.summary import summarize

    console.setup(quiet, debug)
    summary = summarize(file)
    if plot is not None:
        plot_file(file, plot, force=force)
    if json_out:
        console.print_json(summary)
    else:
        _print_summary(summary)
    if plot is not None:
        console.notice(f"wrote {plot}")


def _print_summary(summary: dict) -> None:
    from rich.pretty import Pretty

    hands = summary.pop("hands", None)
    console.stdout.print(Pretty(summary, expand_all=False))
    if hands:
        names = list(hands)
        keys = list(hands[names[0]])
        rows = [{"": key, **{name: hands[name][key] for name in names}} for key in keys]
        console.print_table(rows, ["", *names], title="per hand")
