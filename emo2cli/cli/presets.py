"""``emo2 presets``: list presets, or show one preset's resolved values and where each came from."""

from __future__ import annotations

from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, JsonOpt, QuietOpt


def presets(
    name: Annotated[str | None, typer.Argument(help="Preset to show (name or YAML path); omit to list them.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the presets, or show every value of one preset and its source.

    Examples:
        emo2 presets
        emo2 presets fast
        emo2 presets my.yaml --json
    """
    from emo2cli.config import list_presets, load_preset, preset_file, preset_sources, read_preset_yaml

    console.setup(quiet, debug)
    if name is None:
        rows = []
        for preset_name, path in list_presets().items():
            first = next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")
            rows.append({"name": preset_name, "file": str(path), "about": first, "keys set": _count_leaves(read_preset_yaml(path))})
        if json_out:
            console.print_json(rows)
        else:
            console.print_table(rows, ["name", "about", "keys set", "file"], title="presets")
        return
    preset = load_preset(name)
    sources = preset_sources(name)
    flat = _flatten(preset.to_dict())
    if json_out:
        console.print_json({"name": preset.name, "file": str(preset_file(name)), "sha256": preset.sha256(), "values": flat, "sources": sources})
        return
    rows = [{"key": k, "value": v, "from": sources.get(k, "default")} for k, v in flat.items() if k != "name"]
    console.print_table(rows, ["key", "value", "from"], title=f"preset {preset.name} (sha256 {preset.sha256()[:12]})")


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _count_leaves(data: dict) -> int:
    return len(_flatten(data))
