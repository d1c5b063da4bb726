"""Picture of the pipeline on real video: 2D skeleton on the frame beside the lifted 3D skeleton.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.draw_skeletons [--model posemoe] [--frames 4]

For a few frames of each real clip of ``bench/bench_real_video.py`` (the sample clip's walker and
rooftop person, and the Pose2Sim balance clip) one row shows: the video frame with the detected 2D skeleton
(H36M-17, left side blue, right side red, centre green), the 3D skeleton of the default lifter
seen from the person's side (profile: horizontal = the body's forward direction, vertical = up),
and seen from above (horizontal = camera x, vertical = depth away from the camera). For the
balance clip, the 3D panels also show, in grey, the multi-view reference of
``bench/bench_multiview.py`` (its four calibrated views triangulated). OpenCV draws
everything on numpy canvases (no matplotlib). Writes ``bench/figures/sample_skeletons.png``
(walker), ``bench/figures/rooftop_skeletons.png`` and ``bench/figures/balance_skeletons.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

from video_mocap.core.lifters import DEFAULT_LIFTER

from . import common
from .bench_multiview import DATA as MULTIVIEW_DATA, reference_in_view
from .bench_real_video import SAMPLE, SECOND_VIDEO, real_clips
from .common import FIGURES

FIGURE_NAMES = {"walker": "sample_skeletons.png", "rooftop": "rooftop_skeletons.png", "balance": "balance_skeletons.png"}

ROW_HEIGHT = 300  # pixels per row
PANEL_3D = 300  # square 3D panels
VIEW_HALF_EXTENT_M = 1.1  # a 3D panel shows +-1.1 m around the pelvis
LINE = 3
JOINT_RADIUS = 3
LABEL_SCALE = 0.5
BGR_LEFT = (255, 120, 40)
BGR_RIGHT = (40, 40, 230)
BGR_CENTRE = (40, 180, 40)
BGR_PANEL = (245, 245, 245)
BGR_GRID = (200, 200, 200)
BGR_TEXT = (20, 20, 20)
BGR_REFERENCE = (150, 150, 150)
#: the real clip with a multi-view reference, and the reference's camera
REFERENCE_CLIP, REFERENCE_VIEW = "balance", "cam01"
MIN_SCORE_DRAWN = 0.05
CROP_MARGIN = 0.25  # crop around the person: their box grown by this fraction of its height
CROP_ASPECT = 0.8  # crop width / height


def bone_color(child: int) -> tuple[int, int, int]:
    from video_mocap.core.skeleton import LEFT_JOINTS, RIGHT_JOINTS

    if child in LEFT_JOINTS:
        return BGR_LEFT
    if child in RIGHT_JOINTS:
        return BGR_RIGHT
    return BGR_CENTRE


def draw_skeleton(canvas: np.ndarray, points: np.ndarray, visible: np.ndarray | None = None,
                  color: tuple[int, int, int] | None = None) -> None:
    """Draw (17, 2) pixel points (x right, y down) onto ``canvas`` in place (``color``: one colour for all bones)."""
    import cv2

    from video_mocap.core.skeleton import BONES

    for parent, child in BONES:
        if visible is not None and not (visible[parent] and visible[child]):
            continue
        a = tuple(int(round(v)) for v in points[parent])
        b = tuple(int(round(v)) for v in points[child])
        cv2.line(canvas, a, b, color or bone_color(child), LINE, cv2.LINE_AA)
    for j, p in enumerate(points):
        if visible is None or visible[j]:
            cv2.circle(canvas, tuple(int(round(v)) for v in p), JOINT_RADIUS, (0, 0, 0), -1, cv2.LINE_AA)


def body_axes(joints3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit (forward, up) of the body in camera axes from a clip's (T, 17, 3) joints (y down).

    up = -y (camera up); forward = horizontal, perpendicular to the mean right-to-left hip line.
    """
    from video_mocap.core.skeleton import JOINT_INDEX

    lr = (joints3d[:, JOINT_INDEX["left_hip"]] - joints3d[:, JOINT_INDEX["right_hip"]]).mean(axis=0)
    up = np.array([0.0, -1.0, 0.0])
    lr = lr - up * (lr @ up)
    forward = np.cross(lr, up)  # (left, up, forward) is right-handed, as the camera axes are
    forward = forward / max(np.linalg.norm(forward), 1e-9)
    return forward, up


def panel(points_m: np.ndarray, label: str, reference_m: np.ndarray | None = None) -> np.ndarray:
    """A square panel with (17, 2) metres (horizontal, vertical-up) around 0 drawn on a grid, over the
    (17, 2) ``reference_m`` in grey (NaN: joints it lacks) when given."""
    import cv2

    canvas = np.full((PANEL_3D, PANEL_3D, 3), BGR_PANEL, np.uint8)
    scale = PANEL_3D / (2 * VIEW_HALF_EXTENT_M)
    centre = PANEL_3D / 2
    for k in range(-2, 3):  # 0.5 m grid
        v = int(round(centre + k * 0.5 * scale))
        cv2.line(canvas, (v, 0), (v, PANEL_3D), BGR_GRID, 1)
        cv2.line(canvas, (0, v), (PANEL_3D, v), BGR_GRID, 1)
    def to_pixels(points: np.ndarray) -> np.ndarray:
        return np.stack([centre + points[:, 0] * scale, centre - points[:, 1] * scale], axis=-1)

    if reference_m is not None:
        present = np.isfinite(reference_m).all(axis=-1)
        draw_skeleton(canvas, np.nan_to_num(to_pixels(reference_m)), present, BGR_REFERENCE)
    draw_skeleton(canvas, to_pixels(points_m))
    cv2.putText(canvas, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, LABEL_SCALE, BGR_TEXT, 1, cv2.LINE_AA)
    return canvas


