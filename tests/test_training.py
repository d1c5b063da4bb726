"""Training stage: config, metrics, losses, a few real training steps, checkpoint/resume, eval CLI.

Real data only: HDM05 / DeepMimic sequence files and the Bandai sample BVH files from
``../shared`` (skipped with a reason when absent). Tiny models, short windows: < 60 s.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from video_mocap.core.errors import VideoMocapError
from video_mocap.training import metrics

torch = pytest.importorskip("torch")

HDM05 = Path("data/mocap/hdm05/hdm05_h36m.npz")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


DEEPMIMIC = Path("data/mocap/deepmimic/deepmimic_h36m.npz")
BANDAI_SAMPLE = Path("data/mocap/bandai/sample")


# ---------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------
def _write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "data, key, section",
    [
        ({"model": "mlp", "lerning_rate": 1.0}, "lerning_rate", "top level"),
        ({"model": "mlp", "optim": {"lr": 1e-3, "lrr": 1.0}}, "lrr", "optim"),
        ({"model": "mlp", "augment": {"mirorr_prob": 0.5}}, "mirorr_prob", "augment"),
        ({"model": "mlp", "data": {"sorces": ["hdm05"]}}, "sorces", "data"),
    ],
)
def test_config_rejects_unknown_keys(tmp_path, data, key, section):
    from video_mocap.training.config import load_config

    path = _write_yaml(tmp_path / "bad.yaml", data)
    with pytest.raises(VideoMocapError) as info:
        load_config(path)
    message = str(info.value)
    assert f"'{key}'" in message and str(path) in message and section in message


def test_config_rejects_bad_values(tmp_path):
    from video_mocap.training.config import load_config

    with pytest.raises(VideoMocapError, match="batch_size"):
        load_config(_write_yaml(tmp_path / "a.yaml", {"model": "mlp", "batch_size": "eight"}))
    with pytest.raises(VideoMocapError, match="model 'lstm'"):
        load_config(_write_yaml(tmp_path / "b.yaml", {"model": "lstm"}))
    with pytest.raises(VideoMocapError, match="pretrain is only for dtgcn"):
        load_config(_write_yaml(tmp_path / "c.yaml", {"model": "mlp", "pretrain": {"steps": 5}}))
    with pytest.raises(VideoMocapError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_configs_load(repo_root):
    from video_mocap.training.config import load_config

    configs = sorted((repo_root / "training" / "configs").glob("*.yaml"))
    names = {p.name for p in configs}
    assert {"posemoe_cpu.yaml", "dtgcn_cpu.yaml", "mlp_cpu.yaml", "posemoe_paper.yaml", "dtgcn_paper.yaml"} <= names
    for path in configs:
        config = load_config(path)
        assert config.steps > 0 or config.minutes > 0
    # tuples in nested dataclasses come back as tuples
    assert isinstance(load_config(configs[0]).camera.fov_deg, tuple)


# ---------------------------------------------------------------------------------------
# metrics (hand-computed cases)
# ---------------------------------------------------------------------------------------
def _pose(seed: int = 0, frames: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.3, size=(frames, 17, 3))


def test_mpjpe_known_offset():
    target = _pose()
    pred = target + np.array([0.03, 0.04, 0.0])  # every joint 5 cm off
    assert metrics.mpjpe(pred, target) == pytest.approx(0.05)
    # one joint of one frame off by 17 cm: mean over 17 joints x 4 frames
    pred = target.copy()
    pred[2, 5] += [0.0, 0.0, 0.17]
    assert metrics.mpjpe(pred, target) == pytest.approx(0.17 / (17 * 4))


def test_p_mpjpe_removes_similarity_only():
    from scipy.spatial.transform import Rotation

    target = _pose(1)
    rotation = Rotation.from_euler("xyz", [20, -35, 60], degrees=True).as_matrix()
    pred = 1.3 * target @ rotation.T + np.array([0.5, -0.2, 2.0])
    assert metrics.p_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-9)
    assert metrics.mpjpe(pred, target) > 0.5
    # a mirror image is not a rotation: Procrustes must not undo it
    mirrored = target * np.array([-1.0, 1.0, 1.0])
    assert metrics.p_mpjpe(mirrored, target) > 0.05


def test_n_mpjpe_removes_scale_only():
    target = _pose(2)
    assert metrics.n_mpjpe(0.8 * target, target) == pytest.approx(0.0, abs=1e-12)
    assert metrics.mpjpe(0.8 * target, target) == pytest.approx(0.2 * np.linalg.norm(target, axis=-1).mean())
    # a translation is not removed by scaling
    assert metrics.n_mpjpe(target + 0.1, target) > 0.01


def test_velocity_error_known_case():
    target = _pose(3, frames=5)
    assert metrics.velocity_error(target + 0.2, target) == pytest.approx(0.0)  # constant offset: same motion
    pred = target.copy()
    pred[2:, 0] += [0.0, 0.06, 0.0]  # joint 0 jumps 6 cm between frames 1 and 2 and stays
    # one of 4 frame steps x 17 joints has a 6 cm velocity error
    assert metrics.velocity_error(pred, target) == pytest.approx(0.06 / (4 * 17))


def test_bone_cv_measures_stretching_bones(hdm05_clip):
    from video_mocap.core.skeleton import BONES

    walk = hdm05_clip("HDM_mm_jogLeftCircle4StepsRstart_011_120")[:40]
    before = metrics.bone_cv(walk)
    assert before.max() < 0.02  # mocap bones: constant, up to the derived spine and head joints
    # the left shin (knee -> ankle) alternately 10 % longer and shorter: its CV is exactly 0.1
    knee, ankle = 5, 6
    stretched = walk.copy()
    factor = np.where(np.arange(40) % 2 == 0, 1.1, 0.9)[:, None]
    stretched[:, ankle] = walk[:, knee] + factor * (walk[:, ankle] - walk[:, knee])
    cv = metrics.bone_cv(stretched)
    shin = BONES.index((knee, ankle))
    assert before[shin] < 1e-6 and cv[shin] == pytest.approx(0.1, rel=1e-6)
    np.testing.assert_allclose(np.delete(cv, shin), np.delete(before, shin))
    # a clip's error record carries the median over bones of its prediction
    assert metrics.clip_errors("walk", stretched, walk).bone_cv == pytest.approx(float(np.median(cv)))
    summary = metrics.summarize([metrics.clip_errors("a", stretched, walk), metrics.clip_errors("b", walk, walk)])
    assert [row["bone_cv"] for row in summary.per_clip] == pytest.approx([np.median(cv), np.median(before)])
    assert summary.bone_cv == pytest.approx(np.median([np.median(cv), np.median(before)]))


def test_summary_pools_frames_and_lists_worst():
    target = _pose(4, frames=10)
    good = metrics.clip_errors("good", target + [0.01, 0.0, 0.0], target, {"content": "walk"})
    bad = metrics.clip_errors("bad", target[:2] + [0.1, 0.0, 0.0], target[:2], {"content": "kick"})
    summary = metrics.summarize([good, bad])
    # frame-weighted: (10 * 10 mm + 2 * 100 mm) / 12
    assert summary.overall["mpjpe"] == pytest.approx((10 * 10 + 2 * 100) / 12)
    assert summary.num_frames == 12 and summary.num_clips == 2
    assert [row["name"] for row in summary.worst(0.5)] == ["bad"]
    assert summary.worst(0.5)[0]["labels"] == {"content": "kick"}


# ---------------------------------------------------------------------------------------
# losses and a few real training steps of each model
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_clips(hdm05_file):
    from video_mocap.training import sources

    clips = sources.load_hdm05(hdm05_file)
    return [c for c in clips if c.labels.get("actor") != "bk"]


def test_torch_losses_match_numpy_metrics():
    from video_mocap.training import losses

    target = _pose(5, frames=6)[None]
    pred = target * 0.9 + 0.01 * _pose(6, frames=6)[None]
    t, p = torch.from_numpy(target), torch.from_numpy(pred)
    assert float(losses.mpjpe(p, t)) == pytest.approx(metrics.mpjpe(pred, target), rel=1e-6)
    assert float(losses.n_mpjpe(p, t)) == pytest.approx(metrics.n_mpjpe(pred, target), rel=1e-6)
    assert float(losses.velocity(p, t)) == pytest.approx(metrics.velocity_error(pred, target), rel=1e-6)


def test_bone_length_loss():
    from video_mocap.core import skeleton
    from video_mocap.training import losses

    target = torch.from_numpy(_pose(5, frames=6)[None])
    assert float(losses.bone_length_error(target, target)) == 0.0
    # a pose scaled by 1.1 about the root: every bone 10 % too long
    expected = 0.1 * float(torch.from_numpy(skeleton.bone_lengths(target.numpy())).mean())
    assert float(losses.bone_length_error(1.1 * target, target)) == pytest.approx(expected, rel=1e-5)
    # a rigid rotation keeps the bones: no bone loss, though MPJPE is large
    rotation = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], dtype=target.dtype)
    rotated = target @ rotation.T
    assert float(losses.bone_length_error(rotated, target)) < 1e-6 < float(losses.mpjpe(rotated, target))


def test_proportion_loss_counts_each_measure_as_a_share_of_itself():
    from video_mocap.training import losses
    from video_mocap.training.jointmap import SKELETON_MEASURES

    target = torch.from_numpy(_pose(5, frames=6)[None])
    assert float(losses.proportion_error(target, target)) == 0.0
    # scaled by 1.1 about the root: every measure 10 % too long, whatever its length
    assert float(losses.proportion_error(1.1 * target, target)) == pytest.approx(0.1, rel=1e-5)
    # the forearms 20 % short: the bone loss barely sees it (two short bones of many, in millimetres),
    # the proportion loss counts it as the forearms' share of the measured pairs
    short = target.clone()
    for elbow, wrist in SKELETON_MEASURES["forearm"]:
        short[..., wrist, :] = target[..., elbow, :] + 0.8 * (target[..., wrist, :] - target[..., elbow, :])
    pairs = sum(len(p) for p in SKELETON_MEASURES.values())
    assert float(losses.proportion_error(short, target)) == pytest.approx(0.2 * 2 / pairs, rel=1e-4)
    rotation = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], dtype=target.dtype)
    assert float(losses.proportion_error(target @ rotation.T, target)) < 1e-6


def test_distillation_pieces():
    from video_mocap.training import losses

    layers = [torch.randn(2, 5, 17, 8) * (i + 1) + i for i in range(4)]
    target = losses.distillation_target(layers, top_k=2)
    assert target.shape == (2, 5, 17, 8)
    # each layer is normalised over channels: the average of normalised layers has zero mean
    assert torch.allclose(target.mean(-1), torch.zeros(2, 5, 17), atol=1e-5)
    mask = torch.zeros(2, 5, 17, dtype=torch.bool)
    mask[0, 0, 0] = True
    student = target.clone()
    student[1] += 5.0  # errors on unmasked tokens do not count
    assert float(losses.masked_distillation_loss(student, target, mask)) == pytest.approx(0.0)
    assert losses.tau_at(0, 100, 0.99, 0.999) == pytest.approx(0.99)
    assert losses.tau_at(50, 100, 0.99, 0.999) == pytest.approx(0.9945)
    assert losses.tau_at(500, 100, 0.99, 0.999) == pytest.approx(0.999)
    frac = float(losses.token_mask((64, 27, 17), 0.7, torch.Generator().manual_seed(0)).float().mean())
    assert 0.67 < frac < 0.73


@pytest.mark.parametrize("model_name", ["posemoe", "dtgcn", "mlp"])
def test_few_steps_lower_the_loss(real_clips, model_name):
    """Tiny model, T=9: 25 AdamW steps on one fixed batch of real HDM05 windows lower the loss."""
    from video_mocap.inference.models import CONFIG_PRESETS, build_model, config_to_dict
    from video_mocap.training import sampler
    from video_mocap.training.config import LossConfig, TrainConfig
    from video_mocap.training.train import _batch_to_torch, _compute_loss

    torch.manual_seed(0)
    frames = 9
    config_dict = {**config_to_dict(CONFIG_PRESETS[model_name]["tiny"]), "num_frames": frames}
    model = build_model(model_name, config_dict)
    draw = sampler.WindowSampler(real_clips, frames, sampler.AugmentConfig(), sampler.CameraConfig(),
                                 sampler.NoiseConfig(), seed=3)
    batch = _batch_to_torch(draw.sample(8), "cpu")
    train_config = TrainConfig(model=model_name, loss=LossConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    first = None
    for _ in range(25):
        loss, parts = _compute_loss(train_config, model, batch)
        first = float(loss.detach()) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        last, _ = _compute_loss(train_config, model, batch)
    assert np.isfinite(float(last))
    assert float(last) < 0.8 * first, (first, float(last))
    assert "mpjpe" in parts


# ---------------------------------------------------------------------------------------
# the train command: pre-training, checkpoint, resume, export; then the eval command
# ---------------------------------------------------------------------------------------
def _run_config(shared_dir: Path, out: Path, steps: int) -> dict:
    return {
        "model": "dtgcn",
        "preset": "tiny",
        "model_config": {"dim": 16, "depth": 2, "heads": 2, "head_dim": 32},
        "num_frames": 9,
        "batch_size": 4,
        "steps": steps,
        "threads": 1,
        "output_dir": str(out),
        "checkpoint_every": 2,
        "log_every": 1,
        "pretrain": {"steps": 3, "top_k": 8},
        "val": {"every_steps": 3, "clip_stride": 8, "max_frames_per_clip": 20},
        "data": {
            "sources": ["hdm05", "deepmimic"],
            "mocap_dir": str(shared_dir / "data" / "mocap"),
            "source_weights": {"hdm05": 0.7, "deepmimic": 0.3},
        },
    }


@pytest.fixture(scope="module")
def trained_run(shared_dir, tmp_path_factory):
    """4 fine-tuning steps (after 3 pre-training steps), then resumed to 6."""
    from video_mocap.cli.train import main

    if not (shared_dir / HDM05).is_file() or not (shared_dir / DEEPMIMIC).is_file():
        pytest.skip("HDM05 / DeepMimic sequence files missing from ../shared")
    root = tmp_path_factory.mktemp("train")
    out = root / "run"
    config_path = _write_yaml(root / "run.yaml", _run_config(shared_dir, out, steps=4))
    assert main([str(config_path), "--quiet"]) == 0
    first_state = json.loads((out / "state.json").read_text())
    first_weights = (out / "model.safetensors").read_bytes()
    first_export = json.loads((out / "dtgcn.json").read_text())
    # a second run into the same folder without --resume is refused
    with pytest.raises(VideoMocapError, match="--resume"):
        main([str(config_path), "--quiet"])
    assert main([str(config_path), "--resume", "--steps", "6", "--quiet"]) == 0
    return {"out": out, "first_state": first_state, "first_weights": first_weights,
            "first_card": first_export, "state": json.loads((out / "state.json").read_text())}


def test_train_checkpoint_and_resume(trained_run):
    out, first, state = trained_run["out"], trained_run["first_state"], trained_run["state"]
    assert first["pretrain_step"] == 3 and first["step"] == 4 and first["stage"] == "done"
    # resumed from step 4 (not from 0), pre-training not repeated
    assert state["step"] == 6 and state["pretrain_step"] == 3
    val_steps = [h["step"] for h in state["history"]]
    assert val_steps == [3, 4, 6]
    assert (out / "model.safetensors").read_bytes() != trained_run["first_weights"]
    for name in ("config.json", "optim.pt", "best.safetensors", "dtgcn.safetensors", "dtgcn.json"):
        assert (out / name).is_file(), name
    assert any((out / "tb").iterdir())


def test_resume_rescores_a_best_checkpoint_from_other_windows(trained_run, tmp_path):
    """A best error measured on other validation windows is measured again before it is compared."""
    import shutil

    from video_mocap.cli.train import main

    def resume_with(best_metric: float, fingerprint: str | None) -> tuple[dict, dict]:
        out = tmp_path / f"run_{len(list(tmp_path.iterdir()))}"
        shutil.copytree(trained_run["out"], out)
        state = json.loads((out / "state.json").read_text())
        state["best_metric"] = best_metric
        state.pop("best_val_fingerprint")
        if fingerprint is not None:
            state["best_val_fingerprint"] = fingerprint
        (out / "state.json").write_text(json.dumps(state))
        config = json.loads((out / "config.json").read_text())
        config["output_dir"] = str(out)
        config_path = _write_yaml(tmp_path / f"{out.name}.yaml", config)
        assert main([str(config_path), "--resume", "--steps", "7", "--quiet"]) == 0
        return json.loads((out / "state.json").read_text()), json.loads((out / "best.json").read_text())

    same_windows = trained_run["state"]["best_val_fingerprint"]
    assert len(same_windows) == 16
    # same windows: the stored best stands (an impossible 1 mm that no step beats)
    state, _ = resume_with(1.0, same_windows)
    assert state["best_metric"] == 1.0
    # other windows, or a state from before fingerprints: the best checkpoint is scored again
    for fingerprint in ("0000000000000000", None):
        state, best = resume_with(1.0, fingerprint)
        assert state["best_metric"] > 1.0
        assert state["best_metric"] == pytest.approx(best["val"]["all"]["mpjpe"])
        assert state["best_val_fingerprint"] == same_windows


def test_resume_with_weight_average(trained_run, tmp_path):
    """optim.ema_decay: the average starts from the resumed weights, is saved and continued, and is
    what validation scores and the best checkpoint keeps."""
    import shutil

    from safetensors.numpy import load_file

    from video_mocap.cli.train import main

    out = tmp_path / "run"
    shutil.copytree(trained_run["out"], out)
    config = json.loads((out / "config.json").read_text())
    config["output_dir"] = str(out)
    config["optim"]["ema_decay"] = 0.9
    config_path = _write_yaml(tmp_path / "ema.yaml", config)

    assert main([str(config_path), "--resume", "--steps", "7", "--quiet"]) == 0
    ema_first = load_file(str(out / "ema.safetensors"))
    weights_7 = load_file(str(out / "model.safetensors"))
    assert float(ema_first["n_averaged"]) == 1.0
    for key, value in weights_7.items():  # the first update copies the weights
        np.testing.assert_allclose(ema_first[f"module.{key}"], value, atol=1e-7)

    state = json.loads((out / "state.json").read_text())
    state["best_metric"] = 1e9  # the next validation becomes the best checkpoint
    (out / "state.json").write_text(json.dumps(state))
    assert main([str(config_path), "--resume", "--steps", "8", "--quiet"]) == 0
    ema = load_file(str(out / "ema.safetensors"))
    weights_8 = load_file(str(out / "model.safetensors"))
    best = load_file(str(out / "best.safetensors"))
    assert float(ema["n_averaged"]) == 2.0
    moved = 0
    for key, value in weights_8.items():
        expected = 0.9 * ema_first[f"module.{key}"] + 0.1 * value
        np.testing.assert_allclose(ema[f"module.{key}"], expected, atol=1e-6)
        np.testing.assert_allclose(best[key], ema[f"module.{key}"], atol=1e-7)  # the average was scored
        moved += not np.allclose(value, weights_7[key])
    assert moved > 0
    assert json.loads((out / "best.json").read_text())["step"] == 8


def test_start_from_trained_weights(trained_run, tmp_path):
    """init_weights: a new run starts from exported weights (no pre-training), scores them at step 0
    as its first best, carries their licence, and refuses weights of another config."""
    from safetensors.numpy import load_file

    from video_mocap.inference.weights import load_card
    from video_mocap.cli.train import main

    start = trained_run["out"] / "dtgcn.safetensors"
    out = tmp_path / "finetune"
    config = json.loads((trained_run["out"] / "config.json").read_text())
    config.update(output_dir=str(out), steps=2, init_weights=str(start),
                  data={**config["data"], "sources": ["hdm05"], "source_weights": {"hdm05": 1.0}})
    config["val"]["every_steps"] = 100
    config["optim"]["warmup_steps"] = 0
    config_path = _write_yaml(tmp_path / "finetune.yaml", config)
    assert main([str(config_path), "--quiet"]) == 0

    state = json.loads((out / "state.json").read_text())
    assert state["pretrain_step"] == 0 and state["step"] == 2
    assert [h["step"] for h in state["history"]] == [0, 2]
    started = load_file(str(start))
    moved = load_file(str(out / "model.safetensors"))
    assert set(moved) == set(started)
    assert any(not np.array_equal(moved[k], started[k].astype(np.float32)) for k in started)
    # the starting weights were scored first: the best is whichever of them and the trained ones scored lower
    scores = {h["step"]: h["val"]["all"]["mpjpe"] for h in state["history"]}
    assert state["best_step"] == min(scores, key=scores.get)
    best = load_file(str(out / "best.safetensors"))
    kept = {k: v.astype(np.float32) for k, v in started.items()} if state["best_step"] == 0 else moved
    for key, value in kept.items():
        np.testing.assert_array_equal(best[key], value)
    card = load_card(out / "dtgcn.safetensors")
    assert "Initialised from: dtgcn.safetensors" in card.training_data
    start_card = load_card(start)
    assert "\n    " + start_card.training_data.splitlines()[1] in card.training_data  # the history comes along
    own_lines = "\n".join(line for line in card.training_data.splitlines() if not line.startswith("    "))
    assert "masked self-distillation" not in own_lines  # (the starting weights' history has it)
    assert "MIT" in card.licence  # DeepMimic's terms come with the starting weights, though this run had none

    config.update(output_dir=str(tmp_path / "other"), model_config={**config["model_config"], "dim": 24})
    with pytest.raises(VideoMocapError, match="dim is 16 there, 24 here"):
        main([str(_write_yaml(tmp_path / "other.yaml", config)), "--quiet"])


def test_shipped_weights_fit_the_calibrated_finetune_configs(repo_root):
    """The fine-tuning configs start from the shipped weights: their model config is the card's, the
    PoseMoE card's router included ("gate"; a card written before the field existed reads as "mixture",
    which the gated config does not take as is)."""
    from video_mocap.inference.weights import default_weights_path, load_card
    from video_mocap.training.config import load_config
    from video_mocap.training.train import config_differences, model_config_dict

    for model in ("dtgcn", "posemoe"):
        config = load_config(repo_root / "training" / "configs" / f"{model}_calibrated.yaml")
        assert config.init_weights == "default" and config.data.detector_bones
        card = load_card(default_weights_path(model))
        full, differ = config_differences(model, card.config, model_config_dict(config))
        assert differ == [], (model, differ)
        if model == "posemoe":
            assert card.config["router"] == "gate" and full["router"] == "gate"
            old_card = {k: v for k, v in card.config.items() if k != "router"}
            assert config_differences(model, old_card, model_config_dict(config))[1] == ["router"]
        other = {**card.config, "dim": card.config["dim"] * 2}  # a card of another size does not fit
        assert config_differences(model, other, model_config_dict(config))[1] == ["dim"]


def test_finetune_example_config_runs(repo_root, shared_dir, tmp_path):
    """The shipped fine-tuning example runs as documented once its placeholder path names real mocap
    (here DeepMimic's sequence file stands in for the user's), and says what is wrong while it does not."""
    from video_mocap.training.config import load_config
    from video_mocap.cli.train import main

    if not (shared_dir / HDM05).is_file() or not (shared_dir / DEEPMIMIC).is_file():
        pytest.skip("HDM05 / DeepMimic sequence files missing from ../shared")
    example = repo_root / "training" / "configs" / "finetune_own_mocap.yaml"
    assert load_config(example).init_weights == "default"
    with pytest.raises(VideoMocapError, match="path/to/your/bvh_folder"):
        main([str(example), "--steps", "1", "--out", str(tmp_path / "placeholder"), "--quiet"])

    config = yaml.safe_load(example.read_text())
    config["data"].update(mocap_dir=str(shared_dir / "data" / "mocap"), extra_sources={"mine": str(shared_dir / DEEPMIMIC)})
    config["val"].update(clip_stride=8, max_frames_per_clip=30)
    config.update(output_dir=str(tmp_path / "run"), steps=2, minutes=0)
    assert main([str(_write_yaml(tmp_path / "mine.yaml", config)), "--quiet"]) == 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["step"] == 2 and state["init_weights"]["file"] == "dtgcn.safetensors"
    assert (tmp_path / "run" / "dtgcn.safetensors").is_file()


def test_export_card_and_weights(trained_run):
    from video_mocap.inference.lifter import load_lifter
    from video_mocap.inference.weights import load_weights

    out = trained_run["out"]
    state, card = load_weights(out / "dtgcn.safetensors", expected_model="dtgcn")
    assert card.model == "dtgcn" and card.preset == "tiny" and card.num_frames == 9
    assert card.config["dim"] == 16
    assert "CC BY-SA 3.0" in card.licence and "MIT" in card.licence
    assert "hdm05" in card.training_data and "Augmentations:" in card.training_data
    assert "masked self-distillation" in card.training_data
    # the card names the skeleton calibration the sources were mapped onto (data.detector_bones, the default)
    assert "Skeleton: every source mapped bone by bone" in card.training_data
    assert "detector_skeleton.json" in card.training_data and "pose2sim_multiperson" in card.training_data
    assert "no GPU" in card.notes or torch.cuda.is_available()
    assert any(key.startswith("val_hdm05_mpjpe") for key in card.metrics)
    # fp16 on disk
    from safetensors.numpy import load_file

    assert {a.dtype for a in load_file(str(out / "dtgcn.safetensors")).values()} == {np.dtype(np.float16)}
    lifter = load_lifter("dtgcn", weights=out / "dtgcn.safetensors", device="cpu")
    assert lifter.predict(np.zeros((1, 9, 17, 3), np.float32)).shape == (1, 9, 17, 3)


def test_eval_cli_on_sequence_npz(trained_run, shared_dir, tmp_path, capsys):
    from video_mocap.cli.eval import main

    weights = trained_run["out"] / "dtgcn.safetensors"
    predictions = tmp_path / "pred.npz"
    assert main(["--weights", str(weights), "--data", str(shared_dir / DEEPMIMIC), "--json",
                 "--save-predictions", str(predictions), "--seed", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_clips"] == 20 and report["num_frames"] == 1313
    for key in ("mpjpe", "p_mpjpe", "n_mpjpe", "velocity"):
        assert np.isfinite(report["overall"][key])
    assert report["overall"]["p_mpjpe"] <= report["overall"]["mpjpe"]
    assert 0.0 < report["bone_cv"] == pytest.approx(float(np.median([row["bone_cv"] for row in report["per_clip"]])))
    assert len(report["worst"]) == 2 and report["worst"][0]["labels"]["content"]
    with np.load(predictions) as saved:
        assert saved["pred:humanoid3d_walk"].shape == saved["target:humanoid3d_walk"].shape == (38, 17, 3)
    # the same clips, cameras and noise, scored after the solve's filter: the motion is steadier
    assert main(["--weights", str(weights), "--data", str(shared_dir / DEEPMIMIC), "--json", "--seed", "1",
                 "--smoothing", "0.5"]) == 0
    smoothed = json.loads(capsys.readouterr().out)
    assert smoothed["settings"]["smoothing"] == 0.5 and smoothed["num_frames"] == 1313
    assert smoothed["overall"]["velocity"] < report["overall"]["velocity"]
    # HDM05, one held-out actor's squats, exact 2D from a high camera
    assert main(["--weights", str(weights), "--data", str(shared_dir / HDM05), "--json", "--noise", "none",
                 "--pitch", "-30", "--select", "HDM_bk_squat"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_clips"] >= 1
    assert all(row["labels"]["actor"] == "bk" for row in report["per_clip"])


def test_eval_cli_on_bvh_folder(trained_run, shared_dir, tmp_path, capsys):
    from video_mocap.cli.eval import main

    folder = tmp_path / "bvh"
    shutil.copytree(shared_dir / BANDAI_SAMPLE, folder)
    weights = trained_run["out"] / "dtgcn.safetensors"
    assert main(["--weights", str(weights), "--data", str(folder), "--jointmap", "bandai"]) == 0
    text = capsys.readouterr().out
    assert "3 clips, 66 frames" in text and "worst 10 % of clips" in text
    assert "dataset-1_dash_normal_001" in text


def test_eval_cli_errors(trained_run, tmp_path):
    from video_mocap.cli.eval import main

    weights = trained_run["out"] / "dtgcn.safetensors"
    with pytest.raises(VideoMocapError, match="not found"):
        main(["--weights", str(weights), "--data", str(tmp_path / "nothing.npz")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoMocapError, match="No .bvh files"):
        main(["--weights", str(weights), "--data", str(empty)])
    with pytest.raises(VideoMocapError, match="not found"):
        main(["--weights", str(tmp_path / "none.safetensors"), "--data", str(empty)])
    with pytest.raises(VideoMocapError, match="--smoothing must be between 0"):
        main(["--weights", str(weights), "--data", str(empty), "--smoothing", "2"])


def test_distributed_path_with_torchrun_on_cpu(shared_dir, tmp_path):
    """The DDP code path (torchrun, Gloo on CPU, 2 ranks): rank 0 alone writes the run folder."""
    import os
    import subprocess
    import sys

    if not (shared_dir / HDM05).is_file() or not (shared_dir / DEEPMIMIC).is_file():
        pytest.skip("HDM05 / DeepMimic sequence files missing from ../shared")
    out = tmp_path / "ddp"
    config = _run_config(shared_dir, out, steps=2)
    config["pretrain"] = {"steps": 1}
    config["val"]["every_steps"] = 2
    config["batch_size"] = 32  # the global batch: 2 shards of 16 windows, one per rank
    config_path = _write_yaml(tmp_path / "ddp.yaml", config)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
         "-m", "video_mocap.training", "train", str(config_path), "--quiet"],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = json.loads((out / "state.json").read_text())
    assert state["stage"] == "done" and state["step"] == 2 and state["pretrain_step"] == 1
    assert (out / "dtgcn.safetensors").is_file() and (out / "dtgcn.json").is_file()


def test_card_names_what_a_resume_changed():
    """A run resumed with other settings says so on its card (the start's settings stay described)."""
    from video_mocap.training.config import TrainConfig, to_dict
    from video_mocap.training.train import CARD_SECTIONS, resumed_changes

    start = to_dict(TrainConfig(model="mlp"))
    assert resumed_changes(start, start) == ""
    current = to_dict(TrainConfig(model="mlp"))
    current["camera"]["height_m"] = [0.3, 5.0]
    del start["augment"]["mirror_prob"]  # a field the run's start did not have yet
    text = resumed_changes({k: start[k] for k in CARD_SECTIONS}, current)
    assert text == f"augment.mirror_prob={current['augment']['mirror_prob']}, camera.height_m=[0.3, 5.0]"


def test_resume_keeps_the_validation_windows(shared_dir):
    """A resume with other training cameras and noise validates on the windows the run started with."""
    from video_mocap.training import sources
    from video_mocap.training.config import TrainConfig, to_dict
    from video_mocap.training.train import RunData, make_val_clips, validation_config

    if not (shared_dir / DEEPMIMIC).is_file():
        pytest.skip("DeepMimic sequence file missing from ../shared")
    clips = sources.load_deepmimic(shared_dir / DEEPMIMIC)[:3]
    data = RunData(train_clips=clips, val_sets={"deepmimic": clips}, source_weights=None)
    start = TrainConfig(model="mlp")
    resumed = TrainConfig(model="mlp")
    resumed.camera.height_m = (3.0, 5.0)
    resumed.noise.outlier_prob = 0.5

    def windows(config):
        return np.stack([w.inputs[:20] for w in make_val_clips(config, data, 9)["deepmimic"]])

    assert validation_config(resumed, None) is resumed  # a new run validates with its own settings
    assert not np.allclose(windows(resumed), windows(start))
    kept = validation_config(resumed, to_dict(start))
    np.testing.assert_array_equal(windows(kept), windows(start))
    assert kept.camera.height_m == start.camera.height_m and kept.optim == resumed.optim


def test_prepared_data_round_trip_and_bf16_run(hdm05_file, tmp_path):
    """``--prepare-data`` packs the config's clips as training reads them (within 0.5 mm), a pack made from
    another data config is refused by name, and a bf16 run trains from the pack with the sources gone
    (what a lent GPU machine does: ``training/gpu_burst.sh``)."""
    from video_mocap.cli.train import main
    from video_mocap.inference.weights import load_card
    from video_mocap.training.config import load_config
    from video_mocap.training.prepared import load_prepared
    from video_mocap.training.sources import load_all_sources

    pack = tmp_path / "prepared.npz"
    config = _run_config(tmp_path, tmp_path / "run", steps=2)
    config["pretrain"] = {"steps": 0, "minutes": 0}
    config["data"] = {"sources": ["hdm05"], "hdm05_file": str(hdm05_file), "source_weights": {"hdm05": 1.0}}
    config_path = _write_yaml(tmp_path / "run.yaml", config)
    assert main([str(config_path), "--prepare-data", str(pack)]) == 0
    data = load_config(config_path).data
    direct, packed = load_all_sources(data), load_prepared(pack, data)
    for split in ("train", "val"):
        assert [c.name for c in packed[split]] == [c.name for c in direct[split]] and direct[split]
        for a, b in zip(direct[split], packed[split]):
            assert a.source == b.source and a.labels == b.labels and a.fps == b.fps
            np.testing.assert_allclose(b.joints, a.joints, atol=0.0005 + 1e-6)
    with pytest.raises(VideoMocapError, match="detector_bones"):
        load_prepared(pack, dataclasses.replace(data, detector_bones=False))

    config["data"].update(hdm05_file=str(tmp_path / "not_here.npz"), prepared=str(pack))  # the sources are gone
    config["precision"] = "bf16"
    assert main([str(_write_yaml(tmp_path / "burst.yaml", config)), "--quiet"]) == 0
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["step"] == 2
    assert "bf16" in load_card(tmp_path / "run" / "dtgcn.safetensors").training_data


def test_gated_posemoe_run_warm_starts_from_mixture_weights(shared_dir, tmp_path):
    """init_weights of a feature-mixture PoseMoE in a run with the gated router: the router is warm-started
    (inference.models.posemoe.gated_state_from_mixture), the run and its card say so; any other config
    difference is still refused."""
    from video_mocap.cli.train import main
    from video_mocap.inference.models import build_model, config_to_dict, preset_config
    from video_mocap.inference.weights import ModelCard, load_card, save_weights

    if not (shared_dir / HDM05).is_file() or not (shared_dir / DEEPMIMIC).is_file():
        pytest.skip("HDM05 / DeepMimic sequence files missing from ../shared")
    small = {"dim": 16, "encoder_layers": 1, "decoder_layers": 1, "heads": 2}
    mixture_config = dataclasses.replace(preset_config("posemoe", "tiny"), num_frames=9, router="mixture", **small)
    start = tmp_path / "mixture" / "posemoe.safetensors"
    start.parent.mkdir()
    save_weights(build_model("posemoe", mixture_config).state_dict(),
                 ModelCard(model="posemoe", config=config_to_dict(mixture_config), num_frames=9,
                           training_data="Training data: a test's starting point", licence="MIT"), start)
    config = _run_config(shared_dir, tmp_path / "gated", steps=1)
    config.update(model="posemoe", model_config={**small, "router": "gate"}, init_weights=str(start),
                  pretrain={"steps": 0})
    config["val"]["every_steps"] = 100
    assert main([str(_write_yaml(tmp_path / "gated.yaml", config)), "--quiet"]) == 0
    state = json.loads((tmp_path / "gated" / "state.json").read_text())
    assert state["step"] == 1 and state["init_weights"]["warm_start"] == "router mixture -> gate"
    card = load_card(tmp_path / "gated" / "posemoe.safetensors")
    assert card.config["router"] == "gate" and "gated_state_from_mixture" in card.training_data

    config.update(output_dir=str(tmp_path / "wider"), model_config={**small, "router": "gate", "dim": 24})
    with pytest.raises(VideoMocapError, match="dim is 16 there, 24 here"):
        main([str(_write_yaml(tmp_path / "wider.yaml", config)), "--quiet"])
