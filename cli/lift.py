"""``video-mocap lift TRACK.npz -o MOTION.npz``: the 3D stage from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.formats import TrackFile
from ..core.lifters import DEFAULT_LIFTER, LIFTER_NAMES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-mocap lift",
        description="Lift a 2D track (from 'video-mocap detect') to 3D with a trained lifter and write the 3D "
        "motion (.npz: root-relative joints in metres + camera-space root).",
    )
    parser.add_argument("track", type=Path, help="2D track file (.npz)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="3D motion file to write (.npz)")
    parser.add_argument("--model", choices=LIFTER_NAMES, default=DEFAULT_LIFTER, help=f"lifter (default: {DEFAULT_LIFTER})")
    parser.add_argument("--weights", type=Path, default=None,
                        help="weights .safetensors (its .json card beside it); default: the shipped weights")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                        help="network runtime (default: auto = PyTorch when installed, else ONNX Runtime)")
    parser.add_argument("--fov", type=float, default=None,
                        help="horizontal field of view in degrees (default: the track's focal length, else 60)")
    parser.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation (2x faster)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from ..inference.lifter import lift_track_file, load_lifter

    TrackFile(args.track).close()  # a bad track file fails before the network loads
    lifter = load_lifter(args.model, weights=args.weights, device=args.device, backend=args.backend)
    with tqdm(desc=f"lift ({args.model})", unit="window", dynamic_ncols=True) as bar:

        def progress(stage: str, done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        # streamed track file -> motion file: the memory of a few windows, whatever the length
        frames = lift_track_file(args.track, args.output, lifter, fov_deg=args.fov, flip=not args.no_flip,
                                 progress=progress)
    print(f"wrote {args.output} ({frames} frames, {args.model} on {lifter.device})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
