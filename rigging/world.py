"""Camera space -> Blender world: ground plane, up axis, facing, subject on the floor.

Steps (all pure numpy, see :func:`camera_to_world`):

1. Axes: OpenCV camera axes (x right, y down, z forward) -> Blender axes with the camera
   looking along +Y: ``(x, y, z) -> (x, z, -y)`` (:data:`CV_TO_BLENDER`).
2. Up prior: the body's balance line (:func:`body_up`: mid-ankles -> mean of the joints,
   median over the upright frames) is close to vertical whatever the camera's pitch; the
   world is first turned so that it is +Z (a level camera's up when the body never stands).
3. Ground plane: the lower ankle of every frame is a floor-contact candidate. A plane
   ``z = a x + b y + c`` is fitted to them by least squares with a ridge prior towards the up
   prior (``a = b = 0``), so a clip whose contacts lie on a line (walking straight) or in one
   spot (standing) keeps the prior in the directions the data cannot tell. Candidates high
   above the lower envelope (jumps, a lifted foot) are trimmed and the fit repeated. The world
   is then rotated so the plane normal is +Z; tilts beyond :data:`MAX_GROUND_TILT_DEG` are
   treated as a failed fit.
4. Height: the contact ankles are put :data:`ANKLE_HEIGHT_M` above the floor (Z = 0).
5. Facing: a yaw about Z turns the subject's initial facing (mean over the first
   :data:`FACING_FRAMES` frames, from the hip and shoulder lines) to ``face`` ("-Y" =
   towards Blender's front view, the default), or keeps the camera's view ("camera": the
   camera then looks along +Y). The subject's first pelvis is put over the world origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import VideoMocapError
from ..core import skeleton

#: OpenCV camera axes -> Blender axes (camera looking along +Y, Z up): (x, y, z) -> (x, z, -y)
CV_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
#: height of the ankle joint above the floor when the foot is flat on the ground (metres)
ANKLE_HEIGHT_M = 0.08
#: ridge prior (m^2) of the ground fit: contacts must spread more than ~sqrt of this to tilt it
GROUND_PRIOR_VARIANCE_M2 = 0.02
#: contact candidates more than this above the lower envelope of the candidates are dropped (metres)
GROUND_TRIM_M = 0.03
#: percentile of the candidates' heights (above the plane) that defines the lower envelope
GROUND_ENVELOPE_PERCENTILE = 20.0
GROUND_FIT_ITERATIONS = 4
#: a fitted floor tilted more than this from the level-camera up is rejected
MAX_GROUND_TILT_DEG = 35.0
#: frames whose balance line leans more than this are not used for the up prior
BODY_UP_MAX_LEAN_DEG = 40.0
BODY_UP_MIN_FRAMES = 5
#: mean forward lean of the ankles -> joint-centre line (the centre is in front of the ankle
#: joints), measured on HDM05 and DeepMimic mocap: 0.6 to 11.7 deg by motion class, about 7 overall
BALANCE_LINE_FORWARD_LEAN_DEG = 7.0
#: frames averaged for the subject's initial facing
FACING_FRAMES = 10

FACES: dict[str, np.ndarray | None] = {
    "-Y": np.array([0.0, -1.0, 0.0]),
    "+Y": np.array([0.0, 1.0, 0.0]),
    "-X": np.array([-1.0, 0.0, 0.0]),
    "+X": np.array([1.0, 0.0, 0.0]),
    "camera": None,
}


@dataclass
class WorldTransform:
    """``world = rotation @ camera_point + translation`` (camera point in OpenCV axes)."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)
    ground_tilt_deg: float  # angle between the fitted floor normal and the level-camera up

    def apply(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) camera-space points -> (..., 3) Blender world points."""
        return np.asarray(points_cam, dtype=np.float64) @ self.rotation.T + self.translation


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation taking unit vector ``a`` onto unit vector ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # opposite: turn half a turn about any perpendicular axis
        axis = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(a, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def fit_ground(contacts: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit the floor to (N, 3) contact candidates (Z up, roughly level).

    Returns:
        unit normal (3,) with positive Z, and the plane offset ``d`` (``normal . p = d``).
    """
    pts = np.asarray(contacts, dtype=np.float64)
    keep = np.ones(len(pts), dtype=bool)
    coef = np.zeros(2)
    c = float(np.median(pts[:, 2]))
    for _ in range(GROUND_FIT_ITERATIONS):
        sel = pts[keep]
        if len(sel) < 3:
            break
        xy = sel[:, :2] - sel[:, :2].mean(axis=0)
        z = sel[:, 2] - sel[:, 2].mean()
        cov = xy.T @ xy / len(sel)
        coef = np.linalg.solve(cov + GROUND_PRIOR_VARIANCE_M2 * np.eye(2), xy.T @ z / len(sel))
        c = float(sel[:, 2].mean() - sel[:, :2].mean(axis=0) @ coef)
        residual = pts[:, 2] - (pts[:, :2] @ coef + c)
        # contacts are the lower envelope: drop candidates well above it (flight, lifted feet)
        keep = residual < np.percentile(residual, GROUND_ENVELOPE_PERCENTILE) + GROUND_TRIM_M
    normal = np.array([-coef[0], -coef[1], 1.0])
    norm = np.linalg.norm(normal)
    return normal / norm, c / norm


