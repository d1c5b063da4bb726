"""Virtual cameras: realistic phone / camcorder views of a mocap subject.

World is Y up (metres, floor near y = 0). Cameras use OpenCV axes (x right, y down,
z forward). Each sample draws: an image size (landscape or portrait), a horizontal field
of view (30-90 degrees), a yaw all around the subject, a pitch (negative = looking down,
-35..+15 degrees), a camera height above the floor (0.3-3 m) and a distance that makes the
subject's extent over the window fill a realistic part of the frame; sometimes closer, so
that parts of the body leave the frame. Roll is mostly small (normal, clipped to +-25
degrees). A camera can also *follow* the subject (it translates with the smoothed pelvis,
like a tracking shot), so that long walks stay in frame.

Projection and screen normalisation use :mod:`video_mocap.core.camera`, exactly as at
inference.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import VideoMocapError
from ..core import camera as camera_math
from ..core import skeleton
from .augment import check_config_ranges

#: ankle joint height above the sole, to estimate the floor from the lowest ankle
ANKLE_HEIGHT_M = 0.09
#: smallest camera-space depth a joint may have before it is treated as behind the camera
MIN_DEPTH_M = 0.1
#: smoothing window (seconds at 30 fps frames) of the pelvis path a following camera tracks
FOLLOW_SMOOTH_FRAMES = 31


@dataclass
class CameraConfig:
    """How virtual cameras are drawn (all angles in degrees, lengths in metres).

    ``fixed_pitch_deg`` / ``fixed_yaw_deg`` / ``fixed_height_m`` / ``fixed_fov_deg`` override
    the random draw (evaluation by viewpoint: e.g. pitch -30 = high camera looking down;
    pitch 0 with height 1.6 = eye level; pitch +10 with height 0.4 = low camera). With the
    pitch free and the height fixed, the camera aims at the subject; with the pitch fixed and the
    height free, the camera aims at the subject from that pitch at any height (not clipped to
    ``height_m`` above: the subject is seen from that angle and stays in frame).
    """

    fov_deg: tuple[float, float] = (30.0, 90.0)
    #: (width, height) choices, landscape and portrait (phones, camcorders, webcams, the sample clip)
    image_sizes: tuple[tuple[int, int], ...] = (
        (1920, 1080),
        (1280, 720),
        (1080, 1920),
        (720, 1280),
        (1440, 1080),
        (1080, 1440),
        (640, 480),
        (884, 498),
    )
    height_m: tuple[float, float] = (0.3, 3.0)
    pitch_deg: tuple[float, float] = (-35.0, 15.0)
    #: probability of a steep high camera (tripod on a balcony, gym gallery, CCTV): its pitch is drawn
    #: from ``steep_pitch_deg`` and kept, the height follows up to ``steep_height_max_m``. With the ranges
    #: above alone a camera looking down 30 deg is rare (it needs to be more than 3 m up at the usual
    #: distances, so the height clip flattens it); 0 = none (the shipped weights' training)
    steep_prob: float = 0.0
    steep_pitch_deg: tuple[float, float] = (-40.0, -20.0)
    steep_height_max_m: float = 8.0
    roll_std_deg: float = 6.0
    roll_max_deg: float = 25.0
    #: fraction of the image the subject's extent fills (the larger of height/width ratios)
    fill: tuple[float, float] = (0.35, 0.9)
    #: probability of a too-close camera (parts of the body out of frame) and its fill range
    out_of_frame_prob: float = 0.08
    out_of_frame_fill: tuple[float, float] = (1.0, 1.5)
    #: subject centre offset from the image centre, as a fraction of the free margin
    off_centre: float = 0.5
    #: probability that the camera follows the subject (tracking shot)
    follow_prob: float = 0.3
    #: a static camera that would show the person's height smaller than this fraction of the
    #: image height follows the subject instead
    min_person_fill: float = 0.2
    fixed_pitch_deg: float | None = None
    fixed_yaw_deg: float | None = None
    fixed_fov_deg: float | None = None
    #: camera height above the floor (e.g. 1.6 with fixed_pitch_deg=0 for an eye-level view)
    fixed_height_m: float | None = None
    fixed_image_size: tuple[int, int] | None = None
    #: False = no camera augmentation (ablation baseline): every window through one ordinary
    #: camera, see :func:`plain_camera`; the subject still turns (random yaw)
    enabled: bool = True

    def __post_init__(self) -> None:
        check_config_ranges(self, "camera")
        fovs = list(self.fov_deg) + ([self.fixed_fov_deg] if self.fixed_fov_deg is not None else [])
        if not all(1.0 < f < 179.0 for f in fovs):
            raise VideoMocapError(f"camera: fields of view must be in (1, 179) degrees, got {fovs}.")
        sizes = list(self.image_sizes) + ([self.fixed_image_size] if self.fixed_image_size is not None else [])
        if not sizes or not all(len(size) == 2 and min(size) > 0 for size in sizes):
            raise VideoMocapError(f"camera: image sizes must be (width, height) > 0, got {sizes}.")
        if min(self.fill) <= 0 or min(self.out_of_frame_fill) <= 0 or self.height_m[0] < 0:
            raise VideoMocapError("camera: fill, out_of_frame_fill and height_m must be positive.")


@dataclass
class CameraBatch:
    """B drawn cameras.

    rotation: (B, 3, 3) world -> camera (rows: camera x right, y down, z forward in world axes).
    position: (B, T, 3) camera centre in the world per frame (constant unless following).
    focal_px: (B,) ; width, height: (B,) int ; fov_deg, pitch_deg, yaw_deg, roll_deg: (B,).
    """

    rotation: np.ndarray
    position: np.ndarray
    focal_px: np.ndarray
    width: np.ndarray
    height: np.ndarray
    fov_deg: np.ndarray
    pitch_deg: np.ndarray
    yaw_deg: np.ndarray
    roll_deg: np.ndarray


def look_rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """World (Y up) -> OpenCV camera rotations.

    Args:
        yaw: (B,) radians; the camera looks along (sin yaw, ., cos yaw) horizontally.
        pitch: (B,) radians, positive = looking up.
        roll: (B,) radians about the viewing axis (clockwise in the image for positive values).
    Returns:
        (B, 3, 3) matrices whose rows are the camera x (right), y (down), z (forward) axes.
    """
    forward = np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], axis=-1)
    up = np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(forward, right)
    cos_r, sin_r = np.cos(roll)[:, None], np.sin(roll)[:, None]
    right_rolled = cos_r * right + sin_r * down
    down_rolled = -sin_r * right + cos_r * down
    return np.stack([right_rolled, down_rolled, forward], axis=1)


def _smooth_path(path: np.ndarray, frames: int) -> np.ndarray:
    """(B, T, 3) -> moving average over ``frames`` (edge-padded)."""
    half = min(frames // 2, path.shape[1] - 1)
    if half <= 0:
        return path
    padded = np.concatenate([np.repeat(path[:, :1], half, 1), path, np.repeat(path[:, -1:], half, 1)], axis=1)
    csum = np.cumsum(padded, axis=1, dtype=np.float64)
    csum = np.concatenate([np.zeros_like(csum[:, :1]), csum], axis=1)
    width = 2 * half + 1
    return ((csum[:, width:] - csum[:, :-width]) / width)[:, : path.shape[1]]


def _framing_distance(
    joints_world: np.ndarray, track: np.ndarray, focal: np.ndarray, width: np.ndarray, height: np.ndarray,
    fill: np.ndarray,
) -> np.ndarray:
    """(B,) camera distance at which the joints' extent around ``track`` (B, T or 1, 3) fills ``fill`` of the image."""
    rel = joints_world - track[:, :, None]
    extent_v = 2.0 * np.abs(rel[..., 1]).max(axis=(1, 2))
    extent_h = 2.0 * np.linalg.norm(rel[..., [0, 2]], axis=-1).max(axis=(1, 2))
    distance = np.maximum(focal * extent_v / (fill * height), focal * extent_h / (fill * width))
    return np.maximum(distance, 2.0 * MIN_DEPTH_M + extent_h / 2.0)


