"""Training motion: clips of H36M-17 joints (metres, Y up) from every mocap source.

Sources (``../shared/data/mocap/`` beside the repo by default):

- **bandai**: Bandai Namco Research Motion Dataset BVH files (22-joint rig, cm, 30 fps)
  through the ``bandai`` joint map. Part 2 ships as ``part2.tar.xz`` and is unpacked once
  by :func:`prepare_bandai_part2`. Parsing + FK of a whole folder is cached as one ``.npz``
  (:func:`load_bvh_folder`). Labels (content, style, part) from the CSV files.
- **hdm05**, **deepmimic**: 3D sequence files (:func:`load_sequence_npz`); their hips are
  mocap joint centres and get the detector widening like every rig, and their nose (on the
  head's axis) is moved where a detector sees it (:func:`detector_nose`).

With ``data.detector_bones`` (the default) every source's bones are then scaled onto the
detector's measured proportions (``training/jointmaps/detector_skeleton.json``, issue 23).

3D sequence file format (``.npz``): one float array (T, 17, 3) per clip key, H36M-17 order,
metres, Y up, plus a scalar ``fps``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import VideoMocapError
from ..core import skeleton
from ..core.progress import ProgressFn
from ..core.atomic import save_npz_atomic, write_text_atomic
from .bvh import read_bvh
from .jointmap import (
    JointMap,
    apply_bone_scales,
    apply_detector_semantics,
    bvh_to_h36m,
    load_jointmap,
    resample,
    source_bone_scales,
)

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MOCAP_DIR = "../shared/data/mocap"
DEFAULT_CACHE_DIR = ".cache"
DEFAULT_FPS = 30.0
#: bump when the FK / joint-map code changes in a way that changes cached results
FK_CACHE_VERSION = 1
BANDAI_PART2_ARCHIVE = "part2.tar.xz"
BANDAI_PART2_FILES = 2902
SOURCE_NAMES: tuple[str, ...] = ("bandai", "hdm05", "deepmimic")
#: where a detector's nose sits against the ear-level head point (as in the Bandai joint map)
NOSE_FORWARD_OF_HEAD_M = 0.08
NOSE_BELOW_HEAD_M = 0.03
J_NOSE = skeleton.JOINT_INDEX["neck_nose"]
J_HEAD = skeleton.JOINT_INDEX["head"]
#: minimum frames for a clip to be kept (shorter clips cannot fill a window even with padding)
MIN_CLIP_FRAMES = 2


@dataclass
class Clip:
    """One motion clip.

    joints: (T, 17, 3) float32 metres, Y up, world frame, H36M-17 with detector semantics.
    """

    name: str
    joints: np.ndarray
    fps: float
    source: str
    labels: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


@dataclass
class DataConfig:
    """Which mocap sources to train and validate on, where they are, and how to mix them.

    Paths are strings; relative ones are relative to the repository root.

    Splits: Bandai part 2 = train, part 1 = validation; HDM05: the actors in
    ``hdm05_val_actors`` (default "bk") are validation, the others train; DeepMimic is all
    train (``deepmimic_val=True`` puts it in validation instead).

    ``source_weights``: probability that a training window comes from each source, so the
    small sources are not drowned by Bandai's 3.6 hours (Bandai ~96 % of the frames):
    bandai 0.6 (everyday motion: walks, runs, gestures), hdm05 0.3 (4 bodies; squats,
    kicks, crouching, lying down), deepmimic 0.1 (20 acrobatic clips, 44 s: kept low so
    they are not memorised). Within a source, clips are drawn in proportion to their length.
    """

    sources: tuple[str, ...] = SOURCE_NAMES
    mocap_dir: str = DEFAULT_MOCAP_DIR
    bandai_dir: str = ""  # "" -> <mocap_dir>/bandai
    hdm05_file: str = ""  # "" -> <mocap_dir>/hdm05/hdm05_h36m.npz
    deepmimic_file: str = ""  # "" -> <mocap_dir>/deepmimic/deepmimic_h36m.npz
    cache_dir: str = DEFAULT_CACHE_DIR
    fps: float = DEFAULT_FPS
    bandai_train_parts: tuple[str, ...] = ("part2",)
    bandai_val_parts: tuple[str, ...] = ("part1",)
    hdm05_val_actors: tuple[str, ...] = ("bk",)
    deepmimic_val: bool = False
    source_weights: dict[str, float] = field(
        default_factory=lambda: {"bandai": 0.6, "hdm05": 0.3, "deepmimic": 0.1}
    )
    #: extra user data: {source name: path}; a folder of BVH files (with ``extra_jointmap``)
    #: or a 3D sequence ``.npz``. All go to training.
    extra_sources: dict[str, str] = field(default_factory=dict)
    extra_jointmap: str = "bandai"
    #: map bandai, hdm05 and deepmimic onto the detector's measured proportions (the bone scales of
    #: ``training/jointmaps/detector_skeleton.json``); False = only hips and nose, as before issue 23
    detector_bones: bool = True
    #: "" = read the sources above; else a file of these clips made by ``video-mocap train CONFIG
    #: --prepare-data FILE`` (:mod:`.prepared`: for a machine without the mocap, e.g. a lent GPU)
    prepared: str = ""

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (REPO_ROOT / p)

    @property
    def bandai_path(self) -> Path:
        return self.resolve(self.bandai_dir) if self.bandai_dir else self.resolve(self.mocap_dir) / "bandai"

    @property
    def hdm05_path(self) -> Path:
        if self.hdm05_file:
            return self.resolve(self.hdm05_file)
        return self.resolve(self.mocap_dir) / "hdm05" / "hdm05_h36m.npz"

    @property
    def deepmimic_path(self) -> Path:
        if self.deepmimic_file:
            return self.resolve(self.deepmimic_file)
        return self.resolve(self.mocap_dir) / "deepmimic" / "deepmimic_h36m.npz"

    @property
    def cache_path(self) -> Path:
        return self.resolve(self.cache_dir)


# ---------------------------------------------------------------------------------------
# 3D sequence files
# ---------------------------------------------------------------------------------------
def load_sequence_npz(
    path: str | os.PathLike,
    source: str | None = None,
    fps: float | None = None,
    hip_width_scale: float = 1.0,
    labeler: Callable[[str], dict] | None = None,
) -> list[Clip]:
    """Read a 3D sequence file: one (T, 17, 3) float array per key + scalar ``fps``.

    Args:
        path: the ``.npz``.
        source: source name stored in each clip (default: the file stem).
        fps: resample to this rate (linear in positions); None keeps the file's rate.
        hip_width_scale: widen the hips (1.0 = they already are detector-like; mocap joint
            centres want ``skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT``).
        labeler: clip key -> labels dict.

    Raises:
        VideoMocapError: missing/unreadable file, no ``fps``, a clip of the wrong shape,
            non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(f"3D sequence file not found: {path}.")
    try:
        data = np.load(path, allow_pickle=False)
        keys = list(data.keys())
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise VideoMocapError(f"3D sequence file {path} is not a readable .npz ({exc}).") from None
    if "fps" not in keys:
        raise VideoMocapError(f"3D sequence file {path}: no scalar 'fps' key; add fps=<frames per second>.")
    try:
        file_fps = float(np.asarray(data["fps"]).reshape(()))
    except (TypeError, ValueError):
        raise VideoMocapError(
            f"3D sequence file {path}: 'fps' must be one number, got shape {data['fps'].shape}."
        ) from None
    if not (np.isfinite(file_fps) and file_fps > 0):
        raise VideoMocapError(f"3D sequence file {path}: 'fps' must be positive, got {file_fps}.")
    clip_keys = [k for k in keys if k != "fps"]
    if not clip_keys:
        raise VideoMocapError(f"3D sequence file {path}: holds no clips (only 'fps').")
    clips = []
    for key in clip_keys:
        joints = data[key]
        good_shape = joints.ndim == 3 and joints.shape[1:] == (skeleton.NUM_JOINTS, 3)
        if not good_shape or not np.issubdtype(joints.dtype, np.floating):
            raise VideoMocapError(
                f"3D sequence file {path}: clip {key!r} must be a float array (T, 17, 3) of H36M-17 joints in metres, "
                f"got {joints.dtype} {joints.shape}."
            )
        if not np.isfinite(joints).all():
            raise VideoMocapError(f"3D sequence file {path}: clip {key!r} holds NaN or infinite values.")
        if joints.shape[0] < MIN_CLIP_FRAMES:
            logger.warning("%s: clip %s has %d frame(s); skipped", path, key, joints.shape[0])
            continue
        joints = joints.astype(np.float32)
        if hip_width_scale != 1.0:
            joints = apply_detector_semantics(joints, hip_width_scale)
        if fps is not None:
            joints = resample(joints, file_fps, fps)
        clips.append(
            Clip(
                name=key,
                joints=np.ascontiguousarray(joints, dtype=np.float32),
                fps=float(fps if fps is not None else file_fps),
                source=source or path.stem,
                labels=labeler(key) if labeler else {},
            )
        )
    return clips


