"""``emo2 batch``: many gen-video jobs from a CSV or YAML jobs file, with a ``batch.jsonl`` manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emo2cli.cli import console
from emo2cli.cli.options import DebugOpt, DryRunOpt, ForceOpt, JsonOpt, MaxMemoryOpt, PresetOpt, QuietOpt, ShardOpt


def batch(
    jobs_file: Annotated[
        Path, typer.Argument(help="Jobs file: CSV with a header row, or YAML (a list of jobs).", show_default=False)
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for the videos and batch.jsonl. Default: the jobs file's folder."),
    ] = None,
    dry_run: DryRunOpt = False,
    max_memory: MaxMemoryOpt = None,
    shard: ShardOpt = None,
    preset: PresetOpt = None,
    force: ForceOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> int:
    """Run one gen-video job per row of a jobs file; write a batch.jsonl manifest line per job.

    Columns: portrait, audio (required); hands, id, output, seed, preset, style, speed, steps,
    backend, checkpoint, or any dotted preset key (render.height ...). Empty cells use the preset.
    Every row is checked before anything runs. A job that fails is recorded (status, one-line
    error) and the others still run; rerunning skips jobs whose output exists. Exit 2 if a job
    failed on bad input, 1 on an internal error. --shard I/N (or SLURM_ARRAY_* / RANK+WORLD_SIZE)
    takes a slice by sorted job id; each shard writes batch.shard-I-of-N.jsonl.

    Examples:
        emo2 batch jobs.csv -o out/
        emo2 batch jobs.yaml -o out/ --dry-run --json
        emo2 batch jobs.csv -o out/ --shard 0/4 --max-memory 40
    """
    from emo2cli import jobs
    from emo2cli.sharding import resolve_shard

    console.setup(quiet, debug)
    todo = jobs.read_jobs(jobs_file, output, preset)
    chosen = resolve_shard(shard)
    if chosen is not None:
        todo = jobs.shard_jobs(todo, chosen)
        console.notice(f"shard {chosen} ({chosen.source}): {len(todo)} of the jobs")
    stop = estimate_first([(j.id, j.preset, j.audio) for j in todo], dry_run, max_memory, json_out, path=jobs_file)
    if stop is not None:
        return stop
    out_dir = output if output is not None else jobs_file.parent
    manifest = out_dir / jobs.manifest_name(chosen)

    def report(r) -> None:
        line = f"{r.status} {r.id} ({r.wall_s:.1f} s)" + (f": {r.error}" if r.error else "")
        (console.warn if r.status == "failed" else console.notice)(line)

    results = jobs.run_jobs(todo, manifest, force=force, on_job=report)
    console.notice(f"{sum(r.status == 'done' for r in results)} done, {sum(r.status == 'skipped' for r in results)} skipped, "
                   f"{sum(r.status == 'failed' for r in results)} failed; manifest: {manifest}")  # fmt: skip
    if json_out:
        console.print_json([r.to_dict() for r in results])
    return jobs.batch_exit_code(results)


def estimate_first(
    runs: list, dry_run: bool, max_memory: float | None, json_out: bool, hands_only: bool = False, path: Path | None = None
) -> int | None:
    """``--dry-run`` / ``--max-memory`` of a command, before it runs: the exit code to stop with, or None to go on.

    ``runs`` are ``(label, preset, audio)``; a run over ``max_memory`` raises InputError (exit 2).
    """
    if not dry_run and max_memory is None:
        return None
    from emo2cli.estimate import check_memory, estimate_runs

    summary = estimate_runs(runs, hands_only=hands_only)
    check_memory(summary, max_memory, path=path)
    if not dry_run:
        return None
    if json_out:
        console.print_json(summary)
    else:
        columns = ["id", "frames", "clips", "denoising_steps", "time_s", "peak_memory_gb", "memory", "backend", "error"]
        console.print_table(summary["jobs"], columns, title="estimate")
        console.notice(f"total: {summary['total']} (calibration: {summary['calibration']})")
    return 2 if summary["failed"] else 0
