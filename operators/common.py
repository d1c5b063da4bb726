"""What the operators share: reading the scene settings, the background job, and the status text.

Nothing here imports a stage at module level: ``pipeline`` (and through it OpenCV / torch /
ONNX Runtime) is imported inside functions, so registration works with bpy alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

import bpy

from ..core.errors import Cancelled, VideoMocapError
from ..inference import runtime
from ..blender.preferences import get_preferences, online_access_allowed
from ..blender.properties import ALL_PEOPLE, AUTO_PERSON, DEFAULT_ARMATURE_NAME, rig_scale_problem
from ..blender.jobs import (  # noqa: F401  (the operators' job API)
    CANCELLING_TEXT,
    Job,
    ProgressState,
    check_no_job,
    error_message,
    job_in_progress,
    job_running,
    watch_cancelling,
)

log = logging.getLogger(__name__)

#: how often the modal operators poll their worker thread (seconds)
POLL_INTERVAL_S = 0.1
#: Blender's progress cursor runs over this range
PROGRESS_RANGE = 100
#: a new scene's frame rate (Blender's factory setting): Auto matches such a scene to the video
FACTORY_FPS = 24


def settings_of(context: bpy.types.Context):
    """The scene's ``video_mocap`` property group."""
    return context.scene.video_mocap


def video_path(props) -> Path:
    """The video the user chose (file path or loaded movie clip), checked to exist."""
    if props.source == "CLIP":
        if props.clip is None:
            raise VideoMocapError("No movie clip chosen: pick a loaded clip, or switch the source to File.")
        raw, owner = props.clip.filepath, props.clip.library
    else:
        raw, owner = props.filepath, None
    if not raw.strip():
        raise VideoMocapError("No video chosen: set the video file in the Mocap panel.")
    path = Path(bpy.path.abspath(raw, library=owner)).expanduser()
    if not path.is_file():
        raise VideoMocapError(f"Video not found: {path}. Check the path in the Mocap panel.")
    return path


def check_runtime() -> None:
    """Raise a clear error when the Python packages the pipeline needs are not installed."""
    problem = runtime.missing_packages_message()
    if problem:
        raise VideoMocapError(problem)


def resolve_device(props, prefs) -> str:
    """The panel's device choice (or the preferences') as a device string, ``"auto"``, ``"cpu"`` or
    ``"cuda"``; the stages resolve it with :mod:`video_mocap.inference.devices`."""
    choice = props.device if props.device != "PREFS" else (prefs.device if prefs is not None else "AUTO")
    return choice.lower()


def _preference_path(prefs, name: str) -> Path | None:
    """A path preference made absolute, or None when the preferences are absent or the field is empty."""
    raw = getattr(prefs, name, "") if prefs is not None else ""
    return Path(bpy.path.abspath(raw)) if raw.strip() else None


def cache_dir_of(prefs) -> Path | None:
    return _preference_path(prefs, "cache_dir")


def people_signature(props) -> str:
    """What a Detect People list belongs to: the video and the frame range (track ids depend on both)."""
    frames = f"{props.frame_start}-{props.frame_end}" if props.use_frame_range else "all"
    return f"{video_path(props)}|{frames}"


def chosen_person(props) -> int | None:
    """The track id the user picked, or None for the automatic subject."""
    if props.person in ("", AUTO_PERSON, ALL_PEOPLE):  # all people: see operators/estimate.py
        return None
    if props.people_video != people_signature(props):
        raise VideoMocapError(
            "The people list belongs to another video or frame range: run Detect People again, or choose Automatic."
        )
    return int(props.person)


def scene_is_new(scene: bpy.types.Scene) -> bool:
    """A scene nobody has set up yet: the factory frame rate and no animation in the file."""
    return scene.render.fps == FACTORY_FPS and scene.render.fps_base == 1.0 and len(bpy.data.actions) == 0


def frame_rate_follows_video(context: bpy.types.Context) -> bool:
    """Whether the run sets the scene's frame rate to the video's (the Scene Frame Rate setting)."""
    mode = settings_of(context).scene_frame_rate
    return mode == "VIDEO" or (mode == "AUTO" and scene_is_new(context.scene))


