"""Confidence on the rig (pure numpy): a real HDM05 jog, solved through the pipeline's solve stage,
with 2D scores that drop for a stretch. Bone confidence = min of its two joints' scores; the
frames to review are the stretches of >= MIN_REVIEW_KEYS keys below the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from video_mocap.core import skeleton
from video_mocap.core.errors import VideoMocapError
from video_mocap.core.formats import Motion3D
from video_mocap.pipeline.stages import solve_motion
from video_mocap.rigging import confidence as C
from video_mocap.rigging.solve import BONE_INDEX, SolveConfig, solve
from video_mocap.rigging.world import view_from_camera

FPS = 30.0
CLIP = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
FRAMES = 56  # the committed fixture's length of this clip
#: the left wrist is seen poorly on keys LOW_START..LOW_END-1; a 2-key flicker of the right knee later
LOW_START, LOW_END, LOW_SCORE = 15, 30, 0.2
FLICKER = (40, 42)


def scored_motion(joints_yup: np.ndarray, times_s: np.ndarray | None = None) -> Motion3D:
    rel, root = view_from_camera(joints_yup, yaw_deg=35.0, tilt_deg=6.0)
    scores = np.full((len(rel), skeleton.NUM_JOINTS), 0.9, dtype=np.float32)
    scores[LOW_START:LOW_END, skeleton.JOINT_INDEX["left_wrist"]] = LOW_SCORE
    scores[FLICKER[0]:FLICKER[1], skeleton.JOINT_INDEX["right_knee"]] = 0.1
    return Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05", scores=scores, times_s=times_s)


@pytest.fixture(scope="module")
def clip(hdm05_clip) -> np.ndarray:
    return hdm05_clip(CLIP)[:FRAMES]


def test_bone_confidence_is_min_of_its_joints(clip):
    motion = scored_motion(clip)
    solved = solve_motion(motion, SolveConfig())  # the pipeline's stage stores the confidence
    conf = solved.info[C.INFO_CONFIDENCE]
    assert conf.shape == (solved.num_frames, len(solved.bone_names))
    assert conf.min() >= 0.0 and conf.max() <= 1.0
    forearm = BONE_INDEX["forearm.L"]  # elbow -> wrist
    assert np.allclose(conf[LOW_START:LOW_END, forearm], LOW_SCORE)
    assert np.allclose(conf[:LOW_START, forearm], 0.9)
    # the wrist is no bone's parent: only the forearm drops; a knee drops thigh (hip->knee) and shin (knee->ankle)
    assert np.allclose(np.delete(conf[LOW_START:LOW_END], forearm, axis=1), 0.9)
    for name in ("thigh.R", "shin.R"):
        assert np.allclose(conf[FLICKER[0]:FLICKER[1], BONE_INDEX[name]], 0.1)
    assert np.allclose(conf[:, BONE_INDEX["pelvis"]], 0.9)  # the root bone: the pelvis's own score


def test_review_names_the_low_stretch_only(clip):
    motion = scored_motion(clip)
    solved = solve_motion(motion, SolveConfig(), video_frame_origin=10)
    review = solved.info[C.INFO_REVIEW]
    assert len(review) == 1, review  # the 2-key knee flicker is shorter than MIN_REVIEW_KEYS
    stretch = review[0]
    assert stretch.first_frame == int(round(solved.frames[LOW_START])) == 10 + LOW_START
    assert stretch.last_frame == int(round(solved.frames[LOW_END - 1]))
    assert stretch.mean_confidence == pytest.approx(LOW_SCORE, abs=1e-6)
    assert stretch.worst_bones == ("forearm.L",)
    assert C.ReviewStretch.from_dict(stretch.to_dict()) == stretch
    # a lower threshold than the stretch's score: nothing to review
    assert C.review_stretches(solved.info[C.INFO_CONFIDENCE], solved.frames, solved.bone_names, threshold=0.15,
                              min_keys=C.MIN_REVIEW_KEYS) == []


def test_variable_frame_rate_scores_follow_the_keys(clip):
    rng = np.random.default_rng(3)
    times = np.cumsum(np.r_[0.0, rng.uniform(0.6, 1.6, FRAMES - 1) / FPS])  # a variable frame rate
    motion = scored_motion(clip, times_s=times)
    solved = solve_motion(motion, SolveConfig())
    keys = solved.info["times_s"]
    assert len(keys) != FRAMES  # resampled onto a constant grid
    conf = solved.info[C.INFO_CONFIDENCE]
    assert conf.shape == (len(keys), len(solved.bone_names))
    wrist = motion.scores[:, skeleton.JOINT_INDEX["left_wrist"]]
    expected = np.minimum(np.interp(keys, times, wrist), 0.9)
    np.testing.assert_allclose(conf[:, BONE_INDEX["forearm.L"]], expected, atol=1e-6)


def test_no_scores_no_confidence(clip):
    rel, root = view_from_camera(clip, yaw_deg=35.0)
    motion = Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05")
    solved = solve(motion)
    assert C.bone_confidence(solved, motion) is None
    assert C.INFO_CONFIDENCE not in solved.info and C.INFO_REVIEW not in solved.info


def test_scores_of_another_motion_are_refused(clip):
    solved = solve(scored_motion(clip))
    other = scored_motion(clip[:45])
    with pytest.raises(VideoMocapError, match="re-run the solve"):
        C.bone_confidence(solved, other)


def test_stretches_a_frame_apart_are_one():
    names = ("a", "b")
    conf = np.full((40, 2), 0.9)
    conf[5:10, 0] = 0.3
    conf[11:16, 1] = 0.1  # one key above the threshold between: the same occlusion
    conf[16 + C.MERGE_GAP_KEYS + 1:16 + C.MERGE_GAP_KEYS + 1 + C.MIN_REVIEW_KEYS, 0] = 0.2  # farther: its own stretch
    frames = np.arange(40) + 1.0
    review = C.review_stretches(conf, frames, names)
    assert [(s.first_frame, s.last_frame) for s in review] == [
        (6, 16), (16 + C.MERGE_GAP_KEYS + 2, 16 + C.MERGE_GAP_KEYS + 1 + C.MIN_REVIEW_KEYS)]
    assert review[0].worst_bones == ("b", "a") and review[1].worst_bones == ("a",)
    assert review[0].mean_confidence == pytest.approx((5 * 0.3 + 0.9 + 5 * 0.1) / 11)
