"""A multi-view 3D reference for real video: calibrated cameras + triangulated 2D detections.

Real footage has no mocap ground truth. When the same moment is filmed by several calibrated,
synchronised cameras, the detector's 2D joints of all views can be triangulated into 3D; that
reference lets a monocular lift of *one* view be scored in millimetres. It is not ground truth:
it carries the detector's own errors (a hip or shoulder keypoint is not a joint centre) and the
calibration's, which :func:`reprojection_error` and the reference's own bone-length variation
make visible.

- :func:`read_qca`: cameras of a Qualisys ``.qca.txt`` calibration (the format of the Pose2Sim
  demo recordings), as OpenCV world-to-camera rotations, centres in metres and pixel intrinsics.
- :func:`triangulate`: score-weighted linear (DLT) triangulation of (V, T, J, 2) detections.
- :meth:`Camera.to_camera`: reference joints in one camera's frame (OpenCV axes), as a lifter sees them.

Pure numpy; the XML is read with the standard library.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError

#: Qualisys stores focal length and principal point in sub-pixel units of 1/64 pixel
QCA_SUBPIXELS = 64.0
#: Qualisys camera axes (y up, z backwards) -> OpenCV axes (y down, z forwards): 180 deg about x
QCA_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
MM_PER_M = 1000.0
#: a joint is triangulated from views whose score is at least this (as the 2D stage's missing-joint rule)
MIN_VIEW_SCORE = 0.3
#: and only where at least this many views see it
MIN_VIEWS = 2


@dataclass(frozen=True)
class Camera:
    """One calibrated camera: ``x_cam = rotation @ (x_world - centre)``; pixels = ``intrinsics @ x_cam``.

    rotation: (3, 3) world-to-camera, OpenCV axes (x right, y down, z forward).
    centre: (3,) camera position in world metres.
    intrinsics: (3, 3) pixel camera matrix.
    size: (width, height) pixels.
    """

    name: str
    rotation: np.ndarray
    centre: np.ndarray
    intrinsics: np.ndarray
    size: tuple[int, int]

    @property
    def projection(self) -> np.ndarray:
        """(3, 4) matrix: world (homogeneous) -> pixels (homogeneous)."""
        return self.intrinsics @ np.hstack([self.rotation, (-self.rotation @ self.centre)[:, None]])

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> (..., 2) pixels."""
        homogeneous = self.to_camera(points_world) @ self.intrinsics.T
        return homogeneous[..., :2] / homogeneous[..., 2:]

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world metres -> (..., 3) this camera's frame (metres, OpenCV axes)."""
        return (np.asarray(points_world, dtype=np.float64) - self.centre) @ self.rotation.T


def _floats(element: ElementTree.Element, names: list[str], where: str) -> list[float]:
    values = []
    for name in names:
        try:
            values.append(float(element.attrib[name]))
        except (KeyError, ValueError):
            raise VideoMocapError(f"{where}: <{element.tag}> attribute {name} is missing or not a number "
                                  f"({element.attrib.get(name)!r}); is the calibration file complete?") from None
    return values


