"""Writing JSON-lines events for the app (format: trainer/EVENTS.md; the kinds and the reader are
in inpaint_studio.contracts.events). One object per line, flushed at once, so that a reader sees
each event as soon as it happens."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import IO

from inpaint_studio.contracts.events import EVENT_KINDS


def _clean(value):
    """JSON-safe copy: non-finite floats become null (strict JSON has no NaN), paths text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _clean(value.item())
    return value


class EventWriter:
    """Writes events to a stream (stdout by default) or appends them to a file.
    `enabled=False` makes a silent writer (ranks other than 0)."""

    def __init__(self, path: str | Path | None = None, stream: IO[str] | None = None, enabled: bool = True):
        self.enabled = enabled
        self._own = False
        self._out: IO[str] | None = None
        if not enabled:
            return
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._out = open(path, "a", encoding="utf-8")
            self._own = True
        else:
            self._out = stream or sys.stdout

    def emit(self, event: str, **fields) -> dict:
        if event not in EVENT_KINDS:
            raise ValueError(f"unknown event type {event!r}")
        record = {"event": event, "time": round(time.time(), 3), **_clean(fields)}
        if self.enabled and self._out is not None:
            self._out.write(json.dumps(record, allow_nan=False) + "\n")
            self._out.flush()
        return record

    def log(self, message: str, level: str = "info") -> None:
        """A human-readable line on stderr, and a `log` event for the app."""
        if self.enabled:
            print(f"[trainer] {message}", file=sys.stderr, flush=True)
        self.emit("log", level=level, message=message)

    def close(self) -> None:
        if self._own and self._out is not None:
            self._out.close()
        self._out = None


def run_with_events(path: str | None, body, user_errors: tuple, enabled: bool = True) -> int:
    """Run `body(events)` for a command whose every outcome is also an event (fit, adapt): bad
    input (`user_errors`) -> an error event, one line on stderr, exit 2; a defect -> an error
    event and the traceback on stderr, exit 1. The writer is closed in every case."""
    import traceback

    try:
        events = EventWriter(path=path, enabled=enabled)
    except OSError as exc:
        print(f"error: cannot write events to {path}: {exc}", file=sys.stderr)
        return 2
    try:
        return body(events)
    except user_errors as exc:
        events.emit("error", message=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect: the app still gets an event, the log gets the traceback
        events.emit("error", message=f"internal error: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return 1
    finally:
        events.close()
