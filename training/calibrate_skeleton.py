"""The detector's own skeleton, measured on real multi-view video, and each training source mapped onto it.

A lifter learns the proportions of its training targets. The mocap sources disagree with each other
and with what the 2D detector marks as a "shoulder", "wrist" or "nose" (a COCO shoulder keypoint is on
the skin above the joint; HDM05's wrist is the end of its radius; Bandai's shoulder joints are 0.2 m
apart). This module measures the detector's proportions where they can be measured in metres: the
shipped detector (same settings as the pipeline and ``bench/bench_multiview.py``) on every view of a
calibrated, synchronised recording, each person's joints triangulated (``training.multiview``), and
the median of every measure of :data:`jointmap.SKELETON_MEASURES` over each person's frames, as
ratios to the leg, averaged over the people. Then, per training source, it fits the bone scales (:func:`jointmap.apply_bone_scales`)
that bring the source's median ratios onto the detector's, and writes both into
``training/jointmaps/detector_skeleton.json`` with their provenance.

``python -m video_mocap.training.calibrate_skeleton RECORDING_DIR [...] [--out JSON]``

A recording folder holds a Qualisys ``Calib.qca.txt`` and one ``<camera serial>.mp4`` per camera.
Several people may be in view: the tracks of the views are matched into people by the lowest
reprojection error.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import write_text_atomic
from ..core.errors import VideoMocapError
from . import jointmap
from .multiview import Camera, read_qca, reprojection_error, triangulate

log = logging.getLogger(__name__)

CALIBRATION_NAME = "Calib.qca.txt"
#: a person's tracks must share this many frames in every view
MIN_SHARED_FRAMES = 30
#: tracks of different views are one person when their triangulation reprojects within this (median, pixels;
#: on the Pose2Sim demo the two people reproject at 19 and 22 px, a wrong match at 68 px or more)
MAX_MATCH_REPROJECTION_PX = 40.0
#: a triangulated joint is measured only where its mean reprojection error is at most this (pixels; the
#: reference of bench_multiview lies 15-20 px from the detections, median, on a person about 650 px tall)
MAX_JOINT_REPROJECTION_PX = 40.0
#: fixed-point iterations of the bone-scale fit (each scale changes the others' ratios a little)
FIT_ITERATIONS = 8
#: keep every n-th mocap frame when measuring a source (neighbouring frames add nothing to a median)
SOURCE_FRAME_STRIDE = 5


@dataclass
class Recording:
    """A calibrated multi-view recording: cameras in calibration order and their videos."""

    folder: Path
    cameras: list[Camera]
    videos: list[Path]


def read_recording(folder: str | Path) -> Recording:
    folder = Path(folder)
    calibration = folder / CALIBRATION_NAME
    if not calibration.is_file():
        raise VideoMocapError(f"{folder}: no {CALIBRATION_NAME}; a recording folder holds a Qualisys calibration "
                              "and one <camera serial>.mp4 per camera.")
    cameras = read_qca(calibration)
    videos = [folder / f"{camera.name}.mp4" for camera in cameras]
    missing = [v.name for v in videos if not v.is_file()]
    if missing:
        raise VideoMocapError(f"{folder}: missing the views {', '.join(missing)} of {CALIBRATION_NAME}'s cameras.")
    return Recording(folder, cameras, videos)


def _padded(track, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A Track2D -> ((N, 17, 2) pixels, (N, 17) scores) over the video's N frames (score 0 where absent)."""
    keypoints = np.zeros((num_frames, *track.keypoints.shape[1:]), dtype=np.float64)
    scores = np.zeros((num_frames, track.scores.shape[1]), dtype=np.float64)
    keypoints[track.frame_indices] = track.keypoints
    scores[track.frame_indices] = track.scores
    return keypoints, scores


