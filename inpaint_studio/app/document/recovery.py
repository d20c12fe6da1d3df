"""Recovery files (no Qt): where the autosave of a session goes, how it is written (an .ora
with a JSON note beside it, each written atomically) and how the files of sessions that are gone
are found. editor/autosave.py decides when to write them."""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ...paths import recovery_dir
from .project import Project, read_ora, write_ora


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
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
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
    """Recovery files of sessions that are gone (not `session`), newest first."""
    found = []
    for note in recovery_dir().glob("session-*.json"):
        try:
            info = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        ora = note.with_suffix(".ora")
        if info.get("session") == session or not ora.exists() or session_alive(int(info.get("pid", 0))):
            continue
        found.append(RecoveryFile(ora, note, info))
    return sorted(found, key=lambda f: f.info.get("saved_at", 0), reverse=True)
