"""PoseMoE: a mixture-of-experts lifter (Li et al., arXiv 2512.16494), re-implemented.

Input ``(B, T, 17, 3)``: normalised screen (x, y) plus detector score per joint.
Output ``(B, T, 17, 3)``: root-relative 3D joints in metres, OpenCV camera axes.

Layout (names as in the paper, choices where the paper is silent marked *ours*)::

    x (B,T,J,3) --embed_2d--> F0 (+ spatial & temporal position embeddings)
                --embed_depth--> D0 ; concat(D0, Gaussian tokens F_G) --MLP--> D
    Encoder, L layers, the two experts kept apart:
      2D pose expert : spatial SA -> temporal SA -> cross-attention to F0 (the original
                       2D input embedding), MixSTE-style alternating blocks
      depth expert   : spatial SA -> temporal SA on D (learned from scratch)
    Decoder (cross-expert knowledge aggregation, K layers): bidirectional cross-attention,
                      P <- attend(P, D) and D <- attend(D, P), over joints then over time,
                      each followed by an MLP
    router = "gate" (issue 23; the paper's "Pose Router ... dynamically selects between the
    expert outputs"):
      2D expert head    P -> refined 2D (normalised screen units; aux output, supervised with
                             the clean 2D) and its own 3D estimate X_P = (x, y, z) in metres
      depth expert head D -> its own 3D estimate X_D (aux "depth" = its z, supervised alone)
      Pose router       per token and per coordinate, g = softmax(W LN([P; D])) over the two
                        experts: 3D = g_P * X_P + g_D * X_D (aux "gate": (B,T,J,3,2))
    router = "mixture" (the shipped ``tiny`` weights before issue 23; a card without the key):
      a per-token gate mixes the *features* M = g0 P + g1 D after the encoder, M is added to
      both streams before a 2D head (x, y) and a depth head (z): it routes nothing.
    3D with the pelvis subtracted.

Choices where the paper summary is silent (*ours*, following MixSTE / MotionBERT /
KTPFormer): pre-norm blocks with MLP ratio 4 (MLP ratio 2 in the decoder), learnable spatial
and temporal position embeddings (temporal one linearly interpolated to other clip lengths),
the 2D expert's cross-attention to the input embedding is per frame over joints, the
Gaussian tokens are one learnable ``(J, C)`` set initialised from N(0, 1) and shared by all
frames, and no back-projection of the refined 2D (it would need the camera). The gated router
(*ours* where the paper is silent): the router sits after the decoder and gates the two
experts' *outputs* (their 3D estimates), not their features, so each expert's estimate can be
read (the MI analysis of the paper needs the streams apart); the gate is soft (both experts are
always evaluated: with two experts and a regression target a top-1 choice would only lose
gradient) and per coordinate, so the router can trust the 2D expert for x, y and the depth
expert for z or the other way, joint by joint and frame by frame; its bias starts at 0 (an
even split) and no load-balancing loss is used (two always-evaluated experts cannot starve).

Losses: the training engineer combines MPJPE on the 3D output, a 2D loss on ``pose2d``
against clean 2D, and :func:`temporal_consistency_loss` (first-difference smoothness).
Paper: 243 frames, about 17.9M parameters (``paper`` preset: 17.7M, 12 encoder + 1 decoder layers, dim 152).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...core.skeleton import NUM_JOINTS, PELVIS
from .layers import AttentionBlock, Mlp, drop_path_rates, init_weights, resize_temporal

#: channels of each input joint: normalised x, y and the detector score
IN_CHANNELS = 3
#: std of the Gaussian the depth tokens start from (paper: "Gaussian-distributed")
GAUSSIAN_TOKEN_STD = 1.0
#: channels of the 2D head: refined 2D (2, screen units) + metric root-relative x, y (2)
HEAD_2D_CHANNELS = 4


@dataclass
class PoseMoEConfig:
    """Size of a PoseMoE network (see ``CONFIG_PRESETS`` in ``models/__init__.py``)."""

    num_frames: int = 243
    dim: int = 64
    encoder_layers: int = 4
    decoder_layers: int = 1
    heads: int = 8
    mlp_ratio: float = 4.0
    decoder_mlp_ratio: float = 2.0
    dropout: float = 0.0
    drop_path: float = 0.1
    #: "gate": the router gates the experts' 3D outputs (issue 23); "mixture": the pre-issue-23
    #: feature mixture (the default, so an older card, which has no such key, loads as it was trained)
    router: str = "mixture"


ROUTERS: tuple[str, ...] = ("gate", "mixture")
#: channels of the 2D expert's head in the gated model: refined 2D (2) + its 3D estimate (3)
GATED_HEAD_2D_CHANNELS = 5


class ExpertLayer(nn.Module):
    """One encoder layer of both experts, kept apart: (B,T,J,C) x3 -> (P, D)."""

    def __init__(self, cfg: PoseMoEConfig, drop_path: float) -> None:
        super().__init__()
        kw = dict(mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout, drop_path=drop_path)
        # 2D pose expert
        self.pose_spatial = AttentionBlock(cfg.dim, cfg.heads, "spatial", **kw)
        self.pose_temporal = AttentionBlock(cfg.dim, cfg.heads, "temporal", **kw)
        self.pose_cross = AttentionBlock(cfg.dim, cfg.heads, "spatial", cross=True, **kw)
        # depth expert
        self.depth_spatial = AttentionBlock(cfg.dim, cfg.heads, "spatial", **kw)
        self.depth_temporal = AttentionBlock(cfg.dim, cfg.heads, "temporal", **kw)

    def forward(self, pose: torch.Tensor, depth: torch.Tensor, input_2d: torch.Tensor):
        pose = self.pose_cross(self.pose_temporal(self.pose_spatial(pose)), input_2d)
        depth = self.depth_temporal(self.depth_spatial(depth))
        return pose, depth


class PoseRouter(nn.Module):
    """Per-token softmax gate over the two experts: (B,T,J,C) x2 -> mixture (B,T,J,C), gate (B,T,J,2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim)
        self.gate = nn.Linear(2 * dim, 2)

    def forward(self, pose: torch.Tensor, depth: torch.Tensor):
        gate = torch.softmax(self.gate(self.norm(torch.cat([pose, depth], dim=-1))), dim=-1)
        mixture = gate[..., 0:1] * pose + gate[..., 1:2] * depth
        return mixture, gate