def initial_facing(joints_world: np.ndarray, frames: int = FACING_FRAMES) -> np.ndarray:
    """Horizontal unit facing (3,) of the subject over the first ``frames`` of (T, 17, 3) Z-up joints.

    The body's left axis is the mean of the hip and shoulder lines (right -> left); the
    facing is ``left x up`` (a body facing -Y has its left side towards +X).
    """
    j = skeleton.JOINT_INDEX
    head = np.asarray(joints_world[:frames], dtype=np.float64)
    left = (head[:, j["left_hip"]] - head[:, j["right_hip"]]) + (
        head[:, j["left_shoulder"]] - head[:, j["right_shoulder"]]
    )
    left = left.mean(axis=0)
    left[2] = 0.0
    if np.linalg.norm(left) < 1e-6:
        return np.array([0.0, -1.0, 0.0])
    left /= np.linalg.norm(left)
    return np.cross(left, [0.0, 0.0, 1.0])


def body_up(joints_zup: np.ndarray) -> np.ndarray:
    """Unit up (3,) from the balance line of (T, 17, 3) roughly Z-up joints.

    Standing, walking or squatting, the body's centre of mass stays over the feet, so the
    median direction from the mid-ankle point to the mean of the joints is close to vertical.
    Frames where that line leans more than :data:`BODY_UP_MAX_LEAN_DEG` (lying, rolling) are
    ignored; with fewer than :data:`BODY_UP_MIN_FRAMES` left, +Z (a level camera) is returned.
    """
    joints = np.asarray(joints_zup, dtype=np.float64)
    j = skeleton.JOINT_INDEX
    feet = joints[:, list(skeleton.FEET)].mean(axis=1)
    line = joints.mean(axis=1) - feet
    line /= np.maximum(np.linalg.norm(line, axis=-1, keepdims=True), 1e-9)
    # the joints' centre sits in front of the ankles: take the mean forward lean back out
    left = (joints[:, j["left_hip"]] - joints[:, j["right_hip"]]) + (
        joints[:, j["left_shoulder"]] - joints[:, j["right_shoulder"]])
    forward = np.cross(left, line)
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    line = line - np.sin(np.radians(BALANCE_LINE_FORWARD_LEAN_DEG)) * forward
    line /= np.maximum(np.linalg.norm(line, axis=-1, keepdims=True), 1e-9)
    upright = line[:, 2] > np.cos(np.radians(BODY_UP_MAX_LEAN_DEG))
    if upright.sum() < BODY_UP_MIN_FRAMES:
        return np.array([0.0, 0.0, 1.0])
    up = np.median(line[upright], axis=0)
    return up / np.linalg.norm(up)