def read_qca(path: str | Path) -> list[Camera]:
    """Cameras of a Qualisys ``.qca.txt`` calibration, in file order.

    A camera's ``transform`` holds its position (millimetres) and a rotation whose columns are
    its axes in the world; Qualisys cameras look down their -z with y up, hence
    :data:`QCA_TO_OPENCV`. ``intrinsic`` holds focal length and principal point in 1/64 pixel
    (relative to the sensor, which ``fov_video`` crops). Lens distortion is not applied: it is
    small near the image centre, where people are filmed (on the Pose2Sim demo, undistorting the
    detections changes the triangulation's reprojection error by 0.1 px).
    """
    path = Path(path)
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise VideoMocapError(f"cannot read the calibration {path}: {exc}. Give a Qualisys .qca.txt file.") from None
    cameras = []
    for element in root.findall("cameras/camera"):
        name = element.attrib.get("serial", f"camera {len(cameras) + 1}")
        where = f"{path.name}, camera {name}"
        transform, intrinsic, fov = element.find("transform"), element.find("intrinsic"), element.find("fov_video")
        if transform is None or intrinsic is None or fov is None:
            raise VideoMocapError(f"{where}: no transform, intrinsic or fov_video element; is this a .qca.txt file?")
        axes = np.array(_floats(transform, [f"r{i}{j}" for i in "123" for j in "123"], where)).reshape(3, 3)
        centre = np.array(_floats(transform, ["x", "y", "z"], where)) / MM_PER_M
        fu, fv, cu, cv = (v / QCA_SUBPIXELS for v in _floats(
            intrinsic, ["focalLengthU", "focalLengthV", "centerPointU", "centerPointV"], where))
        left, top, right, bottom = _floats(fov, ["left", "top", "right", "bottom"], where)
        intrinsics = np.array([[fu, 0.0, cu - left], [0.0, fv, cv - top], [0.0, 0.0, 1.0]])
        size = (int(right - left) + 1, int(bottom - top) + 1)
        cameras.append(Camera(name, QCA_TO_OPENCV @ axes, centre, intrinsics, size))
    if not cameras:
        raise VideoMocapError(f"{path}: no cameras/camera elements; is this a Qualisys .qca.txt file?")
    return cameras


def triangulate(
    keypoints: np.ndarray,
    scores: np.ndarray,
    projections: np.ndarray,
    min_score: float = MIN_VIEW_SCORE,
    min_views: int = MIN_VIEWS,
) -> np.ndarray:
    """Score-weighted linear triangulation (DLT) of every joint of every frame.

    Each view contributes the two rows ``x P3 - P1`` and ``y P3 - P2`` scaled by its score;
    views below ``min_score`` contribute none. The point is the right singular vector of the
    smallest singular value.

    Args:
        keypoints: (V, T, J, 2) pixels of V synchronised views.
        scores: (V, T, J) detection scores.
        projections: (V, 3, 4) camera matrices (:attr:`Camera.projection`).
    Returns:
        (T, J, 3) world points; NaN where fewer than ``min_views`` views see the joint.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    projections = np.asarray(projections, dtype=np.float64)
    if keypoints.ndim != 4 or keypoints.shape[-1] != 2 or scores.shape != keypoints.shape[:-1] \
            or projections.shape != (keypoints.shape[0], 3, 4):
        raise ValueError(f"keypoints (V, T, J, 2), scores (V, T, J) and projections (V, 3, 4) disagree: "
                         f"{keypoints.shape}, {scores.shape}, {projections.shape}")
    weights = np.where(scores >= min_score, scores, 0.0)  # (V, T, J)
    # rows (V, T, J, 2, 4): u * P[2] - P[0] and v * P[2] - P[1], per view
    rows = keypoints[..., None] * projections[:, None, None, 2:3, :] - projections[:, None, None, :2, :]
    rows = rows * weights[..., None, None]
    system = np.moveaxis(rows, 0, 2).reshape(*keypoints.shape[1:3], -1, 4)  # (T, J, 2V, 4)
    _, _, vt = np.linalg.svd(system)
    homogeneous = vt[..., -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        points = homogeneous[..., :3] / homogeneous[..., 3:]
    seen_by = (weights > 0).sum(axis=0)
    points[seen_by < min_views] = np.nan
    return points


def reprojection_error(points_world: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                       cameras: list[Camera], min_score: float = MIN_VIEW_SCORE) -> np.ndarray:
    """(T, J, 3), (V, T, J, 2), (V, T, J) -> (V, T, J) pixel distance between each view's detection and
    the reprojected point; NaN where the view's score is below ``min_score`` or the point is missing."""
    errors = np.stack([np.linalg.norm(camera.project(points_world) - keypoints[v], axis=-1)
                       for v, camera in enumerate(cameras)])
    return np.where(scores >= min_score, errors, np.nan)
