"""User-facing errors: every stage raises these with an actionable message."""


class VideoMocapError(Exception):
    """A problem the user can fix (bad input, missing weights...). The message says what to do."""


class Cancelled(Exception):
    """Raised from a progress callback (or a stage) when the user cancels; nothing is written."""