def save_sequence_npz(path: str | os.PathLike, clips: list[Clip]) -> Path:
    """Write clips (same fps) as a 3D sequence file (atomic)."""
    if not clips:
        raise VideoMocapError("no clips to save.")
    rates = {round(c.fps, 3) for c in clips}
    if len(rates) != 1:
        raise VideoMocapError(f"clips have different frame rates {sorted(rates)}; resample them first.")
    arrays = {c.name: np.asarray(c.joints, dtype=np.float32) for c in clips}
    return save_npz_atomic(path, fps=np.float32(clips[0].fps), **arrays)


def detector_nose(
    joints: np.ndarray, forward_m: float = NOSE_FORWARD_OF_HEAD_M, below_m: float = NOSE_BELOW_HEAD_M
) -> np.ndarray:
    """Put the nose where a detector sees it: in front of the head, a little below ear level.

    For sequence files whose nose lies on the head's axis (HDM05: the head joint; DeepMimic:
    up the neck), below the ear-level head point. The head's up axis is nose -> head; its
    forward axis is perpendicular to it and to the shoulder line (the head is assumed to face
    where the shoulders face). Same placement as the Bandai joint map (8 cm forward, 3 cm below).

    Args:
        joints: (..., 17, 3) Y up. Returns a float32 copy.
    """
    out = np.array(joints, dtype=np.float32, copy=True)
    nose, head = J_NOSE, J_HEAD
    up = out[..., head, :] - out[..., nose, :]
    up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-6)
    lateral = out[..., skeleton.JOINT_INDEX["left_shoulder"], :] - out[..., skeleton.JOINT_INDEX["right_shoulder"], :]
    forward = np.cross(lateral, up)
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-6)
    out[..., nose, :] = out[..., head, :] + forward_m * forward - below_m * up
    return out


