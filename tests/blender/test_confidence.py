"""Confidence on the rig in Blender (bpy 5.0 and 4.2 LTS), with the add-on enabled.

A real HDM05 jog whose 2D scores drop for a stretch (the left wrist, keys 15-29) is solved through
the pipeline's solve stage and keyed by the operators' ``apply_solved_to_scene``: every keyed bone
carries an animated ``vm_confidence`` equal to the computed one, the low bone turns red while the
frame is in the stretch, the Review list names the stretch and its button jumps there. Also on a
retargeted rig (the committed Mixamo-style FBX), and through an FBX round trip.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.core import skeleton  # noqa: E402
from video_mocap.core.formats import Motion3D  # noqa: E402
from video_mocap.blender import confidence as BC  # noqa: E402
from video_mocap.pipeline.stages import solve_motion  # noqa: E402
from video_mocap.rigging import confidence as C  # noqa: E402
from video_mocap.rigging.solve import SolveConfig  # noqa: E402
from video_mocap.rigging.world import view_from_camera  # noqa: E402

FPS = 30.0
CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
FRAMES = 56
LOW_START, LOW_END, LOW_SCORE = 15, 30, 0.2
MIXAMO_RIG = Path(__file__).resolve().parents[1] / "data" / "mixamo_style_rig.fbx"


@pytest.fixture(scope="module")
def solved(hdm05_clip):
    joints = hdm05_clip(CLIP)[:FRAMES]
    rel, root = view_from_camera(joints, yaw_deg=35.0, tilt_deg=6.0)
    scores = np.full((len(rel), skeleton.NUM_JOINTS), 0.9, dtype=np.float32)
    scores[LOW_START:LOW_END, skeleton.JOINT_INDEX["left_wrist"]] = LOW_SCORE
    scores[:, skeleton.JOINT_INDEX["head"]] = np.linspace(0.55, 1.0, len(rel))  # a slow ramp, never low
    motion = Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05", scores=scores)
    return solve_motion(motion, SolveConfig(), video_frame_origin=1)


def confidence_fcurves(obj) -> dict[str, object]:
    """Bone name -> its confidence F-curve in ``obj``'s action."""
    from video_mocap.blender.compat import action_fcurve_collection

    out = {}
    for fcurve in action_fcurve_collection(obj.animation_data.action, obj):
        if fcurve.data_path.endswith(f'["{BC.CONFIDENCE_PROP}"]'):
            out[fcurve.data_path.split('"')[1]] = fcurve
    return out


def is_red(pose_bone) -> bool:
    return pose_bone.color.palette == "CUSTOM" and np.allclose(tuple(pose_bone.color.custom.normal), (0.95, 0.08, 0.05),
                                                                atol=2 / 255)


