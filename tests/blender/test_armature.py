"""Rigging in Blender (bpy 5.0 and 4.2 LTS): solved motion -> armature + action, BVH/FBX.

Round trip: HDM05 mocap filmed by a virtual camera -> camera-frame 3D motion -> solve ->
armature; the evaluated pose bones (after ``scene.frame_set``) must sit on the solved joints.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.core.errors import VideoMocapError  # noqa: E402
from video_mocap.core import skeleton  # noqa: E402
from video_mocap.core.formats import Motion3D  # noqa: E402
from video_mocap.blender import armature as blender_armature, export as blender_export  # noqa: E402
from video_mocap.rigging import bvh_writer
from video_mocap.rigging import solve as S  # noqa: E402
from video_mocap.rigging.world import camera_to_world, view_from_camera  # noqa: E402

FPS = 30.0
CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
#: evaluated joints vs solved joints (metres)
POSITION_TOL_M = 0.002
#: bone directions vs the input without smoothing (degrees)
DIRECTION_TOL_DEG = 0.2


@pytest.fixture(scope="module")
def clip(hdm05_clip) -> np.ndarray:
    return hdm05_clip(CLIP)


@pytest.fixture
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def _motion(joints_yup: np.ndarray) -> Motion3D:
    rel, root = view_from_camera(joints_yup, yaw_deg=35.0, tilt_deg=6.0)
    return Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05")


def evaluated_joints(obj, solved: S.SolvedMotion, frames) -> np.ndarray:
    """(len(frames), 17, 3) world joints read back from Blender's evaluated pose."""
    scene = bpy.context.scene
    world = np.array(obj.matrix_world)
    out = []
    for k in frames:
        scene.frame_set(int(round(solved.frames[k])))
        joints = np.zeros((17, 3))
        for i, name in enumerate(solved.bone_names):
            pose_bone = obj.pose.bones[name]
            point = pose_bone.head if i == 0 else pose_bone.tail
            joints[i] = (world @ np.append(np.array(point), 1.0))[:3]
        out.append(joints)
    return np.array(out)


def _scene_counts() -> tuple[int, int, int]:
    return len(bpy.data.objects), len(bpy.data.armatures), len(bpy.data.actions)


@pytest.mark.parametrize("smoothing,foot_lock", [(0.0, False), (0.5, True)])
def test_round_trip_evaluated_pose_matches_solve(empty_scene, clip, smoothing, foot_lock):
    motion = _motion(clip)
    solved = S.solve(motion, S.SolveConfig(smoothing=smoothing, foot_lock=foot_lock))
    obj = blender_armature.create_armature(solved)
    assert obj.type == "ARMATURE" and [b.name for b in obj.data.bones] == list(S.BONE_NAMES)
    frames = list(range(0, solved.num_frames, 3))
    got = evaluated_joints(obj, solved, frames)
    err = np.linalg.norm(got - solved.joints_world[frames], axis=-1)
    assert err.max() < POSITION_TOL_M, err.max()
    if smoothing == 0.0:  # unsmoothed: every bone points where the input bone points
        cam = S.camera_joints(motion)
        raw = S.with_crown(camera_to_world(cam).apply(cam))[frames]  # the head bone ends at the crown
        for parent, child in skeleton.BONES:
            a, b = raw[:, child] - raw[:, parent], got[:, child] - got[:, parent]
            cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < DIRECTION_TOL_DEG
    # the scene plays the clip at its frame rate
    assert empty_scene.frame_start == 1 and empty_scene.frame_end == solved.num_frames
    assert empty_scene.render.fps / empty_scene.render.fps_base == pytest.approx(FPS)


def test_keys_are_bulk_written_linear(empty_scene, clip):
    solved = S.solve(_motion(clip), S.SolveConfig(scene_fps=24.0, frame_offset=101))
    obj = blender_armature.create_armature(solved, name="Mocap")
    action = obj.animation_data.action
    from video_mocap.blender.compat import action_fcurve_collection

    fcurves = action_fcurve_collection(action, obj)
    assert len(fcurves) == 4 * len(S.BONE_NAMES) + 3
    fc = fcurves.find('pose.bones["thigh.L"].rotation_quaternion', index=0)
    assert len(fc.keyframe_points) == solved.num_frames
    assert fc.keyframe_points[0].co[0] == pytest.approx(101.0)
    assert fc.keyframe_points[1].co[0] == pytest.approx(101.0 + 24.0 / 30.0, abs=1e-4)
    assert {k.interpolation for k in fc.keyframe_points} == {"LINEAR"}
    np.testing.assert_allclose([k.co[1] for k in fc.keyframe_points],
                               solved.rotations[:, S.BONE_INDEX["thigh.L"], 0], atol=1e-6)


