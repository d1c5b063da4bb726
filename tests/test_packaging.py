"""The wheel is the whole package: built from a clean checkout, installed alone in a fresh venv, it lifts.

The editable install of ``setup.sh`` reads the working tree, so it cannot show a sub-package or a
data file missing from the wheel (an explicit ``packages`` list once left out
``video_mocap.inference.models``). Here the wheel is built from a copy of what a clone holds
(``pip wheel --no-deps --no-build-isolation``), installed with ``--no-deps`` into a venv made with
``python -m venv``, which gets the test venv's third-party packages through a ``.pth`` line (a plain
path: the test venv's own ``.pth`` files, the editable ``video_mocap`` finder among them, are not
run), and ``video-mocap lift`` of that venv lifts a real 2D track: the committed HDM05 jog projected
by a virtual camera.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.formats import Motion3D
from video_mocap.pipeline import mocap_seed

REPO = Path(__file__).resolve().parents[1]
#: seconds for one step (build, venv, install, lift) on a busy 2-core machine
STEP_TIMEOUT_S = 240
TRACK_FRAMES = 60
#: files the wheel must hold: sub-packages found only by setup.py, the lifters, the weights, the presets
REQUIRED_IN_WHEEL = (
    "video_mocap/__init__.py",
    "video_mocap/blender_manifest.toml",
    "video_mocap/core/lifters.py",
    "video_mocap/cli/lift.py",
    "video_mocap/pipeline/stages.py",
    "video_mocap/inference/models/dtgcn.py",
    "video_mocap/inference/models/posemoe.py",
    "video_mocap/weights/dtgcn.safetensors",
    "video_mocap/weights/dtgcn.json",
    "video_mocap/rigging/presets/mixamo.json",
    "video_mocap/assets/models/yolo11n-pose.pt",
)
NOT_SHIPPED = ("video_mocap/tests/", "video_mocap/bench/", "video_mocap/tools/")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, **kwargs)
    assert done.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def stage_checkout(dest: Path) -> Path:
    """Copy what a clone holds (tracked and new, not ignored files; working-tree content) to ``dest``."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, check=True, timeout=STEP_TIMEOUT_S).stdout.decode("utf-8")
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file() and not name.startswith(("tests/", "bench/")):  # not shipped; keeps the copy small
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def build_wheel(source: Path, out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-q",
         "-w", str(out), str(source)], cwd=source)
    wheels = sorted(out.glob("video_mocap-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {wheels}"
    return wheels[0]


def make_venv(folder: Path, wheel: Path) -> Path:
    """A fresh venv with the wheel installed alone, the test venv's packages on its path; its bin folder."""
    run([sys.executable, "-m", "venv", "--without-pip", str(folder)])
    python = folder / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)])
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "test_venv_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return folder / "bin"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    return build_wheel(stage_checkout(root / "src"), root / "dist")


def test_wheel_holds_every_sub_package_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [n for n in REQUIRED_IN_WHEEL if n not in names]
    assert not missing, f"{wheel.name} lacks {missing}"
    packages = {Path(n).parent.as_posix() for n in names if n.endswith("/__init__.py")}
    listing = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*__init__.py"], cwd=REPO).stdout
    for init in map(Path, listing.split()):  # every sub-package of the checkout that ships
        folder = init.parent.as_posix()
        if folder != "." and not folder.startswith(("tests", "bench", "tools")):
            assert f"video_mocap/{folder}" in packages, f"sub-package {folder} is not in {wheel.name}"
    assert not [n for n in names if n.startswith(NOT_SHIPPED)]


def test_installed_wheel_lifts_a_real_track(wheel, hdm05_file, tmp_path):
    bin_dir = make_venv(tmp_path / "venv", wheel)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(YOLO_OFFLINE="1", OMP_NUM_THREADS="1", PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    where = run([str(bin_dir / "python"), "-c", "import video_mocap; print(video_mocap.__file__)"],
                cwd=tmp_path, env=env).stdout.strip()
    assert Path(where).resolve().is_relative_to((tmp_path / "venv").resolve()), \
        f"video_mocap imported from {where}, not the installed wheel"

    track, _ = mocap_seed.track_and_motion(mocap_seed.load_clip(hdm05_file), 0, TRACK_FRAMES)
    track_path = track.save(tmp_path / "jog.track.npz")
    out = tmp_path / "jog.motion.npz"
    done = run([str(bin_dir / "video-mocap"), "lift", str(track_path), "-o", str(out), "--device", "cpu",
                "--backend", "torch"], cwd=tmp_path, env=env)
    assert "wrote" in done.stdout
    motion = Motion3D.load(out)
    assert motion.joints3d.shape == (TRACK_FRAMES, 17, 3) and np.isfinite(motion.joints3d).all()
    assert np.array_equal(motion.frame_indices, track.frame_indices)
    assert np.allclose(motion.joints3d[:, 0], 0.0)  # root-relative
    heights = np.ptp(motion.joints3d[..., 1], axis=1)  # y down: head to ankle, a standing jogger
    assert np.all((heights > 1.0) & (heights < 2.2)), heights
