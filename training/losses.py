"""Training losses (torch): PoseMoE, DTGCN fine-tuning and pre-training, MLP baseline.

Shapes: poses are ``(B, T, J, 3)`` root-relative metres; 2D is ``(B, T, J, 2)`` normalised
screen units; depth is ``(B, T, J)`` metres. Every composite loss returns
``(total, parts)`` where ``parts`` maps each named term to its *unweighted* value (a
detached float), for logging.

- PoseMoE: ``w_mpjpe * MPJPE + w_pose2d * ||2D_refined - 2D_clean|| + w_depth * |z - z_gt|
  + w_temporal * temporal consistency + w_velocity * velocity``.
- DTGCN fine-tuning (paper): ``MPJPE + 0.5 N-MPJPE + 20 velocity``.
- DTGCN pre-training (data2vec-style, as the paper): the student sees the input with 70 % of
  its tokens (frame, joint) masked (the model puts Gaussian noise there) and regresses, on the
  masked tokens, the EMA teacher's average of its top-K (= 8) block outputs, each
  normalised with a parameter-free layer norm; τ of the EMA rises linearly.
- MLP: MPJPE + N-MPJPE (per frame; no temporal terms).
- Bone lengths (``posemoe_bone`` / ``dtgcn_bone``, 0 = off; not in either paper): mean
  |bone length - true bone length| over every frame, the bone-length loss of Chen et al.
  (Anatomy3D, 2021). The true body is constant in a window, so it also holds the lifted bones
  steady in time (real video showed 10-20 % variation without it).
- Proportions (``posemoe_proportion`` / ``dtgcn_proportion``, 0 = off; not in either paper, *ours*,
  issue 23): mean relative error ``|length / true length - 1|`` of every joint pair the detector's
  skeleton is measured by (:data:`video_mocap.training.jointmap.SKELETON_MEASURES`: shoulder and hip
  width, the limbs, pelvis-thorax, thorax-nose, thorax-head). The bone loss above counts millimetres,
  so the short measures (forearm, nose, head) weigh little in it; this one counts each measure's
  share of itself, which is what the lifted-proportions target scores. Added after the shipped tiny
  PoseMoE lifted forearms 11-12 % and the thorax-head 13-14 % short on real video.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
import torch.nn.functional as F

from ..core import skeleton
from .jointmap import SKELETON_MEASURES

if TYPE_CHECKING:  # config imports the data modules; the losses only read named weights
    from .config import LossConfig

_EPS = 1e-8


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean joint distance; (..., J, 3) x2 -> scalar."""
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def n_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after the per-pose optimal scale ``<p,t>/<p,p>`` (gradient flows through the scale)."""
    scale = (pred * target).sum(dim=(-1, -2), keepdim=True) / (pred * pred).sum(dim=(-1, -2), keepdim=True).clamp_min(_EPS)
    return mpjpe(scale * pred, target)


def velocity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean distance of first time differences; (B, T, J, 3) x2 -> scalar (0 when T < 2)."""
    if pred.shape[-3] < 2:
        return pred.new_zeros(())
    return torch.linalg.vector_norm(torch.diff(pred, dim=-3) - torch.diff(target, dim=-3), dim=-1).mean()


_BONE_PARENTS = [parent for parent, _ in skeleton.BONES]
_BONE_CHILDREN = [child for _, child in skeleton.BONES]


