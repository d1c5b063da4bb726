"""The targets of every bench and the rows of run_all's table: one function per results file.

Each ``*_figures(data)`` turns one ``bench/results/<name>.json`` into :class:`Figure` rows; a row's
``ok`` (✅ / ❌, None = informational) is judged here against the ``T_*`` targets below (issue 9's
targets and issue 10's goals), which the benches also read. Adding a bench: a module with
``run(argv)`` and ``BENCH`` (see :mod:`bench.common`), and a function here listed in
:data:`FIGURE_FUNCS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from .common import REPO

LIFTERS = ("posemoe", "dtgcn")
BASELINE = "mlp"
MIB = 1024**2
GIB_MIB = 1024

# issue 9 targets
T_P_MPJPE_NOISY = 45.0
T_MPJPE_NOISY = 65.0
T_P_MPJPE_EXACT = 35.0
T_VELOCITY = 4.0
T_VS_MLP_P_MPJPE = 0.15
T_VS_MLP_VELOCITY = 0.40
T_E2E_ONNX_FPS = 10.0
T_ONNX_OVER_TORCH = 2.0
T_LIFTER_FPS = 500.0
T_WRITE_10K_S = 2.0
T_REAPPLY_S = 3.0
T_SOLVED_BONE_DEV_M = 1e-6
# issue 10 goals (ratios of P-MPJPE)
T_UNSEEN_OVER_SEEN = 1.2
T_BODIES_OVER_UNSCALED = 1.10
T_VIEW_OVER_EYE_LEVEL = 1.15
# real video (issue 9)
T_BONE_CV = 0.05
T_SKATE_M = 0.01
T_SKATE_RATIO = 0.5
T_JITTER_RATIO = 0.5
T_LAG_FRAMES = 1.0
# memory (issue 9): an hour-long track's process peak, and its lifting peak within 10 % of a 10-minute track's
T_PEAK_BYTES = 2 * 1024**3
T_FLAT = 0.10
# issue 23: against MediaPipe on the balance recording's views, and the focal length found without the user
T_VS_MEDIAPIPE_P_MPJPE = 0.8
T_VS_MEDIAPIPE_MPJPE = 1.0
T_FOCAL_ERROR = 0.25
T_FOCAL_ROOT_M = 0.3
# issue 25: a panning camera's rotation, per frame
T_PAN_ERROR_DEG = 1.0


@dataclass
class Figure:
    group: str
    name: str
    target: str
    measured: str
    ok: bool | None  # None: informational / not measured
    source: str  # results file


def _missing(group: str, name: str, target: str, source: str) -> Figure:
    return Figure(group, name, target, "not measured", None, source)


# ---------------------------------------------------------------------------------------
# figures per results file
# ---------------------------------------------------------------------------------------
def accuracy_figures(data: list[dict] | None) -> list[Figure]:
    from .bench_accuracy import pooled

    src = "accuracy"
    if not data:
        return [_missing("Accuracy", "held-out Bandai part 1 metrics", "see issue 9", src)]
    by = {d["model"]: d for d in data}
    out: list[Figure] = []

    def metric(model: str, cond: str, key: str) -> float:
        return float(by[model]["conditions"][cond]["overall"][key])

    for m in LIFTERS:
        if m not in by:
            out.append(_missing("Accuracy", f"{m}", "-", src))
            continue
        pn, mn = metric(m, "bandai_noisy", "p_mpjpe"), metric(m, "bandai_noisy", "mpjpe")
        pe, vn = metric(m, "bandai_exact", "p_mpjpe"), metric(m, "bandai_noisy", "velocity")
        out += [
            Figure("Accuracy", f"{m}: P-MPJPE, detector-like noise", f"<= {T_P_MPJPE_NOISY:.0f} mm",
                   f"{pn:.1f} mm", pn <= T_P_MPJPE_NOISY, src),
            Figure("Accuracy", f"{m}: MPJPE, detector-like noise", f"<= {T_MPJPE_NOISY:.0f} mm",
                   f"{mn:.1f} mm", mn <= T_MPJPE_NOISY, src),
            Figure("Accuracy", f"{m}: P-MPJPE, exact 2D", f"<= {T_P_MPJPE_EXACT:.0f} mm",
                   f"{pe:.1f} mm", pe <= T_P_MPJPE_EXACT, src),
            Figure("Accuracy", f"{m}: velocity error, noisy", f"<= {T_VELOCITY:.0f} mm/frame",
                   f"{vn:.2f} mm/frame", vn <= T_VELOCITY, src),
        ]
        if BASELINE in by:
            bp, bv = metric(BASELINE, "bandai_noisy", "p_mpjpe"), metric(BASELINE, "bandai_noisy", "velocity")
            gain_p, gain_v = 1 - pn / bp, 1 - vn / bv
            out += [
                Figure("Accuracy", f"{m} vs MLP: P-MPJPE lower (noisy)", f">= {T_VS_MLP_P_MPJPE:.0%}",
                       f"{gain_p:+.1%} ({pn:.1f} vs {bp:.1f} mm)", gain_p >= T_VS_MLP_P_MPJPE, src),
                Figure("Accuracy", f"{m} vs MLP: velocity error lower (noisy)", f">= {T_VS_MLP_VELOCITY:.0%}",
                       f"{gain_v:+.1%} ({vn:.2f} vs {bv:.2f})", gain_v >= T_VS_MLP_VELOCITY, src),
            ]
        smoothed = by[m]["conditions"].get("bandai_noisy_smoothed")
        if smoothed:  # informational: the figure is the raw lifter's, above
            o = smoothed["overall"]
            out.append(Figure("Accuracy", f"{m}: after the solve's default smoothing (the armature's joints), noisy",
                              f"(raw lifter: <= {T_VELOCITY:.0f} mm/frame)",
                              f"velocity {o['velocity']:.2f} mm/frame, P-MPJPE {o['p_mpjpe']:.1f}, "
                              f"MPJPE {o['mpjpe']:.1f} mm", None, src))
        noisy, exact = by[m]["conditions"]["bandai_noisy"], by[m]["conditions"]["bandai_exact"]
        if "bone_cv" in noisy:  # informational: the real-video bone figure, on mocap
            out.append(Figure("Accuracy", f"{m}: lifted bone-length CV on held-out mocap, noisy / exact 2D "
                              "(median over bones, then clips)", "(real video: <= 5 %)",
                              f"{100 * noisy['bone_cv']:.1f} / {100 * exact['bone_cv']:.1f} %", None, src))
        chosen_on = set(by[m].get("validation_clips", []))
        if chosen_on:  # informational: the validation clips chose the exported checkpoint
            rows = by[m]["conditions"]["bandai_noisy"]["per_clip"]
            never = [r for r in rows if r["name"] not in chosen_on]
            o, v = pooled(never), pooled([r for r in rows if r["name"] in chosen_on])
            out.append(Figure("Accuracy", f"{m}: noisy, held-out clips never used to choose the checkpoint "
                              f"({len(never)} of {len(rows)}) / the validation clips",
                              f"(all clips: <= {T_P_MPJPE_NOISY:.0f} mm P-MPJPE)",
                              f"P-MPJPE {o['p_mpjpe']:.1f} / {v['p_mpjpe']:.1f} mm, "
                              f"MPJPE {o['mpjpe']:.1f} / {v['mpjpe']:.1f} mm", None, src))
        worst = by[m]["conditions"]["bandai_noisy"].get("worst", [])
        labelled = bool(worst) and all("content" in w.get("labels", {}) and "style" in w.get("labels", {})
                                       for w in worst)
        out.append(Figure("Accuracy", f"{m}: worst 10 % clips listed with content/style", "listed",
                          f"{len(worst)} clips", labelled, src))
    for m in (*LIFTERS, BASELINE):  # validation accuracy of each model (model card), informational
        if m in by and by[m].get("card_metrics"):
            c = by[m]["card_metrics"]
            out.append(Figure("Per stage", f"{m} ({by[m].get('preset')}): validation MPJPE / P-MPJPE (card)", "-",
                              f"{c.get('val_all_mpjpe_mm', float('nan')):.1f} / "
                              f"{c.get('val_all_p_mpjpe_mm', float('nan')):.1f} mm", None, src))
    return out


def generalisation_figures(data: list[dict] | None) -> list[Figure]:
    """Issue 10's goals from the accuracy run: seen/unseen motions, other bodies, other viewpoints."""
    from .bench_accuracy import BODY_LABELS, is_seen, pooled

    src = "accuracy"
    if not data:
        return [_missing("Generalisation", "seen/unseen, bodies, viewpoints", "see issue 10", src)]
    out: list[Figure] = []
    for d in data:
        if d["model"] not in LIFTERS:
            continue
        m, cond = d["model"], d["conditions"]

        def p_mpjpe(key: str) -> float:
            return float(cond[key]["overall"]["p_mpjpe"])

        rows = cond["bandai_noisy"]["per_clip"]
        seen = pooled([r for r in rows if is_seen(r)])["p_mpjpe"]
        unseen = pooled([r for r in rows if not is_seen(r)])["p_mpjpe"]
        bodies, unscaled = p_mpjpe("retarget_noisy"), p_mpjpe("subset_noisy")
        for kind, label in BODY_LABELS.items():
            key = f"body_{kind}_noisy"
            if key in cond:
                ratio = p_mpjpe(key) / unscaled
                out.append(Figure("Generalisation", f"{m}: {label} / unscaled (P-MPJPE)",
                                  f"<= {T_BODIES_OVER_UNSCALED:.2f}x",
                                  f"{ratio:.2f}x ({p_mpjpe(key):.1f} vs {unscaled:.1f} mm)",
                                  ratio <= T_BODIES_OVER_UNSCALED, src))
                if "mean_height_m" in cond[key]:  # informational: millimetres grow with the body
                    heights = cond[key]["mean_height_m"], cond["subset_noisy"]["mean_height_m"]
                    per_m = ratio * heights[1] / heights[0]
                    out.append(Figure("Generalisation", f"{m}: {label} / unscaled, P-MPJPE per metre of height",
                                      f"(mm: <= {T_BODIES_OVER_UNSCALED:.2f}x)",
                                      f"{per_m:.2f}x ({heights[0]:.2f} m vs {heights[1]:.2f} m bodies)", None, src))
        eye, high, low = p_mpjpe("eye_level_noisy"), p_mpjpe("high_camera_noisy"), p_mpjpe("low_camera_noisy")
        out += [
            Figure("Generalisation", f"{m}: unseen / seen motions (P-MPJPE)", f"<= {T_UNSEEN_OVER_SEEN:.1f}x",
                   f"{unseen / seen:.2f}x ({unseen:.1f} vs {seen:.1f} mm)", unseen / seen <= T_UNSEEN_OVER_SEEN, src),
            Figure("Generalisation", f"{m}: random re-targeted bodies / unscaled (P-MPJPE)",
                   f"<= {T_BODIES_OVER_UNSCALED:.2f}x", f"{bodies / unscaled:.2f}x ({bodies:.1f} vs {unscaled:.1f} mm)",
                   bodies / unscaled <= T_BODIES_OVER_UNSCALED, src),
            Figure("Generalisation", f"{m}: high camera / eye level (P-MPJPE)", f"<= {T_VIEW_OVER_EYE_LEVEL:.2f}x",
                   f"{high / eye:.2f}x ({high:.1f} vs {eye:.1f} mm)", high / eye <= T_VIEW_OVER_EYE_LEVEL, src),
            Figure("Generalisation", f"{m}: low camera / eye level (P-MPJPE)", f"<= {T_VIEW_OVER_EYE_LEVEL:.2f}x",
                   f"{low / eye:.2f}x ({low:.1f} vs {eye:.1f} mm)", low / eye <= T_VIEW_OVER_EYE_LEVEL, src),
            Figure("Generalisation", f"{m}: held-out HDM05 actor, noisy (MPJPE / P-MPJPE)", "-",
                   f"{cond['hdm05_bk_noisy']['overall']['mpjpe']:.1f} / {p_mpjpe('hdm05_bk_noisy'):.1f} mm", None, src),
        ]
    return out