#: the one camera of ``CameraConfig(enabled=False)``: a landscape HD video from chest height,
#: level, 60 degrees wide, no roll, the whole body in frame
PLAIN_IMAGE_SIZE = (1920, 1080)
PLAIN_FOV_DEG = 60.0
PLAIN_HEIGHT_M = 1.3
PLAIN_FILL = (0.6, 0.8)


def plain_camera(config: CameraConfig) -> CameraConfig:
    """``config`` with every camera augmentation off (the ablation's "no camera augmentation")."""
    return dataclasses.replace(
        config, image_sizes=(PLAIN_IMAGE_SIZE,), fixed_image_size=None, fixed_fov_deg=PLAIN_FOV_DEG, fixed_pitch_deg=0.0,
        fixed_height_m=PLAIN_HEIGHT_M, roll_std_deg=0.0, out_of_frame_prob=0.0, off_centre=0.0,
        fill=PLAIN_FILL, enabled=True,
    )


def sample_cameras(joints_world: np.ndarray, config: CameraConfig, rng: np.random.Generator) -> CameraBatch:
    """Draw one camera per window, framed on that window's motion.

    Args:
        joints_world: (B, T, 17, 3) metres, Y up.
    """
    if not config.enabled:
        config = plain_camera(config)
    joints_world = np.asarray(joints_world, dtype=np.float32)
    batch, frames = joints_world.shape[:2]
    sizes = np.array(config.image_sizes if config.fixed_image_size is None else (config.fixed_image_size,))
    choice = rng.integers(0, len(sizes), batch)
    width, height = sizes[choice, 0], sizes[choice, 1]
    fov = (
        np.full(batch, config.fixed_fov_deg, dtype=np.float64)
        if config.fixed_fov_deg is not None
        else rng.uniform(*config.fov_deg, batch)
    )
    focal = 0.5 * width / np.tan(np.radians(fov) / 2.0)

    follow = rng.random(batch) < config.follow_prob
    fill = rng.uniform(*config.fill, batch)
    close = rng.random(batch) < config.out_of_frame_prob
    fill = np.where(close, rng.uniform(*config.out_of_frame_fill, batch), fill)
    pelvis = joints_world[:, :, skeleton.PELVIS]
    smooth = _smooth_path(pelvis, FOLLOW_SMOOTH_FRAMES)
    static_distance = _framing_distance(joints_world, pelvis.mean(1, keepdims=True), focal, width, height, fill)
    # a static camera that would show the person too small (long runs) follows it instead
    body_v = 2.0 * np.abs(joints_world[..., 1] - pelvis[..., None, 1]).max(axis=(1, 2))
    follow |= focal * body_v / (static_distance * height) < config.min_person_fill
    track = np.where(follow[:, None, None], smooth, pelvis.mean(1, keepdims=True))
    distance = _framing_distance(joints_world, track, focal, width, height, fill)

    yaw = (
        np.full(batch, math.radians(config.fixed_yaw_deg))
        if config.fixed_yaw_deg is not None
        else rng.uniform(0.0, 2.0 * math.pi, batch)
    )
    pitch_lo, pitch_hi = np.radians(config.pitch_deg)
    # steep high cameras: their own pitch range and a higher height limit (no draw when steep_prob is 0:
    # the random stream, hence every seeded evaluation's windows, is then as before)
    steep = np.zeros(batch, dtype=bool)
    steep_pitch = np.zeros(batch)
    if config.steep_prob > 0 and config.fixed_pitch_deg is None:
        steep = rng.random(batch) < config.steep_prob
        steep_pitch = rng.uniform(*np.radians(config.steep_pitch_deg), batch)
    pitch_lo = np.where(steep, math.radians(config.steep_pitch_deg[0]), pitch_lo)
    pitch_hi = np.where(steep, math.radians(config.steep_pitch_deg[1]), pitch_hi)
    pitch = (
        np.full(batch, math.radians(config.fixed_pitch_deg))
        if config.fixed_pitch_deg is not None
        else np.where(steep, steep_pitch, rng.uniform(np.radians(config.pitch_deg[0]), np.radians(config.pitch_deg[1]), batch))
    )
    # camera height above the floor: aim at the subject centre with this pitch, clipped to the allowed range
    floor = joints_world[:, :, list(skeleton.FEET), 1].min(axis=(1, 2)) - ANKLE_HEIGHT_M
    centre = track[:, 0].copy()
    cam_height = centre[:, 1] - floor - distance * np.sin(pitch)
    # a fixed pitch is a view of the subject from that angle (an evaluation by viewpoint): the camera
    # rises as far as aiming at the subject needs. Clipped to height_m, a far camera looking down 30 deg
    # would sit too low, see the subject from 15 deg and lose its head out of the frame's top.
    highest = np.inf if config.fixed_pitch_deg is not None else np.where(steep, config.steep_height_max_m, config.height_m[1])
    cam_height = np.clip(cam_height, config.height_m[0], highest)
    if config.fixed_height_m is not None:
        cam_height = np.full(batch, float(config.fixed_height_m))
    if config.fixed_pitch_deg is None:
        # re-aim after clipping the height, then keep the pitch in range (the subject may sit off-centre)
        pitch = np.arcsin(np.clip((centre[:, 1] - floor - cam_height) / distance, -1.0, 1.0))
        pitch = np.clip(pitch, pitch_lo, pitch_hi)
    roll = np.radians(np.clip(rng.normal(0.0, config.roll_std_deg, batch), -config.roll_max_deg, config.roll_max_deg))

    # off-centre framing: turn the camera a little so the subject is not always centred
    margin = np.clip(1.0 - fill, 0.0, None)
    half_fov_h = np.radians(fov) / 2.0
    half_fov_v = np.arctan(np.tan(half_fov_h) * height / width)
    yaw_jitter = config.off_centre * margin * half_fov_h * rng.uniform(-1.0, 1.0, batch)
    yaw_aim = yaw if config.fixed_yaw_deg is not None else yaw + yaw_jitter
    pitch_jitter = config.off_centre * margin * half_fov_v * rng.uniform(-1.0, 1.0, batch)
    pitch_aim = pitch if config.fixed_pitch_deg is not None else pitch + pitch_jitter

    rotation = look_rotation(yaw_aim, pitch_aim, roll)
    horizontal = distance * np.cos(pitch)
    position0 = np.stack(
        [centre[:, 0] - horizontal * np.sin(yaw), floor + cam_height, centre[:, 2] - horizontal * np.cos(yaw)], axis=-1
    )
    position = position0[:, None, :] + (track - track[:, :1])
    return CameraBatch(
        rotation=rotation,
        position=position,
        focal_px=focal,
        width=width.astype(np.int64),
        height=height.astype(np.int64),
        fov_deg=fov,
        pitch_deg=np.degrees(pitch_aim),
        yaw_deg=np.degrees(yaw_aim),
        roll_deg=np.degrees(roll),
    )


