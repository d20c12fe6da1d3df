"""Recovery files (no Qt): where the autosave of a session goes, how it is written (an .ora
with a JSON note beside it, each written atomically) and how the files of sessions that are gone
are found. editor/autosave.py decides when to write them. An autosave that cannot be read is moved
into `recovery_dir()/damaged` (never deleted: it may still be rescued); a damaged note never stops
the scan."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ...atomic import sweep, temp_path
from ...paths import recovery_dir
from .project import Project, read_ora, write_ora

DAMAGED = "damaged"   # recovery_dir()/damaged: autosaves that could not be read, kept for rescue


def session_paths(session: str) -> tuple[Path, Path]:
    """(the .ora, its note) of a session's recovery file."""
    folder = recovery_dir()
    return folder / f"session-{session}.ora", folder / f"session-{session}.json"


@dataclass
class RecoveryFile:
    ora: Path
    note: Path
    info: dict

    @property
    def title(self) -> str:
        return self.info.get("title") or "Untitled"

    @property
    def saved_at(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.info.get("saved_at", 0)))

    def load(self) -> Project:
        return read_ora(self.ora)

    def discard(self) -> None:
        self.note.unlink(missing_ok=True)
        self.ora.unlink(missing_ok=True)

    def set_aside(self) -> Path:
        """Move the files into the damaged folder, where no scan finds them again; -> the folder."""
        folder = self.ora.parent / DAMAGED
        folder.mkdir(exist_ok=True)
        stem, n = self.ora.stem, 1
        while (folder / f"{stem}.ora").exists() or (folder / f"{stem}.json").exists():
            n += 1
            stem = f"{self.ora.stem}-{n}"
        for path, suffix in ((self.ora, ".ora"), (self.note, ".json")):
            if path.exists():
                os.replace(path, folder / f"{stem}{suffix}")
        return folder


def _read_note(note: Path, ora: Path) -> dict:
    """A recovery note as clean fields; a damaged note (not JSON, not an object, wrong types)
    gives defaults, so its autosave is still offered."""
    try:
        raw = json.loads(note.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raw = None
    raw = raw if isinstance(raw, dict) else {}
    try:
        fallback_time = ora.stat().st_mtime
    except OSError:
        fallback_time = 0.0
    saved_at = raw.get("saved_at")
    if isinstance(saved_at, bool) or not isinstance(saved_at, (int, float)) \
            or not (math.isfinite(saved_at) and 0 <= saved_at < 1e11):
        saved_at = fallback_time
    text = lambda key: raw.get(key) if isinstance(raw.get(key), str) else None  # noqa: E731
    return {"pid": _pid(raw.get("pid")), "session": text("session"), "saved_at": float(saved_at),
            "title": text("title") or "", "source": text("source"), "project_path": text("project_path")}


def _pid(value) -> int | None:
    """A process id from a note, or None when it is not one (then the session counts as gone)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    return None


def session_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False          # our own pid: left by an earlier window of this process
    if sys.platform == "win32":
        return False          # no safe probe without extra dependencies; offering is harmless
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = temp_path(path)
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def write_recovery(ora: Path, note: Path, project: Project, session: str) -> None:
    """The project as the session's recovery file (the .ora first, then its note)."""
    write_ora(ora, project, compress_level=1)
    write_json_atomic(note, {
        "pid": os.getpid(), "session": session, "saved_at": time.time(),
        "title": project.meta.get("title", ""), "source": project.meta.get("source"),
        "project_path": project.meta.get("project_path"),
        "size": [project.width, project.height]})


def find_orphans(session: str) -> list[RecoveryFile]:
    """Recovery files of sessions that are gone (not `session`), newest first. Temporaries of
    autosaves that were cut short are removed on the way."""
    folder = recovery_dir()
    sweep(folder)
    found = []
    for note in folder.glob("session-*.json"):
        ora = note.with_suffix(".ora")
        if not ora.is_file():
            continue
        info = _read_note(note, ora)
        if info["session"] == session or (info["pid"] is not None and session_alive(info["pid"])):
            continue
        found.append(RecoveryFile(ora, note, info))
    return sorted(found, key=lambda f: f.info["saved_at"], reverse=True)
