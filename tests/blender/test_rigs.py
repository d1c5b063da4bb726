"""Sanity of the keyed result on the rigs animators use (bpy 5.0 and 4.2 LTS).

Rigs: the add-on's own armature, the Rigify human metarig, a generated Rigify rig (FK controls)
and a Mixamo-style rig imported from FBX (``tests/data/mixamo_style_rig.fbx``: ``mixamorig:``
names, A-pose, centimetres, object scale 0.01). Motion: real mocap (the HDM05 jog the pipeline
tests seed the motion cache with, as mocap gives it and on the detector's skeleton) filmed from the
side as in the sample clip, solved; and (slow) the
sample clip's first 90 frames through the whole pipeline with the shipped weights.

On each rig: the keyed frame count is the clip's; the head is above the neck, above the pelvis,
with an anatomical head bone length; no deforming bone is longer than 1.5 times its rest length;
the feet and toes are keyed and never below the rig's floor; a planted ankle stays within 2 cm of
its rest height; the mapped bones point where the solved bones point (no bone flipped or folded:
the legs within the IK's share of the proportions); the FBX export re-imports animated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.blender import armature as blender_armature, export as blender_export  # noqa: E402
from video_mocap.blender import retarget as blender_retarget  # noqa: E402
from video_mocap.blender.compat import action_fcurve_collection  # noqa: E402
from video_mocap.core.formats import Motion3D  # noqa: E402
from video_mocap.rigging import solve as S  # noqa: E402
from video_mocap.rigging.world import view_from_camera  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MIXAMO_FBX = REPO / "tests" / "data" / "mixamo_style_rig.fbx"
FPS = 30.0
CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
#: the sample clip's view: from the side, a little from the front (tests/pipeline_seed.py)
VIEW_YAW_DEG, VIEW_TILT_DEG = 80.0, 5.0
#: frames checked (every STEP-th)
STEP = 3
#: a planted ankle's height above its rest height (metres)
PLANTED_TOL_M = 0.02
#: how far a foot or toe may dip below the rig's floor (metres)
FLOOR_TOL_M = 0.005
MAX_STRETCH = 1.5
#: head bone length bounds (metres): chin/nose to crown or ear level
HEAD_BOUNDS_M = (0.04, 0.35)
#: bone directions vs the solved bones (degrees): upper body exact; legs moved by the foot IK
#: (other proportions, and on real video an ankle that the solve dips below its standing height is
#: held at the rig's, which bends the knee more): a flipped or folded bone is far beyond this
DIRECTION_TOL_DEG = {"leg": 30.0, "other": 2.0}


@dataclass
class Rig:
    """A retargeted rig and where to read its anatomy."""

    obj: object
    mapping: dict[str, str]  # solve bone -> the bone that shows it (deforming bones for Rigify)
    feet: dict[str, str] = field(default_factory=dict)  # foot role -> bone
    head: str = "head"
    neck: str = "neck"
    keyed_feet: list[str] = field(default_factory=list)  # the foot and toe bones (controls) keyed
    #: solve bones whose shown bone keeps its own rest direction (turned by the solved delta): the
    #: face bones on every retargeted rig (``rigging.retarget``), Rigify's torso
    rest_relative: tuple[str, ...] = S.FACE_BONES
    #: upper-body direction tolerance (degrees): Rigify's deforming neck segments bend inside the control
    other_tol_deg: float = DIRECTION_TOL_DEG["other"]


@pytest.fixture(scope="module", params=["mocap_head", "detector_head"])
def solved(request, hdm05_clip, hdm05_detector_clip) -> S.SolvedMotion:
    """The jog as mocap gives it (the head joint on the head's axis) and on the detector's skeleton
    (the ear-level head point behind the nose, as the calibrated lifters answer)."""
    clip = hdm05_clip(CLIP) if request.param == "mocap_head" else hdm05_detector_clip(CLIP)
    rel, root = view_from_camera(clip, yaw_deg=VIEW_YAW_DEG, tilt_deg=VIEW_TILT_DEG)
    return S.solve(Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05"))


def _enable_rigify() -> None:
    import addon_utils

    try:
        addon_utils.disable("rigify", default_set=True)  # a fresh registration of its rig parameters
        addon_utils.enable("rigify", default_set=True)
    except (RuntimeError, ImportError) as exc:
        pytest.skip(f"rigify is not available in this bpy: {exc}")


def new_armature(solved) -> Rig:
    obj = blender_armature.create_armature(solved)
    return Rig(obj, {b: b for b in S.BONE_NAMES}, rest_relative=())


def metarig(solved) -> Rig:
    _enable_rigify()
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.view_layer.objects.active
    blender_retarget.retarget(obj, solved, preset="rigify_metarig")
    from video_mocap.rigging.retarget import load_preset, load_preset_options

    feet = load_preset_options("rigify_metarig").feet
    return Rig(obj, {s: d for s, d in load_preset("rigify_metarig").items() if d}, feet, head="spine.006",
               neck="spine.004", keyed_feet=list(feet.values()))


def generated_rigify(solved) -> Rig:
    _enable_rigify()
    bpy.ops.object.armature_human_metarig_add()
    try:
        bpy.ops.pose.rigify_generate()
    except RuntimeError as exc:
        pytest.skip(f"rigify cannot generate a rig in this bpy: {exc}")
    obj = bpy.context.view_layer.objects.active
    assert "torso" in obj.pose.bones and "thigh_fk.L" in obj.pose.bones
    blender_retarget.retarget(obj, solved, preset="rigify")
    for limb in ("upper_arm_parent.L", "upper_arm_parent.R", "thigh_parent.L", "thigh_parent.R"):
        assert obj.pose.bones[limb]["IK_FK"] == 1.0, f"{limb} is not switched to FK"
    # what the mesh follows: the deforming bones of the solve's bones
    deform = {"pelvis": "DEF-spine", "thigh.L": "DEF-thigh.L", "shin.L": "DEF-shin.L", "thigh.R": "DEF-thigh.R",
              "shin.R": "DEF-shin.R", "chest": "DEF-spine.003", "neck": "DEF-spine.004", "head": "DEF-spine.006",
              "upper_arm.L": "DEF-upper_arm.L", "forearm.L": "DEF-forearm.L", "upper_arm.R": "DEF-upper_arm.R",
              "forearm.R": "DEF-forearm.R"}
    feet = {"foot.L": "DEF-foot.L", "toe.L": "DEF-toe.L", "foot.R": "DEF-foot.R", "toe.R": "DEF-toe.R"}
    return Rig(obj, deform, feet, head="DEF-spine.006", neck="DEF-spine.004",
               keyed_feet=["foot_fk.L", "toe_fk.L", "foot_fk.R", "toe_fk.R"], rest_relative=("pelvis", *S.FACE_BONES),
               other_tol_deg=8.0)


def mixamo(solved) -> Rig:
    bpy.ops.import_scene.fbx(filepath=str(MIXAMO_FBX))
    obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert abs(obj.matrix_world.to_scale().x - 0.01) < 1e-6, "a Mixamo import: object scale 0.01, bones in cm"
    blender_retarget.retarget(obj, solved, preset="mixamo")
    from video_mocap.rigging.retarget import load_preset, load_preset_options

    feet = load_preset_options("mixamo").feet
    return Rig(obj, {s: d for s, d in load_preset("mixamo").items() if d}, feet, head="mixamorig:Head",
               neck="mixamorig:Neck", keyed_feet=list(feet.values()))


RIGS = {"new_armature": new_armature, "metarig": metarig, "generated_rigify": generated_rigify, "mixamo": mixamo}


def world_point(obj, point) -> np.ndarray:
    return (np.array(obj.matrix_world) @ np.append(np.array(point), 1.0))[:3]


def keyed_frames(obj) -> set[float]:
    frames: set[float] = set()
    for fcurve in action_fcurve_collection(obj.animation_data.action, obj):
        frames.update(round(k.co[0], 3) for k in fcurve.keyframe_points)
    return frames


def source_directions(solved: S.SolvedMotion) -> np.ndarray:
    """(T, J, 3) posed unit directions of the solve's bones."""
    deltas = S.deltas_from_rotations(solved.rotations, solved.rest_heads, solved.rest_tails)
    heads, tails = S.forward_kinematics(deltas, solved.root_world, solved.rest_heads, solved.rest_tails)
    d = tails - heads
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def ankle_point(rig: Rig, side: str, pose: bool):
    """The ankle: the foot bone's head, or the shin's tail on a rig without feet."""
    foot = rig.feet.get(f"foot.{side}")
    if foot is not None:
        return rig.obj.pose.bones[foot].head if pose else rig.obj.data.bones[foot].head_local
    shin = rig.mapping[f"shin.{side}"]
    return rig.obj.pose.bones[shin].tail if pose else rig.obj.data.bones[shin].tail_local


def check_sanity(rig: Rig, solved: S.SolvedMotion) -> None:
    obj = rig.obj
    scene = bpy.context.scene
    assert len(keyed_frames(obj)) == solved.num_frames
    keyed = {fc.data_path.split('"')[1] for fc in action_fcurve_collection(obj.animation_data.action, obj)}
    assert set(rig.keyed_feet) <= keyed, f"feet and toes not keyed: {set(rig.keyed_feet) - keyed}"
    deforming = [b.name for b in obj.data.bones if b.use_deform and b.length > 1e-4]
    rest_len = {n: obj.data.bones[n].length for n in deforming}
    foot_bones = list(rig.feet.values())
    if foot_bones:
        floor = min(min(world_point(obj, obj.data.bones[b].head_local)[2], world_point(obj, obj.data.bones[b].tail_local)[2])
                    for b in foot_bones)
    else:  # the add-on's armature stands its ankles at the solve's ankle height
        floor = 0.0
    rest_ankle = {s: world_point(obj, ankle_point(rig, s, pose=False))[2] for s in "LR"}
    src = source_directions(solved)
    src_deltas = S.deltas_from_rotations(solved.rotations, solved.rest_heads, solved.rest_tails)
    world = np.array(obj.matrix_world)
    worst: dict = {"leg": 0.0, "other": 0.0}
    for k in range(0, solved.num_frames, STEP):
        scene.frame_set(int(round(solved.frames[k])))
        pose = obj.pose.bones
        stretch = {n: (pose[n].tail - pose[n].head).length / rest_len[n] for n in deforming}
        name = max(stretch, key=stretch.get)
        assert stretch[name] <= MAX_STRETCH, f"frame {k}: {name} is {stretch[name]:.2f} x its rest length"
        head = (world_point(obj, pose[rig.head].head), world_point(obj, pose[rig.head].tail))
        neck_head = world_point(obj, pose[rig.neck].head)
        pelvis = world_point(obj, pose[rig.mapping["pelvis"]].head)
        assert head[1][2] > head[0][2] > neck_head[2] > pelvis[2], f"frame {k}: head not above neck above pelvis"
        head_len = np.linalg.norm(head[1] - head[0])
        assert HEAD_BOUNDS_M[0] < head_len < HEAD_BOUNDS_M[1], f"frame {k}: head bone {head_len:.3f} m"
        for i, side in enumerate("LR"):
            side_bones = [b for r, b in rig.feet.items() if r.endswith(side)]
            if side_bones:  # the lowest point of the foot
                low = min(min(world_point(obj, pose[b].head)[2], world_point(obj, pose[b].tail)[2]) for b in side_bones)
                assert low > floor - FLOOR_TOL_M, f"frame {k}: the {side} foot {floor - low:.3f} m below the floor"
                planted = solved.contacts[k, i]
                height = low - floor
            else:  # no foot bones: the ankle, off the floor in a heel lift (the contact run's ends)
                ankle = world_point(obj, ankle_point(rig, side, pose=True))[2]
                assert ankle > floor, f"frame {k}: the {side} ankle is below the floor"
                planted = solved.contacts[max(k - 2, 0):k + 3, i].all()
                height = ankle - rest_ankle[side]
            if planted:
                assert abs(height) < PLANTED_TOL_M, f"frame {k}: planted {side} foot {height:+.3f} m off the floor"
        for src_bone, dst in rig.mapping.items():
            d = world_point(obj, pose[dst].tail) - world_point(obj, pose[dst].head)
            expected = src[k, S.BONE_INDEX[src_bone]]
            if src_bone in rig.rest_relative:  # the face bones, Rigify's torso: their own rest direction, turned
                rest_dir = world[:3, :3] @ (np.array(obj.data.bones[dst].tail_local) - np.array(obj.data.bones[dst].head_local))
                expected = src_deltas[k, S.BONE_INDEX[src_bone]] @ (rest_dir / np.linalg.norm(rest_dir))
            cos = float(np.clip(d @ expected / np.linalg.norm(d), -1.0, 1.0))
            kind = "leg" if src_bone.startswith(("thigh", "shin")) else "other"
            angle = float(np.degrees(np.arccos(cos)))
            if angle > worst[kind]:
                worst[kind], worst[kind + "_bone"] = angle, f"{src_bone}->{dst}@{k}"
    assert worst["leg"] < DIRECTION_TOL_DEG["leg"] and worst["other"] < rig.other_tol_deg, worst


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_rig_sanity_and_fbx(rig_name, solved, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = int(FPS)
    rig = RIGS[rig_name](solved)
    check_sanity(rig, solved)
    # the rig's FBX holds the animation: re-imported, one key per frame and moving bones
    path = blender_export.export_armature(rig.obj, tmp_path / f"{rig_name}.fbx")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)
    back = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert len(keyed_frames(back)) == solved.num_frames
    foot = rig.feet.get("foot.L", rig.mapping["shin.L"])
    bpy.context.scene.frame_set(int(solved.frames[0]))
    first = world_point(back, back.pose.bones[foot].head)
    moved = 0.0
    for k in range(1, solved.num_frames, STEP):
        bpy.context.scene.frame_set(int(round(solved.frames[k])))
        moved = max(moved, float(np.linalg.norm(world_point(back, back.pose.bones[foot].head) - first)))
    assert moved > 0.2, f"the re-imported {foot} moves {moved:.3f} m at most"


#: the sample clip's frames solved for the real-video checks (the walker's first steps)
REAL_FRAMES = 90


@pytest.fixture(scope="module")
def real_solved(sample_clip, tmp_path_factory) -> S.SolvedMotion:
    """The sample clip through the whole pipeline: shipped YOLO and lifter weights, the faster backend."""
    pytest.importorskip("cv2")
    from video_mocap.core.lifters import DEFAULT_LIFTER
    from video_mocap.inference import runtime
    from video_mocap.inference.weights import default_weights_path
    from video_mocap.pipeline.stages import make_settings, run_pipeline

    if not default_weights_path(DEFAULT_LIFTER).is_file():
        pytest.skip("the shipped lifter weights are missing")
    backend = runtime.fastest_backend(DEFAULT_LIFTER)
    try:
        runtime.choose_backend(backend, "detector")
    except Exception as exc:  # neither runtime here
        pytest.skip(str(exc))
    settings = make_settings(frame_end=REAL_FRAMES, backend="onnx" if backend == "onnx" else None)
    return run_pipeline(sample_clip, settings, cache_dir=tmp_path_factory.mktemp("cache")).solved


@pytest.mark.slow
@pytest.mark.parametrize("rig_name", list(RIGS))
def test_rig_sanity_on_the_sample_clip(rig_name, real_solved):
    """The same checks on real video (the sample clip, side-on): what the contact sheets show."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    check_sanity(RIGS[rig_name](real_solved), real_solved)
