"""Everyone in the shot (issue 25): detection recall on small people, and the cost per extra person.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_people

1. **Recall on small people.** The sample clip (884x498, two people about 160-210 px tall) is made
   into a crowd of small people: each frame is shrunk to 1/3 and tiled 3 x 3 into a frame of the
   original size, so 9 copies of each person stand about 55-70 px tall (the issue's sprint: 76 px in
   a 1080p frame). The ground truth is the people found on the full-size frame (YOLO at 640 px,
   confidence 0.5), shrunk into each tile. Recall = the share of those boxes matched (IoU >= 0.3) by a
   detection on the mosaic, at ``--imgsz`` 640, 1280 and ``auto`` (which decides on its own), with the
   detection time per frame.
2. **Cost per extra person.** ``run_people`` (``estimate --person all``) on frames 40-130 of the sample
   clip, split into what is paid once (the 2D stage, the lifter's load, the camera step over
   everyone's frames) and what each person adds (their lift and their solve in the shared world),
   each the best of 3 runs. (Timing whole runs with 1 and 2 people on this loaded machine gave
   differences below the noise: a person's lift is a small part of a run.)
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import common
from .common import FIGURES, RESULTS, SAMPLE, run_meta, write_results

#: every STEP-th frame of the sample clip between FIRST and LAST is a recall frame
FIRST, LAST, STEP = 40, 200, 4
TILES = 3
GT_CONF = 0.5
MATCH_IOU = 0.3
#: the frame range of the cost-per-person run (both people in view)
PEOPLE_RANGE = (40, 130)


def mosaic(frame: np.ndarray, tiles: int = TILES) -> np.ndarray:
    """(H, W, 3) -> the frame shrunk by ``tiles`` and tiled tiles x tiles into (about) H x W."""
    import cv2

    h, w = frame.shape[:2]
    small = cv2.resize(frame, (w // tiles, h // tiles), interpolation=cv2.INTER_AREA)
    return np.concatenate([np.concatenate([small] * tiles, axis=1)] * tiles, axis=0)


def tiled_boxes(boxes: np.ndarray, shape: tuple[int, int], tiles: int = TILES) -> np.ndarray:
    """(N, 4) full-frame boxes -> (N * tiles^2, 4) boxes in the mosaic."""
    h, w = shape
    sw, sh = w // tiles, h // tiles
    scale = np.array([sw / w, sh / h, sw / w, sh / h])
    out = [boxes * scale + np.array([i * sw, j * sh, i * sw, j * sh]) for j in range(tiles) for i in range(tiles)]
    return np.concatenate(out) if out else np.zeros((0, 4))


def recall(truth: np.ndarray, found: np.ndarray) -> tuple[int, int]:
    """(matched, total) ground-truth boxes with a detection of IoU >= MATCH_IOU (each detection used once)."""
    from video_mocap.inference.simple_tracker import greedy_match, iou_matrix

    if len(truth) == 0:
        return 0, 0
    iou = iou_matrix(truth, found)
    return len(greedy_match(iou, iou >= MATCH_IOU)), len(truth)


def measure_recall(sizes: list) -> dict:
    from video_mocap.inference.detect import DEFAULT_IMGSZ, DetectConfig, _Detector, choose_imgsz, resolve_model
    from video_mocap.inference.video import iter_timed_frames, probe_video

    info = probe_video(SAMPLE)
    frames = [f for i, _, f in iter_timed_frames(SAMPLE, FIRST, LAST + 1, expected=info.num_frames)
              if (i - FIRST) % STEP == 0]
    weights = resolve_model(DetectConfig().model)
    truth_detector = _Detector(DetectConfig(device="cpu", backend="ultralytics", conf=GT_CONF), weights)
    truths = [tiled_boxes(d.boxes, frames[0].shape[:2]) for d in truth_detector.predict(frames, DEFAULT_IMGSZ)]
    tiles = [mosaic(f) for f in frames]
    heights = np.concatenate([t[:, 3] - t[:, 1] for t in truths])
    detector = _Detector(DetectConfig(device="cpu", backend="ultralytics"), weights)
    rows = {}
    for size in sizes:
        imgsz = size
        if size == "auto":  # what auto picks on the mosaic clip (it looks at 8 of its frames)
            with tempfile.TemporaryDirectory() as tmp:
                clip = write_clip(Path(tmp) / "mosaic.mp4", tiles, info.fps)
                imgsz = choose_imgsz(detector, clip, probe_video(clip), DetectConfig(imgsz="auto"))
        detector.predict(tiles[:2], imgsz)  # warm-up
        start = time.perf_counter()
        found = [d.boxes for f in tiles for d in detector.predict([f], imgsz)]
        seconds = (time.perf_counter() - start) / len(tiles)
        matched = [recall(t, f) for t, f in zip(truths, found)]
        hit, total = sum(m for m, _ in matched), sum(n for _, n in matched)
        rows[str(size)] = {"imgsz": int(imgsz), "recall": hit / max(total, 1), "matched": hit, "truth": total,
                           "s_per_frame": seconds}
        print(f"imgsz {size} ({imgsz}): recall {hit}/{total} = {hit / max(total, 1):.3f}, {seconds:.3f} s/frame")
    return {"frames": len(frames), "median_person_height_px": float(np.median(heights)), "sizes": rows}


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def draw_paths(people, path: Path) -> Path:
    """The people's world paths from above (pelvis, a pose every 15 keys) and their lower ankle's height."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from video_mocap.core.skeleton import FEET
    from video_mocap.rigging.solve import PARENTS

    fig, (top, side) = plt.subplots(1, 2, figsize=(11, 4.5))
    for tid, result in people.results.items():
        joints = result.solved.joints_world
        line, = top.plot(joints[:, 0, 0], joints[:, 0, 1], label=people.name(tid))
        for k in range(0, len(joints), 15):
            for child, parent in enumerate(PARENTS):
                if parent >= 0:
                    top.plot(joints[k, [child, parent], 0], joints[k, [child, parent], 1], color=line.get_color(), lw=0.5)
        side.plot(result.solved.frames, joints[:, list(FEET), 2].min(axis=1), color=line.get_color(),
                  label=f"{people.name(tid)}{' (subject)' if tid == people.subject_id else ''}")
    top.set_aspect("equal")
    top.set_xlabel("x (m)")
    top.set_ylabel("y (m)")
    top.set_title("one world, from above: pelvis paths, a pose every 15 frames")
    top.legend(loc="upper right")
    side.set_title("height of the lower ankle (m)")
    side.set_xlabel("scene frame")
    side.legend(loc="center right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def measure_people_cost(backend: str) -> dict:
    """The time of ``run_people`` split into what is paid once (2D stage, lifter load, camera step) and
    what each person adds (their lift and their solve), each the best of 3 runs."""
    from video_mocap.inference.camera_motion import estimate_camera_motion
    from video_mocap.inference.detect import detect_video
    from video_mocap.inference.lifter import lift_track, load_lifter
    from video_mocap.pipeline.stages import DETECT_SUBDIR, make_settings, run_people, solve_motion
    from video_mocap.rigging.solve import camera_joints
    from video_mocap.rigging.world import shared_world

    start, end = PEOPLE_RANGE
    settings = make_settings(device="cpu", backend=backend, frame_start=start, frame_end=end)
    out: dict = {"frames": end - start}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        began = time.perf_counter()
        detected = detect_video(SAMPLE, settings.detect, cache_dir=cache / DETECT_SUBDIR)
        out["detect_s"] = time.perf_counter() - began
        began = time.perf_counter()
        people = run_people(SAMPLE, settings, cache_dir=cache)
        out["run_people_s"] = time.perf_counter() - began
        draw_paths(people, FIGURES / "people_paths.png")
        out["lifter_load_s"] = _best_of(lambda: load_lifter(settings.model, device="cpu", backend=settings.lifter_backend))
        lifter = load_lifter(settings.model, device="cpu", backend=settings.lifter_backend)
        tracks = [detected.tracks[t] for t in people.results]
        motions = [r.motion for r in people.results.values()]
        frames = np.unique(np.concatenate([m.frame_indices for m in motions]))
        out["camera_step_s"] = _best_of(lambda: estimate_camera_motion(
            SAMPLE, list(detected.tracks.values()), frames, float(motions[0].extras["focal_px"])), repeats=1)
        world = shared_world([camera_joints(m) for m in motions]).world
        per_person = []
        for track, motion in zip(tracks, motions):
            lift = _best_of(lambda: lift_track(track, lifter, fov_deg=settings.fov_deg, flip=settings.flip))
            solve = _best_of(lambda: solve_motion(motion, settings.solve, 0.0, world=world))
            per_person.append({"track_id": int(track.track_id), "frames": int(track.num_frames), "lift_s": lift,
                               "solve_s": solve})
        out["people"] = per_person
    out["extra_person_s"] = float(np.mean([p["lift_s"] + p["solve_s"] for p in per_person]))
    out["extra_person_ms_per_frame"] = 1000 * float(np.mean([(p["lift_s"] + p["solve_s"]) / p["frames"] for p in per_person]))
    out["once_s"] = out["detect_s"] + out["lifter_load_s"] + out["camera_step_s"]
    print(f"cost per extra person ({backend}): {out['extra_person_s']:.2f} s for ~{end - start} frames "
          f"({out['extra_person_ms_per_frame']:.1f} ms per frame of that person); paid once: 2D stage "
          f"{out['detect_s']:.1f} s, lifter load {out['lifter_load_s']:.2f} s, camera step {out['camera_step_s']:.1f} s")
    return out


def to_markdown(result: dict, meta: dict) -> str:
    rec = result["recall"]
    lines = [*common.header("Everyone in the shot: small people and the cost per person (issue 25)", meta), "",
             f"Recall on small people: the sample clip shrunk to 1/{TILES} and tiled {TILES}x{TILES} "
             f"({rec['frames']} frames, median person {rec['median_person_height_px']:.0f} px tall in an 884x498 frame; "
             f"ground truth: YOLO at 640 px on the full-size frame, conf {GT_CONF}; match IoU >= {MATCH_IOU}).", "",
             "| --imgsz | input px | recall | detection s/frame |", "|---|---|---|---|"]
    for size, row in rec["sizes"].items():
        lines.append(f"| {size} | {row['imgsz']} | {row['recall']:.3f} ({row['matched']}/{row['truth']}) | "
                     f"{row['s_per_frame']:.3f} |")
    for backend, cost in result["cost"].items():
        lines += ["", f"Cost per extra person ({backend}, frames {PEOPLE_RANGE[0]}-{PEOPLE_RANGE[1]} of the sample clip, "
                  "best of 3): each person adds their own lift and solve: "
                  + ", ".join(f"person {p['track_id']} ({p['frames']} frames) lift {p['lift_s']:.2f} s + solve "
                              f"{p['solve_s']:.2f} s" for p in cost["people"])
                  + f": **{cost['extra_person_s']:.2f} s per extra person, {cost['extra_person_ms_per_frame']:.1f} ms per "
                  "frame the person is seen**. Paid once whatever the number of people: the 2D stage "
                  f"{cost['detect_s']:.1f} s, the lifter load {cost['lifter_load_s']:.2f} s, the camera step "
                  f"{cost['camera_step_s']:.1f} s (over the union of everyone's frames). The whole `run_people` "
                  f"with the 2D cached: {cost['run_people_s']:.1f} s for 2 people."]
    lines += ["", "The sample clip's two people in one world (`bench/figures/people_paths.png`): the walker (the subject) on "
              "Z = 0, the man walking on the shed's roof behind her at the roof's height.", "",
              "![people](../figures/people_paths.png)"]
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--backends", nargs="+", default=["onnx"], help="runtimes of the cost-per-person run")
    parser.add_argument("--only-cost", action="store_true",
                        help="measure the cost per person again; keep the recall of the last people.json in --out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    if args.only_cost:
        import json

        recall_figures = json.loads((args.out / "people.json").read_text())["recall"]
    else:
        recall_figures = measure_recall([640, 1280, "auto"])
    result = {"recall": recall_figures, "cost": {b: measure_people_cost(b) for b in args.backends}}
    meta = run_meta(common.command("bench_people", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start)
    write_results(args.out, "people", to_markdown(result, meta), {"meta": meta, **result})
    return 0


BENCH = common.Bench("people", order=78)

if __name__ == "__main__":
    sys.exit(run())
