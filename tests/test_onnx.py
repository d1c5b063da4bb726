"""Issue 7, torch-free runtime: ONNX exports match PyTorch, the numpy YOLO pipeline matches Ultralytics.

Parity: for every lifter (PoseMoE, DTGCN, MLP) ONNX Runtime equals PyTorch within 1e-4 m on the
same input, through the real ``load_lifter`` of both backends; the YOLO pose raw head within 1e-4
(scores; pixel coordinates divided by the input size). Lifter weights here are freshly built
networks saved into tmp_path (parity needs the same weights on both runtimes, not trained ones);
the trained weights in ``weights/`` are checked the same way when they exist.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.inference import runtime
from video_mocap.inference.onnx_backend import (
    OnnxPoseDetector,
    letterbox,
    letterbox_shape,
    nms,
)
from video_mocap.inference.simple_tracker import NO_TRACK, SimpleTracker

torch = pytest.importorskip("torch")

LIFTERS = ("posemoe", "dtgcn", "mlp")
PARITY_ATOL = 1e-4
#: frames of the sample clip compared between the two detector backends
DETECT_FRAMES = (0, 60, 115, 170, 200)
BATCH = 4


def _read_frames(clip, indices):
    """The frames at ``indices`` (BGR copies), decoded in one pass by the project's reader."""
    from video_mocap.inference.video import iter_frames

    wanted = set(indices)
    frames = {i: frame.copy() for i, frame in iter_frames(clip, min(wanted), max(wanted) + 1) if i in wanted}
    assert set(frames) == wanted, f"frames {sorted(wanted - set(frames))} of {clip} do not decode"
    return [frames[i] for i in indices]


