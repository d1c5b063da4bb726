"""The focal length assumed when the user gives none (``core.camera.default_focal``), on real data:
the balance recording's calibrated cameras and a real HDM05 motion seen through them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from video_mocap.core import camera
from video_mocap.inference.trajectory import recover_root
from video_mocap.training.multiview import read_qca

CALIBRATION = Path(__file__).resolve().parents[1] / "bench" / "data" / "pose2sim_balancing" / "Calib.qca.txt"
#: issue 23's target for a focal length found without the user's help
MAX_FOCAL_ERROR = 0.25
#: an HDM05 jog (any real motion would do; in the committed fixture)
JOG = "HDM_mm_jogLeftCircle4StepsRstart_011_120"


@pytest.fixture(scope="module")
def cameras():
    return read_qca(CALIBRATION)


def test_portrait_and_landscape_share_the_long_side_field_of_view():
    assert camera.default_focal(1080, 1920) == pytest.approx(camera.default_focal(1920, 1080))
    assert camera.default_focal(1920, 1080) == pytest.approx(camera.focal_from_fov(1920, camera.DEFAULT_FOV_DEG))
    fov_long = 2 * math.degrees(math.atan(0.5 * 1920 / camera.default_focal(1080, 1920)))
    assert fov_long == pytest.approx(camera.DEFAULT_FOV_DEG)


def test_default_focal_is_within_target_on_the_calibrated_views(cameras):
    for cam in cameras:
        width, height = cam.size
        error = camera.default_focal(width, height) / cam.intrinsics[0, 0] - 1.0
        assert abs(error) < MAX_FOCAL_ERROR, (cam.name, error)


def test_root_depth_with_the_default_focal(cameras, hdm05_clip):
    """A real jog placed 3.5 m in front of a calibrated portrait camera: the root fitted with the
    default focal is at the true depth within 10 %, where the old 60°-across-the-width default put it
    about 44 % too close."""
    cam = cameras[0]
    width, height = cam.size
    joints_y_up = hdm05_clip(JOG)[:30]
    joints = np.stack([joints_y_up[..., 0], -joints_y_up[..., 1], joints_y_up[..., 2]], axis=-1)  # y down
    joints_rel = joints - joints[:, :1]
    root_true = np.array([0.1, 0.2, 3.5])
    true_focal = float(cam.intrinsics[0, 0])
    pixels = camera.project(joints_rel + root_true, true_focal, width, height)
    scores = np.ones(pixels.shape[:2], dtype=np.float32)
    depth = recover_root(joints_rel, pixels, scores, camera.default_focal(width, height), width, height)[:, 2]
    old = recover_root(joints_rel, pixels, scores, camera.focal_from_fov(width, 60.0), width, height)[:, 2]
    assert np.median(np.abs(depth / root_true[2] - 1.0)) < 0.10
    assert np.median(old / root_true[2]) < 0.7
