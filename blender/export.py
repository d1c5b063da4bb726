"""Export an animated armature to BVH or FBX through Blender's own exporters (bpy adapter).

Only the armature is exported (it is selected alone for the exporter, the user's selection
and active object are restored afterwards). Writes are atomic: the exporter writes a temp
file beside the target, which is renamed over the target only when the export succeeded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import bpy

from ..core.errors import VideoMocapError
from ..core.atomic import atomic_path

log = logging.getLogger(__name__)

FORMATS = ("bvh", "fbx")


def _frame_range(obj, scene) -> tuple[int, int]:
    anim = obj.animation_data
    if anim is not None and anim.action is not None:
        start, end = anim.action.frame_range
        return int(round(start)), int(round(end))
    return scene.frame_start, scene.frame_end


#: the FBX exporter bakes the scene's frame range from the armature's active action: NLA strips
#: (the exporter's default, True) would export nothing when the action is not in a strip, and
#: simplification would drop keys of mocap, which is keyed on every frame
FBX_ANIMATION_OPTIONS = dict(
    bake_anim=True, bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
    bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0,
)


def _use_action_range(obj, scene) -> None:
    """Set the scene's frame range to the action's (the FBX exporter bakes the scene range)."""
    scene.frame_start, scene.frame_end = _frame_range(obj, scene)


def export_armature(obj, path: str | os.PathLike, context=None, fmt: str | None = None) -> Path:
    """Export armature ``obj`` (with its action) to ``path`` (.bvh or .fbx).

    Args:
        fmt: "bvh" or "fbx"; default from the file suffix.
    Raises:
        VideoMocapError: not an armature, unknown format, or the exporter failed (no file left).
    """
    context = context if context is not None else bpy.context
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise VideoMocapError(f"Cannot export '{path.name}': use a .bvh or .fbx file name.")
    if obj is None or getattr(obj, "type", None) != "ARMATURE":
        raise VideoMocapError("Select an armature to export.")
    if context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer = context.view_layer
    selected = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    scene_range = (context.scene.frame_start, context.scene.frame_end)
    try:
        for other in selected:
            other.select_set(False)
        obj.select_set(True)
        view_layer.objects.active = obj
        with atomic_path(path) as tmp:
            if fmt == "bvh":
                start, end = _frame_range(obj, context.scene)
                result = bpy.ops.export_anim.bvh(
                    filepath=str(tmp), frame_start=start, frame_end=end, root_transform_only=True
                )
            else:
                _use_action_range(obj, context.scene)
                result = bpy.ops.export_scene.fbx(
                    filepath=str(tmp), use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=False,
                    use_custom_props=True,
                    **FBX_ANIMATION_OPTIONS,
                )
            if "FINISHED" not in result or not tmp.is_file() or tmp.stat().st_size == 0:
                raise VideoMocapError(f"Blender's {fmt.upper()} exporter failed for '{obj.name}'; nothing was written.")
    except RuntimeError as exc:
        raise VideoMocapError(f"Blender's {fmt.upper()} exporter failed: {exc}".strip()) from None
    finally:
        context.scene.frame_start, context.scene.frame_end = scene_range
        obj.select_set(False)
        for other in selected:
            if other.name in view_layer.objects:
                other.select_set(True)
        view_layer.objects.active = active
    log.info("exported '%s' to %s", obj.name, path)
    return path


def save_blend(path: Path) -> Path:
    """Save the open scene as ``path`` (.blend), atomically; the session keeps its own file name (a copy)."""
    with atomic_path(path, suffix=".blend") as tmp:
        tmp.unlink()  # an existing file would make Blender keep a .blend1 backup of it
        outcome = bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
        if "FINISHED" not in outcome:
            raise VideoMocapError(f"Blender could not save {path}.")
    return path


def write_scene_file(solved, path: Path, name: str) -> Path:
    """A fresh scene with one armature keyed from ``solved``, written as ``path`` (.blend or .fbx).

    Headless only (the CLI and ``batch.py``): the current scene is replaced by an empty one.
    """
    from .armature import create_armature

    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = create_armature(solved, name=name, context=bpy.context)
    from .confidence import add_confidence

    add_confidence(obj, solved)  # the bones' animated confidence (an FBX keeps it as a static value)
    if solved.info.get("camera", {}).get("moving"):  # a panning shot: the footage's camera, keyed
        from .camera import create_footage_camera

        create_footage_camera(solved, context=bpy.context)
    if path.suffix.lower() == ".fbx":
        return export_armature(obj, path, context=bpy.context)
    return save_blend(path)


def write_people_file(people: dict, path: Path) -> Path:
    """A fresh scene with one keyed armature per person, written as ``path`` (.blend or .fbx).

    ``people``: armature name -> :class:`~video_mocap.rigging.solve.SolvedMotion`, the subject
    first, all solved in one world (``pipeline.stages.run_people``). The scene's frame range spans
    everyone; a panning shot's footage camera is keyed from the subject's solve. Headless only.
    """
    from .armature import create_armature

    if not people:
        raise VideoMocapError("No person to write.")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    objects = [create_armature(solved, name=name, context=bpy.context) for name, solved in people.items()]
    scene.frame_start = min(int(min(s.frames[0] for s in people.values())), scene.frame_start)
    scene.frame_end = max(int(max(s.frames[-1] for s in people.values()) + 0.999), scene.frame_end)
    subject = next(iter(people.values()))
    if subject.info.get("camera", {}).get("moving"):
        from .camera import create_footage_camera

        create_footage_camera(subject, context=bpy.context)
    if path.suffix.lower() == ".fbx":
        for obj in bpy.context.view_layer.objects:
            obj.select_set(obj in objects)
        bpy.context.view_layer.objects.active = objects[0]
        with atomic_path(path) as tmp:
            result = bpy.ops.export_scene.fbx(
                filepath=str(tmp), use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=False,
                use_custom_props=True, **FBX_ANIMATION_OPTIONS,
            )
            if "FINISHED" not in result or not tmp.is_file() or tmp.stat().st_size == 0:
                raise VideoMocapError(f"Blender's FBX exporter failed for {path.name}; nothing was written.")
        return path
    return save_blend(path)
