"""Benchmark the rigging stage: solve and keyframe writing for a long clip, plus clean-up quality.

    .venv/bin/python -m bench.bench_keyframes [--frames 10000] [--repeats 3]

Timing: an HDM05 jog clip (``../shared``) looped to ``--frames`` frames, filmed by a virtual
camera, solved (pure numpy, default settings), then written onto a new armature in Blender
(``create_armature``: 17 bones x 4 quaternion channels + root location, bulk ``foreach_set``)
re-applied (``apply_motion``) and retargeted onto it (``retarget``, preset "auto"). Quality: the same clip with lifter-like noise (white 1.2 cm
+ slowly drifting 2 cm per joint), solved with and without foot locking / smoothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from . import common

#: the shared HDM05 file, or on a clone without it the committed fixture (it holds both clips)
HDM05 = common.hdm05_file()
CLIPS = ("HDM_mm_jogLeftCircle4StepsRstart_011_120", "HDM_bk_sneak2StepsLStart_005_120")
FPS = 30.0
NOISE_WHITE_M = 0.012
NOISE_DRIFT_M = 0.02


def _motion(joints_yup: np.ndarray):
    from video_mocap.core.formats import Motion3D
    from video_mocap.rigging.world import view_from_camera

    rel, root = view_from_camera(joints_yup, yaw_deg=30.0, tilt_deg=8.0)
    return Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05")


def _noisy(joints: np.ndarray, seed: int) -> np.ndarray:
    from video_mocap.core import filters

    rng = np.random.default_rng(seed)
    slow = filters.savgol(rng.normal(size=joints.shape), window=15, polyorder=1)
    return joints + rng.normal(scale=NOISE_WHITE_M, size=joints.shape) + slow * NOISE_DRIFT_M / slow.std()


def time_writes(clip: np.ndarray, frames: int, repeats: int) -> dict[str, float]:
    import bpy

    from video_mocap.blender import armature as blender_armature, retarget as blender_retarget
    from video_mocap.rigging.solve import SolveConfig, solve

    long_clip = np.concatenate([clip] * int(np.ceil(frames / len(clip))))[:frames]
    motion = _motion(long_clip)
    times: dict[str, list[float]] = {"solve": [], "create_armature": [], "apply_motion": [], "retarget": []}
    for _ in range(repeats):
        start = time.perf_counter()
        solved = solve(motion, SolveConfig())
        times["solve"].append(time.perf_counter() - start)
        bpy.ops.wm.read_factory_settings(use_empty=True)
        start = time.perf_counter()
        obj = blender_armature.create_armature(solved)
        times["create_armature"].append(time.perf_counter() - start)
        start = time.perf_counter()
        blender_armature.apply_motion(obj, solved)
        times["apply_motion"].append(time.perf_counter() - start)
        start = time.perf_counter()  # the retarget path (name matching, per-bone rest frames) onto the same rig
        blender_retarget.retarget(obj, solved, preset="auto")
        times["retarget"].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def quality(clip: np.ndarray, seed: int) -> dict[str, float]:
    from video_mocap.rigging import solve as S

    motion = _motion(_noisy(clip, seed))
    raw = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False))
    smooth = S.solve(motion, S.SolveConfig(smoothing=0.5, foot_lock=False))
    locked = S.solve(motion, S.SolveConfig(smoothing=0.5, foot_lock=True))
    clean = S.solve(_motion(clip), S.SolveConfig(smoothing=0.0, foot_lock=False))
    contacts = locked.contacts
    return {
        "skate_free_mm": 1000 * S.foot_skate(smooth.joints_world, contacts),
        "skate_locked_mm": 1000 * S.foot_skate(locked.joints_world, contacts),
        "contact_fraction": float(contacts.mean()),
        "jitter_raw_mm": 1000 * S.jitter(raw.joints_world),
        "jitter_smooth_mm": 1000 * S.jitter(smooth.joints_world),
        "jitter_clean_mm": 1000 * S.jitter(clean.joints_world),
        "lag_frames": S.lag_frames(smooth.joints_world, raw.joints_world),
    }


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not HDM05.is_file():
        print(f"HDM05 mocap not found at {HDM05} (set VIDEO_MOCAP_SHARED to the shared data folder)", file=sys.stderr)
        return 2
    with np.load(HDM05) as data:
        clips = {key: data[key].astype(np.float64) for key in CLIPS}
    t = time_writes(clips[CLIPS[0]], args.frames, args.repeats)
    print(f"{args.frames} frames, median of {args.repeats}:")
    for name, seconds in t.items():
        print(f"  {name:<16} {seconds:7.2f} s   {args.frames / seconds:9.0f} frames/s")
    figures = {"frames": args.frames, "times_s": t, "quality": {}, "load_avg": os.getloadavg()}
    for i, key in enumerate(CLIPS):
        q = quality(clips[key], seed=i)
        figures["quality"][key] = q
        print(f"{key} ({len(clips[key])} frames): " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()))
    import bpy

    figures["bpy"] = bpy.app.version_string
    common.write_figures("rigging", figures)
    return 0


BENCH = common.Bench("rigging", ("--repeats", "1"), order=40, needs=(HDM05,),
                     needs_hint="the HDM05 mocap of the shared data")

if __name__ == "__main__":
    sys.exit(run())
