"""What the benches share: paths, the shipped models, the held-out mocap, the report header and the writing.

Run a bench from the repo root as a module (``.venv/bin/python -m bench.bench_detect``); every bench is
a module with ``run(argv) -> int`` and a :class:`Bench` entry (``BENCH``) that ``bench/run_all.py``
collects. Nothing here imports ``tests/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

#: the repo root (the package ``video_mocap``)
REPO = Path(__file__).resolve().parents[1]
#: the shared data beside the repo (mocap, papers); ``VIDEO_MOCAP_SHARED`` overrides it
SHARED = Path(os.environ.get("VIDEO_MOCAP_SHARED", REPO.parent / "shared"))
#: what every bench writes: ``<name>.md`` (the report) and ``<name>.json`` (the figures run_all reads)
RESULTS = REPO / "bench" / "results"
#: the benches' pictures
FIGURES = REPO / "bench" / "figures"
#: the benches' committed inputs (the second real video and its calibration)
DATA = REPO / "bench" / "data"
#: large outputs that are not committed (lifted motions of the real videos, tracks)
OUT = REPO / "out" / "bench"
#: the shipped lifter weights (``<model>.safetensors`` + ``<model>.json`` card)
WEIGHTS = REPO / "weights"
#: the sample clip (assets/sample, BSD-3-Clause)
SAMPLE = REPO / "assets" / "sample" / "sports2d_walk.mp4"
#: the held-out HDM05 actor (another body, other motions)
HELD_OUT_ACTOR = "bk"
#: the HDM05 sequence file of the shared data, and the few whole clips of it committed with the tests
HDM05_SHARED = SHARED / "data" / "mocap" / "hdm05" / "hdm05_h36m.npz"
HDM05_FIXTURE = REPO / "tests" / "data" / "hdm05_fixture.npz"
#: how a bench is run, as it is written in its report's "Command:" line
PYTHON = ".venv/bin/python"


# ---------------------------------------------------------------------------------------
# the benches run_all collects
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bench:
    """How ``run_all`` runs one bench module: its results name, the arguments it passes, what it needs.

    ``order``: run before the benches with a higher number (a bench that reads another's outputs
    comes after it). ``needs``: inputs a clone may lack; when one is missing run_all skips the bench
    and shows its last results. ``copy_after``: (output, results file) copied after a run whose
    output is not under ``bench/results``.
    """

    results: str
    argv: tuple[str, ...] = ()
    order: int = 50
    needs: tuple[Path, ...] = ()
    needs_hint: str = ""
    copy_after: tuple[Path, Path] | None = None
    in_run_all: bool = True


def quiet_logging() -> None:
    """The log of a bench that runs the networks: its own INFO lines, only warnings from Ultralytics and
    the package, and Ultralytics kept offline."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("ultralytics", "video_mocap"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("YOLO_OFFLINE", "1")


def missing_inputs(bench: Bench) -> list[Path]:
    """The paths of ``bench.needs`` that do not exist."""
    return [p for p in bench.needs if not p.exists()]


def command(module: str, argv: Sequence[str] | None = (), prefix: str = "") -> str:
    """The command line of a bench as its report shows it: ``[prefix ].venv/bin/python -m bench.<module> [argv]``.

    ``argv`` None is the running process's own arguments (a bench's ``run(argv=None)`` started as
    ``python -m bench.<module> ...``), so that options such as ``--weights-dir`` appear in its results."""
    argv = sys.argv[1:] if argv is None else argv
    text = f"{PYTHON} -m bench.{module}" + (f" {shlex.join(argv)}" if argv else "")
    return f"{prefix} {text}" if prefix else text


def module_command(module: str, argv: Sequence[str] = ()) -> list[str]:
    """argv of a child process running ``bench.<module>`` with this interpreter (run it with ``cwd=REPO``)."""
    return [sys.executable, "-m", f"bench.{module}", *argv]


