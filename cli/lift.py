"""``video-mocap lift TRACK.npz -o MOTION.npz``: the 3D stage from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.atomic import check_writable_output
from ..core.formats import TrackFile
from ..core.lifters import LIFTER_NAMES
from .common import add_device_option, add_fov_option, add_lifter_option, add_no_flip_option, add_weights_option, progress_bar

#: what ``lift -o`` writes
MOTION_SUFFIXES = (".npz",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-mocap lift",
        description="Lift a 2D track (from 'video-mocap detect') to 3D with a trained lifter and write the 3D "
        "motion (.npz: root-relative joints in metres + camera-space root).",
    )
    parser.add_argument("track", type=Path, help="2D track file (.npz)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="3D motion file to write (.npz)")
    add_lifter_option(parser, LIFTER_NAMES)
    add_weights_option(parser, "weights .safetensors (its .json card beside it); default: the shipped weights")
    add_device_option(parser)
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                        help="network runtime (default: %(default)s = PyTorch when installed, else ONNX Runtime)")
    add_fov_option(parser)
    add_no_flip_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..inference.lifter import lift_track_file, load_lifter

    check_writable_output(args.output, MOTION_SUFFIXES, "3D motion file")  # before any work
    with TrackFile(args.track) as track:  # a bad track file fails (and warns) before the network loads
        track.check_liftable()
    lifter = load_lifter(args.model, weights=args.weights, device=args.device, backend=args.backend)
    with progress_bar(f"lift ({args.model})", "window") as progress:
        # streamed track file -> motion file: the memory of a few windows, whatever the length
        frames = lift_track_file(args.track, args.output, lifter, fov_deg=args.fov, flip=not args.no_flip,
                                 progress=progress)
    print(f"wrote {args.output} ({frames} frames, {args.model} on {lifter.device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
