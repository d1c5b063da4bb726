"""Shared fixtures: real data only (the sample clip, shipped YOLO weights, ../shared mocap).

The shared data folder is ``../shared`` beside the repo, or ``VIDEO_MOCAP_SHARED``. Without it (a
fresh clone) the HDM05 fixtures read ``tests/data/hdm05_fixture.npz`` (14 real HDM05 clips, CC BY-SA
3.0, see ``tests/data/README.md``); only the tests that need the full data sets (``shared_dir``:
Bandai, DeepMimic, all of HDM05) skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: the shared data beside the repo; ``VIDEO_MOCAP_SHARED`` overrides it (a missing folder = a fresh clone)
SHARED = Path(os.environ.get("VIDEO_MOCAP_SHARED", REPO.parent / "shared"))
HDM05_SHARED = SHARED / "data" / "mocap" / "hdm05" / "hdm05_h36m.npz"
#: a few whole HDM05 clips committed with the tests (used when the shared data is absent)
HDM05_FIXTURE = REPO / "tests" / "data" / "hdm05_fixture.npz"
SAMPLE_CLIP = REPO / "assets" / "sample" / "sports2d_walk.mp4"
YOLO_WEIGHTS = REPO / "assets" / "models" / "yolo11n-pose.pt"

os.environ.setdefault("YOLO_OFFLINE", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_torch: needs torch (skipped on the bpy 4.2 venv)")
    config.addinivalue_line("markers", "slow: longer tests (still run in CI)")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    assert SAMPLE_CLIP.is_file(), f"sample clip missing: {SAMPLE_CLIP}"
    return SAMPLE_CLIP


@pytest.fixture(scope="session")
def yolo_weights() -> Path:
    assert YOLO_WEIGHTS.is_file(), f"YOLO weights missing: {YOLO_WEIGHTS}"
    return YOLO_WEIGHTS


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found ({SHARED}; set VIDEO_MOCAP_SHARED): this test needs the full data sets")
    return SHARED


@pytest.fixture(scope="session")
def hdm05_file() -> Path:
    """The HDM05 sequence file: the shared data's (all clips) or, without it, ``tests/data/hdm05_fixture.npz``."""
    if HDM05_SHARED.is_file():
        return HDM05_SHARED
    assert HDM05_FIXTURE.is_file(), f"the committed HDM05 fixture is missing: {HDM05_FIXTURE}"
    return HDM05_FIXTURE


@pytest.fixture(scope="session")
def hdm05_clip(hdm05_file):
    """Loader of one HDM05 clip (:func:`hdm05_file`): ``hdm05_clip(key) -> (T, 17, 3)`` float64, metres, Y up.

    A key missing from the file falls back to the first clip of the same actor and motion class.
    """
    import numpy as np

    path = hdm05_file

    def load(key: str):
        with np.load(path) as data:
            if key not in data:
                key = next(k for k in data.files if k.startswith(key.rsplit("_", 2)[0]))
            return data[key].astype(np.float64)

    return load


@pytest.fixture(scope="session")
def hdm05_detector_clip(hdm05_clip):
    """:func:`hdm05_clip` on the detector's skeleton, as the calibrated lifters answer: the nose in
    front of the ear-level head point (``training.sources.detector_nose``) and the detector's
    measured proportions (``training.jointmap.apply_bone_scales``); (T, 17, 3), metres, Y up."""
    from video_mocap.training.jointmap import apply_bone_scales, source_bone_scales
    from video_mocap.training.sources import detector_nose

    scales = source_bone_scales("hdm05")

    def load(key: str):
        return apply_bone_scales(detector_nose(hdm05_clip(key)), scales)

    return load


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): on
    2 shared cores several torch threads wait on each other (5-10x slower)."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
