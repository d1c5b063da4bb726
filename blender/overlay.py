"""The tracked 2D skeleton drawn over the footage in the Movie Clip Editor.

After Estimate 3D Pose, the subject's 2D track is kept (in memory) per video file; a
``POST_PIXEL`` draw handler of the Clip Editor draws its bones on the frame shown. The Clip
Editor's ``view2d`` maps normalised frame coordinates (0..1, y up) to region pixels. Nothing is
drawn or registered in background mode.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..core.skeleton import BONES

#: RGBA of the bones and joints
BONE_COLOR = (1.0, 0.55, 0.1, 0.9)
LINE_WIDTH_PX = 2.0
#: joints whose score is below this are left out (gaps filled by interpolation have score 0)
MIN_SCORE = 0.05

#: resolved video path -> the subject's :class:`~video_mocap.core.formats.Track2D`
_tracks: dict[str, object] = {}
_handle = None


def remember_track(video: str | Path, track) -> None:
    """Keep ``track`` to draw over ``video`` (called on the main thread when a result arrives)."""
    _tracks[str(Path(video).resolve())] = track


def track_for_clip(clip) -> object | None:
    if clip is None or not clip.filepath:
        return None
    path = Path(bpy.path.abspath(clip.filepath, library=clip.library)).resolve()
    return _tracks.get(str(path))


def clip_video_frame(clip, scene_frame: int) -> int:
    """0-based video frame a movie clip shows at ``scene_frame`` (clips play one frame per scene frame)."""
    return int(scene_frame - clip.frame_start + clip.frame_offset)


def track_row(track, video_frame: int, clip_fps: float | None = None) -> int | None:
    """The track row shown at clip frame ``video_frame``, or None outside the track.

    A clip plays at its constant rate (frame ``k`` at ``k / clip_fps`` s): for a track with its
    frames' own timestamps (``times_s``, a variable-frame-rate video) the row is the frame on
    screen at that time, the last one shown at or before it (half a frame of rounding allowed),
    as a player holds a frame until the next; otherwise the row of video frame ``video_frame``.
    """
    times = getattr(track, "times_s", None)
    if times is not None and clip_fps:
        step = 1.0 / float(clip_fps)
        t = video_frame * step
        row = int(np.searchsorted(times, t + 0.5 * step, side="right")) - 1
        if row < 0 or (row == len(times) - 1 and t - times[row] > step):
            return None
        return row
    rows = np.flatnonzero(track.frame_indices == video_frame)
    return int(rows[0]) if rows.size else None


def displayed_to_clip(normalised: np.ndarray, track, clip_size: tuple[int, int] | None) -> np.ndarray:
    """(..., 2) normalised coordinates (0..1, y up) of the *displayed* frame (the track's: rotation
    metadata applied) -> those of the frame the Clip Editor shows. Blender 5 applies a clip's
    rotation metadata; 4.2 shows the stored frame, turned by a quarter: its size is the track's
    transposed, and the points are turned back by the track's ``rotation_deg``."""
    rotation = int(getattr(track, "rotation_deg", 0) or 0) % 360
    if clip_size is None or rotation not in (90, 270) or tuple(clip_size) != (track.height, track.width):
        return normalised
    u, v = normalised[..., 0], normalised[..., 1]
    # OpenCV turned the stored frame clockwise by ``rotation`` to display it; undo that
    turned = (1.0 - v, u) if rotation == 90 else (v, 1.0 - u)
    return np.stack(turned, axis=-1).astype(normalised.dtype)


def bone_segments(track, video_frame: int, min_score: float = MIN_SCORE,
                  clip_size: tuple[int, int] | None = None, clip_fps: float | None = None) -> np.ndarray:
    """(S, 2, 2) bone segments of ``video_frame`` in normalised frame coordinates (0..1, y up) of the
    clip as the Clip Editor shows it (``clip_size``: see :func:`displayed_to_clip`; ``clip_fps``:
    see :func:`track_row`).

    Empty when the frame is outside the track; bones with a missing joint are left out.
    """
    row = track_row(track, video_frame, clip_fps)
    if row is None:
        return np.zeros((0, 2, 2), dtype=np.float32)
    keypoints, scores = track.keypoints[row], track.scores[row]
    normalised = np.stack([keypoints[:, 0] / track.width, 1.0 - keypoints[:, 1] / track.height], axis=-1)
    normalised = displayed_to_clip(normalised, track, clip_size)
    segments = [(normalised[a], normalised[b]) for a, b in BONES if min(scores[a], scores[b]) >= min_score]
    return np.asarray(segments, dtype=np.float32).reshape(-1, 2, 2)


def _draw() -> None:
    context = bpy.context
    space, region = context.space_data, context.region
    props = getattr(context.scene, "video_mocap", None)
    if props is None or not props.show_overlay or space is None or space.clip is None:
        return
    track = track_for_clip(space.clip)
    if track is None:
        return
    clip = space.clip
    segments = bone_segments(track, clip_video_frame(clip, context.scene.frame_current),
                             clip_size=tuple(clip.size), clip_fps=float(clip.fps))
    if len(segments) == 0:
        return
    import gpu
    from gpu_extras.batch import batch_for_shader

    view = region.view2d
    points = [view.view_to_region(float(x), float(y), clip=False) for x, y in segments.reshape(-1, 2)]
    shader = gpu.shader.from_builtin("UNIFORM_COLOR")
    batch = batch_for_shader(shader, "LINES", {"pos": points})
    gpu.state.blend_set("ALPHA")
    gpu.state.line_width_set(LINE_WIDTH_PX)
    shader.uniform_float("color", BONE_COLOR)
    batch.draw(shader)
    gpu.state.line_width_set(1.0)
    gpu.state.blend_set("NONE")


def register() -> None:
    global _handle
    if not bpy.app.background and _handle is None:
        _handle = bpy.types.SpaceClipEditor.draw_handler_add(_draw, (), "WINDOW", "POST_PIXEL")


def unregister() -> None:
    global _handle
    if _handle is not None:
        bpy.types.SpaceClipEditor.draw_handler_remove(_handle, "WINDOW")
        _handle = None
    _tracks.clear()
