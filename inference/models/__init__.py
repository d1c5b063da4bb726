"""The lifters (torch): registry, size presets and config (de)serialisation.

``build_model(name, config)`` builds one of :data:`LIFTER_NAMES` from a config dataclass or a
plain dict (as stored in a weights model card). Presets:

- ``tiny``: trains on a 2-core CPU in well under an hour, runs >= 500 frames/s there;
- ``small``: what a 2-core CPU can train in about an hour;
- ``paper``: the sizes of the papers (PoseMoE ~17.9M parameters, DTGCN N=16 dim 128,
  Martinez et al. 1024 units x 2 blocks).

This package needs torch; code that must run without torch (the ONNX backend, model cards)
imports it lazily.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

from torch import nn

from ...core.config_dict import from_dict
from ...core.errors import VideoMocapError
from ...core.lifters import LIFTER_NAMES
from .dtgcn import DTGCN, DTGCNConfig
from .mlp import MLPConfig, MLPLifter
from .posemoe import PoseMoE, PoseMoEConfig

Config = Union[PoseMoEConfig, DTGCNConfig, MLPConfig]

_CONFIG_CLASSES: dict[str, type] = {"posemoe": PoseMoEConfig, "dtgcn": DTGCNConfig, "mlp": MLPConfig}
_MODEL_CLASSES: dict[str, type[nn.Module]] = {"posemoe": PoseMoE, "dtgcn": DTGCN, "mlp": MLPLifter}

PRESET_NAMES: tuple[str, ...] = ("tiny", "small", "paper")

CONFIG_PRESETS: dict[str, dict[str, Config]] = {
    "posemoe": {
        "tiny": PoseMoEConfig(dim=32, encoder_layers=2, decoder_layers=1, heads=4, drop_path=0.0),
        "small": PoseMoEConfig(dim=64, encoder_layers=4, decoder_layers=1, heads=8, drop_path=0.1),
        # 12 encoder layers + 1 decoder layer (the paper's MI plot puts the decoder at layer 13): 17.7M
        "paper": PoseMoEConfig(dim=152, encoder_layers=12, decoder_layers=1, heads=8, drop_path=0.1),
    },
    "dtgcn": {
        "tiny": DTGCNConfig(dim=32, depth=3, heads=4, head_dim=128, drop_path=0.0),
        "small": DTGCNConfig(dim=64, depth=5, heads=8, head_dim=256, drop_path=0.1),
        "paper": DTGCNConfig(dim=128, depth=16, heads=8, head_dim=512, drop_path=0.1),
    },
    "mlp": {
        "tiny": MLPConfig(hidden=256, blocks=2, dropout=0.25),
        "small": MLPConfig(hidden=512, blocks=2, dropout=0.5),
        "paper": MLPConfig(hidden=1024, blocks=2, dropout=0.5),
    },
}


def _check_name(name: str) -> str:
    if name not in LIFTER_NAMES:
        raise VideoMocapError(f"unknown lifter model '{name}'; choose one of {', '.join(LIFTER_NAMES)}.")
    return name


def config_from_dict(name: str, values: dict[str, Any]) -> Config:
    """Config dataclass of model ``name`` from a dict (a model card's ``config``), read by the one
    strict loader (:func:`~video_mocap.core.config_dict.from_dict`): unknown keys or values of the
    wrong type -> :class:`VideoMocapError`."""
    return from_dict(_CONFIG_CLASSES[_check_name(name)], dict(values),
                     source=f"{name} config (written for another model or another version?)")


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain, JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


def preset_config(name: str, preset: str) -> Config:
    """A fresh copy of preset ``preset`` (tiny | small | paper) of model ``name``."""
    presets = CONFIG_PRESETS[_check_name(name)]
    if preset not in presets:
        raise VideoMocapError(f"unknown preset '{preset}' for {name}; choose one of {', '.join(presets)}.")
    return dataclasses.replace(presets[preset])


def build_model(name: str, config: Config | dict[str, Any] | None = None) -> nn.Module:
    """Build lifter ``name`` from a config dataclass, a dict (model card) or None (defaults)."""
    _check_name(name)
    if config is None:
        config = _CONFIG_CLASSES[name]()
    elif isinstance(config, dict):
        config = config_from_dict(name, config)
    elif not isinstance(config, _CONFIG_CLASSES[name]):
        raise VideoMocapError(f"{name} needs a {_CONFIG_CLASSES[name].__name__}, got {type(config).__name__}.")
    try:
        return _MODEL_CLASSES[name](config)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise VideoMocapError(f"cannot build {name} from config {config_to_dict(config)}: {exc}") from None


__all__ = [
    "CONFIG_PRESETS",
    "Config",
    "DTGCN",
    "DTGCNConfig",
    "MLPConfig",
    "MLPLifter",
    "LIFTER_NAMES",
    "PRESET_NAMES",
    "PoseMoE",
    "PoseMoEConfig",
    "build_model",
    "config_from_dict",
    "config_to_dict",
    "preset_config",
]
