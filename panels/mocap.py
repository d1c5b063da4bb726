"""The Mocap tab, the same in the 3D Viewport sidebar and in the Movie Clip Editor.

A parent panel ("Video Mocap": the run buttons) with five sub-panels (Clip, Person, 3D Pose,
Animation, Review: the frames to check, a button each that jumps there). One set of draw functions
draws them; :func:`make_panels` makes the panel classes of one editor from them (as Blender's
bundled add-ons share panels between editors through a mixin).
Panels only draw ``scene.video_mocap`` and the operators' buttons; they never change data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import bpy

from ..inference import runtime
from ..blender.preferences import draw_runtime
from ..blender.properties import rig_scale_problem

CATEGORY = "Mocap"
#: the editors that show the tab: (space type, class-name prefix)
EDITORS = (("VIEW_3D", "VIEW3D"), ("CLIP_EDITOR", "CLIP"))


def draw_clip(layout: bpy.types.UILayout, props, space_type: str) -> None:
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
    if space_type == "CLIP_EDITOR":
        layout.prop(props, "show_overlay")


def draw_person(layout: bpy.types.UILayout, props, space_type: str) -> None:
    layout.operator("video_mocap.detect_people", icon="VIEWZOOM")
    layout.prop(props, "person", text="")  # Automatic, All People, and the people found
    if len(props.people) == 0:
        layout.label(text="Detect People to choose one person")
    col = layout.column(align=True)
    col.prop(props, "detect_imgsz")
    col.prop(props, "detect_conf")


def draw_pose(layout: bpy.types.UILayout, props, space_type: str) -> None:
    layout.prop(props, "model")
    layout.prop(props, "device")
    row = layout.row(align=True)
    row.prop(props, "fov_auto", text="Auto FOV")
    sub = row.row(align=True)
    sub.active = not props.fov_auto
    sub.prop(props, "fov_deg", text="FOV")


def draw_animation(layout: bpy.types.UILayout, props, space_type: str) -> None:
    layout.prop(props, "smoothing", slider=True)
    row = layout.row()
    row.active = props.smoothing > 0.0
    row.prop(props, "smoothing_method")
    layout.prop(props, "foot_lock")
    layout.prop(props, "scene_frame_rate")
    layout.prop(props, "target")
    if props.target == "EXISTING":
        layout.prop(props, "target_rig")
        layout.prop(props, "mapping_preset")
        if props.target_rig is not None and rig_scale_problem(props.target_rig) is not None:
            layout.label(text="Non-uniform rig scale: apply it (Ctrl+A > Scale)", icon="ERROR")
    else:
        layout.prop(props, "armature_name")


def review_armature(context: bpy.types.Context):
    """The armature whose frames to review the panel lists: the active object when it carries
    confidence keys, else the scene's target (the rig, or the armature by its name)."""
    from ..blender.confidence import REVIEW_PROP

    props = context.scene.video_mocap
    rig = props.target_rig if props.target == "EXISTING" else context.scene.objects.get(props.armature_name)
    for obj in (context.active_object, rig):
        if obj is not None and obj.type == "ARMATURE" and REVIEW_PROP in obj:
            return obj
    return None


def draw_review(layout: bpy.types.UILayout, props, space_type: str) -> None:
    from ..blender.confidence import review_of

    obj = review_armature(bpy.context)
    if obj is None:
        layout.label(text="Estimate a motion to see the frames to review")
        return
    stretches = review_of(obj)
    if not stretches:
        layout.label(text=f"'{obj.name}': no low-confidence stretch", icon="CHECKMARK")
        return
    layout.label(text=f"'{obj.name}': {len(stretches)} stretch(es) to review")
    col = layout.column(align=True)
    for stretch in stretches:
        row = col.row(align=True)
        text = f"{stretch.first_frame}-{stretch.last_frame}  {stretch.mean_confidence:.2f}  {', '.join(stretch.worst_bones)}"
        button = row.operator("video_mocap.jump_to_frame", text=text, icon="ERROR")
        button.frame = stretch.first_frame


def draw_run(layout: bpy.types.UILayout, props, space_type: str) -> None:
    from ..blender.jobs import job_cancelling, job_running

    if job_cancelling():
        layout.label(text="Cancelling: the current step ends first", icon="CANCEL")
    elif job_running():
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


@dataclass(frozen=True)
class Section:
    """One sub-panel of the tab."""

    key: str  # class-name suffix
    label: str
    icon: str
    draw: Callable[[bpy.types.UILayout, object, str], None]


#: the sub-panels, top to bottom
SECTIONS = (
    Section("clip", "Clip", "FILE_MOVIE", draw_clip),
    Section("person", "Person", "USER", draw_person),
    Section("pose", "3D Pose", "ARMATURE_DATA", draw_pose),
    Section("animation", "Animation", "ACTION", draw_animation),
    Section("review", "Review", "VIEWZOOM", draw_review),
)


def _split(layout: bpy.types.UILayout) -> bpy.types.UILayout:
    layout.use_property_split = True
    layout.use_property_decorate = False
    return layout


class MocapPanelMixin:
    """What every panel of the tab shares (the editor comes from :func:`make_panels`)."""

    bl_region_type = "UI"
    bl_category = CATEGORY

    @classmethod
    def poll(cls, context):
        return context.scene is not None and hasattr(context.scene, "video_mocap")


class MocapMainMixin(MocapPanelMixin):
    """The parent panel: what runs, and the buttons that run it."""

    bl_label = "Video Mocap"

    def draw(self, context):
        draw_run(_split(self.layout), context.scene.video_mocap, self.bl_space_type)


class MocapSectionMixin(MocapPanelMixin):
    """A sub-panel drawing one :class:`Section`."""

    section: Section

    def draw_header(self, context):
        self.layout.label(icon=self.section.icon)

    def draw(self, context):
        self.section.draw(_split(self.layout), context.scene.video_mocap, self.bl_space_type)


def make_panels(space_type: str, prefix: str) -> tuple[type, ...]:
    """The tab's panel classes for one editor: the parent ``<prefix>_PT_video_mocap``, then its sub-panels."""
    parent_id = f"{prefix}_PT_video_mocap"
    parent = type(parent_id, (MocapMainMixin, bpy.types.Panel), {"bl_space_type": space_type})
    children = tuple(
        type(
            f"{parent_id}_{section.key}",
            (MocapSectionMixin, bpy.types.Panel),
            {"bl_space_type": space_type, "bl_parent_id": parent_id, "bl_label": section.label, "section": section},
        )
        for section in SECTIONS
    )
    return (parent, *children)


PANELS = {space_type: make_panels(space_type, prefix) for space_type, prefix in EDITORS}
VIEW3D_PT_video_mocap = PANELS["VIEW_3D"][0]
CLIP_PT_video_mocap = PANELS["CLIP_EDITOR"][0]

CLASSES = tuple(cls for panels in PANELS.values() for cls in panels)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
