"""Foundation: package layout, bpy-free imports, skeleton, file formats."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.core import camera, skeleton
from video_mocap.core.formats import Motion3D, Track2D

BLOCK_BPY = textwrap.dedent(
    """
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name == "bpy" or name.startswith("bpy.") or name.startswith("bpy_"):
                raise ImportError("bpy is blocked in this test")
    sys.meta_path.insert(0, _Block())
    """
)


def test_inference_and_rigging_math_import_without_bpy():
    modules = [
        "video_mocap.core.skeleton",
        "video_mocap.core.formats",
        "video_mocap.core.camera",
        "video_mocap.cli",
    ]
    code = BLOCK_BPY + "\nimport importlib, pkgutil, video_mocap.inference as inf, video_mocap.rigging as rig\n"
    code += "".join(f"importlib.import_module({m!r})\n" for m in modules)
    # every module of inference/ and every non-adapter module of rigging/
    code += textwrap.dedent(
        """
        for pkg in (inf, rig):
            for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                if ".blender" in info.name:
                    continue
                importlib.import_module(info.name)
        assert "bpy" not in sys.modules
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_skeleton_tables_are_consistent():
    assert len(skeleton.JOINT_NAMES) == len(skeleton.PARENTS) == skeleton.NUM_JOINTS == 17
    assert len(skeleton.BONES) == 16
    for child, parent in enumerate(skeleton.PARENTS):
        assert parent < child  # parents come first
    flip = np.array(skeleton.FLIP_PERMUTATION)
    assert (flip[flip] == np.arange(17)).all()
    for left, right in zip(skeleton.LEFT_JOINTS, skeleton.RIGHT_JOINTS):
        assert skeleton.JOINT_NAMES[left].replace("left", "right") == skeleton.JOINT_NAMES[right]
    np.testing.assert_allclose(skeleton.COCO_TO_H36M_WEIGHTS.sum(axis=1), 1.0)


