"""Picture of what the user gets: the video frame with the 2D skeleton and the solved armature's joints
projected back onto it.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.draw_solved [--frames 4] [--clip NAME=VIDEO ...]

For each clip, one row of frames (evenly spread over the subject's track): the frame as the 2D stage
decodes it (rotation metadata applied), cropped around the person, with the detected 2D skeleton
(H36M-17, thick: left blue, right red, centre green; a joint the 2D stage filled, score 0, is not
drawn) and, thin and white, the joints of the solved armature (``rigging.solve``: smoothed, constant
bone lengths, feet locked) projected through the lifter's camera; the solved head joint is a yellow
dot. A 2D/3D mismatch, a head that points the wrong way or a foot off the ground shows at a glance.
Clips: the sample (a side-on walk), ``bench/data/pose2sim_multiperson/cam04.mp4`` (a real portrait
clip no test or bench uses: a man side-on, lunging and swinging his arms) and ``tests/data/walk_rot90.mp4``
(the sample stored sideways with rotation metadata, as phones write portrait video). Writes
``bench/figures/<clip>_solved.jpg``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np

from . import common
from .common import DATA, FIGURES, OUT, REPO, SAMPLE
from .draw_skeletons import LABEL_SCALE, crop_box, draw_skeleton, letterbox, read_frames

CLIPS: dict[str, Path] = {
    "sample": SAMPLE,
    "multiperson": DATA / "pose2sim_multiperson" / "cam04.mp4",
    "rotated": REPO / "tests" / "data" / "walk_rot90.mp4",
}
TILE = 360  # pixels per frame tile
SOLVED_BGR = (255, 255, 255)
SOLVED_LINE = 1
HEAD_BGR = (0, 230, 255)
MIN_SCORE_DRAWN = 0.05


def solved_in_image(motion, solved, face: str) -> np.ndarray:
    """(K, 17, 2) pixels: the solved armature's joints (``solved.joints_world``, Blender world) taken
    back to the lifter's camera (the inverse of the solve's camera-to-world transform) and projected."""
    from video_mocap.core import camera
    from video_mocap.rigging.world import camera_to_world

    cam = np.asarray(motion.joints3d, np.float64) + np.asarray(motion.root, np.float64)[:, None, :]
    world = camera_to_world(cam, face=face)
    back = (np.asarray(solved.joints_world, np.float64) - world.translation) @ world.rotation
    focal = float(motion.extras["focal_px"])
    return camera.project(back, focal, int(motion.extras["width"]), int(motion.extras["height"]))


def clip_row(name: str, video: Path, num: int, cache: Path) -> np.ndarray:
    """One row of ``num`` tiles for ``video`` (runs the pipeline, cached under ``cache``)."""
    import cv2

    from video_mocap.core.skeleton import JOINT_INDEX
    from video_mocap.pipeline.stages import PipelineSettings, run_pipeline

    settings = PipelineSettings()
    result = run_pipeline(video, settings, cache_dir=cache)
    track, motion, solved = result.track, result.motion, result.solved
    projected = solved_in_image(motion, solved, settings.solve.face)
    key_times = np.asarray(solved.info["times_s"], np.float64)
    rows = np.linspace(0, track.num_frames - 1, num + 2)[1:-1].round().astype(int)
    frames = read_frames(video, [int(track.frame_indices[i]) for i in rows])
    tiles = []
    for i in rows:
        key = int(np.argmin(np.abs(key_times - track.frame_times()[i])))  # the key at this frame's time
        image = frames[int(track.frame_indices[i])].copy()
        draw_skeleton(image, track.keypoints[i], track.scores[i] > MIN_SCORE_DRAWN)
        points = projected[key]
        from video_mocap.core.skeleton import BONES

        for parent, child in BONES:
            a = tuple(int(round(v)) for v in points[parent])
            b = tuple(int(round(v)) for v in points[child])
            cv2.line(image, a, b, SOLVED_BGR, SOLVED_LINE, cv2.LINE_AA)
        head = tuple(int(round(v)) for v in points[JOINT_INDEX["head"]])
        cv2.circle(image, head, 4, HEAD_BGR, -1, cv2.LINE_AA)
        both = np.concatenate([track.keypoints[i], points])
        x0, y0, x1, y1 = crop_box(both, image.shape[1], image.shape[0])
        tile = letterbox(image[y0:y1, x0:x1], TILE)
        cv2.rectangle(tile, (0, 0), (TILE, 24), (0, 0, 0), -1)
        label = f"{name} {track.width}x{track.height}, frame {int(track.frame_indices[i])}"
        cv2.putText(tile, label, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, LABEL_SCALE, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    return np.hstack(tiles)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--clip", action="append", default=[], metavar="NAME=VIDEO",
                        help="draw this clip instead of the default ones (repeatable)")
    parser.add_argument("--out", type=Path, default=FIGURES)
    parser.add_argument("--cache", type=Path, default=OUT / "draw_solved", help="the pipeline's cache folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import cv2

    clips = dict(item.split("=", 1) for item in args.clip) if args.clip else CLIPS
    args.out.mkdir(parents=True, exist_ok=True)
    for name, video in clips.items():
        image = clip_row(name, Path(video), args.frames, args.cache)
        path = args.out / f"{name}_solved.jpg"
        size = common.write_image(path, image, [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"wrote {path} ({size / 1024:.0f} KiB)")
    return 0


#: pictures for BENCHMARKS.md (no figures of its own): not part of run_all's default run
BENCH = common.Bench("solved_pictures", order=121, in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
