"""Does denser windowing at inference lower the lifters' error? Held-out accuracy against window overlap.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_overlap [--models posemoe dtgcn] [--clip-stride 2]

Every ``--clip-stride``-th held-out Bandai part 1 clip (first 600 frames, as ``bench_accuracy.py``),
one seeded camera each, detector-like 2D noise; the shipped weights lift each clip with flip
TTA through ``lift_sequence`` at each overlap (1/3 is the product's default; more overlap means
every frame is the blend of more windows, at more compute). One process per model, one torch
thread each, side by side. Writes ``bench/results/overlap.md`` and ``bench/results/overlap.json``
(informational: no target depends on it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from . import common
from .common import RESULTS, header, run_meta, write_results

OVERLAPS = (1.0 / 3.0, 0.5, 2.0 / 3.0, 0.85)
MAX_FRAMES = 600
SEED = 0


def child(model: str, clip_stride: int) -> dict:
    """Score one model at every overlap (in this process)."""
    import torch

    from .bench_accuracy import load_held_out

    from video_mocap.training.evaluate import evaluate_model, make_clips_for_eval

    torch.set_num_threads(1)
    lifter = common.load_shipped_lifter(model)
    clips = load_held_out(MAX_FRAMES)["bandai"][::clip_stride]
    eval_clips = make_clips_for_eval(clips, lifter.num_frames, noise="detector", seed=SEED)
    rows = []
    for overlap in OVERLAPS:
        start = time.perf_counter()
        overall = evaluate_model(lifter, eval_clips, flip=True, overlap=overlap)["overall"]
        rows.append({"overlap": overlap, "seconds": time.perf_counter() - start, **overall})
    return {"model": model, "clips": len(eval_clips), "num_frames": lifter.num_frames, "rows": rows}


def to_markdown(results: list[dict], meta: dict) -> str:
    lines = header("Inference window overlap against held-out accuracy", meta) + [
        f"Held-out Bandai part 1, one clip in {meta['clip_stride']} (first {MAX_FRAMES} frames), detector-like noise, "
        "flip TTA, shipped weights. Errors in mm (velocity: mm/frame); seconds: the model's lifting time for all clips "
        "(one thread, noisy machine). The product uses overlap 1/3.",
        "",
        "| model | clips | overlap | MPJPE | P-MPJPE | velocity | lifting s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for row in result["rows"]:
            lines.append(f"| {result['model']} | {result['clips']} | {row['overlap']:.2f} | {row['mpjpe']:.2f} "
                         f"| {row['p_mpjpe']:.2f} | {row['velocity']:.2f} | {row['seconds']:.0f} |")
    return "\n".join(lines + [""])


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["posemoe", "dtgcn"])
    parser.add_argument("--clip-stride", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.clip_stride)))
        return 0
    start = time.perf_counter()
    procs = [subprocess.Popen(common.module_command("bench_overlap", ["--child", model, "--clip-stride", str(args.clip_stride)]),
                              cwd=common.REPO, stdout=subprocess.PIPE, text=True) for model in args.models]
    results = []
    for model, proc in zip(args.models, procs):
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{model}: the child process failed (exit {proc.returncode}); see its messages above.")
        results.append(json.loads(out.strip().splitlines()[-1]))
    meta = run_meta(common.command("bench_overlap", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start,
                    clip_stride=args.clip_stride)
    write_results(args.out, "overlap", to_markdown(results, meta), {"meta": meta, "results": results})
    return 0


#: informational (no target depends on it): not part of run_all's default run
BENCH = common.Bench("overlap", order=110, in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
