"""The focal length when the user gives none, scored on calibrated views (issue 23).

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_focal

Each of the balance recording's 4 calibrated views (bench/data/pose2sim_balancing: portrait
1088x1920, focal about 1678 px) is lifted alone. Its camera-space root is then fitted
(``inference.trajectory.recover_root``, unsmoothed) with four focal lengths and compared with the
pelvis of the 4-view triangulated reference in that camera's frame:

- ``true``: the calibration's focal length (the floor of this error: the lifter's own depth);
- ``old default``: 60° across the image width, what the pipeline assumed before (portrait: too short);
- ``default``: ``core.camera.default_focal``, 60° across the frame's long side (the pipeline now);
- ``fit``: the focal (long-side field of view 20-120° in 1° steps) whose projected lifted skeleton
  best matches the detected 2D over the clip (score-weighted reprojection error, in units of the
  person's height): the "found from the clip" candidate. It is reported, not used, while it is
  further off than ``default``.

Figures: focal error (%) and the root's raw median error (m), per view and lifter.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import common
from .bench_multiview import CALIBRATION, DATA, reference_joints, subject_tracks, view_videos
from .common import RESULTS, run_meta, write_results

MODELS = ("dtgcn", "posemoe")
FIT_FOV_RANGE_DEG = (20.0, 120.0)
FIT_FOV_STEP_DEG = 1.0
OLD_DEFAULT_HORIZONTAL_FOV_DEG = 60.0


def fitted_focal(joints_rel: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, width: int, height: int) -> float:
    """The long-side field of view whose projection of ``joints_rel`` best matches the 2D (see module doc)."""
    from video_mocap.core import camera
    from video_mocap.inference.trajectory import recover_root

    person_height_px = np.maximum(np.ptp(keypoints[..., 1], axis=1), 1.0)[:, None]
    best_focal, best_cost = math.nan, math.inf
    for fov in np.arange(*FIT_FOV_RANGE_DEG, FIT_FOV_STEP_DEG):
        focal = camera.focal_from_fov(max(width, height), float(fov))
        root = recover_root(joints_rel, keypoints, scores, focal, width, height, smooth_window=0)
        projected = camera.project(joints_rel + root[:, None].astype(np.float64), focal, width, height)
        error = np.linalg.norm(projected - keypoints, axis=-1) / person_height_px
        cost = float((error * scores).sum() / max(scores.sum(), 1e-9))
        if cost < best_cost:
            best_focal, best_cost = focal, cost
    return best_focal


def measure(data: Path, models: tuple[str, ...]) -> dict:
    from video_mocap.core import camera
    from video_mocap.core.skeleton import PELVIS
    from video_mocap.inference.lifter import lift_track
    from video_mocap.inference.trajectory import recover_root
    from video_mocap.training.multiview import read_qca

    cameras = read_qca(data / CALIBRATION)
    tracks = subject_tracks(view_videos(data, cameras))
    reference_world, _, _ = reference_joints(tracks, cameras)
    rows = []
    for model in models:
        lifter = common.load_shipped_lifter(model)
        for cam, track in zip(cameras, tracks):
            # as the product lifts it with no focal given (the default focal's view centring); only the root
            # fit below tries the other focal lengths
            joints = np.asarray(lift_track(track, lifter).joints3d, dtype=np.float64)
            root_reference = cam.to_camera(reference_world[:, PELVIS])
            focals = {
                "true": float(cam.intrinsics[0, 0]),
                "old default": camera.focal_from_fov(track.width, OLD_DEFAULT_HORIZONTAL_FOV_DEG),
                "default": camera.default_focal(track.width, track.height),
                "fit": fitted_focal(joints, track.keypoints, track.scores, track.width, track.height),
            }
            for name, focal in focals.items():
                root = recover_root(joints, track.keypoints, track.scores, focal, track.width, track.height,
                                    smooth_window=0)
                error = np.linalg.norm(root - root_reference, axis=-1)
                rows.append({"model": model, "view": cam.name, "focal": name, "focal_px": focal,
                             "focal_error_pct": 100.0 * (focal / focals["true"] - 1.0),
                             "root_median_error_m": float(np.nanmedian(error))})
    return {"rows": rows}


def to_markdown(result: dict, meta: dict) -> str:
    lines = [*common.header("Focal length when none is given (balance recording, 4 calibrated views)", meta), "",
             "| lifter | view | focal | focal px | focal error | root raw median error |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['model']} | {row['view']} | {row['focal']} | {row['focal_px']:.0f} | "
                     f"{row['focal_error_pct']:+.1f} % | {row['root_median_error_m']:.2f} m |")
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder with Calib.qca.txt and <camera>.mp4 views")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    common.quiet_logging()
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    result = measure(args.data, tuple(args.models))
    meta = run_meta(common.command("bench_focal", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start)
    write_results(args.out, "focal", to_markdown(result, meta), {"meta": meta, **result})
    return 0


BENCH = common.Bench("focal", order=76)

if __name__ == "__main__":
    sys.exit(run())