class OutputRouter(nn.Module):
    """Gates the two experts' 3D outputs per token and coordinate:
    (B,T,J,C) x2 features, (B,T,J,3) x2 estimates -> (B,T,J,3) estimate, gate (B,T,J,3,2)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim)
        self.gate = nn.Linear(2 * dim, 3 * 2)
        self.coordinates = 3

    def forward(self, pose: torch.Tensor, depth: torch.Tensor, out_pose: torch.Tensor, out_depth: torch.Tensor):
        logits = self.gate(self.norm(torch.cat([pose, depth], dim=-1)))
        gate = torch.softmax(logits.unflatten(-1, (self.coordinates, 2)), dim=-1)
        return gate[..., 0] * out_pose + gate[..., 1] * out_depth, gate


class KnowledgeAggregationLayer(nn.Module):
    """Cross-expert knowledge aggregation: bidirectional cross-attention over joints, then time."""

    def __init__(self, cfg: PoseMoEConfig, drop_path: float) -> None:
        super().__init__()
        kw = dict(mlp_ratio=cfg.decoder_mlp_ratio, dropout=cfg.dropout, drop_path=drop_path, cross=True)
        self.pose_from_depth_spatial = AttentionBlock(cfg.dim, cfg.heads, "spatial", **kw)
        self.depth_from_pose_spatial = AttentionBlock(cfg.dim, cfg.heads, "spatial", **kw)
        self.pose_from_depth_temporal = AttentionBlock(cfg.dim, cfg.heads, "temporal", **kw)
        self.depth_from_pose_temporal = AttentionBlock(cfg.dim, cfg.heads, "temporal", **kw)

    def forward(self, pose: torch.Tensor, depth: torch.Tensor):
        pose, depth = self.pose_from_depth_spatial(pose, depth), self.depth_from_pose_spatial(depth, pose)
        pose, depth = self.pose_from_depth_temporal(pose, depth), self.depth_from_pose_temporal(depth, pose)
        return pose, depth


class PoseMoE(nn.Module):
    """PoseMoE lifter: ``forward(x (B,T,17,3)) -> (B,T,17,3)`` root-relative metres."""

    def __init__(self, config: PoseMoEConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or PoseMoEConfig()
        if cfg.router not in ROUTERS:
            raise ValueError(f"PoseMoE router must be one of {ROUTERS}, got {cfg.router!r}")
        c, j = cfg.dim, NUM_JOINTS
        self.embed_2d = nn.Linear(IN_CHANNELS, c)
        self.embed_depth = nn.Linear(IN_CHANNELS, c)
        self.spatial_pos = nn.Parameter(torch.zeros(1, 1, j, c))
        self.temporal_pos = nn.Parameter(torch.zeros(1, cfg.num_frames, 1, c))
        self.gaussian_tokens = nn.Parameter(torch.zeros(1, 1, j, c))
        self.depth_compress = Mlp(2 * c, 2 * c, out_dim=c, dropout=cfg.dropout)

        total = cfg.encoder_layers + cfg.decoder_layers
        rates = drop_path_rates(cfg.drop_path, total)
        self.encoder = nn.ModuleList(ExpertLayer(cfg, rates[i]) for i in range(cfg.encoder_layers))
        gated = cfg.router == "gate"
        self.router = OutputRouter(c) if gated else PoseRouter(c)
        self.decoder = nn.ModuleList(
            KnowledgeAggregationLayer(cfg, rates[cfg.encoder_layers + i]) for i in range(cfg.decoder_layers)
        )
        self.norm_pose = nn.LayerNorm(c)
        self.norm_depth = nn.LayerNorm(c)
        self.head_2d = nn.Linear(c, GATED_HEAD_2D_CHANNELS if gated else HEAD_2D_CHANNELS)
        self.head_depth = nn.Linear(c, 3 if gated else 1)

        self.apply(init_weights)
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)
        nn.init.normal_(self.gaussian_tokens, std=GAUSSIAN_TOKEN_STD)

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        """x: (B, T, 17, 3) [x, y, score] -> (B, T, 17, 3) metres, pelvis at 0.

        With ``return_aux=True`` also returns ``{"pose2d": (B,T,17,2) refined 2D in the
        input's screen units, "depth": (B,T,17) root-relative z in metres (the gated router: the
        depth expert's own z), "gate": router weights, (B,T,17,3,2) per coordinate and expert
        (gated) or (B,T,17,2) per expert (mixture)}``.
        """
        b, t, j, _ = x.shape
        pos = self.spatial_pos + resize_temporal(self.temporal_pos, t)
        input_2d = self.embed_2d(x) + pos
        depth0 = self.embed_depth(x) + pos
        depth = self.depth_compress(torch.cat([depth0, self.gaussian_tokens.expand(b, t, j, -1)], dim=-1))

        pose = input_2d
        for layer in self.encoder:
            pose, depth = layer(pose, depth, input_2d)
        if self.config.router == "gate":
            return self._gated_output(pose, depth, return_aux)
        mixture, gate = self.router(pose, depth)
        for layer in self.decoder:
            pose, depth = layer(pose, depth)

        out_2d = self.head_2d(self.norm_pose(pose + mixture))
        z = self.head_depth(self.norm_depth(depth + mixture))
        pose3d = torch.cat([out_2d[..., 2:4], z], dim=-1)
        pose3d = pose3d - pose3d[:, :, PELVIS : PELVIS + 1, :]
        if not return_aux:
            return pose3d
        return pose3d, {"pose2d": out_2d[..., 0:2], "depth": pose3d[..., 2], "gate": gate}


    def _gated_output(self, pose: torch.Tensor, depth: torch.Tensor, return_aux: bool):
        """Decoder, the two experts' heads and the output router (``router = "gate"``)."""
        for layer in self.decoder:
            pose, depth = layer(pose, depth)
        pose, depth = self.norm_pose(pose), self.norm_depth(depth)
        out_2d = self.head_2d(pose)
        from_pose, from_depth = out_2d[..., 2:5], self.head_depth(depth)
        from_pose = from_pose - from_pose[:, :, PELVIS : PELVIS + 1, :]
        from_depth = from_depth - from_depth[:, :, PELVIS : PELVIS + 1, :]
        pose3d, gate = self.router(pose, depth, from_pose, from_depth)
        pose3d = pose3d - pose3d[:, :, PELVIS : PELVIS + 1, :]
        if not return_aux:
            return pose3d
        return pose3d, {"pose2d": out_2d[..., 0:2], "depth": from_depth[..., 2], "gate": gate}


