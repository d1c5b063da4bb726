"""Camera-space root (pelvis) trajectory from root-relative 3D joints and the detected 2D.

Per frame, find the translation ``t`` that puts the root-relative joints ``P_j`` where the
detector saw them: with normalised image coordinates ``(a_j, b_j) = ((u_j - cx) / f,
(v_j - cy) / f)``, full perspective ``a_j = (P_jx + t_x) / (P_jz + t_z)`` gives two equations
linear in ``t`` per joint::

    t_x - a_j t_z = a_j P_jz - P_jx
    t_y - b_j t_z = b_j P_jz - P_jy

solved by weighted least squares (weights = detector scores times :data:`ROOT_FIT_JOINT_WEIGHTS`;
a frame with no scored joint weighs all joints equally). The elbows, wrists, nose and head count a
fifth: they move most, and a lifter's depth for them is the least sure (arms raised in a jumping jack
moved a person 2 m in depth on the sample clip, and 0.4 m in height on a camera looking down). The algebraic residual is the
reprojection error times the joint depth, so a few re-weighting passes divide each equation
by the current depth estimate (iteratively re-weighted least squares), which approaches the
reprojection-error minimiser. Depth is kept in front of the camera (``MIN_DEPTH_M``).
The per-frame roots are then smoothed over time with the rig solve's Savitzky-Golay filter
(``rigging.filters.savgol``: scipy, which the extension zip bundles).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import VideoMocapError
from ..core.filters import savgol
from ..core.skeleton import JOINT_NAMES, NUM_JOINTS

#: a frame whose scores sum below this (every joint missing / interpolated) weighs joints equally
MIN_FRAME_SCORE = 1e-3
#: weight every joint keeps, so frames with one or two scored joints still have a unique solution
JOINT_WEIGHT_FLOOR = 1e-6
#: the weight of the most mobile joints in the root fit, against 1 for the hips, legs, spine and shoulders
MOBILE_JOINT_WEIGHT = 0.2
MOBILE_JOINTS = ("left_elbow", "left_wrist", "right_elbow", "right_wrist", "neck_nose", "head")
#: (17,) each joint's weight in the root fit, times its detector score
ROOT_FIT_JOINT_WEIGHTS = np.array([MOBILE_JOINT_WEIGHT if name in MOBILE_JOINTS else 1.0 for name in JOINT_NAMES])
#: nearest the root may come to the camera, metres
MIN_DEPTH_M = 0.1
#: re-weighting passes that turn the algebraic error into (approximately) reprojection error
REWEIGHT_PASSES = 2
#: a frame whose weighted 2D joints spread less than this (normalised image units, i.e. pixels /
#: focal length) fixes no depth: the root fit refuses it rather than solve a singular system
MIN_IMAGE_SPREAD = 1e-6
#: Savitzky-Golay smoothing of the root: window (frames, odd) and polynomial order
DEFAULT_SMOOTH_WINDOW = 9
SMOOTH_POLYORDER = 2


def _solve_translation(
    joints_rel: np.ndarray, ab: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Weighted least squares per frame. joints_rel (T,J,3), ab (T,J,2), weights (T,J) -> (T,3)."""
    t, j, _ = joints_rel.shape
    a, b = ab[..., 0], ab[..., 1]
    zeros, ones = np.zeros_like(a), np.ones_like(a)
    rows_x = np.stack([ones, zeros, -a], axis=-1)  # (T, J, 3)
    rows_y = np.stack([zeros, ones, -b], axis=-1)
    matrix = np.concatenate([rows_x, rows_y], axis=1)  # (T, 2J, 3)
    rhs = np.concatenate(
        [a * joints_rel[..., 2] - joints_rel[..., 0], b * joints_rel[..., 2] - joints_rel[..., 1]], axis=1
    )  # (T, 2J)
    w = np.concatenate([weights, weights], axis=1)  # (T, 2J)
    normal = np.einsum("tki,tk,tkj->tij", matrix, w, matrix)
    target = np.einsum("tki,tk,tk->ti", matrix, w, rhs)
    try:
        return np.linalg.solve(normal, target[..., None])[..., 0]
    except np.linalg.LinAlgError:  # a singular frame the spread check let through
        raise VideoMocapError(_DEGENERATE_MESSAGE.format(which="some frames have")) from None