def camera_to_world(joints_cam: np.ndarray, face: str = "-Y") -> WorldTransform:
    """World transform for (T, 17, 3) absolute camera-space joints (OpenCV axes, metres).

    Raises:
        VideoMocapError: unknown ``face``.
    """
    if face not in FACES:
        raise VideoMocapError(f"Unknown facing '{face}'; use one of {', '.join(FACES)}.")
    joints_cam = np.asarray(joints_cam, dtype=np.float64)
    z_axis = np.array([0.0, 0.0, 1.0])
    level = joints_cam @ CV_TO_BLENDER.T  # (T, 17, 3) Z up if the camera is level
    # prior up: the body's balance line (ankles -> centre of the joints), else the level camera
    prior = body_up(level)
    if np.degrees(np.arccos(np.clip(prior[2], -1.0, 1.0))) > MAX_GROUND_TILT_DEG:
        prior = z_axis
    base = rotation_between(prior, z_axis) @ CV_TO_BLENDER
    upright = joints_cam @ base.T
    feet = upright[:, list(skeleton.FEET)]  # (T, 2, 3)
    lower = feet[np.arange(len(feet)), np.argmin(feet[:, :, 2], axis=1)]  # (T, 3)
    normal, _ = fit_ground(lower)
    if np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0))) > MAX_GROUND_TILT_DEG:
        normal = z_axis
    rotation = rotation_between(normal, z_axis) @ base
    up_in_level = rotation.T @ z_axis @ CV_TO_BLENDER.T  # world up seen in level-camera axes
    tilt = float(np.degrees(np.arccos(np.clip(up_in_level[2], -1.0, 1.0))))
    upright = joints_cam @ rotation.T
    target = FACES[face]
    if target is not None:
        facing = initial_facing(upright)
        yaw = rotation_between(facing, target)
        rotation = yaw @ rotation
        upright = joints_cam @ rotation.T
    # floor: the (rotated) contact ankles sit ANKLE_HEIGHT_M above Z = 0
    feet = upright[:, list(skeleton.FEET)]
    lower = feet[np.arange(len(feet)), np.argmin(feet[:, :, 2], axis=1)]
    plane_normal, plane_offset = fit_ground(lower)
    start = upright[0, skeleton.PELVIS]
    # floor height under the subject's start (the residual tilt is small but the camera may be far)
    floor = (plane_offset - plane_normal[:2] @ start[:2]) / plane_normal[2]
    translation = np.array([-start[0], -start[1], ANKLE_HEIGHT_M - floor])
    return WorldTransform(rotation=rotation, translation=translation, ground_tilt_deg=tilt)


def shared_world(people_cam: list[np.ndarray], face: str = "-Y") -> WorldTransform:
    """One world transform for several people filmed by one camera (the first is the subject).

    The transform is fitted to the subject alone (:func:`camera_to_world`: its up, its floor at
    Z = 0, its facing, its first pelvis over the origin) and applied to everyone. People need not
    share the subject's floor: on the sample clip a man walks on a shed's roof and stands 1.6 m up,
    where a fit to everyone's feet would tilt or lift the floor. One rotation and translation keep
    the camera-space distances: two people 1 m apart in the camera's view stand 1 m apart in the world.

    Args:
        people_cam: per person, (T_i, 17, 3) absolute camera-space joints (OpenCV axes, metres),
            in one camera's axes (a panning camera: the same reference frame for everyone).
    """
    if not people_cam:
        raise VideoMocapError("shared_world: no person given.")
    return camera_to_world(np.asarray(people_cam[0], dtype=np.float64), face=face)


def view_from_camera(
    joints_yup: np.ndarray, yaw_deg: float = 0.0, tilt_deg: float = 0.0, distance_m: float = 5.0
) -> tuple[np.ndarray, np.ndarray]:
    """Film Y-up world joints (mocap convention) with a virtual camera; the inverse of the solve's input.

    The camera looks along the world's -Z (so a subject facing +Z faces it), turned by
    ``yaw_deg`` about the vertical, pitched down by ``tilt_deg``, ``distance_m`` from the
    clip's mean position. Used to make camera-frame test motions from mocap.

    Args:
        joints_yup: (T, 17, 3) metres, Y up.
    Returns:
        joints3d (T, 17, 3) root-relative and root (T, 3), OpenCV camera axes.
    """
    j = np.asarray(joints_yup, dtype=np.float64)
    a, b = np.radians(yaw_deg), np.radians(tilt_deg)
    yaw = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    yup_to_cv = np.diag([1.0, -1.0, -1.0])  # camera looking along world -Z, x right, y down
    rotation = tilt @ yup_to_cv @ yaw
    cam = (j - j.reshape(-1, 3).mean(axis=0)) @ rotation.T + np.array([0.0, 0.0, distance_m])
    root = cam[:, skeleton.PELVIS]
    return cam - root[:, None, :], root
