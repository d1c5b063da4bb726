"""Test helper: put a real mocap motion into the pipeline's motion cache for the sample clip.

The lifter weights are trained in parallel; until ``weights/<model>.safetensors`` exists the
networks cannot run. The cache is the pipeline's contract (``pipeline.cache_key`` +
``pipeline.store_cached``), so tests of everything *after* the networks (re-apply, operators,
batch outputs) seed it with real motion capture: an HDM05 jog filmed by a virtual camera, and
its exact projection as the 2D track. Nothing here imports bpy, torch or OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from video_mocap.core import lifters
from video_mocap.pipeline import stages as pipeline
from video_mocap.core import camera
from video_mocap.core.formats import Motion3D, Track2D
from video_mocap.inference.weights import default_weights_path
from video_mocap.rigging.world import view_from_camera

#: the sample clip's frame size and rate (assets/sample/sports2d_walk.mp4)
SAMPLE_WIDTH, SAMPLE_HEIGHT, SAMPLE_FPS = 884, 498, 30.0
HDM05_FILE = Path("data/mocap/hdm05/hdm05_h36m.npz")
HDM05_CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
#: a side view a little from the front, as in the sample clip
VIEW_YAW_DEG, VIEW_TILT_DEG = 80.0, 5.0


def mocap_track_and_motion(shared_dir: Path, frame_start: int, num_frames: int) -> tuple[Track2D, Motion3D]:
    """(T, 17) real mocap as a 2D track (its projection) and the matching camera-frame 3D motion."""
    path = shared_dir / HDM05_FILE
    if not path.is_file():
        pytest.skip(f"HDM05 mocap not found: {path}")
    with np.load(path) as data:
        clip = data[HDM05_CLIP].astype(np.float64)
    joints_yup = _ping_pong(clip, num_frames)
    rel, root = view_from_camera(joints_yup, yaw_deg=VIEW_YAW_DEG, tilt_deg=VIEW_TILT_DEG)
    focal = camera.focal_from_fov(SAMPLE_WIDTH)
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


def seed_motion_cache(video: Path, settings: pipeline.PipelineSettings, cache_dir: Path, shared_dir: Path) -> Path:
    """Store the mocap motion as the cached result of ``settings`` on ``video``; returns the motion file."""
    start = settings.detect.frame_start
    assert settings.detect.frame_end is not None, "seed a bounded frame range"
    track, motion = mocap_track_and_motion(shared_dir, start, settings.detect.frame_end - start)
    key = pipeline.cache_key(video, settings, cache_dir)
    return pipeline.store_cached(cache_dir, key, track, motion)


def trained_lifter_or_skip() -> str:
    """The first user-facing lifter whose trained weights are in place (in ``lifters.USER_LIFTERS`` order: the default first), or skip."""
    for model in lifters.USER_LIFTERS:
        if default_weights_path(model).is_file():
            return model
    paths = ", ".join(str(default_weights_path(m)) for m in lifters.USER_LIFTERS)
    pytest.skip(f"no trained lifter weights yet ({paths}); the full network run needs them")