def hdm05_labels(key: str) -> dict:
    """``HDM_<actor>_<motionClass>_<take>_120`` -> {actor, content, take}."""
    parts = key.split("_")
    if len(parts) < 4 or parts[0] != "HDM":
        return {}
    return {"actor": parts[1], "content": parts[2], "take": parts[3]}


def deepmimic_labels(key: str) -> dict:
    return {"content": key.removeprefix("humanoid3d_"), "actor": "humanoid3d"}


def _with_detector_nose(clips: list[Clip]) -> list[Clip]:
    for clip in clips:
        clip.joints = detector_nose(clip.joints)
    return clips


def _with_bone_scales(clips: list[Clip], bone_scales: dict[str, float] | None) -> list[Clip]:
    """Apply a source's bone scales onto the detector's proportions (None or {} = leave the bones)."""
    if bone_scales:
        for clip in clips:
            clip.joints = apply_bone_scales(clip.joints, bone_scales)
    return clips


def load_hdm05(
    path: str | os.PathLike, fps: float = DEFAULT_FPS, bone_scales: dict[str, float] | None = None
) -> list[Clip]:
    """HDM05 clips (labels: actor, content = motion class, take), with detector hips and nose, and
    ``bone_scales`` (:func:`jointmap.source_bone_scales`) when given."""
    return _with_bone_scales(_with_detector_nose(
        load_sequence_npz(
            path, "hdm05", fps, hip_width_scale=skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT, labeler=hdm05_labels
        )
    ), bone_scales)


