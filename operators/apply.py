"""Apply to Armature: re-key from the cached 3D motion with the current rig settings (no networks)."""

from __future__ import annotations

from pathlib import Path

import bpy

from .common import (
    apply_solved_to_scene,
    frame_rate_follows_video,
    job_running,
    set_scene_frame_rate,
    settings_of,
    solve_for_scene,
    target_rig,
)
from ..core.errors import VideoMocapError


def load_last_motion(props):
    """The 3D motion of the last estimate, or a clear error when there is none."""
    from ..core.formats import Motion3D

    if not props.last_motion:
        raise VideoMocapError("No previous result: run Estimate 3D Pose first.")
    path = Path(props.last_motion)
    if not path.is_file():
        raise VideoMocapError(f"The cached result {path} is gone (cache cleared?): run Estimate 3D Pose again.")
    return Motion3D.load(path)


class VIDEO_MOCAP_OT_apply(bpy.types.Operator):
    """Key the target armature again from the last result with the current smoothing, foot lock and target"""

    bl_idname = "video_mocap.apply"
    bl_label = "Apply to Armature"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene is not None and bool(context.scene.video_mocap.last_motion) and not job_running()

    def execute(self, context):
        try:
            target_rig(settings_of(context))  # refused before any work
            motion = load_last_motion(settings_of(context))
            follow_video_fps = frame_rate_follows_video(context)
            solved = solve_for_scene(context, motion, follow_video_fps)
            obj = apply_solved_to_scene(context, solved)
        except VideoMocapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if follow_video_fps:
            set_scene_frame_rate(context.scene, solved.fps)
        self.report({"INFO"}, f"Video Mocap: keyed {motion.num_frames} frames on '{obj.name}'.")
        return {"FINISHED"}


CLASSES = (VIDEO_MOCAP_OT_apply,)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