def world_to_camera(joints_world: np.ndarray, cameras: CameraBatch) -> np.ndarray:
    """(B, T, 17, 3) world -> (B, T, 17, 3) camera-space metres (OpenCV axes)."""
    rel = np.asarray(joints_world, dtype=np.float32) - cameras.position[:, :, None, :].astype(np.float32)
    batch = rel.shape[0]
    rotated = np.matmul(rel.reshape(batch, -1, 3), cameras.rotation.transpose(0, 2, 1).astype(np.float32))
    return rotated.reshape(rel.shape)


def project_batch(points_cam: np.ndarray, cameras: CameraBatch) -> tuple[np.ndarray, np.ndarray]:
    """Project with :func:`inference.camera.project` and normalise with ``normalize_screen``.

    Args:
        points_cam: (B, T, 17, 3) camera-space metres.
    Returns:
        pixels (B, T, 17, 2) float32 and normalised screen coordinates (B, T, 17, 2) float32.
    """
    pixels = np.empty(points_cam.shape[:-1] + (2,), dtype=np.float32)
    normalised = np.empty_like(pixels)
    sizes = np.stack([cameras.width, cameras.height], axis=-1)
    for w, h in np.unique(sizes, axis=0):
        group = np.flatnonzero((sizes[:, 0] == w) & (sizes[:, 1] == h))
        focal = cameras.focal_px[group].reshape((-1,) + (1,) * (points_cam.ndim - 1))
        pixels[group] = camera_math.project(points_cam[group], focal, int(w), int(h))
        normalised[group] = camera_math.normalize_screen(pixels[group], int(w), int(h))
    return pixels, normalised


def in_frame_mask(pixels: np.ndarray, points_cam: np.ndarray, cameras: CameraBatch) -> np.ndarray:
    """(B, T, 17) True where a joint is in front of the camera and inside the image."""
    w = cameras.width[:, None, None]
    h = cameras.height[:, None, None]
    x, y = pixels[..., 0], pixels[..., 1]
    return (points_cam[..., 2] > MIN_DEPTH_M) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
