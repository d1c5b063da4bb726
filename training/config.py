"""Training configuration: YAML file -> nested dataclasses, rejecting unknown keys.

A config file mirrors :class:`TrainConfig`; every section is optional and falls back to
the dataclass defaults. Unknown keys anywhere raise :class:`VideoMocapError` naming the key,
its section and the file, so a typo never silently trains the wrong thing (the conversion:
:mod:`video_mocap.core.config_dict`, shared with the model configs of weight cards). The data,
augmentation, camera and noise sections are the data engineer's dataclasses
(``sources.DataConfig``, ``augment.AugmentConfig``, ``sampler.CameraConfig``,
``sampler.NoiseConfig``), loaded with the same strict rules.

See ``training/configs/*.yaml`` for the shipped recipes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.config_dict import from_dict, to_dict  # noqa: F401  (to_dict: part of this module's API)
from ..core.errors import VideoMocapError
from .augment import AugmentConfig
from .sampler import CameraConfig, NoiseConfig
from .sources import DataConfig

#: environment variable that overrides ``TrainConfig.threads``
THREADS_ENV = "VIDEO_MOCAP_THREADS"


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then exponential decay to ``lr * lr_final_ratio``.

    The decay follows the run's progress (the larger of step / steps and elapsed / budget
    minutes), so a wall-clock-limited run still ends at the low learning rate.

    ``ema_decay`` > 0 keeps an exponential moving average of the weights during supervised
    training (``torch.optim.swa_utils``, one update per step); validation, the best checkpoint
    and the export then use the averaged weights. 0 turns it off.
    """

    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    lr_final_ratio: float = 0.05
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.0


@dataclass
class LossConfig:
    """Named loss weights (see :mod:`video_mocap.training.losses`)."""

    # PoseMoE: 3D MPJPE + refined-2D + depth + temporal consistency
    posemoe_mpjpe: float = 1.0
    posemoe_pose2d: float = 0.5
    posemoe_depth: float = 0.5
    posemoe_temporal: float = 1.0
    posemoe_velocity: float = 2.0
    #: bone-length loss (not in the papers; see losses.bone_length_error), 0 = off
    posemoe_bone: float = 0.0
    #: relative error of the detector skeleton's measures (see losses.proportion_error), 0 = off
    posemoe_proportion: float = 0.0
    # DTGCN fine-tuning (paper): MPJPE + 0.5 N-MPJPE + 20 velocity
    dtgcn_mpjpe: float = 1.0
    dtgcn_n_mpjpe: float = 0.5
    dtgcn_velocity: float = 20.0
    dtgcn_bone: float = 0.0
    dtgcn_proportion: float = 0.0
    # MLP baseline: MPJPE (+ N-MPJPE)
    mlp_mpjpe: float = 1.0
    mlp_n_mpjpe: float = 0.5


@dataclass
class PretrainConfig:
    """DTGCN masked self-distillation pre-training (data2vec-style EMA teacher).

    ``steps = 0`` and ``minutes = 0`` skip it. τ rises linearly from ``tau_start`` to
    ``tau_end`` over ``tau_ramp_steps`` (or over the stage when 0).
    """

    steps: int = 0
    minutes: float = 0.0
    mask_prob: float = 0.7
    #: layers averaged into the self-distillation target (paper: top-K = 8)
    top_k: int = 8
    tau_start: float = 0.999
    tau_end: float = 0.9999
    tau_ramp_steps: int = 0
    lr: float = 5e-4
    batch_size: int = 0  # 0 -> the fine-tuning batch size


@dataclass
class ValConfig:
    """Periodic validation during training (a subset; ``video-mocap eval`` does the full sets)."""

    every_steps: int = 500
    #: keep every n-th validation clip (>= 1) and crop clips to this many frames (0 = whole)
    clip_stride: int = 4
    max_frames_per_clip: int = 300
    #: "detector" = seeded detector-like 2D noise (what the product sees), "none" = exact 2D
    noise: str = "detector"
    flip: bool = False
    seed: int = 1234


