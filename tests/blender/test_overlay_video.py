"""The 2D overlay over phone-style clips in the Clip Editor: a clip with rotation metadata (Blender 5
shows it turned upright as the 2D stage reads it, 4.2 shows the stored frame) and a variable-frame-rate
clip (Blender plays it at a constant rate). Real clips of ``tests/data``; no detector needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.formats import Track2D

bpy = pytest.importorskip("bpy")

DATA = Path(__file__).resolve().parents[1] / "data"


def _grid_track(width: int, height: int, times_s: np.ndarray | None = None, rotation_deg: int = 0) -> Track2D:
    """A track whose 17 'joints' are spread over the frame (pixels), one row per frame."""
    xs = np.linspace(0.1, 0.9, 17) * width
    ys = np.linspace(0.15, 0.85, 17)[::-1] * height
    t = 1 if times_s is None else len(times_s)
    points = np.broadcast_to(np.stack([xs, ys], axis=-1), (t, 17, 2))
    return Track2D(points, np.ones((t, 17)), np.arange(t), 30.0, width, height, times_s=times_s,
                   rotation_deg=rotation_deg)


#: the rotated clip's displayed size (its stored frames are 498x884)
ROTATED_DISPLAYED = (884, 498)


def test_blender_shows_a_rotated_clip_upright_from_5_0_stored_before():
    """What the overlay must match: Blender 5 applies the rotation metadata (the clip is 884x498, as
    the 2D stage reads it), Blender 4.2 shows the stored frame (498x884)."""
    clip = bpy.data.movieclips.load(str(DATA / "walk_rot90.mp4"))
    try:
        size = tuple(clip.size)
    finally:
        bpy.data.movieclips.remove(clip)
    expected = ROTATED_DISPLAYED if bpy.app.version >= (5, 0, 0) else ROTATED_DISPLAYED[::-1]
    assert size == expected


@pytest.mark.parametrize("shows", ["displayed", "stored"])
def test_overlay_lands_on_the_frame_the_clip_editor_shows(shows):
    """For either frame the Clip Editor may show (see above), every drawn joint lands on the scene
    point it marks in the displayed frame: the same colour in both."""
    cv2 = pytest.importorskip("cv2")
    from video_mocap.blender import overlay
    from video_mocap.core.skeleton import BONES
    from video_mocap.inference.video import iter_frames, probe_video

    clip_path = DATA / "walk_rot90.mp4"
    info = probe_video(clip_path)
    assert (info.width, info.height) == ROTATED_DISPLAYED and info.rotation_deg in (90, 270)
    track = _grid_track(info.width, info.height, rotation_deg=info.rotation_deg)
    displayed = next(iter_frames(clip_path, 0, 1))[1]
    raw = cv2.VideoCapture(str(clip_path))
    raw.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    ok, stored = raw.read()
    raw.release()
    assert ok and stored.shape[:2] == displayed.shape[:2][::-1]
    shown = displayed if shows == "displayed" else stored
    size = (shown.shape[1], shown.shape[0])
    drawn = overlay.bone_segments(track, 0, clip_size=size).reshape(-1, 2)  # normalised, y up
    px = np.stack([drawn[:, 0] * size[0], (1.0 - drawn[:, 1]) * size[1]], axis=-1)
    marked = np.concatenate([track.keypoints[0][[a, b]] for a, b in BONES])
    for (x, y), (xd, yd) in zip(px, marked):
        a = shown[min(int(y), size[1] - 1), min(int(x), size[0] - 1)].astype(float)
        b = displayed[min(int(yd), displayed.shape[0] - 1), min(int(xd), displayed.shape[1] - 1)].astype(float)
        assert np.abs(a - b).max() < 40, ((x, y), (xd, yd), a, b)


def test_overlay_follows_the_timestamps_of_a_variable_rate_clip():
    from video_mocap.blender import overlay

    clip_path = DATA / "walk_vfr.mp4"
    times = np.concatenate([np.arange(30) / 30.0, 1.0 + np.arange(15) / 15.0])  # its frames' timestamps
    # (tests/test_video_input.py checks that the 2D stage reads exactly these)
    clip = bpy.data.movieclips.load(str(clip_path))
    try:
        fps, duration = float(clip.fps), int(clip.frame_duration)
    finally:
        bpy.data.movieclips.remove(clip)
    track = _grid_track(442, 250, times_s=times)
    rows = [overlay.track_row(track, k, fps) for k in range(duration)]
    # every frame drawn, in order (the last one, at the clip's very end, may lie past Blender's last frame)
    assert set(range(len(times) - 1)) <= set(rows) and rows == sorted(rows)
    for k, row in enumerate(rows):  # the frame on screen at k / fps: shown at or before it, the next one after
        assert row is not None and times[row] <= k / fps + 0.5 / fps
        assert row == len(times) - 1 or times[row + 1] > k / fps + 0.5 / fps - 1e-9
    assert rows[31] == 30 and rows[32] == 31  # 1.033 s holds the 1.0 s frame; 1.067 s is the next 15 fps frame
    assert len(rows) >= 58 and rows[57] >= len(times) - 2  # frame-index keying would run out at clip frame 44
    assert overlay.track_row(_grid_track(442, 250), 0) == 0  # a track without times: by frame index
