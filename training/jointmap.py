"""Joint maps: from any BVH rig to the 17 H36M joints with detector semantics.

A joint map is a JSON data file (built-in: ``training/jointmaps/<name>.json``; users can
pass their own path)::

    {
      "name": "bandai",
      "units_to_metres": 0.01,          # file units -> metres
      "up_axis": "y",                   # "y" (Y up) or "z" (Z up; converted to Y up)
      "hip_width_scale": "detector",    # "detector" (skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT)
                                        # or a number (1.0: the rig's hips are already COCO-like)
      "joints": {                       # every H36M joint except the derived pelvis and spine
        "right_hip": {"UpperLeg_R": 1.0},                 # weights of rig joints (sum to 1)
        "thorax": {"UpperArm_L": 0.5, "UpperArm_R": 0.5},
        "head": {"weights": {"Head": 1.0},                # long form: weights plus an offset
                 "offset": [10, 0, 0],                    # in file units, in the local axes
                 "offset_frame": "Head"},                 # of this rig joint (e.g. along its bone)
        ...
      }
    }

The *semantics* are applied here once for every rig, following ``inference/skeleton.py``:
hips are widened with :func:`skeleton.detector_hips` (pelvis = hip midpoint) and the spine
is the midpoint of pelvis and thorax, exactly as the COCO -> H36M 2D mapping builds it.
The JSON only holds rig names and offsets.

Then the *proportions* (issue 23): the detector's skeleton is measured on real multi-view video
(``training/calibrate_skeleton.py`` writes :data:`DETECTOR_SKELETON_FILE`), and each training source
gets bone scales onto it (:func:`apply_bone_scales`: shoulder and hip width, upper arm, forearm,
thigh, shin, torso, nose and head from the thorax), applied by ``training.sources`` when
``data.detector_bones`` is on (:func:`source_bone_scales`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core import skeleton
from .bvh import BvhData, forward_kinematics

JOINTMAP_DIR = Path(__file__).resolve().parent / "jointmaps"
DERIVED_JOINTS: tuple[str, ...] = ("pelvis", "spine")
WEIGHT_SUM_TOLERANCE = 1e-3
UP_AXES: tuple[str, ...] = ("y", "z")
#: the detector's skeleton measured on real multi-view video, and each source's bone scales
#: onto it (written by ``python -m video_mocap.training.calibrate_skeleton``)
DETECTOR_SKELETON_FILE = JOINTMAP_DIR / "detector_skeleton.json"

_J = skeleton.JOINT_INDEX
#: the measured proportions: name -> the joint pairs whose distance it is (sides averaged)
SKELETON_MEASURES: dict[str, tuple[tuple[int, int], ...]] = {
    "shoulder_width": ((_J["left_shoulder"], _J["right_shoulder"]),),
    "hip_width": ((_J["left_hip"], _J["right_hip"]),),
    "upper_arm": ((_J["left_shoulder"], _J["left_elbow"]), (_J["right_shoulder"], _J["right_elbow"])),
    "forearm": ((_J["left_elbow"], _J["left_wrist"]), (_J["right_elbow"], _J["right_wrist"])),
    "thigh": ((_J["left_hip"], _J["left_knee"]), (_J["right_hip"], _J["right_knee"])),
    "shin": ((_J["left_knee"], _J["left_ankle"]), (_J["right_knee"], _J["right_ankle"])),
    "torso": ((skeleton.PELVIS, _J["thorax"]),),
    "nose": ((_J["thorax"], _J["neck_nose"]),),
    "head": ((_J["thorax"], _J["head"]),),
}
#: ratios are to the leg (thigh + shin): knees and ankles are joint centres for a detector and for mocap alike
RATIO_REFERENCE: tuple[str, ...] = ("thigh", "shin")


@dataclass
class JointSource:
    """How one H36M joint is built: a weighted sum of rig joints plus an optional offset."""

    weights: dict[str, float]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    offset_frame: str | None = None


@dataclass
class JointMap:
    name: str
    units_to_metres: float
    up_axis: str
    hip_width_scale: float
    joints: dict[str, JointSource] = field(default_factory=dict)
    description: str = ""

    @property
    def rig_joints(self) -> set[str]:
        names: set[str] = set()
        for source in self.joints.values():
            names.update(source.weights)
            if source.offset_frame:
                names.add(source.offset_frame)
        return names


def builtin_jointmaps() -> list[str]:
    return sorted(p.stem for p in JOINTMAP_DIR.glob("*.json") if p.name != DETECTOR_SKELETON_FILE.name)


def load_jointmap(name_or_path: str | os.PathLike) -> JointMap:
    """Load a built-in joint map by name (e.g. ``"bandai"``) or a JSON file by path."""
    path = Path(name_or_path)
    if not path.suffix and (JOINTMAP_DIR / f"{path.name}.json").is_file():
        path = JOINTMAP_DIR / f"{path.name}.json"
    if not path.is_file():
        raise VideoMocapError(
            f"Joint map {str(name_or_path)!r} not found: give a JSON file path or one of the built-in maps "
            f"({', '.join(builtin_jointmaps())})."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VideoMocapError(f"Joint map {path}: invalid JSON at line {exc.lineno}: {exc.msg}.") from None
    return parse_jointmap(data, str(path))


def parse_jointmap(data: dict, origin: str = "<dict>") -> JointMap:
    """Validate a joint-map dictionary (the JSON content) and build a :class:`JointMap`."""

    def fail(message: str) -> VideoMocapError:
        return VideoMocapError(f"Joint map {origin}: {message}")

    if not isinstance(data, dict):
        raise fail("the top level must be a JSON object.")
    try:
        scale = float(data.get("units_to_metres", 1.0))
    except (TypeError, ValueError):
        raise fail(f"'units_to_metres' must be a number, got {data.get('units_to_metres')!r}.") from None
    if not scale > 0:
        raise fail(f"'units_to_metres' must be positive, got {scale}.")
    up_axis = str(data.get("up_axis", "y")).lower()
    if up_axis not in UP_AXES:
        raise fail(f"'up_axis' must be one of {UP_AXES}, got {up_axis!r}.")
    hip_raw = data.get("hip_width_scale", "detector")
    if hip_raw == "detector":
        hip_scale = skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT
    else:
        try:
            hip_scale = float(hip_raw)
        except (TypeError, ValueError):
            raise fail(f"'hip_width_scale' must be 'detector' or a number, got {hip_raw!r}.") from None
    joints_raw = data.get("joints")
    if not isinstance(joints_raw, dict):
        raise fail("'joints' must be an object mapping H36M joint names to rig joints.")
    joints: dict[str, JointSource] = {}
    for name, spec in joints_raw.items():
        if name in DERIVED_JOINTS:
            raise fail(f"{name!r} is derived (pelvis = hip midpoint, spine = pelvis-thorax midpoint); remove it.")
        if name not in skeleton.JOINT_INDEX:
            raise fail(f"unknown H36M joint {name!r}; expected one of {', '.join(skeleton.JOINT_NAMES)}.")
        if not isinstance(spec, dict) or not spec:
            raise fail(f"joint {name!r}: expected {{rig joint: weight}} or {{'weights': ..., 'offset': ...}}.")
        long_form = "weights" in spec
        weights = spec["weights"] if long_form else spec
        try:
            weights = {str(k): float(v) for k, v in weights.items()}
        except (AttributeError, TypeError, ValueError):
            raise fail(f"joint {name!r}: weights must map rig joint names to numbers.") from None
        if abs(sum(weights.values()) - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise fail(f"joint {name!r}: weights must sum to 1, got {sum(weights.values()):.4f}.")
        offset = (0.0, 0.0, 0.0)
        frame = None
        if long_form and "offset" in spec:
            try:
                offset = tuple(float(v) for v in spec["offset"])
            except (TypeError, ValueError):
                raise fail(f"joint {name!r}: 'offset' must be three numbers.") from None
            if len(offset) != 3:
                raise fail(f"joint {name!r}: 'offset' must be three numbers, got {len(offset)}.")
            frame = spec.get("offset_frame")
            if not isinstance(frame, str):
                raise fail(f"joint {name!r}: an 'offset' needs 'offset_frame' (the rig joint whose axes it uses).")
        joints[name] = JointSource(weights=weights, offset=offset, offset_frame=frame)  # type: ignore[arg-type]
    required = [n for n in skeleton.JOINT_NAMES if n not in DERIVED_JOINTS]
    missing = [n for n in required if n not in joints]
    if missing:
        raise fail(f"missing H36M joints: {', '.join(missing)}.")
    return JointMap(
        name=str(data.get("name", Path(origin).stem)),
        units_to_metres=scale,
        up_axis=up_axis,
        hip_width_scale=hip_scale,
        joints=joints,
        description=str(data.get("description", "")),
    )


def to_y_up(points: np.ndarray, up_axis: str) -> np.ndarray:
    """(..., 3) points from a ``up_axis``-up right-handed world to Y up (Z up: (x, y, z) -> (x, z, -y))."""
    if up_axis == "y":
        return points
    if up_axis == "z":
        return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)
    raise VideoMocapError(f"unsupported up axis {up_axis!r}; use one of {UP_AXES}.")


def apply_detector_semantics(joints: np.ndarray, hip_width_scale: float) -> np.ndarray:
    """Widen hips (:func:`skeleton.detector_hips`, pelvis = hip midpoint) and set spine = mid(pelvis, thorax).

    Args:
        joints: (..., 17, 3) with hips at rig joint centres.
    Returns:
        (..., 17, 3) float32.
    """
    out = skeleton.detector_hips(joints, hip_width_scale)
    spine, thorax = skeleton.JOINT_INDEX["spine"], skeleton.JOINT_INDEX["thorax"]
    out[..., spine, :] = 0.5 * (out[..., skeleton.PELVIS, :] + out[..., thorax, :])
    return out


def skeleton_lengths(joints: np.ndarray) -> dict[str, np.ndarray]:
    """(..., 17, 3) joints -> {measure: (...) length in metres} for every :data:`SKELETON_MEASURES` entry
    (two-sided measures are the mean of the sides; NaN where a joint is NaN)."""
    joints = np.asarray(joints, dtype=np.float64)
    return {
        name: np.mean([np.linalg.norm(joints[..., a, :] - joints[..., b, :], axis=-1) for a, b in pairs], axis=0)
        for name, pairs in SKELETON_MEASURES.items()
    }


def skeleton_medians(joints: np.ndarray) -> dict[str, float]:
    """(T, 17, 3) -> {measure: median length (m)} over the frames where it is finite."""
    return {name: float(np.nanmedian(values)) for name, values in skeleton_lengths(joints).items()}


def skeleton_ratios(medians: dict[str, float]) -> dict[str, float]:
    """Median lengths -> the same divided by the leg (median thigh + median shin): proportions that do not
    depend on the person's size."""
    leg = sum(medians[name] for name in RATIO_REFERENCE)
    return {name: value / leg for name, value in medians.items()}