def test_apply_motion_rewrites_and_checks_bones(empty_scene, clip):
    solved = S.solve(_motion(clip))
    obj = blender_armature.create_armature(solved)
    other = S.solve(_motion(clip[::-1].copy()))
    first = obj.animation_data.action
    actions = len(bpy.data.actions)
    action = blender_armature.apply_motion(obj, other)
    assert obj.animation_data.action == action and action != first
    assert len(bpy.data.actions) == actions  # the replaced Video Mocap action is not left behind
    got = evaluated_joints(obj, other, [0, 10])
    assert np.linalg.norm(got - other.joints_world[[0, 10]], axis=-1).max() < 0.01  # same body, same rest
    empty_scene.collection.objects.link(bpy.data.objects.new("Empty", None))
    with pytest.raises(VideoMocapError, match="armature"):
        blender_armature.apply_motion(bpy.data.objects["Empty"], solved)
    with pytest.raises(VideoMocapError, match="lacks the bones"):
        blender_armature.apply_motion(obj, solved, mapping={"thigh.L": "UpperLeg.L"})


def test_bad_motion_leaves_scene_unchanged(empty_scene, clip):
    solved = S.solve(_motion(clip[:20]))
    before = _scene_counts()
    broken = S.SolvedMotion(**{**solved.__dict__, "rotations": solved.rotations.copy()})
    broken.rotations[5, 3, 1] = np.nan
    with pytest.raises(VideoMocapError, match="NaN"):
        blender_armature.create_armature(broken)
    empty = S.SolvedMotion(**{**solved.__dict__, "rotations": solved.rotations[:0], "root_world": solved.root_world[:0],
                              "frames": solved.frames[:0]})
    with pytest.raises(VideoMocapError, match="empty"):
        blender_armature.create_armature(empty)
    with pytest.raises(VideoMocapError, match="interpolation"):
        blender_armature.create_armature(solved, interpolation="CUBIC")
    assert _scene_counts() == before


def test_ten_thousand_frames_in_seconds(empty_scene, clip):
    reps = int(np.ceil(10_000 / len(clip)))
    long_clip = np.concatenate([clip] * reps)[:10_000]
    solved = S.solve(_motion(long_clip), S.SolveConfig(smoothing=0.0, foot_lock=False))
    start = time.perf_counter()
    obj = blender_armature.create_armature(solved)
    elapsed = time.perf_counter() - start
    assert elapsed < 15.0, elapsed  # a few seconds on a shared 2-core CPU
    fc = obj.animation_data.action and blender_armature.action_fcurve_collection(obj.animation_data.action, obj)[0]
    assert len(fc.keyframe_points) == 10_000


def test_bvh_file_reads_back_in_blender(empty_scene, clip, tmp_path):
    solved = S.solve(_motion(clip))
    path = bvh_writer.write_bvh(solved, tmp_path / "walk.bvh")
    bpy.ops.import_anim.bvh(filepath=str(path), rotate_mode="NATIVE", update_scene_fps=False,
                            update_scene_duration=True)
    obj = bpy.context.view_layer.objects.active
    assert obj.type == "ARMATURE" and {b.name for b in obj.data.bones} >= set(S.BONE_NAMES)
    frames = [0, solved.num_frames // 2, solved.num_frames - 1]
    # the importer starts at frame 1 = solved.frames[0]; it places bone tails of branching or
    # zero-length joints by its own rules, so read joints from heads (and leaf tails)
    world = np.array(obj.matrix_world)
    leaves = [i for i in range(17) if i not in solved.parents]
    err = []
    for k in frames:
        bpy.context.scene.frame_set(int(round(solved.frames[k])))
        for i, name in enumerate(solved.bone_names):
            pose_bone = obj.pose.bones[name]
            head = (world @ np.append(np.array(pose_bone.head), 1.0))[:3]
            err.append(np.linalg.norm(head - solved.joints_world[k, solved.parents[i] if i else 0]))
            if i in leaves:
                tail = (world @ np.append(np.array(pose_bone.tail), 1.0))[:3]
                err.append(np.linalg.norm(tail - solved.joints_world[k, i]))
    err = np.array(err)
    assert err.max() < 0.002, err.max()


@pytest.mark.parametrize("suffix", [".bvh", ".fbx"])
def test_export_through_blender_is_atomic(empty_scene, clip, tmp_path, suffix):
    solved = S.solve(_motion(clip[:30]))
    obj = blender_armature.create_armature(solved)
    target = tmp_path / f"out{suffix}"
    target.write_bytes(b"previous")
    blender_export.export_armature(obj, target)
    assert target.read_bytes() != b"previous"  # what the file holds: test_exports.py re-imports it
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temp files left
    with pytest.raises(VideoMocapError, match=".bvh or .fbx"):
        blender_export.export_armature(obj, tmp_path / "out.abc")


def test_single_frame_motion_makes_a_posed_armature(empty_scene, clip):
    solved = S.solve(_motion(clip[:1]))
    obj = blender_armature.create_armature(solved)
    got = evaluated_joints(obj, solved, [0])
    assert np.linalg.norm(got - solved.joints_world[:1], axis=-1).max() < POSITION_TOL_M
