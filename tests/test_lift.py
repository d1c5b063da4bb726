"""3D stage: weights I/O, windowed lifting, flip TTA, trajectory recovery, the `lift` CLI.

The networks here are random-init tiny models saved and re-loaded through the real weights
files in tmp_path: they test the plumbing (windowing, flipping, loading) and are never used
as a model. Trained weights are tested by the training engineer's evaluation.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from video_mocap import cli  # noqa: E402  (the dispatcher package)
from video_mocap.core.errors import Cancelled, VideoMocapError  # noqa: E402
from video_mocap.core import camera, skeleton  # noqa: E402
from video_mocap.core.formats import Motion3D, Track2D, TrackFile  # noqa: E402
from video_mocap.inference.lifter import (  # noqa: E402
    WindowedLift,
    blend_weights,
    lift_sequence,
    lift_track,
    lift_track_file,
    load_lifter,
    window_starts,
)
from video_mocap.inference.models import build_model, config_to_dict, preset_config  # noqa: E402
from video_mocap.inference.trajectory import recover_root  # noqa: E402
from video_mocap.inference.weights import (  # noqa: E402
    WEIGHTS_DIR_ENV,
    ModelCard,
    card_path,
    default_weights_path,
    load_weights,
    save_weights,
)

WIDTH, HEIGHT = 884, 498
#: fp16 storage of the weights: outputs of the reloaded model match to about this (metres)
FP16_TOL = 1e-5


def _save_tiny(tmp_path, name: str, num_frames: int = 243, seed: int = 0):
    """Random-init tiny model -> weights in tmp_path. Returns (path, the reloaded torch model)."""
    torch.manual_seed(seed)
    cfg = preset_config(name, "tiny")
    cfg.num_frames = num_frames
    model = build_model(name, cfg).eval()
    card = ModelCard(model=name, config=config_to_dict(cfg), preset="tiny", num_frames=num_frames,
                     notes="random init, test only")
    path = save_weights(model.state_dict(), card, tmp_path / f"{name}_{num_frames}.safetensors")
    state, _ = load_weights(path, expected_model=name)
    reloaded = build_model(name, cfg).eval()
    reloaded.load_state_dict(state)
    return path, reloaded


def _clip(frames: int, seed: int = 0) -> np.ndarray:
    """(T, 17, 3) smooth, plausible normalised 2D track with scores."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.2, size=(1, 17, 2))
    t = np.arange(frames)[:, None, None] / 30.0
    xy = base + 0.1 * np.sin(2.0 * t + rng.uniform(0, 6, size=(1, 17, 2)))
    score = rng.uniform(0.3, 1.0, size=(frames, 17, 1))
    return np.concatenate([xy, score], axis=-1).astype(np.float32)


def _run(model, clip: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(clip[None])).numpy()[0]


# ---------------------------------------------------------------------------------------
# weights I/O
# ---------------------------------------------------------------------------------------
def test_weights_roundtrip_fp16_and_card(tmp_path):
    path, _ = _save_tiny(tmp_path, "dtgcn")
    assert path.is_file() and card_path(path).is_file()
    from safetensors.numpy import load_file

    raw = load_file(str(path))
    assert all(a.dtype == np.float16 for a in raw.values() if np.issubdtype(a.dtype, np.floating))
    state, card = load_weights(path)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    assert card.model == "dtgcn" and card.joint_names == list(skeleton.JOINT_NAMES)
    assert card.input_normalization == "screen_width_half_centred"
    assert card.input_channels == ["x", "y", "score"]
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def _card_json(path) -> dict:
    return json.loads(card_path(path).read_text())


def _write_card(path, values: dict) -> None:
    card_path(path).write_text(json.dumps(values))


