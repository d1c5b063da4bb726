"""A 2D noise model that imitates a pose detector + tracker, and its confidence scores.

Applied in pixels to clean projected joints, per window (vectorised over the batch):

- jitter: Gaussian, std a fraction of the person's 2D size (the larger side of the 2D
  bounding box, median over the window), per-joint factors (wrists and ankles larger);
  temporally correlated by a first-order low-pass filter (AR(1), coefficient per window);
- outliers: rare joints thrown far off (score low);
- left/right swaps of a limb (knee+ankle, elbow+wrist or the whole side) for a few frames;
- dropped joints: short runs where a joint is missing (score 0);
- tracker dropouts: every joint missing for a few frames (score 0);
- out-of-frame joints: clamped to the image border, low scores.

Scores: clean joints ~U(0.7, 1.0) per window and joint with small per-frame wobble;
corrupted joints ~U(0.05, 0.5).

Finally the 2D stage's own gap filling runs (:func:`fill_like_inference`): every joint
scored below ``skeleton.MIN_JOINT_SCORE`` is interpolated in time and scored 0, so the lifter
sees in training exactly what the 2D stage hands it at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import VideoMocapError
from ..core import skeleton
from .augment import check_config_ranges

J = skeleton.JOINT_INDEX
#: per-joint jitter factor (detectors are least sure of wrists and ankles, best on the head)
JOINT_JITTER_FACTOR: np.ndarray = np.ones(skeleton.NUM_JOINTS, dtype=np.float32)
for _name, _factor in {
    "right_wrist": 1.8, "left_wrist": 1.8, "right_ankle": 1.5, "left_ankle": 1.5,
    "right_elbow": 1.3, "left_elbow": 1.3, "right_knee": 1.2, "left_knee": 1.2,
    "right_hip": 1.3, "left_hip": 1.3, "neck_nose": 0.7, "head": 0.7,
    "pelvis": 1.0, "spine": 0.8, "thorax": 0.7,
}.items():
    JOINT_JITTER_FACTOR[J[_name]] = _factor

#: limb groups that a detector swaps left/right (as index lists on the right side; left = flipped)
SWAP_GROUPS: tuple[tuple[int, ...], ...] = (
    (J["right_knee"], J["right_ankle"]),
    (J["right_elbow"], J["right_wrist"]),
    (J["right_wrist"],),
    (J["right_ankle"],),
    tuple(skeleton.RIGHT_JOINTS),
)
_FLIP = np.array(skeleton.FLIP_PERMUTATION)
#: out-of-frame joints are clamped this many pixels inside the border
BORDER_PX = 1.0
#: frames (evenly spread) used to measure the person's 2D size
SIZE_FRAMES = 16
#: per-frame wobble (std) of clean scores
SCORE_WOBBLE = 0.03


@dataclass
class NoiseConfig:
    """Detector-like 2D noise (see the module docstring). ``enabled=False`` gives clean 2D, scores 1."""

    enabled: bool = True
    #: jitter std range (per window) as a fraction of the person's 2D size
    jitter: tuple[float, float] = (0.003, 0.02)
    #: AR(1) coefficient range of the jitter (0 = white, 0.9 = slow drift)
    temporal_correlation: tuple[float, float] = (0.3, 0.9)
    #: probability per joint and frame of an outlier, and its size (fraction of the person size)
    outlier_prob: float = 0.002
    outlier_size: tuple[float, float] = (0.05, 0.3)
    #: probability per window of a left/right swap, and its length in frames
    swap_prob: float = 0.15
    swap_frames: tuple[int, int] = (1, 8)
    #: probability per joint and frame that a dropped run starts, and its length in frames
    drop_prob: float = 0.002
    drop_frames: tuple[int, int] = (1, 12)
    #: probability per window of a whole-body tracker dropout, and its length in frames
    track_dropout_prob: float = 0.05
    track_dropout_frames: tuple[int, int] = (2, 15)
    score_clean: tuple[float, float] = (0.7, 1.0)
    score_corrupt: tuple[float, float] = (0.05, 0.5)
    score_out_of_frame: tuple[float, float] = (0.0, 0.3)

    def __post_init__(self) -> None:
        check_config_ranges(self, "noise")
        scores = self.score_clean + self.score_corrupt + self.score_out_of_frame
        if not all(0.0 <= v <= 1.0 for v in scores):
            raise VideoMocapError(f"noise: score ranges must lie in [0, 1], got {list(scores)}.")
        if min(self.swap_frames + self.drop_frames + self.track_dropout_frames) < 1:
            raise VideoMocapError("noise: swap_frames, drop_frames and track_dropout_frames must be >= 1.")


def person_size(pixels: np.ndarray) -> np.ndarray:
    """(B, T, 17, 2) -> (B,) mean over frames of the larger side of the 2D bounding box."""
    few = pixels[:, :: max(1, pixels.shape[1] // SIZE_FRAMES)]
    extent = few.max(axis=2) - few.min(axis=2)
    return extent.max(axis=-1).mean(axis=1)


def _ar1_noise(rng: np.random.Generator, shape: tuple[int, ...], coeff: np.ndarray) -> np.ndarray:
    """Unit-variance AR(1) noise along axis 1 of ``shape`` = (B, T, ...); coeff (B,)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    a = coeff.reshape((-1,) + (1,) * (len(shape) - 2)).astype(np.float32)
    gain = np.sqrt(1.0 - a * a)
    out = np.empty_like(white)
    out[:, 0] = white[:, 0]
    for t in range(1, shape[1]):
        out[:, t] = a * out[:, t - 1] + gain * white[:, t]
    return out


