"""Atomic file and folder writes: readers see the old content or the new, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes 0600 files; keep the existing file's mode, else the usual one for new files
    mode = path.stat().st_mode & 0o777 if path.exists() else _default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- several files as one ---------------------------------------------------------------------------------
def _commit_record(folder: Path, group: str) -> Path:
    return folder / f".{group}.commit.json"


def _staged(folder: Path, name: str, group: str) -> Path:
    return folder / f".{name}.{group}.staged"


def atomic_write_files(folder: str | os.PathLike, files: Mapping[str, bytes | Callable[[Path], object] | None],
                       group: str = "files") -> None:
    """Write several files in ``folder`` as one: after a crash at any point, a reader that first calls
    ``finish_interrupted_write(folder, group)`` finds all the old files or all the new ones, never a mix.

    ``files`` maps a file name to its bytes, to a callable ``write(path)`` that writes it, or to None (delete the
    file). Every new file is first written and fsynced under a staging name; a commit record naming them all is
    then written atomically (the commit point); only then are they renamed into place and the record removed.
    A crash before the commit leaves the old files (staged leftovers are overwritten by the next write); a crash
    after it is completed by the next reader or writer."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    finish_interrupted_write(folder, group)
    for name, data in files.items():
        if data is None:
            continue
        if callable(data):
            _write_with(_staged(folder, name, group), data)
        else:
            atomic_write_bytes(_staged(folder, name, group), data)
    plan = {
        "replace": [n for n, d in files.items() if d is not None],
        "delete": [n for n, d in files.items() if d is None],
    }
    atomic_write_text(_commit_record(folder, group), json.dumps(plan))
    finish_interrupted_write(folder, group)


def _write_with(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` into a temporary sibling, fsync it, then move it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def finish_interrupted_write(folder: str | os.PathLike, group: str = "files") -> bool:
    """Complete a committed ``atomic_write_files`` that a crash interrupted (safe to repeat; does nothing when
    there is none). Returns True if one was completed. Raises OSError if the folder cannot be changed."""
    folder = Path(folder)
    record = _commit_record(folder, group)
    try:
        plan = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except ValueError:  # cannot happen (the record is written atomically), but never guess: drop it
        plan = {}
    for name in plan.get("replace", []):
        staged = _staged(folder, name, group)
        if staged.exists():
            os.replace(staged, folder / name)
    for name in plan.get("delete", []):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(record)
    return True
