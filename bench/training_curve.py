"""Validation error against training time of the shipped runs: is more compute still paying?

    .venv/bin/python bench/training_curve.py [--runs runs/posemoe_cpu runs/dtgcn_cpu runs/mlp_cpu]
                                             [--out bench/results/training_curve.md]

Reads each run folder's ``state.json`` (written by ``video-mocap train``: every validation
with its step and elapsed seconds) and tables validation MPJPE / P-MPJPE (all validation
sets: Bandai part 1 subset + HDM05 actor ``bk``, detector-like noise) at about every
``--every`` minutes of training, with the change per doubling of the training time over the
last doubling. Run folders are not shipped (``runs/`` is ignored); the shipped weights'
cards carry the final figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from report import header, run_meta  # same folder: the shared report header

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEFAULT_RUNS = ("runs/posemoe_cpu", "runs/dtgcn_cpu", "runs/mlp_cpu")
SECONDS_PER_MINUTE = 60.0
#: minutes of slack when matching a table row to a validation (rows are rounded to 0.1 min)
SLACK_MIN = 0.1


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
        "(`train.validation_config`).",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="run folders (with state.json)")
    parser.add_argument("--every", type=float, default=30.0, help="table a row every this many minutes")
    parser.add_argument("--out", type=Path, default=RESULTS / "training_curve.md")
    args = parser.parse_args(argv)
    curves: dict[str, list[dict]] = {}
    for run in map(Path, args.runs):
        run = run if run.is_absolute() else REPO / run
        if not (run / "state.json").is_file():
            sys.exit(f"{run}: no state.json; pass training run folders (video-mocap train writes them).")
        curves[run.name] = read_history(run)
    from video_mocap.io_utils import write_text_atomic

    command = ".venv/bin/python bench/training_curve.py " + " ".join(args.runs)
    meta = run_meta(command, None)
    text = to_markdown(curves, args.every, meta)
    write_text_atomic(args.out, text)
    summary = {name: {"minutes": rows[-1]["minutes"], "best": best_until(rows, rows[-1]["minutes"]),
                      "mpjpe_change_last_doubling_mm": per_doubling(rows)} for name, rows in curves.items() if rows}
    write_text_atomic(args.out.with_suffix(".json"), json.dumps({"meta": meta, "runs": summary}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
