"""Issue 2: the repo is a valid Blender extension; it builds, installs, enables and disables cleanly.

Runs on bpy 5.0 (.venv) and bpy 4.2 LTS (.venv42: no torch, no OpenCV), so registration must not
import torch, OpenCV or Ultralytics.
"""

from __future__ import annotations

import os
import textwrap
import zipfile

from conftest import REPO, run_python

#: folders and files that must never ship in the extension zip
EXCLUDED_PREFIXES = ("training/", "tests/", "bench/", ".venv", ".git/", ".ci/", ".pytest_cache/")
#: files the extension cannot work without
REQUIRED_FILES = (
    "blender_manifest.toml",
    "__init__.py",
    "blender/preferences.py",
    "blender/properties.py",
    "operators/__init__.py",
    "panels/__init__.py",
    "pipeline/stages.py",
    "core/skeleton.py",
    "assets/models/yolo11n-pose.pt",
)
ADDON_MODULE = "bl_ext.user_default.video_mocap"
#: classes Blender exposes in ``bpy.types`` while registered (preferences and property groups are checked apart)
ADDON_CLASSES = (
    "VIDEO_MOCAP_OT_estimate",
    "VIDEO_MOCAP_OT_detect_people",
    "VIDEO_MOCAP_OT_apply",
    "VIEW3D_PT_video_mocap",
    "CLIP_PT_video_mocap",
)
HEAVY_MODULES = ("torch", "cv2", "ultralytics", "onnxruntime")


def test_manifest_validates(blender_ext_cli):
    result = run_python([str(blender_ext_cli), "validate", str(REPO)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_build_zip_contents(extension_zip):
    with zipfile.ZipFile(extension_zip) as archive:
        names = archive.namelist()
    shipped = [n for n in names if n.startswith(EXCLUDED_PREFIXES)]
    assert not shipped, f"the zip ships development files: {shipped[:10]}"
    missing = [n for n in REQUIRED_FILES if n not in names]
    assert not missing, f"the zip lacks {missing}"
    assert not [n for n in names if "__pycache__" in n]


ENABLE_DISABLE = textwrap.dedent(
    """
    import sys
    import bpy
    zip_path, module, classes, heavy = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}, result
    enabled = {a.module for a in bpy.context.preferences.addons}
    assert module in enabled, enabled
    missing = [c for c in classes if not hasattr(bpy.types, c)]
    assert not missing, f"not registered: {missing}"
    assert hasattr(bpy.types.Scene, "video_mocap")
    prefs = bpy.context.preferences.addons[module].preferences
    assert prefs.device == "AUTO", prefs.device
    assert bpy.context.scene.video_mocap.model == "dtgcn"  # the default lifter
    loaded = [m for m in heavy if m in sys.modules]
    assert not loaded, f"enabling imported heavy modules: {loaded}"
    bpy.ops.preferences.addon_disable(module=module)
    assert module not in {a.module for a in bpy.context.preferences.addons}
    left = [c for c in classes if hasattr(bpy.types, c)]
    assert not left, f"still registered after disable: {left}"
    assert not hasattr(bpy.types.Scene, "video_mocap")
    assert "video_mocap" not in bpy.types.Scene.bl_rna.properties
    print("ENABLE_DISABLE_OK")
    """
)


def test_extension_installs_enables_and_disables(extension_zip, tmp_path):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    result = run_python(
        ["-c", ENABLE_DISABLE, str(extension_zip), ADDON_MODULE, ",".join(ADDON_CLASSES), ",".join(HEAVY_MODULES)],
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ENABLE_DISABLE_OK" in result.stdout
