"""Exception classes and their exit codes (DESIGN §8).

Every error a user can cause is an :class:`InputError` or a :class:`MissingPrerequisite`
(exit code 2); the CLI prints ``str(error)`` as one line on stderr. Anything else is an
internal error (exit code 1) and shows a traceback only with ``--debug``.
"""

from __future__ import annotations

import os
from pathlib import Path


class Emo2Error(Exception):
    """Base class. ``path`` names the file at fault, ``hint`` says how to fix it.

    Args:
        message: what is wrong, without the path (it is prefixed).
        path: the file or directory the problem is about, if any.
        hint: one short sentence on what to do instead.
    """

    exit_code = 1

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputError(Emo2Error):
    """Bad input: a missing or corrupt file, a wrong format version, a bad preset key. Exit 2."""

    exit_code = 2


class MissingPrerequisite(Emo2Error):
    """Something the command needs is not installed or not found (weights, an extra). Exit 2."""

    exit_code = 2


class InternalError(Emo2Error):
    """A bug or an unexpected state inside emo2. Exit 1."""

    exit_code = 1


def require_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, or raise InputError if it is not an existing file."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p)
    if not p.is_file():
        raise InputError("not a file", path=p)
    return p
