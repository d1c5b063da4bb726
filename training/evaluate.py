"""``video-mocap eval``: score lifter weights on held-out mocap seen through virtual cameras.

    video-mocap eval --weights W --data D [--jointmap J] [--json] [--save-predictions P]
                     [--noise detector|none] [--pitch DEG] [--seed S] [--select TEXT] [--no-flip]
                     [--smoothing S] [--smoothing-method savgol|one_euro]

``D`` is a folder of BVH files (read through joint map ``J``, default ``bandai``) or a 3D
sequence ``.npz`` (one (T, 17, 3) array per clip, H36M-17, metres, Y up, + ``fps``; e.g. the
shared HDM05 / DeepMimic files). Each clip is seen from one seeded virtual camera (``--pitch``
fixes its pitch: -30 = high camera, 0 = eye level, +10 = low); 2D inputs are exact
projections (``--noise none``; joints outside the image clamped to its border with low
scores, as a detector reports them) or carry the detector-like noise the lifters train with
(``--noise detector``, the default). The lifter runs windowed over the whole clip (with flip
test-time augmentation unless ``--no-flip``), exactly as in the product.

Reports MPJPE, P-MPJPE (Procrustes), N-MPJPE (scale) and velocity error in millimetres,
overall (every frame counts once) and per clip, with the worst 10 % of clips and their
labels, and how much the lifted bones stretch (bone-length CV, median over bones, per clip
and the median over clips). ``--smoothing`` scores the lifted joints after the solve's temporal
filter (what the armature gets). ``--json`` prints the whole report as JSON. ``--save-predictions P`` writes an
``.npz`` with ``pred:<clip>``, ``target:<clip>`` (root-relative camera-frame metres, OpenCV
axes) and ``inputs:<clip>`` (normalised 2D + score) for every clip.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import VideoMocapError
from ..inference.lifter import DEFAULT_OVERLAP
from ..core.progress import ProgressFn, report
from ..core.atomic import save_npz_atomic
from ..core.filters import DEFAULT_METHOD as DEFAULT_SMOOTHING_METHOD, METHODS as SMOOTHING_METHODS, smooth
from .metrics import clip_errors, summarize

log = logging.getLogger(__name__)

#: fraction of clips listed as the worst
WORST_FRACTION = 0.1
#: label keys shown beside a clip name
LABEL_KEYS: tuple[str, ...] = ("content", "style", "actor", "part")
NOISE_CHOICES = ("detector", "none")


# ---------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------
def evaluate_model(
    lifter: Any,
    eval_clips: list,
    *,
    flip: bool = True,
    keep_predictions: bool = False,
    progress: ProgressFn | None = None,
    smoothing: float = 0.0,
    smoothing_method: str = DEFAULT_SMOOTHING_METHOD,
    overlap: float = DEFAULT_OVERLAP,
) -> dict:
    """Lift every evaluation clip with ``lifter`` and score it.

    Args:
        lifter: an ``inference.lifter.Lifter`` (or anything ``lift_sequence`` accepts).
        eval_clips: ``sampler.EvalClip`` list (name, labels, inputs (T,17,3), target3d (T,17,3)).
        flip: flip test-time augmentation.
        keep_predictions: also return ``"predictions": {name: (T,17,3)}``.
        smoothing, smoothing_method: smooth each predicted clip with the solve's temporal filter
            (``rigging.filters.smooth``, strength 0 = off) before scoring. The solve filters the
            world joints (root motion included); here the root-relative joints are filtered, so
            the one-euro filter, which smooths slow joints more, smooths a little more here.
        overlap: the windows' overlap (``lift_sequence``; the product's default unless told).

    Returns:
        ``{"overall": {metric: mm}, "per_clip": [{name, labels, frames, metric: mm, bone_cv}],
        "worst": [...worst 10 % by MPJPE...], "num_clips", "num_frames", "bone_cv"}`` (bone-length
        CV as a fraction: per clip the median over bones, overall the median over clips).
    """
    from ..inference.lifter import lift_sequence

    errors = []
    predictions = {}
    for i, clip in enumerate(eval_clips):
        pred = lift_sequence(lifter, clip.inputs, flip=flip, overlap=overlap)
        if smoothing > 0.0:
            pred = smooth(pred, float(clip.fps), smoothing, smoothing_method)
        errors.append(clip_errors(clip.name, pred, clip.target3d, clip.labels))
        if keep_predictions:
            predictions[clip.name] = np.asarray(pred, dtype=np.float32)
        report(progress, "eval", i + 1, len(eval_clips))
    summary = summarize(errors)
    out = summary.to_dict()
    out["worst"] = summary.worst(WORST_FRACTION)
    if keep_predictions:
        out["predictions"] = predictions
    return out


def lifter_from_module(module: Any, name: str, model_config: dict, device: str = "cpu") -> Any:
    """A :class:`~video_mocap.inference.lifter.Lifter` around an in-memory torch model (training validation)."""
    from ..inference.lifter import Lifter, TorchBackend
    from ..inference.weights import ModelCard

    card = ModelCard(model=name, config=dict(model_config), num_frames=int(model_config["num_frames"]))
    return Lifter(name=name, card=card, backend=TorchBackend(module, device=device))


def load_eval_clips(data: str | Path, jointmap: str = "bandai", select: str = "", fps: float = 30.0,
                    hip_scale: float | None = None) -> list:
    """Mocap clips from a BVH folder (through ``jointmap``) or a 3D sequence ``.npz``.

    ``hip_scale``: for ``.npz`` files, the factor that widens mocap joint-centre hips to
    detector hips (default: ``skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT``, as in training; 1 keeps them).
    """
    from ..core import skeleton
    from . import sources

    path = Path(data)
    if path.is_dir():
        clips = sources.load_bvh_folder(path, jointmap, fps=fps, source=path.name,
                                        cache_dir=sources.DataConfig().cache_path, labels=_bandai_labels(path))
    elif path.suffix == ".npz":
        scale = skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT if hip_scale is None else hip_scale
        clips = sources.load_sequence_npz(path, path.stem, fps, hip_width_scale=scale, labeler=_npz_labeler)
    elif path.exists():
        raise VideoMocapError(f"--data {path}: expected a folder of .bvh files or a 3D sequence .npz.")
    else:
        raise VideoMocapError(f"--data {path} not found.")
    if select:
        clips = [c for c in clips if select in c.name]
        if not clips:
            raise VideoMocapError(f"no clip name in {path} contains '{select}'; check --select.")
    return clips


def _bandai_labels(folder: Path) -> dict[str, dict]:
    """Content/style labels when the folder sits in the Bandai layout (``labels-part*.csv`` beside it)."""
    from . import sources

    labels: dict[str, dict] = {}
    for csv_path in sorted(folder.parent.glob("labels-part*.csv")):
        labels.update(sources.read_bandai_labels(csv_path))
    return labels


def _npz_labeler(key: str) -> dict:
    from . import sources

    if key.startswith("HDM_"):
        return sources.hdm05_labels(key)
    if key.startswith("humanoid3d_"):
        return sources.deepmimic_labels(key)
    return {}


def exact_noise_config():
    """"Exact 2D" as a perfect detector would give it: true projections, confident scores.

    The noise model with every corruption off (no jitter, outliers, swaps or dropouts;
    scores of visible joints ~1). Unlike raw projections, joints outside the image are
    clamped to its border with low scores and filled like the 2D stage does, so the lifter
    never sees coordinates far outside the image (or from behind the camera), which no
    detector reports.
    """
    from .sampler import NoiseConfig

    return NoiseConfig(enabled=True, jitter=(0.0, 0.0), outlier_prob=0.0, swap_prob=0.0, drop_prob=0.0,
                       track_dropout_prob=0.0, score_clean=(1.0, 1.0))


def make_clips_for_eval(clips: list, num_frames: int, *, noise: str = "detector", pitch: float | None = None,
                        seed: int = 0, camera=None, noise_config=None) -> list:
    """Seeded evaluation windows (whole clips) with the training camera/noise models."""
    from .sampler import CameraConfig, NoiseConfig, make_eval_windows

    if noise not in NOISE_CHOICES:
        raise VideoMocapError(f"--noise must be one of {', '.join(NOISE_CHOICES)}, got '{noise}'.")
    camera = camera if camera is not None else CameraConfig()
    if pitch is not None:
        camera = dataclasses.replace(camera, fixed_pitch_deg=float(pitch))
    if noise == "detector":
        noise_cfg = noise_config if noise_config is not None else NoiseConfig()
    else:
        noise_cfg = exact_noise_config()
    return make_eval_windows(clips, num_frames, camera, noise_cfg, seed=seed)


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------
def _labels_text(labels: dict) -> str:
    shown = [f"{k}={labels[k]}" for k in LABEL_KEYS if k in labels]
    return " ".join(shown)


def format_report(result: dict, title: str = "") -> str:
    """Human-readable text of an :func:`evaluate_model` result."""
    o = result["overall"]
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"{result['num_clips']} clips, {result['num_frames']} frames: MPJPE {o['mpjpe']:.1f} mm, "
        f"P-MPJPE {o['p_mpjpe']:.1f} mm, N-MPJPE {o['n_mpjpe']:.1f} mm, velocity {o['velocity']:.2f} mm/frame; "
        f"lifted bone-length CV {100 * result['bone_cv']:.1f} % (median over bones, then clips)"
    )
    lines.append("")
    lines.append(f"{'clip':<48} {'frames':>6} {'MPJPE':>7} {'P-MPJPE':>8} {'N-MPJPE':>8} {'vel':>6} {'bone CV':>7}  labels")
    for row in result["per_clip"]:
        lines.append(
            f"{row['name'][:48]:<48} {row['frames']:>6} {row['mpjpe']:>7.1f} {row['p_mpjpe']:>8.1f} "
            f"{row['n_mpjpe']:>8.1f} {row['velocity']:>6.2f} {100 * row['bone_cv']:>6.1f}%  {_labels_text(row['labels'])}"
        )
    lines.append("")
    lines.append(f"worst {int(WORST_FRACTION * 100)} % of clips by MPJPE:")
    for row in result["worst"]:
        lines.append(f"  {row['name']}: {row['mpjpe']:.1f} mm  {_labels_text(row['labels'])}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video-mocap eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="lifter weights NAME.safetensors (NAME.json beside it)")
    parser.add_argument("--data", required=True, help="a folder of BVH files or a 3D sequence .npz")
    parser.add_argument("--jointmap", default="bandai", help="joint map for BVH folders (built-in name or JSON file)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--save-predictions", metavar="P", help="write predictions, targets and inputs to P (.npz)")
    parser.add_argument("--noise", choices=NOISE_CHOICES, default="detector", help="2D inputs: detector-like noise or exact")
    parser.add_argument("--pitch", type=float, help="fix the virtual camera pitch in degrees (-30 high, 0 eye level, 10 low)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cameras and noise")
    parser.add_argument("--select", default="", help="only clips whose name contains this text")
    parser.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation")
    parser.add_argument("--device", default="auto", help="torch device (auto, cpu, cuda, mps)")
    parser.add_argument("--hip-scale", type=float, help=".npz only: hip widening factor (default as in training)")
    parser.add_argument("--smoothing", type=float, default=0.0,
                        help="smooth the lifted joints as the solve does before scoring (0 = off .. 1 = strong; "
                             "the solve's default is 0.5)")
    parser.add_argument("--smoothing-method", choices=SMOOTHING_METHODS, default=DEFAULT_SMOOTHING_METHOD,
                        help="the solve's filter to smooth with")
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..inference.lifter import load_lifter
    from ..inference.weights import load_card

    args = build_parser().parse_args(argv)
    weights = Path(args.weights)
    card = load_card(weights) if weights.is_file() else None
    if card is None:
        raise VideoMocapError(f"--weights {weights} not found.")
    if not 0.0 <= args.smoothing <= 1.0:
        raise VideoMocapError(f"--smoothing must be between 0 (off) and 1 (strong), got {args.smoothing}.")
    lifter = load_lifter(card.model, weights=weights, device=args.device)
    t0 = time.perf_counter()
    clips = load_eval_clips(args.data, args.jointmap, args.select, hip_scale=args.hip_scale)
    eval_clips = make_clips_for_eval(clips, lifter.num_frames, noise=args.noise, pitch=args.pitch, seed=args.seed)
    bar = None
    if not args.json:
        from tqdm import tqdm

        bar = tqdm(total=len(eval_clips), desc=f"eval {card.model}", unit="clip", file=sys.stderr)

    def progress(_stage: str, done: int, _total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    result = evaluate_model(lifter, eval_clips, flip=not args.no_flip,
                            keep_predictions=bool(args.save_predictions), progress=progress,
                            smoothing=args.smoothing, smoothing_method=args.smoothing_method)
    if bar is not None:
        bar.close()
    predictions = result.pop("predictions", None)
    result["settings"] = {
        "weights": str(weights), "model": card.model, "data": str(args.data), "noise": args.noise,
        "pitch_deg": args.pitch, "seed": args.seed, "flip": not args.no_flip, "select": args.select,
        "smoothing": args.smoothing, "smoothing_method": args.smoothing_method,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.save_predictions:
        arrays = {}
        for clip in eval_clips:
            arrays[f"pred:{clip.name}"] = predictions[clip.name]
            arrays[f"target:{clip.name}"] = np.asarray(clip.target3d, dtype=np.float32)
            arrays[f"inputs:{clip.name}"] = np.asarray(clip.inputs, dtype=np.float32)
        save_npz_atomic(args.save_predictions, **arrays)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_report(result, title=f"{card.model} ({weights.name}) on {args.data}, noise {args.noise}"))
    return 0


__all__ = ["evaluate_model", "lifter_from_module", "load_eval_clips", "make_clips_for_eval", "format_report", "main"]
