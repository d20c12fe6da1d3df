"""Atomic writes and their leftovers.

A file is written to a temporary beside it (same folder, so the final os.replace is atomic) and
renamed when complete; a reader never sees half a file. The temporary's name carries the
writer's pid, `.<name>.<pid>-<8 hex>.tmp`, so that when a writer is killed (kill -9, power cut)
the next run can tell its leftovers from a write still in progress and remove them (`sweep`).
"""
from __future__ import annotations

import os
import re
import sys
import time
import uuid
from pathlib import Path

# a leftover whose writer cannot be checked (another system's pid rules, a pid reused by a
# long-running process) is removed once no write could still be going on
STALE_SECONDS = 6 * 3600
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")


def temp_path(target: str | Path) -> Path:
    """The temporary to write `target` through: hidden, in the same folder, named after it."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def target_of(temp: str | Path) -> str | None:
    """The file name a temporary from `temp_path` was going to become, or None."""
    found = _TEMP.match(Path(temp).name)
    return found["name"] if found else None


def sweep(folder: str | Path, now: float | None = None) -> list[Path]:
    """Remove the temporaries in `folder` left by writers that are gone: the pid in the name is
    not running (or the file is older than STALE_SECONDS). A write in progress is never touched.
    Returns the files removed; a folder that cannot be read is left alone."""
    folder = Path(folder)
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _TEMP.match(entry.name)
        if not found:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if _running(int(found["pid"])) and age < STALE_SECONDS:
                continue
            os.unlink(entry.path)
        except OSError:
            continue  # gone already, or not ours to remove
        removed.append(Path(entry.path))
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True           # this process may be writing it right now
    if sys.platform == "win32":
        return True           # no cheap probe: rely on the age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True           # exists, owned by someone else
    return True


def sync_directory(directory: str | Path) -> None:
    """fsync a folder, so that the renames into it survive a power cut; a no-op where folders
    cannot be opened (Windows: the rename is still atomic)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
