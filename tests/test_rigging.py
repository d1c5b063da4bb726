"""Rigging, pure core (no bpy): world transform, solve, smoothing, foot locking, BVH writer."""

from __future__ import annotations

import numpy as np
import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.core import skeleton
from video_mocap.core.camera import project
from video_mocap.core.formats import Motion3D
from video_mocap.core import filters
from video_mocap.rigging import footlock
from video_mocap.rigging import solve as S
from video_mocap.rigging.world import ANKLE_HEIGHT_M, view_from_camera

FPS = 30.0
JOG = "HDM_mm_jogLeftCircle4StepsRstart_011_120"
SNEAK = "HDM_bk_sneak2StepsLStart_005_120"
KICK = "HDM_bk_kickLFront1Reps_009_120"
#: the view from which the mocap's x axis runs away from the camera (along its z: depth)
YAW_ALONG_X = 90.0





def _motion(joints_yup: np.ndarray, yaw: float = 30.0, tilt: float = 8.0) -> Motion3D:
    rel, root = view_from_camera(joints_yup, yaw_deg=yaw, tilt_deg=tilt)
    return Motion3D(rel, root, np.arange(len(rel)), FPS, "hdm05")


def _noisy(joints: np.ndarray, seed: int = 0, white_m: float = 0.012, drift_m: float = 0.02) -> np.ndarray:
    """Lifter-like noise: white per-frame jitter plus slowly varying per-joint error."""
    rng = np.random.default_rng(seed)
    white = rng.normal(scale=white_m, size=joints.shape)
    slow = filters.savgol(rng.normal(size=joints.shape), window=15, polyorder=1)
    slow *= drift_m / max(slow.std(), 1e-9)
    return joints + white + slow


def _z_up(joints_yup: np.ndarray) -> np.ndarray:
    """(..., 3) Y-up mocap joints in Z-up axes (the solve's world), handedness kept."""
    return joints_yup[..., [0, 2, 1]] * [1.0, -1.0, 1.0]


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


@pytest.fixture(scope="module")
def jog(hdm05_clip) -> np.ndarray:
    return hdm05_clip(JOG)


def test_world_levels_ground_faces_front_and_stands_on_floor(jog):
    solved = S.solve(_motion(jog, yaw=30.0, tilt=10.0), S.SolveConfig(smoothing=0.0, foot_lock=False))
    assert abs(solved.info["ground_tilt_deg"] - 10.0) < 2.0
    ankles = solved.joints_world[:, list(skeleton.FEET)]
    assert abs(np.percentile(ankles[..., 2].min(axis=1), 10) - ANKLE_HEIGHT_M) < 0.03
    # the mocap floor (y = 0 in the clip) comes out level: over the whole circle the solved
    # lower-ankle heights follow the clip's up to one constant offset
    offset = ankles[..., 2].min(axis=1) - jog[:, list(skeleton.FEET), 1].min(axis=1)
    assert offset.std() < 0.01
    j = skeleton.JOINT_INDEX
    left = solved.joints_world[:5, j["left_hip"]] - solved.joints_world[:5, j["right_hip"]]
    assert _angle_deg(left.mean(0) * [1, 1, 0], np.array([1.0, 0.0, 0.0])) < 20.0  # faces -Y
    np.testing.assert_allclose(solved.root_world[0, :2], 0.0, atol=1e-9)


def test_solve_keeps_directions_with_constant_lengths(jog):
    motion = _motion(jog)
    solved = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False))
    joints = solved.joints_world
    lengths = skeleton.bone_lengths(joints)
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=1e-9)
    from video_mocap.rigging.world import camera_to_world

    cam = S.camera_joints(motion)
    raw = S.with_crown(camera_to_world(cam).apply(cam))  # the head bone ends at the crown
    for parent, child in skeleton.BONES:
        err = _angle_deg(raw[:, child] - raw[:, parent], joints[:, child] - joints[:, parent])
        assert err.max() < 0.1, (skeleton.JOINT_NAMES[child], err.max())
    # quaternions: unit, sign-continuous, and their forward kinematics is joints_world
    q = solved.rotations
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-9)
    assert (np.sum(q[1:] * q[:-1], axis=-1) >= 0).all()
    deltas = S.deltas_from_rotations(q, solved.rest_heads, solved.rest_tails)
    heads, tails = S.forward_kinematics(deltas, solved.root_world, solved.rest_heads, solved.rest_tails)
    np.testing.assert_allclose(S.joints_from_pose(heads, tails), joints, atol=1e-9)


