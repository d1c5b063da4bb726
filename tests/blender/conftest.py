"""Fixtures for the Blender-layer tests (bpy 5.0 in .venv, bpy 4.2 LTS in .venv42).

``addon_scene`` enables the add-on in this process (per test) so operators and panels can be
driven directly; extension install/enable runs in subprocesses with their own user folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXT_CLI_RELATIVE = Path("scripts/addons_core/bl_pkg/cli/blender_ext.py")
#: seconds allowed for one Blender subprocess (starting bpy takes a few seconds on a busy CPU)
SUBPROCESS_TIMEOUT_S = 300


def bpy_package_dir() -> Path:
    """The installed ``bpy`` folder (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        pytest.skip("bpy is not installed in this Python")
    return Path(spec.origin).resolve().parent


@pytest.fixture(scope="session")
def blender_ext_cli() -> Path:
    """Blender's bundled extension tool (``<bpy>/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py``)."""
    candidates = sorted(bpy_package_dir().glob(f"*/{EXT_CLI_RELATIVE.as_posix()}"))
    assert candidates, f"blender_ext.py not found under {bpy_package_dir()}"
    return candidates[-1]


def run_python(args: list[str], env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run this interpreter with ``args`` and return the finished process (text output)."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, env=env, cwd=cwd
    )


def stage_source(dest: Path) -> Path:
    """Copy what a clean checkout holds (tracked + new, not ignored files; working-tree content) to ``dest``.

    Building from the working tree itself would also walk local caches and venvs (gigabytes).
    """
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True, timeout=SUBPROCESS_TIMEOUT_S,
    ).stdout.decode("utf-8")
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():  # a deleted but still tracked file is skipped
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


@pytest.fixture(scope="session")
def extension_zip(blender_ext_cli: Path, tmp_path_factory) -> Path:
    """The extension built with Blender's own tool from a clean copy of the repo."""
    source = stage_source(tmp_path_factory.mktemp("ext_source"))
    out = tmp_path_factory.mktemp("ext_build")
    result = run_python([str(blender_ext_cli), "build", "--source-dir", str(source), "--output-dir", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    zips = list(out.glob("*.zip"))
    assert len(zips) == 1, f"expected one zip, got {zips}: {result.stdout}"
    return zips[0]


ADDON = "video_mocap"


@pytest.fixture
def addon_scene():
    """A factory-empty file with the add-on enabled (preferences included); disabled afterwards.

    Factory settings also reset the add-ons, so the add-on is enabled after the reset, per test.
    """
    import addon_utils
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    module = addon_utils.enable(ADDON, default_set=True, handle_error=_raise)
    assert module is not None, "the add-on did not enable"
    yield bpy.context.scene
    addon_utils.disable(ADDON, default_set=True, handle_error=_raise)


def _raise(exc: BaseException) -> None:
    raise exc


# ---------------------------------------------------------------------------------------
# bpy as a Python module can crash while the interpreter tears it down (seen with bpy 4.2.23
# after the Rigify add-on was enabled: the tests pass, then "Segmentation fault" at exit).
# The results are final by then, so once pytest has reported, leave with pytest's own exit
# status and skip that teardown. A failing test still fails the run.
# ---------------------------------------------------------------------------------------
_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config):
    if "bpy" in sys.modules and _EXIT_STATUS:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
