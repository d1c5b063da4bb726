"""Confidence on the rig (pure numpy): how far each solved bone can be trusted, per key.

The 2D stage gives every joint a score in [0, 1] per frame (``Motion3D.scores``, 0 = the joint
was missing and filled in). A bone of the solve runs from its parent's joint to its own joint
(``rigging/solve.py``: bone ``j`` ends at joint ``j``), so its direction is only as good as the
worse of the two: **a bone's confidence is the minimum of its two joints' scores** (the root
bone, ``pelvis``, has one joint: the pelvis's score). Scores are resampled onto the solve's keys
(linear in time, as the solve resamples the joints) when a variable-frame-rate clip was keyed
on a constant grid (``SolvedMotion.info["times_s"]``).

Frames to review: the stretches of at least :data:`MIN_REVIEW_KEYS` consecutive keys in which
some bone stays below :data:`LOW_CONFIDENCE` (two such stretches at most :data:`MERGE_GAP_KEYS`
keys apart are one). Each names its first and last scene frame, the
mean over the stretch of the per-key worst bone's confidence, and the bones that go below the
threshold there, lowest mean first (at most :data:`WORST_BONES_SHOWN`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from ..core import skeleton
from ..core.errors import VideoMocapError

log = logging.getLogger(__name__)

#: a bone is "low" below this confidence. YOLO-pose keypoint scores sit near 0.9 for a visible
#: joint and fall under 0.5 when it is occluded or guessed (Ultralytics hides keypoints under 0.5
#: when it draws them); 0 means the joint was missing in the 2D and filled in
LOW_CONFIDENCE = 0.5
#: a low stretch shorter than this many keys is a flicker, not worth a review entry
MIN_REVIEW_KEYS = 5
#: two low stretches this many keys apart or fewer are one (a joint seen for a frame in an occlusion)
MERGE_GAP_KEYS = 2
#: how many of a stretch's lowest bones it names
WORST_BONES_SHOWN = 3
#: keys of ``SolvedMotion.info``
INFO_CONFIDENCE = "confidence"
INFO_REVIEW = "review"
INFO_THRESHOLD = "confidence_threshold"


@dataclass(frozen=True)
class ReviewStretch:
    """A stretch of keys to check: scene frames ``first_frame..last_frame`` (inclusive)."""

    first_frame: int
    last_frame: int
    mean_confidence: float  # mean over the stretch of the lowest bone confidence of each key
    worst_bones: tuple[str, ...]  # the bones below the threshold in it, lowest mean over the stretch first

    def to_dict(self) -> dict:
        out = asdict(self)
        out["worst_bones"] = list(self.worst_bones)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ReviewStretch":
        return cls(int(data["first_frame"]), int(data["last_frame"]), float(data["mean_confidence"]),
                   tuple(str(b) for b in data["worst_bones"]))


def scores_at_keys(scores: np.ndarray, frame_times_s: np.ndarray, key_times_s: np.ndarray | None) -> np.ndarray:
    """(K, 17) joint scores at the solve's keys.

    Args:
        scores: (T, 17) the motion's 2D scores, one row per lifted frame.
        frame_times_s: (T,) the time (s) of each lifted frame (``Motion3D.frame_times()``).
        key_times_s: (K,) the time of each key (``SolvedMotion.info["times_s"]``), or None when the
            keys are the motion's own frames.
    """
    scores = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    if scores.ndim != 2 or scores.shape[1] != skeleton.NUM_JOINTS:
        raise VideoMocapError(f"Confidence: the motion's scores must have shape (T, 17), got {scores.shape}.")
    if key_times_s is None:
        return scores
    times = np.asarray(frame_times_s, dtype=np.float64)
    keys = np.asarray(key_times_s, dtype=np.float64)
    if len(times) != len(scores):
        raise VideoMocapError(f"Confidence: {len(scores)} score rows for {len(times)} frames; re-run the lifter.")
    if len(keys) == len(times) and np.allclose(keys, times):
        return scores
    slack = 0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    if len(keys) and (keys[0] < times[0] - slack or keys[-1] > times[-1] + slack):
        raise VideoMocapError(
            f"Confidence: the solve's keys ({keys[0]:.3f}-{keys[-1]:.3f} s) are not this motion's frames "
            f"({times[0]:.3f}-{times[-1]:.3f} s); re-run the solve on this motion."
        )
    return np.stack([np.interp(keys, times, scores[:, j]) for j in range(scores.shape[1])], axis=1)


def bone_confidence_from_scores(joint_scores: np.ndarray, parents: tuple[int, ...] = skeleton.PARENTS) -> np.ndarray:
    """(K, B) bone confidence: the minimum of the scores of bone ``j``'s joint and its parent's.

    joint_scores: (K, 17); parents: the solve's bone parents (bone ``j`` ends at joint ``j``).
    """
    joint_scores = np.asarray(joint_scores, dtype=np.float64)
    out = joint_scores.copy()
    for j, parent in enumerate(parents):
        if parent >= 0:
            out[:, j] = np.minimum(joint_scores[:, j], joint_scores[:, parent])
    return out


def _runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Half-open [start, end) runs of True in a 1D bool array; runs at most ``merge_gap`` apart are joined."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    runs: list[tuple[int, int]] = []
    for start, end in zip(edges[::2].tolist(), edges[1::2].tolist()):
        if runs and start - runs[-1][1] <= merge_gap:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def review_stretches(confidence: np.ndarray, frames: np.ndarray, bone_names: tuple[str, ...],
                     threshold: float = LOW_CONFIDENCE, min_keys: int = MIN_REVIEW_KEYS) -> list[ReviewStretch]:
    """The stretches where some bone stays below ``threshold`` for at least ``min_keys`` keys.

    confidence: (K, B); frames: (K,) scene frames of the keys (float when the fps were mapped).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    worst = confidence.min(axis=1)
    out = []
    for start, end in _runs(worst < threshold, MERGE_GAP_KEYS):
        if end - start < min_keys:
            continue
        bone_means = confidence[start:end].mean(axis=0)
        was_low = (confidence[start:end] < threshold).any(axis=0)
        order = [int(b) for b in np.argsort(bone_means, kind="stable") if was_low[b]]
        out.append(ReviewStretch(
            first_frame=int(round(frames[start])),
            last_frame=int(round(frames[end - 1])),
            mean_confidence=float(worst[start:end].mean()),
            worst_bones=tuple(bone_names[b] for b in order[:WORST_BONES_SHOWN]),
        ))
    return out


