"""Function-preserving widening of trained lifter weights (Net2Net, Chen et al. 2016): ``tiny`` -> ``small``.

:func:`widen_state` turns the state dict of a trained DTGCN or PoseMoE into one for a network with twice
the channels, MLP units and attention heads and more blocks, that computes the same output (eval mode,
up to float rounding); :func:`widened_from_card` does it for a model card's config and the ``small``
preset, for the trainer's warm start (``init_weights`` of a ``small`` run, ``train.Trainer._init_from_weights``).

Width (``dim`` C -> 2C, MLP hidden H -> 2H, DTGCN ``head_dim`` -> 2x, ``heads`` h -> 2h):

- every feature vector ``x`` of the tiny network becomes ``[x, x]`` in the wide one. Attention splits the
  channels into contiguous blocks of ``dim / heads`` (8 in both presets: the scale does not change), so
  wide heads 0..h-1 are the tiny heads and heads h..2h-1 their copies. Tensors made of several channel
  vectors side by side keep that order, each vector doubled in place: the attention's ``kv`` output is
  ``[k, k, v, v]`` (``chunk(2)`` still gives k and v), PoseMoE's ``depth_compress`` input and router input
  ``cat(a, b)`` are ``[a, a, b, b]``.
- a Linear whose output is doubled gets its rows (and bias) duplicated; a Linear whose input is doubled gets
  its columns split, ``(W/2 + E, W/2 - E)`` with ``E = noise * std(W) * N(0, 1)`` (seeded), independently for
  each output row: on an input ``[x, x]`` the two halves sum to ``W x`` for any E, so the function is kept
  *with* the noise. That holds for every split Linear here, because every doubled input is an exact copy (the
  whole network keeps the ``[x, x]`` form; in floating point the copies differ by rounding only).
- LayerNorm over ``[x, x]`` has the mean and variance of ``x``: weight and bias duplicated (per vector for
  the router's ``LayerNorm(2C)`` over ``[p, p, d, d]``). No noise there: unequal scales of the two copies
  would not cancel downstream. Position embeddings and PoseMoE's Gaussian tokens are duplicated along
  channels, exactly (noise on the residual stream would change the LayerNorms' variance).
- Where a layer's input is not doubled (the embeddings from the 3 input channels) its rows are exact copies:
  no noise can go there without changing the function. Symmetry still breaks at the first step: the copies'
  gradients come through the split (noisy) columns of the layers after them, which differ. (The two halves of
  a split weight get equal gradients as long as their inputs are equal copies: they part from the second step,
  once the layers before have moved the copies apart.)
- Output heads (to 3D, 2D, router logits) take a doubled input: columns split (with noise), outputs kept.

Depth (DTGCN ``depth`` 3 -> 5 blocks, PoseMoE ``encoder_layers`` 2 -> 4): the added blocks are *appended*
after the trained ones, which keep their indices (and, the stochastic-depth rates rising with the index, the
lowest rates: the trained path is the least perturbed by drop path); the head reads the same features. An
added block starts as the identity and takes its other weights from a wide network built by ``build_model``
(seeded): in every pre-norm residual branch ``x + f(LN(x))`` the last projection is zero (attention ``proj``
and ``mlp.fc2``, weight and bias). DTGCN's GCN branch ``x + GELU(GCN(LN(x)))`` has no projection after the
graph convolution: both its weights (``w_self`` with its bias, ``w_neigh``) are zero, and GELU(0) = 0. A DTGCN
block is not itself residual: it fuses its two streams as ``a_T T(x) + a_G G(x)`` with ``(a_T, a_G)`` a
softmax; with every branch zero ``T(x) = G(x) = x`` and the fusion gives ``(a_T + a_G) x = x`` whatever its
logits. PoseMoE's encoder layers are chains of residual attention blocks (the 2D expert's cross-attention to
the input embedding too): identities the same way. Zero last projections still train (their gradient is
the branch's input times the upstream gradient; the layers before them get gradient from the second step).

What is not exact: float rounding (the two copies of a feature differ in the last bits once a split layer
has noise, and the DTGCN fusion weights sum to 1 within one rounding); nothing else. Dropout and drop path
are off in eval; in training mode the wide network draws other masks than the tiny one would.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.errors import VideoMocapError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: the config fields that set a network's size (the ones widening changes; ``drop_path`` changes no weight)
SIZE_FIELDS: dict[str, tuple[str, ...]] = {
    "dtgcn": ("dim", "depth", "heads", "head_dim", "drop_path"),
    "posemoe": ("dim", "encoder_layers", "heads", "drop_path"),
}
#: fields that must double (``heads`` with ``dim``: the per-head width stays, so the attention scale does)
DOUBLED_FIELDS: dict[str, tuple[str, ...]] = {"dtgcn": ("dim", "heads", "head_dim"), "posemoe": ("dim", "heads")}
#: the field counting the blocks that widening may add, and the state-dict prefix of those blocks
DEPTH: dict[str, tuple[str, str]] = {"dtgcn": ("depth", "blocks"), "posemoe": ("encoder_layers", "encoder")}
#: the symmetry-breaking noise of the trainer's warm start, in units of each split weight's std
DEFAULT_NOISE = 1e-3
#: the preset the trainer widens into
WIDE_PRESET = "small"


@dataclass(frozen=True)
class _Rule:
    """How one module's tensors widen.

    ``out``: the output axis (rows of a Linear weight, the bias, a LayerNorm's weight and bias) is made of
    ``out`` channel vectors side by side, each doubled in place; 0 = kept as it is. ``inp``: the same for a
    Linear's input axis (columns), each vector's columns split in two halves; 0 = kept; None = not a Linear.
    ``residual_out``: the last projection of a residual branch (zero in an added block).
    """

    out: int
    inp: int | None
    residual_out: bool = False


_LAYER_NORM = _Rule(1, None)
_LINEAR = _Rule(1, 1)
_RESIDUAL_OUT = _Rule(1, 1, residual_out=True)

#: a pre-norm attention block (``layers.AttentionBlock``), relative to the block
_ATTENTION_BLOCK: dict[str, _Rule] = {
    r"norm1|norm2|norm_context": _LAYER_NORM,
    r"attn\.q": _LINEAR,
    r"attn\.kv": _Rule(2, 1),  # output [k, v]
    r"attn\.proj": _RESIDUAL_OUT,
    r"mlp\.fc1": _LINEAR,
    r"mlp\.fc2": _RESIDUAL_OUT,
}
#: a pre-norm GCN block (``layers.GCNBlock``): x + GELU(GCN(LN(x))), x + MLP(LN(x))
_GCN_BLOCK: dict[str, _Rule] = {
    r"norm1|norm2": _LAYER_NORM,
    r"gcn\.w_self|gcn\.w_neigh": _RESIDUAL_OUT,
    r"mlp\.fc1": _LINEAR,
    r"mlp\.fc2": _RESIDUAL_OUT,
}


def _within(prefix: str, rules: dict[str, _Rule]) -> dict[str, _Rule]:
    return {rf"{prefix}\.(?:{pattern})": rule for pattern, rule in rules.items()}


#: module path pattern -> rule, per model; a module's ``weight`` and ``bias`` follow its rule
MODULE_RULES: dict[str, dict[str, _Rule]] = {
    "dtgcn": {
        r"embed\.fc1": _Rule(1, 0),  # from the 3 input channels
        r"embed\.fc2": _LINEAR,
        **_within(r"blocks\.\d+\.attn_(?:spatial|temporal)", _ATTENTION_BLOCK),
        **_within(r"blocks\.\d+\.gcn_(?:spatial|temporal)", _GCN_BLOCK),
        r"norm": _LAYER_NORM,
        r"head\.0": _LINEAR,  # C -> head_dim
        r"head\.2": _Rule(0, 1),  # head_dim -> 3D
        r"pretrain_head\.0": _LAYER_NORM,
        r"pretrain_head\.1": _LINEAR,
    },
    "posemoe": {
        r"embed_2d|embed_depth": _Rule(1, 0),  # from the 3 input channels
        r"depth_compress\.fc1": _Rule(1, 2),  # input cat(D0, Gaussian tokens), hidden 2C as one vector
        r"depth_compress\.fc2": _LINEAR,
        **_within(r"encoder\.\d+\.(?:pose_spatial|pose_temporal|pose_cross|depth_spatial|depth_temporal)",
                  _ATTENTION_BLOCK),
        **_within(r"decoder\.\d+\.(?:pose_from_depth|depth_from_pose)_(?:spatial|temporal)", _ATTENTION_BLOCK),
        r"router\.norm": _Rule(2, None),  # LayerNorm(2C) over cat(P, D)
        r"router\.gate": _Rule(0, 2),  # cat(P, D) -> logits
        r"norm_pose|norm_depth": _LAYER_NORM,
        r"head_2d|head_depth": _Rule(0, 1),
    },
}
#: plain parameters: channels on the last axis (``_Rule(1, None)``) or kept (``_Rule(0, None)``)
PARAMETER_RULES: dict[str, dict[str, _Rule]] = {
    "dtgcn": {r"spatial_pos": _Rule(1, None), r"blocks\.\d+\.fusion_logits": _Rule(0, None)},
    "posemoe": {r"spatial_pos|temporal_pos|gaussian_tokens": _Rule(1, None)},
}


def _rule_for(name: str, key: str) -> _Rule:
    """The rule of state-dict entry ``key`` of model ``name``; an entry no rule knows is an error."""
    module, _, leaf = key.rpartition(".")
    if leaf in ("weight", "bias"):
        for pattern, rule in MODULE_RULES[name].items():
            if re.fullmatch(pattern, module):
                return rule
    for pattern, rule in PARAMETER_RULES[name].items():
        if re.fullmatch(pattern, key):
            return rule
    raise VideoMocapError(
        f"training.widen does not know how to widen {name} parameter '{key}': add a rule for it to "
        "MODULE_RULES / PARAMETER_RULES in training/widen.py (a new layer of the model?).")


# ---------------------------------------------------------------------------------------
# tensors
# ---------------------------------------------------------------------------------------
def duplicate_channels(tensor: "torch.Tensor", axis: int, vectors: int) -> "torch.Tensor":
    """Double ``axis``, made of ``vectors`` equal parts side by side, each part repeated in place:
    ``[a, b] -> [a, a, b, b]``."""
    import torch

    parts = tensor.chunk(vectors, dim=axis)
    return torch.cat([p for part in parts for p in (part, part)], dim=axis)


def split_inputs(weight: "torch.Tensor", vectors: int, scale: float, generator: "torch.Generator") -> "torch.Tensor":
    """(out, in) Linear weight -> (out, 2 in) for a doubled input of ``vectors`` parts: each part's columns
    ``W_p`` become ``(W_p / 2 + E, W_p / 2 - E)``, ``E ~ scale * N(0, 1)``, so on ``[x, x]`` it sums to ``W_p x``."""
    import torch

    halves = []
    for part in weight.chunk(vectors, dim=1):
        noise = scale * torch.randn(part.shape, generator=generator, dtype=part.dtype)
        halves += [part / 2 + noise, part / 2 - noise]
    return torch.cat(halves, dim=1)


def widen_tensor(tensor: "torch.Tensor", rule: _Rule, noise: float, generator: "torch.Generator") -> "torch.Tensor":
    """One trained tensor widened by ``rule``: outputs (the first axis of a Linear weight, else the last
    axis) duplicated, a Linear weight's inputs split with ``noise`` x its std."""
    tensor = tensor.float()
    if tensor.ndim == 2 and rule.inp is not None:  # a Linear weight (out, in)
        std = float(tensor.std()) if tensor.numel() > 1 else 0.0
        wide = duplicate_channels(tensor, 0, rule.out) if rule.out else tensor
        return split_inputs(wide, rule.inp, noise * std, generator) if rule.inp else wide.clone()
    return duplicate_channels(tensor, -1, rule.out) if rule.out else tensor.clone()


# ---------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------
def _full_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """A config dict with the defaults of the fields it lacks (as a model card is read)."""
    from ..inference.models import config_from_dict, config_to_dict

    return config_to_dict(config_from_dict(name, dict(config)))


def widening_problems(name: str, tiny_config: dict[str, Any], wide_config: dict[str, Any]) -> list[str]:
    """Why weights of ``tiny_config`` cannot be widened into ``wide_config`` ([] = they can)."""
    if name not in SIZE_FIELDS:
        return [f"widening is for {', '.join(SIZE_FIELDS)}, not {name}"]
    tiny, wide = _full_config(name, tiny_config), _full_config(name, wide_config)
    depth_field = DEPTH[name][0]
    problems = [f"{k} is {tiny[k]!r} in the trained config, {wide[k]!r} in the wide one (only "
                f"{', '.join(SIZE_FIELDS[name])} may differ)"
                for k in tiny if k not in SIZE_FIELDS[name] and tiny[k] != wide[k]]
    problems += [f"{k} must double ({tiny[k]} -> {2 * tiny[k]}), not go to {wide[k]}"
                 for k in DOUBLED_FIELDS[name] if wide[k] != 2 * tiny[k]]
    if wide[depth_field] < tiny[depth_field]:
        problems.append(f"{depth_field} cannot shrink ({tiny[depth_field]} -> {wide[depth_field]})")
    return problems


def wide_config_from_card(name: str, card_config: dict[str, Any], preset: str = WIDE_PRESET) -> dict[str, Any]:
    """The config a trained model card's weights widen into: the card's config (window, router, MLP ratios,
    dropout: every field that is not a size) with the size fields of ``preset``."""
    from ..inference.models import config_to_dict, preset_config

    sizes = config_to_dict(preset_config(name, preset))
    return {**_full_config(name, card_config), **{k: sizes[k] for k in SIZE_FIELDS[name]}}


# ---------------------------------------------------------------------------------------
# state dicts
# ---------------------------------------------------------------------------------------
def _added_block(name: str, key: str, tiny_blocks: int) -> bool:
    """Whether ``key`` belongs to a block the trained network does not have (an appended one)."""
    match = re.match(rf"{DEPTH[name][1]}\.(\d+)\.", key)
    return bool(match) and int(match.group(1)) >= tiny_blocks


def _fresh_state(name: str, wide_config: dict[str, Any], seed: int) -> dict[str, "torch.Tensor"]:
    """The state of a wide network as ``build_model`` initialises it, seeded; the global RNG is left as it was."""
    import torch

    from ..inference.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(name, wide_config).state_dict()


def widen_state(name: str, tiny_state: dict[str, "torch.Tensor"], tiny_config: dict[str, Any],
                wide_config: dict[str, Any], *, noise: float = DEFAULT_NOISE, seed: int = 0) -> dict[str, "torch.Tensor"]:
    """A state dict for ``build_model(name, wide_config)`` that computes what ``tiny_state`` did (see the module).

    Args:
        name: ``"dtgcn"`` or ``"posemoe"``.
        tiny_state: the trained network's ``state_dict()`` (any float dtype; fp16 cards are read as float32).
        tiny_config: its config dict (a model card's ``config``).
        wide_config: the wide config: ``dim``, ``heads`` (and DTGCN's ``head_dim``) doubled, as many blocks or
            more, every other field but ``drop_path`` as in ``tiny_config``.
        noise: symmetry-breaking noise on the split input weights, in units of each weight's std (0 = exact
            copies, which would get equal gradients for ever); the function is kept whatever its value.
        seed: seeds the noise and the other weights of the added blocks.
    Returns:
        name -> float32 tensor, every entry of the wide network's state dict (``load_state_dict(strict=True)``).
    Raises:
        VideoMocapError: configs that cannot be widened into each other, a tiny state that does not fit its
            config, or an entry no rule knows (named).
    """
    import torch

    problems = widening_problems(name, tiny_config, wide_config)
    if problems:
        raise VideoMocapError(f"cannot widen {name} weights: {'; '.join(problems)}.")
    tiny_blocks = int(_full_config(name, tiny_config)[DEPTH[name][0]])
    fresh = _fresh_state(name, wide_config, seed)
    generator = torch.Generator().manual_seed(seed)
    wide: dict[str, torch.Tensor] = {}
    for key, reference in fresh.items():  # the wide network's order: the noise is drawn in a fixed order
        rule = _rule_for(name, key)
        if _added_block(name, key, tiny_blocks):
            wide[key] = torch.zeros_like(reference) if rule.residual_out else reference.clone()
            continue
        if key not in tiny_state:
            raise VideoMocapError(f"cannot widen {name} weights: the trained state has no '{key}'.")
        wide[key] = widen_tensor(tiny_state[key], rule, noise, generator).to(reference.dtype)
        if wide[key].shape != reference.shape:
            raise VideoMocapError(
                f"cannot widen {name} weights: '{key}' {tuple(tiny_state[key].shape)} widens to "
                f"{tuple(wide[key].shape)}, the wide network has {tuple(reference.shape)} (does the trained "
                "state fit its config?).")
    unused = sorted(set(tiny_state) - set(wide))
    if unused:
        raise VideoMocapError(f"cannot widen {name} weights: the wide network has no place for {', '.join(unused)}.")
    added = sum(_added_block(name, key, tiny_blocks) for key in wide)
    log.info("widened %s: %d tensors, %d of them in %d added blocks (identities), noise %g, seed %d",
             name, len(wide), added, int(_full_config(name, wide_config)[DEPTH[name][0]]) - tiny_blocks, noise, seed)
    return wide


def widened_from_card(name: str, tiny_state: dict[str, "torch.Tensor"], card_config: dict[str, Any], *,
                      noise: float = DEFAULT_NOISE, seed: int = 0) -> tuple[dict[str, Any], dict[str, "torch.Tensor"]]:
    """The ``small`` config of a trained ``tiny`` card (:func:`wide_config_from_card`) and its widened weights.

    Returns:
        ``(wide config dict, wide state dict)``: ``build_model(name, config).load_state_dict(state)`` gives a
        network that computes what the card's weights did.
    """
    wide_config = wide_config_from_card(name, card_config)
    return wide_config, widen_state(name, tiny_state, card_config, wide_config, noise=noise, seed=seed)


__all__ = [
    "DEFAULT_NOISE",
    "SIZE_FIELDS",
    "duplicate_channels",
    "split_inputs",
    "wide_config_from_card",
    "widen_state",
    "widened_from_card",
    "widening_problems",
]
