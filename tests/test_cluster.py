"""``video-mocap estimate ... --cluster ray`` on a real local Ray cluster of 2 CPUs.

One Ray instance (2 CPUs, a small object store, no dashboard) is started for the module by a
helper process and the batches connect to it through ``RAY_ADDRESS``, as a node of a real
cluster would; every batch is a ``video-mocap estimate`` subprocess, as a user runs it.
The two real clips' 3D motions come from the pipeline cache seeded with real mocap (as in
``test_batch.py``), so the batches do not run YOLO; a clip task still takes seconds on a fresh
worker (imports, the rig solve, the file), and the killed-worker test kills one in that time.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from child_signals import default_sigint
from pipeline_seed import seed_motion_cache
from video_mocap.pipeline import stages
from video_mocap.pipeline.cluster import MANIFEST_NAME

if importlib.util.find_spec("ray") is None:  # not imported here: the package sets Ray's auth mode before it does
    pytest.skip("Ray is not installed (./setup.sh installs it)", allow_module_level=True)

NUM_FRAMES = 30
#: how long the killed-worker test lets a clip run before it kills the worker
KILL_DELAY_S = 0.2
BROKEN_BYTES = 100_000
TIMEOUT_S = 300
SECOND_CLIP = Path("bench/data/pose2sim_balancing/cam01.mp4")
#: a Ray worker's process title while it runs a clip (the task's name)
TASK_TITLE = b"ray::estimate_clip"
HEAD_SCRIPT = """
import sys, ray
ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes stdin
ray.shutdown()
"""


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """A local Ray cluster of 2 CPUs for the module; its address (what ``RAY_ADDRESS`` holds)."""
    log = tmp_path_factory.mktemp("ray") / "head.log"
    with open(log, "w") as err:
        head = subprocess.Popen([sys.executable, "-c", HEAD_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, text=True)
        try:
            address = head.stdout.readline().strip()
            assert address, f"the Ray head did not start: {log.read_text()}"
            yield address
        finally:
            head.stdin.close()
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                head.kill()


@pytest.fixture
def clips(sample_clip, repo_root, tmp_path) -> list[Path]:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(1).bytes(BROKEN_BYTES))
    return [sample_clip, repo_root / SECOND_CLIP, broken]


def estimate(args: list[str], cwd: Path, ray_address: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    if ray_address:
        env["RAY_ADDRESS"] = ray_address
    return subprocess.Popen([sys.executable, "-m", "video_mocap", "estimate", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, out, err


def failure_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if "FAILED" in line]


def test_ray_batch_matches_the_serial_batch_and_resumes(clips, hdm05_file, ray_address, tmp_path):
    cache = tmp_path / "cache"
    settings = stages.make_settings(frame_start=0, frame_end=NUM_FRAMES, foot_lock=True)
    for clip in clips[:2]:
        seed_motion_cache(clip, settings, cache, hdm05_file)
    common = ["--format", "bvh", "--end", str(NUM_FRAMES), "--cache-dir", str(cache)]
    serial = finish(estimate([*map(str, clips), "-o", str(tmp_path / "serial"), *common], tmp_path))
    on_ray = finish(estimate([*map(str, clips), "-o", str(tmp_path / "ray"), *common, "--cluster", "ray"],
                             tmp_path, ray_address))

    for code, out, err in (serial, on_ray):
        assert code == 1, out + err
        assert "2 of 3 clips done, 1 failed." in out, out + err
        assert "Traceback" not in err
    assert failure_lines(on_ray[2]) == failure_lines(serial[2]), "the same FAILED line as the serial batch"
    assert len(failure_lines(on_ray[2])) == 1 and str(clips[2]) in failure_lines(on_ray[2])[0]
    serial_files = sorted((tmp_path / "serial").iterdir())
    ray_files = sorted(p for p in (tmp_path / "ray").iterdir() if p.name != MANIFEST_NAME)
    assert [p.name for p in ray_files] == [p.name for p in serial_files] == ["cam01.bvh", "sports2d_walk.bvh"]
    for ours, theirs in zip(ray_files, serial_files):
        assert ours.read_bytes() == theirs.read_bytes(), f"{ours.name} differs from the serial batch's"

    again = finish(estimate([*map(str, clips), "-o", str(tmp_path / "ray"), *common, "--cluster", "ray"],
                            tmp_path, ray_address))
    assert again[0] == 1, again[1] + again[2]
    assert "2 of 3 clips done (2 up to date, skipped), 1 failed." in again[1], again[1] + again[2]
    assert all(p.stat().st_mtime_ns == q.stat().st_mtime_ns for p, q in zip(ray_files, sorted(
        p for p in (tmp_path / "ray").iterdir() if p.name != MANIFEST_NAME))), "skipped outputs are not rewritten"


def _clip_workers() -> list[int]:
    """Processes whose title says they run a clip task now."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(TASK_TITLE):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_killed_worker_fails_only_its_clip_and_is_retried(clips, hdm05_file, ray_address, tmp_path):
    cache = tmp_path / "cache"
    settings = stages.make_settings(frame_start=0, frame_end=NUM_FRAMES, foot_lock=True)
    for clip in clips[:2]:
        seed_motion_cache(clip, settings, cache, hdm05_file)
    out = tmp_path / "out"
    batch = estimate([*map(str, clips[:2]), "-o", str(out), "--format", "bvh", "--end", str(NUM_FRAMES),
                      "--cache-dir", str(cache), "--cluster", "ray"], tmp_path, ray_address)
    killed = None
    deadline = time.monotonic() + TIMEOUT_S
    while killed is None and batch.poll() is None and time.monotonic() < deadline:
        for pid in _clip_workers():
            time.sleep(KILL_DELAY_S)  # into the clip; kill it if it still runs one
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(TASK_TITLE):
                    os.kill(pid, signal.SIGKILL)
                    killed = pid
                    break
            except OSError:
                continue
        time.sleep(0.02)
    code, stdout, stderr = finish(batch)
    assert killed is not None, "no worker was caught running a clip: " + stdout + stderr
    assert code == 0, stdout + stderr
    assert "2 of 2 clips done, 0 failed." in stdout, stdout + stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == [MANIFEST_NAME, "cam01.bvh", "sports2d_walk.bvh"], "both clips, no partial files"
    for name in ("cam01.bvh", "sports2d_walk.bvh"):
        assert f"Frames: {NUM_FRAMES}" in (out / name).read_text()


