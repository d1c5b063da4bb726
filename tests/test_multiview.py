"""Multi-view reference (``training.multiview``): the real Pose2Sim calibration and triangulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.training.multiview import read_qca, reprojection_error, triangulate

CALIBRATION = Path(__file__).resolve().parents[1] / "bench" / "data" / "pose2sim_balancing" / "Calib.qca.txt"
#: an HDM05 jog (any real motion would do)
JOG = "HDM_mm_jogLeftCircle4StepsRstart_011_120"


def _look_at_point(cameras) -> np.ndarray:
    """The world point closest (least squares) to every camera's optical axis."""
    lhs, rhs = np.zeros((3, 3)), np.zeros(3)
    for camera in cameras:
        axis = camera.rotation[2]
        off_axis = np.eye(3) - np.outer(axis, axis)
        lhs += off_axis
        rhs += off_axis @ camera.centre
    return np.linalg.solve(lhs, rhs)


@pytest.fixture(scope="module")
def cameras():
    return read_qca(CALIBRATION)


@pytest.fixture(scope="module")
def person_world(hdm05_clip, cameras) -> np.ndarray:
    """(T, 17, 3) a real HDM05 motion in the calibration's z-up world (mm -> m), standing where the cameras look."""
    joints_y_up = hdm05_clip(JOG)[:8]  # two steps: the jog circles out of the lab later
    joints = np.stack([joints_y_up[..., 0], -joints_y_up[..., 2], joints_y_up[..., 1]], axis=-1)
    floor_centre = _look_at_point(cameras) * np.array([1.0, 1.0, 0.0])
    pelvis_mean = joints[:, 0].mean(axis=0) * np.array([1.0, 1.0, 0.0])
    return joints - pelvis_mean + floor_centre


def test_qca_cameras_are_opencv_cameras_around_the_person(cameras, person_world):
    assert [c.name for c in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    for camera in cameras:
        np.testing.assert_allclose(camera.rotation @ camera.rotation.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(camera.rotation) == pytest.approx(1.0, abs=1e-6)
        assert camera.size in ((1088, 1920),)
        assert 1.5 < camera.centre[2] < 2.5  # the cameras hang about 2 m up ...
        assert camera.rotation[2][2] < 0  # ... and look down
        points_cam = camera.to_camera(person_world)
        assert (points_cam[..., 2] > 1.0).all()  # the person is in front of every camera
        pixels = camera.project(person_world)
        width, height = camera.size
        assert (pixels[..., 0] > 0).all() and (pixels[..., 0] < width).all()
        assert (pixels[..., 1] > 0).all() and (pixels[..., 1] < height).all()
        head_above_feet = pixels[:, 10, 1] < pixels[:, 3, 1]  # image y grows downwards: upright person
        assert head_above_feet.all()


def test_triangulate_recovers_the_motion_from_its_projections(cameras, person_world):
    projections = np.stack([c.projection for c in cameras])
    keypoints = np.stack([c.project(person_world) for c in cameras])
    scores = np.ones(keypoints.shape[:-1])
    points = triangulate(keypoints, scores, projections)
    np.testing.assert_allclose(points, person_world, atol=1e-6)
    assert np.nanmax(reprojection_error(points, keypoints, scores, cameras)) < 1e-3

    # a low-score view is left out, not averaged in: shift its detections far off and the result holds
    scores[0, :, 3] = 0.1
    keypoints[0, :, 3] += 200.0
    points = triangulate(keypoints, scores, projections)
    np.testing.assert_allclose(points, person_world, atol=1e-6)
    assert np.isnan(reprojection_error(points, keypoints, scores, cameras)[0, :, 3]).all()

    # a joint seen by fewer than two views is missing
    scores[1:3, :, 3] = 0.0
    points = triangulate(keypoints, scores, projections)
    assert np.isnan(points[:, 3]).all()
    np.testing.assert_allclose(np.delete(points, 3, axis=1), np.delete(person_world, 3, axis=1), atol=1e-6)


def test_triangulate_weighs_views_by_score(cameras, person_world):
    """With one view's detections off by a few pixels, the triangulation lands nearer the truth the lower its score."""
    projections = np.stack([c.projection for c in cameras])
    keypoints = np.stack([c.project(person_world) for c in cameras])
    keypoints[0] += 15.0
    errors = []
    for score in (1.0, 0.5, 0.3):
        scores = np.ones(keypoints.shape[:-1])
        scores[0] = score
        errors.append(np.linalg.norm(triangulate(keypoints, scores, projections) - person_world, axis=-1).mean())
    assert errors[0] > errors[1] > errors[2] > 0


def test_read_qca_rejects_other_files(tmp_path):
    not_xml = tmp_path / "calib.toml"
    not_xml.write_text("[cam_1]\nname = 'cam01'\n")
    with pytest.raises(VideoMocapError, match="Qualisys"):
        read_qca(not_xml)
    no_cameras = tmp_path / "empty.qca.txt"
    no_cameras.write_text("<calibration><cameras/></calibration>")
    with pytest.raises(VideoMocapError, match="no cameras"):
        read_qca(no_cameras)
    broken = tmp_path / "broken.qca.txt"
    broken.write_text(CALIBRATION.read_text().replace('focalLengthU="107599.671875"', 'focalLengthU="n/a"'))
    with pytest.raises(VideoMocapError, match="cam01.*focalLengthU"):
        read_qca(broken)
