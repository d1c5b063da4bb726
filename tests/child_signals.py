"""Signals in the child processes that tests start."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test stops with Ctrl-C: SIGINT's default action.

    A shell's background job (``bash .ci/run &``) inherits SIGINT ignored; Python then installs no
    KeyboardInterrupt handler, and the test's Ctrl-C would be lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