def test_load_errors(tmp_path):
    path, _ = _save_tiny(tmp_path, "mlp", num_frames=27)
    good = _card_json(path)

    with pytest.raises(VideoMocapError, match="holds mlp weights, not posemoe"):
        load_weights(path, expected_model="posemoe")

    _write_card(path, {**good, "model": "resnet"})
    with pytest.raises(VideoMocapError, match="unknown model 'resnet'"):
        load_weights(path)

    _write_card(path, {**good, "joint_names": list(reversed(skeleton.JOINT_NAMES))})
    with pytest.raises(VideoMocapError, match="joint order"):
        load_weights(path)

    _write_card(path, {**good, "input_normalization": "bbox"})
    with pytest.raises(VideoMocapError, match="bbox"):
        load_weights(path)

    _write_card(path, {**good, "config": {**good["config"], "hidden": 128}})
    with pytest.raises(VideoMocapError, match=r"wrong shapes: blocks.0.layers.0.0.bias \(256,\) != \(128,\)"):
        load_weights(path)

    _write_card(path, {**good, "config": {**good["config"], "blocks": 3}})
    with pytest.raises(VideoMocapError, match="missing tensors: blocks.2"):
        load_weights(path)

    _write_card(path, {**good, "num_frames": 81})
    with pytest.raises(VideoMocapError, match="num_frames 81 differs"):
        load_weights(path)

    _write_card(path, {**good, "config": {**good["config"], "width": 3}})
    with pytest.raises(VideoMocapError, match="unknown keys"):
        load_weights(path)

    card_path(path).write_text("{not json")
    with pytest.raises(VideoMocapError, match="not valid JSON"):
        load_weights(path)

    card_path(path).unlink()
    with pytest.raises(VideoMocapError, match=r"model card .*\.json not found"):
        load_weights(path)

    _write_card(path, good)
    load_weights(path)  # restored: loads again
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(VideoMocapError, match="corrupt"):
        load_weights(path)

    with pytest.raises(VideoMocapError, match="not found"):
        load_weights(tmp_path / "nothing.safetensors")


def test_unexpected_tensors_listed(tmp_path):
    path, model = _save_tiny(tmp_path, "mlp", num_frames=27)
    state = {**model.state_dict(), "extra.weight": torch.zeros(3)}
    card_values = _card_json(path)
    save_weights(state, ModelCard(**card_values), path)
    with pytest.raises(VideoMocapError, match="unexpected tensors: extra.weight"):
        load_weights(path)


