"""Augmentation ablation: one lifter trained per augmentation setting, same steps, seed and data.

    .venv/bin/python -m bench.bench_ablation [--steps 1500] [--jobs 2] [--out bench/results/ablation.md]

Rows (every row in the same run, trained the same way for the same number of steps):

- no augmentation: source bodies and poses, one plain camera (level, chest height, 60 deg,
  landscape), exact 2D;
- each augmentation alone: body (height, bones, widths, limb ratios, body swap, mirroring),
  pose (joint-angle perturbation, upper/lower mixing, speed), camera (the full virtual camera
  distribution), 2D noise (detector-like noise, dropouts, scores);
- all of them (the shipped configuration).

The model is the shipped DTGCN configuration (``training/configs/dtgcn_cpu.yaml``: tiny
preset, 27-frame windows, same losses and optimiser) without its pre-training stage, so that
the rows differ only in their data. Every row is scored on the held-out sets of
``bench_accuracy`` with detector-like 2D noise: Bandai part 1 (a subset, random cameras),
the HDM05 actor ``bk`` (a body and motions never trained on), re-targeted bodies, and a high
camera (pitch -30 deg).

Each row trains in its own process with one torch thread (``--jobs`` at a time). Writes the
Markdown table (``--out``) and the numbers beside it (``.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from . import bench_accuracy, common
from .common import REPO, RESULTS

log = logging.getLogger("bench_ablation")

BASE_CONFIG = REPO / "training" / "configs" / "dtgcn_cpu.yaml"

#: row name -> (augment.body, augment.pose, camera.enabled, noise.enabled)
ROWS: dict[str, tuple[bool, bool, bool, bool]] = {
    "no augmentation": (False, False, False, False),
    "body only": (True, False, False, False),
    "pose only": (False, True, False, False),
    "camera only": (False, False, True, False),
    "2D noise only": (False, False, False, True),
    "all (shipped)": (True, True, True, True),
}
#: evaluation column -> (clip set of bench_accuracy.load_sets, camera pitch or None for random cameras)
COLUMNS: dict[str, tuple[str, float | None]] = {
    "Bandai part 1 subset": ("subset", None),
    "HDM05 `bk`": ("hdm05", None),
    "re-targeted bodies": ("retarget", None),
    "high camera (pitch -30)": ("subset", bench_accuracy.HIGH_PITCH_DEG),
}
DEFAULT_STEPS = 1500
DEFAULT_SUB_STRIDE = 4
DEFAULT_MAX_FRAMES = 300


def row_config(row: str, steps: int, seed: int, run_dir: Path):
    """The shipped DTGCN config with the row's switches, no pre-training and a fixed step budget."""
    from video_mocap.training.config import load_config, validate

    body, pose, camera_on, noise_on = ROWS[row]
    base = load_config(BASE_CONFIG)
    return validate(dataclasses.replace(
        base,
        steps=steps, minutes=0.0, seed=seed, threads=1, output_dir=str(run_dir), export_path="",
        checkpoint_every=steps, log_every=max(1, steps // 10),
        pretrain=dataclasses.replace(base.pretrain, steps=0, minutes=0.0),
        augment=dataclasses.replace(base.augment, enabled=body or pose, body=body, pose=pose),
        camera=dataclasses.replace(base.camera, enabled=camera_on),
        noise=dataclasses.replace(base.noise, enabled=noise_on),
        val=dataclasses.replace(base.val, every_steps=steps),
    ))


def run_row(row: str, steps: int, seed: int, max_frames: int, sub_stride: int, run_dir: Path) -> dict:
    """Train one row and score it on every column (child process)."""
    import torch

    from video_mocap.training.evaluate import evaluate_model, make_clips_for_eval
    from video_mocap.training.train import train

    torch.set_num_threads(1)
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = row_config(row, steps, seed, run_dir)
    t0 = time.perf_counter()
    result = train(config, show_progress=False)
    train_seconds = time.perf_counter() - t0
    lifter = common.load_shipped_lifter(config.model, result.exported)
    sets = bench_accuracy.load_sets(max_frames, sub_stride)
    scores = {}
    for column, (set_name, pitch) in COLUMNS.items():
        clips = make_clips_for_eval(sets[set_name], lifter.num_frames, noise="detector", pitch=pitch, seed=seed)
        scores[column] = evaluate_model(lifter, clips, flip=True)["overall"]
    log.info("ablation %s: %s", row, {k: round(v["p_mpjpe"], 1) for k, v in scores.items()})
    return {"switches": dict(zip(("body", "pose", "camera", "noise"), ROWS[row])),
            "train_seconds": round(train_seconds, 1), "scores": scores}


def render(results: dict, argv: list[str]) -> str:
    lines = [
        "# Augmentation ablation", "",
        f"Command: `{common.command('bench_ablation', argv)}`  ",
        f"Date: {results['date']}. Machine: {common.machine()} (one "
        f"torch thread per row, {results['jobs']} rows at a time). Wall clock {results['seconds'] / 60:.1f} min.", "",
        f"Model: DTGCN `{results['preset']}` ({results['frames']}-frame windows, batch {results['batch']}), the "
        f"shipped training config without pre-training, {results['steps']} steps per row, seed {results['seed']}: "
        "every row is trained the same way for the same number of steps; only the data differ. Scored on "
        "held-out clips with detector-like 2D noise (MPJPE / P-MPJPE in mm; velocity error in mm/frame on the "
        "Bandai subset). Training seconds are per row (rows share the machine).", "",
        "| training data | " + " | ".join(COLUMNS) + " | velocity | train s |",
        "| --- | " + " | ".join("---" for _ in COLUMNS) + " | --- | --- |",
    ]
    for row, values in results["rows"].items():
        s = values["scores"]
        cells = [f"{s[c]['mpjpe']:.1f} / {s[c]['p_mpjpe']:.1f}" for c in COLUMNS]
        first = next(iter(COLUMNS))
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {s[first]['velocity']:.2f} | {values['train_seconds']:.0f} |")
    lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="optimiser steps per row")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS), metavar="ROW")
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "ablation"))
    bench_accuracy.add_common_arguments(parser, DEFAULT_MAX_FRAMES, DEFAULT_SUB_STRIDE, "rows trained at a time",
                                        RESULTS / "ablation.md")
    return parser


def run(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    run_dir = Path(args.run_dir)
    if args.child:
        index = list(ROWS).index(args.child)
        result = run_row(args.child, args.steps, args.seed, args.max_frames, args.sub_stride,
                         run_dir / f"row{index}")
        Path(args.child_out).write_text(json.dumps(result), encoding="utf-8")
        return 0

    from video_mocap.core.atomic import write_text_atomic

    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    outputs = {row: run_dir / f"row{list(ROWS).index(row)}.json" for row in args.rows}
    failed = common.run_children("bench_ablation", argv, outputs, args.jobs)
    if failed:
        print(f"ablation rows failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    config = row_config(args.rows[0], args.steps, args.seed, run_dir)
    results = {
        "date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "seconds": time.perf_counter() - t0,
        "jobs": args.jobs, "steps": args.steps, "seed": args.seed, "preset": config.preset,
        "frames": config.num_frames, "batch": config.batch_size,
        "rows": {row: json.loads(outputs[row].read_text(encoding="utf-8")) for row in args.rows},
    }
    text = render(results, argv)
    out = Path(args.out)
    write_text_atomic(out, text + "\n")
    write_text_atomic(out.with_suffix(".json"), json.dumps(results, indent=1))
    print(text)
    return 0


#: hours of training: not part of run_all's default run (``--only ablation`` runs it)
BENCH = common.Bench("ablation", order=65, in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
