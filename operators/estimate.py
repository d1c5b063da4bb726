"""Estimate 3D Pose: video -> 2D track -> 3D motion -> keyed armature (modal, cancellable)."""

from __future__ import annotations

import bpy

from .common import Job, ModalJobMixin, apply_solved_to_scene, cache_dir_of, check_runtime, settings_of, video_path
from ..blender.preferences import get_preferences


def make_estimate_job(context: bpy.types.Context) -> Job:
    """Read everything the worker needs from the scene now (main thread); the job touches no bpy data."""
    from ..pipeline import stages as pipeline
    from .common import pipeline_settings

    video = video_path(settings_of(context))
    settings = pipeline_settings(context)
    check_runtime()
    cache_dir = cache_dir_of(get_preferences(context))

    def work(progress, cancel):
        return pipeline.run_pipeline(video, settings, progress=progress, cancel=cancel, cache_dir=cache_dir)

    return Job(work)


def finish_estimate(context: bpy.types.Context, result) -> bpy.types.Object:
    """Key the target armature from a :class:`~video_mocap.pipeline.stages.PipelineResult` (main thread, one step)."""
    from ..blender.overlay import remember_track

    obj = apply_solved_to_scene(context, result.solved)
    settings_of(context).last_motion = str(result.motion_path or "")
    remember_track(result.track.video or video_path(settings_of(context)), result.track)
    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


class VIDEO_MOCAP_OT_estimate(ModalJobMixin, bpy.types.Operator):
    """Track the chosen person in the video, lift the pose to 3D and key an armature (Esc cancels)"""

    bl_idname = "video_mocap.estimate"
    bl_label = "Estimate 3D Pose"
    bl_options = {"REGISTER", "UNDO"}

    def make_job(self, context):
        return make_estimate_job(context)

    def finish(self, context, result):
        obj = finish_estimate(context, result)
        source = "3D motion from the cache" if result.from_cache else f"{result.motion.model} lifter"
        self.report({"INFO"}, f"Video Mocap: keyed {result.motion.num_frames} frames on '{obj.name}' ({source}).")
        return {"FINISHED"}


CLASSES = (VIDEO_MOCAP_OT_estimate,)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
