"""The camera's rotation per frame, found from the background, and its removal from the motion.

A camera that pans or tilts on a tripod (or is turned by hand: a phone following a runner)
rotates about its own centre, so two frames of the static background are related by the
homography ``K R K^-1`` whatever the depth. Per pair of consecutive frames:

1. frames are converted to grey and downscaled so their long side is at most
   :attr:`CameraMotionConfig.max_side_px` (the focal length is scaled with them);
2. corners (``cv2.goodFeaturesToTrack``) are found OUTSIDE the people's boxes (every track of the
   2D stage, widened by :attr:`CameraMotionConfig.person_margin`), and followed into the next frame
   with pyramidal Lucas-Kanade optical flow (``cv2.calcOpticalFlowPyrLK``);
3. a homography is fitted with RANSAC (``cv2.findHomography``) to drop what moves on its own
   (a missed person, a ball, leaves), and the rotation is then fitted to the inliers' bearing
   vectors ``K^-1 (u, v, 1)`` by the Kabsch / orthogonal Procrustes solution (``scipy``), which
   keeps it a true rotation.

The per-pair rotations are chained into :attr:`CameraMotion.rotations`: for each frame of the
track, the rotation from that frame's camera axes to the FIRST frame's camera axes (OpenCV axes:
x right, y down, z forward). ``core.camera.to_first_camera`` applies it to camera-space points, so a
panning shot's root runs through one fixed frame (the first camera's), and the world solve then
places that frame as usual. A clip whose camera does not move (median rotation per frame under
:attr:`CameraMotionConfig.static_deg_per_frame` and total under
:attr:`CameraMotionConfig.static_total_deg`) is reported as static and left as it is.

Pure translation of the camera (a dolly, a drone) is not modelled: it is part of the root's path,
as before. Pairs with too few background features (a person fills the frame, a blank wall) keep the
previous pair's rotation rate and are counted in :attr:`CameraMotion.weak_pairs`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import VideoMocapError
from ..core.formats import Track2D
from ..core.progress import ProgressFn, check_cancel, report

log = logging.getLogger(__name__)

STAGE = "camera"
#: a joint counts in a person's box from this score on
BOX_MIN_SCORE = 0.05


@dataclass(frozen=True)
class CameraMotionConfig:
    """How the background is tracked (see the module docstring)."""

    #: frames are downscaled to this long side (pixels) before tracking
    max_side_px: int = 640
    #: corners per frame, their minimum quality (relative to the best) and spacing (working pixels)
    max_corners: int = 400
    corner_quality: float = 0.01
    corner_spacing_px: int = 8
    #: each person's box is widened by this fraction of its size on every side before it is masked out
    person_margin: float = 0.15
    #: RANSAC inlier threshold of the homography, working pixels
    ransac_threshold_px: float = 1.0
    #: fewer inliers than this: the pair is "weak" and keeps the previous rotation rate
    min_inliers: int = 25
    #: below both of these the camera is taken as static (no rotation is applied)
    static_deg_per_frame: float = 0.05
    static_total_deg: float = 0.5


@dataclass
class CameraMotion:
    """The camera's rotation over a clip.

    rotations: (T, 3, 3) float64, frame t's camera axes -> the first frame's camera axes.
    frame_indices: (T,) the video frames they belong to (the subject track's frames).
    moving: False when the clip was found static (then ``rotations`` are all identity).
    weak_pairs: how many frame pairs had too few background inliers.
    """

    rotations: np.ndarray
    frame_indices: np.ndarray
    moving: bool
    weak_pairs: int = 0
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def pan_tilt_roll_deg(self) -> np.ndarray:
        """(T, 3) the first camera's view turned to each frame's: yaw about y (pan, + = right),
        pitch about x (tilt, + = down), roll about z, degrees (Y-X-Z Euler angles)."""
        from scipy.spatial.transform import Rotation

        return Rotation.from_matrix(self.rotations).as_euler("YXZ", degrees=True)


def person_mask(shape: tuple[int, int], boxes: list[tuple[float, float, float, float]], margin: float) -> np.ndarray:
    """uint8 (H, W) mask: 255 on the background, 0 inside every (x0, y0, x1, y1) box widened by ``margin``."""
    height, width = shape
    mask = np.full((height, width), 255, dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        pad_x, pad_y = margin * (x1 - x0), margin * (y1 - y0)
        left, top = max(int(math.floor(x0 - pad_x)), 0), max(int(math.floor(y0 - pad_y)), 0)
        right, bottom = min(int(math.ceil(x1 + pad_x)), width), min(int(math.ceil(y1 + pad_y)), height)
        if right > left and bottom > top:
            mask[top:bottom, left:right] = 0
    return mask


def boxes_by_frame(tracks: list[Track2D]) -> dict[int, list[tuple[float, float, float, float]]]:
    """Video frame -> the (x0, y0, x1, y1) pixel boxes of every tracked person's scored joints."""
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for track in tracks:
        for row, frame in enumerate(track.frame_indices.tolist()):
            seen = track.scores[row] >= BOX_MIN_SCORE
            if seen.sum() < 2:
                continue
            points = track.keypoints[row][seen]
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            boxes.setdefault(int(frame), []).append((float(x0), float(y0), float(x1), float(y1)))
    return boxes


def rotation_from_bearings(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(N, 3) unit bearings of the same static points in two frames -> the rotation R with
    ``after ≈ R @ before`` (Kabsch, ``scipy.spatial.transform.Rotation.align_vectors``)."""
    from scipy.spatial.transform import Rotation

    rotation, _ = Rotation.align_vectors(after, before)
    return rotation.as_matrix()


def _bearings(points_px: np.ndarray, focal_px: float, centre: np.ndarray) -> np.ndarray:
    rays = np.concatenate([(points_px - centre) / focal_px, np.ones((len(points_px), 1))], axis=1)
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def pair_rotation(
    gray_before: np.ndarray, gray_after: np.ndarray, mask: np.ndarray, focal_px: float, config: CameraMotionConfig
) -> tuple[np.ndarray | None, int]:
    """Rotation of the camera between two working-size grey frames (before's axes -> after's), and
    the number of RANSAC inliers; None when fewer than ``config.min_inliers`` background points agree."""
    import cv2

    corners = cv2.goodFeaturesToTrack(gray_before, config.max_corners, config.corner_quality,
                                      config.corner_spacing_px, mask=mask)
    if corners is None or len(corners) < config.min_inliers:
        return None, 0
    followed, status, _ = cv2.calcOpticalFlowPyrLK(gray_before, gray_after, corners, None)
    kept = status.ravel() == 1
    start, end = corners.reshape(-1, 2)[kept], followed.reshape(-1, 2)[kept]
    if len(start) < config.min_inliers:
        return None, int(len(start))
    _, inlier_mask = cv2.findHomography(start, end, cv2.RANSAC, config.ransac_threshold_px)
    if inlier_mask is None:
        return None, 0
    inliers = inlier_mask.ravel().astype(bool)
    if inliers.sum() < config.min_inliers:
        return None, int(inliers.sum())
    height, width = gray_before.shape
    centre = np.array([0.5 * width, 0.5 * height])
    rotation = rotation_from_bearings(_bearings(start[inliers], focal_px, centre),
                                      _bearings(end[inliers], focal_px, centre))
    return rotation, int(inliers.sum())


def _angle_deg(rotation: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))


def estimate_camera_motion(
    video: str | os.PathLike,
    tracks: list[Track2D],
    frame_indices: np.ndarray,
    focal_px: float,
    config: CameraMotionConfig = CameraMotionConfig(),
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> CameraMotion:
    """The camera's rotation at each of ``frame_indices`` (consecutive video frames of the subject's
    track), relative to the first of them; every person in ``tracks`` is masked out of the background.

    Args:
        video: the clip.
        tracks: every tracked person (their boxes are not background).
        frame_indices: (T,) increasing video frame indices.
        focal_px: the focal length in the clip's pixels (the one the lift used).
    """
    import cv2

    from .video import iter_frames

    frame_indices = np.asarray(frame_indices, dtype=np.int64)
    if frame_indices.ndim != 1 or frame_indices.size == 0 or np.any(np.diff(frame_indices) <= 0):
        raise VideoMocapError("camera motion: the frame indices must be increasing video frames.")
    if not focal_px > 0:
        raise VideoMocapError(f"camera motion: the focal length must be positive, got {focal_px}.")
    boxes = boxes_by_frame(tracks)
    wanted = set(frame_indices.tolist())
    total = len(frame_indices)
    rotations = np.tile(np.eye(3), (total, 1, 1))
    inliers = np.zeros(total, dtype=np.int32)
    previous_gray, previous_frame, scale = None, None, 1.0
    rate = np.eye(3)  # the last good per-frame rotation (after's axes from before's)
    to_first = np.eye(3)
    weak = 0
    row = 0
    first, last = int(frame_indices[0]), int(frame_indices[-1])
    for index, frame in iter_frames(video, first, last + 1):
        check_cancel(cancel)
        if index not in wanted:
            continue
        if previous_gray is None:
            scale = min(1.0, config.max_side_px / max(frame.shape[:2]))
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if previous_gray is not None:
            frame_boxes = [tuple(scale * v for v in box) for box in boxes.get(previous_frame, [])]
            mask = person_mask(previous_gray.shape, frame_boxes, config.person_margin)
            rotation, inliers[row] = pair_rotation(previous_gray, gray, mask, focal_px * scale, config)
            steps = index - previous_frame
            if rotation is None:
                weak += 1
                rotation = np.linalg.matrix_power(rate, steps)
            elif steps == 1:
                rate = rotation
            # points in this frame's axes -> the previous frame's axes (R^T) -> the first frame's
            to_first = to_first @ rotation.T
            rotations[row] = to_first
        report(progress, STAGE, row + 1, total)
        previous_gray, previous_frame = gray, index
        row += 1
    if row != total:
        raise VideoMocapError(f"camera motion: the video gave {row} of the track's {total} frames; "
                              "is the file truncated?")
    per_frame = [_angle_deg(rotations[i - 1].T @ rotations[i]) for i in range(1, total)]
    moving = bool(per_frame) and (float(np.median(per_frame)) >= config.static_deg_per_frame
                                  or max(_angle_deg(r) for r in rotations) >= config.static_total_deg)
    if weak:
        log.warning("camera motion: %d of %d frame pairs had too few background points; their rotation was "
                    "carried over from the frames before", weak, total - 1)
    if not moving:
        rotations = np.tile(np.eye(3), (total, 1, 1))
    return CameraMotion(rotations=rotations, frame_indices=frame_indices, moving=moving, weak_pairs=weak,
                        inliers=inliers)