def test_ctrl_c_cancels_the_tasks_and_writes_nothing_partial(clips, ray_address, tmp_path):
    out = tmp_path / "out"
    earlier = set(_clip_workers())  # a previous test's workers may still be on their way out
    batch = estimate([*map(str, clips[:2]), "-o", str(out), "--format", "bvh", "--end", "60",
                      "--cache-dir", str(tmp_path / "cache"), "--cluster", "ray"], tmp_path, ray_address)
    deadline = time.monotonic() + TIMEOUT_S
    while not set(_clip_workers()) - earlier and batch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(KILL_DELAY_S)  # the networks run for real here: the clips are seconds from done
    batch.send_signal(signal.SIGINT)
    code, stdout, stderr = finish(batch)
    assert code == 130, stdout + stderr
    assert "Cancelled" in stderr and "Traceback" not in stderr
    written = [line.split(" -> ")[1] for line in stdout.splitlines() if line.startswith("ok")]
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert [name for name in left if name != MANIFEST_NAME] == sorted(Path(p).name for p in written), \
        "only whole outputs, no temp files"
    deadline = time.monotonic() + 30
    while set(_clip_workers()) - earlier and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(_clip_workers()) - earlier, "the cancelled tasks still run"


WEIGHTS_SCRIPT = """
import dataclasses, sys
from pathlib import Path
from video_mocap.pipeline import cluster, stages

settings = stages.make_settings(frame_start=0, frame_end=30, device="cpu")
started = cluster.connect(cluster.ClusterSpec())
ray = cluster.import_ray()  # after the package: it sets Ray's auth mode before Ray is imported
shared = cluster.SharedWeights.put(settings)
assert shared.lifter is not None and shared.lifter_card is not None and shared.detector is not None
gone = Path(sys.argv[1])
elsewhere = {f.name: dataclasses.replace(getattr(shared, f.name), source=str(gone / f.name))
             for f in dataclasses.fields(shared) if getattr(shared, f.name) is not None}
on_other_node = dataclasses.replace(shared, **elsewhere)

def localize_and_load(weights, pipeline_settings):
    from video_mocap.inference.lifter import load_lifter

    local = weights.localize(pipeline_settings)
    load_lifter(local.model, weights=local.weights, device="cpu", backend="torch")
    return str(local.weights), local.detect.model

lifter_path, detector_path = ray.get(ray.remote(localize_and_load).remote(on_other_node, settings))
assert cluster.WEIGHTS_DIR_NAME in lifter_path and cluster.WEIGHTS_DIR_NAME in detector_path, lifter_path
assert cluster._sha256(Path(lifter_path)) == shared.lifter.sha256
assert cluster._sha256(Path(detector_path)) == shared.detector.sha256
same_node = ray.get(ray.remote(lambda w, s: w.localize(s) == s).remote(shared, settings))
assert same_node, "a node that sees the driver's files keeps their paths"
cluster.disconnect(started)
print("WEIGHTS OK")
"""


def test_weights_reach_a_node_that_lacks_the_drivers_files(ray_address, tmp_path):
    """A worker that cannot see the driver's weights files writes them from the object store (once per
    node) beside each other, as the lifter looks for them, and the lifter loads from there; a worker
    that sees the driver's files uses them (a driver process on the module's cluster)."""
    env = {**os.environ, "YOLO_OFFLINE": "1", "RAY_ADDRESS": ray_address}
    proc = subprocess.run([sys.executable, "-c", WEIGHTS_SCRIPT, str(tmp_path / "gone")], capture_output=True,
                          text=True, timeout=TIMEOUT_S, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "WEIGHTS OK" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_without_ray_the_cluster_option_says_how_to_install_it(sample_clip, tmp_path):
    script = ("import sys; sys.modules['ray'] = None; from video_mocap.cli import main; "
              "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "estimate", str(sample_clip), "-o", str(tmp_path / "out"),
                           "--format", "bvh", "--cluster", "ray"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 2, proc.stderr
    assert "--cluster needs Ray" in proc.stderr and "setup.sh" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