def set_scene_frame_rate(scene: bpy.types.Scene, fps: float) -> None:
    """Set the scene's frame rate to ``fps`` (fractional rates such as 29.97 through ``fps_base``)."""
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps


def target_rig(props) -> "bpy.types.Object | None":
    """The existing rig to key (None: a new armature), refused before any work when it can't be keyed right.

    A non-uniform object scale (its own or a parent's) would turn the keyed bones off their directions.
    """
    if props.target != "EXISTING":
        return None
    rig = props.target_rig
    if rig is None:
        raise VideoMocapError("No target rig chosen: pick an armature, or set the target to New H36M Armature.")
    problem = rig_scale_problem(rig)
    if problem is not None:
        raise VideoMocapError(problem)
    return rig


def pipeline_settings(context: bpy.types.Context, with_person: bool = True, follow_video_fps: bool | None = None):
    """Build :class:`~video_mocap.pipeline.stages.PipelineSettings` from the scene settings and the preferences.

    ``with_person=False`` leaves the person choice out (Detect People lists everyone).
    ``follow_video_fps``: key one frame per video frame, the scene's frame rate being set to the video's
    afterwards (None: :func:`frame_rate_follows_video`).
    """
    from ..pipeline import stages as pipeline

    props = settings_of(context)
    if follow_video_fps is None:
        follow_video_fps = frame_rate_follows_video(context)
    prefs = get_preferences(context)
    person = chosen_person(props) if with_person else None
    use_clip = props.source == "CLIP" and props.clip is not None
    # the panel's end frame is inclusive; the 2D stage's is exclusive
    frame_start, frame_end = (props.frame_start, props.frame_end + 1) if props.use_frame_range else (0, None)
    if frame_end is not None and frame_end <= frame_start:
        raise VideoMocapError(f"Frame range is empty: end ({props.frame_end}) is before start ({props.frame_start}).")
    weights = _preference_path(prefs, "weights_dir")
    detector = _preference_path(prefs, "detector_model")
    return pipeline.make_settings(
        model=props.model,
        device=resolve_device(props, prefs),
        person=person,
        frame_start=frame_start,
        frame_end=frame_end,
        fov_deg=None if props.fov_auto else float(props.fov_deg),
        weights=weights,
        detector_model=detector,
        allow_download=bool(prefs is not None and prefs.allow_downloads and online_access_allowed()),
        smoothing=float(props.smoothing),
        smoothing_method=str(props.smoothing_method),
        foot_lock=bool(props.foot_lock),
        # a movie clip plays one footage frame per scene frame from its own start frame: key in step with it;
        # a video file is resampled to the scene's frame rate from the scene's start (unless the scene
        # takes the video's frame rate: then one key per video frame)
        scene_fps=None if use_clip or follow_video_fps else context.scene.render.fps / context.scene.render.fps_base,
        frame_offset=context.scene.frame_start,
        video_frame_origin=props.clip.frame_start if use_clip else None,
        imgsz=props.detect_imgsz if props.detect_imgsz == "auto" else int(props.detect_imgsz),
        conf=float(props.detect_conf),
    )


