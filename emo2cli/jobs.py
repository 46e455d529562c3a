"""Jobs files for ``emo2 batch``: one gen-video run per row, a ``batch.jsonl`` manifest line per job.

A jobs file is a CSV with a header row, or a YAML list of mappings (or a mapping with ``jobs:``
and optional ``defaults:`` applied to every job). Columns:

=============  ==================================================================================
``portrait``   the portrait image (required); relative paths are relative to the jobs file
``audio``      the speech (required)
``hands``      a hands file to use instead of generating gestures (optional)
``id``         the job's name (default: the output's stem, else ``PORTRAIT_AUDIO``); unique;
               sharding (``--shard I/N``) is by sorted id, so it is stable across machines
``output``     the MP4, relative to ``-o DIR`` (default ``ID.mp4``)
``seed``       integer (default 0)
``preset``     preset name or YAML path for this job (default: the command's ``--preset``)
``style``, ``speed``, ``steps``, ``backend``, ``checkpoint``
               the gen-video / gen-hands flags (motion.style, motion.speed, video.steps,
               video.backend, video.checkpoint)
any dotted preset key (``render.height``, ``video.clip_frames`` ...)
=============  ==================================================================================

Empty cells mean "the preset's". Every row is checked when the file is read (unknown columns,
ill-typed or out-of-range values → one InputError naming the file and row), so a typo is caught
before hours of work; a job that fails while running (a corrupt audio file) is recorded in the
manifest and the other jobs still run.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from emo2cli.config import Preset, apply_overrides, load_preset
from emo2cli.errors import Emo2Error, InputError, require_file
from emo2cli.formats._tag import sha256_file
from emo2cli.sharding import Shard, select_shard

logger = logging.getLogger(__name__)

FLAG_KEYS = {
    "style": "motion.style",
    "speed": "motion.speed",
    "steps": "video.steps",
    "backend": "video.backend",
    "checkpoint": "video.checkpoint",
}
JOB_KEYS = ("id", "portrait", "audio", "hands", "output", "seed", "preset")


@dataclass(frozen=True)
class Job:
    """One gen-video run of a jobs file."""

    id: str
    row: int  # CSV: line number in the file; YAML: position in the list (1-based)
    portrait: Path
    audio: Path
    output: Path
    preset: Preset
    seed: int = 0
    hands: Path | None = None
    options: dict = field(default_factory=dict)  # the per-job preset overrides as given (dotted keys)


@dataclass
class JobResult:
    """One manifest line: what happened to a job."""

    id: str
    row: int
    status: str  # done | skipped | failed
    error: str = ""  # one-line message of a failure
    error_kind: str = ""  # input (bad input: exit 2) | internal (a bug: exit 1)
    wall_s: float = 0.0
    outputs: list[dict] = field(default_factory=list)  # [{"path", "sha256"}]
    portrait: str = ""
    audio: str = ""
    seed: int = 0

    def to_dict(self) -> dict:
        return {**self.__dict__, "wall_s": round(self.wall_s, 3)}


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _rows(path: Path) -> list[tuple[int, dict]]:
    """(row number, raw mapping) for each job of a CSV or YAML file."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise InputError(f"is not valid YAML ({e})".replace("\n", " "), path=path) from None
        defaults = {}
        if isinstance(data, dict):
            defaults, data = data.get("defaults") or {}, data.get("jobs")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data) or not isinstance(defaults, dict):
            raise InputError(
                "must be a YAML list of jobs (mappings), or a mapping with 'jobs:' and optional 'defaults:'", path=path
            )
        return [(i + 1, {**defaults, **r}) for i, r in enumerate(data)]
    if path.suffix.lower() != ".csv":
        raise InputError("a jobs file must be .csv, .yaml or .yml", path=path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = [ln for ln in f if not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    if not reader.fieldnames:
        raise InputError("is empty: a CSV header row (portrait,audio,...) is needed", path=path)
    rows = []
    for record in reader:
        if None in record:
            raise InputError(f"row {reader.line_num}: more cells than header columns", path=path)
        cells = {k.strip(): (v or "").strip() for k, v in record.items()}
        if any(cells.values()):
            rows.append((reader.line_num, {k: v for k, v in cells.items() if v != ""}))
    return rows


def _value(text: object, current: object) -> object:
    """A CSV cell as the preset key's type: strings stay strings, the rest is parsed as YAML."""
    if not isinstance(text, str) or isinstance(current, str):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _job(path: Path, row: int, raw: dict, out_dir: Path, preset_ref: str | None, presets: dict) -> Job:
    where = f"row {row}"
    ref = raw.get("preset") or preset_ref
    if raw.get("preset") and Path(str(ref)).suffix in (".yaml", ".yml") and not Path(str(ref)).is_absolute():
        ref = str(path.parent / str(ref))  # a preset file named in a row is relative to the jobs file
    if ref not in presets:
        try:
            presets[ref] = load_preset(str(ref) if ref else None)
        except InputError as e:
            raise InputError(f"{where}: preset: {e}", path=path) from None
    base = presets[ref]
    flat = _flatten(base.to_dict())
    overrides = {}
    for key, value in raw.items():
        if key in JOB_KEYS:
            continue
        dotted = FLAG_KEYS.get(key, key)
        if dotted not in flat:
            guess = difflib.get_close_matches(key, [*JOB_KEYS, *FLAG_KEYS, *flat], n=1)
            tip = f"did you mean '{guess[0]}'?" if guess else "see the jobs-file columns in `emo2 batch --help`"
            raise InputError(f"{where}: unknown column '{key}'", path=path, hint=tip)
        overrides[dotted] = _value(value, flat[dotted])
    try:
        preset = apply_overrides(base, overrides)
    except InputError as e:
        raise InputError(f"{where}: {e.message}", path=path, hint=e.hint) from None
    for key in ("portrait", "audio"):
        if not raw.get(key):
            raise InputError(f"{where}: '{key}' is required", path=path)
    seed = _value(raw.get("seed", 0), 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{where}: seed must be a non-negative integer, got {raw.get('seed')!r}", path=path)

    def here(p: object) -> Path:
        q = Path(str(p)).expanduser()
        return q if q.is_absolute() else path.parent / q

    portrait, audio = here(raw["portrait"]), here(raw["audio"])
    job_id = str(raw.get("id") or (Path(str(raw["output"])).stem if raw.get("output") else f"{portrait.stem}_{audio.stem}"))
    output = out_dir / str(raw.get("output") or f"{job_id}.mp4")
    hands = here(raw["hands"]) if raw.get("hands") else None
    return Job(job_id, row, portrait, audio, output, preset, seed, hands, overrides)


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif k != "name":
            out[prefix + k] = v
    return out


def read_jobs(path: str | os.PathLike, out_dir: str | os.PathLike | None = None, preset: str | None = None) -> list[Job]:
    """Read and check every job of a jobs file (CSV or YAML).

    Args:
        path: the jobs file.
        out_dir: where outputs go (default: the jobs file's folder).
        preset: the preset for rows without a ``preset`` cell (None = ``default``).

    Raises:
        InputError: naming the file and row: an unknown column, a bad value, a missing
            portrait/audio cell, duplicate ids, or no jobs at all.
    """
    path = require_file(path)
    out = Path(out_dir) if out_dir is not None else path.parent
    presets: dict = {}
    jobs = [_job(path, row, raw, out, preset, presets) for row, raw in _rows(path)]
    if not jobs:
        raise InputError("has no jobs", path=path)
    seen: dict[str, int] = {}
    for job in jobs:
        for key in (job.id, str(job.output)):
            if key in seen:
                raise InputError(
                    f"rows {seen[key]} and {job.row} have the same id or output '{key}'",
                    path=path,
                    hint="give each job its own id/output",
                )
            seen[key] = job.row
    return jobs


def shard_jobs(jobs: list[Job], shard: Shard | None) -> list[Job]:
    """This process's jobs: membership by sorted job id (stable across machines)."""
    return select_shard(jobs, shard, key=lambda j: j.id)


def manifest_name(shard: Shard | None) -> str:
    """``batch.jsonl``; one file per shard when sharded (no two processes append to one file)."""
    return "batch.jsonl" if shard is None or shard.count == 1 else f"batch.shard-{shard.index}-of-{shard.count}.jsonl"


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def run_job(
    job: Job, force: bool = False, models: dict | None = None, on_progress: Callable[[int, int], None] | None = None
) -> None:
    """One job through the same library function as ``emo2 gen-video``; ``models`` is shared across jobs."""
    from emo2cli.video.generate import generate_video

    job.output.parent.mkdir(parents=True, exist_ok=True)
    generate_video(
        job.portrait,
        job.audio,
        job.preset,
        job.output,
        hands=job.hands,
        seed=job.seed,
        force=force,
        on_progress=on_progress,
        models=models,
    )


def append_manifest(manifest: Path, result: JobResult) -> None:
    """One JSON line, written with a single append and flushed to disk (a killed run keeps its lines)."""
    manifest.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(result.to_dict()) + "\n").encode()
    fd = os.open(manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def run_jobs(
    jobs: list[Job],
    manifest: str | os.PathLike,
    force: bool = False,
    run: Callable[[Job, bool], None] | None = None,
    on_job: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run every job; append a manifest line as each one finishes. One bad job never stops the others.

    A job whose output exists is skipped (outputs are written atomically, so an existing one is
    complete) unless ``force``. The Stage 2 pipeline is loaded once and shared by every job with
    the same video settings (``generate_video(models=...)``).

    Args:
        jobs: from :func:`read_jobs` (already sharded).
        manifest: the ``batch.jsonl`` to append to.
        run: ``run(job, force)`` (default: :func:`run_job` with one shared model cache; tests pass another).
        on_job: called with each finished job's result.
    """
    if run is None:
        models: dict = {}

        def run(job: Job, force: bool) -> None:
            run_job(job, force, models)

    manifest = Path(manifest)
    results = []
    for job in jobs:
        result = JobResult(job.id, job.row, "done", portrait=str(job.portrait), audio=str(job.audio), seed=job.seed)
        t0 = time.perf_counter()
        if job.output.exists() and not force:
            result.status = "skipped"
        else:
            try:
                run(job, force)
            except Emo2Error as e:
                result.status, result.error, result.error_kind = (
                    "failed",
                    " ".join(str(e).split()),
                    "input" if e.exit_code == 2 else "internal",
                )
            except Exception as e:  # noqa: BLE001 - a bug in one job must not stop the others; exit 1 at the end
                logger.debug("job %s:\n%s", job.id, traceback.format_exc())
                result.status, result.error, result.error_kind = "failed", f"internal error: {type(e).__name__}: {e}", "internal"
        result.wall_s = time.perf_counter() - t0
        if result.status != "failed" and job.output.exists():
            result.outputs = [{"path": str(job.output), "sha256": sha256_file(job.output)}]
        append_manifest(manifest, result)
        if on_job:
            on_job(result)
        results.append(result)
    return results


def batch_exit_code(results: list[JobResult]) -> int:
    """1 if any job hit an internal error, else 2 if any failed on bad input, else 0."""
    kinds = {r.error_kind for r in results if r.status == "failed"}
    return 1 if "internal" in kinds else 2 if kinds else 0
