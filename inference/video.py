"""Streaming video decode with OpenCV: probe a clip, then iterate its frames one by one.

Frames are the *displayed* ones: a clip's rotation metadata (phones record portrait video as
landscape frames plus a rotation) is applied (``CAP_PROP_ORIENTATION_AUTO``, or by hand where
the backend cannot), so frames, width and height are what a player shows. Each frame comes
with its own timestamp (``CAP_PROP_POS_MSEC``): variable-frame-rate clips are timed by them.

Never holds the whole video in memory. Every problem a user can fix (missing file, not a
video, truncated download, a single frame) raises :class:`~video_mocap.core.errors.VideoMocapError`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.errors import VideoMocapError

log = logging.getLogger(__name__)

#: FFmpeg's own log lines ("moov atom not found"...) would print beside the one clear message a bad
#: video gets; read by OpenCV when it opens its first capture. Set the variable (e.g. 16 = warnings)
#: to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

#: the lifters need motion: a clip must have at least this many frames
MIN_FRAMES = 2
#: number of frames whose timestamps :func:`probe_video` reads to detect a variable frame rate
PROBE_TIMESTAMP_FRAMES = 300
#: a clip is variable-frame-rate when its frame intervals spread more than this (relative to the median)
VFR_RELATIVE_SPREAD = 0.25
#: quantile range used for the interval spread (ignores one-off glitches at the ends)
VFR_QUANTILES = (0.05, 0.95)
#: fps assumed when neither the header nor the timestamps give one
FALLBACK_FPS = 30.0
_MS_PER_S = 1000.0


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learned about a clip.

    ``num_frames`` is the number the container header announces (a truncated file may decode
    fewer; :func:`iter_frames` warns then). ``fps`` is the header rate, or for a
    variable-frame-rate clip the rate of its median frame interval over the probed timestamps
    (a phone clip that drops from 30 to 15 fps in low light: 30). ``width`` and ``height`` are
    the displayed size, after ``rotation_deg`` (the clockwise rotation of the metadata, 0, 90,
    180 or 270) is applied. ``start_time_s``: the first frame's timestamp (the 2D stage times
    frames from it, so that frame 0 is at 0 s).
    """

    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    variable_fps: bool = False
    rotation_deg: int = 0
    start_time_s: float = 0.0


