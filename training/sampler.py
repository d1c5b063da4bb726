"""Training pairs: augmented 3D mocap windows seen through virtual cameras, with detector noise.

:class:`WindowSampler` draws batches of (2D input, 3D target) windows::

    inputs   (B, T, 17, 3) float32  normalised 2D (``camera.normalize_screen``) + score
    target3d (B, T, 17, 3) float32  root-relative camera-frame metres (OpenCV axes)
    target2d (B, T, 17, 2) float32  clean normalised 2D (the exact projection of target3d + root)

Per window: a source by ``source_weights``, a clip within it in proportion to its length,
a start; speed change (time resampled), then the 3D augmentations of
:mod:`.augment` (mixing, joint angles, bone lengths, height, re-grounding, mirroring;
windows that break :func:`.augment.check_joint_limits` fall back to body-shape changes
only), a camera (:mod:`.cameras`) and detector noise (:mod:`.noise`). Everything is
vectorised over the batch; one seeded generator makes the stream reproducible.

:func:`make_eval_windows` builds whole validation clips with one fixed, seeded camera per clip.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import VideoMocapError
from ..core import camera as camera_math
from ..core import skeleton
from . import augment as aug
from .augment import AugmentConfig
from .cameras import CameraBatch, CameraConfig, in_frame_mask, project_batch, sample_cameras, world_to_camera
from .noise import NoiseConfig, apply_detector_noise
from .sources import Clip

logger = logging.getLogger(__name__)

#: frames per clip (evenly spread) used to measure the bodies of the training set
BODY_FRAMES_PER_CLIP = 20

__all__ = [
    "AugmentConfig",
    "CameraConfig",
    "NoiseConfig",
    "WindowSampler",
    "EvalClip",
    "make_eval_windows",
    "render_windows",
]


def render_windows(
    joints_world: np.ndarray,
    camera: CameraConfig,
    noise: NoiseConfig | None,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], CameraBatch]:
    """World windows -> lifter inputs and targets through drawn cameras and noise.

    Args:
        joints_world: (B, T, 17, 3) metres, Y up.
        noise: None or ``enabled=False``: exact 2D, score 1 in frame and 0 outside.
    Returns:
        {"inputs" (B,T,17,3), "target3d" (B,T,17,3), "target2d" (B,T,17,2)} float32, and the cameras.
    """
    cams = sample_cameras(joints_world, camera, rng)
    points_cam = world_to_camera(joints_world, cams)
    pixels, clean = project_batch(points_cam, cams)
    in_frame = in_frame_mask(pixels, points_cam, cams)
    if noise is None or not noise.enabled:
        noisy_norm = clean
        scores = in_frame.astype(np.float32)
    else:
        noisy_px, scores = apply_detector_noise(pixels, in_frame, cams.width, cams.height, noise, rng)
        noisy_norm = np.empty_like(clean)
        sizes = np.stack([cams.width, cams.height], axis=-1)
        for w, h in np.unique(sizes, axis=0):
            group = np.flatnonzero((sizes[:, 0] == w) & (sizes[:, 1] == h))
            noisy_norm[group] = camera_math.normalize_screen(noisy_px[group], int(w), int(h))
    target3d = points_cam - points_cam[:, :, skeleton.PELVIS : skeleton.PELVIS + 1]
    batch = {
        "inputs": np.concatenate([noisy_norm, scores[..., None]], axis=-1).astype(np.float32),
        "target3d": target3d.astype(np.float32),
        "target2d": clean.astype(np.float32),
    }
    return batch, cams


class WindowSampler:
    """Random augmented training windows from clips (see the module docstring)."""

    def __init__(
        self,
        clips: list[Clip],
        num_frames: int,
        augment: AugmentConfig,
        camera: CameraConfig,
        noise: NoiseConfig,
        source_weights: dict[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        clips = [c for c in clips if c.num_frames >= 1]
        if not clips:
            raise VideoMocapError("WindowSampler: no clips to sample from; check data.sources and the mocap paths.")
        if num_frames < 1:
            raise VideoMocapError(f"WindowSampler: num_frames must be >= 1, got {num_frames}.")
        self.num_frames = int(num_frames)
        self.augment = augment
        self.camera = camera
        self.noise = noise
        self.clips = clips
        lengths = np.array([c.num_frames for c in clips], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self._lengths = lengths
        self._joints = np.concatenate([np.asarray(c.joints, dtype=np.float32) for c in clips], axis=0)
        self.clip_probs = self._clip_probabilities(clips, lengths, source_weights)
        self._cdf = np.cumsum(self.clip_probs)
        self._cdf[-1] = 1.0
        self.bodies, self.body_names = self._bodies(clips)
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def _bodies(clips: list[Clip]) -> tuple[np.ndarray, list[str]]:
        """Median bone lengths (K, 16) of each distinct body (source + actor label) in ``clips``."""
        groups: dict[str, list[np.ndarray]] = {}
        for clip in clips:
            key = f"{clip.source}:{clip.labels.get('actor', '')}"
            step = max(1, clip.num_frames // BODY_FRAMES_PER_CLIP)
            groups.setdefault(key, []).append(np.asarray(clip.joints[::step], dtype=np.float32))
        names = sorted(groups)
        lengths = [np.median(skeleton.bone_lengths(np.concatenate(groups[k])), axis=0) for k in names]
        return np.stack(lengths).astype(np.float32), names

    @staticmethod
    def _clip_probabilities(clips: list[Clip], lengths: np.ndarray, weights: dict[str, float] | None) -> np.ndarray:
        if weights is None:
            return lengths / lengths.sum()
        sources = sorted({c.source for c in clips})
        missing = [s for s in sources if s not in weights]
        if missing:
            raise VideoMocapError(
                f"source_weights has no weight for source(s) {missing}; give every source a weight "
                f"(present: {sources})."
            )
        if any(weights[s] < 0 for s in sources) or sum(weights[s] for s in sources) <= 0:
            raise VideoMocapError(f"source_weights must be >= 0 and not all 0, got {weights}.")
        absent = [s for s in weights if s not in sources and weights[s] > 0]
        if absent:
            logger.info("source_weights: no clips for %s; their share goes to the other sources", absent)
        names = np.array([c.source for c in clips])
        probs = np.zeros(len(clips))
        for s in sources:
            mask = names == s
            probs[mask] = weights[s] * lengths[mask] / lengths[mask].sum()
        return probs / probs.sum()

    def reseed(self, seed: int) -> None:
        """Restart the random stream (e.g. one seed per data-loader worker)."""
        self.rng = np.random.default_rng(seed)

    # ---------------------------------------------------------------------------------
    def _gather(self, clip_idx: np.ndarray, speed: np.ndarray) -> np.ndarray:
        """(B,) clips and speeds -> (B, T, 17, 3) float32 windows.

        Speed 1 reads whole frames. Other speeds interpolate linearly in time, then restore
        the bone lengths (interpolating positions shortens bones that turn fast).
        Windows longer than their clip hold the last frame.
        """
        frames = self.num_frames
        lengths = self._lengths[clip_idx]
        span = (frames - 1) * speed
        room = np.maximum(lengths - 1 - span, 0.0)
        unit = speed == 1.0
        draw = self.rng.random(len(clip_idx))
        start = np.where(unit, np.floor(draw * (np.floor(room) + 1)), draw * room)
        times = start[:, None] + np.arange(frames)[None, :] * speed[:, None]
        times = np.minimum(times, (lengths - 1)[:, None])
        lo = np.floor(times).astype(np.int64)
        hi = np.minimum(lo + 1, (lengths - 1)[:, None])
        frac = (times - lo).astype(np.float32)
        base = self._starts[clip_idx][:, None]
        a, b = self._joints[base + lo], self._joints[base + hi]
        out = (1.0 - frac[..., None, None]) * a + frac[..., None, None] * b
        blend = np.flatnonzero(~unit)
        if blend.size:
            f = frac[blend][..., None]
            target = (1.0 - f) * skeleton.bone_lengths(a[blend]) + f * skeleton.bone_lengths(b[blend])
            current = np.maximum(skeleton.bone_lengths(out[blend]), 1e-6)
            out[blend] = aug.rebuild_from_bones(out[blend], target / current)
        return out

    def _draw_clips(self, count: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self._cdf, self.rng.random(count), side="right"), len(self.clips) - 1)

    def sample_world(self, batch_size: int) -> np.ndarray:
        """Augmented (B, T, 17, 3) world windows (metres, Y up), before the camera."""
        cfg = self.augment
        rng = self.rng
        clip_idx = self._draw_clips(batch_size)
        speed = np.ones(batch_size)
        if cfg.enabled:
            fast = (rng.random(batch_size) < cfg.speed_prob) & cfg.pose
            # log-uniform so that x0.5 and x2 are equally likely
            lo, hi = np.log(cfg.speed_range[0]), np.log(cfg.speed_range[1])
            speed = np.where(fast, np.exp(rng.uniform(lo, hi, batch_size)), 1.0)
        base = self._gather(clip_idx, speed)
        if not cfg.enabled:
            return base

        # draw every parameter up front so a fallback reuses the same body
        # (each group switch masks its draws, so the random stream is the same with it on or off)
        mix = (rng.random(batch_size) < cfg.mix_prob) & cfg.pose
        pose = (rng.random(batch_size) < cfg.pose_prob) & cfg.pose
        bones = (rng.random(batch_size) < cfg.bone_prob) & cfg.body
        random_scales = np.where(bones[:, None], aug.sample_bone_scales(batch_size, cfg, rng), 1.0)
        swap = (rng.random(batch_size) < cfg.body_swap_prob) & cfg.body
        target_body = self.bodies[rng.integers(0, len(self.bodies), batch_size)]
        heights = np.clip(rng.normal(cfg.height_mean_m, cfg.height_std_m, batch_size), *cfg.height_range_m)
        use_height = (rng.random(batch_size) < cfg.height_prob) & cfg.body
        mirror = (rng.random(batch_size) < cfg.mirror_prob) & cfg.body

        windows = base
        if mix.any():
            other = self._gather(self._draw_clips(batch_size), speed)
            ok = mix & aug.is_upright(base) & aug.is_upright(other)
            if ok.any():
                windows = np.where(ok[:, None, None, None], aug.mix_upper_lower(base, other), base)
        if pose.any():
            windows = aug.perturb_pose(windows, cfg, rng, pose)
        lengths = aug.median_bone_lengths(windows)
        swap_scales = np.where(swap[:, None], target_body / np.maximum(lengths, 1e-6), 1.0)
        scales = swap_scales * random_scales
        scales = np.where(bones[:, None], aug.clip_width_ratios(lengths, scales, cfg), scales).astype(np.float32)
        out = self._body(windows, base, scales, heights, use_height, mirror)
        changed = np.flatnonzero(mix | pose)
        bad = np.zeros(batch_size, dtype=bool)
        bad[changed] = ~aug.check_joint_limits(out[changed]).all(axis=1)
        if bad.any():
            out[bad] = self._body(base[bad], base[bad], scales[bad], heights[bad], use_height[bad], mirror[bad])
        return out

    def _body(
        self,
        windows: np.ndarray,
        reference: np.ndarray,
        scales: np.ndarray,
        heights: np.ndarray,
        use_height: np.ndarray,
        mirror: np.ndarray,
    ) -> np.ndarray:
        """Bone lengths, height, re-grounding and mirroring (constant over each window)."""
        out = aug.rebuild_from_bones(windows, scales)
        factor = np.where(use_height, heights / aug.estimate_height(out), 1.0).astype(np.float32)
        anchor = reference[:, 0, skeleton.PELVIS].copy()
        anchor[:, 1] = aug.floor_height(reference)
        out = (out - anchor[:, None, None]) * factor[:, None, None, None] + anchor[:, None, None]
        if self.augment.reground:
            ref = (reference - anchor[:, None, None]) * factor[:, None, None, None] + anchor[:, None, None]
            out = aug.reground(out, ref)
        if mirror.any():
            out[mirror] = skeleton.flip_joints(out[mirror])
        return out

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """One batch: {"inputs" (B,T,17,3), "target3d" (B,T,17,3), "target2d" (B,T,17,2)} float32."""
        if batch_size < 1:
            raise VideoMocapError(f"batch_size must be >= 1, got {batch_size}.")
        world = self.sample_world(batch_size)
        batch, _ = render_windows(world, self.camera, self.noise, self.rng)
        return batch


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------
@dataclass
class EvalClip:
    """One evaluation clip (or window of it) through one fixed camera.

    inputs: (T, 17, 3) normalised 2D + score; target3d: (T, 17, 3) root-relative camera
    metres; target2d: (T, 17, 2) clean normalised 2D; camera: focal_px, width, height,
    fov/pitch/yaw/roll in degrees.
    """

    name: str
    source: str
    labels: dict
    fps: float
    inputs: np.ndarray
    target3d: np.ndarray
    target2d: np.ndarray
    camera: dict = field(default_factory=dict)


def _clip_seed(seed: int, name: str) -> int:
    """A per-clip seed that does not depend on the order of the clips."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % (2**63)


