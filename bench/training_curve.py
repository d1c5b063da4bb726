"""Validation error against training time of the shipped runs: is more compute still paying?

    .venv/bin/python -m bench.training_curve [--runs runs/posemoe_cpu runs/dtgcn_cpu runs/mlp_cpu]
                                             [--out bench/results/training_curve.md]

Reads each run folder's ``state.json`` (written by ``video-mocap train``: every validation
with its step and elapsed seconds) and tables validation MPJPE / P-MPJPE (all validation
sets: Bandai part 1 subset + HDM05 actor ``bk``, detector-like noise) at about every
``--every`` minutes of training, with the change per doubling of the training time over the
last doubling.

Validation during a run used the settings of each segment, and two resumes of the shipped
runs validated on other cameras. So the script also scores the best checkpoint of each saved
copy of a run (``<run>_*backup``, taken before each resume, plus the run itself) again, all on
the run's own validation windows: that curve compares like with like, and its last two points
give the change per doubling of training time that says whether more compute still pays.
Run folders are not shipped (``runs/`` is ignored); the shipped weights' cards carry the
final figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from . import common
from .common import REPO, RESULTS, header, run_meta

DEFAULT_RUNS = ("runs/posemoe_cpu", "runs/dtgcn_cpu", "runs/mlp_cpu")
SECONDS_PER_MINUTE = 60.0
#: minutes of slack when matching a table row to a validation (rows are rounded to 0.1 min)
SLACK_MIN = 0.1
#: saved copies of a run folder, taken before each resume: ``<run>_<anything>backup``
BACKUP_GLOB = "{name}_*backup"
#: the slope of the checkpoint curve spans at least this many doublings of training time
MIN_SPAN_DOUBLINGS = 0.5

log = logging.getLogger("training_curve")


def read_history(run: Path) -> list[dict]:
    """[{minutes, step, mpjpe, p_mpjpe}] of every validation of ``run`` (state.json), in time order."""
    state = json.loads((run / "state.json").read_text())
    rows = [{"minutes": h["elapsed_s"] / SECONDS_PER_MINUTE, "step": h["step"],
             "mpjpe": h["val"]["all"]["mpjpe"], "p_mpjpe": h["val"]["all"]["p_mpjpe"]}
            for h in state.get("history", []) if "all" in h.get("val", {})]
    return sorted(rows, key=lambda r: r["minutes"])


def best_until(rows: list[dict], minutes: float) -> dict | None:
    """The lowest-MPJPE validation at or before ``minutes`` (what an export then would ship)."""
    seen = [r for r in rows if r["minutes"] <= minutes + SLACK_MIN]
    return min(seen, key=lambda r: r["mpjpe"]) if seen else None


def per_doubling(rows: list[dict]) -> float | None:
    """Change of the best validation MPJPE (mm) over the last doubling of the training time."""
    if not rows:
        return None
    end = rows[-1]["minutes"]
    before, after = best_until(rows, end / 2.0), best_until(rows, end)
    return None if before is None else after["mpjpe"] - before["mpjpe"]


def saved_copies(run: Path) -> list[tuple[Path, dict]]:
    """``run`` and its saved copies (:data:`BACKUP_GLOB`) with their ``state.json``, in order of training time."""
    folders = [f for f in run.parent.glob(BACKUP_GLOB.format(name=run.name)) if (f / "state.json").is_file()]
    copies = [(f, json.loads((f / "state.json").read_text())) for f in folders + [run]]
    return sorted(copies, key=lambda copy: copy[1]["elapsed_s"])


def score_saved_copies(run: Path, device: str = "cpu") -> dict:
    """The best checkpoint of each saved copy of ``run``, scored on the run's own validation windows.

    Returns ``{"windows": fingerprint, "rows": [{folder, minutes, best_step, mpjpe, p_mpjpe}]}``;
    copies with another model config than the run (none today) are left out with a warning.
    """
    from video_mocap.training.config import TrainConfig, from_dict
    from video_mocap.training.train import (load_run_data, make_val_clips, model_config_dict,
                                            score_checkpoint, val_windows_fingerprint)

    def config_of(folder: Path) -> TrainConfig:
        return from_dict(TrainConfig, json.loads((folder / "config.json").read_text()), "", str(folder / "config.json"))

    config = config_of(run)
    model_config = model_config_dict(config)
    val_clips = make_val_clips(config, load_run_data(config), model_config["num_frames"])
    rows = []
    for folder, state in saved_copies(run):
        if model_config_dict(config_of(folder)) != model_config:
            log.warning("%s: another model config than %s; not scored", folder.name, run.name)
            continue
        scores = score_checkpoint(folder / "best.safetensors", config.model, model_config, val_clips,
                                  config.val.flip, device)["all"]
        rows.append({"folder": folder.name, "minutes": state["elapsed_s"] / SECONDS_PER_MINUTE,
                     "best_step": state["best_step"], "mpjpe": scores["mpjpe"], "p_mpjpe": scores["p_mpjpe"]})
        log.info("%s: %.0f min, MPJPE %.1f mm", folder.name, rows[-1]["minutes"], scores["mpjpe"])
    return {"windows": val_windows_fingerprint(val_clips), "rows": rows}


def change_per_doubling(rows: list[dict]) -> tuple[float, dict, dict] | None:
    """MPJPE change (mm) per doubling of training time from the last scored checkpoint back to
    the latest one at least half a doubling earlier (:data:`MIN_SPAN_DOUBLINGS`); with the two rows.
    """
    if not rows:
        return None
    last = rows[-1]
    earlier = [r for r in rows[:-1]
               if 0 < r["minutes"] <= last["minutes"] / 2.0 ** MIN_SPAN_DOUBLINGS]
    if not earlier:
        return None
    before = earlier[-1]
    return (last["mpjpe"] - before["mpjpe"]) / math.log2(last["minutes"] / before["minutes"]), before, last


def _slope_mm(rows: list[dict]) -> float | None:
    slope = change_per_doubling(rows)
    return None if slope is None else slope[0]


def checkpoints_markdown(scored: dict[str, dict]) -> list[str]:
    windows = sorted({s["windows"] for s in scored.values()})
    lines = ["## Saved checkpoints scored on one set of windows", "",
             "The best checkpoint of each saved copy of a run (taken before each resume) and of the run now, "
             "scored again on the run's own validation windows (the cameras and noise it started with; "
             + ("the same windows for every run" if len(windows) == 1 else "windows differ between runs")
             + f", fingerprint {', '.join(windows)}). Unlike the rows above, every number here is measured on "
             "the same clips, views and noise, so the curve shows what the extra training bought.", "",
             "| run | saved copy | minutes | best step | MPJPE / P-MPJPE (mm) |", "| --- | --- | ---: | ---: | --- |"]
    for name, result in scored.items():
        for row in result["rows"]:
            lines.append(f"| {name} | {row['folder']} | {row['minutes']:.0f} | {row['best_step']} | "
                         f"{row['mpjpe']:.1f} / {row['p_mpjpe']:.1f} |")
    lines += ["", "| run | MPJPE change per doubling of training time (last checkpoint against the latest one "
              f"at least {MIN_SPAN_DOUBLINGS:g} doubling earlier) |", "| --- | --- |"]
    for name, result in scored.items():
        slope = change_per_doubling(result["rows"])
        lines.append(f"| {name} | " + ("-" if slope is None else
                     f"{slope[0]:+.1f} mm ({slope[1]['minutes']:.0f} -> {slope[2]['minutes']:.0f} min: "
                     f"{slope[1]['mpjpe']:.1f} -> {slope[2]['mpjpe']:.1f} mm)") + " |")
    return lines + [""]


def to_markdown(curves: dict[str, list[dict]], every: float, meta: dict) -> str:
    lines = header("Training curves of the shipped runs", meta) + [
        "Validation after each stretch of training (all validation sets, detector-like noise): the best "
        "MPJPE / P-MPJPE in mm reached so far, which is what an export at that time would ship. Each "
        "run trains on one core of the 2-core CPU (two runs side by side), so the minutes are wall-clock "
        "minutes of one core. Runs were stopped and resumed with a longer budget; each resume restarts "
        "the learning-rate decay over the new budget, and the run's config comments say what changed when. "
        "The shipped runs' last two resumes (their last 245 minutes) validated on the higher, steeper cameras "
        "they trained with, so those rows are scored on other views than the earlier ones; since then a "
        "resume keeps the camera and noise settings a run started with for validation "
        "(`train.validation_config`), and scores the best checkpoint again when its windows differ. The "
        "next section scores every saved checkpoint on one set of windows.",
        "",
    ]
    ends = sorted({round(rows[-1]["minutes"], 1) for rows in curves.values() if rows})
    longest = ends[-1] if ends else 0.0
    marks = sorted({every * k for k in range(1, int(longest // every) + 1)} | set(ends))
    lines += ["| minutes | " + " | ".join(curves) + " |", "| ---: | " + " | ".join("---:" for _ in curves) + " |"]
    for minutes in marks:
        cells = []
        for rows in curves.values():
            best = best_until(rows, minutes) if rows and minutes <= rows[-1]["minutes"] + SLACK_MIN else None
            cells.append("" if best is None else f"{best['mpjpe']:.1f} / {best['p_mpjpe']:.1f}")
        lines.append(f"| {minutes:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "| run | minutes | steps | best MPJPE / P-MPJPE | MPJPE change over the last doubling of time |",
              "| --- | ---: | ---: | --- | --- |"]
    for name, rows in curves.items():
        if not rows:
            continue
        best, change = best_until(rows, rows[-1]["minutes"]), per_doubling(rows)
        lines.append(f"| {name} | {rows[-1]['minutes']:.0f} | {rows[-1]['step']} | {best['mpjpe']:.1f} / "
                     f"{best['p_mpjpe']:.1f} | {'-' if change is None else f'{change:+.1f} mm'} |")
    lines.append("")
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="run folders (with state.json)")
    parser.add_argument("--every", type=float, default=30.0, help="table a row every this many minutes")
    parser.add_argument("--out", type=Path, default=RESULTS / "training_curve.md")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for scoring the checkpoints")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folders = [p if p.is_absolute() else REPO / p for p in map(Path, args.runs)]
    missing = [p for p in folders if not (p / "state.json").is_file()]
    if missing:  # run folders are not shipped (runs/ is ignored): a clone has none
        print(f"training_curve: skipped, no training run in {', '.join(map(str, missing))} (no state.json). "
              "Run folders are not shipped; train first (`video-mocap train training/configs/<model>_cpu.yaml`) "
              "or pass --runs with your run folders.", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    curves: dict[str, list[dict]] = {}
    scored: dict[str, dict] = {}
    for folder in folders:
        curves[folder.name] = read_history(folder)
        scored[folder.name] = score_saved_copies(folder)
    from video_mocap.core.atomic import write_text_atomic

    command = common.command("training_curve", args.runs)
    meta = run_meta(command, None)
    text = to_markdown(curves, args.every, meta) + "\n".join(checkpoints_markdown(scored))
    write_text_atomic(args.out, text)
    summary = {name: {"minutes": rows[-1]["minutes"], "best": best_until(rows, rows[-1]["minutes"]),
                      "mpjpe_change_last_doubling_mm": per_doubling(rows),
                      "checkpoints": scored[name]["rows"], "checkpoint_windows": scored[name]["windows"],
                      "checkpoint_mpjpe_change_per_doubling_mm": _slope_mm(scored[name]["rows"])}
               for name, rows in curves.items() if rows}
    write_text_atomic(args.out.with_suffix(".json"), json.dumps({"meta": meta, "runs": summary}, indent=1))
    print(text)
    return 0


BENCH = common.Bench("training_curve", order=130, needs=tuple(REPO / p for p in DEFAULT_RUNS),
                     needs_hint="training run folders, not shipped: train first")

if __name__ == "__main__":
    sys.exit(run())
