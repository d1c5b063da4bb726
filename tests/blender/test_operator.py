"""The operators in background mode: Estimate 3D Pose, Apply to Armature, Detect People.

In background mode the operators run synchronously (``execute``), the same code the modal path
runs on its worker thread. Until trained lifter weights exist, the runs after the networks are
fed from the pipeline's motion cache, seeded with real mocap (see ``tests/pipeline_seed.py``);
the full network run is skipped with a reason then.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from pipeline_seed import trained_lifter_or_skip, seed_motion_cache  # noqa: E402
from video_mocap.core.errors import Cancelled  # noqa: E402

FRAME_START, NUM_FRAMES = 10, 30
REAPPLY_LIMIT_S = 3.0


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A private pipeline cache (the 2D stage reads ``VIDEO_MOCAP_CACHE``)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("VIDEO_MOCAP_CACHE", str(folder))
    return folder


def scene_state() -> dict:
    """What must not change when an operator fails or is cancelled."""
    scene = bpy.context.scene
    return {
        "objects": sorted(o.name for o in bpy.data.objects),
        "armatures": sorted(a.name for a in bpy.data.armatures),
        "actions": sorted(a.name for a in bpy.data.actions),
        "frames": (scene.frame_start, scene.frame_end, scene.render.fps),
    }


def configure(scene, video, **overrides) -> None:
    props = scene.video_mocap
    props.source = "FILE"
    props.filepath = str(video)
    props.use_frame_range = True
    props.frame_start, props.frame_end = FRAME_START, FRAME_START + NUM_FRAMES - 1
    props.device = "CPU"
    for name, value in overrides.items():
        setattr(props, name, value)


def seed(scene, video, cache_dir, hdm05_file) -> None:
    from video_mocap.operators.common import pipeline_settings

    seed_motion_cache(video, pipeline_settings(bpy.context), cache_dir, hdm05_file)


def keys_per_fcurve(obj) -> set[int]:
    from video_mocap.blender.compat import action_fcurve_collection

    action = obj.animation_data.action
    return {len(fc.keyframe_points) for fc in action_fcurve_collection(action, obj)}


def key_values(obj) -> np.ndarray:
    """(channels, keys) values of every f-curve, in data-path order."""
    from video_mocap.blender.compat import action_fcurve_collection

    curves = action_fcurve_collection(obj.animation_data.action, obj)
    curves = sorted(curves, key=lambda c: (c.data_path, c.array_index))
    return np.array([[k.co[1] for k in c.keyframe_points] for c in curves])


def test_bad_path_reports_error_and_changes_nothing(addon_scene, tmp_path):
    configure(addon_scene, tmp_path / "no_such_video.mp4")
    before = scene_state()
    with pytest.raises(RuntimeError, match="Video not found"):
        bpy.ops.video_mocap.estimate()
    assert scene_state() == before


def test_empty_frame_range_reports_error(addon_scene, sample_clip):
    configure(addon_scene, sample_clip, frame_start=50, frame_end=20)
    before = scene_state()
    with pytest.raises(RuntimeError, match="Frame range is empty"):
        bpy.ops.video_mocap.estimate()
    assert scene_state() == before


@pytest.mark.needs_torch
def test_estimate_keys_an_armature_and_apply_reapplies(addon_scene, sample_clip, cache_dir, hdm05_file):
    configure(addon_scene, sample_clip, smoothing=0.5)
    seed(addon_scene, sample_clip, cache_dir, hdm05_file)
    assert bpy.ops.video_mocap.estimate() == {"FINISHED"}
    props = addon_scene.video_mocap
    arm = bpy.context.view_layer.objects.active
    assert arm is not None and arm.type == "ARMATURE" and arm.name.startswith(props.armature_name)
    assert keys_per_fcurve(arm) == {NUM_FRAMES}, "one key per frame on every channel"
    assert props.last_motion.endswith(".npz")

    props.smoothing, props.foot_lock, props.armature_name = 0.0, False, "Again"
    started = time.perf_counter()
    assert bpy.ops.video_mocap.apply() == {"FINISHED"}
    elapsed = time.perf_counter() - started
    assert elapsed < REAPPLY_LIMIT_S, f"Apply to Armature took {elapsed:.2f} s"
    again = bpy.data.objects["Again"]
    assert keys_per_fcurve(again) == {NUM_FRAMES}
    assert not np.allclose(key_values(arm), key_values(again)), "new rig settings changed nothing"


@pytest.mark.needs_torch
def test_movie_clip_source_keys_in_step_with_the_clip(addon_scene, sample_clip, cache_dir, hdm05_file):
    clip = bpy.data.movieclips.load(str(sample_clip))
    clip.frame_start = 101
    configure(addon_scene, sample_clip, source="CLIP", clip=clip, filepath="")
    seed(addon_scene, sample_clip, cache_dir, hdm05_file)
    assert bpy.ops.video_mocap.estimate() == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    from video_mocap.blender.compat import action_fcurve_collection

    curve = action_fcurve_collection(arm.animation_data.action, arm)[0]
    first, last = curve.keyframe_points[0].co[0], curve.keyframe_points[-1].co[0]
    assert (first, last) == (clip.frame_start + FRAME_START, clip.frame_start + FRAME_START + NUM_FRAMES - 1)

    # the 2D skeleton drawn over the clip: the tracked frame shown at each scene frame
    from video_mocap.core.skeleton import BONES
    from video_mocap.blender import overlay

    track = overlay.track_for_clip(clip)
    assert track is not None
    assert overlay.clip_video_frame(clip, clip.frame_start + FRAME_START) == FRAME_START
    segments = overlay.bone_segments(track, FRAME_START)
    assert segments.shape == (len(BONES), 2, 2)
    assert ((segments >= 0) & (segments <= 1)).all(), "the subject is inside the frame"
    assert overlay.bone_segments(track, FRAME_START + NUM_FRAMES).shape == (0, 2, 2)


@pytest.mark.needs_torch
def test_apply_retargets_onto_an_existing_rig(addon_scene, sample_clip, cache_dir, hdm05_file):
    import addon_utils

    configure(addon_scene, sample_clip)
    seed(addon_scene, sample_clip, cache_dir, hdm05_file)
    assert bpy.ops.video_mocap.estimate() == {"FINISHED"}
    try:
        addon_utils.enable("rigify", default_set=True)  # factory settings of the next test reset it
        bpy.ops.object.armature_human_metarig_add()
    except Exception as exc:  # rigify is bundled with Blender, but check
        pytest.skip(f"rigify is not available in this bpy: {exc}")
    metarig = bpy.context.view_layer.objects.active
    props = addon_scene.video_mocap
    props.target, props.target_rig = "EXISTING", metarig
    props.mapping_preset = "rigify_metarig"
    before = scene_state()
    assert bpy.ops.video_mocap.apply() == {"FINISHED"}
    assert keys_per_fcurve(metarig) == {NUM_FRAMES}
    assert scene_state()["objects"] == before["objects"], "retargeting adds no object"

    props.mapping_preset = "mixamo"  # the wrong preset: bones missing, a clear error, nothing changed
    before, action = scene_state(), metarig.animation_data.action
    with pytest.raises(RuntimeError, match="not a humanoid"):
        bpy.ops.video_mocap.apply()
    assert scene_state() == before and metarig.animation_data.action == action

    props.target_rig = None
    with pytest.raises(RuntimeError, match="No target rig chosen"):
        bpy.ops.video_mocap.apply()


def test_progress_text_says_stage_frame_and_rate():
    from video_mocap.operators.common import ProgressState

    state = ProgressState()
    state.update("detect", 8, 230, now=100.0)
    state.update("detect", 48, 230, now=102.0)
    assert state.text().startswith("Video Mocap: detect | frame 48/230 | 20.0 frames/s")
    assert state.fraction() == pytest.approx(48 / 230)
    state.update("lift", 1, 4, now=103.0)
    assert state.rate == 0.0 and "step 1/4" in state.text()


class ModalDriver:
    """Drives the operators' modal code (worker thread + timer events) as Blender's event loop would.

    Background Blender has no event loop, so the timer and Esc events are sent by hand to the
    same ``ModalJobMixin`` methods the Estimate operator uses.
    """

    def __init__(self):
        from video_mocap.operators.common import ModalJobMixin
        from video_mocap.operators.estimate import finish_estimate

        self.reports: list[tuple[set, str]] = []
        self.statuses: list[str] = []
        mixin = type("Driven", (ModalJobMixin,), {
            "finish": lambda op, context, result: (finish_estimate(context, result), {"FINISHED"})[1],
            "report": lambda op, level, message: self.reports.append((level, message)),
        })
        self.op = mixin()

    def start(self, context):
        from video_mocap.operators.estimate import make_estimate_job

        self.op._job = make_estimate_job(context)
        self.op._job.start()

    def send(self, context, event_type: str) -> set[str]:
        from types import SimpleNamespace

        return self.op.modal(context, SimpleNamespace(type=event_type, value="PRESS"))


@pytest.mark.needs_torch
def test_modal_run_polls_then_changes_the_scene_once(addon_scene, sample_clip, cache_dir, hdm05_file):
    configure(addon_scene, sample_clip)
    seed(addon_scene, sample_clip, cache_dir, hdm05_file)
    before = scene_state()
    driver = ModalDriver()
    driver.start(bpy.context)
    assert not bpy.ops.video_mocap.estimate.poll(), "one job at a time"
    assert driver.send(bpy.context, "MOUSEMOVE") == {"PASS_THROUGH"}
    outcome = {"RUNNING_MODAL"}
    deadline = time.monotonic() + 60
    while outcome == {"RUNNING_MODAL"} and time.monotonic() < deadline:
        assert scene_state() == before, "the scene changed before the job finished"
        time.sleep(0.05)
        outcome = driver.send(bpy.context, "TIMER")
    assert outcome == {"FINISHED"}, driver.reports
    assert bpy.ops.video_mocap.estimate.poll() and bpy.ops.video_mocap.apply.poll()
    assert bpy.context.view_layer.objects.active.type == "ARMATURE"
    assert len(bpy.data.objects) == len(before["objects"]) + 1


@pytest.mark.needs_torch
def test_modal_escape_cancels_and_changes_nothing(addon_scene, sample_clip, cache_dir):
    configure(addon_scene, sample_clip)
    before = scene_state()
    driver = ModalDriver()
    driver.start(bpy.context)
    assert driver.send(bpy.context, "ESC") == {"CANCELLED"}
    assert bpy.ops.video_mocap.estimate.poll(), "Esc frees the operators at once"
    job = driver.op._job
    assert job.cancel_event.is_set()
    job._thread.join(timeout=120)
    assert job.done and isinstance(job.error, Cancelled), job.error
    assert scene_state() == before
    assert any("cancelled" in message for _, message in driver.reports)
    assert not list(cache_dir.rglob("motions/*.npz"))


@pytest.mark.needs_torch
def test_cancel_mid_run_leaves_nothing(addon_scene, sample_clip, cache_dir):
    from video_mocap.operators.estimate import make_estimate_job

    configure(addon_scene, sample_clip)
    before = scene_state()
    job = make_estimate_job(bpy.context)
    forward = job.progress
    stages = []

    def progress(stage, done, total):
        stages.append(stage)
        if done > 0:  # the user presses Esc once the detector has made progress
            job.cancel()
        forward(stage, done, total)

    job.progress = progress
    job.run()
    assert isinstance(job.error, Cancelled), job.error
    assert stages and stages[0] == "detect"
    assert scene_state() == before
    assert not list(cache_dir.rglob("*.npz")), "a cancelled run left cache files"


@pytest.mark.needs_torch
def test_detect_people_lists_tracks(addon_scene, sample_clip, cache_dir):
    configure(addon_scene, sample_clip)
    assert bpy.ops.video_mocap.detect_people() == {"FINISHED"}
    props = addon_scene.video_mocap
    assert len(props.people) >= 1
    assert sum(p.is_subject for p in props.people) == 1
    subject = next(p for p in props.people if p.is_subject)
    assert FRAME_START <= subject.frame_start <= subject.frame_end < FRAME_START + NUM_FRAMES
    assert 0 < subject.seconds <= NUM_FRAMES / 30.0
    props.person = str(subject.track_id)  # a valid enum item now
    from video_mocap.operators.common import pipeline_settings

    assert pipeline_settings(bpy.context).detect.person == subject.track_id
    props.frame_end += 1  # track ids belong to the video and frame range they were detected on
    before = scene_state()
    with pytest.raises(RuntimeError, match="run Detect People again"):
        bpy.ops.video_mocap.estimate()
    assert scene_state() == before


@pytest.mark.needs_torch
@pytest.mark.slow
def test_estimate_runs_the_networks(addon_scene, sample_clip, cache_dir):
    configure(addon_scene, sample_clip, model=trained_lifter_or_skip())
    assert bpy.ops.video_mocap.estimate() == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert keys_per_fcurve(arm) == {NUM_FRAMES}


# ---------------------------------------------------------------------------------------
# Undo, cancelling, rollback, frame rate, rig scale (issue 21 "Blender", issue 22 point 7)
# ---------------------------------------------------------------------------------------
def undo_in_window() -> set[str]:
    """``ed.undo`` as a user's Ctrl+Z (background Blender needs a window in the context)."""
    window = bpy.context.window_manager.windows[0]
    with bpy.context.temp_override(window=window):
        return bpy.ops.ed.undo()


