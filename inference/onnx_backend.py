"""ONNX Runtime backends: the lifters and the YOLO pose detector, with numpy only (no torch).

This is what the shipped extension runs: its zip bundles ONNX Runtime and OpenCV wheels and the
models exported by ``video-mocap export-onnx`` (:mod:`.onnx_export`) into ``weights/onnx/``.

- :class:`OnnxLifterBackend`: ``predict(np (B, T, 17, 3)) -> np (B, T, 17, 3)``, the same contract
  as the PyTorch lifter backend; the model card (JSON) is read from the ONNX file's metadata.
- :class:`OnnxPoseDetector`: YOLO pose exported by Ultralytics. Pre-processing (letterbox to a
  multiple of the stride, 114-grey padding, BGR->RGB, /255), decoding of the raw head
  ``(B, 4 + 1 + 17*3, N)``, non-maximum suppression and the mapping back to pixels are numpy
  re-implementations of Ultralytics' ``LetterBox``, ``non_max_suppression`` (single class) and
  ``scale_boxes`` / ``scale_coords``, so both backends give the same detections.

onnxruntime and cv2 are imported inside the functions that need them.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core.skeleton import NUM_JOINTS
from .devices import DEFAULT_DEVICE, onnx_providers

log = logging.getLogger(__name__)

#: metadata key under which :mod:`.onnx_export` stores the lifter's model card (JSON)
CARD_METADATA_KEY = "video_mocap_card"
#: input / output names of exported lifters
LIFTER_INPUT = "keypoints"
LIFTER_OUTPUT = "joints3d"
#: channels per joint of the lifter input: normalised x, y and the detector score
LIFTER_CHANNELS = 3

#: YOLO pre-processing (Ultralytics defaults)
DEFAULT_IMGSZ = 640
DEFAULT_STRIDE = 32
LETTERBOX_GREY = 114
PIXEL_SCALE = 255.0
#: YOLO post-processing (Ultralytics predict defaults)
DEFAULT_CONF = 0.25
DEFAULT_IOU = 0.7
DEFAULT_MAX_DET = 300
#: candidates kept (by score) before NMS, as Ultralytics' ``max_nms``
MAX_NMS_CANDIDATES = 30000
#: COCO keypoints (x, y, visibility) of a YOLO pose head
NUM_COCO_KEYPOINTS = 17
KEYPOINT_DIMS = 3
BOX_CHANNELS = 4
DIRECTML_PROVIDER = "DmlExecutionProvider"
_HASH_CHUNK = 1 << 20


def _session(path: Path, providers: list[str] | None, what: str):
    """An ``onnxruntime.InferenceSession`` for ``path`` or a clear :class:`VideoMocapError`."""
    from .runtime import HOW_TO_GET_ONNX

    try:
        import onnxruntime as ort
    except ImportError:
        raise VideoMocapError(f"The ONNX backend needs ONNX Runtime. {HOW_TO_GET_ONNX}") from None
    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(
            f"{what} ONNX model not found: {path}. Install the platform build of the extension (it ships the "
            "ONNX models) or run 'video-mocap export-onnx' in a developer install."
        )
    providers = providers or onnx_providers(DEFAULT_DEVICE)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: provider fallbacks are reported by us
    # no busy-waiting worker threads between runs: Blender's UI and the video decoder share the CPU
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if DIRECTML_PROVIDER in providers:  # DirectML needs these (ONNX Runtime's DirectML documentation)
        options.enable_mem_pattern = False
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types (InvalidGraph, Fail, ...)
        raise VideoMocapError(
            f"ONNX Runtime cannot load {what} model {path}: {exc}. Export it again ('video-mocap export-onnx')."
        ) from None
    used = session.get_providers()
    if providers and providers[0] not in used:
        log.warning("%s: %s unavailable, running on %s", what, providers[0], used[0])
    return session


def _metadata(session) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


# ---------------------------------------------------------------------------------------
# lifters
# ---------------------------------------------------------------------------------------
class OnnxLifterBackend:
    """A lifter exported to ONNX: ``predict(np (B, T, 17, 3)) -> np (B, T, 17, 3)``.

    ``T`` must be the model's window (``num_frames``, fixed at export); the batch is dynamic.
    ``card`` is the model card saved with the weights (model name, config, training notes).
    """

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        self.path = Path(path)
        self.session = _session(self.path, providers, "lifter")
        meta = _metadata(self.session)
        try:
            self.card: dict = json.loads(meta.get(CARD_METADATA_KEY, "{}"))
        except ValueError:
            self.card = {}
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise VideoMocapError(f"{self.path} is not a lifter ONNX model (expects one (B, T, 17, 3) input).")
        self.input_name = inputs[0].name
        frames = inputs[0].shape[1]
        self.num_frames: int | None = frames if isinstance(frames, int) else None

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    @property
    def device(self) -> str:
        """The execution provider in use, e.g. "CPU" or "CUDA" (shown by the panel)."""
        from .runtime import PROVIDER_NAMES

        first = self.providers[0]
        return f"onnxruntime-{PROVIDER_NAMES.get(first, first)}"

    @property
    def model_name(self) -> str:
        return str(self.card.get("model", self.path.stem))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(B, T, 17, 3) normalised 2D + scores -> (B, T, 17, 3) root-relative metres."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[2:] != (NUM_JOINTS, LIFTER_CHANNELS):
            raise VideoMocapError(f"lifter input must have shape (B, T, 17, 3), got {x.shape}.")
        if self.num_frames is not None and x.shape[1] != self.num_frames:
            raise VideoMocapError(
                f"the ONNX lifter {self.path.name} takes windows of {self.num_frames} frames, got {x.shape[1]}."
            )
        return self.session.run(None, {self.input_name: x})[0]

    __call__ = predict


# ---------------------------------------------------------------------------------------
# YOLO pose detector
# ---------------------------------------------------------------------------------------
@dataclass
class Letterbox:
    """How one frame was fitted into the network input: ``net = pixel * gain + pad``."""

    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    orig_height: int
    orig_width: int


def letterbox_shape(height: int, width: int, imgsz: int, stride: int, auto: bool = True) -> tuple[int, int, int, int, int, int]:
    """Resized size and padding of Ultralytics' ``LetterBox`` (centre, scale up allowed).

    Returns:
        (new_w, new_h, top, bottom, left, right): the frame is resized to (new_w, new_h) then padded.
        With ``auto`` the padded size is the smallest multiple of ``stride`` (a rectangle), else imgsz x imgsz.
    """
    ratio = min(imgsz / height, imgsz / width)
    new_w, new_h = max(round(width * ratio), 1), max(round(height * ratio), 1)
    dw, dh = imgsz - new_w, imgsz - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return new_w, new_h, top, bottom, left, right


def letterbox(frame: np.ndarray, imgsz: int = DEFAULT_IMGSZ, stride: int = DEFAULT_STRIDE, auto: bool = True
              ) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) BGR uint8 frame -> (3, H', W') float32 RGB in [0, 1] network input, and the transform."""
    import cv2

    if frame.ndim != 3 or frame.shape[2] != 3:
        raise VideoMocapError(f"detector input must be an (H, W, 3) BGR image, got shape {frame.shape}.")
    height, width = frame.shape[:2]
    new_w, new_h, top, bottom, left, right = letterbox_shape(height, width, imgsz, stride, auto)
    image = frame if (new_w, new_h) == (width, height) else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(LETTERBOX_GREY,) * 3)
    tensor = image[..., ::-1].transpose(2, 0, 1).astype(np.float32) / np.float32(PIXEL_SCALE)
    return np.ascontiguousarray(tensor), Letterbox(new_w / width, new_h / height, left, top, height, width)


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre x, y, width, height -> (N, 4) x1, y1, x2, y2."""
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, 0:2] - half, boxes[:, 0:2] + half], axis=1)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) xyxy box with (N, 4) xyxy boxes -> (N,)."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, np.finfo(np.float32).eps)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression (as ``torchvision.ops.nms``): indices kept, best score first.

    boxes: (N, 4) xyxy; scores: (N,). A box is dropped when its IoU with a kept, better box is
    above ``iou_threshold``.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@dataclass
class PoseDetections:
    """People found in one frame (pixels of the original frame).

    boxes: (N, 4) float32 xyxy; scores: (N,) person confidence; keypoints: (N, 17, 2) COCO-17 x, y;
    keypoint_scores: (N, 17) keypoint confidence in [0, 1].
    """

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, BOX_CHANNELS), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_COCO_KEYPOINTS, 2), np.float32))
    keypoint_scores: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_COCO_KEYPOINTS), np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def decode_pose_output(
    raw: np.ndarray, transform: Letterbox, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
    max_det: int = DEFAULT_MAX_DET,
) -> PoseDetections:
    """Raw YOLO pose head of one image -> detections in original-frame pixels.

    raw: (4 + 1 + 17*3, N) rows cx, cy, w, h, person score, then (x, y, visibility) per keypoint,
    in network-input pixels. Mirrors Ultralytics (single class): score filter, xywh->xyxy,
    NMS, ``max_det``, then undo the letterbox and clip to the frame.
    """
    preds = raw.T  # (N, 56)
    preds = preds[preds[:, BOX_CHANNELS] > conf]
    if preds.shape[0] == 0:
        return PoseDetections()
    if preds.shape[0] > MAX_NMS_CANDIDATES:
        preds = preds[np.argsort(-preds[:, BOX_CHANNELS], kind="stable")[:MAX_NMS_CANDIDATES]]
    boxes = xywh_to_xyxy(preds[:, :BOX_CHANNELS])
    scores = preds[:, BOX_CHANNELS]
    keep = nms(boxes, scores, iou)[:max_det]
    boxes, scores = boxes[keep], scores[keep]
    kpts = preds[keep, BOX_CHANNELS + 1 :].reshape(len(keep), NUM_COCO_KEYPOINTS, KEYPOINT_DIMS)
    h, w = transform.orig_height, transform.orig_width
    boxes = (boxes - [transform.pad_x, transform.pad_y, transform.pad_x, transform.pad_y]) / [
        transform.gain_x, transform.gain_y, transform.gain_x, transform.gain_y]
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    xy = (kpts[..., :2] - [transform.pad_x, transform.pad_y]) / [transform.gain_x, transform.gain_y]
    xy[..., 0] = xy[..., 0].clip(0, w)
    xy[..., 1] = xy[..., 1].clip(0, h)
    return PoseDetections(
        boxes=boxes.astype(np.float32), scores=scores.astype(np.float32),
        keypoints=xy.astype(np.float32), keypoint_scores=kpts[..., 2].astype(np.float32),
    )


class OnnxPoseDetector:
    """YOLO pose (Ultralytics ONNX export, dynamic batch and size) run by ONNX Runtime.

    ``predict(frames)`` takes a list of (H, W, 3) BGR uint8 frames of one video (same size) and
    returns one :class:`PoseDetections` per frame, like ``YOLO.predict(frames, imgsz, conf)``.
    """

    def __init__(self, path: str | Path, imgsz: int = DEFAULT_IMGSZ, conf: float = DEFAULT_CONF,
                 iou: float = DEFAULT_IOU, max_det: int = DEFAULT_MAX_DET, providers: list[str] | None = None) -> None:
        self.path = Path(path)
        self.session = _session(self.path, providers, "pose detector")
        meta = _metadata(self.session)
        self.metadata = meta
        if meta.get("task", "pose") != "pose":
            raise VideoMocapError(f"{self.path} is a '{meta.get('task')}' model, not a YOLO pose model.")
        kpt_shape = ast.literal_eval(meta.get("kpt_shape", str([NUM_COCO_KEYPOINTS, KEYPOINT_DIMS])))
        if list(kpt_shape) != [NUM_COCO_KEYPOINTS, KEYPOINT_DIMS]:
            raise VideoMocapError(f"{self.path} predicts keypoints {kpt_shape}; a COCO-17 pose model is needed.")
        self.stride = int(meta.get("stride", DEFAULT_STRIDE))
        shape = self.session.get_inputs()[0].shape
        # a fixed-size export (no 'dynamic') needs the square imgsz x imgsz input
        self.dynamic = not all(isinstance(s, int) for s in shape[2:])
        self.imgsz = int(imgsz) if self.dynamic else int(shape[2])
        self.dynamic_batch = not isinstance(shape[0], int)
        self.conf, self.iou, self.max_det = float(conf), float(iou), int(max_det)
        self.input_name = self.session.get_inputs()[0].name

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def preprocess(self, frames: list[np.ndarray]) -> tuple[np.ndarray, list[Letterbox]]:
        """Frames -> (B, 3, H', W') float32 network input and one :class:`Letterbox` per frame."""
        pairs = [letterbox(f, self.imgsz, self.stride, auto=self.dynamic) for f in frames]
        return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) network input -> (B, 56, N) raw head output."""
        if self.dynamic_batch:
            return self.session.run(None, {self.input_name: batch})[0]
        return np.concatenate([self.session.run(None, {self.input_name: b[None]})[0] for b in batch])

    def predict(self, frames: list[np.ndarray]) -> list[PoseDetections]:
        if not frames:
            return []
        batch, transforms = self.preprocess(frames)
        out = self.raw(batch)
        return [decode_pose_output(o, t, self.conf, self.iou, self.max_det) for o, t in zip(out, transforms)]


