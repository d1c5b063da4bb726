"""Several people on one floor (issue 25): the shared world against the calibrated cameras.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_one_floor

The Pose2Sim multi-person recording (``bench/data/pose2sim_multiperson/``: 2-3 people on one lab
floor, four calibrated portrait views filmed from about 1.7-2.1 m up, looking down 18-25°), each view
run alone through ``run_people`` (``estimate --person all``, defaults). For each view:

- the camera's up as the world has it (its pitch and roll), against the calibration's: the subject's
  own world (:func:`~video_mocap.rigging.world.camera_to_world`, what ``--person all`` did before)
  and the shared world (:func:`~video_mocap.rigging.world.shared_world`: the floor refined by
  everyone's feet, each other person slid along its ray onto it);
- each person's floor contacts (the 10th percentile of the lower ankle's height, the raw lifted joints
  in the world, less the ankle height) in both worlds: everyone stands on the lab floor, so 0 is right;
- the check the floor fit cannot game: each person's distance from the camera against the four views
  triangulated (``training.calibrate_skeleton.triangulated_people``: the people seen in every view).

Writes ``bench/results/one_floor.{md,json}`` and ``bench/figures/one_floor.png`` (each view from the
side: everyone's skeleton at the middle frame, in both worlds).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

import numpy as np

from . import common
from .common import DATA, FIGURES, RESULTS, run_meta, write_results

RECORDING = DATA / "pose2sim_multiperson"
VIEWS = ("cam01", "cam02", "cam03", "cam04")
CALIBRATION = "Calib.qca.txt"
#: a person whose contacts are within this of the floor stands on it (metres)
ON_FLOOR_M = 0.1
#: a lifted person is the triangulated one whose pelvis ray is within this of its own (degrees)
MATCH_RAY_DEG = 5.0
#: the figure's height axis (metres)
HEIGHT_RANGE_M = (-0.5, 2.7)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0))))


def contact_height(joints_world: np.ndarray) -> float:
    """The 10th percentile of the lower ankle's height over the ankle height (metres)."""
    from video_mocap.core.skeleton import FEET
    from video_mocap.rigging.world import ANKLE_HEIGHT_M

    return float(np.percentile(joints_world[:, list(FEET), 2].min(axis=1), 10)) - ANKLE_HEIGHT_M


def distance_error(root_cam: np.ndarray, frames: np.ndarray, camera, triangulated: list[np.ndarray]) -> float | None:
    """Median error (m) of a person's distance from the camera against the triangulated person on the same
    ray (within :data:`MATCH_RAY_DEG`), over the frames both have; None when nobody triangulated matches."""
    for person in triangulated:
        truth = camera.to_camera(person[frames, 0])
        both = np.isfinite(truth).all(axis=1)
        if both.sum() == 0:
            continue
        cos = np.sum(truth[both] * root_cam[both], axis=1) / (
            np.linalg.norm(truth[both], axis=1) * np.linalg.norm(root_cam[both], axis=1))
        if np.degrees(np.arccos(np.clip(np.median(cos), -1.0, 1.0))) <= MATCH_RAY_DEG:
            return float(np.median(np.abs(np.linalg.norm(root_cam[both], axis=1) - np.linalg.norm(truth[both], axis=1))))
    return None