def training_curve_figures(data: dict | None) -> list[Figure]:
    """Informational: validation error of each shipped run and its change over the last doubling of training time."""
    src = "training_curve"
    if not data:
        return [_missing("Per stage", "training curves (needs the runs/ folders)", "-", src)]
    out = []
    for name, run in data["runs"].items():
        change = run["mpjpe_change_last_doubling_mm"]  # as validated during the run
        value = (f"{run['best']['mpjpe']:.1f} / {run['best']['p_mpjpe']:.1f} mm; "
                 + ("-" if change is None else f"{change:+.1f} mm over the last doubling of time"))
        rescored = run.get("checkpoint_mpjpe_change_per_doubling_mm")  # saved checkpoints, one set of windows
        if rescored is not None:
            value += f"; saved checkpoints on one set of windows: {rescored:+.1f} mm per doubling"
        out.append(Figure("Per stage", f"{name}: validation MPJPE / P-MPJPE after {run['minutes']:.0f} min of training",
                          "-", value, None, src))
    return out


def ablation_figures(data: dict | None) -> list[Figure]:
    """Issue 10's ablation: P-MPJPE of each training-data row on the held-out sets (informational)."""
    src = "ablation"
    if not data:
        return [_missing("Generalisation", "augmentation ablation", "every row in one run", src)]
    out = []
    for row, values in data["rows"].items():
        cells = ", ".join(f"{column} {score['p_mpjpe']:.1f}" for column, score in values["scores"].items())
        out.append(Figure("Generalisation", f"ablation, {row} (P-MPJPE, mm)", "-", cells, None, src))
    return out


