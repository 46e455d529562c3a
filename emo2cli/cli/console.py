"""Console output shared by every command: one stderr console, progress bars, JSON and tables.

Progress bars are drawn only when stderr is a terminal and ``--quiet`` is off. Machine-readable
output (``--json``) goes to stdout; everything for people goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)

_state = {"quiet": False}


def setup(quiet: bool = False, debug: bool = False) -> None:
    """Set the log level for the library (``--quiet`` → WARNING, ``--debug`` → DEBUG)."""
    _state["quiet"] = quiet
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger("emo2cli")
    root.handlers[:] = [RichHandler(console=stderr, show_time=False, show_path=debug, markup=False)]
    root.setLevel(level)
    root.propagate = False


def notice(message: str) -> None:
    """A line for people on stderr, hidden by ``--quiet``."""
    if not _state["quiet"]:
        stderr.print(message, markup=False)


def warn(message: str) -> None:
    """A warning line on stderr, always shown."""
    stderr.print(f"warning: {message}", markup=False, style="yellow")


def print_json(obj: object) -> None:
    """Machine-readable output on stdout (plain JSON, one document)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_table(rows: list[dict], columns: list[str], title: str | None = None) -> None:
    """A rich table on stdout; ``columns`` picks and orders the keys of ``rows``."""
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))  # Text: "[sface]" is not markup
    stdout.print(table)


@contextlib.contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[[float, float], None]]:
    """Yield an ``on_progress(done, total)`` callback for library functions.

    The bar is shown only on a TTY without ``--quiet``; elsewhere the callback does nothing.
    """
    if _state["quiet"] or not stderr.is_terminal:
        yield lambda done, total=None: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True
    ) as bar:
        task = bar.add_task(description, total=total)

        def on_progress(done: float, total: float | None = None) -> None:
            bar.update(task, completed=done, total=total if total is not None else bar.tasks[task].total)

        yield on_progress


def quiet_diffusers() -> None:
    """Our own progress bar replaces diffusers' component-loading bars; its info logs are noise here."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
