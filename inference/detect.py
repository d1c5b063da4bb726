"""The 2D stage: video -> YOLO pose (batched) -> tracked ids (one tracker on both runtimes) -> H36M-17 tracks -> subject.

Flow of :func:`detect_video`:

1. :func:`~video_mocap.inference.video.probe_video` checks the clip; frames stream in batches.
2. Each batch goes through one detector call (Ultralytics YOLO, or its ONNX export on ONNX Runtime);
   the detections are then fed, frame by frame and in order, to one tracker on both paths
   (:class:`~video_mocap.inference.simple_tracker.SimpleTracker`, numpy), so a person has the same
   id whichever runtime ran; :func:`~video_mocap.inference.simple_tracker.relink_tracks` then joins
   the pieces of a track broken by an occlusion or a missed stretch.
   The network's input size is ``imgsz``; ``"auto"`` (:func:`choose_imgsz`) looks at a few frames
   at the default size first and takes :data:`LARGE_IMGSZ` when the people there are small.
3. Raw detections of every track (COCO-17 keypoints, boxes) are cached as one ``.npz`` per
   (video content, detection settings) in :func:`default_cache_dir`; a re-run is instant.
4. Per track: COCO-17 -> H36M-17 (:func:`~video_mocap.core.skeleton.coco_to_h36m`; the head from
   the face points seen), low-confidence joints count as missing and :func:`fill_gaps` fills
   them (score 0 there): short gaps interpolated, longer ones than ``max_gap_frames`` from the body.
5. :func:`choose_subject` picks the subject (the largest, longest track unless a ``person`` id is given).

torch and ultralytics are imported lazily: this module imports with numpy alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import save_npz_atomic, write_text_atomic
from ..core.formats import MAX_GAP_FRAMES, Track2D
from .onnx_backend import DETECTOR_PRECISIONS
from ..core.progress import ProgressFn, check_cancel, report
from ..core.skeleton import MIN_JOINT_SCORE, NUM_JOINTS, coco_to_h36m
from .devices import DEFAULT_DEVICE, torch_device
from .video import VideoInfo, iter_timed_frames, probe_video, usable_timestamps

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: the YOLO pose weights shipped with the extension, and their sha256
SHIPPED_MODEL = PACKAGE_ROOT / "assets" / "models" / "yolo11n-pose.pt"
SHIPPED_MODEL_SHA256 = "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"

#: COCO class id of a person (pose models detect only people)
PERSON_CLASS = 0
#: number of COCO keypoints of a YOLO pose model
NUM_COCO_KEYPOINTS = 17
#: the tracker of both paths (recorded in the cache key): inference/simple_tracker.py
TRACKER_CONFIG = "simple_tracker-2"
#: bump when the cached arrays change meaning (2: displayed orientation, per-frame timestamps;
#: 3: one tracker on both paths)
CACHE_VERSION = 3
#: ``imgsz="auto"``: the default network input size, and the larger one taken when people are small
DEFAULT_IMGSZ = 640
LARGE_IMGSZ = 1280
AUTO_IMGSZ = "auto"
#: ``imgsz="auto"``: frames looked at (spread over the range) at DEFAULT_IMGSZ
AUTO_PROBE_FRAMES = 8
#: ``imgsz="auto"``: people whose median box is shorter than this share of the frame's long side
#: (about 100 px of the 640 px network input) are "small": LARGE_IMGSZ is taken for them
AUTO_SMALL_FRACTION = 0.16
#: environment variable that overrides the cache folder
CACHE_ENV = "VIDEO_MOCAP_CACHE"
_HASH_CHUNK = 1 << 20
_HASH_INDEX = "hashes.json"
#: the detection cache's folder inside the cache folder (the pipeline's cache uses it too)
DETECT_SUBDIR = "detect"
_MODELS_SUBDIR = "models"
_BACKENDS = ("auto", "ultralytics", "onnx")


@dataclass
class DetectConfig:
    """Settings of the 2D stage (``person``, ``device``, ``batch_size`` and ``max_gap_frames`` do not
    change the cached detections)."""

    model: str = str(SHIPPED_MODEL)
    device: str = DEFAULT_DEVICE  # see inference/devices.py
    person: int | None = None  # track id to keep; None = the longest & largest track
    batch_size: int = 8
    conf: float = 0.25  # the detector's person confidence threshold
    imgsz: int | str = DEFAULT_IMGSZ  # network input size in px, or "auto" (see choose_imgsz)
    frame_start: int = 0
    frame_end: int | None = None  # exclusive
    max_gap_frames: int = MAX_GAP_FRAMES  # gaps up to this are interpolated (scores 0 there); longer: from the body, reported
    allow_download: bool = False  # ultralytics may download a *named* model only if True
    #: a track that starts within this many frames after another ended, close in position and size,
    #: continues it (None: simple_tracker.RELINK_SECONDS of the clip; 0: off)
    relink_frames: int | None = None
    backend: str = "auto"  # "auto" | "ultralytics" | "onnx"
    #: ONNX path only: "auto" (the int8 export when present), "int8" or "fp32" (see onnx_backend)
    precision: str = "auto"


@dataclass
class DetectResult:
    """Every person track of a clip, and which one is the subject.

    tracks: track id -> :class:`Track2D` (H36M-17, pixels), rows = that track's first..last frame.
    long_gaps: (first, last) video frame indices of the subject's gaps longer than ``max_gap_frames``
        (interpolated too, with scores 0; the caller may warn or cut there).
    """

    tracks: dict[int, Track2D]
    subject_id: int
    long_gaps: list[tuple[int, int]] = field(default_factory=list)
    info: VideoInfo | None = None
    imgsz: int = DEFAULT_IMGSZ  # the network input size used ("auto" resolved)

    @property
    def subject(self) -> Track2D:
        return self.tracks[self.subject_id]


# ---------------------------------------------------------------------------------------
# gap filling (pure numpy)
# ---------------------------------------------------------------------------------------
def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index pairs of the runs of True in a 1D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def fill_gaps(
    keypoints: np.ndarray, scores: np.ndarray, max_gap: int, min_score: float = MIN_JOINT_SCORE
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Fill missing joints: short gaps interpolated over time, long ones from the body.

    A joint is missing where its score is below ``min_score`` or its position is not finite.
    A run of up to ``max_gap`` missing frames is interpolated linearly between the joint's valid
    neighbours (held at the ends of the track). A longer run is *not* interpolated (that would
    freeze the joint at one image point for seconds, e.g. a head in profile): there the joint
    copies its parent, as a joint never valid in the whole track does (the pelvis: the mean of
    the joints seen in that frame), which is what the lifter was trained to read as missing.
    Frames where no joint at all is seen (the subject left or was lost) are interpolated
    whatever their length, and the runs longer than ``max_gap`` are reported. Filled values get
    score 0 so the lifter knows.

    Args:
        keypoints: (T, 17, 2) pixel positions.
        scores: (T, 17) confidences.
        max_gap: longest run of missing frames of a joint that is interpolated; whole-frame gaps
            (no valid joint) longer than this are reported.
        min_score: joints below this score count as missing.

    Returns:
        (T, 17, 2) filled keypoints, (T, 17) scores (0 where filled), and the (first, last) row
        indices of the whole-frame gaps longer than ``max_gap``.

    Raises:
        VideoMocapError: no valid joint in any frame.
    """
    from ..core.skeleton import PARENTS

    keypoints = np.array(keypoints, dtype=np.float32, copy=True)
    scores = np.array(scores, dtype=np.float32, copy=True)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_JOINTS, 2) or scores.shape != keypoints.shape[:2]:
        raise VideoMocapError(
            f"fill_gaps: need (T, 17, 2) keypoints and (T, 17) scores, got {keypoints.shape}, {scores.shape}."
        )
    valid = (scores >= min_score) & np.isfinite(keypoints).all(axis=-1)
    if not valid.any():
        raise VideoMocapError("No joint is detected with enough confidence in any frame of this track.")
    frames = np.arange(keypoints.shape[0])
    nobody = ~valid.any(axis=1)
    long_gaps = [(a, b) for a, b in _runs(nobody) if b - a + 1 > max_gap]
    never = []
    from_body = np.zeros_like(valid)  # (T, 17): long per-joint gaps, filled from the parent
    for j in range(NUM_JOINTS):
        ok = valid[:, j]
        if not ok.any():
            never.append(j)
            continue
        if ok.all():
            continue
        for c in range(2):
            keypoints[~ok, j, c] = np.interp(frames[~ok], frames[ok], keypoints[ok, j, c])
        for a, b in _runs(~ok):
            if b - a + 1 > max_gap:
                from_body[a : b + 1, j] = True
    from_body &= ~nobody[:, None]
    seen = [k for k in range(NUM_JOINTS) if k not in never]
    for j in range(NUM_JOINTS):  # parents come before children in H36M order: a parent is filled first
        parent = PARENTS[j]
        if j in never:
            keypoints[:, j] = keypoints[:, parent] if parent >= 0 else keypoints[:, seen].mean(axis=1)
        elif from_body[:, j].any():
            rows = from_body[:, j]
            if parent >= 0:
                keypoints[rows, j] = keypoints[rows, parent]
            else:
                weights = valid[rows][..., None].astype(np.float32)
                keypoints[rows, j] = (keypoints[rows] * weights).sum(axis=1) / weights.sum(axis=1)
    scores[~valid] = 0.0
    return keypoints, scores, long_gaps