def test_operators_that_change_the_scene_have_an_undo_step(addon_scene):
    from video_mocap.operators import apply, detect, estimate

    for cls in (detect.VIDEO_MOCAP_OT_detect_people, estimate.VIDEO_MOCAP_OT_estimate, apply.VIDEO_MOCAP_OT_apply):
        assert "UNDO" in cls.bl_options, cls.__name__


@pytest.mark.needs_torch
def test_undo_of_detect_people_restores_the_people_list(addon_scene, sample_clip, cache_dir):
    configure(addon_scene, sample_clip, frame_end=FRAME_START + 7)  # 8 frames: one detector batch
    bpy.ops.ed.undo_push(message="before Detect People")
    # called as the UI calls it (undo=True): Blender pushes the operator's undo step when it finishes
    assert bpy.ops.video_mocap.detect_people("EXEC_DEFAULT", True) == {"FINISHED"}
    props = bpy.context.scene.video_mocap
    assert len(props.people) >= 1 and props.people_video
    assert undo_in_window() == {"FINISHED"}
    props = bpy.context.scene.video_mocap  # undo reloads the data: fetch it again
    assert len(props.people) == 0 and props.people_video == "", "Ctrl+Z took the people list back"


def _gated_job(gate):
    """A job whose worker is in a long step (a model loading on a slow machine) until ``gate`` opens."""
    from video_mocap.operators.common import Job

    def work(progress, cancel):
        gate.wait(timeout=60)
        progress("detect", 1, 1)  # the next step: raises Cancelled once cancelled

    return Job(work)


