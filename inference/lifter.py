"""Lifting 2D tracks to 3D: windowed inference over clips of any length, flip TTA, backends.

numpy in, numpy out. The network runs in a *backend*, anything with
``predict(inputs (B, T, 17, 3) float32) -> (B, T, 17, 3) float32``:

- ``torch``: :class:`TorchBackend` (CUDA, then MPS, then CPU; half precision on GPU);
- ``onnx``: supplied by ``inference/onnx_backend.py`` (``create_backend(card, weights_path,
  device) -> backend``), imported only when asked for.

Windowing (:func:`lift_sequence`): windows of the model's ``num_frames`` with stride
``num_frames * (1 - overlap)`` (default overlap 1/3, stride 2/3 of a window; the last window
is aligned to the clip end), blended with trapezoid weights that ramp over the overlap so the
seams are smooth; a clip shorter than a window is edge-padded (last frame repeated) and
cropped back. Windows run in batches of ``batch_windows`` (:class:`WindowedLift`), which takes
the input frames piece by piece and gives back each block of frames once no pending window
covers it, holding about one window plus a batch of strides; so :func:`lift_track_file`
streams a track file of any length to a motion file in flat memory. Flip test-time
augmentation mirrors x, swaps left/right joints, lifts, un-flips and averages.

View centring (``focal_scale``, on in :func:`lift_track` and :func:`lift_track_file`): each window
is lifted as a camera turned to look at the person would see it (the window's mean pelvis ray
turned onto the optical axis, the keypoints re-projected through the same lens), and its joints
are turned back into the footage camera's axes. The lifters were trained on people within about
half of the half-frame of the centre (``training.cameras.CameraConfig.off_centre``); further out
they lift the same pose smaller (the sample clip's walker, the same 2D moved 200 px to the side:
3.98 -> 1.77 m of summed bones with DTGCN), which then puts the person too close. A rotation of the
camera about its centre changes no depth cue, only where the person is in the image, so the
window becomes one the network knows. The perspective-crop idea of Yu et al. (PCL, 2021); the
rotation is the smallest one that centres the pelvis (no roll added).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import atomic_path
from ..core import camera
from . import runtime
from .devices import DEFAULT_DEVICE, torch_device
from ..core.formats import Motion3D, Track2D, TrackFile, write_npz_array_blocks, write_npz_arrays
from ..core.progress import ProgressFn, check_cancel, report
from ..core.skeleton import NUM_JOINTS, PELVIS, flip_joints
from .trajectory import recover_root, smooth_root
from ..core.lifters import DEFAULT_LIFTER, LIFTER_NAMES
from .weights import (
    HOW_TO_GET_WEIGHTS,
    ModelCard,
    default_weights_path,
    load_card,
    load_weights,
)

log = logging.getLogger(__name__)

#: fraction of a window shared with the next one (stride = (1 - overlap) * num_frames)
DEFAULT_OVERLAP = 1.0 / 3.0
DEFAULT_BATCH_WINDOWS = 8
#: frames read from a track file at a time when streaming (:func:`lift_track_file`)
STREAM_BLOCK_FRAMES = 2048
INPUT_CHANNELS = 3
PROGRESS_STAGE = "lift"
#: module (relative to this package) providing ``create_backend`` per non-torch backend
BACKEND_MODULES: dict[str, str] = {"onnx": ".onnx_backend"}


class Backend(Protocol):
    """What :class:`Lifter` needs from a runtime."""

    device: str

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, T, 17, 3) float32 [x, y, score] -> (B, T, 17, 3) float32 root-relative metres."""
        ...


