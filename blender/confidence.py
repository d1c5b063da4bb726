"""Confidence on the rig in Blender (bpy adapter of :mod:`..rigging.confidence`).

Each keyed bone gets an animated custom property ``pose_bone["vm_confidence"]`` (0..1, one key
per solved key, in the armature's action next to its rotation keys). The armature object keeps
the frames to review (``obj["vm_review"]``, JSON: the panel's Review section lists them) and the
threshold (``obj["vm_low_confidence"]``). A ``frame_change_post`` handler colours the bones that
are below the threshold at the current frame red (per-pose-bone colour, Blender 4.0+) and gives
the others their own colour back; it also runs on ``scene.frame_set`` in background mode.

FBX (``use_custom_props``) keeps the property as a static value (the one at the exported frame),
not its animation; BVH has no custom properties.
"""

from __future__ import annotations

import json
import logging

import bpy
import numpy as np
from bpy.app.handlers import persistent

from ..core.errors import VideoMocapError
from ..rigging.confidence import INFO_CONFIDENCE, INFO_REVIEW, INFO_THRESHOLD, LOW_CONFIDENCE, ReviewStretch
from .compat import action_fcurve_collection

log = logging.getLogger(__name__)

#: the animated pose-bone custom property
CONFIDENCE_PROP = "vm_confidence"
#: object custom properties: the frames to review (JSON list), the threshold, the bones' own colours
REVIEW_PROP = "vm_review"
THRESHOLD_PROP = "vm_low_confidence"
COLORS_PROP = "vm_bone_colors"
#: a low bone's colours (normal, select, active)
LOW_COLORS = ((0.95, 0.08, 0.05), (1.0, 0.45, 0.4), (1.0, 0.7, 0.65))
_COLOR_FIELDS = ("normal", "select", "active")
#: bone colours are stored in 8 bits per channel
COLOR_TOL = 1.5 / 255
LINEAR = "LINEAR"


def confidence_path(bone: str) -> str:
    """The F-curve data path of ``bone``'s confidence property."""
    return f'pose.bones["{bone}"]["{CONFIDENCE_PROP}"]'


def rig_bone_map(rig, preset: str | None) -> dict[str, str]:
    """Solve bone -> rig bone, resolved as :func:`.retarget.retarget` resolves it for ``preset``."""
    from ..rigging.retarget import load_preset, resolve_mapping
    from .retarget import target_skeleton

    target = target_skeleton(rig)
    return resolve_mapping(load_preset(preset), target.bone_names, target.parents)


def _target_values(solved, confidence: np.ndarray, bone_map: dict[str, str] | None) -> dict[str, np.ndarray]:
    """Rig bone -> (K,) confidence; a rig bone driven by several solve bones gets their minimum."""
    out: dict[str, np.ndarray] = {}
    for b, name in enumerate(solved.bone_names):
        target = name if bone_map is None else bone_map.get(name)
        if target is None:
            continue
        values = confidence[:, b]
        out[target] = values if target not in out else np.minimum(out[target], values)
    return out


def key_confidence(obj, solved, bone_map: dict[str, str] | None = None) -> int:
    """Key ``solved.info["confidence"]`` onto armature ``obj``'s active action, one F-curve per bone.

    Args:
        bone_map: solve bone -> ``obj`` bone (a retargeted rig: :func:`rig_bone_map`); None when
            ``obj``'s bones are the solve's (:func:`.armature.create_armature`).
    Returns:
        the number of bones keyed (0 when the solve carries no confidence: nothing is changed).
    Raises:
        VideoMocapError: ``obj`` has no action to key into, or lacks a mapped bone.
    """
    confidence = solved.info.get(INFO_CONFIDENCE)
    if confidence is None:
        return 0
    anim = obj.animation_data
    if anim is None or anim.action is None:
        raise VideoMocapError(f"'{obj.name}' has no action to key the confidence into; apply the motion first.")
    values = _target_values(solved, np.asarray(confidence, dtype=np.float64), bone_map)
    missing = [name for name in values if name not in obj.pose.bones]
    if missing:
        raise VideoMocapError(f"Armature '{obj.name}' lacks the bones {', '.join(missing)} for the confidence keys.")
    from .armature import write_fcurve

    interp = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[LINEAR].value
    fcurves = action_fcurve_collection(anim.action, obj)
    frames = np.asarray(solved.frames, dtype=np.float64)
    own_colors = {}
    for name, per_key in values.items():
        pose_bone = obj.pose.bones[name]
        pose_bone[CONFIDENCE_PROP] = float(per_key[0])
        pose_bone.id_properties_ui(CONFIDENCE_PROP).update(
            min=0.0, max=1.0, soft_min=0.0, soft_max=1.0,
            description="Video Mocap: how far the 2D joints of this bone were seen (0..1)",
        )
        write_fcurve(fcurves, confidence_path(name), 0, frames, per_key, name, interp)
        own_colors[name] = _saved_color(pose_bone)
    obj[REVIEW_PROP] = json.dumps([s.to_dict() for s in solved.info.get(INFO_REVIEW, [])])
    obj[THRESHOLD_PROP] = float(solved.info.get(INFO_THRESHOLD, LOW_CONFIDENCE))
    if COLORS_PROP not in obj:  # a re-apply keeps the colours the bones had before the first one
        obj[COLORS_PROP] = json.dumps(own_colors)
    log.info("keyed the confidence of %d bones of '%s'", len(values), obj.name)
    return len(values)