def bone_confidence(solved, motion, threshold: float = LOW_CONFIDENCE,
                    min_keys: int = MIN_REVIEW_KEYS) -> np.ndarray | None:
    """Store the bones' confidence and the frames to review on a solve result.

    Sets ``solved.info["confidence"]`` (K, B) float32 in [0, 1] (keys x ``solved.bone_names``) and
    ``solved.info["review"]`` (a list of :class:`ReviewStretch`; ``info["confidence_threshold"]`` the
    threshold it used), and returns the confidence.
    A motion without 2D scores (e.g. a motion file written by another tool) gets neither: returns None.

    Args:
        solved: the :class:`~video_mocap.rigging.solve.SolvedMotion` of ``motion``.
        motion: the :class:`~video_mocap.core.formats.Motion3D` it was solved from.
    """
    if motion.scores is None:
        log.info("the motion carries no 2D scores: no confidence on the rig")
        return None
    key_times = solved.info.get("times_s")
    scores = scores_at_keys(motion.scores, motion.frame_times(), key_times)
    if len(scores) != solved.num_frames:
        raise VideoMocapError(
            f"Confidence: {len(scores)} score rows for {solved.num_frames} solved keys; re-run the solve on this motion."
        )
    confidence = bone_confidence_from_scores(scores, tuple(solved.parents)).astype(np.float32)
    review = review_stretches(confidence, solved.frames, tuple(solved.bone_names), threshold, min_keys)
    solved.info[INFO_CONFIDENCE] = confidence
    solved.info[INFO_REVIEW] = review
    solved.info[INFO_THRESHOLD] = float(threshold)
    log.info("confidence: %d stretch(es) to review below %.2f", len(review), threshold)
    return confidence