def _procedural_walk(frames: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Known local rotations on the solve's rest skeleton: hinge knees/elbows, swinging limbs."""
    lengths = np.array([0.1, 0.09, 0.42, 0.40, 0.09, 0.42, 0.40, 0.25, 0.25, 0.15, 0.08,
                        0.17, 0.28, 0.25, 0.17, 0.28, 0.25])
    rest_dirs = np.stack([S.REST_DIRECTIONS[n] for n in S.BONE_NAMES])
    heads, tails = S.rest_pose(lengths, rest_dirs)
    axes = S.rest_axes(heads, tails)
    phase = 2 * np.pi * np.arange(frames) / 30.0
    world = np.zeros((frames, 17, 3, 3)) + np.eye(3)  # world-space local rotations, then -> bone axes
    b = S.BONE_INDEX
    x, y, z = np.eye(3)
    rot = S.axis_angle_matrix
    world[:, b["pelvis"]] = rot(np.broadcast_to(z, (frames, 3)), 0.15 * np.sin(phase))
    for side, sign in (("L", 1.0), ("R", -1.0)):
        swing_angle = sign * 0.45 * np.sin(phase)
        knee = 0.8 + 0.3 * np.sin(phase + sign * 1.0)  # 29 to 63 degrees: bent enough to show the twist
        world[:, b[f"thigh.{side}"]] = rot(np.broadcast_to(x, (frames, 3)), swing_angle) @ rot(
            np.broadcast_to(z, (frames, 3)), sign * 0.2 * np.ones(frames))
        world[:, b[f"shin.{side}"]] = rot(np.broadcast_to(x, (frames, 3)), knee)
        world[:, b[f"upper_arm.{side}"]] = rot(np.broadcast_to(y, (frames, 3)), sign * 1.1 * np.ones(frames)) @ rot(
            np.broadcast_to(x, (frames, 3)), -0.4 * sign * np.sin(phase))
        hinge = -z if side == "L" else z
        world[:, b[f"forearm.{side}"]] = rot(np.broadcast_to(hinge, (frames, 3)), 0.9 + 0.3 * np.sin(phase))
    # the pelvis frame is built from the hips and the spine joint, so a bend of the spine
    # bone against the pelvis is not observable: bend and twist the chest instead
    world[:, b["chest"]] = rot(np.broadcast_to(x, (frames, 3)), 0.15 * np.sin(2 * phase)) @ rot(
        np.broadcast_to(z, (frames, 3)), 0.2 * np.sin(phase))
    # local rotation in world axes -> in bone rest axes
    local = np.einsum("jba,tjbc,jcd->tjad", axes, world, axes)
    quats = S.make_continuous(S.matrix_to_quat(local))
    deltas = S.deltas_from_rotations(quats, heads, tails)
    root = np.stack([np.zeros(frames), -1.2 * np.arange(frames) / 30.0, np.full(frames, heads[0, 2])], axis=1)
    h, t = S.forward_kinematics(deltas, root, heads, tails)
    return S.joints_from_pose(h, t), quats, heads, tails


@pytest.mark.parametrize("key", [JOG, SNEAK])
def test_head_bone_rises_to_the_crown_on_detector_semantics(hdm05_detector_clip, key):
    """The detector's head point is level with the nose and behind it: the solve's head bone runs
    from the nose up to the crown built above it, so a rig's head turned along it stays upright."""
    clip = hdm05_detector_clip(key)
    j = skeleton.JOINT_INDEX
    ear_level = clip[:, j["head"]] - clip[:, j["neck_nose"]]
    body_up = clip[:, j["thorax"]] - clip[:, j["pelvis"]]
    assert np.median(_angle_deg(ear_level, body_up)) > 80.0  # the input's nose -> head runs backwards
    solved = S.solve(_motion(clip), S.SolveConfig(smoothing=0.0, foot_lock=False))
    out = solved.joints_world
    head_bone = out[:, j["head"]] - out[:, j["neck_nose"]]
    chest_up = out[:, j["thorax"]] - out[:, j["spine"]]
    assert _angle_deg(head_bone, chest_up).max() < 60.0
    assert (out[:, j["head"]] - out[:, j["neck_nose"]])[:, 2].min() > 0.05  # the crown above the nose
    torso = solved.info["bone_lengths"][[S.BONE_INDEX["spine"], S.BONE_INDEX["chest"]]].sum()
    low, high = S.FACE_BONE_BOUNDS["head"]
    length = solved.info["bone_lengths"][S.BONE_INDEX["head"]]
    assert low * torso < length < high * torso and 0.1 < length < 0.25
    # the crown stands above the ear-level point, at the crown height, on the side away from the neck
    clip_zup = _z_up(clip)
    crowned = S.with_crown(clip_zup)
    rise = crowned[:, j["head"]] - clip_zup[:, j["head"]]
    assert _angle_deg(rise, crowned[:, j["head"]] - crowned[:, j["thorax"]]).max() < 45.0


def test_a_nod_tips_the_crown_forward(hdm05_detector_clip):
    """Turning the face down about the ear axis (a nod) moves the crown forward, as a skull does."""
    clip = _z_up(hdm05_detector_clip(JOG))
    j = skeleton.JOINT_INDEX
    ears = clip[:, j["left_shoulder"]] - clip[:, j["right_shoulder"]]
    axis = ears / np.linalg.norm(ears, axis=-1, keepdims=True)
    nodded = clip.copy()
    offset = clip[:, j["neck_nose"]] - clip[:, j["head"]]
    nod = S.axis_angle_matrix(axis, np.full(len(clip), np.radians(25.0)))  # nose goes down
    turned = np.einsum("tij,tj->ti", nod, offset)
    if np.mean(turned[:, 2] - offset[:, 2]) > 0:  # the other sense of the ear axis
        turned = np.einsum("tij,tj->ti", np.swapaxes(nod, -1, -2), offset)
    nodded[:, j["neck_nose"]] = clip[:, j["head"]] + turned
    forward = offset * [1.0, 1.0, 0.0]
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    shift = S.with_crown(nodded)[:, j["head"]] - S.with_crown(clip)[:, j["head"]]
    assert np.median(np.sum(shift * forward, axis=-1)) > 0.02


def test_size_wobble_of_the_lifter_leaves_the_depth(jog):
    """A lifter whose skeleton grows and shrinks by 15 % in step with the gait (as on real video) gets
    roots placed 15 % nearer or farther by the root fit; the solve's camera joints bring every frame
    to its size's local trend about the camera centre, which takes the wobble out of the depth and
    leaves the image unchanged."""
    from video_mocap.inference.trajectory import recover_root

    rel, root = view_from_camera(jog, yaw_deg=30.0, tilt_deg=8.0)
    focal, width, height = 1000.0, 1920, 1080
    pixels = project(rel + root[:, None], focal, width, height)
    rng = np.random.default_rng(0)
    wobble = 1.0 + 0.15 * np.sin(np.arange(len(rel)) / 3.0) + rng.normal(scale=0.02, size=len(rel))
    lifted = rel * wobble[:, None, None]
    fitted = recover_root(lifted, pixels, np.ones(rel.shape[:2]), focal, width, height)  # smoothed, as lifted
    motion = Motion3D(lifted.astype(np.float32), fitted, np.arange(len(rel)), FPS, "hdm05")
    fixed = S.camera_joints(motion)
    as_fitted = np.abs(fitted[:, 2] - root[:, 2])
    kept = np.abs(fixed[:, 0, 2] - root[:, 2])  # the wobble's trend is 1: the true size
    assert np.percentile(as_fitted, 90) > 0.3 and np.percentile(kept, 90) < 0.3 * np.percentile(as_fitted, 90)
    as_lifted = project(lifted + fitted[:, None], focal, width, height)
    assert np.abs(project(fixed, focal, width, height) - as_lifted).max() < 1e-3  # pixels (float32 roots)


def test_known_rotations_are_recovered():
    joints_zup, quats, _, _ = _procedural_walk()
    joints_yup = joints_zup[..., [0, 2, 1]] * [1, 1, -1]  # Z up, facing -Y -> Y up, facing +Z
    solved = S.solve(_motion(joints_yup, yaw=20.0, tilt=5.0), S.SolveConfig(smoothing=0.0, foot_lock=False))
    dots = np.abs(np.sum(solved.rotations * quats, axis=-1))  # (T, J): |cos(half angle)|
    angle = np.degrees(2 * np.arccos(np.clip(dots, -1, 1)))
    non_root = [i for i, n in enumerate(S.BONE_NAMES) if n not in ("pelvis", "neck", "head")]
    assert angle[:, non_root].max() < 0.5, angle[:, non_root].max(axis=0)
    np.testing.assert_allclose(solved.info["bone_lengths"][2], 0.42, atol=1e-6)


@pytest.mark.parametrize("key", [JOG, KICK])
def test_smoothing_cuts_jitter_without_lag(hdm05_clip, key):
    """Default strength, both filters, on a jog and on a fast kick: less jitter, no lag, closer to the truth."""
    clean = hdm05_clip(key)
    noisy = _noisy(clean)
    for method in filters.METHODS:
        out = filters.smooth(noisy, FPS, S.SolveConfig().smoothing, method)
        assert S.jitter(out) < 0.5 * S.jitter(noisy), method
        assert abs(S.lag_frames(out, clean)) <= 1.0, method
        assert np.abs(out - clean).mean() < np.abs(noisy - clean).mean(), method


def test_smoothing_off_and_bad_settings(jog):
    noisy = _noisy(jog)
    assert S.SolveConfig().smoothing_method == filters.DEFAULT_METHOD in filters.METHODS
    np.testing.assert_array_equal(filters.smooth(noisy, FPS, 0.0), noisy)
    # the lag metric itself sees a real delay
    assert S.lag_frames(np.roll(jog, 3, axis=0)[5:-5], jog[5:-5]) == pytest.approx(3.0, abs=0.3)
    with pytest.raises(VideoMocapError, match="smoothing method"):
        filters.smooth(noisy, FPS, 0.5, "kalman")
    with pytest.raises(VideoMocapError, match="between 0 and 1"):
        filters.smooth(noisy, FPS, 1.5)


def test_solve_smoothing_strength_orders_jitter(jog):
    motion = _motion(_noisy(jog, seed=1))
    values = [
        S.jitter(S.solve(motion, S.SolveConfig(smoothing=s, foot_lock=False)).joints_world) for s in (0.0, 0.3, 0.9)
    ]
    assert values[0] > values[1] > values[2]


@pytest.mark.parametrize("key", [JOG, SNEAK])
def test_foot_lock_cuts_foot_skate_on_noisy_mocap(hdm05_clip, key):
    clip = hdm05_clip(key)
    motion = _motion(_noisy(clip, seed=2))
    free = S.solve(motion, S.SolveConfig(foot_lock=False))
    locked = S.solve(motion, S.SolveConfig(foot_lock=True))
    contacts = locked.contacts
    assert 0.1 < contacts.mean() < 0.9, contacts.mean()
    assert S.foot_skate(locked.joints_world, contacts) < 0.3 * S.foot_skate(free.joints_world, contacts)
    # the legs keep their lengths and the rest of the body does not move
    np.testing.assert_allclose(
        skeleton.bone_lengths(locked.joints_world), skeleton.bone_lengths(free.joints_world), atol=1e-9
    )
    upper = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    np.testing.assert_allclose(locked.joints_world[:, upper], free.joints_world[:, upper], atol=1e-9)


def test_hips_follow_a_planted_foot_the_root_ran_away_from(hdm05_clip):
    """A lifted root that runs on while a foot is planted (here: 0.8 m in 10 frames mid-stance, away from the
    camera: a lifted motion's root errs in depth, where the 2D does not pin it) pulls the body along (within
    footlock.REACH_SLACK_M) instead of sliding the locked foot out of reach."""
    clip = hdm05_clip(SNEAK)
    stance = footlock.contact_runs(S.solve(_motion(clip, yaw=YAW_ALONG_X)).contacts[:, 0])[0]
    assert stance[1] - stance[0] > 30, stance
    mid = (stance[0] + stance[1]) // 2
    runaway = np.zeros(len(clip))
    runaway[mid - 5:mid + 5] = 0.08
    moved = clip.copy()
    moved[..., 0] += np.cumsum(runaway)[:, None]
    motion = _motion(moved, yaw=YAW_ALONG_X)
    locked = S.solve(motion, S.SolveConfig(foot_lock=True))
    free = S.solve(motion, S.SolveConfig(foot_lock=False))

    def travel(solved) -> float:
        ankle = solved.joints_world[stance[0]:stance[1], skeleton.FEET[0], :2]
        return float(np.linalg.norm(np.diff(ankle, axis=0), axis=-1).sum())

    assert locked.contacts[stance[0]:stance[1], 0].all()
    assert travel(free) > 0.7
    # the ankle may stop short of the pin by up to the slack, on its way in and out
    assert travel(locked) < 2 * footlock.REACH_SLACK_M, travel(locked)
    shift = np.linalg.norm(locked.root_world - free.root_world, axis=-1)
    assert shift.max() > 0.1  # the hips moved, not the planted foot
    np.testing.assert_allclose(
        skeleton.bone_lengths(locked.joints_world), skeleton.bone_lengths(free.joints_world), atol=1e-9
    )


def test_reach_offsets():
    hips = np.zeros((4, 2, 3))
    hips[:, 1, 0] = 0.2  # right hip 20 cm to the side
    reach = np.array([0.9, 0.9])
    limit = footlock.MAX_REACH_FRACTION * 0.9 + footlock.REACH_SLACK_M
    targets = hips + [0.0, 0.0, -0.85]  # straight down, within reach
    targets[1, 0] = [1.5, 0.0, 0.0]  # left ankle pinned 1.5 m ahead
    targets[2, 0] = [1.5, 0.0, 0.0]  # ... but not pinned on this frame
    targets[3] = [[-0.5, 0.0, -0.85], [0.7, 0.0, -0.85]]  # both pinned, pulling apart a little
    weights = np.ones((4, 2))
    weights[2, 0] = 0.0
    offset = footlock.reach_offsets(hips, targets, weights, reach)
    np.testing.assert_allclose(offset[[0, 2]], 0.0)
    np.testing.assert_allclose(offset[1], [1.5 - limit, 0.0, 0.0], atol=1e-9)
    dist = np.linalg.norm(targets[3] - (hips[3] + offset[3]), axis=-1)
    assert np.all(dist <= limit + 1e-6), dist


def test_lift_out_of_reach_raises_the_heel_only():
    hips = np.tile([[0.0, 0.0, 0.9], [0.2, 0.0, 0.9]], (4, 1, 1))  # (T=4, F=2, 3), Z up
    reach = np.array([0.85, 0.85])
    limit = footlock.MAX_REACH_FRACTION * 0.85
    targets = hips.copy()
    targets[..., 2] = 0.08
    targets[0, 0, 0] = 0.40  # a little out of reach (0.91 m): rises until the leg reaches it
    targets[1, 0, 0] = 0.80  # far out: rises by the most allowed, the IK clamp does the rest
    targets[2, 0, 0] = 0.40  # the same as frame 0 on a free foot: untouched
    weights = np.ones((4, 2))
    weights[2, 0] = 0.0
    lifted = footlock.lift_out_of_reach(hips, targets, weights, reach)
    np.testing.assert_array_equal(lifted[..., :2], targets[..., :2])  # never moved over the floor
    assert np.linalg.norm(lifted[0, 0] - hips[0, 0]) == pytest.approx(limit, abs=1e-9)
    assert 0.0 < lifted[0, 0, 2] - 0.08 < footlock.HEEL_LIFT_M
    assert lifted[1, 0, 2] - 0.08 == pytest.approx(footlock.HEEL_LIFT_M)
    np.testing.assert_array_equal(lifted[2], targets[2])
    np.testing.assert_array_equal(lifted[:, 1], targets[:, 1])  # within reach: untouched


def test_two_bone_ik_keeps_lengths_and_pole_side():
    rng = np.random.default_rng(3)
    hip = rng.normal(size=(50, 3))
    ankle = hip + rng.normal(size=(50, 3)) * 0.4
    pole = hip + np.array([0.0, -0.5, -0.2])
    knee, reached = footlock.two_bone_ik(hip, ankle, pole, 0.45, 0.42)
    np.testing.assert_allclose(np.linalg.norm(knee - hip, axis=-1), 0.45, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(reached - knee, axis=-1), 0.42, atol=1e-9)
    reachable = np.linalg.norm(ankle - hip, axis=-1) < 0.86
    np.testing.assert_allclose(reached[reachable], ankle[reachable], atol=1e-9)


def test_scene_fps_and_offset():
    joints_zup, _, _, _ = _procedural_walk(30)
    joints_yup = joints_zup[..., [0, 2, 1]] * [1, 1, -1]
    rel, root = view_from_camera(joints_yup)
    motion = Motion3D(rel, root, np.arange(0, 60, 2), 15.0, "test")
    solved = S.solve(motion, S.SolveConfig(scene_fps=24.0, frame_offset=10))
    assert solved.fps == 24.0
    assert solved.frames[0] == 10 and solved.frames[1] == pytest.approx(10 + 2 * 24.0 / 15.0)


def test_bad_motion_and_options_are_refused(jog):
    motion = _motion(jog[:20])
    motion.joints3d[3, 4, 1] = np.nan
    with pytest.raises(VideoMocapError, match="NaN"):
        S.solve(motion)
    with pytest.raises(VideoMocapError, match="facing"):
        S.solve(_motion(jog[:20]), S.SolveConfig(face="up"))
    flat = Motion3D(np.zeros((5, 17, 3)), np.ones((5, 3)), np.arange(5), FPS, "zeros")
    with pytest.raises(VideoMocapError, match="zero-length"):
        S.solve(flat)
    backwards = _motion(jog[:5])
    backwards.frame_indices = np.array([0, 1, 1, 2, 3])
    with pytest.raises(VideoMocapError, match="increase"):
        S.solve(backwards)


# ---------------------------------------------------------------------------------------
# retargeting: names, presets (pure)
# ---------------------------------------------------------------------------------------
from video_mocap.rigging import retarget as R  # noqa: E402


@pytest.mark.parametrize(
    "name,expected",
    [
        ("mixamorig:LeftUpLeg", ("upleg", "L", 0)),
        ("mixamorig5:RightForeArm", ("forearm", "R", 0)),
        ("DEF-thigh.L.001", ("thigh", "L", 1)),
        ("spine.003", ("spine", "", 3)),
        ("upperarm_r", ("upperarm", "R", 0)),
        ("Bip01 L Calf", ("calf", "L", 0)),
        ("J_Bip_L_UpperLeg", ("upperleg", "L", 0)),
        ("Hips", ("hips", "", 0)),
    ],
)
def test_bone_names_are_normalised(name, expected):
    assert R.normalize_bone_name(name) == expected


def _chain(names_parents: list[tuple[str, str | None]]) -> tuple[list[str], list[int]]:
    names = [n for n, _ in names_parents]
    return names, [names.index(p) if p else -1 for _, p in names_parents]


def test_auto_mapping_mixamo_and_unreal_names():
    mixamo = _chain([("mixamorig:Hips", None), ("mixamorig:Spine", "mixamorig:Hips"),
                     ("mixamorig:Spine1", "mixamorig:Spine"), ("mixamorig:Spine2", "mixamorig:Spine1"),
                     ("mixamorig:Neck", "mixamorig:Spine2"), ("mixamorig:Head", "mixamorig:Neck")]
                    + [(f"mixamorig:{s}{b}", f"mixamorig:{p}") for s in ("Left", "Right") for b, p in (
                        ("Shoulder", "Spine2"), ("Arm", f"{s}Shoulder"), ("ForeArm", f"{s}Arm"),
                        ("UpLeg", "Hips"), ("Leg", f"{s}UpLeg"))])
    mapping = R.resolve_mapping({}, *mixamo)
    assert mapping["pelvis"] == "mixamorig:Hips" and mapping["chest"] == "mixamorig:Spine2"
    assert mapping["shin.L"] == "mixamorig:LeftLeg" and mapping["upper_arm.R"] == "mixamorig:RightArm"
    unreal = _chain([("pelvis", None), ("spine_01", "pelvis"), ("spine_03", "spine_01"), ("neck_01", "spine_03"),
                     ("head", "neck_01")] + [(f"{b}_{s}", p if p in ("pelvis", "spine_03") else f"{p}_{s}")
                                              for s in ("l", "r") for b, p in (
                         ("thigh", "pelvis"), ("calf", "thigh"), ("clavicle", "spine_03"),
                         ("upperarm", "clavicle"), ("lowerarm", "upperarm"))])
    mapping = R.resolve_mapping({}, *unreal)
    assert mapping["shin.R"] == "calf_r" and mapping["forearm.L"] == "lowerarm_l" and mapping["neck"] == "neck_01"
    assert mapping["spine"] == "spine_01" and mapping["chest"] == "spine_03"


def test_presets_load_and_bad_presets_are_refused(tmp_path):
    assert {"auto", "mixamo", "rigify", "rigify_metarig"} <= set(R.list_presets())
    for name in R.list_presets():
        assert set(R.load_preset(name)) <= set(S.BONE_NAMES)
    assert R.load_preset("auto") == {} and R.load_preset(None) == {}
    with pytest.raises(VideoMocapError, match="not found"):
        R.load_preset("no_such_rig")
    bad = tmp_path / "bad.json"
    bad.write_text('{"bones": {"femur": "Thigh"}}')
    with pytest.raises(VideoMocapError, match="unknown solve bones"):
        R.load_preset(bad)
    bad.write_text("{not json")
    with pytest.raises(VideoMocapError, match="not valid JSON"):
        R.load_preset(bad)


def test_face_options(jog):
    motion = _motion(jog, yaw=60.0, tilt=0.0)
    j = skeleton.JOINT_INDEX
    for face, expected_left in (("-Y", [1, 0, 0]), ("+X", [0, 1, 0]), ("+Y", [-1, 0, 0])):
        solved = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False, face=face))
        left = (solved.joints_world[:5, j["left_hip"]] - solved.joints_world[:5, j["right_hip"]]).mean(0)
        assert _angle_deg(left * [1, 1, 0], np.array(expected_left, float)) < 20.0, face
    # "camera": no yaw, the camera looks along +Y: the subject's left hip is where the camera sees it
    solved = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False, face="camera"))
    cam_left = (motion.joints3d[0, j["left_hip"]] - motion.joints3d[0, j["right_hip"]])[[0, 2]]
    world_left = (solved.joints_world[0, j["left_hip"]] - solved.joints_world[0, j["right_hip"]])[:2]
    assert _angle_deg(np.append(cam_left, 0), np.append(world_left, 0)) < 5.0