class TorchBackend:
    """Runs a torch lifter in eval mode on ``device``; fp16 on CUDA, fp32 elsewhere.

    The model is moved (and cast) in place: pass a copy if the caller keeps using it elsewhere.
    """

    def __init__(self, model: Any, device: str = "cpu", half: bool | None = None) -> None:
        import torch

        self.device = device
        self.half = device.startswith("cuda") if half is None else bool(half)
        self.dtype = torch.float16 if self.half else torch.float32
        self.model = model.to(device=device, dtype=self.dtype)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Runs in eval mode; a model that was training (validation during training) is put back."""
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device, self.dtype)
                return self.model(x).float().cpu().numpy()
        finally:
            self.model.train(was_training)


class Lifter:
    """A lifter ready to run: numpy ``(B, T, 17, 3)`` in, numpy ``(B, T, 17, 3)`` out."""

    def __init__(self, name: str, card: ModelCard, backend: Backend) -> None:
        self.name = name
        self.card = card
        self.backend = backend

    @property
    def num_frames(self) -> int:
        return int(self.card.num_frames)

    @property
    def device(self) -> str:
        return str(getattr(self.backend, "device", "cpu"))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, T, 17, 3) [x, y, score] normalised -> (B, T, 17, 3) metres, pelvis at 0."""
        inputs = np.asarray(inputs, dtype=np.float32)
        if inputs.ndim != 4 or inputs.shape[2:] != (NUM_JOINTS, INPUT_CHANNELS):
            raise VideoMocapError(f"lifter input must have shape (B, T, 17, 3), got {inputs.shape}.")
        out = np.asarray(self.backend.predict(inputs), dtype=np.float32)
        if out.shape != inputs.shape:
            raise VideoMocapError(f"the {self.name} backend returned shape {out.shape} for input {inputs.shape}.")
        return out

    def __repr__(self) -> str:
        return f"Lifter({self.name!r}, preset={self.card.preset!r}, num_frames={self.num_frames}, device={self.device!r})"


def _weights_path(model: str, weights: str | os.PathLike | None) -> Path:
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise VideoMocapError(f"weights file not found: {path}. {HOW_TO_GET_WEIGHTS.format(folder=path.parent)}")
        return path
    path = default_weights_path(model)
    if not path.is_file():
        raise VideoMocapError(
            f"No trained weights exist yet for the {model} lifter (looked for {path}). The lifter will not run "
            f"with untrained weights. {HOW_TO_GET_WEIGHTS.format(folder=path.parent)}"
        )
    return path


def load_lifter(
    model: str = DEFAULT_LIFTER,
    weights: str | os.PathLike | None = None,
    device: str = DEFAULT_DEVICE,
    backend: str = "auto",
) -> Lifter:
    """Load trained lifter ``model`` (posemoe | dtgcn | mlp) from ``weights`` (default: shipped).

    Raises :class:`VideoMocapError` when no trained weights exist (never runs random weights),
    when the weights do not fit, or when the backend / device is not available.
    """
    if model not in LIFTER_NAMES:
        raise VideoMocapError(f"unknown lifter model '{model}'; choose one of {', '.join(LIFTER_NAMES)}.")
    path = _weights_path(model, weights)
    chosen = runtime.choose_backend(backend, "lifter")
    if chosen == "torch":
        from .models import build_model

        state, card = load_weights(path, expected_model=model)
        network = build_model(card.model, card.config)
        network.load_state_dict(state, strict=True)
        torch_backend = TorchBackend(network, torch_device(device))
        log.info("lifter %s (%s) on %s", model, card.preset, torch_backend.device)
        return Lifter(model, card, torch_backend)
    card = load_card(path)
    if card.model != model:
        raise VideoMocapError(f"{path.name} holds {card.model} weights, not {model}; choose the matching model.")
    try:
        module = importlib.import_module(BACKEND_MODULES[chosen], __package__)
    except ModuleNotFoundError:
        raise VideoMocapError(
            f"the {chosen} lifter backend is not part of this build; install PyTorch or use backend 'torch'."
        ) from None
    return Lifter(model, card, module.create_backend(card, path, device))


# ---------------------------------------------------------------------------------------
# windowing
# ---------------------------------------------------------------------------------------
def window_starts(total: int, window: int, stride: int) -> list[int]:
    """Start frames of windows of ``window`` frames covering ``total`` frames (last one flush with the end)."""
    if total <= window:
        return [0]
    starts = list(range(0, total - window + 1, stride))
    if starts[-1] != total - window:
        starts.append(total - window)
    return starts


def blend_weights(window: int, ramp: int) -> np.ndarray:
    """(window,) trapezoid: rises over ``ramp`` frames, flat, falls over ``ramp`` frames; always > 0."""
    t = np.arange(window, dtype=np.float64)
    if ramp <= 0:
        return np.ones(window)
    return np.minimum(1.0, np.minimum(t + 1.0, window - t) / (ramp + 1.0))