def test_no_weights_is_an_error_never_random(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    assert default_weights_path("dtgcn") == tmp_path / "empty" / "dtgcn.safetensors"
    for name in ("posemoe", "dtgcn", "mlp"):
        with pytest.raises(VideoMocapError, match=f"No trained weights exist yet for the {name} lifter"):
            load_lifter(name)
    with pytest.raises(VideoMocapError, match="unknown lifter"):
        load_lifter("bogus")


# ---------------------------------------------------------------------------------------
# windowed inference
# ---------------------------------------------------------------------------------------
def test_windows_cover_the_clip():
    assert window_starts(243, 243, 162) == [0]
    assert window_starts(100, 243, 162) == [0]
    starts = window_starts(1000, 243, 162)
    assert starts[0] == 0 and starts[-1] == 1000 - 243
    assert all(b - a <= 162 for a, b in zip(starts, starts[1:]))
    weights = blend_weights(243, 81)
    assert weights.min() > 0 and weights.max() == 1.0 and weights[121] == 1.0


@pytest.mark.parametrize("name", ["posemoe", "dtgcn"])
def test_one_window_clip_equals_the_whole_model(tmp_path, name):
    path, model = _save_tiny(tmp_path, name)
    lifter = load_lifter(name, weights=path, device="cpu", backend="torch")
    assert lifter.num_frames == 243 and lifter.device == "cpu"
    clip = _clip(243)
    out = lift_sequence(lifter, clip, flip=False)
    np.testing.assert_allclose(out, _run(model, clip), atol=FP16_TOL)
    assert np.all(out[:, skeleton.PELVIS] == 0)


def test_windowed_equals_whole_for_a_per_frame_model(tmp_path):
    """The MLP has no temporal context: windows of 27 frames over 243 must give the whole-clip result."""
    path, model = _save_tiny(tmp_path, "mlp", num_frames=27)
    lifter = load_lifter("mlp", weights=path, device="cpu", backend="torch")
    clip = _clip(243, seed=3)
    windowed = lift_sequence(lifter, clip, flip=False, batch_windows=3)
    np.testing.assert_allclose(windowed, _run(model, clip), atol=FP16_TOL)


def test_flip_equivariance(tmp_path):
    """TTA of the mirrored clip is the mirror of the TTA of the clip."""
    path, _ = _save_tiny(tmp_path, "dtgcn", num_frames=81)
    lifter = load_lifter("dtgcn", weights=path, device="cpu", backend="torch")
    clip = _clip(100, seed=1)
    out = lift_sequence(lifter, clip, flip=True)
    out_of_flipped = lift_sequence(lifter, skeleton.flip_joints(clip), flip=True)
    np.testing.assert_allclose(out_of_flipped, skeleton.flip_joints(out), atol=1e-5)
    # and flipping does change the answer of an untrained network (the test is not vacuous)
    assert np.abs(out - lift_sequence(lifter, clip, flip=False)).max() > 1e-4


def test_short_clip_is_edge_padded(tmp_path):
    path, model = _save_tiny(tmp_path, "posemoe", num_frames=81)
    lifter = load_lifter("posemoe", weights=path, device="cpu", backend="torch")
    clip = _clip(5, seed=2)
    out = lift_sequence(lifter, clip, flip=False)
    assert out.shape == (5, 17, 3)
    padded = np.concatenate([clip, np.repeat(clip[-1:], 76, axis=0)])
    np.testing.assert_allclose(out, _run(model, padded)[:5], atol=FP16_TOL)
    assert lift_sequence(lifter, clip[:1]).shape == (1, 17, 3)


def test_long_clip_batches_progress_and_cancel(tmp_path):
    path, model = _save_tiny(tmp_path, "dtgcn", num_frames=81)
    lifter = load_lifter("dtgcn", weights=path, device="cpu", backend="torch")
    clip = _clip(1000, seed=4)
    calls: list[tuple[str, int, int]] = []
    out = lift_sequence(lifter, clip, flip=False, batch_windows=4, progress=lambda *a: calls.append(a))
    assert out.shape == (1000, 17, 3) and np.isfinite(out).all()
    total = len(window_starts(1000, 81, 54))
    assert calls[0] == ("lift", 0, total) and calls[-1] == ("lift", total, total)
    # batching does not change the result
    part = clip[:300]
    np.testing.assert_allclose(lift_sequence(lifter, part, flip=False, batch_windows=4),
                               lift_sequence(lifter, part, flip=False, batch_windows=1), atol=1e-5)
    # frames only the first window covers are that window's prediction
    np.testing.assert_allclose(out[:20], _run(model, clip[:81])[:20], atol=FP16_TOL)
    # seams blend the neighbours: in between the two windows' predictions
    seam = 60
    first, second = _run(model, clip[:81])[seam], _run(model, clip[54:135])[seam - 54]
    low, high = np.minimum(first, second) - 1e-5, np.maximum(first, second) + 1e-5
    assert np.all((out[seam] >= low) & (out[seam] <= high))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        lift_sequence(lifter, clip, cancel=cancel)


def test_pushing_pieces_of_any_size_gives_the_whole_clip_result(tmp_path):
    """WindowedLift fed 1, 7 or 500 frames at a time returns every frame once, in order, as lift_sequence."""
    path, _ = _save_tiny(tmp_path, "dtgcn", num_frames=27)
    lifter = load_lifter("dtgcn", weights=path, device="cpu", backend="torch")
    clip = _clip(300, seed=5)
    whole = lift_sequence(lifter, clip, flip=True, batch_windows=2)
    for piece in (1, 7, 500):
        lifting = WindowedLift(lifter, 300, flip=True, batch_windows=2)
        blocks, held = [], []
        for first in range(0, 300, piece):
            blocks += lifting.push(clip[first : first + piece])
            held.append(max(lifting.inputs.shape[0], lifting.weight_sum.shape[0]))
        assert lifting.done
        np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6)
        if piece == 1:  # bounded: never more than a window plus a batch of strides (27 + 2 x 18 frames)
            assert max(held) <= 27 + 2 * 18
    np.save(tmp_path / "clip.npy", clip)
    on_disk = np.load(tmp_path / "clip.npy", mmap_mode="r")
    np.testing.assert_allclose(lift_sequence(lifter, on_disk, flip=True, batch_windows=2), whole, atol=1e-6)
    with pytest.raises(VideoMocapError, match="told 300 frames"):
        WindowedLift(lifter, 300).push(np.concatenate([clip, clip[:1]]))


