"""Exporting the lifters and the YOLO pose detector to ONNX (needs torch; ``video-mocap export-onnx``,
:mod:`video_mocap.cli.export_onnx`).

The shipped extension has no PyTorch: it runs these ONNX files with ONNX Runtime
(:mod:`.onnx_backend`). Outputs go to ``weights/onnx/`` (a build output, not in git):

- ``<model>.onnx`` for each trained lifter ``weights/<model>.safetensors``: input ``keypoints``
  ``(batch, T, 17, 3)`` with a dynamic batch and the model's window ``T``, output ``joints3d``
  ``(batch, T, 17, 3)``; the model card and the sha256 of the weights file are stored in the
  ONNX metadata, so a stale export (weights retrained since) is refused at load time.
- ``yolo11n-pose.onnx`` from ``assets/models/yolo11n-pose.pt`` through Ultralytics' own exporter
  (dynamic batch and image size, opset 17, onnxslim), with auto-install and downloads off;
- ``yolo11n-pose.int8.onnx``: that model statically quantised to int8 (:mod:`.onnx_quantize`,
  calibrated and checked on the sample clip), what the ONNX path runs by default.

Every export is checked: ONNX Runtime and PyTorch must agree on a test input within
:data:`PARITY_ATOL` (lifters, metres) / :data:`DETECTOR_PARITY_ATOL` (detector raw head: scores, and pixel
coordinates divided by the input size), else nothing is written. Files are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import atomic_path
from . import runtime
from .onnx_backend import (
    CARD_METADATA_KEY,
    LIFTER_CHANNELS,
    LIFTER_INPUT,
    LIFTER_OUTPUT,
    WEIGHTS_SHA_METADATA_KEY,
    sha256_file,
)
from ..core.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

#: ONNX opset of the lifter exports (ONNX Runtime >= 1.14 runs it)
OPSET = 17
#: largest |ONNX Runtime - PyTorch| accepted on the export check, metres (lifters)
PARITY_ATOL = 1e-4
#: same for the detector's raw head, scores as they are and pixel coordinates divided by the input size
DETECTOR_PARITY_ATOL = 1e-4
#: batch of the lifter export check (different from the traced batch of 2, to check the dynamic axis)
CHECK_BATCH = 3
TRACE_BATCH = 2
#: metadata key of the sha256 of the lifter weights an ONNX file was exported from
DEFAULT_DETECTOR_PT = runtime.PACKAGE_DIR / "assets" / "models" / "yolo11n-pose.pt"
DETECTOR_IMGSZ = 640
#: exported files are readable by everyone (the temp file behind an atomic write is owner-only)
EXPORT_MODE = 0o644
SAMPLE_CLIP = runtime.PACKAGE_DIR / "assets" / "sample" / "sports2d_walk.mp4"
#: frame of the sample clip the detector export is checked on (both walkers visible)
CHECK_FRAME_INDEX = 115
NOISE_FRAME_SHAPE = (480, 640, 3)


def _require(module: str, what: str):
    try:
        return __import__(module)
    except ImportError:
        raise VideoMocapError(
            f"{what} needs the '{module}' package, which is not installed. Run ./setup.sh (developer install): "
            "ONNX export needs torch, onnx and onnxscript; the exported files then run without them."
        ) from None


# ---------------------------------------------------------------------------------------
# lifters
# ---------------------------------------------------------------------------------------
def _diag_embed_symbolic(g, self, offset, dim1, dim2):
    """ONNX for ``torch.diag_embed(x)`` (default offset/dims): ``x[..., None] * eye(n)``.

    The TorchScript exporter has no symbolic for ``aten::diag_embed`` (used by the GCN layers).
    """
    import torch

    shape = g.op("Shape", self)
    last = g.op("Slice", shape, g.op("Constant", value_t=torch.tensor([-1])),
                g.op("Constant", value_t=torch.tensor([sys.maxsize])))
    square = g.op("Concat", last, last, axis_i=0)
    eye = g.op("EyeLike", g.op("ConstantOfShape", square, value_t=torch.tensor([0.0])))
    return g.op("Mul", g.op("Unsqueeze", self, g.op("Constant", value_t=torch.tensor([-1]))), eye)


def _register_symbolics() -> None:
    import torch

    torch.onnx.register_custom_op_symbolic("aten::diag_embed", _diag_embed_symbolic, OPSET)


def _freeze_temporal_graphs(model, num_frames: int) -> None:
    """Make the temporal GCN adjacency (built per clip length) a constant of the export.

    ``GCNBlock`` builds the neighbouring-frames adjacency from the traced length with a Python
    loop, which the tracer would unroll into tens of thousands of nodes; the exported model has
    a fixed window, so its adjacency is computed once here and returned as is.
    """
    import torch

    probe = torch.zeros(())
    for module in model.modules():
        if getattr(module, "axis", None) == "temporal" and hasattr(module, "_temporal_cache"):
            adjacency = module._adjacency(num_frames, probe)
            module._adjacency = lambda length, like, a=adjacency: a.to(dtype=like.dtype)


def export_lifter_model(model, path: str | os.PathLike, num_frames: int, metadata: dict[str, str] | None = None,
                        seed: int = 0) -> float:
    """Export a torch lifter (``(B, T, 17, 3) -> (B, T, 17, 3)``) to ``path`` and check it.

    Args:
        model: the network (put in eval mode here; its temporal GCN graphs are frozen to ``num_frames``).
        path: the ``.onnx`` file (written atomically, only when the check passes).
        num_frames: the window ``T`` (fixed in the export; the batch stays dynamic).
        metadata: extra ONNX metadata (model card...).
    Returns:
        The largest |ONNX Runtime - PyTorch| difference on a random batch of :data:`CHECK_BATCH` windows.
    Raises:
        VideoMocapError: export failed or the check exceeds :data:`PARITY_ATOL`.
    """
    torch = _require("torch", "ONNX export")
    _require("onnx", "ONNX export")
    import onnx

    _register_symbolics()
    model = model.eval()
    _freeze_temporal_graphs(model, num_frames)
    generator = torch.Generator().manual_seed(seed)
    dummy = torch.randn(TRACE_BATCH, num_frames, NUM_JOINTS, LIFTER_CHANNELS, generator=generator)
    path = Path(path)
    with atomic_path(path, suffix=".onnx") as tmp:
        try:
            with warnings.catch_warnings():
                # the TorchScript exporter (chosen: one self-contained file, seconds instead of minutes) warns that
                # it is deprecated, and the tracer that the window length becomes a constant, which is intended
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, (dummy,), str(tmp), input_names=[LIFTER_INPUT], output_names=[LIFTER_OUTPUT],
                    dynamic_axes={LIFTER_INPUT: {0: "batch"}, LIFTER_OUTPUT: {0: "batch"}},
                    opset_version=OPSET, dynamo=False, do_constant_folding=True,
                )
        except Exception as exc:  # the exporter raises many types (UnsupportedOperatorError, ...)
            raise VideoMocapError(f"ONNX export of the lifter failed: {type(exc).__name__}: {exc}") from None
        proto = onnx.load(str(tmp))
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
        check = torch.randn(CHECK_BATCH, num_frames, NUM_JOINTS, LIFTER_CHANNELS, generator=generator)
        with torch.no_grad():
            expected = model(check).numpy()
        got = run_onnx(tmp, check.numpy())
        diff = float(np.abs(got - expected).max())
        if not diff <= PARITY_ATOL:
            raise VideoMocapError(
                f"ONNX export check failed: ONNX Runtime differs from PyTorch by {diff:.2e} m (> {PARITY_ATOL})."
            )
    path.chmod(EXPORT_MODE)
    log.info("exported lifter to %s (ONNX Runtime vs PyTorch max diff %.1e m)", path, diff)
    return diff


def run_onnx(path: str | os.PathLike, *inputs: np.ndarray) -> np.ndarray:
    """Run an ONNX file on the CPU with ONNX Runtime: its first output for ``inputs``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=[runtime.CPU_PROVIDER])
    feeds = {arg.name: value for arg, value in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)[0]