# ---------------------------------------------------------------------------------------
# subject choice
# ---------------------------------------------------------------------------------------
def track_size(track: Track2D, min_score: float = MIN_JOINT_SCORE) -> tuple[int, float]:
    """(frames where the person is seen, median height in px of the box around its seen joints)."""
    seen = track.scores >= min_score
    present = seen.any(axis=1)
    if not present.any():
        return 0, 0.0
    y = np.where(seen, track.keypoints[..., 1], np.nan)[present]
    heights = np.nanmax(y, axis=1) - np.nanmin(y, axis=1)
    return int(present.sum()), float(np.median(heights))


def describe_tracks(tracks: dict[int, Track2D]) -> str:
    """One line per track: ``id N: frames first-last (K seen), height H px``."""
    lines = []
    for tid, track in sorted(tracks.items()):
        seen, height = track_size(track)
        first, last = int(track.frame_indices[0]), int(track.frame_indices[-1])
        lines.append(f"id {tid}: frames {first}-{last} ({seen} seen), height {height:.0f} px")
    return "\n".join(lines)


def choose_subject(tracks: dict[int, Track2D], person: int | None = None) -> int:
    """The track id of the subject: ``person`` if given, else the track with the largest
    (frames present x median box height squared): the person seen longest and largest, the
    apparent size (an area) counting as much as the time on screen, so a foreground walker wins
    over a smaller person farther back who is in view a little longer.

    Raises:
        VideoMocapError: no track, or ``person`` is not one of the track ids (the message lists them).
    """
    if not tracks:
        raise VideoMocapError("No person track to choose from.")
    if person is not None:
        if person not in tracks:
            raise VideoMocapError(
                f"Person id {person} is not among the tracked people. Available:\n{describe_tracks(tracks)}\n"
                "Pick one of these ids (video-mocap detect VIDEO --list-tracks shows them)."
            )
        return int(person)
    sizes = {tid: track_size(t) for tid, t in tracks.items()}
    return int(max(sizes, key=lambda tid: (sizes[tid][0] * sizes[tid][1] ** 2, sizes[tid][0], -tid)))