def _random_inputs(window: int, batch: int = BATCH, seed: int = 0) -> np.ndarray:
    """(B, T, 17, 3) plausible lifter inputs: screen x, y in [-1, 1] and scores in [0, 1]."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.8, 0.8, size=(batch, window, 17, 2))
    scores = rng.uniform(0.0, 1.0, size=(batch, window, 17, 1))
    return np.concatenate([xy, scores], axis=-1).astype(np.float32)


@pytest.fixture(scope="module", params=LIFTERS)
def exported_lifter(request, tmp_path_factory):
    """(model name, weights path) of a fresh tiny network saved to a tmp folder and exported beside it."""
    from video_mocap.inference.models import build_model, config_to_dict, preset_config
    from video_mocap.inference.onnx_export import export_lifter
    from video_mocap.inference.weights import ModelCard, save_weights

    name = request.param
    folder = tmp_path_factory.mktemp(f"onnx_{name}")
    torch.manual_seed(0)
    config = preset_config(name, "tiny")
    model = build_model(name, config)
    card = ModelCard(model=name, config=config_to_dict(config), preset="tiny", num_frames=config.num_frames,
                     notes="untrained network for the ONNX parity test")
    weights = save_weights(model.state_dict(), card, folder / f"{name}.safetensors")
    export_lifter(weights, folder / "onnx")
    return name, weights


def test_lifter_onnx_matches_torch(exported_lifter):
    from video_mocap.inference.lifter import load_lifter

    name, weights = exported_lifter
    on_torch = load_lifter(name, weights, device="cpu", backend="torch")
    on_onnx = load_lifter(name, weights, device="cpu", backend="onnx")
    assert on_onnx.device.startswith("onnxruntime-CPU")
    inputs = _random_inputs(on_torch.num_frames)
    diff = np.abs(on_onnx.predict(inputs) - on_torch.predict(inputs)).max()
    assert diff < PARITY_ATOL, f"{name}: ONNX Runtime differs from PyTorch by {diff:.2e} m"


def test_stale_lifter_export_is_refused(exported_lifter, tmp_path):
    """Weights retrained after the export: the ONNX backend refuses instead of running old weights."""
    import shutil

    from video_mocap.inference.lifter import load_lifter
    from video_mocap.inference.models import build_model
    from video_mocap.inference.weights import load_card, save_weights

    name, weights = exported_lifter
    copy = tmp_path / weights.name
    (tmp_path / "onnx").mkdir()
    shutil.copy(weights.parent / "onnx" / f"{name}.onnx", tmp_path / "onnx" / f"{name}.onnx")
    card = load_card(weights)
    torch.manual_seed(1)
    save_weights(build_model(name, card.config).state_dict(), card, copy)
    with pytest.raises(VideoMocapError, match="export-onnx"):
        load_lifter(name, copy, device="cpu", backend="onnx")


def test_missing_lifter_export_says_how_to_make_it(exported_lifter, tmp_path):
    import shutil

    from video_mocap.inference.lifter import load_lifter

    name, weights = exported_lifter
    shutil.copy(weights, tmp_path / weights.name)
    shutil.copy(weights.with_suffix(".json"), tmp_path / weights.with_suffix(".json").name)
    with pytest.raises(VideoMocapError, match="export-onnx"):
        load_lifter(name, tmp_path / weights.name, device="cpu", backend="onnx")


@pytest.mark.parametrize("name", LIFTERS)
def test_trained_lifter_export_matches_torch(name, repo_root):
    """The shipped (trained) weights and their export in weights/onnx agree, when both exist."""
    from video_mocap.inference.lifter import load_lifter

    weights = repo_root / "weights" / f"{name}.safetensors"
    if not weights.is_file() or not (repo_root / "weights" / "onnx" / f"{name}.onnx").is_file():
        pytest.skip(f"no trained {name} weights with an ONNX export yet (weights/, then video-mocap export-onnx)")
    on_torch = load_lifter(name, weights, device="cpu", backend="torch")
    on_onnx = load_lifter(name, weights, device="cpu", backend="onnx")
    inputs = _random_inputs(on_torch.num_frames, batch=2)
    assert np.abs(on_onnx.predict(inputs) - on_torch.predict(inputs)).max() < PARITY_ATOL


# ---------------------------------------------------------------------------------------
# detector
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def detector_onnx(repo_root, yolo_weights, tmp_path_factory):
    """The exported YOLO pose model: the one setup.sh made, else an export into a tmp folder."""
    shipped = repo_root / "weights" / "onnx" / "yolo11n-pose.onnx"
    if shipped.is_file():
        return shipped
    from video_mocap.inference.onnx_export import export_detector

    return export_detector(yolo_weights, tmp_path_factory.mktemp("yolo_onnx"))


def test_detector_raw_head_matches_torch(detector_onnx, yolo_weights, sample_clip):
    from video_mocap.inference.onnx_export import DETECTOR_PARITY_ATOL, detector_parity

    (frame,) = _read_frames(sample_clip, [115])
    diff = detector_parity(yolo_weights, detector_onnx, frame)
    assert DETECTOR_PARITY_ATOL == PARITY_ATOL
    assert diff < PARITY_ATOL, f"raw head differs by {diff:.2e}"


def test_detections_match_ultralytics(detector_onnx, yolo_weights, sample_clip):
    """Letterbox, decoding, NMS and the mapping back to pixels give Ultralytics' own detections."""
    from ultralytics import YOLO

    frames = _read_frames(sample_clip, DETECT_FRAMES)
    ours = OnnxPoseDetector(detector_onnx, providers=[runtime.CPU_PROVIDER]).predict(frames)
    theirs = YOLO(str(yolo_weights), task="pose").predict(frames, imgsz=640, conf=0.25, device="cpu", verbose=False)
    for index, mine, ref in zip(DETECT_FRAMES, ours, theirs):
        boxes = ref.boxes.cpu().numpy()
        assert len(mine) == len(boxes) >= 1, f"frame {index}: {len(mine)} people vs {len(boxes)}"
        order = np.argsort(-boxes.conf)
        np.testing.assert_allclose(mine.boxes, boxes.xyxy[order], atol=0.05, err_msg=f"frame {index} boxes")
        np.testing.assert_allclose(mine.scores, boxes.conf[order], atol=1e-4)
        kp = ref.keypoints.data.cpu().numpy()[order]
        np.testing.assert_allclose(mine.keypoints, kp[..., :2], atol=0.05, err_msg=f"frame {index} keypoints")
        np.testing.assert_allclose(mine.keypoint_scores, kp[..., 2], atol=1e-4)