def add_confidence(obj, solved, bone_map: dict[str, str] | None = None) -> int:
    """:func:`key_confidence`, then the bones coloured for the current frame; returns the bones keyed."""
    keyed = key_confidence(obj, solved, bone_map)
    if keyed:
        color_bones(obj)
    return keyed


def review_of(obj) -> list[ReviewStretch]:
    """The frames to review stored on armature ``obj`` (empty when it has none)."""
    raw = obj.get(REVIEW_PROP) if obj is not None else None
    if not raw:
        return []
    try:
        return [ReviewStretch.from_dict(d) for d in json.loads(raw)]
    except (ValueError, KeyError, TypeError):
        return []


# ---------------------------------------------------------------------------------------
# bone colours that follow the current frame
# ---------------------------------------------------------------------------------------
def _saved_color(pose_bone) -> list:
    color = pose_bone.color
    if color.palette != "CUSTOM":
        return [color.palette]
    return [color.palette, *[list(getattr(color.custom, f)) for f in _COLOR_FIELDS]]


def _set_color(pose_bone, saved: list) -> None:
    color = pose_bone.color
    color.palette = saved[0]
    if saved[0] == "CUSTOM":
        for field, value in zip(_COLOR_FIELDS, saved[1:]):
            setattr(color.custom, field, value)


def is_low_colored(pose_bone) -> bool:
    """Whether ``pose_bone`` shows the low-confidence colour (Blender keeps bone colours in 8 bits)."""
    color = pose_bone.color
    return color.palette == "CUSTOM" and np.allclose(tuple(color.custom.normal), LOW_COLORS[0], atol=COLOR_TOL)


def color_bones(obj) -> int:
    """Colour ``obj``'s bones below its threshold at the current frame red, the others their own
    colour; returns how many are red. Only writes a colour that changes."""
    threshold = float(obj.get(THRESHOLD_PROP, LOW_CONFIDENCE))
    try:
        own = json.loads(obj.get(COLORS_PROP, "{}"))
    except ValueError:
        own = {}
    low_count = 0
    for pose_bone in obj.pose.bones:
        value = pose_bone.get(CONFIDENCE_PROP)
        if value is None:
            continue
        low = float(value) < threshold
        low_count += low
        if low and not is_low_colored(pose_bone):
            _set_color(pose_bone, ["CUSTOM", *[list(c) for c in LOW_COLORS]])
        elif not low and is_low_colored(pose_bone):
            _set_color(pose_bone, own.get(pose_bone.name, ["DEFAULT"]))
    return low_count


def color_scene_bones(scene) -> None:
    """:func:`color_bones` on every armature of ``scene`` that carries confidence keys."""
    for obj in scene.objects:
        if obj.type == "ARMATURE" and REVIEW_PROP in obj:
            color_bones(obj)


@persistent
def on_frame_change(scene, depsgraph=None) -> None:
    """``frame_change_post``: the bones' colours follow the current frame's confidence."""
    color_scene_bones(scene)


def register() -> None:
    """Add the frame-change handler (once)."""
    handlers = bpy.app.handlers.frame_change_post
    if not any(getattr(h, "__name__", "") == on_frame_change.__name__ and getattr(h, "__module__", "") == __name__
               for h in handlers):
        handlers.append(on_frame_change)


def unregister() -> None:
    """Remove the frame-change handler."""
    handlers = bpy.app.handlers.frame_change_post
    for handler in [h for h in handlers
                    if getattr(h, "__name__", "") == on_frame_change.__name__ and getattr(h, "__module__", "") == __name__]:
        handlers.remove(handler)