def load_deepmimic(
    path: str | os.PathLike, fps: float = DEFAULT_FPS, bone_scales: dict[str, float] | None = None
) -> list[Clip]:
    """DeepMimic clips (label: content), with detector hips and nose, and ``bone_scales`` when given."""
    return _with_bone_scales(_with_detector_nose(
        load_sequence_npz(
            path, "deepmimic", fps, hip_width_scale=skeleton.HIP_WIDTH_DETECTOR_OVER_JOINT, labeler=deepmimic_labels
        )
    ), bone_scales)


# ---------------------------------------------------------------------------------------
# BVH folders (cached FK)
# ---------------------------------------------------------------------------------------
def _folder_key(files: list[Path], jointmap: JointMap, fps: float) -> str:
    digest = hashlib.sha1()
    digest.update(f"v{FK_CACHE_VERSION} fps={fps}".encode())
    digest.update(json.dumps(_jointmap_dict(jointmap), sort_keys=True).encode())
    for f in files:
        digest.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def _jointmap_dict(jointmap: JointMap) -> dict:
    return {
        "scale": jointmap.units_to_metres,
        "up": jointmap.up_axis,
        "hips": jointmap.hip_width_scale,
        "joints": {k: [v.weights, list(v.offset), v.offset_frame] for k, v in sorted(jointmap.joints.items())},
    }


def _tqdm_progress(total: int, desc: str):
    """A tqdm bar as (update, close), or no-ops when tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the dev venv
        return (lambda n=1: None), (lambda: None)
    bar = tqdm(total=total, desc=desc, unit="file", disable=None)
    return bar.update, bar.close


def load_bvh_folder(
    folder: str | os.PathLike,
    jointmap: JointMap | str = "bandai",
    fps: float = DEFAULT_FPS,
    source: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    labels: dict[str, dict] | None = None,
    progress: ProgressFn | None = None,
) -> list[Clip]:
    """Every ``*.bvh`` in ``folder`` -> clips of H36M-17 joints (metres, Y up, ``fps``).

    The FK of the whole folder is cached in ``cache_dir`` (one ``.npz`` keyed by the file
    names, sizes, the joint map and fps); later calls load it in a second. Progress goes
    to ``progress`` when given, else to a tqdm bar on stderr (only on a terminal).

    Args:
        labels: optional {file name: labels dict}.

    Raises:
        VideoMocapError: no folder / no BVH files / a malformed file (file + line).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoMocapError(f"BVH folder not found: {folder}.")
    files = sorted(folder.glob("*.bvh"))
    if not files:
        raise VideoMocapError(f"No .bvh files in {folder}.")
    if not isinstance(jointmap, JointMap):
        jointmap = load_jointmap(jointmap)
    source = source or folder.name
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"fk_{folder.name}_{jointmap.name}_{_folder_key(files, jointmap, fps)}.npz"
    names, lengths, joints = None, None, None
    if cache_file is not None and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as cached:
                names = [str(n) for n in cached["names"]]
                lengths = cached["lengths"].astype(np.int64)
                joints = cached["joints"]
            logger.info("loaded FK cache %s (%d clips)", cache_file, len(names))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            logger.warning("FK cache %s is unreadable; rebuilding it", cache_file)
            names = None
    if names is None:
        names, lengths, joints = _parse_folder(files, jointmap, fps, progress)
        if cache_file is not None:
            save_npz_atomic(cache_file, names=np.array(names), lengths=lengths, joints=joints, fps=np.float32(fps))
            logger.info("wrote FK cache %s", cache_file)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    clips = []
    for i, name in enumerate(names):
        clip_labels = dict((labels or {}).get(name, {}))
        clips.append(
            Clip(
                name=Path(name).stem,
                joints=joints[bounds[i] : bounds[i + 1]],
                fps=float(fps),
                source=source,
                labels=clip_labels,
            )
        )
    return clips