def test_a_second_job_is_refused_while_a_cancelled_thread_runs(addon_scene, sample_clip):
    import threading

    from video_mocap.blender import jobs

    configure(addon_scene, sample_clip)
    before = scene_state()
    gate = threading.Event()
    driver = ModalDriver()
    driver.op._job = job = _gated_job(gate)
    job.start()
    try:
        assert driver.send(bpy.context, "ESC") == {"CANCELLED"}
        assert job.alive, "the worker is still in its step"
        assert jobs.job_running() and jobs.job_cancelling(), "the job counts until its thread has ended"
        assert jobs.watch_cancelling_step() == jobs.WATCH_INTERVAL_S, "the status bar keeps saying 'cancelling'"
        for start_another in (bpy.ops.video_mocap.estimate, bpy.ops.video_mocap.detect_people):
            with pytest.raises(RuntimeError, match="still stopping the cancelled run"):
                start_another()
        assert scene_state() == before
    finally:
        gate.set()
    job._thread.join(timeout=30)
    assert not job.alive and isinstance(job.error, Cancelled), job.error
    assert not jobs.job_running() and not jobs.job_cancelling()
    assert jobs.watch_cancelling_step() is None, "the watcher stops once the thread has ended"
    jobs.check_no_job()  # a new job may start now
    assert scene_state() == before


