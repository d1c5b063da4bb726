"""Smoothing strength against accuracy (held-out mocap) and jitter (real video): the evidence
behind the solve's default smoothing.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_smoothing [--models posemoe dtgcn]
                                                [--strengths 0 0.25 ...] [--methods one_euro savgol]

Two questions for every strength and method of ``rigging.filters.smooth``:

- does it cost accuracy? Held-out Bandai part 1 and the held-out HDM05 actor ``bk`` (kicks, jumps,
  cartwheels: fast motion) with detector-like 2D noise, the same seeded cameras as
  ``bench_accuracy.py``'s ``bandai_noisy`` / ``hdm05_bk_noisy`` conditions. Each clip is lifted once per model
  (shipped weights, flip TTA, one torch thread), then smoothed at every setting and scored: MPJPE,
  P-MPJPE and velocity error (mm, mm/frame). The root-relative joints are filtered here; the solve
  filters the world joints (see ``training.evaluate.evaluate_model``).
- does it halve the jitter without lag? The real-video motions that ``bench_real_video.py`` saved
  (``out/bench/real_video_<clip>_<model>.npz``; lifted here when missing) are solved at every setting without foot
  lock: jitter (mean joint acceleration) smoothed / raw (target <= 50 %) and lag (target <= 1 frame).

Writes ``bench/results/smoothing.md`` and ``bench/results/smoothing.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path


from video_mocap.core import filters
from video_mocap.rigging import solve as S

from . import bench_real_video, common
from .bench_real_video import CLIP_NAMES
from .common import HELD_OUT_ACTOR, OUT, RESULTS, header, load_held_out, run_meta, write_results
from .targets import T_JITTER_RATIO, T_LAG_FRAMES

MOTIONS = OUT
MODELS = ("posemoe", "dtgcn")
CLIPS = CLIP_NAMES  # the motions bench_real_video saves
STRENGTHS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
DEFAULT_MAX_FRAMES = 600  # as bench_accuracy.py
SEED = 0  # as bench_accuracy.py
M_TO_MM = 1000.0


def held_out_clips(max_frames: int) -> dict[str, list]:
    """The held-out mocap sets of ``bench_accuracy`` (cropped to ``max_frames``), named as in this report."""
    held_out = load_held_out(max_frames)
    return {"bandai": held_out["bandai"], f"hdm05_{HELD_OUT_ACTOR}": held_out["hdm05"]}


def held_out_rows(model: str, strengths: list[float], methods: list[str], sets: dict[str, list]) -> list[dict]:
    """Every held-out set (noisy 2D), lifted once and scored at every smoothing setting: one row per
    (method, strength) with ``<set>_<metric>`` errors in mm."""
    import torch

    from video_mocap.inference.lifter import lift_sequence
    from video_mocap.training.evaluate import make_clips_for_eval
    from video_mocap.training.metrics import clip_errors, summarize

    torch.set_num_threads(1)
    lifter = common.load_shipped_lifter(model)
    lifted = {}
    for name, clips in sets.items():
        eval_clips = make_clips_for_eval(clips, lifter.num_frames, noise="detector", seed=SEED)
        lifted[name] = [(clip, lift_sequence(lifter, clip.inputs, flip=True)) for clip in eval_clips]
    rows = []
    for method in methods:
        for strength in strengths:
            if strength == 0.0 and method != methods[0]:
                continue  # strength 0 is the raw output whatever the method
            row = {"model": model, "method": method, "strength": strength}
            for name, pairs in lifted.items():
                errors = [clip_errors(clip.name, filters.smooth(pred, float(clip.fps), strength, method), clip.target3d)
                          for clip, pred in pairs]
                row.update({f"{name}_{key}": value for key, value in summarize(errors).overall.items()})
            rows.append(row)
            logging.info("%s %s %.2f: Bandai P-MPJPE %.1f velocity %.2f", model, method, strength,
                         row["bandai_p_mpjpe"], row["bandai_velocity"])
    return rows


def real_video_rows(model: str, strengths: list[float], methods: list[str]) -> list[dict]:
    """Jitter ratio and lag of the solved real-video motions at every smoothing setting."""
    from video_mocap.core.formats import Motion3D

    rows = []
    for clip in CLIPS:
        path = bench_real_video.motion_path(MOTIONS, clip, model)
        motion = Motion3D.load(path)
        raw = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False)).joints_world
        jitter_raw = S.jitter(raw)
        for method in methods:
            for strength in strengths:
                if strength == 0.0:
                    continue
                smoothed = S.solve(motion, S.SolveConfig(smoothing=strength, smoothing_method=method,
                                                         foot_lock=False)).joints_world
                rows.append({"clip": clip, "model": model, "method": method, "strength": strength,
                             "jitter_raw_m": jitter_raw, "jitter_ratio": S.jitter(smoothed) / jitter_raw,
                             "lag_frames": S.lag_frames(smoothed, raw)})
    return rows


def to_markdown(held_out: list[dict], real: list[dict], meta: dict) -> str:
    default = S.SolveConfig()
    lines = header("Smoothing strength: accuracy on held-out mocap and jitter on real video", meta) + [
        f"The solve's default: `{default.smoothing_method}` at strength {default.smoothing}. "
        "Held-out: Bandai part 1 and HDM05 actor bk (noisy 2D, the cameras of `bench_accuracy.py`), every clip lifted once "
        "(flip TTA) and scored after smoothing the root-relative joints; strength 0 = the raw lifter output. "
        "Real video: the sample clip's two subjects and the balance clip (`bench_real_video.py`'s saved motions), solved without "
        "foot lock; jitter = mean joint acceleration, smoothed / raw (target <= 50 %); lag = cross-correlation "
        "of joint velocities (target <= 1 frame).",
        "",
        "| model | method | strength | Bandai MPJPE | Bandai P-MPJPE | Bandai velocity | HDM05 bk P-MPJPE "
        "| HDM05 bk velocity " + "".join(f"| {clip} jitter | {clip} lag " for clip in CLIPS) + "|",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: " + "| ---: | ---: " * len(CLIPS) + "|",
    ]
    by_key = {(r["clip"], r["model"], r["method"], r["strength"]): r for r in real}
    for r in held_out:
        cells = []
        for clip in CLIPS:
            v = by_key.get((clip, r["model"], r["method"], r["strength"]))
            if v is None:
                cells.append("| 100 % | 0 " if r["strength"] == 0.0 else "| - | - ")
                continue
            ok = v["jitter_ratio"] <= T_JITTER_RATIO and abs(v["lag_frames"]) <= T_LAG_FRAMES
            cells.append(f"| {100 * v['jitter_ratio']:.1f} % {'✅' if ok else '❌'} | {v['lag_frames']:+.2f} ")
        mark = " (default)" if (r["method"], r["strength"]) == (default.smoothing_method, default.smoothing) else ""
        lines.append(f"| {r['model']} | {r['method']} | {r['strength']:.2f}{mark} | {r['bandai_mpjpe']:.1f} "
                     f"| {r['bandai_p_mpjpe']:.1f} | {r['bandai_velocity']:.2f} | {r['hdm05_bk_p_mpjpe']:.1f} "
                     f"| {r['hdm05_bk_velocity']:.2f} " + "".join(cells) + "|")
    lines += ["", "Errors in mm (velocity: mm/frame at 30 fps). Savitzky-Golay is linear and the same on every "
              "frame, so its held-out score is exactly what the armature's root-relative joints get; the one-euro "
              "filter adapts to each joint's speed, which is lower root-relative than in the world, so it smooths "
              "a little more here than in the solve.", ""]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--strengths", nargs="+", type=float, default=list(STRENGTHS))
    parser.add_argument("--methods", nargs="+", default=list(filters.METHODS), choices=filters.METHODS)
    parser.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    strengths = sorted(set([0.0, *args.strengths]))
    start = time.perf_counter()
    made = bench_real_video.save_missing_motions(args.models, MOTIONS)  # a clone has none: detect and lift them
    if made:
        print(f"lifted the real-video motions bench_real_video saves: {', '.join(p.name for p in made)}")
    real = [row for model in args.models for row in real_video_rows(model, strengths, args.methods)]
    sets = held_out_clips(args.max_frames)
    held_out = [row for model in args.models for row in held_out_rows(model, strengths, args.methods, sets)]
    meta = run_meta(common.command("bench_smoothing", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start,
                    default={"smoothing": S.SolveConfig().smoothing, "method": S.SolveConfig().smoothing_method})
    write_results(args.out, "smoothing", to_markdown(held_out, real, meta),
                  {"meta": meta, "held_out": held_out, "real_video": real})
    return 0


BENCH = common.Bench("smoothing", order=90)  # after real_video: reads its motions (or lifts them)

if __name__ == "__main__":
    sys.exit(run())