def real_video_figures(data: dict | None) -> list[Figure]:
    src = "real_video"
    if not data:
        return [_missing("Real video", "bone lengths, skate, jitter", "see issue 9", src)]
    out = []
    for r in data["rows"]:
        tag = f"{r['clip']}/{r['model']}"
        c = r["checks"]
        planted = c["skate"] is not None
        out += [
            Figure("Real video", f"{tag}: raw bone length CV (median over bones)", "<= 5 %",
                   f"{100 * r['bone_cv_median']:.1f} %", c["bone_cv"], src),
            Figure("Real video", f"{tag}: solved bones constant (max deviation)", "< 1 um",
                   f"{r['solved_bone_dev_max_m']:.1e} m", r["solved_bone_dev_max_m"] < T_SOLVED_BONE_DEV_M, src),
            Figure("Real video", f"{tag}: foot skate while planted, foot lock", "<= 1 cm/frame",
                   f"{1000 * r['skate_locked_m']:.2f} mm/frame ({100 * r['contact_fraction']:.0f} % planted)"
                   if planted else "no planted frames", c["skate"], src),
            Figure("Real video", f"{tag}: foot lock halves skating", "<= 50 % of unlocked",
                   f"{1000 * r['skate_locked_m']:.2f} vs {1000 * r['skate_free_m']:.2f} mm/frame"
                   if planted else "no planted frames", c["skate_halved"], src),
            Figure("Real video", f"{tag}: jitter smoothed vs raw", "<= 50 %",
                   f"{1000 * r['jitter_smooth_m']:.1f} vs {1000 * r['jitter_raw_m']:.1f} mm/frame^2 "
                   f"({r['jitter_smooth_m'] / r['jitter_raw_m']:.0%})", c["jitter_halved"], src),
            Figure("Real video", f"{tag}: lag of smoothing", "<= 1 frame", f"{r['lag_frames']:+.2f} frames",
                   c["lag"], src),
        ]
    return out


