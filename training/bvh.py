"""BVH reader and vectorised forward kinematics.

What real files hold, and how it is read:

- Any number of joints, each with 0 (End Site), 3 or 6 channels, in any order of the six
  channel names ``Xposition Yposition Zposition Xrotation Yrotation Zrotation``.
- The Euler order comes from the order of the rotation channels: ``Zrotation Xrotation
  Yrotation`` means ``R = Rz @ Rx @ Ry`` (intrinsic rotations, the BVH convention), applied
  to child offsets. Angles are in degrees.
- A joint's local translation is its OFFSET; position channels, where a joint has them,
  *replace* the matching OFFSET component (for the root this is the root motion; below the
  root, files such as Bandai's repeat the OFFSET in them).
- End Sites become joints named ``<parent>_End`` with no channels, so that the direction
  of a last bone (e.g. the head) is known.
- Units: whatever the file uses; :func:`forward_kinematics` takes a ``scale`` (Bandai is
  centimetres: ``scale=0.01`` gives metres).

Errors raise :class:`~video_mocap.core.errors.VideoMocapError` naming the file and the line.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError

logger = logging.getLogger(__name__)

CHANNEL_NAMES: tuple[str, ...] = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_AXIS = {"X": 0, "Y": 1, "Z": 2}
END_SITE_SUFFIX = "_End"


@dataclass
class BvhData:
    """A parsed BVH file.

    names: (J,) joint names (End Sites as ``<parent>_End``), parents before children.
    parents: (J,) int parent index (-1 for the root).
    offsets: (J, 3) float64 OFFSETs in file units.
    channels: per joint, its channel names in file order (empty for End Sites).
    channel_start: (J,) int index of each joint's first channel in a motion row.
    motion: (F, C) float64 channel values.
    frame_time: seconds per frame.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    channel_start: np.ndarray
    motion: np.ndarray
    frame_time: float
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise VideoMocapError(
                f"BVH {self.path or '<data>'}: no joint named {name!r}; joints are: {', '.join(self.names)}."
            ) from None


class _Tokens:
    """Whitespace tokens of the HIERARCHY part, with their line numbers (for errors)."""

    def __init__(self, lines: list[str], path: str) -> None:
        self.items: list[tuple[str, int]] = []
        for number, line in enumerate(lines, start=1):
            for token in line.split():
                self.items.append((token, number))
        self.pos = 0
        self.path = path

    def error(self, message: str, line: int | None = None) -> VideoMocapError:
        if line is None:
            line = self.items[min(self.pos, len(self.items) - 1)][1] if self.items else 0
        return VideoMocapError(f"BVH {self.path}, line {line}: {message}")

    def next(self) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error("unexpected end of the HIERARCHY section (missing '}' or MOTION?).")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> int:
        token, line = self.next()
        if token != word:
            raise self.error(f"expected {word!r}, found {token!r}.", line)
        return line

    def number(self) -> float:
        token, line = self.next()
        try:
            return float(token)
        except ValueError:
            raise self.error(f"expected a number, found {token!r}.", line) from None

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None


def _parse_joint(tokens: _Tokens, name: str, parent: int, out: dict) -> None:
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    tokens.expect("{")
    tokens.expect("OFFSET")
    out["offsets"].append([tokens.number(), tokens.number(), tokens.number()])
    channels: tuple[str, ...] = ()
    if tokens.peek() == "CHANNELS":
        tokens.next()
        count_token, line = tokens.next()
        if count_token not in {"0", "3", "6"}:
            raise tokens.error(f"joint {name!r}: CHANNELS count must be 3 or 6, got {count_token!r}.", line)
        names = []
        for _ in range(int(count_token)):
            channel, line = tokens.next()
            if channel not in CHANNEL_NAMES:
                raise tokens.error(
                    f"joint {name!r}: unknown channel {channel!r} (expected one of {', '.join(CHANNEL_NAMES)}).", line
                )
            names.append(channel)
        if len(set(names)) != len(names):
            raise tokens.error(f"joint {name!r}: repeated channel in {names}.", line)
        channels = tuple(names)
    out["channels"].append(channels)
    while True:
        token, line = tokens.next()
        if token == "}":
            return
        if token == "JOINT":
            child, _ = tokens.next()
            _parse_joint(tokens, child, index, out)
        elif token == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            out["names"].append(name + END_SITE_SUFFIX)
            out["parents"].append(index)
            out["offsets"].append([tokens.number(), tokens.number(), tokens.number()])
            out["channels"].append(())
            tokens.expect("}")
        else:
            raise tokens.error(f"joint {name!r}: expected JOINT, End Site or '}}', found {token!r}.", line)


