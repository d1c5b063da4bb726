"""Issue #25: one tracker on both detection paths, broken tracks re-linked, the input size, and
everyone in the shot (``--person all``) on the real sample clip (2 people)."""

from __future__ import annotations

import numpy as np
import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.inference.detect import DetectConfig, _RawDetections, detect_video
from video_mocap.inference.simple_tracker import SimpleTracker, relink_tracks

pytest.importorskip("cv2")

#: a stretch of the sample clip where both people are in view (the second walks in at frame 39)
RANGE = (40, 100)
#: tracks seen on at least this many frames of RANGE are "the people" (not a one-off false positive)
MIN_SEEN = 40


def _people(result) -> dict[int, np.ndarray]:
    """track id -> (T, 2) mean image position of the seen joints, for the long tracks."""
    out = {}
    for tid, track in result.tracks.items():
        seen = track.scores > 0.3
        if seen.any(axis=1).sum() >= MIN_SEEN:
            out[tid] = np.nanmean(np.where(seen[..., None], track.keypoints, np.nan), axis=1)
    return out


@pytest.fixture(scope="module")
def both_paths(sample_clip, tmp_path_factory):
    pytest.importorskip("ultralytics")
    start, end = RANGE
    results = {}
    for backend in ("onnx", "ultralytics"):
        cache = tmp_path_factory.mktemp(f"detect-{backend}")
        results[backend] = detect_video(
            sample_clip, DetectConfig(device="cpu", backend=backend, frame_start=start, frame_end=end),
            cache_dir=cache,
        ), cache
    return results


def test_panel_and_cli_paths_give_the_same_ids(both_paths):
    onnx, ultra = _people(both_paths["onnx"][0]), _people(both_paths["ultralytics"][0])
    assert len(onnx) == 2 and onnx.keys() == ultra.keys(), (onnx.keys(), ultra.keys())
    for tid in onnx:  # the same id is the same person: their image paths agree within a few pixels
        a, b = both_paths["onnx"][0].tracks[tid], both_paths["ultralytics"][0].tracks[tid]
        common = np.intersect1d(a.frame_indices, b.frame_indices)
        pa = onnx[tid][np.searchsorted(a.frame_indices, common)]
        pb = ultra[tid][np.searchsorted(b.frame_indices, common)]
        assert np.nanmedian(np.linalg.norm(pa - pb, axis=1)) < 10.0


def test_a_track_cut_for_ten_frames_is_relinked(both_paths):
    _, cache = both_paths["ultralytics"]
    raw = _RawDetections.load(next(cache.glob("*.npz")))
    person = int(np.bincount(raw.track_id).argmax())
    frames = np.unique(raw.frame)
    cut = frames[20:30]  # 10 frames where this person's detections are dropped
    keep = ~((raw.track_id == person) & np.isin(raw.frame, cut))
    # track again with a short memory, so the tracker itself loses the person over the cut
    tracker = SimpleTracker(fps=30.0, track_buffer=5)
    retracked = np.full(int(keep.sum()), -1)
    kept_frame, kept_boxes, kept_scores = raw.frame[keep], raw.boxes[keep], raw.box_scores[keep]
    for f in frames:
        sel = np.flatnonzero(kept_frame == f)
        retracked[sel] = tracker.update(kept_boxes[sel], kept_scores[sel])
    ok = retracked >= 0
    old = raw.track_id[keep][ok]
    before = set(retracked[ok][old == person].tolist())
    assert len(before) >= 2, "the cut should break the track"
    linked = relink_tracks(retracked[ok], kept_frame[ok], kept_boxes[ok], fps=30.0)
    after = set(linked[old == person].tolist())
    assert len(after) == 1, (before, after)
    others = set(linked[old != person].tolist())
    assert not after & others  # the other person is not swallowed


def test_relink_keeps_two_people_apart():
    """Two people, each missing a stretch: each piece goes back to its own person, not the other."""
    rows = []
    for t in range(60):
        if not 20 <= t < 32:
            rows.append((1 if t < 20 else 3, t, [100 + 2 * t, 100, 160 + 2 * t, 300]))
        if not 25 <= t < 40:
            rows.append((2 if t < 25 else 4, t, [700 - 3 * t, 110, 760 - 3 * t, 310]))
    ids = np.array([r[0] for r in rows])
    frames = np.array([r[1] for r in rows])
    boxes = np.array([r[2] for r in rows], dtype=float)
    linked = relink_tracks(ids, frames, boxes, fps=30.0)
    assert set(linked[ids == 3]) == {1} and set(linked[ids == 4]) == {2}
    far = relink_tracks(ids, frames, boxes, fps=30.0, max_gap_frames=5)  # gaps longer than allowed: kept apart
    assert set(far[ids == 3]) == {3}


def test_imgsz_checked():
    with pytest.raises(VideoMocapError, match="imgsz"):
        detect_video("nowhere.mp4", DetectConfig(imgsz=8))
    with pytest.raises(VideoMocapError, match="imgsz"):
        detect_video("nowhere.mp4", DetectConfig(imgsz="big"))


def test_auto_input_size_grows_for_small_people(sample_clip, tmp_path):
    """``imgsz="auto"``: the sample clip's people (160-210 px of an 884 px frame) keep 640; the same
    clip shrunk to 1/3 and tiled 3x3 (9 copies of each person, 55-70 px tall) gets 1280."""
    import cv2

    from video_mocap.inference.detect import LARGE_IMGSZ, _Detector, choose_imgsz, resolve_model
    from video_mocap.inference.onnx_backend import resolve_detector_onnx
    from video_mocap.inference.video import iter_frames, probe_video

    config = DetectConfig(device="cpu", backend="onnx", imgsz="auto", frame_start=40, frame_end=120)
    detector = _Detector(config, resolve_detector_onnx(resolve_model(config.model)))
    assert choose_imgsz(detector, sample_clip, probe_video(sample_clip), config) == 640
    small = tmp_path / "crowd.avi"
    writer = cv2.VideoWriter(str(small), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (882, 498))
    for _, frame in iter_frames(sample_clip, 40, 120):
        tile = cv2.resize(frame, (294, 166), interpolation=cv2.INTER_AREA)
        writer.write(np.concatenate([np.concatenate([tile] * 3, axis=1)] * 3, axis=0))
    writer.release()
    crowd = DetectConfig(device="cpu", backend="onnx", imgsz="auto")
    assert choose_imgsz(detector, small, probe_video(small), crowd) == LARGE_IMGSZ
