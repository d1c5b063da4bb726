"""The files between stages: the 2D track file and the 3D motion file (see README).

Both are ``.npz`` archives written atomically. Readers validate every field and raise
:class:`~video_mocap.core.errors.VideoMocapError` with a message that says what is wrong.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import VideoMocapError
from .atomic import save_npz_atomic
from .skeleton import NUM_JOINTS

TRACK_WHAT = "2D track"
TRACK_REQUIRED = ("keypoints", "scores", "frame_indices", "fps", "width", "height")


@dataclass
class Track2D:
    """One person's 2D track in H36M-17 order.

    keypoints: (T, 17, 2) float32 pixels, x right, y down.
    scores: (T, 17) float32 in [0, 1] (0 = joint missing / filled by interpolation).
    frame_indices: (T,) int64 index of each row in the source video.
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

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        check_track_layout(self.keypoints.shape, self.scores.shape, self.frame_indices.shape,
                           self.fps, self.width, self.height)
        check_track_keypoints(self.keypoints)

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        extra = {} if self.focal_px is None else {"focal_px": np.float32(self.focal_px)}
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
            fps=float(data["fps"]),
            width=int(data["width"]),
            height=int(data["height"]),
            focal_px=float(data["focal_px"]) if "focal_px" in data else None,
            track_id=int(data["track_id"]) if "track_id" in data else -1,
            video=str(data["video"]) if "video" in data else "",
        )


@dataclass
class Motion3D:
    """Lifted 3D motion.

    joints3d: (T, 17, 3) float32 metres, root-relative (pelvis at 0), OpenCV camera axes
        (x right, y down, z forward).
    root: (T, 3) float32 camera-space pelvis position in metres.
    """

    joints3d: np.ndarray
    root: np.ndarray
    frame_indices: np.ndarray
    fps: float
    model: str
    scores: np.ndarray | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.joints3d = np.asarray(self.joints3d, dtype=np.float32)
        self.root = np.asarray(self.root, dtype=np.float32)
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        t = self.joints3d.shape[0] if self.joints3d.ndim == 3 else -1
        if self.joints3d.shape != (t, NUM_JOINTS, 3) or t < 1:
            raise VideoMocapError(f"3D motion: 'joints3d' must have shape (T, 17, 3), got {self.joints3d.shape}.")
        if self.root.shape != (t, 3):
            raise VideoMocapError(f"3D motion: 'root' must have shape ({t}, 3), got {self.root.shape}.")
        if self.frame_indices.shape != (t,):
            raise VideoMocapError(f"3D motion: 'frame_indices' must have shape ({t},), got {self.frame_indices.shape}.")
        if not (np.isfinite(self.joints3d).all() and np.isfinite(self.root).all()):
            raise VideoMocapError("3D motion holds NaN or infinite values; re-run the lifter on a valid 2D track.")
        if not self.fps > 0:
            raise VideoMocapError(f"3D motion: fps must be positive, got {self.fps}.")

    @property
    def num_frames(self) -> int:
        return int(self.joints3d.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        extra = {} if self.scores is None else {"scores": np.asarray(self.scores, dtype=np.float32)}
        extra.update(self.extras)
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
        known = {"joints3d", "root", "frame_indices", "fps", "model", "scores"}
        return cls(
            joints3d=data["joints3d"],
            root=data["root"],
            frame_indices=data["frame_indices"],
            fps=float(data["fps"]),
            model=str(data["model"]),
            scores=data.get("scores"),
            extras={k: v for k, v in data.items() if k not in known},
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
    if not (fps > 0 and width > 0 and height > 0):
        raise VideoMocapError(f"2D track: fps, width and height must be positive (got {fps}, {width}, {height}).")
    return t


def check_track_keypoints(keypoints: np.ndarray) -> None:
    """A clear error when (some rows of) a track's keypoints hold NaN or infinite values."""
    if not np.isfinite(keypoints).all():
        raise VideoMocapError("2D track: 'keypoints' holds NaN or infinite values; re-run detection.")


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
        if fortran_order or self.dtype.hasobject or not self.shape:
            raise VideoMocapError(f"{what}: '{key}' is not a plain C-ordered numeric array; write the file again.")
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

    Validated like :meth:`Track2D.load` (shapes and metadata on opening, keypoints block by
    block), without holding the (T, 17, 2) keypoints: for tracks of any length. Use as a
    context manager.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._archive = _open_npz(self.path, TRACK_WHAT, TRACK_REQUIRED)
        try:
            self.fps = float(self._archive["fps"])
            self.width = int(self._archive["width"])
            self.height = int(self._archive["height"])
            self.frame_indices = np.asarray(self._archive["frame_indices"], dtype=np.int64)
            self.focal_px = float(self._archive["focal_px"]) if "focal_px" in self._archive.files else None
            shapes = {}
            for key in ("keypoints", "scores"):
                reader = NpzArrayReader(self._archive.zip, key, TRACK_WHAT)
                shapes[key] = reader.shape
                reader.close()
            self.num_frames = check_track_layout(shapes["keypoints"], shapes["scores"], self.frame_indices.shape,
                                                 self.fps, self.width, self.height)
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
                check_track_keypoints(block)
                yield block, scores.read(rows).astype(np.float32)
        finally:
            keypoints.close()
            scores.close()

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> "TrackFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_npz(path: Path, what: str, required: tuple[str, ...]) -> "np.lib.npyio.NpzFile":
    """``np.load`` of an .npz (lazy: arrays are read when asked for), with clear errors."""
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
