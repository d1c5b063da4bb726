"""``video-mocap eval``: score lifter weights on held-out mocap seen through virtual cameras.

    video-mocap eval --weights W --data D [--jointmap J] [--json] [--save-predictions P]
                     [--noise detector|none] [--pitch DEG] [--seed S] [--select TEXT] [--no-flip]
                     [--smoothing S] [--smoothing-method savgol|one_euro]

What it measures and how the clips are seen: :mod:`video_mocap.training.evaluate`. ``--json``
prints the whole report as JSON; ``--save-predictions P`` writes an ``.npz`` with
``pred:<clip>``, ``target:<clip>`` (root-relative camera-frame metres, OpenCV axes) and
``inputs:<clip>`` (normalised 2D + score) for every clip.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ..core.atomic import check_writable_output, save_npz_atomic
from ..core.errors import VideoMocapError
from ..training.evaluate import NOISE_CHOICES, evaluate_model, format_report, load_eval_clips, make_clips_for_eval
from .common import add_device_option, add_no_flip_option, add_smoothing_options, add_weights_option, progress_bar


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-mocap eval", description="Score lifter weights on held-out mocap seen through virtual cameras."
    )
    add_weights_option(parser, "lifter weights NAME.safetensors (NAME.json beside it)", required=True)
    parser.add_argument("--data", required=True, help="a folder of BVH files or a 3D sequence .npz")
    parser.add_argument("--jointmap", default="bandai",
                        help="joint map for BVH folders (built-in name or JSON file; default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save-predictions", metavar="P", help="write predictions, targets and inputs to P (.npz)")
    parser.add_argument("--noise", choices=NOISE_CHOICES, default=NOISE_CHOICES[0],
                        help="2D inputs: detector-like noise or exact (default: %(default)s)")
    parser.add_argument("--pitch", type=float, help="fix the virtual camera pitch in degrees (-30 high, 0 eye level, 10 low)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cameras and noise (default: %(default)s)")
    parser.add_argument("--select", default="", help="only clips whose name contains this text")
    add_no_flip_option(parser)
    add_device_option(parser)
    parser.add_argument("--hip-scale", type=float, help=".npz only: hip widening factor (default as in training)")
    add_smoothing_options(parser, "smooth the lifted joints as the solve does before scoring", default=0.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..inference.lifter import load_lifter
    from ..inference.weights import load_card

    args = build_parser().parse_args(argv)
    weights = Path(args.weights)
    card = load_card(weights) if weights.is_file() else None
    if card is None:
        raise VideoMocapError(f"--weights {weights} not found.")
    if not 0.0 <= args.smoothing <= 1.0:
        raise VideoMocapError(f"--smoothing must be between 0 (off) and 1 (strong), got {args.smoothing}.")
    if args.save_predictions:  # before any work
        check_writable_output(args.save_predictions, (".npz",), "predictions file")
    lifter = load_lifter(card.model, weights=weights, device=args.device)
    t0 = time.perf_counter()
    clips = load_eval_clips(args.data, args.jointmap, args.select, hip_scale=args.hip_scale)
    eval_clips = make_clips_for_eval(clips, lifter.num_frames, noise=args.noise, pitch=args.pitch, seed=args.seed)
    with progress_bar(f"eval {card.model}", "clip", total=len(eval_clips), enabled=not args.json) as progress:
        result = evaluate_model(lifter, eval_clips, flip=not args.no_flip,
                                keep_predictions=bool(args.save_predictions), progress=progress,
                                smoothing=args.smoothing, smoothing_method=args.smoothing_method)
    predictions = result.pop("predictions", None)
    result["settings"] = {
        "weights": str(weights), "model": card.model, "data": str(args.data), "noise": args.noise,
        "pitch_deg": args.pitch, "seed": args.seed, "flip": not args.no_flip, "select": args.select,
        "smoothing": args.smoothing, "smoothing_method": args.smoothing_method,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.save_predictions:
        arrays = {}
        for clip in eval_clips:
            arrays[f"pred:{clip.name}"] = predictions[clip.name]
            arrays[f"target:{clip.name}"] = np.asarray(clip.target3d, dtype=np.float32)
            arrays[f"inputs:{clip.name}"] = np.asarray(clip.inputs, dtype=np.float32)
        save_npz_atomic(args.save_predictions, **arrays)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_report(result, title=f"{card.model} ({weights.name}) on {args.data}, noise {args.noise}"))
    return 0