def check_video_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path, or a clear error when it is missing, a folder or empty (no OpenCV needed)."""
    path = Path(path)
    if not path.exists():
        raise VideoMocapError(f"Video not found: {path}. Check the path.")
    if path.is_dir():
        raise VideoMocapError(f"{path} is a folder, not a video file; give the path of a video (.mp4, .mov, .avi...).")
    if not path.is_file():
        raise VideoMocapError(f"{path} is not a regular file; give the path of a video file (.mp4, .mov, .avi...).")
    if path.stat().st_size == 0:
        raise VideoMocapError(f"Video {path} is empty (0 bytes); copy or download it again.")
    return path


#: bytes of a file's head read to recognise an audio-only file
_SNIFF_BYTES = 1 << 16
#: largest ``moov`` box read to list an MP4's tracks
_MAX_MOOV_BYTES = 64 << 20


def _mp4_handlers(handle, file_size: int) -> list[bytes]:
    """Handler types (b"vide", b"soun", ...) of the tracks of an ISO media file (MP4/M4A/MOV)."""
    offset = 0
    while offset + 8 <= file_size:
        handle.seek(offset)
        header = handle.read(16)
        size, kind = int.from_bytes(header[:4], "big"), header[4:8]
        body = 8
        if size == 1 and len(header) == 16:
            size, body = int.from_bytes(header[8:16], "big"), 16
        elif size == 0:
            size = file_size - offset
        if size < body:
            return []
        if kind == b"moov":
            if size > _MAX_MOOV_BYTES:
                return []
            handle.seek(offset + body)
            moov = handle.read(size - body)
            handlers, at = [], moov.find(b"hdlr")
            while at >= 0:
                handlers.append(moov[at + 12 : at + 16])  # after version/flags and pre_defined
                at = moov.find(b"hdlr", at + 4)
            return handlers
        offset += size
    return []


#: kbit/s of MPEG audio layer III by bitrate index: MPEG-1, then MPEG-2 / 2.5
_MP3_KBPS = ((0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160))
_MP3_RATES = (44100, 48000, 32000)


def _audio_frame_length(head: bytes, at: int) -> int:
    """Length in bytes of the MP3 (layer III) or ADTS AAC frame starting at ``at``, or 0 when none does."""
    if at + 7 > len(head) or head[at] != 0xFF or head[at + 1] & 0xE0 != 0xE0:
        return 0
    version, layer = (head[at + 1] >> 3) & 3, (head[at + 1] >> 1) & 3
    if layer == 0 and head[at + 1] & 0xF6 == 0xF0:  # ADTS: 12-bit sync, layer 0
        return ((head[at + 3] & 3) << 11) | (head[at + 4] << 3) | (head[at + 5] >> 5)
    bitrate, rate = head[at + 2] >> 4, (head[at + 2] >> 2) & 3
    if layer != 1 or version == 1 or bitrate in (0, 15) or rate == 3:
        return 0
    mpeg1 = version == 3
    hz = _MP3_RATES[rate] // (1 if mpeg1 else 2 if version == 2 else 4)
    return (144000 if mpeg1 else 72000) * _MP3_KBPS[0 if mpeg1 else 1][bitrate] // hz + ((head[at + 2] >> 1) & 1)


def _mpeg_audio_frames(head: bytes) -> bool:
    """``head`` starts with two consecutive MP3 / ADTS AAC frames (random bytes almost never do)."""
    length = _audio_frame_length(head, 0)
    return length > 7 and _audio_frame_length(head, length) > 7


def audio_only_kind(path: str | os.PathLike) -> str | None:
    """What an audio-only file is ("WAV audio", "an MP4/M4A with only audio tracks"...), from its
    first bytes; None when it is not recognisably audio-only (maybe a video, maybe neither)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
            if head[4:8] == b"ftyp":
                handlers = _mp4_handlers(handle, os.fstat(handle.fileno()).st_size)
                if b"soun" in handlers and b"vide" not in handlers:
                    return "an MP4/M4A/MOV with only audio tracks"
                return None
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV audio"
    if head[:4] == b"fLaC":
        return "FLAC audio"
    if head[:3] == b"ID3" or _mpeg_audio_frames(head):
        return "MP3/AAC audio"
    if head[:4] == b"OggS" and b"theora" not in head and any(c in head for c in (b"vorbis", b"OpusHead", b"FLAC")):
        return "Ogg audio"
    return None


def _no_video_stream(path: Path) -> VideoMocapError | None:
    kind = audio_only_kind(path)
    if kind is None:
        return None
    return VideoMocapError(f"{path} has no video stream (it is {kind}); give a video file with the person in it.")


def _open(path: Path):
    """Open ``path`` with OpenCV, or raise a clear error (missing, a folder, audio only, not a video)."""
    import cv2  # opencv is a hard dependency of the 2D stage, imported here to keep import light

    check_video_file(path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise _no_video_stream(path) or VideoMocapError(
            f"Cannot read {path} as a video: it is not a video OpenCV/FFmpeg can decode, or it is truncated "
            "(an unfinished download or copy). Re-encode it to H.264 .mp4, or copy it again."
        )
    return cap


#: metadata rotation (clockwise degrees) -> the ``cv2.rotate`` code that applies it
_ROTATE_CODES = {90: "ROTATE_90_CLOCKWISE", 180: "ROTATE_180", 270: "ROTATE_90_COUNTERCLOCKWISE"}


def _orient(cap) -> tuple[int, int | None]:
    """Make ``cap`` deliver displayed frames: (metadata rotation in clockwise degrees, and the
    ``cv2.rotate`` code to apply by hand, None when OpenCV rotates itself or nothing is to do).

    OpenCV 4.11's FFmpeg backend reads the rotation (``CAP_PROP_ORIENTATION_META``) but does
    not apply it unless ``CAP_PROP_ORIENTATION_AUTO`` is set; a backend that cannot gets the
    frames rotated here.
    """
    import cv2

    rotation = int(round(float(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0.0))) % 360
    auto = bool(cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)) and cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1
    if rotation not in _ROTATE_CODES or auto:
        return (rotation if rotation in _ROTATE_CODES else 0), None
    return rotation, getattr(cv2, _ROTATE_CODES[rotation])


