"""``emo2 convert-weights``: another project's published weights → an EMO2 Stage 2 pipeline folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, ForceOpt, JsonOpt, QuietOpt

app = typer.Typer(
    name="convert-weights",
    help="Convert weights you supply from other projects into EMO2 pipeline folders (nothing is downloaded).",
    no_args_is_help=True,
    rich_help_panel="Weights",
)

SrcArg = Annotated[
    Path, typer.Argument(help="Folder with their .pth files (EchoMimicV2's pretrained_weights/).", show_default=False)
]
OutOpt = Annotated[
    Path,
    typer.Option(
        "--output", "-o", help="The pipeline folder to write (then: emo2 gen-video --checkpoint DIR).", show_default=False
    ),
]
BaseOpt = Annotated[
    Path | None,
    typer.Option(
        "--base-unet",
        help="Base UNet folder (config, optional weights). Default: SRC/sd-image-variations-diffusers/unet, else SD-1.5's config.",
    ),
]
VaeOpt = Annotated[
    Path | None,
    typer.Option(
        "--vae", help="AutoencoderKL folder. Default: SRC/sd-vae-ft-mse, else stabilityai/sd-vae-ft-mse from the local cache."
    ),
]
AccOpt = Annotated[
    bool, typer.Option("--acc", help="Use denoising_unet_acc.pth + motion_module_acc.pth (6 steps, --preset echomimicv2-acc).")
]
DtypeOpt = Annotated[
    str | None, typer.Option("--dtype", help="fp16, bf16 or fp32 for the saved weights. Default: the files' own.")
]


@app.command("echomimicv2")
def echomimicv2(
    src: SrcArg,
    output: OutOpt,
    base_unet: BaseOpt = None,
    vae: VaeOpt = None,
    acc: AccOpt = False,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Convert EchoMimicV2's Stage-2 weights (files you downloaded) into an EMO2 pipeline folder.

    Reads denoising_unet.pth, motion_module.pth, reference_unet.pth and pose_encoder.pth (plain
    tensors only: anything else is refused) and, when there, audio_processor/tiny.pt (Whisper-tiny),
    checks every key against the model it feeds, and writes a diffusers pipeline folder with a
    provenance record and a licence notice. Their code
    is Apache-2.0; their weights state no licence and derive from an OpenRAIL-M model: keep the
    converted folder to yourself.

    Examples:
        emo2 convert-weights echomimicv2 ~/EchoMimicV2/pretrained_weights -o ~/models/emo2-echomimicv2
        emo2 convert-weights echomimicv2 ~/EchoMimicV2/pretrained_weights --acc -o ~/models/emo2-echomimicv2-acc
        emo2 gen-video me.png talk.wav --preset echomimicv2 --checkpoint ~/models/emo2-echomimicv2
    """
    from emo2cli.video.convert import convert_echomimicv2

    console.setup(quiet, debug)
    with console.progress("convert-weights echomimicv2") as on_progress:
        result = convert_echomimicv2(
            src, output, base_unet=base_unet, vae=vae, acc=acc, dtype=dtype, force=force, on_progress=on_progress
        )
    for report in result.reports.values():
        console.notice(report.summary())
        if report.unexpected:
            console.warn(
                f"{report.component}: {len(report.unexpected)} keys in the files were not used, e.g. {report.unexpected[0]}"
            )
    if result.whisper is not None:
        console.notice(f"their Whisper-tiny → {result.whisper} (gen-video uses it for the audio tokens)")
    preset = "echomimicv2-acc" if acc else "echomimicv2"
    console.notice(
        f"{src} → {output} ({result.variant}, {result.dtype}, {result.seconds:.1f} s); run it with --preset {preset} --checkpoint {output}"
    )
    console.notice(
        "licence: EchoMimicV2's weights state no licence and derive from CreativeML OpenRAIL-M weights; see NOTICE.md there"
    )
    if json_out:
        console.print_json(result.to_dict())
    return 0