def measure_view(view: str, cameras: dict, triangulated: list[np.ndarray], weights_dir: Path = common.WEIGHTS) -> dict:
    """One view through ``run_people``: the world up, everyone's contacts and distances from the camera,
    subject-only and shared."""
    from video_mocap.core.formats import ROOT_DEPTH_SCALE
    from video_mocap.pipeline.stages import make_settings, run_people
    from video_mocap.rigging.solve import camera_joints
    from video_mocap.rigging.world import camera_to_world

    people = run_people(RECORDING / f"{view}.mp4", make_settings(weights=weights_dir))
    true_up = cameras[view].rotation @ np.array([0.0, 0.0, 1.0])  # the lab's up in the camera's axes
    order = [people.subject_id] + [t for t in people.results if t != people.subject_id]
    shared_camera = next(iter(people.results.values())).solved.info["camera"]  # the shared world's camera axes
    lifted = {}  # each person's camera-space joints as lifted (without the depth scale the shared world gave)
    for tid in order:
        motion = people.results[tid].motion
        as_lifted = dataclasses.replace(motion, extras={k: v for k, v in motion.extras.items() if k != ROOT_DEPTH_SCALE})
        lifted[tid] = camera_joints(as_lifted)
    alone = camera_to_world(lifted[order[0]])
    up_error = {"subject_only": angle_deg(alone.rotation.T @ [0.0, 0.0, 1.0], true_up),
                "shared": angle_deg(shared_camera["rotations"][0].T @ [0.0, 0.0, 1.0], true_up)}
    rows = []
    for tid in order:
        motion, shared_joints = people.results[tid].motion, people.results[tid].solved.joints_world
        scale = float(np.asarray(motion.extras.get(ROOT_DEPTH_SCALE, 1.0)))
        alone_joints = alone.apply(lifted[tid])
        # the roots the armatures stand on: one size per person (rigging.solve.size_factors), with and without the scale
        distance = {"subject_only": distance_error(lifted[tid][:, 0], motion.frame_indices, cameras[view], triangulated),
                    "shared": distance_error(camera_joints(motion)[:, 0], motion.frame_indices, cameras[view],
                                             triangulated)}
        middle = len(alone_joints) // 2
        rows.append({"track_id": int(tid), "subject": tid == people.subject_id, "depth_scale": scale,
                     "distance_error_m": distance,
                     "contact_m": {"subject_only": contact_height(alone_joints), "shared": contact_height(shared_joints)},
                     "side": {"subject_only": alone_joints[middle].tolist(), "shared": shared_joints[middle].tolist()}})
    return {"view": view, "up_error_deg": up_error,
            "true_pitch_deg": float(np.degrees(np.arcsin(-true_up[2]))), "people": rows}


