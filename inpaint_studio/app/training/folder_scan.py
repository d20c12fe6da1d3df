"""Counting the usable photos of a folder tree on a worker thread, so that choosing a folder of
thousands of photos never freezes the fine-tune dialog. Each file gets imaging.probe_image's
quick integrity check (the check the trainer makes at start); images whose short side is below
the trainer's floor (a quarter of the crop, at least 32 px) count as too small."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QThread, Signal

from ...imaging import SUPPORTED_SUFFIXES, ImageError, probe_image


@dataclass
class FolderCount:
    folder: str
    short_sides: list[int] = field(default_factory=list)   # of every readable image
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    done: bool = False
    error: str = ""

    def usable(self, size: int) -> int:
        floor = max(32, size // 4)
        return sum(1 for s in self.short_sides if s >= floor)

    def too_small(self, size: int) -> int:
        return len(self.short_sides) - self.usable(size)

    def describe(self, size: int) -> str:
        if self.error:
            return self.error
        usable, small = self.usable(size), self.too_small(size)
        parts = [f"{usable} usable image{'s' if usable != 1 else ''}"]
        if self.unreadable:
            name, reason = self.unreadable[0]
            parts.append(f"{len(self.unreadable)} unreadable (e.g. {name}: {reason})")
        if small:
            parts.append(f"{small} too small for {size} px crops")
        text = " · ".join(parts)
        if not self.done:
            return f"Scanning… {text} so far"
        if not usable:
            return f"No usable images here ({text}). Supported: {', '.join(SUPPORTED_SUFFIXES)}."
        return text


_LIVE: set["FolderScanner"] = set()  # running scanners, kept alive even when their dialog is gone


class FolderScanner(QThread):
    """Counts one folder; `start()` it, connect `counted`, `cancel()` when no longer wanted. It
    has no parent and stays referenced while it runs, whatever becomes of the widget that asked
    (a QThread destroyed while running would abort the app)."""
    counted = Signal(object)    # FolderCount, every ~0.2 s and once more when done

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder
        self._cancel = False
        app = QCoreApplication.instance()
        if app is not None and not app.property("folderScanQuitHook"):
            app.aboutToQuit.connect(stop_all)
            app.setProperty("folderScanQuitHook", True)
        _LIVE.add(self)
        self.finished.connect(self._done)

    def _done(self) -> None:
        _LIVE.discard(self)

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        count = FolderCount(self.folder)
        root = Path(self.folder).expanduser()
        if not root.is_dir():
            count.error = f"{root}: no such folder." if not root.exists() else f"{root}: not a folder."
            count.done = True
            self.counted.emit(count)
            return
        last = time.monotonic()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if self._cancel:
                    return
                if name.startswith(".") or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    width, height = probe_image(path)
                    count.short_sides.append(min(width, height))
                except ImageError as exc:
                    text = str(exc)
                    count.unreadable.append((name, text[len(path) + 2:] if text.startswith(path) else text))
                except Exception as exc:  # noqa: BLE001 - one odd file must not end the count
                    count.unreadable.append((name, str(exc) or type(exc).__name__))
                if time.monotonic() - last > 0.2:
                    last = time.monotonic()
                    self.counted.emit(_copy(count))
        count.done = True
        self.counted.emit(count)


def stop_all() -> None:
    """Cancel and wait for every running count (when the app quits)."""
    for scanner in list(_LIVE):
        scanner.cancel()
        scanner.wait(5000)


def _copy(count: FolderCount) -> FolderCount:
    return FolderCount(count.folder, list(count.short_sides), list(count.unreadable), count.done, count.error)
