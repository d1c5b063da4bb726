"""A panning camera in the solve and in Blender (bpy 5.0 and 4.2 LTS): a real HDM05 jog filmed by a
camera that turns to follow it. With the camera's rotation in the motion file the world root runs
where the mocap ran; the keyed Blender camera turns by the pan."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from scipy.spatial.transform import Rotation  # noqa: E402

from video_mocap.blender.camera import camera_view_direction, create_footage_camera  # noqa: E402
from video_mocap.core.formats import CAMERA_ROTATION, Motion3D  # noqa: E402
from video_mocap.rigging import solve as S  # noqa: E402

FPS = 30.0
CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
FRAMES = 50
#: the camera's turn over the clip, degrees (about its own y axis: it follows the runner)
PAN_DEG = 25.0


def _panned_motion(joints_yup: np.ndarray, with_rotation: bool) -> tuple[Motion3D, np.ndarray]:
    """(motion seen by the panning camera, (T, 3) the true root in the first camera's axes)."""
    joints = joints_yup[:FRAMES]
    first_cam = np.stack([joints[..., 0], -joints[..., 1], -joints[..., 2]], axis=-1)  # y down, facing the camera
    first_cam = first_cam - first_cam[:1, :1] * np.array([1.0, 0.0, 1.0]) + np.array([0.0, 0.0, 5.0])
    turns = Rotation.from_euler("y", np.linspace(0.0, PAN_DEG, FRAMES)[:, None], degrees=True).as_matrix()  # t -> first
    seen = np.einsum("tji,tnj->tni", turns, first_cam)  # first -> t: the transposes
    root = seen[:, 0]
    motion = Motion3D(seen - root[:, None], root, np.arange(FRAMES), FPS, "hdm05",
                      extras={CAMERA_ROTATION: turns} if with_rotation else {})
    return motion, first_cam[:, 0]


@pytest.fixture
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def test_pan_is_taken_out_of_the_world_root(hdm05_clip):
    motion, root_first = _panned_motion(hdm05_clip(CLIP), with_rotation=True)
    config = S.SolveConfig(smoothing=0.0, foot_lock=False)
    panned = S.solve(motion, config)
    still, _ = _panned_motion(hdm05_clip(CLIP), with_rotation=False)
    ignored = S.solve(still, config)
    true_path = np.linalg.norm(root_first[-1] - root_first[0])
    got_path = np.linalg.norm(panned.root_world[-1, :2] - panned.root_world[0, :2])
    ignored_path = np.linalg.norm(ignored.root_world[-1, :2] - ignored.root_world[0, :2])
    assert got_path == pytest.approx(true_path, rel=0.05, abs=0.05)
    assert abs(ignored_path - true_path) > 0.5  # without the rotation the runner stays near the image centre
    assert panned.info["camera"]["moving"] and not ignored.info["camera"]["moving"]


def test_footage_camera_is_keyed_with_the_pan(empty_scene, hdm05_clip):
    motion, _ = _panned_motion(hdm05_clip(CLIP), with_rotation=True)
    motion.extras.update({"focal_px": np.float32(1000.0), "width": np.int32(1920), "height": np.int32(1080)})
    solved = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False))
    camera = create_footage_camera(solved)
    assert camera is not None and camera.type == "CAMERA"
    assert camera.data.lens == pytest.approx(1000.0 / 1920 * 36.0)
    first = camera_view_direction(camera, float(solved.frames[0]))
    last = camera_view_direction(camera, float(solved.frames[-1]))
    assert abs(first[2]) < 0.2 and abs(last[2]) < 0.2  # a level camera stays level
    turned = np.degrees(np.arccos(np.clip(np.dot(first[:2], last[:2]) / np.linalg.norm(first[:2]) /
                                          np.linalg.norm(last[:2]), -1, 1)))
    assert turned == pytest.approx(PAN_DEG, abs=1.0)