_DEGENERATE_MESSAGE = (
    "root fit: {which} all 2D joints at one image point, so the person's position cannot be found; "
    "re-run detection, or drop those frames from the 2D track."
)


def _check_spread(ab: np.ndarray, weights: np.ndarray) -> None:
    """Refuse frames whose weighted image points (T, J, 2) all coincide (the fit would be singular)."""
    total = weights.sum(axis=1, keepdims=True)  # (T, 1)
    mean = (weights[..., None] * ab).sum(axis=1) / total  # (T, 2)
    spread = np.sqrt((weights * ((ab - mean[:, None, :]) ** 2).sum(axis=-1)).sum(axis=1) / total[:, 0])
    flat = np.flatnonzero(~(spread >= MIN_IMAGE_SPREAD))  # NaN counts as flat
    if flat.size:
        which = "every frame has" if flat.size == len(spread) else f"{flat.size} frames (the first is row {flat[0]}) have"
        raise VideoMocapError(_DEGENERATE_MESSAGE.format(which=which))


def recover_root(
    joints_rel: np.ndarray,
    keypoints_px: np.ndarray,
    scores: np.ndarray,
    focal_px: float,
    width: int,
    height: int,
    smooth_window: int = DEFAULT_SMOOTH_WINDOW,
) -> np.ndarray:
    """Camera-space pelvis position per frame.

    Args:
        joints_rel: (T, 17, 3) root-relative joints, metres, OpenCV camera axes.
        keypoints_px: (T, 17, 2) detected 2D, pixels.
        scores: (T, 17) detector confidences (least-squares weights, times :data:`ROOT_FIT_JOINT_WEIGHTS`).
        focal_px: focal length in pixels; principal point at the image centre.
        width, height: image size in pixels.
        smooth_window: Savitzky-Golay window in frames (<= 2: no smoothing).
    Returns:
        (T, 3) float32 root translation in metres (z > 0, in front of the camera).
    Raises:
        VideoMocapError: bad shapes or focal length, or frames whose 2D joints all lie at one point.
    """
    joints_rel = np.asarray(joints_rel, dtype=np.float64)
    keypoints_px = np.asarray(keypoints_px, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    t = joints_rel.shape[0]
    if joints_rel.shape != (t, NUM_JOINTS, 3) or keypoints_px.shape != (t, NUM_JOINTS, 2) or scores.shape != (t, NUM_JOINTS):
        raise VideoMocapError(
            f"recover_root: shapes must be (T,17,3), (T,17,2), (T,17); got {joints_rel.shape}, "
            f"{keypoints_px.shape}, {scores.shape}."
        )
    if not focal_px > 0:
        raise VideoMocapError(f"recover_root: focal length must be positive, got {focal_px}.")
    centre = np.array([0.5 * width, 0.5 * height])
    ab = (keypoints_px - centre) / float(focal_px)
    base = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None)
    base[base.sum(axis=1) < MIN_FRAME_SCORE] = 1.0
    base = np.maximum(base, JOINT_WEIGHT_FLOOR) * ROOT_FIT_JOINT_WEIGHTS
    _check_spread(ab, base)
    root = _solve_translation(joints_rel, ab, base)
    for _ in range(REWEIGHT_PASSES):
        depth = np.maximum(joints_rel[..., 2] + root[:, None, 2], MIN_DEPTH_M)
        root = _solve_translation(joints_rel, ab, base / depth**2)
    root[:, 2] = np.maximum(root[:, 2], MIN_DEPTH_M)
    return smooth_root(root, smooth_window)


def smooth_root(root: np.ndarray, smooth_window: int = DEFAULT_SMOOTH_WINDOW) -> np.ndarray:
    """(T, 3) per-frame roots -> (T, 3) float32 smoothed over time (<= 2: unchanged), kept in front of the camera."""
    root = np.asarray(root, dtype=np.float64)
    if smooth_window > 2:
        root = savgol(root, smooth_window, SMOOTH_POLYORDER)
        root[:, 2] = np.maximum(root[:, 2], MIN_DEPTH_M)
    return root.astype(np.float32)
