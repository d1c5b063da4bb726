"""Shared fixtures: real data only (the sample clip, shipped YOLO weights, ../shared mocap)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
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
        pytest.skip(f"../shared not found beside the repo ({SHARED}); mocap tests need it")
    return SHARED


@pytest.fixture(scope="session")
def hdm05_clip(shared_dir):
    """Loader of one HDM05 clip from ../shared: ``hdm05_clip(key) -> (T, 17, 3)`` float64, metres, Y up.

    A key missing from the file falls back to the first clip of the same actor and motion class.
    """
    import numpy as np

    path = shared_dir / "data" / "mocap" / "hdm05" / "hdm05_h36m.npz"
    if not path.is_file():
        pytest.skip(f"HDM05 mocap not found: {path}")

    def load(key: str):
        with np.load(path) as data:
            if key not in data:
                key = next(k for k in data.files if k.startswith(key.rsplit("_", 2)[0]))
            return data[key].astype(np.float64)

    return load