def test_bvh_text_structure(jog):
    from video_mocap.rigging import bvh_writer

    solved = S.solve(_motion(jog[:12]))
    text = bvh_writer.bvh_text(solved)
    head, motion = text.split("MOTION\n")
    assert head.count("JOINT ") == len(S.BONE_NAMES) - 1 and head.count("ROOT pelvis") == 1
    assert head.count("End Site") == sum(1 for i in range(17) if i not in S.PARENTS)
    rows = motion.strip().splitlines()
    assert rows[0] == "Frames: 12" and rows[1].startswith("Frame Time: 0.0333")
    assert all(len(r.split()) == 6 + 3 * (len(S.BONE_NAMES) - 1) for r in rows[2:])


def test_camera_pitch_recovered_when_the_feet_never_move(hdm05_clip):
    """A squat on the spot gives no floor from the contacts: the balance-line prior must level it."""
    squat = hdm05_clip("HDM_mm_squat1Reps_037_120")
    for tilt in (0.0, 15.0):
        solved = S.solve(_motion(squat, yaw=-25.0, tilt=tilt), S.SolveConfig(smoothing=0.0, foot_lock=False))
        assert abs(solved.info["ground_tilt_deg"] - tilt) < 6.0, (tilt, solved.info["ground_tilt_deg"])


