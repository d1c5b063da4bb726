"""Prepared training data: every clip of a data config in one small file, for a machine without the mocap.

A lent GPU machine gets the working tree and at most 64 MiB beside it, not ``../shared``: the mocap
sources (Bandai's BVH archive alone is 115 MB) do not travel. ``video-mocap train CONFIG --prepare-data
FILE`` loads the config's sources once here (joint maps, detector semantics and bone scales applied, as
training reads them) and writes the clips, train and validation, into ``FILE``; a run with
``data.prepared: FILE`` reads them back instead of the sources.

Format (``.npz``, compressed): per clip ``<i>``, ``j<i>`` int16 (T, 17, 3): the first frame in
millimetres, then each frame's change from the one before in millimetres (quantised first, so the
sum gives the quantised joints back exactly: at most 0.5 mm off the source); and one ``index`` JSON
string: per clip its name, fps, source, labels and split ("train" / "val"), with the format version
and the fingerprint of the data config that made it (:func:`data_fingerprint`). A run whose data
config differs from the pack's (other sources, another skeleton) is refused, naming the difference.
Bandai part 2 and its validation part, HDM05 and DeepMimic come to about 20 MB.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import VideoMocapError
from .sources import Clip, DataConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MM_PER_M = 1000.0
#: the data config fields that do not change the clips (where they are read from, how they are mixed)
NOT_IN_FINGERPRINT = ("prepared", "mocap_dir", "bandai_dir", "hdm05_file", "deepmimic_file", "cache_dir",
                      "source_weights")
SPLITS = ("train", "val")


def data_fingerprint(config: DataConfig) -> dict:
    """The data config fields that decide the clips, plus a hash of the detector skeleton file when
    it is used (a new calibration makes new clips)."""
    from .jointmap import detector_skeleton_sha256

    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_IN_FINGERPRINT}
    fields = json.loads(json.dumps(fields))  # tuples -> lists, as they come back from the file
    if config.detector_bones:
        fields["detector_skeleton_sha256"] = detector_skeleton_sha256()
    return fields


def _encode(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) metres -> int16 millimetre deltas (first row absolute)."""
    quantised = np.round(np.asarray(joints, dtype=np.float64) * MM_PER_M).astype(np.int64)
    deltas = np.diff(quantised, axis=0, prepend=np.zeros_like(quantised[:1]))
    if np.abs(deltas).max(initial=0) > np.iinfo(np.int16).max:
        raise VideoMocapError("a clip moves more than 32 m in one frame (or starts 32 m from the origin); "
                              "it cannot be packed: check its units.")
    return deltas.astype(np.int16)


def _decode(deltas: np.ndarray) -> np.ndarray:
    return (np.cumsum(deltas.astype(np.int64), axis=0) / MM_PER_M).astype(np.float32)


def save_prepared(path: str | Path, splits: dict[str, list[Clip]], config: DataConfig) -> Path:
    """Write the clips of ``splits`` ({"train": [...], "val": [...]}) made from ``config`` (atomic)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    index = []
    for split in SPLITS:
        for clip in splits.get(split, []):
            arrays[f"j{len(index)}"] = _encode(clip.joints)
            index.append({"name": clip.name, "fps": float(clip.fps), "source": clip.source,
                          "labels": json.loads(json.dumps(clip.labels, default=str)), "split": split})
    header = {"format_version": FORMAT_VERSION, "data": data_fingerprint(config), "clips": index}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, index=np.array(json.dumps(header)), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    log.info("prepared data: %d clips (%d train) in %s (%.1f MB)", len(index),
             sum(c["split"] == "train" for c in index), path, path.stat().st_size / 1e6)
    return path


def load_prepared(path: str | Path, config: DataConfig) -> dict[str, list[Clip]]:
    """The clips of a prepared file, checked against ``config``: ``{"train": [...], "val": [...]}``.

    Raises:
        VideoMocapError: no such file, not a prepared file, or made from another data config.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(f"data.prepared: {path} does not exist; make it where the mocap is with "
                              "'video-mocap train CONFIG --prepare-data FILE'.")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["index"]))
            joints = [_decode(data[f"j{i}"]) for i in range(len(header["clips"]))]
    except (OSError, ValueError, KeyError) as exc:
        raise VideoMocapError(f"data.prepared: {path} is not a prepared data file ({exc}); make it again with "
                              "'video-mocap train CONFIG --prepare-data FILE'.") from None
    if header.get("format_version") != FORMAT_VERSION:
        raise VideoMocapError(f"data.prepared: {path} has format {header.get('format_version')}, this version "
                              f"reads {FORMAT_VERSION}; make it again with --prepare-data.")
    wanted = data_fingerprint(config)
    differ = sorted(k for k in set(wanted) | set(header["data"]) if wanted.get(k) != header["data"].get(k))
    if differ:
        raise VideoMocapError(f"data.prepared: {path} was made from another data config ({', '.join(differ)} "
                              "differ); make it again with this config and --prepare-data.")
    splits: dict[str, list[Clip]] = {split: [] for split in SPLITS}
    for entry, clip_joints in zip(header["clips"], joints):
        splits[entry["split"]].append(Clip(entry["name"], clip_joints, entry["fps"], entry["source"], entry["labels"]))
    log.info("data: %d train clips, %d val clips from %s", len(splits["train"]), len(splits["val"]), path)
    return splits