def _interval_stats(timestamps_ms: list[float]) -> tuple[float, float] | None:
    """Median frame interval (s) and relative spread from decoded timestamps; None if too few."""
    ts = np.asarray(timestamps_ms, dtype=np.float64)
    diffs = np.diff(ts)
    diffs = diffs[diffs > 0]
    if diffs.size < MIN_FRAMES:
        return None
    median = float(np.median(diffs))
    low, high = np.quantile(diffs, VFR_QUANTILES)
    return median / _MS_PER_S, float((high - low) / median)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a clip's size, rate and length (decodes up to ``PROBE_TIMESTAMP_FRAMES`` frames' timestamps).

    Raises:
        VideoMocapError: missing / unreadable file, no decodable frame, or fewer than ``MIN_FRAMES``.
    """
    import cv2

    path = Path(path)
    cap = _open(path)
    try:
        rotation, rotate_code = _orient(cap)
        width = height = 0
        header_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        header_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        timestamps: list[float] = []
        ok, first = cap.read()  # the displayed size is the decoded (and rotated) frame's
        if ok and first is not None:
            if rotate_code is not None:
                first = cv2.rotate(first, rotate_code)
            height, width = first.shape[:2]
            timestamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
            while len(timestamps) < PROBE_TIMESTAMP_FRAMES and cap.grab():
                timestamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
    finally:
        cap.release()

    if not timestamps or width <= 0 or height <= 0:
        raise _no_video_stream(path) or VideoMocapError(
            f"No frame of {path} could be decoded: the file is truncated or damaged. Copy or download it again."
        )
    probed_all = len(timestamps) < PROBE_TIMESTAMP_FRAMES
    num_frames = header_frames if header_frames > 0 else len(timestamps)
    if probed_all and len(timestamps) < num_frames:
        log.warning(
            "%s: the header announces %d frames but only %d decode (truncated file?); using those.",
            path, num_frames, len(timestamps),
        )
        num_frames = len(timestamps)
    if num_frames < MIN_FRAMES:
        raise VideoMocapError(
            f"{path} has {num_frames} frame(s): the 3D lifter needs motion, at least {MIN_FRAMES} frames. "
            "Use a video clip, not a still image."
        )

    fps = header_fps
    variable = False
    stats = _interval_stats(timestamps)
    if stats is not None:
        interval_s, spread = stats
        variable = spread > VFR_RELATIVE_SPREAD
        if variable:
            fps = round(1.0 / interval_s, 3)
            log.warning(
                "%s has a variable frame rate (frame intervals vary by %.0f%%): each frame is timed by its own "
                "timestamp and the motion is keyed at %.3f fps (its median frame interval; the header says %.3f).",
                path, 100.0 * spread, fps, header_fps,
            )
        elif not fps > 0:
            fps = 1.0 / interval_s
    if not fps > 0:
        log.warning("%s: no frame rate in the header; assuming %.0f fps.", path, FALLBACK_FPS)
        fps = FALLBACK_FPS
    duration = num_frames / fps
    if variable and probed_all:
        duration = (timestamps[-1] - timestamps[0]) / _MS_PER_S + 1.0 / fps
    if rotation:
        log.info("%s: rotation metadata %d deg applied; frames are %dx%d as displayed.", path, rotation, width, height)
    return VideoInfo(
        width=width, height=height, fps=float(fps), num_frames=int(num_frames),
        duration=float(duration), variable_fps=variable, rotation_deg=rotation,
        start_time_s=timestamps[0] / _MS_PER_S if np.isfinite(timestamps[0]) else 0.0,
    )


def iter_frames(
    path: str | os.PathLike, start: int = 0, end: int | None = None, expected: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` for frames ``start <= index < end``, streaming (displayed
    orientation); :func:`iter_timed_frames` without the timestamps."""
    for index, _time_s, frame in iter_timed_frames(path, start, end, expected):
        yield index, frame


