"""Foot contacts against mocap ground truth: how many planted frames the solve finds, and the true skating.

    .venv/bin/python -m bench.bench_contacts [--models posemoe dtgcn] [--clip-stride 2] [--max-frames 300]

Real video has no ground truth for foot contacts, so ``bench_real_video.py`` measures skating only on
the frames the solve itself marks as planted. Here the whole pipeline after the 2D stage runs on
held-out mocap whose contacts are known: Bandai part 1 (every ``--clip-stride``-th clip) filmed by a
virtual camera like the sample clip's (side view, yaw ``VIEW_YAW_DEG``, slightly from above), projected
to pixels with seeded Gaussian jitter (``PIXEL_NOISE_STD``), lifted (shipped weights, flip TTA, one torch
thread) and solved with the default settings.

- ground truth: an ankle of the clean mocap is planted while it is within ``GT_HEIGHT_MARGIN_M`` of its
  own lowest height (5th percentile) and moves slower than ``GT_SPEED_M_S`` horizontally, for at least
  ``footlock.MIN_CONTACT_FRAMES`` frames;
- recall / precision of the solve's contact flags against it (frames pooled over clips and feet);
- skate: mean horizontal ankle travel per frame over the *ground-truth* planted frames, with foot lock
  and without it.

Writes ``bench/results/contacts.md`` and ``bench/results/contacts.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from video_mocap.core import camera, skeleton
from video_mocap.rigging import footlock
from video_mocap.rigging import solve as S
from video_mocap.rigging.world import view_from_camera

from . import common
from .common import RESULTS, crop_clips, header, run_meta, write_results

MODELS = ("posemoe", "dtgcn")
#: the virtual camera: the sample clip's frame, a side view from a little above, far enough to keep a walk in view
WIDTH, HEIGHT = 884, 498
VIEW_YAW_DEG, VIEW_TILT_DEG, VIEW_DISTANCE_M = 70.0, 8.0, 7.0
PIXEL_NOISE_STD = 1.5
SEED = 0
#: ground-truth contacts of the clean mocap
GT_HEIGHT_MARGIN_M = 0.05
GT_SPEED_M_S = 0.3
GT_LOW_PERCENTILE = 5.0
M_TO_MM = 1000.0


def ground_truth_contacts(joints_yup: np.ndarray, fps: float) -> np.ndarray:
    """(T, 17, 3) clean Y-up mocap -> (T, 2) planted flags of the ankles (``skeleton.FEET`` order)."""
    ankles = np.asarray(joints_yup, dtype=np.float64)[:, list(skeleton.FEET)]
    step = np.linalg.norm(np.diff(ankles[..., [0, 2]], axis=0), axis=-1) * fps  # (T-1, 2) m/s
    speed = np.concatenate([step[:1], step], axis=0)
    low = np.percentile(ankles[..., 1], GT_LOW_PERCENTILE, axis=0)
    return footlock.drop_short_runs((ankles[..., 1] < low + GT_HEIGHT_MARGIN_M) & (speed < GT_SPEED_M_S))


def filmed_track(joints_yup: np.ndarray, fps: float, rng: np.random.Generator):
    """The clip as a 2D track of the virtual camera (pixels with seeded jitter)."""
    from video_mocap.core.formats import Track2D

    rel, root = view_from_camera(joints_yup, yaw_deg=VIEW_YAW_DEG, tilt_deg=VIEW_TILT_DEG,
                                 distance_m=VIEW_DISTANCE_M)
    focal = camera.default_focal(WIDTH, HEIGHT)
    pixels = camera.project(rel + root[:, None, :], focal, WIDTH, HEIGHT)
    pixels = pixels + rng.normal(scale=PIXEL_NOISE_STD, size=pixels.shape)
    scores = np.ones(pixels.shape[:2], dtype=np.float32)
    return Track2D(pixels.astype(np.float32), scores, np.arange(len(pixels)), fps, WIDTH, HEIGHT, track_id=1,
                   focal_px=focal)


def skate_on(joints_world: np.ndarray, planted: np.ndarray) -> tuple[float, int]:
    """Sum of horizontal ankle travel (m) over frame pairs planted at both ends, and their count."""
    ankles = np.asarray(joints_world, dtype=np.float64)[:, list(skeleton.FEET), :2]
    step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)
    both = planted[1:] & planted[:-1]
    return float(step[both].sum()), int(both.sum())


def rise_on(ankle_heights: np.ndarray, planted: np.ndarray) -> float:
    """Sum over planted frames of each ankle's height above its own low point (m).

    ``ankle_heights``: (T, 2) heights (the up axis); ``planted``: (T, 2) flags. Divided by the number
    of planted flags it says how far off the floor a planted foot rides.
    """
    heights = np.asarray(ankle_heights, dtype=np.float64)
    return float((heights - np.percentile(heights, GT_LOW_PERCENTILE, axis=0))[planted].sum())


def measure(model: str, clips: list) -> dict:
    import torch

    from video_mocap.inference.lifter import lift_track

    torch.set_num_threads(1)
    lifter = common.load_shipped_lifter(model)
    rng = np.random.default_rng(SEED)
    totals = {"gt": 0, "found": 0, "hit": 0, "frames": 0, "skate_locked_m": 0.0, "skate_free_m": 0.0, "pairs": 0,
              "rise_truth_m": 0.0, "rise_locked_m": 0.0, "rise_free_m": 0.0}
    feet = list(skeleton.FEET)
    for clip in clips:
        gt = ground_truth_contacts(clip.joints, clip.fps)
        motion = lift_track(filmed_track(clip.joints, clip.fps, rng), lifter)
        locked = S.solve(motion, S.SolveConfig(foot_lock=True))
        free = S.solve(motion, S.SolveConfig(foot_lock=False))
        found = locked.contacts
        totals["gt"] += int(gt.sum())
        totals["found"] += int(found.sum())
        totals["hit"] += int((gt & found).sum())
        totals["frames"] += int(gt.size)
        locked_m, pairs = skate_on(locked.joints_world, gt)
        totals["skate_locked_m"] += locked_m
        totals["skate_free_m"] += skate_on(free.joints_world, gt)[0]
        totals["pairs"] += pairs
        totals["rise_truth_m"] += rise_on(clip.joints[:, feet, 1], gt)  # the mocap is Y-up, the solve Z-up
        totals["rise_locked_m"] += rise_on(locked.joints_world[:, feet, 2], gt)
        totals["rise_free_m"] += rise_on(free.joints_world[:, feet, 2], gt)
    pairs = max(totals["pairs"], 1)
    return {
        "model": model, "clips": len(clips), "feet_frames": totals["frames"],
        "gt_planted_fraction": totals["gt"] / max(totals["frames"], 1),
        "found_fraction": totals["found"] / max(totals["frames"], 1),
        "recall": totals["hit"] / max(totals["gt"], 1),
        "precision": totals["hit"] / max(totals["found"], 1),
        "skate_locked_m": totals["skate_locked_m"] / pairs,
        "skate_free_m": totals["skate_free_m"] / pairs,
        **{key: totals[key] / max(totals["gt"], 1) for key in ("rise_truth_m", "rise_locked_m", "rise_free_m")},
    }


def to_markdown(rows: list[dict], meta: dict) -> str:
    lines = header("Foot contacts against mocap ground truth", meta) + [
        f"Held-out Bandai part 1 (every {meta['clip_stride']}th clip, first {meta['max_frames']} frames) filmed by a "
        f"virtual camera like the sample clip's ({WIDTH}x{HEIGHT}, default field of view, yaw {VIEW_YAW_DEG:.0f} deg, "
        f"{VIEW_TILT_DEG:.0f} deg from above, {VIEW_DISTANCE_M:.0f} m), exact projections plus {PIXEL_NOISE_STD} px "
        "seeded jitter, lifted with the shipped weights (flip TTA) and solved with the default settings. "
        f"Ground truth: a clean mocap ankle within {GT_HEIGHT_MARGIN_M * 100:.0f} cm of its lowest height and slower "
        f"than {GT_SPEED_M_S} m/s, for at least {footlock.MIN_CONTACT_FRAMES} frames. Skate = mean horizontal ankle "
        "travel per frame over the ground-truth planted frames. Rise = mean height of the ankle above its own low point "
        f"(the clip's {GT_LOW_PERCENTILE:.0f}th percentile) over the same frames: the mocap's own, and the solve's with and "
        "without the lock (which lifts a pinned ankle that is a little out of reach, as a heel comes up).",
        "",
        "| model | clips | planted (truth) | marked planted | recall | precision | skate, foot lock | skate, no lock "
        "| rise: truth / lock / no lock |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['clips']} | {100 * r['gt_planted_fraction']:.0f} % | {100 * r['found_fraction']:.0f} % "
            f"| {100 * r['recall']:.0f} % | {100 * r['precision']:.0f} % | {r['skate_locked_m'] * M_TO_MM:.1f} mm/frame "
            f"| {r['skate_free_m'] * M_TO_MM:.1f} mm/frame "
            + (f"| {r['rise_truth_m'] * M_TO_MM:.0f} / {r['rise_locked_m'] * M_TO_MM:.0f} / "
               f"{r['rise_free_m'] * M_TO_MM:.0f} mm |" if "rise_locked_m" in r else "| - |")
        )
    lines.append("")
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--clip-stride", type=int, default=2)
    parser.add_argument("--max-frames", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from video_mocap.training import sources

    start = time.perf_counter()
    clips = crop_clips(sources.load_bandai(sources.DataConfig(), "part1")[:: args.clip_stride], args.max_frames)
    rows = []
    for model in args.models:
        rows.append(measure(model, clips))
        print(json.dumps(rows[-1]), flush=True)
    meta = run_meta(common.command("bench_contacts", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start,
                    clip_stride=args.clip_stride, max_frames=args.max_frames)
    write_results(args.out, "contacts", to_markdown(rows, meta), {"meta": meta, "rows": rows})
    return 0


BENCH = common.Bench("contacts", order=100)

if __name__ == "__main__":
    sys.exit(run())
