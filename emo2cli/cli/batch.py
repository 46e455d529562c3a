"""Many inputs per command: globs and ``@list.txt`` expansion, output naming, skip-complete.

Every command that takes several inputs runs them through :func:`run_each`: outputs that already
exist are skipped unless ``--force``; one bad input is reported and the others still run; the
exit code is 2 if any input was bad.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emo2cli.cli import console
from emo2cli.errors import Emo2Error, InputError
from emo2cli.sharding import resolve_shard, select_shard

# Multi-part suffixes we strip to find a base name: speech.feats.npy → speech.
KNOWN_SUFFIXES = (".feats.npy", ".feats.json", ".hands.npz", ".handmaps.mp4", ".handmaps.json")


def base_name(path: Path) -> str:
    """``talk.feats.npy`` → ``talk``; ``talk.wav`` → ``talk``."""
    name = path.name
    for suffix in KNOWN_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def expand_inputs(items: list[str], shard: str | None = None) -> list[Path]:
    """Expand globs and ``@list.txt`` files (one path per line, ``#`` comments) into paths.

    Order is kept for explicit paths, sorted within a glob; duplicates are dropped. Then only
    this process's shard is kept: ``shard`` ("I/N") or, when None, the one implied by a Slurm
    job array or torchrun/accelerate (``emo2cli.sharding``).

    Raises:
        InputError: a glob that matches nothing, a missing list file, no inputs at all.
    """
    paths: list[Path] = []
    for item in items:
        if item.startswith("@"):
            list_file = Path(item[1:])
            if not list_file.is_file():
                raise InputError("no such list file", path=list_file)
            lines = [ln.strip() for ln in list_file.read_text().splitlines()]
            paths += [(list_file.parent / ln) if not Path(ln).is_absolute() else Path(ln) for ln in lines if ln and not ln.startswith("#")]
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise InputError(f"no file matches the pattern '{item}'")
            paths += [Path(m) for m in matches]
        else:
            paths.append(Path(item))
    seen: set[Path] = set()
    unique = [p for p in paths if not (p in seen or seen.add(p))]
    if not unique:
        raise InputError("no input files given")
    chosen = resolve_shard(shard)
    if chosen is not None:
        unique = select_shard(unique, chosen)
        console.notice(f"shard {chosen} ({chosen.source}): {len(unique)} input(s)")
    return unique


def output_for(source: Path, suffix: str, output: Path | None, many: bool) -> Path:
    """Where the output for ``source`` goes: beside it, at ``-o FILE`` (one input) or in ``-o DIR``."""
    name = base_name(source) + suffix
    if output is None:
        return source.with_name(name)
    if many or output.is_dir() or str(output).endswith(("/", "\\")):
        return output / name
    return output


@dataclass
class ItemResult:
    source: Path
    output: Path | None
    status: str  # done | skipped | failed
    error: str = ""
    info: dict | None = None

    def to_dict(self) -> dict:
        return {"input": str(self.source), "output": str(self.output) if self.output else None, "status": self.status, "error": self.error, **(self.info or {})}


def run_each(
    sources: list[Path],
    output_of: Callable[[Path], Path],
    work: Callable[[Path, Path], dict | None],
    force: bool,
    label: str,
    item_progress: bool = False,
) -> list[ItemResult]:
    """Run ``work(source, output)`` for each source, skipping complete outputs unless ``force``.

    With one input, its error propagates (one stderr line, exit 2). With several, an input error
    is printed and recorded, the rest still run, and :func:`exit_code` turns the results into 2.
    With ``item_progress``, ``work`` is called as ``work(source, output, on_progress)`` and its
    ``on_progress(done, total)`` moves the bar within the item (one bar: rich allows one live
    display at a time).
    """
    results: list[ItemResult] = []
    single = len(sources) == 1
    with console.progress(label, total=len(sources)) as on_progress:
        for i, source in enumerate(sources):
            output = output_of(source)
            if output.exists() and not force:
                console.notice(f"skip {source}: {output} exists (use --force to redo)")
                results.append(ItemResult(source, output, "skipped"))
            else:
                try:
                    if item_progress:
                        info = work(source, output, lambda done, total, i=i: on_progress(i + min(done / max(total, 1), 1.0), len(sources)))
                    else:
                        info = work(source, output)
                    results.append(ItemResult(source, output, "done", info=info))
                except Emo2Error as e:
                    if single or e.exit_code != 2:
                        raise
                    console.stderr.print(f"error: {e}", markup=False, style="red")
                    results.append(ItemResult(source, output, "failed", str(e)))
            on_progress(i + 1, len(sources))
    return results


def exit_code(results: list[ItemResult]) -> int:
    return 2 if any(r.status == "failed" for r in results) else 0
