"""Int8 version of the exported YOLO pose detector (ONNX Runtime static quantisation).

On a CPU the detector is almost all of the time of ``video-mocap estimate``. ONNX Runtime's
static quantisation (QDQ format, per-channel int8 weights, uint8 activations calibrated with
min/max on frames of the sample clip) makes it about 1.7x faster on an AVX-512 VNNI CPU, at the
cost of a small change in the keypoints (see :data:`MAX_MEDIAN_KEYPOINT_ERROR`).

What stays in float: the detection head's post-processing (box decoding, the concatenation of
boxes, scores and keypoints into one tensor: quantising that with one scale destroys the scores,
and no person is found) and the head's last convolution of each branch (the raw box, score and
keypoint values). Everything else (backbone, neck and the head's inner convolutions, with their
SiLU activations) is int8.

The result is checked against the float model on sample-clip frames that were not used for
calibration (every person found by the float model must be found, the median keypoint change
must stay under :data:`MAX_MEDIAN_KEYPOINT_ERROR` of the person's box height, its 95th percentile
under :data:`MAX_P95_KEYPOINT_ERROR`); a model that fails is not written. Needs ``onnx`` and
``onnxruntime`` (developer install), not torch.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import atomic_path

log = logging.getLogger(__name__)

#: suffix of the int8 file beside the float one: ``yolo11n-pose.onnx`` -> ``yolo11n-pose.int8.onnx``
INT8_SUFFIX = ".int8.onnx"
#: every n-th sample-clip frame is read; of those, alternate ones calibrate and check the result
FRAME_STRIDE = 3
#: the check: keypoint change of the int8 model against the float one, fraction of the box height
MAX_MEDIAN_KEYPOINT_ERROR = 0.015
MAX_P95_KEYPOINT_ERROR = 0.06
#: operators quantised (ONNX Runtime fuses Conv + Sigmoid + Mul = SiLU in int8)
QUANTIZED_OPS = ("Conv", "Mul", "Sigmoid", "Add", "Concat", "MaxPool", "Resize", "Split")
#: name prefix of the Ultralytics pose head (the last module of YOLO11 / YOLOv8 pose)
HEAD_MARKERS = ("/model.23/", "/model.22/")
#: the head's last convolution of each branch ends with this (e.g. ``/model.23/cv4.0/cv4.0.2/Conv``)
FINAL_CONV_SUFFIX = ".2/Conv"


def int8_path(fp32_path: str | os.PathLike) -> Path:
    """``weights/onnx/yolo11n-pose.onnx`` -> ``weights/onnx/yolo11n-pose.int8.onnx``."""
    path = Path(fp32_path)
    return path.with_name(path.name.removesuffix(".onnx") + INT8_SUFFIX)


def float_nodes(model) -> list[str]:
    """Names of the nodes that stay in float: the head's non-conv nodes and its last convolutions."""
    head = next((marker for marker in HEAD_MARKERS if any(n.name.startswith(marker) for n in model.graph.node)), None)
    if head is None:
        raise VideoMocapError("Int8 quantisation: no Ultralytics pose head found in the ONNX graph.")
    return [
        node.name for node in model.graph.node
        if node.name.startswith(head)
        and (node.op_type != "Conv" or node.name.endswith(FINAL_CONV_SUFFIX) or "dfl" in node.name)
    ]


def read_frames(video: str | os.PathLike, every: int = 1) -> list[np.ndarray]:
    """Frames 0, ``every``, 2 * ``every``... of a video, BGR uint8 (decoded by :func:`.video.iter_frames`)."""
    from .video import iter_frames

    return [frame.copy() for index, frame in iter_frames(video) if index % every == 0]


@dataclass
class KeypointAgreement:
    """How far the int8 detector's subject keypoints are from the float detector's (fraction of box height)."""

    frames: int
    missed: int
    median: float
    p95: float

    @property
    def ok(self) -> bool:
        return self.missed == 0 and self.median <= MAX_MEDIAN_KEYPOINT_ERROR and self.p95 <= MAX_P95_KEYPOINT_ERROR


