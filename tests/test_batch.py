"""Headless batch: ``video-mocap estimate`` (estimate_cli.main) and ``batch.py`` on a good and a broken clip.

Each run is a subprocess, as a user would run it. The good clip's 3D motion comes from the
pipeline cache seeded with real mocap until trained lifter weights exist (``pipeline_seed.py``);
the broken clip (random bytes named .mp4) fails in the 2D stage with a clear one-line error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline_seed import trained_lifter_or_skip, seed_motion_cache
from video_mocap.pipeline import stages as pipeline
from video_mocap.core.formats import Motion3D

NUM_FRAMES = 30
BROKEN_BYTES = 100_000
SUBPROCESS_TIMEOUT_S = 600
RUN_ESTIMATE = "import sys; from video_mocap.cli.estimate import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def clips(sample_clip, tmp_path) -> list[Path]:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(1).bytes(BROKEN_BYTES))
    return [sample_clip, broken]


@pytest.fixture
def seeded_cache(sample_clip, hdm05_file, tmp_path) -> Path:
    """The cache with the sample clip's motion for the CLI's settings (``--end 30``, defaults otherwise)."""
    cache = tmp_path / "cache"
    settings = pipeline.make_settings(frame_start=0, frame_end=NUM_FRAMES, foot_lock=True)
    seed_motion_cache(sample_clip, settings, cache, hdm05_file)
    return cache


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S,
                          cwd=cwd, env={**os.environ, "YOLO_OFFLINE": "1"})


def failure_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.strip().startswith("FAILED")]


def check_one_failure(result: subprocess.CompletedProcess, broken: Path) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = failure_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert str(broken) in lines[0] and "Cannot read" in lines[0]
    assert "Traceback" not in result.stderr
    assert "1 of 2 clips done, 1 failed." in result.stdout


def test_estimate_cli_blend_batch(clips, seeded_cache, tmp_path):
    pytest.importorskip("bpy")
    out = tmp_path / "out"
    args = ["-c", RUN_ESTIMATE, *map(str, clips), "-o", str(out), "--format", "blend", "--end", str(NUM_FRAMES),
            "--cache-dir", str(seeded_cache)]
    result = run(args, tmp_path)
    check_one_failure(result, clips[1])
    assert sorted(p.name for p in out.iterdir()) == ["sports2d_walk.blend"], "one file, no temp files left"

    import bpy

    with bpy.data.libraries.load(str(out / "sports2d_walk.blend")) as (data_from, _):
        assert "sports2d_walk" in data_from.objects and "sports2d_walk" in data_from.armatures
        assert len(data_from.actions) == 1


def test_batch_script_bvh(clips, seeded_cache, tmp_path, repo_root):
    out = tmp_path / "out"
    args = [str(repo_root / "blender" / "batch.py"), "--", *map(str, clips), "--out", str(out), "--format", "bvh",
            "--end", str(NUM_FRAMES), "--cache-dir", str(seeded_cache), "--smoothing-method", "one_euro"]
    result = run(args, tmp_path)
    check_one_failure(result, clips[1])
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["sports2d_walk.bvh"]
    text = files[0].read_text()
    assert text.startswith("HIERARCHY") and f"Frames: {NUM_FRAMES}" in text


def test_bad_output_is_a_clear_error(sample_clip, tmp_path):
    result = run(["-m", "video_mocap", "estimate", str(sample_clip), str(sample_clip), "-o", str(tmp_path / "x.bvh")],
                 tmp_path)
    assert result.returncode == 2
    assert "need an output folder" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_estimate_npz_with_trained_weights(sample_clip, tmp_path):
    model = trained_lifter_or_skip()
    out = tmp_path / "walk.npz"
    result = run(["-m", "video_mocap", "estimate", str(sample_clip), "-o", str(out), "--end", str(NUM_FRAMES),
                  "--model", model, "--cache-dir", str(tmp_path / "cache")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert Motion3D.load(out).num_frames == NUM_FRAMES