def export_lifter(weights_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Export trained lifter weights (``NAME.safetensors`` + card) to ``out_dir/NAME.onnx``."""
    _require("torch", "ONNX export")
    from .models import build_model
    from .weights import load_weights

    weights_path = Path(weights_path)
    state, card = load_weights(weights_path)
    model = build_model(card.model, card.config)
    model.load_state_dict(state, strict=True)
    target = Path(out_dir) / f"{weights_path.stem}.onnx"
    metadata = {
        CARD_METADATA_KEY: json.dumps(card.to_dict(), sort_keys=True),
        WEIGHTS_SHA_METADATA_KEY: sha256_file(weights_path),
    }
    export_lifter_model(model, target, int(card.num_frames), metadata)
    return target


# ---------------------------------------------------------------------------------------
# detector
# ---------------------------------------------------------------------------------------
def export_detector(pt_path: str | os.PathLike = DEFAULT_DETECTOR_PT, out_dir: str | os.PathLike = runtime.ONNX_DIR,
                    imgsz: int = DETECTOR_IMGSZ) -> Path:
    """Export a YOLO pose ``.pt`` with Ultralytics (dynamic batch and size) to ``out_dir/<stem>.onnx``.

    The ``.pt`` is copied to a temporary folder first (Ultralytics writes beside its input) and
    Ultralytics' online checks and pip auto-install are switched off.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    for module in ("torch", "onnx", "onnxslim"):
        _require(module, "Detector export")
    try:
        from ultralytics import YOLO
    except ImportError:
        raise VideoMocapError("Detector export needs the ultralytics package; run ./setup.sh.") from None
    pt_path = Path(pt_path)
    if not pt_path.is_file():
        raise VideoMocapError(f"YOLO pose weights not found: {pt_path}.")
    target = Path(out_dir) / f"{pt_path.stem}.onnx"
    with tempfile.TemporaryDirectory(prefix="video_mocap_yolo_") as tmp_dir:
        local = Path(tmp_dir) / pt_path.name
        shutil.copy2(pt_path, local)
        try:
            model = YOLO(str(local), task="pose")
            exported = Path(model.export(format="onnx", imgsz=imgsz, dynamic=True, simplify=True, opset=OPSET,
                                         verbose=False))
        except Exception as exc:  # ultralytics raises many types
            raise VideoMocapError(f"YOLO ONNX export failed: {type(exc).__name__}: {exc}") from None
        diff = detector_parity(local, exported, _check_frame(), imgsz)
        if not diff <= DETECTOR_PARITY_ATOL:
            raise VideoMocapError(
                f"Detector ONNX export check failed: ONNX Runtime differs from PyTorch by {diff:.2e} "
                f"(> {DETECTOR_PARITY_ATOL}) on the raw head output."
            )
        with atomic_path(target, suffix=".onnx") as tmp:
            shutil.copyfile(exported, tmp)
    target.chmod(EXPORT_MODE)
    log.info("exported detector %s to %s (ONNX Runtime vs PyTorch raw head max diff %.1e)", pt_path.name, target, diff)
    return target


def _check_frame() -> np.ndarray:
    """A frame to check the detector export on: the middle of the sample clip, else a fixed noise image."""
    if SAMPLE_CLIP.is_file():
        from .video import iter_frames  # the displayed frame, as the 2D stage decodes it

        for _index, frame in iter_frames(SAMPLE_CLIP, CHECK_FRAME_INDEX, CHECK_FRAME_INDEX + 1):
            return frame.copy()
    return np.random.default_rng(0).integers(0, 256, size=NOISE_FRAME_SHAPE, dtype=np.uint8)


def detector_parity(pt_path: str | os.PathLike, onnx_path: str | os.PathLike, frame: np.ndarray,
                    imgsz: int = DETECTOR_IMGSZ) -> float:
    """Largest |ONNX Runtime - PyTorch| of the raw YOLO pose head ``(1, 56, N)`` on one letterboxed frame.

    Coordinates (box and keypoint x, y, in input pixels) are divided by ``imgsz`` first, so the
    figure is on the same unit scale as the scores (box and keypoint confidences).
    """
    torch = _require("torch", "Detector parity check")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    from .onnx_backend import letterbox

    tensor, _ = letterbox(frame, imgsz)
    net = YOLO(str(pt_path), task="pose").model.float().fuse().eval()
    with torch.no_grad():
        out = net(torch.from_numpy(tensor[None]))
    expected = (out[0] if isinstance(out, (list, tuple)) else out).numpy()
    got = run_onnx(onnx_path, tensor[None])
    if got.shape != expected.shape:
        raise VideoMocapError(f"detector outputs differ in shape: ONNX {got.shape}, PyTorch {expected.shape}.")
    return float((np.abs(got - expected) * detector_channel_scale(got.shape[1], imgsz)[None, :, None]).max())


def detector_channel_scale(channels: int, imgsz: int) -> np.ndarray:
    """(channels,) factor per raw-head row: 1/imgsz for pixel rows (box, keypoint x, y), 1 for scores."""
    from .onnx_backend import BOX_CHANNELS, KEYPOINT_DIMS

    scale = np.ones(channels, dtype=np.float64)
    scale[:BOX_CHANNELS] = 1.0 / imgsz
    keypoint_rows = np.arange(BOX_CHANNELS + 1, channels)
    is_xy = (keypoint_rows - BOX_CHANNELS - 1) % KEYPOINT_DIMS < 2
    scale[keypoint_rows[is_xy]] = 1.0 / imgsz
    return scale