def iter_timed_frames(
    path: str | os.PathLike, start: int = 0, end: int | None = None, expected: int | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, time_s, frame)`` for frames ``start <= index < end``, streaming.

    ``time_s`` is the frame's own presentation time (``CAP_PROP_POS_MSEC``) in seconds, so a
    variable-frame-rate clip is timed right (see :func:`usable_timestamps` for containers without
    timestamps). Frames are in the displayed orientation (rotation metadata applied).

    Args:
        path: the video file.
        start: first frame index (0-based).
        end: exclusive end index; None = to the end of the clip.
        expected: the number of frames the header announces (for the truncation warning);
            read from the file when None.

    Yields:
        (index, time_s, (H, W, 3) uint8 BGR frame); OpenCV's own buffer (not copied) when no
        rotation is applied by hand.

    Raises:
        VideoMocapError: bad range, unreadable file, or no frame decodes in the range.
    """
    import cv2

    path = Path(path)
    if start < 0 or (end is not None and end <= start):
        raise VideoMocapError(f"Bad frame range [{start}, {end}): need 0 <= start < end.")
    cap = _open(path)
    try:
        _rotation, rotate_code = _orient(cap)
        if expected is None:
            expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if expected > 0 and start >= expected:
            raise VideoMocapError(f"Start frame {start} is past the end of {path} ({expected} frames).")
        index = 0
        if start > 0:
            # seek, then walk forward to the exact frame: container seeking is not always frame-exact
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            index = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES)))
            if index > start or index < 0:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                index = 0
            while index < start and cap.grab():
                index += 1
        decoded = 0
        while end is None or index < end:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            time_s = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / _MS_PER_S
            yield index, time_s, (frame if rotate_code is None else cv2.rotate(frame, rotate_code))
            decoded += 1
            index += 1
    finally:
        cap.release()

    if decoded == 0:
        raise VideoMocapError(
            f"No frame of {path} decodes in [{start}, {end}): the file is truncated or damaged, "
            "or the range is past its end."
        )
    wanted_end = expected if end is None else min(end, expected) if expected > 0 else end
    if wanted_end is not None and wanted_end > 0 and index < wanted_end:
        log.warning(
            "%s: the header announces frames up to %d but decoding stopped at %d (truncated file?); "
            "going on with the %d frames that decode.",
            path, wanted_end, index, decoded,
        )


def usable_timestamps(times_s: np.ndarray, frame_indices: np.ndarray, fps: float) -> np.ndarray:
    """(T,) seconds of each decoded frame: the timestamps when they are usable (finite, strictly
    increasing), else ``frame_indices / fps`` (containers without timestamps), with a warning."""
    times = np.asarray(times_s, dtype=np.float64)
    indices = np.asarray(frame_indices, dtype=np.int64)
    if times.shape == indices.shape and np.isfinite(times).all() and (times.size < 2 or np.all(np.diff(times) > 0)):
        return times
    log.warning("The video's frame timestamps are missing or out of order; timing frames at %.3f fps.", fps)
    return indices.astype(np.float64) / float(fps)
