"""``emo2 weights``: every model the preset names, where it was looked for, and what runs instead."""

from __future__ import annotations

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, JsonOpt, PresetOpt, QuietOpt


def weights(preset: PresetOpt = None, json_out: JsonOpt = False, quiet: QuietOpt = False, debug: DebugOpt = False) -> None:
    """List the models a preset uses: found or not, where looked, and the built-in default used instead.

    Nothing is downloaded. Put models at the listed place, point the preset (or the named
    environment variable) at a local folder, or allow downloads with EMO2_ALLOW_DOWNLOAD=1.

    Examples:
        emo2 weights
        EMO2_MANO_DIR=~/models/mano emo2 weights --json
    """
    from emo2cli.config import load_preset
    from emo2cli.weights import emo2_home, list_models

    console.setup(quiet, debug)
    rows = list_models(load_preset(preset))
    if json_out:
        console.print_json({"emo2_home": str(emo2_home()), "models": rows})
        return
    for row in rows:
        row["status"] = f"found: {row['path']}" if row["found"] else f"missing → {row['instead']}"
    console.print_table(rows, ["name", "what", "ref", "status"], title=f"models (EMO2_HOME={emo2_home()})")
    console.notice("Licensed models (MANO, SMPL-X, Stable Diffusion, EchoMimicV2) are never shipped or downloaded by emo2; point the preset or the environment variable at your own copy.")
