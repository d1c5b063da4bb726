"""Building blocks shared by the lifters: attention, MLP, drop path, graph convolution.

Every lifter works on pose-sequence features laid out as ``(B, T, J, C)``: batch, frames,
joints, channels. Spatial blocks attend over the ``J`` joints of one frame; temporal blocks
attend over the ``T`` frames of one joint (MixSTE / MotionBERT style "alternating" design).
All blocks are pre-norm residual blocks (LayerNorm -> op -> DropPath -> add), like
MotionBERT, MotionAGFormer and MixSTE.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Axis = Literal["spatial", "temporal"]

#: std of truncated-normal init for linear layers and embeddings (ViT / MotionBERT default)
INIT_STD = 0.02


def init_weights(module: nn.Module) -> None:
    """ViT-style initialisation: truncated-normal linear weights, zero biases, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------------------------------
# layout helpers
# ---------------------------------------------------------------------------------------
def to_tokens(x: torch.Tensor, axis: Axis) -> torch.Tensor:
    """(B, T, J, C) -> sequences for attention along ``axis``.

    spatial: (B*T, J, C) (joints of one frame); temporal: (B*J, T, C) (frames of one joint).
    """
    b, t, j, c = x.shape
    if axis == "spatial":
        return x.reshape(b * t, j, c)
    return x.permute(0, 2, 1, 3).reshape(b * j, t, c)


def from_tokens(x: torch.Tensor, axis: Axis, batch: int, frames: int, joints: int) -> torch.Tensor:
    """Inverse of :func:`to_tokens`: back to (B, T, J, C)."""
    c = x.shape[-1]
    if axis == "spatial":
        return x.reshape(batch, frames, joints, c)
    return x.reshape(batch, joints, frames, c).permute(0, 2, 1, 3)


# ---------------------------------------------------------------------------------------
# basic layers
# ---------------------------------------------------------------------------------------
def drop_path_rates(max_rate: float, count: int) -> list[float]:
    """Stochastic-depth rates rising linearly from 0 to ``max_rate`` over ``count`` blocks."""
    if count <= 1:
        return [0.0] * count
    return [max_rate * i / (count - 1) for i in range(count)]


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = x.new_empty(shape).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """Linear -> GELU -> dropout -> Linear -> dropout on the last axis: (..., C) -> (..., C_out)."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim or dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head attention on token sequences: queries (N, L, C), keys/values (N, S, C) -> (N, L, C).

    Self-attention when ``context`` is None, cross-attention otherwise.
    Uses ``F.scaled_dot_product_attention`` (fused kernels on GPU, exportable to ONNX).
    """

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be divisible by heads {heads}")
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.dropout = float(dropout)
        self.proj_drop = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape
        return x.reshape(n, length, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q = self._split(self.q(x))
        k, v = (self._split(t) for t in self.kv(context).chunk(2, dim=-1))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        n, _, length, _ = out.shape
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(n, length, -1)))


class AttentionBlock(nn.Module):
    """Pre-norm transformer block along one axis of (B, T, J, C) features.

    ``x + DropPath(Attn(LN(x) [, LN(context)]))`` then ``x + DropPath(MLP(LN(x)))``.
    With ``cross=True`` the block attends from ``x`` to ``context`` (same layout as ``x``).
    ``mlp_ratio=0`` leaves the MLP out (attention-only block).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        axis: Axis,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        drop_path: float = 0.0,
        cross: bool = False,
    ) -> None:
        super().__init__()
        self.axis: Axis = axis
        self.cross = cross
        self.norm1 = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim) if cross else None
        self.attn = Attention(dim, heads, dropout=dropout)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim) if mlp_ratio > 0 else None
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout=dropout) if mlp_ratio > 0 else None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, J, C); context: (B, T, J, C) when ``cross`` -> (B, T, J, C)."""
        b, t, j, _ = x.shape
        tokens = to_tokens(x, self.axis)
        if self.cross:
            if context is None:
                raise ValueError("cross-attention block needs a context")
            ctx = self.norm_context(to_tokens(context, self.axis))
            tokens = tokens + self.drop_path(self.attn(self.norm1(tokens), ctx))
        else:
            tokens = tokens + self.drop_path(self.attn(self.norm1(tokens)))
        if self.mlp is not None:
            tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return from_tokens(tokens, self.axis, b, t, j)