def test_new_armature_carries_animated_confidence(addon_scene, solved):
    from video_mocap.operators.common import apply_solved_to_scene
    from video_mocap.panels.mocap import draw_review, review_armature

    obj = apply_solved_to_scene(bpy.context, solved)
    conf = solved.info[C.INFO_CONFIDENCE]
    curves = confidence_fcurves(obj)
    assert set(curves) == set(solved.bone_names)  # every keyed bone
    scene = addon_scene
    for k in (0, LOW_START, LOW_START + 5, LOW_END, FRAMES - 1):
        frame = int(round(solved.frames[k]))
        scene.frame_set(frame)
        for b, name in enumerate(solved.bone_names):
            assert curves[name].evaluate(frame) == pytest.approx(conf[k, b], abs=1e-6)
            assert obj.pose.bones[name][BC.CONFIDENCE_PROP] == pytest.approx(conf[k, b], abs=1e-6)
            assert 0.0 <= obj.pose.bones[name][BC.CONFIDENCE_PROP] <= 1.0
        low = LOW_START <= k < LOW_END
        assert is_red(obj.pose.bones["forearm.L"]) == low, f"key {k}"
        assert not any(is_red(obj.pose.bones[n]) for n in solved.bone_names if n != "forearm.L")
    assert obj.pose.bones["forearm.L"].color.palette == "DEFAULT"  # its own colour back after the stretch

    review = BC.review_of(obj)
    assert review == solved.info[C.INFO_REVIEW]
    assert [(s.first_frame, s.last_frame, s.worst_bones) for s in review] == [
        (int(round(solved.frames[LOW_START])), int(round(solved.frames[LOW_END - 1])), ("forearm.L",))]
    # the Review panel lists it with a jump button; the button goes to the stretch and the bone turns red
    assert review_armature(bpy.context) == obj
    buttons = []

    class Layout:
        def __getattr__(self, name):
            return lambda *a, **kw: self

        def operator(self, idname, **kw):
            button = type("Button", (), {})()
            buttons.append((idname, kw, button))
            return button

    draw_review(Layout(), scene.video_mocap, "VIEW_3D")
    assert [(idname, b.frame) for idname, _, b in buttons] == [("video_mocap.jump_to_frame", review[0].first_frame)]
    assert f"{review[0].first_frame}-{review[0].last_frame}" in buttons[0][1]["text"]
    scene.frame_set(1)
    assert bpy.ops.video_mocap.jump_to_frame(frame=review[0].first_frame) == {"FINISHED"}
    assert scene.frame_current == review[0].first_frame and is_red(obj.pose.bones["forearm.L"])


def test_retargeted_rig_carries_confidence_on_mapped_bones(addon_scene, solved):
    from video_mocap.operators.common import apply_solved_to_scene

    assert bpy.ops.import_scene.fbx(filepath=str(MIXAMO_RIG)) == {"FINISHED"}
    rig = next(o for o in addon_scene.objects if o.type == "ARMATURE")
    props = addon_scene.video_mocap
    props.target, props.target_rig, props.mapping_preset = "EXISTING", rig, "mixamo"
    mapping = BC.rig_bone_map(rig, "mixamo")
    assert apply_solved_to_scene(bpy.context, solved) == rig
    curves = confidence_fcurves(rig)
    assert set(curves) == set(mapping.values())
    forearm = mapping["forearm.L"]
    k = LOW_START + 3
    frame = int(round(solved.frames[k]))
    addon_scene.frame_set(frame)
    assert rig.pose.bones[forearm][BC.CONFIDENCE_PROP] == pytest.approx(LOW_SCORE, abs=1e-6)
    assert is_red(rig.pose.bones[forearm])
    assert not is_red(rig.pose.bones[mapping["forearm.R"]])
    addon_scene.frame_set(int(round(solved.frames[LOW_END + 2])))
    assert not is_red(rig.pose.bones[forearm])
    assert json.loads(rig[BC.REVIEW_PROP])[0]["worst_bones"] == ["forearm.L"]  # the solve's bone names


def test_fbx_keeps_confidence_as_a_static_property(solved, tmp_path):
    """FBX: the exporter writes pose-bone custom properties (use_custom_props) with the value of the
    frame it is on, not their animation; Blender's importer reads that value back."""
    from video_mocap.blender.compat import action_fcurve_collection
    from video_mocap.blender.export import write_scene_file

    path = write_scene_file(solved, tmp_path / "confidence.fbx", "Conf")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.import_scene.fbx(filepath=str(path), use_custom_props=True) == {"FINISHED"}
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    values = {pb.name: pb.get(BC.CONFIDENCE_PROP) for pb in obj.pose.bones}
    assert all(values[name] is not None and 0.0 <= values[name] <= 1.0 for name in solved.bone_names), values
    assert json.loads(obj[BC.REVIEW_PROP]) == [s.to_dict() for s in solved.info[C.INFO_REVIEW]]
    fcurves = action_fcurve_collection(obj.animation_data.action, obj)
    assert any(f.data_path.endswith("rotation_quaternion") for f in fcurves)
    assert not [f.data_path for f in fcurves if BC.CONFIDENCE_PROP in f.data_path], "the FBX importer animates it now"
