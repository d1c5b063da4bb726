"""What the ``video-mocap`` commands share: their common options and the one progress bar.

Each ``add_*_option`` adds one option, written once, to a command's parser; its default comes
from the stage's own constant and its help says that default (argparse's ``%(default)s``), so a
help text never drifts from the code. :func:`progress_bar` turns a stage's ``progress(stage,
done, total)`` reports (:data:`~video_mocap.core.progress.ProgressFn`) into a tqdm bar.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Iterator, Sequence

from ..core.camera import DEFAULT_FOV_DEG
from ..core.filters import DEFAULT_METHOD as DEFAULT_SMOOTHING_METHOD, METHODS as SMOOTHING_METHODS
from ..core.lifters import DEFAULT_LIFTER
from ..core.progress import ProgressFn
from ..inference.devices import DEFAULT_DEVICE, DEVICE_SPELLINGS


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=DEFAULT_DEVICE, help=f"{DEVICE_SPELLINGS} (default: %(default)s)")


def add_lifter_option(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    """``--model``: one of ``choices`` (the registry's lifter names), the registry's default."""
    parser.add_argument("--model", choices=tuple(choices), default=DEFAULT_LIFTER, help="lifter (default: %(default)s)")


def add_weights_option(parser: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    parser.add_argument("--weights", type=Path, default=None, required=required, help=help)


def add_frame_range_options(parser: argparse.ArgumentParser) -> None:
    """``--start`` / ``--end``: the video frames to use, ``[start, end)``."""
    parser.add_argument("--start", type=int, default=0, help="first video frame (0-based; default: %(default)s)")
    parser.add_argument("--end", type=int, default=None,
                        help="end video frame (exclusive; default: the end of the clip)")


def int_or_word(text: str, word: str, expected: str) -> int | str:
    """An option's value that is a whole number or ``word`` (any case), for argparse's ``type``;
    ``expected`` says what a number means in the error message."""
    if text.strip().lower() == word:
        return word
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected} or '{word}', got {text!r}") from None


def add_person_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--person", type=int, default=None, help=help)


def add_fov_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view in degrees (default: the track's focal length, else "
                        f"{DEFAULT_FOV_DEG:g} across the frame's long side)")


def add_no_flip_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation (2x faster)")


def add_cache_dir_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--cache-dir", type=Path, default=None, help=help)


def add_smoothing_options(parser: argparse.ArgumentParser, what: str, default: float | None = None) -> None:
    """``--smoothing`` (0 = off .. 1 = strong) and ``--smoothing-method`` (the solve's temporal filters).

    ``what``: what gets smoothed, for the help; ``default``: the strength when not given (None: the
    solve's own, :class:`~video_mocap.rigging.solve.SolveConfig`).
    """
    from ..rigging.solve import SolveConfig

    solve_default = SolveConfig().smoothing
    said = f"{solve_default:g}, the solve's" if default is None else f"%(default)s; the solve's is {solve_default:g}"
    parser.add_argument("--smoothing", type=float, default=default,
                        help=f"{what}: 0 (off) .. 1 (strong) (default: {said})")
    parser.add_argument("--smoothing-method", choices=SMOOTHING_METHODS, default=DEFAULT_SMOOTHING_METHOD,
                        help="the solve's temporal filter: savgol (the most accurate) or one_euro (rounds off fast "
                        "peaks a little less) (default: %(default)s)")


@contextlib.contextmanager
def progress_bar(desc: str, unit: str, *, total: int | None = None, show_stage: bool = False,
                 leave: bool = True, enabled: bool = True) -> Iterator[ProgressFn]:
    """A tqdm bar (on stderr) and the ``progress(stage, done, total)`` function that moves it.

    ``show_stage``: the bar's label becomes ``"<desc>: <stage>"`` as the stages go by;
    ``enabled=False``: no bar (the function still accepts the reports). The bar appears with the
    first report, so a command refused at the door prints its one error line and no bar.
    """
    from tqdm import tqdm

    bars: list = []  # the bar, once the first report came

    def progress(stage: str, done: int, reported_total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=desc, unit=unit, total=total, leave=leave, disable=not enabled, dynamic_ncols=True))
        bar = bars[0]
        if show_stage:
            bar.set_description(f"{desc}: {stage}", refresh=False)
        bar.total = reported_total
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()