def keypoint_agreement(reference: list, candidate: list) -> KeypointAgreement:
    """Compare two detectors' ``PoseDetections`` per frame on the largest person of the reference."""
    errors, missed = [], 0
    for ref, got in zip(reference, candidate):
        if len(ref) == 0:
            continue
        if len(got) == 0:
            missed += 1
            continue
        sizes = (ref.boxes[:, 2] - ref.boxes[:, 0]) * (ref.boxes[:, 3] - ref.boxes[:, 1])
        subject = int(np.argmax(sizes))
        centre = (ref.boxes[subject, :2] + ref.boxes[subject, 2:]) / 2.0
        match = int(np.argmin(np.linalg.norm((got.boxes[:, :2] + got.boxes[:, 2:]) / 2.0 - centre, axis=1)))
        height = max(float(ref.boxes[subject, 3] - ref.boxes[subject, 1]), 1.0)
        errors.append(np.linalg.norm(ref.keypoints[subject] - got.keypoints[match], axis=-1) / height)
    if not errors:
        if missed:
            return KeypointAgreement(missed, missed, float("inf"), float("inf"))
        raise VideoMocapError("Int8 check: the float detector found nobody in the check frames.")
    flat = np.concatenate(errors)
    return KeypointAgreement(len(errors), missed, float(np.median(flat)), float(np.percentile(flat, 95)))


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has the VNNI int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI).

    Without them ONNX Runtime's u8s8 kernels can saturate (its quantisation docs), so the weights
    are quantised to 7 bits (``reduce_range``) there; the int8 model is made per machine anyway.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # not Linux: keep ONNX Runtime's default full range
    return "vnni" in flags


def quantize_detector(fp32_path: str | os.PathLike, video: str | os.PathLike, batch: int = 8) -> Path:
    """Write the checked int8 model beside ``fp32_path`` (see the module docstring) and return its path."""
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise VideoMocapError(f"Int8 quantisation needs onnx and onnxruntime ({exc}); run ./setup.sh.") from None
    from .onnx_backend import OnnxPoseDetector, letterbox

    fp32_path = Path(fp32_path)
    reference = OnnxPoseDetector(fp32_path)
    frames = read_frames(video, FRAME_STRIDE)
    calibration, check = frames[::2], frames[1::2]
    calibration += [np.ascontiguousarray(f[:, ::-1]) for f in calibration]  # mirrored: other poses
    input_name = reference.input_name

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            tensors = (letterbox(f, reference.imgsz, reference.stride, auto=reference.dynamic)[0] for f in calibration)
            self._inputs = ({input_name: t[None]} for t in tensors)

        def get_next(self) -> dict | None:
            return next(self._inputs, None)

    target = int8_path(fp32_path)
    with tempfile.TemporaryDirectory(prefix="video_mocap_int8_") as tmp_dir:
        prepared = Path(tmp_dir) / "prepared.onnx"
        quantized = Path(tmp_dir) / "int8.onnx"
        # symbolic shape inference cannot follow the dynamic head; ONNX shape inference is enough
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(quantized), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            reduce_range=not cpu_has_vnni(),
            op_types_to_quantize=list(QUANTIZED_OPS), nodes_to_exclude=float_nodes(onnx.load(str(prepared))),
        )
        candidate = OnnxPoseDetector(quantized)
        ref_out, got_out = [], []
        for start in range(0, len(check), batch):
            ref_out += reference.predict(check[start : start + batch])
            got_out += candidate.predict(check[start : start + batch])
        agreement = keypoint_agreement(ref_out, got_out)
        summary = (f"{agreement.frames} check frames, {agreement.missed} people missed, keypoint change median "
                   f"{agreement.median:.2%} / 95th percentile {agreement.p95:.2%} of the person's height")
        if not agreement.ok:
            raise VideoMocapError(
                f"Int8 detector check failed ({summary}; limits {MAX_MEDIAN_KEYPOINT_ERROR:.1%} / "
                f"{MAX_P95_KEYPOINT_ERROR:.1%}); nothing written. The float model {fp32_path.name} still works."
            )
        with atomic_path(target, suffix=".onnx") as tmp:
            tmp.write_bytes(quantized.read_bytes())
    log.info("wrote int8 detector %s: %s", target, summary)
    return target
