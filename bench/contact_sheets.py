"""Contact sheets: every real clip, the 2D skeleton and each keyed rig projected onto the video.

    .venv/bin/python -m bench.contact_sheets [--frames 4] [--clips sample,balance_cam01,...]
    .venv/bin/python -m bench.contact_sheets --video ANY.mp4 [--model posemoe] [--weights-dir DIR] [--out DIR]

``--video``: any clip (one no test or bench was tuned on: the look a new user gets), its sheet written
to ``--out`` (default ``out/bench/contact``), ``bench/results`` left as they are; ``--model`` and
``--weights-dir`` pick the lifter and its weights (default: the product's lifter, the shipped weights).

For each real clip in the repo (the sample clip, the four views of the Pose2Sim balancing clip and
any other ``bench/data/*/*.mp4``), the whole pipeline runs (shipped YOLO and lifter, the faster
backend, the pipeline cache under ``out/bench/cache``); the solved motion keys four rigs in bpy:
the add-on's own armature, the Rigify metarig, a generated Rigify rig (FK controls) and the
Mixamo-style test rig (``tests/data/mixamo_style_rig.fbx``). At a few frames, each rig's posed
bones (pose-bone world heads and tails: Rigify's deforming ``DEF-`` bones, the others' body bones)
are projected through the camera the solve used (``SolvedMotion.info["camera"]``) onto the frame,
beside the detector's 2D skeleton (grey). A retargeted rig stands at its own size, its root moved
by the leg-length ratio; for the picture its points are scaled back about its rest root to the
subject's size, so that it lies on the person (this changes nothing but the drawing's scale).

Writes ``bench/figures/contact_<clip>.jpg`` (rows: frames; columns: rigs) and
``bench/results/contact_sheets.md`` (what each sheet is, and per rig the worst head/neck order,
stretch and floor figures over the clip).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import common
from .common import FIGURES, OUT, REPO, RESULTS

log = logging.getLogger(__name__)

MIXAMO_FBX = REPO / "tests" / "data" / "mixamo_style_rig.fbx"
RIG_NAMES = ("new armature", "Rigify metarig", "generated Rigify", "Mixamo-style")
#: body bones drawn (metarig names; Rigify's are "DEF-" + these; the others draw every bone)
METARIG_BODY = tuple(
    ["spine", "spine.001", "spine.002", "spine.003", "spine.004", "spine.005", "spine.006"]
    + [f"{b}.{s}" for s in "LR" for b in ("thigh", "shin", "foot", "toe", "shoulder", "upper_arm", "forearm", "hand")]
)
CELL_HEIGHT = 300
BGR_2D = (170, 170, 170)
BGR_RIG = {"L": (255, 140, 40), "R": (40, 40, 235), "": (40, 190, 40)}
LINE = 2


@dataclass
class Clip:
    name: str
    video: Path


def real_clips() -> list[Clip]:
    """The sample clip and every video under ``bench/data`` (each view of a multi-view clip)."""
    clips = [Clip("sample", common.SAMPLE)]
    for video in sorted(common.DATA.glob("*/*.mp4")):
        if "multiperson" in video.parent.name:
            continue  # the same views with several people: the balance clip stands for them
        clips.append(Clip(f"{video.parent.name.replace('pose2sim_', '')}_{video.stem}", video))
    return clips


def solve_clip(clip: Clip, cache: Path, model: str | None = None, weights: Path | None = None):
    """The pipeline on ``clip`` (cached): (PipelineResult, backend). ``weights``: a folder of
    ``<model>.safetensors`` + card other than the shipped one (then PyTorch runs it: the ONNX exports are
    the shipped weights')."""
    from video_mocap.core.lifters import DEFAULT_LIFTER
    from video_mocap.inference import runtime
    from video_mocap.pipeline.stages import make_settings, run_pipeline

    model = model or DEFAULT_LIFTER
    shipped = weights is None or Path(weights).resolve() == common.WEIGHTS.resolve()
    backend = runtime.fastest_backend(model) if shipped else "torch"
    settings = make_settings(model=model, weights=None if shipped else weights,
                             backend="onnx" if backend == "onnx" else None)
    return run_pipeline(clip.video, settings, cache_dir=cache), backend


def _side(name: str) -> str:
    lowered = re.sub(r"\.\d+$", "", name.lower())  # Rigify's second segments: DEF-thigh.L.001
    if lowered.endswith((".l", "_l")) or "left" in lowered:
        return "L"
    if lowered.endswith((".r", "_r")) or "right" in lowered:
        return "R"
    return ""


def build_rig(kind: str, solved):
    """The rig ``kind`` keyed with ``solved`` in a fresh scene: (object, bones to draw)."""
    import bpy
    import addon_utils  # importable once bpy is

    from video_mocap.blender import armature, retarget

    bpy.ops.wm.read_factory_settings(use_empty=True)
    if kind == "new armature":
        obj = armature.create_armature(solved)
        return obj, [b.name for b in obj.data.bones]
    if kind == "Mixamo-style":
        bpy.ops.import_scene.fbx(filepath=str(MIXAMO_FBX))
        obj = next(o for o in bpy.data.objects if o.type == "ARMATURE")
        retarget.retarget(obj, solved, preset="mixamo")
        return obj, [b.name for b in obj.data.bones if not b.name.endswith("_End")]
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    if kind == "generated Rigify":
        bpy.ops.pose.rigify_generate()
        obj = bpy.context.view_layer.objects.active
        retarget.retarget(obj, solved, preset="rigify")
        # Rigify splits the limbs' deforming bones in two (DEF-thigh.L, DEF-thigh.L.001)
        return obj, [n for b in METARIG_BODY for n in (f"DEF-{b}", f"DEF-{b}.001") if n in obj.data.bones]
    obj = bpy.context.view_layer.objects.active
    retarget.retarget(obj, solved, preset="rigify_metarig")
    return obj, [b for b in METARIG_BODY if b in obj.data.bones]


def rig_segments(obj, bones: list[str], solved, keys: list[int]) -> tuple[dict[int, np.ndarray], dict]:
    """World (head, tail) of ``bones`` at each key in ``keys``, scaled back to the subject's size,
    and the rig's sanity figures over every key (head over neck, stretch, lowest point)."""
    import bpy

    scene = bpy.context.scene
    world = np.array(obj.matrix_world)
    leg_scale, root = _leg_scale(obj, solved)
    rest_root = (world @ np.append(np.array(obj.data.bones[root].head_local), 1.0))[:3]
    object_scale = float(np.linalg.norm(world[:3, 0]))
    rest_len = {b: obj.data.bones[b].length for b in bones}
    out: dict[int, np.ndarray] = {}
    stretch, lowest = 1.0, np.inf
    rest_low = min((world @ np.append(np.array(getattr(obj.data.bones[b], end)), 1.0))[2]
                   for b in bones for end in ("head_local", "tail_local"))
    for k in range(solved.num_frames):
        scene.frame_set(int(round(solved.frames[k])))
        segs = []
        for b in bones:
            pb = obj.pose.bones[b]
            head = (world @ np.append(np.array(pb.head), 1.0))[:3]
            tail = (world @ np.append(np.array(pb.tail), 1.0))[:3]
            if rest_len[b] > 1e-4:
                stretch = max(stretch, float(np.linalg.norm(tail - head)) / (rest_len[b] * object_scale))
            lowest = min(lowest, head[2], tail[2])
            segs.append((head, tail))
        if k in keys:
            pts = np.array(segs)  # (B, 2, 3)
            out[k] = solved.rest_heads[0] + (pts - rest_root) / leg_scale if root != "pelvis" else pts
    return out, {"max_stretch": stretch, "lowest_below_rest_m": float(rest_low - lowest)}


def _leg_scale(obj, solved) -> tuple[float, str]:
    """The retarget's size ratio (rig legs / solved legs) and the rig's root bone (the one keyed
    with the pelvis); (1, "pelvis") for the add-on's own armature."""
    from video_mocap.blender.retarget import target_skeleton
    from video_mocap.rigging.retarget import load_preset, resolve_mapping
    from video_mocap.rigging.solve import BONE_INDEX

    names = [b.name for b in obj.data.bones]
    if names[0] == "pelvis":
        return 1.0, "pelvis"
    preset = "mixamo" if "mixamorig:Hips" in names else ("rigify" if "torso" in names else "rigify_metarig")
    target = target_skeleton(obj)
    mapping = resolve_mapping(load_preset(preset), target.bone_names, target.parents)
    idx = {n: i for i, n in enumerate(target.bone_names)}
    legs = ("thigh.L", "shin.L", "thigh.R", "shin.R")
    target_leg = sum(np.linalg.norm(target.rest_tails[idx[mapping[b]]] - target.rest_heads[idx[mapping[b]]])
                     for b in legs) * float(np.linalg.norm(np.array(obj.matrix_world)[:3, 0]))
    src_leg = sum(np.linalg.norm(solved.rest_tails[BONE_INDEX[b]] - solved.rest_heads[BONE_INDEX[b]]) for b in legs)
    return float(target_leg / src_leg), mapping["pelvis"]


def project_world(points: np.ndarray, camera: dict, key: int, width: int, height: int) -> np.ndarray:
    """(..., 3) world points -> (..., 2) pixels through the solve's camera at ``key``."""
    from video_mocap.core import camera as cam

    rotation = np.asarray(camera["rotations"][key])
    local = (np.asarray(points) - camera["position"]) @ rotation  # R^T (p - c), row vectors
    focal = camera.get("focal_px") or cam.default_focal(width, height)
    return cam.project(local, float(focal), width, height)


def draw_cell(frame: np.ndarray, track_points: np.ndarray, segments_px: np.ndarray, names: list[str],
              box: tuple[int, int, int, int], label: str) -> np.ndarray:
    import cv2

    from video_mocap.core.skeleton import BONES

    canvas = frame.copy()
    x0, y0, x1, y1 = box
    line = max(LINE, int(round(LINE * (y1 - y0) / CELL_HEIGHT)))  # the same width on the sheet for any video size
    for parent, child in BONES:
        cv2.line(canvas, tuple(int(v) for v in track_points[parent]), tuple(int(v) for v in track_points[child]),
                 BGR_2D, 2 * line, cv2.LINE_AA)
    for (a, b), name in zip(segments_px, names):
        cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), BGR_RIG[_side(name)], line, cv2.LINE_AA)
        cv2.circle(canvas, tuple(int(v) for v in a), line, (0, 0, 0), -1, cv2.LINE_AA)
    crop = canvas[y0:y1, x0:x1]
    scale = CELL_HEIGHT / crop.shape[0]
    crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), CELL_HEIGHT))
    cv2.rectangle(crop, (0, 0), (crop.shape[1], 18), (255, 255, 255), -1)
    cv2.putText(crop, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return crop


def crop_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    size = max(hi[1] - lo[1], 1.0) * 1.4
    cx, cy = (lo + hi) / 2
    half_w = size * 0.42
    x0, x1 = int(max(cx - half_w, 0)), int(min(cx + half_w, width))
    y0, y1 = int(max(cy - size / 2, 0)), int(min(cy + size / 2, height))
    return x0, y0, x1, y1


def sheet(clip: Clip, result, num_frames: int, folder: Path = FIGURES) -> tuple[Path, dict]:
    import cv2

    from video_mocap.inference.video import iter_frames

    solved, track = result.solved, result.track
    camera = solved.info["camera"]
    keys = list(np.linspace(0, solved.num_frames - 1, num_frames + 2).round().astype(int)[1:-1])
    # key k of the solve is track frame k (a constant-rate clip; the sheet picks frames the track holds)
    video_frames = [int(track.frame_indices[k]) for k in keys]
    frames = {i: f.copy() for i, f in iter_frames(clip.video, 0, max(video_frames) + 1) if i in video_frames}
    figures = {}
    rows = [[] for _ in keys]
    for kind in RIG_NAMES:
        obj, bones = build_rig(kind, solved)
        segs, figures[kind] = rig_segments(obj, bones, solved, keys)
        for r, (k, vf) in enumerate(zip(keys, video_frames)):
            px = project_world(segs[k], camera, k, track.width, track.height)
            box = crop_box(np.concatenate([track.keypoints[k], px.reshape(-1, 2)]), track.width, track.height)
            rows[r].append(draw_cell(frames[vf], track.keypoints[k], px, bones, box, f"{kind} - frame {vf}"))
    height = CELL_HEIGHT
    lines = [np.concatenate([cv2.copyMakeBorder(c, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
                             for c in row], axis=1) for row in rows]
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    image = np.concatenate(lines, axis=0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"contact_{clip.name}.jpg"  # video frames: JPEG, a tenth of the PNG
    common.write_image(path, image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    log.info("%s: %s (%d x %d, cells %d px high)", clip.name, path, image.shape[1], image.shape[0], height)
    return path, figures


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.contact_sheets", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4, help="frames per clip (rows)")
    parser.add_argument("--clips", default=None, help="comma-separated clip names (default: all)")
    parser.add_argument("--video", type=Path, help="any other clip: its sheet goes to --out, bench/results untouched")
    parser.add_argument("--out", type=Path, default=OUT / "contact", help="folder of --video's sheet")
    parser.add_argument("--model", default=None, help="lifter (default: the product's)")
    common.add_weights_dir_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cache = OUT / "cache"
    if args.video is not None:
        clip = Clip(args.video.stem, args.video)
        result, backend = solve_clip(clip, cache, args.model, args.weights_dir)
        path, _ = sheet(clip, result, args.frames, args.out)
        print(f"{path} ({backend}, {result.solved.num_frames} frames)")
        return 0
    clips = real_clips()
    if args.clips:
        wanted = set(args.clips.split(","))
        clips = [c for c in clips if c.name in wanted]
    report = ["# Contact sheets", "",
              f"Command: `{common.PYTHON} -m bench.contact_sheets{' ' + ' '.join(argv) if argv else ''}`", ""]
    report += ["| clip | backend | frames | rig | max bone stretch | lowest point below its rest (m) |",
               "| --- | --- | --- | --- | --- | --- |"]
    for clip in clips:
        result, backend = solve_clip(clip, cache, args.model, args.weights_dir)
        path, figures = sheet(clip, result, args.frames)
        for kind, fig in figures.items():
            report.append(f"| [{clip.name}](../figures/{path.name}) | {backend} | {result.solved.num_frames} | {kind} | "
                          f"{fig['max_stretch']:.3f} | {fig['lowest_below_rest_m']:+.3f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "contact_sheets.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    print("\n".join(report))
    return 0


#: pictures, not figures against targets (and minutes of Rigify generation): run on its own
BENCH = common.Bench("contact_sheets", order=125, in_run_all=False)

if __name__ == "__main__":
    sys.exit(run())
