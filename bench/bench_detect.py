"""Benchmark the 2D stage: detection frames/s on the sample clip, cold (no cache).

    YOLO_OFFLINE=1 .venv/bin/python -m bench.bench_detect [--device cpu] [--batch 8] [--compare]

``--compare`` also times ultralytics' own per-frame ``model.track(frame, persist=True)`` loop
(the alternative to our batched ``predict`` + ByteTrack per frame) and batch size 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import common
from .common import SAMPLE


def time_detect_video(video: Path, device: str, batch: int) -> tuple[float, int, int]:
    """(seconds, frames, subject frames) of one cold detect_video call (cache off)."""
    from video_mocap.inference.detect import DetectConfig, detect_video
    from video_mocap.inference.video import probe_video

    frames = probe_video(video).num_frames
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = detect_video(video, DetectConfig(device=device, batch_size=batch), cache_dir=Path(cache),
                              use_cache=False)
        seconds = time.perf_counter() - start
    return seconds, frames, result.subject.num_frames


def time_model_track(video: Path, device: str) -> tuple[float, int]:
    """(seconds, frames) of ultralytics' per-frame ``model.track(persist=True)`` loop."""
    from ultralytics import YOLO

    from video_mocap.inference.detect import SHIPPED_MODEL
    from video_mocap.inference.devices import torch_device
    from video_mocap.inference.video import iter_frames

    start = time.perf_counter()
    model = YOLO(str(SHIPPED_MODEL), task="pose")
    dev = torch_device(device)
    frames = 0
    for _, frame in iter_frames(video):
        model.track(frame, persist=True, tracker="bytetrack.yaml", device=dev, verbose=False)
        frames += 1
    return time.perf_counter() - start, frames


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=SAMPLE)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--compare", action="store_true", help="also time model.track per frame and batch 1")
    args = parser.parse_args(argv)

    seconds, frames, subject = time_detect_video(args.video, args.device, args.batch)
    figures = {"frames": frames, "seconds": seconds, "frames_per_s": frames / seconds, "batch": args.batch,
               "device": args.device, "subject_frames": subject, "load_avg": os.getloadavg()}
    print(f"detect_video (batched predict + ByteTrack, batch {args.batch}, {args.device}): "
          f"{frames} frames in {seconds:.1f} s = {frames / seconds:.1f} frames/s (subject: {subject} frames)")
    if args.compare:
        seconds, frames, _ = time_detect_video(args.video, args.device, 1)
        print(f"detect_video (batch 1, {args.device}): {frames} frames in {seconds:.1f} s "
              f"= {frames / seconds:.1f} frames/s")
        seconds, frames = time_model_track(args.video, args.device)
        print(f"model.track per frame ({args.device}): {frames} frames in {seconds:.1f} s "
              f"= {frames / seconds:.1f} frames/s")
    common.write_figures("detect", figures)
    return 0


BENCH = common.Bench("detect", order=10)

if __name__ == "__main__":
    sys.exit(run())