# ---------------------------------------------------------------------------------------
# model, device, cache
# ---------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$VIDEO_MOCAP_CACHE``, else ``$XDG_CACHE_HOME/video_mocap``, else ``~/.cache/video_mocap``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "video_mocap"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """sha256 of a file's content; remembered in ``cache_dir`` by (path, size, mtime)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = cache_dir / _HASH_INDEX if cache_dir is not None else None
    index: dict[str, str] = {}
    if index_path is not None and index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            index = {}
        if key in index:
            return index[key]
    digest = _sha256_file(path)
    if index_path is not None:
        index[key] = digest
        try:
            write_text_atomic(index_path, json.dumps(index, indent=0))
        except OSError as exc:
            log.warning("Could not write the hash index %s (%s); hashing again next time.", index_path, exc)
    return digest


def resolve_model(model: str, allow_download: bool = False) -> Path:
    """A local weights file for ``model`` (a path, or a bare name such as ``"yolo11s-pose.pt"``).

    A bare name is looked up beside the shipped weights and in the cache's ``models`` folder;
    if absent it is downloaded by ultralytics only when ``allow_download``. The shipped default
    is checked against its sha256.

    Raises:
        VideoMocapError: missing file, corrupt shipped weights, downloads off, or download failed.
    """
    if not model:
        raise VideoMocapError("No pose model given; pass a .pt file or leave the default.")
    path = Path(model).expanduser()
    is_name = path.name == str(model) and not path.is_absolute()
    if path.is_file():
        resolved = path
    elif not is_name:
        raise VideoMocapError(f"Pose model file not found: {path}. Check the path, or leave the default model.")
    else:
        candidates = [SHIPPED_MODEL.parent / path.name, default_cache_dir() / _MODELS_SUBDIR / path.name]
        found = [c for c in candidates if c.is_file()]
        resolved = found[0] if found else _download_model(path.name, candidates[-1], allow_download)
    if resolved.resolve() == SHIPPED_MODEL.resolve():
        digest = _sha256_file(resolved)
        if digest != SHIPPED_MODEL_SHA256:
            raise VideoMocapError(
                f"The shipped pose weights {resolved} are damaged (sha256 {digest[:12]}... instead of "
                f"{SHIPPED_MODEL_SHA256[:12]}...). Reinstall the extension."
            )
    return resolved