def run_children(module: str, argv: list[str], outputs: dict[str, Path], jobs: int) -> list[str]:
    """Run ``python -m bench.<module> *argv --child NAME --child-out PATH`` for every name, ``jobs`` at a
    time, one torch / ONNX Runtime thread each (on two shared cores, single-threaded processes side by
    side are much faster than two threads). Returns the names whose process failed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VIDEO_MOCAP_THREADS": "1"}
    pending, running, failed = list(outputs), [], []
    while pending or running:
        while pending and len(running) < max(1, jobs):
            name = pending.pop(0)
            cmd = module_command(module, [*argv, "--child", name, "--child-out", str(outputs[name])])
            running.append((name, subprocess.Popen(cmd, env=env, cwd=REPO)))
        time.sleep(1.0)
        for name, proc in list(running):
            if proc.poll() is not None:
                running.remove((name, proc))
                if proc.returncode != 0:
                    failed.append(name)
    return failed


# ---------------------------------------------------------------------------------------
# the shipped models and the held-out data
# ---------------------------------------------------------------------------------------
def shipped_weights(model: str) -> Path:
    """``weights/<model>.safetensors`` (its card beside it)."""
    return WEIGHTS / f"{model}.safetensors"


def add_weights_dir_option(parser) -> None:
    """``--weights-dir``: the folder of ``<model>.safetensors`` + card a bench scores (default: the shipped)."""
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS,
                        help="folder of <model>.safetensors + card to score (default: the shipped weights)")


def load_shipped_lifter(model: str, weights: Path | None = None, backend: str = "torch"):
    """The shipped ``model`` (or ``weights``) on the CPU, as the product loads it (``inference.lifter.load_lifter``)."""
    from video_mocap.inference.lifter import load_lifter

    return load_lifter(model, weights=weights or shipped_weights(model), device="cpu", backend=backend)


def hdm05_file() -> Path:
    """The shared HDM05 file, else (a clone without the shared data) the committed fixture's clips (the
    same clips, unchanged: the benches that name HDM05 clips use ones it holds)."""
    return HDM05_SHARED if HDM05_SHARED.is_file() or not HDM05_FIXTURE.is_file() else HDM05_FIXTURE


def crop_clips(clips: list, max_frames: int) -> list:
    """Each clip cut to its first ``max_frames`` frames (0 = whole clips)."""
    import dataclasses

    return [dataclasses.replace(c, joints=c.joints[:max_frames]) if max_frames and c.num_frames > max_frames
            else c for c in clips]


def load_held_out(max_frames: int) -> dict[str, list]:
    """The held-out mocap, cropped to ``max_frames``: ``bandai`` (part 1) and ``hdm05`` (actor ``bk``)."""
    from video_mocap.training import sources

    config = sources.DataConfig()
    part1 = sources.load_bandai(config, "part1")
    hdm05 = [c for c in sources.load_hdm05(config.hdm05_path) if c.labels.get("actor") == HELD_OUT_ACTOR]
    return {"bandai": crop_clips(part1, max_frames), "hdm05": crop_clips(hdm05, max_frames)}


# ---------------------------------------------------------------------------------------
# the report header and the writing
# ---------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor elsewhere)."""
    for line in _read_lines(Path("/proc/cpuinfo")):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    """The machine line of every report, computed: cores, CPU model, architecture, and that it is shared."""
    return f"{os.cpu_count()}-core CPU (shared, noisy), {cpu_model()}, {platform.machine()}"


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def load_avg() -> str:
    """The 1/5/15-minute load averages as text ("n/a" where the OS has none)."""
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_meta(command: str, wall_s: float | None, **extra) -> dict:
    """The header facts of one run: command, UTC date, machine, load average, wall clock (None: not
    timed), and ``extra``."""
    return {"command": command, "date": utc_now(), "machine": machine(), "load_avg": load_avg(), "wall_s": wall_s,
            **extra}


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


def write_image(path: Path, image, params: Sequence[int] = ()) -> int:
    """Write a BGR picture atomically, encoded by ``path``'s suffix (cv2 ``params``); returns its bytes."""
    import cv2

    from video_mocap.core.atomic import atomic_path

    ok, data = cv2.imencode(path.suffix, image, list(params))
    if not ok:
        raise RuntimeError(f"{path.suffix} encoding failed for {path}")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data.tobytes())
    return int(data.size)


def write_results(folder: Path, name: str, markdown: str, payload: dict) -> None:
    """Write ``<name>.md`` and ``<name>.json`` (the figures ``run_all`` reads) atomically into ``folder``."""
    from video_mocap.core.atomic import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / f"{name}.md", markdown)
    write_text_atomic(folder / f"{name}.json", json.dumps(payload, indent=2))
    print(f"wrote {folder / (name + '.md')}")


def write_figures(name: str, figures: dict, folder: Path = RESULTS) -> Path:
    """Write only ``<name>.json`` (benches whose report is their console output)."""
    from video_mocap.core.atomic import write_text_atomic

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    write_text_atomic(path, json.dumps(figures, indent=1))
    return path

