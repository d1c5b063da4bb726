"""``video-mocap export-onnx``: the trained lifters and the YOLO pose detector to ONNX (needs torch).

What is written, where, and how each export is checked: :mod:`video_mocap.inference.onnx_export`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.atomic import check_writable_folder
from ..core.errors import VideoMocapError
from ..core.lifters import LIFTER_NAMES
from ..inference import runtime
from ..inference.onnx_export import (
    DEFAULT_DETECTOR_PT,
    DETECTOR_IMGSZ,
    EXPORT_MODE,
    SAMPLE_CLIP,
    export_detector,
    export_lifter,
)
from ..inference.weights import WEIGHTS_DIR

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-mocap export-onnx",
        description="Export the trained lifters and the YOLO pose detector to ONNX for the torch-free runtime.",
    )
    parser.add_argument("--models", nargs="*", default=list(LIFTER_NAMES), choices=list(LIFTER_NAMES),
                        help="lifters to export (default: every one with trained weights)")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="folder of NAME.safetensors + NAME.json")
    parser.add_argument("--out", type=Path, default=runtime.ONNX_DIR,
                        help=f"output folder (default: {runtime.ONNX_DIR.relative_to(runtime.PACKAGE_DIR)})")
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR_PT, help="YOLO pose .pt to export")
    parser.add_argument("--no-detector", action="store_true", help="skip the detector")
    parser.add_argument("--no-lifters", action="store_true", help="skip the lifters")
    parser.add_argument("--no-int8", action="store_true",
                        help="skip the int8 detector (quantised and checked on the sample clip)")
    parser.add_argument("--imgsz", type=int, default=DETECTOR_IMGSZ,
                        help="detector input size used by the check (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_writable_folder(args.out, "ONNX output folder")  # before any work
    written: list[Path] = []
    if not args.no_lifters:
        for name in args.models:
            weights = args.weights_dir / f"{name}.safetensors"
            if not weights.is_file():
                log.warning("no trained weights for %s (%s): not exported", name, weights)
                continue
            written.append(export_lifter(weights, args.out))
    if not args.no_detector:
        detector = export_detector(args.detector, args.out, args.imgsz)
        written.append(detector)
        if not args.no_int8:
            from ..inference.onnx_quantize import quantize_detector

            int8 = quantize_detector(detector, SAMPLE_CLIP)
            int8.chmod(EXPORT_MODE)
            written.append(int8)
    if not written:
        raise VideoMocapError(
            f"Nothing exported: no trained lifter weights in {args.weights_dir} and the detector was skipped."
        )
    for path in written:
        log.info("%s (%.1f MB)", path, path.stat().st_size / 1e6)
    return 0