def multiview_figures(data: dict | None) -> list[Figure]:
    """Informational: real video scored against a 4-view triangulated reference (not ground truth)."""
    from .bench_multiview import means

    src = "multiview"
    if not data:
        return [_missing("Real video", "monocular lifts against a multi-view reference", "-", src)]
    ref = data["reference"]
    out = [Figure("Real video", "balance clip: bone length CV of the 4-view triangulated reference itself "
                  "(median over bones)", "(lifted: <= 5 %)", f"{100 * ref['bone_cv_median']:.1f} %", None, src)]
    for model in dict.fromkeys(r["model"] for r in data["rows"]):
        m = means(data["rows"], model)
        out.append(Figure("Real video", f"{model}: balance clip, each of 4 views lifted alone vs the 4-view reference "
                          "(mean over views): MPJPE / P-MPJPE / velocity", "-",
                          f"{m['mpjpe']:.1f} / {m['p_mpjpe']:.1f} mm / {m['velocity']:.1f} mm/frame at 60 fps; "
                          f"bone CV {100 * m['bone_cv_median']:.1f} %; after the solve P-MPJPE "
                          f"{m['solved_p_mpjpe']:.1f} mm", None, src))
    return out


def frame_rate_figures(data: dict | None) -> list[Figure]:
    """Informational: 60 fps footage lifted directly (what the product does) against 30 fps footage."""
    src = "frame_rate"
    if not data:
        return [_missing("Accuracy", "60 fps footage", "-", src)]
    out = []
    for model, ways in data["results"].items():
        cells = "; ".join(f"{way} {r['p_mpjpe']:.1f} mm" for way, r in ways.items())
        out.append(Figure("Accuracy", f"{model}: P-MPJPE of 30 fps and 60 fps footage (held-out Bandai subset, noisy)",
                          "-", cells, None, src))
    return out


