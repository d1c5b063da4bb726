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
6. Several people (:func:`shared_world`): the subject's world, its floor refined by everyone's
   feet, each other person slid along its camera ray onto that floor (or left where it was
   lifted when it stands on another level).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.camera import rotation_between
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
#: several people (:func:`shared_world`): the prior spread of a person's lifted distance from the camera
#: (log scale; the lifter's depth comes from the 2D size: on the calibrated Pose2Sim views its error is
#: about 10 % of the distance, ``bench/bench_one_floor.py``) and of the shared floor's tilt away from the
#: subject's own (degrees), against the height spread of floor contacts (metres)
DEPTH_SCALE_PRIOR = 0.1
SHARED_TILT_PRIOR_DEG = 5.0
CONTACT_HEIGHT_SIGMA_M = 0.05
#: a person whose feet need a larger factor on its distance to reach the shared floor (two prior spreads,
#: about 1.22x) is on another level (a roof, a stage) and keeps its lifted place
MAX_DEPTH_CORRECTION = float(np.exp(2.0 * DEPTH_SCALE_PRIOR))

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


def ground_tilt_deg(rotation: np.ndarray) -> float:
    """Angle (deg) between the world's up of a camera -> world ``rotation`` and a level camera's up."""
    up_in_level = rotation.T @ np.array([0.0, 0.0, 1.0]) @ CV_TO_BLENDER.T  # world up seen in level-camera axes
    return float(np.degrees(np.arccos(np.clip(up_in_level[2], -1.0, 1.0))))


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
    normal, _ = fit_ground(_lowest_ankles(joints_cam @ base.T))
    if np.degrees(np.arccos(np.clip(normal[2], -1.0, 1.0))) > MAX_GROUND_TILT_DEG:
        normal = z_axis
    rotation = rotation_between(normal, z_axis) @ base
    tilt = ground_tilt_deg(rotation)
    upright = joints_cam @ rotation.T
    target = FACES[face]
    if target is not None:
        facing = initial_facing(upright)
        yaw = rotation_between(facing, target)
        rotation = yaw @ rotation
        upright = joints_cam @ rotation.T
    # floor: the (rotated) contact ankles sit ANKLE_HEIGHT_M above Z = 0
    plane_normal, plane_offset = fit_ground(_lowest_ankles(upright))
    start = upright[0, skeleton.PELVIS]
    # floor height under the subject's start (the residual tilt is small but the camera may be far)
    floor = (plane_offset - plane_normal[:2] @ start[:2]) / plane_normal[2]
    translation = np.array([-start[0], -start[1], ANKLE_HEIGHT_M - floor])
    return WorldTransform(rotation=rotation, translation=translation, ground_tilt_deg=tilt)


@dataclass
class SharedWorld:
    """Several people of one shot in one world (:func:`shared_world`), in the order given (subject first)."""

    world: WorldTransform
    #: (P,) the factor on each person's camera-space root (its distance from the camera along the same
    #: ray, so its picture does not move) that puts its feet on the shared floor; 1 = as lifted
    depth_scales: np.ndarray
    #: (P,) whether the person's feet are on the shared floor (False: another level, placed as lifted)
    on_floor: np.ndarray


def _lowest_ankles(joints_world: np.ndarray) -> np.ndarray:
    """(T, 3) the lower ankle of each frame of (T, 17, 3) Z-up joints."""
    feet = joints_world[:, list(skeleton.FEET)]
    return feet[np.arange(len(feet)), np.argmin(feet[:, :, 2], axis=1)]


def _fit_shared_floor(roots: list[np.ndarray], ankles: list[np.ndarray], on_floor: np.ndarray) -> np.ndarray:
    """Floor tilt and depth scales that put everyone's floor contacts on one plane.

    Args:
        roots, ankles: per person, (T_i, 3) the root and its lower ankle relative to the root, in the
            subject's world axes (``rotation @ camera point``, no translation), so that person ``i``'s
            ankle is ``s_i * root + ankle`` for a depth scale ``s_i``.
        on_floor: (P,) the people that take part (the subject, index 0, always does).
    Returns:
        ``[a, b, c, log s_1, ..., log s_(P-1)]``: the plane ``z = a x + b y + c`` of the contact
        ankles, and each other person's log depth scale (0 for those not taking part).
    """
    from scipy.optimize import least_squares

    count = len(roots)
    contact = [np.ones(len(r), dtype=bool) for r in roots]
    tilt_weight = CONTACT_HEIGHT_SIGMA_M / np.tan(np.radians(SHARED_TILT_PRIOR_DEG))
    depth_weight = CONTACT_HEIGHT_SIGMA_M / DEPTH_SCALE_PRIOR

    def ankles_at(params: np.ndarray, i: int) -> np.ndarray:
        scale = 1.0 if i == 0 else float(np.exp(params[2 + i]))
        return scale * roots[i] + ankles[i]

    def heights(params: np.ndarray, points: np.ndarray) -> np.ndarray:
        return points[:, 2] - (params[0] * points[:, 0] + params[1] * points[:, 1] + params[2])

    def residuals(params: np.ndarray) -> np.ndarray:
        # each person counts once: its contacts' root mean square, whatever its number of frames
        parts = [heights(params, ankles_at(params, i)[contact[i]]) / np.sqrt(contact[i].sum())
                 for i in range(count) if on_floor[i]]
        parts.append(tilt_weight * params[:2])  # the subject's own floor, unless the others say otherwise
        parts.append(depth_weight * params[3:])  # the lifted depths, unless the floor says otherwise
        return np.concatenate(parts)

    params = np.zeros(2 + count)
    for _ in range(GROUND_FIT_ITERATIONS):
        params = least_squares(residuals, params).x
        for i in range(count):  # contacts are each person's lower envelope (as fit_ground)
            residual = heights(params, ankles_at(params, i))
            contact[i] = residual < np.percentile(residual, GROUND_ENVELOPE_PERCENTILE) + GROUND_TRIM_M
    params[3:][~on_floor[1:]] = 0.0
    return params


