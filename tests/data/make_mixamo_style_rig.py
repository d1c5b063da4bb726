"""Build ``mixamo_style_rig.fbx``: a Mixamo-style armature, as Blender imports Mixamo characters.

    .venv/bin/python tests/data/make_mixamo_style_rig.py

Our own rig (no Mixamo data): the ``mixamorig:`` bone names and hierarchy of a Mixamo
character (hips, three spine bones, neck, head and its end, shoulders to hands, up-legs to toe
ends), an A-pose (arms 45 degrees down), centimetres, Y up and facing +Z in armature space. The
armature object is turned +90 degrees about X and scaled 0.01, which is what
``bpy.ops.import_scene.fbx`` gives for a Mixamo download; Blender's FBX exporter writes it so
that its importer reads it back that way (checked below).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy

OUT = Path(__file__).resolve().parent / "mixamo_style_rig.fbx"
PREFIX = "mixamorig:"
ARMS_DOWN_DEG = 45.0


def bone_rows() -> list[tuple[str, str | None, tuple, tuple]]:
    """(bone, parent, head, tail) in centimetres, Y up, the character facing +Z."""
    c, s = math.cos(math.radians(ARMS_DOWN_DEG)), math.sin(math.radians(ARMS_DOWN_DEG))
    rows = [("Hips", None, (0, 99, 0), (0, 108, -1)), ("Spine", "Hips", (0, 108, -1), (0, 119, -1)),
            ("Spine1", "Spine", (0, 119, -1), (0, 131, -1.5)), ("Spine2", "Spine1", (0, 131, -1.5), (0, 145, -2)),
            ("Neck", "Spine2", (0, 145, -2), (0, 155, 0)), ("Head", "Neck", (0, 155, 0), (0, 166, 1)),
            ("HeadTop_End", "Head", (0, 166, 1), (0, 176, 1))]
    for side, sx in (("Left", 1.0), ("Right", -1.0)):
        shoulder = (sx * 16, 141, -2)
        elbow = (shoulder[0] + sx * 27 * c, shoulder[1] - 27 * s, -2)
        wrist = (shoulder[0] + sx * 52 * c, shoulder[1] - 52 * s, -2)
        hand_end = (wrist[0] + sx * 9 * c, wrist[1] - 9 * s, -2)
        rows += [(f"{side}Shoulder", "Spine2", (sx * 4, 140, -2), shoulder),
                 (f"{side}Arm", f"{side}Shoulder", shoulder, elbow),
                 (f"{side}ForeArm", f"{side}Arm", elbow, wrist),
                 (f"{side}Hand", f"{side}ForeArm", wrist, hand_end),
                 (f"{side}UpLeg", "Hips", (sx * 9, 93, 0), (sx * 9, 51, 1.5)),
                 (f"{side}Leg", f"{side}UpLeg", (sx * 9, 51, 1.5), (sx * 9, 8.5, -2.5)),
                 (f"{side}Foot", f"{side}Leg", (sx * 9, 8.5, -2.5), (sx * 9, 2, 10)),
                 (f"{side}ToeBase", f"{side}Foot", (sx * 9, 2, 10), (sx * 9, 2, 17)),
                 (f"{side}Toe_End", f"{side}ToeBase", (sx * 9, 2, 17), (sx * 9, 2, 22))]
    return [(PREFIX + b, PREFIX + p if p else None, h, t) for b, p, h, t in rows]


def build() -> "bpy.types.Object":
    bpy.ops.wm.read_factory_settings(use_empty=True)
    data = bpy.data.armatures.new("Armature")
    obj = bpy.data.objects.new("Armature", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.rotation_euler = (math.pi / 2, 0.0, 0.0)
    obj.scale = (0.01, 0.01, 0.01)
    bpy.ops.object.mode_set(mode="EDIT")
    for bone, parent, head, tail in bone_rows():
        eb = data.edit_bones.new(bone)
        eb.head, eb.tail = head, tail
        if parent:
            eb.parent = data.edit_bones[parent]
            eb.use_connect = tuple(data.edit_bones[parent].tail) == tuple(eb.head)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def main() -> int:
    obj = build()
    obj.select_set(True)
    bpy.ops.export_scene.fbx(filepath=str(OUT), use_selection=True, object_types={"ARMATURE"},
                             add_leaf_bones=False, bake_anim=False)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(OUT))
    rig = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    scale = rig.matrix_world.to_scale()
    assert abs(scale.x - 0.01) < 1e-6 and len(rig.data.bones) == len(bone_rows()), (scale, len(rig.data.bones))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(rig.data.bones)} bones)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
