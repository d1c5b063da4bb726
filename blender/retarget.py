"""Retarget a solved motion onto an existing armature (bpy adapter of :mod:`.retarget`).

Works on the Rigify human metarig, generated Rigify rigs (FK controls; the rig's switches are
set for it: every limb's ``IK_FK`` to 1.0 = FK, ``neck_follow``/``head_follow`` to 1.0),
Mixamo rigs, and other humanoids through automatic bone-name matching plus the JSON presets
in ``rigging/presets/``. The rig's rest pose may be an A-pose or a T-pose. Feet and toes are
keyed too (the preset's ``feet``, else name matching under the shins), the legs reach the solved
ankles on the rig's own floor (:func:`..rigging.retarget.plant_leg`). A new action is written in
bulk; the rig's previous action is kept in the blend file (no longer assigned) unless Video Mocap
wrote it. Nothing is changed when validation fails.

:func:`check_rig_file` / :func:`write_rig_file`: a rig in a .blend file (``video-mocap estimate
--rig FILE.blend[:OBJECT] --mapping PRESET``), checked before any work, keyed into the output.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..core.errors import VideoMocapError
from .armature import DEFAULT_INTERPOLATION, write_action
from ..rigging.retarget import (
    TargetSkeleton,
    load_preset,
    load_preset_options,
    resolve_feet,
    resolve_mapping,
    retarget_motion,
)
from ..rigging.solve import SolvedMotion

log = logging.getLogger(__name__)

#: Rigify limb property: 0 = IK, 1 = FK (IK constraint influence = 1 - IK_FK)
RIGIFY_IK_FK_PROP = "IK_FK"
RIGIFY_FK = 1.0
#: Rigify custom properties set on retarget: limbs in FK; the neck and head follow the chest
#: and the neck (0 would keep them turned with the torso, which the solve does not assume)
RIGIFY_SWITCHES: dict[str, float] = {RIGIFY_IK_FK_PROP: RIGIFY_FK, "neck_follow": 1.0, "head_follow": 1.0}


def target_skeleton(rig) -> TargetSkeleton:
    """Rest pose and object matrix of armature object ``rig``."""
    bones = list(rig.data.bones)
    names = [b.name for b in bones]
    index = {n: i for i, n in enumerate(names)}
    parents = [index[b.parent.name] if b.parent is not None else -1 for b in bones]
    rest = np.array([np.array(b.matrix_local)[:3, :3] for b in bones])
    rest = rest / np.linalg.norm(rest, axis=1, keepdims=True)  # unit columns
    heads = np.array([np.array(b.head_local) for b in bones])
    tails = np.array([np.array(b.tail_local) for b in bones])
    constrained = [len(rig.pose.bones[n].constraints) > 0 for n in names]
    return TargetSkeleton(names, parents, rest, heads, tails, np.array(rig.matrix_world), constrained)


def _switch_rigify_limbs_to_fk(rig) -> int:
    """Rigify switches: limbs to FK, neck and head following their parents (not the torso)."""
    switched = 0
    for pose_bone in rig.pose.bones:
        for prop, value in RIGIFY_SWITCHES.items():
            if prop in pose_bone.keys():
                pose_bone[prop] = value
                switched += 1
    return switched


def retarget(rig, solved: SolvedMotion, preset: str | os.PathLike | None = None,
             mapping: dict[str, str] | None = None, context=None,
             interpolation: str = DEFAULT_INTERPOLATION):
    """Key armature ``rig`` with ``solved``.

    Args:
        preset: a preset name in ``rigging/presets`` ("mixamo", "rigify_metarig", "rigify",
            "auto"/None), or a path to a preset JSON.
        mapping: extra solve bone -> rig bone entries (override the preset).
    Returns:
        ``rig``.
    Raises:
        VideoMocapError: not an armature, bad motion, unknown preset, or a rig that lacks bones
            for the H36M joints (listed); the scene is left unchanged.
    """
    if rig is None or getattr(rig, "type", None) != "ARMATURE":
        raise VideoMocapError("Pick an armature object as the retarget target.")
    if not isinstance(solved, SolvedMotion):
        raise VideoMocapError(f"Expected a solved motion, got {type(solved).__name__}.")
    solved.validate()
    wanted = {**load_preset(preset), **(mapping or {})}
    options = load_preset_options(preset)
    target = target_skeleton(rig)
    resolved = resolve_mapping(wanted, target.bone_names, target.parents)
    feet = resolve_feet(options.feet, target.bone_names, target.parents, resolved)
    result = retarget_motion(solved, target, resolved, feet=feet, keep_rest_direction=options.keep_rest_direction)
    channels = {name: {"rotation_quaternion": q} for name, q in result.rotations.items()}
    channels.setdefault(result.root_bone, {})["location"] = result.root_locations
    write_action(rig, solved.frames, channels, action_name=f"{rig.name}_VideoMocap", interpolation=interpolation)
    switched = _switch_rigify_limbs_to_fk(rig)
    log.info("retargeted %d frames onto '%s' (%d bones, feet %s, scale %.3f, %d limbs set to FK)",
             solved.num_frames, rig.name, len(result.rotations), sorted(feet.values()), result.scale, switched)
    return rig


# ---------------------------------------------------------------------------------------
# a studio's own rig from a .blend file (``video-mocap estimate --rig FILE.blend[:OBJECT]``)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RigFile:
    """An armature object in a .blend file, keyed with a mapping preset (or "auto")."""

    path: Path
    object_name: str | None = None
    preset: str = "auto"


def parse_rig_file(spec: str, preset: str | None = None) -> RigFile:
    """``FILE.blend`` or ``FILE.blend:OBJECT`` -> :class:`RigFile` (not opened yet)."""
    text = str(spec)
    name = None
    head, sep, tail = text.rpartition(":")
    if sep and head.lower().endswith(".blend") and tail and not any(c in tail for c in "/\\"):
        text, name = head, tail
    return RigFile(Path(text).expanduser(), name, preset or "auto")


def _open_rig(rig: RigFile):
    """Open ``rig.path`` as the current Blender file and return its armature object; checked."""
    if rig.path.suffix.lower() != ".blend":
        raise VideoMocapError(f"--rig {rig.path}: give a Blender file (FILE.blend or FILE.blend:OBJECT).")
    if not rig.path.is_file():
        raise VideoMocapError(f"--rig: the file {rig.path} does not exist; give the path of the .blend holding the rig.")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(rig.path), load_ui=False)
    except RuntimeError as exc:
        raise VideoMocapError(f"--rig: Blender cannot open {rig.path} ({str(exc).strip()}).") from None
    armatures = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
    if rig.object_name is None:
        if len(armatures) != 1:
            found = ", ".join(armatures) or "none"
            raise VideoMocapError(
                f"--rig {rig.path}: {len(armatures)} armatures in the file ({found}); name one as {rig.path.name}:NAME."
            )
        return bpy.data.objects[armatures[0]]
    obj = bpy.data.objects.get(rig.object_name)
    if obj is None:
        raise VideoMocapError(
            f"--rig: no object '{rig.object_name}' in {rig.path}; its armatures: {', '.join(armatures) or 'none'}."
        )
    if obj.type != "ARMATURE":
        raise VideoMocapError(
            f"--rig: '{rig.object_name}' in {rig.path} is a {obj.type.lower()}, not an armature; "
            f"its armatures: {', '.join(armatures) or 'none'}."
        )
    return obj


def check_rig_file(rig: RigFile) -> str:
    """Everything about ``rig`` that can fail, checked before any work: the file, the object, the
    preset and that the preset (plus name matching) maps a humanoid. Returns the object's name.

    Raises:
        VideoMocapError: what is wrong and what to give instead.
    """
    load_preset(rig.preset)  # an unknown preset fails first, without opening anything
    load_preset_options(rig.preset)
    obj = _open_rig(rig)
    target = target_skeleton(obj)
    try:
        resolve_mapping(load_preset(rig.preset), target.bone_names, target.parents)
    except VideoMocapError as exc:
        raise VideoMocapError(f"--rig '{obj.name}' with --mapping {rig.preset}: {exc}") from None
    return obj.name


def write_rig_file(solved: SolvedMotion, path: Path, rig: RigFile) -> Path:
    """Key the rig of ``rig`` with ``solved`` and write ``path``: the rig's whole file as a .blend,
    or the rig alone as .fbx / .bvh (Blender's exporters). The source .blend is not changed.

    Headless only (the CLI and ``batch.py``): the current Blender file is replaced by the rig's.
    """
    from .export import export_armature, save_blend

    obj = _open_rig(rig)
    context = bpy.context
    retarget(obj, solved, preset=rig.preset, context=context)
    from .confidence import add_confidence, rig_bone_map

    add_confidence(obj, solved, rig_bone_map(obj, rig.preset))  # the mapped bones' animated confidence
    scene = context.scene
    scene.frame_start = int(np.floor(solved.frames[0]))
    scene.frame_end = int(np.ceil(solved.frames[-1]))
    scene.render.fps = max(1, int(round(solved.fps)))
    scene.render.fps_base = scene.render.fps / solved.fps
    if path.suffix.lower() in (".fbx", ".bvh"):
        return export_armature(obj, path, context=context)
    return save_blend(path)