@pytest.mark.needs_torch
def test_escape_on_a_real_job_holds_new_runs_until_its_thread_ends(addon_scene, sample_clip, cache_dir):
    import threading

    from video_mocap.blender import jobs
    from video_mocap.operators.estimate import make_estimate_job

    configure(addon_scene, sample_clip)
    before = scene_state()
    job = make_estimate_job(bpy.context)
    gate, real_work = threading.Event(), job._work

    def slow_first_step(progress, cancel):  # the detector loading on a busy machine: no cancel check in it
        gate.wait(timeout=60)
        return real_work(progress, cancel)

    job._work = slow_first_step
    driver = ModalDriver()
    driver.op._job = job
    job.start()
    try:
        assert driver.send(bpy.context, "ESC") == {"CANCELLED"}
        assert any("cancelled" in message for _, message in driver.reports)
        assert jobs.job_running(), "Esc does not release a job whose thread still runs"
        with pytest.raises(RuntimeError, match="still stopping the cancelled run"):
            bpy.ops.video_mocap.estimate()
    finally:
        gate.set()
    job._thread.join(timeout=120)
    assert isinstance(job.error, Cancelled), job.error
    assert not jobs.job_running()
    assert scene_state() == before
    assert not list(cache_dir.rglob("motions/*.npz"))