def read_bvh(path: str | os.PathLike) -> BvhData:
    """Parse a BVH file (see the module docstring for what is supported).

    Raises:
        VideoMocapError: missing file, or a malformed file (with the line number).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise VideoMocapError(f"Cannot read BVH file {path}: {exc.strerror or exc}.") from None
    return parse_bvh(text, str(path))


def parse_bvh(text: str, path: str = "<string>") -> BvhData:
    """Parse BVH text (``path`` is only used in error messages)."""
    lines = text.splitlines()
    motion_line = next((i for i, line in enumerate(lines) if line.strip().upper().startswith("MOTION")), None)
    if motion_line is None:
        raise VideoMocapError(f"BVH {path}: no MOTION section; is this a BVH file?")
    tokens = _Tokens(lines[:motion_line], path)
    first, line = tokens.next() if tokens.items else ("", 1)
    if first != "HIERARCHY":
        raise tokens.error(f"expected 'HIERARCHY' at the start, found {first!r}.", line)
    tokens.expect("ROOT")
    root_name, _ = tokens.next()
    out: dict = {"names": [], "parents": [], "offsets": [], "channels": []}
    _parse_joint(tokens, root_name, -1, out)
    if tokens.peek() is not None:
        token, line = tokens.next()
        raise tokens.error(f"unexpected {token!r} after the root joint (only one ROOT is supported).", line)

    header = lines[motion_line + 1 : motion_line + 3]
    if len(header) < 2:
        raise VideoMocapError(f"BVH {path}, line {motion_line + 2}: expected 'Frames:' and 'Frame Time:' lines.")
    num_frames = _header_value(header[0], "Frames:", path, motion_line + 2, int)
    frame_time = _header_value(header[1], "Frame Time:", path, motion_line + 3, float)
    if frame_time <= 0:
        raise VideoMocapError(f"BVH {path}, line {motion_line + 3}: Frame Time must be positive, got {frame_time}.")

    channels = out["channels"]
    counts = np.array([len(c) for c in channels], dtype=np.int64)
    num_channels = int(counts.sum())
    data_start = motion_line + 3
    body = "\n".join(lines[data_start:])
    try:
        values = np.array(body.split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != num_frames * num_channels:
        _locate_motion_error(lines, data_start, num_frames, num_channels, path)
    motion = values.reshape(num_frames, num_channels)
    if not np.isfinite(motion).all():
        bad = int(np.argwhere(~np.isfinite(motion))[0, 0])
        raise VideoMocapError(f"BVH {path}, line {data_start + bad + 1}: NaN or infinite channel value.")
    return BvhData(
        names=out["names"],
        parents=np.array(out["parents"], dtype=np.int64),
        offsets=np.array(out["offsets"], dtype=np.float64),
        channels=[tuple(c) for c in channels],
        channel_start=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64),
        motion=motion,
        frame_time=float(frame_time),
        path=path,
    )


def _header_value(line: str, label: str, path: str, number: int, kind):
    stripped = line.strip()
    if not stripped.startswith(label):
        raise VideoMocapError(f"BVH {path}, line {number}: expected '{label}', found {stripped[:40]!r}.")
    try:
        return kind(stripped[len(label) :].strip())
    except ValueError:
        raise VideoMocapError(f"BVH {path}, line {number}: bad value after '{label}': {stripped!r}.") from None


def _locate_motion_error(lines: list[str], start: int, num_frames: int, num_channels: int, path: str) -> None:
    """Find the first bad motion line and raise (slow path, only on error)."""
    rows = [line for line in lines[start:]]
    data_rows = 0
    for offset, line in enumerate(rows):
        parts = line.split()
        if not parts:
            continue
        number = start + offset + 1
        try:
            [float(p) for p in parts]
        except ValueError:
            raise VideoMocapError(f"BVH {path}, line {number}: motion data holds a non-number.") from None
        if len(parts) != num_channels:
            raise VideoMocapError(
                f"BVH {path}, line {number}: {len(parts)} values, but the hierarchy declares {num_channels} channels."
            )
        data_rows += 1
    raise VideoMocapError(
        f"BVH {path}: 'Frames: {num_frames}' but the file holds {data_rows} motion lines (truncated file?)."
    )


def local_transforms(bvh: BvhData) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local rotations and translations of every joint.

    Returns:
        rotations (F, J, 3, 3) and translations (F, J, 3) in file units.
    """
    from scipy.spatial.transform import Rotation

    num_frames, num_joints = bvh.num_frames, bvh.num_joints
    rotations = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
    translations = np.broadcast_to(bvh.offsets, (num_frames, num_joints, 3)).copy()
    for j, channels in enumerate(bvh.channels):
        if not channels:
            continue
        start = bvh.channel_start[j]
        order = ""
        rot_cols = []
        for k, channel in enumerate(channels):
            axis = _AXIS[channel[0]]
            if channel.endswith("position"):
                translations[:, j, axis] = bvh.motion[:, start + k]
            else:
                order += channel[0]
                rot_cols.append(start + k)
        if order:
            angles = bvh.motion[:, rot_cols]
            # Upper-case axes: intrinsic rotations, R = R_first @ R_second @ R_third (BVH convention).
            rotations[:, j] = Rotation.from_euler(order.upper(), angles, degrees=True).as_matrix()
    return rotations, translations


def forward_kinematics(
    bvh: BvhData, scale: float = 1.0, return_rotations: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """World positions of every joint over all frames (vectorised over frames).

    Args:
        bvh: parsed file.
        scale: multiplies lengths (e.g. 0.01 for centimetre files -> metres).
        return_rotations: also return (F, J, 3, 3) global rotations.

    Returns:
        (F, J, 3) float64 positions in the file's world axes, times ``scale``
        (and the global rotations when asked).
    """
    local_rot, local_trans = local_transforms(bvh)
    local_trans *= scale
    num_frames, num_joints = bvh.num_frames, bvh.num_joints
    global_rot = np.empty_like(local_rot)
    positions = np.empty((num_frames, num_joints, 3), dtype=np.float64)
    for j, parent in enumerate(bvh.parents):
        if parent < 0:
            global_rot[:, j] = local_rot[:, j]
            positions[:, j] = local_trans[:, j]
        else:
            global_rot[:, j] = global_rot[:, parent] @ local_rot[:, j]
            positions[:, j] = positions[:, parent] + np.einsum("fab,fb->fa", global_rot[:, parent], local_trans[:, j])
    if return_rotations:
        return positions, global_rot
    return positions
