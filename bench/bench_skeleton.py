"""The lifters against the detector's measured skeleton (issue 23).

    .venv/bin/python -m bench.bench_skeleton [--models dtgcn posemoe] [--weights-dir weights] [--out DIR]

1. Held-out mocap on the detector-calibrated skeleton (``data.detector_bones``, the bone scales of
   ``training/jointmaps/detector_skeleton.json``) and, for comparison, on the skeleton before it:
   Bandai part 1 (every 3rd clip) and the HDM05 actor ``bk``, first 240 frames, detector-like 2D
   noise, seeded cameras, flip test-time augmentation; calibrated Bandai also from a camera looking
   down 30 deg and from eye level (pitch 0).
2. Proportions on real video: each of the balance recording's 4 views lifted alone (the product's
   lift, detections cached), the median of every measure of ``jointmap.SKELETON_MEASURES`` as a ratio
   to the leg, averaged over the views, against the detector's ratios of the calibration.

``--weights-dir`` scores other weights (``<model>.safetensors`` + card) with the same data, e.g. a
training run's export against the shipped ones.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from . import common

RESULTS_NAME = "skeleton"
MODELS = ("dtgcn", "posemoe")
MAX_FRAMES = 240
BANDAI_STRIDE = 3
SEED = 0
HIGH_PITCH_DEG = -30.0
EYE_PITCH_DEG = 0.0
BALANCE = common.DATA / "pose2sim_balancing"
VIEWS = ("cam01", "cam02", "cam03", "cam04")


def held_out_sets() -> dict[str, tuple[list, float | None]]:
    """{set name: (clips, fixed pitch or None)}: calibrated and old skeletons."""
    from video_mocap.training import sources
    from video_mocap.training.jointmap import source_bone_scales

    config = sources.DataConfig()
    sets: dict[str, tuple[list, float | None]] = {}
    for tag, calibrated in (("calibrated", True), ("old", False)):
        bandai = sources.load_bandai(config, "part1", bone_scales=source_bone_scales("bandai") if calibrated else None)
        hdm05 = sources.load_hdm05(common.hdm05_file(), bone_scales=source_bone_scales("hdm05") if calibrated else None)
        bandai = common.crop_clips(bandai[::BANDAI_STRIDE], MAX_FRAMES)
        hdm05 = common.crop_clips([c for c in hdm05 if c.labels.get("actor") == common.HELD_OUT_ACTOR], MAX_FRAMES)
        sets[f"{tag}_bandai"] = (bandai, None)
        sets[f"{tag}_hdm05_bk"] = (hdm05, None)
        if calibrated:
            sets["calibrated_bandai_high"] = (bandai, HIGH_PITCH_DEG)
            sets["calibrated_bandai_eye_level"] = (bandai, EYE_PITCH_DEG)
    return sets


def score_held_out(lifter, sets: dict) -> dict[str, dict[str, float]]:
    from video_mocap.training.evaluate import evaluate_model, make_clips_for_eval

    out = {}
    for name, (clips, pitch) in sets.items():
        windows = make_clips_for_eval(clips, lifter.num_frames, noise="detector", pitch=pitch, seed=SEED)
        overall = evaluate_model(lifter, windows, flip=True)["overall"]
        out[name] = {k: round(float(overall[k]), 2) for k in ("mpjpe", "p_mpjpe", "velocity")}
        logging.info("%s %s: P-MPJPE %.1f mm", lifter.name, name, out[name]["p_mpjpe"])
    return out


def lifted_ratios(lifter, tracks: list) -> dict[str, float]:
    """Median ratios to the leg of the lifted joints, each view lifted alone, averaged over the views."""
    from video_mocap.inference.lifter import lift_track
    from video_mocap.training import jointmap

    per_view = [jointmap.skeleton_ratios(jointmap.skeleton_medians(lift_track(t, lifter).joints3d)) for t in tracks]
    return {k: round(float(np.mean([r[k] for r in per_view])), 4) for k in jointmap.SKELETON_MEASURES}


def measure(models: tuple[str, ...], weights_dir: Path) -> dict:
    import torch

    from video_mocap.inference.detect import DetectConfig, detect_video
    from video_mocap.training import jointmap

    torch.set_num_threads(1)
    detector = jointmap.load_detector_skeleton()["detector"]["ratios_to_leg"]
    tracks = [detect_video(BALANCE / f"{view}.mp4", DetectConfig(device="cpu")).subject for view in VIEWS]
    sets = held_out_sets()
    result = {"detector_ratios": detector, "models": {}}
    for model in models:
        lifter = common.load_shipped_lifter(model, weights_dir / f"{model}.safetensors")
        ratios = lifted_ratios(lifter, tracks)
        result["models"][model] = {
            "weights": str(weights_dir / f"{model}.safetensors"),
            "preset": lifter.card.preset,
            "held_out": score_held_out(lifter, sets),
            "lifted_ratios": ratios,
            "ratio_off": {k: round(ratios[k] / detector[k] - 1.0, 3) for k in detector},
        }
    return result


def to_markdown(result: dict, meta: dict) -> str:
    lines = common.header("Lifters against the detector's measured skeleton (issue 23)", meta)
    lines += ["Held-out mocap, detector-like noise, P-MPJPE / MPJPE in mm (calibrated = the detector's proportions; "
              "old = the skeleton before issue 23):", "",
              "| model | calibrated Bandai | calibrated HDM05 `bk` | high (-30) | eye level (0) | high / eye | "
              "old Bandai | old HDM05 `bk` |", "| --- |" + " ---: |" * 7]
    for model, r in result["models"].items():
        h = r["held_out"]
        cell = lambda k: f"{h[k]['p_mpjpe']:.1f} / {h[k]['mpjpe']:.1f}"  # noqa: E731
        ratio = h["calibrated_bandai_high"]["p_mpjpe"] / h["calibrated_bandai_eye_level"]["p_mpjpe"]
        lines.append(f"| {model} ({r['preset']}) | {cell('calibrated_bandai')} | {cell('calibrated_hdm05_bk')} | "
                     f"{cell('calibrated_bandai_high')} | {cell('calibrated_bandai_eye_level')} | {ratio:.2f}x | "
                     f"{cell('old_bandai')} | {cell('old_hdm05_bk')} |")
    names = list(result["detector_ratios"])
    lines += ["", "Lifted proportions on the balance clip (4 views, each alone), ratio to the leg (off the detector's):", "",
              "| ratio | detector | " + " | ".join(result["models"]) + " |", "| --- | ---: |" + " ---: |" * len(result["models"])]
    for k in names:
        cells = [f"{r['lifted_ratios'][k]:.3f} ({r['ratio_off'][k]:+.0%})" for r in result["models"].values()]
        lines.append(f"| {k} | {result['detector_ratios'][k]:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_skeleton", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    common.add_weights_dir_option(parser)
    parser.add_argument("--out", type=Path, default=common.RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("ultralytics", "video_mocap"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    start = time.perf_counter()
    result = measure(tuple(args.models), args.weights_dir)
    meta = common.run_meta(common.command("bench_skeleton", argv, prefix="YOLO_OFFLINE=1 nice -n 10"),
                           time.perf_counter() - start)
    common.write_results(args.out, RESULTS_NAME, to_markdown(result, meta), {"meta": meta, **result})
    return 0


#: about 20 minutes per model on the shared 2-core CPU: run on its own, not in run_all
BENCH = common.Bench(RESULTS_NAME, order=76, needs=(BALANCE, common.SHARED / "data" / "mocap"), in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
