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

from .compat import action_fcurve_collection, assign_action

#: OpenCV camera axes -> Blender camera axes (y down -> y up, z forward -> -z forward)
CV_TO_BLENDER_CAMERA = np.diag([1.0, -1.0, -1.0])
SENSOR_WIDTH_MM = 36.0


def _quaternions(rotations_world: np.ndarray) -> np.ndarray:
    """(K, 3, 3) Blender-camera-axes rotations -> (K, 4) sign-continuous (w, x, y, z)."""
    from scipy.spatial.transform import Rotation

    xyzw = Rotation.from_matrix(rotations_world).as_quat()
    wxyz = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)
    for k in range(1, len(wxyz)):
        if np.dot(wxyz[k], wxyz[k - 1]) < 0.0:
            wxyz[k] = -wxyz[k]
    return wxyz


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
    quats = _quaternions(np.asarray(camera_path["rotations"]) @ CV_TO_BLENDER_CAMERA)
    obj.rotation_quaternion = quats[0].tolist()
    if camera_path.get("moving"):
        action = bpy.data.actions.new(f"{name} Action")
        assign_action(obj, action)
        fcurves = action_fcurve_collection(action, obj)
        frames = np.asarray(solved.frames, dtype=np.float64)
        for axis in range(4):
            curve = fcurves.new("rotation_quaternion", index=axis)
            curve.keyframe_points.add(len(frames))
            coords = np.empty(2 * len(frames))
            coords[0::2], coords[1::2] = frames, quats[:, axis]
            curve.keyframe_points.foreach_set("co", coords.tolist())
            for point in curve.keyframe_points:
                point.interpolation = "LINEAR"
            curve.update()
    return obj


def camera_view_direction(obj, frame: float) -> np.ndarray:
    """(3,) the unit direction a Blender camera looks along at ``frame`` (its local -Z in the world)."""
    context = bpy.context
    context.scene.frame_set(int(math.floor(frame)), subframe=float(frame - math.floor(frame)))
    matrix = np.array(obj.matrix_world)
    direction = -matrix[:3, 2]
    return direction / np.linalg.norm(direction)