def test_torch_backend_restores_training_mode():
    """Training validation wraps the live model: predicting must not leave it in eval mode."""
    from video_mocap.inference.lifter import TorchBackend

    model = build_model("mlp", preset_config("mlp", "tiny")).train()
    backend = TorchBackend(model, "cpu")
    first = backend.predict(_clip(4)[None])
    assert model.training
    np.testing.assert_array_equal(first, backend.predict(_clip(4)[None]))  # eval: dropout off, BN frozen


def test_bad_inputs(tmp_path):
    path, _ = _save_tiny(tmp_path, "mlp", num_frames=27)
    lifter = load_lifter("mlp", weights=path, device="cpu", backend="torch")
    with pytest.raises(VideoMocapError, match=r"\(T, 17, 3\)"):
        lift_sequence(lifter, np.zeros((10, 17, 2)))
    bad = _clip(10)
    bad[3, 4, 0] = np.nan
    with pytest.raises(VideoMocapError, match="NaN"):
        lift_sequence(lifter, bad)


# ---------------------------------------------------------------------------------------
# trajectory
# ---------------------------------------------------------------------------------------
def _synthetic_scene(frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    rel = rng.normal(scale=0.25, size=(frames, 17, 3))
    rel -= rel[:, :1]
    t = np.linspace(0.0, 1.0, frames)
    root = np.stack([0.6 * np.sin(2.0 * t), 0.3 + 0.1 * t, 3.5 + 2.0 * t], axis=-1)
    focal = camera.focal_from_fov(WIDTH, 55.0)
    keypoints = camera.project(rel + root[:, None], focal, WIDTH, HEIGHT)
    return rel, root, keypoints, focal


def test_root_recovered_to_millimetres():
    rel, root, keypoints, focal = _synthetic_scene(120)
    scores = np.ones((120, 17))
    raw = recover_root(rel, keypoints, scores, focal, WIDTH, HEIGHT, smooth_window=0)
    assert np.abs(raw - root).max() < 1e-3
    smoothed = recover_root(rel, keypoints, scores, focal, WIDTH, HEIGHT)
    assert np.abs(smoothed - root).max() < 1e-3


def test_root_ignores_zero_score_joints():
    rel, root, keypoints, focal = _synthetic_scene(30, seed=1)
    scores = np.ones((30, 17))
    keypoints = keypoints.copy()
    keypoints[:, 13] += 150.0  # a wildly wrong wrist...
    scores[:, 13] = 0.0  # ...that the detector flagged as missing
    out = recover_root(rel, keypoints, scores, focal, WIDTH, HEIGHT, smooth_window=0)
    assert np.abs(out - root).max() < 1e-3
    scores[:, 1:] = 0.0  # only the pelvis seen: still a unique, finite answer
    assert np.isfinite(recover_root(rel, keypoints, scores, focal, WIDTH, HEIGHT)).all()
    scores[:] = 0.0  # nothing scored: every joint weighs the same
    assert np.isfinite(recover_root(rel, keypoints, scores, focal, WIDTH, HEIGHT)).all()
    one_frame_scores = np.ones((1, 17))
    one_frame_scores[:, 13] = 0.0
    single = recover_root(rel[:1], keypoints[:1], one_frame_scores, focal, WIDTH, HEIGHT)
    assert single.shape == (1, 3) and np.abs(single - root[:1]).max() < 1e-3


def test_root_smoothing_window_shrinks_for_short_clips():
    from video_mocap.core.filters import savgol

    values = np.random.default_rng(0).normal(size=(5, 3))
    smoothed = savgol(values, 9, 2)  # window shrunk to 5: a quadratic fit over the whole clip
    fit = np.polynomial.polynomial.polyval(np.arange(5), np.polynomial.polynomial.polyfit(np.arange(5), values, 2)).T
    np.testing.assert_allclose(smoothed, fit, atol=1e-10)
    np.testing.assert_array_equal(savgol(values[:2], 9, 2), values[:2])  # too short to fit: unchanged


def test_lift_track_gives_motion(tmp_path):
    path, _ = _save_tiny(tmp_path, "dtgcn", num_frames=27)
    lifter = load_lifter("dtgcn", weights=path, device="cpu", backend="torch")
    rel, root, keypoints, focal = _synthetic_scene(50)
    track = Track2D(keypoints=keypoints, scores=np.ones((50, 17)), frame_indices=np.arange(10, 60), fps=30.0,
                    width=WIDTH, height=HEIGHT, focal_px=focal)
    motion = lift_track(track, lifter)
    assert motion.joints3d.shape == (50, 17, 3) and motion.root.shape == (50, 3)
    assert motion.model == "dtgcn" and np.all(motion.root[:, 2] > 0)
    assert float(motion.extras["focal_px"]) == pytest.approx(focal)
    np.testing.assert_array_equal(motion.frame_indices, np.arange(10, 60))
    override = lift_track(track, lifter, fov_deg=90.0)
    assert float(override.extras["focal_px"]) == pytest.approx(camera.focal_from_fov(WIDTH, 90.0))
    with pytest.raises(VideoMocapError, match="fov"):
        lift_track(track, lifter, fov_deg=500.0)


@pytest.mark.parametrize("block_frames", [7, 4096])
def test_streamed_file_lift_equals_lift_track(tmp_path, block_frames):
    """lift_track_file writes the file lift_track + Motion3D.save write (to float rounding)."""
    path, _ = _save_tiny(tmp_path, "dtgcn", num_frames=27)
    n_frames = 400  # 22 windows of 27: three batches, so several final blocks stream out
    lifter = load_lifter("dtgcn", weights=path, device="cpu", backend="torch")
    _, _, keypoints, focal = _synthetic_scene(n_frames)
    scores = np.random.default_rng(1).uniform(0.2, 1.0, size=(n_frames, 17))
    track = Track2D(keypoints=keypoints, scores=scores, frame_indices=np.arange(5, n_frames + 5), fps=25.0,
                    width=WIDTH, height=HEIGHT, focal_px=focal)
    track_path = track.save(tmp_path / "track.npz")
    expected = lift_track(track, lifter)
    calls: list[tuple[str, int, int]] = []
    frames = lift_track_file(track_path, tmp_path / "motion.npz", lifter, block_frames=block_frames,
                             progress=lambda *a: calls.append(a))
    streamed = Motion3D.load(tmp_path / "motion.npz")
    assert frames == n_frames and streamed.num_frames == n_frames and streamed.model == "dtgcn" and streamed.fps == 25.0
    np.testing.assert_allclose(streamed.joints3d, expected.joints3d, atol=1e-6)
    np.testing.assert_allclose(streamed.root, expected.root, atol=1e-5)
    np.testing.assert_array_equal(streamed.frame_indices, expected.frame_indices)
    np.testing.assert_array_equal(streamed.scores, expected.scores)
    assert set(streamed.extras) == set(expected.extras) == {"focal_px", "width", "height"}
    assert float(streamed.extras["focal_px"]) == pytest.approx(focal)
    assert calls[-1][1] == calls[-1][2] == 22


def test_streamed_file_lift_errors_leave_the_old_file(tmp_path):
    path, _ = _save_tiny(tmp_path, "mlp", num_frames=27)
    lifter = load_lifter("mlp", weights=path, device="cpu", backend="torch")
    out = tmp_path / "motion.npz"
    out.write_bytes(b"the user's earlier result")
    _, _, keypoints, _ = _synthetic_scene(100)
    keypoints[80, 3] = np.nan  # past the first block: found while streaming
    np.savez(tmp_path / "bad.npz", keypoints=keypoints, scores=np.ones((100, 17)), frame_indices=np.arange(100),
             fps=30.0, width=WIDTH, height=HEIGHT)
    with pytest.raises(VideoMocapError, match="NaN"):
        lift_track_file(tmp_path / "bad.npz", out, lifter, block_frames=32)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        lift_track_file(_track_file(tmp_path), out, lifter, cancel=cancel)
    np.savez(tmp_path / "short.npz", keypoints=keypoints, scores=np.ones((99, 17)), frame_indices=np.arange(100),
             fps=30.0, width=WIDTH, height=HEIGHT)
    with pytest.raises(VideoMocapError, match=r"'scores' must have shape \(100, 17\)"):
        lift_track_file(tmp_path / "short.npz", out, lifter)
    np.save(tmp_path / "single.npy", keypoints)
    with pytest.raises(VideoMocapError, match="not an .npz"):
        TrackFile(tmp_path / "single.npy")
    good = Track2D(keypoints=np.nan_to_num(keypoints), scores=np.ones((100, 17)), frame_indices=np.arange(100),
                   fps=30.0, width=WIDTH, height=HEIGHT)
    np.savez_compressed(tmp_path / "compressed.npz", keypoints=good.keypoints, scores=good.scores,
                        frame_indices=good.frame_indices, fps=30.0, width=WIDTH, height=HEIGHT)
    damaged = bytearray((tmp_path / "compressed.npz").read_bytes())
    damaged[len(damaged) // 3] ^= 0xFF  # inside the compressed keypoints: found while streaming
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    with pytest.raises(VideoMocapError, match="damaged|write it again"):
        lift_track_file(tmp_path / "damaged.npz", out, lifter, block_frames=16)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "bad.npz").read_bytes()[:5000])
    with pytest.raises(VideoMocapError, match="write it again"):
        lift_track_file(tmp_path / "cut.npz", out, lifter)
    assert out.read_bytes() == b"the user's earlier result"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".motion")) == []


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
def _track_file(tmp_path):
    _, _, keypoints, focal = _synthetic_scene(40)
    track = Track2D(keypoints=keypoints, scores=np.ones((40, 17)), frame_indices=np.arange(40), fps=30.0,
                    width=WIDTH, height=HEIGHT)
    return track.save(tmp_path / "track.npz")


