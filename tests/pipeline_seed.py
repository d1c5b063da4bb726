"""Test helper: put a real mocap motion into the pipeline's motion cache for the sample clip.

The seeding itself is ``pipeline/mocap_seed.py`` (shared with ``bench/bench_reapply.py``): an HDM05 jog
filmed by a virtual camera, and its exact projection as the 2D track. The tests pass the
``hdm05_file`` fixture (the shared data's HDM05 file, or the committed ``tests/data/hdm05_fixture.npz``
on a fresh clone), so these tests run without ``../shared``. Nothing here imports bpy, torch or OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from video_mocap.core import lifters
from video_mocap.inference.weights import default_weights_path
from video_mocap.pipeline import mocap_seed, stages


#: the HDM05 sequence file inside a shared data folder
HDM05_IN_SHARED = Path("data/mocap/hdm05/hdm05_h36m.npz")


def seed_motion_cache(video: Path, settings: stages.PipelineSettings, cache_dir: Path, hdm05: Path) -> Path:
    """Store the mocap motion as the cached result of ``settings`` on ``video``; returns the motion file.

    ``hdm05``: the HDM05 sequence file (the ``hdm05_file`` fixture), or a shared data folder holding it.
    """
    path = Path(hdm05) / HDM05_IN_SHARED if Path(hdm05).is_dir() else Path(hdm05)
    if not path.is_file():
        pytest.skip(f"HDM05 mocap not found: {path}")
    return mocap_seed.seed_motion_cache(video, settings, cache_dir, path)


def trained_lifter_or_skip() -> str:
    """The first user-facing lifter whose trained weights are in place (in ``lifters.USER_LIFTERS`` order: the default first), or skip."""
    for model in lifters.USER_LIFTERS:
        if default_weights_path(model).is_file():
            return model
    paths = ", ".join(str(default_weights_path(m)) for m in lifters.USER_LIFTERS)
    pytest.skip(f"no trained lifter weights yet ({paths}); the full network run needs them")
