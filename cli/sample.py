"""``video-mocap sample``: load the training data, time the window sampler, draw a contact sheet.

    video-mocap sample [--frames T] [--batch B] [--batches N] [--sources a,b] [--seed S] [--preview PNG]

Prints how many clips and frames the data config selects, the bodies measured, the sampler's
time per batch and the 2D scores' spread; ``--preview`` writes a contact sheet of drawn windows:
per window, the noisy 2D (coloured bones) at three times over the clean 2D (dots).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..core import camera as camera_math
from ..core import skeleton
from ..core.atomic import atomic_path
from ..core.errors import VideoMocapError
from ..training.sampler import AugmentConfig, CameraConfig, NoiseConfig, WindowSampler, render_windows
from ..training.sources import DataConfig, load_all_sources

#: a contact sheet's tiles: pixels a side, tiles a row, windows drawn
PREVIEW_TILE_PX = 300
PREVIEW_COLUMNS = 4
PREVIEW_WINDOWS = 12
#: bone colours (BGR) of the three frames drawn per tile: first, middle, last
PREVIEW_COLOURS = ((0, 255, 0), (0, 200, 255), (255, 0, 255))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="video-mocap sample",
        description="Load the training data, time the window sampler and optionally draw a contact sheet.",
    )
    parser.add_argument("--frames", type=int, default=81, help="window length T (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=64, help="batch size B (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=10, help="batches to time (default: %(default)s)")
    parser.add_argument("--sources", default="", help="comma-separated sources (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default: %(default)s)")
    parser.add_argument("--preview", default="",
                        help=f"write a contact sheet of {PREVIEW_WINDOWS} drawn windows to this PNG")
    return parser


def write_preview(path: str, batch: dict[str, np.ndarray], cams) -> None:
    """Contact sheet: per window, the noisy 2D (coloured bones) at three times over the clean 2D (dots)."""
    import cv2

    tiles = []
    count = batch["inputs"].shape[0]
    frames = batch["inputs"].shape[1]
    for b in range(count):
        w, h = int(cams.width[b]), int(cams.height[b])
        scale = PREVIEW_TILE_PX / max(w, h)
        tile = np.full((PREVIEW_TILE_PX, PREVIEW_TILE_PX, 3), 40, np.uint8)
        tile[: int(h * scale), : int(w * scale)] = 90
        for colour, t in zip(PREVIEW_COLOURS, (0, frames // 2, frames - 1)):
            noisy = camera_math.denormalize_screen(batch["inputs"][b, t, :, :2], w, h) * scale
            clean = camera_math.denormalize_screen(batch["target2d"][b, t], w, h) * scale
            for p, c in skeleton.BONES:
                cv2.line(tile, tuple(int(v) for v in noisy[p]), tuple(int(v) for v in noisy[c]), colour, 1)
            for point in clean:
                cv2.circle(tile, tuple(int(v) for v in point), 1, (255, 255, 255), -1)
        label = f"pitch {cams.pitch_deg[b]:.0f} fov {cams.fov_deg[b]:.0f}"
        cv2.putText(tile, label, (3, PREVIEW_TILE_PX - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
        tiles.append(tile)
    while len(tiles) % PREVIEW_COLUMNS:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + PREVIEW_COLUMNS]) for i in range(0, len(tiles), PREVIEW_COLUMNS)]
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), np.vstack(rows)):
            raise VideoMocapError(f"cannot write the preview image {path}.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = DataConfig(sources=tuple(args.sources.split(","))) if args.sources else DataConfig()
    start = time.perf_counter()
    data = load_all_sources(config)
    load_s = time.perf_counter() - start
    weights = {k: v for k, v in config.source_weights.items() if k in {c.source for c in data["train"]}}
    sampler = WindowSampler(
        data["train"], args.frames, AugmentConfig(), CameraConfig(), NoiseConfig(), weights or None, args.seed
    )
    sampler.sample(args.batch)  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.batches):
        batch = sampler.sample(args.batch)
    per_batch = (time.perf_counter() - start) / max(args.batches, 1)
    cpu_per_batch = (time.process_time() - cpu_start) / max(args.batches, 1)
    scores = batch["inputs"][..., 2]
    lines = [
        f"data: {len(data['train'])} train clips ({sum(c.num_frames for c in data['train'])} frames), "
        f"{len(data['val'])} val clips ({sum(c.num_frames for c in data['val'])} frames); loaded in {load_s:.1f} s",
        f"bodies: {', '.join(sampler.body_names)}",
        f"sampler B={args.batch} T={args.frames}: {per_batch * 1000:.0f} ms/batch, "
        f"{args.batch * args.frames / per_batch / 1000:.1f}k frames/s (CPU time {cpu_per_batch * 1000:.0f} ms/batch)",
        f"scores: median {np.median(scores):.2f}, zero (filled) {np.mean(scores == 0) * 100:.1f} %",
    ]
    print("\n".join(lines))
    if args.preview:
        world = sampler.sample_world(PREVIEW_WINDOWS)
        preview_batch, cams = render_windows(world, sampler.camera, sampler.noise, sampler.rng)
        write_preview(args.preview, preview_batch, cams)
        print(f"preview: {args.preview}")
    return 0
