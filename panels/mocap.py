"""The Mocap panel, drawn the same in the 3D Viewport sidebar and in the Movie Clip Editor.

Panels only draw ``scene.video_mocap`` and the operators' buttons; they never change data.
"""

from __future__ import annotations

import bpy

from ..inference import runtime
from ..blender.preferences import draw_runtime

CATEGORY = "Mocap"


def draw_source(layout: bpy.types.UILayout, props) -> None:
    layout.label(text="Clip", icon="FILE_MOVIE")
    layout.row().prop(props, "source", expand=True)
    if props.source == "CLIP":
        layout.prop(props, "clip")
    else:
        layout.prop(props, "filepath")
    row = layout.row(align=True)
    row.prop(props, "use_frame_range")
    sub = row.row(align=True)
    sub.active = props.use_frame_range
    sub.prop(props, "frame_start")
    sub.prop(props, "frame_end")


def draw_person(layout: bpy.types.UILayout, props) -> None:
    layout.label(text="Person", icon="USER")
    layout.operator("video_mocap.detect_people", icon="VIEWZOOM")
    if len(props.people) == 0:
        layout.label(text="Automatic: the main subject (Detect People to choose)")
    else:
        layout.prop(props, "person", text="")


def draw_lifter(layout: bpy.types.UILayout, props) -> None:
    layout.label(text="3D Pose", icon="ARMATURE_DATA")
    layout.prop(props, "model")
    layout.prop(props, "device")
    row = layout.row(align=True)
    row.prop(props, "fov_auto", text="Auto FOV")
    sub = row.row(align=True)
    sub.active = not props.fov_auto
    sub.prop(props, "fov_deg", text="FOV")


def draw_rig(layout: bpy.types.UILayout, props) -> None:
    layout.label(text="Animation", icon="ACTION")
    layout.prop(props, "smoothing", slider=True)
    row = layout.row()
    row.active = props.smoothing > 0.0
    row.prop(props, "smoothing_method")
    layout.prop(props, "foot_lock")
    layout.prop(props, "target")
    if props.target == "EXISTING":
        layout.prop(props, "target_rig")
        layout.prop(props, "mapping_preset")
    else:
        layout.prop(props, "armature_name")


def draw_run(layout: bpy.types.UILayout, props) -> None:
    from ..blender.jobs import job_running

    if job_running():
        layout.label(text="Running: see the status bar (Esc cancels)", icon="TIME")
    ready = runtime.missing_packages_message() is None
    col = layout.column(align=True)
    col.enabled = ready
    col.scale_y = 1.4
    col.operator("video_mocap.estimate", icon="PLAY")
    row = layout.row()
    row.enabled = bool(props.last_motion)
    row.operator("video_mocap.apply", icon="FILE_REFRESH")
    if not ready:
        draw_runtime(layout.box())


def draw_mocap(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """Every control of the Mocap tab, in order: clip, person, 3D pose, animation, run."""
    props = context.scene.video_mocap
    layout.use_property_split = True
    layout.use_property_decorate = False
    for section in (draw_source, draw_person, draw_lifter, draw_rig, draw_run):
        section(layout.box(), props)


class _MocapPanel:
    bl_label = "Video Mocap"
    bl_category = CATEGORY

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "video_mocap")

    def draw(self, context):
        draw_mocap(self.layout, context)


class VIEW3D_PT_video_mocap(_MocapPanel, bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"


class CLIP_PT_video_mocap(_MocapPanel, bpy.types.Panel):
    bl_space_type = "CLIP_EDITOR"
    bl_region_type = "UI"

    def draw(self, context):
        draw_mocap(self.layout, context)
        self.layout.prop(context.scene.video_mocap, "show_overlay")


CLASSES = (VIEW3D_PT_video_mocap, CLIP_PT_video_mocap)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