def _runs(rng: np.random.Generator, starts: np.ndarray, length_range: tuple[int, int]) -> np.ndarray:
    """Boolean (B, T, ...) start events -> masks of runs of random length along axis 1."""
    mask = np.zeros_like(starts)
    lo, hi = length_range
    frames = starts.shape[1]
    idx = np.argwhere(starts)
    lengths = rng.integers(lo, hi + 1, len(idx))
    for (b, t, *rest), n in zip(idx, lengths):
        mask[(b, slice(t, min(t + n, frames)), *rest)] = True
    return mask


def fill_like_inference(pixels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2D stage's gap filling (:func:`inference.detect.fill_gaps`), vectorised over windows.

    Same rule as at inference (a test checks it against ``fill_gaps`` window by window): a
    joint scored below ``skeleton.MIN_JOINT_SCORE`` (or not finite) is missing; it is
    interpolated linearly in time between its valid neighbours (held at the ends), a joint
    never valid in the window copies its parent (the pelvis: the mean of the seen joints),
    and missing joints get score 0. Here the track is the window, so a gap at a window edge
    is held rather than interpolated towards frames outside it. Windows with no valid joint
    at all keep their positions, scores 0.

    Args:
        pixels: (B, T, J, 2); scores: (B, T, J).
    Returns:
        filled pixels (B, T, J, 2) float32 and scores (B, T, J) float32.
    """
    pixels = np.asarray(pixels, dtype=np.float32)
    valid = (scores >= skeleton.MIN_JOINT_SCORE) & np.isfinite(pixels).all(axis=-1)
    batch, frames, joints = valid.shape
    t = np.arange(frames)[None, :, None]
    prev_idx = np.maximum.accumulate(np.where(valid, t, -1), axis=1)
    next_idx = np.flip(np.minimum.accumulate(np.flip(np.where(valid, t, frames), axis=1), axis=1), axis=1)
    has_prev, has_next = prev_idx >= 0, next_idx < frames
    lo, hi = np.clip(prev_idx, 0, frames - 1), np.clip(next_idx, 0, frames - 1)
    safe = np.where(np.isfinite(pixels), pixels, 0.0).astype(np.float64)
    v_lo = np.take_along_axis(safe, lo[..., None], axis=1)
    v_hi = np.take_along_axis(safe, hi[..., None], axis=1)
    both = has_prev & has_next
    weight = np.where(both, (t - lo) / np.maximum(hi - lo, 1), np.where(has_prev, 0.0, 1.0))[..., None]
    filled = np.where(valid[..., None], pixels, v_lo + weight * (v_hi - v_lo)).astype(np.float32)
    never = ~valid.any(axis=1)  # (B, J)
    empty = never.all(axis=1)
    if never.any():
        seen = (~never)[:, None, :, None]
        seen_mean = (filled * seen).sum(axis=2) / np.maximum(seen.sum(axis=2), 1)
        for j in range(joints):  # parents come before children: a parent is filled first
            rows = never[:, j]
            if rows.any():
                parent = skeleton.PARENTS[j]
                filled[rows, :, j] = filled[rows, :, parent] if parent >= 0 else seen_mean[rows]
    filled[empty] = pixels[empty]
    return filled, np.where(valid, scores, 0.0).astype(np.float32)


def apply_detector_noise(
    pixels: np.ndarray,
    in_frame: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    config: NoiseConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt clean 2D like a detector would.

    Args:
        pixels: (B, T, 17, 2) clean projected joints in pixels.
        in_frame: (B, T, 17) joints inside the image and in front of the camera.
        width, height: (B,) image sizes.
    Returns:
        noisy pixels (B, T, 17, 2) float32 and scores (B, T, 17) float32 in [0, 1].
    """
    batch, frames, joints = pixels.shape[:3]
    size = np.maximum(person_size(pixels), 1.0).astype(np.float32)
    if not config.enabled:
        noisy = _clamp_to_image(pixels, width, height)
        scores = np.where(in_frame, 1.0, 0.0).astype(np.float32)
        return noisy, scores

    out = pixels.astype(np.float32).copy()
    std = rng.uniform(*config.jitter, batch).astype(np.float32) * size
    coeff = rng.uniform(*config.temporal_correlation, batch)
    jitter = _ar1_noise(rng, (batch, frames, joints, 2), coeff)
    out += jitter * (std[:, None, None, None] * JOINT_JITTER_FACTOR[None, None, :, None])

    base = rng.uniform(*config.score_clean, (batch, 1, joints))
    wobble = rng.standard_normal((batch, frames, joints), dtype=np.float32) * SCORE_WOBBLE
    scores = np.clip(base.astype(np.float32) + wobble, 0.0, 1.0)
    corrupt = np.zeros((batch, frames, joints), dtype=bool)

    outliers = rng.random((batch, frames, joints)) < config.outlier_prob
    if outliers.any():
        where = np.nonzero(outliers)
        direction = rng.standard_normal((len(where[0]), 2)).astype(np.float32)
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True) + 1e-8
        amount = rng.uniform(*config.outlier_size, len(where[0])).astype(np.float32) * size[where[0]]
        out[where] += direction * amount[:, None]
        corrupt |= outliers

    swap_windows = np.flatnonzero(rng.random(batch) < config.swap_prob)
    for b in swap_windows:
        group = np.array(SWAP_GROUPS[rng.integers(len(SWAP_GROUPS))])
        length = int(rng.integers(config.swap_frames[0], config.swap_frames[1] + 1))
        start = int(rng.integers(0, max(frames - length, 0) + 1))
        sl = slice(start, start + length)
        both = np.concatenate([group, _FLIP[group]])
        out[b, sl, both] = out[b, sl, _FLIP[both]]
        scores[b, sl, both] *= rng.uniform(0.6, 1.0)

    missing = _runs(rng, rng.random((batch, frames, joints)) < config.drop_prob, config.drop_frames)
    dropout_starts = np.zeros((batch, frames), dtype=bool)
    for b in np.flatnonzero(rng.random(batch) < config.track_dropout_prob):
        dropout_starts[b, rng.integers(0, frames)] = True
    missing |= _runs(rng, dropout_starts, config.track_dropout_frames)[:, :, None]

    scores[corrupt] = rng.uniform(*config.score_corrupt, int(corrupt.sum()))
    off = ~in_frame
    scores[off] = rng.uniform(*config.score_out_of_frame, int(off.sum()))
    scores[missing] = 0.0
    out = _clamp_to_image(out, width, height)
    return fill_like_inference(out, scores)


def _clamp_to_image(pixels: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Keep (B, T, 17, 2) pixels inside each image (detectors never report points outside it)."""
    upper = np.stack([width, height], axis=-1).astype(np.float32)[:, None, None, :] - BORDER_PX
    return np.clip(pixels, BORDER_PX, upper).astype(np.float32)