def test_coco_to_h36m_joint_by_joint():
    rng = np.random.default_rng(0)
    coco = rng.normal(size=(5, 17, 2)).astype(np.float32)
    scores = rng.uniform(size=(5, 17)).astype(np.float32)
    h36m, h_scores = skeleton.coco_to_h36m(coco, scores)
    c = {n: i for i, n in enumerate(skeleton.COCO_NAMES)}
    j = skeleton.JOINT_INDEX
    mid_hip = 0.5 * (coco[:, c["left_hip"]] + coco[:, c["right_hip"]])
    mid_sho = 0.5 * (coco[:, c["left_shoulder"]] + coco[:, c["right_shoulder"]])
    np.testing.assert_allclose(h36m[:, j["pelvis"]], mid_hip, atol=1e-6)
    np.testing.assert_allclose(h36m[:, j["thorax"]], mid_sho, atol=1e-6)
    np.testing.assert_allclose(h36m[:, j["spine"]], 0.5 * (mid_hip + mid_sho), atol=1e-6)
    np.testing.assert_allclose(h36m[:, j["neck_nose"]], coco[:, c["nose"]], atol=1e-6)
    face = [c["left_eye"], c["right_eye"], c["left_ear"], c["right_ear"]]
    # without scores (3D rigs) the head is the plain mean of eyes and ears
    np.testing.assert_allclose(skeleton.coco_to_h36m(coco)[:, j["head"]], coco[:, face].mean(axis=1), atol=1e-6)
    # with scores: the mean of the seen eye centre and ear centre (here all seen)
    seen = scores.copy()
    seen[:, face] = [0.9, 0.8, 0.7, 0.6]
    h36m, h_scores = skeleton.coco_to_h36m(coco, seen)
    np.testing.assert_allclose(h36m[:, j["head"]], coco[:, face].mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(h_scores[:, j["head"]], 0.65, atol=1e-6)  # min(eye centre 0.85, ear centre 0.65)


def test_head_in_profile_is_built_from_the_seen_side():
    """Side-on, the detector sees the near eye and ear; the far ones score low. The head is the
    mean of the near eye and ear with their own scores (not missing), and it is missing only
    when no face point is seen."""
    c = {n: i for i, n in enumerate(skeleton.COCO_NAMES)}
    j = skeleton.JOINT_INDEX
    coco = np.zeros((3, 17, 2), dtype=np.float32)
    coco[:, c["right_eye"]], coco[:, c["right_ear"]] = (10.0, 20.0), (30.0, 22.0)
    coco[:, c["left_eye"]], coco[:, c["left_ear"]] = (12.0, 20.0), (26.0, 21.0)
    scores = np.full((3, 17), 0.9, dtype=np.float32)
    scores[0, [c["left_eye"], c["left_ear"]]] = [0.1, 0.05]  # right profile
    scores[1, [c["left_eye"], c["right_eye"]]] = [0.1, 0.1]  # eyes hidden (hair, from behind): ears only
    scores[2, [c["left_eye"], c["right_eye"], c["left_ear"], c["right_ear"]]] = 0.1  # face unseen
    h36m, h_scores = skeleton.coco_to_h36m(coco, scores)
    np.testing.assert_allclose(h36m[0, j["head"]], (20.0, 21.0), atol=1e-5)
    assert h_scores[0, j["head"]] == pytest.approx(0.9)
    np.testing.assert_allclose(h36m[1, j["head"]], (28.0, 21.5), atol=1e-5)
    assert h_scores[1, j["head"]] == pytest.approx(0.9)
    assert h_scores[2, j["head"]] == pytest.approx(0.1) and h_scores[2, j["head"]] < skeleton.MIN_JOINT_SCORE
    for side in ("left", "right"):
        for h_name, c_name in (("hip", "hip"), ("knee", "knee"), ("ankle", "ankle"),
                               ("shoulder", "shoulder"), ("elbow", "elbow"), ("wrist", "wrist")):
            np.testing.assert_allclose(h36m[:, j[f"{side}_{h_name}"]], coco[:, c[f"{side}_{c_name}"]], atol=1e-6)
            assert np.allclose(h_scores[:, j[f"{side}_{h_name}"]], scores[:, c[f"{side}_{c_name}"]])
    np.testing.assert_allclose(h_scores[:, j["pelvis"]], np.minimum(scores[:, c["left_hip"]], scores[:, c["right_hip"]]))


def test_detector_hips_widen_about_pelvis():
    joints = np.zeros((17, 3), np.float32)
    joints[skeleton.JOINT_INDEX["right_hip"]] = [-0.065, 0, 0]
    joints[skeleton.JOINT_INDEX["left_hip"]] = [0.065, 0, 0]
    out = skeleton.detector_hips(joints)
    width = np.linalg.norm(out[4] - out[1])
    assert width == pytest.approx(0.13 * skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT, rel=1e-5)
    np.testing.assert_allclose(out[0], 0, atol=1e-7)


def test_normalisation_round_trip():
    px = np.array([[0, 0], [1920, 1080], [960, 540]], np.float32)
    norm = camera.normalize_screen(px, 1920, 1080)
    np.testing.assert_allclose(norm[2], 0)
    np.testing.assert_allclose(norm[1], [1, 1080 / 1920])
    np.testing.assert_allclose(camera.denormalize_screen(norm, 1920, 1080), px, atol=1e-3)


def test_track_file_round_trip_and_errors(tmp_path):
    t = 12
    track = Track2D(np.ones((t, 17, 2)), np.ones((t, 17)), np.arange(t), 30.0, 640, 480, focal_px=500.0)
    path = track.save(tmp_path / "track.npz")
    back = Track2D.load(path)
    np.testing.assert_array_equal(back.keypoints, track.keypoints)
    assert back.focal_px == 500.0 and back.width == 640
    with pytest.raises(VideoMocapError, match="not found"):
        Track2D.load(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(VideoMocapError, match="not a readable"):
        Track2D.load(tmp_path / "bad.npz")
    with pytest.raises(VideoMocapError, match="shape"):
        Track2D(np.ones((t, 16, 2)), np.ones((t, 17)), np.arange(t), 30.0, 640, 480)


def test_motion_file_refuses_nan(tmp_path):
    joints = np.zeros((4, 17, 3))
    joints[2, 3, 1] = np.nan
    with pytest.raises(VideoMocapError, match="NaN"):
        Motion3D(joints, np.zeros((4, 3)), np.arange(4), 30.0, "posemoe")
    ok = Motion3D(np.zeros((4, 17, 3)), np.zeros((4, 3)), np.arange(4), 30.0, "posemoe")
    assert Motion3D.load(ok.save(tmp_path / "m.npz")).model == "posemoe"


def test_cli_help_and_unknown_command():
    from video_mocap.cli import main

    assert main(["--help"]) == 0
    assert main(["no-such-command"]) == 2


def test_atomic_writes_replace_whole_files_with_normal_permissions(tmp_path):
    import os

    from video_mocap.core.atomic import atomic_path, write_text_atomic

    target = write_text_atomic(tmp_path / "a.txt", "first")
    assert os.stat(target).st_mode & 0o044  # readable by others like any new file (umask permitting)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
