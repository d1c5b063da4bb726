"""3D joints -> a constant-length H36M armature's rotations (pure numpy / scipy, no bpy).

The armature (:data:`BONE_NAMES`): one bone per H36M joint, bone ``j`` ends at joint ``j``
and its parent is the bone ending at the joint's parent, so bone indices, joint indices and
``skeleton.PARENTS`` coincide. Bone 0, ``pelvis``, is the root: head at the pelvis joint,
:data:`ROOT_BONE_LENGTH_M` long, pointing up; the hips and the spine hang off its head.

=====  ============  ========================  ====================================
 bone  name          head -> tail (joints)     rotation from
=====  ============  ========================  ====================================
  0    pelvis        pelvis -> (up)            pelvis frame: hip line + spine
 1/4   hip.R/.L      pelvis -> hip             rigid with the pelvis
 2/5   thigh.R/.L    hip -> knee               swing + twist from the knee bend plane
 3/6   shin.R/.L     knee -> ankle             swing from the thigh (a hinge)
  7    spine         pelvis -> spine           swing from the pelvis
  8    chest         spine -> thorax           chest frame: shoulder line + spine
  9    neck          thorax -> nose            swing from the chest
 10    head          nose -> crown             swing from the neck (rest on it while the
                                                2D lost the head for long)
11/14  shoulder.L/R  thorax -> shoulder        swing from the chest
12/15  upper_arm     shoulder -> elbow         swing + twist from the elbow bend plane
13/16  forearm       elbow -> wrist            swing from the upper arm (a hinge)
=====  ============  ========================  ====================================

The head bone ends at the crown, built above the motion's ear-level head joint (:func:`with_crown`):
``joints_world`` joint 10 is that crown, the top of the skull, not the detector's head point.

Rest pose: a T-pose built from the clip's robust (median, left/right averaged) bone
lengths, facing -Y, Z up, ankles :data:`~.world.ANKLE_HEIGHT_M` above the floor; the neck
and head rest directions are the clip's median directions in the chest frame, so that a
neutral head is at rest; their lengths stay within anatomical bounds of the torso
(:data:`FACE_BONE_BOUNDS`). A face joint the 2D stage missed for longer than ``max_gap_frames``
(score 0 in ``Motion3D.scores``) keeps its bone's rest orientation on its parent
(:func:`long_missing`), never pointing at what the lifter made of it. A variable-frame-rate
motion (``Motion3D.times_s``) is resampled to a constant rate before the solve (:func:`keyed_times`). Each bone's rest axes (Blender's bone matrix) are: Y along the
bone, Z towards -Y (forward) for vertical bones and towards +Z for the others
(:func:`rest_axes`).

Pipeline of :func:`solve`: camera -> world (``world.py``) -> smoothing (``filters.py``) -> the
crown -> constant bone lengths -> foot contacts and locking with an analytic two-bone leg
(``footlock.py``) -> per-bone rotations -> forward kinematics. ``joints_world`` is the
forward kinematics of the result, i.e. exactly what the armature shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import VideoMocapError
from ..core import skeleton
from ..core.camera import to_first_camera
from ..core.formats import CAMERA_ROTATION, MAX_GAP_FRAMES, ROOT_DEPTH_SCALE, Motion3D
from ..core import filters
from . import footlock
from .world import ANKLE_HEIGHT_M, WorldTransform, camera_to_world

log = logging.getLogger(__name__)

J = skeleton.JOINT_INDEX
BONE_NAMES: tuple[str, ...] = (
    "pelvis",
    "hip.R",
    "thigh.R",
    "shin.R",
    "hip.L",
    "thigh.L",
    "shin.L",
    "spine",
    "chest",
    "neck",
    "head",
    "shoulder.L",
    "upper_arm.L",
    "forearm.L",
    "shoulder.R",
    "upper_arm.R",
    "forearm.R",
)
BONE_INDEX: dict[str, int] = {name: i for i, name in enumerate(BONE_NAMES)}
PARENTS: tuple[int, ...] = skeleton.PARENTS
ROOT_BONE_LENGTH_M = 0.1

UP = np.array([0.0, 0.0, 1.0])
FORWARD = np.array([0.0, -1.0, 0.0])
LEFT = np.array([1.0, 0.0, 0.0])
#: rest directions (T-pose facing -Y); neck/head are replaced by the clip's median
REST_DIRECTIONS: dict[str, np.ndarray] = {
    "pelvis": UP,
    "hip.R": -LEFT,
    "thigh.R": -UP,
    "shin.R": -UP,
    "hip.L": LEFT,
    "thigh.L": -UP,
    "shin.L": -UP,
    "spine": UP,
    "chest": UP,
    "neck": UP,
    "head": UP,
    "shoulder.L": LEFT,
    "upper_arm.L": LEFT,
    "forearm.L": LEFT,
    "shoulder.R": -LEFT,
    "upper_arm.R": -LEFT,
    "forearm.R": -LEFT,
}
#: twist-carrying limb bone -> (child bone, rest hinge axis of the joint between them):
#: the axis about which the child bends forward (knee: shin goes back; elbow: forearm forward)
LIMB_HINGES: dict[str, tuple[str, np.ndarray]] = {
    "thigh.R": ("shin.R", LEFT),
    "thigh.L": ("shin.L", LEFT),
    "upper_arm.L": ("forearm.L", -UP),
    "upper_arm.R": ("forearm.R", UP),
}
#: sine of the bend angle below which the limb twist comes from the parent only, and above
#: which it comes from the bend plane only (smooth blend in between)
BEND_SIN_PARENT = 0.12
BEND_SIN_PLANE = 0.35
#: bones whose left/right lengths are averaged
SYMMETRIC_BONES = (("hip.R", "hip.L"), ("thigh.R", "thigh.L"), ("shin.R", "shin.L"),
                   ("shoulder.R", "shoulder.L"), ("upper_arm.R", "upper_arm.L"), ("forearm.R", "forearm.L"))
#: vertical-ness above which a bone's rest Z axis points forward instead of up
VERTICAL_COS = 0.7
#: the face bones: each ends at a joint that the 2D stage may miss for long stretches (a head in
#: profile, a back view); there the bone keeps its rest orientation relative to its parent
FACE_BONES = ("neck", "head")
#: the crown (top of the skull) above the nose along the skull's up axis, as a fraction of the torso
#: (pelvis -> spine -> thorax): adult anthropometry puts the vertex about 12-13 cm above the tip of the
#: nose, and the detector's torso measures 0.46 m (``training/jointmaps/detector_skeleton.json``)
CROWN_ABOVE_NOSE_TORSO = 0.27
#: the skull's up axis comes from the face (nose -> eye-ear point) where the face direction is at
#: least this far (sine) from the neck axis, from the neck axis alone where the face lies along it
#: (a nose the lifter put on the head's axis), blended in between
FACE_AXIS_SIN = (0.3, 0.6)
#: seconds over which the trend of a lifted skeleton's size is fitted (:func:`size_factors`): longer
#: than a gait cycle, whose wobble it removes
SIZE_WINDOW_S = 1.0
#: anatomical bounds of the face bones' lengths, as a fraction of the torso (pelvis -> spine ->
#: thorax). Detector semantics (nose; the head bone ends at the crown built above the ear-level
#: head joint, :func:`with_crown`): the detector's triangulated skeleton has a neck (thorax -> nose)
#: of 0.51 of the torso, the calibrated HDM05 clips neck 0.39-0.57 and head 0.32-0.38; the bounds
#: leave room for lifter error and keep a head the 2D lost from coming out as long as an arm.
FACE_BONE_BOUNDS: dict[str, tuple[float, float]] = {"neck": (0.18, 0.65), "head": (0.15, 0.5)}
EPS = 1e-9


@dataclass
class SolveConfig:
    """Options of :func:`solve`."""

    smoothing: float = 0.5  # 0 = off .. 1 = strong
    smoothing_method: str = filters.DEFAULT_METHOD  # "savgol" or "one_euro"
    foot_lock: bool = True
    scene_fps: float | None = None  # map clip fps to the scene's; None = keep clip fps
    frame_offset: int = 1  # scene frame of the first clip frame
    face: str = "-Y"  # subject's initial facing in Blender ("-Y" front view, "+Y", "+X", "-X", "camera")
    #: a face joint (nose, head) missing in the 2D (score 0) for more frames than this (the 2D
    #: stage's ``--max-gap``, the same default) keeps its bone's rest orientation relative to the parent bone
    max_gap_frames: int = MAX_GAP_FRAMES


@dataclass
class SolvedMotion:
    """The solved armature motion (Blender world: Z up, metres; bone order :data:`BONE_NAMES`).

    rest_heads, rest_tails: (J, 3) rest (T-pose) bone heads/tails.
    rotations: (T, J, 4) local pose quaternions (w, x, y, z) of each bone relative to its rest,
        in the bone's rest axes (Blender's ``pose_bone.rotation_quaternion``), sign-continuous.
    root_world: (T, 3) pelvis position (the root bone's head).
    joints_world: (T, 17, 3) the armature's joints (forward kinematics of the above).
    frames: (T,) scene frame numbers (float when the clip and scene fps differ). A
        variable-frame-rate motion (``Motion3D.times_s`` off a constant grid) is resampled
        to a constant rate first, so T is then the number of keys, not of video frames;
        ``info["times_s"]`` holds the video time (s) of each key.
    contacts: (T, 2) bool planted flags of (left, right) ankle (``skeleton.FEET`` order).
    """

    bone_names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_heads: np.ndarray
    rest_tails: np.ndarray
    rotations: np.ndarray
    root_world: np.ndarray
    joints_world: np.ndarray
    frames: np.ndarray
    fps: float
    contacts: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])

    def validate(self) -> None:
        """Raise :class:`VideoMocapError` when the motion is empty, mis-shaped or not finite."""
        n = len(self.bone_names)
        t = self.rotations.shape[0] if self.rotations.ndim == 3 else -1
        if t < 1:
            raise VideoMocapError("The solved motion is empty (no frames); nothing to write.")
        checks = {
            "rest_heads": (self.rest_heads, (n, 3)),
            "rest_tails": (self.rest_tails, (n, 3)),
            "rotations": (self.rotations, (t, n, 4)),
            "root_world": (self.root_world, (t, 3)),
            "frames": (self.frames, (t,)),
        }
        for name, (arr, shape) in checks.items():
            arr = np.asarray(arr)
            if arr.shape != shape:
                raise VideoMocapError(f"Solved motion: '{name}' must have shape {shape}, got {arr.shape}.")
            if not np.isfinite(arr).all():
                raise VideoMocapError(
                    f"Solved motion: '{name}' holds NaN or infinite values; re-run the lifter and the solve."
                )
        if len(self.parents) != n:
            raise VideoMocapError(f"Solved motion: {len(self.parents)} parents for {n} bones.")
        if not self.fps > 0:
            raise VideoMocapError(f"Solved motion: fps must be positive, got {self.fps}.")


# ---------------------------------------------------------------------------------------
# rotation helpers (batched)
# ---------------------------------------------------------------------------------------
def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), EPS)


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(..., 3) unit axes and (...) angles -> (..., 3, 3) rotations (Rodrigues)."""
    k = _skew(axis)
    s = np.sin(angle)[..., None, None]
    c = np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) smallest rotations taking unit vectors ``a`` onto ``b`` (both (..., 3))."""
    a, b = _normalize(a), _normalize(b)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    k = _skew(v)
    denom = np.maximum(1.0 + c, EPS)[..., None, None]
    out = np.eye(3) + k + (k @ k) / denom
    opposite = c < -1.0 + 1e-6
    if np.any(opposite):  # half turn about an axis perpendicular to a
        ref = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
        axis = _normalize(np.cross(a, ref))
        half = 2.0 * axis[..., :, None] * axis[..., None, :] - np.eye(3)
        out = np.where(opposite[..., None, None], half, out)
    return out


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 4) quaternions (w, x, y, z), w >= 0."""
    from scipy.spatial.transform import Rotation

    shape = m.shape[:-2]
    xyzw = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat()
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1).reshape(shape + (4,))
    return q


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3, 3) rotations."""
    q = _normalize(np.asarray(q, dtype=np.float64))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def make_continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs along axis 0 of (T, ..., 4) so that dot(q_t, q_{t-1}) >= 0."""
    q = np.array(q, dtype=np.float64, copy=True)
    if q.shape[0] < 2:
        return q
    # flipping q_t flips its dot with both neighbours: the sign of frame t is the running
    # product of the signs of the original consecutive dots
    steps = np.where(np.sum(q[1:] * q[:-1], axis=-1) < 0.0, -1.0, 1.0)
    signs = np.concatenate([np.ones((1,) + steps.shape[1:]), np.cumprod(steps, axis=0)], axis=0)
    return q * signs[..., None]