def view_tracks(recording: Recording) -> list[dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Every person track of every view, padded to the whole clip (the pipeline's cached 2D stage)."""
    from ..inference.detect import DetectConfig, detect_video

    views = []
    for video in recording.videos:
        result = detect_video(video, DetectConfig(device="cpu"))
        num_frames = result.info.num_frames if result.info is not None else \
            1 + max(int(t.frame_indices.max()) for t in result.tracks.values())
        views.append({tid: _padded(track, num_frames) for tid, track in result.tracks.items()})
    lengths = {next(iter(v.values()))[0].shape[0] for v in views if v}
    if len(lengths) != 1:
        raise VideoMocapError(f"{recording.folder}: the views have different frame counts {sorted(lengths)}; "
                              "the views must be synchronised clips of the same length.")
    return views


def match_people(views: list[dict[int, tuple[np.ndarray, np.ndarray]]], cameras: list[Camera]
                 ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Group one track per view into people, greedily by the lowest median reprojection error.

    Returns:
        per person: (V, N, 17, 2) keypoints, (V, N, 17) scores, the median reprojection error (px).
    """
    projections = np.stack([c.projection for c in cameras])
    candidates = []
    for combo in itertools.product(*[sorted(v) for v in views]):
        keypoints = np.stack([views[v][tid][0] for v, tid in enumerate(combo)])
        scores = np.stack([views[v][tid][1] for v, tid in enumerate(combo)])
        shared = (scores.max(axis=2) > 0).all(axis=0)
        if shared.sum() < MIN_SHARED_FRAMES:
            continue
        points = triangulate(keypoints[:, shared], scores[:, shared], projections)
        errors = reprojection_error(points, keypoints[:, shared], scores[:, shared], cameras)
        if np.isfinite(errors).any():
            candidates.append((float(np.nanmedian(errors)), combo, keypoints, scores))
    candidates.sort(key=lambda c: c[0])
    people, used = [], [set() for _ in views]
    for error, combo, keypoints, scores in candidates:
        if error > MAX_MATCH_REPROJECTION_PX:
            break
        if any(tid in used[v] for v, tid in enumerate(combo)):
            continue
        for v, tid in enumerate(combo):
            used[v].add(tid)
        people.append((keypoints, scores, error))
        log.info("person %d: tracks %s, median reprojection %.1f px", len(people), combo, error)
    return people


def triangulated_people(recording: Recording) -> list[np.ndarray]:
    """Each person of the recording as (N, 17, 3) world metres; NaN where a joint is unseen or does not
    reproject within :data:`MAX_JOINT_REPROJECTION_PX`."""
    projections = np.stack([c.projection for c in recording.cameras])
    people = []
    for keypoints, scores, _ in match_people(view_tracks(recording), recording.cameras):
        points = triangulate(keypoints, scores, projections)
        with np.errstate(invalid="ignore"):
            error = np.nanmean(reprojection_error(points, keypoints, scores, recording.cameras), axis=0)
        points[~(error <= MAX_JOINT_REPROJECTION_PX)] = np.nan
        people.append(points)
    return people


def measure_detector(recordings: list[Recording]) -> dict:
    """The detector's medians and ratios over every person-frame of the recordings."""
    people = [p for r in recordings for p in triangulated_people(r)]
    if not people:
        raise VideoMocapError("no person was seen in every view of the recordings; nothing to measure.")
    joints = np.concatenate(people)
    lengths = jointmap.skeleton_lengths(joints)
    per_person = [jointmap.skeleton_ratios(jointmap.skeleton_medians(p)) for p in people]
    return {
        "people": len(people),
        "person_frames": int(joints.shape[0]),
        "measured_frames": {k: int(np.isfinite(v).sum()) for k, v in lengths.items()},
        "medians_m": {k: float(np.nanmedian(v)) for k, v in lengths.items()},
        # each person's own ratios, then their mean: a pooled median would mix one person's leg with the other's arm
        "ratios_to_leg": {k: float(np.mean([r[k] for r in per_person])) for k in jointmap.SKELETON_MEASURES},
        "per_person_ratios": per_person,
    }


def fit_bone_scales(joints: np.ndarray, target_ratios: dict[str, float]) -> dict[str, float]:
    """The :func:`jointmap.apply_bone_scales` scales that put the median ratios of ``joints`` (N, 17, 3)
    on ``target_ratios`` (fixed-point iterations: each scale is corrected by target / current)."""
    scales = {name: 1.0 for name in jointmap.SKELETON_MEASURES}
    for _ in range(FIT_ITERATIONS):
        ratios = jointmap.skeleton_ratios(jointmap.skeleton_medians(jointmap.apply_bone_scales(joints, scales)))
        scales = {name: scales[name] * target_ratios[name] / ratios[name] for name in scales}
    return scales


def source_joints(data_config=None) -> dict[str, np.ndarray]:
    """Every training source's frames (every :data:`SOURCE_FRAME_STRIDE`-th; train and validation clips) with
    the joint map's semantics but no bone scales: {source: (N, 17, 3)}."""
    from .sources import DataConfig, load_bandai, load_deepmimic, load_hdm05

    config = data_config or DataConfig()
    clips = {
        "bandai": [c for part in ("part1", "part2") for c in load_bandai(config, part, bone_scales=None)],
        "hdm05": load_hdm05(config.hdm05_path, config.fps, bone_scales=None),
        "deepmimic": load_deepmimic(config.deepmimic_path, config.fps, bone_scales=None),
    }
    return {name: np.concatenate([c.joints[::SOURCE_FRAME_STRIDE] for c in source]) for name, source in clips.items()}


def _rounded(values: dict[str, float], digits: int = 4) -> dict[str, float]:
    return {k: round(float(v), digits) for k, v in values.items()}


def calibrate(recording_dirs: list[Path], data_config=None) -> dict:
    """Measure the detector, fit every source; the content of ``detector_skeleton.json``."""
    recordings = [read_recording(d) for d in recording_dirs]
    detector = measure_detector(recordings)
    target = detector["ratios_to_leg"]
    sources = {}
    for name, joints in source_joints(data_config).items():
        scales = fit_bone_scales(joints, target)
        mapped = jointmap.apply_bone_scales(joints, scales)
        sources[name] = {
            "frames_measured": int(joints.shape[0]),
            "ratios_before": _rounded(jointmap.skeleton_ratios(jointmap.skeleton_medians(joints))),
            "ratios_after": _rounded(jointmap.skeleton_ratios(jointmap.skeleton_medians(mapped))),
            "medians_before_m": _rounded(jointmap.skeleton_medians(joints)),
            "bone_scales": _rounded(scales),
        }
    return {
        "description": "The shipped 2D detector's skeleton (H36M-17 built from its COCO keypoints), triangulated "
                       "from calibrated multi-view video; ratios are to the leg (median thigh + median shin). "
                       "sources.<name>.bone_scales map that training source onto it "
                       "(training.jointmap.apply_bone_scales). Written by "
                       "`python -m video_mocap.training.calibrate_skeleton`.",
        "date": datetime.date.today().isoformat(),
        "detector_model": "weights/yolo11n-pose (the pipeline's DetectConfig defaults, CPU)",
        "recordings": [str(r.folder.name) for r in recordings],
        "max_joint_reprojection_px": MAX_JOINT_REPROJECTION_PX,
        "detector": {
            "people": detector["people"],
            "person_frames": detector["person_frames"],
            "measured_frames": detector["measured_frames"],
            "medians_m": _rounded(detector["medians_m"]),
            "ratios_to_leg": _rounded(target),
            "per_person_ratios": [_rounded(r) for r in detector["per_person_ratios"]],
        },
        "sources": sources,
    }


def ratio_table(calibration: dict) -> str:
    """Markdown: the detector's ratios against every source's, before -> after."""
    names = list(jointmap.SKELETON_MEASURES)
    lines = ["| ratio to leg | detector | " + " | ".join(f"{s} before -> after" for s in calibration["sources"]) + " |",
             "|---|---:|" + "---:|" * len(calibration["sources"])]
    for name in names:
        cells = [f"{src['ratios_before'][name]:.3f} -> {src['ratios_after'][name]:.3f}"
                 for src in calibration["sources"].values()]
        lines.append(f"| {name} | {calibration['detector']['ratios_to_leg'][name]:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m video_mocap.training.calibrate_skeleton", description=__doc__.split("\n")[0])
    parser.add_argument("recordings", nargs="+", type=Path, help="recording folders (Calib.qca.txt + <serial>.mp4)")
    parser.add_argument("--out", type=Path, default=jointmap.DETECTOR_SKELETON_FILE, help="JSON to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        calibration = calibrate(args.recordings)
    except VideoMocapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_text_atomic(args.out, json.dumps(calibration, indent=2) + "\n")
    print(ratio_table(calibration))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
