"""Lifter weights on disk: ``NAME.safetensors`` (fp16 tensors) + ``NAME.json`` (model card).

No pickle anywhere: tensors go through safetensors, everything else through JSON.
The card says what the network is (model name, config, preset), what it expects (joint
order, input normalisation and channels, clip length), where its training data came from
and under which licence, and what it scored.

``save_weights`` writes both files atomically and puts the sha256 of the ``.safetensors``
file into the card. ``load_weights`` checks the card (model, joint order, normalisation,
format version), that the tensors file is the one the card was written with (its sha256),
that the tensors match the network the card's config builds (missing / unexpected /
wrong-shape tensors are listed) and that they are plausible (floating where the network
expects it, finite, no weight matrix all zero), and raises :class:`VideoMocapError` with
what to do for any problem. Card reading needs no torch; loading tensors into a state dict does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import atomic_path
from ..core.lifters import LIFTER_NAMES
from ..core.skeleton import JOINT_NAMES

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: the input normalisation every lifter is trained with (``camera.normalize_screen``)
INPUT_NORMALIZATION = "screen_width_half_centred"
INPUT_CHANNELS: tuple[str, ...] = ("x", "y", "score")
WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
#: where the shipped weights live: ``<package root>/weights``
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: environment variable that points the default weights folder elsewhere (tests, custom installs)
WEIGHTS_DIR_ENV = "VIDEO_MOCAP_WEIGHTS_DIR"
#: largest magnitude an fp16 tensor holds
FP16_MAX = float(np.finfo(np.float16).max)

HOW_TO_GET_WEIGHTS = (
    "Train them with 'video-mocap train CONFIG.yaml' (see the README, section Training), or copy a "
    "trained NAME.safetensors with its NAME.json card into {folder}, or pass --weights PATH."
)


@dataclass
class ModelCard:
    """What a weights file holds and how to feed it (stored as JSON beside the tensors)."""

    model: str
    config: dict[str, Any]
    preset: str = "custom"
    joint_names: list[str] = field(default_factory=lambda: list(JOINT_NAMES))
    input_normalization: str = INPUT_NORMALIZATION
    input_channels: list[str] = field(default_factory=lambda: list(INPUT_CHANNELS))
    num_frames: int = 243
    training_data: str = ""
    licence: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    format_version: int = FORMAT_VERSION
    #: sha256 (hex) of the ``.safetensors`` file, written by :func:`save_weights`; "" on cards made before it
    weights_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "model card") -> "ModelCard":
        """Card from a parsed JSON dict; missing or unknown fields -> :class:`VideoMocapError`."""
        if not isinstance(values, Mapping):
            raise VideoMocapError(f"{source} must be a JSON object, got {type(values).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}  # type: ignore[misc]
        unknown = sorted(set(values) - names)
        missing = sorted(required - set(values))
        if unknown or missing:
            raise VideoMocapError(
                f"{source} is not a lifter model card (missing fields {missing}, unknown fields {unknown}); "
                "write it again with save_weights or the training command."
            )
        card = cls(**dict(values))
        if not isinstance(card.config, dict):
            raise VideoMocapError(f"{source}: 'config' must be an object of model settings.")
        return card


def default_weights_path(model: str) -> Path:
    """``<package root>/weights/<model>.safetensors`` (where the shipped weights go).

    The folder is ``$VIDEO_MOCAP_WEIGHTS_DIR`` instead when that variable is set.
    """
    folder = os.environ.get(WEIGHTS_DIR_ENV)
    return (Path(folder) if folder else WEIGHTS_DIR) / f"{model}{WEIGHTS_SUFFIX}"


def card_path(weights_path: str | os.PathLike) -> Path:
    """The JSON card beside a weights file: ``x.safetensors`` -> ``x.json``."""
    return Path(weights_path).with_suffix(CARD_SUFFIX)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor (no torch import needed to detect it)
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    return array if array.flags.c_contiguous else array.copy()  # (np.ascontiguousarray makes 0-d 1-d)


#: bytes read at a time when hashing a weights file
_HASH_CHUNK = 1 << 20


def weights_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a weights file's bytes (what the card's ``weights_sha256`` holds)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(state_dict: Mapping[str, Any], card: ModelCard, path: str | os.PathLike) -> Path:
    """Write ``path`` (.safetensors, floating tensors as fp16) and its ``.json`` card, atomically.

    The card written carries the sha256 of the tensors file (``card.weights_sha256`` is replaced).
    Non-finite tensors are refused (a diverged training must not be saved as a model).

    Args:
        state_dict: name -> torch tensor or numpy array (a model's ``state_dict()``).
        card: the model card (its ``num_frames`` should be the model config's).
        path: destination ending in ``.safetensors``.
    Returns:
        ``path``.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    if path.suffix != WEIGHTS_SUFFIX:
        raise VideoMocapError(f"weights file must end in {WEIGHTS_SUFFIX}, got {path.name}.")
    tensors: dict[str, np.ndarray] = {}
    for name, value in state_dict.items():
        array = _to_numpy(value)
        if np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise VideoMocapError(f"tensor '{name}' holds NaN or infinite values; these weights are not a model.")
            if np.abs(array).max(initial=0.0) > FP16_MAX:
                raise VideoMocapError(f"tensor '{name}' exceeds the fp16 range; it cannot be stored in half precision.")
            array = array.astype(np.float16)
        tensors[name] = array
    with atomic_path(path) as tmp_weights, atomic_path(card_path(path)) as tmp_card:
        save_file(tensors, str(tmp_weights), metadata={"format": "video_mocap", "model": card.model})
        signed = dataclasses.replace(card, weights_sha256=weights_sha256(tmp_weights))
        tmp_card.write_text(json.dumps(signed.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    log.info("saved %s weights (%d tensors) to %s", card.model, len(tensors), path)
    return path


def load_card(path: str | os.PathLike) -> ModelCard:
    """Read and check the card beside weights ``path`` (no torch needed)."""
    json_path = card_path(path)
    if not json_path.is_file():
        raise VideoMocapError(
            f"model card {json_path} not found beside {Path(path).name}; weights come as a pair NAME.safetensors + "
            "NAME.json. Copy the .json too, or save the weights again with save_weights."
        )
    try:
        values = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VideoMocapError(f"model card {json_path} is not valid JSON ({exc}); restore or re-create it.") from None
    card = ModelCard.from_dict(values, source=f"model card {json_path}")
    check_card_fields(card, json_path)
    return card


def check_card_fields(card: ModelCard, source: str | os.PathLike) -> None:
    """Raise :class:`VideoMocapError` when the card is for something this code cannot run."""
    if card.format_version != FORMAT_VERSION:
        raise VideoMocapError(
            f"{source}: card format version {card.format_version} is not supported (this code reads "
            f"{FORMAT_VERSION}); update the add-on or re-export the weights."
        )
    if card.model not in LIFTER_NAMES:
        raise VideoMocapError(f"{source}: unknown model '{card.model}'; known lifters: {', '.join(LIFTER_NAMES)}.")
    if list(card.joint_names) != list(JOINT_NAMES):
        raise VideoMocapError(
            f"{source}: joint order {list(card.joint_names)[:4]}... differs from this code's H36M-17 order "
            f"{list(JOINT_NAMES)[:4]}...; these weights were trained for another skeleton and cannot be used."
        )
    if card.input_normalization != INPUT_NORMALIZATION or list(card.input_channels) != list(INPUT_CHANNELS):
        raise VideoMocapError(
            f"{source}: input '{card.input_normalization}' with channels {list(card.input_channels)} is not "
            f"what this code feeds ('{INPUT_NORMALIZATION}', {list(INPUT_CHANNELS)}); use weights trained "
            "with this version."
        )
    if not (isinstance(card.num_frames, int) and card.num_frames >= 1):
        raise VideoMocapError(f"{source}: num_frames must be a positive integer, got {card.num_frames!r}.")
    config_frames = card.config.get("num_frames", card.num_frames)
    if config_frames != card.num_frames:
        raise VideoMocapError(
            f"{source}: num_frames {card.num_frames} differs from the model config's {config_frames}; "
            "fix the card (both must be the training window length)."
        )


def check_weights_sha256(path: str | os.PathLike, card: ModelCard) -> None:
    """Raise :class:`VideoMocapError` when ``path`` is not the tensors file its card was written with.

    A card without a sha256 (written before the field existed) is accepted with a warning.
    """
    path = Path(path)
    if not card.weights_sha256:
        log.warning("the card of %s has no weights_sha256: the tensors cannot be verified. Save the weights again "
                    "(save_weights or 'video-mocap train') to add it.", path)
        return
    actual = weights_sha256(path)
    if actual != card.weights_sha256:
        raise VideoMocapError(
            f"weights file {path} does not match its card {card_path(path).name} (sha256 {actual[:12]}..., the card "
            f"says {card.weights_sha256[:12]}...): the file was damaged or changed after it was saved, or the card "
            "belongs to other weights. Copy the NAME.safetensors + NAME.json pair again, or train them again."
        )


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise VideoMocapError(
            f"weights file {path} is corrupt or not a safetensors file ({exc}); download or train it again."
        ) from None


def load_weights(path: str | os.PathLike, expected_model: str | None = None):
    """Load weights and their card, and check that they fit the network the card describes.

    Args:
        path: ``NAME.safetensors`` (its ``NAME.json`` card beside it).
        expected_model: when given, the card's model must be this one.
    Returns:
        ``(state_dict, card)``: name -> float32 torch tensor (other dtypes kept), and the card.
    Raises:
        VideoMocapError: missing/invalid card, wrong model or joint order or normalisation,
            corrupt tensors file, tensors that do not match the network.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoMocapError(f"weights file not found: {path}. {HOW_TO_GET_WEIGHTS.format(folder=path.parent)}")
    card = load_card(path)
    if expected_model is not None and card.model != expected_model:
        raise VideoMocapError(
            f"{path.name} holds {card.model} weights, not {expected_model}; choose the matching --model "
            "or other weights."
        )
    arrays = _read_tensors(path)
    check_weights_sha256(path, card)
    check_tensors_match(arrays, card, path)
    import torch

    state = {
        name: torch.from_numpy(np.array(a, dtype=np.float32) if np.issubdtype(a.dtype, np.floating) else np.array(a))
        for name, a in arrays.items()
    }
    return state, card


def expected_tensors(card: ModelCard) -> dict[str, tuple[tuple[int, ...], bool]]:
    """name -> (shape, is floating) of every tensor in the state dict of the network ``card.config`` builds."""
    import torch

    from .models import build_model

    with torch.device("meta"):
        model = build_model(card.model, card.config)
    return {name: (tuple(t.shape), bool(t.is_floating_point())) for name, t in model.state_dict().items()}


#: how many names to list in a mismatch message
MAX_LISTED = 8


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f" (+{len(names) - MAX_LISTED} more)" if len(names) > MAX_LISTED else "")


def check_tensors_match(arrays: Mapping[str, np.ndarray], card: ModelCard, path: Path) -> None:
    """Raise :class:`VideoMocapError` listing missing, unexpected and wrong-shape tensors, then
    implausible ones (:func:`check_tensors_plausible`)."""
    specs = expected_tensors(card)
    expected = {name: shape for name, (shape, _) in specs.items()}
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    wrong = sorted(
        f"{n} {tuple(arrays[n].shape)} != {expected[n]}"
        for n in set(expected) & set(arrays)
        if tuple(arrays[n].shape) != expected[n]
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing tensors: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors: {_listing(unexpected)}")
        if wrong:
            parts.append(f"wrong shapes: {_listing(wrong)}")
        raise VideoMocapError(
            f"weights {path.name} do not match the {card.model} network of their card ({'; '.join(parts)}). "
            "The .json card and the .safetensors file come from different trainings or code versions; "
            "use a matching pair."
        )
    check_tensors_plausible(arrays, {name for name, (_, floating) in specs.items() if floating}, path)


def check_tensors_plausible(arrays: Mapping[str, np.ndarray], floating: set[str], path: Path) -> None:
    """A cheap sanity check of trained tensors: those the network holds as floating point are
    floating, finite, and no weight matrix (2 or more dimensions) is all zero (a trained one never is).

    Args:
        arrays: name -> tensor as read from the file.
        floating: the names the network holds as floating point.
        path: the weights file (for the message).
    """
    not_float = sorted(n for n in floating if n in arrays and not np.issubdtype(arrays[n].dtype, np.floating))
    not_finite = sorted(n for n in floating if n in arrays and n not in not_float and not np.isfinite(arrays[n]).all())
    zero = sorted(n for n in floating if n in arrays and arrays[n].ndim >= 2 and arrays[n].size > 1
                  and not np.any(arrays[n]))
    parts = []
    if not_float:
        parts.append(f"not floating point: {_listing([f'{n} ({arrays[n].dtype})' for n in not_float])}")
    if not_finite:
        parts.append(f"NaN or infinite values: {_listing(not_finite)}")
    if zero:
        parts.append(f"weight matrices all zero: {_listing(zero)}")
    if parts:
        raise VideoMocapError(
            f"weights {path.name} are not a trained model ({'; '.join(parts)}): the file is damaged or was written "
            "wrongly. Copy the NAME.safetensors + NAME.json pair again, or train them again."
        )