def smoothing_figures(data: dict | None) -> list[Figure]:
    """Informational: what the solve's default smoothing costs and buys (the evidence for the default)."""
    src = "smoothing"
    if not data:
        return [_missing("Per stage", "smoothing strength vs accuracy and jitter", "-", src)]
    default = data["meta"]["default"]
    out = []
    for m in LIFTERS:
        rows = {(r["method"], r["strength"]): r for r in data["held_out"] if r["model"] == m}
        chosen = rows.get((default["method"], default["smoothing"]))
        raw = next((r for (_, s), r in rows.items() if s == 0.0), None)
        jitter = [r["jitter_ratio"] for r in data["real_video"] if r["model"] == m
                  and (r["method"], r["strength"]) == (default["method"], default["smoothing"])]
        if chosen is None or raw is None or not jitter:
            continue
        out.append(Figure("Per stage", f"{m}: default smoothing ({default['method']} {default['smoothing']}) vs raw, "
                          "held-out Bandai noisy", "-",
                          f"P-MPJPE {raw['bandai_p_mpjpe']:.1f} -> {chosen['bandai_p_mpjpe']:.1f} mm, velocity "
                          f"{raw['bandai_velocity']:.2f} -> {chosen['bandai_velocity']:.2f} mm/frame; real-video "
                          f"jitter kept {min(jitter):.0%}-{max(jitter):.0%}", None, src))
    return out


def contact_figures(data: dict | None) -> list[Figure]:
    """Informational: foot contacts and skating against the true contacts of lifted mocap (real video has none)."""
    src = "contacts"
    if not data:
        return [_missing("Real video", "foot contacts against mocap ground truth", "-", src)]
    return [Figure("Real video", f"{r['model']}: on lifted mocap, true planted frames found (recall / precision); "
                   "skate on them, foot lock / none", "(real video: <= 1 cm/frame, halved)",
                   f"{r['recall']:.0%} / {r['precision']:.0%}; {1000 * r['skate_locked_m']:.1f} / "
                   f"{1000 * r['skate_free_m']:.1f} mm/frame", None, src) for r in data["rows"]]


