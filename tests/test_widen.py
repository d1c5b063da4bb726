"""Widening the shipped ``tiny`` lifters into the ``small`` presets (``training.widen``, Net2Net): the widened
network computes what the tiny one does, its copies are not locked together, it has the small preset's size,
and a ``small`` run with ``init_weights: default`` starts from it. Real shipped weights throughout."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from video_mocap.core.errors import VideoMocapError

torch = pytest.importorskip("torch")

MODELS = ("dtgcn", "posemoe")
#: the lifters' output is in metres: 0.1 mm
OUTPUT_TOLERANCE_M = 1e-4
NOISE = 1e-3
#: per model: a Linear whose input is doubled (columns split, with noise) and one whose input is not (the
#: embedding from the 3 input channels: its rows are exact copies, no noise can go there)
SPLIT_KEY = {"dtgcn": "blocks.0.attn_spatial.mlp.fc1.weight", "posemoe": "encoder.0.pose_spatial.mlp.fc1.weight"}
EMBED_KEY = {"dtgcn": "embed.fc1.weight", "posemoe": "embed_2d.weight"}
#: the attention output projection of the first added block
ADDED_PROJ_KEY = {"dtgcn": "blocks.3.attn_spatial.attn.proj.weight", "posemoe": "encoder.2.pose_spatial.attn.proj.weight"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def shipped():
    """name -> (tiny state, card) of the shipped weights."""
    from video_mocap.inference.weights import default_weights_path, load_weights

    return {name: load_weights(default_weights_path(name), expected_model=name) for name in MODELS}


def _input(frames: int, batch: int = 2, seed: int = 1) -> "torch.Tensor":
    """Normalised 2D in [-1, 1] and detector scores in [0, 1]: (batch, frames, 17, 3)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([torch.rand(batch, frames, 17, 2, generator=gen) * 2 - 1,
                      torch.rand(batch, frames, 17, 1, generator=gen)], dim=-1)


def _model(name: str, config: dict, state: dict):
    from video_mocap.inference.models import build_model

    model = build_model(name, config)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _widened(shipped, name: str, noise: float = NOISE):
    from video_mocap.training.widen import widened_from_card

    tiny_state, card = shipped[name]
    return widened_from_card(name, tiny_state, card.config, noise=noise, seed=0)


# ---------------------------------------------------------------------------------------
# the widened network
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_widened_small_computes_what_the_tiny_does(shipped, name):
    from video_mocap.inference.models import config_to_dict, preset_config
    from video_mocap.inference.models.layers import INIT_STD

    tiny_state, card = shipped[name]
    wide_config, wide_state = _widened(shipped, name)
    expected = dataclasses.replace(preset_config(name, "small"), num_frames=card.num_frames,
                                   **({"router": "gate"} if name == "posemoe" else {}))
    assert wide_config == config_to_dict(expected)
    tiny, wide = _model(name, card.config, tiny_state), _model(name, wide_config, wide_state)
    x = _input(card.num_frames)
    with torch.no_grad():
        out_tiny, out_wide = tiny(x), wide(x)
    assert out_tiny.abs().max() > 0.1  # a real pose, not zeros
    assert float((out_wide - out_tiny).abs().max()) < OUTPUT_TOLERANCE_M

    # the comparison sees an added block that is not an identity (its attention output as build_model starts it)
    broken = dict(wide_state)
    shape = broken[ADDED_PROJ_KEY[name]].shape
    broken[ADDED_PROJ_KEY[name]] = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * INIT_STD
    with torch.no_grad():
        assert float((_model(name, wide_config, broken)(x) - out_tiny).abs().max()) > 10 * OUTPUT_TOLERANCE_M


