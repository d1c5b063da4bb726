"""Real video with a 3D reference: monocular lifts of each view of a calibrated 4-camera recording.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_multiview [--threads 1]

Data: ``bench/data/pose2sim_balancing/`` (Pose2Sim's demo recording, BSD-3-Clause; its README):
a man balancing on force plates, filmed by four synchronised, calibrated cameras (portrait
1080x1920 / 1088x1920, 60 fps, 100 frames each) from about 2 m up, looking down 18-25 deg, from
four sides.

1. The 2D stage (shipped YOLO11n-pose + ByteTrack, detection cache) runs on every view; the
   pipeline's subject of each view is the man.
2. Reference: his joints triangulated from all four views (``training.multiview.triangulate``,
   score-weighted DLT, a view counts where its joint score is >= 0.3), then smoothed in time
   (Savitzky-Golay, 9 frames = 0.15 s, order 2) against the triangulation's frame-to-frame noise.
   Only joints the views triangulate in every frame are scored (the head, ear level, is missing:
   the face is blurred and the cap hides the ears).
3. Each view alone goes through the product's lift (shipped weights, flip TTA, default field of
   view: the calibration is not given to the lifter), and its root-relative joints are scored
   against the reference in that camera's frame: MPJPE, P-MPJPE, N-MPJPE and velocity error, as
   ``bench_accuracy.py`` scores mocap. The solve's output (default settings: constant bones,
   smoothing, foot lock; the joints the armature follows, in its own z-up world) is scored too,
   by P-MPJPE, whose per-frame alignment removes the change of frame.

The reference is not ground truth: it carries the detector's error in every view (a hip or
shoulder keypoint is not a joint centre) and the calibration's. Its reprojection error and its
own bone-length variation are reported beside the scores.

Writes ``bench/results/multiview.md`` / ``.json`` and the lifted motions to ``out/bench/``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import common
from .common import OUT, RESULTS, header, run_meta, write_results

DATA = common.DATA / "pose2sim_balancing"
CALIBRATION = "Calib.qca.txt"
MODELS = ("posemoe", "dtgcn", "mlp")
#: the reference's temporal smoothing (Savitzky-Golay window in frames and polynomial order)
REFERENCE_SMOOTH_FRAMES = 9
REFERENCE_SMOOTH_ORDER = 2
M_TO_MM = 1000.0


def view_videos(data: Path, cameras: list) -> list[Path]:
    """The views' videos in ``data``, named after the calibration's cameras (``<serial>.mp4``)."""
    videos = [data / f"{camera.name}.mp4" for camera in cameras]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        raise SystemExit(f"missing views {missing}: each camera of {CALIBRATION} needs its <serial>.mp4 beside it.")
    return videos


def subject_tracks(videos: list[Path]) -> list:
    """The pipeline's subject track of every view (cached 2D stage); all must cover the same frames."""
    from video_mocap.inference.detect import DetectConfig, detect_video

    tracks = [detect_video(video, DetectConfig(device="cpu")).subject for video in videos]
    frames = {tuple(t.frame_indices.tolist()) for t in tracks}
    if len(frames) != 1:
        raise SystemExit("the views' subject tracks cover different frames; the reference needs every view per frame.")
    return tracks