def _pad_window(inputs: np.ndarray, start: int, window: int) -> np.ndarray:
    """(T, 17, 3) -> (window, 17, 3) slice from ``start``, edge-padded past the clip end."""
    piece = inputs[start : start + window]
    if piece.shape[0] < window:
        piece = np.concatenate([piece, np.repeat(piece[-1:], window - piece.shape[0], axis=0)], axis=0)
    return piece


def _predict_tta(lifter: Lifter, batch: np.ndarray, flip: bool) -> np.ndarray:
    """(N, W, 17, 3) -> (N, W, 17, 3); with ``flip`` the mirrored batch runs alongside and is averaged in."""
    if not flip:
        return lifter.predict(batch)
    both = lifter.predict(np.concatenate([batch, flip_joints(batch)], axis=0))
    n = batch.shape[0]
    return 0.5 * (both[:n] + flip_joints(both[n:]))


def view_rays(xy_norm: np.ndarray, focal_scale: float) -> np.ndarray:
    """(..., 2) normalised screen coordinates -> (..., 3) camera rays ``(x, y, 1)`` (OpenCV axes);
    ``focal_scale`` = half the image width over the focal length (both in pixels)."""
    xy = np.asarray(xy_norm, dtype=np.float64) * focal_scale
    return np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)


#: the camera's forward axis (OpenCV): where :func:`centre_window` turns the person's ray
OPTICAL_AXIS = np.array([0.0, 0.0, 1.0])
#: a turned ray this close to the image plane (z) is held there: no keypoint of one person comes near it
MIN_RAY_Z = 0.05