def rest_axes(heads: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """(J, 3, 3) rest axes of each bone (columns x, y, z; y along the bone), see module doc."""
    y = _normalize(np.asarray(tails, dtype=np.float64) - np.asarray(heads, dtype=np.float64))
    ref = np.where(np.abs(y[:, 2:3]) > VERTICAL_COS, FORWARD, UP)
    z = _normalize(ref - np.sum(ref * y, axis=-1, keepdims=True) * y)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=-1)


# ---------------------------------------------------------------------------------------
# skeleton from joints
# ---------------------------------------------------------------------------------------
def rig_bone_lengths(joints: np.ndarray) -> np.ndarray:
    """The armature's constant bone lengths from (T, 17, 3) joints: (J,) per-bone medians over the
    frames, left and right averaged, one per ``BONE_NAMES`` (bone 0, the root, gets
    :data:`ROOT_BONE_LENGTH_M`). Per-frame lengths of the skeleton's bones: ``skeleton.bone_lengths``.
    """
    lengths = np.zeros(len(BONE_NAMES))
    lengths[0] = ROOT_BONE_LENGTH_M
    for j in range(1, len(BONE_NAMES)):
        lengths[j] = np.median(np.linalg.norm(joints[:, j] - joints[:, PARENTS[j]], axis=-1))
    for right, left in SYMMETRIC_BONES:
        r, l = BONE_INDEX[right], BONE_INDEX[left]
        lengths[r] = lengths[l] = 0.5 * (lengths[r] + lengths[l])
    return lengths