def test_cli_without_weights_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "no_weights_here"))
    out = tmp_path / "motion.npz"
    code = cli.main(["lift", str(_track_file(tmp_path)), "-o", str(out), "--model", "dtgcn"])
    err = capsys.readouterr().err
    assert code == 2
    assert "No trained weights exist yet for the dtgcn lifter" in err and "video-mocap train" in err
    assert "Traceback" not in err and not out.exists()


def test_cli_lifts_with_weights(tmp_path, capsys):
    path, _ = _save_tiny(tmp_path, "mlp", num_frames=27)
    out = tmp_path / "motion.npz"
    code = cli.main(["lift", str(_track_file(tmp_path)), "-o", str(out), "--model", "mlp", "--weights", str(path),
                     "--device", "cpu", "--fov", "50"])
    assert code == 0, capsys.readouterr().err
    motion = Motion3D.load(out)
    assert motion.num_frames == 40 and motion.model == "mlp"
    code = cli.main(["lift", str(_track_file(tmp_path)), "-o", str(out), "--model", "dtgcn", "--weights", str(path)])
    assert code == 2 and "holds mlp weights, not dtgcn" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# view centring: each window lifted as a camera turned to look at the person sees it
# ---------------------------------------------------------------------------------------
def test_centring_rotation_puts_the_ray_on_the_optical_axis():
    from video_mocap.inference.lifter import OPTICAL_AXIS

    for direction in ([0.6, -0.2, 1.0], [-1.0, 0.4, 0.8], [0.0, 0.0, 1.0]):
        rotation = camera.rotation_between(np.array(direction), OPTICAL_AXIS)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        turned = rotation @ np.array(direction) / np.linalg.norm(direction)
        np.testing.assert_allclose(turned, [0.0, 0.0, 1.0], atol=1e-12)