def runtime_figures(data: dict | None) -> list[Figure]:
    src = "runtime"
    if not data:
        return [_missing("Speed", "end to end, ONNX vs PyTorch", ">= 10 frames/s, >= 2x", src)]
    runs = data["runs"]
    best = {b: max((r for r in runs if r["backend"] == b), key=lambda r: r["total_fps"]) for b in ("onnx", "torch")}
    onnx, torch = best["onnx"]["total_fps"], best["torch"]["total_fps"]
    fp32_runs = [r["total_fps"] for r in runs if r["backend"] == "onnx-fp32"]
    fp32 = [Figure("Speed", "ONNX Runtime with the float (fp32) detector vs PyTorch, same run", "-",
                   f"{max(fp32_runs) / torch:.2f}x ({max(fp32_runs):.1f} frames/s)", None, src)] if fp32_runs else []
    return fp32 + [
        Figure("Speed", "end to end `estimate` on the sample clip, ONNX Runtime", f">= {T_E2E_ONNX_FPS:.0f} frames/s",
               f"{onnx:.1f} frames/s (2D {best['onnx']['detect_fps']:.1f}, 3D {best['onnx']['lift_fps']:.0f})",
               onnx >= T_E2E_ONNX_FPS, src),
        Figure("Speed", "ONNX Runtime vs PyTorch path, same run", f">= {T_ONNX_OVER_TORCH:.0f}x",
               f"{onnx / torch:.2f}x ({onnx:.1f} vs {torch:.1f} frames/s)", onnx / torch >= T_ONNX_OVER_TORCH, src),
        Figure("Speed", f"lifter alone, shipped {data['lifter']}: `lift_track` with flip TTA, best backend",
               f">= {T_LIFTER_FPS:.0f} frames/s",
               f"{max(r['lift_fps'] for r in runs):.0f} frames/s "
               f"(onnx {best['onnx']['lift_fps']:.0f}, torch {best['torch']['lift_fps']:.0f} in the best e2e runs)",
               max(r["lift_fps"] for r in runs) >= T_LIFTER_FPS, src),
    ]


def lifter_figures(data: list[dict] | None) -> list[Figure]:
    src = "lifters"
    if not data:
        return [_missing("Speed", "lifter alone", f">= {T_LIFTER_FPS:.0f} frames/s", src)]
    out = []
    shipped = {}
    for m in LIFTERS:
        card = REPO / "weights" / f"{m}.json"
        if card.is_file():
            shipped[m] = json.loads(card.read_text(encoding="utf-8")).get("preset")
    for r in data:
        if shipped.get(r["model"]) == r["preset"]:
            out.append(Figure("Speed", f"lifter alone, {r['model']} {r['preset']} (the shipped preset; raw network, "
                              f"{r['num_frames']}-frame windows, 2 threads)",
                              f">= {T_LIFTER_FPS:.0f} frames/s", f"{r['frames_per_s']:.0f} frames/s",
                              r["frames_per_s"] >= T_LIFTER_FPS, src))
    for r in data:
        if r["preset"] == "paper":
            out.append(Figure("Speed", f"paper-size {r['model']}: params, MACs/frame, frames/s", "measured",
                              f"{r['params'] / 1e6:.2f}M, {r['macs_per_frame'] / 1e6:.0f}M, "
                              f"{r['frames_per_s']:.0f} frames/s", True, src))
    return out


def rigging_figures(data: dict | None) -> list[Figure]:
    src = "rigging"
    if not data:
        return [_missing("Speed", "writing 10,000 frames onto an armature", f"<= {T_WRITE_10K_S:.0f} s", src)]
    t = data["times_s"]
    frames = data["frames"]
    return [
        Figure("Speed", f"writing {frames:,} frames onto an armature (`create_armature`, bpy {data.get('bpy', '?')})",
               f"<= {T_WRITE_10K_S:.0f} s", f"{t['create_armature']:.2f} s", t["create_armature"] <= T_WRITE_10K_S
               if frames >= 10_000 else None, src),
        Figure("Per stage", f"solve {frames:,} frames (numpy)", "-", f"{t['solve']:.2f} s", None, src),
    ]