# ---------------------------------------------------------------------------------------
# factories used by the stages
# ---------------------------------------------------------------------------------------
#: metadata key of the sha256 of the weights an ONNX lifter was exported from (see onnx_export)
WEIGHTS_SHA_METADATA_KEY = "video_mocap_weights_sha256"


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's content (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lifter_onnx_path(weights_path: str | Path) -> Path:
    """Where the export of ``weights/<name>.safetensors`` lives: ``weights/onnx/<name>.onnx``."""
    weights_path = Path(weights_path)
    return weights_path.parent / "onnx" / f"{weights_path.stem}.onnx"


def create_backend(card, weights_path: str | Path, device: str = DEFAULT_DEVICE) -> OnnxLifterBackend:
    """The ONNX lifter backend for trained weights (``lifter.load_lifter(..., backend="onnx")``).

    Checks that the ONNX file was exported from these very weights (sha256 in its metadata).
    """
    weights_path = Path(weights_path)
    path = lifter_onnx_path(weights_path)
    if not path.is_file():
        raise VideoMocapError(
            f"No ONNX export of {weights_path.name} ({path} is missing). Run 'video-mocap export-onnx' "
            "(needs PyTorch), or install the platform build of the extension, which ships it."
        )
    backend = OnnxLifterBackend(path, onnx_providers(device))
    exported_from = _metadata(backend.session).get(WEIGHTS_SHA_METADATA_KEY)
    if exported_from is not None and exported_from != sha256_file(weights_path):
        raise VideoMocapError(
            f"{path.name} was exported from other weights than {weights_path.name} (retrained since?). "
            "Run 'video-mocap export-onnx' again."
        )
    if backend.num_frames is not None and backend.num_frames != int(card.num_frames):
        raise VideoMocapError(
            f"{path.name} takes {backend.num_frames}-frame windows but the card says {card.num_frames}; export again."
        )
    return backend