def test_centring_a_window_reprojects_through_the_same_lens():
    """A window of exact projections, centred: its keypoints are those of the same 3D points seen by the turned
    camera, and a person already on the optical axis is left as they are."""
    from video_mocap.inference.lifter import centre_window, focal_scale_of

    focal = camera.default_focal(WIDTH, HEIGHT)
    rng = np.random.default_rng(0)
    points = rng.normal(scale=0.3, size=(5, 17, 3)) + [1.8, 0.4, 5.0]  # to the right of and below the axis
    inputs = np.concatenate([camera.normalize_screen(camera.project(points, focal, WIDTH, HEIGHT), WIDTH, HEIGHT),
                             np.ones((5, 17, 1))], axis=-1).astype(np.float32)
    centred, rotation = centre_window(inputs, focal_scale_of(WIDTH, focal))
    expected = camera.normalize_screen(camera.project(points @ rotation.T, focal, WIDTH, HEIGHT), WIDTH, HEIGHT)
    np.testing.assert_allclose(centred[..., :2], expected, atol=1e-5)
    np.testing.assert_allclose(centred[:, skeleton.PELVIS, :2].mean(axis=0), [0.0, 0.0], atol=0.05)
    on_axis = points - points[:, skeleton.PELVIS].mean(axis=0) + [0.0, 0.0, 5.0]
    on_axis_inputs = np.concatenate([camera.normalize_screen(camera.project(on_axis, focal, WIDTH, HEIGHT),
                                                             WIDTH, HEIGHT), np.ones((5, 17, 1))], axis=-1)
    same, identity = centre_window(on_axis_inputs.astype(np.float32), focal_scale_of(WIDTH, focal))
    np.testing.assert_allclose(identity, np.eye(3), atol=2e-3)  # the mean pelvis ray, not the mean pelvis
    np.testing.assert_allclose(same, on_axis_inputs, atol=2e-3)


