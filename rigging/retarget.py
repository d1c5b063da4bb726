"""Retargeting math (pure numpy): bone-name matching, mapping presets, rotations onto any rig.

Mapping: solve bone (:data:`.solve.BONE_NAMES`) -> target bone name. It comes from a JSON
preset in ``rigging/presets/`` (``{"name", "description", "bones": {solve bone: target
bone}}``), and every solve bone the preset leaves out (or names a bone the rig lacks) is
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
by the ratio of the rigs' leg lengths, relative to the target object's origin.
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
from .solve import (
    BONE_INDEX,
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


def load_preset(preset: str | os.PathLike | None, folder: Path = PRESETS_DIR) -> dict[str, str | None]:
    """Solve bone -> target bone from a preset name (file stem in ``folder``) or a JSON path.

    A ``null`` target leaves that solve bone unmapped on purpose (no automatic match either).

    ``None``/"auto"/"NONE" give an empty mapping (automatic matching only).
    Raises:
        VideoMocapError: unknown preset, unreadable JSON, or unknown solve bones in it.
    """
    if preset is None or str(preset) in AUTO_PRESETS:
        return {}
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
    bones = data.get("bones", {}) if isinstance(data, dict) else None
    if not isinstance(bones, dict) or not all(v is None or isinstance(v, str) for v in bones.values()):
        raise VideoMocapError(
            f"Mapping preset {path}: 'bones' must map solve bone names to target bone names (or null)."
        )
    unknown = sorted(set(bones) - set(BONE_NAMES))
    if unknown:
        raise VideoMocapError(
            f"Mapping preset {path}: unknown solve bones {', '.join(unknown)}; use {', '.join(BONE_NAMES)}."
        )
    return dict(bones)


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


def retarget_motion(solved: SolvedMotion, target: TargetSkeleton, mapping: dict[str, str]) -> RetargetResult:
    """Channels that make ``target`` follow ``solved`` (see module docstring)."""
    solved.validate()
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
    for src, dst in mapping.items():
        k, b = index[dst], BONE_INDEX[src]
        rest_dir_world = ro @ target.rest_matrices[k][:, 1]
        correction = swing(rest_dir_world, src_dirs[b])  # target rest dir -> source rest dir
        arm[k] = ro.T @ src_deltas[:, b] @ correction @ ro
    constrained = target.constrained or [False] * len(target.bone_names)

    def parent_delta(k: int, src: str) -> np.ndarray:
        """Delta of the frame bone ``k`` hangs from: its nearest mapped ancestor, or, across a
        constrained (rig-driven) bone, the target of the solve parent (assumed to follow it)."""
        p = target.parents[k]
        while p >= 0:
            if p in arm:
                return arm[p]
            if constrained[p]:
                break
            p = target.parents[p]
        if p < 0:
            return identity
        j = PARENTS[BONE_INDEX[src]]
        while j >= 0:
            if BONE_NAMES[j] in mapping:
                return arm[index[mapping[BONE_NAMES[j]]]]
            j = PARENTS[j]
        return identity

    rotations: dict[str, np.ndarray] = {}
    for src, dst in mapping.items():
        k = index[dst]
        rest = target.rest_matrices[k]
        local = rest.T @ np.swapaxes(parent_delta(k, src), -1, -2) @ arm[k] @ rest  # (T, 3, 3)
        rotations[dst] = make_continuous(matrix_to_quat(local))

    # root: solved trajectory scaled by the leg-length ratio, relative to the object origin
    root_name = mapping["pelvis"]
    root = index[root_name]
    legs = [index[mapping[b]] for b in ("thigh.L", "shin.L", "thigh.R", "shin.R")]
    target_leg = 0.5 * _leg_length(target.rest_heads, target.rest_tails, legs) * obj_scale
    src_leg = 0.5 * _leg_length(solved.rest_heads, solved.rest_tails,
                                [BONE_INDEX[b] for b in ("thigh.L", "shin.L", "thigh.R", "shin.R")])
    scale = target_leg / src_leg
    world_head = obj[:3, 3] + scale * solved.root_world  # (T, 3)
    inv = np.linalg.inv(obj)
    arm_head = world_head @ inv[:3, :3].T + inv[:3, 3]
    # root pose = rest @ basis when its ancestors stay at rest (they are unmapped)
    root_locations = (arm_head - target.rest_heads[root]) @ target.rest_matrices[root]
    return RetargetResult(rotations=rotations, root_bone=root_name, root_locations=root_locations,
                          scale=scale, mapping=dict(mapping))