def _parse_folder(
    files: list[Path], jointmap: JointMap, fps: float, progress: ProgressFn | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    update, close = (None, None) if progress is not None else _tqdm_progress(len(files), "BVH -> H36M")
    names, lengths, arrays = [], [], []
    try:
        for i, path in enumerate(files):
            bvh = read_bvh(path)
            joints = resample(bvh_to_h36m(bvh, jointmap), bvh.fps, fps)
            if joints.shape[0] >= MIN_CLIP_FRAMES:
                names.append(path.name)
                lengths.append(joints.shape[0])
                arrays.append(joints.astype(np.float32))
            if progress is not None:
                progress("bvh", i + 1, len(files))
            else:
                update(1)
    finally:
        if close is not None:
            close()
    return names, np.array(lengths, dtype=np.int64), np.concatenate(arrays, axis=0)


# ---------------------------------------------------------------------------------------
# Bandai
# ---------------------------------------------------------------------------------------
def read_bandai_labels(csv_path: str | os.PathLike) -> dict[str, dict]:
    """``labels-part*.csv`` -> {file name: {content, content_id, style, style_id}}."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise VideoMocapError(f"Bandai labels file not found: {csv_path}.")
    out = {}
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                out[row["file"]] = {
                    "content": row["content"],
                    "content_id": int(row["content_id"]),
                    "style": row["style"],
                    "style_id": int(row["style_id"]),
                }
            except (KeyError, ValueError):
                raise VideoMocapError(
                    f"{csv_path}: expected columns file,content_id,content,style_id,style; bad row {row}."
                ) from None
    return out


def prepare_bandai_part2(cache_dir: str | os.PathLike, bandai_dir: str | os.PathLike | None = None) -> Path:
    """Unpack ``part2.tar.xz`` once into ``<cache_dir>/bandai_part2/part2``; return that folder.

    Unpacks into a temporary folder and renames it, so an interrupted unpack is never
    mistaken for a complete one; a job that finds another's unpack finished when its own is
    done keeps the other's (two training runs started together read the same folder).
    """
    bandai_dir = Path(bandai_dir) if bandai_dir is not None else DataConfig().bandai_path
    target_root = Path(cache_dir) / "bandai_part2"
    target = target_root / "part2"
    marker = target_root / "part2.unpacked"
    archive = bandai_dir / BANDAI_PART2_ARCHIVE
    if target.is_dir() and marker.is_file():
        return target
    if not archive.is_file():
        raise VideoMocapError(f"Bandai part 2 archive not found: {archive}. Set data.bandai_dir to the Bandai folder.")
    target_root.mkdir(parents=True, exist_ok=True)
    logger.info("unpacking %s into %s", archive, target_root)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target_root))
    try:
        with tarfile.open(archive, "r:xz") as tar:
            members = [
                m for m in tar.getmembers() if m.isfile() and m.name.startswith("part2/") and m.name.endswith(".bvh")
            ]
            if not members:
                raise VideoMocapError(f"{archive} holds no part2/*.bvh files; is it the Bandai part 2 archive?")
            tar.extractall(tmp, members=members, filter="data")
        if target.is_dir() and marker.is_file():  # another job (a second training run) unpacked it meanwhile
            return target
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp / "part2", target)
        count = len(members)
        if count != BANDAI_PART2_FILES:
            logger.warning("%s holds %d BVH files (the full part 2 has %d)", archive, count, BANDAI_PART2_FILES)
        write_text_atomic(marker, f"{archive}\n{archive.stat().st_size} bytes, {count} files\n")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise VideoMocapError(f"Cannot unpack {archive}: {exc}. Check the file (sha256 in its README).") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def bandai_part_folder(config: DataConfig, part: str) -> Path:
    """``part1`` -> the plain folder; ``part2`` -> unpacked into the cache; ``sample`` -> the test clips."""
    if part == "part2":
        plain = config.bandai_path / "part2"
        if plain.is_dir():
            return plain
        return prepare_bandai_part2(config.cache_path, config.bandai_path)
    folder = config.bandai_path / part
    if not folder.is_dir():
        raise VideoMocapError(f"Bandai folder {folder} not found (parts: part1, part2, sample).")
    return folder


def load_bandai(
    config: DataConfig, part: str, progress: ProgressFn | None = None, bone_scales: dict[str, float] | None = None
) -> list[Clip]:
    """One Bandai part as clips, labelled from its CSV (content, style, part); ``bone_scales`` applied
    after the (cached) joint map when given."""
    folder = bandai_part_folder(config, part)
    labels: dict[str, dict] = {}
    for csv_name in ("labels-part1.csv", "labels-part2.csv"):
        csv_path = config.bandai_path / csv_name
        if csv_path.is_file():
            labels.update(read_bandai_labels(csv_path))
    clips = load_bvh_folder(
        folder, "bandai", fps=config.fps, source="bandai", cache_dir=config.cache_path, labels=labels, progress=progress
    )
    for clip in clips:
        clip.labels["part"] = part
    return _with_bone_scales(clips, bone_scales)


def load_all_sources(config: DataConfig, progress: ProgressFn | None = None) -> dict[str, list[Clip]]:
    """Every configured source, split: ``{"train": [...], "val": [...]}``.

    Each clip's ``source`` names where it came from (for ``source_weights``).
    """
    unknown = [s for s in config.sources if s not in SOURCE_NAMES]
    if unknown:
        raise VideoMocapError(f"data.sources: unknown source(s) {unknown}; known: {', '.join(SOURCE_NAMES)}.")
    train: list[Clip] = []
    val: list[Clip] = []

    def scales(source: str) -> dict[str, float] | None:
        return source_bone_scales(source) if config.detector_bones else None

    if "bandai" in config.sources:
        for part in config.bandai_train_parts:
            train += load_bandai(config, part, progress, scales("bandai"))
        for part in config.bandai_val_parts:
            val += load_bandai(config, part, progress, scales("bandai"))
    if "hdm05" in config.sources:
        held_out = set(config.hdm05_val_actors)
        for clip in load_hdm05(config.hdm05_path, config.fps, scales("hdm05")):
            (val if clip.labels.get("actor") in held_out else train).append(clip)
    if "deepmimic" in config.sources:
        (val if config.deepmimic_val else train).extend(
            load_deepmimic(config.deepmimic_path, config.fps, scales("deepmimic")))
    for name, raw_path in config.extra_sources.items():
        path = config.resolve(raw_path)
        if not path.exists():
            raise VideoMocapError(
                f"data.extra_sources.{name}: {path} does not exist; set it to a folder of BVH files (with "
                "data.extra_jointmap for your rig) or a 3D sequence .npz of your motion capture."
            )
        if path.is_dir():
            train += load_bvh_folder(
                path, config.extra_jointmap, config.fps, name, config.cache_path, progress=progress
            )
        else:
            train += load_sequence_npz(path, name, config.fps)
    logger.info(
        "data: %d train clips (%d frames), %d val clips (%d frames)",
        len(train), sum(c.num_frames for c in train), len(val), sum(c.num_frames for c in val),
    )
    return {"train": train, "val": val}
