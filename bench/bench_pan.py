"""A panning shot made from real footage, with and without the camera's rotation taken out (issue 25).

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_pan

The shared Sports2D demo (1768x994, static camera, a man walking left to right across the park,
BSD-3-Clause) is re-framed as a camera following him: a window 2/3 of the width slides with his
hips (smoothed), so in the new clip he stays near the middle while the park slides past, as in a
pan. (A sliding crop is a shift of the principal point, which a rotation by ``shift / focal`` matches
to within a fraction of a degree at these angles.) The pipeline then runs on

- the original static clip (the reference path),
- the re-framed clip with the camera-motion step off (``camera_motion=False``), and
- the re-framed clip with it on (the default),

all with the same focal length in pixels. Figures: the walker's world path length and its straightness,
and the pan the camera-motion step found against the one the crop made. The picture
(``bench/figures/pan_paths.png``) shows the three world paths from above.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import common
from .common import FIGURES, OUT, RESULTS, run_meta, write_results

CLIP = common.SHARED / "media" / "sports2d_demo.mp4"
#: the window's width as a fraction of the frame's (its height is the frame's)
WINDOW_FRACTION = 2.0 / 3.0
#: frames of hip-position smoothing for the window (a camera operator's lag)
FOLLOW_SMOOTH_FRAMES = 15


def follow_crop(video: Path, out: Path, subject) -> tuple[Path, np.ndarray, int]:
    """Write ``video`` re-framed by a window that follows ``subject``'s hips; returns the clip, the
    window's left edge per frame (pixels), and its width."""
    import cv2
    from scipy.ndimage import uniform_filter1d

    from video_mocap.core.skeleton import PELVIS
    from video_mocap.inference.video import iter_frames

    width, height = subject.width, subject.height
    window = int(round(WINDOW_FRACTION * width)) // 2 * 2
    hips_x = np.interp(np.arange(subject.frame_indices[-1] + 1), subject.frame_indices, subject.keypoints[:, PELVIS, 0])
    centre = uniform_filter1d(hips_x, FOLLOW_SMOOTH_FRAMES, mode="nearest")
    left = np.clip(np.round(centre - window / 2), 0, width - window).astype(int)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), subject.fps, (window, height))
    for index, frame in iter_frames(video, 0, len(left)):
        writer.write(np.ascontiguousarray(frame[:, left[index] : left[index] + window]))
    writer.release()
    return out, left, window


def path_figures(root_world: np.ndarray) -> dict[str, float]:
    """Length of the ground path (m), its straightness (end-to-end distance / length), and the end-to-end
    displacement along the world's x (the subject's side: the world faces them to -Y at the start) and y."""
    steps = np.linalg.norm(np.diff(root_world[:, :2], axis=0), axis=1)
    length = float(steps.sum())
    dx, dy = (root_world[-1, :2] - root_world[0, :2]).tolist()
    return {"path_m": length, "straightness": float(np.hypot(dx, dy) / max(length, 1e-9)), "dx_m": dx, "dy_m": dy}