@pytest.mark.parametrize("frames", [1, 2, 5])
@pytest.mark.parametrize("method", filters.METHODS)
def test_very_short_clips_solve(jog, frames, method):
    solved = S.solve(_motion(jog[:frames]), S.SolveConfig(smoothing_method=method))
    solved.validate()
    assert solved.rotations.shape == (frames, len(S.BONE_NAMES), 4)


def test_drifting_stance_foot_still_counts_as_planted():
    """Lifted video lets the stance foot drift (0.7 m/s here); the clearly slower foot is planted."""
    fps, frames = 30.0, 40
    t = np.arange(frames) / fps
    ankles = np.zeros((frames, 2, 3))
    ankles[:, 0, 0] = 0.7 * t  # stance foot: drifting, on the floor
    ankles[:, 1, 0] = 2.5 * t  # swing foot: fast
    ankles[:, :, 2] = 0.08
    ankles[:, 1, 2] += 0.10 * np.sin(np.pi * t / t[-1])  # and lifted
    contacts = footlock.detect_contacts(ankles, fps)
    assert contacts[:, 0].mean() > 0.9
    assert contacts[:, 1].mean() < 0.3
    # a stance foot at 80 % of the swing foot's speed (lifted video often gives that) still counts
    slow_swing = ankles.copy()
    slow_swing[:, 1, 0] = 0.7 * t / 0.8
    assert footlock.detect_contacts(slow_swing, fps)[:, 0].mean() > 0.9
    # both feet at the same moderate speed: neither is clearly slower, so neither is planted
    ankles[:, 1] = ankles[:, 0] + [0.0, 0.2, 0.0]
    assert not footlock.detect_contacts(ankles, fps).any()


