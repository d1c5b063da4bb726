"""Video as phones write it: rotation metadata applied, variable frame rate timed by each frame's own
timestamp (decode, 2D track, 3D motion, solve). Real clips cut from the sample (``tests/data``,
remade by ``tests/data/make_video_clips.sh``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.formats import Motion3D, Track2D
from video_mocap.core.skeleton import JOINT_INDEX as J
from video_mocap.rigging import solve as S
from video_mocap.rigging.world import view_from_camera

cv2 = pytest.importorskip("cv2")

DATA = Path(__file__).resolve().parent / "data"
#: 1 s of the sample (frames 90-119) stored sideways (884x498 turned 90 deg clockwise) + rotation metadata
ROTATED = DATA / "walk_rot90.mp4"
ROTATED_FIRST_SAMPLE_FRAME = 90
#: 1 s at 30 fps then 1 s at 15 fps of the sample (442x250)
VFR = DATA / "walk_vfr.mp4"
VFR_TIMES = np.concatenate([np.arange(30) / 30.0, 1.0 + np.arange(15) / 15.0])


def test_rotation_metadata_gives_displayed_frames():
    """The stored frames are sideways (498x884); decoding gives the upright 884x498 frames the
    sample has at the same instants (same pixels up to the re-encoding)."""
    from video_mocap.inference.video import iter_frames, probe_video

    raw = cv2.VideoCapture(str(ROTATED))
    raw.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    ok, stored = raw.read()
    raw.release()
    assert ok and stored.shape[:2] == (884, 498)  # what OpenCV 4.11 gives without asking: sideways
    info = probe_video(ROTATED)
    assert (info.width, info.height) == (884, 498) and info.rotation_deg in (90, 270)
    frames = dict(iter_frames(ROTATED, 0, 3))
    sample = dict(iter_frames(Path(__file__).resolve().parents[1] / "assets" / "sample" / "sports2d_walk.mp4",
                              ROTATED_FIRST_SAMPLE_FRAME, ROTATED_FIRST_SAMPLE_FRAME + 3))
    for i, frame in frames.items():
        assert frame.shape == (498, 884, 3)
        upright = sample[ROTATED_FIRST_SAMPLE_FRAME + i].astype(np.float32)
        error = np.abs(frame.astype(np.float32) - upright).mean()
        assert error < 6.0, f"frame {i}: mean |difference| {error:.1f} to the upright sample frame"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_rotated_clip_detects_like_the_upright_one(tmp_path):
    """YOLO on the rotated clip finds the walker where it finds them on the upright sample frames
    (within a few pixels), in a track of the displayed size; the track's width/height are the
    stored stream's swapped."""
    pytest.importorskip("ultralytics")
    from video_mocap.inference.detect import DetectConfig, detect_video

    cpu = DetectConfig(device="cpu")
    rotated = detect_video(ROTATED, cpu, cache_dir=tmp_path).subject
    sample = Path(__file__).resolve().parents[1] / "assets" / "sample" / "sports2d_walk.mp4"
    first = ROTATED_FIRST_SAMPLE_FRAME
    upright = detect_video(sample, DetectConfig(device="cpu", frame_start=first, frame_end=first + 30),
                           cache_dir=tmp_path).subject
    assert (rotated.width, rotated.height) == (884, 498) == (upright.width, upright.height)
    common = np.intersect1d(rotated.frame_indices + first, upright.frame_indices)
    assert len(common) >= 25
    a = rotated.keypoints[np.searchsorted(rotated.frame_indices + first, common)]
    b = upright.keypoints[np.searchsorted(upright.frame_indices, common)]
    sa = rotated.scores[np.searchsorted(rotated.frame_indices + first, common)]
    sb = upright.scores[np.searchsorted(upright.frame_indices, common)]
    both = (sa > 0.5) & (sb > 0.5)
    assert both.mean() > 0.5
    distance = np.linalg.norm(a - b, axis=-1)[both]
    assert np.median(distance) < 3.0 and np.percentile(distance, 90) < 8.0, (
        f"median {np.median(distance):.1f} px, p90 {np.percentile(distance, 90):.1f} px")
    # upright: the head above the pelvis in the image (a sideways read puts them side by side)
    assert np.median(a[:, J["pelvis"], 1] - a[:, J["head"], 1]) > 50


def test_variable_frame_rate_timestamps_are_each_frames_own():
    from video_mocap.inference.video import iter_timed_frames, probe_video

    info = probe_video(VFR)
    assert info.variable_fps and info.fps == pytest.approx(30.0, abs=0.01)
    assert info.duration == pytest.approx(VFR_TIMES[-1] + 1 / 30.0, abs=1e-3)
    times = np.array([t for _, t, _ in iter_timed_frames(VFR)])
    np.testing.assert_allclose(times, VFR_TIMES, atol=1e-3)  # well within one frame (33 ms)


