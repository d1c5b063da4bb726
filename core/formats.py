"""The files between stages: the 2D track file and the 3D motion file (see README).

Both are ``.npz`` archives written atomically. Readers validate every field and raise
:class:`~video_mocap.core.errors.VideoMocapError` with a message that says what is wrong.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import VideoMocapError
from .atomic import save_npz_atomic
from .skeleton import JOINT_NAMES, MIN_JOINT_SCORE, NUM_JOINTS

log = logging.getLogger(__name__)

TRACK_WHAT = "2D track"
TRACK_REQUIRED = ("keypoints", "scores", "frame_indices", "fps", "width", "height")
MOTION_WHAT = "3D motion"
#: keypoints may leave the image (a limb out of frame), but by at most this many frame sizes
MAX_FRAMES_OUTSIDE = 10.0
#: a frame whose 17 joints all lie within this many pixels, in x and in y, is not a person
MIN_POSE_EXTENT_PX = 1.0
#: warn when a joint is missing (scored below ``skeleton.MIN_JOINT_SCORE``) in more than this fraction of frames
MISSING_JOINT_WARN_FRACTION = 0.5
#: array kinds that hold numbers (signed, unsigned, floating; not bool, strings, bytes or objects)
NUMERIC_KINDS = "iuf"
#: what the other kinds hold, for messages
_KIND_NAMES = {"U": "text (str)", "S": "bytes", "O": "Python objects", "b": "true/false (bool)", "c": "complex",
               "M": "dates", "m": "time spans", "V": "raw records"}


@dataclass
class Track2D:
    """One person's 2D track in H36M-17 order.

    keypoints: (T, 17, 2) float32 pixels, x right, y down (the displayed frame: rotation
        metadata applied; ``width`` x ``height`` is the displayed size).
    scores: (T, 17) float32 in [0, 1] (0 = joint missing / filled by interpolation).
    frame_indices: (T,) int64 index of each row in the source video.
    times_s: optional (T,) float64 presentation time of each row's frame in seconds (the
        video's own timestamps; strictly increasing). A variable-frame-rate clip is timed by
        them; None (files written before they existed) = ``frame_indices / fps``.
    rotation_deg: the video's rotation metadata (clockwise degrees: 0, 90, 180, 270) that was
        applied to its frames (a player that ignores it shows them turned; see blender/overlay.py).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    frame_indices: np.ndarray
    fps: float
    width: int
    height: int
    focal_px: float | None = None
    track_id: int = -1
    video: str = ""
    times_s: np.ndarray | None = None
    rotation_deg: int = 0

    def __post_init__(self) -> None:
        self.keypoints = numeric_array(self.keypoints, TRACK_WHAT, "keypoints").astype(np.float32)
        self.scores = numeric_array(self.scores, TRACK_WHAT, "scores").astype(np.float32)
        self.frame_indices = numeric_array(self.frame_indices, TRACK_WHAT, "frame_indices").astype(np.int64)
        check_track_layout(self.keypoints.shape, self.scores.shape, self.frame_indices.shape,
                           self.fps, self.width, self.height)
        check_track_values(self.keypoints, self.scores, self.width, self.height)
        self.times_s = check_times(self.times_s, self.keypoints.shape[0], TRACK_WHAT)

    def frame_times(self) -> np.ndarray:
        """(T,) seconds of each row: ``times_s``, or ``frame_indices / fps`` when absent."""
        return frame_times_of(self.times_s, self.frame_indices, self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        extra = {} if self.focal_px is None else {"focal_px": np.float32(self.focal_px)}
        if self.times_s is not None:
            extra["times_s"] = self.times_s
        if self.rotation_deg:
            extra["rotation_deg"] = np.int32(self.rotation_deg)
        return save_npz_atomic(
            path,
            keypoints=self.keypoints,
            scores=self.scores,
            frame_indices=self.frame_indices,
            fps=np.float32(self.fps),
            width=np.int32(self.width),
            height=np.int32(self.height),
            track_id=np.int32(self.track_id),
            video=np.str_(self.video),
            **extra,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Track2D":
        data = _load_npz(path, TRACK_WHAT, TRACK_REQUIRED)
        return cls(
            keypoints=data["keypoints"],
            scores=data["scores"],
            frame_indices=data["frame_indices"],
            fps=numeric_scalar(data["fps"], TRACK_WHAT, "fps"),
            width=int(numeric_scalar(data["width"], TRACK_WHAT, "width")),
            height=int(numeric_scalar(data["height"], TRACK_WHAT, "height")),
            focal_px=numeric_scalar(data["focal_px"], TRACK_WHAT, "focal_px") if "focal_px" in data else None,
            track_id=int(numeric_scalar(data["track_id"], TRACK_WHAT, "track_id")) if "track_id" in data else -1,
            video=str(data["video"]) if "video" in data else "",
            times_s=data.get("times_s"),
            rotation_deg=int(data["rotation_deg"]) if "rotation_deg" in data else 0,
        )

#: a joint missing from the 2D track (score 0) for up to this many frames is interpolated by the 2D stage;
#: a longer gap is filled from the body and reported, and the solve lets the face bones follow the body there
MAX_GAP_FRAMES = 15

#: the extras key of a moving camera's rotations in a 3D motion file (see :class:`Motion3D`)
CAMERA_ROTATION = "camera_rotation"
#: the extras key of a person's root depth scale (a scalar; see :class:`Motion3D`)
ROOT_DEPTH_SCALE = "root_depth_scale"


@dataclass
class Motion3D:
    """Lifted 3D motion.

    joints3d: (T, 17, 3) float32 metres, root-relative (pelvis at 0), OpenCV camera axes
        (x right, y down, z forward).
    root: (T, 3) float32 camera-space pelvis position in metres.
    frame_indices: (T,) int64 video frame of each row.
    times_s: optional (T,) float64 seconds of each row's video frame (from the 2D track's
        ``times_s``; strictly increasing): the solve keys a variable-frame-rate clip by them.
        None (older files) = ``frame_indices / fps``.
    extras: more arrays, by name: ``focal_px``, ``width``, ``height`` (the camera the root was
        fitted with) and, for a panning camera, :data:`CAMERA_ROTATION` (T, 3, 3): each frame's
        camera axes -> the first frame's (``inference.camera_motion``; the solve takes it out), and, for
        one of several people in a shot, :data:`ROOT_DEPTH_SCALE` (scalar): the factor on ``root`` that
        puts the person on the shared floor (``rigging.world.shared_world``; the solve applies it).
    """

    joints3d: np.ndarray
    root: np.ndarray
    frame_indices: np.ndarray
    fps: float
    model: str
    scores: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    times_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.joints3d = numeric_array(self.joints3d, MOTION_WHAT, "joints3d").astype(np.float32)
        self.root = numeric_array(self.root, MOTION_WHAT, "root").astype(np.float32)
        self.frame_indices = numeric_array(self.frame_indices, MOTION_WHAT, "frame_indices").astype(np.int64)
        if self.scores is not None:
            self.scores = numeric_array(self.scores, MOTION_WHAT, "scores")
        t = self.joints3d.shape[0] if self.joints3d.ndim == 3 else -1
        if self.joints3d.shape != (t, NUM_JOINTS, 3) or t < 1:
            raise VideoMocapError(f"3D motion: 'joints3d' must have shape (T, 17, 3), got {self.joints3d.shape}.")
        if self.root.shape != (t, 3):
            raise VideoMocapError(f"3D motion: 'root' must have shape ({t}, 3), got {self.root.shape}.")
        if self.frame_indices.shape != (t,):
            raise VideoMocapError(f"3D motion: 'frame_indices' must have shape ({t},), got {self.frame_indices.shape}.")
        if not (np.isfinite(self.joints3d).all() and np.isfinite(self.root).all()):
            raise VideoMocapError("3D motion holds NaN or infinite values; re-run the lifter on a valid 2D track.")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise VideoMocapError(f"3D motion: fps must be a finite positive number, got {self.fps}; write the file again.")
        self.times_s = check_times(self.times_s, t, "3D motion")

    def frame_times(self) -> np.ndarray:
        """(T,) seconds of each row: ``times_s``, or ``frame_indices / fps`` when absent."""
        return frame_times_of(self.times_s, self.frame_indices, self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.joints3d.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        extra = {} if self.scores is None else {"scores": np.asarray(self.scores, dtype=np.float32)}
        extra.update(self.extras)
        if self.times_s is not None:
            extra["times_s"] = self.times_s
        return save_npz_atomic(
            path,
            joints3d=self.joints3d,
            root=self.root,
            frame_indices=self.frame_indices,
            fps=np.float32(self.fps),
            model=np.str_(self.model),
            **extra,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Motion3D":
        data = _load_npz(path, "3D motion", ("joints3d", "root", "frame_indices", "fps", "model"))
        known = {"joints3d", "root", "frame_indices", "fps", "model", "scores", "times_s"}
        return cls(
            joints3d=data["joints3d"],
            root=data["root"],
            frame_indices=data["frame_indices"],
            fps=numeric_scalar(data["fps"], MOTION_WHAT, "fps"),
            model=str(data["model"]),
            scores=data.get("scores"),
            extras={k: v for k, v in data.items() if k not in known},
            times_s=data.get("times_s"),
        )


def check_track_layout(
    keypoints_shape: tuple[int, ...],
    scores_shape: tuple[int, ...],
    frame_indices_shape: tuple[int, ...],
    fps: float,
    width: int,
    height: int,
) -> int:
    """Validate a 2D track's array shapes and metadata; returns T (a clear error otherwise)."""
    t = keypoints_shape[0] if len(keypoints_shape) == 3 else -1
    if tuple(keypoints_shape) != (t, NUM_JOINTS, 2) or t < 1:
        raise VideoMocapError(f"2D track: 'keypoints' must have shape (T, 17, 2), got {tuple(keypoints_shape)}.")
    if tuple(scores_shape) != (t, NUM_JOINTS):
        raise VideoMocapError(f"2D track: 'scores' must have shape ({t}, 17), got {tuple(scores_shape)}.")
    if tuple(frame_indices_shape) != (t,):
        raise VideoMocapError(f"2D track: 'frame_indices' must have shape ({t},), got {tuple(frame_indices_shape)}.")
    if not (np.isfinite(fps) and fps > 0 and width > 0 and height > 0):
        raise VideoMocapError(
            f"2D track: fps, width and height must be finite and positive (got {fps}, {width}, {height}); "
            "write the file again with the video's frame rate and size."
        )
    return t


def check_times(times_s: np.ndarray | None, t: int, what: str) -> np.ndarray | None:
    """Validate optional per-row timestamps: None, or (t,) finite, strictly increasing seconds
    (returned as float64); a clear error otherwise."""
    if times_s is None:
        return None
    times = np.asarray(times_s, dtype=np.float64)
    if times.shape != (t,):
        raise VideoMocapError(f"{what}: 'times_s' must have shape ({t},), got {times.shape}; write the file again.")
    if not np.isfinite(times).all() or (t > 1 and not np.all(np.diff(times) > 0)):
        raise VideoMocapError(
            f"{what}: 'times_s' must be finite, strictly increasing seconds; write the file again."
        )
    return times


def frame_times_of(times_s: np.ndarray | None, frame_indices: np.ndarray, fps: float) -> np.ndarray:
    """(T,) seconds of each row: ``times_s`` when given, else ``frame_indices / fps``."""
    if times_s is not None:
        return np.asarray(times_s, dtype=np.float64)
    return np.asarray(frame_indices, dtype=np.float64) / float(fps)


def numeric_array(value: object, what: str, key: str) -> np.ndarray:
    """``value`` as an array, or a clear error when it does not hold numbers (strings, bytes, objects)."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise VideoMocapError(f"{what}: '{key}' is not an array of numbers ({exc}); write the file again.") from None
    if array.dtype.kind not in NUMERIC_KINDS:
        raise VideoMocapError(
            f"{what}: '{key}' holds {_kind_name(array.dtype)}, not numbers; write the file again with numeric arrays."
        )
    return array


def _kind_name(dtype: np.dtype) -> str:
    return _KIND_NAMES.get(dtype.kind, f"{dtype.name} values")


def numeric_scalar(value: object, what: str, key: str) -> float:
    """A one-element numeric array (or number) as a float, or a clear error."""
    array = numeric_array(value, what, key)
    if array.size != 1:
        raise VideoMocapError(f"{what}: '{key}' must be one number, got an array of shape {array.shape}.")
    return float(array.reshape(()))


def check_track_values(keypoints: np.ndarray, scores: np.ndarray, width: int, height: int) -> None:
    """A clear error when (some rows of) a track hold NaN / infinite keypoints, keypoints far
    outside the image (not pixels of this video), or scores that are not in [0, 1].

    keypoints: (n, 17, 2) pixels; scores: (n, 17); width, height: the image size.
    """
    if not np.isfinite(keypoints).all():
        raise VideoMocapError("2D track: 'keypoints' holds NaN or infinite values; re-run detection.")
    reach = MAX_FRAMES_OUTSIDE * max(width, height)
    centre = np.array([0.5 * width, 0.5 * height], dtype=np.float64)
    offset = np.abs(keypoints.astype(np.float64) - centre)
    if keypoints.size and offset.max() > reach:
        worst = keypoints.reshape(-1, 2)[int(np.argmax(offset.reshape(-1, 2).max(axis=1)))]
        raise VideoMocapError(
            f"2D track: a keypoint lies at ({worst[0]:.4g}, {worst[1]:.4g}) px, more than {MAX_FRAMES_OUTSIDE:g} frame "
            f"sizes outside the {width}x{height} image: the keypoints are not pixel coordinates of this video "
            "(another resolution, or a broken export?). Re-run detection on the video."
        )
    if not np.isfinite(scores).all() or (scores.size and (scores.min() < 0.0 or scores.max() > 1.0)):
        low, high = np.nanmin(scores), np.nanmax(scores)
        raise VideoMocapError(
            f"2D track: 'scores' must be confidences in [0, 1], got values from {low:.4g} to {high:.4g}"
            f"{' and NaN' if np.isnan(scores).any() else ''}; write the scores as 0..1 (divide percentages by 100)."
        )


class LiftCheck:
    """What the lifter needs of a 2D track beyond valid values, checked block by block before
    any model loads: every frame shows a person (joints not all at one point), some joint is
    scored somewhere; and a warning for joints missing from most frames (:meth:`finish`)."""

    def __init__(self) -> None:
        self.frames = 0
        self.missing = np.zeros(NUM_JOINTS, dtype=np.int64)
        self.degenerate = 0
        self.first_degenerate = -1

    def add(self, keypoints: np.ndarray, scores: np.ndarray) -> None:
        """The next rows: keypoints (n, 17, 2) pixels, scores (n, 17)."""
        extent = keypoints.max(axis=1) - keypoints.min(axis=1)  # (n, 2)
        flat = np.flatnonzero((extent < MIN_POSE_EXTENT_PX).all(axis=1))
        if flat.size and self.first_degenerate < 0:
            self.first_degenerate = self.frames + int(flat[0])
        self.degenerate += int(flat.size)
        self.missing += (scores < MIN_JOINT_SCORE).sum(axis=0)
        self.frames += keypoints.shape[0]

    def finish(self, source: str = TRACK_WHAT) -> None:
        """Raise for a track the lifter cannot use; warn (log) about joints missing from most frames."""
        if self.degenerate:
            which = "every frame has" if self.degenerate == self.frames else (
                f"{self.degenerate} of {self.frames} frames (the first is row {self.first_degenerate}) have")
            raise VideoMocapError(
                f"{source}: {which} all 17 joints within {MIN_POSE_EXTENT_PX:g} pixel of one point (e.g. all at 0, 0): "
                "that is no person's pose, and the lifter and the root fit cannot use it. Re-run detection, or "
                "drop those frames from the track."
            )
        if self.frames and (self.missing == self.frames).all():
            raise VideoMocapError(
                f"{source}: every joint is scored below {MIN_JOINT_SCORE:g} in every frame (e.g. all scores 0): "
                "nothing was detected, and the lifter would guess blindly. Re-run detection, or write the "
                "detector's confidences into 'scores'."
            )
        fraction = self.missing / max(self.frames, 1)
        missing = [f"{JOINT_NAMES[j]} ({100 * fraction[j]:.0f}%)" for j in np.flatnonzero(fraction > MISSING_JOINT_WARN_FRACTION)]
        if missing:
            log.warning(
                "%s: joints missing (scored below %g) in most frames: %s; the lifter guesses them from the "
                "others, so expect them to be less accurate.", source, MIN_JOINT_SCORE, ", ".join(missing),
            )


def check_liftable(keypoints: np.ndarray, scores: np.ndarray, source: str = TRACK_WHAT) -> None:
    """:class:`LiftCheck` of a whole track: keypoints (T, 17, 2) pixels, scores (T, 17)."""
    check = LiftCheck()
    check.add(np.asarray(keypoints), np.asarray(scores))
    check.finish(source)


# ---------------------------------------------------------------------------------------
# streaming: one array of an .npz, block of rows by block of rows (hour-long tracks)
# ---------------------------------------------------------------------------------------
_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class NpzArrayReader:
    """Reads the array ``key`` of an open ``.npz`` (``zipfile.ZipFile``) in blocks of rows.

    Only the header is read on opening; :meth:`read` returns the next rows, so a file of any
    length is read with the memory of one block. Works for stored and compressed archives.
    """

    def __init__(self, archive: zipfile.ZipFile, key: str, what: str) -> None:
        try:
            self._handle = archive.open(f"{key}.npy")
            version = np.lib.format.read_magic(self._handle)
            if version not in _NPY_HEADER_READERS:
                raise ValueError(f"unsupported .npy version {version}")
            self.shape, fortran_order, self.dtype = _NPY_HEADER_READERS[version](self._handle)
        except (KeyError, ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise VideoMocapError(f"{what}: cannot read '{key}' ({exc}); write the file again.") from None
        if self.dtype.hasobject:
            raise VideoMocapError(
                f"{what}: '{key}' holds Python objects (pickled data, never loaded: it could run code); write the "
                "file again with numeric arrays."
            )
        if fortran_order or not self.shape:
            raise VideoMocapError(f"{what}: '{key}' is not a plain C-ordered numeric array; write the file again.")
        if self.dtype.kind not in NUMERIC_KINDS:
            raise VideoMocapError(
                f"{what}: '{key}' holds {_kind_name(self.dtype)}, not numbers; write the file again with numeric arrays."
            )
        self._what, self._key = what, key
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self.rows_read = 0

    def read(self, rows: int) -> np.ndarray:
        """The next ``min(rows, left)`` rows, shape (n, *shape[1:])."""
        rows = min(rows, self.shape[0] - self.rows_read)
        wanted = rows * self._row_bytes
        try:
            data = self._handle.read(wanted)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a bad CRC or a broken compressed stream
            raise VideoMocapError(f"{self._what}: '{self._key}' is damaged ({exc}); write the file again.") from None
        if len(data) != wanted:
            raise VideoMocapError(f"{self._what}: '{self._key}' is cut short; write the file again.")
        self.rows_read += rows
        return np.frombuffer(data, dtype=self.dtype).reshape((rows,) + tuple(self.shape[1:]))

    def close(self) -> None:
        self._handle.close()


def write_npz_array_blocks(
    archive: zipfile.ZipFile, key: str, shape: tuple[int, ...], dtype: np.dtype, blocks: Iterable[np.ndarray]
) -> None:
    """Write the array ``key`` of ``shape`` into an ``.npz`` being written, block of rows by block.

    Readable by ``np.load`` like an array written by ``np.savez``. Raises ``ValueError`` when
    the blocks do not add up to ``shape``.
    """
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    rows = 0
    with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_1_0(member, header)
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=dtype)
            if block.shape[1:] != tuple(shape[1:]):
                raise ValueError(f"'{key}': a block of shape {block.shape} in an array of shape {shape}")
            member.write(block.tobytes())
            rows += block.shape[0]
    if rows != shape[0]:
        raise ValueError(f"'{key}': {rows} rows written, {shape[0]} declared")


def write_npz_arrays(archive: zipfile.ZipFile, **arrays: np.ndarray) -> None:
    """Write small arrays whole into an ``.npz`` being written (as ``np.savez`` does)."""
    for key, value in arrays.items():
        with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


class TrackFile:
    """A 2D track file opened for streaming: its metadata now, keypoints and scores block by block.

    Validated like :meth:`Track2D.load` (shapes and metadata on opening, keypoints and scores
    block by block; :meth:`check_liftable` reads it all once up front), without holding the (T, 17, 2) keypoints: for tracks of any length. Use as a
    context manager.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._archive = _open_npz(self.path, TRACK_WHAT, TRACK_REQUIRED)
        try:
            self.fps = numeric_scalar(self._archive["fps"], TRACK_WHAT, "fps")
            self.width = int(numeric_scalar(self._archive["width"], TRACK_WHAT, "width"))
            self.height = int(numeric_scalar(self._archive["height"], TRACK_WHAT, "height"))
            self.frame_indices = numeric_array(self._archive["frame_indices"], TRACK_WHAT, "frame_indices").astype(np.int64)
            self.focal_px = (numeric_scalar(self._archive["focal_px"], TRACK_WHAT, "focal_px")
                             if "focal_px" in self._archive.files else None)
            self.times_s = self._archive["times_s"] if "times_s" in self._archive.files else None
            shapes = {}
            for key in ("keypoints", "scores"):
                reader = NpzArrayReader(self._archive.zip, key, TRACK_WHAT)
                shapes[key] = reader.shape
                reader.close()
            self.num_frames = check_track_layout(shapes["keypoints"], shapes["scores"], self.frame_indices.shape,
                                                 self.fps, self.width, self.height)
            self.times_s = check_times(self.times_s, self.num_frames, TRACK_WHAT)
        except (zipfile.BadZipFile, ValueError, TypeError, OSError, EOFError) as exc:
            self.close()
            raise VideoMocapError(f"{TRACK_WHAT} file {self.path} is not a readable .npz ({exc}); write it again.") from None
        except VideoMocapError:
            self.close()
            raise

    def iter_blocks(self, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(keypoints (n, 17, 2), scores (n, 17)) float32, ``rows`` frames at a time, in order."""
        keypoints = NpzArrayReader(self._archive.zip, "keypoints", TRACK_WHAT)
        scores = NpzArrayReader(self._archive.zip, "scores", TRACK_WHAT)
        try:
            while keypoints.rows_read < self.num_frames:
                block = keypoints.read(rows).astype(np.float32)
                block_scores = scores.read(rows).astype(np.float32)
                check_track_values(block, block_scores, self.width, self.height)
                yield block, block_scores
        finally:
            keypoints.close()
            scores.close()

    def check_liftable(self, rows: int = 8192) -> None:
        """Read the whole track once (``rows`` frames at a time) and run the checks :meth:`iter_blocks`
        and :class:`LiftCheck` make, so a bad track fails (and warns) before any model loads."""
        check = LiftCheck()
        for keypoints, scores in self.iter_blocks(rows):
            check.add(keypoints, scores)
        check.finish(f"{TRACK_WHAT} {self.path}")

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> "TrackFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_npz(path: Path, what: str, required: tuple[str, ...]) -> "np.lib.npyio.NpzFile":
    """``np.load`` of an .npz (lazy: arrays are read when asked for), with clear errors."""
    if path.is_dir():
        raise VideoMocapError(f"{path} is a folder, not a {what} file (.npz); give the path of the file.")
    if not path.is_file():
        raise VideoMocapError(f"{what} file not found: {path}. Check the path.")
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise VideoMocapError(f"{what} file {path} is not a readable .npz ({exc}); write it again.") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise VideoMocapError(f"{what} file {path} is a single array, not an .npz archive; write it again.")
    missing = [key for key in required if key not in archive.files]
    if missing:
        archive.close()
        raise VideoMocapError(f"{what} file {path} lacks {', '.join(missing)}; is it the right kind of file?")
    return archive


def _load_npz(path: str | os.PathLike, what: str, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(path)
    archive = _open_npz(path, what, required)
    try:
        with archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise VideoMocapError(f"{what} file {path} is not a readable .npz ({exc}); write it again.") from None