def test_rollback_snapshot_keys_on_session_uid(addon_scene):
    import gc

    from video_mocap.operators.common import _data_snapshot, _remove_new_data

    old = bpy.data.objects.new("Old", bpy.data.armatures.new("Old"))
    snapshot = _data_snapshot()
    assert snapshot["objects"] == {o.session_uid for o in bpy.data.objects}
    assert snapshot["armatures"] == {a.session_uid for a in bpy.data.armatures}
    old_uid = old.session_uid
    del old
    gc.collect()  # the Python wrappers are gone (their id() may be reused); the data-blocks are not
    new = bpy.data.objects.new("New", bpy.data.armatures.new("New"))
    new.animation_data_create().action = bpy.data.actions.new("NewAction")
    del new
    _remove_new_data(snapshot)
    assert [o.name for o in bpy.data.objects] == ["Old"] and bpy.data.objects["Old"].session_uid == old_uid
    assert [a.name for a in bpy.data.armatures] == ["Old"]
    assert len(bpy.data.actions) == 0


DEFAULT_ARMATURE = "MocapArmature"


def seed_last_motion(scene, video, cache_dir, hdm05_file) -> None:
    """Seed the motion cache and point Apply to Armature at it (no networks, no OpenCV: runs on bpy 4.2)."""
    from video_mocap.operators.common import pipeline_settings

    scene.video_mocap.last_motion = str(seed_motion_cache(video, pipeline_settings(bpy.context), cache_dir, hdm05_file))


def key_frames(obj) -> np.ndarray:
    from video_mocap.blender.compat import action_fcurve_collection

    curve = action_fcurve_collection(obj.animation_data.action, obj)[0]
    return np.array([k.co[0] for k in curve.keyframe_points])