def draw(views: list[dict], path: Path) -> Path:
    """Each view from the side (distance along the camera's view, height): everyone's skeleton at the
    middle frame, in the subject's own world (top) and the shared world (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from video_mocap.rigging.solve import PARENTS

    fig, axes = plt.subplots(2, len(views), figsize=(3.2 * len(views), 6.4))
    for col, view in enumerate(views):
        for row, world in enumerate(("subject_only", "shared")):
            ax = axes[row, col]
            for person in view["people"]:
                joints = np.asarray(person["side"][world])
                colour = "tab:green" if person["subject"] else None
                line = None
                for child, parent in enumerate(PARENTS):
                    if parent >= 0:
                        line, = ax.plot(joints[[child, parent], 1], joints[[child, parent], 2], lw=1.2,
                                        color=colour if line is None else line.get_color())
                        colour = line.get_color()
                ax.annotate(f"{person['track_id']}{'*' if person['subject'] else ''}", (joints[10, 1], joints[10, 2] + 0.1),
                            fontsize=8, ha="center")
            ax.axhline(0.0, color="grey", lw=0.8)
            ax.set_ylim(*HEIGHT_RANGE_M)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_title(f"{view['view']}: {'subject alone' if world == 'subject_only' else 'shared floor'}"
                         f" (up {view['up_error_deg'][world]:.1f}° off)", fontsize=9)
            ax.set_xlabel("world y (m)", fontsize=8)
        axes[0, 0].set_ylabel("height (m)")
        axes[1, 0].set_ylabel("height (m)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def to_markdown(views: list[dict], meta: dict) -> str:
    lines = [*common.header("Several people on one floor (issue 25)", meta), "",
             "The Pose2Sim multi-person recording, each calibrated view run alone (`run_people`, defaults). "
             "Up error: the angle between the world's up and the lab's, seen from the camera. Contacts: each "
             "person's lower-ankle 10th percentile over the ankle height, in metres (everyone stands on the lab "
             "floor: 0 is right). `*` = the subject; the depth scale is the factor the shared world put on that "
             "person's distance from the camera.", "",
             "| view (true pitch) | up error: subject alone -> shared | person: contacts subject alone -> shared (depth scale) |",
             "|---|---|---|"]
    for view in views:
        people = "; ".join(
            f"{p['track_id']}{'*' if p['subject'] else ''}: {p['contact_m']['subject_only']:+.2f} -> "
            f"{p['contact_m']['shared']:+.2f} m (x{p['depth_scale']:.2f}{distance_text(p)})" for p in view["people"])
        lines.append(f"| {view['view']} ({view['true_pitch_deg']:.0f}° down) | {view['up_error_deg']['subject_only']:.1f}° -> "
                     f"{view['up_error_deg']['shared']:.1f}° | {people} |")
    summary = summarise(views)
    lines += ["", f"People within {ON_FLOOR_M} m of the floor: {summary['on_floor']['subject_only']}/{summary['people']} "
              f"(subject alone) -> {summary['on_floor']['shared']}/{summary['people']} (shared); mean up error "
              f"{summary['up_error_deg']['subject_only']:.1f}° -> {summary['up_error_deg']['shared']:.1f}°. "
              f"The people's distance from the camera against the triangulation (the {summary['triangulated']} "
              "person-views of the 2 people seen in all four views; the floor fit never sees it): median error "
              f"{summary['distance_error_m']['subject_only']['median']:.2f} m as lifted -> "
              f"{summary['distance_error_m']['shared']['median']:.2f} m, mean "
              f"{summary['distance_error_m']['subject_only']['mean']:.2f} -> {summary['distance_error_m']['shared']['mean']:.2f} m.", "",
              "![one floor](../figures/one_floor.png)"]
    return "\n".join(lines) + "\n"


def distance_text(person: dict) -> str:
    errors = person["distance_error_m"]
    if errors["shared"] is None:
        return ""
    return f"; distance off by {errors['subject_only']:.2f} -> {errors['shared']:.2f} m"


def summarise(views: list[dict]) -> dict:
    people = [p for v in views for p in v["people"]]
    checked = [p for p in people if p["distance_error_m"]["shared"] is not None]
    return {"people": len(people), "triangulated": len(checked),
            "distance_error_m": {w: {"median": float(np.median([p["distance_error_m"][w] for p in checked])),
                                     "mean": float(np.mean([p["distance_error_m"][w] for p in checked]))}
                                 if checked else None for w in ("subject_only", "shared")},
            "on_floor": {w: sum(abs(p["contact_m"][w]) <= ON_FLOOR_M for p in people) for w in ("subject_only", "shared")},
            "up_error_deg": {w: float(np.mean([v["up_error_deg"][w] for v in views])) for w in ("subject_only", "shared")}}


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_weights_dir_option(parser)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--figures", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from video_mocap.training.multiview import read_qca

    start = time.perf_counter()
    from video_mocap.training.calibrate_skeleton import read_recording, triangulated_people

    cameras = {c.name: c for c in read_qca(RECORDING / CALIBRATION)}
    triangulated = triangulated_people(read_recording(RECORDING))  # the people seen in all four views
    views = [measure_view(view, cameras, triangulated, args.weights_dir) for view in VIEWS]
    draw(views, args.figures / "one_floor.png")
    meta = run_meta(common.command("bench_one_floor", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start)
    write_results(args.out, "one_floor", to_markdown(views, meta), {"meta": meta, "summary": summarise(views),
                                                                   "views": views})
    return 0


BENCH = common.Bench("one_floor", order=79, needs=(RECORDING / "cam01.mp4",))

if __name__ == "__main__":
    sys.exit(run())