def test_variable_frame_rate_track_motion_and_keys(tmp_path):
    """The VFR clip end to end: the 2D track and the 3D motion carry each frame's time (through the
    files), and the solve keys the motion at a constant 30 fps on those times: 59 keys for 45 frames,
    the walker's speed the same in the 30 fps and the 15 fps halves (frame-index keying would make
    the second half twice as fast)."""
    pytest.importorskip("ultralytics")
    from video_mocap.inference.detect import DetectConfig, detect_video
    from video_mocap.inference.lifter import lift_track_file
    from video_mocap.core.lifters import DEFAULT_LIFTER
    from video_mocap.inference.lifter import load_lifter

    track = detect_video(VFR, DetectConfig(device="cpu"), cache_dir=tmp_path).subject
    assert track.times_s is not None
    np.testing.assert_allclose(track.times_s, VFR_TIMES[track.frame_indices], atol=1e-3)
    track.save(tmp_path / "track.npz")
    loaded = Track2D.load(tmp_path / "track.npz")
    np.testing.assert_array_equal(loaded.times_s, track.times_s)

    lifter = load_lifter(DEFAULT_LIFTER, device="cpu")
    lift_track_file(tmp_path / "track.npz", tmp_path / "motion.npz", lifter)
    motion = Motion3D.load(tmp_path / "motion.npz")
    np.testing.assert_array_equal(motion.times_s, track.times_s)

    solved = S.solve(motion, S.SolveConfig(frame_offset=1))
    span = track.times_s[-1] - track.times_s[0]
    assert solved.num_frames == int(np.floor(span * 30.0 + 1e-6)) + 1
    np.testing.assert_allclose(np.diff(solved.frames), 1.0)
    np.testing.assert_allclose(solved.info["times_s"], track.times_s[0] + np.arange(solved.num_frames) / 30.0)
    # the walker's image speed (pelvis x, px/s) per half, from the 2D track on its own times ...
    pelvis_x = track.keypoints[:, J["pelvis"], 0]
    fast, slow = track.times_s < 1.0, track.times_s >= 1.0
    speed_2d = [np.polyfit(track.times_s[m], pelvis_x[m], 1)[0] for m in (fast, slow)]
    assert speed_2d[1] / speed_2d[0] == pytest.approx(1.0, abs=0.35)
    # ... and the solved root's horizontal speed per key (m/key) in each half is about the same
    root = solved.root_world[:, :2]
    keys_t = solved.info["times_s"]
    speeds = [np.linalg.norm(np.polyfit(np.arange(m.sum()), root[m], 1)[0]) for m in (keys_t < 1.0, keys_t >= 1.0)]
    assert speeds[1] / speeds[0] == pytest.approx(1.0, abs=0.35), speeds


def test_solve_keys_a_variable_rate_motion_on_its_times(hdm05_clip):
    """Mocap at 30 fps with every other frame dropped in its second half (a phone dropping to 15 fps):
    keyed on the frames' own times the solve matches the solve of the full 30 fps clip (within 2 cm);
    keyed on frame indices it would not (the second half twice as fast)."""
    joints = hdm05_clip("HDM_mm_jogLeftCircle4StepsRstart_011_120")
    n = len(joints) // 2 * 2
    rel, root = view_from_camera(joints[:n], yaw_deg=30.0)
    config = S.SolveConfig(smoothing=0.0, foot_lock=False)
    full = S.solve(Motion3D(rel, root, np.arange(n), 30.0, "hdm05"), config)
    keep = np.concatenate([np.arange(n // 2), np.arange(n // 2, n, 2)])
    vfr = Motion3D(rel[keep], root[keep], np.arange(len(keep)), 30.0, "hdm05", times_s=keep / 30.0)
    solved = S.solve(vfr, config)
    assert solved.num_frames == n - 1  # keys up to the last frame's time ((n - 2) / 30 s)
    np.testing.assert_allclose(solved.frames, 1 + np.arange(n - 1))
    error = np.linalg.norm(solved.joints_world - full.joints_world[: n - 1], axis=-1)
    assert np.percentile(error, 95) < 0.02, f"p95 {np.percentile(error, 95):.3f} m"
    by_index = S.solve(Motion3D(rel[keep], root[keep], np.arange(len(keep)), 30.0, "hdm05"), config)
    assert by_index.num_frames == len(keep)  # the old keying: one key per video frame, the timing lost
    late = np.linalg.norm(by_index.joints_world[-10:] - full.joints_world[len(keep) - 10 : len(keep)], axis=-1)
    assert np.median(late) > 0.05  # ... and the pose at a key is another instant's


def test_times_field_is_validated_and_optional(tmp_path):
    from video_mocap.core.errors import VideoMocapError

    t = 4
    track = Track2D(np.ones((t, 17, 2)), np.ones((t, 17)), np.arange(t), 30.0, 640, 480)
    assert track.times_s is None
    np.testing.assert_allclose(track.frame_times(), np.arange(t) / 30.0)
    track.save(tmp_path / "old.npz")  # a file without the field (as older versions wrote) loads
    assert Track2D.load(tmp_path / "old.npz").times_s is None
    for bad in (np.array([0.0, 0.1, 0.1, 0.2]), np.array([0.0, 0.1, np.nan, 0.3]), np.zeros(3)):
        with pytest.raises(VideoMocapError, match="times_s"):
            Track2D(np.ones((t, 17, 2)), np.ones((t, 17)), np.arange(t), 30.0, 640, 480, times_s=bad)
        with pytest.raises(VideoMocapError, match="times_s"):
            Motion3D(np.zeros((t, 17, 3)), np.zeros((t, 3)), np.arange(t), 30.0, "x", times_s=bad)
