"""The trainer's events (format: trainer/EVENTS.md): their kinds, and the one reader of
JSON-lines events, for a growing file (the app follows a fine-tune) or a pipe (the app follows
learn from this photo) alike."""
from __future__ import annotations

import json
import os
from pathlib import Path

START, LOG, PROGRESS, VALIDATION, SAMPLE, CHECKPOINT, DONE, ERROR = (
    "start", "log", "progress", "validation", "sample", "checkpoint", "done", "error")
EVENT_KINDS = (START, LOG, PROGRESS, VALIDATION, SAMPLE, CHECKPOINT, DONE, ERROR)


class EventLines:
    """Turns bytes as they arrive into events: only whole lines count (a half-written last line
    waits for more), a line that does not parse or is not an event is skipped."""

    def __init__(self):
        self._pending = b""

    def feed(self, chunk: bytes) -> list[dict]:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                events.append(event)
        return events


class EventTail:
    """Reads the complete new lines of a growing events file at each call; a file that was
    replaced or truncated is read again from its start."""

    def __init__(self, path: str | Path, offset: int = 0):
        self.path = Path(path)
        self.offset = offset

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() < self.offset:  # replaced or truncated: start over
                    self.offset = 0
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return EventLines().feed(chunk[:end + 1])


def read_events(path: str | Path) -> list[dict]:
    """Every complete event of a file."""
    return EventTail(path).read()
