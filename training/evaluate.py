"""Scoring lifter weights on held-out mocap seen through virtual cameras (``video-mocap eval``,
:mod:`video_mocap.cli.eval`).

The data is a folder of BVH files (read through a joint map, by default ``bandai``) or a 3D
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
filter (what the armature gets).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import VideoMocapError
from ..inference.lifter import DEFAULT_OVERLAP
from ..core.progress import ProgressFn, report
from ..core.filters import DEFAULT_METHOD as DEFAULT_SMOOTHING_METHOD, smooth
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
    centre_views: bool = True,
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
        centre_views: lift each window centred on the person, as the product does (``inference.lifter``'s
            "View centring", with the clip camera's focal length); False: the network on the image as it is.

    Returns:
        ``{"overall": {metric: mm}, "per_clip": [{name, labels, frames, metric: mm, bone_cv}],
        "worst": [...worst 10 % by MPJPE...], "num_clips", "num_frames", "bone_cv"}`` (bone-length
        CV as a fraction: per clip the median over bones, overall the median over clips).
    """
    from ..inference.lifter import focal_scale_of, lift_sequence

    errors = []
    predictions = {}
    for i, clip in enumerate(eval_clips):
        camera = clip.camera or {}
        focal_scale = (focal_scale_of(camera["width"], camera["focal_px"])
                       if centre_views and camera.get("focal_px") and camera.get("width") else None)
        pred = lift_sequence(lifter, clip.inputs, flip=flip, overlap=overlap, focal_scale=focal_scale)
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


__all__ = ["evaluate_model", "lifter_from_module", "load_eval_clips", "make_clips_for_eval", "format_report"]
