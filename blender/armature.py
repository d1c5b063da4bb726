"""Solved motion -> a Blender armature with one action, written in bulk (bpy adapter).

:func:`create_armature` builds the H36M armature of :mod:`.solve` (bones ``pelvis``,
``thigh.L``, ... with the solved rest pose and bone rolls) and writes the action;
:func:`apply_motion` (re)writes the action of an armature that has those bones.

Keys are written per F-curve in one go (``keyframe_points.add`` + ``foreach_set``), so
10,000 frames take seconds. Everything is validated before the scene is touched; if Blender
fails half-way, what was created is removed again.
"""

from __future__ import annotations

import logging

import bpy
import numpy as np

from ..core.errors import VideoMocapError
from .compat import action_fcurve_collection, assign_action, new_fcurve
from ..rigging.solve import SolvedMotion, rest_axes

log = logging.getLogger(__name__)

#: interpolation written on every key
DEFAULT_INTERPOLATION = "LINEAR"
INTERPOLATIONS = ("LINEAR", "BEZIER", "CONSTANT")
#: custom property marking the actions this add-on wrote (earlier ones are replaced, not kept)
ACTION_TAG = "video_mocap"
#: tolerance (metres) for treating a child's head as connected to its parent's tail
CONNECT_TOLERANCE_M = 1e-5


def _context(context):
    return context if context is not None else bpy.context


def _check_interpolation(interpolation: str) -> int:
    if interpolation not in INTERPOLATIONS:
        raise VideoMocapError(f"Unknown interpolation '{interpolation}'; use one of {', '.join(INTERPOLATIONS)}.")
    return bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[interpolation].value


def write_fcurve(fcurves, data_path: str, index: int, frames: np.ndarray, values: np.ndarray,
                 group: str, interpolation_value: int):
    """One F-curve with all its keys in one bulk write."""
    fcurve = fcurves.find(data_path, index=index)
    if fcurve is not None:
        fcurves.remove(fcurve)
    fcurve = new_fcurve(fcurves, data_path, index, group)
    n = len(frames)
    fcurve.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    co[1::2] = values
    fcurve.keyframe_points.foreach_set("co", co)
    fcurve.keyframe_points.foreach_set("interpolation", np.full(n, interpolation_value, dtype=np.int32))
    fcurve.update()
    return fcurve


def root_locations(solved: SolvedMotion) -> np.ndarray:
    """(T, 3) root bone ``location`` channel: world offset from the rest head, in the bone's rest axes."""
    axes = rest_axes(solved.rest_heads, solved.rest_tails)[0]
    return (solved.root_world - solved.rest_heads[0]) @ axes


def write_action(obj, frames: np.ndarray, channels: dict[str, dict[str, np.ndarray]],
                 action_name: str | None = None, interpolation: str = DEFAULT_INTERPOLATION):
    """Write pose channels onto a new action of armature ``obj``.

    Args:
        frames: (T,) scene frames.
        channels: bone name -> {"rotation_quaternion": (T, 4), "location": (T, 3)} (either optional).
    Returns:
        the new action (assigned to ``obj``). The action it replaces is deleted when this
        add-on wrote it and nothing else uses it; other actions are kept.
    """
    interp = _check_interpolation(interpolation)
    previous = obj.animation_data.action if obj.animation_data is not None else None
    action = bpy.data.actions.new(action_name or f"{obj.name}Action")
    action[ACTION_TAG] = 1
    try:
        assign_action(obj, action)
        fcurves = action_fcurve_collection(action, obj)
        for bone, chans in channels.items():
            pose_bone = obj.pose.bones[bone]
            if "rotation_quaternion" in chans:
                pose_bone.rotation_mode = "QUATERNION"
            for prop, values in chans.items():
                path = f'pose.bones["{bone}"].{prop}'
                for i in range(values.shape[1]):
                    write_fcurve(fcurves, path, i, frames, values[:, i], bone, interp)
    except Exception:
        if obj.animation_data is not None and obj.animation_data.action == action:
            obj.animation_data.action = previous
        bpy.data.actions.remove(action)
        raise
    # an earlier Video Mocap action nobody uses any more would only pile up in the file
    if previous is not None and previous != action and previous.get(ACTION_TAG) and previous.users == 0:
        bpy.data.actions.remove(previous)
    return action