class ModalJobMixin:
    """A modal operator that runs a :class:`Job` off the main thread.

    Subclasses implement ``make_job(context) -> Job`` (on the main thread, reading the scene) and
    ``finish(context, result) -> set`` (on the main thread, the only place the scene changes).
    In background mode (``bpy.app.background``) ``invoke`` runs ``execute``, synchronously.
    Esc cancels: the operator ends at once, the scene unchanged, but the job keeps counting
    (:func:`job_running`) until its worker thread has ended, and starting another is refused until then.
    """

    _job: Job | None = None
    _timer = None

    @classmethod
    def poll(cls, context):
        # a cancelled job still winding down leaves the buttons on: starting then says why it must wait
        return context.scene is not None and not job_in_progress()

    def make_job(self, context) -> Job:  # pragma: no cover - overridden
        raise NotImplementedError

    def finish(self, context, result) -> set[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _new_job(self, context) -> Job | None:
        """The job to run, or None (reported) when it can't start: another job's thread still runs, bad input."""
        try:
            check_no_job()
            return self.make_job(context)
        except VideoMocapError as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def execute(self, context):
        job = self._new_job(context)
        if job is None:
            return {"CANCELLED"}
        job.run()
        return self._conclude(context, job)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        self._job = self._new_job(context)
        if self._job is None:
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_INTERVAL_S, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, PROGRESS_RANGE)
        self._job.start()
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
            self._cleanup(context)  # waits a moment for the worker; if it runs on, no new job starts beside it
            if job.alive:
                watch_cancelling()
            self.report({"WARNING"}, "Video Mocap cancelled: the scene is unchanged.")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = job.snapshot()
        context.window_manager.progress_update(int(state.fraction() * PROGRESS_RANGE))
        if context.workspace is not None:
            context.workspace.status_text_set(state.text())
        if not job.done:
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return self._conclude(context, job)

    def _conclude(self, context, job: Job) -> set[str]:
        if job.error is not None:
            level = {"WARNING"} if isinstance(job.error, Cancelled) else {"ERROR"}
            self.report(level, error_message(job.error))
            return {"CANCELLED"}
        try:
            return self.finish(context, job.result)
        except VideoMocapError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}

    def _cleanup(self, context) -> None:
        if self._job is not None:
            self._job.release()
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            still_running = self._job is not None and self._job.alive
            context.workspace.status_text_set(CANCELLING_TEXT if still_running else None)


# ---------------------------------------------------------------------------------------
# Changing the scene: all or nothing
# ---------------------------------------------------------------------------------------
_TRACKED_COLLECTIONS = ("objects", "armatures", "actions", "cameras")


def _data_snapshot() -> dict[str, set[int]]:
    """The data-blocks there are now, by ``ID.session_uid`` (stable while Blender runs, unlike Python wrappers)."""
    return {name: {block.session_uid for block in getattr(bpy.data, name)} for name in _TRACKED_COLLECTIONS}


def _remove_new_data(before: dict[str, set[int]]) -> None:
    """Remove the data-blocks made since ``before`` (:func:`_data_snapshot`)."""
    for name in _TRACKED_COLLECTIONS:
        collection = getattr(bpy.data, name)
        for block in [b for b in collection if b.session_uid not in before[name]]:
            collection.remove(block)


def apply_solved_to_scene(context, solved, name: str | None = None, footage_camera: bool = True) -> "bpy.types.Object":
    """Key the target armature (a new H36M armature or an existing rig) with a solved motion, in one step.

    ``name``: the new armature's name (default: the panel's Name; All People: "Person <id>").
    ``footage_camera``: key the footage's camera for a panning shot (All People: with the first person only).

    On any error the scene is restored (new objects, armatures and actions removed; an existing
    rig gets its previous action back) and the error is raised again.
    """
    from ..blender import armature as blender_armature

    props = settings_of(context)
    rig = target_rig(props)
    before = _data_snapshot()
    previous_action = rig.animation_data.action if rig is not None and rig.animation_data else None
    try:
        if rig is None:
            name = name or props.armature_name or DEFAULT_ARMATURE_NAME
            obj = blender_armature.create_armature(solved, name, context=context)
        else:
            from ..blender import retarget as blender_retarget

            obj = blender_retarget.retarget(rig, solved, preset=props.mapping_preset, context=context)
        from ..blender.confidence import add_confidence, rig_bone_map

        # each keyed bone's 2D confidence, animated, and the frames to review (the Review panel)
        add_confidence(obj, solved, None if rig is None else rig_bone_map(rig, props.mapping_preset))
        if footage_camera and solved.info.get("camera", {}).get("moving"):  # a panning shot: the footage's camera, keyed
            from ..blender.camera import create_footage_camera

            create_footage_camera(solved, context=context)
    except BaseException:
        if rig is not None and rig.animation_data is not None:
            rig.animation_data.action = previous_action
        _remove_new_data(before)
        raise
    return obj


def solve_for_scene(context, motion, follow_video_fps: bool):
    """Solve a cached 3D motion with the scene's current rig settings (smoothing, foot lock, fps)."""
    from ..pipeline.stages import solve_motion

    settings = pipeline_settings(context, follow_video_fps=follow_video_fps)
    return solve_motion(motion, settings.solve, settings.video_frame_origin)
