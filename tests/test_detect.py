"""2D stage: video decode, YOLO pose + ByteTrack on the real sample clip, gap filling, cache, CLI.

Detection on the sample clip runs once per module (cache in a tmp folder); other tests reuse it.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.errors import Cancelled, VideoMocapError
from video_mocap.inference import detect as detect_module
from video_mocap.cli import detect as detect_cli
from video_mocap.inference.detect import (
    MIN_JOINT_SCORE,
    SHIPPED_MODEL,
    DetectConfig,
    choose_subject,
    default_cache_dir,
    detect_video,
    file_sha256,
    fill_gaps,
    resolve_model,
)
from video_mocap.core.formats import Track2D
from video_mocap.core.skeleton import JOINT_INDEX as J
from video_mocap.core.skeleton import NUM_JOINTS
from video_mocap.inference.video import iter_frames, probe_video

cv2 = pytest.importorskip("cv2")
pytest.importorskip("ultralytics")

SAMPLE_FRAMES = 230
CPU = DetectConfig(device="cpu")


# ---------------------------------------------------------------------------------------
# helpers that make real (bad) videos
# ---------------------------------------------------------------------------------------
def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0, fourcc: str = "MJPG") -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def gray_frames(n: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    return [np.full((size[1], size[0], 3), 40 + 4 * i, np.uint8) for i in range(n)]


def _boxes(data: bytes | bytearray, start: int, end: int):
    i = start
    while i < end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        yield kind, i, size
        i += size


def make_vfr_mp4(path: Path, n: int = 40) -> Path:
    """An .mp4 whose frame durations alternate 0.5x / 1.5x: OpenCV's CFR file with its
    sample-to-time table (``stts``) rewritten, the way phones record variable frame rates."""
    write_video(path, gray_frames(n), fourcc="mp4v")
    data = bytearray(path.read_bytes())
    mdat = next(b for b in _boxes(data, 0, len(data)) if b[0] == b"mdat")
    chain, start, end = [], 0, len(data)
    for want in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stts"):
        _, at, size = next(b for b in _boxes(data, start, end) if b[0] == want)
        chain.append((at, size))
        start, end = at + 8, at + size
    assert chain[0][0] > mdat[1], "moov must follow mdat (chunk offsets stay valid)"
    at, size = chain[-1]
    count, delta = struct.unpack(">II", data[at + 16:at + 24])
    entries = [delta // 2 if i % 2 == 0 else delta + delta // 2 for i in range(count)]
    body = struct.pack(">II", 0, count) + b"".join(struct.pack(">II", 1, d) for d in entries)
    new = struct.pack(">I4s", 8 + len(body), b"stts") + body
    for box_at, box_size in chain[:-1]:
        data[box_at:box_at + 4] = struct.pack(">I", box_size + len(new) - size)
    data[at:at + size] = new
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------------------------------
# the sample clip, detected once
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("detect_cache")


@pytest.fixture(scope="module")
def detected(sample_clip, cache_dir):
    calls: list[tuple[str, int, int]] = []
    start = time.perf_counter()
    result = detect_video(sample_clip, CPU, progress=lambda *a: calls.append(a), cache_dir=cache_dir)
    return result, calls, time.perf_counter() - start


def _seen(track: Track2D) -> np.ndarray:
    return (track.scores >= MIN_JOINT_SCORE).any(axis=1)


def test_two_people_tracked_with_stable_ids(detected):
    result, _, _ = detected
    long_tracks = {tid: t for tid, t in result.tracks.items() if _seen(t).sum() >= 100}
    assert len(long_tracks) >= 2, {tid: int(_seen(t).sum()) for tid, t in result.tracks.items()}
    subject = result.subject
    # the walker is in view from about frame 40 to 200: one id for all of it
    assert _seen(subject).sum() >= 150
    assert subject.num_frames >= 150
    assert result.long_gaps == []
    assert subject.track_id == result.subject_id
    assert subject.video.endswith("sports2d_walk.mp4")
    assert (subject.width, subject.height) == (884, 498) and subject.fps == pytest.approx(30.0)
    assert subject.focal_px is None


def test_default_subject_is_the_foreground_walker(detected):
    result, _, _ = detected
    walker = result.subject
    other_id = max((t for t in result.tracks if t != result.subject_id), key=lambda t: _seen(result.tracks[t]).sum())
    other = result.tracks[other_id]

    def median_y(track):
        return float(np.median(track.keypoints[_seen(track), J["pelvis"], 1]))

    assert median_y(walker) > 0.6 * walker.height  # lower part of the image
    assert median_y(walker) > median_y(other) + 0.2 * walker.height
    assert choose_subject(result.tracks) == result.subject_id
    assert choose_subject(result.tracks, person=other_id) == other_id


def test_subject_anatomy_and_smoothness(detected):
    result, _, _ = detected
    track = result.subject
    ok = _seen(track)
    y = track.keypoints[ok, :, 1]
    ankles = np.maximum(y[:, J["left_ankle"]], y[:, J["right_ankle"]])
    hips = 0.5 * (y[:, J["left_hip"]] + y[:, J["right_hip"]])
    shoulders = 0.5 * (y[:, J["left_shoulder"]] + y[:, J["right_shoulder"]])
    assert np.mean((ankles > hips) & (hips > shoulders)) > 0.9
    assert np.mean(y[:, J["head"]] < y[:, J["thorax"]]) > 0.9
    body = float(np.median(ankles - y[:, J["head"]]))
    assert body > 100  # pixels: the walker is about a third of the frame high
    both = (track.scores[1:] >= MIN_JOINT_SCORE) & (track.scores[:-1] >= MIN_JOINT_SCORE)
    motion = np.linalg.norm(np.diff(track.keypoints, axis=0), axis=-1)[both]
    assert np.median(motion) < 0.05 * body
    assert np.isfinite(track.keypoints).all()
    assert (track.scores >= 0).all() and (track.scores <= 1).all()


def test_progress_reports_all_frames(detected):
    _, calls, _ = detected
    assert calls and all(stage == "detect" for stage, _, _ in calls)
    assert calls[-1][1] == calls[-1][2] == SAMPLE_FRAMES
    done = [d for _, d, _ in calls]
    assert done == sorted(done)


def test_cache_makes_a_second_call_fast_and_identical(detected, sample_clip, cache_dir):
    first, _, cold = detected
    start = time.perf_counter()
    again = detect_video(sample_clip, CPU, cache_dir=cache_dir)
    warm = time.perf_counter() - start
    assert warm < max(2.0, 0.2 * cold), (warm, cold)
    assert again.subject_id == first.subject_id and again.tracks.keys() == first.tracks.keys()
    for tid, track in first.tracks.items():
        np.testing.assert_array_equal(again.tracks[tid].keypoints, track.keypoints)
        np.testing.assert_array_equal(again.tracks[tid].scores, track.scores)
        np.testing.assert_array_equal(again.tracks[tid].frame_indices, track.frame_indices)
    assert len(list(cache_dir.glob("*.npz"))) == 1
    # choosing another person does not detect again
    other = next(t for t in first.tracks if t != first.subject_id)
    chosen = detect_video(sample_clip, DetectConfig(device="cpu", person=other), cache_dir=cache_dir)
    assert chosen.subject_id == other
    with pytest.raises(VideoMocapError, match=r"(?s)Person id 999 .*id \d+: frames \d+-\d+"):
        detect_video(sample_clip, DetectConfig(device="cpu", person=999), cache_dir=cache_dir)


def test_file_hash_is_remembered(sample_clip, tmp_path):
    digest = file_sha256(sample_clip, tmp_path)
    assert len(digest) == 64 and (tmp_path / "hashes.json").is_file()
    assert file_sha256(sample_clip, tmp_path) == digest


def test_cancel_stops_detection(sample_clip, tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        detect_video(sample_clip, CPU, cancel=cancel, cache_dir=tmp_path, use_cache=False)
    assert not list(tmp_path.glob("*.npz"))


def test_4k_clip_and_broken_cache(sample_clip, tmp_path, caplog):
    """A 4K clip (the sample's frames upscaled) works: the walker is found at 4K coordinates.
    A damaged cache file is ignored (with a warning) and written again."""
    frames = [cv2.resize(f, (3840, 2160)) for i, f in iter_frames(sample_clip, 100, 103)]
    clip = write_video(tmp_path / "walk_4k.avi", frames, fps=30.0)
    info = probe_video(clip)
    assert (info.width, info.height, info.num_frames) == (3840, 2160, 3)
    result = detect_video(clip, CPU, cache_dir=tmp_path)
    subject = result.subject
    assert subject.frame_indices.tolist() == [0, 1, 2]
    assert subject.width == 3840
    assert np.median(subject.keypoints[:, J["pelvis"], 1]) > 0.6 * 2160
    (cached,) = tmp_path.glob("*.npz")
    cached.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        again = detect_video(clip, CPU, cache_dir=tmp_path)
    assert "unreadable cache" in caplog.text
    np.testing.assert_array_equal(again.subject.keypoints, subject.keypoints)
    assert np.load(cached)["keypoints"].shape[0] >= 3


# ---------------------------------------------------------------------------------------
# fill_gaps
# ---------------------------------------------------------------------------------------
def _line_track(t: int = 20) -> tuple[np.ndarray, np.ndarray]:
    frames = np.arange(t, dtype=np.float32)
    keypoints = np.stack([np.stack([frames + j, 2 * frames - j], axis=-1) for j in range(NUM_JOINTS)], axis=1)
    return keypoints.astype(np.float32), np.full((t, NUM_JOINTS), 0.9, np.float32)


def test_fill_gaps_interpolates_short_gaps_with_zero_score():
    truth, scores = _line_track()
    keypoints = truth.copy()
    scores[5:8] = 0.0  # whole-frame gap
    keypoints[5:8] = 0.0
    scores[12, J["left_wrist"]] = 0.1  # low confidence joint
    keypoints[12, J["left_wrist"]] = (500.0, 500.0)
    keypoints[15, J["head"]] = np.nan  # not finite
    filled, new_scores, long_gaps = fill_gaps(keypoints, scores, max_gap=3)
    np.testing.assert_allclose(filled, truth, atol=1e-4)
    assert long_gaps == []
    assert (new_scores[5:8] == 0).all() and new_scores[12, J["left_wrist"]] == 0 and new_scores[15, J["head"]] == 0
    assert (new_scores[0] == 0.9).all()
    assert np.isnan(keypoints[15, J["head"]]).all()  # input untouched


def test_fill_gaps_reports_long_gaps_and_holds_ends():
    truth, scores = _line_track(30)
    scores[10:20] = 0.0
    scores[:2, J["right_ankle"]] = 0.0
    filled, new_scores, long_gaps = fill_gaps(truth, scores, max_gap=5)
    assert long_gaps == [(10, 19)]
    assert np.isfinite(filled).all() and (new_scores[10:20] == 0).all()
    np.testing.assert_allclose(filled[:2, J["right_ankle"]], truth[[2, 2], J["right_ankle"]])
    assert fill_gaps(truth, scores, max_gap=10)[2] == []


def test_fill_gaps_joint_never_seen_and_nothing_seen():
    truth, scores = _line_track(6)
    scores[:, [J["left_wrist"], J["left_elbow"], J["pelvis"]]] = 0.0
    filled, new_scores, _ = fill_gaps(truth, scores, max_gap=2)
    seen = [j for j in range(NUM_JOINTS) if j not in (J["left_wrist"], J["left_elbow"], J["pelvis"])]
    np.testing.assert_allclose(filled[:, J["pelvis"]], truth[:, seen].mean(axis=1), atol=1e-4)
    np.testing.assert_allclose(filled[:, J["left_wrist"]], truth[:, J["left_shoulder"]])
    np.testing.assert_allclose(filled[:, J["left_elbow"]], truth[:, J["left_shoulder"]])
    assert (new_scores[:, J["left_wrist"]] == 0).all()
    with pytest.raises(VideoMocapError, match="No joint"):
        fill_gaps(truth, np.zeros_like(scores), max_gap=2)
    with pytest.raises(VideoMocapError, match=r"\(T, 17, 2\)"):
        fill_gaps(truth[..., :1], scores, max_gap=2)


# ---------------------------------------------------------------------------------------
# bad videos
# ---------------------------------------------------------------------------------------
def test_missing_and_unreadable_videos(tmp_path, sample_clip):
    with pytest.raises(VideoMocapError, match="not found"):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(VideoMocapError, match="is a folder, not a video file"):
        probe_video(tmp_path)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoMocapError, match="Cannot read"):
        probe_video(noise)
    half = tmp_path / "half.mp4"  # the sample's bytes cut in half: its index ('moov') is lost
    data = sample_clip.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoMocapError, match="truncated"):
        detect_video(half, CPU, cache_dir=tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoMocapError, match="empty"):
        probe_video(empty)


def test_truncated_video_warns_and_goes_on(tmp_path, caplog):
    full = write_video(tmp_path / "full.avi", gray_frames(40))
    cut = tmp_path / "cut.avi"  # AVI keeps its header (frame count) at the start
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        info = probe_video(cut)
        frames = list(iter_frames(cut))
    assert 2 <= info.num_frames < 40
    assert len(frames) == info.num_frames
    assert [i for i, _ in frames] == list(range(len(frames)))
    assert "truncated" in caplog.text


def test_one_frame_clip_is_refused(tmp_path):
    clip = write_video(tmp_path / "still.avi", gray_frames(1))
    with pytest.raises(VideoMocapError, match="at least 2 frames"):
        probe_video(clip)


def test_variable_frame_rate_is_detected(tmp_path, caplog):
    clip = make_vfr_mp4(tmp_path / "vfr.mp4", n=40)
    with caplog.at_level(logging.WARNING):
        info = probe_video(clip)
    assert info.variable_fps
    assert "variable frame rate" in caplog.text
    # keyed at the rate of the median frame interval: 20 of the 39 intervals are the 0.5x ones (50 fps)
    assert info.fps == pytest.approx(50.0, rel=0.01)
    assert [i for i, _ in iter_frames(clip)] == list(range(40))
    cfr = probe_video(write_video(tmp_path / "cfr.avi", gray_frames(10)))
    assert not cfr.variable_fps and cfr.fps == pytest.approx(25.0) and cfr.num_frames == 10
    assert cfr.duration == pytest.approx(0.4)


def test_iter_frames_range(sample_clip):
    got = [(i, f.shape) for i, f in iter_frames(sample_clip, 225)]
    assert [i for i, _ in got] == list(range(225, SAMPLE_FRAMES))
    assert got[0][1] == (498, 884, 3)
    assert [i for i, _ in iter_frames(sample_clip, 10, 13)] == [10, 11, 12]
    with pytest.raises(VideoMocapError, match="past the end"):
        list(iter_frames(sample_clip, 500))
    with pytest.raises(VideoMocapError, match="Bad frame range"):
        list(iter_frames(sample_clip, 5, 5))


def test_no_person_in_any_frame(tmp_path):
    clip = write_video(tmp_path / "empty_scene.avi", gray_frames(6, (320, 240)))
    with pytest.raises(VideoMocapError, match="No person detected"):
        detect_video(clip, CPU, cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------
# model resolution, settings
# ---------------------------------------------------------------------------------------
def test_resolve_model(tmp_path, monkeypatch, yolo_weights):
    monkeypatch.setenv("VIDEO_MOCAP_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    assert resolve_model(str(SHIPPED_MODEL)) == SHIPPED_MODEL
    assert resolve_model("yolo11n-pose.pt").resolve() == yolo_weights.resolve()
    with pytest.raises(VideoMocapError, match="downloads are off"):
        resolve_model("yolo11s-pose.pt", allow_download=False)
    with pytest.raises(VideoMocapError, match="not found"):
        resolve_model(str(tmp_path / "missing" / "model.pt"))
    damaged = tmp_path / "shipped" / SHIPPED_MODEL.name
    damaged.parent.mkdir()
    damaged.write_bytes(yolo_weights.read_bytes()[:-1] + b"?")
    monkeypatch.setattr(detect_module, "SHIPPED_MODEL", damaged)
    with pytest.raises(VideoMocapError, match="damaged"):
        resolve_model(str(damaged))
    monkeypatch.undo()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    clip = write_video(tmp_path / "clip.avi", gray_frames(3))
    with pytest.raises(VideoMocapError, match="Cannot load pose model"):
        detect_video(clip, DetectConfig(model=str(bad), device="cpu"), use_cache=False)


@pytest.mark.parametrize(
    "config, message",
    [
        (DetectConfig(batch_size=0), "batch_size"),
        (DetectConfig(conf=1.5), "conf"),
        (DetectConfig(frame_start=10, frame_end=5), "frame range"),
        (DetectConfig(backend="tensorrt"), "backend"),
        (DetectConfig(device="tpu"), "Unknown device"),
        (DetectConfig(frame_start=1000), "past the end"),
    ],
)
def test_bad_settings(config, message, sample_clip, tmp_path):
    with pytest.raises(VideoMocapError, match=message):
        detect_video(sample_clip, config, cache_dir=tmp_path, use_cache=False)


def test_module_imports_without_torch():
    code = (
        "import sys; import video_mocap.inference.detect, video_mocap.inference.video, "
        "video_mocap.cli.detect; "
        "bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
def test_cli_writes_a_valid_track(detected, sample_clip, cache_dir, tmp_path, capsys):
    result, _, _ = detected
    out = tmp_path / "walker.npz"
    code = detect_cli.main([str(sample_clip), "-o", str(out), "--device", "cpu", "--cache-dir", str(cache_dir)])
    assert code == 0
    track = Track2D.load(out)
    np.testing.assert_array_equal(track.keypoints, result.subject.keypoints)
    assert track.track_id == result.subject_id and track.fps == pytest.approx(30.0)
    text = capsys.readouterr().out
    assert "<- subject" in text and f"wrote {out}" in text
    listed = tmp_path / "none.npz"
    assert detect_cli.main([str(sample_clip), "--list-tracks", "--cache-dir", str(cache_dir), "-o", str(listed)]) == 0
    assert not listed.exists()


def test_cli_reports_errors_cleanly(tmp_path):
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "video_mocap", "detect", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "t.npz")],
        capture_output=True, text=True, env=env,
    )
    assert run.returncode == 2
    assert "Video not found" in run.stderr and "Traceback" not in run.stderr


# ---------------------------------------------------------------------------------------
# the head in profile (issue 22)
# ---------------------------------------------------------------------------------------
def test_head_in_profile_is_seen_and_solved_upright(detected, cache_dir):
    """The sample's walker is side-on: one eye and one ear seen. The head joint is built from them
    (scored > 0 on most frames; the old rule, the lowest of all four scores, called it missing almost
    everywhere), and the solved head stands on the neck: thorax -> head within 45 degrees of the spine
    on every frame, head and neck bones of one length, within anatomical bounds of the torso."""
    from video_mocap.core.skeleton import COCO_SOURCES
    from video_mocap.inference.lifter import lift_track, load_lifter
    from video_mocap.rigging import solve as S

    result, _, _ = detected
    # the walker: the longest-seen track low in the image (the subject choice is tested above)
    low = [tid for tid, t in result.tracks.items() if np.median(t.keypoints[:, J["pelvis"], 1]) > 0.6 * t.height]
    walker_id = max(low, key=lambda tid: _seen(result.tracks[tid]).sum())
    walker = result.tracks[walker_id]
    seen = _seen(walker)
    assert seen.sum() >= 150
    assert (walker.scores[seen, J["head"]] > 0).mean() > 0.9
    (cached,) = [p for p in cache_dir.glob("*.npz")]
    raw = detect_module._RawDetections.load(cached)
    own = raw.keypoint_scores[raw.track_id == walker_id]
    old_rule = own[:, list(COCO_SOURCES[J["head"]])].min(axis=1) >= MIN_JOINT_SCORE
    assert old_rule.mean() < 0.2

    solved = S.solve(lift_track(walker, load_lifter(device="cpu")))
    w = solved.joints_world
    spine = w[:, J["thorax"]] - w[:, J["pelvis"]]
    up = w[:, J["head"]] - w[:, J["thorax"]]
    cos = np.sum(spine * up, -1) / (np.linalg.norm(spine, axis=-1) * np.linalg.norm(up, axis=-1))
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 45.0
    lengths = solved.info["bone_lengths"]
    torso = lengths[S.BONE_INDEX["spine"]] + lengths[S.BONE_INDEX["chest"]]
    for bone, (parent, child) in {"head": ("neck_nose", "head"), "neck": ("thorax", "neck_nose")}.items():
        length = np.linalg.norm(w[:, J[child]] - w[:, J[parent]], axis=-1)
        assert np.ptp(length) < 1e-6, bone
        low, high = S.FACE_BONE_BOUNDS[bone]
        assert low * torso - 1e-9 <= length[0] <= high * torso + 1e-9, (bone, length[0], torso)
    assert 0.08 < np.linalg.norm(w[0, J["head"]] - w[0, J["neck_nose"]]) < 0.22  # metres: nose to crown
