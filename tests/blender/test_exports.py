"""FBX and BVH files carry the animation: re-imported with Blender's own importers they hold an
action with one key per clip frame and bones that move where the solve put them.

Covers :func:`video_mocap.blender.export.export_armature`, ``video-mocap estimate -o out.fbx``
and ``blender -b -P blender/batch.py -- ... --format fbx`` (the last two as subprocesses on
the sample clip, whose motion comes from the pipeline cache seeded with real mocap).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.blender import armature as blender_armature, export as blender_export  # noqa: E402
from video_mocap.blender.compat import action_fcurve_collection  # noqa: E402
from video_mocap.core.formats import Motion3D  # noqa: E402
from video_mocap.rigging import solve as S  # noqa: E402
from video_mocap.rigging.world import view_from_camera  # noqa: E402

FPS = 30.0
CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
NUM_FRAMES = 40
#: re-imported joints vs solved joints (metres); the importers keep heads exactly
POSITION_TOL_M = 0.002
#: the pelvis of a jog travels more than this over the clip (metres)
MIN_TRAVEL_M = 0.3
SUBPROCESS_TIMEOUT_S = 600
RUN_ESTIMATE = "import sys; from video_mocap.cli.estimate import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def solved(hdm05_clip) -> S.SolvedMotion:
    clip = hdm05_clip(CLIP)[:NUM_FRAMES]
    rel, root = view_from_camera(clip, yaw_deg=35.0, tilt_deg=6.0)
    return S.solve(Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05"))


def keyed_frames(obj) -> set[float]:
    """Every frame that holds a key on any F-curve of ``obj``'s active action."""
    assert obj.animation_data is not None and obj.animation_data.action is not None, f"'{obj.name}' has no action"
    frames: set[float] = set()
    for fcurve in action_fcurve_collection(obj.animation_data.action, obj):
        frames.update(round(k.co[0], 3) for k in fcurve.keyframe_points)
    return frames


def import_file(path: Path):
    """Import ``path`` (.fbx / .bvh) into an empty scene; returns the imported armature."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.suffix == ".fbx":
        # anim_offset=0: the importer's default shifts the keys by one frame
        result = bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)
    else:
        # Blender's BVH exporter writes armature space as it is (Z up here): read it back as such
        result = bpy.ops.import_anim.bvh(filepath=str(path), update_scene_fps=True, update_scene_duration=True,
                                         axis_forward="Y", axis_up="Z")
    assert "FINISHED" in result
    rigs = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(rigs) == 1, [o.name for o in bpy.data.objects]
    return rigs[0]


def joint_heads(obj, names: list[str], frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    world = np.array(obj.matrix_world)
    return np.array([(world @ np.append(np.array(obj.pose.bones[n].head), 1.0))[:3] for n in names])


def check_animated(obj, num_frames: int, first_frame: int = 1) -> None:
    """One key per clip frame, and a pelvis that travels (the bones move)."""
    frames = keyed_frames(obj)
    assert len(frames) == num_frames, (len(frames), num_frames)
    assert min(frames) == pytest.approx(first_frame) and max(frames) == pytest.approx(first_frame + num_frames - 1)
    root = obj.data.bones[0].name
    start = joint_heads(obj, [root], first_frame)[0]
    end = joint_heads(obj, [root], first_frame + num_frames - 1)[0]
    assert np.linalg.norm(end - start) > MIN_TRAVEL_M


def check_matches_solve(obj, solved: S.SolvedMotion) -> None:
    """Each bone's head sits on its solved joint (the head of bone j is the joint of its parent)."""
    for k in (0, solved.num_frames // 2, solved.num_frames - 1):
        heads = joint_heads(obj, list(solved.bone_names), int(round(solved.frames[k])))
        expected = solved.joints_world[k, [max(p, 0) for p in solved.parents]]
        err = np.linalg.norm(heads - expected, axis=-1)
        assert err.max() < POSITION_TOL_M, (k, err.max())


@pytest.mark.parametrize("suffix", [".fbx", ".bvh"])
def test_exported_file_reimports_animated(solved, tmp_path, suffix):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = blender_armature.create_armature(solved, name="Mocap")
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 100, 120  # the export takes the action's range, not the scene's
    path = blender_export.export_armature(obj, tmp_path / f"walk{suffix}")
    assert (scene.frame_start, scene.frame_end) == (100, 120), "the user's scene range is restored"
    rig = import_file(path)
    check_animated(rig, solved.num_frames)
    check_matches_solve(rig, solved)


@pytest.fixture
def seeded_cache(sample_clip, request, tmp_path) -> Path:
    """The pipeline cache holding the sample clip's motion for ``--end 30`` (real mocap, pipeline_seed)."""
    pytest.importorskip("cv2")
    pytest.importorskip("torch")  # the CLI runs with --backend torch: the seeded settings' cache key
    from pipeline_seed import seed_motion_cache
    from video_mocap.pipeline import stages as pipeline

    cache = tmp_path / "cache"
    settings = pipeline.make_settings(frame_start=0, frame_end=30, foot_lock=True)
    seed_motion_cache(sample_clip, settings, cache, hdm05_file(request))
    return cache


def hdm05_file(request) -> Path:
    """The HDM05 mocap file: the ``hdm05_file`` fixture where conftest has it, else the shared data's."""
    try:
        return request.getfixturevalue("hdm05_file")
    except pytest.FixtureLookupError:
        path = request.getfixturevalue("shared_dir") / "data" / "mocap" / "hdm05" / "hdm05_h36m.npz"
        if not path.is_file():
            pytest.skip(f"HDM05 mocap not found: {path}")
        return path


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S,
                            cwd=cwd, env={**os.environ, "YOLO_OFFLINE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_estimate_cli_fbx_is_animated(sample_clip, seeded_cache, tmp_path):
    out = tmp_path / "walk.fbx"
    _run(["-c", RUN_ESTIMATE, str(sample_clip), "-o", str(out), "--end", "30", "--cache-dir", str(seeded_cache),
          "--backend", "torch"], tmp_path)
    check_animated(import_file(out), 30)


def test_batch_script_fbx_is_animated(sample_clip, seeded_cache, tmp_path, repo_root):
    out = tmp_path / "out"
    _run([str(repo_root / "blender" / "batch.py"), "--", str(sample_clip), "--out", str(out), "--format", "fbx",
          "--end", "30", "--cache-dir", str(seeded_cache), "--backend", "torch"], tmp_path)
    check_animated(import_file(out / "sports2d_walk.fbx"), 30)
