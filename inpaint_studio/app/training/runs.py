"""Fine-tune run folders as the app sees them (no Qt): what the app wrote when it launched the
run, what the launcher and the trainer wrote since (file names: contracts.runs), and what state
that adds up to."""
from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...contracts.events import EventTail
from ...contracts.runs import (CHECKPOINT_GLOB, CHECKPOINTS_DIR, COMPLETED, EVENTS_FILE, EXIT_FILE, FAILED,
                               INTERRUPTED, JOB_FILE, LAUNCH_MARK, LOG_FILE, PROCESS_FILE, RUN_FILE, RUNNING,
                               STOP_FILE, STOPPED)


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """Whether process `pid` still runs (and, where /proc tells, its command line holds `marker`,
    so that a pid reused after a restart is not taken for the run)."""
    if not pid or pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if marker and cmdline.parent.is_dir():
        try:
            text = cmdline.read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie has ended
            return False
        return marker.encode() in text
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel = ctypes.windll.kernel32
    handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel.CloseHandle(handle)


def describe_exit(code: int | None) -> str:
    """Words for an exit status (negative: killed by that signal, as subprocess reports it)."""
    if code is None:
        return "ended without an exit status (the computer or the launcher stopped)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGKILL": " (killed, often because the system ran out of memory)",
               "SIGSEGV": " (crashed)", "SIGABRT": " (aborted)", "SIGTERM": " (terminated)"}.get(name, "")
        return f"was stopped by {name}{why}"
    if code == 2:
        return "exited with status 2 (bad input)"
    return f"exited with status {code}"


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def stderr_tail(run_dir: Path, lines: int = 12) -> str:
    """The last lines the trainer wrote on stderr in its latest launch."""
    try:
        text = (Path(run_dir) / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    last = text.rfind(LAUNCH_MARK)
    if last >= 0:
        text = text[last:].split("\n", 1)[1] if "\n" in text[last:] else ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def new_run_dir(root: Path, name: str) -> Path:
    """A fresh folder name for a run of `name`: slug-YYYYmmdd-HHMMSS (-2, -3 ... if taken)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    base = f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, n = Path(root) / base, 2
    while candidate.exists():
        candidate, n = Path(root) / f"{base}-{n}", n + 1
    return candidate


@dataclass
class RunState:
    """What a run's events add up to."""
    status: str = INTERRUPTED
    iteration: int = 0
    total: int = 0
    message: str = ""                  # the error, for a failed run
    model_id: str | None = None        # exported model (completed runs with an export name)
    model_name: str | None = None
    metrics: dict | None = None
    sample: str | None = None          # newest preview grid
    started: bool = False              # a `start` event was seen in the latest launch
    ended: bool = False                # a `done` or `error` event closed the latest launch
    checkpoints: list = field(default_factory=list)

    def apply(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.started, self.ended, self.message = True, False, ""
            self.iteration = int(event.get("iteration") or 0)
            self.total = int(event.get("total") or self.total)
        elif kind == "progress":
            self.iteration = int(event.get("iteration") or self.iteration)
            self.total = int(event.get("total") or self.total)
        elif kind == "validation":
            self.metrics = {"iteration": event.get("iteration"), **(event.get("metrics") or {})}
        elif kind == "sample":
            self.sample = event.get("path")
        elif kind == "checkpoint":
            self.checkpoints.append(event.get("iteration"))
        elif kind == "done":
            self.ended = True
            self.status = event.get("status") or COMPLETED
            self.iteration = int(event.get("iteration") or self.iteration)
            self.model_id = event.get("model_id") or self.model_id
            self.model_name = event.get("model_name") or self.model_name
        elif kind == "error":
            self.ended, self.status = True, FAILED
            self.message = event.get("message") or "the trainer reported an error"


class RunFolder:
    """One run folder: its files, whether its process lives, and its state."""

    def __init__(self, path: Path):
        self.path = Path(path)

    # files
    events_path = property(lambda self: self.path / EVENTS_FILE)
    job = property(lambda self: read_json(self.path / JOB_FILE))
    process = property(lambda self: read_json(self.path / PROCESS_FILE))
    exit = property(lambda self: read_json(self.path / EXIT_FILE) if (self.path / EXIT_FILE).exists() else None)
    run_info = property(lambda self: read_json(self.path / RUN_FILE))

    @property
    def name(self) -> str:
        job = self.job
        config = self.run_info.get("config") or {}
        return job.get("name") or config.get("export_name") or self.path.name

    def has_checkpoint(self) -> bool:
        return any((self.path / CHECKPOINTS_DIR).glob(CHECKPOINT_GLOB))

    def is_alive(self) -> bool:
        """The launcher still runs: no exit status yet and its process is there."""
        if (self.path / EXIT_FILE).exists():
            return False
        pid = self.process.get("launcher_pid") or self.job.get("launcher_pid")
        return pid_alive(pid, marker="launcher.py")

    def events(self) -> list[dict]:
        return EventTail(self.events_path).read()

    def recent_events(self, max_bytes: int = 256 * 1024) -> list[dict]:
        """The events at the end of the file (enough for a status in a list of runs)."""
        tail = EventTail(self.events_path)
        try:
            tail.offset = max(0, self.events_path.stat().st_size - max_bytes)
        except OSError:
            return []
        return tail.read()  # a line cut at the start does not parse and is skipped

    def modified(self) -> float:
        stamps = []
        for name in (EVENTS_FILE, JOB_FILE, EXIT_FILE):
            try:
                stamps.append((self.path / name).stat().st_mtime)
            except OSError:
                pass
        return max(stamps, default=0.0)

    def state(self, events: list[dict] | None = None, alive: bool | None = None) -> RunState:
        state = RunState(total=int(self.job.get("iterations") or 0))
        for event in self.events() if events is None else events:
            state.apply(event)
        if self.is_alive() if alive is None else alive:
            state.status = RUNNING
        else:
            self.settle(state)
        return state

    def settle(self, state: RunState) -> None:
        """The final status of a run whose process has ended."""
        if state.ended:
            return
        exit_info = self.exit
        code = exit_info.get("returncode") if exit_info else None
        stopped_by_us = (self.path / STOP_FILE).exists() or self.job.get("stop_requested")
        if code == -getattr(signal, "SIGTERM", 15) and stopped_by_us:
            state.status = STOPPED
            state.message = "stopped before training began" if not state.started else ""
            return
        state.status = FAILED if exit_info else INTERRUPTED
        what = "The trainer " + describe_exit(code) if exit_info else \
            "The trainer ended without a final event (the computer or the trainer stopped unexpectedly)"
        tail = stderr_tail(self.path)
        state.message = f"{what}." + (f"\n\n{tail}" if tail else "")


def list_runs(root: Path, limit: int = 30) -> list[RunFolder]:
    """Run folders under `root`, newest first (those the app or the trainer CLI made)."""
    try:
        folders = [p for p in Path(root).iterdir()
                   if p.is_dir() and ((p / JOB_FILE).exists() or (p / RUN_FILE).exists())]
    except OSError:
        return []
    runs = [RunFolder(p) for p in folders]
    runs.sort(key=lambda r: r.modified(), reverse=True)
    return runs[:limit]
