"""Augmentation of 3D training windows (world frame, metres, Y up), vectorised over a batch.

Body (constant within a window, so bone lengths stay consistent in time):
  - body swap: the motion retargeted onto the bone lengths of another real body of the
    training set (Bandai's one rig, each HDM05 actor, DeepMimic);
  - height: global scale to a drawn standing height (normal around 1.70 m, clipped to 1.4-2.0 m);
  - per-bone length +-15 % (left/right nearly symmetric), rebuilt from the pelvis down the tree;
  - hip width and shoulder width x0.9-1.6, kept within anatomical ratios;
  - limb ratios (thigh vs shin, upper arm vs forearm);
  - mirrored bodies (flip left/right).
Pose:
  - joint-angle perturbations through forward kinematics on the 17-joint skeleton: sub-chains
    rotated about their parent joint (hip flexion / abduction, knee flexion, squats, spine lean,
    side bend and twist, arm raises, elbow flexion); the angle changes smoothly over the window;
  - upper body of one window on the lower body of another (mixed at the pelvis, aligned by
    the pelvis heading; only when both trunks are upright);
  - speed changes x0.5-2 (done by the sampler when it reads the window).
Checks:
  - :func:`check_joint_limits` rejects anatomically impossible frames;
  - :func:`reground` keeps foot-floor contact where the source had it (the lowest ankle follows
    the source's lowest ankle height, so feet never go through the floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import skeleton

J = skeleton.JOINT_INDEX
PELVIS = skeleton.PELVIS
_BONE_OF_CHILD = {c: i for i, (_, c) in enumerate(skeleton.BONES)}
UP = np.array([0.0, 1.0, 0.0])

LOWER_BODY: tuple[int, ...] = tuple(
    J[n] for n in ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
)
UPPER_BODY: tuple[int, ...] = tuple(j for j in range(skeleton.NUM_JOINTS) if j not in LOWER_BODY)
UPPER_ABOVE_SPINE: tuple[int, ...] = tuple(j for j in UPPER_BODY if j != J["spine"])

#: anthropometry for the standing-height estimate (see :func:`estimate_height`)
ANKLE_ABOVE_SOLE_M = 0.09
HEAD_TOP_ABOVE_HEAD_POINT_M = 0.13
#: frames (evenly spread) used to measure a window's body
HEIGHT_FRAMES = 9

# joint limits (degrees); see check_joint_limits
KNEE_MAX_FLEXION_DEG = 168.0
KNEE_MAX_HYPEREXTENSION_DEG = 15.0
#: hyperextension is only judged on nearly straight knees (the hinge sign is unreliable when folded)
KNEE_HYPEREXTENSION_JUDGED_BELOW_DEG = 90.0
ELBOW_MAX_FLEXION_DEG = 165.0
HIP_MAX_EXTENSION_DEG = 60.0
HIP_MAX_ADDUCTION_DEG = 45.0
SPINE_MAX_SIDE_BEND_DEG = 50.0
SPINE_MAX_TWIST_DEG = 70.0
NECK_MAX_BEND_DEG = 80.0
MIN_BONE_M = 0.02
#: a component of a limb must be this long (fraction of the limb) before its direction is judged
SAGITTAL_MIN_FRACTION = 0.5
#: trunk counts as upright (for mixing) when its angle to vertical stays below this
UPRIGHT_MAX_DEG = 40.0
#: frame rate assumed for the drift of pose perturbations
POSE_FPS = 30.0
#: hip flexion and trunk lean of a squat, as fractions of its knee flexion
SQUAT_HIP_SHARE = 0.55
SQUAT_TRUNK_SHARE = 0.35
#: weight of -lateral in the elbow hinge axis (see perturb_pose)
ELBOW_HINGE_BIAS = 0.3


@dataclass
class AugmentConfig:
    """Switches and ranges of every augmentation (probabilities per window; angles in degrees)."""

    #: master switch; ``body`` and ``pose`` switch the two groups below on their own (ablation)
    enabled: bool = True
    #: body group: height, bone lengths, hip/shoulder widths, limb ratios, body swap, mirroring
    body: bool = True
    #: pose group: joint-angle perturbation, upper/lower mixing, speed changes
    pose: bool = True
    height_prob: float = 1.0
    height_mean_m: float = 1.70
    height_std_m: float = 0.12
    height_range_m: tuple[float, float] = (1.4, 2.0)
    bone_prob: float = 0.8
    bone_scale: float = 0.15
    #: left/right difference of a bone's scale (fraction)
    bone_asymmetry: float = 0.03
    hip_width: tuple[float, float] = (0.9, 1.6)
    shoulder_width: tuple[float, float] = (0.9, 1.6)
    #: after the width factors, hip / shoulder width as a fraction of leg + pelvis-thorax length
    #: is kept in these ranges (detector points on real people; Bandai's rig is narrow-shouldered:
    #: 0.17, so its shoulders are always widened when the bones are augmented)
    hip_width_ratio: tuple[float, float] = (0.13, 0.23)
    shoulder_width_ratio: tuple[float, float] = (0.24, 0.36)
    #: probability of moving a window onto another real body of the training set (its bone lengths)
    body_swap_prob: float = 0.5
    #: thigh/shin and upper-arm/forearm ratio change (+-, the limb length is kept)
    limb_ratio: float = 0.1
    mirror_prob: float = 0.5
    pose_prob: float = 0.5
    #: per perturbed window, probability of each joint-angle change
    pose_part_prob: float = 0.4
    hip_flexion_deg: tuple[float, float] = (-15.0, 40.0)
    hip_abduction_deg: tuple[float, float] = (-5.0, 25.0)
    knee_flexion_deg: tuple[float, float] = (-10.0, 70.0)
    #: coordinated knee + hip + trunk bend (knee flexion added, degrees): down to a deep squat
    squat_deg: tuple[float, float] = (10.0, 110.0)
    spine_lean_deg: tuple[float, float] = (-10.0, 35.0)
    spine_side_deg: float = 15.0
    spine_twist_deg: float = 30.0
    arm_abduction_deg: tuple[float, float] = (-15.0, 80.0)
    arm_flexion_deg: tuple[float, float] = (-20.0, 80.0)
    elbow_flexion_deg: tuple[float, float] = (-20.0, 70.0)
    #: how fast a perturbation angle drifts over a window (std, degrees per second)
    pose_drift_deg_per_s: float = 15.0
    mix_prob: float = 0.15
    speed_prob: float = 0.5
    speed_range: tuple[float, float] = (0.5, 2.0)
    reground: bool = True

    def __post_init__(self) -> None:
        from ..core.errors import VideoMocapError

        check_config_ranges(self, "augment")
        if self.speed_range[0] <= 0 or self.height_range_m[0] <= 0:
            raise VideoMocapError("augment.speed_range and augment.height_range_m must be positive.")


def check_config_ranges(config: object, section: str) -> None:
    """Common sanity checks of a config dataclass: ``*_prob`` in [0, 1], (low, high) pairs ordered.

    Raises:
        VideoMocapError: naming the section and the field.
    """
    from dataclasses import fields

    from ..core.errors import VideoMocapError

    for f in fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        if f.name.endswith("_prob") and not 0.0 <= float(value) <= 1.0:
            raise VideoMocapError(f"{section}.{f.name} must be a probability in [0, 1], got {value}.")
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, (int, float)) for v in value)
            and value[0] > value[1]
        ):
            raise VideoMocapError(f"{section}.{f.name} must be (low, high) with low <= high, got {list(value)}.")


# ---------------------------------------------------------------------------------------
# geometry helpers
# ---------------------------------------------------------------------------------------
def _unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(norm, 1e-9)
    if fallback is not None:
        out = np.where(norm > 1e-6, out, fallback)
    return out


def body_axes(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pelvis-based body axes of (..., 17, 3) joints: lateral (to the left), trunk up, forward.

    Returns three (..., 3) unit vectors; forward = lateral x up.
    """
    lateral = _unit(joints[..., J["left_hip"], :] - joints[..., J["right_hip"], :])
    up = joints[..., J["thorax"], :] - joints[..., PELVIS, :]
    up = _unit(up - lateral * np.sum(up * lateral, axis=-1, keepdims=True))
    forward = np.cross(lateral, up)
    return lateral, up, forward