@pytest.mark.parametrize("name", MODELS)
def test_noise_breaks_the_symmetry_of_the_copies(shipped, name):
    """Two exact copies get equal gradients for ever: with noise the split halves differ (their sum is the
    trained weight), so the gradients of the copies of a unit differ (they come back through the halves after
    it), and one SGD step moves exact copies apart; without noise they stay equal (so the checks can fail)."""
    tiny_state, card = shipped[name]
    x = _input(card.num_frames)
    target = torch.randn(x.shape, generator=torch.Generator().manual_seed(2)) * 0.3
    gaps = {}
    for noise in (0.0, NOISE):
        wide_config, wide_state = _widened(shipped, name, noise)
        split, embed = wide_state[SPLIT_KEY[name]], wide_state[EMBED_KEY[name]]
        half = split.shape[1] // 2
        trained = tiny_state[SPLIT_KEY[name]]
        # the halves sum to the trained weight (rows doubled), whatever the noise
        torch.testing.assert_close(split[:, :half] + split[:, half:], torch.cat([trained, trained]), rtol=0, atol=1e-6)
        rows = embed.shape[0] // 2
        assert torch.equal(embed[:rows], embed[rows:])  # input not doubled: exact copies

        model = _model(name, wide_config, wide_state).train()
        torch.manual_seed(0)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
        torch.nn.functional.mse_loss(model(x), target).backward()
        grads = dict(model.named_parameters())
        grad_embed, grad_split = grads[EMBED_KEY[name]].grad, grads[SPLIT_KEY[name]].grad
        optimizer.step()
        after = model.state_dict()
        gaps[noise] = {
            "halves": float((split[:, :half] - split[:, half:]).abs().max()),
            "grad_embed_rows": float((grad_embed[:rows] - grad_embed[rows:]).abs().max() / grad_embed.abs().max()),
            # the split weight's output copies (its rows): their gradients come through the noisy halves after them
            "grad_split_rows": float((grad_split[:split.shape[0] // 2] - grad_split[split.shape[0] // 2:]).abs().max()
                                     / grad_split.abs().max()),
            # the exact copies after one step, in units of the step (lr x gradient)
            "embed_after": float((after[EMBED_KEY[name]][:rows] - after[EMBED_KEY[name]][rows:]).abs().max()
                                 / (1e-2 * grad_embed.abs().max())),
        }
    noisy = gaps[NOISE]
    # without noise the copies stay locked (equal up to rounding: bit for bit on this machine's kernels)
    assert all(gaps[0.0][k] <= 1e-3 * noisy[k] for k in noisy), (gaps[0.0], noisy)
    assert noisy["halves"] > 0, noisy
    assert noisy["grad_embed_rows"] > 1e-5 and noisy["grad_split_rows"] > 1e-5 and noisy["embed_after"] > 1e-5, noisy


@pytest.mark.parametrize("name", MODELS)
def test_widened_state_has_the_small_presets_size(shipped, name):
    from video_mocap.inference.models import build_model

    tiny_state, card = shipped[name]
    wide_config, wide_state = _widened(shipped, name)
    small = build_model(name, wide_config)
    assert set(wide_state) == set(small.state_dict())
    count = sum(v.numel() for v in wide_state.values())
    assert count == sum(p.numel() for p in small.parameters())
    assert count > 3 * sum(v.numel() for v in tiny_state.values())  # twice the width, more blocks


def test_widening_refuses_what_it_does_not_know(shipped, monkeypatch):
    from video_mocap.training import widen

    tiny_state, card = shipped["dtgcn"]
    wide_config = widen.wide_config_from_card("dtgcn", card.config)
    with pytest.raises(VideoMocapError, match="dim must double"):
        widen.widen_state("dtgcn", tiny_state, card.config, {**wide_config, "dim": 48, "heads": 6})
    with pytest.raises(VideoMocapError, match="mlp_ratio is 4.0 in the trained config, 2.0"):
        widen.widen_state("dtgcn", tiny_state, card.config, {**wide_config, "mlp_ratio": 2.0})
    with pytest.raises(VideoMocapError, match="no place for extra.weight"):
        widen.widen_state("dtgcn", {**tiny_state, "extra.weight": torch.zeros(2)}, card.config, wide_config)
    rules = {k: v for k, v in widen.MODULE_RULES["dtgcn"].items() if k != r"head\.2"}
    monkeypatch.setitem(widen.MODULE_RULES, "dtgcn", rules)
    with pytest.raises(VideoMocapError, match="parameter 'head.2.weight'"):
        widen.widen_state("dtgcn", tiny_state, card.config, wide_config)


# ---------------------------------------------------------------------------------------
# the trainer's warm start
# ---------------------------------------------------------------------------------------
def test_small_configs_widen_the_shipped_tiny_weights(repo_root, shipped):
    from video_mocap.training.config import load_config
    from video_mocap.training.train import config_differences, model_config_dict
    from video_mocap.training.widen import SIZE_FIELDS, wide_config_from_card

    for name in MODELS:
        config = load_config(repo_root / "training" / "configs" / f"{name}_small.yaml")
        card = shipped[name][1]
        assert config.init_weights == "default" and config.num_frames == card.num_frames
        run = model_config_dict(config)
        assert run == wide_config_from_card(name, card.config)
        differ = config_differences(name, card.config, run)[1]
        assert differ and set(differ) <= set(SIZE_FIELDS[name]), differ


def test_small_run_starts_from_the_widened_tiny(repo_root, shared_dir, shipped, tmp_path):
    """A run of the shipped dtgcn_small config (its data cut down) widens the shipped tiny weights: its model
    computes what they do and scores as they do on the run's validation windows, the run and its card say
    so; a small run whose window is not the card's is still refused."""
    from video_mocap.inference.weights import load_card
    from video_mocap.training.config import load_config
    from video_mocap.training.train import Trainer, build_card, validate_model

    if not (shared_dir / "data" / "mocap" / "hdm05" / "hdm05_h36m.npz").is_file():
        pytest.skip("HDM05 sequence file missing from ../shared")
    data = yaml.safe_load((repo_root / "training" / "configs" / "dtgcn_small.yaml").read_text())
    data.update(output_dir=str(tmp_path / "run"), steps=1)
    data["data"].update(sources=["hdm05"], source_weights={"hdm05": 1.0}, mocap_dir=str(shared_dir / "data" / "mocap"))
    data["val"].update(clip_stride=16, max_frames_per_clip=30)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    trainer = Trainer(config, tmp_path / "run", resume=False, show_progress=False)

    start = trainer.state.init_weights
    assert start["file"] == "dtgcn.safetensors" and start["preset"] == "tiny"
    assert start["warm_start"] == "widened tiny -> small (training.widen, Net2Net)"
    assert trainer.state.stage == "train" and trainer.model_config["dim"] == 64
    tiny_state, card = shipped["dtgcn"]
    tiny = _model("dtgcn", card.config, tiny_state)
    trainer.model.eval()
    x = _input(card.num_frames)
    with torch.no_grad():
        assert float((trainer.model(x) - tiny(x)).abs().max()) < OUTPUT_TOLERANCE_M
    assert sum(len(clips) for clips in trainer.val_clips.values()) > 0
    tiny_score = validate_model(tiny, "dtgcn", card.config, trainer.val_clips, False, "cpu")["all"]["mpjpe"]
    text = build_card(config, trainer.model_config, trainer.state, trainer.data, 1).training_data
    assert ("Initialised from: dtgcn.safetensors (dtgcn, preset tiny), widened tiny -> small (training.widen, "
            "Net2Net): every channel") in text

    result = trainer.run()  # scores the widened weights at step 0, one step, exports
    history = {h["step"]: h["val"]["all"]["mpjpe"] for h in result.state.history}
    assert sorted(history) == [0, 1]
    assert history[0] == pytest.approx(tiny_score, abs=1e-3)  # millimetres: it starts where the tiny is
    exported = load_card(result.exported)
    assert exported.preset == "small" and exported.config["dim"] == 64
    assert "widened tiny -> small (training.widen, Net2Net)" in exported.training_data

    config = load_config(path)
    config.num_frames = 9
    with pytest.raises(VideoMocapError, match="num_frames is 27 there, 9 here"):
        Trainer(config, tmp_path / "other", resume=False, show_progress=False)


def test_mixture_router_posemoe_widens_too():
    """Cards written before the gated router (``router: mixture``: the feature mixture, its own router and
    heads) widen as exactly; here a tiny one as ``build_model`` starts it."""
    from video_mocap.inference.models import build_model, config_to_dict, preset_config
    from video_mocap.training.widen import widened_from_card

    torch.manual_seed(0)
    tiny_config = config_to_dict(dataclasses.replace(preset_config("posemoe", "tiny"), num_frames=9, router="mixture"))
    tiny = build_model("posemoe", tiny_config).eval()
    wide_config, wide_state = widened_from_card("posemoe", tiny.state_dict(), tiny_config, noise=NOISE, seed=0)
    assert wide_config["router"] == "mixture" and wide_config["dim"] == 64
    x = _input(9)
    with torch.no_grad():
        out_tiny, out_wide = tiny(x, return_aux=True), _model("posemoe", wide_config, wide_state)(x, return_aux=True)
    assert out_tiny[0].abs().max() > 0.1
    assert float((out_wide[0] - out_tiny[0]).abs().max()) < OUTPUT_TOLERANCE_M
    for key in ("pose2d", "gate"):  # the auxiliary outputs too
        assert float((out_wide[1][key] - out_tiny[1][key]).abs().max()) < 1e-5
