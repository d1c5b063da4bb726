"""Progress reporting shared by every long stage (CLI tqdm bars, Blender status bar)."""

from __future__ import annotations

import threading
from typing import Callable, Optional

from .errors import Cancelled

#: ``progress(stage, done, total)``; it may raise :class:`Cancelled` to stop the stage.
ProgressFn = Callable[[str, int, int], None]


def check_cancel(cancel: Optional[threading.Event]) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the user")


def report(progress: Optional[ProgressFn], stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