def test_a_new_scene_takes_the_video_frame_rate_in_one_undo_step(addon_scene, sample_clip, cache_dir, hdm05_file):
    configure(addon_scene, sample_clip)
    seed_last_motion(addon_scene, sample_clip, cache_dir, hdm05_file)
    assert (addon_scene.render.fps, addon_scene.video_mocap.scene_frame_rate) == (24, "AUTO")  # a new scene
    bpy.ops.ed.undo_push(message="before Apply")
    assert bpy.ops.video_mocap.apply("EXEC_DEFAULT", True) == {"FINISHED"}
    scene = bpy.context.scene
    assert scene.render.fps == 30 and scene.render.fps_base == pytest.approx(1.0), "the sample clip is 30 fps"
    arm = bpy.context.view_layer.objects.active
    frames = key_frames(arm)
    assert len(frames) == NUM_FRAMES and np.allclose(frames, np.round(frames)), "one key per video frame"
    assert np.allclose(np.diff(frames), 1.0)

    assert undo_in_window() == {"FINISHED"}
    scene = bpy.context.scene
    assert scene.render.fps == 24 and DEFAULT_ARMATURE not in bpy.data.objects, "one undo step takes it all back"


def test_keep_scene_frame_rate_resamples_the_motion(addon_scene, sample_clip, cache_dir, hdm05_file):
    configure(addon_scene, sample_clip, scene_frame_rate="SCENE")
    seed_last_motion(addon_scene, sample_clip, cache_dir, hdm05_file)
    assert bpy.ops.video_mocap.apply() == {"FINISHED"}
    assert addon_scene.render.fps == 24
    frames = key_frames(bpy.context.view_layer.objects.active)
    assert np.allclose(np.diff(frames), 24 / 30), "30 fps keyed into 24 fps: 0.8 scene frames apart"


def test_auto_frame_rate_keeps_a_scene_already_set_up(addon_scene, sample_clip, cache_dir, hdm05_file):
    configure(addon_scene, sample_clip)
    addon_scene.render.fps = 25  # someone chose the scene's frame rate
    seed_last_motion(addon_scene, sample_clip, cache_dir, hdm05_file)
    assert bpy.ops.video_mocap.apply() == {"FINISHED"}
    assert addon_scene.render.fps == 25
    addon_scene.render.fps = 24  # the factory rate again, but the scene has animation now: still kept
    assert bpy.ops.video_mocap.apply() == {"FINISHED"}
    assert addon_scene.render.fps == 24
    addon_scene.video_mocap.scene_frame_rate = "VIDEO"
    assert bpy.ops.video_mocap.apply() == {"FINISHED"}
    assert addon_scene.render.fps == 30


def test_a_rig_with_non_uniform_scale_is_refused_and_the_scene_unchanged(addon_scene, sample_clip, cache_dir,
                                                                          hdm05_file):
    configure(addon_scene, sample_clip)
    seed_last_motion(addon_scene, sample_clip, cache_dir, hdm05_file)
    rig = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    addon_scene.collection.objects.link(rig)
    rig.scale = (1.0, 1.0, 2.0)
    props = addon_scene.video_mocap
    props.target, props.target_rig = "EXISTING", rig
    before = scene_state()
    for run in (bpy.ops.video_mocap.apply, bpy.ops.video_mocap.estimate):  # Estimate: before the networks
        with pytest.raises(RuntimeError, match=r"non-uniform scale \(1, 1, 2\).*Ctrl\+A > Scale") as caught:
            run()
        assert "'Rig'" in str(caught.value)
        assert scene_state() == before and rig.animation_data is None
        assert tuple(rig.scale) == (1.0, 1.0, 2.0)

    parent = bpy.data.objects.new("Parent", None)  # the scale may come from a parent
    addon_scene.collection.objects.link(parent)
    rig.scale, rig.parent, parent.scale = (1.0, 1.0, 1.0), parent, (3.0, 1.0, 1.0)
    bpy.context.view_layer.update()
    with pytest.raises(RuntimeError, match="from its parent 'Parent'.*Select 'Parent' and apply its scale"):
        bpy.ops.video_mocap.apply()