def _validate_for_armature(solved: SolvedMotion) -> None:
    if not isinstance(solved, SolvedMotion):
        raise VideoMocapError(f"Expected a solved motion, got {type(solved).__name__}.")
    solved.validate()


def apply_motion(obj, solved: SolvedMotion, mapping: dict[str, str] | None = None,
                 interpolation: str = DEFAULT_INTERPOLATION):
    """Write ``solved`` as a new action on armature ``obj`` whose bones are the solve's bones.

    Args:
        mapping: optional solve bone -> ``obj`` bone renames (bones of the same rest axes, e.g.
            an armature made by :func:`create_armature` and renamed). For other rigs use
            :func:`.blender_retarget.retarget`.
    Returns:
        the new action.
    Raises:
        VideoMocapError: bad motion, not an armature, missing bones (nothing is changed).
    """
    _validate_for_armature(solved)
    if obj is None or getattr(obj, "type", None) != "ARMATURE":
        raise VideoMocapError("Select an armature object to apply the motion to.")
    mapping = mapping or {}
    names = [mapping.get(b, b) for b in solved.bone_names]
    missing = [n for n in names if n not in obj.pose.bones]
    if missing:
        raise VideoMocapError(
            f"Armature '{obj.name}' lacks the bones {', '.join(missing)}; "
            "create a Video Mocap armature or use retargeting for other rigs."
        )
    channels = {name: {"rotation_quaternion": solved.rotations[:, i]} for i, name in enumerate(names)}
    channels[names[0]]["location"] = root_locations(solved)
    action = write_action(obj, solved.frames, channels, interpolation=interpolation)
    log.info("wrote %d frames x %d bones onto '%s'", solved.num_frames, len(names), obj.name)
    return action


def create_armature(solved: SolvedMotion, name: str = "VideoMocap", context=None,
                    interpolation: str = DEFAULT_INTERPOLATION, set_frame_range: bool = True):
    """Create the H36M armature of ``solved`` in the scene, with its action.

    Returns:
        the new armature object (active and selected).
    Raises:
        VideoMocapError: empty / non-finite motion or bad options; the scene is left unchanged.
    """
    _validate_for_armature(solved)
    _check_interpolation(interpolation)
    context = _context(context)
    scene = context.scene
    if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode="OBJECT")
    axes = rest_axes(solved.rest_heads, solved.rest_tails)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    try:
        context.collection.objects.link(obj)
        for other in context.view_layer.objects:
            other.select_set(False)
        context.view_layer.objects.active = obj
        obj.select_set(True)
        bpy.ops.object.mode_set(mode="EDIT")
        bones = []
        for i, bone_name in enumerate(solved.bone_names):
            eb = data.edit_bones.new(bone_name)
            eb.head = solved.rest_heads[i].tolist()
            eb.tail = solved.rest_tails[i].tolist()
            eb.align_roll(axes[i][:, 2].tolist())
            parent = solved.parents[i]
            if parent >= 0:
                eb.parent = bones[parent]
                gap = np.linalg.norm(solved.rest_heads[i] - solved.rest_tails[parent])
                eb.use_connect = bool(gap < CONNECT_TOLERANCE_M)
            bones.append(eb)
        bpy.ops.object.mode_set(mode="OBJECT")
        apply_motion(obj, solved, interpolation=interpolation)
        if set_frame_range:
            scene.frame_start = int(np.floor(solved.frames[0]))
            scene.frame_end = int(np.ceil(solved.frames[-1]))
            scene.render.fps = max(1, int(round(solved.fps)))
            scene.render.fps_base = scene.render.fps / solved.fps
    except Exception:
        if context.mode != "OBJECT":
            bpy.ops.object.mode_set(mode="OBJECT")
        anim = obj.animation_data
        action = anim.action if anim is not None else None
        bpy.data.objects.remove(obj)
        bpy.data.armatures.remove(data)
        if action is not None and action.users == 0:
            bpy.data.actions.remove(action)
        raise
    return obj
