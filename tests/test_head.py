"""The head when the 2D loses it for long: not interpolated across the gap, filled from the body, and
in the solve kept in its rest orientation relative to the neck (pure numpy, real mocap)."""

from __future__ import annotations

import numpy as np

from video_mocap.core.formats import Motion3D
from video_mocap.core.skeleton import JOINT_INDEX as J
from video_mocap.core.skeleton import NUM_JOINTS
from video_mocap.inference.detect import fill_gaps
from video_mocap.rigging import solve as S
from video_mocap.rigging.world import view_from_camera


def test_long_gap_is_filled_from_the_parent_not_interpolated():
    t = 60
    frames = np.arange(t, dtype=np.float32)
    keypoints = np.stack([np.stack([frames + 10 * j, 3 * frames + j], axis=-1) for j in range(NUM_JOINTS)], axis=1)
    scores = np.full((t, NUM_JOINTS), 0.9, np.float32)
    scores[10:50, J["head"]] = 0.05  # 40 frames: longer than max_gap
    scores[20:24, J["left_wrist"]] = 0.0  # 4 frames: interpolated
    filled, new_scores, long_gaps = fill_gaps(keypoints, scores, max_gap=15)
    assert long_gaps == []  # the body is seen throughout
    np.testing.assert_allclose(filled[10:50, J["head"]], keypoints[10:50, J["neck_nose"]])
    np.testing.assert_allclose(filled[20:24, J["left_wrist"]], keypoints[20:24, J["left_wrist"]], atol=1e-4)
    assert (new_scores[10:50, J["head"]] == 0).all() and (new_scores[:10, J["head"]] == 0.9).all()
    # with a larger max_gap the same gap is interpolated (as before)
    np.testing.assert_allclose(fill_gaps(keypoints, scores, max_gap=40)[0][10:50, J["head"]],
                               keypoints[10:50, J["head"]], atol=1e-3)


def test_long_missing_head_keeps_its_rest_orientation_to_the_neck(hdm05_clip):
    """HDM05 jog, the head joint thrown to one frozen point for 40 frames with score 0 there (what a
    lifter might make of a head the 2D lost): the solved head bone does not point at it, it keeps the
    rest orientation relative to the neck (local rotation identity) and its fixed length."""
    joints = hdm05_clip("HDM_mm_jogLeftCircle4StepsRstart_011_120")
    rel, root = view_from_camera(joints, yaw_deg=20.0)
    t = len(rel)
    gap = slice(5, 45)
    frozen = rel.copy()
    frozen[gap, J["head"]] = rel[gap, J["neck_nose"]] + np.array([0.4, 0.0, 0.0])  # 40 cm sideways
    scores = np.ones((t, NUM_JOINTS), np.float32)
    scores[gap, J["head"]] = 0.0
    config = S.SolveConfig(smoothing=0.0, foot_lock=False)
    truth = S.solve(Motion3D(rel, root, np.arange(t), 30.0, "hdm05"), config)
    solved = S.solve(Motion3D(frozen, root, np.arange(t), 30.0, "hdm05", scores=scores), config)
    head = S.BONE_INDEX["head"]
    np.testing.assert_allclose(np.abs(solved.rotations[gap, head, 0]), 1.0, atol=1e-6)  # local rotation = rest
    w = solved.joints_world
    length = np.linalg.norm(w[:, J["head"]] - w[:, J["neck_nose"]], axis=-1)
    assert np.ptp(length) < 1e-6 and length[0] < 0.22  # metres: nose to crown, not the 40 cm the lifter said

    def head_error_deg(motion: S.SolvedMotion) -> np.ndarray:
        """Angle (deg) of the solved nose -> head direction to the true one, over the gap."""
        a = motion.joints_world[gap, J["head"]] - motion.joints_world[gap, J["neck_nose"]]
        b = truth.joints_world[gap, J["head"]] - truth.joints_world[gap, J["neck_nose"]]
        cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    assert head_error_deg(solved).max() < 25.0  # follows the neck: about where the head was
    # without the scores the frozen point drags the head sideways
    blind = S.solve(Motion3D(frozen, root, np.arange(t), 30.0, "hdm05"), config)
    assert np.median(head_error_deg(blind)) > 45.0
