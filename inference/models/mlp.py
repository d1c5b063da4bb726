"""Per-frame MLP baseline (Martinez et al., "A simple yet effective baseline", ICCV 2017).

Each frame is lifted on its own: the (17, 3) input is flattened, mapped by a linear layer to
``hidden`` units, passed through residual blocks of (Linear, BatchNorm, ReLU, Dropout) x 2,
and projected to (17, 3); the pelvis is subtracted. Same interface as the sequence lifters:
``(B, T, 17, 3) -> (B, T, 17, 3)``; no temporal context, so any T works and windowing does
not change its output. Paper: hidden 1024, 2 residual blocks, dropout 0.5 (``paper`` preset).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...core.skeleton import NUM_JOINTS, PELVIS

#: channels of each input joint: normalised x, y and the detector score
IN_CHANNELS = 3


@dataclass
class MLPConfig:
    """Size of the baseline (see ``CONFIG_PRESETS`` in ``models/__init__.py``)."""

    num_frames: int = 243
    hidden: int = 1024
    blocks: int = 2
    dropout: float = 0.5


def _dense(hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout))


class ResidualBlock(nn.Module):
    """``x + (dense -> dense)(x)`` on (N, hidden)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(_dense(hidden, dropout), _dense(hidden, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class MLPLifter(nn.Module):
    """Per-frame residual MLP: ``forward(x (B,T,17,3)) -> (B,T,17,3)`` root-relative metres."""

    def __init__(self, config: MLPConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or MLPConfig()
        self.stem = nn.Sequential(
            nn.Linear(NUM_JOINTS * IN_CHANNELS, cfg.hidden),
            nn.BatchNorm1d(cfg.hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
        )
        self.blocks = nn.Sequential(*(ResidualBlock(cfg.hidden, cfg.dropout) for _ in range(cfg.blocks)))
        self.out = nn.Linear(cfg.hidden, NUM_JOINTS * 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 17, 3) -> (B, T, 17, 3)."""
        b, t, j, c = x.shape
        frames = x.reshape(b * t, j * c)
        pose = self.out(self.blocks(self.stem(frames))).reshape(b, t, j, 3)
        return pose - pose[:, :, PELVIS : PELVIS + 1, :]
