"""Real mocap as the pipeline's cached result: what runs after the networks, without them.

The motion cache is the pipeline's contract (:func:`stages.cache_key` + :func:`stages.store_cached`);
tests and ``bench/bench_reapply.py`` exercise everything *after* the networks (re-apply, operators,
batch outputs) by storing real motion capture there: an HDM05 jog filmed by a virtual camera, and
its exact projection as the 2D track. Nothing here imports bpy, torch or OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import camera
from ..core.errors import VideoMocapError
from ..core.formats import Motion3D, Track2D
from ..rigging.world import view_from_camera
from . import stages

#: the sample clip's frame size and rate (assets/sample/sports2d_walk.mp4)
SAMPLE_WIDTH, SAMPLE_HEIGHT, SAMPLE_FPS = 884, 498, 30.0
#: the HDM05 clip that is seeded (in the shared data's ``hdm05_h36m.npz`` and in ``tests/data/hdm05_fixture.npz``)
HDM05_CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
#: a side view a little from the front, as in the sample clip
VIEW_YAW_DEG, VIEW_TILT_DEG = 80.0, 5.0


def load_clip(hdm05_npz: Path, key: str = HDM05_CLIP) -> np.ndarray:
    """(T, 17, 3) float64 joints (metres, Y up) of one clip of an HDM05 sequence file."""
    if not Path(hdm05_npz).is_file():
        raise VideoMocapError(f"HDM05 mocap not found: {hdm05_npz}. Point it at the shared data's "
                              "data/mocap/hdm05/hdm05_h36m.npz or at tests/data/hdm05_fixture.npz.")
    with np.load(hdm05_npz) as data:
        if key not in data:
            raise VideoMocapError(f"{hdm05_npz} has no clip {key!r}; use a file that holds it.")
        return data[key].astype(np.float64)


def track_and_motion(clip_yup: np.ndarray, frame_start: int, num_frames: int) -> tuple[Track2D, Motion3D]:
    """(T, 17, 3) Y-up mocap as a 2D track of the sample clip's size (its exact projection) and the
    matching camera-frame 3D motion, ``num_frames`` long (the clip played back and forth)."""
    joints_yup = _ping_pong(clip_yup, num_frames)
    rel, root = view_from_camera(joints_yup, yaw_deg=VIEW_YAW_DEG, tilt_deg=VIEW_TILT_DEG)
    focal = camera.default_focal(SAMPLE_WIDTH, SAMPLE_HEIGHT)
    pixels = camera.project(rel + root[:, None, :], focal, SAMPLE_WIDTH, SAMPLE_HEIGHT)
    frames = np.arange(frame_start, frame_start + num_frames)
    scores = np.ones(pixels.shape[:2], dtype=np.float32)
    track = Track2D(pixels, scores, frames, SAMPLE_FPS, SAMPLE_WIDTH, SAMPLE_HEIGHT, track_id=1)
    motion = Motion3D(rel, root, frames, SAMPLE_FPS, "hdm05-mocap", scores=scores)
    return track, motion


def _ping_pong(clip: np.ndarray, num_frames: int) -> np.ndarray:
    """(num_frames, 17, 3): the clip played forwards, backwards, forwards... (continuous) as long as needed."""
    cycle = np.concatenate([clip, clip[-2:0:-1]]) if len(clip) > 2 else clip
    repeats = -(-num_frames // len(cycle))
    return np.concatenate([cycle] * repeats)[:num_frames]


def seed_motion_cache(video: Path, settings: stages.PipelineSettings, cache_dir: Path, hdm05_npz: Path) -> Path:
    """Store the mocap jog as the cached result of ``settings`` on ``video``; returns the motion file."""
    start = settings.detect.frame_start
    if settings.detect.frame_end is None:
        raise VideoMocapError("seed a bounded frame range: set the settings' frame_end.")
    track, motion = track_and_motion(load_clip(hdm05_npz), start, settings.detect.frame_end - start)
    key = stages.cache_key(video, settings, cache_dir)
    return stages.store_cached(cache_dir, key, track, motion)