def reference_joints(tracks: list, cameras: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangulate the views, smooth in time; returns (T, 17, 3) world joints, the (17,) joints present
    in every frame, and the (V, T, 17) reprojection errors (pixels) of the unsmoothed triangulation."""
    from scipy.signal import savgol_filter

    from video_mocap.training.multiview import reprojection_error, triangulate

    keypoints = np.stack([t.keypoints for t in tracks])
    scores = np.stack([t.scores for t in tracks])
    points = triangulate(keypoints, scores, np.stack([c.projection for c in cameras]))
    present = np.isfinite(points).all(axis=(0, 2))
    smoothed = np.full_like(points, np.nan)
    smoothed[:, present] = savgol_filter(points[:, present], REFERENCE_SMOOTH_FRAMES, REFERENCE_SMOOTH_ORDER, axis=0)
    return smoothed, present, reprojection_error(points, keypoints, scores, cameras)


def reference_in_view(data: Path, view: str) -> np.ndarray:
    """(T, 17, 3) the reference joints in camera ``view``'s frame, root-relative (NaN: joints it lacks)."""
    from video_mocap.training.multiview import read_qca

    cameras = read_qca(data / CALIBRATION)
    reference_world, _, _ = reference_joints(subject_tracks(view_videos(data, cameras)), cameras)
    camera = next((c for c in cameras if c.name == view), None)
    if camera is None:
        raise SystemExit(f"no camera {view!r} in {data / CALIBRATION}")
    return root_relative(camera.to_camera(reference_world))


def camera_pose(camera) -> tuple[float, float]:
    """(height m, pitch deg: negative = looking down) of a camera over a z-up world (Qualisys)."""
    optical_axis_world = camera.rotation[2]  # the camera's z axis in world coordinates
    return float(camera.centre[2]), math.degrees(math.asin(float(optical_axis_world[2])))


def root_relative(joints: np.ndarray) -> np.ndarray:
    from video_mocap.core.skeleton import PELVIS

    return joints - joints[:, PELVIS : PELVIS + 1]


def trunk_tilt_deg(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) camera-axes joints -> (T,) lean of the pelvis-to-thorax line away from the camera
    (degrees; 0 = parallel to the image's vertical, + = the top further from the camera)."""
    from video_mocap.core.skeleton import JOINT_INDEX, PELVIS

    trunk = joints[:, JOINT_INDEX["thorax"]] - joints[:, PELVIS]
    return np.degrees(np.arctan2(trunk[:, 2], -trunk[:, 1]))


def score(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Root-relative (T, J, 3) prediction vs target -> the four errors in mm (velocity: mm per frame)."""
    from video_mocap.training import metrics

    return {"mpjpe": metrics.mpjpe(pred, target) * M_TO_MM, "p_mpjpe": metrics.p_mpjpe(pred, target) * M_TO_MM,
            "n_mpjpe": metrics.n_mpjpe(pred, target) * M_TO_MM,
            "velocity": metrics.velocity_error(pred, target) * M_TO_MM}


def measure(data: Path, models: tuple[str, ...], weights_dir: Path = common.WEIGHTS) -> dict:
    from video_mocap.inference.lifter import lift_track
    from video_mocap.core.skeleton import BONES, JOINT_NAMES
    from video_mocap.rigging.solve import solve
    from video_mocap.training import metrics
    from video_mocap.training.multiview import read_qca

    cameras = read_qca(data / CALIBRATION)
    tracks = subject_tracks(view_videos(data, cameras))
    reference_world, present, reprojection = reference_joints(tracks, cameras)
    scored = np.flatnonzero(present)
    reference_bones = [b for b, (p, c) in enumerate(BONES) if present[p] and present[c]]
    reference_cv = metrics.bone_cv(np.nan_to_num(reference_world))[reference_bones]
    views = []
    for v, camera in enumerate(cameras):
        height, pitch = camera_pose(camera)
        views.append({"view": camera.name, "height_m": height, "pitch_deg": pitch,
                      "reprojection_px_median": float(np.nanmedian(reprojection[v])),
                      "reprojection_px_p90": float(np.nanpercentile(reprojection[v], 90))})
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for model in models:
        lifter = common.load_shipped_lifter(model, weights_dir / f"{model}.safetensors")
        for camera, track in zip(cameras, tracks):
            motion = lift_track(track, lifter)
            motion.save(OUT / f"multiview_{camera.name}_{model}.npz")
            reference_cam = camera.to_camera(reference_world)
            pred = root_relative(motion.joints3d.astype(np.float64))[:, scored]
            target = root_relative(reference_cam)[:, scored]
            solved = root_relative(solve(motion).joints_world)[:, scored]
            tilt_error = trunk_tilt_deg(motion.joints3d) - trunk_tilt_deg(reference_cam)
            rows.append({"model": model, "view": camera.name, **score(pred, target),
                         "bone_cv_median": float(np.median(metrics.bone_cv(motion.joints3d))),
                         "trunk_tilt_error_deg": float(np.mean(tilt_error)),
                         "solved_p_mpjpe": metrics.p_mpjpe(solved, target) * M_TO_MM})
            logging.info("%s %s: P-MPJPE %.1f mm", model, camera.name, rows[-1]["p_mpjpe"])
    return {
        "frames": int(tracks[0].num_frames), "fps": float(tracks[0].fps),
        "scored_joints": [JOINT_NAMES[j] for j in scored],
        "reference": {"bone_cv_median": float(np.median(reference_cv)),
                      "bone_cv": {f"{JOINT_NAMES[BONES[b][0]]}-{JOINT_NAMES[BONES[b][1]]}": float(cv)
                                  for b, cv in zip(reference_bones, reference_cv)},
                      "views": views},
        "rows": rows,
    }


def means(rows: list[dict], model: str) -> dict[str, float]:
    """Mean of every figure over the views of one model."""
    mine = [r for r in rows if r["model"] == model]
    keys = ("mpjpe", "p_mpjpe", "n_mpjpe", "velocity", "bone_cv_median", "solved_p_mpjpe")
    return {k: float(np.mean([r[k] for r in mine])) for k in keys}


def to_markdown(result: dict, meta: dict) -> str:
    ref = result["reference"]
    models = list(dict.fromkeys(r["model"] for r in result["rows"]))
    lines = header("Real video against a multi-view reference (Pose2Sim balancing, 4 calibrated views)", meta) + [
        f"`bench/data/pose2sim_balancing/`: {result['frames']} frames at {result['fps']:.0f} fps per view. "
        "Reference = the shipped YOLO11n-pose detections of all four views triangulated (score-weighted DLT) and "
        f"smoothed (Savitzky-Golay {REFERENCE_SMOOTH_FRAMES} frames, order {REFERENCE_SMOOTH_ORDER}). Each view alone "
        "is lifted as the product lifts it (shipped weights, flip TTA, default field of view) and scored, root-relative, "
        "in its camera's frame. Velocity error is per frame at 60 fps (a frame half as long as a 30 fps clip's). "
        f"Scored joints ({len(result['scored_joints'])}): every joint but those the views cannot "
        "triangulate (the head: blurred face, ears under a cap).",
        "",
        "**The reference is not ground truth.** It carries the detector's error in every view (a hip or shoulder "
        "keypoint is not a joint centre) and the calibration's:",
        "",
        "| view | camera height | pitch | reprojection error median (p90) |",
        "| --- | ---: | ---: | --- |",
    ]
    for v in ref["views"]:
        lines.append(f"| {v['view']} | {v['height_m']:.2f} m | {v['pitch_deg']:+.0f} deg | "
                     f"{v['reprojection_px_median']:.1f} px ({v['reprojection_px_p90']:.1f} px) |")
    worst = sorted(ref["bone_cv"].items(), key=lambda kv: -kv[1])[:4]
    lines += [
        "",
        f"The reference's own bone lengths vary: coefficient of variation **{100 * ref['bone_cv_median']:.1f} %** "
        f"(median over the {len(ref['bone_cv'])} bones it has; largest: "
        + ", ".join(f"{name} {100 * cv:.0f} %" for name, cv in worst)
        + "). Four calibrated views of the same detector do not give constant bones: the keypoints are surface "
        "landmarks that move against the joint centres.",
        "",
        "## Each view lifted alone, against the reference",
        "",
        "| model | view | MPJPE | P-MPJPE | N-MPJPE | velocity (mm/frame) | lifted bone CV (median) | trunk tilt error "
        "| solved P-MPJPE |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['view']} | {r['mpjpe']:.1f} | {r['p_mpjpe']:.1f} | {r['n_mpjpe']:.1f} | "
                     f"{r['velocity']:.1f} | {100 * r['bone_cv_median']:.1f} % | {r['trunk_tilt_error_deg']:+.1f} deg "
                     f"| {r['solved_p_mpjpe']:.1f} |")
    for model in models:
        m = means(result["rows"], model)
        lines.append(f"| **{model}** | **mean** | **{m['mpjpe']:.1f}** | **{m['p_mpjpe']:.1f}** | **{m['n_mpjpe']:.1f}** "
                     f"| **{m['velocity']:.1f}** | **{100 * m['bone_cv_median']:.1f} %** | | **{m['solved_p_mpjpe']:.1f}** |")
    lines += [
        "",
        "Errors in mm. Trunk tilt error = the lifted pelvis-to-thorax line's mean lean away from the camera minus "
        "the reference's (deg; + = the lift leans the top further away). Solved P-MPJPE = the solve's joints (default "
        "settings: the armature's constant bones, smoothing and foot lock) against the reference. For scale, the same lifters on held-out mocap with detector-like noise: "
        "[accuracy.md](accuracy.md) (random cameras; the high-camera rows are the closest to these views).",
        "",
    ]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="folder with Calib.qca.txt and <camera>.mp4 views")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    common.add_weights_dir_option(parser)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    common.quiet_logging()
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = measure(args.data, tuple(args.models), args.weights_dir)
    meta = run_meta(common.command("bench_multiview", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start)
    write_results(args.out, "multiview", to_markdown(result, meta), {"meta": meta, **result})
    return 0


BENCH = common.Bench("multiview", order=75)

if __name__ == "__main__":
    sys.exit(run())
