"""Review: jump to a stretch of frames whose bones the 2D stage saw poorly (the Review panel's buttons).

Registering this module also adds the frame-change handler that colours low-confidence bones
(:mod:`..blender.confidence`); unregistering removes it.
"""

from __future__ import annotations

import bpy

from ..blender import confidence as blender_confidence


class VIDEO_MOCAP_OT_jump_to_frame(bpy.types.Operator):
    """Go to the first frame of this stretch to review"""

    bl_idname = "video_mocap.jump_to_frame"
    bl_label = "Jump to Frame"
    bl_options = {"REGISTER"}

    frame: bpy.props.IntProperty(name="Frame", description="The scene frame to go to")

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        context.scene.frame_set(self.frame)  # frame_current, with the frame-change handlers run
        return {"FINISHED"}


CLASSES = (VIDEO_MOCAP_OT_jump_to_frame,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def register() -> None:
    _register_classes()
    blender_confidence.register()


def unregister() -> None:
    blender_confidence.unregister()
    _unregister_classes()
