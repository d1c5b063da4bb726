"""``video-mocap estimate --person all`` on the real sample clip (2 people), real YOLO (ONNX path),
real lifter, real bpy: one armature per person in one world.

The sample clip: a woman walks across the lawn (the subject) while a man walks on the roof of a
shed behind her. Both are keyed, with distinct names, and placed by one world transform: their
pelvis distance in Blender equals their distance in camera space, she walks on Z = 0 and he
stands on the roof, 1.75-2.0 m up, all the time (the world is the subject's; nobody's floor is
forced onto another's).
"""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.blender.compat import action_fcurve_collection  # noqa: E402
from video_mocap.cli import estimate  # noqa: E402
from video_mocap.core.skeleton import FEET  # noqa: E402
from video_mocap.pipeline.stages import make_settings, run_people  # noqa: E402
from video_mocap.rigging.solve import camera_joints  # noqa: E402

#: the networks run (ONNX Runtime): not on the bpy 4.2 venv, which has no network runtime
pytestmark = pytest.mark.needs_torch

#: both people are in view (the walker enters at frame 39)
START, END = 40, 130


@pytest.fixture(scope="module")
def people_run(sample_clip, tmp_path_factory):
    folder = tmp_path_factory.mktemp("people")
    cache = folder / "cache"
    common = ["--start", str(START), "--end", str(END), "--cache-dir", str(cache), "--backend", "onnx",
              "--person", "all"]
    assert estimate.main([str(sample_clip), "-o", str(folder / "walk.blend"), *common]) == 0
    assert estimate.main([str(sample_clip), "-o", str(folder / "walk.bvh"), *common]) == 0  # from the cache
    settings = make_settings(backend="onnx", frame_start=START, frame_end=END)
    people = run_people(sample_clip, settings, cache_dir=cache)  # from the cache too: the same motions
    return folder, people


def test_every_person_written(people_run):
    folder, people = people_run
    assert len(people.results) == 2 and people.subject_id in people.results
    for tid in people.results:  # .bvh: one file per person
        text = (folder / f"walk_person{tid}.bvh").read_text()
        assert text.startswith("HIERARCHY") and "MOTION" in text
    assert not (folder / "walk.bvh").exists()


def test_two_keyed_armatures_in_one_world(people_run):
    folder, people = people_run
    bpy.ops.wm.open_mainfile(filepath=str(folder / "walk.blend"))
    arms = {o.name: o for o in bpy.data.objects if o.type == "ARMATURE"}
    assert sorted(arms) == sorted(people.name(t) for t in people.results)
    scene = bpy.context.scene
    pelvis: dict[int, dict[int, np.ndarray]] = {}
    for tid, result in people.results.items():
        obj = arms[people.name(tid)]
        fcurves = list(action_fcurve_collection(obj.animation_data.action, obj))
        assert fcurves and all(len(fc.keyframe_points) >= 60 for fc in fcurves)
        pelvis[tid] = {}
        for video_frame, key in zip(result.motion.frame_indices[::10], result.solved.frames[::10]):
            scene.frame_set(int(round(key)))
            pelvis[tid][int(video_frame)] = np.array(obj.matrix_world @ obj.pose.bones["pelvis"].head)
    a, b = people.results
    camera = {tid: dict(zip(r.motion.frame_indices.tolist(), camera_joints(r.motion)[:, 0]))
              for tid, r in people.results.items()}
    common = sorted(set(pelvis[a]) & set(pelvis[b]))
    assert len(common) >= 6
    in_world = np.array([np.linalg.norm(pelvis[a][f] - pelvis[b][f]) for f in common])
    in_camera = np.array([np.linalg.norm(camera[a][f] - camera[b][f]) for f in common])
    assert in_camera.min() > 1.0  # they are metres apart: the check means something
    assert np.median(np.abs(in_world - in_camera)) < 0.05, (in_world, in_camera)


def test_one_ground_the_subject_on_it_the_other_on_the_roof(people_run):
    _, people = people_run
    lowest = {}
    for tid, result in people.results.items():
        feet = result.solved.joints_world[:, list(FEET), 2].min(axis=1)  # (T,) the lower ankle
        lowest[tid] = float(np.percentile(feet, 10))
        # one floor level per person over the whole stretch (the ground is not tilted under anyone)
        assert np.percentile(feet, 90) - np.percentile(feet, 10) < 0.25, (tid, np.percentile(feet, [10, 90]))
    subject = people.subject_id
    other = next(t for t in people.results if t != subject)
    assert abs(lowest[subject]) < 0.12  # the subject's ankles at about ANKLE_HEIGHT_M over Z = 0
    assert 1.2 < lowest[other] < 2.2  # the man on the shed's roof


def test_panel_all_people_finish_step(people_run, addon_scene):
    """The panel's All People: the finish step keys one armature per person, in one undo step's scene."""
    from video_mocap.operators.estimate import EstimateResult, finish_estimate

    _, people = people_run
    context = bpy.context
    context.scene.video_mocap.person = "ALL"
    subject = people.results[people.subject_id]
    obj = finish_estimate(context, EstimateResult(subject, follow_video_fps=True, people=people))
    arms = sorted(o.name for o in context.scene.objects if o.type == "ARMATURE")
    assert arms == sorted(people.name(t) for t in people.results)
    assert obj.name == people.name(people.subject_id) and context.view_layer.objects.active == obj
    assert context.scene.frame_start <= min(int(r.solved.frames[0]) for r in people.results.values())
    assert context.scene.frame_end >= max(int(r.solved.frames[-1]) for r in people.results.values())