def _frame(left_to_right_minus: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 3) left axis and up hint -> (T, 3, 3) right-handed frames [x=left, y=back, z=up]."""
    x = _normalize(left_to_right_minus)
    z = _normalize(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def global_deltas(joints: np.ndarray, rest_dirs: np.ndarray, follow: np.ndarray | None = None) -> np.ndarray:
    """World delta rotations (T, J, 3, 3): bone rest orientation -> posed orientation.

    Args:
        joints: (T, 17, 3) target joints (Z up).
        rest_dirs: (J, 3) unit rest directions of the bones.
        follow: optional (T, J) bool: where True the bone follows its parent (local rotation =
            rest), whatever its target (a joint the 2D lost for long).
    """
    p = np.asarray(joints, dtype=np.float64)
    t = p.shape[0]
    d = np.zeros((t, len(BONE_NAMES), 3, 3))
    dirs = np.zeros((t, len(BONE_NAMES), 3))
    for j in range(1, len(BONE_NAMES)):
        dirs[:, j] = _normalize(p[:, j] - p[:, PARENTS[j]])
    pelvis = _frame(p[:, J["left_hip"]] - p[:, J["right_hip"]], p[:, J["spine"]] - p[:, J["pelvis"]])
    chest = _frame(p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]], p[:, J["thorax"]] - p[:, J["spine"]])

    def swing_from(parent: np.ndarray, j: int) -> np.ndarray:
        return swing(parent @ rest_dirs[j], dirs[:, j]) @ parent

    for j, name in enumerate(BONE_NAMES):
        parent = d[:, PARENTS[j]] if j > 0 else None
        if name == "pelvis":
            d[:, j] = pelvis
        elif name.startswith("hip."):
            d[:, j] = parent
        elif name == "chest":
            d[:, j] = swing(chest @ rest_dirs[j], dirs[:, j]) @ chest
        elif name in LIMB_HINGES:
            child, hinge_rest = LIMB_HINGES[name]
            base = swing_from(parent, j)
            bone_dir = dirs[:, j]
            bend = np.cross(bone_dir, dirs[:, BONE_INDEX[child]])
            bend_sin = np.linalg.norm(bend, axis=-1)
            hinge = _normalize(bend)
            hinge_now = base @ hinge_rest
            angle = np.arctan2(
                np.sum(np.cross(hinge_now, hinge) * bone_dir, axis=-1), np.sum(hinge_now * hinge, axis=-1)
            )
            weight = np.clip((bend_sin - BEND_SIN_PARENT) / (BEND_SIN_PLANE - BEND_SIN_PARENT), 0.0, 1.0)
            weight = weight * weight * (3.0 - 2.0 * weight)
            d[:, j] = axis_angle_matrix(bone_dir, weight * angle) @ base
        else:
            d[:, j] = swing_from(parent, j)
        if follow is not None and j > 0 and follow[:, j].any():
            d[follow[:, j], j] = parent[follow[:, j]]
    return d


def rest_pose(lengths: np.ndarray, rest_dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(J, 3) rest heads and tails of the T-pose standing on the floor."""
    leg = lengths[BONE_INDEX["thigh.L"]] + lengths[BONE_INDEX["shin.L"]]
    heads = np.zeros((len(BONE_NAMES), 3))
    tails = np.zeros((len(BONE_NAMES), 3))
    heads[0] = [0.0, 0.0, leg + ANKLE_HEIGHT_M]
    tails[0] = heads[0] + rest_dirs[0] * lengths[0]
    for j in range(1, len(BONE_NAMES)):
        p = PARENTS[j]
        heads[j] = heads[0] if p == 0 else tails[p]
        tails[j] = heads[j] + rest_dirs[j] * lengths[j]
    return heads, tails