#: the warm start's router logit for the expert that gave a coordinate in the mixture model (the
#: other gets its negative): softmax(+1.5, -1.5) = 0.95, so the router starts trusting that expert
WARM_START_GATE_LOGIT = 1.5


def gated_state_from_mixture(mixture_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of a ``router = "gate"`` PoseMoE warm-started from a trained ``"mixture"`` one.

    Embeddings, encoder, decoder and norms keep their weights (same shapes). Each expert's 3D head
    starts as the mixture model's head for the coordinates that expert gave there (2D expert: the
    refined 2D and x, y; depth expert: z) and at zero for the others; the router's norm is kept and
    its gate starts at 0.95 for the expert that gave each coordinate. The mixture's feature sum before
    the heads is gone, so the warm-started model is close to, not equal to, the mixture one: it is a
    starting point for training (issue 23), not a model.

    Args:
        mixture_state: a mixture PoseMoE's ``state_dict()``.
    Returns:
        A state dict that ``PoseMoE(PoseMoEConfig(router="gate", ...)).load_state_dict`` takes (strict).
    """
    gated = {k: v.clone() for k, v in mixture_state.items()
             if not k.startswith(("router.gate.", "head_2d.", "head_depth."))}
    w2d, b2d = mixture_state["head_2d.weight"], mixture_state["head_2d.bias"]  # (4, C): 2D (2), x, y
    wz, bz = mixture_state["head_depth.weight"], mixture_state["head_depth.bias"]  # (1, C): z
    dim = w2d.shape[1]
    gated["head_2d.weight"] = torch.cat([w2d, torch.zeros(1, dim)], dim=0)
    gated["head_2d.bias"] = torch.cat([b2d, torch.zeros(1)])
    gated["head_depth.weight"] = torch.cat([torch.zeros(2, dim), wz], dim=0)
    gated["head_depth.bias"] = torch.cat([torch.zeros(2), bz])
    # gate logits, (coordinate, expert) flattened: x, y from the 2D expert, z from the depth expert
    logits = torch.tensor([[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]]) * WARM_START_GATE_LOGIT
    gated["router.gate.weight"] = torch.zeros(logits.numel(), 2 * dim)
    gated["router.gate.bias"] = logits.flatten()
    return gated


def temporal_consistency_loss(pred: torch.Tensor) -> torch.Tensor:
    """Mean first-difference magnitude of a (B, T, J, C) sequence (0 when T < 2).

    Penalises frame-to-frame jitter of the prediction (PoseMoE's temporal-consistency term).
    """
    if pred.shape[1] < 2:
        return pred.new_zeros(())
    return torch.linalg.vector_norm(pred[:, 1:] - pred[:, :-1], dim=-1).mean()
