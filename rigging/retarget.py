"""Retargeting math (pure numpy): bone-name matching, mapping presets, rotations onto any rig.

Mapping: solve bone (:data:`.solve.BONE_NAMES`) -> target bone name. It comes from a JSON
preset in ``rigging/presets/`` (``{"name", "description", "bones": {solve bone: target
bone}}``, optionally ``"feet": {"foot.L" / "toe.L" / ...: target bone}`` and
``"keep_rest_direction": [solve bones]``, see below), and every solve bone the preset leaves out (or names a bone the rig lacks) is
filled by automatic name matching (:func:`auto_mapping`): names are normalised (lower case;
namespaces like ``mixamorig:`` and prefixes ``DEF-``/``ORG-``/``Bip01`` stripped; sides from
``.L``/``_L``/``Left...``/``l_``), then matched through synonyms (thigh = upleg = upperleg,
shin = calf = leg = lowerleg, upper_arm = arm = upperarm, ...). A spine chain (``Spine``,
``Spine1``, ``Spine2``) gives ``spine`` its first bone and ``chest`` its last.

Rotations (:func:`retarget_motion`): each target bone mapped to solve bone ``b`` gets the
world delta ``D_b(t) @ C`` where ``C`` is the constant smallest rotation taking the target
bone's rest direction onto the solve bone's rest direction, so A-pose or T-pose rests both
end up pointing where the source bone points, with twist carried by ``D_b``. Unmapped bones
move rigidly with their parent. The local pose rotation written to Blender is
``R^T A_parent^T A R`` (``R`` the bone's rest orientation and ``A`` the delta in armature
space). The root (the bone mapped to ``pelvis``) is moved along the solved trajectory scaled
by the ratio of the rigs' leg lengths, from the target's rest position (at rest the target
stands where its rest pose stands).

Bones listed in a preset's ``keep_rest_direction`` (solve bone names) take the source bone's
world delta without the direction correction ``C``: control bones whose direction means nothing
anatomically (Rigify's ``torso`` and ``chest`` controls lie horizontal) would otherwise be
turned by 90 degrees. The face bones (:data:`.solve.FACE_BONES`) always do: the solve's neck runs
from the thorax to the nose and its head from the nose to the crown, neither along a rig's neck
or skull, so a rig's neck and head keep their own rest directions when the subject holds the
clip's median head pose (the solve's rest) and turn with the solved deltas from there; turned
along the solve's bones instead (on the detector's skeleton of two HDM05 clips the solve's neck rests
29-53 degrees forward of vertical and its head 40-47 degrees back), a rig's neck juts forward and its
head looks up.

Legs and feet (:func:`plant_legs`): the target's ankles are moved by a two-bone IK of each thigh
and shin onto the solved ankle, scaled by the leg ratio, at the target's own ankle rest height
when the solved ankle is at its rest height (a planted foot stands on the target's floor
whatever the rigs' proportions). The foot bones (preset ``feet``: ``foot.L``, ``toe.L``, ...,
else matched by name under the shin) keep their rest orientation turned about the vertical
with the knee's heading (a flat foot), and the toes stay at rest relative to the foot; both are
keyed.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core import skeleton
from .solve import (
    BONE_INDEX,
    FACE_BONES,
    axis_angle_matrix,
    BONE_NAMES,
    PARENTS,
    SolvedMotion,
    deltas_from_rotations,
    make_continuous,
    matrix_to_quat,
    swing,
)

log = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
#: preset names meaning "automatic name matching only"
AUTO_PRESETS = ("", "auto", "none", "NONE", "AUTO")

#: solve bones a retarget needs; "spine"/"chest" and "neck"/"head" need at least one of each pair
REQUIRED_BONES = ("pelvis", "thigh.L", "shin.L", "thigh.R", "shin.R", "upper_arm.L", "forearm.L",
                  "upper_arm.R", "forearm.R")
REQUIRED_ANY = (("spine", "chest"), ("neck", "head"))
#: solve bone -> the H36M joints it carries (for error messages)
BONE_JOINTS: dict[str, str] = {
    "pelvis": "pelvis", "hip.R": "right_hip", "thigh.R": "right_hip->right_knee",
    "shin.R": "right_knee->right_ankle", "hip.L": "left_hip", "thigh.L": "left_hip->left_knee",
    "shin.L": "left_knee->left_ankle", "spine": "pelvis->spine", "chest": "spine->thorax",
    "neck": "thorax->neck_nose", "head": "neck_nose->head", "shoulder.L": "thorax->left_shoulder",
    "upper_arm.L": "left_shoulder->left_elbow", "forearm.L": "left_elbow->left_wrist",
    "shoulder.R": "thorax->right_shoulder", "upper_arm.R": "right_shoulder->right_elbow",
    "forearm.R": "right_elbow->right_wrist",
}

#: normalised name (sides and separators removed) -> role
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("hips", "hip", "pelvis", "root", "cog"), "pelvis"),
    **dict.fromkeys(("thigh", "upleg", "upperleg", "legupper", "femur", "uleg"), "thigh"),
    **dict.fromkeys(("shin", "calf", "leg", "lowerleg", "leglower", "lowleg", "knee", "tibia", "crus", "lleg"), "shin"),
    **dict.fromkeys(("spine", "abdomen", "waist", "torso", "spinelower", "lowerspine"), "spine_chain"),
    **dict.fromkeys(("chest", "upperchest", "spineupper", "upperspine", "thorax", "ribcage"), "chest"),
    "neck": "neck",
    **dict.fromkeys(("head", "skull"), "head"),
    **dict.fromkeys(("shoulder", "clavicle", "collar", "collarbone", "clav"), "shoulder"),
    **dict.fromkeys(("upperarm", "arm", "uparm", "humerus", "armupper", "uarm"), "upper_arm"),
    **dict.fromkeys(("forearm", "lowerarm", "lowarm", "elbow", "radius", "armlower", "larm"), "forearm"),
}
SIDED_ROLES = ("thigh", "shin", "shoulder", "upper_arm", "forearm")
#: target-only roles (no solve bone): foot role -> the role it hangs from
FOOT_ROLES: dict[str, str] = {"foot.L": "shin.L", "toe.L": "foot.L", "foot.R": "shin.R", "toe.R": "foot.R"}
#: normalised name -> foot role kind
FOOT_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("foot", "ankle", "talus"), "foot"),
    **dict.fromkeys(("toe", "toes", "toebase", "ball", "toe0"), "toe"),
}
#: side -> (thigh, shin, contact column in ``SolvedMotion.contacts``)
LEGS: dict[str, tuple[str, str, int]] = {
    "L": ("thigh.L", "shin.L", 0), "R": ("thigh.R", "shin.R", 1),
}
#: a leg is stretched at most to this fraction of its length by the IK (a straight knee flips)
MAX_REACH = 0.9995
_PREFIX_RE = re.compile(r"^(def|org|mch|drv|bip0*1|cc_base|j_bip|bone)[-_ .]*")
_SIDE_PATTERNS = (
    (re.compile(r"^(left|l)[-_ .]+"), "L"), (re.compile(r"^(right|r)[-_ .]+"), "R"),
    (re.compile(r"[-_ .]+(left|l)$"), "L"), (re.compile(r"[-_ .]+(right|r)$"), "R"),
    (re.compile(r"^left"), "L"), (re.compile(r"^right"), "R"),
    (re.compile(r"left$"), "L"), (re.compile(r"right$"), "R"),
)


def normalize_bone_name(name: str) -> tuple[str, str, int]:
    """``name`` -> (core, side "L"/"R"/"", index): ``"mixamorig:LeftUpLeg"`` -> ("upleg", "L", 0).

    ``index`` is a trailing number (``Spine2`` -> 2, ``spine.003`` -> 3), 0 when none.
    """
    s = name.strip().lower()
    s = s.split(":")[-1].split("|")[-1]
    s = _PREFIX_RE.sub("", s)
    index = 0
    match = re.search(r"[-_ .]?0*(\d+)$", s)
    if match:
        index = int(match.group(1))
        s = s[: match.start()]
    side = ""
    for pattern, value in _SIDE_PATTERNS:
        if pattern.search(s):
            s = pattern.sub("", s)
            side = value
            break
    core = re.sub(r"[-_ .]", "", s)
    return core, side, index


def auto_mapping(bone_names: list[str], parents: list[int]) -> dict[str, str]:
    """Solve bone -> target bone by name matching (see module docstring).

    Args:
        bone_names: the target armature's bones; parents: index of each one's parent (-1 root).
    """
    depth = []
    for i in range(len(bone_names)):
        d, p = 0, parents[i]
        while p >= 0:
            d, p = d + 1, parents[p]
        depth.append(d)
    candidates: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for i, name in enumerate(bone_names):
        core, side, index = normalize_bone_name(name)
        role = SYNONYMS.get(core)
        if role is None or (role in SIDED_ROLES) != bool(side):
            continue
        candidates.setdefault((role, side), []).append((depth[i], index, i))
    mapping: dict[str, str] = {}

    def best(role: str, side: str = "") -> int | None:
        found = sorted(candidates.get((role, side), []))
        return found[0][2] if found else None

    pelvis = best("pelvis")
    if pelvis is not None:
        mapping["pelvis"] = bone_names[pelvis]
    chain = sorted(candidates.get(("spine_chain", ""), []))
    chest = best("chest")
    if chain:
        mapping["spine"] = bone_names[chain[0][2]]
        if chest is None and len(chain) > 1:
            chest = chain[-1][2]
    if chest is not None:
        mapping["chest"] = bone_names[chest]
    for role in ("neck", "head"):
        found = best(role)
        if found is not None:
            mapping[role] = bone_names[found]
    for role in SIDED_ROLES:
        for side in ("L", "R"):
            found = best(role, side)
            if found is not None:
                mapping[f"{role}.{side}"] = bone_names[found]
    return mapping


def list_presets(folder: Path = PRESETS_DIR) -> list[str]:
    """Names (file stems) of the mapping presets."""
    return sorted(p.stem for p in folder.glob("*.json"))


def _read_preset(preset: str | os.PathLike | None, folder: Path) -> tuple[Path, dict] | None:
    """(path, JSON object) of a preset, ``None`` for the automatic ones; checked."""
    if preset is None or str(preset) in AUTO_PRESETS:
        return None
    path = Path(preset)
    if path.suffix.lower() != ".json":
        path = folder / f"{preset}.json"
    if not path.is_file():
        raise VideoMocapError(
            f"Mapping preset '{preset}' not found; available: {', '.join(list_presets(folder)) or 'none'}."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VideoMocapError(f"Mapping preset {path} is not valid JSON ({exc}); fix or delete it.") from None
    if not isinstance(data, dict):
        raise VideoMocapError(f"Mapping preset {path} must hold a JSON object with 'bones'.")
    return path, data


def _bone_table(path: Path, data: dict, key: str, allowed) -> dict[str, str | None]:
    table = data.get(key, {})
    if not isinstance(table, dict) or not all(v is None or isinstance(v, str) for v in table.values()):
        raise VideoMocapError(
            f"Mapping preset {path}: '{key}' must map {'solve bone' if key == 'bones' else 'foot role'} "
            "names to target bone names (or null)."
        )
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise VideoMocapError(
            f"Mapping preset {path}: unknown {'solve bones' if key == 'bones' else 'foot roles'} in '{key}': "
            f"{', '.join(unknown)}; use {', '.join(allowed)}."
        )
    return dict(table)


def load_preset(preset: str | os.PathLike | None, folder: Path = PRESETS_DIR) -> dict[str, str | None]:
    """Solve bone -> target bone from a preset name (file stem in ``folder``) or a JSON path.

    A ``null`` target leaves that solve bone unmapped on purpose (no automatic match either).

    ``None``/"auto"/"NONE" give an empty mapping (automatic matching only).
    Raises:
        VideoMocapError: unknown preset, unreadable JSON, or unknown solve bones in it.
    """
    found = _read_preset(preset, folder)
    if found is None:
        return {}
    return _bone_table(*found, "bones", BONE_NAMES)


@dataclass
class PresetOptions:
    """What a preset says beyond its bone mapping.

    feet: foot role (:data:`FOOT_ROLES`) -> target bone (``None``: leave that bone alone).
    keep_rest_direction: solve bones whose target bone is rotated by the source bone's delta
        without being turned to point along it (control bones, e.g. Rigify's torso).
    """

    feet: dict[str, str | None] = field(default_factory=dict)
    keep_rest_direction: tuple[str, ...] = ()


def load_preset_options(preset: str | os.PathLike | None, folder: Path = PRESETS_DIR) -> PresetOptions:
    """The ``feet`` and ``keep_rest_direction`` entries of a preset (empty for the automatic ones)."""
    found = _read_preset(preset, folder)
    if found is None:
        return PresetOptions()
    path, data = found
    keep = data.get("keep_rest_direction", [])
    if not isinstance(keep, list) or not set(keep) <= set(BONE_NAMES):
        raise VideoMocapError(
            f"Mapping preset {path}: 'keep_rest_direction' must list solve bones ({', '.join(BONE_NAMES)})."
        )
    return PresetOptions(feet=_bone_table(path, data, "feet", tuple(FOOT_ROLES)), keep_rest_direction=tuple(keep))


def _depths(parents: list[int]) -> list[int]:
    depth = []
    for i in range(len(parents)):
        d, p = 0, parents[i]
        while p >= 0:
            d, p = d + 1, parents[p]
        depth.append(d)
    return depth


def _is_descendant(k: int, ancestor: int, parents: list[int]) -> bool:
    p = parents[k]
    while p >= 0:
        if p == ancestor:
            return True
        p = parents[p]
    return False


def resolve_feet(wanted: dict[str, str | None], bone_names: list[str], parents: list[int],
                 mapping: dict[str, str]) -> dict[str, str]:
    """Foot role -> target bone: the preset's entries that exist, else name matches; each foot
    must hang (at any depth) below the mapped shin and each toe below its foot.

    Roles with no fitting bone are left out (the rig is keyed without them); ``None`` in
    ``wanted`` leaves a role out on purpose.
    """
    index = {n: i for i, n in enumerate(bone_names)}
    depth = _depths(parents)
    found: dict[str, str] = {}
    for role, parent_role in FOOT_ROLES.items():  # feet before toes
        parent = mapping.get(parent_role) or found.get(parent_role)
        if parent is None or wanted.get(role, "") is None:
            continue
        anchor = index[parent]
        choice = wanted.get(role)
        if choice in index and _is_descendant(index[choice], anchor, parents):
            found[role] = choice
            continue
        kind, side = role.split(".")
        matches = []
        for i, name in enumerate(bone_names):
            core, bone_side, _ = normalize_bone_name(name)
            if FOOT_SYNONYMS.get(core) == kind and bone_side == side and _is_descendant(i, anchor, parents):
                matches.append((depth[i], i))
        if matches:
            found[role] = bone_names[min(matches)[1]]
    return found


def resolve_mapping(
    preset_mapping: dict[str, str | None], bone_names: list[str], parents: list[int]
) -> dict[str, str]:
    """Preset entries whose target bone exists, then automatic matches for the rest; checked.

    Entries set to ``None`` stay unmapped.

    Raises:
        VideoMocapError: a needed solve bone has no target bone (lists them and their H36M joints).
    """
    present = set(bone_names)
    mapping = {src: dst for src, dst in preset_mapping.items() if dst in present}
    for src, dst in auto_mapping(bone_names, parents).items():
        if src not in mapping and preset_mapping.get(src, "") is not None and dst not in mapping.values():
            mapping.setdefault(src, dst)
    log.debug("bone mapping: %s", mapping)
    missing = [b for b in REQUIRED_BONES if b not in mapping]
    missing += [" or ".join(pair) for pair in REQUIRED_ANY if not any(b in mapping for b in pair)]
    if missing:
        detail = ", ".join(
            f"{m} ({' / '.join(BONE_JOINTS[b] for b in m.split(' or '))})" for m in missing
        )
        raise VideoMocapError(
            f"The target armature is not a humanoid this add-on can drive: no bone found for {detail}. "
            "Pick a mapping preset that fits the rig, or edit a preset JSON in rigging/presets/."
        )
    return mapping


@dataclass
class TargetSkeleton:
    """A target armature's rest pose (armature space) and object transform.

    rest_matrices: (K, 3, 3) bone rest orientations (Blender ``bone.matrix_local`` rotation).
    rest_heads, rest_tails: (K, 3) armature-space rest heads and tails.
    object_matrix: (4, 4) the armature object's world matrix.
    constrained: bones driven by constraints: a mapped bone hanging from one is assumed to
        follow the target of its solve parent (Rigify's MCH parents of the FK controls).
    """

    bone_names: list[str]
    parents: list[int]
    rest_matrices: np.ndarray
    rest_heads: np.ndarray
    rest_tails: np.ndarray
    object_matrix: np.ndarray
    #: per bone: driven by constraints (rig mechanism bones); empty = none
    constrained: list[bool] = field(default_factory=list)


@dataclass
class RetargetResult:
    """Per-bone channels for the target (only the bones that move).

    rotations: bone name -> (T, 4) local quaternions (w, x, y, z), sign-continuous.
    root_bone / root_locations: the bone mapped to ``pelvis`` and its (T, 3) ``location`` channel.
    """

    rotations: dict[str, np.ndarray]
    root_bone: str
    root_locations: np.ndarray
    scale: float
    mapping: dict[str, str]


def _leg_length(heads: np.ndarray, tails: np.ndarray, idx: list[int]) -> float:
    return float(sum(np.linalg.norm(tails[i] - heads[i]) for i in idx))


def _horizontal(v: np.ndarray) -> np.ndarray:
    """(..., 3) world vectors with Z removed (not normalised)."""
    out = np.array(v, dtype=np.float64, copy=True)
    out[..., 2] = 0.0
    return out


def _yaw(angle: np.ndarray) -> np.ndarray:
    """(T,) angles (radians) -> (T, 3, 3) rotations about world Z."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1] = c, -s, s, c
    out[..., 2, 2] = 1.0
    return out


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, goal: np.ndarray, thigh_len: float, shin_len: float,
                bend_hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle (T, 3) of a two-bone chain from ``hip`` reaching for ``goal``.

    The knee stays in the plane of the current knee (``knee``, (T, 3)); ``bend_hint`` (T, 3) is
    the bend direction used when the current leg is straight. The reach is clamped to
    :data:`MAX_REACH` of the chain's length (the ankle stops short of an unreachable goal).
    """
    u = goal - hip
    d = np.linalg.norm(u, axis=-1)
    u_hat = u / np.maximum(d, 1e-9)[:, None]
    d = np.clip(d, abs(thigh_len - shin_len) + 1e-6, MAX_REACH * (thigh_len + shin_len))
    a = (thigh_len**2 - shin_len**2 + d**2) / (2.0 * d)
    h = np.sqrt(np.maximum(thigh_len**2 - a**2, 0.0))

    def perpendicular(v: np.ndarray) -> np.ndarray:
        return v - np.sum(v * u_hat, axis=-1, keepdims=True) * u_hat

    hint = perpendicular(bend_hint)
    bend = perpendicular(knee - hip) + 1e-3 * hint / np.maximum(np.linalg.norm(hint, axis=-1, keepdims=True), 1e-9)
    bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    new_knee = hip + a[:, None] * u_hat + h[:, None] * bend
    return new_knee, hip + d[:, None] * u_hat


def retarget_motion(solved: SolvedMotion, target: TargetSkeleton, mapping: dict[str, str],
                    feet: dict[str, str] | None = None, keep_rest_direction: tuple[str, ...] = (),
                    plant_feet: bool = True) -> RetargetResult:
    """Channels that make ``target`` follow ``solved`` (see module docstring).

    Args:
        feet: foot role -> target bone (:func:`resolve_feet`); keyed flat, see :func:`plant_legs`.
        keep_rest_direction: solve bones whose target bones take no direction correction (the
            face bones never do, see the module docstring).
        plant_feet: move the ankles by IK onto the solved ankles (scaled, on the target's floor).
    """
    solved.validate()
    feet = dict(feet or {})
    obj = np.asarray(target.object_matrix, dtype=np.float64)
    linear = obj[:3, :3]
    obj_scale = float(np.cbrt(abs(np.linalg.det(linear))))
    ro = linear / obj_scale  # object rotation (uniform scale assumed)
    index = {name: i for i, name in enumerate(target.bone_names)}
    src_deltas = deltas_from_rotations(solved.rotations, solved.rest_heads, solved.rest_tails)  # (T, J, 3, 3)
    src_dirs = solved.rest_tails - solved.rest_heads
    src_dirs = src_dirs / np.linalg.norm(src_dirs, axis=-1, keepdims=True)
    t = src_deltas.shape[0]

    # armature-space deltas A_k = Ro^T D_b C Ro of the mapped bones (independent of parents)
    identity = np.broadcast_to(np.eye(3), (t, 3, 3))
    arm: dict[int, np.ndarray] = {}
    keep = set(keep_rest_direction) | set(FACE_BONES)
    for src, dst in mapping.items():
        k, b = index[dst], BONE_INDEX[src]
        if src in keep:
            correction = np.eye(3)
        else:
            rest_dir_world = ro @ target.rest_matrices[k][:, 1]
            correction = swing(rest_dir_world, src_dirs[b])  # target rest dir -> source rest dir
        arm[k] = ro.T @ src_deltas[:, b] @ correction @ ro
    constrained = target.constrained or [False] * len(target.bone_names)
    #: target bone of each foot role's parent role (the frame a foot hangs from across rig mechanics)
    role_of = {index[dst]: role for role, dst in feet.items()}

    def parent_delta(k: int, src: str | None) -> np.ndarray:
        """Delta of the frame bone ``k`` hangs from: its nearest mapped ancestor, or, across a
        constrained (rig-driven) bone, the target of the solve parent (assumed to follow it)."""
        p = target.parents[k]
        while p >= 0:
            if p in arm:
                return arm[p]
            if constrained[p]:
                break
            p = target.parents[p]
        if k in role_of:  # a foot follows its shin, a toe its foot
            parent_role = FOOT_ROLES[role_of[k]]
            parent = mapping.get(parent_role) or feet.get(parent_role)
            return arm[index[parent]] if parent is not None and index[parent] in arm else identity
        if p < 0:
            return identity
        j = PARENTS[BONE_INDEX[src]]
        while j >= 0:
            if BONE_NAMES[j] in mapping:
                return arm[index[mapping[BONE_NAMES[j]]]]
            j = PARENTS[j]
        return identity

    # root: the solved trajectory scaled by the leg-length ratio, from the target's rest position
    root_name = mapping["pelvis"]
    root = index[root_name]
    legs = [index[mapping[b]] for b in ("thigh.L", "shin.L", "thigh.R", "shin.R")]
    target_leg = 0.5 * _leg_length(target.rest_heads, target.rest_tails, legs) * obj_scale
    src_leg = 0.5 * _leg_length(solved.rest_heads, solved.rest_tails,
                                [BONE_INDEX[b] for b in ("thigh.L", "shin.L", "thigh.R", "shin.R")])
    scale = target_leg / src_leg
    rest_root_world = linear @ target.rest_heads[root] + obj[:3, 3]
    world_head = rest_root_world + scale * (solved.root_world - solved.rest_heads[0])  # (T, 3)
    inv = np.linalg.inv(obj)
    arm_head = world_head @ inv[:3, :3].T + inv[:3, 3]

    ankles: dict[str, np.ndarray] = {}
    if plant_feet:
        for side in LEGS:
            ankles[side] = plant_leg(side, solved, src_deltas, target, mapping, feet, arm, parent_delta,
                                     arm_head, scale, obj)
    flat: dict[str, np.ndarray] = {}
    for side in LEGS:
        foot = feet.get(f"foot.{side}")
        if foot is None:
            continue
        flat[side] = _flat_foot(arm[index[mapping[LEGS[side][1]]]], arm[root], ro)
        arm[index[foot]] = flat[side]
        toe = feet.get(f"toe.{side}")
        if toe is not None and side in ankles and solved.contacts is not None:
            arm[index[foot]] = _heel_lift(flat[side], ankles[side], target.rest_heads[index[foot]],
                                          target.rest_heads[index[toe]], solved.contacts[:, LEGS[side][2]], obj)
    for role, dst in feet.items():  # toes stay flat: a lifted heel bends the foot at the ball
        if role.startswith("toe."):
            side = role.split(".")[1]
            arm[index[dst]] = flat[side] if side in flat else parent_delta(index[dst], None)

    rotations: dict[str, np.ndarray] = {}
    sources = {**{dst: src for src, dst in mapping.items()}, **{dst: None for dst in feet.values()}}
    for dst, src in sources.items():
        k = index[dst]
        rest = target.rest_matrices[k]
        local = rest.T @ np.swapaxes(parent_delta(k, src), -1, -2) @ arm[k] @ rest  # (T, 3, 3)
        rotations[dst] = make_continuous(matrix_to_quat(local))

    # root pose = rest @ basis when its ancestors stay at rest (they are unmapped)
    root_locations = (arm_head - target.rest_heads[root]) @ target.rest_matrices[root]
    return RetargetResult(rotations=rotations, root_bone=root_name, root_locations=root_locations,
                          scale=scale, mapping={**mapping, **feet})


def plant_leg(side: str, solved: SolvedMotion, src_deltas: np.ndarray, target: TargetSkeleton, mapping: dict[str, str],
              feet: dict[str, str], arm: dict[int, np.ndarray], parent_delta, arm_head: np.ndarray,
              scale: float, obj: np.ndarray) -> np.ndarray:
    """Two-bone IK of one target leg (updates ``arm`` in place) onto the solved ankle; returns
    the (T, 3) armature-space ankle.

    Goal (world): the target hip plus ``scale`` times the solved hip -> ankle vector, with the
    height set so that the solved ankle at its rest height puts the target ankle at its own
    rest height (on the target's floor), higher by ``scale`` times the solved rise (by the rise
    itself while the foot is planted), never lower.
    """
    thigh_src, shin_src, _ = LEGS[side]
    index = {name: i for i, name in enumerate(target.bone_names)}
    th, sh = index[mapping[thigh_src]], index[mapping[shin_src]]
    root = index[mapping["pelvis"]]
    foot = feet.get(f"foot.{side}")
    hip_rest, knee_rest = target.rest_heads[th], target.rest_heads[sh]
    ankle_rest = target.rest_heads[index[foot]] if foot is not None else target.rest_tails[sh]
    linear, offset = obj[:3, :3], obj[:3, 3]
    inv = np.linalg.inv(obj)

    hip = arm_head + np.einsum("tij,j->ti", parent_delta(th, thigh_src), hip_rest - target.rest_heads[root])
    knee = hip + np.einsum("tij,j->ti", arm[th], knee_rest - hip_rest)
    j_hip = skeleton.JOINT_INDEX[f"{'left' if side == 'L' else 'right'}_hip"]
    j_ankle = skeleton.JOINT_INDEX[f"{'left' if side == 'L' else 'right'}_ankle"]
    src_rest_ankle_z = float(solved.rest_tails[BONE_INDEX[shin_src], 2])
    goal_world = hip @ linear.T + offset + scale * (solved.joints_world[:, j_ankle] - solved.joints_world[:, j_hip])
    rest_ankle_z = float((linear @ ankle_rest + offset)[2])
    # a planted ankle's small rise (a heel lifting at push-off) is kept as it is, a step's is scaled
    contact = (solved.contacts[:, LEGS[side][2]] if solved.contacts is not None
               else np.zeros(solved.num_frames, dtype=bool))
    rise = solved.joints_world[:, j_ankle, 2] - src_rest_ankle_z
    # never below the standing height: a flat foot under it would go through the floor
    goal_world[:, 2] = rest_ankle_z + np.maximum(np.where(contact, 1.0, scale) * rise, 0.0)
    goal = goal_world @ inv[:3, :3].T + inv[:3, 3]
    # bend hint: where the solved knee bends (the source thigh's forward), in armature space
    ro = linear / float(np.cbrt(abs(np.linalg.det(linear))))
    src_thigh = BONE_INDEX[thigh_src]
    hint = (src_deltas[:, src_thigh] @ np.array([0.0, -1.0, 0.0])) @ ro  # world -> armature axes (v @ ro = ro^T v)
    new_knee, new_ankle = two_bone_ik(hip, knee, goal, float(np.linalg.norm(knee_rest - hip_rest)),
                                      float(np.linalg.norm(ankle_rest - knee_rest)), hint)
    s1 = swing(knee - hip, new_knee - hip)
    arm[th] = s1 @ arm[th]
    shin_now = np.einsum("tij,j->ti", s1 @ arm[sh], ankle_rest - knee_rest)
    arm[sh] = swing(shin_now, new_ankle - new_knee) @ s1 @ arm[sh]
    return new_ankle


def _flat_foot(shin_delta: np.ndarray, root_delta: np.ndarray, ro: np.ndarray) -> np.ndarray:
    """(T, 3, 3) armature-space delta of a foot: its rest orientation turned about world Z by
    the knee's heading (the shin's hinge axis, world X at rest), the pelvis's where that axis
    stands near vertical."""
    left = np.array([1.0, 0.0, 0.0])

    def heading(delta: np.ndarray) -> np.ndarray:
        world = ro @ delta @ ro.T
        return _horizontal(world @ left)

    knee_axis, pelvis_axis = heading(shin_delta), heading(root_delta)
    weight = np.clip(np.linalg.norm(knee_axis, axis=-1) / 0.5, 0.0, 1.0)[:, None]
    axis = weight * knee_axis / np.maximum(np.linalg.norm(knee_axis, axis=-1, keepdims=True), 1e-9)
    axis += (1.0 - weight) * pelvis_axis / np.maximum(np.linalg.norm(pelvis_axis, axis=-1, keepdims=True), 1e-9)
    angle = np.arctan2(axis[:, 1], axis[:, 0])
    return ro.T @ _yaw(angle) @ ro


#: frames over which a heel lift fades out after the foot leaves the floor
HEEL_LIFT_FADE_FRAMES = 4


def _heel_lift(flat: np.ndarray, ankle: np.ndarray, ankle_rest: np.ndarray, ball_rest: np.ndarray,
               contact: np.ndarray, obj: np.ndarray) -> np.ndarray:
    """(T, 3, 3) foot delta pitched toe-down about the ankle so that, while the foot is planted
    and its ankle rises (a heel lifting at push-off), the ball of the foot (the toe bone's head)
    stays at its rest height; faded out over :data:`HEEL_LIFT_FADE_FRAMES` after the contact."""
    linear, offset = obj[:3, :3], obj[:3, 3]
    ro = linear / float(np.cbrt(abs(np.linalg.det(linear))))
    world_flat = ro @ flat @ ro.T
    v = np.einsum("tij,j->ti", world_flat, linear @ (ball_rest - ankle_rest))  # ankle -> ball, world
    ankle_z = (ankle @ linear.T + offset)[:, 2]
    ball_rest_z = float((linear @ ball_rest + offset)[2])
    drop = np.maximum(ankle_z + v[:, 2] - ball_rest_z, 0.0)
    weight = contact.astype(np.float64)
    for _ in range(HEEL_LIFT_FADE_FRAMES):  # linear fade after each contact run
        weight = np.maximum(weight, np.concatenate([[0.0], weight[:-1] - 1.0 / (HEEL_LIFT_FADE_FRAMES + 1)]))
    horizontal = _horizontal(v)
    lh = np.linalg.norm(horizontal, axis=-1)
    radius = np.hypot(lh, v[:, 2])
    phi = np.arctan2(lh, v[:, 2])
    theta = phi - np.arccos(np.clip((v[:, 2] - drop) / np.maximum(radius, 1e-9), -1.0, 1.0))
    axis = np.cross(horizontal / np.maximum(lh, 1e-9)[:, None], np.array([0.0, 0.0, 1.0]))
    pitch = axis_angle_matrix(axis, weight * theta)
    return ro.T @ pitch @ world_flat @ ro
