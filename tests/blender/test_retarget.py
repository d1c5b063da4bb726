"""Retargeting in Blender: Rigify metarig, a Mixamo-named A-pose rig (FBX-like Y-up, cm), errors."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.core.errors import VideoMocapError  # noqa: E402
from video_mocap.core.formats import Motion3D  # noqa: E402
from video_mocap.blender import retarget as blender_retarget  # noqa: E402
from video_mocap.rigging import solve as S  # noqa: E402
from video_mocap.rigging.world import view_from_camera  # noqa: E402

FPS = 30.0
CLIP = "HDM_bk_sneak2StepsLStart_005_120"
#: target bone directions vs the source's (degrees)
DIRECTION_TOL_DEG = 1.0
#: thighs and shins: moved by the foot IK onto the (scaled) solved ankles, so rigs of other
#: proportions bend their knees a little differently (tests/blender/test_rigs.py checks the feet)
LEG_TOL_DEG = 20.0
LEG_BONES = ("thigh.L", "shin.L", "thigh.R", "shin.R")


def upper_body(mapping: dict[str, str]) -> dict[str, str]:
    return {s: d for s, d in mapping.items() if s not in LEG_BONES}


def legs(mapping: dict[str, str]) -> dict[str, str]:
    return {s: d for s, d in mapping.items() if s in LEG_BONES}
#: frames checked (every STEP-th)
STEP = 7


@pytest.fixture(scope="module")
def solved(hdm05_clip) -> S.SolvedMotion:
    clip = hdm05_clip(CLIP)
    rel, root = view_from_camera(clip, yaw_deg=-40.0, tilt_deg=7.0)
    return S.solve(Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05"))


@pytest.fixture
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def source_directions(solved: S.SolvedMotion) -> np.ndarray:
    """(T, J, 3) posed unit directions of the solve's bones (root included)."""
    deltas = S.deltas_from_rotations(solved.rotations, solved.rest_heads, solved.rest_tails)
    heads, tails = S.forward_kinematics(deltas, solved.root_world, solved.rest_heads, solved.rest_tails)
    d = tails - heads
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def check_follows(rig, solved: S.SolvedMotion, mapping: dict[str, str]) -> float:
    """Largest angle (degrees) between mapped target bones and their source bones over the clip;
    a face bone's target keeps its own rest direction, turned by the source bone's delta."""
    src = source_directions(solved)
    src_deltas = S.deltas_from_rotations(solved.rotations, solved.rest_heads, solved.rest_tails)
    world = np.array(rig.matrix_world)
    worst = 0.0
    for k in range(0, solved.num_frames, STEP):
        bpy.context.scene.frame_set(int(round(solved.frames[k])))
        for src_bone, dst_bone in mapping.items():
            pb = rig.pose.bones[dst_bone]
            head = (world @ np.append(np.array(pb.head), 1.0))[:3]
            tail = (world @ np.append(np.array(pb.tail), 1.0))[:3]
            d = (tail - head) / np.linalg.norm(tail - head)
            expected = src[k, S.BONE_INDEX[src_bone]]
            if src_bone in S.FACE_BONES:
                bone = rig.data.bones[dst_bone]
                rest = world[:3, :3] @ (np.array(bone.tail_local) - np.array(bone.head_local))
                expected = src_deltas[k, S.BONE_INDEX[src_bone]] @ (rest / np.linalg.norm(rest))
            cos = float(np.clip(d @ expected, -1.0, 1.0))
            worst = max(worst, float(np.degrees(np.arccos(cos))))
    return worst