# ---------------------------------------------------------------------------------------
# graph convolution
# ---------------------------------------------------------------------------------------
def normalized_adjacency(num_nodes: int, edges: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> torch.Tensor:
    """Symmetric normalised adjacency with self loops, ``D^-1/2 (A + I) D^-1/2``: (N, N)."""
    adj = torch.eye(num_nodes)
    for a, b in edges:
        adj[a, b] = 1.0
        adj[b, a] = 1.0
    inv_sqrt_deg = adj.sum(dim=1).rsqrt()
    return inv_sqrt_deg[:, None] * adj * inv_sqrt_deg[None, :]


def chain_edges(num_nodes: int) -> list[tuple[int, int]]:
    """Edges linking neighbouring frames: (0,1), (1,2), ... (temporal adjacency)."""
    return [(i, i + 1) for i in range(num_nodes - 1)]


class GraphConv(nn.Module):
    """Graph convolution ``A_hat X W`` over one axis of (B, T, J, C) with a fixed adjacency.

    Two weight matrices, one for the node itself and one for its neighbours (as in
    MotionAGFormer's GCN and "semantic" GCNs), so that self and neighbour features are
    mixed with different weights: ``y = diag(A) X W_self + offdiag(A) X W_neigh``.
    """

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.w_self = nn.Linear(dim, out_dim)
        self.w_neigh = nn.Linear(dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """x: (N, L, C) node sequences; adjacency: (L, L) -> (N, L, C_out)."""
        diag = torch.diagonal(adjacency)
        off = adjacency - torch.diag_embed(diag)
        return diag[None, :, None] * self.w_self(x) + torch.matmul(off, self.w_neigh(x))


class GCNBlock(nn.Module):
    """Pre-norm GCN block along one axis: ``x + GCN(LN(x))`` (GELU) then ``x + MLP(LN(x))``.

    Spatial blocks use the skeleton adjacency given at construction; temporal blocks build the
    neighbouring-frames chain for whatever T arrives (cached per length and device).
    """

    def __init__(
        self,
        dim: int,
        axis: Axis,
        spatial_adjacency: torch.Tensor | None = None,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.axis: Axis = axis
        if axis == "spatial":
            if spatial_adjacency is None:
                raise ValueError("a spatial GCN block needs the skeleton adjacency")
            self.register_buffer("adjacency", spatial_adjacency.clone(), persistent=False)
        else:
            self.adjacency = None
        self._temporal_cache: dict[tuple[int, str, torch.dtype, bool], torch.Tensor] = {}
        self.norm1 = nn.LayerNorm(dim)
        self.gcn = GraphConv(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout=dropout)
        self.drop_path = DropPath(drop_path)

    def _adjacency(self, length: int, like: torch.Tensor) -> torch.Tensor:
        if self.axis == "spatial":
            return self.adjacency.to(dtype=like.dtype)
        # tensors made under inference mode cannot take part in autograd: they get their own entry
        key = (length, str(like.device), like.dtype, torch.is_inference_mode_enabled())
        if key not in self._temporal_cache:
            adj = normalized_adjacency(length, chain_edges(length)).to(device=like.device, dtype=like.dtype)
            self._temporal_cache[key] = adj
        return self._temporal_cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) -> (B, T, J, C)."""
        b, t, j, _ = x.shape
        tokens = to_tokens(x, self.axis)
        adjacency = self._adjacency(tokens.shape[1], tokens)
        tokens = tokens + self.drop_path(F.gelu(self.gcn(self.norm1(tokens), adjacency)))
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return from_tokens(tokens, self.axis, b, t, j)


# ---------------------------------------------------------------------------------------
# position embeddings
# ---------------------------------------------------------------------------------------
def resize_temporal(embedding: torch.Tensor, frames: int) -> torch.Tensor:
    """(1, T0, 1, C) temporal embedding -> (1, frames, 1, C) by linear interpolation over time."""
    if embedding.shape[1] == frames:
        return embedding
    seq = embedding[:, :, 0, :].transpose(1, 2)  # (1, C, T0)
    seq = F.interpolate(seq, size=frames, mode="linear", align_corners=True)
    return seq.transpose(1, 2)[:, :, None, :]
