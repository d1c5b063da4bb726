"""The background job of the Blender UI: one function on a worker thread, its progress, cancelling.

Shared by the operators (which start jobs) and the panels (which show that one is running);
touched on the main thread only, except inside the worker.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..core.errors import Cancelled, VideoMocapError
from ..core.progress import check_cancel

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Background job: runs one function on a worker thread, records progress, can be cancelled
# ---------------------------------------------------------------------------------------
#: what one progress step is, per stage (stages not listed count "steps")
STAGE_UNITS = {"detect": "frame"}


@dataclass
class ProgressState:
    """The latest progress report of a job, and the rate of its current stage."""

    stage: str = "starting"
    done: int = 0
    total: int = 0
    rate: float = 0.0  # steps per second in the current stage
    _stage_started: float = field(default_factory=time.monotonic)
    _done_at_start: int = 0

    def update(self, stage: str, done: int, total: int, now: float) -> None:
        if stage != self.stage:
            self.stage, self.rate, self._stage_started, self._done_at_start = stage, 0.0, now, done
        elapsed = now - self._stage_started
        self.done, self.total = done, total
        if elapsed > 0 and done > self._done_at_start:
            self.rate = (done - self._done_at_start) / elapsed

    def text(self) -> str:
        """Status-bar text: stage, frame (or step), frames (or steps) per second."""
        unit = STAGE_UNITS.get(self.stage, "step")
        parts = [f"Video Mocap: {self.stage}"]
        if self.total > 0:
            parts.append(f"{unit} {self.done}/{self.total}")
        if self.rate > 0:
            parts.append(f"{self.rate:.1f} {unit}s/s")
        return " | ".join(parts) + "  (Esc to cancel)"

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


#: jobs started on a worker thread and not yet concluded (touched on the main thread only)
_active_jobs: set["Job"] = set()


def job_running() -> bool:
    """Whether a Video Mocap job is running (the operators wait for it: one job at a time)."""
    return bool(_active_jobs)


class Job:
    """Run ``work(progress, cancel)`` on a daemon thread; the main thread polls :attr:`done`.

    ``progress(stage, done, total)`` follows :data:`video_mocap.core.progress.ProgressFn`
    and raises :class:`Cancelled` once :meth:`cancel` was called, so the worker stops at the next step.
    """

    def __init__(self, work: Callable[[Callable, threading.Event], Any]) -> None:
        self._work = work
        self.cancel_event = threading.Event()
        self.state = ProgressState()
        self.result: Any = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def progress(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self.state.update(stage, done, total, time.monotonic())
        check_cancel(self.cancel_event)

    def snapshot(self) -> ProgressState:
        with self._lock:
            return dataclasses.replace(self.state)

    def run(self) -> None:
        """Run the work on the calling thread (background mode, tests); keeps the result or error."""
        try:
            self.result = self._work(self.progress, self.cancel_event)
        except BaseException as exc:  # handed to the main thread, which reports it
            self.error = exc

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="video-mocap-job", daemon=True)
        _active_jobs.add(self)
        self._thread.start()

    def release(self) -> None:
        """The main thread is done with this job (finished or cancelled): others may start."""
        _active_jobs.discard(self)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()


def error_message(exc: BaseException) -> str:
    """What to show the user for an exception from the worker."""
    if isinstance(exc, VideoMocapError):
        return str(exc)
    if isinstance(exc, Cancelled):
        return "Cancelled."
    log.exception("unexpected error in Video Mocap", exc_info=exc)
    return f"Unexpected error ({type(exc).__name__}: {exc}). See the system console for details."
