"""Real-video quality: bone lengths, foot skating and jitter of the whole pipeline on real footage.

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.bench_real_video [--threads 1]

Clips: the sample clip ``assets/sample/sports2d_walk.mp4`` (884x498, 230 frames) seen as two
subjects -- the foreground walker (the pipeline's chosen subject) and the second person of the
clip (the rooftop person, a different ByteTrack id, longest other track) -- and a second real video,
``bench/data/pose2sim_balancing/cam01.mp4`` (Pose2Sim's demo, BSD-3-Clause: a man balancing on force
plates, filmed from above, portrait 1080x1920, 60 fps, 100 frames; the **balance** clip). Its three
other synchronised, calibrated views give it a multi-view 3D reference: ``bench/bench_multiview.py``.

For each clip and each lifter (dtgcn = the default, posemoe): detect (cached 2D stage) -> lift
(shipped weights, flip TTA) -> solve (``rigging.solve``), and measure

- bone lengths: the raw lifted bones' coefficient of variation over frames (median over the 16
  bones; target <= 5 %) and the solved skeleton's maximal bone-length deviation (constant by
  construction);
- foot skating while a foot is planted (contacts of the locked solve): mean horizontal ankle travel
  per frame with foot locking (target <= 1 cm/frame) and without it (target: locking at least halves it),
  and how far the lock moves an ankle off where the camera sees it (the largest distance, across the view,
  between the locked and the unlocked ankle: informational; the guard is ``footlock.VISIBLE_SLIP_M``);
- jitter: mean joint acceleration of the solved joints with the default smoothing against none
  (target <= half), and the lag of the smoothed motion (target <= 1 frame).

Writes ``bench/results/real_video.md`` and ``bench/results/real_video.json``, and the lifted
motions to ``out/bench/real_video_<clip>_<model>.npz`` (used by ``bench/draw_skeletons.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import common
from .common import OUT, RESULTS, SAMPLE, header, run_meta, write_results
from .targets import T_BONE_CV, T_JITTER_RATIO, T_LAG_FRAMES, T_SKATE_M, T_SKATE_RATIO
#: the second real video: one view of the Pose2Sim demo recording (bench/data/pose2sim_balancing/README.md)
SECOND_VIDEO = common.DATA / "pose2sim_balancing" / "cam01.mp4"
MODELS = ("posemoe", "dtgcn")
CLIP_NAMES = ("walker", "rooftop", "balance")

M_TO_MM = 1000.0


@dataclass
class ClipResult:
    clip: str
    model: str
    track_id: int
    frames: int
    lift_s: float
    bone_cv_median: float  # raw lifted bones, fraction
    bone_cv_max: float
    solved_bone_dev_max_m: float  # solved skeleton: max |length(t) - length| over bones and frames
    contact_fraction: float
    skate_locked_m: float
    skate_free_m: float
    rise_locked_m: float  # mean height of a planted ankle above its low point, with / without the lock
    rise_free_m: float
    lock_across_view_m: float  # largest distance across the view between the locked and the unlocked ankle
    jitter_raw_m: float
    jitter_smooth_m: float
    lag_frames: float


def tracks_of_sample(video: Path) -> dict[str, "object"]:
    """Detect (cached) and return {'walker': subject track, 'rooftop': the longest other track}."""
    from video_mocap.inference.detect import DetectConfig, detect_video

    result = detect_video(video, DetectConfig(device="cpu"))
    others = sorted(
        (t for tid, t in result.tracks.items() if tid != result.subject_id), key=lambda t: -t.num_frames
    )
    tracks = {"walker": result.subject}
    if others:
        tracks["rooftop"] = others[0]
    return tracks


def real_clips(sample: Path = SAMPLE, second: Path = SECOND_VIDEO) -> dict[str, tuple[Path, "object"]]:
    """Every real clip as {name: (video, track)}: the sample's two subjects and the second video's subject."""
    from video_mocap.inference.detect import DetectConfig, detect_video

    clips = {name: (sample, track) for name, track in tracks_of_sample(sample).items()}
    clips["balance"] = (second, detect_video(second, DetectConfig(device="cpu")).subject)
    return clips


def motion_path(out_dir: Path, clip: str, model: str) -> Path:
    """Where the lifted motion of ``clip`` by ``model`` is saved (read by bench_smoothing and draw_skeletons)."""
    return out_dir / f"real_video_{clip}_{model}.npz"


def lift_and_save(clip: str, track, model: str, out_dir: Path):
    """Lift ``track`` with the shipped ``model``; save the motion and the track in ``out_dir``.
    Returns (motion, lifting seconds)."""
    from video_mocap.inference.lifter import lift_track

    lifter = common.load_shipped_lifter(model)
    start = time.perf_counter()
    motion = lift_track(track, lifter)
    lift_s = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    motion.save(motion_path(out_dir, clip, model))
    track.save(out_dir / f"real_video_{clip}.track.npz")
    return motion, lift_s


def save_missing_motions(models, out_dir: Path) -> list[Path]:
    """Detect (cached) and lift the real clips whose motion ``out_dir`` lacks (a fresh clone has none);
    returns the motion files made."""
    wanted = [(clip, model) for clip in CLIP_NAMES for model in models
              if not motion_path(out_dir, clip, model).is_file()]
    if not wanted:
        return []
    clips = real_clips()
    for clip, model in wanted:
        lift_and_save(clip, clips[clip][1], model, out_dir)
    return [motion_path(out_dir, clip, model) for clip, model in wanted]


def measure(clip: str, track, model: str, out_dir: Path) -> ClipResult:
    """Lift ``track`` with ``model`` and solve it three ways; the figures of one row."""
    from video_mocap.core import skeleton
    from video_mocap.rigging import footlock
    from video_mocap.rigging import solve as S
    from video_mocap.training.metrics import bone_cv

    from .bench_contacts import rise_on

    motion, lift_s = lift_and_save(clip, track, model, out_dir)

    cv = bone_cv(motion.joints3d)
    raw = S.solve(motion, S.SolveConfig(smoothing=0.0, foot_lock=False))
    smooth = S.solve(motion, S.SolveConfig(foot_lock=False))  # default smoothing
    locked = S.solve(motion, S.SolveConfig(foot_lock=True))
    solved_lengths = skeleton.bone_lengths(locked.joints_world)
    contacts = locked.contacts
    feet = list(skeleton.FEET)
    planted = max(int(contacts.sum()), 1)
    centre = locked.info["camera"]["position"]
    across = max(float(footlock.across_view(smooth.joints_world[:, f], locked.joints_world[:, f], centre).max())
                 for f in feet)
    return ClipResult(
        clip=clip,
        model=model,
        track_id=int(track.track_id),
        frames=int(track.num_frames),
        lift_s=lift_s,
        bone_cv_median=float(np.median(cv)),
        bone_cv_max=float(cv.max()),
        solved_bone_dev_max_m=float(np.abs(solved_lengths - solved_lengths.mean(axis=0)).max()),
        contact_fraction=float(contacts.mean()),
        skate_locked_m=S.foot_skate(locked.joints_world, contacts),
        skate_free_m=S.foot_skate(smooth.joints_world, contacts),
        rise_locked_m=rise_on(locked.joints_world[:, feet, 2], contacts) / planted,
        rise_free_m=rise_on(smooth.joints_world[:, feet, 2], contacts) / planted,
        lock_across_view_m=across,
        jitter_raw_m=S.jitter(raw.joints_world),
        jitter_smooth_m=S.jitter(smooth.joints_world),
        lag_frames=S.lag_frames(smooth.joints_world, raw.joints_world),
    )


def checks(r: ClipResult) -> dict[str, bool | None]:
    """Pass/fail of one row against the targets (None: not measurable, e.g. no planted frames)."""
    planted = r.contact_fraction > 0 and r.skate_free_m > 0
    return {
        "bone_cv": r.bone_cv_median <= T_BONE_CV,
        "skate": r.skate_locked_m <= T_SKATE_M if planted else None,
        "skate_halved": r.skate_locked_m <= T_SKATE_RATIO * r.skate_free_m if planted else None,
        "jitter_halved": r.jitter_smooth_m <= T_JITTER_RATIO * r.jitter_raw_m,
        "lag": abs(r.lag_frames) <= T_LAG_FRAMES,
    }


def _mark(ok: bool | None) -> str:
    if ok is None:
        return "(n/a: no planted frames)"
    return "✅" if ok else "❌"


def to_markdown(rows: list[ClipResult], meta: dict) -> str:
    from video_mocap.rigging.footlock import VISIBLE_SLIP_M
    from video_mocap.rigging.solve import SolveConfig

    default = SolveConfig()  # the solve's defaults
    lines = header("Real video: bone lengths, foot skating, jitter", meta) + [
        "Clips: `assets/sample/sports2d_walk.mp4` (884x498, 230 frames, 30 fps) seen as two subjects, "
        "**walker** = the foreground walker (the pipeline's subject) and **rooftop** = the second person "
        "(a different track id, the longest other track); and a second video, **balance** = "
        "`bench/data/pose2sim_balancing/cam01.mp4` (Pose2Sim demo, BSD-3-Clause: a man balancing on force plates, "
        "seen from 1.9 m up looking down 22 deg, 1080x1920, 60 fps, 100 frames; its multi-view reference is in "
        "[multiview.md](multiview.md)). Shipped YOLO11n-pose + ByteTrack (2D stage from the detection cache), "
        "shipped lifters, flip TTA on, torch on CPU; "
        f"solve with default settings ({default.smoothing_method} smoothing {default.smoothing}, foot lock on) "
        "unless stated.",
        "",
        "- bone CV = std / mean of each raw lifted bone's length over frames, median (max) over the 16 bones;",
        "- solved bone dev = max |bone length(t) - its mean| of the solved armature (constant by construction);",
        "- skate = mean horizontal ankle travel per frame while planted (contacts of the locked solve), "
        "smoothed solve with / without foot lock; rise = mean height of a planted ankle above its low point "
        "(5th percentile) with / without the lock, which raises a pin a little out of reach (a heel coming up) "
        "rather than dragging the foot; lock across = the largest distance, across the camera's view, between an "
        "ankle with and without the lock (how far the lock moves a foot off where the video shows it; a contact "
        f"whose pin would be more than {VISIBLE_SLIP_M:.2f} m off is cut, `rigging.footlock.drop_visible_slides`);",
        f"- jitter = mean joint acceleration (mm/frame^2) of the solved joints, smoothing 0 vs {default.smoothing} "
        "(no foot lock); "
        "lag = cross-correlation of joint velocities, smoothed vs raw (frames, + = late).",
        "",
        "| clip | model | frames | bone CV median (max) | solved bone dev | planted | skate locked | skate free "
        "| rise locked / free | lock across | jitter raw | jitter smoothed | lag |",
        "| --- | --- | ---: | --- | --- | ---: | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        c = checks(r)
        lines.append(
            f"| {r.clip} (id {r.track_id}) | {r.model} | {r.frames} | {100 * r.bone_cv_median:.1f} % "
            f"({100 * r.bone_cv_max:.1f} %) {_mark(c['bone_cv'])} | {r.solved_bone_dev_max_m * M_TO_MM:.1e} mm "
            f"| {100 * r.contact_fraction:.0f} % | {r.skate_locked_m * M_TO_MM:.2f} mm/frame {_mark(c['skate'])} "
            f"| {r.skate_free_m * M_TO_MM:.2f} mm/frame {_mark(c['skate_halved'])} "
            f"| {r.rise_locked_m * M_TO_MM:.0f} / {r.rise_free_m * M_TO_MM:.0f} mm "
            f"| {r.lock_across_view_m * M_TO_MM:.0f} mm "
            f"| {r.jitter_raw_m * M_TO_MM:.1f} mm | {r.jitter_smooth_m * M_TO_MM:.1f} mm {_mark(c['jitter_halved'])} "
            f"| {r.lag_frames:+.2f} {_mark(c['lag'])} |"
        )
    lines += [
        "",
        f"Targets: bone CV <= {100 * T_BONE_CV:.0f} %; skate locked <= {T_SKATE_M * M_TO_MM:.0f} mm/frame "
        f"and <= {T_SKATE_RATIO:.0%} of unlocked; jitter smoothed <= {T_JITTER_RATIO:.0%} of raw; "
        f"|lag| <= {T_LAG_FRAMES:.0f} frame.",
        "",
        "'planted' is the share of frames the solve's contact detector (ankle near the floor and slower than "
        "0.5 m/s or than 0.9x the other foot) marks; on this walking clip it finds fewer than a walk has (~60 %), "
        "because the lifted stance foot drifts: the skate figures cover only the frames it finds. "
        "`bench/bench_contacts.py` measures, on lifted mocap whose contacts are known, how many planted frames "
        "the detector finds and the skating over all of them ([contacts.md](contacts.md)).",
        "",
        "Pictures: `bench/figures/sample_skeletons.png` (walker), `bench/figures/rooftop_skeletons.png`, "
        "`bench/figures/balance_skeletons.png` (`bench/draw_skeletons.py`).",
        "",
    ]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=SAMPLE)
    parser.add_argument("--second-video", type=Path, default=SECOND_VIDEO)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    clips = real_clips(args.video, args.second_video)
    rows = [measure(clip, track, model, OUT) for clip, (_, track) in clips.items() for model in MODELS]
    meta = run_meta(common.command("bench_real_video", argv, prefix="YOLO_OFFLINE=1 nice -n 5"), time.perf_counter() - start,
                    clips={"walker": "foreground walker of the sample clip",
                           "rooftop": "second person (rooftop) of the sample clip, a different track id",
                           "balance": "bench/data/pose2sim_balancing/cam01.mp4 (Pose2Sim demo, BSD-3-Clause)"})
    payload = {"meta": meta, "rows": [dict(asdict(r), checks=checks(r)) for r in rows]}
    write_results(args.out, "real_video", to_markdown(rows, meta), payload)
    for r in rows:
        print(f"{r.clip:8s} {r.model:8s} " + " ".join(f"{k}={v}" for k, v in checks(r).items()))
    return 0


BENCH = common.Bench("real_video", order=70)

if __name__ == "__main__":
    sys.exit(run())