def memory_figures(data: dict | None) -> list[Figure]:
    src = "memory"
    if not data:
        return [_missing("Memory", "hour-long track peak", "<= 2 GiB, flat", src)]
    out = []
    for key, s in data["meta"]["summary"].items():
        judged = s.get("judged", True)  # results before the streamed path: one path per backend, judged
        out += [
            Figure("Memory", f"hour-long track (108,000 frames), {key}: process peak", "<= 2 GiB",
                   f"{s['hour_peak_mib']:.0f} MiB", s["peak_ok"] if judged else None, src),
            Figure("Memory", f"hour vs 10-minute track, {key}: peak while lifting", "within 10 %",
                   f"{s['hour_lift_peak_mib']:.0f} vs {s['short_lift_peak_mib']:.0f} MiB (x{s['ratio']:.3f})",
                   s["flat_ok"] if judged else None, src),
        ]
    return out


def ux_figures(data: dict | None) -> list[Figure]:
    src = "ux"
    if not data:
        return [_missing("Speed", "re-apply a cached result", f"<= {T_REAPPLY_S:.0f} s", src)]
    out = []
    for name, v in data["timings_s"].items():
        out.append(Figure("Speed", f"re-apply with only rig settings changed: {name}", f"<= {T_REAPPLY_S:.0f} s",
                          f"{v['median']:.2f} s (max {v['max']:.2f})", v["median"] <= T_REAPPLY_S, src))
    return out


def detect_figures(data: dict | None) -> list[Figure]:
    src = "detect"
    if not data:
        return [_missing("Per stage", "detection frames/s", "-", src)]
    return [Figure("Per stage", f"2D detection (YOLO11n-pose + ByteTrack, batch {data['batch']}, cold)", "-",
                   f"{data['frames_per_s']:.1f} frames/s (load {data['load_avg'][0]:.1f})", None, src)]


def zip_figures() -> list[Figure]:
    out = []
    for z in sorted((REPO / "dist").glob("video_mocap-*.zip")):
        out.append(Figure("Per stage", f"extension zip {z.name}", "-", f"{z.stat().st_size / 1e6:.1f} MB", None,
                          "runtime"))
    return out


def focal_figures(data: dict | None) -> list[Figure]:
    src = "focal"
    if not data:
        return [_missing("Focal length", "found without the user's field of view", "see issue 23", src)]
    rows = [r for r in data["rows"] if r["focal"] == "default"]
    worst_focal = max(abs(r["focal_error_pct"]) for r in rows) / 100.0
    out = [Figure("Focal length", "default (60° across the long side) on the 4 calibrated views: worst focal error",
                  f"within {T_FOCAL_ERROR:.0%}", f"{worst_focal:.1%}", worst_focal <= T_FOCAL_ERROR, src)]
    for model in dict.fromkeys(r["model"] for r in rows):
        worst_root = max(r["root_median_error_m"] for r in rows if r["model"] == model)
        out.append(Figure("Focal length", f"{model}: root raw median error with it, worst view", f"<= {T_FOCAL_ROOT_M} m",
                          f"{worst_root:.2f} m", worst_root <= T_FOCAL_ROOT_M, src))
    fit = [r for r in data["rows"] if r["focal"] == "fit"]
    if fit:  # informational: the reprojection fit that is not used
        out.append(Figure("Focal length", "reprojection fit over the clip (not used): focal error range", "(informational)",
                          f"{min(r['focal_error_pct'] for r in fit):+.0f} to {max(r['focal_error_pct'] for r in fit):+.0f} %",
                          None, src))
    return out