def test_a_foot_the_camera_sees_gliding_is_not_pinned(hdm05_clip):
    """A skater's glide: the whole body slides 1.2 m across the view during a long stance. The stance foot
    is still the slower one, so it is detected as planted; pinning it would hold it up to 0.6 m off
    where the camera sees it. The solve takes those frames out of the contact instead."""
    clip = hdm05_clip(SNEAK)
    motion = _motion(clip)
    stance = footlock.contact_runs(S.solve(motion).contacts[:, 0])[0]
    glide = np.zeros(len(clip))
    glide[stance[0]:stance[1]] = np.linspace(0.0, 1.2, stance[1] - stance[0])
    glide[stance[1]:] = 1.2
    motion.root[:, 0] += glide  # camera x: across the image
    free = S.solve(motion, S.SolveConfig(foot_lock=False))
    locked = S.solve(motion, S.SolveConfig(foot_lock=True))
    centre = locked.info["camera"]["position"]
    feet = list(skeleton.FEET)

    # without the guard the glide is a contact, and its pin lies far across the view
    found = footlock.detect_contacts(free.joints_world[:, feet], FPS)
    assert found[stance[0]:stance[1], 0].mean() > 0.5
    glide_ankle = free.joints_world[stance[0]:stance[1], feet[0]]
    pin = footlock.contact_pin(glide_ankle)
    assert footlock.across_view(glide_ankle, pin, centre).max() > 0.5
    # with it, every frame's locked ankle stays within the slip of where the camera sees the foot
    for f, joint in enumerate(feet):
        off = footlock.across_view(free.joints_world[:, joint], locked.joints_world[:, joint], centre)
        assert off.max() < footlock.VISIBLE_SLIP_M + 0.05, (f, off.max())
    # the glide's frames are mostly no longer planted; before and after it the lock still holds the foot
    assert locked.contacts[stance[0]:stance[1], 0].mean() < 0.5
    assert locked.contacts.any()