def _download_model(name: str, target: Path, allow_download: bool) -> Path:
    if not allow_download:
        raise VideoMocapError(
            f"Pose model '{name}' is not on this computer and downloads are off; enable them in the "
            "preferences (or pass --allow-download) or pass a local path to a .pt file."
        )
    try:
        from ultralytics.utils.downloads import attempt_download_asset
    except ImportError as exc:
        raise VideoMocapError(f"Downloading '{name}' needs the ultralytics package ({exc}).") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("Downloading pose model %s to %s", name, target)
    try:
        attempt_download_asset(str(target))
    except Exception as exc:  # network errors come in many types from requests/urllib/ultralytics
        raise VideoMocapError(f"Could not download pose model '{name}' ({exc}). Are you offline? "
                              "Download it by hand and pass its path.") from None
    if not target.is_file():
        raise VideoMocapError(
            f"Could not download pose model '{name}': offline, or no such ultralytics model. "
            "Check the name (e.g. yolo11s-pose.pt) or download it by hand and pass its path."
        )
    return target


def _check_config(config: DetectConfig) -> None:
    if config.batch_size < 1:
        raise VideoMocapError(f"batch_size must be at least 1, got {config.batch_size}.")
    if not 0.0 < config.conf < 1.0:
        raise VideoMocapError(f"conf must be between 0 and 1, got {config.conf}.")
    if config.imgsz != AUTO_IMGSZ and (not isinstance(config.imgsz, int) or config.imgsz < 32):
        raise VideoMocapError(f"imgsz must be 'auto' or at least 32 pixels, got {config.imgsz!r}.")
    if config.relink_frames is not None and config.relink_frames < 0:
        raise VideoMocapError(f"relink_frames must be >= 0, got {config.relink_frames}.")
    if config.max_gap_frames < 0:
        raise VideoMocapError(f"max_gap_frames must be >= 0, got {config.max_gap_frames}.")
    if config.frame_start < 0 or (config.frame_end is not None and config.frame_end <= config.frame_start):
        raise VideoMocapError(f"Bad frame range [{config.frame_start}, {config.frame_end}): need 0 <= start < end.")
    if config.backend not in _BACKENDS:
        raise VideoMocapError(f"Unknown detection backend '{config.backend}'; use one of {', '.join(_BACKENDS)}.")
    if config.precision not in DETECTOR_PRECISIONS:
        raise VideoMocapError(
            f"Unknown detector precision '{config.precision}'; use one of {', '.join(DETECTOR_PRECISIONS)}."
        )