@pytest.mark.parametrize("shape", [(498, 884), (1080, 1920), (1920, 1080), (640, 640), (101, 37)])
def test_letterbox_matches_ultralytics(shape):
    from ultralytics.data.augment import LetterBox

    frame = np.random.default_rng(0).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    expected = LetterBox(640, auto=True, stride=32)(image=frame)
    tensor, transform = letterbox(frame, 640, 32, auto=True)
    assert tensor.shape == (3, *expected.shape[:2])
    np.testing.assert_allclose(tensor, expected[..., ::-1].transpose(2, 0, 1) / 255.0, atol=1e-6)
    new_w, new_h, top, _, left, _ = letterbox_shape(*shape, 640, 32)
    assert (transform.pad_x, transform.pad_y) == (left, top)


def test_nms_matches_torchvision():
    import torchvision

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 500, size=(300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 150, size=(300, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, size=300).astype(np.float32)
    for iou in (0.3, 0.5, 0.7):
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou).numpy()
        np.testing.assert_array_equal(nms(boxes, scores, iou), expected)


def test_missing_detector_export_is_a_clear_error(tmp_path):
    from video_mocap.inference.onnx_backend import resolve_detector_onnx

    with pytest.raises(VideoMocapError, match="export-onnx"):
        resolve_detector_onnx(tmp_path / "yolo11x-pose.pt")
    not_onnx = tmp_path / "broken.onnx"
    not_onnx.write_bytes(b"not a model")
    with pytest.raises(VideoMocapError, match="cannot load"):
        OnnxPoseDetector(not_onnx)


@pytest.fixture(scope="module")
def detector_int8(detector_onnx, sample_clip):
    """The int8 detector: the one setup.sh made beside the float one, else quantised now."""
    from video_mocap.inference.onnx_quantize import int8_path, quantize_detector

    shipped = int8_path(detector_onnx)
    return shipped if shipped.is_file() else quantize_detector(detector_onnx, sample_clip)


def test_int8_detector_agrees_with_float(detector_onnx, detector_int8, sample_clip):
    """Every person the float model finds is found, with keypoints within the export check's limits."""
    from video_mocap.inference.onnx_quantize import (
        MAX_MEDIAN_KEYPOINT_ERROR,
        KeypointAgreement,
        keypoint_agreement,
        read_frames,
    )

    frames = read_frames(sample_clip, every=2)  # half the clip (the export checked every sixth frame)
    float_out = OnnxPoseDetector(detector_onnx).predict(frames)
    int8_out = OnnxPoseDetector(detector_int8).predict(frames)
    agreement = keypoint_agreement(float_out, int8_out)
    assert agreement.ok and agreement.missed == 0, agreement
    assert agreement.frames == sum(len(found) > 0 for found in float_out) > 0.9 * len(frames)
    assert 0.0 < agreement.median < MAX_MEDIAN_KEYPOINT_ERROR  # really another model, and close
    # the check can fail: nobody found, or keypoints moved by a tenth of the body
    assert not keypoint_agreement(float_out, [type(o)() for o in int8_out]).ok
    assert not KeypointAgreement(frames=5, missed=0, median=0.1, p95=0.2).ok


def test_detector_precision_choice(detector_onnx, detector_int8, tmp_path):
    from video_mocap.inference.onnx_backend import resolve_detector_onnx

    pt = Path("yolo11n-pose.pt")
    assert resolve_detector_onnx(pt, "fp32").name == "yolo11n-pose.onnx"
    assert resolve_detector_onnx(pt, "int8").name == "yolo11n-pose.int8.onnx"
    assert resolve_detector_onnx(pt, "auto").name == "yolo11n-pose.int8.onnx"
    with pytest.raises(VideoMocapError, match="precision"):
        resolve_detector_onnx(pt, "fp16")
    with pytest.raises(VideoMocapError, match="int8 ONNX export"):
        resolve_detector_onnx(tmp_path / "yolo11x-pose.pt", "int8")


