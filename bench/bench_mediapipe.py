"""Each lifter against MediaPipe Pose on the balance recording's 4 calibrated views, same run (issue 23).

    bash bench/setup_mediapipe.sh          # once: the bench-only venv .venv-mediapipe (mediapipe 0.10.14)
    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_mediapipe

Every view is lifted alone: our pipeline (YOLO + DTGCN / PoseMoE, the shipped weights) and MediaPipe
Pose 0.10.14 (``pose_world_landmarks``, the ``pose_landmark_full`` model, run in its own venv by
``bench/mediapipe_child.py``). MediaPipe's 33 landmarks are mapped onto H36M-17 with the same
COCO-17 -> H36M-17 map as the detector's keypoints (``core.skeleton.coco_to_h36m``: its nose, eyes,
ears, shoulders, elbows, wrists, hips, knees and ankles are the COCO points). Each is scored against
the 4-view triangulated reference (:mod:`bench.bench_multiview`) in that camera's frame, root-relative:

- P-MPJPE (after a similarity alignment per frame) and MPJPE (root-relative, no alignment), mm;
- the mean absolute root-relative error split into image x, image y and depth (mm), the split the
  issue asks for beside each model.

Frames where MediaPipe found no one are left out for every method (the same frames are scored).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import common
from .bench_multiview import CALIBRATION, DATA, reference_joints, root_relative, subject_tracks, view_videos
from .common import OUT, REPO, RESULTS, run_meta, write_results

MODELS = ("dtgcn", "posemoe")
MEDIAPIPE_PYTHON = REPO / ".venv-mediapipe" / "bin" / "python"
MEDIAPIPE_VERSION = "0.10.14"
#: MediaPipe Pose landmark of each COCO-17 keypoint (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
MEDIAPIPE_TO_COCO = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
M_TO_MM = 1000.0
AXES = ("x", "y", "depth")


def mediapipe_joints(video: Path, out: Path) -> np.ndarray:
    """(T, 17, 3) MediaPipe's world landmarks as H36M-17 (metres, camera axes, root-relative); NaN rows: no person."""
    from video_mocap.core.skeleton import PELVIS, coco_to_h36m

    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(MEDIAPIPE_PYTHON), str(REPO / "bench" / "mediapipe_child.py"), str(video), str(out)],
                       check=True, cwd=REPO)
    with np.load(out) as data:
        world = data["world"][:, list(MEDIAPIPE_TO_COCO)]
    joints = coco_to_h36m(world).astype(np.float64)
    return joints - joints[:, PELVIS : PELVIS + 1]


def errors(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Root-relative (T, J, 3) prediction vs target: P-MPJPE, MPJPE and the per-axis mean absolute error, mm."""
    from video_mocap.training import metrics

    row = {"p_mpjpe": metrics.p_mpjpe(pred, target) * M_TO_MM, "mpjpe": metrics.mpjpe(pred, target) * M_TO_MM}
    absolute = np.abs(pred - target).reshape(-1, 3)
    for axis, name in enumerate(AXES):
        row[f"abs_{name}"] = float(absolute[:, axis].mean()) * M_TO_MM
    return row


def measure(data: Path, models: tuple[str, ...], out_dir: Path, weights_dir: Path = common.WEIGHTS) -> dict:
    from video_mocap.inference.lifter import lift_track
    from video_mocap.training.multiview import read_qca

    cameras = read_qca(data / CALIBRATION)
    videos = view_videos(data, cameras)
    tracks = subject_tracks(videos)
    reference_world, present, _ = reference_joints(tracks, cameras)
    lifters = {model: common.load_shipped_lifter(model, weights_dir / f"{model}.safetensors") for model in models}
    rows = []
    for cam, video, track in zip(cameras, videos, tracks):
        reference = root_relative(cam.to_camera(reference_world))
        # lifted as the product lifts a clip with no focal given (default focal, each window centred on the person)
        ours = {model: np.asarray(lift_track(track, lifter).joints3d, dtype=np.float64)
                for model, lifter in lifters.items()}
        mediapipe = mediapipe_joints(video, out_dir / f"{cam.name}.npz")
        frames = min(len(reference), len(mediapipe))
        found = np.isfinite(mediapipe[:frames]).all(axis=(1, 2)) & np.isfinite(reference[:frames][:, present]).all(axis=(1, 2))
        for name, pred in [*ours.items(), (f"mediapipe {MEDIAPIPE_VERSION}", mediapipe)]:
            row = errors(pred[:frames][found][:, present], reference[:frames][found][:, present])
            rows.append({"view": cam.name, "method": name, "frames": int(found.sum()), **row})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    means = {m: {k: float(np.mean([r[k] for r in rows if r["method"] == m]))
                 for k in ("p_mpjpe", "mpjpe", *(f"abs_{a}" for a in AXES))} for m in methods}
    return {"rows": rows, "means": means, "joints": int(present.sum())}


def to_markdown(result: dict, meta: dict) -> str:
    lines = [*common.header("Lifters against MediaPipe Pose (balance recording, 4 views, each alone)", meta), "",
             f"{result['joints']} joints scored (those the 4-view reference has in every frame), root-relative, "
             "camera axes; mm.", "",
             "| method | P-MPJPE | MPJPE | abs x | abs y | abs depth |", "|---|---|---|---|---|---|"]
    for method, row in result["means"].items():
        lines.append(f"| {method} (mean of 4 views) | {row['p_mpjpe']:.1f} | {row['mpjpe']:.1f} | {row['abs_x']:.1f} | "
                     f"{row['abs_y']:.1f} | {row['abs_depth']:.1f} |")
    lines += ["", "| view | method | frames | P-MPJPE | MPJPE | abs x | abs y | abs depth |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['view']} | {r['method']} | {r['frames']} | {r['p_mpjpe']:.1f} | {r['mpjpe']:.1f} | "
                     f"{r['abs_x']:.1f} | {r['abs_y']:.1f} | {r['abs_depth']:.1f} |")
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out-dir", type=Path, default=OUT / "mediapipe", help="MediaPipe's per-view outputs (reused)")
    common.add_weights_dir_option(parser)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    common.quiet_logging()
    if not MEDIAPIPE_PYTHON.is_file():
        raise SystemExit(f"{MEDIAPIPE_PYTHON} not found: run 'bash bench/setup_mediapipe.sh' once (bench only).")
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    result = measure(args.data, tuple(args.models), args.out_dir, args.weights_dir)
    meta = run_meta(common.command("bench_mediapipe", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start)
    write_results(args.out, "mediapipe", to_markdown(result, meta), {"meta": meta, **result})
    return 0


BENCH = common.Bench("mediapipe", order=78, needs=(MEDIAPIPE_PYTHON,),
                     needs_hint="the bench-only MediaPipe venv: bash bench/setup_mediapipe.sh")

if __name__ == "__main__":
    sys.exit(run())
