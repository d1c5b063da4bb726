"""Picture of the rigs in Blender: every armature of a ``.blend`` at one frame, rendered from the side.

    nice -n 5 .venv/bin/python -m bench.render_people SCENE.blend OUT.png [--frame 50] [--side 9 -3]

Opens the file in bpy, poses every armature at ``--frame``, puts a cylinder on each posed bone (the
Workbench renderer draws meshes, not bones; each armature in its own colour) and a floor plane at
Z = 0, and renders from a camera ``--side`` metres (x, y) from the armatures' mean pelvis, 0.6 m above
it. What the animator sees in the viewport, without a display: who stands on the floor, who floats.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: one colour per armature, in scene order (RGBA)
COLOURS = ((0.1, 0.7, 0.2, 1.0), (0.2, 0.4, 1.0, 1.0), (1.0, 0.5, 0.1, 1.0), (0.8, 0.1, 0.8, 1.0))
BONE_RADIUS_M = 0.03
FLOOR_SIZE_M = 14.0
FLOOR_COLOUR = (0.6, 0.6, 0.6, 1.0)
CAMERA_RISE_M = 0.6
RESOLUTION = (800, 600)


def render(scene_path: Path, out: Path, frame: int, side: tuple[float, float]) -> list[tuple[str, tuple]]:
    """Render ``scene_path`` at ``frame`` into ``out``; returns each armature's name and pelvis position."""
    import bpy
    from mathutils import Vector

    bpy.ops.wm.open_mainfile(filepath=str(scene_path))
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.color_type = "OBJECT"
    scene.render.resolution_x, scene.render.resolution_y = RESOLUTION
    scene.frame_set(frame)
    armatures = [o for o in scene.objects if o.type == "ARMATURE"]
    if not armatures:
        raise SystemExit(f"{scene_path}: no armature to render")
    for i, armature in enumerate(armatures):
        for bone in armature.pose.bones:
            head, tail = armature.matrix_world @ bone.head, armature.matrix_world @ bone.tail
            if (tail - head).length < 1e-4:
                continue
            bpy.ops.mesh.primitive_cylinder_add(radius=BONE_RADIUS_M, depth=(tail - head).length, vertices=8,
                                                location=(head + tail) / 2,
                                                rotation=(tail - head).to_track_quat("Z", "Y").to_euler())
            bpy.context.active_object.color = COLOURS[i % len(COLOURS)]
    bpy.ops.mesh.primitive_plane_add(size=FLOOR_SIZE_M, location=(0.0, 0.0, 0.0))
    bpy.context.active_object.color = FLOOR_COLOUR
    pelvis = {a.name: a.matrix_world @ a.pose.bones["pelvis"].head for a in armatures}
    centre = sum(pelvis.values(), Vector()) / len(pelvis)
    camera = bpy.data.objects.new("side view", bpy.data.cameras.new("side view"))
    scene.collection.objects.link(camera)
    camera.location = centre + Vector((side[0], side[1], CAMERA_RISE_M))
    camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = camera
    out.parent.mkdir(parents=True, exist_ok=True)
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)
    return [(name, tuple(round(v, 2) for v in p)) for name, p in pelvis.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frame", type=int, default=50)
    parser.add_argument("--side", type=float, nargs=2, default=(9.0, -3.0), metavar=("X", "Y"))
    args = parser.parse_args(argv)
    for name, pelvis in render(args.scene.resolve(), args.out.resolve(), args.frame, tuple(args.side)):
        print(f"{name}: pelvis at {pelvis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
