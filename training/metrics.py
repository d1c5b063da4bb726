"""3D pose error metrics (pure numpy): MPJPE, P-MPJPE, N-MPJPE, velocity error.

All functions take predictions and targets of shape ``(..., J, 3)`` in the same units
(metres in this project) and return errors in those units. Per-frame variants return
``(...)`` arrays; the summary helpers average them. Conventions follow the Human3.6M
literature:

- **MPJPE** (protocol 1): mean Euclidean joint distance, no alignment (poses are already
  root-relative).
- **P-MPJPE** (protocol 2): after a per-frame similarity (Procrustes) alignment of the
  prediction to the target: rotation, uniform scale and translation.
- **N-MPJPE**: after a per-frame optimal uniform scale only (Rhodin et al. 2018).
- **Velocity error** (MPJVE): mean Euclidean distance between the first differences over
  time of prediction and target, ``(..., T, J, 3)`` with time on axis ``-3``.
- **Bone-length CV** (no target needed): each bone's length over a clip, std / mean; real
  bones are constant, so this is how much a lifter's skeleton stretches (issue 9: <= 5 %,
  median over the bones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.skeleton import NUM_JOINTS, bone_lengths

#: metres -> millimetres, the unit every report uses
MM_PER_M = 1000.0
_EPS = 1e-12

METRIC_NAMES: tuple[str, ...] = ("mpjpe", "p_mpjpe", "n_mpjpe", "velocity")


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"prediction and target must both be (..., J, 3); got {pred.shape} and {target.shape}")
    return pred, target


def mpjpe_per_frame(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(..., J, 3) x2 -> (...) mean joint distance per pose."""
    pred, target = _check_pair(pred, target)
    return np.linalg.norm(pred - target, axis=-1).mean(axis=-1)


def procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Similarity-align each pose of ``pred`` to ``target`` (rotation, scale, translation).

    Args:
        pred, target: (..., J, 3).
    Returns:
        (..., J, 3) aligned prediction. Reflections are excluded (proper rotations only).
    """
    pred, target = _check_pair(pred, target)
    mu_pred = pred.mean(axis=-2, keepdims=True)
    mu_target = target.mean(axis=-2, keepdims=True)
    x = pred - mu_pred
    y = target - mu_target
    # cross-covariance (..., 3, 3); rotation R maps x onto y: y ~ s * x @ R
    cov = np.swapaxes(x, -1, -2) @ y
    u, sigma, vt = np.linalg.svd(cov)
    det = np.linalg.det(u @ vt)
    signs = np.ones_like(sigma)
    signs[..., -1] = np.sign(det + _EPS * (det == 0))
    rotation = (u * signs[..., None, :]) @ vt
    norm_x = (x**2).sum(axis=(-1, -2))
    scale = (sigma * signs).sum(axis=-1) / np.maximum(norm_x, _EPS)
    return scale[..., None, None] * (x @ rotation) + mu_target


def p_mpjpe_per_frame(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(..., J, 3) x2 -> (...) MPJPE after per-pose Procrustes alignment."""
    return mpjpe_per_frame(procrustes_align(pred, target), target)


def scale_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Scale each pose of ``pred`` by the least-squares optimal factor ``<p,t>/<p,p>``; (..., J, 3)."""
    pred, target = _check_pair(pred, target)
    scale = (pred * target).sum(axis=(-1, -2)) / np.maximum((pred * pred).sum(axis=(-1, -2)), _EPS)
    return scale[..., None, None] * pred


def n_mpjpe_per_frame(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(..., J, 3) x2 -> (...) MPJPE after per-pose optimal scaling."""
    return mpjpe_per_frame(scale_align(pred, target), target)


def velocity_error_per_frame(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(..., T, J, 3) x2 -> (..., T-1) mean joint velocity error per frame step (units per frame)."""
    pred, target = _check_pair(pred, target)
    if pred.ndim < 3:
        raise ValueError(f"velocity error needs a time axis: (..., T, J, 3), got {pred.shape}")
    return np.linalg.norm(np.diff(pred, axis=-3) - np.diff(target, axis=-3), axis=-1).mean(axis=-1)


def bone_cv(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) -> (16,) coefficient of variation (std / mean over frames) of each bone's length."""
    lengths = bone_lengths(np.asarray(joints, dtype=np.float64))
    return lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), _EPS)


def mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    return float(mpjpe_per_frame(pred, target).mean())


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    return float(p_mpjpe_per_frame(pred, target).mean())


def n_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    return float(n_mpjpe_per_frame(pred, target).mean())


def velocity_error(pred: np.ndarray, target: np.ndarray) -> float:
    return float(velocity_error_per_frame(pred, target).mean())


@dataclass
class ClipErrors:
    """Per-frame errors of one clip (metres); ``velocity`` has one fewer entry; ``bone_cv`` is the
    prediction's bone-length CV, median over its bones (a fraction; NaN unless H36M-17)."""

    name: str
    labels: dict
    mpjpe: np.ndarray
    p_mpjpe: np.ndarray
    n_mpjpe: np.ndarray
    velocity: np.ndarray
    bone_cv: float = float("nan")

    @property
    def num_frames(self) -> int:
        return int(self.mpjpe.shape[0])

    def summary_mm(self) -> dict[str, float]:
        """Mean of each metric over the clip's frames, in millimetres."""
        out = {}
        for key in METRIC_NAMES:
            values = getattr(self, key)
            out[key] = float(values.mean() * MM_PER_M) if values.size else float("nan")
        return out


def clip_errors(name: str, pred: np.ndarray, target: np.ndarray, labels: dict | None = None) -> ClipErrors:
    """Errors of one clip: ``pred``, ``target`` (T, J, 3) metres."""
    pred, target = _check_pair(pred, target)
    if pred.ndim != 3:
        raise ValueError(f"a clip is (T, J, 3); got {pred.shape}")
    return ClipErrors(
        name=name,
        labels=dict(labels or {}),
        mpjpe=mpjpe_per_frame(pred, target),
        p_mpjpe=p_mpjpe_per_frame(pred, target),
        n_mpjpe=n_mpjpe_per_frame(pred, target),
        velocity=velocity_error_per_frame(pred, target),
        bone_cv=float(np.median(bone_cv(pred))) if pred.shape[1] == NUM_JOINTS else float("nan"),
    )


@dataclass
class EvalSummary:
    """Overall (frame-weighted) and per-clip errors in millimetres; ``bone_cv`` is the median over
    clips of each clip's bone-length CV (a fraction)."""

    overall: dict[str, float]
    per_clip: list[dict] = field(default_factory=list)
    num_clips: int = 0
    num_frames: int = 0
    bone_cv: float = float("nan")

    def worst(self, fraction: float = 0.1, key: str = "mpjpe") -> list[dict]:
        """The worst ``fraction`` of clips by ``key`` (at least one), worst first."""
        count = max(1, int(round(fraction * len(self.per_clip)))) if self.per_clip else 0
        return sorted(self.per_clip, key=lambda row: row[key], reverse=True)[:count]

    def to_dict(self) -> dict:
        return {
            "overall": self.overall,
            "num_clips": self.num_clips,
            "num_frames": self.num_frames,
            "per_clip": self.per_clip,
            "bone_cv": self.bone_cv,
        }


def summarize(clips: list[ClipErrors]) -> EvalSummary:
    """Pool per-frame errors of all clips (each frame counts once) and list per-clip means (mm)."""
    if not clips:
        return EvalSummary(overall={key: float("nan") for key in METRIC_NAMES})
    overall = {}
    for key in METRIC_NAMES:
        values = np.concatenate([getattr(c, key) for c in clips])
        overall[key] = float(values.mean() * MM_PER_M) if values.size else float("nan")
    per_clip = [
        {"name": c.name, "labels": c.labels, "frames": c.num_frames, **c.summary_mm(), "bone_cv": c.bone_cv}
        for c in clips
    ]
    return EvalSummary(
        overall=overall, per_clip=per_clip, num_clips=len(clips), num_frames=int(sum(c.num_frames for c in clips)),
        bone_cv=float(np.median([c.bone_cv for c in clips])),
    )
