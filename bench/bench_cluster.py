"""Benchmark: clips per minute, serial batch vs ``--cluster ray`` with 1 and 2 workers, in one run.

    YOLO_OFFLINE=1 .venv/bin/python -m bench.bench_cluster [--frames N] [--clips K]

The clips: the sample clip and the balance clip's views (real videos, the networks run for real
on their first N frames, a fresh cache for every configuration so nothing is reused). Timed:

* **serial**: the clips one after the other in this process, as ``video-mocap estimate`` does
  (``run_pipeline`` + ``write_output``), with the time each stage takes (decode + 2D detection,
  loading the lifter, lifting, the rig solve and the file);
* **ray, 1 worker / 2 workers**: ``pipeline.cluster.run_clip_tasks`` on a local Ray instance with
  the machine's CPUs, ``cpus_per_clip`` = all of them / half of them (so 1 or 2 tasks at a time),
  the same task the CLI submits. Ray's start-up is timed apart (it is paid once per batch).
* **decode alone**: OpenCV reading the same frames, for the 1,000-hour estimate in BENCHMARKS.md.

Writes ``bench/results/cluster.md`` and ``cluster.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import common
from .common import DATA, RESULTS, SAMPLE

BALANCE_VIEWS = [DATA / "pose2sim_balancing" / f"cam0{i}.mp4" for i in range(1, 5)]


def clip_list(count: int) -> list[Path]:
    return [SAMPLE, *BALANCE_VIEWS][:count]


def decode_fps(clips: list[Path], frames: int) -> float:
    """Frames per second of OpenCV decoding alone (every frame read, nothing else)."""
    import cv2

    total, started = 0, time.perf_counter()
    for clip in clips:
        capture = cv2.VideoCapture(str(clip))
        for _ in range(frames):
            ok, _frame = capture.read()
            if not ok:
                break
            total += 1
        capture.release()
    return total / (time.perf_counter() - started)


def run_serial(clips: list[Path], settings, cache: Path, out: Path) -> dict:
    """The serial batch in this process; wall time, frames and seconds per stage."""
    from video_mocap.cli.estimate import write_output
    from video_mocap.pipeline.stages import run_pipeline

    stage_s: dict[str, float] = {}
    frames = 0
    started = time.perf_counter()
    for clip in clips:
        marks: list[tuple[str, float]] = [("start", time.perf_counter())]

        def progress(stage: str, done: int, total: int) -> None:
            if stage != marks[-1][0]:
                marks.append((stage, time.perf_counter()))

        result = run_pipeline(clip, settings, progress=progress, cache_dir=cache)
        marks.append(("file", time.perf_counter()))
        write_output(result, out / f"{clip.stem}.bvh", clip.stem)
        marks.append(("end", time.perf_counter()))
        for (name, t0), (_, t1) in zip(marks, marks[1:]):
            stage_s[name] = stage_s.get(name, 0.0) + t1 - t0
        frames += result.motion.num_frames
    return {"wall_s": time.perf_counter() - started, "frames": frames, "stage_s": stage_s}


def run_ray(clips: list[Path], settings, cache: Path, workers: int) -> dict:
    """The same clips as Ray tasks on a fresh local instance, ``workers`` at a time."""
    from video_mocap.cli.estimate_cluster import estimate_clip_task
    from video_mocap.core.errors import VideoMocapError
    from video_mocap.pipeline import cluster

    cpus = os.cpu_count() or 1
    spec = cluster.ClusterSpec(cpus_per_clip=cpus / workers)
    started = time.perf_counter()
    try:
        cluster.connect(spec)
    except VideoMocapError as exc:  # a local instance can time out starting on a busy machine: once more
        print(f"Ray did not start ({exc}); trying once more")
        started = time.perf_counter()
        cluster.connect(spec)
    startup_s = time.perf_counter() - started
    try:
        jobs = [(str(clip), "bvh", clip.stem, str(cache)) for clip in clips]
        frames, failed = 0, []
        started = time.perf_counter()
        for index, result in cluster.run_clip_tasks(estimate_clip_task, settings, jobs, spec):
            if result.error:
                failed.append(f"{clips[index].name}: {result.error}")
            frames += result.num_frames
        wall_s = time.perf_counter() - started
    finally:
        cluster.disconnect(True)
    return {"wall_s": wall_s, "startup_s": startup_s, "frames": frames, "failed": failed}


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="video frames per clip (default: 30)")
    parser.add_argument("--clips", type=int, default=4, help="clips: the sample clip, then the balance views (max 5)")
    args = parser.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from video_mocap.pipeline.stages import make_settings

    clips = clip_list(args.clips)
    settings = make_settings(frame_start=0, frame_end=args.frames, device="cpu")
    scratch = Path(tempfile.mkdtemp(prefix="vm_bench_cluster_"))
    total_started = time.perf_counter()
    runs: dict[str, dict] = {}
    runs["decode"] = {"fps": decode_fps(clips, args.frames)}
    print(f"decode alone: {runs['decode']['fps']:.0f} frames/s")
    out = scratch / "serial-out"
    out.mkdir()
    runs["serial"] = run_serial(clips, settings, scratch / "cache-serial", out)
    print(f"serial: {runs['serial']['wall_s']:.1f} s")
    for workers in (1, 2):
        runs[f"ray-{workers}"] = run_ray(clips, settings, scratch / f"cache-ray-{workers}", workers)
        print(f"ray {workers} worker(s): {runs[f'ray-{workers}']['wall_s']:.1f} s "
              f"(+ {runs[f'ray-{workers}']['startup_s']:.1f} s start-up)")
    for name in ("serial", "ray-1", "ray-2"):
        runs[name]["clips_per_min"] = 60.0 * len(clips) / runs[name]["wall_s"]
        runs[name]["fps"] = runs[name]["frames"] / runs[name]["wall_s"]

    meta = common.run_meta(common.command("bench_cluster", argv or []), time.perf_counter() - total_started,
                           clips=[c.name for c in clips], frames_per_clip=args.frames)
    serial = runs["serial"]
    lines = common.header("Batch throughput: serial vs Ray (1 and 2 workers)", meta)
    lines += [f"{len(clips)} real clips ({', '.join(c.name for c in clips)}), the first {args.frames} frames of "
              "each, the networks run for real (fresh cache per row), CPU, .bvh out.", "",
              "| run | wall (s) | clips/min | frames/s | vs serial | Ray start-up (s) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, label in (("serial", "serial batch"), ("ray-1", "--cluster ray, 1 worker"),
                        ("ray-2", "--cluster ray, 2 workers")):
        r = runs[name]
        startup = f"{r['startup_s']:.1f}" if "startup_s" in r else "-"
        lines.append(f"| {label} | {r['wall_s']:.1f} | {r['clips_per_min']:.2f} | {r['fps']:.1f} | "
                     f"{serial['wall_s'] / r['wall_s']:.2f}x | {startup} |")
    lines += ["", "Serial batch, seconds per stage (all clips):", "",
              "| stage | s | frames/s |", "| --- | --- | --- |"]
    for stage, seconds in serial["stage_s"].items():
        lines.append(f"| {stage} | {seconds:.1f} | {serial['frames'] / seconds:.0f} |")
    lines += ["", f"Decode alone (OpenCV, the same frames): {runs['decode']['fps']:.0f} frames/s."]
    failures = [f for name in ("ray-1", "ray-2") for f in runs[name]["failed"]]
    if failures:
        lines += ["", "Failed clips: " + "; ".join(failures)]
    common.write_results(RESULTS, "cluster", "\n".join(lines) + "\n", {"meta": meta, "runs": runs})
    return 0


BENCH = common.Bench("cluster", order=80, in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