#: detector precisions of the ONNX path: "auto" = the int8 export when present, else float
DETECTOR_PRECISIONS = ("auto", "int8", "fp32")


def detector_onnx_path(model: str | Path, precision: str = "fp32") -> Path:
    """The ONNX file for a detector model: itself if ``.onnx``, else ``weights/onnx/<stem>.onnx``
    (``<stem>.int8.onnx`` for ``precision="int8"``)."""
    from .runtime import ONNX_DIR

    model = Path(model)
    if model.suffix == ".onnx":
        return model
    return ONNX_DIR / (f"{model.stem}.int8.onnx" if precision == "int8" else f"{model.stem}.onnx")


def create_detector(model: str | Path, device: str = DEFAULT_DEVICE, imgsz: int = DEFAULT_IMGSZ, conf: float = DEFAULT_CONF
                    ) -> OnnxPoseDetector:
    """The ONNX pose detector for a detector model path (``.pt`` -> its export in ``weights/onnx``)."""
    return OnnxPoseDetector(detector_onnx_path(model), imgsz=imgsz, conf=conf, providers=onnx_providers(device))


def resolve_detector_onnx(model: str | Path, precision: str = "auto") -> Path:
    """The ONNX file the detector runs, checked: raises :class:`VideoMocapError` when it is missing.

    ``precision``: "int8" (the quantised export, about 1.7x faster on a CPU), "fp32" (the float
    export, the same detections as PyTorch) or "auto" (int8 when it was exported, else fp32).
    """
    if precision not in DETECTOR_PRECISIONS:
        raise VideoMocapError(f"Unknown detector precision '{precision}'; use one of {', '.join(DETECTOR_PRECISIONS)}.")
    if precision == "auto":
        int8 = detector_onnx_path(model, "int8")
        path = int8 if int8.is_file() else detector_onnx_path(model, "fp32")
    else:
        path = detector_onnx_path(model, precision)
    if not path.is_file():
        raise VideoMocapError(
            f"No {'int8 ' if precision == 'int8' else ''}ONNX export of the pose model {Path(model).name} ({path} is "
            "missing). Install the platform build of the extension (it ships it), or run 'video-mocap export-onnx' "
            "(needs PyTorch)."
        )
    return path
