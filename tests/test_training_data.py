"""Training data: BVH reader, joint maps, sources, cameras, noise, augmentation, sampler.

Real data from ../shared (Bandai sample BVH files, HDM05 and DeepMimic sequence files).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.core import camera as camera_math
from video_mocap.core import skeleton
from video_mocap.inference.detect import MIN_JOINT_SCORE, fill_gaps
from video_mocap.training import augment as aug
from video_mocap.training.cameras import ANKLE_HEIGHT_M
from video_mocap.training.noise import fill_like_inference
from video_mocap.training.bvh import forward_kinematics, parse_bvh, read_bvh
from video_mocap.training.jointmap import bvh_to_h36m, load_jointmap, parse_jointmap, resample
from video_mocap.training.sampler import (
    AugmentConfig,
    CameraConfig,
    NoiseConfig,
    WindowSampler,
    make_eval_windows,
    render_windows,
)
from video_mocap.training.sources import (
    Clip,
    DataConfig,
    load_bvh_folder,
    load_deepmimic,
    load_hdm05,
    load_sequence_npz,
    prepare_bandai_part2,
    save_sequence_npz,
)

J = skeleton.JOINT_INDEX
SAMPLE_FRAMES = {
    "dataset-1_dash_normal_001.bvh": 20,
    "dataset-2_wave-left-hand_active_011.bvh": 19,
    "dataset-2_raise-up-both-hands_active_025.bvh": 27,
}
#: bones whose two ends are rigid in the Bandai map (shins, upper arms, forearms, nose-head)
RIGID_BONES = tuple(
    i
    for i, (_, c) in enumerate(skeleton.BONES)
    if skeleton.JOINT_NAMES[c]
    in ("right_ankle", "left_ankle", "left_elbow", "left_wrist", "right_elbow", "right_wrist", "head")
)


# ---------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bandai_dir(shared_dir: Path) -> Path:
    folder = shared_dir / "data" / "mocap" / "bandai"
    if not (folder / "sample").is_dir():
        pytest.skip(f"Bandai sample not found in {folder}")
    return folder


@pytest.fixture(scope="module")
def sample_clips(bandai_dir: Path, tmp_path_factory) -> list[Clip]:
    cache = tmp_path_factory.mktemp("fk_cache")
    return load_bvh_folder(bandai_dir / "sample", "bandai", fps=30, source="bandai", cache_dir=cache)


@pytest.fixture(scope="module")
def hdm05_clips(hdm05_file: Path) -> list[Clip]:
    return load_hdm05(hdm05_file)


def _standing_clip(sample_clips: list[Clip]) -> Clip:
    return next(c for c in sample_clips if "raise-up-both-hands" in c.name)


# ---------------------------------------------------------------------------------------
# BVH
# ---------------------------------------------------------------------------------------
def test_read_bvh_bandai_samples(bandai_dir: Path) -> None:
    for name, frames in SAMPLE_FRAMES.items():
        bvh = read_bvh(bandai_dir / "sample" / name)
        assert bvh.num_frames == frames
        assert bvh.fps == pytest.approx(30.0, rel=1e-4)
        assert bvh.channels[bvh.index("Hips")] == (
            "Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation",
        )
        pos = forward_kinematics(bvh, scale=0.01)
        assert pos.shape == (frames, bvh.num_joints, 3)
        # every rig bone keeps its length over all frames (not Hips: the root motion hangs off joint_Root)
        child = np.flatnonzero(bvh.parents > 0)
        lengths = np.linalg.norm(pos[:, child] - pos[:, bvh.parents[child]], axis=-1)
        assert np.abs(lengths - lengths[0]).max() < 1e-6
        # plausible body: hips ~0.8-1 m, the Head joint 1.2-1.45 m above the lowest foot
        hips = pos[:, bvh.index("Hips"), 1]
        feet = pos[:, [bvh.index("Foot_L"), bvh.index("Foot_R")], 1].min(axis=1)
        assert 0.75 < np.median(hips) < 1.0
        assert 1.0 < np.median(pos[:, bvh.index("Head"), 1] - feet) < 1.45
    # thigh as in the dataset README (39.1 cm)
    bvh = read_bvh(bandai_dir / "sample" / "dataset-2_raise-up-both-hands_active_025.bvh")
    pos = forward_kinematics(bvh, scale=0.01)
    thigh = np.linalg.norm(pos[0, bvh.index("LowerLeg_L")] - pos[0, bvh.index("UpperLeg_L")])
    assert thigh == pytest.approx(0.391, abs=0.002)


def _rot(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return {
        "X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


HANDWRITTEN_BVH = """HIERARCHY
ROOT root
{
  OFFSET 100 200 300
  CHANNELS 6 Yrotation Xposition Zrotation Yposition Xrotation Zposition
  JOINT arm
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 1 0 2 0 3 0 0 0
30 1 90 2 -45 3 90 20 0
"""


def test_handwritten_bvh_channel_order_and_fk(tmp_path: Path) -> None:
    path = tmp_path / "hand.bvh"
    path.write_text(HANDWRITTEN_BVH)
    bvh = read_bvh(path)
    assert bvh.names == ["root", "arm", "arm_End"]
    assert list(bvh.parents) == [-1, 0, 1]
    assert bvh.fps == pytest.approx(25.0)
    pos, rot = forward_kinematics(bvh, scale=0.5, return_rotations=True)
    # frame 0: no rotation; root position channels replace the OFFSET
    assert np.allclose(pos[0, 0], [0.5, 1.0, 1.5])
    assert np.allclose(pos[0, 1], [0.5, 6.0, 1.5])
    assert np.allclose(pos[0, 2], [3.0, 6.0, 1.5])
    # frame 1 by hand: root R = Ry(30) Rz(90) Rx(-45) (channel order), arm R = Rx(90) Rz(20) Ry(0)
    root_r = _rot("Y", 30) @ _rot("Z", 90) @ _rot("X", -45)
    arm_r = root_r @ _rot("X", 90) @ _rot("Z", 20) @ _rot("Y", 0)
    root_p = np.array([1.0, 2.0, 3.0]) * 0.5
    arm_p = root_p + root_r @ (np.array([0.0, 10.0, 0.0]) * 0.5)
    end_p = arm_p + arm_r @ (np.array([5.0, 0.0, 0.0]) * 0.5)
    assert np.allclose(rot[1, 1], arm_r, atol=1e-9)
    assert np.allclose(pos[1], [root_p, arm_p, end_p], atol=1e-9)


@pytest.mark.parametrize(
    "broken, expected",
    [
        (HANDWRITTEN_BVH.replace("Xrotation Zrotation Yrotation", "Xrotation Zrotation Wrotation"), "line 9"),
        (HANDWRITTEN_BVH.replace("CHANNELS 3", "CHANNELS 4"), "line 9"),
        (HANDWRITTEN_BVH.replace("30 1 90 2 -45 3 90 20 0\n", "30 1 90 2 -45 3 90 20\n"), "line 20"),
        (HANDWRITTEN_BVH.replace("30 1 90 2 -45 3 90 20 0\n", ""), "holds 1 motion line"),
        (HANDWRITTEN_BVH.replace("0 1 0 2 0 3 0 0 0", "0 1 0 2 x 3 0 0 0"), "line 19"),
        (HANDWRITTEN_BVH.replace("Frame Time: 0.04", "Frame Time: 0"), "Frame Time"),
        (HANDWRITTEN_BVH.replace("MOTION", "MOTON"), "no MOTION"),
    ],
)
def test_bvh_errors_name_file_and_line(broken: str, expected: str) -> None:
    with pytest.raises(VideoMocapError, match="bad.bvh") as info:
        parse_bvh(broken, "bad.bvh")
    assert expected in str(info.value)


def test_read_bvh_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoMocapError, match="Cannot read BVH"):
        read_bvh(tmp_path / "nope.bvh")


# ---------------------------------------------------------------------------------------
# joint maps
# ---------------------------------------------------------------------------------------
def test_bandai_jointmap_gives_plausible_h36m(sample_clips: list[Clip]) -> None:
    assert {c.name for c in sample_clips} == {Path(n).stem for n in SAMPLE_FRAMES}
    for clip in sample_clips:
        j = clip.joints
        assert j.shape == (SAMPLE_FRAMES[clip.name + ".bvh"], 17, 3) and j.dtype == np.float32
        hip_width = np.linalg.norm(j[:, J["left_hip"]] - j[:, J["right_hip"]], axis=-1)
        assert np.all((hip_width > 0.165) & (hip_width < 0.2))
        assert np.allclose(j[:, 0], 0.5 * (j[:, J["left_hip"]] + j[:, J["right_hip"]]), atol=1e-6)
        assert np.allclose(j[:, J["spine"]], 0.5 * (j[:, 0] + j[:, J["thorax"]]), atol=1e-6)
        assert np.allclose(j[:, J["thorax"]], 0.5 * (j[:, J["left_shoulder"]] + j[:, J["right_shoulder"]]), atol=1e-6)
    standing = _standing_clip(sample_clips).joints
    y = standing[..., 1]
    for side in ("left", "right"):
        assert np.all(y[:, J[f"{side}_ankle"]] < y[:, J[f"{side}_knee"]])
        assert np.all(y[:, J[f"{side}_knee"]] < y[:, J[f"{side}_hip"]])
    assert np.all(y[:, J["thorax"]] > y[:, 0]) and np.all(y[:, J["head"]] > y[:, J["thorax"]])
    # the head point sits at about ear level: 15-25 cm above the shoulders; the nose in front of it
    assert np.all((y[:, J["head"]] - y[:, J["thorax"]] > 0.15) & (y[:, J["head"]] - y[:, J["thorax"]] < 0.25))
    # the actor faces +Z (dataset README): the nose is in front of the head point
    assert np.all(standing[:, J["neck_nose"], 2] > standing[:, J["head"], 2] + 0.04)


def test_jointmap_errors(tmp_path: Path, bandai_dir: Path) -> None:
    good = json.loads((Path(aug.__file__).parent / "jointmaps" / "bandai.json").read_text())
    for change, message in [
        (lambda d: d["joints"].pop("left_knee"), "missing H36M joints: left_knee"),
        (lambda d: d["joints"].update(pelvis={"Hips": 1.0}), "derived"),
        (lambda d: d["joints"].update(thorax={"UpperArm_L": 0.5}), "sum to 1"),
        (lambda d: d.update(up_axis="x"), "up_axis"),
        (lambda d: d["joints"].update(nose={"Head": 1.0}), "unknown H36M joint 'nose'"),
    ]:
        data = json.loads(json.dumps(good))
        change(data)
        with pytest.raises(VideoMocapError, match="Joint map"):
            try:
                parse_jointmap(data, "custom.json")
            except VideoMocapError as exc:
                assert message in str(exc)
                raise
    data = json.loads(json.dumps(good))
    data["joints"]["left_wrist"] = {"Hand_Left": 1.0}
    with pytest.raises(VideoMocapError, match="no joint\\(s\\) Hand_Left"):
        bvh_to_h36m(read_bvh(bandai_dir / "sample" / "dataset-1_dash_normal_001.bvh"), parse_jointmap(data))
    with pytest.raises(VideoMocapError, match="not found"):
        load_jointmap("no_such_rig")


def test_z_up_jointmap_matches_y_up(bandai_dir: Path) -> None:
    """A Z-up rig (the same motion rotated) maps to the same Y-up joints."""
    bvh = read_bvh(bandai_dir / "sample" / "dataset-2_wave-left-hand_active_011.bvh")
    reference = bvh_to_h36m(bvh, load_jointmap("bandai"))
    data = json.loads((Path(aug.__file__).parent / "jointmaps" / "bandai.json").read_text())
    data["up_axis"] = "z"
    # turn the whole rig +90 deg about X with the dummy joint_Root (channels Xp Yp Zp Zr Xr Yr): Y up -> Z up
    zup = read_bvh(bandai_dir / "sample" / "dataset-2_wave-left-hand_active_011.bvh")
    assert zup.names[0] == "joint_Root" and zup.channels[0][4] == "Xrotation"
    zup.motion[:, 4] = 90.0
    mapped = bvh_to_h36m(zup, parse_jointmap(data))
    assert np.allclose(mapped, reference, atol=1e-5)


def test_resample_linear() -> None:
    t = np.arange(31, dtype=np.float32)
    joints = np.repeat(t[:, None, None], 17, 1).repeat(3, 2)  # x = frame index
    out = resample(joints, 30.0, 60.0)
    assert out.shape[0] == 61
    assert np.allclose(out[:, 0, 0], np.arange(61) / 2.0)
    assert resample(joints, 30.0, 30.0) is joints


# ---------------------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------------------
def test_fk_cache_is_reused(bandai_dir: Path, tmp_path: Path) -> None:
    first = load_bvh_folder(bandai_dir / "sample", "bandai", cache_dir=tmp_path)
    cached = list(tmp_path.glob("fk_sample_bandai_*.npz"))
    assert len(cached) == 1
    calls = []
    again = load_bvh_folder(bandai_dir / "sample", "bandai", cache_dir=tmp_path, progress=lambda *a: calls.append(a))
    assert not calls  # nothing parsed the second time
    for a, b in zip(first, again):
        assert a.name == b.name and np.array_equal(a.joints, b.joints)


def test_sequence_npz_roundtrip_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    clip = Clip("walk", rng.normal(size=(10, 17, 3)).astype(np.float32), 30.0, "mine")
    path = save_sequence_npz(tmp_path / "seq.npz", [clip])
    loaded = load_sequence_npz(path, source="mine")
    assert loaded[0].name == "walk" and loaded[0].fps == 30.0 and np.array_equal(loaded[0].joints, clip.joints)
    assert load_sequence_npz(path, fps=60.0)[0].num_frames == 19

    cases = {
        "no_fps.npz": ({"a": clip.joints}, "no scalar 'fps'"),
        "shape.npz": ({"fps": np.float32(30), "a": clip.joints[:, :16]}, "(T, 17, 3)"),
        "ints.npz": ({"fps": np.float32(30), "a": clip.joints.astype(np.int32)}, "float array"),
        "nan.npz": ({"fps": np.float32(30), "a": np.full((5, 17, 3), np.nan, np.float32)}, "NaN"),
        "empty.npz": ({"fps": np.float32(30)}, "holds no clips"),
        "fps0.npz": ({"fps": np.float32(0), "a": clip.joints}, "positive"),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(VideoMocapError, match=name) as info:
            load_sequence_npz(tmp_path / name)
        assert message in str(info.value)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(VideoMocapError, match="not a readable"):
        load_sequence_npz(tmp_path / "text.npz")
    with pytest.raises(VideoMocapError, match="not found"):
        load_sequence_npz(tmp_path / "missing.npz")


def test_hdm05_and_deepmimic_loaders(hdm05_clips: list[Clip], shared_dir: Path) -> None:
    actors = {c.labels["actor"] for c in hdm05_clips}
    assert actors == {"bd", "bk", "dg", "mm"}
    assert all(c.source == "hdm05" and c.fps == 30.0 for c in hdm05_clips)
    assert {"squat1Reps", "lieDownFloor"} <= {c.labels["content"] for c in hdm05_clips}
    hips = np.concatenate([np.linalg.norm(c.joints[:, 1] - c.joints[:, 4], axis=-1) for c in hdm05_clips])
    assert 0.15 < np.median(hips) < 0.3  # widened to detector hips (joint centres: 0.12-0.21)
    deepmimic = load_deepmimic(shared_dir / "data" / "mocap" / "deepmimic" / "deepmimic_h36m.npz")
    assert len(deepmimic) == 20 and {c.labels["content"] for c in deepmimic} >= {"backflip", "walk"}
    # same nose as the Bandai map: in front of the ear-level head point, the way the body faces
    for clips in (hdm05_clips, deepmimic):
        joints = np.concatenate([c.joints for c in clips])
        _, _, forward = aug.body_axes(joints)
        ahead = np.sum((joints[:, J["neck_nose"]] - joints[:, J["head"]]) * forward, axis=-1)
        assert 0.05 < np.median(ahead) < 0.1


def test_prepare_bandai_part2_unpacks_once(tmp_path: Path, bandai_dir: Path) -> None:
    with pytest.raises(VideoMocapError, match="archive not found"):
        prepare_bandai_part2(tmp_path / "cache", tmp_path)
    import tarfile

    source = bandai_dir / "sample" / "dataset-2_wave-left-hand_active_011.bvh"
    with tarfile.open(tmp_path / "part2.tar.xz", "w:xz") as tar:
        tar.add(source, arcname=f"part2/{source.name}")
    folder = prepare_bandai_part2(tmp_path / "cache", tmp_path)
    assert [p.name for p in folder.glob("*.bvh")] == [source.name]
    stamp = (folder / source.name).stat().st_mtime_ns
    assert prepare_bandai_part2(tmp_path / "cache", tmp_path) == folder
    assert (folder / source.name).stat().st_mtime_ns == stamp  # not unpacked again
    assert not list((tmp_path / "cache" / "bandai_part2").glob(".unpack-*"))  # no temporary left


def test_data_config_defaults_point_at_shared(shared_dir: Path) -> None:
    config = DataConfig()
    assert config.hdm05_path.resolve() == (shared_dir / "data/mocap/hdm05/hdm05_h36m.npz").resolve()
    assert sum(config.source_weights.values()) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# cameras and projection
# ---------------------------------------------------------------------------------------
def test_projection_matches_mapped_3d_joint_by_joint(sample_clips: list[Clip]) -> None:
    """The 2D the sampler emits (noise off) is the pinhole projection of the mapped 3D mocap."""
    world = np.stack([_standing_clip(sample_clips).joints[:19], sample_clips[0].joints[:19]]).astype(np.float64)
    rng = np.random.default_rng(3)
    batch, cams = render_windows(world, CameraConfig(follow_prob=0.0), None, rng)
    for b in range(2):
        # by hand: world -> camera (rows of R are the camera axes), pinhole, normalisation
        r, c = cams.rotation[b], cams.position[b, 0]
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-6) and np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)
        cam = (world[b] - c) @ r.T
        f, w, h = cams.focal_px[b], cams.width[b], cams.height[b]
        u = f * cam[..., 0] / cam[..., 2] + w / 2
        v = f * cam[..., 1] / cam[..., 2] + h / 2
        expected = np.stack([(u - w / 2) / (w / 2), (v - h / 2) / (w / 2)], axis=-1)
        assert np.allclose(batch["inputs"][b, ..., :2], expected, atol=1e-4)
        assert np.allclose(batch["target2d"][b], expected, atol=1e-4)
        assert np.allclose(batch["target3d"][b], cam - cam[:, :1], atol=1e-4)
        # and back: target3d + root depth reprojects to the same 2D
        back = camera_math.project(batch["target3d"][b] + cam[:, :1], float(f), int(w), int(h))
        assert np.allclose(camera_math.normalize_screen(back, int(w), int(h)), batch["inputs"][b, ..., :2], atol=1e-4)
    assert np.all(batch["inputs"][..., 2] == 1.0)  # in frame, noise off


def test_camera_axes_front_view(sample_clips: list[Clip]) -> None:
    """Facing the actor (who faces +Z) at eye level: head above feet, their left on image right."""
    world = _standing_clip(sample_clips).joints[None].astype(np.float64)
    config = CameraConfig(
        fixed_yaw_deg=180.0, fixed_pitch_deg=0.0, roll_std_deg=0.0, follow_prob=0.0, out_of_frame_prob=0.0
    )
    batch, cams = render_windows(world, config, None, np.random.default_rng(0))
    xy = batch["inputs"][0, ..., :2]
    assert np.all(xy[:, J["head"], 1] < xy[:, J["left_ankle"], 1])
    assert np.all(xy[:, J["left_hip"], 0] > xy[:, J["right_hip"], 0])
    assert np.all(batch["target3d"][0, :, J["head"], 1] < 0)  # y down in camera space
    assert np.all(np.abs(xy) < 1.0 + 1e-6)  # in frame
    assert cams.pitch_deg[0] == pytest.approx(0.0) and cams.yaw_deg[0] == pytest.approx(180.0)


def test_camera_draws_within_ranges(sample_clips: list[Clip]) -> None:
    clip = _standing_clip(sample_clips)
    world = np.repeat(clip.joints[None], 200, 0)
    config = CameraConfig()
    batch, cams = render_windows(world, config, None, np.random.default_rng(1))
    assert np.all((cams.fov_deg >= 30) & (cams.fov_deg <= 90))
    assert np.all(np.abs(cams.roll_deg) <= 25.0 + 1e-9)
    floor = clip.joints[:, list(skeleton.FEET), 1].min() - ANKLE_HEIGHT_M
    heights = cams.position[:, 0, 1] - floor
    assert np.all((heights > 0.3 - 1e-6) & (heights < 3.0 + 1e-6))
    portrait = cams.height > cams.width
    assert portrait.any() and (~portrait).any()
    depth = batch["target3d"][..., 2]
    assert np.abs(depth).max() < 1.0  # root-relative
    in_frame = batch["inputs"][..., 2] > 0
    assert 0.8 < in_frame.mean() < 1.0  # mostly in frame, sometimes partly out


# ---------------------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------------------
def test_detector_noise_statistics(sample_clips: list[Clip]) -> None:
    world = np.repeat(_standing_clip(sample_clips).joints[None], 64, 0)
    config = CameraConfig(out_of_frame_prob=0.0)
    clean, _ = render_windows(world, config, None, np.random.default_rng(5))
    noisy, _ = render_windows(world, config, NoiseConfig(), np.random.default_rng(5))
    assert np.array_equal(clean["target3d"], noisy["target3d"])
    scores = noisy["inputs"][..., 2]
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert 0.7 < np.median(scores) < 1.0
    error = np.linalg.norm(noisy["inputs"][..., :2] - clean["inputs"][..., :2], axis=-1)
    size = np.ptp(clean["inputs"][..., 1], axis=-1).mean(axis=1)  # person height in normalised units
    relative = np.median(error, axis=(1, 2)) / size
    assert 0.001 < np.median(relative) < 0.03
    # wrists jitter more than the head
    assert np.median(error[..., J["left_wrist"]]) > np.median(error[..., J["head"]])
    # temporally correlated: frame-to-frame differences are smaller than for white noise
    delta = noisy["inputs"][..., :2] - clean["inputs"][..., :2]
    lag1 = np.mean(delta[:, 1:] * delta[:, :-1]) / np.mean(delta * delta)
    assert lag1 > 0.2
    assert (scores == 0.0).any()  # dropped joints / tracker dropouts
    # as after the 2D stage's gap filling: no score between 0 and its threshold
    assert not np.any((scores > 0.0) & (scores < MIN_JOINT_SCORE))


def test_gap_filling_matches_the_2d_stage(sample_clips: list[Clip]) -> None:
    """The vectorised training gap filling gives what ``detect.fill_gaps`` gives, window by window."""
    world = np.repeat(_standing_clip(sample_clips).joints[None, :20], 24, 0)
    clean, _ = render_windows(world, CameraConfig(), None, np.random.default_rng(6))
    pixels = camera_math.denormalize_screen(clean["inputs"][..., :2], 1280, 720)
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.0, 1.0, pixels.shape[:3]).astype(np.float32) ** 0.5
    scores[0] = 0.0  # nothing valid: left alone
    scores[1, :, J["left_wrist"]] = 0.1  # never valid: copies its parent
    scores[2, :, 0] = 0.0  # pelvis never valid: mean of the others
    scores[3, 5:9] = 0.0  # a whole-body gap
    filled, filled_scores = fill_like_inference(pixels, scores)
    for b in range(1, len(pixels)):
        expected, expected_scores, _ = fill_gaps(pixels[b], scores[b], max_gap=pixels.shape[1])
        assert np.allclose(filled[b], expected, atol=1e-4)
        assert np.array_equal(filled_scores[b], expected_scores)
    assert np.array_equal(filled[0], pixels[0]) and np.all(filled_scores[0] == 0.0)


# ---------------------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------------------
ONLY = dict(
    height_prob=0.0, bone_prob=0.0, mirror_prob=0.0, pose_prob=0.0, mix_prob=0.0, speed_prob=0.0, body_swap_prob=0.0
)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("height", dict(height_prob=1.0)),
        ("bones", dict(bone_prob=1.0)),
        ("mirror", dict(mirror_prob=1.0)),
        ("pose", dict(pose_prob=1.0, pose_part_prob=1.0)),
        ("mix", dict(mix_prob=1.0)),
        ("speed", dict(speed_prob=1.0)),
        ("swap", dict(body_swap_prob=1.0)),
        ("all", dict(AugmentConfig().__dict__)),
    ],
)
def test_each_augmentation_keeps_bones_and_limits(sample_clips: list[Clip], name: str, overrides: dict) -> None:
    config = AugmentConfig(**{**ONLY, **overrides})
    sampler = WindowSampler(sample_clips, 16, config, CameraConfig(), NoiseConfig(), seed=11)
    world = sampler.sample_world(48)
    lengths = skeleton.bone_lengths(world)
    spread = lengths.max(axis=1) - lengths.min(axis=1)
    assert spread[:, list(RIGID_BONES)].max() < 2e-3, name
    assert check_ok(world), name
    # re-grounded: no foot below the floor the source stood on
    source_floor = min(c.joints[:, list(skeleton.FEET), 1].min() for c in sample_clips)
    assert world[..., list(skeleton.FEET), 1].min() > min(source_floor, 0.0) - 0.01, name
    if name == "bones":
        ratio = lengths.mean(axis=1) / skeleton.bone_lengths(np.concatenate([c.joints for c in sample_clips])).mean(0)
        assert ratio[:, list(RIGID_BONES)].std() > 0.03  # the bones really changed
    if name == "height":
        heights = aug.estimate_height(world)
        assert np.all((heights > 1.39) & (heights < 2.01)) and heights.std() > 0.05


def test_mirror_swaps_the_waving_hand(sample_clips: list[Clip]) -> None:
    wave = next(c for c in sample_clips if "wave-left-hand" in c.name)

    def wrist_travel(mirror: float) -> np.ndarray:
        config = AugmentConfig(**{**ONLY, "mirror_prob": mirror})
        world = WindowSampler([wave], wave.num_frames, config, CameraConfig(), NoiseConfig()).sample_world(1)[0]
        path = world[:, [J["left_wrist"], J["right_wrist"]]] - world[:, None, 0]
        return np.linalg.norm(np.diff(path, axis=0), axis=-1).sum(axis=0)

    plain, mirrored = wrist_travel(0.0), wrist_travel(1.0)
    assert plain[0] > 1.5 * plain[1]  # the left hand waves
    assert mirrored[1] > 1.5 * mirrored[0]  # mirrored: the right hand waves
    assert np.allclose(sorted(plain), sorted(mirrored), rtol=1e-4)


def test_body_swap_and_width_ratios(sample_clips: list[Clip], hdm05_clips: list[Clip]) -> None:
    clips = sample_clips + [c for c in hdm05_clips if c.labels["actor"] == "mm"][:5]
    swap = AugmentConfig(**{**ONLY, "body_swap_prob": 1.0})
    sampler = WindowSampler(clips, 12, swap, CameraConfig(), NoiseConfig(), seed=2)
    assert sampler.body_names == ["bandai:", "hdm05:mm"]
    lengths = aug.median_bone_lengths(sampler.sample_world(40))
    rigid = list(RIGID_BONES)
    # every window now has the bones of one of the two real bodies
    gap = np.abs(lengths[:, None, rigid] - sampler.bodies[None, :, rigid]).max(axis=-1).min(axis=1)
    assert gap.max() < 2e-3
    # Bandai's narrow shoulders are widened into the anatomical range when the bones are augmented
    widen = AugmentConfig(**{**ONLY, "bone_prob": 1.0, "bone_scale": 0.0, "limb_ratio": 0.0})
    world = WindowSampler(sample_clips, 12, widen, CameraConfig(), NoiseConfig(), seed=2).sample_world(20)
    hips, shoulders = aug.width_ratios(aug.median_bone_lengths(world))
    for ratio, (low, high) in ((shoulders, widen.shoulder_width_ratio), (hips, widen.hip_width_ratio)):
        assert np.all((ratio >= low - 1e-3) & (ratio <= high + 1e-3))


def check_ok(world: np.ndarray) -> bool:
    return bool(aug.check_joint_limits(world).mean() > 0.995)


def test_pose_perturbation_changes_angles_smoothly(sample_clips: list[Clip]) -> None:
    clip = _standing_clip(sample_clips)
    world = np.repeat(clip.joints[None, :16], 32, 0).astype(np.float32)
    config = AugmentConfig(pose_part_prob=1.0)
    out = aug.perturb_pose(world, config, np.random.default_rng(2), np.ones(32, dtype=bool))
    moved = np.linalg.norm(out - world, axis=-1)
    assert moved[:, :, J["left_wrist"]].mean() > 0.05 and moved[:, :, J["right_ankle"]].mean() > 0.02
    assert np.allclose(out[:, :, 0], world[:, :, 0])  # pelvis fixed
    # smooth in time: accelerations stay those of the source motion (a jumpy axis would show here)
    accel_out = np.linalg.norm(np.diff(out, n=2, axis=1), axis=-1).max()
    accel_src = np.linalg.norm(np.diff(world, n=2, axis=1), axis=-1).max()
    assert accel_out < 1.5 * accel_src + 0.01
    rigid = list(RIGID_BONES)
    assert np.allclose(skeleton.bone_lengths(out)[..., rigid], skeleton.bone_lengths(world)[..., rigid], atol=1e-4)


def test_squat_perturbation(sample_clips: list[Clip]) -> None:
    clip = _standing_clip(sample_clips)
    world = np.repeat(clip.joints[None, :10], 4, 0).astype(np.float32)
    zero = (0.0, 0.0)
    only_squat = AugmentConfig(
        pose_part_prob=1.0, pose_drift_deg_per_s=0.0, squat_deg=(90.0, 90.0), hip_flexion_deg=zero,
        hip_abduction_deg=zero, knee_flexion_deg=zero, spine_lean_deg=zero, spine_side_deg=0.0, spine_twist_deg=0.0,
        arm_abduction_deg=zero, arm_flexion_deg=zero, elbow_flexion_deg=zero,
    )
    out = aug.perturb_pose(world, only_squat, np.random.default_rng(0), np.ones(4, dtype=bool))

    def knee_flexion(j: np.ndarray) -> np.ndarray:
        thigh = j[..., J["left_knee"], :] - j[..., J["left_hip"], :]
        shin = j[..., J["left_ankle"], :] - j[..., J["left_knee"], :]
        return aug._angle(thigh, shin)

    assert np.allclose(knee_flexion(out) - knee_flexion(world), 90.0, atol=8.0)
    lowered = aug.reground(out, world)
    drop = world[:, :, 0, 1] - lowered[:, :, 0, 1]
    assert np.all(drop > 0.2)  # the pelvis comes down, the feet stay on the floor
    _, _, forward = aug.body_axes(world)
    ahead = np.sum((lowered[:, :, J["left_knee"]] - lowered[:, :, J["left_ankle"]]) * forward, axis=-1)
    assert np.all(ahead > 0.1)  # knees in front of the ankles
    assert aug.check_joint_limits(lowered).all()


def test_joint_limits_accept_real_motion_and_reject_impossible(
    hdm05_clips: list[Clip], sample_clips: list[Clip]
) -> None:
    real = np.concatenate([c.joints for c in hdm05_clips])
    assert aug.check_joint_limits(real).mean() > 0.99  # squats, kicks, lying down
    pose = _standing_clip(sample_clips).joints[0].astype(np.float64)
    assert aug.check_joint_limits(pose)
    lateral, up, forward = aug.body_axes(pose)

    def rotated(root: int, pivot: int, axis: np.ndarray, deg: float) -> np.ndarray:
        out = pose.copy()
        chain = list(aug.SUBTREE[root])
        out[chain] = aug.rotate_about(pose[None, chain], pose[pivot], axis, np.radians(deg))[0]
        return out

    assert not aug.check_joint_limits(rotated(J["left_ankle"], J["left_knee"], lateral, -45.0))  # knee bent forward
    assert aug.check_joint_limits(rotated(J["left_ankle"], J["left_knee"], lateral, 120.0))  # normal flexion
    assert not aug.check_joint_limits(rotated(J["left_ankle"], J["left_knee"], lateral, 155.0))  # folded too far
    assert not aug.check_joint_limits(rotated(J["neck_nose"], J["thorax"], lateral, 120.0))  # head on the chest
    twisted = pose.copy()
    upper = list(aug.UPPER_ABOVE_SPINE)
    twisted[upper] = aug.rotate_about(pose[None, upper], pose[0], up, np.radians(90.0))[0]
    assert not aug.check_joint_limits(twisted)


def test_config_values_are_checked() -> None:
    for make, message in [
        (lambda: AugmentConfig(mirror_prob=1.5), "augment.mirror_prob"),
        (lambda: AugmentConfig(speed_range=(2.0, 0.5)), "augment.speed_range"),
        (lambda: CameraConfig(fov_deg=(30.0, 200.0)), "fields of view"),
        (lambda: CameraConfig(image_sizes=()), "image sizes"),
        (lambda: NoiseConfig(score_clean=(0.7, 1.2)), "score ranges"),
        (lambda: NoiseConfig(drop_frames=(0, 3)), "drop_frames"),
    ]:
        with pytest.raises(VideoMocapError, match=message):
            make()


# ---------------------------------------------------------------------------------------
# sampler
# ---------------------------------------------------------------------------------------
def test_sampler_batch_shapes_and_determinism(sample_clips: list[Clip], hdm05_clips: list[Clip]) -> None:
    clips = sample_clips + hdm05_clips[:20]
    weights = {"bandai": 0.7, "hdm05": 0.3}

    def make(seed: int) -> WindowSampler:
        return WindowSampler(clips, 27, AugmentConfig(), CameraConfig(), NoiseConfig(), weights, seed=seed)

    a, b, c = make(7).sample(8), make(7).sample(8), make(8).sample(8)
    assert set(a) == {"inputs", "target3d", "target2d"}
    assert a["inputs"].shape == (8, 27, 17, 3) and a["target3d"].shape == (8, 27, 17, 3)
    assert a["target2d"].shape == (8, 27, 17, 2)
    for key in a:
        assert a[key].dtype == np.float32 and np.isfinite(a[key]).all()
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["inputs"], c["inputs"])
    assert np.allclose(a["target3d"][:, :, 0], 0.0)  # root-relative
    sampler = make(7)
    names = np.array([cl.source for cl in clips])
    assert sampler.clip_probs[names == "hdm05"].sum() == pytest.approx(0.3)
    with pytest.raises(VideoMocapError, match="no weight for source"):
        WindowSampler(clips, 27, AugmentConfig(), CameraConfig(), NoiseConfig(), {"bandai": 1.0})


def test_sampler_short_clip_and_no_augmentation(sample_clips: list[Clip]) -> None:
    """Windows longer than a clip hold the last frame; with everything off the 3D is the source."""
    clip = sample_clips[0]
    sampler = WindowSampler([clip], 40, AugmentConfig(enabled=False), CameraConfig(), NoiseConfig(enabled=False))
    world = sampler.sample_world(2)
    assert np.allclose(world[:, : clip.num_frames], clip.joints[None])
    assert np.allclose(world[:, clip.num_frames :], clip.joints[-1])


def test_make_eval_windows_fixed_camera(sample_clips: list[Clip]) -> None:
    camera = CameraConfig(fixed_pitch_deg=-30.0)
    evals = make_eval_windows(sample_clips, 16, camera, NoiseConfig(), seed=4)
    assert [e.name for e in evals] == [c.name for c in sample_clips]
    for e, c in zip(evals, sample_clips):
        assert e.inputs.shape == (c.num_frames, 17, 3) and e.target3d.shape == (c.num_frames, 17, 3)
        assert e.camera["pitch_deg"] == pytest.approx(-30.0)
        assert e.labels == c.labels and e.source == "bandai"
    again = make_eval_windows(sample_clips[::-1], 16, camera, NoiseConfig(), seed=4)[::-1]
    for a, b in zip(evals, again):  # per-clip seeds: order does not matter
        assert np.array_equal(a.inputs, b.inputs)
    eye = CameraConfig(fixed_pitch_deg=0.0, fixed_height_m=1.6)
    eye_level = make_eval_windows(sample_clips[:1], 16, eye, None, seed=4)[0]
    assert eye_level.camera["pitch_deg"] == pytest.approx(0.0)
    # the camera (eye level) is above the pelvis: the pelvis shows below the image centre (y down)
    assert np.all(eye_level.inputs[:, 0, 1] > 0.0)
    windows = make_eval_windows(sample_clips, 8, camera, None, seed=4, stride=4)
    assert all(w.inputs.shape[0] == 8 for w in windows) and any("@4" in w.name for w in windows)


def test_fixed_pitch_sees_the_subject_from_that_angle(sample_clips: list[Clip]) -> None:
    """A high evaluation camera (pitch -30) aims at the subject from 30 deg above at any height: a far
    one (narrow lens, small in frame) is not clipped to ``height_m``, which would flatten the view and
    crop the head."""
    from video_mocap.training.cameras import in_frame_mask, project_batch, sample_cameras, world_to_camera

    camera = CameraConfig(fixed_pitch_deg=-30.0, fixed_fov_deg=30.0, fill=(0.35, 0.4), out_of_frame_prob=0.0)
    for clip in sample_clips:
        joints = np.asarray(clip.joints, dtype=np.float64)[None]
        cams = sample_cameras(joints, camera, np.random.default_rng(0))
        to_pelvis = joints[0, :, 0] - cams.position[0]
        elevation = np.degrees(np.arctan2(to_pelvis[:, 1], np.hypot(to_pelvis[:, 0], to_pelvis[:, 2])))
        assert np.median(elevation) == pytest.approx(-30.0, abs=2.0)
        assert cams.position[0, 0, 1] > camera.height_m[1]
        points_cam = world_to_camera(joints, cams)
        pixels, _ = project_batch(points_cam, cams)
        assert in_frame_mask(pixels, points_cam, cams).mean() > 0.95


def test_group_switches_turn_each_augmentation_off_alone(sample_clips: list[Clip], tmp_path: Path) -> None:
    """The ablation's switches (YAML ``augment.body``, ``augment.pose``, ``camera.enabled``)."""
    from video_mocap.training.cameras import PLAIN_FOV_DEG, PLAIN_IMAGE_SIZE, sample_cameras
    from video_mocap.training.config import load_config

    rigid = list(RIGID_BONES)
    source_lengths = aug.median_bone_lengths(np.concatenate([c.joints for c in sample_clips])[None])[0, rigid]

    def lengths(windows: np.ndarray) -> np.ndarray:
        return aug.median_bone_lengths(windows)[:, rigid]

    def world(**switches: bool) -> np.ndarray:
        config = AugmentConfig(**switches, pose_part_prob=1.0)
        return WindowSampler(sample_clips, 16, config, CameraConfig(), NoiseConfig(), seed=3).sample_world(32)

    # pose only: bodies are the source's (same bone lengths, no mirroring), poses are changed
    pose_only = world(body=False)
    assert np.allclose(lengths(pose_only), source_lengths, atol=5e-3)
    # body only: bones change, and the same seed gives the same bodies as with everything on
    body_only, everything = world(pose=False), world()
    assert np.abs(lengths(body_only) - source_lengths).max() > 0.02
    assert not np.allclose(body_only, everything)
    nothing = world(body=False, pose=False)
    assert np.allclose(lengths(nothing), source_lengths, atol=5e-3)
    assert not np.allclose(nothing, pose_only)

    # camera off: one plain camera for every window (level, chest height, 60 degrees, landscape)
    rng = np.random.default_rng(0)
    plain = sample_cameras(everything, CameraConfig(enabled=False), rng)
    assert np.allclose(plain.pitch_deg, 0.0) and np.allclose(plain.roll_deg, 0.0)
    assert np.allclose(plain.fov_deg, PLAIN_FOV_DEG)
    assert set(plain.width.tolist()) == {PLAIN_IMAGE_SIZE[0]} and set(plain.height.tolist()) == {PLAIN_IMAGE_SIZE[1]}
    varied = sample_cameras(everything, CameraConfig(), rng)
    assert varied.pitch_deg.std() > 5.0 and varied.fov_deg.std() > 5.0

    path = tmp_path / "ablation.yaml"
    path.write_text("augment: {body: false, pose: true}\ncamera: {enabled: false}\nnoise: {enabled: false}\n")
    loaded = load_config(path)
    assert (loaded.augment.body, loaded.augment.pose, loaded.camera.enabled, loaded.noise.enabled) == (
        False, True, False, False)