# ---------------------------------------------------------------------------------------
# tracker and runtime choice
# ---------------------------------------------------------------------------------------
def test_tracker_keeps_ids_through_a_gap_and_ignores_one_frame_flukes():
    tracker = SimpleTracker(fps=30.0)
    walker_a = lambda t: [100 + 5 * t, 100, 160 + 5 * t, 300]  # noqa: E731
    walker_b = lambda t: [600 - 4 * t, 120, 650 - 4 * t, 280]  # noqa: E731
    ids_a, ids_b = set(), set()
    for t in range(40):
        boxes = [walker_a(t)] + ([walker_b(t)] if not 10 <= t < 20 else [])  # b hidden for 10 frames
        scores = [0.9] * len(boxes)
        if t == 5:  # a one-frame false positive far away
            boxes.append([800, 10, 820, 40])
            scores.append(0.5)
        ids = tracker.update(np.array(boxes, dtype=float), np.array(scores))
        ids_a.add(int(ids[0]))
        if len(boxes) > 1 and boxes[1][0] < 700:
            ids_b.add(int(ids[1]))
        if t == 5:
            assert ids[-1] == NO_TRACK
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b, (ids_a, ids_b)


def test_tracker_drops_tracks_after_the_buffer():
    tracker = SimpleTracker(fps=30.0, track_buffer=5)
    first = tracker.update(np.array([[0, 0, 50, 100]], float), np.array([0.9]))[0]
    for _ in range(7):
        tracker.update(np.zeros((0, 4)), np.zeros(0))
    again = tracker.update(np.array([[0, 0, 50, 100]], float), np.array([0.9]))
    assert again[0] == NO_TRACK  # a new, tentative track: no id until it is seen twice
    assert tracker.update(np.array([[1, 0, 51, 100]], float), np.array([0.9]))[0] not in (first, NO_TRACK)


def test_runtime_report_and_choice():
    info = runtime.available_runtimes()
    assert info["onnxruntime"]["available"] and runtime.CPU_PROVIDER in info["onnx_providers"]
    assert runtime.choose_backend("onnx", "detector") == "onnx"
    assert runtime.choose_backend("auto", "lifter") == "torch"  # torch is here: it is preferred
    assert runtime.onnx_providers("CPU") == [runtime.CPU_PROVIDER]
    assert runtime.onnx_providers("AUTO")[-1] == runtime.CPU_PROVIDER
    assert runtime.describe("onnx", "CPU").startswith("ONNX Runtime ")
    assert runtime.describe("torch").startswith("PyTorch ")
    assert runtime.missing_packages_message() is None
    with pytest.raises(VideoMocapError, match="Unknown backend"):
        runtime.choose_backend("tensorflow")
    if runtime.CUDA_PROVIDER not in info["onnx_providers"]:
        with pytest.raises(VideoMocapError, match="onnxruntime-gpu"):
            runtime.onnx_providers("CUDA")


def test_runtime_without_packages_says_what_to_install(monkeypatch):
    """With onnxruntime, torch and cv2 all unimportable, the panel message names them and the fix."""
    gone = {"onnxruntime", "torch", "ultralytics", "cv2"}
    monkeypatch.setattr(runtime, "_find", lambda name: name not in gone)
    runtime.available_runtimes.cache_clear()
    try:
        message = runtime.missing_packages_message()
        assert message is not None and "OpenCV" in message and "ONNX Runtime" in message and ".zip" in message
        with pytest.raises(VideoMocapError, match="No network runtime"):
            runtime.choose_backend("auto", "detector")
    finally:
        runtime.available_runtimes.cache_clear()


def test_export_cli_without_weights_is_a_clear_error(tmp_path):
    from video_mocap.cli import main

    assert main(["export-onnx", "--no-detector", "--weights-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
