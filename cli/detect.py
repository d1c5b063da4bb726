"""``video-mocap detect VIDEO -o TRACK.npz``: the 2D stage from the command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..core.atomic import check_writable_output, folder_problem
from ..inference.detect import (
    AUTO_IMGSZ,
    DEFAULT_IMGSZ,
    DETECT_SUBDIR,
    LARGE_IMGSZ,
    DetectConfig,
    default_cache_dir,
    detect_video,
    track_size,
)
from ..inference.onnx_backend import DETECTOR_PRECISIONS
from .common import (add_cache_dir_option, add_device_option, add_frame_range_options, add_person_option,
                     int_or_word, progress_bar)

_DEFAULTS = DetectConfig()
#: what ``detect -o`` writes
TRACK_SUFFIXES = (".npz",)

log = logging.getLogger(__name__)


def parse_imgsz(text: str) -> int | str:
    """``--imgsz``: a size in pixels or ``auto``."""
    return int_or_word(text, AUTO_IMGSZ, "a size in pixels (e.g. 1280)")


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    """``--imgsz`` and ``--conf`` (detect and estimate)."""
    parser.add_argument("--imgsz", type=parse_imgsz, default=_DEFAULTS.imgsz,
                        help=f"detector input size in px, or auto: {LARGE_IMGSZ} when the people found at "
                        f"{DEFAULT_IMGSZ} are small in the frame or none are found (default: %(default)s)")
    parser.add_argument("--conf", type=float, default=_DEFAULTS.conf,
                        help="detector confidence threshold; lower finds more (and more false) people (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-mocap detect",
        description="Detect and track people in a video (YOLO pose + a tracker, the same ids on both runtimes) and write the subject's "
        "2D track (H36M-17, pixels) as .npz.",
    )
    parser.add_argument("video", type=Path, help="input video (.mp4, .mov, .avi...)")
    parser.add_argument("-o", "--output", type=Path,
                        help="2D track file to write (.npz); required unless --list-tracks")
    add_person_option(parser, "track id to keep (see --list-tracks); default: the largest, longest-seen person")
    parser.add_argument("--model", default=_DEFAULTS.model,
                        help="YOLO pose weights: a .pt path or a name such as yolo11s-pose.pt "
                        f"(default: the shipped {Path(_DEFAULTS.model).stem})")
    parser.add_argument("--allow-download", action="store_true", help="let ultralytics download a named model")
    add_device_option(parser)
    parser.add_argument("--batch", type=int, default=_DEFAULTS.batch_size,
                        help="frames per network call (default: %(default)s)")
    add_detection_options(parser)
    parser.add_argument("--backend", default=_DEFAULTS.backend, choices=("auto", "ultralytics", "onnx"),
                        help="auto: Ultralytics when PyTorch is installed, else ONNX Runtime (default: %(default)s)")
    parser.add_argument("--precision", default=_DEFAULTS.precision, choices=DETECTOR_PRECISIONS,
                        help="ONNX Runtime only: int8 (quantised, faster on a CPU), fp32, or auto = int8 when "
                        "exported (default: %(default)s)")
    add_frame_range_options(parser)
    parser.add_argument("--max-gap", type=int, default=_DEFAULTS.max_gap_frames,
                        help="interpolate gaps up to this many frames; a joint missing longer is placed on its parent "
                             "(score 0) and whole-person gaps are reported (default: %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the detection cache")
    add_cache_dir_option(parser, "detection cache folder")
    parser.add_argument("--list-tracks", action="store_true", help="list the tracked people and exit (writes nothing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is None and not args.list_tracks:
        parser.error("-o/--output is required (or use --list-tracks)")
    if args.output is not None and not args.list_tracks:  # before any work: a run never fails at its end
        check_writable_output(args.output, TRACK_SUFFIXES, "2D track file")
    use_cache = not args.no_cache
    cache_dir = args.cache_dir if args.cache_dir is not None else default_cache_dir() / DETECT_SUBDIR
    problem = folder_problem(cache_dir) if use_cache else None
    if problem is not None:
        log.warning("the detection cache %s cannot be written (%s); going on without it.", cache_dir, problem)
        use_cache = False
    config = DetectConfig(
        model=args.model, device=args.device, person=args.person, batch_size=args.batch, conf=args.conf,
        imgsz=args.imgsz, frame_start=args.start, frame_end=args.end, max_gap_frames=args.max_gap,
        allow_download=args.allow_download, backend=args.backend,
        precision=args.precision,
    )
    with progress_bar("detect", "frame") as progress:
        result = detect_video(args.video, config, progress=progress, cache_dir=cache_dir, use_cache=use_cache)

    print(f"{'id':>4}  {'frames':>6}  {'first-last':>11}  {'height px':>9}")
    for tid, track in sorted(result.tracks.items()):
        seen, height = track_size(track)
        span = f"{track.frame_indices[0]}-{track.frame_indices[-1]}"
        mark = "  <- subject" if tid == result.subject_id else ""
        print(f"{tid:>4}  {seen:>6}  {span:>11}  {height:>9.0f}{mark}")
    if args.imgsz == AUTO_IMGSZ:
        print(f"detector input size: {result.imgsz} px (auto)")
    for first, last in result.long_gaps:
        print(f"warning: the subject is missing in frames {first}-{last} (interpolated, score 0)", file=sys.stderr)
    if args.list_tracks:
        return 0
    path = result.subject.save(args.output)
    print(f"wrote {path} (person {result.subject_id}, {result.subject.num_frames} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
