"""Bad input through the real ``video-mocap`` command, one subprocess per case (issue #24).

Each case checks what a user sees and keeps: the exit status (the README's table), exactly one
line on stderr (the message, with what to do) and no traceback, nothing written, and any
earlier output left as it was. Inputs are small and made in ``tmp_path``: track files from real
mocap (HDM05, projected), videos cut from the sample clip or drawn with OpenCV, weights copied
from the shipped ones. Most cases are refused before any model loads (a few seconds each);
the few that need a network are marked.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from child_signals import default_sigint
from video_mocap.core.formats import Motion3D
from video_mocap.core.errors import VideoMocapError
from video_mocap.pipeline import mocap_seed

REPO = Path(__file__).resolve().parents[1]
SHARED_HDM05 = REPO.parent / "shared" / "data" / "mocap" / "hdm05" / "hdm05_h36m.npz"
FIXTURE_HDM05 = REPO / "tests" / "data" / "hdm05_fixture.npz"
TRACK_FRAMES = 60
EARLIER = b"the user's earlier result"
TIMEOUT_S = 600
#: the exit statuses of cli/__init__.py (the README's table)
OK, SOME_FAILED, BAD_INPUT, CANCELLED = 0, 1, 2, 130


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def run_cli(args: list[str], cwd: Path, code: str | None = None) -> subprocess.CompletedProcess:
    """``python -m video_mocap ARGS`` (or ``python -c CODE ARGS``) in ``cwd``, its cache in ``cwd/cache``."""
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "video_mocap", *args]
    env = {**os.environ, "YOLO_OFFLINE": "1", "VIDEO_MOCAP_CACHE": str(cwd / "cache")}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)


def snapshot(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """relative path -> sha256 of every file under ``folder`` (folders as "dir"), but ``skip``."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel.split("/")[0] in skip:
            continue
        files[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return files


#: a tqdm progress bar's line (its elapsed time: "[00:22<00:00" or "[00:00, ?frame/s]")
BAR_LINE = re.compile(r"\[\d+:\d\d[<,]")


def check_refused(result: subprocess.CompletedProcess, status: int, *words: str, bars: bool = False) -> str:
    """The exit status, one stderr line holding ``words`` and no traceback; returns the line.

    ``bars``: the work ran before the refusal, so its progress bars may be there too (not counted).
    """
    lines = [line for line in result.stderr.splitlines() if line.strip() and not (bars and BAR_LINE.search(line))]
    assert result.returncode == status, f"status {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, f"not one stderr line:\n{result.stderr}"
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def refused_in_place(folder: Path, args: list[str], status: int, *words: str, skip: tuple[str, ...] = (),
                     code: str | None = None, bars: bool = False) -> str:
    """Run, check the refusal, and that nothing under ``folder`` changed (earlier outputs intact)."""
    before = snapshot(folder, skip)
    result = run_cli(args, folder, code)
    line = check_refused(result, status, *words, bars=bars)
    assert snapshot(folder, skip) == before, "something was written or changed"
    return line


@pytest.fixture(scope="module")
def mocap_track() -> dict[str, np.ndarray]:
    """A valid 2D track's arrays: real HDM05 mocap projected into the sample clip's frame."""
    source = SHARED_HDM05 if SHARED_HDM05.is_file() else FIXTURE_HDM05
    if not source.is_file():
        pytest.skip(f"HDM05 mocap not found ({SHARED_HDM05} or {FIXTURE_HDM05})")
    track, _ = mocap_seed.track_and_motion(mocap_seed.load_clip(source), 0, TRACK_FRAMES)
    return {"keypoints": track.keypoints, "scores": track.scores, "frame_indices": track.frame_indices,
            "fps": np.float32(track.fps), "width": np.int32(track.width), "height": np.int32(track.height)}


@pytest.fixture
def workdir(tmp_path: Path, mocap_track) -> Path:
    """tmp_path with a valid ``track.npz``, an earlier ``out.npz``, a folder and a plain file."""
    np.savez(tmp_path / "track.npz", **mocap_track)
    (tmp_path / "out.npz").write_bytes(EARLIER)
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path


def write_clip(path: Path, frames: int, size: tuple[int, int] = (64, 48), source: Path | None = None,
               start: int = 0) -> Path:
    """A small real video: ``frames`` frames of ``source`` from ``start`` (resized), or plain grey."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    capture = cv2.VideoCapture(str(source)) if source is not None else None
    if capture is not None:
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    for _ in range(frames):
        if capture is not None:
            ok, frame = capture.read()
            assert ok
            frame = cv2.resize(frame, size)
        else:
            frame = np.full((size[1], size[0], 3), 128, np.uint8)
        writer.write(frame)
    writer.release()
    if capture is not None:
        capture.release()
    return path


# ---------------------------------------------------------------------------------------
# track files (lift): refused at the door, before the lifter loads
# ---------------------------------------------------------------------------------------
def _edit(**changes):
    def apply(arrays: dict) -> dict:
        out = dict(arrays)
        for key, change in changes.items():
            if change is None:
                out.pop(key)
            else:
                out[key] = change(out[key]) if callable(change) else change
        return out
    return apply


def _nan_keypoint(k):
    k = k.copy()
    k[TRACK_FRAMES // 2, 3, 0] = np.nan
    return k


TRACK_CASES = {
    "keypoints all at one point": (_edit(keypoints=np.zeros_like), "every frame has all 17 joints within 1 pixel"),
    "keypoints as text": (_edit(keypoints=lambda k: k.astype(str)), "'keypoints' holds text (str), not numbers"),
    "keypoints as bytes": (_edit(keypoints=lambda k: k.astype("S12")), "'keypoints' holds bytes, not numbers"),
    "scores as text": (_edit(scores=lambda s: s.astype(str)), "'scores' holds text (str), not numbers"),
    "scores in percent": (_edit(scores=lambda s: s * 100), "'scores' must be confidences in [0, 1]"),
    "negative scores": (_edit(scores=lambda s: s - 2), "'scores' must be confidences in [0, 1]"),
    "all scores zero": (_edit(scores=np.zeros_like), "every joint is scored below"),
    "fps infinite": (_edit(fps=np.float32(np.inf)), "must be finite and positive"),
    "fps zero": (_edit(fps=np.float32(0)), "must be finite and positive"),
    "fps as text": (_edit(fps=np.str_("30")), "'fps' holds text (str)"),
    "huge keypoints": (_edit(keypoints=lambda k: k * 1e30), "not pixel coordinates of this video"),
    "NaN keypoints": (_edit(keypoints=_nan_keypoint), "NaN or infinite"),
    "no scores": (_edit(scores=None), "lacks scores"),
    "pickled object keypoints": (_edit(keypoints=lambda k: np.array(list(k), dtype=object)),
                                 "holds Python objects (pickled data, never loaded"),
}


@pytest.mark.parametrize("case", list(TRACK_CASES))
def test_lift_refuses_bad_track_before_the_model(workdir, mocap_track, case):
    edit, message = TRACK_CASES[case]
    np.savez(workdir / "bad.npz", **edit(mocap_track))  # np.savez pickles object arrays: refused on reading
    line = refused_in_place(workdir, ["lift", "bad.npz", "-o", "out.npz"], BAD_INPUT, message)
    assert line.startswith("video-mocap lift: error: ")


TRACK_FILE_CASES = {
    "missing": (None, "file not found"),
    "empty": (b"", "not a readable .npz"),
    "truncated": ("cut", "write it again"),
    "a pickle": ("pickle", "not a readable .npz"),
    "a folder": ("folder", "is a folder, not a 2D track file"),
}


@pytest.mark.parametrize("case", list(TRACK_FILE_CASES))
def test_lift_refuses_unreadable_track_file(workdir, case):
    content, message = TRACK_FILE_CASES[case]
    bad = workdir / "bad.npz"
    if content == "cut":
        bad.write_bytes((workdir / "track.npz").read_bytes()[:3000])
    elif content == "pickle":
        bad.write_bytes(pickle.dumps({"keypoints": [[0.0, 0.0]] * 17}))
    elif content == "folder":
        bad.mkdir()
    elif content is not None:
        bad.write_bytes(content)
    refused_in_place(workdir, ["lift", "bad.npz", "-o", "out.npz"], BAD_INPUT, message)


# ---------------------------------------------------------------------------------------
# output paths: checked before any work, every command
# ---------------------------------------------------------------------------------------
OUTPUT_CASES = {
    "an existing folder": ("a_folder", "is an existing folder"),
    "under a file": ("a_file/x{suffix}", "a_file is a file, not a folder"),
    "in /proc": ("/proc/video_mocap_test{suffix}", "is not writable"),
    "an unknown type": ("x.json", "not a known type"),
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
@pytest.mark.parametrize("command", ["lift", "detect", "estimate"])
def test_unwritable_output_is_refused_before_any_work(workdir, sample_clip, command, case):
    target, message = OUTPUT_CASES[case]
    if target.startswith("/proc") and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    if command == "estimate":
        if case == "an existing folder":
            pytest.skip("estimate writes into an existing folder: test_estimate_file_name_that_is_a_folder")
        suffix, args = ".bvh", ["estimate", str(sample_clip), "--end", "10"]
        if case == "an unknown type":
            message = "Unknown output type '.json'"  # estimate's output_paths: a file type or a folder
    elif command == "detect":
        suffix, args = ".npz", ["detect", str(sample_clip), "--end", "10"]
    else:
        suffix, args = ".npz", ["lift", "track.npz"]
    refused_in_place(workdir, [*args, "-o", target.format(suffix=suffix)], BAD_INPUT, message)


def test_estimate_file_name_that_is_a_folder(workdir, sample_clip):
    (workdir / "result.bvh").mkdir()
    refused_in_place(workdir, ["estimate", str(sample_clip), "-o", "result.bvh"], BAD_INPUT, "is an existing folder")


@pytest.mark.parametrize("command", ["eval", "export-onnx", "train"])
def test_other_commands_check_their_outputs_first(workdir, command):
    if command == "eval":
        args = ["eval", "--weights", str(REPO / "weights" / "dtgcn.safetensors"), "--data", "a_folder",
                "--save-predictions", "a_file/predictions.npz"]
    elif command == "export-onnx":
        args = ["export-onnx", "--out", "a_file"]
    else:
        args = ["train", str(REPO / "training" / "configs" / "dtgcn_small.yaml"), "--out", "a_file/run"]
    refused_in_place(workdir, args, BAD_INPUT, "a_file is a file, not a folder")


# ---------------------------------------------------------------------------------------
# videos: refused with what is wrong (detect and estimate alike)
# ---------------------------------------------------------------------------------------
def _audio_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        tone = (8000 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000)).astype("<i2")
        out.writeframes(tone.tobytes())


def _audio_m4a(path: Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed: no audio-only MP4 to make")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac",
                    str(path)], check=True, timeout=60)


VIDEO_CASES = {
    "missing": ("missing.mp4", None, "Video not found"),
    "a folder": ("clips", "folder", "is a folder, not a video file"),
    "empty": ("empty.mp4", b"", "is empty (0 bytes)"),
    "truncated": ("truncated.mp4", "cut", "truncated"),
    "undecodable": ("noise.mp4", "noise", "Cannot read noise.mp4 as a video"),
    "audio only (wav)": ("song.wav", "wav", "has no video stream (it is WAV audio)"),
    "audio only (m4a)": ("song.m4a", "m4a", "has no video stream (it is an MP4/M4A/MOV with only audio tracks)"),
    "one frame": ("still.avi", "still", "has 1 frame(s)"),
}


def _make_video(workdir: Path, sample_clip: Path, name: str, content) -> None:
    path = workdir / name
    if content == "folder":
        path.mkdir()
    elif content == "cut":
        path.write_bytes(sample_clip.read_bytes()[:100_000])
    elif content == "noise":
        path.write_bytes(np.random.default_rng(0).bytes(50_000))
    elif content == "wav":
        _audio_wav(path)
    elif content == "m4a":
        _audio_m4a(path)
    elif content == "still":
        write_clip(path, 1)
    elif content is not None:
        path.write_bytes(content)


@pytest.mark.parametrize("case", list(VIDEO_CASES))
def test_detect_refuses_bad_video(workdir, sample_clip, case):
    name, content, message = VIDEO_CASES[case]
    _make_video(workdir, sample_clip, name, content)
    line = refused_in_place(workdir, ["detect", name, "-o", "out.npz"], BAD_INPUT, message)
    assert line.startswith("video-mocap detect: error: ")


@pytest.mark.parametrize("case", ["missing", "a folder", "audio only (wav)"])
def test_estimate_reports_a_bad_video_as_its_failed_clip(workdir, sample_clip, case):
    """One clip that fails: its FAILED line is the one stderr line, and status 2 (no output written;
    the cache may remember the file's hash, as it does for every video it sees)."""
    name, content, message = VIDEO_CASES[case]
    _make_video(workdir, sample_clip, name, content)
    line = refused_in_place(workdir, ["estimate", name, "-o", "result.bvh"], BAD_INPUT, message, skip=("cache",))
    assert line.startswith(f"FAILED  {name}: ")


@pytest.mark.slow
def test_detect_no_person(workdir):
    """Two grey frames: the detector runs (YOLO) and finds nobody; the earlier track is kept."""
    write_clip(workdir / "empty_room.avi", 2)
    refused_in_place(workdir, ["detect", "empty_room.avi", "-o", "out.npz"], BAD_INPUT, "No person detected",
                     skip=("cache",), bars=True)  # the detector ran: its bar is progress, not the message


# ---------------------------------------------------------------------------------------
# weights: a changed file or implausible tensors are refused, never lifted
# ---------------------------------------------------------------------------------------
def _copy_weights(folder: Path, name: str = "dtgcn") -> Path:
    for suffix in (".safetensors", ".json"):
        shutil.copy(REPO / "weights" / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder / f"{name}.safetensors"


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    for i in range(header + 1000, header + 1200):  # 200 bytes inside the tensor data
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _resave(path: Path, change) -> None:
    """Write changed tensors through save_weights (so the card's sha256 is right for them)."""
    from safetensors.numpy import load_file

    from video_mocap.inference.weights import load_card, save_weights

    card = load_card(path)
    save_weights({k: change(v) for k, v in load_file(str(path)).items()}, card, path)


WEIGHTS_CASES = {
    "bytes flipped after the header": (_flip_bytes, "does not match its card"),
    "zeroed tensors": (lambda p: _resave(p, np.zeros_like), "weight matrices all zero"),
    "integer tensors": (lambda p: _resave(p, lambda v: (v * 100).astype(np.int32)), "not floating point"),
}


@pytest.mark.needs_torch
@pytest.mark.parametrize("case", list(WEIGHTS_CASES))
def test_lift_refuses_damaged_weights(workdir, case):
    pytest.importorskip("torch")
    damage, message = WEIGHTS_CASES[case]
    weights_dir = workdir / "weights"
    weights_dir.mkdir()
    damage(_copy_weights(weights_dir))
    args = ["lift", "track.npz", "-o", "out.npz", "--model", "dtgcn", "--weights", "weights/dtgcn.safetensors",
            "--backend", "torch", "--device", "cpu"]
    refused_in_place(workdir, args, BAD_INPUT, message)


def test_blocked_backend_is_named_missing(workdir):
    """A package blocked in sys.modules (None) counts as missing: the message names the backend."""
    code = ("import sys; sys.modules['torch'] = None; from video_mocap.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    refused_in_place(workdir, ["lift", "track.npz", "-o", "out.npz", "--backend", "torch"], BAD_INPUT,
                     "The PyTorch backend needs PyTorch, not installed here", code=code)


# ---------------------------------------------------------------------------------------
# runs that go on: a warning, and the result is written
# ---------------------------------------------------------------------------------------
@pytest.mark.needs_torch
def test_joint_missing_from_most_frames_warns_and_lifts(workdir, mocap_track):
    pytest.importorskip("torch")
    scores = mocap_track["scores"].copy()
    scores[: int(0.8 * TRACK_FRAMES), 13] = 0.0  # left wrist unseen in 80% of the frames
    np.savez(workdir / "track.npz", **{**mocap_track, "scores": scores})
    result = run_cli(["lift", "track.npz", "-o", "out.npz", "--backend", "torch", "--device", "cpu",
                      "--no-flip"], workdir)
    assert result.returncode == OK, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "left_wrist (80%)" in warnings[0], result.stderr
    assert Motion3D.load(workdir / "out.npz").num_frames == TRACK_FRAMES


@pytest.mark.slow
def test_detect_with_an_unwritable_cache_warns_and_writes(workdir, sample_clip):
    """A cache folder under a file: one warning, no cache, and the track is written."""
    result = run_cli(["detect", str(sample_clip), "--start", "100", "--end", "104", "-o", "out.npz",
                      "--cache-dir", "a_file/cache"], workdir)
    assert result.returncode == OK, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "cannot be written" in warnings[0] and "going on without it" in warnings[0]
    assert (workdir / "out.npz").read_bytes() != EARLIER
    assert (workdir / "a_file").read_text() == "not a folder"


@pytest.mark.slow
@pytest.mark.needs_torch
def test_estimate_with_an_unwritable_cache_keeps_the_result(workdir, sample_clip):
    """The whole pipeline with a cache folder under a file: a warning, never a failed clip."""
    pytest.importorskip("torch")
    result = run_cli([str(sample_clip), "--start", "100", "--end", "110", "-o", "walk.bvh",
                      "--cache-dir", "a_file/cache"], workdir,
                     code="import sys; from video_mocap.cli import main; sys.exit(main(['estimate', *sys.argv[1:]]))")
    assert result.returncode == OK, result.stderr
    assert "Traceback" not in result.stderr and "FAILED" not in result.stderr
    assert any("cache folder" in line and "going on without the cache" in line
               for line in result.stderr.splitlines() if line.startswith("WARNING")), result.stderr
    assert (workdir / "walk.bvh").read_text().startswith("HIERARCHY")


# ---------------------------------------------------------------------------------------
# batches, cancelling, usage: the exit statuses agree
# ---------------------------------------------------------------------------------------
def test_estimate_batch_every_clip_failed_is_status_2(workdir):
    (workdir / "empty.mp4").write_bytes(b"")
    before = snapshot(workdir)
    result = run_cli(["estimate", "missing.mp4", "empty.mp4", "-o", "results"], workdir)
    assert result.returncode == BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2 and "Video not found" in failed[0] and "is empty" in failed[1], result.stderr
    assert "0 of 2 clips done, 2 failed." in result.stdout
    assert snapshot(workdir) == before


def test_estimate_batch_some_failed_is_status_1(workdir, sample_clip):
    """The good clip (its motion seeded into the cache from real mocap) is written, the missing one fails."""
    source = SHARED_HDM05 if SHARED_HDM05.is_file() else FIXTURE_HDM05
    from video_mocap.pipeline import stages

    settings = stages.make_settings(frame_start=0, frame_end=30, foot_lock=True)
    mocap_seed.seed_motion_cache(sample_clip, settings, workdir / "cache", source)
    result = run_cli(["estimate", str(sample_clip), "missing.mp4", "--end", "30", "-o", "results",
                      "--format", "bvh"], workdir)
    assert result.returncode == SOME_FAILED, result.stderr
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "missing.mp4" in failed[0], result.stderr
    assert sorted(p.name for p in (workdir / "results").iterdir()) == [f"{sample_clip.stem}.bvh"]


@pytest.mark.needs_torch
def test_ctrl_c_during_lift_is_status_130_and_keeps_the_earlier_output(workdir, mocap_track):
    pytest.importorskip("torch")
    long = {**mocap_track, "keypoints": np.tile(mocap_track["keypoints"], (200, 1, 1)),
            "scores": np.tile(mocap_track["scores"], (200, 1)), "frame_indices": np.arange(200 * TRACK_FRAMES)}
    np.savez(workdir / "long.npz", **long)
    before = snapshot(workdir)
    env = {**os.environ, "VIDEO_MOCAP_CACHE": str(workdir / "cache")}
    process = subprocess.Popen([sys.executable, "-m", "video_mocap", "lift", "long.npz", "-o", "out.npz",
                                "--backend", "torch", "--device", "cpu"], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint)
    seen = b""
    deadline = time.monotonic() + TIMEOUT_S
    while b"window" not in seen and time.monotonic() < deadline:  # the lift's bar: the network is running
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=TIMEOUT_S)
    stderr = (seen + rest).decode()
    assert process.returncode == CANCELLED, stderr
    assert "Traceback" not in stderr and "video-mocap lift: cancelled" in stderr
    assert snapshot(workdir) == before, "the earlier output changed or a temp file was left"


@pytest.mark.parametrize("args, status", [([], BAD_INPUT), (["bogus"], BAD_INPUT), (["lift"], BAD_INPUT),
                                          (["lift", "--bogus", "x"], BAD_INPUT), (["--help"], OK)])
def test_usage_statuses(tmp_path, args, status):
    result = run_cli(args, tmp_path)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr


def test_motion_file_checked_on_reading(tmp_path):
    """The 3D motion file's door (read by the pipeline's cache and Blender's import), in-process."""
    good = {"joints3d": np.zeros((3, 17, 3), np.float32), "root": np.ones((3, 3), np.float32),
            "frame_indices": np.arange(3), "fps": np.float32(30), "model": np.str_("dtgcn")}
    for change, message in [({"fps": np.float32(np.inf)}, "finite positive"), ({"fps": np.str_("30")}, "holds text"),
                            ({"root": np.full((3, 3), "x")}, "'root' holds text")]:
        np.savez(tmp_path / "m.npz", **{**good, **change})
        with pytest.raises(VideoMocapError, match=message):
            Motion3D.load(tmp_path / "m.npz")
