"""``emo2 bench``: timed runs of each stage on this machine, written to JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, DeviceOpt, ForceOpt, JsonOpt, QuietOpt


def bench(
    sections: Annotated[list[str] | None, typer.Argument(help="Sections to run (default: all).", show_default=False)] = None,
    seconds: Annotated[float, typer.Option("--seconds", help="Length of the audio/video benchmarked, in seconds.")] = 60.0,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON report to write.")] = Path("bench.json"),
    device: DeviceOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Measure speed and memory of each stage; write the figures to a JSON report.

    Examples:
        emo2 bench                      # every section, 60 s of audio
        emo2 bench hands --seconds 30 -o hands.json --force
    """
    from emo2cli.bench import SECTIONS, run_bench
    from emo2cli.formats._tag import atomic_write_text

    console.setup(quiet, debug)
    console.notice(f"sections: {', '.join(sections or SECTIONS)}")
    report = run_bench(sections or [], seconds, device or "cpu", on_section=lambda s: console.notice(f"bench {s} ..."))
    atomic_write_text(output, json.dumps(report, indent=2) + "\n", force=force)
    from emo2cli.estimate import save_calibration

    calibration = save_calibration(report)  # what --dry-run estimates from (only when the video section ran)
    if calibration is not None:
        console.notice(f"calibration for --dry-run estimates: {calibration}")
    if json_out:
        console.print_json(report)
    else:
        console.stdout.print_json(json.dumps(report["sections"]))
        console.notice(f"wrote {output}")
