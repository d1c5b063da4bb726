"""Detect People: run the 2D stage and list the people found, with the frames they are seen on."""

from __future__ import annotations

import bpy

from .common import Job, ModalJobMixin, cache_dir_of, check_runtime, people_signature, settings_of, video_path
from ..blender.preferences import get_preferences
from ..blender.properties import AUTO_PERSON


def make_detect_job(context: bpy.types.Context) -> Job:
    from ..pipeline import stages as pipeline
    from .common import pipeline_settings

    props = settings_of(context)
    video = video_path(props)
    signature = people_signature(props)
    settings = pipeline_settings(context, with_person=False)  # every person is listed; the choice comes after
    check_runtime()
    cache_dir = cache_dir_of(get_preferences(context))

    def work(progress, cancel):
        return signature, pipeline.detect_people(video, settings, progress=progress, cancel=cancel, cache_dir=cache_dir)

    return Job(work)


def store_people(props, signature: str, people) -> None:
    """Fill ``props.people`` from :func:`video_mocap.pipeline.stages.detect_people`'s list (``signature``: see
    :func:`.common.people_signature`)."""
    props.people.clear()
    for info in people:
        item = props.people.add()
        item.track_id = info.track_id
        item.frame_start = info.frame_start
        item.frame_end = info.frame_end
        item.num_frames = info.num_frames
        item.seconds = info.seconds
        item.is_subject = info.is_subject
    props.people_video = signature
    props.person = AUTO_PERSON


class VIDEO_MOCAP_OT_detect_people(ModalJobMixin, bpy.types.Operator):
    """Find the people in the video (2D pose tracking) so you can choose whom to capture (Esc cancels)"""

    bl_idname = "video_mocap.detect_people"
    bl_label = "Detect People"
    bl_options = {"REGISTER", "UNDO"}  # the people list is scene data: one undo step, pushed when it is stored

    def make_job(self, context):
        return make_detect_job(context)

    def finish(self, context, result):
        signature, people = result
        store_people(settings_of(context), signature, people)
        self.report({"INFO"}, f"Video Mocap: found {len(people)} people.")
        return {"FINISHED"}


CLASSES = (VIDEO_MOCAP_OT_detect_people,)

register, unregister = bpy.utils.register_classes_factory(CLASSES)
