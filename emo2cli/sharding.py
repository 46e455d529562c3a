"""Deterministic sharding of many inputs over processes (Slurm job arrays, accelerate/torchrun).

A shard ``I/N`` (0 ≤ I < N) takes every item whose position in the *sorted* list of keys is
congruent to I modulo N, so the split is the same on every machine, whatever order the inputs
were discovered in, and the shards cover every input exactly once.

When no shard is given it is read from the environment of the engine that started the process:

- Slurm job arrays: ``SLURM_ARRAY_TASK_ID`` with ``SLURM_ARRAY_TASK_COUNT`` (or
  ``SLURM_ARRAY_TASK_MIN``/``MAX`` when the count is absent; ids are rebased on MIN);
- accelerate / torchrun: ``RANK`` and ``WORLD_SIZE``; ``LOCAL_RANK`` picks the GPU (:func:`local_cuda`).

No scheduler of our own: the engines start the processes; each process takes its slice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from emo2cli.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    source: str = "--shard"  # where it came from: --shard, slurm, torchrun

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise InputError(f"invalid shard {self.index}/{self.count} from {self.source}: need 0 <= I < N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"2/8"`` → Shard(2, 8)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise InputError(f"--shard must look like I/N (e.g. 0/4), got {text!r}")
    return Shard(int(m.group(1)), int(m.group(2)))


def shard_from_env(environ: Mapping[str, str] | None = None) -> Shard | None:
    """The shard implied by Slurm array or torchrun/accelerate variables, or None."""
    env = os.environ if environ is None else environ
    if "SLURM_ARRAY_TASK_ID" in env:
        task = int(env["SLURM_ARRAY_TASK_ID"])
        lo = int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        if "SLURM_ARRAY_TASK_COUNT" in env:
            count = int(env["SLURM_ARRAY_TASK_COUNT"])
        elif "SLURM_ARRAY_TASK_MAX" in env:
            count = int(env["SLURM_ARRAY_TASK_MAX"]) - lo + 1
        else:
            raise InputError("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is")
        return Shard(task - lo, count, "slurm")
    if "WORLD_SIZE" in env and int(env["WORLD_SIZE"]) > 1:
        return Shard(int(env.get("RANK", "0")), int(env["WORLD_SIZE"]), "torchrun")
    return None


def resolve_shard(text: str | None, environ: Mapping[str, str] | None = None) -> Shard | None:
    """An explicit ``--shard`` wins; otherwise the environment; otherwise no sharding."""
    return parse_shard(text) if text else shard_from_env(environ)


def select_shard(items: Sequence[T], shard: Shard | None, key: Callable[[T], str] = str) -> list[T]:
    """Items of this shard, in their original order (membership decided on the sorted keys)."""
    if shard is None or shard.count == 1:
        return list(items)
    order = sorted(range(len(items)), key=lambda i: key(items[i]))
    mine = {i for rank, i in enumerate(order) if rank % shard.count == shard.index}
    return [item for i, item in enumerate(items) if i in mine]


def local_cuda(environ: Mapping[str, str] | None = None) -> str:
    """``cuda:LOCAL_RANK`` under accelerate/torchrun (one GPU per process on a node), else ``cuda``."""
    env = os.environ if environ is None else environ
    return f"cuda:{int(env['LOCAL_RANK'])}" if env.get("LOCAL_RANK", "").isdigit() else "cuda"
