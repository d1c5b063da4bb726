"""Lifter networks: shapes for every model x preset, sizes, aux outputs, per-layer fusion, losses."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from video_mocap.core.errors import VideoMocapError  # noqa: E402
from video_mocap.inference.models import (  # noqa: E402
    CONFIG_PRESETS,
    LIFTER_NAMES,
    PRESET_NAMES,
    build_model,
    config_from_dict,
    config_to_dict,
    preset_config,
)
from video_mocap.inference.models.posemoe import temporal_consistency_loss  # noqa: E402
from video_mocap.training.config import LossConfig  # noqa: E402
from video_mocap.training.losses import distillation_target, dtgcn_finetune_loss, mpjpe, n_mpjpe  # noqa: E402
from video_mocap.training.losses import velocity as velocity_error  # noqa: E402

#: short clip for forward passes of every preset (the paper presets are slow at 243 frames)
SHORT_T = 9
PAPER_POSEMOE_PARAMS = 17.9e6
PARAM_TOLERANCE = 0.05


def finetune_loss(pred, target):
    """The DTGCN fine-tuning loss the training uses (MPJPE + 0.5 N-MPJPE + 20 velocity), total only."""
    return dtgcn_finetune_loss(pred, target, LossConfig())[0]


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _input(batch: int, frames: int, seed: int = 0) -> "torch.Tensor":
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(batch, frames, 17, 2, generator=gen) * 2 - 1
    score = torch.rand(batch, frames, 17, 1, generator=gen)
    return torch.cat([xy, score], dim=-1)


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("name", LIFTER_NAMES)
def test_shapes_and_zero_pelvis(name, preset):
    torch.manual_seed(0)
    model = build_model(name, preset_config(name, preset)).eval()
    with torch.no_grad():
        out = model(_input(2, SHORT_T))
    assert out.shape == (2, SHORT_T, 17, 3)
    assert torch.isfinite(out).all()
    assert torch.equal(out[:, :, 0], torch.zeros_like(out[:, :, 0]))
    # not a constant: different inputs give different poses
    with torch.no_grad():
        other = model(_input(2, SHORT_T, seed=1))
    assert (out - other).abs().max() > 0


@pytest.mark.parametrize("name", LIFTER_NAMES)
def test_any_length_and_backward(name):
    """Tiny presets run at other lengths than num_frames (1 and 30) and give gradients."""
    torch.manual_seed(0)
    model = build_model(name, preset_config(name, "tiny")).train()
    out = model(_input(2, 30))
    finetune_loss(out, torch.randn_like(out)).backward()
    # every parameter but DTGCN's pre-training head takes part in the forward pass
    missing = [n for n, p in model.named_parameters() if p.grad is None and not n.startswith("pretrain_head")]
    assert not missing
    model.eval()
    with torch.no_grad():
        assert model(_input(1, 1)).shape == (1, 1, 17, 3)


def test_posemoe_paper_size_near_paper():
    model = build_model("posemoe", preset_config("posemoe", "paper"))
    assert abs(_count(model) - PAPER_POSEMOE_PARAMS) / PAPER_POSEMOE_PARAMS < PARAM_TOLERANCE


def test_dtgcn_paper_size():
    """N=16 blocks of dim 128: MotionAGFormer-B-sized (about 11.7M parameters)."""
    model = build_model("dtgcn", preset_config("dtgcn", "paper"))
    assert len(model.blocks) == 16 and model.config.dim == 128
    assert 10e6 < _count(model) < 14e6


def test_presets_grow():
    for name in LIFTER_NAMES:
        sizes = [_count(build_model(name, preset_config(name, p))) for p in PRESET_NAMES]
        assert sizes == sorted(sizes), f"{name} presets not increasing: {sizes}"


def test_posemoe_aux_outputs():
    torch.manual_seed(0)
    model = build_model("posemoe", preset_config("posemoe", "tiny")).eval()
    with torch.no_grad():
        pose, aux = model(_input(2, SHORT_T), return_aux=True)
    assert aux["pose2d"].shape == (2, SHORT_T, 17, 2)
    assert aux["depth"].shape == (2, SHORT_T, 17)
    assert torch.equal(aux["depth"], pose[..., 2])
    gate = aux["gate"]
    assert gate.shape == (2, SHORT_T, 17, 2)
    assert torch.allclose(gate.sum(-1), torch.ones_like(gate[..., 0]))
    # the Gaussian depth tokens start from N(0, 1), not zeros
    assert model.gaussian_tokens.std() > 0.5


def test_posemoe_temporal_embedding_interpolates():
    model = build_model("posemoe", preset_config("posemoe", "tiny")).eval()
    assert model.temporal_pos.shape[1] == 243
    with torch.no_grad():
        assert model(_input(1, 500)).shape == (1, 500, 17, 3)


def test_temporal_consistency_loss():
    still = torch.ones(1, 5, 17, 3)
    assert temporal_consistency_loss(still) == 0
    moving = torch.cumsum(torch.ones(1, 5, 17, 3), dim=1)
    assert torch.isclose(temporal_consistency_loss(moving), torch.tensor(3.0).sqrt())


def test_dtgcn_fusion_weights_are_per_layer_and_learnable():
    torch.manual_seed(0)
    model = build_model("dtgcn", preset_config("dtgcn", "tiny")).train()
    logits = [block.fusion_logits for block in model.blocks]
    assert all(l.shape == (2,) and l.requires_grad for l in logits)
    assert len({id(l) for l in logits}) == len(model.blocks)
    out = model(_input(2, 12))
    finetune_loss(out, torch.randn_like(out)).backward()
    assert all(l.grad is not None and l.grad.abs().sum() > 0 for l in logits)
    optimiser = torch.optim.SGD(model.parameters(), lr=10.0)
    optimiser.step()
    weights = model.fusion_weights()
    assert weights.shape == (len(model.blocks), 2)
    assert torch.allclose(weights.sum(-1), torch.ones(len(model.blocks)))
    assert not torch.allclose(weights, torch.full_like(weights, 0.5))


def test_dtgcn_layers_and_pretrain():
    torch.manual_seed(0)
    cfg = preset_config("dtgcn", "tiny")
    model = build_model("dtgcn", cfg).eval()
    x = _input(2, 15)
    with torch.no_grad():
        pose, layers = model(x, return_layers=True)
        assert len(layers) == cfg.depth and layers[0].shape == (2, 15, 17, cfg.dim)
        target = distillation_target(layers, top_k=8)
        assert target.shape == (2, 15, 17, cfg.dim)
        no_mask = torch.zeros(2, 15, 17, dtype=torch.bool)
        full = model.forward_pretrain(x, no_mask)
        masked = model.forward_pretrain(x, torch.rand(2, 15, 17) < 0.7)
    assert full.shape == masked.shape == (2, 15, 17, cfg.dim)
    assert not torch.allclose(full, masked)


def test_dtgcn_has_no_temporal_position_embedding():
    model = build_model("dtgcn", preset_config("dtgcn", "tiny"))
    names = [n for n, _ in model.named_parameters()]
    assert "spatial_pos" in names and not any("temporal_pos" in n for n in names)


def test_losses():
    target = torch.randn(2, 6, 17, 3)
    assert mpjpe(target, target) == 0 and velocity_error(target, target) == 0
    assert n_mpjpe(2.0 * target, target) < 1e-5  # scale is forgiven
    shifted = target + torch.tensor([0.0, 0.0, 0.1])
    assert torch.isclose(mpjpe(shifted, target), torch.tensor(0.1))
    assert velocity_error(shifted, target) < 1e-6  # a constant offset has no velocity error
    assert finetune_loss(target, target) < 1e-5


@pytest.mark.parametrize("name", LIFTER_NAMES)
def test_config_dict_roundtrip_and_unknown_keys(name):
    cfg = preset_config(name, "small")
    assert config_from_dict(name, config_to_dict(cfg)) == cfg
    with pytest.raises(VideoMocapError, match="unknown keys"):
        config_from_dict(name, {**config_to_dict(cfg), "bogus": 1})
    with pytest.raises(VideoMocapError, match="unknown lifter"):
        build_model("nope", {})
    assert set(CONFIG_PRESETS[name]) >= {"tiny", "small", "paper"}