def forward_kinematics(
    deltas: np.ndarray, root: np.ndarray, rest_heads: np.ndarray, rest_tails: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Posed heads and tails (T, J, 3) from world deltas (T, J, 3, 3) and root heads (T, 3)."""
    t = deltas.shape[0]
    heads = np.zeros((t, len(BONE_NAMES), 3))
    tails = np.zeros_like(heads)
    heads[:, 0] = root
    for j in range(len(BONE_NAMES)):
        p = PARENTS[j]
        if p >= 0:
            heads[:, j] = heads[:, p] + np.einsum("tij,j->ti", deltas[:, p], rest_heads[j] - rest_heads[p])
        tails[:, j] = heads[:, j] + np.einsum("tij,j->ti", deltas[:, j], rest_tails[j] - rest_heads[j])
    return heads, tails


def joints_from_pose(heads: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """(T, J, 3) posed bone heads/tails -> (T, 17, 3) joints (joint j = tail of bone j, pelvis = root head)."""
    joints = tails.copy()
    joints[:, 0] = heads[:, 0]
    return joints


def local_rotations(deltas: np.ndarray, rest_heads: np.ndarray, rest_tails: np.ndarray) -> np.ndarray:
    """(T, J, 4) continuous local quaternions: ``Rest_j^T D_parent^T D_j Rest_j``."""
    axes = rest_axes(rest_heads, rest_tails)
    parent_d = np.concatenate([np.broadcast_to(np.eye(3), deltas[:, :1].shape), deltas[:, list(PARENTS[1:])]], axis=1)
    axes_t = np.swapaxes(axes, -1, -2)
    local = axes_t @ np.swapaxes(parent_d, -1, -2) @ deltas @ axes  # (T, J, 3, 3), broadcast over T
    return make_continuous(matrix_to_quat(local))


def deltas_from_rotations(rotations: np.ndarray, rest_heads: np.ndarray, rest_tails: np.ndarray) -> np.ndarray:
    """Inverse of :func:`local_rotations`: (T, J, 4) local quaternions -> (T, J, 3, 3) world deltas."""
    axes = rest_axes(rest_heads, rest_tails)
    local = quat_to_matrix(rotations)
    deltas = np.zeros(local.shape)
    for j, p in enumerate(PARENTS):
        own = axes[j] @ local[:, j] @ axes[j].T
        deltas[:, j] = own if p < 0 else deltas[:, p] @ own
    return deltas


# ---------------------------------------------------------------------------------------
# the solve
# ---------------------------------------------------------------------------------------
def _neck_head_rest(joints: np.ndarray, follow: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Median directions of the neck and head bones in the chest frame (rest = chest frame identity),
    over the frames where the bone's joint is seen (``follow`` False; all frames if none is)."""
    p = joints
    chest = _frame(p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]], p[:, J["thorax"]] - p[:, J["spine"]])
    out = {}
    for name in FACE_BONES:
        j = BONE_INDEX[name]
        local = np.einsum("tji,tj->ti", chest, _normalize(p[:, j] - p[:, PARENTS[j]]))
        seen = np.ones(len(p), dtype=bool) if follow is None or follow[:, j].all() else ~follow[:, j]
        med = np.median(local[seen], axis=0)
        out[name] = med / np.linalg.norm(med) if np.linalg.norm(med) > 1e-6 else UP
    return out


