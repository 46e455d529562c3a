"""``emo2 evaluate hands|video``: the paper's metrics with a stated protocol, real where weights exist.

Every row carries its protocol string; a metric whose network is missing prints
``unavailable: needs X, place it at P`` and the command still exits 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, InputsArg, PresetOpt, QuietOpt

app = typer.Typer(
    name="evaluate",
    help="Measure generated hands files or videos (DIV, BA, PCK, FGD, PSNR, SSIM, FID, FVD, CSIM, HKC, HKV, hand control, Sync).",
    no_args_is_help=True,
)

RefOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--reference", help="Reference/ground-truth file(s): one for all inputs, or one per input (globs and @list ok)."
    ),
]
AudioOpt = Annotated[list[Path] | None, typer.Option("--audio", help="Speech file(s): one for all inputs, or one per input.")]
JsonFileOpt = Annotated[
    Path | None,
    typer.Option("--json", help="Write every number with its protocol and weights as JSON to FILE ('-' = stdout, no table)."),
]
CsvOpt = Annotated[Path | None, typer.Option("--per-frame", help="Write per-frame values to a CSV file.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write a PNG of per-second curves (drift over time).")]
HandsOpt = Annotated[list[Path] | None, typer.Option("--hands", help="Driving .hands.npz (one, or one per input): hand control.")]
MapsOpt = Annotated[list[Path] | None, typer.Option("--handmaps", help="Each video's NAME.handmaps.json (default: beside it).")]


def _finish(report, json_file: Path | None, per_frame: Path | None, plot: Path | None, force: bool) -> None:
    from emo2cli.metrics.report import write_outputs

    to_stdout = json_file is not None and str(json_file) == "-"
    write_outputs(report, None if to_stdout else json_file, per_frame, plot, force)
    if to_stdout:
        console.print_json(report.to_dict())
    else:
        title = f"emo2 evaluate {report.kind}: {len(report.inputs)} input(s)"
        console.print_table(report.rows(), ["metric", "value", "better", "weights"], title=title)
        for row in report.rows():
            if row["note"]:
                console.notice(f"{row['metric']}: {row['note']}")
        for protocol in dict.fromkeys(row["protocol"] for row in report.rows()):
            console.notice(f"  {protocol}")


@app.command("hands")
def hands(
    inputs: InputsArg,
    reference: RefOpt = None,
    audio: AudioOpt = None,
    fgd_encoder: Annotated[
        Path | None, typer.Option("--fgd-encoder", help="FGD encoder folder from `emo2 train-fgd` (else FGD-kin only).")
    ] = None,
    div_protocol: Annotated[
        str | None, typer.Option("--div-protocol", help="pairwise (DiffSHEG, default) | variance (TalkSHOW) | l1 (EMAGE).")
    ] = None,
    ba_protocol: Annotated[
        str | None, typer.Option("--ba-protocol", help="emage (sigma 0.3 s, order 7) | talkshow (sigma 0.1 s).")
    ] = None,
    ba_sigma: Annotated[
        float | None, typer.Option("--ba-sigma", help="BA Gaussian sigma in seconds (overrides the protocol's).")
    ] = None,
    pck_threshold: Annotated[
        float | None, typer.Option("--pck-threshold", help="Absolute PCK threshold in metres (default 0.1 x hand length).")
    ] = None,
    json_file: JsonFileOpt = None,
    per_frame: CsvOpt = None,
    plot: PlotOpt = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """DIV, BA, PCK, FGD-kin / FGD of generated .hands.npz files (42 joints, built-in FK).

    Examples:
        emo2 evaluate hands gen_*.hands.npz --audio speech.wav
        emo2 evaluate hands gen.hands.npz --reference gt.hands.npz --json metrics.json
    """
    from emo2cli.cli.batch import expand_inputs
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.metrics.evaluation import evaluate_hands

    console.setup(quiet, debug)
    cfg = apply_overrides(
        load_preset(preset),
        {
            "eval.div_protocol": div_protocol,
            "eval.ba_protocol": ba_protocol,
            "eval.ba_sigma_s": ba_sigma,
            "eval.pck_threshold_m": pck_threshold,
        },
    )
    refs = expand_inputs(reference) if reference else []
    with console.progress("evaluate hands", 1) as on_progress:
        report = evaluate_hands(
            expand_inputs(inputs), refs, list(audio or []), cfg, str(fgd_encoder) if fgd_encoder else None, on_progress
        )
    _finish(report, json_file, per_frame, plot, force)


@app.command("video")
def video(
    inputs: InputsArg,
    reference: RefOpt = None,
    portrait: Annotated[
        Path | None, typer.Option("--portrait", help="Identity image for CSIM (else the reference video's first face).")
    ] = None,
    audio: AudioOpt = None,
    hands: HandsOpt = None,
    handmaps: MapsOpt = None,
    json_file: JsonFileOpt = None,
    per_frame: CsvOpt = None,
    plot: PlotOpt = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """PSNR, SSIM, FID, FVD, CSIM, EFID-mesh, HKC, HKV, hand control, Sync-C/D of generated videos.

    Network weights come from the resolver (`emo2 weights` lists where each goes); a missing
    one gives an `unavailable` row and the command still succeeds. With --hands, the video is
    tracked (mediapipe, emo2cli[vision]) and its hands compared with the driving hands file.

    Examples:
        emo2 evaluate video out.mp4 --reference portrait_still.mp4 --portrait portrait.png
        emo2 evaluate video out.mp4 --hands out.hands.npz --per-frame hce.csv
        emo2 evaluate video gen/*.mp4 --reference gt/*.mp4 --json m.json --plot drift.png
    """
    from emo2cli.cli.batch import expand_inputs
    from emo2cli.config import load_preset
    from emo2cli.metrics.evaluation import evaluate_video

    console.setup(quiet, debug)
    cfg = load_preset(preset)
    inputs, refs = expand_inputs(inputs), expand_inputs(reference) if reference else []
    with console.progress("evaluate video") as on_progress:
        report = evaluate_video(inputs, refs, cfg, portrait, audio, on_progress=on_progress, hands=hands, handmaps=handmaps)
    _finish(report, json_file, per_frame, plot, force)
