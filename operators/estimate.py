"""Estimate 3D Pose: video -> 2D track -> 3D motion -> keyed armature (modal, cancellable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import bpy

from .common import (
    Job,
    ModalJobMixin,
    apply_solved_to_scene,
    cache_dir_of,
    check_runtime,
    frame_rate_follows_video,
    set_scene_frame_rate,
    settings_of,
    target_rig,
    video_path,
)
from ..blender.preferences import get_preferences
from ..blender.properties import ALL_PEOPLE
from ..core.errors import VideoMocapError


@dataclass(frozen=True)
class EstimateResult:
    """What the worker hands to the finish step."""

    pipeline: Any  # a :class:`~video_mocap.pipeline.stages.PipelineResult` (All People: the subject's)
    follow_video_fps: bool  # keyed one frame per video frame: the scene takes the video's frame rate
    people: Any = None  # All People: the :class:`~video_mocap.pipeline.stages.PeopleResult`


def make_estimate_job(context: bpy.types.Context) -> Job:
    """Read everything the worker needs from the scene now (main thread); the job touches no bpy data."""
    from ..pipeline import stages as pipeline
    from .common import pipeline_settings

    props = settings_of(context)
    video = video_path(props)
    target_rig(props)  # a rig that can't be keyed right is refused before the networks run
    follow_video_fps = frame_rate_follows_video(context)
    settings = pipeline_settings(context, follow_video_fps=follow_video_fps)
    check_runtime()
    cache_dir = cache_dir_of(get_preferences(context))

    if props.person == ALL_PEOPLE:
        if props.target == "EXISTING":
            raise VideoMocapError("All People makes one new armature per person: set the target to New H36M Armature.")

        def work(progress, cancel):
            people = pipeline.run_people(video, settings, progress=progress, cancel=cancel, cache_dir=cache_dir)
            return EstimateResult(people.results[people.subject_id], follow_video_fps, people)

        return Job(work)

    def work(progress, cancel):
        result = pipeline.run_pipeline(video, settings, progress=progress, cancel=cancel, cache_dir=cache_dir)
        return EstimateResult(result, follow_video_fps)

    return Job(work)


def finish_estimate(context: bpy.types.Context, outcome: EstimateResult) -> bpy.types.Object:
    """Key the target armature from the worker's result (main thread, one step, one undo step)."""
    from ..blender.overlay import remember_track

    result = outcome.pipeline
    if outcome.people is not None:
        return finish_people(context, outcome)
    obj = apply_solved_to_scene(context, result.solved)
    if outcome.follow_video_fps:
        set_scene_frame_rate(context.scene, result.solved.fps)
    settings_of(context).last_motion = str(result.motion_path or "")
    remember_track(result.track.video or video_path(settings_of(context)), result.track)
    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


def finish_people(context: bpy.types.Context, outcome: EstimateResult) -> bpy.types.Object:
    """All People: one new armature per person ("Person <id>"), all in one world, in one step;
    on an error every armature made so far is removed. Returns the subject's armature (active)."""
    from ..blender.overlay import remember_track

    people = outcome.people
    made = []
    try:
        for tid, result in people.results.items():  # one world, so one footage camera (with the subject)
            made.append(apply_solved_to_scene(context, result.solved, name=people.name(tid), footage_camera=not made))
    except BaseException:
        for obj in made:
            data, action = obj.data, obj.animation_data.action if obj.animation_data else None
            bpy.data.objects.remove(obj)
            bpy.data.armatures.remove(data)
            if action is not None and action.users == 0:
                bpy.data.actions.remove(action)
        raise
    solved = [r.solved for r in people.results.values()]
    context.scene.frame_start = int(min(s.frames[0] for s in solved))
    context.scene.frame_end = int(max(s.frames[-1] for s in solved) + 0.999)
    if outcome.follow_video_fps:
        set_scene_frame_rate(context.scene, solved[0].fps)
    subject = outcome.pipeline
    settings_of(context).last_motion = str(subject.motion_path or "")
    remember_track(subject.track.video or video_path(settings_of(context)), subject.track)
    for other in context.view_layer.objects:
        other.select_set(other in made)
    context.view_layer.objects.active = made[0]
    return made[0]


class VIDEO_MOCAP_OT_estimate(ModalJobMixin, bpy.types.Operator):
    """Track the chosen person in the video, lift the pose to 3D and key an armature (Esc cancels)"""

    bl_idname = "video_mocap.estimate"
    bl_label = "Estimate 3D Pose"
    bl_options = {"REGISTER", "UNDO"}

    def make_job(self, context):
        return make_estimate_job(context)

    def finish(self, context, result):
        obj = finish_estimate(context, result)
        motion = result.pipeline.motion
        if result.people is not None:
            names = ", ".join(result.people.name(t) for t in result.people.results)
            self.report({"INFO"}, f"Video Mocap: keyed {len(result.people.results)} people ({names}) in one world.")
            return {"FINISHED"}
        source = "3D motion from the cache" if result.pipeline.from_cache else f"{motion.model} lifter"
        self.report({"INFO"}, f"Video Mocap: keyed {motion.num_frames} frames on '{obj.name}' ({source}).")
        return {"FINISHED"}


CLASSES = (VIDEO_MOCAP_OT_estimate,)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