def test_a_still_planted_foot_keeps_its_contact(hdm05_clip):
    """The guard leaves a true stance alone: the same contacts as the detector's on a clip filmed still."""
    solved = S.solve(_motion(hdm05_clip(SNEAK)), S.SolveConfig(foot_lock=False))
    feet = list(skeleton.FEET)
    found = footlock.detect_contacts(solved.joints_world[:, feet], FPS)
    np.testing.assert_array_equal(solved.contacts, found)


def _filmed_from_above(people_yup: list[np.ndarray], places: list[tuple[float, float, float]],
                       camera_height_m: float = 2.0, pitch_deg: float = 20.0) -> list[np.ndarray]:
    """Real mocap clips placed in one Y-up scene (each clip's mean ground position moved to ``place``
    (x, floor height, z), the camera at the origin ``camera_height_m`` up, looking along -Z and down
    ``pitch_deg``) -> each person's (T, 17, 3) absolute camera-space joints (OpenCV axes)."""
    from video_mocap.rigging.world import filming_rotation

    rotation = filming_rotation(tilt_deg=pitch_deg)  # as view_from_camera's cameras
    frames = min(len(p) for p in people_yup)
    out = []
    for joints, (x, floor, z) in zip(people_yup, places):
        centre = joints[:frames].reshape(-1, 3).mean(axis=0)
        placed = joints[:frames] - [centre[0], 0.0, centre[2]] + [x, floor, z]
        out.append((placed - [0.0, camera_height_m, 0.0]) @ rotation.T)
    return out