def _cache_key(video_sha: str, model_sha: str, config: DetectConfig) -> str:
    settings = {
        "version": CACHE_VERSION,
        "video": video_sha,
        "model": model_sha,
        "conf": config.conf,
        "imgsz": config.imgsz,
        "start": config.frame_start,
        "end": config.frame_end,
        "tracker": TRACKER_CONFIG,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------
# raw detection (ultralytics)
# ---------------------------------------------------------------------------------------
@dataclass
class _RawDetections:
    """Flat per-detection arrays of all tracks (what the cache stores).

    track_id (N,), frame (N,), keypoints (N, 17, 2) COCO px, keypoint_scores (N, 17),
    boxes (N, 4) xyxy px, box_scores (N,); frames_decoded = frames actually read;
    decoded_frames (F,) int64 and decoded_times_s (F,) float64: each decoded frame's index and
    own timestamp (seconds).
    """

    track_id: np.ndarray
    frame: np.ndarray
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    boxes: np.ndarray
    box_scores: np.ndarray
    frames_decoded: int
    decoded_frames: np.ndarray
    decoded_times_s: np.ndarray

    def save(self, path: Path) -> None:
        save_npz_atomic(path, **{k: np.asarray(v) for k, v in asdict(self).items()})

    @classmethod
    def load(cls, path: Path) -> "_RawDetections":
        with np.load(path, allow_pickle=False) as data:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def _load_yolo(weights: Path, device: str):
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise VideoMocapError(
            f"2D detection needs the ultralytics package ({exc}); install the dependencies."
        ) from None
    try:
        model = YOLO(str(weights), task="pose")
    except Exception as exc:  # ultralytics raises many types for a bad file
        raise VideoMocapError(f"Cannot load pose model {weights}: {exc}. Pass a YOLO pose .pt file.") from None
    if getattr(model, "task", "pose") != "pose":
        raise VideoMocapError(f"{weights} is a '{model.task}' model, not a pose model; use a *-pose.pt file.")
    return model


def detection_backend(config: DetectConfig) -> str:
    """"ultralytics" or "onnx" ("auto": ultralytics when torch and ultralytics import, else ONNX Runtime)."""
    from . import runtime

    pref = {"auto": "auto", "ultralytics": "torch", "onnx": "onnx"}[config.backend]
    return "ultralytics" if runtime.choose_backend(pref, "detector") == "torch" else "onnx"


class _Detector:
    """One pose detector over both runtimes: ``predict(frames, imgsz)`` -> one
    :class:`~video_mocap.inference.onnx_backend.PoseDetections` per frame (COCO-17, pixels)."""

    def __init__(self, config: DetectConfig, weights: Path) -> None:
        self.config = config
        self.onnx = None
        if detection_backend(config) == "onnx":  # torch-free: ONNX Runtime (see onnx_backend)
            from .onnx_backend import create_detector

            self.onnx = create_detector(weights, config.device, DEFAULT_IMGSZ, config.conf)
        else:
            self.device = torch_device(config.device)
            self.model = _load_yolo(weights, self.device)

    @property
    def fixed_imgsz(self) -> int | None:
        """The input size of a fixed-size ONNX export (it takes no other), else None."""
        return self.onnx.imgsz if self.onnx is not None and not self.onnx.dynamic else None

    def predict(self, frames: list[np.ndarray], imgsz: int) -> list:
        from .onnx_backend import PoseDetections

        if self.onnx is not None:
            if self.onnx.dynamic:
                self.onnx.imgsz = int(imgsz)
            return self.onnx.predict(frames)
        try:
            results = self.model.predict(frames, imgsz=imgsz, conf=self.config.conf, device=self.device,
                                         classes=[PERSON_CLASS], verbose=False)
        except RuntimeError as exc:  # torch: out of memory, device errors
            raise VideoMocapError(
                f"Pose detection failed on {self.device} ({exc}). Try a smaller batch size or the 'cpu' device."
            ) from None
        found = []
        for result in results:
            boxes = result.boxes.cpu().numpy()
            kp = (result.keypoints.data.cpu().numpy() if result.keypoints is not None and len(boxes)
                  else np.zeros((0, NUM_COCO_KEYPOINTS, 3), dtype=np.float32))  # (n, 17, 3): x, y, conf
            found.append(PoseDetections(
                boxes=boxes.xyxy.astype(np.float32).reshape(-1, 4), scores=boxes.conf.astype(np.float32).reshape(-1),
                keypoints=kp[..., :2].astype(np.float32), keypoint_scores=kp[..., 2].astype(np.float32),
            ))
        return found


def choose_imgsz(detector: _Detector, video: Path, info: VideoInfo, config: DetectConfig) -> int:
    """The network input size: ``config.imgsz``, or for ``"auto"`` a look at the people first.

    ``"auto"``: :data:`AUTO_PROBE_FRAMES` frames spread over the range are detected at
    :data:`DEFAULT_IMGSZ`; when nobody is found there, or the median person box is shorter than
    :data:`AUTO_SMALL_FRACTION` of the frame's long side (about 100 px of the 640 px input, where
    YOLO's keypoints degrade and people start to be missed), :data:`LARGE_IMGSZ` (1280) is used,
    else the default. A fixed-size ONNX export takes only its own size.
    """
    if detector.fixed_imgsz is not None:
        return detector.fixed_imgsz
    if config.imgsz != AUTO_IMGSZ:
        return int(config.imgsz)
    end = info.num_frames if config.frame_end is None else min(config.frame_end, info.num_frames)
    wanted = set(np.linspace(config.frame_start, max(end - 1, config.frame_start), AUTO_PROBE_FRAMES).round().astype(int))
    frames = [frame for index, _, frame in iter_timed_frames(video, config.frame_start, end, expected=info.num_frames)
              if index in wanted] if len(wanted) else []
    heights = [float(h) for found in detector.predict(frames, DEFAULT_IMGSZ) if len(found)
               for h in found.boxes[:, 3] - found.boxes[:, 1]]
    long_side = float(max(info.width, info.height))
    small = not heights or float(np.median(heights)) < AUTO_SMALL_FRACTION * long_side
    chosen = LARGE_IMGSZ if small else DEFAULT_IMGSZ
    log.info("imgsz auto: %s at %d px (median %s of the %d px long side) -> %d",
             f"{len(heights)} people seen" if heights else "nobody seen", DEFAULT_IMGSZ,
             f"{np.median(heights):.0f} px" if heights else "-", int(long_side), chosen)
    return chosen


def _run_detection(
    video: Path, info: VideoInfo, config: DetectConfig, detector: _Detector,
    progress: ProgressFn | None, cancel: threading.Event | None,
) -> _RawDetections:
    """Batched YOLO pose over the frame range (``config.imgsz`` resolved), then the tracker per frame in order."""
    from .simple_tracker import SimpleTracker

    tracker = SimpleTracker(info.fps)
    end = info.num_frames if config.frame_end is None else min(config.frame_end, info.num_frames)
    total = max(end - config.frame_start, 0)
    rows: dict[str, list[np.ndarray]] = {
        name: [] for name in _RawDetections.__dataclass_fields__
        if name not in ("frames_decoded", "decoded_frames", "decoded_times_s")
    }
    decoded = 0
    decoded_frames: list[int] = []
    decoded_times: list[float] = []

    def flush(indices: list[int], frames: list[np.ndarray]) -> None:
        for index, found in zip(indices, detector.predict(frames, int(config.imgsz))):
            ids = tracker.update(found.boxes, found.scores)
            det = np.flatnonzero(ids >= 0)
            for key, value in (("track_id", ids[det]), ("frame", np.full(len(det), index, dtype=np.int64)),
                               ("keypoints", found.keypoints[det]), ("keypoint_scores", found.keypoint_scores[det]),
                               ("boxes", found.boxes[det]), ("box_scores", found.scores[det])):
                rows[key].append(value)

    batch_idx: list[int] = []
    batch: list[np.ndarray] = []
    report(progress, "detect", 0, total)
    for index, time_s, frame in iter_timed_frames(video, config.frame_start, end, expected=info.num_frames):
        decoded_frames.append(index)
        decoded_times.append(time_s)
        batch_idx.append(index)
        batch.append(frame)
        decoded += 1
        if len(batch) == config.batch_size:
            check_cancel(cancel)
            flush(batch_idx, batch)
            batch_idx, batch = [], []
            report(progress, "detect", decoded, total)
    if batch:
        check_cancel(cancel)
        flush(batch_idx, batch)
    report(progress, "detect", decoded, decoded)

    def cat(key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        return np.concatenate(rows[key]) if rows[key] else np.zeros((0, *shape), dtype=dtype)

    return _RawDetections(
        track_id=cat("track_id", (), np.int64),
        frame=cat("frame", (), np.int64),
        keypoints=cat("keypoints", (NUM_COCO_KEYPOINTS, 2), np.float32),
        keypoint_scores=cat("keypoint_scores", (NUM_COCO_KEYPOINTS,), np.float32),
        boxes=cat("boxes", (4,), np.float32),
        box_scores=cat("box_scores", (), np.float32),
        frames_decoded=decoded,
        decoded_frames=np.asarray(decoded_frames, dtype=np.int64),
        decoded_times_s=usable_timestamps(  # from the first frame's time: frame 0 is at 0 s
            np.asarray(decoded_times) - info.start_time_s, np.asarray(decoded_frames), info.fps
        ),
    )


def _times_of(raw: _RawDetections, indices: np.ndarray, fps: float) -> np.ndarray:
    """(n,) seconds of the video frames ``indices`` (decoded frames' own timestamps)."""
    at = np.searchsorted(raw.decoded_frames, indices)
    if raw.decoded_frames.size and np.all(at < raw.decoded_frames.size):
        if np.array_equal(raw.decoded_frames[at], indices):
            return raw.decoded_times_s[at]
    return indices.astype(np.float64) / float(fps)


def _build_tracks(raw: _RawDetections, info: VideoInfo, video: Path, max_gap: int
                  ) -> tuple[dict[int, Track2D], dict[int, list[tuple[int, int]]]]:
    """Dense H36M tracks (rows = first..last frame of each id, gaps filled) and their long gaps."""
    tracks: dict[int, Track2D] = {}
    gaps: dict[int, list[tuple[int, int]]] = {}
    for tid in np.unique(raw.track_id):
        sel = raw.track_id == tid
        frames = raw.frame[sel]
        first, last = int(frames.min()), int(frames.max())
        rows = frames - first
        coco = np.zeros((last - first + 1, NUM_COCO_KEYPOINTS, 2), dtype=np.float32)
        coco_scores = np.zeros((last - first + 1, NUM_COCO_KEYPOINTS), dtype=np.float32)
        coco[rows] = raw.keypoints[sel]
        coco_scores[rows] = raw.keypoint_scores[sel]
        keypoints, scores = coco_to_h36m(coco, coco_scores)
        try:
            keypoints, scores, long_rows = fill_gaps(keypoints, scores, max_gap)
        except VideoMocapError:
            log.info("Track %d has no confident joint; dropped.", tid)
            continue
        indices = np.arange(first, last + 1)
        tracks[int(tid)] = Track2D(
            keypoints=keypoints, scores=scores, frame_indices=indices,
            fps=info.fps, width=info.width, height=info.height, focal_px=None,
            track_id=int(tid), video=str(video), times_s=_times_of(raw, indices, info.fps),
            rotation_deg=info.rotation_deg,
        )
        gaps[int(tid)] = [(first + a, first + b) for a, b in long_rows]
    return tracks, gaps


def detect_video(
    video: str | os.PathLike,
    config: DetectConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> DetectResult:
    """Detect and track every person in ``video``; choose the subject.

    Args:
        video: the clip.
        config: detection settings (defaults: shipped yolo11n-pose, auto device, whole clip).
        progress: ``progress("detect", frames_done, total)``.
        cancel: set it to stop; :class:`~video_mocap.core.errors.Cancelled` is raised between batches.
        cache_dir: folder of the detection cache (default ``default_cache_dir()/detect``).
        use_cache: False = neither read nor write the cache.

    Raises:
        VideoMocapError: bad video / settings / model, or no person in any frame.
    """
    config = config or DetectConfig()
    _check_config(config)
    video = Path(video).expanduser()
    info = probe_video(video)
    if config.frame_start >= info.num_frames:
        raise VideoMocapError(
            f"Start frame {config.frame_start} is past the end of {video} ({info.num_frames} frames)."
        )
    weights = resolve_model(config.model, config.allow_download)
    if detection_backend(config) == "onnx":
        from .onnx_backend import resolve_detector_onnx

        weights = resolve_detector_onnx(weights, config.precision)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / DETECT_SUBDIR
    detector = None
    if config.imgsz == AUTO_IMGSZ:  # the size is decided on a few frames first (and keyed as the size chosen)
        detector = _Detector(config, weights)
        config = dataclasses.replace(config, imgsz=choose_imgsz(detector, video, info, config))

    raw = None
    cache_file = None
    if use_cache:
        key = _cache_key(file_sha256(video, cache_dir), file_sha256(weights, cache_dir), config)
        cache_file = cache_dir / f"{key}.npz"
        if cache_file.is_file():
            try:
                raw = _RawDetections.load(cache_file)
                log.info("2D detections from the cache: %s", cache_file)
                report(progress, "detect", raw.frames_decoded, raw.frames_decoded)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                log.warning("Ignoring unreadable cache file %s (%s); detecting again.", cache_file, exc)
    if raw is None:
        detector = detector or _Detector(config, weights)
        raw = _run_detection(video, info, config, detector, progress, cancel)
        if cache_file is not None:
            try:
                raw.save(cache_file)
            except OSError as exc:
                log.warning("Could not write the detection cache %s (%s).", cache_file, exc)

    end = config.frame_start + raw.frames_decoded - 1
    if raw.frames_decoded < 2:
        raise VideoMocapError(
            f"Only {raw.frames_decoded} frame decodes in the range of {video}: the lifter needs at least 2 frames."
        )
    if config.relink_frames != 0:
        from .simple_tracker import relink_tracks

        raw.track_id = relink_tracks(raw.track_id, raw.frame, raw.boxes, info.fps, config.relink_frames)
    tracks, gaps = _build_tracks(raw, info, video, config.max_gap_frames)
    if not tracks:
        raise VideoMocapError(
            f"No person detected in frames {config.frame_start}-{end} of {video}. Check that a person is "
            f"visible, try a lower confidence (now {config.conf}) or a larger model (e.g. yolo11s-pose.pt)."
        )
    subject = choose_subject(tracks, config.person)
    result = DetectResult(tracks=tracks, subject_id=subject, long_gaps=gaps[subject], info=info,
                          imgsz=int(config.imgsz))
    if result.long_gaps:
        log.warning("The subject (id %d) is missing for long stretches: frames %s.", subject,
                    ", ".join(f"{a}-{b}" for a, b in result.long_gaps))
    log.debug("2D tracks:\n%s\nsubject: id %d", describe_tracks(tracks), subject)
    return result
