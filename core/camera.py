"""Pinhole cameras and the screen normalisation that every lifter sees.

Normalisation (as MotionBERT / MotionAGFormer): pixel coordinates are divided by half
the image *width* and centred, so x spans [-1, 1] and y spans [-h/w, h/w]; the aspect
ratio is kept. Training (virtual cameras) and inference use these same functions.
"""

from __future__ import annotations

import math

import numpy as np

#: the field of view assumed on the frame's LONG side when the user gives none (:func:`default_focal`):
#: a camera's lens does not change when the phone is held upright, so a portrait clip has this field
#: of view vertically. The 4 calibrated cameras of the balance recording (bench/data) have 59.4-59.7
#: degrees on their long side; phone main cameras about 65-70, camcorders zoomed in less. The panel's
#: manual field of view starts from it too.
DEFAULT_FOV_DEG = 60.0


def normalize_screen(keypoints_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """(..., 2) pixels -> (..., 2) normalised screen coordinates (see module docstring)."""
    keypoints_px = np.asarray(keypoints_px, dtype=np.float32)
    half_width = 0.5 * float(width)
    centre = np.array([0.5 * float(width), 0.5 * float(height)], dtype=np.float32)
    return (keypoints_px - centre) / half_width


def denormalize_screen(keypoints_norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen`."""
    half_width = 0.5 * float(width)
    centre = np.array([0.5 * float(width), 0.5 * float(height)], dtype=np.float32)
    return np.asarray(keypoints_norm, dtype=np.float32) * half_width + centre


def default_focal(width: int, height: int, long_side_fov_deg: float = DEFAULT_FOV_DEG) -> float:
    """Focal length in pixels when nothing is known: ``long_side_fov_deg`` across the longer image side."""
    return focal_from_fov(max(width, height), long_side_fov_deg)


def focal_from_fov(width: int, horizontal_fov_deg: float) -> float:
    """Focal length in pixels for an image ``width`` pixels wide and a horizontal field of view."""
    if not 1.0 < horizontal_fov_deg < 179.0:
        raise ValueError(f"horizontal field of view must be in (1, 179) degrees, got {horizontal_fov_deg}")
    return 0.5 * float(width) / math.tan(math.radians(horizontal_fov_deg) / 2.0)


def intrinsics(width: int, height: int, focal_px: float) -> np.ndarray:
    """3x3 camera matrix with the principal point at the image centre."""
    return np.array(
        [[focal_px, 0.0, 0.5 * width], [0.0, focal_px, 0.5 * height], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def project(points_cam: np.ndarray, focal_px: float, width: int, height: int) -> np.ndarray:
    """Project (..., 3) camera-space points (OpenCV axes, z forward, metres) to (..., 2) pixels."""
    points_cam = np.asarray(points_cam, dtype=np.float64)
    z = np.clip(points_cam[..., 2:3], 1e-6, None)
    centre = np.array([0.5 * width, 0.5 * height])
    return (focal_px * points_cam[..., :2] / z + centre).astype(np.float32)


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


def to_first_camera(points_cam: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """(T, ..., 3) points in each frame's camera axes -> the first frame's camera axes.

    ``rotations``: (T, 3, 3) frame t's camera axes -> the first frame's (a panning camera's path,
    see ``inference.camera_motion``).
    """
    points_cam = np.asarray(points_cam, dtype=np.float64)
    flat = points_cam.reshape(points_cam.shape[0], -1, 3)
    turned = np.einsum("tij,tnj->tni", np.asarray(rotations, dtype=np.float64), flat)
    return turned.reshape(points_cam.shape)
