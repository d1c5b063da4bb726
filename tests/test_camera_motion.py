"""The camera's rotation from the background (``inference.camera_motion``), on synthetic footage with
a known answer: a textured background seen through a camera that pans (and tilts a little) by known
angles, with a figure moving across it on its own."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from video_mocap.core.formats import Track2D
from video_mocap.core.skeleton import NUM_JOINTS
from video_mocap.core.camera import to_first_camera
from video_mocap.inference.camera_motion import estimate_camera_motion

WIDTH, HEIGHT, FOCAL, FPS = 640, 360, 500.0, 30.0
FRAMES = 45
#: the pan (about the camera's y axis, + = right) and tilt per frame, degrees
PAN_PER_FRAME_DEG, TILT_PER_FRAME_DEG = 0.45, -0.08
#: issue 25's bound on the recovered angle, per frame
MAX_ERROR_DEG = 1.0
CANVAS_W, CANVAS_H = 1800, 900


def _texture(seed: int = 0) -> np.ndarray:
    """A background with structure at several scales: blurred noise plus random boxes and lines."""
    rng = np.random.default_rng(seed)
    noise = rng.random((CANVAS_H, CANVAS_W)).astype(np.float32)
    canvas = cv2.GaussianBlur(noise, (0, 0), 3.0)
    canvas = (255 * (canvas - canvas.min()) / np.ptp(canvas)).astype(np.uint8)
    canvas = cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)
    for _ in range(250):
        x, y = int(rng.integers(0, CANVAS_W)), int(rng.integers(0, CANVAS_H))
        w, h = int(rng.integers(8, 60)), int(rng.integers(8, 60))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, -1 if rng.random() < 0.5 else 2)
    return canvas


def _camera_rotation(frame: int) -> np.ndarray:
    """First camera's axes -> frame's camera axes for a camera turned right by the pan and down by the tilt."""
    turn = Rotation.from_euler("YX", [PAN_PER_FRAME_DEG * frame, TILT_PER_FRAME_DEG * frame], degrees=True)
    return turn.as_matrix().T  # points turn the other way round


@pytest.fixture(scope="module")
def panning_clip(tmp_path_factory):
    """(video path, figure track): the clip and the moving figure's 2D track (its box corners)."""
    canvas = _texture()
    camera = np.array([[FOCAL, 0, WIDTH / 2], [0, FOCAL, HEIGHT / 2], [0, 0, 1]])
    canvas_camera = np.array([[FOCAL, 0, CANVAS_W / 2], [0, FOCAL, CANVAS_H / 2], [0, 0, 1]])
    path = tmp_path_factory.mktemp("pan") / "pan.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    keypoints = np.zeros((FRAMES, NUM_JOINTS, 2), dtype=np.float32)
    for t in range(FRAMES):
        homography = camera @ _camera_rotation(t) @ np.linalg.inv(canvas_camera)
        frame = cv2.warpPerspective(canvas, homography, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
        # the figure: runs left to right across the image, whatever the camera does
        cx, cy = int(120 + 8 * t), 200
        cv2.ellipse(frame, (cx, cy), (22, 60), 0, 0, 360, (40, 40, 220), -1)
        cv2.circle(frame, (cx, cy - 80), 18, (60, 180, 240), -1)
        writer.write(frame)
        corners = np.array([[cx - 22, cy - 98], [cx + 22, cy + 60]], dtype=np.float32)
        keypoints[t] = np.resize(corners, (NUM_JOINTS, 2))
    writer.release()
    figure = Track2D(keypoints=keypoints, scores=np.ones((FRAMES, NUM_JOINTS), dtype=np.float32),
                     frame_indices=np.arange(FRAMES), fps=FPS, width=WIDTH, height=HEIGHT)
    return path, figure


def test_a_known_pan_is_recovered_within_one_degree_per_frame(panning_clip):
    path, figure = panning_clip
    motion = estimate_camera_motion(path, [figure], figure.frame_indices, FOCAL)
    assert motion.moving
    angles = motion.pan_tilt_roll_deg()
    frames = np.arange(FRAMES)
    pan_error = np.abs(angles[:, 0] - PAN_PER_FRAME_DEG * frames)
    tilt_error = np.abs(angles[:, 1] - TILT_PER_FRAME_DEG * frames)
    assert pan_error.max() < MAX_ERROR_DEG, pan_error.max()
    assert tilt_error.max() < MAX_ERROR_DEG, tilt_error.max()
    assert np.abs(angles[:, 2]).max() < MAX_ERROR_DEG
    # a point fixed in the world stays fixed once the rotation is taken out
    ahead = np.array([0.0, 0.0, 10.0])
    seen = np.stack([_camera_rotation(t) @ ahead for t in frames])[:, None]
    fixed = to_first_camera(seen, motion.rotations)[:, 0]
    assert np.linalg.norm(fixed - ahead, axis=1).max() < 10.0 * math.radians(MAX_ERROR_DEG)


def test_a_static_camera_is_left_as_it_is(tmp_path):
    canvas = _texture(seed=1)[:HEIGHT, :WIDTH]
    path = tmp_path / "static.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    keypoints = np.zeros((20, NUM_JOINTS, 2), dtype=np.float32)
    for t in range(20):
        frame = canvas.copy()
        cx = 100 + 10 * t
        cv2.ellipse(frame, (cx, 200), (22, 60), 0, 0, 360, (40, 40, 220), -1)
        writer.write(frame)
        keypoints[t] = np.resize(np.array([[cx - 22, 140], [cx + 22, 260]], dtype=np.float32), (NUM_JOINTS, 2))
    writer.release()
    figure = Track2D(keypoints=keypoints, scores=np.ones((20, NUM_JOINTS), dtype=np.float32),
                     frame_indices=np.arange(20), fps=FPS, width=WIDTH, height=HEIGHT)
    motion = estimate_camera_motion(path, [figure], figure.frame_indices, FOCAL)
    assert not motion.moving
    np.testing.assert_array_equal(motion.rotations, np.tile(np.eye(3), (20, 1, 1)))
