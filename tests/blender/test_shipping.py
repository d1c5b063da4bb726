"""Issue 7: the Linux extension zip installs into Blender and runs with only what it bundles.

The zip is built by ``tools/build_extension.py`` (git files + ONNX models + ONNX Runtime and
OpenCV wheels) and installed with ``bpy.ops.extensions.package_install_files`` in a subprocess
whose Blender user folder is a temp dir. In that subprocess a meta-path finder makes ``torch``,
``ultralytics`` and the repo's own ``video_mocap`` package unimportable, and makes ``cv2`` and
``onnxruntime`` importable *only* from the extension's own site-packages (where Blender unpacked
the zip's wheels). On the bpy 4.2 venv (no torch, OpenCV or ONNX Runtime at all) it is a clean room.

Needs: ``wheels/`` with the Linux wheels and ``weights/onnx/yolo11n-pose.onnx`` (both made by
./setup.sh). The Estimate 3D Pose run also needs trained lifter weights ``weights/<model>.safetensors``
and their ONNX export; it is skipped, with the reason, until they exist.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, run_python

from video_mocap.core.lifters import DEFAULT_LIFTER

MODEL = DEFAULT_LIFTER  # what Estimate 3D Pose runs in the installed extension
PLATFORM = "linux-x64"
ADDON_MODULE = "bl_ext.user_default.video_mocap"
SAMPLE = REPO / "assets" / "sample" / "sports2d_walk.mp4"
DETECTOR_ONNX = REPO / "weights" / "onnx" / "yolo11n-pose.onnx"
#: frames of the sample clip the installed extension processes (inclusive; both walkers visible)
FRAME_START, FRAME_END = 60, 119
SAMPLE_FPS = 30.0


def _build_module():
    spec = importlib.util.spec_from_file_location("build_extension", REPO / "tools" / "build_extension.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _lifter_ready() -> str | None:
    """None when trained weights and their up-to-date ONNX export exist, else the reason to skip."""
    weights = REPO / "weights" / f"{MODEL}.safetensors"
    onnx_file = REPO / "weights" / "onnx" / f"{MODEL}.onnx"
    if not weights.is_file():
        return f"no trained lifter weights yet ({weights}); Estimate 3D Pose must not run untrained weights"
    if not onnx_file.is_file():
        return f"{onnx_file} missing: run 'video-mocap export-onnx' (./setup.sh does)"
    try:
        import onnxruntime as ort
    except ImportError:  # bpy 4.2 venv: read the metadata with the onnx-free check below
        return None
    from video_mocap.inference.onnx_backend import WEIGHTS_SHA_METADATA_KEY, sha256_file

    meta = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).get_modelmeta()
    if meta.custom_metadata_map.get(WEIGHTS_SHA_METADATA_KEY) != sha256_file(weights):
        return f"{onnx_file} was exported from other weights: run 'video-mocap export-onnx' again"
    return None


def _refresh_lifter_export() -> None:
    """Export the trained lifter to ONNX when its export is missing or stale and torch is here (seconds)."""
    weights = REPO / "weights" / f"{MODEL}.safetensors"
    if not weights.is_file() or importlib.util.find_spec("torch") is None or _lifter_ready() is None:
        return
    from video_mocap.inference.onnx_export import export_lifter

    export_lifter(weights, REPO / "weights" / "onnx")


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory) -> Path:
    _refresh_lifter_export()  # before the build: the zip ships weights/onnx
    build = _build_module()
    if build.find_wheel(build.WHEELS_DIR, "onnxruntime", "1.32.0", PLATFORM) is None:
        pytest.skip("no Linux wheels in wheels/: run ./setup.sh (it downloads them once)")
    if not DETECTOR_ONNX.is_file():
        pytest.skip(f"{DETECTOR_ONNX} missing: run ./setup.sh or 'video-mocap export-onnx'")
    out = tmp_path_factory.mktemp("dist")
    zips = build.build([PLATFORM], out, download=False)
    assert len(zips) == 1 and zips[0].is_file()
    return zips[0]


def test_zip_bundles_the_torch_free_runtime(linux_zip):
    with zipfile.ZipFile(linux_zip) as archive:
        names = archive.namelist()
        manifest = archive.read("blender_manifest.toml").decode()
    wheels = [n for n in names if n.startswith("wheels/")]
    assert any(n.startswith("wheels/onnxruntime-") and "manylinux" in n for n in wheels), wheels
    assert any(n.startswith("wheels/opencv_python_headless-") and "manylinux" in n for n in wheels), wheels
    assert not [n for n in wheels if "win_amd64" in n or "macosx" in n], "other platforms' wheels shipped"
    assert "weights/onnx/yolo11n-pose.onnx" in names
    assert not [n for n in names if n.startswith(("tools/", "tests/", "training/", "bench/"))]
    assert 'platforms = ["linux-x64"]' in manifest


# Runs in a fresh interpreter: argv = zip, video, result json, run_estimate (0/1)
INSTALL_AND_RUN = textwrap.dedent(
    r"""
    import importlib.abc, importlib.machinery, json, os, sys
    from pathlib import Path

    BLOCKED = {"torch", "ultralytics", "video_mocap"}
    BUNDLED = {"cv2", "onnxruntime", "scipy"}
    USER = Path(os.environ["BLENDER_USER_RESOURCES"]).resolve()

    class Guard(importlib.abc.MetaPathFinder):
        attempts = []
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in BLOCKED:
                Guard.attempts.append(name)
                raise ModuleNotFoundError(f"{name} is blocked in the shipping test", name=name)
            if name in BUNDLED:  # only from the extension's own site-packages
                dirs = [p for p in sys.path if p and Path(p).resolve().is_relative_to(USER)]
                spec = importlib.machinery.PathFinder.find_spec(name, dirs)
                if spec is None:
                    raise ModuleNotFoundError(f"{name} is not in the extension's site-packages {dirs}", name=name)
                return spec
            return None

    sys.meta_path.insert(0, Guard())
    zip_path, video, out_json, run_estimate = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    frame_start, frame_end, module = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]

    import bpy
    report = {}
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    report["install"] = sorted(result)
    report["enabled"] = module in {a.module for a in bpy.context.preferences.addons}
    runtime = sys.modules.get(module + ".inference.runtime") or __import__(module + ".inference.runtime", fromlist=["x"])
    report["describe"] = runtime.describe()
    report["missing"] = runtime.missing_packages_message()

    props = bpy.context.scene.video_mocap
    props.source = "FILE"
    props.filepath = video
    props.use_frame_range = True
    props.frame_start, props.frame_end = frame_start, frame_end
    props.device = "CPU"
    report["detect"] = sorted(bpy.ops.video_mocap.detect_people())
    report["people"] = [(p.track_id, bool(p.is_subject)) for p in props.people]
    if run_estimate:
        report["estimate"] = sorted(bpy.ops.video_mocap.estimate())
        arm = bpy.context.view_layer.objects.active
        report["armature"] = arm.type if arm is not None else None
        action = arm.animation_data.action if arm is not None and arm.animation_data else None
        report["frame_range"] = list(action.frame_range) if action is not None else None
        report["scene_fps"] = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    report["torch_imported"] = "torch" in sys.modules
    report["ultralytics_imported"] = "ultralytics" in sys.modules
    report["blocked_attempts"] = sorted(set(Guard.attempts))
    report["files"] = {m: sys.modules[m].__file__ for m in ("cv2", "onnxruntime", "scipy", "numpy") if m in sys.modules}
    report["user"] = str(USER)
    Path(out_json).write_text(json.dumps(report, indent=1))
    """
)


def _install_and_run(linux_zip: Path, tmp_path: Path, run_estimate: bool) -> dict:
    out_json = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"), VIDEO_MOCAP_CACHE=str(tmp_path / "cache"),
               PYTHONNOUSERSITE="1", YOLO_OFFLINE="1")
    result = run_python(
        ["-c", INSTALL_AND_RUN, str(linux_zip), str(SAMPLE), str(out_json), "1" if run_estimate else "0",
         str(FRAME_START), str(FRAME_END), ADDON_MODULE],
        env=env, cwd=tmp_path,
    )
    assert result.returncode == 0 and out_json.is_file(), result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads(out_json.read_text())
    # whatever ran, it ran on the bundled runtime only
    assert report["install"] == ["FINISHED"] and report["enabled"], report
    assert report["missing"] is None, report["missing"]
    assert report["describe"].startswith("ONNX Runtime"), report["describe"]
    assert not report["torch_imported"] and not report["ultralytics_imported"], report
    user = Path(report["user"])
    for module in ("cv2", "onnxruntime"):
        assert module in report["files"], f"{module} was never imported: {report}"
        assert Path(report["files"][module]).resolve().is_relative_to(user), report["files"]
    return report


def test_installed_zip_detects_people_without_torch(linux_zip, tmp_path):
    """Detect People in the installed extension: ONNX YOLO pose + numpy tracker + bundled OpenCV."""
    report = _install_and_run(linux_zip, tmp_path, run_estimate=False)
    assert report["detect"] == ["FINISHED"], report
    assert len(report["people"]) >= 1 and sum(s for _, s in report["people"]) == 1, report["people"]


def test_installed_zip_estimates_3d_pose_without_torch(linux_zip, tmp_path):
    reason = _lifter_ready()
    if reason:
        pytest.skip(reason)
    report = _install_and_run(linux_zip, tmp_path, run_estimate=True)
    assert report["estimate"] == ["FINISHED"], report
    assert report["armature"] == "ARMATURE", report
    # the rig solve ran on the zip's own scipy (Blender ships only numpy)
    assert "scipy" in report["files"], report
    assert Path(report["files"]["scipy"]).resolve().is_relative_to(Path(report["user"])), report["files"]
    # the keys cover the processed clip (resampled from the video's 30 fps to the scene's rate)
    first, last = report["frame_range"]
    covered_s = (last - first) / report["scene_fps"]
    assert covered_s >= (FRAME_END - FRAME_START) / SAMPLE_FPS - 2 / report["scene_fps"], report
