"""Autosave and crash recovery.

While a document has unsaved changes it is written every few minutes (and after each
inpainting) to `recovery_dir()/session-<id>.ora` with a JSON note beside it, on a background
thread so the editor never stutters. A clean exit or a save removes them; files left by a
session that is gone are offered for restoring at the next start. An autosave that cannot be
read is moved into `recovery_dir()/damaged` (never deleted: it may still be rescued) and the
next one is offered; a damaged note never stops the scan.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..atomic import sweep, temp_path
from ..paths import recovery_dir
from .project import Project, read_ora, write_ora

log = logging.getLogger(__name__)

# () -> (state token, Project) or None when there is nothing to keep
SnapshotFn = Callable[[], "tuple[object, Project] | None"]
DAMAGED = "damaged"   # recovery_dir()/damaged: autosaves that could not be read, kept for rescue


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


def _alive(pid: int) -> bool:
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


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = temp_path(path)
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class RecoveryManager(QObject):
    saved = Signal(str)      # path of the recovery file written
    failed = Signal(str)     # a message
    _rerun = Signal()        # from the writer thread: changes arrived while it was writing

    def __init__(self, snapshot: SnapshotFn, interval_minutes: float = 3.0, parent=None):
        super().__init__(parent)
        self.snapshot = snapshot
        self.session = uuid.uuid4().hex[:12]
        folder = recovery_dir()
        self.ora_path = folder / f"session-{self.session}.ora"
        self.note_path = folder / f"session-{self.session}.json"
        self._last_token = None
        self._thread: threading.Thread | None = None
        self._again = False
        self._rerun.connect(self.save_now)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.save_now)
        self.set_interval(interval_minutes)

    def set_interval(self, minutes: float) -> None:
        self.timer.setInterval(max(int(minutes * 60_000), 1000))
        if minutes > 0:
            self.timer.start()
        else:
            self.timer.stop()

    # -- writing --------------------------------------------------------------------------------
    def save_now(self) -> bool:
        """Start writing a snapshot in the background; False when there was nothing new."""
        if self._thread is not None and self._thread.is_alive():
            self._again = True
            return False
        snap = self.snapshot()
        if snap is None:
            return False
        token, project = snap
        if token == self._last_token and self.ora_path.exists():
            return False
        self._last_token = token
        self._thread = threading.Thread(target=self._write, args=(project,), name="autosave", daemon=True)
        self._thread.start()
        return True

    def _write(self, project: Project) -> None:
        try:
            write_ora(self.ora_path, project, compress_level=1)
            _write_json_atomic(self.note_path, {
                "pid": os.getpid(), "session": self.session, "saved_at": time.time(),
                "title": project.meta.get("title", ""), "source": project.meta.get("source"),
                "project_path": project.meta.get("project_path"),
                "size": [project.width, project.height]})
        except Exception as exc:  # a full disk must not take the editor down
            log.warning("autosave failed: %s", exc)
            self._last_token = None
            self.failed.emit(f"Autosave failed: {exc}")
        else:
            self.saved.emit(str(self.ora_path))
        if self._again:
            self._again = False
            self._rerun.emit()

    def wait(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def discard(self) -> None:
        """Forget this session's recovery file (after a save or a clean exit)."""
        self.wait()
        self._last_token = None
        self.note_path.unlink(missing_ok=True)
        self.ora_path.unlink(missing_ok=True)

    def shutdown(self) -> None:
        self.timer.stop()
        self.wait()

    # -- finding --------------------------------------------------------------------------------
    def orphans(self) -> list[RecoveryFile]:
        """Recovery files of sessions that are gone, newest first. Temporaries of autosaves that
        were cut short are removed on the way."""
        folder = recovery_dir()
        sweep(folder)
        found = []
        for note in folder.glob("session-*.json"):
            ora = note.with_suffix(".ora")
            if not ora.is_file():
                continue
            info = _read_note(note, ora)
            if info["session"] == self.session or (info["pid"] is not None and _alive(info["pid"])):
                continue
            found.append(RecoveryFile(ora, note, info))
        return sorted(found, key=lambda f: f.info["saved_at"], reverse=True)
