"""Autosave and crash recovery.

While a document has unsaved changes it is written every few minutes (and after each
inpainting) to `recovery_dir()/session-<id>.ora` with a JSON note beside it (the recovery files
of document/recovery.py), on a background thread so the editor never stutters. A clean exit or a
save removes them; files left by a session that is gone are offered for restoring at the next
start (an autosave that cannot be read is set aside into `recovery_dir()/damaged`).
"""
from __future__ import annotations

import logging
import threading
import uuid
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from ..document.project import Project
from ..document.recovery import RecoveryFile, find_orphans, session_paths, write_recovery

log = logging.getLogger(__name__)

# () -> (state token, Project) or None when there is nothing to keep
SnapshotFn = Callable[[], "tuple[object, Project] | None"]


class RecoveryManager(QObject):
    saved = Signal(str)      # path of the recovery file written
    failed = Signal(str)     # a message
    _rerun = Signal()        # from the writer thread: changes arrived while it was writing

    def __init__(self, snapshot: SnapshotFn, interval_minutes: float = 3.0, parent=None):
        super().__init__(parent)
        self.snapshot = snapshot
        self.session = uuid.uuid4().hex[:12]
        self.ora_path, self.note_path = session_paths(self.session)
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
            write_recovery(self.ora_path, self.note_path, project, self.session)
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
        """Recovery files of sessions that are gone, newest first."""
        return find_orphans(self.session)
