"""60 fps footage: is lifting it directly as accurate as lifting 30 fps footage?

    .venv/bin/python -m bench.bench_frame_rate [--models dtgcn posemoe] [--sub-stride 4]

The lifters train on 30 fps mocap (with speed changes x0.5-2), and the product lifts a clip at its
own rate: a 60 fps phone clip gives windows that span half the time. Held-out Bandai part 1 (every
``--sub-stride``-th clip, first 600 frames at 30 fps) is scored three ways, with the detector-like
2D noise and seeded cameras of ``bench_accuracy.py``:

- **30 fps**: the clips as they are;
- **60 fps, direct**: the clips resampled to 60 fps (linear interpolation of the mocap) and lifted
  at 60 fps, as the product lifts a 60 fps video;
- **60 fps, every other frame**: the same 60 fps inputs, lifted at 30 fps (every other frame) and
  interpolated back to 60 fps: the alternative the product could use.

Velocity error is per frame of each clip's own rate (a 60 fps frame is half as long). Writes
``bench/results/frame_rate.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

import numpy as np

from . import common
from .common import RESULTS, header, load_held_out, run_meta, write_results

MAX_FRAMES = 600  # as bench_accuracy.py
SEED = 0  # as bench_accuracy.py
BASE_FPS = 30.0
HIGH_FPS = 60.0
WAYS = ("30 fps", "60 fps, direct", "60 fps, every other frame")


def lift_every_other_frame(lifter, inputs: np.ndarray) -> np.ndarray:
    """(T, 17, 3) 60 fps inputs -> (T, 17, 3) joints lifted from every other frame, interpolated back."""
    from video_mocap.inference.lifter import lift_sequence
    from video_mocap.training.jointmap import resample

    half = lift_sequence(lifter, inputs[::2], flip=True)
    joints = resample(half, BASE_FPS, HIGH_FPS)
    missing = inputs.shape[0] - joints.shape[0]  # an even-length clip ends one frame after its last sample
    return np.concatenate([joints, np.repeat(joints[-1:], missing, axis=0)]) if missing > 0 else joints[: inputs.shape[0]]


def evaluate(model: str, clips: list) -> dict[str, dict]:
    """Pooled errors (mm) of ``model`` on ``clips`` for each of :data:`WAYS`."""
    import torch

    from video_mocap.inference.lifter import lift_sequence
    from video_mocap.training import metrics
    from video_mocap.training.evaluate import make_clips_for_eval
    from video_mocap.training.jointmap import resample

    torch.set_num_threads(1)
    lifter = common.load_shipped_lifter(model)
    fast = [dataclasses.replace(c, joints=resample(np.asarray(c.joints), BASE_FPS, HIGH_FPS), fps=HIGH_FPS)
            for c in clips]
    errors: dict[str, list] = {way: [] for way in WAYS}
    for clip in make_clips_for_eval(clips, lifter.num_frames, seed=SEED):
        errors[WAYS[0]].append(metrics.clip_errors(clip.name, lift_sequence(lifter, clip.inputs, flip=True),
                                                   clip.target3d))
    for clip in make_clips_for_eval(fast, lifter.num_frames, seed=SEED):
        errors[WAYS[1]].append(metrics.clip_errors(clip.name, lift_sequence(lifter, clip.inputs, flip=True),
                                                   clip.target3d))
        errors[WAYS[2]].append(metrics.clip_errors(clip.name, lift_every_other_frame(lifter, clip.inputs),
                                                   clip.target3d))
    out = {}
    for way, clip_errors in errors.items():
        summary = metrics.summarize(clip_errors)
        out[way] = {**summary.overall, "bone_cv": summary.bone_cv, "frames": summary.num_frames}
        logging.info("%s %s: P-MPJPE %.1f mm", model, way, summary.overall["p_mpjpe"])
    return out


def to_markdown(results: dict[str, dict], clips: int, meta: dict) -> str:
    lines = header("60 fps footage: lifted directly, or at 30 fps", meta) + [
        f"Held-out Bandai part 1, {clips} clips (every {meta['sub_stride']}th, first {MAX_FRAMES} frames at 30 fps), "
        "detector-like 2D noise, the seeded cameras of `bench_accuracy.py`, flip TTA. 60 fps = the same mocap "
        "resampled (linear interpolation), so the 60 fps motion is a little smoother than a real 60 fps capture; "
        "the 2D noise is drawn per frame at either rate. Velocity error is per frame of the clip's own rate.",
        "",
        "| model | footage, lifting | frames | MPJPE | P-MPJPE | N-MPJPE | velocity (mm/frame) | lifted bone CV |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, ways in results.items():
        for way, r in ways.items():
            lines.append(f"| {model} | {way} | {r['frames']} | {r['mpjpe']:.1f} | {r['p_mpjpe']:.1f} | "
                         f"{r['n_mpjpe']:.1f} | {r['velocity']:.2f} | {100 * r['bone_cv']:.1f} % |")
    lines.append("")
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["dtgcn", "posemoe"])
    parser.add_argument("--sub-stride", type=int, default=4, help="score every N-th held-out clip")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("video_mocap").setLevel(logging.WARNING)
    start = time.perf_counter()
    clips = load_held_out(MAX_FRAMES)["bandai"][:: args.sub_stride]
    results = {model: evaluate(model, clips) for model in args.models}
    meta = run_meta(common.command("bench_frame_rate"), time.perf_counter() - start,
                    sub_stride=args.sub_stride, clips=len(clips))
    write_results(args.out, "frame_rate", to_markdown(results, len(clips), meta), {"meta": meta, "results": results})
    return 0


BENCH = common.Bench("frame_rate", order=80)

if __name__ == "__main__":
    sys.exit(run())