def make_eval_windows(
    clips: list[Clip],
    num_frames: int,
    camera: CameraConfig,
    noise: NoiseConfig | None,
    seed: int,
    stride: int | None = None,
) -> list[EvalClip]:
    """Evaluation data: each clip seen through one fixed, seeded camera (no augmentation).

    Args:
        num_frames: the model window; with ``stride``, clips are cut into windows of this
            length every ``stride`` frames (named ``<clip>@<start>``); without, each clip
            is kept whole (T = clip length; clips shorter than ``num_frames`` too).
        camera: e.g. ``CameraConfig(fixed_pitch_deg=-30)`` for a high-camera evaluation.
        noise: None for exact 2D.
        seed: the camera and noise of a clip depend only on (seed, clip name).
    """
    if stride is not None and stride < 1:
        raise VideoMocapError(f"stride must be >= 1, got {stride}.")
    out: list[EvalClip] = []
    for clip in clips:
        rng = np.random.default_rng(_clip_seed(seed, clip.name))
        joints = np.asarray(clip.joints, dtype=np.float64)
        batch, cams = render_windows(joints[None], camera, noise, rng)
        meta = {
            "focal_px": float(cams.focal_px[0]),
            "width": int(cams.width[0]),
            "height": int(cams.height[0]),
            "fov_deg": float(cams.fov_deg[0]),
            "pitch_deg": float(cams.pitch_deg[0]),
            "yaw_deg": float(cams.yaw_deg[0]),
            "roll_deg": float(cams.roll_deg[0]),
        }
        length = clip.num_frames
        if stride is None or length <= num_frames:
            starts = [0]
            size = length
        else:
            starts = list(range(0, length - num_frames + 1, stride))
            size = num_frames
        for start in starts:
            sl = slice(start, start + size)
            out.append(
                EvalClip(
                    name=clip.name if len(starts) == 1 else f"{clip.name}@{start}",
                    source=clip.source,
                    labels=dict(clip.labels),
                    fps=clip.fps,
                    inputs=batch["inputs"][0, sl],
                    target3d=batch["target3d"][0, sl],
                    target2d=batch["target2d"][0, sl],
                    camera=dict(meta),
                )
            )
    return out