def draw_paths(paths: dict[str, np.ndarray], out: Path) -> None:
    """Top view of the world paths (x right, y up in the picture), one colour each, with a 1 m grid."""
    import cv2

    size, margin = 900, 60
    points = np.concatenate([p[:, :2] for p in paths.values()])
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    scale = (size - 2 * margin) / float(np.max(high - low))
    image = np.full((size, size, 3), 255, dtype=np.uint8)

    def pixel(xy: np.ndarray) -> np.ndarray:
        return np.stack([margin + (xy[..., 0] - low[0]) * scale, size - margin - (xy[..., 1] - low[1]) * scale], -1)

    for metre in range(int(math.floor(low[0])), int(math.ceil(high[0])) + 1):
        x = int(pixel(np.array([metre, low[1]]))[0])
        cv2.line(image, (x, 0), (x, size), (225, 225, 225), 1)
    for metre in range(int(math.floor(low[1])), int(math.ceil(high[1])) + 1):
        y = int(pixel(np.array([low[0], metre]))[1])
        cv2.line(image, (0, y), (size, y), (225, 225, 225), 1)
    colours = [(40, 40, 40), (40, 40, 220), (30, 160, 30)]
    for row, ((name, path), colour) in enumerate(zip(paths.items(), colours)):
        polyline = pixel(path[:, :2]).round().astype(np.int32)
        cv2.polylines(image, [polyline], False, colour, 3, cv2.LINE_AA)
        cv2.circle(image, tuple(int(v) for v in polyline[0]), 7, colour, -1)
        cv2.putText(image, name, (20, 30 + 28 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, 2, cv2.LINE_AA)
    cv2.putText(image, "top view, 1 m grid; dot = start", (20, size - 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (90, 90, 90), 1, cv2.LINE_AA)
    common.write_image(out, image)


def measure(out_dir: Path) -> dict:
    from video_mocap.core import camera
    from video_mocap.inference.camera_motion import estimate_camera_motion
    from video_mocap.inference.detect import DetectConfig, detect_video
    from video_mocap.pipeline.stages import make_settings, run_pipeline

    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / "cache"
    reference = run_pipeline(CLIP, make_settings(device="cpu"), cache_dir=cache)
    subject = reference.track
    focal = camera.default_focal(subject.width, subject.height)
    crop, left, window = follow_crop(CLIP, out_dir / "sports2d_following.mp4", subject)
    crop_fov = math.degrees(2 * math.atan(0.5 * window / focal))  # the same focal in pixels
    tracked = {"static original": (reference.motion.frame_indices, reference.solved.root_world)}
    for name, remove in (("following, pan kept", False), ("following, pan removed", True)):
        result = run_pipeline(crop, make_settings(device="cpu", fov_deg=crop_fov, camera_motion=remove), cache_dir=cache)
        tracked[name] = (result.motion.frame_indices, result.solved.root_world)
    # the same video frames for every run (the re-framed clip may track the walker over fewer frames)
    first = max(int(frames[0]) for frames, _ in tracked.values())
    last = min(int(frames[-1]) for frames, _ in tracked.values())
    runs = {name: path[(frames >= first) & (frames <= last)] for name, (frames, path) in tracked.items()}
    found = estimate_camera_motion(crop, list(detect_video(crop, DetectConfig(device="cpu")).tracks.values()),
                                   np.arange(len(left)), focal)
    crop_pan = np.degrees(np.arctan((left - left[0]) / focal))  # the window moving right = a pan to the right
    pan_error = np.abs(found.pan_tilt_roll_deg()[:, 0] - crop_pan[: len(found.frame_indices)])
    FIGURES.mkdir(parents=True, exist_ok=True)
    draw_paths(runs, FIGURES / "pan_paths.png")
    return {"runs": {name: path_figures(path) for name, path in runs.items()}, "frames": [first, last],
            "pan": {"crop_total_deg": float(crop_pan[-1]), "found_total_deg": float(found.pan_tilt_roll_deg()[-1, 0]),
                    "max_error_deg": float(pan_error.max()), "median_error_deg": float(np.median(pan_error)),
                    "moving": found.moving, "weak_pairs": found.weak_pairs}}


def to_markdown(result: dict, meta: dict) -> str:
    pan = result["pan"]
    lines = [*common.header("A panning shot from real footage (issue 25)", meta), "",
             f"Pan made by the crop: {pan['crop_total_deg']:.1f}° in all; found from the background: "
             f"{pan['found_total_deg']:.1f}° (per-frame error median {pan['median_error_deg']:.2f}°, max "
             f"{pan['max_error_deg']:.2f}°; {pan['weak_pairs']} weak frame pairs).", "",
             f"World paths over the video frames every run tracked the walker on ({result['frames'][0]}-"
             f"{result['frames'][1]}):", "",
             "| run | world path | straightness | start to end, x / y |", "|---|---|---|---|"]
    for name, row in result["runs"].items():
        lines.append(f"| {name} | {row['path_m']:.2f} m | {row['straightness']:.2f} | "
                     f"{row['dx_m']:+.2f} / {row['dy_m']:+.2f} m |")
    lines += ["", "![world paths from above](../figures/pan_paths.png)"]
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=OUT / "pan")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    common.quiet_logging()
    if not CLIP.is_file():
        raise SystemExit(f"{CLIP} not found: this bench needs the shared Sports2D demo.")
    start = time.perf_counter()
    result = measure(args.out_dir)
    meta = run_meta(common.command("bench_pan", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start)
    write_results(args.out, "pan", to_markdown(result, meta), {"meta": meta, **result})
    return 0


BENCH = common.Bench("pan", order=77, needs=(CLIP,), needs_hint="the shared Sports2D demo clip")

if __name__ == "__main__":
    sys.exit(run())
