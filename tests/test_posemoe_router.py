"""PoseMoE's pose router (issue 23): the gated router routes the two experts' 3D outputs (the shipped
weights use it since stop 25); cards written before it (no ``router`` key) still load as the feature
mixture they were trained as."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from video_mocap.inference.models import build_model, config_from_dict, preset_config  # noqa: E402
from video_mocap.inference.models.posemoe import OutputRouter, PoseRouter  # noqa: E402
from video_mocap.core.errors import VideoMocapError  # noqa: E402
from video_mocap.inference.lifter import load_lifter  # noqa: E402
from video_mocap.inference.weights import WEIGHTS_DIR, load_card  # noqa: E402

FRAMES = 9
#: a router bias this large puts (almost) all weight on one expert
SATURATING_BIAS = 30.0


def _input(batch: int = 2, frames: int = FRAMES) -> "torch.Tensor":
    gen = torch.Generator().manual_seed(0)
    return torch.cat([torch.rand(batch, frames, 17, 2, generator=gen) * 2 - 1,
                      torch.rand(batch, frames, 17, 1, generator=gen)], dim=-1)


def _gated(seed: int = 0):
    torch.manual_seed(seed)
    config = dataclasses.replace(preset_config("posemoe", "tiny"), router="gate")
    return build_model("posemoe", config).eval()


def test_gated_router_mixes_the_experts_outputs_per_coordinate():
    model = _gated()
    assert isinstance(model.router, OutputRouter)
    with torch.no_grad():
        pose, aux = model(_input(), return_aux=True)
    gate = aux["gate"]
    assert gate.shape == (2, FRAMES, 17, 3, 2)
    assert torch.allclose(gate.sum(-1), torch.ones_like(gate[..., 0]))
    assert pose.shape == (2, FRAMES, 17, 3)
    assert torch.all(pose[:, :, 0] == 0)


@pytest.mark.parametrize("expert", [0, 1])
def test_gated_output_follows_the_chosen_expert(expert):
    """Saturating the gate on one expert makes the output that expert's own estimate: the router routes."""
    model = _gated()
    with torch.no_grad():
        model.router.gate.bias.copy_(torch.tensor([SATURATING_BIAS, 0.0] * 3 if expert == 0 else [0.0, SATURATING_BIAS] * 3))
        pose, aux = model(_input(), return_aux=True)
        depth_expert_z = aux["depth"]
        other = _gated()
        other.load_state_dict(model.state_dict())
        other.router.gate.bias.copy_(torch.tensor([0.0, SATURATING_BIAS] * 3 if expert == 0 else [SATURATING_BIAS, 0.0] * 3))
        pose_other = other(_input())
    if expert == 1:  # all weight on the depth expert: the output's z is its own z
        assert torch.allclose(pose[..., 2], depth_expert_z, atol=1e-5)
    # the two experts' estimates differ, so choosing the other expert changes the output
    assert (pose - pose_other).abs().max() > 1e-3


def test_gated_router_trains_both_experts():
    model = _gated().train()
    pose, aux = model(_input(), return_aux=True)
    (pose.square().mean() + aux["depth"].square().mean()).backward()
    assert model.head_depth.weight.grad.abs().sum() > 0
    assert model.head_2d.weight.grad.abs().sum() > 0
    assert model.router.gate.weight.grad.abs().sum() > 0


def test_shipped_posemoe_card_loads_as_the_router_it_was_trained_with():
    card = load_card(WEIGHTS_DIR / "posemoe.safetensors")
    expected = card.config.get("router", "mixture")
    assert config_from_dict("posemoe", dict(card.config)).router == expected
    lifter = load_lifter("posemoe", backend="torch")  # strict state-dict load of the shipped tensors
    network = lifter.backend.model
    assert isinstance(network.router, PoseRouter if expected == "mixture" else OutputRouter)
    older = {k: v for k, v in card.config.items() if k != "router"}  # a card from before the field
    assert config_from_dict("posemoe", older).router == "mixture"


def test_unknown_router_is_refused():
    with pytest.raises(VideoMocapError, match="router"):
        build_model("posemoe", dataclasses.replace(preset_config("posemoe", "tiny"), router="top1"))


def test_warm_start_keeps_the_mixture_heads_and_trusts_their_experts():
    """gated_state_from_mixture: the gated model takes a mixture model's weights (strict load); each
    expert's head starts as the coordinates it gave there and the router starts trusting that expert."""
    from video_mocap.inference.models.posemoe import WARM_START_GATE_LOGIT, gated_state_from_mixture

    torch.manual_seed(1)
    mixture = build_model("posemoe", preset_config("posemoe", "tiny")).eval()
    gated = _gated()
    gated.load_state_dict(gated_state_from_mixture(mixture.state_dict()), strict=True)
    assert torch.equal(gated.head_2d.weight[:4], mixture.head_2d.weight)
    assert torch.equal(gated.head_depth.weight[2:], mixture.head_depth.weight)
    kept = {k: v for k, v in mixture.state_dict().items() if not k.startswith(("head_", "router.gate."))}
    assert kept and all(torch.equal(gated.state_dict()[k], v) for k, v in kept.items())
    with torch.no_grad():
        _, aux = gated(_input(), return_aux=True)
    trust = torch.softmax(torch.tensor([WARM_START_GATE_LOGIT, -WARM_START_GATE_LOGIT]), dim=0)[0]
    gate = aux["gate"]  # (B, T, J, 3, 2): x, y from the 2D expert, z from the depth expert
    assert torch.allclose(gate[..., :2, 0], trust.expand_as(gate[..., :2, 0]))
    assert torch.allclose(gate[..., 2, 1], trust.expand_as(gate[..., 2, 1]))
    assert trust > 0.9