@pytest.mark.parametrize("name", ["dtgcn", "posemoe"])
def test_a_person_at_the_frame_edge_is_lifted_at_their_size(hdm05_clip, name):
    """A real HDM05 walk (actor bk, held out of training) filmed by the same camera twice, once with the walker
    near the image centre and once near its left edge: the shipped lifter, lifting each window centred on the
    person (the product's path), gives the same body size both times; lifting the image as it is shrinks the
    walker at the edge."""
    from video_mocap.inference.lifter import focal_scale_of
    from video_mocap.rigging.world import view_from_camera

    joints_rel, root = view_from_camera(hdm05_clip("HDM_bk_sneak2StepsLStart_005_120"), yaw_deg=90.0, tilt_deg=8.0)
    focal = camera.default_focal(WIDTH, HEIGHT)
    lifter = load_lifter(name, device="cpu", backend="torch")
    sizes = {}
    for place, shift in (("centre", 0.0), ("edge", -0.75)):  # the edge: 75 % of the half-width to the left
        placed = root - root.mean(axis=0) + [shift * root[:, 2].mean() * WIDTH / (2 * focal), 0.0, 0.0]
        placed[:, 2] = root[:, 2]
        points = joints_rel + placed[:, None, :]
        keypoints = camera.project(points, focal, WIDTH, HEIGHT)
        inputs = np.concatenate([camera.normalize_screen(keypoints, WIDTH, HEIGHT), np.ones((len(points), 17, 1))],
                                axis=-1).astype(np.float32)
        for centred in (True, False):
            lifted = lift_sequence(lifter, inputs, focal_scale=focal_scale_of(WIDTH, focal) if centred else None)
            sizes[place, centred] = float(np.median(skeleton.bone_lengths(lifted).sum(axis=-1)))
    # measured: centred 1.001 (DTGCN) / 1.010 (PoseMoE); as the image is 0.884 / 0.956
    assert abs(sizes["edge", True] / sizes["centre", True] - 1.0) < 0.02, sizes
    assert sizes["edge", False] / sizes["centre", False] < 0.97, sizes