def test_shared_world_one_floor_depths_corrected_roof_kept(hdm05_clip):
    """Three real HDM05 clips filmed from 2 m up, looking down 20 deg: the subject, a second person on
    the same floor whose lifted depth is 15 % short (the lifter's depth from 2D size), and a third on a
    1.6 m platform. The second is put back on the subject's floor; the third keeps its level."""
    from video_mocap.rigging.world import camera_to_world, shared_world

    clips = [hdm05_clip(SNEAK), hdm05_clip(KICK), hdm05_clip(JOG)]
    subject, second, roof = _filmed_from_above(clips, [(0.0, 0.0, -4.0), (1.5, 0.0, -6.0), (-2.0, 1.6, -7.0)])
    short = 0.85
    second_lifted = second - second[:, :1] * (1.0 - short)  # the root 15 % nearer, the body unchanged
    shared = shared_world([subject, second_lifted, roof])
    assert shared.on_floor.tolist() == [True, True, False]
    # two people's feet cannot tell a floor tilt from a depth error: the fit shares the height difference
    # between the two by their priors. The subject alone reads the 20 deg camera as 18 deg: the shared
    # floor is nearer the truth, and the second person moved farther, the right way
    alone_tilt = camera_to_world(subject).ground_tilt_deg
    assert abs(shared.world.ground_tilt_deg - 20.0) < abs(alone_tilt - 20.0), (shared.world.ground_tilt_deg, alone_tilt)
    assert 1.0 < shared.depth_scales[1] < 1.0 / short + 0.02, shared.depth_scales
    assert shared.depth_scales[0] == 1.0 and shared.depth_scales[2] == 1.0
    lowest = []
    for cam, scale in zip([subject, second_lifted, roof], shared.depth_scales):
        corrected = cam - cam[:, :1] + scale * cam[:, :1]
        ankles = shared.world.apply(corrected)[:, list(skeleton.FEET), 2].min(axis=1)
        lowest.append(float(np.percentile(ankles, 10)))
    # the truth: each clip's own lower-ankle height over its mocap floor, plus the floor it was put on
    truth = [float(np.percentile(c[:, list(skeleton.FEET), 1].min(axis=1), 10)) + floor
             for c, floor in zip(clips, [0.0, 0.0, 1.6])]
    assert abs(lowest[0] - ANKLE_HEIGHT_M) < 0.05, lowest
    assert abs((lowest[1] - lowest[0]) - (truth[1] - truth[0])) < 0.05, (lowest, truth)
    # the roof is 7 m away: each degree of pitch error lifts it 0.12 m there (the subject alone: 0.18 m off)
    assert abs((lowest[2] - lowest[0]) - (truth[2] - truth[0])) < 0.17, (lowest, truth)
    # in the subject's own world (what several people got before) the second stood off the floor
    own_world = camera_to_world(subject)
    before = [float(np.percentile(own_world.apply(c)[:, list(skeleton.FEET), 2].min(axis=1), 10)) for c in (subject, second_lifted)]
    assert (before[1] - before[0]) - (truth[1] - truth[0]) > 0.1, before
    # one person: the subject's own world
    alone = shared_world([subject])
    own = camera_to_world(subject)
    np.testing.assert_allclose(alone.world.rotation, own.rotation)
    np.testing.assert_allclose(alone.world.translation, own.translation)