def bone_length_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |bone length - true bone length| over bones and frames; (B, T, J, 3) x2 -> scalar (metres)."""

    def lengths(joints: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(joints[..., _BONE_CHILDREN, :] - joints[..., _BONE_PARENTS, :], dim=-1)

    return (lengths(pred) - lengths(target)).abs().mean()


_MEASURE_A = [a for pairs in SKELETON_MEASURES.values() for a, _ in pairs]
_MEASURE_B = [b for pairs in SKELETON_MEASURES.values() for _, b in pairs]


def proportion_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean ``|length / true length - 1|`` over the detector skeleton's measured joint pairs and frames;
    (B, T, J, 3) x2 -> scalar (a fraction: 0.1 = 10 % off)."""

    def lengths(joints: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(joints[..., _MEASURE_A, :] - joints[..., _MEASURE_B, :], dim=-1)

    true = lengths(target)
    return ((lengths(pred) - true).abs() / true.clamp_min(_EPS)).mean()


def pose2d_error(pred2d: torch.Tensor, target2d: torch.Tensor) -> torch.Tensor:
    """Mean 2D joint distance; (B, T, J, 2) x2 -> scalar (normalised screen units)."""
    return torch.linalg.vector_norm(pred2d - target2d, dim=-1).mean()


def _weighted(weights: LossConfig, model: str, **terms: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """``sum(weights.<model>_<name> * term)`` and each term's unweighted value (a float, for logging)."""
    total = sum(getattr(weights, f"{model}_{name}") * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()}


def posemoe_loss(
    pred: torch.Tensor,
    aux: dict[str, torch.Tensor],
    target3d: torch.Tensor,
    target2d: torch.Tensor,
    weights: LossConfig,
    temporal_fn: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, dict[str, float]]:
    """PoseMoE loss.

    Args:
        pred: (B, T, J, 3) 3D prediction; aux: ``{"pose2d": (B, T, J, 2), "depth": (B, T, J)}``.
        target3d: (B, T, J, 3); target2d: (B, T, J, 2) clean normalised 2D.
        temporal_fn: the model module's ``temporal_consistency_loss`` (pred -> scalar).
    """
    return _weighted(
        weights, "posemoe",
        mpjpe=mpjpe(pred, target3d),
        pose2d=pose2d_error(aux["pose2d"], target2d),
        depth=(aux["depth"] - target3d[..., 2]).abs().mean(),
        temporal=temporal_fn(pred),
        velocity=velocity(pred, target3d),
        bone=bone_length_error(pred, target3d),
        proportion=proportion_error(pred, target3d),
    )


def dtgcn_finetune_loss(
    pred: torch.Tensor, target3d: torch.Tensor, weights: LossConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """DTGCN fine-tuning: ``MPJPE + 0.5 N-MPJPE + 20 velocity`` (weights from ``LossConfig``)."""
    return _weighted(weights, "dtgcn", mpjpe=mpjpe(pred, target3d), n_mpjpe=n_mpjpe(pred, target3d),
                     velocity=velocity(pred, target3d), bone=bone_length_error(pred, target3d),
                     proportion=proportion_error(pred, target3d))


def mlp_loss(pred: torch.Tensor, target3d: torch.Tensor, weights: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """MLP baseline: ``MPJPE + 0.5 N-MPJPE`` per frame."""
    return _weighted(weights, "mlp", mpjpe=mpjpe(pred, target3d), n_mpjpe=n_mpjpe(pred, target3d))


# ---------------------------------------------------------------------------------------
# DTGCN masked self-distillation pre-training
# ---------------------------------------------------------------------------------------
def token_mask(shape: tuple[int, int, int], prob: float, generator: torch.Generator | None = None,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, T, J) boolean mask, True = masked, each token independently with probability ``prob``."""
    return torch.rand(shape, generator=generator, device=device) < prob


def distillation_target(layers: list[torch.Tensor], top_k: int) -> torch.Tensor:
    """Average of the last ``top_k`` block outputs, each layer-normalised (no parameters).

    Args:
        layers: per-block outputs, each (B, T, J, C), first block first.
    Returns:
        (B, T, J, C) target (no gradient).
    """
    if not layers:
        raise ValueError("the teacher returned no block outputs")
    chosen = layers[-min(top_k, len(layers)):]
    normed = [F.layer_norm(layer.float(), layer.shape[-1:]) for layer in chosen]
    return torch.stack(normed, dim=0).mean(dim=0).detach()


def masked_distillation_loss(student: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked tokens: (B, T, J, C) x2, (B, T, J) bool -> scalar."""
    per_token = ((student - target) ** 2).mean(dim=-1)
    weights = mask.to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum().clamp_min(1.0)


def tau_at(step: int, ramp_steps: int, tau_start: float, tau_end: float) -> float:
    """EMA decay rising linearly from ``tau_start`` to ``tau_end`` over ``ramp_steps``."""
    if ramp_steps <= 0:
        return tau_end
    fraction = min(max(step / ramp_steps, 0.0), 1.0)
    return tau_start + fraction * (tau_end - tau_start)


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, tau: float) -> None:
    """``teacher <- tau * teacher + (1 - tau) * student`` for parameters; buffers are copied."""
    for t_param, s_param in zip(teacher.parameters(), student.parameters()):
        t_param.mul_(tau).add_(s_param.detach(), alpha=1.0 - tau)
    for t_buf, s_buf in zip(teacher.buffers(), student.buffers()):
        t_buf.copy_(s_buf)