#: the training arithmetic choices (``TrainConfig.precision``)
PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainConfig:
    """One training run."""

    model: str = "mlp"
    preset: str = "tiny"
    #: overrides on the preset's model config (keys of the model's config dataclass)
    model_config: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    val: ValConfig = field(default_factory=ValConfig)
    batch_size: int = 32
    #: window length; 0 = the model config's ``num_frames``
    num_frames: int = 0
    #: stop after this many optimiser steps or this many minutes, whichever comes first (0 = no limit)
    steps: int = 10000
    minutes: float = 0.0
    seed: int = 0
    #: run folder (checkpoints, TensorBoard logs); relative paths are relative to the working directory
    output_dir: str = "runs/{model}"
    checkpoint_every: int = 500
    log_every: int = 50
    #: torch threads (0 = leave torch's default); the env var VIDEO_MOCAP_THREADS wins
    threads: int = 0
    #: where the best model is exported as fp16 safetensors + JSON card. "" = ``<output_dir>/<model>.safetensors``;
    #: "default" = the package's shipped ``weights/<model>.safetensors``
    export_path: str = ""
    #: start from trained weights instead of random ones: "" = random (DTGCN then pre-trains), "default" = the
    #: package's shipped ``weights/<model>.safetensors``, or the path of a ``.safetensors`` with its ``.json`` card.
    #: The card's model config must match this run's; pre-training is skipped; the starting weights are scored
    #: first, so the export is never worse on validation than where it started.
    init_weights: str = ""
    #: training arithmetic: "fp32", or "bf16" (the forward pass and the loss under torch.autocast; the
    #: weights, optimiser and validation stay fp32)
    precision: str = "fp32"
    #: free text stored in the model card
    notes: str = ""

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir.format(model=self.model, preset=self.preset))


def validate(config: TrainConfig, source: str = "config") -> TrainConfig:
    """Range checks that dataclass types cannot express."""
    from ..core.lifters import LIFTER_NAMES
    from ..inference.models import CONFIG_PRESETS

    if config.model not in LIFTER_NAMES:
        raise VideoMocapError(f"{source}: model '{config.model}' is unknown; choose one of {', '.join(LIFTER_NAMES)}.")
    presets = CONFIG_PRESETS[config.model]
    if config.preset not in presets:
        raise VideoMocapError(
            f"{source}: preset '{config.preset}' is unknown for {config.model}; choose one of {', '.join(presets)}."
        )
    checks = [
        (config.batch_size >= 1, "batch_size must be >= 1"),
        (config.num_frames >= 0, "num_frames must be >= 0 (0 = the model's)"),
        (config.steps > 0 or config.minutes > 0, "set steps or minutes (> 0) so the run ends"),
        (config.steps >= 0 and config.minutes >= 0, "steps and minutes must be >= 0"),
        (config.optim.lr > 0, "optim.lr must be > 0"),
        (0 < config.optim.lr_final_ratio <= 1, "optim.lr_final_ratio must be in (0, 1]"),
        (0 <= config.optim.ema_decay < 1, "optim.ema_decay must be in [0, 1) (0 = no weight averaging)"),
        (0 <= config.pretrain.mask_prob < 1, "pretrain.mask_prob must be in [0, 1)"),
        (config.pretrain.top_k >= 1, "pretrain.top_k must be >= 1"),
        (0 < config.pretrain.tau_start <= config.pretrain.tau_end <= 1, "need 0 < pretrain.tau_start <= tau_end <= 1"),
        (config.val.every_steps >= 1 and config.checkpoint_every >= 1, "val.every_steps and checkpoint_every must be >= 1"),
        (config.val.clip_stride >= 1, "val.clip_stride must be >= 1"),
        (config.val.noise in ("detector", "none"), "val.noise must be 'detector' or 'none'"),
        (config.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise VideoMocapError(f"{source}: {message}.")
    if (config.pretrain.steps or config.pretrain.minutes) and config.model != "dtgcn":
        raise VideoMocapError(f"{source}: pretrain is only for dtgcn (masked self-distillation); remove it for {config.model}.")
    return config


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a YAML training config; unknown keys and bad values raise :class:`VideoMocapError`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(f"training config not found: {path}. See training/configs/ for examples.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise VideoMocapError(f"{path}: not valid YAML ({exc}).") from None
    if not isinstance(data, dict):
        raise VideoMocapError(f"{path}: the top level must be a mapping of keys (model:, optim:, ...).")
    config = from_dict(TrainConfig, data, source=str(path))
    return validate(config, source=str(path))
