"""``video-mocap train CONFIG [--resume] [--out DIR] [--minutes M] [--steps N] [--threads N] [--precision bf16]
[--prepared FILE | --prepare-data FILE]``.

Trains a lifter from a YAML config (``training/configs/``) with :func:`video_mocap.training.train.train`;
the run folder it writes is described there. Multi-GPU / multi-process:
``torchrun --nproc_per_node N -m video_mocap.training train CONFIG``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Any

from pathlib import Path

from ..core.atomic import check_writable_folder, check_writable_output
from ..training.config import PRECISIONS, TrainConfig, load_config, validate

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video-mocap train", description="Train a 3D lifter from a YAML config.")
    parser.add_argument("config", help="YAML config (see training/configs/)")
    parser.add_argument("--resume", action="store_true", help="continue the run in the output folder")
    parser.add_argument("--out", help="run folder (overrides output_dir)")
    parser.add_argument("--minutes", type=float, help="wall-clock budget of the training stage (overrides minutes)")
    parser.add_argument("--steps", type=int, help="step budget of the training stage (overrides steps)")
    parser.add_argument("--threads", type=int, help="torch threads (overrides threads)")
    parser.add_argument("--export", help="export path ('default' = the shipped weights/<model>.safetensors)")
    parser.add_argument("--init", help="start from these weights ('default' = the shipped ones; overrides init_weights)")
    parser.add_argument("--precision", choices=PRECISIONS, help="training arithmetic (overrides precision; bf16: "
                        "autocast on a GPU, or a CPU with bf16 support)")
    parser.add_argument("--prepared", help="read the clips from this prepared file (overrides data.prepared)")
    parser.add_argument("--prepare-data", metavar="FILE",
                        help="write the config's clips (train and validation) into FILE for a machine without the "
                             "mocap (a lent GPU: data.prepared), and stop")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def apply_overrides(config: TrainConfig, args: argparse.Namespace) -> TrainConfig:
    """The config with the command line's overrides, checked again."""
    changes: dict[str, Any] = {}
    if args.out:
        changes["output_dir"] = args.out
    if args.minutes is not None:
        changes["minutes"] = float(args.minutes)
    if args.steps is not None:
        changes["steps"] = int(args.steps)
    if args.threads is not None:
        changes["threads"] = int(args.threads)
    if args.export is not None:
        changes["export_path"] = args.export
    if args.init is not None:
        changes["init_weights"] = args.init
    if args.precision is not None:
        changes["precision"] = args.precision
    if args.prepared is not None:
        changes["data"] = dataclasses.replace(config.data, prepared=args.prepared)
    return validate(dataclasses.replace(config, **changes), source="command line")


def check_outputs(config: TrainConfig) -> None:
    """The run folder and the export path can be written: checked before any work (as the trainer
    resolves them: ``export_path`` "" = in the run folder, "default" = the shipped weights)."""
    from ..inference.weights import WEIGHTS_SUFFIX, default_weights_path

    out = check_writable_folder(config.resolved_output_dir(), "run folder")
    spec = config.export_path
    export = (default_weights_path(config.model) if spec == "default" else Path(spec.format(model=config.model))
              if spec else out / f"{config.model}{WEIGHTS_SUFFIX}")
    check_writable_output(export, (WEIGHTS_SUFFIX,), "weights file")


def prepare_data(config: TrainConfig, path: Path) -> int:
    """``--prepare-data``: the config's clips, as training reads them, into one file (:mod:`..training.prepared`)."""
    from ..training.prepared import save_prepared
    from ..training.sources import load_all_sources

    check_writable_output(path, (".npz",), "prepared data file")
    data = dataclasses.replace(config.data, prepared="")
    save_prepared(path, load_all_sources(data), data)
    log.info("prepared data: %s (train with data.prepared: %s, or --prepared)", path, path)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..training.train import train

    args = build_parser().parse_args(argv)
    config = apply_overrides(load_config(args.config), args)
    if args.prepare_data:
        return prepare_data(config, Path(args.prepare_data))
    check_outputs(config)
    result = train(config, resume=args.resume, show_progress=not args.quiet)
    if result.exported is not None:
        log.info("weights: %s", result.exported)
    return 0