def face_bone_lengths(joints: np.ndarray, lengths: np.ndarray, follow: np.ndarray | None = None) -> np.ndarray:
    """``lengths`` with the face bones' (:data:`FACE_BONES`) set to their median over the frames
    where their joint is seen, clamped to :data:`FACE_BONE_BOUNDS` of the torso length."""
    out = np.array(lengths, dtype=np.float64, copy=True)
    torso = out[BONE_INDEX["spine"]] + out[BONE_INDEX["chest"]]
    for name in FACE_BONES:
        j = BONE_INDEX[name]
        if follow is not None and not follow[:, j].all():
            seen = ~follow[:, j]
            out[j] = np.median(np.linalg.norm(joints[seen, j] - joints[seen, PARENTS[j]], axis=-1))
        low, high = FACE_BONE_BOUNDS[name]
        out[j] = float(np.clip(out[j], low * torso, high * torso))
    return out


def long_missing(scores: np.ndarray | None, num_frames: int, max_gap: int) -> np.ndarray | None:
    """(T, J) bool: the face bones whose joint is missing (score 0) for more than ``max_gap``
    frames in a row, from the 2D scores (T, 17); None without scores."""
    if scores is None:
        return None
    scores = np.asarray(scores)
    if scores.shape != (num_frames, skeleton.NUM_JOINTS):
        return None
    out = np.zeros((num_frames, len(BONE_NAMES)), dtype=bool)
    for name in FACE_BONES:
        j = BONE_INDEX[name]
        missing = np.concatenate([[False], scores[:, j] <= 0.0, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(missing))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a > max_gap:
                out[a:b, j] = True
    # a bone whose parent follows its parent follows too (the head of a missing nose)
    out[:, BONE_INDEX["head"]] |= out[:, BONE_INDEX["neck"]]
    return out


def with_crown(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) joints with the head joint moved from the detector's eye-ear point up to the
    crown, so that the head bone (nose -> crown) rises along the skull as a rig's head does.

    The detector's head point sits level with the nose and about 6 cm behind it: a bone from the
    nose to it runs backwards, and a rig's head turned along it would tip below the neck. The skull's
    up axis is the neck axis (thorax -> head point) made perpendicular to the face direction (head
    point -> nose), so that a nod tips the crown forward; where the face direction lies along the
    neck axis (:data:`FACE_AXIS_SIN`) the neck axis alone is used. The crown stands
    :data:`CROWN_ABOVE_NOSE_TORSO` of the clip's median torso above the nose along that axis: the head
    point moves up by that height less its own median height above the nose, so a head joint already
    near the top of the head (weights trained before the detector's skeleton, issue 23) moves less.
    """
    out = np.array(joints, dtype=np.float64, copy=True)
    head, nose, thorax = out[:, J["head"]], out[:, J["neck_nose"]], out[:, J["thorax"]]
    neck_axis = _normalize(head - thorax)
    face = _normalize(nose - head)
    along = np.sum(neck_axis * face, axis=-1, keepdims=True)
    face_up = _normalize(neck_axis - along * face)
    low, high = FACE_AXIS_SIN
    weight = np.clip((np.sqrt(np.maximum(1.0 - along**2, 0.0)) - low) / (high - low), 0.0, 1.0)
    up = _normalize(weight * face_up + (1.0 - weight) * neck_axis)
    torso = np.median(np.linalg.norm(out[:, J["spine"]] - out[:, J["pelvis"]], axis=-1)
                      + np.linalg.norm(out[:, J["thorax"]] - out[:, J["spine"]], axis=-1))
    above_nose = float(np.median(np.sum((head - nose) * up, axis=-1)))
    out[:, J["head"]] = head + max(CROWN_ABOVE_NOSE_TORSO * torso - above_nose, 0.0) * up
    return out


def _constant_length_joints(targets: np.ndarray, rest_dirs: np.ndarray, lengths: np.ndarray,
                            follow: np.ndarray | None = None):
    rest_heads, rest_tails = rest_pose(lengths, rest_dirs)
    deltas = global_deltas(targets, rest_dirs, follow)
    heads, tails = forward_kinematics(deltas, targets[:, 0], rest_heads, rest_tails)
    return joints_from_pose(heads, tails), deltas, rest_heads, rest_tails


#: a clip is keyed on its own frames when every frame interval is ``1 / fps`` up to this
#: fraction of a frame; otherwise (variable frame rate, dropped frames) the motion is resampled
#: to a constant ``fps``, so that every key is one frame (a BVH has one frame time)
UNIFORM_TIMING_TOLERANCE = 0.25


def keyed_times(times_s: np.ndarray, fps: float) -> np.ndarray | None:
    """The constant-rate times (s) to key a variable-frame-rate clip at, or None when its
    frames are already ``1 / fps`` apart (keyed as they are).

    Args:
        times_s: (T,) strictly increasing seconds of the motion's frames.
        fps: the clip's rate (for a variable-rate clip: its median frame interval's).
    Returns:
        (K,) times ``t0 + k / fps`` covering ``[t0, t_end]``, or None.
    """
    times = np.asarray(times_s, dtype=np.float64)
    if times.size < 2:
        return None
    if np.all(np.abs(np.diff(times) * fps - 1.0) < UNIFORM_TIMING_TOLERANCE):
        return None
    count = int(np.floor((times[-1] - times[0]) * fps + 1e-6)) + 1
    return times[0] + np.arange(count) / fps


def resample(values: np.ndarray, times_s: np.ndarray, new_times_s: np.ndarray) -> np.ndarray:
    """Linear interpolation in time of (T, ...) ``values`` at ``times_s`` onto ``new_times_s``."""
    flat = np.asarray(values, dtype=np.float64).reshape(len(times_s), -1)
    out = np.stack([np.interp(new_times_s, times_s, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape((len(new_times_s),) + np.shape(values)[1:])


def _scene_frames(motion: Motion3D, config: SolveConfig) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Scene frames of the keys, the constant-rate times they sample (None: the motion's own
    frames), and the scene fps. A frame at time ``t`` goes to ``offset + (t - t0) * scene_fps``."""
    idx = motion.frame_indices
    if len(idx) > 1 and np.any(np.diff(idx) <= 0):
        raise VideoMocapError("3D motion: frame_indices must increase strictly; re-run the lifter.")
    fps = float(config.scene_fps) if config.scene_fps else float(motion.fps)
    if not fps > 0:
        raise VideoMocapError(f"Scene fps must be positive, got {config.scene_fps}.")
    times = motion.frame_times()
    # only measured timestamps are resampled (a motion without them keeps its frame-index keying)
    grid = None if motion.times_s is None else keyed_times(times, float(motion.fps))
    keyed = times if grid is None else grid
    frames = config.frame_offset + (keyed - keyed[0]) * fps
    return frames, grid, fps


def size_factors(joints_rel: np.ndarray, fps: float) -> np.ndarray:
    """(T,) per-frame factors that take the lifter's fast size wobble out of a skeleton.

    A person keeps one size, but a lifter's skeleton grows and shrinks from frame to frame (its bone
    lengths vary by 8-17 % on real video, often in step with the gait), and the root fit turns each
    change of size into a change of distance (``inference.trajectory``: a 10 % larger skeleton is
    placed 10 % farther away), so the person bobs towards the camera and back with each step.
    Scaling a frame's camera-space skeleton about the camera centre changes nothing in the image, so
    these factors only move the depth.

    The factor brings each frame's size (the sum of its bone lengths) to the local trend of the size,
    a straight line fitted over :data:`SIZE_WINDOW_S` around the frame: the wobble goes, a slow change
    stays. Measured with the shipped weights before issue 23's (distance to the camera against the
    triangulation): on the Pose2Sim multi-person views (``bench/bench_one_floor.py``, after the shared
    floor) median error 0.22 m with the trend, 0.37 m with the clip's one median size, 0.33 m without
    factors; on the balance clip's 4 views the root error is the same within 0.01 m either way.

    Args:
        joints_rel: (T, 17, 3) root-relative joints (metres).
        fps: the motion's frame rate (the window is in seconds).
    Returns:
        (T,) factors, 1 for a skeleton of constant size.
    """
    size = skeleton.bone_lengths(np.asarray(joints_rel, dtype=np.float64)).sum(axis=-1)
    window = int(round(SIZE_WINDOW_S * fps)) | 1
    return filters.savgol(size, window, polyorder=1) / np.maximum(size, EPS)


def camera_joints(motion: Motion3D) -> np.ndarray:
    """(T, 17, 3) absolute camera-space joints of a motion (OpenCV axes, metres): each frame brought to
    the local trend of its skeleton's size about the camera centre (:func:`size_factors`), the root scaled by
    its depth scale when it has one (one of several people: on the shared floor), and a panning
    camera's frames turned into the axes of the frame its rotations are relative to."""
    joints_rel = np.asarray(motion.joints3d, dtype=np.float64)
    factors = size_factors(joints_rel, float(motion.fps))[:, None, None]
    depth_scale = float(np.asarray(motion.extras.get(ROOT_DEPTH_SCALE, 1.0)))
    cam = factors * (joints_rel + depth_scale * np.asarray(motion.root, dtype=np.float64)[:, None, :])
    if CAMERA_ROTATION in motion.extras:  # a panning camera: every frame into the first frame's camera axes
        cam = to_first_camera(cam, motion.extras[CAMERA_ROTATION])
    return cam


def solve(motion: Motion3D, config: SolveConfig | None = None, world: WorldTransform | None = None) -> SolvedMotion:
    """Solve the armature motion of a lifted 3D motion.

    Args:
        motion: the 3D motion (``joints3d`` (T, 17, 3) root-relative, ``root`` (T, 3), camera axes).
        config: options (defaults: medium Savitzky-Golay smoothing, foot locking, facing -Y).
        world: the camera -> world transform to use (several people of one shot share one:
            :func:`~.world.shared_world`); None = fitted to this motion (:func:`~.world.camera_to_world`).
    Raises:
        VideoMocapError: empty or non-finite motion, bad options.
    """
    config = config or SolveConfig()
    joints3d = np.asarray(motion.joints3d, dtype=np.float64)
    root = np.asarray(motion.root, dtype=np.float64)
    if joints3d.ndim != 3 or joints3d.shape[0] < 1 or joints3d.shape[1:] != (skeleton.NUM_JOINTS, 3):
        raise VideoMocapError(f"3D motion: expected (T, 17, 3) joints with T >= 1, got {joints3d.shape}.")
    if not (np.isfinite(joints3d).all() and np.isfinite(root).all()):
        raise VideoMocapError("3D motion holds NaN or infinite values; re-run the lifter on a valid 2D track.")
    frames, grid, fps = _scene_frames(motion, config)

    cam = camera_joints(motion)
    if world is None:
        world = camera_to_world(cam, face=config.face)
    raw = world.apply(cam)  # (T, 17, 3)
    follow = long_missing(motion.scores, len(raw), config.max_gap_frames)
    if grid is not None:  # variable frame rate: the lifted frames, each at its own time, onto a constant rate
        log.info("variable frame rate: %d frames resampled to %d keys at %.3f fps", len(raw), len(grid), motion.fps)
        if follow is not None:
            follow = resample(follow.astype(np.float64), motion.frame_times(), grid) > 0.5
        raw = resample(raw, motion.frame_times(), grid)
    targets = with_crown(filters.smooth(raw, float(motion.fps), config.smoothing, config.smoothing_method))

    lengths = rig_bone_lengths(targets)
    if np.any(lengths[1:] < 1e-4):
        raise VideoMocapError("3D motion has zero-length bones (joints on top of each other); it cannot be rigged.")
    lengths = face_bone_lengths(targets, lengths, follow)
    rest_dirs = np.stack([REST_DIRECTIONS[name] for name in BONE_NAMES])
    for name, direction in _neck_head_rest(targets, follow).items():
        rest_dirs[BONE_INDEX[name]] = direction
    fixed, deltas, rest_heads, rest_tails = _constant_length_joints(targets, rest_dirs, lengths, follow)

    feet = list(skeleton.FEET)
    contacts = footlock.detect_contacts(fixed[:, feet], float(motion.fps))
    # a foot the camera sees sliding (a skater's glide) is not planted, however slow next to the other
    contacts = footlock.drop_visible_slides(fixed[:, feet], contacts, world.translation)
    if config.foot_lock and contacts.any():
        locked, weights = footlock.lock_targets(fixed[:, feet], contacts)
        knees = [PARENTS[ankle] for ankle in feet]
        hips = [PARENTS[knee] for knee in knees]
        reach = lengths[knees] + lengths[feet]
        # the hips follow a planted foot the fitted root ran away from, so it does not slide
        fixed = fixed + footlock.reach_offsets(fixed[:, hips], locked, weights, reach)[:, None, :]
        # a pin still a little out of reach: the heel comes up rather than the foot sliding towards the hip
        locked = footlock.lift_out_of_reach(fixed[:, hips], locked, weights, reach)
        targets = fixed.copy()
        for k, (ankle, knee, hip) in enumerate(zip(feet, knees, hips)):
            new_knee, reached = footlock.two_bone_ik(
                fixed[:, hip], locked[:, k], fixed[:, knee], lengths[knee], lengths[ankle]
            )
            targets[:, knee], targets[:, ankle] = new_knee, reached
        fixed, deltas, rest_heads, rest_tails = _constant_length_joints(targets, rest_dirs, lengths, follow)

    rotations = local_rotations(deltas, rest_heads, rest_tails)
    camera = camera_path(world, motion, grid)
    log.info(
        "solved %d frames: ground tilt %.1f deg, %d/%d contact frames (left/right)",
        len(frames), world.ground_tilt_deg, int(contacts[:, 0].sum()), int(contacts[:, 1].sum()),
    )
    return SolvedMotion(
        bone_names=BONE_NAMES,
        parents=PARENTS,
        rest_heads=rest_heads,
        rest_tails=rest_tails,
        rotations=rotations,
        root_world=fixed[:, 0].copy(),
        joints_world=fixed,
        frames=frames,
        fps=fps,
        contacts=contacts,
        info={"ground_tilt_deg": world.ground_tilt_deg, "bone_lengths": lengths,
              "times_s": motion.frame_times() if grid is None else grid, "camera": camera},
    )


def camera_path(world: WorldTransform, motion: Motion3D, grid: np.ndarray | None) -> dict:
    """The footage's camera in the solved world, per key (``SolvedMotion.info["camera"]``).

    Returns: ``rotations`` (K, 3, 3) each key's camera axes (OpenCV: x right, y down, z forward)
    in the world, ``position`` (3,) its centre, ``moving`` (the motion held a camera rotation), and
    ``focal_px``, ``width``, ``height`` when the motion file records the camera it was fitted with.
    """
    per_frame = motion.extras.get(CAMERA_ROTATION)
    frames = len(motion.frame_indices)
    per_frame = np.tile(np.eye(3), (frames, 1, 1)) if per_frame is None else np.asarray(per_frame, dtype=np.float64)
    if grid is not None:  # the keys of a variable-rate clip: each takes its nearest video frame's camera
        times = motion.frame_times()
        nearest = np.clip(np.searchsorted(times, grid), 1, frames - 1)
        nearest -= (grid - times[nearest - 1]) < (times[nearest] - grid)
        per_frame = per_frame[np.clip(nearest, 0, frames - 1)]
    path = {"rotations": world.rotation @ per_frame, "position": np.asarray(world.translation, dtype=np.float64).copy(),
            "moving": CAMERA_ROTATION in motion.extras}
    for key in ("focal_px", "width", "height"):
        if key in motion.extras:
            path[key] = float(np.asarray(motion.extras[key]))
    return path


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------
def foot_skate(joints_world: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal ankle displacement per frame (metres/frame) while the foot is planted.

    Args:
        joints_world: (T, 17, 3) Z-up joints.
        contacts: (T, 2) bool flags in ``skeleton.FEET`` order.
    """
    ankles = np.asarray(joints_world, dtype=np.float64)[:, list(skeleton.FEET), :2]
    step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)  # (T-1, 2)
    both = contacts[1:] & contacts[:-1]
    return float(step[both].mean()) if both.any() else 0.0


def jitter(joints: np.ndarray) -> float:
    """Mean acceleration magnitude (units/frame^2) of (T, ..., 3) trajectories."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape[0] < 3:
        return 0.0
    return float(np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).mean())


def lag_frames(smoothed: np.ndarray, raw: np.ndarray, max_lag: int = 10) -> float:
    """Lag (frames, sub-frame) of ``smoothed`` behind ``raw`` by cross-correlating velocities.

    Positive = smoothed is late. Both (T, ...) arrays; channels are summed.
    """
    s = np.diff(np.asarray(smoothed, dtype=np.float64), axis=0).reshape(len(smoothed) - 1, -1)
    r = np.diff(np.asarray(raw, dtype=np.float64), axis=0).reshape(len(raw) - 1, -1)
    s -= s.mean(axis=0)
    r -= r.mean(axis=0)
    lags = np.arange(-max_lag, max_lag + 1)
    n = len(s)
    score = np.array(
        [np.sum(s[max(k, 0): n + min(k, 0)] * r[max(-k, 0): n - max(k, 0)]) for k in lags]
    )
    i = int(np.argmax(score))
    if 0 < i < len(lags) - 1:  # parabolic refinement
        a, b, c = score[i - 1], score[i], score[i + 1]
        den = a - 2 * b + c
        return float(lags[i] + (0.5 * (a - c) / den if abs(den) > 1e-12 else 0.0))
    return float(lags[i])
