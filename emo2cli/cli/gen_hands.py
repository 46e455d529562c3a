"""``emo2 gen-hands``: audio features (or audio files) → gesture files ``NAME.hands.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import (
    DebugOpt,
    DeviceOpt,
    DryRunOpt,
    ForceOpt,
    InputsArg,
    JsonOpt,
    MaxMemoryOpt,
    OutputOpt,
    PresetOpt,
    QuietOpt,
    SeedOpt,
    ShardOpt,
)

CheckpointOpt = Annotated[
    str | None, typer.Option("--checkpoint", help="Stage 1 checkpoint folder (train-hands output) or hub id. Default: the preset's; none = the rules generator.")
]
StyleOpt = Annotated[str | None, typer.Option("--style", help="Gesture style: talk, lecture or sing (a checkpoint lists its own). Default: the preset's.")]
SpeedOpt = Annotated[
    float | None, typer.Option("--speed", help="Liveliness: variance of wrist translation in cm² (rules: talk ≈ 120). Default: the style's typical value.")
]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Sampler steps per window (checkpoint only). Default: the preset's.")]
GuidanceOpt = Annotated[float | None, typer.Option("--guidance", help="Audio guidance scale, 1 = none (checkpoint only). Default: the preset's.")]
SamplerOpt = Annotated[str | None, typer.Option("--sampler", help="ddim or dpm++ (checkpoint only). Default: the preset's.")]
InitOpt = Annotated[Path | None, typer.Option("--init-hands", help="Start from the last frames of this hands file instead of the rest pose.")]


def gen_hands(
    inputs: InputsArg,
    output: OutputOpt = None,
    checkpoint: CheckpointOpt = None,
    style: StyleOpt = None,
    speed: SpeedOpt = None,
    steps: StepsOpt = None,
    guidance: GuidanceOpt = None,
    sampler: SamplerOpt = None,
    init_hands: InitOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = None,
    dry_run: DryRunOpt = False,
    max_memory: MaxMemoryOpt = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    shard: ShardOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Generate co-speech hand gestures (NAME.hands.npz) from audio features or audio files.

    Inputs are NAME.feats.npy files (from extract-audio) or audio/video files (features are
    extracted on the fly). With a Stage 1 checkpoint the motion diffusion transformer samples the
    hands window by window; without one the built-in rules generator places gesture strokes on
    the speech's stressed syllables. meta records the generator, model, seed, style and speed.

    Examples:
        emo2 gen-hands examples/speech_en_7s.wav
        emo2 gen-hands speech.feats.npy --style lecture --speed 200 --seed 3 -o speech.hands.npz
        emo2 gen-hands "talks/*.wav" -o hands/ --checkpoint runs/stage1 --steps 8 --guidance 2.5
        emo2 gen-hands part2.wav --init-hands part1.hands.npz
    """
    from emo2cli.cli import batch
    from emo2cli.cli.batch_cmd import estimate_first
    from emo2cli.config import apply_overrides, load_preset
    from emo2cli.formats.hands import SUFFIX
    from emo2cli.motion.generate import generate_hands_file

    console.setup(quiet, debug)
    overrides = {"motion.steps": steps, "motion.guidance": guidance, "motion.sampler": sampler, "motion.device": device}
    settings = apply_overrides(load_preset(preset), overrides)
    sources = batch.expand_inputs(inputs, shard)
    many = len(sources) > 1
    if (stop := estimate_first([(str(s), settings, s) for s in sources], dry_run, max_memory, json_out, hands_only=True)) is not None:
        return stop

    def work(source: Path, target: Path) -> dict:
        hands = generate_hands_file(source, target, settings, seed, style, speed, checkpoint, init_hands, force=True)
        meta = hands.meta
        console.notice(f"{source} → {target} [{hands.num_frames} frames, {meta['generator']}, style {meta['style']}]")
        return {"num_frames": hands.num_frames, "generator": meta["generator"], "model": meta["model"], "style": meta["style"], "seed": seed}

    results = batch.run_each(sources, lambda s: batch.output_for(s, SUFFIX, output, many), work, force, label="gen-hands")
    if json_out:
        console.print_json([r.to_dict() for r in results])
    return batch.exit_code(results)