def _move(out: np.ndarray, joints: tuple[int, ...], delta: np.ndarray) -> None:
    for j in joints:
        out[..., j, :] += delta


def apply_bone_scales(joints: np.ndarray, scales: dict[str, float]) -> np.ndarray:
    """Scale a source's bones onto the detector's proportions (the ``bone_scales`` of
    :data:`DETECTOR_SKELETON_FILE`), in this order, each on the result of the previous:

    - ``torso``: the thorax moves along pelvis -> thorax, carrying the whole upper body;
    - ``shoulder_width`` / ``hip_width``: the two shoulders (hips) move apart about their midpoint,
      alone: the keypoint sits on the surface, the elbow (knee) joint does not move;
    - ``upper_arm``, ``forearm``, ``thigh``, ``shin``: the distal joint moves along the bone,
      carrying the rest of the limb;
    - ``nose`` and ``head``: the point moves along thorax -> point.

    Missing names are 1. Spine is set again to mid(pelvis, thorax).

    Args:
        joints: (..., 17, 3) with detector semantics (hips already widened).
    Returns:
        (..., 17, 3) float32 copy.
    """
    out = np.array(joints, dtype=np.float64, copy=True)
    j = skeleton.JOINT_INDEX

    def along(parent: int, child: int, carried: tuple[int, ...], scale: float) -> None:
        if scale != 1.0:
            _move(out, carried, (scale - 1.0) * (out[..., child, :] - out[..., parent, :]))

    upper = tuple(j[n] for n in ("thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
                                 "right_shoulder", "right_elbow", "right_wrist"))
    along(skeleton.PELVIS, j["thorax"], upper, scales.get("torso", 1.0))
    for left, right, key in (("left_shoulder", "right_shoulder", "shoulder_width"), ("left_hip", "right_hip", "hip_width")):
        scale = scales.get(key, 1.0)
        if scale != 1.0:
            half = 0.5 * (out[..., j[left], :] - out[..., j[right], :])
            out[..., j[left], :] += (scale - 1.0) * half
            out[..., j[right], :] -= (scale - 1.0) * half
    for side in ("left", "right"):
        shoulder, elbow, wrist = (j[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist"))
        hip, knee, ankle = (j[f"{side}_{n}"] for n in ("hip", "knee", "ankle"))
        along(shoulder, elbow, (elbow, wrist), scales.get("upper_arm", 1.0))
        along(elbow, wrist, (wrist,), scales.get("forearm", 1.0))
        along(hip, knee, (knee, ankle), scales.get("thigh", 1.0))
        along(knee, ankle, (ankle,), scales.get("shin", 1.0))
    along(j["thorax"], j["neck_nose"], (j["neck_nose"],), scales.get("nose", 1.0))
    along(j["thorax"], j["head"], (j["head"],), scales.get("head", 1.0))
    out[..., skeleton.PELVIS, :] = 0.5 * (out[..., j["left_hip"], :] + out[..., j["right_hip"], :])
    out[..., j["spine"], :] = 0.5 * (out[..., skeleton.PELVIS, :] + out[..., j["thorax"], :])
    return out.astype(np.float32)


def load_detector_skeleton(path: str | os.PathLike = DETECTOR_SKELETON_FILE) -> dict:
    """The measured detector skeleton (``{"detector": {...}, "sources": {...}, ...}``)."""
    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(f"{path} not found: run `python -m video_mocap.training.calibrate_skeleton` to measure "
                              "the detector's skeleton.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise VideoMocapError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}.") from None


def detector_skeleton_sha256(path: str | os.PathLike = DETECTOR_SKELETON_FILE) -> str:
    """The sha256 of the detector-skeleton calibration file (what a run's clips and card depend on)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_bone_scales(source: str, path: str | os.PathLike = DETECTOR_SKELETON_FILE) -> dict[str, float]:
    """A training source's bone scales onto the detector's skeleton ({} = none calibrated for it)."""
    data = load_detector_skeleton(path)
    return {k: float(v) for k, v in data.get("sources", {}).get(source, {}).get("bone_scales", {}).items()}


def map_positions(
    jointmap: JointMap,
    names: list[str],
    positions: np.ndarray,
    rotations: np.ndarray | None,
    origin: str = "",
) -> np.ndarray:
    """Rig joint world positions -> H36M-17 (metres, Y up, detector semantics).

    Args:
        names: (J,) rig joint names.
        positions: (F, J, 3) world positions in **metres**, rig up axis.
        rotations: (F, J, 3, 3) global rotations (needed when the map has offsets).
    Returns:
        (F, 17, 3) float32.
    """
    index = {n: i for i, n in enumerate(names)}
    missing = sorted(n for n in jointmap.rig_joints if n not in index)
    if missing:
        raise VideoMocapError(
            f"Joint map {jointmap.name!r} does not fit {origin or 'this rig'}: no joint(s) {', '.join(missing)}. "
            f"The rig has: {', '.join(names)}. Write a joint map for this rig (see training/jointmaps/)."
        )
    weights = np.zeros((skeleton.NUM_JOINTS, len(names)), dtype=np.float64)
    for h36m_name, source in jointmap.joints.items():
        for rig_name, w in source.weights.items():
            weights[skeleton.JOINT_INDEX[h36m_name], index[rig_name]] = w
    out = np.einsum("hj,fjc->fhc", weights, positions)
    for h36m_name, source in jointmap.joints.items():
        if source.offset_frame is None or not any(source.offset):
            continue
        if rotations is None:
            raise VideoMocapError(f"Joint map {jointmap.name!r}: offsets need the rig's global rotations.")
        offset = np.asarray(source.offset, dtype=np.float64) * jointmap.units_to_metres
        out[:, skeleton.JOINT_INDEX[h36m_name]] += rotations[:, index[source.offset_frame]] @ offset
    out = to_y_up(out, jointmap.up_axis)
    return apply_detector_semantics(out, jointmap.hip_width_scale).astype(np.float32)


def bvh_to_h36m(bvh: BvhData, jointmap: JointMap) -> np.ndarray:
    """Forward kinematics of a BVH + joint map -> (F, 17, 3) float32 metres, Y up."""
    positions, rotations = forward_kinematics(bvh, scale=jointmap.units_to_metres, return_rotations=True)
    return map_positions(jointmap, bvh.names, positions, rotations, origin=bvh.path)


def resample(joints: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample (T, ..., 3) joint positions in time by linear interpolation.

    Linear in joint positions: fine between nearby rates (e.g. 30 -> 25 or 60); bone
    lengths shrink slightly on fast rotations between two samples (a fraction of a mm at
    30 fps for walking). Returns the input unchanged when the rates are equal.
    """
    if fps_in <= 0 or fps_out <= 0:
        raise VideoMocapError(f"frame rates must be positive, got {fps_in} -> {fps_out}.")
    joints = np.asarray(joints)
    if abs(fps_in - fps_out) < 1e-3 * fps_out or joints.shape[0] < 2:
        return joints
    duration = (joints.shape[0] - 1) / fps_in
    count = int(np.floor(duration * fps_out + 1e-6)) + 1
    t = np.arange(count) / fps_out * fps_in
    lo = np.clip(np.floor(t).astype(np.int64), 0, joints.shape[0] - 1)
    hi = np.clip(lo + 1, 0, joints.shape[0] - 1)
    frac = (t - lo).reshape((-1,) + (1,) * (joints.ndim - 1))
    return ((1.0 - frac) * joints[lo] + frac * joints[hi]).astype(joints.dtype)
