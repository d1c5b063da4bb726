"""``video-mocap estimate VIDEOS... -o DIR --cluster ray[://HOST:PORT]``: one Ray task per clip.

The driver side of :mod:`video_mocap.pipeline.cluster`: skips the outputs that are up to date,
submits the rest, writes each result atomically as it comes back, and keeps one progress bar
over the clips (done, failed, frames per second overall). Each clip prints the same
``ok`` / ``FAILED <video>: <reason>`` line as the serial batch; exit status 1 when any failed.
Ctrl-C cancels the tasks still running and writes nothing more (no partial files), and a second
run of the same command resumes where the first stopped.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import atomic_path
from ..core.errors import Cancelled
from ..pipeline.cluster import TaskResult
from . import EXIT_BAD_INPUT as EXIT_ALL_FAILED, EXIT_CANCELLED, EXIT_OK, EXIT_SOME_FAILED  # the serial batch's table

log = logging.getLogger(__name__)



@dataclass
class BatchCounts:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    frames: int = 0


def estimate_clip_task(settings, video: str, fmt: str, name: str, cache_dir: str | None) -> TaskResult:
    """Worker side: the whole pipeline for one clip; the output file comes back as bytes.

    The file is written by the same :func:`~video_mocap.cli.estimate.write_output` as the serial
    batch (into a temporary folder of the worker), so both give the same bytes.
    """
    from ..pipeline.stages import run_pipeline
    from .estimate import failure_reason, write_output

    try:
        result = run_pipeline(Path(video), settings, cache_dir=Path(cache_dir) if cache_dir else None)
        with tempfile.TemporaryDirectory(prefix="video-mocap-clip-") as folder:
            path = write_output(result, Path(folder) / f"{name}.{fmt}", name=name)
            data = path.read_bytes()
        return TaskResult(data=data, num_frames=int(result.motion.num_frames))
    except (Cancelled, KeyboardInterrupt):
        raise
    except Exception as exc:  # the driver prints it as the serial batch does
        return TaskResult(error=failure_reason(exc, video))


def run_on_cluster(args, videos: list[Path], outputs: list[Path], settings, say) -> int:
    """Run the batch on Ray (``args.cluster``, ``args.cpus_per_clip``, ``args.gpus_per_clip``); exit status."""
    from tqdm import tqdm

    from ..pipeline import cluster

    spec = cluster.ClusterSpec(cluster.parse_cluster(args.cluster), args.cpus_per_clip, args.gpus_per_clip)
    cluster.import_ray()  # before anything starts: a clear message when Ray is missing
    started = cluster.connect(spec)
    counts = BatchCounts()
    failed: list[Path] = []
    bar = None
    try:
        resources = cluster.cluster_resources()
        log.info("Ray cluster: %s CPUs, %s GPUs", resources.get("CPU", 0), resources.get("GPU", 0))
        shared = cluster.SharedWeights.put(settings)
        fingerprints: dict[Path, str] = {}
        manifests: dict[Path, cluster.BatchManifest] = {}
        jobs, todo = [], []
        for video, output in zip(videos, outputs):
            fmt = output.suffix.lstrip(".").lower()
            manifest = manifests.setdefault(output.parent, cluster.BatchManifest.load(output.parent))
            settings_hash = cluster.settings_fingerprint(settings, shared.identity(), fmt)
            fingerprint = cluster.BatchManifest.fingerprint(video, settings_hash) if video.is_file() else ""
            if fingerprint and manifest.is_current(output, fingerprint):
                say(f"skip    {video}: {output} is up to date")
                counts.skipped += 1
                continue
            fingerprints[output] = fingerprint
            todo.append((video, output))
            # absolute paths: a worker's working folder is not the driver's
            jobs.append((str(video.resolve()), fmt, video.stem,
                         str(args.cache_dir.resolve()) if args.cache_dir else None))
        start = time.perf_counter()
        bar = tqdm(total=len(videos), initial=counts.skipped, desc="clips", unit="clip", dynamic_ncols=True)
        for index, result in cluster.run_clip_tasks(estimate_clip_task, settings, jobs, spec, shared=shared):
            video, output = todo[index]
            if result.error is None and result.data is not None:
                with atomic_path(output) as tmp:
                    tmp.write_bytes(result.data)
                if fingerprints[output]:
                    manifests[output.parent].record(output, fingerprints[output])
                counts.done += 1
                counts.frames += result.num_frames
                say(f"ok      {video} -> {output}")
            else:
                counts.failed += 1
                failed.append(video)
                reason = (result.error or "no result").replace(str(video.resolve()), str(video))  # as the user wrote it
                say(f"FAILED  {video}: {reason}", error=True)
            elapsed = max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(done=counts.done + counts.skipped, failed=counts.failed,
                            fps=f"{counts.frames / elapsed:.1f}", refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        left = len(videos) - counts.done - counts.skipped - counts.failed
        print(f"Cancelled: {left} clips not finished (nothing partial written); run the same command again "
              "to resume.", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        if bar is not None:
            bar.close()
        cluster.disconnect(started)
    total = len(videos)
    skipped = f" ({counts.skipped} up to date, skipped)" if counts.skipped else ""
    print(f"{counts.done + counts.skipped} of {total} clips done{skipped}, {counts.failed} failed.")
    if total > 1:  # one clip: its FAILED line says it all
        for video in failed:
            print(f"  failed: {video}", file=sys.stderr)
    if not failed:
        return EXIT_OK
    return EXIT_ALL_FAILED if len(failed) == total else EXIT_SOME_FAILED