def rotate_about(points: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation of (..., N, 3) points about ``pivot`` (..., 3).

    ``axis``: (..., 3) unit vectors; ``angle``: (...) radians (right-hand rule).
    """
    v = points - pivot[..., None, :]
    k = axis[..., None, :]
    cos = np.cos(angle)[..., None, None]
    sin = np.sin(angle)[..., None, None]
    rotated = v * cos + np.cross(k, v) * sin + k * np.sum(k * v, axis=-1, keepdims=True) * (1.0 - cos)
    return rotated + pivot[..., None, :]


def _subtree(root: int) -> tuple[int, ...]:
    out = [root]
    for child, parent in enumerate(skeleton.PARENTS):
        if parent in out and child not in out:
            out.append(child)
    return tuple(out)


SUBTREE: dict[int, tuple[int, ...]] = {j: _subtree(j) for j in range(skeleton.NUM_JOINTS)}


# ---------------------------------------------------------------------------------------
# body shape
# ---------------------------------------------------------------------------------------
def rebuild_from_bones(joints: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Scale every bone vector and rebuild positions from the pelvis down the tree.

    Args:
        joints: (B, T, 17, 3).
        scales: (B, 16) per-bone factors in ``skeleton.BONES`` order (constant over time),
            or (B, T, 16) per frame.
    Returns:
        (B, T, 17, 3); the pelvis path is unchanged.
    """
    out = joints.copy()
    per_frame = scales if scales.ndim == 3 else scales[:, None, :]
    for bone, (parent, child) in enumerate(skeleton.BONES):
        bone_vector = joints[:, :, child] - joints[:, :, parent]
        out[:, :, child] = out[:, :, parent] + per_frame[:, :, bone, None] * bone_vector
    return out


def sample_bone_scales(batch: int, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """(B, 16) bone factors: per-bone jitter (near-symmetric), hip / shoulder width, limb ratios.

    The two half-trunk bones (pelvis-spine, spine-thorax) share a factor so that the spine
    stays the pelvis-thorax midpoint; the two half-hip and half-shoulder bones share theirs
    so that pelvis and thorax stay midpoints.
    """
    names = {name: _BONE_OF_CHILD[J[name]] for name in skeleton.JOINT_NAMES if name != "pelvis"}
    scales = np.ones((batch, len(skeleton.BONES)))
    pairs = [
        ("right_hip", "left_hip"), ("right_knee", "left_knee"), ("right_ankle", "left_ankle"),
        ("right_shoulder", "left_shoulder"), ("right_elbow", "left_elbow"), ("right_wrist", "left_wrist"),
    ]
    for right, left in pairs:
        base = rng.uniform(1.0 - config.bone_scale, 1.0 + config.bone_scale, batch)
        if right in ("right_hip", "right_shoulder"):
            asym = np.zeros(batch)
        else:
            asym = rng.uniform(-config.bone_asymmetry, config.bone_asymmetry, batch)
        scales[:, names[right]] = base * (1.0 + asym)
        scales[:, names[left]] = base * (1.0 - asym)
    trunk = rng.uniform(1.0 - config.bone_scale, 1.0 + config.bone_scale, batch)
    scales[:, names["spine"]] = trunk
    scales[:, names["thorax"]] = trunk
    for name in ("neck_nose", "head"):
        scales[:, names[name]] = rng.uniform(1.0 - config.bone_scale, 1.0 + config.bone_scale, batch)
    hips = rng.uniform(*config.hip_width, batch)
    shoulders = rng.uniform(*config.shoulder_width, batch)
    for name in ("right_hip", "left_hip"):
        scales[:, names[name]] *= hips
    for name in ("right_shoulder", "left_shoulder"):
        scales[:, names[name]] *= shoulders
    for upper, lower in (("knee", "ankle"), ("elbow", "wrist")):
        ratio = rng.uniform(-config.limb_ratio, config.limb_ratio, batch)
        for side in ("right_", "left_"):
            scales[:, names[side + upper]] *= 1.0 + ratio
            scales[:, names[side + lower]] *= 1.0 - ratio
    return scales


def median_bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(B, T, 17, 3) -> (B, 16) median bone lengths over a few evenly spread frames."""
    step = max(1, joints.shape[1] // HEIGHT_FRAMES)
    return np.median(skeleton.bone_lengths(joints[:, ::step]), axis=1)


_LEG_BONES = [_BONE_OF_CHILD[J[n]] for n in ("right_knee", "right_ankle", "left_knee", "left_ankle")]
_TRUNK_BONES = [_BONE_OF_CHILD[J["spine"]], _BONE_OF_CHILD[J["thorax"]]]
_HIP_BONES = [_BONE_OF_CHILD[J["right_hip"]], _BONE_OF_CHILD[J["left_hip"]]]
_SHOULDER_BONES = [_BONE_OF_CHILD[J["right_shoulder"]], _BONE_OF_CHILD[J["left_shoulder"]]]


def body_size(lengths: np.ndarray) -> np.ndarray:
    """(..., 16) bone lengths -> (...) leg (mean of both) + pelvis-thorax length: a size to compare widths to."""
    return 0.5 * lengths[..., _LEG_BONES].sum(axis=-1) + lengths[..., _TRUNK_BONES].sum(axis=-1)


def width_ratios(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 16) bone lengths -> hip width and shoulder width as fractions of :func:`body_size`."""
    size = body_size(lengths)
    return lengths[..., _HIP_BONES].sum(axis=-1) / size, lengths[..., _SHOULDER_BONES].sum(axis=-1) / size


def clip_width_ratios(lengths: np.ndarray, scales: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """Adjust the hip and shoulder factors of (B, 16) ``scales`` so that the scaled body's widths
    stay within ``config.hip_width_ratio`` / ``config.shoulder_width_ratio`` of its size.

    Args:
        lengths: (B, 16) bone lengths of the windows before scaling.
    Returns:
        (B, 16) adjusted copy of ``scales``.
    """
    out = np.array(scales, dtype=np.float64, copy=True)
    hip, shoulder = width_ratios(lengths * out)
    for bones, ratio, limits in (
        (_HIP_BONES, hip, config.hip_width_ratio),
        (_SHOULDER_BONES, shoulder, config.shoulder_width_ratio),
    ):
        factor = np.clip(ratio, *limits) / np.maximum(ratio, 1e-6)
        out[:, bones] *= factor[:, None]
    return out


def estimate_height(joints: np.ndarray) -> np.ndarray:
    """Standing height (m) of the body in (B, T, 17, 3) windows, from its bone lengths.

    leg (thigh + shin) + pelvis-thorax + thorax-head + ankle above the sole + head top above
    the ear-level head point (median over frames). Returns (B,).
    """
    step = max(1, joints.shape[1] // HEIGHT_FRAMES)
    few = joints[:, ::step]
    bones = np.median(skeleton.bone_lengths(few), axis=1)
    b = _BONE_OF_CHILD
    leg_bones = [b[J[n]] for n in ("right_knee", "right_ankle", "left_knee", "left_ankle")]
    leg = 0.5 * bones[:, leg_bones].sum(axis=1)
    trunk = np.median(np.linalg.norm(few[:, :, J["thorax"]] - few[:, :, PELVIS], axis=-1), axis=1)
    head = np.median(np.linalg.norm(few[:, :, J["head"]] - few[:, :, J["thorax"]], axis=-1), axis=1)
    return leg + trunk + head + ANKLE_ABOVE_SOLE_M + HEAD_TOP_ABOVE_HEAD_POINT_M


def floor_height(joints: np.ndarray) -> np.ndarray:
    """(B, T, 17, 3) -> (B,) floor estimate: the lowest ankle in the window minus the ankle height."""
    return joints[:, :, list(skeleton.FEET), 1].min(axis=(1, 2)) - ANKLE_ABOVE_SOLE_M


def reground(joints: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Shift each frame vertically so its lowest ankle is as high as in ``reference``.

    Keeps foot-floor contacts (and jumps) of the source after bone or pose changes.
    Both (B, T, 17, 3); returns a shifted copy.
    """
    feet = list(skeleton.FEET)
    target = reference[:, :, feet, 1].min(axis=-1)
    current = joints[:, :, feet, 1].min(axis=-1)
    out = joints.copy()
    out[..., 1] += (target - current)[:, :, None]
    return out


# ---------------------------------------------------------------------------------------
# pose
# ---------------------------------------------------------------------------------------
def _smooth_angles(
    rng: np.random.Generator, batch: int, frames: int, low: float, high: float, drift: float
) -> np.ndarray:
    """(B, T) radians: a random angle in [low, high] drifting smoothly (smoothstep) by about
    ``drift`` degrees per second (30 fps) over the window, clipped to the range."""
    a0 = rng.uniform(low, high, batch)
    a1 = np.clip(a0 + rng.normal(0.0, drift * frames / POSE_FPS, batch), low, high)
    s = np.linspace(0.0, 1.0, frames)
    s = s * s * (3.0 - 2.0 * s)
    return np.radians(a0[:, None] + (a1 - a0)[:, None] * s[None, :])


def perturb_pose(joints: np.ndarray, config: AugmentConfig, rng: np.random.Generator, active: np.ndarray) -> np.ndarray:
    """Joint-angle changes through FK on the 17-joint skeleton (sub-chains rotated about a joint).

    Args:
        joints: (B, T, 17, 3) world metres, Y up.
        active: (B,) windows to perturb.
    Returns:
        (B, T, 17, 3); bone lengths are unchanged (rigid rotations of sub-trees).
    """
    out = joints.copy()
    batch, frames = joints.shape[:2]

    def pick() -> np.ndarray:
        return active & (rng.random(batch) < config.pose_part_prob)

    def angles(limits: tuple[float, float]) -> np.ndarray:
        return _smooth_angles(rng, batch, frames, limits[0], limits[1], config.pose_drift_deg_per_s)

    def apply(root: int, pivot: int | np.ndarray, axis: np.ndarray, angle: np.ndarray, mask: np.ndarray) -> None:
        """Rotate the sub-tree of ``root`` about joint ``pivot`` (or (B, T, 3) points) in the windows of ``mask``."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        chain = list(SUBTREE[root])
        sub = out[idx]
        centre = sub[:, :, pivot] if isinstance(pivot, int) else pivot[idx]
        sub[:, :, chain] = rotate_about(sub[:, :, chain], centre, axis[idx], angle[idx])
        out[idx] = sub

    lateral, up, forward = body_axes(out)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hip, knee = J[f"{side}_hip"], J[f"{side}_knee"]
        # legs turn about the hip joint centre, inside the detector's (widened) hip point
        hip_centre = hip_joint_centre(out, hip)
        # hip flexion: thigh forward = rotation about -lateral
        apply(knee, hip_centre, -lateral, angles(config.hip_flexion_deg), pick())
        # hip abduction: left leg to +lateral = +angle about forward (right leg: minus)
        apply(knee, hip_centre, forward, sign * angles(config.hip_abduction_deg), pick())
        # knee flexion: shin backward = +angle about lateral (hinge axis along the pelvis' lateral axis)
        apply(J[f"{side}_ankle"], knee, lateral, angles(config.knee_flexion_deg), pick())
    # squat: both knees bend by the crouch angle, the hips by a share of it (so the shins lean
    # forward), and the trunk leans over the knees; re-grounding then lowers the pelvis
    squat = pick()
    if squat.any():
        crouch = angles(config.squat_deg)
        for side in ("left", "right"):
            hip, knee = J[f"{side}_hip"], J[f"{side}_knee"]
            hip_centre = hip_joint_centre(out, hip)
            apply(knee, hip_centre, -lateral, SQUAT_HIP_SHARE * crouch, squat)
            apply(J[f"{side}_ankle"], knee, lateral, crouch, squat)
        apply(J["spine"], PELVIS, lateral, SQUAT_TRUNK_SHARE * crouch, squat)
    lateral, up, forward = body_axes(out)
    for axis, (low, high) in (
        (lateral, config.spine_lean_deg),
        (forward, (-config.spine_side_deg, config.spine_side_deg)),
        (up, (-config.spine_twist_deg, config.spine_twist_deg)),
    ):
        idx = np.flatnonzero(pick())
        angle = angles((low, high))
        if idx.size:
            chain = list(UPPER_ABOVE_SPINE)
            sub = out[idx]
            sub[:, :, chain] = rotate_about(sub[:, :, chain], sub[:, :, PELVIS], axis[idx], angle[idx])
            out[idx] = sub
    out[:, :, J["spine"]] = 0.5 * (out[:, :, PELVIS] + out[:, :, J["thorax"]])
    lateral, up, forward = body_axes(out)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder, elbow, wrist = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        apply(elbow, shoulder, forward, sign * angles(config.arm_abduction_deg), pick())
        apply(elbow, shoulder, -lateral, angles(config.arm_flexion_deg), pick())
        # elbow hinge: the arm's bending plane (weighted by how bent it is), averaged over the
        # window so it cannot flip between frames; a straight arm falls back to a hinge across
        # the upper arm and the body's forward axis (flexion brings the forearm forward / up)
        upper = _unit(out[:, :, elbow] - out[:, :, shoulder])
        fore = _unit(out[:, :, wrist] - out[:, :, elbow])
        fallback = _unit(np.cross(upper, forward) - ELBOW_HINGE_BIAS * lateral)
        bend = np.cross(upper, fore)
        bend_mean = bend.mean(axis=1, keepdims=True)
        hinge = _unit(bend_mean + ELBOW_HINGE_BIAS * fallback.mean(axis=1, keepdims=True))
        hinge = np.broadcast_to(hinge, upper.shape)
        apply(wrist, elbow, hinge, angles(config.elbow_flexion_deg), pick())
    return out


def hip_joint_centre(joints: np.ndarray, hip: int) -> np.ndarray:
    """(B, T, 17, 3) -> (B, T, 3): the leg's rotation centre, inside the detector's (widened) hip point."""
    pelvis = joints[:, :, PELVIS]
    return pelvis + (joints[:, :, hip] - pelvis) / skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT


def heading(joints: np.ndarray) -> np.ndarray:
    """(B, T, 17, 3) -> (B, T) yaw (rad) of the pelvis' forward direction on the floor."""
    lateral = joints[:, :, J["left_hip"]] - joints[:, :, J["right_hip"]]
    forward = np.cross(lateral, UP)
    return np.arctan2(forward[..., 0], forward[..., 2])


def is_upright(joints: np.ndarray) -> np.ndarray:
    """(B, T, 17, 3) -> (B,) trunk within ``UPRIGHT_MAX_DEG`` of vertical in every frame."""
    trunk = _unit(joints[:, :, J["thorax"]] - joints[:, :, PELVIS])
    return (trunk[..., 1] > np.cos(np.radians(UPRIGHT_MAX_DEG))).all(axis=1)


def mix_upper_lower(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Upper body of ``upper`` on the lower body of ``lower`` (both (B, T, 17, 3)).

    The upper joints are taken relative to their pelvis, turned about the vertical by the
    heading difference, and put on ``lower``'s pelvis. Spine = pelvis-thorax midpoint.
    """
    out = lower.copy()
    turn = heading(lower) - heading(upper)
    rel = upper[:, :, list(UPPER_BODY)] - upper[:, :, PELVIS, None]
    cos, sin = np.cos(turn)[..., None], np.sin(turn)[..., None]
    x = cos * rel[..., 0] + sin * rel[..., 2]
    z = -sin * rel[..., 0] + cos * rel[..., 2]
    out[:, :, list(UPPER_BODY)] = np.stack([x, rel[..., 1], z], axis=-1) + lower[:, :, PELVIS, None]
    out[:, :, J["spine"]] = 0.5 * (out[:, :, PELVIS] + out[:, :, J["thorax"]])
    return out


# ---------------------------------------------------------------------------------------
# joint limits
# ---------------------------------------------------------------------------------------
def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(_unit(a) * _unit(b), axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def joint_limit_violations(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Each limit's (...) bool violation mask for (..., 17, 3) joints (see :func:`check_joint_limits`)."""
    lateral, up, forward = body_axes(joints)
    pelvis, thorax = joints[..., PELVIS, :], joints[..., J["thorax"], :]
    trunk = thorax - pelvis
    out: dict[str, np.ndarray] = {}
    out["non_finite"] = ~np.isfinite(joints).all(axis=(-1, -2))
    out["short_bone"] = (skeleton.bone_lengths(joints) < MIN_BONE_M).any(axis=-1)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hip, knee, ankle = (joints[..., J[f"{side}_{n}"], :] for n in ("hip", "knee", "ankle"))
        thigh, shin = knee - hip, ankle - knee
        flexion = _angle(thigh, shin)
        signed = np.where(np.sum(np.cross(thigh, shin) * lateral, axis=-1) >= 0.0, flexion, -flexion)
        out[f"{side}_knee_flexion"] = flexion > KNEE_MAX_FLEXION_DEG
        out[f"{side}_knee_hyperextension"] = (signed < -KNEE_MAX_HYPEREXTENSION_DEG) & (
            flexion < KNEE_HYPEREXTENSION_JUDGED_BELOW_DEG
        )
        down_c = -np.sum(thigh * up, axis=-1)
        fwd_c = np.sum(thigh * forward, axis=-1)
        out_c = sign * np.sum(thigh * lateral, axis=-1)
        length = np.linalg.norm(thigh, axis=-1) + 1e-9
        sagittal = np.hypot(down_c, fwd_c)
        extension = np.degrees(np.arctan2(-fwd_c, down_c))
        judged = (sagittal > SAGITTAL_MIN_FRACTION * length) & (down_c > 0)
        out[f"{side}_hip_extension"] = judged & (extension > HIP_MAX_EXTENSION_DEG)
        adduction = np.degrees(np.arcsin(np.clip(-out_c / length, -1.0, 1.0)))
        out[f"{side}_hip_adduction"] = adduction > HIP_MAX_ADDUCTION_DEG
        shoulder, elbow, wrist = (joints[..., J[f"{side}_{n}"], :] for n in ("shoulder", "elbow", "wrist"))
        out[f"{side}_elbow_flexion"] = _angle(elbow - shoulder, wrist - elbow) > ELBOW_MAX_FLEXION_DEG
    # trunk against the pelvis: side bend and twist
    hip_line = lateral
    out["spine_side_bend"] = np.abs(90.0 - _angle(trunk, hip_line)) > SPINE_MAX_SIDE_BEND_DEG
    shoulder_line = joints[..., J["left_shoulder"], :] - joints[..., J["right_shoulder"], :]
    axis = _unit(trunk)
    s_proj = shoulder_line - axis * np.sum(shoulder_line * axis, axis=-1, keepdims=True)
    h_proj = hip_line - axis * np.sum(hip_line * axis, axis=-1, keepdims=True)
    out["spine_twist"] = _angle(s_proj, h_proj) > SPINE_MAX_TWIST_DEG
    out["neck_bend"] = _angle(trunk, joints[..., J["head"], :] - thorax) > NECK_MAX_BEND_DEG
    return out


def check_joint_limits(joints: np.ndarray) -> np.ndarray:
    """True where a pose is anatomically possible.

    Args:
        joints: (..., 17, 3) (e.g. (B, T, 17, 3); any frame, any axes: the checks use the
            body's own axes from the pelvis and thorax).
    Returns:
        (...) bool: knee flexion <= 168 deg (a deep squat reaches ~165) and hyperextension <= 15 deg, elbow flexion
        <= 165 deg, hip extension <= 60 deg and adduction <= 45 deg, spine side bend
        <= 50 deg and twist <= 70 deg against the pelvis, head within 80 deg of the trunk
        axis, no bone shorter than 2 cm, finite values.
    """
    violations = joint_limit_violations(joints)
    bad = np.zeros(np.shape(joints)[:-2], dtype=bool)
    for mask in violations.values():
        bad |= mask
    return ~bad
