"""The files between stages: the 2D track file and the 3D motion file (see README).

Both are ``.npz`` archives written atomically. Readers validate every field and raise
:class:`~video_mocap.errors.VideoMocapError` with a message that says what is wrong.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VideoMocapError
from ..io_utils import save_npz_atomic
from .skeleton import NUM_JOINTS


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
        t = self.keypoints.shape[0] if self.keypoints.ndim == 3 else -1
        if self.keypoints.shape != (t, NUM_JOINTS, 2) or t < 1:
            raise VideoMocapError(f"2D track: 'keypoints' must have shape (T, 17, 2), got {self.keypoints.shape}.")
        if self.scores.shape != (t, NUM_JOINTS):
            raise VideoMocapError(f"2D track: 'scores' must have shape ({t}, 17), got {self.scores.shape}.")
        if self.frame_indices.shape != (t,):
            raise VideoMocapError(f"2D track: 'frame_indices' must have shape ({t},), got {self.frame_indices.shape}.")
        if not np.isfinite(self.keypoints).all():
            raise VideoMocapError("2D track: 'keypoints' holds NaN or infinite values; re-run detection.")
        if not (self.fps > 0 and self.width > 0 and self.height > 0):
            raise VideoMocapError(
                f"2D track: fps, width and height must be positive (got {self.fps}, {self.width}, {self.height})."
            )

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
        data = _load_npz(path, "2D track", ("keypoints", "scores", "frame_indices", "fps", "width", "height"))
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


def _load_npz(path: str | os.PathLike, what: str, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(f"{what} file not found: {path}. Check the path.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise VideoMocapError(f"{what} file {path} is not a readable .npz ({exc}); write it again.") from None
    missing = [key for key in required if key not in data]
    if missing:
        raise VideoMocapError(f"{what} file {path} lacks {', '.join(missing)}; is it the right kind of file?")
    return data
