"""Format tags (``emo2.<kind>/<major>``), atomic writes and content hashes.

A tag is stored in every file we write: a 0-d string in ``.npz``, a ``format`` field in JSON
sidecars. Readers accept their own major version and refuse others with an error that names
the file and says what to do (STYLE §4).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from emo2cli.errors import InputError

_TAG_RE = re.compile(r"^emo2\.([a-z_]+)/(\d+)$")


def make_tag(kind: str, major: int) -> str:
    return f"emo2.{kind}/{major}"


def parse_tag(tag: str) -> tuple[str, int]:
    """``"emo2.hands/1"`` → ``("hands", 1)``; raises ValueError for anything else."""
    m = _TAG_RE.match(str(tag))
    if not m:
        raise ValueError(f"not an emo2 format tag: {tag!r}")
    return m.group(1), int(m.group(2))


def check_tag(found: object, kind: str, major: int, path: str | os.PathLike) -> None:
    """Refuse a file whose tag is not ``emo2.<kind>/<major>``.

    Raises:
        InputError: naming the file, the tag found and the version this emo2 reads.
    """
    try:
        found_kind, found_major = parse_tag(str(found))
    except ValueError:
        raise InputError(f"format tag {found!r} is not an emo2 tag; expected {make_tag(kind, major)}", path=path) from None
    if found_kind != kind:
        raise InputError(f"is an emo2.{found_kind} file, expected {make_tag(kind, major)}", path=path)
    if found_major > major:
        raise InputError(
            f"is {make_tag(kind, found_major)}; this emo2 reads up to /{major}",
            path=path,
            hint="upgrade emo2cli",
        )
    if found_major != major:
        raise InputError(f"is {make_tag(kind, found_major)}, an unknown version; expected {make_tag(kind, major)}", path=path)


def read_tagged_json(path: str | os.PathLike, kind: str, major: int, required: tuple[str, ...] = ()) -> dict:
    """Read a JSON sidecar tagged ``emo2.<kind>/<major>`` and check that ``required`` keys exist.

    Raises:
        InputError: missing file, not JSON, no ``format``, another kind or version, a missing key.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"is not valid JSON ({e})", path=path) from None
    if not isinstance(data, dict) or "format" not in data:
        raise InputError("missing key 'format'", path=path)
    check_tag(data["format"], kind, major, path)
    for key in required:
        if key not in data:
            raise InputError(f"missing key '{key}'", path=path)
    return data


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def refuse_overwrite(path: str | os.PathLike, force: bool) -> None:
    """Raise InputError if ``path`` exists and ``force`` is false (never overwrite silently)."""
    if not force and Path(path).exists():
        raise InputError("already exists", path=path, hint="pass --force to overwrite")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the destination folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched, so no output is
    ever left half-written. The temporary name keeps the final suffix, so writers that pick a
    container by extension (numpy, PyAV) work.

    Raises:
        InputError: ``path`` exists and ``force`` is false, or its folder cannot be written.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes[-1:]), dir=folder)
    except OSError as e:
        raise InputError(f"cannot write here: {e.strerror or e}", path=path) from None
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the output the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (a folder output).

    Like :func:`atomic_path` for folders (PNG frame folders, pipeline folders): on any exception
    the temporary folder is removed and ``path`` is untouched.

    Raises:
        InputError: ``path`` exists and ``force`` is false, or its parent cannot be written.
    """
    import shutil

    path = Path(path)
    refuse_overwrite(path, force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as e:
        raise InputError(f"cannot write here: {e.strerror or e}", path=path) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; give the output what mkdir would
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    with atomic_path(path, force) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, force: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), force)
