"""The one skeleton of the project: Human3.6M-17 joints, and what they mean.

Every stage speaks H36M-17 (order below). The joints carry *detector semantics*: each
joint is the point a COCO-17 2D detector's keypoints stand for, in 2D and in 3D alike,
so that a lifter trained on mocap sees the same points at run time:

==  ==============  ====================================================================
 #  joint           meaning (2D from COCO keypoints; 3D built from any rig the same way)
==  ==============  ====================================================================
 0  pelvis          midpoint of the two hip points
 1  right_hip       COCO right hip: outside the true joint centre (see ``HIP_WIDTH_...``)
 2  right_knee      COCO right knee
 3  right_ankle     COCO right ankle
 4  left_hip        COCO left hip
 5  left_knee       COCO left knee
 6  left_ankle      COCO left ankle
 7  spine           midpoint of pelvis and thorax
 8  thorax          midpoint of the two shoulders
 9  neck_nose       COCO nose
10  head            mean of the eyes and ears: about ear level, *not* the top of the head;
                    from the face points that are *seen*, with their own scores (below)
11  left_shoulder   COCO left shoulder
12  left_elbow      COCO left elbow
13  left_wrist      COCO left wrist
14  right_shoulder  COCO right shoulder
15  right_elbow     COCO right elbow
16  right_wrist     COCO right wrist
==  ==============  ====================================================================

The head in profile: a side-on detector sees one eye and one ear; the hidden pair gets low
scores. The head joint is then the mean of the *seen* eye centre and ear centre (each the mean
of its seen points), scored by the lower of those two centres' scores, so it stays a confident
ear-level point in profile (where the far eye and ear project close to the near ones). With no
eye or no ear seen it is the other pair's centre; with no face point seen it is the plain mean
of all four, scored by their lowest score (missing). The nose and the head are then missing
together only when the face is not seen (a back view): the 2D stage fills such joints from the
neck (``inference.detect.fill_gaps``), and the solve keeps a long-missing head in its rest
orientation relative to the neck.

Mocap rigs put hip joints at the centres of the femoral heads, narrower than a
detector's hip keypoints (which sit near the greater trochanters).
:func:`detector_hips` widens them by ``HIP_WIDTH_DETECTOR_OVER_JOINT``.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 17

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
    "spine",
    "thorax",
    "neck_nose",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

PELVIS = 0
#: parent of each joint (-1 for the root)
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

#: bones as (parent, child) pairs, in joint order
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)

LEFT_JOINTS: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
#: index permutation that swaps left and right (use with a negated x for a mirror image)
FLIP_PERMUTATION: tuple[int, ...] = tuple(
    {**{l: r for l, r in zip(LEFT_JOINTS, RIGHT_JOINTS)}, **{r: l for l, r in zip(LEFT_JOINTS, RIGHT_JOINTS)}}.get(j, j)
    for j in range(NUM_JOINTS)
)

FEET: tuple[int, int] = (JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"])

# ---------------------------------------------------------------------------------------
# COCO-17 -> H36M-17
# ---------------------------------------------------------------------------------------
COCO_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
_C = {name: i for i, name in enumerate(COCO_NAMES)}

#: H36M joint -> {COCO keypoint: weight}; weights of each row sum to one
_COCO_TO_H36M_RECIPE: dict[str, dict[str, float]] = {
    "pelvis": {"left_hip": 0.5, "right_hip": 0.5},
    "right_hip": {"right_hip": 1.0},
    "right_knee": {"right_knee": 1.0},
    "right_ankle": {"right_ankle": 1.0},
    "left_hip": {"left_hip": 1.0},
    "left_knee": {"left_knee": 1.0},
    "left_ankle": {"left_ankle": 1.0},
    "spine": {"left_hip": 0.25, "right_hip": 0.25, "left_shoulder": 0.25, "right_shoulder": 0.25},
    "thorax": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    "neck_nose": {"nose": 1.0},
    "head": {"left_eye": 0.25, "right_eye": 0.25, "left_ear": 0.25, "right_ear": 0.25},
    "left_shoulder": {"left_shoulder": 1.0},
    "left_elbow": {"left_elbow": 1.0},
    "left_wrist": {"left_wrist": 1.0},
    "right_shoulder": {"right_shoulder": 1.0},
    "right_elbow": {"right_elbow": 1.0},
    "right_wrist": {"right_wrist": 1.0},
}


def _recipe_matrix() -> np.ndarray:
    weights = np.zeros((NUM_JOINTS, len(COCO_NAMES)), dtype=np.float32)
    for h36m_name, parts in _COCO_TO_H36M_RECIPE.items():
        for coco_name, weight in parts.items():
            weights[JOINT_INDEX[h36m_name], _C[coco_name]] = weight
    return weights


#: (17 H36M, 17 COCO) weights: ``h36m = COCO_TO_H36M_WEIGHTS @ coco``
COCO_TO_H36M_WEIGHTS: np.ndarray = _recipe_matrix()
#: for each H36M joint, the COCO keypoints it is built from (score = min of theirs)
COCO_SOURCES: tuple[tuple[int, ...], ...] = tuple(
    tuple(int(k) for k in np.flatnonzero(row)) for row in COCO_TO_H36M_WEIGHTS
)
#: a joint scored below this (the detector's confidence, after :func:`coco_to_h36m`) counts as missing:
#: the 2D stage interpolates it in time and scores it 0, and the training noise does the same
MIN_JOINT_SCORE = 0.3


#: the two pairs of face points the head joint is built from (COCO indices)
FACE_PAIRS: tuple[tuple[int, int], tuple[int, int]] = (
    (_C["left_eye"], _C["right_eye"]),
    (_C["left_ear"], _C["right_ear"]),
)


def head_from_face(keypoints_coco: np.ndarray, scores_coco: np.ndarray,
                   min_score: float = MIN_JOINT_SCORE) -> tuple[np.ndarray, np.ndarray]:
    """The head joint from the face points that are seen (see the module notes).

    Args:
        keypoints_coco: (..., 17, C) COCO keypoints; scores_coco: (..., 17) confidences.
        min_score: a face point scored at least this is seen.
    Returns:
        (..., C) head positions and (..., ) scores: the mean of the seen eye centre and ear
        centre, scored by the lower of their scores (a centre's score = the mean of its seen
        points'); one pair's centre when the other is not seen; where no face point is seen,
        the mean of all four, scored by their minimum.
    """
    points = np.asarray(keypoints_coco, dtype=np.float32)
    scores = np.asarray(scores_coco, dtype=np.float32)
    centres, centre_scores, centre_seen = [], [], []
    for pair in FACE_PAIRS:
        seen = scores[..., list(pair)] >= min_score  # (..., 2)
        count = seen.sum(axis=-1)
        weight = seen / np.maximum(count, 1)[..., None]
        centres.append(np.einsum("...k,...kc->...c", weight, points[..., list(pair), :]))
        centre_scores.append(np.sum(weight * scores[..., list(pair)], axis=-1))
        centre_seen.append(count > 0)
    seen_both = centre_seen[0] & centre_seen[1]
    either = centre_seen[0] | centre_seen[1]
    head = np.where(seen_both[..., None], 0.5 * (centres[0] + centres[1]),
                    np.where(centre_seen[0][..., None], centres[0], centres[1]))
    score = np.where(seen_both, np.minimum(centre_scores[0], centre_scores[1]),
                     np.where(centre_seen[0], centre_scores[0], centre_scores[1]))
    face = [k for pair in FACE_PAIRS for k in pair]
    fallback = points[..., face, :].mean(axis=-2)
    head = np.where(either[..., None], head, fallback).astype(np.float32)
    score = np.where(either, score, scores[..., face].min(axis=-1)).astype(np.float32)
    return head, score


def coco_to_h36m(keypoints_coco: np.ndarray, scores_coco: np.ndarray | None = None):
    """Map COCO-17 keypoints to H36M-17.

    Args:
        keypoints_coco: (..., 17, C) COCO keypoints (any C, e.g. 2 for pixels).
        scores_coco: optional (..., 17) confidences.

    Returns:
        (..., 17, C) H36M keypoints, and (..., 17) scores (the minimum over the COCO
        keypoints each joint is built from) when ``scores_coco`` is given. With scores, the
        head is built from the face points that are seen (:func:`head_from_face`); without,
        it is the plain mean of eyes and ears (``COCO_TO_H36M_WEIGHTS``, as for 3D rigs).
    """
    keypoints = np.einsum("hk,...kc->...hc", COCO_TO_H36M_WEIGHTS, np.asarray(keypoints_coco, dtype=np.float32))
    if scores_coco is None:
        return keypoints
    scores_coco = np.asarray(scores_coco, dtype=np.float32)
    scores = np.stack([scores_coco[..., list(src)].min(axis=-1) for src in COCO_SOURCES], axis=-1)
    head = JOINT_INDEX["head"]
    keypoints[..., head, :], scores[..., head] = head_from_face(keypoints_coco, scores_coco)
    return keypoints, scores


# ---------------------------------------------------------------------------------------
# Detector semantics for 3D joints built from mocap rigs
# ---------------------------------------------------------------------------------------
#: COCO hip keypoints sit outside the femoral-head centres that mocap rigs use. Ratio of
#: the detector hip width to the joint-centre hip width (anthropometry: inter-trochanter
#: width ~32 cm against ~17-18 cm between hip joint centres; the COCO annotation sits in
#: between, on the outline of the hip). 1.35 brings a 13 cm Bandai hip to about 18 cm.
HIP_WIDTH_DETECTOR_OVER_JOINT = 1.35


def detector_hips(joints: np.ndarray, scale: float = HIP_WIDTH_DETECTOR_OVER_JOINT) -> np.ndarray:
    """Move both hip joints away from the pelvis along the hip line by ``scale``.

    Args:
        joints: (..., 17, 3) joints whose hips are mocap joint centres.
    Returns:
        (..., 17, 3) copy with detector-like hips (pelvis stays the hip midpoint).
    """
    out = np.array(joints, dtype=np.float32, copy=True)
    right, left = JOINT_INDEX["right_hip"], JOINT_INDEX["left_hip"]
    mid = 0.5 * (out[..., right, :] + out[..., left, :])
    out[..., right, :] = mid + scale * (out[..., right, :] - mid)
    out[..., left, :] = mid + scale * (out[..., left, :] - mid)
    out[..., PELVIS, :] = mid
    return out


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) joints -> (..., 16) the length of each bone in ``BONES`` order, frame by frame
    (the rig's constant lengths: ``rigging.solve.rig_bone_lengths``)."""
    parents = np.array([p for p, _ in BONES])
    children = np.array([c for _, c in BONES])
    return np.linalg.norm(joints[..., children, :] - joints[..., parents, :], axis=-1)


def flip_joints(joints: np.ndarray) -> np.ndarray:
    """Mirror (..., 17, C) joints across x = 0 and swap left/right labels (C >= 1)."""
    out = np.array(joints, copy=True)[..., list(FLIP_PERMUTATION), :]
    out[..., 0] = -out[..., 0]
    return out
