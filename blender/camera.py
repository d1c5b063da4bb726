"""The footage's camera as a keyed Blender camera (bpy adapter), so a panning shot lines up.

The solve places the footage's camera in the world (``SolvedMotion.info["camera"]``, see
``rigging.solve.camera_path``): its centre, and per key the rotation of its OpenCV axes (x right,
y down, z forward) into the world. A Blender camera looks down its local -Z with +Y up, so its
world matrix is that rotation with y and z turned round. The lens comes from the focal length the
root was fitted with (sensor fitted to the image width).
"""

from __future__ import annotations

import math

import bpy
import numpy as np

from ..rigging.solve import make_continuous, matrix_to_quat
from .armature import DEFAULT_INTERPOLATION, _check_interpolation, write_fcurve
from .compat import action_fcurve_collection, assign_action

#: OpenCV camera axes -> Blender camera axes (y down -> y up, z forward -> -z forward)
CV_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0])
SENSOR_WIDTH_MM = 36.0


def create_footage_camera(solved, name: str = "Video Mocap Camera", context=None):
    """A camera keyed like the footage's (``solved.info["camera"]``); returns it, or None when the
    solve recorded no camera. The scene's active camera is left as it is."""
    camera_path = solved.info.get("camera")
    if camera_path is None:
        return None
    context = context if context is not None else bpy.context
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = SENSOR_WIDTH_MM
    if camera_path.get("focal_px") and camera_path.get("width"):
        data.lens = camera_path["focal_px"] / camera_path["width"] * SENSOR_WIDTH_MM
    obj = bpy.data.objects.new(name, data)
    context.collection.objects.link(obj)
    obj.location = [float(v) for v in camera_path["position"]]
    obj.rotation_mode = "QUATERNION"
    quats = make_continuous(matrix_to_quat(np.asarray(camera_path["rotations"]) @ CV_TO_BLENDER_CAMERA))
    obj.rotation_quaternion = quats[0].tolist()
    if camera_path.get("moving"):
        action = bpy.data.actions.new(f"{name} Action")
        assign_action(obj, action)
        fcurves = action_fcurve_collection(action, obj)
        interpolation = _check_interpolation(DEFAULT_INTERPOLATION)
        for axis in range(4):
            write_fcurve(fcurves, "rotation_quaternion", axis, solved.frames, quats[:, axis], "Object Transforms",
                         interpolation)
    return obj


def camera_view_direction(obj, frame: float) -> np.ndarray:
    """(3,) the unit direction a Blender camera looks along at ``frame`` (its local -Z in the world)."""
    context = bpy.context
    context.scene.frame_set(int(math.floor(frame)), subframe=float(frame - math.floor(frame)))
    matrix = np.array(obj.matrix_world)
    direction = -matrix[:3, 2]
    return direction / np.linalg.norm(direction)