def shared_world(people_cam: list[np.ndarray], face: str = "-Y") -> SharedWorld:
    """One world for several people filmed by one camera (the first is the subject): one floor.

    1. The subject's world (:func:`camera_to_world`: its up, its floor, its facing, its first pelvis
       over the origin) is the start.
    2. Everyone's floor contacts (each person's lower envelope of lower ankles) are put on one plane
       by a least-squares fit of two things at once: a small tilt of the subject's floor (prior
       :data:`SHARED_TILT_PRIOR_DEG`), and each other person's distance from the camera, scaled along its
       own camera ray (prior :data:`DEPTH_SCALE_PRIOR`, log scale). Both are uncertain: the lifter's
       depth of a person comes from its 2D size, and the lifted bodies' own up under-estimates a steep
       camera's pitch (on the Pose2Sim views by 5-20 degrees), so people on one floor were placed up to
       1.1 m apart in height. Two people's feet cannot tell a tilt from a depth error; the priors share
       the difference between them. Sliding along the ray keeps each person's picture where the camera
       saw it.
    3. A person whose feet would need more than :data:`MAX_DEPTH_CORRECTION` is on another level (on
       the sample clip a man walks on a shed's roof, 1.6 m up): it leaves the fit (the worst first, then
       the fit again) and is placed as lifted.

    One rotation and translation then map everyone, so people the camera sees 1 m apart (after their
    depth scales) stand 1 m apart. With one person, or nobody else on the floor, the world is the
    subject's own.

    Args:
        people_cam: per person, (T_i, 17, 3) absolute camera-space joints (OpenCV axes, metres), in one
            camera's axes (a panning camera: the same reference frame for everyone).
    Raises:
        VideoMocapError: no person, or an unknown ``face``.
    """
    if not people_cam:
        raise VideoMocapError("shared_world: no person given.")
    people = [np.asarray(p, dtype=np.float64) for p in people_cam]
    subject = camera_to_world(people[0], face=face)
    count = len(people)
    on_floor = np.ones(count, dtype=bool)
    if count == 1:
        return SharedWorld(subject, np.ones(1), on_floor)
    roots = [p[:, skeleton.PELVIS] @ subject.rotation.T for p in people]
    ankles = [_lowest_ankles(p @ subject.rotation.T) - r for p, r in zip(people, roots)]
    limit = np.log(MAX_DEPTH_CORRECTION)
    while True:
        params = _fit_shared_floor(roots, ankles, on_floor)
        log_scales = params[3:]
        beyond = np.flatnonzero(on_floor[1:] & (np.abs(log_scales) > limit))
        if len(beyond) == 0:
            break
        on_floor[1 + beyond[np.argmax(np.abs(log_scales[beyond]))]] = False
    if not on_floor[1:].any():
        return SharedWorld(subject, np.ones(count), on_floor)
    scales = np.concatenate([[1.0], np.exp(log_scales)])
    slope = params[:2]
    normal = np.array([-slope[0], -slope[1], 1.0]) / np.linalg.norm([slope[0], slope[1], 1.0])
    level = rotation_between(normal, np.array([0.0, 0.0, 1.0]))
    rotation = level @ subject.rotation
    # the subject's first pelvis over the origin again, the shared floor's contact ankles at ANKLE_HEIGHT_M
    start = level @ roots[0][0]
    plane_height = params[2] / np.linalg.norm([slope[0], slope[1], 1.0])
    translation = np.array([-start[0], -start[1], ANKLE_HEIGHT_M - plane_height])
    world = WorldTransform(rotation=rotation, translation=translation, ground_tilt_deg=ground_tilt_deg(rotation))
    return SharedWorld(world, scales, on_floor)


def filming_rotation(yaw_deg: float = 0.0, tilt_deg: float = 0.0) -> np.ndarray:
    """(3, 3) Y-up world -> OpenCV camera axes of a camera looking along the world's -Z, turned by ``yaw_deg``
    about the vertical and pitched down by ``tilt_deg`` (the virtual cameras of :func:`view_from_camera`)."""
    a, b = np.radians(yaw_deg), np.radians(tilt_deg)
    yaw = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    yup_to_cv = np.diag([1.0, -1.0, -1.0])  # camera looking along world -Z, x right, y down
    return tilt @ yup_to_cv @ yaw


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
    rotation = filming_rotation(yaw_deg, tilt_deg)
    cam = (j - j.reshape(-1, 3).mean(axis=0)) @ rotation.T + np.array([0.0, 0.0, distance_m])
    root = cam[:, skeleton.PELVIS]
    return cam - root[:, None, :], root
