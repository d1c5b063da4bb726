"""DTGCN: dual-stream Transformer-GCN lifter (Ye et al., arXiv 2504.01764), re-implemented.

Input ``(B, T, 17, 3)``: normalised screen (x, y) plus detector score per joint.
Output ``(B, T, 17, 3)``: root-relative 3D joints in metres, OpenCV camera axes.

Layout::

    x --embedding MLP--> (+ spatial position embedding; no temporal one, as in the paper)
      --> N dual-stream blocks, each:
            Transformer stream: spatial self-attention block -> temporal self-attention block
            GCN stream        : spatial GCN block (skeleton adjacency ``skeleton.BONES``,
                                self loops, symmetric normalisation) -> temporal GCN block
                                (neighbouring frames linked)
            fusion            : a_T * F_T + a_G * F_G, (a_T, a_G) = softmax of two learned
                                logits *per block* (the paper's per-layer adaptive weights)
      --> LayerNorm -> projection head (Linear -> tanh -> Linear, MotionBERT's head) -> 3D,
          pelvis subtracted.

Pre-training (masked self-distillation, done by the training engineer): the student sees
inputs whose masked tokens are replaced by Gaussian noise (:meth:`DTGCN.forward_pretrain`)
and regresses the EMA teacher's target, ``training.losses.distillation_target`` of the
teacher's per-block outputs (``forward(x, return_layers=True)``): the average of the top-K=8
layer outputs, each normalised. Fine-tuning loss: ``training.losses.dtgcn_finetune_loss``
(MPJPE + 0.5 N-MPJPE + 20 velocity).

Choices where the paper summary is silent (*ours*, following MotionAGFormer / MotionBERT):
pre-norm blocks, MLP ratio 4, the GCN block is ``x + GELU(GCN(LN(x)))`` then an MLP, the
embedding "MLP" is Linear -> GELU -> Linear, masking replaces the embedded tokens (before
the position embedding) with N(0, 1) noise, each layer output in the distillation target is
normalised with a parameter-free LayerNorm over channels (data2vec normalises each layer's
output before averaging), and the pre-training head is LayerNorm -> Linear(C, C).
Paper: N=16, dim 128, 243 frames (``paper`` preset).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...core.skeleton import BONES, NUM_JOINTS, PELVIS
from .layers import AttentionBlock, GCNBlock, Mlp, drop_path_rates, init_weights, normalized_adjacency

#: channels of each input joint: normalised x, y and the detector score
IN_CHANNELS = 3


@dataclass
class DTGCNConfig:
    """Size of a DTGCN network (see ``CONFIG_PRESETS`` in ``models/__init__.py``)."""

    num_frames: int = 243
    dim: int = 64
    depth: int = 4
    heads: int = 8
    mlp_ratio: float = 4.0
    head_dim: int = 512
    dropout: float = 0.0
    drop_path: float = 0.1


class DualStreamBlock(nn.Module):
    """Transformer stream and GCN stream in parallel, fused by per-block learned weights."""

    def __init__(self, cfg: DTGCNConfig, drop_path: float, skeleton_adjacency: torch.Tensor) -> None:
        super().__init__()
        kw = dict(mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout, drop_path=drop_path)
        self.attn_spatial = AttentionBlock(cfg.dim, cfg.heads, "spatial", **kw)
        self.attn_temporal = AttentionBlock(cfg.dim, cfg.heads, "temporal", **kw)
        self.gcn_spatial = GCNBlock(cfg.dim, "spatial", spatial_adjacency=skeleton_adjacency, **kw)
        self.gcn_temporal = GCNBlock(cfg.dim, "temporal", **kw)
        #: two learned logits; softmax gives (a_transformer, a_gcn) for this block
        self.fusion_logits = nn.Parameter(torch.zeros(2))

    def fusion_weights(self) -> torch.Tensor:
        """(2,) softmax weights (transformer, gcn) of this block."""
        return torch.softmax(self.fusion_logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) -> (B, T, J, C)."""
        weights = self.fusion_weights()
        transformer = self.attn_temporal(self.attn_spatial(x))
        gcn = self.gcn_temporal(self.gcn_spatial(x))
        return weights[0] * transformer + weights[1] * gcn


class DTGCN(nn.Module):
    """DTGCN lifter: ``forward(x (B,T,17,3)) -> (B,T,17,3)`` root-relative metres."""

    def __init__(self, config: DTGCNConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or DTGCNConfig()
        c = cfg.dim
        self.embed = Mlp(IN_CHANNELS, c, out_dim=c, dropout=cfg.dropout)
        self.spatial_pos = nn.Parameter(torch.zeros(1, 1, NUM_JOINTS, c))
        adjacency = normalized_adjacency(NUM_JOINTS, BONES)
        rates = drop_path_rates(cfg.drop_path, cfg.depth)
        self.blocks = nn.ModuleList(DualStreamBlock(cfg, rates[i], adjacency) for i in range(cfg.depth))
        self.norm = nn.LayerNorm(c)
        self.head = nn.Sequential(nn.Linear(c, cfg.head_dim), nn.Tanh(), nn.Linear(cfg.head_dim, 3))
        self.pretrain_head = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, c))
        self.apply(init_weights)
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """x: (B, T, 17, 3) -> per-block outputs, a list of N tensors (B, T, 17, C).

        ``mask``: optional (B, T, 17) bool; masked embedded tokens become N(0, 1) noise.
        """
        tokens = self.embed(x)
        if mask is not None:
            noise = torch.randn_like(tokens)
            tokens = torch.where(mask[..., None].to(torch.bool), noise, tokens)
        tokens = tokens + self.spatial_pos
        layers = []
        for block in self.blocks:
            tokens = block(tokens)
            layers.append(tokens)
        return layers

    def forward(self, x: torch.Tensor, return_layers: bool = False):
        """x: (B, T, 17, 3) -> (B, T, 17, 3) metres, pelvis at 0.

        With ``return_layers=True`` also returns the list of per-block outputs (B, T, 17, C).
        """
        layers = self.encode(x)
        pose = self.head(self.norm(layers[-1]))
        pose = pose - pose[:, :, PELVIS : PELVIS + 1, :]
        return (pose, layers) if return_layers else pose

    def forward_pretrain(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Student pass of masked self-distillation: (B,T,17,3), mask (B,T,17) -> (B,T,17,C)."""
        return self.pretrain_head(self.encode(x, mask)[-1])

    def fusion_weights(self) -> torch.Tensor:
        """(N, 2) current (transformer, gcn) fusion weights of every block."""
        return torch.stack([block.fusion_weights() for block in self.blocks])