def make_armature(name: str, bones: list[tuple[str, str | None, tuple, tuple]], matrix=None):
    """Armature from (bone, parent, head, tail) rows (armature space); optional object matrix."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    if matrix is not None:
        from mathutils import Matrix

        obj.matrix_world = Matrix(matrix)
    bpy.ops.object.mode_set(mode="EDIT")
    for bone, parent, head, tail in bones:
        eb = data.edit_bones.new(bone)
        eb.head, eb.tail = head, tail
        if parent:
            eb.parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def mixamo_bones(prefix: str = "mixamorig:", arms_down_deg: float = 45.0, skip: tuple = ()) -> list:
    """A Mixamo-named humanoid in FBX-like armature space: Y up, facing +Z, centimetres, A-pose."""
    c, s = np.cos(np.radians(arms_down_deg)), np.sin(np.radians(arms_down_deg))
    rows = [("Hips", None, (0, 100, 0), (0, 110, 0)), ("Spine", "Hips", (0, 110, 0), (0, 122, 0)),
            ("Spine1", "Spine", (0, 122, 0), (0, 134, 0)), ("Spine2", "Spine1", (0, 134, 0), (0, 146, 0)),
            ("Neck", "Spine2", (0, 146, 0), (0, 156, 2)), ("Head", "Neck", (0, 156, 2), (0, 176, 2))]
    for side, sx in (("Left", 1.0), ("Right", -1.0)):
        shoulder = (sx * 18, 142, 0)
        elbow = (sx * (18 + 28 * c), 142 - 28 * s, 0)
        wrist = (sx * (18 + 53 * c), 142 - 53 * s, 0)
        rows += [(f"{side}Shoulder", "Spine2", (sx * 3, 142, 0), shoulder),
                 (f"{side}Arm", f"{side}Shoulder", shoulder, elbow),
                 (f"{side}ForeArm", f"{side}Arm", elbow, wrist),
                 (f"{side}Hand", f"{side}ForeArm", wrist, (wrist[0] + sx * 8 * c, wrist[1] - 8 * s, 0)),
                 (f"{side}UpLeg", "Hips", (sx * 10, 95, 0), (sx * 10, 52, 1)),
                 (f"{side}Leg", f"{side}UpLeg", (sx * 10, 52, 1), (sx * 10, 9, -2)),
                 (f"{side}Foot", f"{side}Leg", (sx * 10, 9, -2), (sx * 10, 2, 12))]
    rows = [r for r in rows if r[0] not in skip]
    names = {r[0] for r in rows}
    return [(prefix + b, prefix + p if p else None, h, t) for b, p, h, t in rows if p is None or p in names]


#: Blender's FBX import of a Mixamo character: object turned +90 deg about X, scale 0.01
FBX_LIKE_MATRIX = [[0.01, 0, 0, 0.5], [0, 0, -0.01, 0.2], [0, 0.01, 0, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("preset", ["mixamo", "auto"])
def test_mixamo_a_pose_rig_follows_source(empty_scene, solved, preset):
    rig = make_armature("Mixamo", mixamo_bones(), FBX_LIKE_MATRIX)
    blender_retarget.retarget(rig, solved, preset=preset)
    mapping = {b: f"mixamorig:{n}" for b, n in {
        "pelvis": "Hips", "thigh.L": "LeftUpLeg", "shin.L": "LeftLeg", "thigh.R": "RightUpLeg",
        "shin.R": "RightLeg", "spine": "Spine", "chest": "Spine2", "neck": "Neck", "head": "Head",
        "shoulder.L": "LeftShoulder",
        "upper_arm.L": "LeftArm", "forearm.L": "LeftForeArm", "shoulder.R": "RightShoulder",
        "upper_arm.R": "RightArm", "forearm.R": "RightForeArm"}.items()}
    assert check_follows(rig, solved, upper_body(mapping)) < DIRECTION_TOL_DEG
    assert check_follows(rig, solved, legs(mapping)) < LEG_TOL_DEG
    # root: the solved trajectory scaled by the leg ratio, from the rig's rest position
    target_leg = 0.01 * (np.linalg.norm([0, 43, 1]) + np.linalg.norm([0, 43, 3]))
    scale = target_leg / (solved.info["bone_lengths"][2] + solved.info["bone_lengths"][3])
    rest_hips = np.array(rig.matrix_world) @ np.append(np.array(rig.data.bones["mixamorig:Hips"].head_local), 1.0)
    for k in (0, solved.num_frames - 1):
        bpy.context.scene.frame_set(int(solved.frames[k]))
        hips = np.array(rig.matrix_world) @ np.append(np.array(rig.pose.bones["mixamorig:Hips"].head), 1.0)
        np.testing.assert_allclose(hips[:3], rest_hips[:3] + scale * (solved.root_world[k] - solved.rest_heads[0]),
                                   atol=1e-3)


def test_rigify_metarig_follows_source(empty_scene, solved):
    import addon_utils

    try:
        addon_utils.enable("rigify", default_set=True)
        bpy.ops.object.armature_human_metarig_add()
    except (RuntimeError, AttributeError, ImportError) as exc:
        pytest.skip(f"rigify is not available in this bpy: {exc}")
    rig = bpy.context.view_layer.objects.active
    assert rig.type == "ARMATURE" and "spine.006" in rig.data.bones
    blender_retarget.retarget(rig, solved, preset="rigify_metarig")
    from video_mocap.rigging.retarget import load_preset

    mapping = load_preset("rigify_metarig")
    assert check_follows(rig, solved, upper_body(mapping)) < DIRECTION_TOL_DEG
    assert check_follows(rig, solved, legs(mapping)) < LEG_TOL_DEG
    # automatic matching alone cannot tell which metarig bone is the pelvis: a clear error
    with pytest.raises(VideoMocapError, match="pelvis"):
        blender_retarget.retarget(rig, solved, preset="auto")


@pytest.mark.slow
def test_generated_rigify_rig_fk_controls_follow_source(empty_scene, solved):
    """A real generated Rigify rig (about 15-30 s to generate): FK controls, MCH parents, switches."""
    import addon_utils

    try:
        # a fresh registration: rigify registers its rig parameters on enable
        addon_utils.disable("rigify", default_set=True)
        addon_utils.enable("rigify", default_set=True)
        bpy.ops.object.armature_human_metarig_add()
        bpy.ops.pose.rigify_generate()
    except (RuntimeError, AttributeError, ImportError) as exc:
        pytest.skip(f"rigify cannot generate a rig in this bpy: {exc}")
    rig = bpy.context.view_layer.objects.active
    assert "thigh_fk.L" in rig.pose.bones and "torso" in rig.pose.bones
    blender_retarget.retarget(rig, solved, preset="rigify")
    from video_mocap.rigging.retarget import load_preset

    # the torso and chest controls lie horizontal: they turn with the pelvis and chest (not along them)
    mapping = {src: dst for src, dst in load_preset("rigify").items() if dst and src not in ("pelvis", "chest")}
    assert check_follows(rig, solved, upper_body(mapping)) < DIRECTION_TOL_DEG
    assert check_follows(rig, solved, legs(mapping)) < LEG_TOL_DEG
    # the deforming bones follow the controls
    deform = {"thigh.L": "DEF-thigh.L", "shin.R": "DEF-shin.R", "upper_arm.L": "DEF-upper_arm.L",
              "forearm.R": "DEF-forearm.R"}
    assert check_follows(rig, solved, upper_body(deform)) < DIRECTION_TOL_DEG
    assert check_follows(rig, solved, legs(deform)) < LEG_TOL_DEG
    assert rig.pose.bones["upper_arm_parent.L"]["IK_FK"] == 1.0


def test_own_armature_retargets_onto_itself(empty_scene, solved):
    from video_mocap.blender import armature as blender_armature

    rig = blender_armature.create_armature(solved)
    blender_retarget.retarget(rig, solved, preset="auto")
    assert check_follows(rig, solved, {b: b for b in S.BONE_NAMES}) < 0.05


def _counts():
    return len(bpy.data.objects), len(bpy.data.actions)


def test_non_humanoid_and_partial_rigs_are_refused(empty_scene, solved):
    chain = make_armature("Tail", [("Bone", None, (0, 0, 0), (0, 0, 1)), ("Bone.001", "Bone", (0, 0, 1), (0, 0, 2))])
    before = _counts()
    with pytest.raises(VideoMocapError, match="not a humanoid") as err:
        blender_retarget.retarget(chain, solved, preset="auto")
    assert "left_hip->left_knee" in str(err.value) and "pelvis" in str(err.value)
    assert _counts() == before and chain.animation_data is None
    one_armed = make_armature("OneArm", mixamo_bones(skip=("LeftForeArm", "LeftHand")))
    before = _counts()
    with pytest.raises(VideoMocapError, match="forearm.L") as err:
        blender_retarget.retarget(one_armed, solved, preset="mixamo")
    assert "left_elbow->left_wrist" in str(err.value)
    assert _counts() == before and one_armed.animation_data is None
    with pytest.raises(VideoMocapError, match="not found"):
        blender_retarget.retarget(one_armed, solved, preset="no_such_preset")
    empty = bpy.data.objects.new("Empty", None)
    with pytest.raises(VideoMocapError, match="armature"):
        blender_retarget.retarget(empty, solved)