def mediapipe_figures(data: dict | None) -> list[Figure]:
    src = "mediapipe"
    if not data:
        return [_missing("Against MediaPipe", "balance recording, 4 views", "see issue 23", src)]
    means = data["means"]
    peer = next((m for m in means if m.startswith("mediapipe")), None)
    out: list[Figure] = []
    for model in LIFTERS:
        if model not in means or peer is None:
            continue
        ours, theirs = means[model], means[peer]
        ratio = ours["p_mpjpe"] / theirs["p_mpjpe"]
        out += [Figure("Against MediaPipe", f"{model}: P-MPJPE against {peer}'s (mean of 4 views)",
                       f"<= {T_VS_MEDIAPIPE_P_MPJPE}x", f"{ratio:.2f}x ({ours['p_mpjpe']:.1f} vs {theirs['p_mpjpe']:.1f} mm)",
                       ratio <= T_VS_MEDIAPIPE_P_MPJPE, src),
                Figure("Against MediaPipe", f"{model}: MPJPE against {peer}'s", f"<= {T_VS_MEDIAPIPE_MPJPE}x",
                       f"{ours['mpjpe']:.1f} vs {theirs['mpjpe']:.1f} mm",
                       ours["mpjpe"] <= T_VS_MEDIAPIPE_MPJPE * theirs["mpjpe"], src)]
    for method, row in means.items():
        out.append(Figure("Against MediaPipe", f"{method}: mean absolute error x / y / depth", "(informational)",
                          f"{row['abs_x']:.0f} / {row['abs_y']:.0f} / {row['abs_depth']:.0f} mm", None, src))
    return out


def pan_figures(data: dict | None) -> list[Figure]:
    src = "pan"
    if not data:
        return [_missing("Moving camera", "a pan found from the background", "see issue 25", src)]
    pan = data["pan"]
    runs = data["runs"]
    out = [Figure("Moving camera", "pan of the re-framed real clip, per-frame error (max)", f"<= {T_PAN_ERROR_DEG}°",
                  f"{pan['max_error_deg']:.2f}° (of {pan['crop_total_deg']:.1f}°)", pan["max_error_deg"] <= T_PAN_ERROR_DEG, src)]
    for name, row in runs.items():
        out.append(Figure("Moving camera", f"world path: {name}", "(informational)",
                          f"{row['path_m']:.2f} m, straightness {row['straightness']:.2f}", None, src))
    return out


def one_floor_figures(data: dict | None) -> list[Figure]:
    src = "one_floor"
    if not data:
        return [_missing("Everyone in the shot", "people on one floor", "see issue 25", src)]
    summary = data["summary"]
    on, total = summary["on_floor"], summary["people"]
    up = summary["up_error_deg"]
    return [Figure("Everyone in the shot", "Pose2Sim multi-person views: people on the floor (within 0.1 m)",
                   f"{total}/{total}", f"{on['shared']}/{total} (subject's world alone: {on['subject_only']}/{total})",
                   on["shared"] == total, src),
            Figure("Everyone in the shot", "the world's up against the calibration (mean of 4 views)", "(informational)",
                   f"{up['shared']:.1f}° (subject's world alone: {up['subject_only']:.1f}°)", None, src)]


FIGURE_FUNCS: list[tuple[str, Callable[[Any], list[Figure]]]] = [
    ("accuracy", accuracy_figures),
    ("accuracy", generalisation_figures),
    ("ablation", ablation_figures),
    ("training_curve", training_curve_figures),
    ("real_video", real_video_figures),
    ("multiview", multiview_figures),
    ("frame_rate", frame_rate_figures),
    ("smoothing", smoothing_figures),
    ("contacts", contact_figures),
    ("runtime", runtime_figures),
    ("lifters", lifter_figures),
    ("rigging", rigging_figures),
    ("memory", memory_figures),
    ("ux", ux_figures),
    ("detect", detect_figures),
    ("focal", focal_figures),
    ("mediapipe", mediapipe_figures),
    ("pan", pan_figures),
    ("one_floor", one_floor_figures),
]


