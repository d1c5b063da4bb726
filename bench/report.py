"""What the bench reports share: the machine line, the load average, the Markdown header and the writing."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

#: how the bench machine is named in every report (shared with other engineers' jobs)
MACHINE = "2-core CPU, shared, noisy"


def load_avg() -> str:
    """The 1/5/15-minute load averages as text ("n/a" where the OS has none)."""
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run_meta(command: str, wall_s: float | None, **extra) -> dict:
    """The header facts of one run: command, UTC date, machine, load average, wall clock (None: not
    timed), and ``extra``."""
    return {"command": command, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": MACHINE, "load_avg": load_avg(), "wall_s": wall_s, **extra}


def header(title: str, meta: dict) -> list[str]:
    """Markdown lines: the title, then the command, date, machine, load average and wall clock of :func:`run_meta`."""
    return [
        f"# {title}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}. Machine: {meta['machine']} (load average {meta['load_avg']})."
        + ("" if meta["wall_s"] is None else f" Wall clock {meta['wall_s']:.0f} s."),
        "",
    ]


def write_results(folder: Path, name: str, markdown: str, payload: dict) -> None:
    """Write ``<name>.md`` and ``<name>.json`` (the figures ``run_all.py`` reads) atomically into ``folder``."""
    from video_mocap.core.atomic import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / f"{name}.md", markdown)
    write_text_atomic(folder / f"{name}.json", json.dumps(payload, indent=2))
    print(f"wrote {folder / (name + '.md')}")