def centre_window(piece: np.ndarray, focal_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """One window as a camera turned to look at the person sees it.

    Args:
        piece: (W, 17, 3) lifter inputs (normalised x, y and score).
        focal_scale: half the image width over the focal length.
    Returns:
        the turned inputs (W, 17, 3) (scores unchanged) and the rotation ``R`` (3, 3) from the footage
        camera's axes to the turned camera's: joints lifted from the turned inputs are ``joints @ R`` in
        the footage camera's axes (row vectors).
    """
    rays = view_rays(piece[..., :2], focal_scale)
    pelvis_scores = piece[:, PELVIS, 2].astype(np.float64)
    if pelvis_scores.sum() > 0:
        direction = (pelvis_scores[:, None] * rays[:, PELVIS]).sum(axis=0)
    else:  # no pelvis in the whole window: the score-weighted centre of whatever is seen
        weights = piece[..., 2].astype(np.float64)
        if weights.sum() <= 0:
            return piece, np.eye(3)
        direction = (weights[..., None] * rays).sum(axis=(0, 1))
    rotation = camera.rotation_between(direction, OPTICAL_AXIS)
    turned = rays @ rotation.T
    xy = turned[..., :2] / np.maximum(turned[..., 2:], MIN_RAY_Z) / focal_scale
    return np.concatenate([xy, piece[..., 2:]], axis=-1).astype(np.float32), rotation


def _check_inputs(inputs: np.ndarray) -> np.ndarray:
    """(n, 17, 3) lifter inputs as float32; a clear error for a wrong shape or NaN."""
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or inputs.shape[1:] != (NUM_JOINTS, INPUT_CHANNELS):
        raise VideoMocapError(f"lift_sequence needs (T, 17, 3) inputs with T >= 1, got {inputs.shape}.")
    if not np.isfinite(inputs).all():
        raise VideoMocapError("lifter inputs hold NaN or infinite values; fill the gaps of the 2D track first.")
    return inputs


class WindowedLift:
    """Windowed lifting of a clip of ``total_frames`` frames, fed in pieces, in frame order.

    :meth:`push` takes the next (n, 17, 3) input frames and returns the joint blocks that
    became final, (m, 17, 3) metres each, in frame order; after the last input frame every
    frame has been returned. Only the frames the pending windows still need are held (about
    one window plus ``batch_windows`` strides of inputs and accumulators), so memory does not
    depend on the clip length: an hour-long track can stream from and to disk
    (:func:`lift_track_file`). The result equals lifting the whole clip at once.

    ``focal_scale`` (half the image width over the focal length): each window is lifted centred on the
    person (:func:`centre_window`, the module's "View centring"); None lifts the image as it is.
    """

    def __init__(
        self,
        lifter: Lifter,
        total_frames: int,
        *,
        flip: bool = True,
        batch_windows: int = DEFAULT_BATCH_WINDOWS,
        overlap: float = DEFAULT_OVERLAP,
        focal_scale: float | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if total_frames < 1:
            raise VideoMocapError(f"lift_sequence needs (T, 17, 3) inputs with T >= 1, got T = {total_frames}.")
        if not 0.0 <= overlap < 1.0:
            raise VideoMocapError(f"overlap must be in [0, 1), got {overlap}.")
        if batch_windows < 1:
            raise VideoMocapError(f"batch_windows must be >= 1, got {batch_windows}.")
        if focal_scale is not None and not (np.isfinite(focal_scale) and focal_scale > 0):
            raise VideoMocapError(f"focal_scale must be a positive number, got {focal_scale}.")
        self.lifter, self.flip, self.batch_windows, self.focal_scale = lifter, flip, batch_windows, focal_scale
        self.progress, self.cancel = progress, cancel
        self.total, self.window = total_frames, lifter.num_frames
        stride = max(1, int(round(self.window * (1.0 - overlap))))
        self.starts = window_starts(self.total, self.window, stride)
        self.weights = (blend_weights(self.window, self.window - stride) if len(self.starts) > 1
                        else np.ones(self.window)).astype(np.float32)
        self.next_window = 0  # index into starts of the first window not yet run
        self.inputs = np.zeros((0, NUM_JOINTS, INPUT_CHANNELS), dtype=np.float32)  # frames [inputs_first, received)
        self.inputs_first = 0
        self.joints_sum = np.zeros((0, NUM_JOINTS, 3), dtype=np.float32)  # frames [emitted, ...)
        self.weight_sum = np.zeros(0, dtype=np.float32)
        self.emitted = 0
        report(progress, PROGRESS_STAGE, 0, len(self.starts))

    @property
    def received(self) -> int:
        """Input frames pushed so far."""
        return self.inputs_first + self.inputs.shape[0]

    @property
    def done(self) -> bool:
        """Every frame has been returned."""
        return self.emitted == self.total

    def push(self, inputs: np.ndarray) -> list[np.ndarray]:
        """Feed the next input frames (n, 17, 3); returns the joint blocks that became final."""
        inputs = _check_inputs(inputs)
        if self.received + inputs.shape[0] > self.total:
            raise VideoMocapError(
                f"WindowedLift was told {self.total} frames but got {self.received + inputs.shape[0]}."
            )
        self.inputs = np.concatenate([self.inputs, inputs], axis=0)
        blocks: list[np.ndarray] = []
        while self.next_window < len(self.starts):
            batch = self._ready_windows()
            if not batch:
                break
            self._run(batch)
            blocks.extend(self._release())
        return blocks

    def _ready_windows(self) -> list[int]:
        """Starts of the next batch (``batch_windows`` windows, fewer only at the end) once its inputs have all arrived."""
        batch = self.starts[self.next_window : self.next_window + self.batch_windows]
        return batch if self.received >= min(batch[-1] + self.window, self.total) else []

    def _run(self, batch: list[int]) -> None:
        """Lift one batch of windows and add them, weighted, into the accumulators."""
        check_cancel(self.cancel)
        pieces = np.stack([_pad_window(self.inputs, start - self.inputs_first, self.window) for start in batch])
        if self.focal_scale is None:
            poses = _predict_tta(self.lifter, pieces, self.flip)
        else:  # each window centred on the person, its joints turned back into the footage camera's axes
            centred = [centre_window(piece, self.focal_scale) for piece in pieces]
            poses = _predict_tta(self.lifter, np.stack([piece for piece, _ in centred]), self.flip)
            poses = np.stack([pose @ rotation for pose, (_, rotation) in zip(poses, centred)]).astype(np.float32)
        reach = min(batch[-1] + self.window, self.total) - self.emitted
        if reach > self.weight_sum.shape[0]:
            grow = reach - self.weight_sum.shape[0]
            self.joints_sum = np.concatenate([self.joints_sum, np.zeros((grow, NUM_JOINTS, 3), np.float32)])
            self.weight_sum = np.concatenate([self.weight_sum, np.zeros(grow, np.float32)])
        for start, pose in zip(batch, poses):
            stop = min(start + self.window, self.total)
            w = self.weights[: stop - start]
            self.joints_sum[start - self.emitted : stop - self.emitted] += w[:, None, None] * pose[: stop - start]
            self.weight_sum[start - self.emitted : stop - self.emitted] += w
        self.next_window += len(batch)
        report(self.progress, PROGRESS_STAGE, self.next_window, len(self.starts))

    def _release(self) -> list[np.ndarray]:
        """Return the frames no pending window covers; drop the inputs no pending window needs."""
        final = self.starts[self.next_window] if self.next_window < len(self.starts) else self.total
        count = final - self.emitted
        if count <= 0:
            return []
        block = self.joints_sum[:count] / self.weight_sum[:count, None, None]
        self.joints_sum, self.weight_sum = self.joints_sum[count:].copy(), self.weight_sum[count:].copy()
        self.emitted = final
        self.inputs = self.inputs[final - self.inputs_first :].copy()
        self.inputs_first = final
        return [block]


def lift_sequence(
    lifter: Lifter,
    inputs: np.ndarray,
    *,
    flip: bool = True,
    batch_windows: int = DEFAULT_BATCH_WINDOWS,
    overlap: float = DEFAULT_OVERLAP,
    focal_scale: float | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Lift a whole clip: (T, 17, 3) [x, y, score] normalised -> (T, 17, 3) metres, pelvis at 0.

    Args:
        lifter: from :func:`load_lifter`.
        inputs: normalised screen x, y (``camera.normalize_screen``) and detector score; any
            array that slices (a ``np.memmap`` is read piece by piece).
        flip: test-time flip augmentation.
        batch_windows: windows per backend call (memory bound: batch x num_frames frames).
        overlap: fraction of a window shared by neighbouring windows, in [0, 1).
        focal_scale: half the image width over the focal length: each window lifted centred on the person
            (the module's "View centring"); None: as the image is.
        progress: ``progress("lift", windows_done, windows_total)``.
        cancel: set to stop (raises :class:`~video_mocap.core.errors.Cancelled`).
    """
    if not isinstance(inputs, np.ndarray):
        inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or inputs.shape[1:] != (NUM_JOINTS, INPUT_CHANNELS) or inputs.shape[0] < 1:
        raise VideoMocapError(f"lift_sequence needs (T, 17, 3) inputs with T >= 1, got {inputs.shape}.")
    lifting = WindowedLift(lifter, inputs.shape[0], flip=flip, batch_windows=batch_windows, overlap=overlap,
                           focal_scale=focal_scale, progress=progress, cancel=cancel)
    out = np.empty((lifting.total, NUM_JOINTS, 3), dtype=np.float32)
    filled = 0
    piece = lifting.window * batch_windows
    for first in range(0, lifting.total, piece):
        for block in lifting.push(inputs[first : first + piece]):
            out[filled : filled + block.shape[0]] = block
            filled += block.shape[0]
    return out


def track_inputs(track: Track2D) -> np.ndarray:
    """Lifter inputs of a 2D track: (T, 17, 3) normalised screen x, y and score."""
    return inputs_of(track.keypoints, track.scores, track.width, track.height)


def inputs_of(keypoints: np.ndarray, scores: np.ndarray, width: int, height: int) -> np.ndarray:
    """(n, 17, 2) pixels and (n, 17) scores -> (n, 17, 3) lifter inputs (normalised x, y and score)."""
    xy = camera.normalize_screen(keypoints, width, height)
    return np.concatenate([xy, scores[..., None]], axis=-1).astype(np.float32)


def focal_of(width: int, height: int, focal_px: float | None, fov_deg: float | None) -> float:
    """Focal length in pixels: ``fov_deg`` when given (the user's override, horizontal), else the
    track's ``focal_px``, else :func:`camera.default_focal` (``DEFAULT_FOV_DEG`` on the long side)."""
    if fov_deg is not None:
        try:
            return camera.focal_from_fov(width, fov_deg)
        except ValueError as exc:
            raise VideoMocapError(f"--fov: {exc}") from None
    if focal_px is not None and focal_px > 0:
        return float(focal_px)
    return camera.default_focal(width, height)


def focal_scale_of(width: int, focal_px: float) -> float:
    """Half the image width over the focal length: normalised screen units -> ray slopes (``view_rays``)."""
    return 0.5 * float(width) / float(focal_px)


def lift_track(
    track: Track2D,
    lifter: Lifter,
    *,
    fov_deg: float | None = None,
    flip: bool = True,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Motion3D:
    """2D track -> 3D motion: root-relative joints from the lifter plus the camera-space root.

    Focal length: see :func:`focal_of`. The motion's extras record ``focal_px``, ``width`` and
    ``height`` so later stages can re-project. Each window is lifted centred on the person (the module's
    "View centring").
    """
    focal = focal_of(track.width, track.height, track.focal_px, fov_deg)
    joints = lift_sequence(lifter, track_inputs(track), flip=flip, focal_scale=focal_scale_of(track.width, focal),
                           progress=progress, cancel=cancel)
    root = recover_root(joints, track.keypoints, track.scores, focal, track.width, track.height)
    return Motion3D(
        joints3d=joints,
        root=root,
        frame_indices=track.frame_indices,
        fps=track.fps,
        model=lifter.name,
        scores=track.scores,
        extras=_camera_extras(focal, track.width, track.height),
        times_s=track.times_s,
    )


def _camera_extras(focal: float, width: int, height: int) -> dict[str, np.ndarray]:
    return {"focal_px": np.float32(focal), "width": np.int32(width), "height": np.int32(height)}


def lift_track_file(
    track_path: str | os.PathLike,
    motion_path: str | os.PathLike,
    lifter: Lifter,
    *,
    fov_deg: float | None = None,
    flip: bool = True,
    block_frames: int = STREAM_BLOCK_FRAMES,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """2D track file -> 3D motion file, streamed: the same file :func:`lift_track` and
    ``Motion3D.save`` write, with the memory of a few windows whatever the track's length.

    The keypoints are read ``block_frames`` at a time (:class:`~.formats.TrackFile`), lifted by
    :class:`WindowedLift`, and each final block of joints goes straight into the motion file
    with its per-frame root; only the (T, 3) roots are held, to smooth them at the end, and the
    scores are copied over in a second pass. The write is atomic: on any error (or cancel) the
    previous file at ``motion_path`` is left as it was. Returns the number of frames.
    """
    with TrackFile(track_path) as track, atomic_path(motion_path, suffix=".npz") as tmp, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        total = track.num_frames
        focal = focal_of(track.width, track.height, track.focal_px, fov_deg)
        lifting = WindowedLift(lifter, total, flip=flip, focal_scale=focal_scale_of(track.width, focal),
                               progress=progress, cancel=cancel)
        root_raw = np.empty((total, 3), dtype=np.float32)

        def joints_blocks() -> Iterator[np.ndarray]:
            """Final joint blocks in frame order; their roots go into ``root_raw`` on the way."""
            held_keypoints = np.zeros((0, NUM_JOINTS, 2), dtype=np.float32)  # frames not yet final
            held_scores = np.zeros((0, NUM_JOINTS), dtype=np.float32)
            done = 0
            for keypoints, scores in track.iter_blocks(block_frames):
                held_keypoints = np.concatenate([held_keypoints, keypoints])
                held_scores = np.concatenate([held_scores, scores])
                for joints in lifting.push(inputs_of(keypoints, scores, track.width, track.height)):
                    n = joints.shape[0]
                    if not np.isfinite(joints).all():
                        raise VideoMocapError("the lifter returned NaN or infinite joints; check the weights file.")
                    root_raw[done : done + n] = recover_root(
                        joints, held_keypoints[:n], held_scores[:n], focal, track.width, track.height, smooth_window=0
                    )
                    held_keypoints, held_scores = held_keypoints[n:], held_scores[n:]
                    done += n
                    yield joints

        write_npz_array_blocks(archive, "joints3d", (total, NUM_JOINTS, 3), np.float32, joints_blocks())
        write_npz_arrays(
            archive, root=smooth_root(root_raw), frame_indices=track.frame_indices,
            fps=np.float32(track.fps), model=np.str_(lifter.name),
        )
        write_npz_array_blocks(archive, "scores", (total, NUM_JOINTS), np.float32,
                               (scores for _, scores in track.iter_blocks(block_frames)))
        write_npz_arrays(archive, **_camera_extras(focal, track.width, track.height))
        if track.times_s is not None:  # each frame's own time (variable frame rate), see formats.Motion3D
            write_npz_arrays(archive, times_s=track.times_s)
    return total