def read_frames(video: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """The frames ``wanted`` of ``video`` as the 2D stage decodes them (displayed orientation)."""
    from video_mocap.inference.video import iter_frames

    last = max(wanted)
    return {index: frame.copy() for index, frame in iter_frames(video, 0, last + 1) if index in wanted}


def crop_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) crop around (17, 2) pixel points, grown by the margin, clamped to the image."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    h = (hi[1] - lo[1]) * (1 + 2 * CROP_MARGIN)
    w = max(hi[0] - lo[0] + 2 * CROP_MARGIN * (hi[1] - lo[1]), CROP_ASPECT * h)
    cx, cy = (lo + hi) / 2
    x0, x1 = int(max(0, cx - w / 2)), int(min(width, cx + w / 2))
    y0, y1 = int(max(0, cy - h / 2)), int(min(height, cy + h / 2))
    return x0, y0, x1, y1


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """Fit an image into a black ``size`` x ``size`` square, keeping its aspect ratio."""
    import cv2

    scale = size / max(image.shape[:2])
    w, h = max(1, int(round(image.shape[1] * scale))), max(1, int(round(image.shape[0] * scale)))
    small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size, 3), np.uint8)
    x0, y0 = (size - w) // 2, (size - h) // 2
    out[y0 : y0 + h, x0 : x0 + w] = small
    return out


def side_and_top(joints: np.ndarray, forward: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(17, 3) camera-axes joints -> (17, 2) seen from the person's side (forward right, up up) and
    (17, 2) from above (camera x right, depth up the panel)."""
    j = joints.astype(np.float64)
    return np.stack([j @ forward, j @ up], axis=-1), np.stack([j[:, 0], j[:, 2]], axis=-1)


def figure(video: Path, track, joints3d: np.ndarray, num: int, title: str,
           reference3d: np.ndarray | None = None) -> np.ndarray:
    """Rows of [frame + 2D | profile 3D | top 3D] for ``num`` evenly spaced frames of the track; the
    (T, 17, 3) ``reference3d`` (root-relative, camera axes) drawn in grey behind the 3D when given."""
    import cv2

    rows_idx = np.linspace(0, track.num_frames - 1, num + 2)[1:-1].round().astype(int)
    frames = read_frames(video, [int(track.frame_indices[i]) for i in rows_idx])
    forward, up = body_axes(joints3d)
    rows = []
    for i in rows_idx:
        vf = int(track.frame_indices[i])
        image = frames[vf].copy()
        draw_skeleton(image, track.keypoints[i], track.scores[i] > MIN_SCORE_DRAWN)
        x0, y0, x1, y1 = crop_box(track.keypoints[i], image.shape[1], image.shape[0])
        image = image[y0:y1, x0:x1]
        image = letterbox(image, ROW_HEIGHT)
        cv2.rectangle(image, (0, 0), (ROW_HEIGHT, 28), (0, 0, 0), -1)
        cv2.putText(image, f"{title}, video frame {vf}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, LABEL_SCALE,
                    (255, 255, 255), 1, cv2.LINE_AA)
        profile, top = side_and_top(joints3d[i], forward, up)
        ref_profile, ref_top = (None, None) if reference3d is None else side_and_top(reference3d[i], forward, up)
        side_label = "3D, side (forward ->)" if reference3d is None else "3D side; grey: 4-view ref."
        rows.append(np.hstack([
            image,
            panel(profile, side_label, ref_profile),
            panel(top, "3D, from above (depth ^)", ref_top),
        ]))
    return np.vstack(rows)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=SAMPLE)
    parser.add_argument("--second-video", type=Path, default=SECOND_VIDEO)
    parser.add_argument("--model", default=DEFAULT_LIFTER, help=f"lifter (default: the product's, {DEFAULT_LIFTER})")
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--out", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import cv2
    import torch

    from video_mocap.inference.lifter import lift_track

    torch.set_num_threads(1)
    lifter = common.load_shipped_lifter(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for clip, (video, track) in real_clips(args.video, args.second_video).items():
        motion = lift_track(track, lifter)
        reference = reference_in_view(MULTIVIEW_DATA, REFERENCE_VIEW) if clip == REFERENCE_CLIP else None
        image = figure(video, track, motion.joints3d, args.frames, f"{clip} ({args.model})", reference)
        path = args.out / FIGURE_NAMES[clip]
        size = common.write_image(path, image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(f"wrote {path} ({size / 1024:.0f} KiB)")
    return 0


#: the pictures of BENCHMARKS.md (no figures of its own): not part of run_all's default run
BENCH = common.Bench("skeletons", order=120, in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
