"""The background job of the Blender UI: one function on a worker thread, its progress, cancelling.

Shared by the operators (which start jobs) and the panels (which show that one is running);
touched on the main thread only, except inside the worker.

One job at a time, and a job counts until its worker thread has really ended: Esc only asks
the worker to stop, which it does at its next progress step (a batch of frames, a lifter
window: seconds on a slow CPU). Meanwhile :func:`job_running` stays true, :func:`job_cancelling`
is true, a new job is refused (:func:`check_no_job`) and the status bar says "cancelling…".
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


#: how long :meth:`Job.release` waits on the main thread for the worker to end (seconds); a worker that
#: takes longer to reach its next progress step keeps counting as running ("cancelling") until it ends
RELEASE_WAIT_S = 0.5
#: how often the status bar is refreshed while a cancelled worker winds down (seconds)
WATCH_INTERVAL_S = 0.25
CANCELLING_TEXT = "Video Mocap: cancelling… (the current step ends first; new runs wait for it)"

#: jobs started on a worker thread whose thread is alive or whose operator has not released them yet
#: (touched on the main thread only)
_active_jobs: set["Job"] = set()


def _prune() -> None:
    """Forget the released jobs whose worker thread has ended."""
    for job in [j for j in _active_jobs if j.released and not j.alive]:
        _active_jobs.discard(job)


def job_running() -> bool:
    """Whether a Video Mocap job is running: true until its worker thread has ended, also after Esc."""
    _prune()
    return bool(_active_jobs)


def job_cancelling() -> bool:
    """Whether a cancelled job's worker thread is still running (it stops at its next progress step)."""
    _prune()
    return any(job.cancel_event.is_set() for job in _active_jobs)


def job_in_progress() -> bool:
    """Whether a job runs that nobody cancelled (what greys out the operators' buttons)."""
    _prune()
    return any(not job.cancel_event.is_set() for job in _active_jobs)


def check_no_job() -> None:
    """Refuse to start a job while another one's thread runs (a cancelled one included)."""
    if job_cancelling():
        raise VideoMocapError(
            "Video Mocap is still stopping the cancelled run (its current step ends first, a few seconds): "
            "run again once the status bar no longer says 'cancelling'."
        )
    if job_running():
        raise VideoMocapError("A Video Mocap run is already in progress: wait for it, or press Esc to cancel it.")


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
        self.released = False  # set by the main thread once it is done with the job

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

    def release(self, wait_s: float = RELEASE_WAIT_S) -> None:
        """The main thread is done with this job (finished or cancelled).

        Waits up to ``wait_s`` for the worker to end; a worker still running after that keeps the
        job in :func:`job_running` until its thread has ended (no second job starts beside it).
        """
        self.released = True
        if self._thread is not None:
            self._thread.join(timeout=wait_s)
        _prune()

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def alive(self) -> bool:
        """Whether the worker thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()


# ---------------------------------------------------------------------------------------
# While a cancelled worker winds down: the status bar says so, the panels redraw when it ends
# ---------------------------------------------------------------------------------------
def set_status_text(text: str | None) -> None:
    """Show ``text`` in the status bar of every window (None: Blender's own status again)."""
    import bpy

    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        if window.workspace is not None:
            with bpy.context.temp_override(window=window):
                window.workspace.status_text_set(text)


def redraw_ui() -> None:
    """Redraw every area (the panels show whether a job runs)."""
    import bpy

    wm = bpy.context.window_manager
    for window in wm.windows if wm is not None else ():
        for area in window.screen.areas if window.screen is not None else ():
            area.tag_redraw()


def watch_cancelling_step() -> float | None:
    """One step of the watcher (a ``bpy.app.timers`` function): seconds to the next, None when done."""
    if job_cancelling():
        set_status_text(CANCELLING_TEXT)
        return WATCH_INTERVAL_S
    set_status_text(None)
    redraw_ui()
    return None


def watch_cancelling() -> None:
    """Keep the status bar saying "cancelling…" until the cancelled worker has ended (not in background mode)."""
    import bpy

    if not bpy.app.background and not bpy.app.timers.is_registered(watch_cancelling_step):
        bpy.app.timers.register(watch_cancelling_step, first_interval=WATCH_INTERVAL_S)


def stop_watching() -> None:
    """Unregister the watcher (the add-on is being disabled)."""
    import bpy

    if bpy.app.timers.is_registered(watch_cancelling_step):
        bpy.app.timers.unregister(watch_cancelling_step)


def error_message(exc: BaseException) -> str:
    """What to show the user for an exception from the worker."""
    if isinstance(exc, VideoMocapError):
        return str(exc)
    if isinstance(exc, Cancelled):
        return "Cancelled."
    log.exception("unexpected error in Video Mocap", exc_info=exc)
    return f"Unexpected error ({type(exc).__name__}: {exc}). See the system console for details."
