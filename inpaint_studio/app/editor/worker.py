"""Inpainting jobs on a worker thread.

The GUI thread builds an InpaintRequest (copies of the pixels), starts a job and gets signals
back: progress(fraction, message), finished(InpaintResult), failed(message), cancelled().
Loading the model (create_engine) also happens on the worker. Cancel asks the engine to stop
at its next check and, whatever the engine does, the job never delivers a result afterwards.
"""
from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ...engine import CLASSICAL, Cancelled, InpaintError, InpaintOptions, create_engine

log = logging.getLogger(__name__)


@dataclass
class InpaintRequest:
    engine_id: str
    image: np.ndarray               # flattened visible layers, uint8 HxWx3
    mask: np.ndarray                # uint8 HxW, nonzero = hole
    options: InpaintOptions
    device: str = "auto"
    engine_label: str = ""


class InpaintJob(QObject):
    progress = Signal(float, str)
    finished = Signal(object)       # InpaintResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, request: InpaintRequest, engine_factory=create_engine, parent=None):
        super().__init__(parent)
        self.request = request
        self.engine_factory = engine_factory
        self._cancel = threading.Event()
        self.done = threading.Event()   # set when the worker has returned, whatever the outcome

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        """Runs on the worker thread; reports only through (queued) signals."""
        req = self.request
        try:
            self.progress.emit(0.0, "Loading the model" if req.engine_id not in CLASSICAL else "Starting")
            engine = self.engine_factory(req.engine_id, req.device)
            if self.is_cancelled:
                raise Cancelled()
            result = engine.inpaint(req.image, req.mask, req.options,
                                    progress=self._report, cancel=self._cancel.is_set)
        except Cancelled:
            self.cancelled.emit()
        except InpaintError as exc:
            self._fail(str(exc))
        except MemoryError:
            self._fail("Out of memory. Try the “resize” strategy, a smaller hole, or close other programs.")
        except Exception as exc:  # a bug or a library error: keep the app alive, say what happened
            log.error("inpainting failed:\n%s", traceback.format_exc())
            text = str(exc)
            if "out of memory" in text.lower():
                self._fail("Out of memory on the device. Try the “resize” strategy or the CPU device.")
            else:
                self._fail(f"The inpainting failed ({type(exc).__name__}: {text}).")
        else:
            if self.is_cancelled:
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        finally:
            self.done.set()

    def _report(self, fraction: float, message: str) -> None:
        if not self.is_cancelled:
            self.progress.emit(float(fraction), str(message))

    def _fail(self, message: str) -> None:
        if self.is_cancelled:
            self.cancelled.emit()
        else:
            self.failed.emit(message)


class _Runnable(QRunnable):
    def __init__(self, job: InpaintJob):
        super().__init__()
        self.job = job

    def run(self):
        self.job.run()


class JobRunner(QObject):
    """Starts jobs on a private thread pool. A cancelled job may still be computing in the
    background; a new job gets another thread, so the user never waits for it."""

    def __init__(self, parent=None, engine_factory=create_engine):
        super().__init__(parent)
        self.engine_factory = engine_factory
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._jobs: list[InpaintJob] = []

    def create(self, request: InpaintRequest) -> InpaintJob:
        """A job to connect to; nothing runs until submit(job)."""
        return InpaintJob(request, self.engine_factory)

    def submit(self, job: InpaintJob) -> None:
        self._jobs = [j for j in self._jobs if not j.done.is_set()]
        self._jobs.append(job)
        self.pool.start(_Runnable(job))

    def busy(self) -> bool:
        return any(not j.done.is_set() for j in self._jobs)

    def shutdown(self, wait_ms: int = 5000) -> bool:
        """Cancel everything and wait for the threads; False when one is still running."""
        for job in self._jobs:
            job.cancel()
        return self.pool.waitForDone(wait_ms)
