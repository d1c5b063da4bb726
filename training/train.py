"""One training run (``video-mocap train``, :mod:`video_mocap.cli.train`).

One run = (DTGCN only) masked self-distillation pre-training, then supervised training on
virtual-camera windows of real mocap, with periodic validation on held-out clips, resumable
checkpoints, TensorBoard logs and the export of the best model (fp16 safetensors + JSON
model card) for the lifter to load.

Run folder (``output_dir``)::

    config.json              the resolved config
    state.json               stage, step, elapsed seconds, best validation, history
    model.safetensors        latest weights (fp32)          } written together at each
    teacher.safetensors      EMA teacher (pre-training)     } checkpoint, atomically
    optim.pt                 optimiser + RNG state (torch.save; used only by --resume)
    best.safetensors/.json   best weights so far by validation MPJPE (fp32); a resume whose
                             validation windows differ scores them again first
    tb/                      TensorBoard logs
    <model>.safetensors/.json the exported fp16 weights + card (or ``export_path``)

Multi-GPU / multi-process: ``torchrun --nproc_per_node N -m video_mocap.training train CONFIG``
initialises ``torch.distributed`` (NCCL on CUDA, Gloo on CPU) when ``WORLD_SIZE`` is set and
wraps the model in DistributedDataParallel. ``batch_size`` is the *global* batch: each step's
windows are cut into shards of :data:`WINDOWS_PER_SHARD`, each drawn from its own seed (run
seed, stage, step, shard), and rank r renders only shards r, r+N, ...; each rank's loss is
weighted by its share of the batch, so the averaged gradients, the logged loss and the run's
stream of windows are those of one process on the same global batch, whatever N (exactly, for
losses that are means over windows, PoseMoE's expert-balance term aside; pre-training's token masks
and the MLP baseline's BatchNorm statistics follow each rank's part of the batch).
Rank 0 alone validates, logs and writes files; a checkpoint holds no per-rank state, so
``--resume`` works with another N. Tested on CPU (2 Gloo ranks, ``tests/test_ddp.py``); NCCL on
GPUs is the same code path but was not run here (no GPU was available).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import platform
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import atomic_path, write_text_atomic
from . import losses
from .config import THREADS_ENV, TrainConfig, from_dict, to_dict

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"
TEACHER_FILE = "teacher.safetensors"
EMA_FILE = "ema.safetensors"
OPTIM_FILE = "optim.pt"
BEST_FILE = "best.safetensors"
CONFIG_FILE = "config.json"
#: how many sampled batches the background thread keeps ready
PREFETCH_BATCHES = 2
#: windows per shard of a global batch: the unit a rank renders (a batch of B windows has
#: ceil(B / WINDOWS_PER_SHARD) shards, so at most that many processes)
WINDOWS_PER_SHARD = 16
#: the seed stream of each stage's windows
_STAGE_SEED = {"pretrain": 1, "train": 2}
#: licences of the training sources, for the model card
SOURCE_LICENCES: dict[str, str] = {
    "bandai": "Bandai Namco Research Motion Dataset (c) 2022 Bandai Namco Research Inc., CC BY-NC 4.0 (non-commercial)",
    "hdm05": "HDM05 (Mueller et al. 2007), CC BY-SA 3.0",
    "deepmimic": "DeepMimic reference motions (c) 2018 Xue Bin Peng, MIT",
}
SECONDS_PER_MINUTE = 60.0


# ---------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------
@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_threads(config: TrainConfig) -> int:
    """Set torch's intra-op threads from ``VIDEO_MOCAP_THREADS`` or the config; returns the count."""
    import torch

    threads = int(os.environ.get(THREADS_ENV, config.threads) or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def setup_distributed() -> DistInfo:
    """Initialise ``torch.distributed`` when launched by torchrun (``WORLD_SIZE`` set)."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world_size <= 1:
        return DistInfo(device="cuda" if cuda else "cpu")
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return DistInfo(
        rank=dist.get_rank(), world_size=world_size, local_rank=local_rank,
        device=f"cuda:{local_rank}" if cuda else "cpu",
    )


def rank_shards(batch_size: int, world_size: int, rank: int) -> list[tuple[int, int]]:
    """(shard index, windows) of the global batch that ``rank`` renders: shards rank, rank + N, ...

    Raises :class:`VideoMocapError` when there are fewer shards than processes.
    """
    count = -(-batch_size // WINDOWS_PER_SHARD)
    if count < world_size:
        raise VideoMocapError(
            f"batch_size {batch_size} makes {count} shards of {WINDOWS_PER_SHARD} windows, fewer than the "
            f"{world_size} processes: raise batch_size to at least {world_size * WINDOWS_PER_SHARD} or start "
            "fewer processes (--nproc_per_node)."
        )
    return [(index, min(WINDOWS_PER_SHARD, batch_size - index * WINDOWS_PER_SHARD))
            for index in range(rank, count, world_size)]


def shard_seed(seed: int, stage: str, step: int, shard: int) -> int:
    """The seed of one shard of one step's batch: the same for any number of processes."""
    words = [int(seed) % 2**32, _STAGE_SEED[stage], int(step), int(shard)]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0])


def model_config_dict(config: TrainConfig) -> dict:
    """The preset's model config with the run's overrides (and its window length) applied."""
    from ..inference.models import CONFIG_PRESETS, config_from_dict, config_to_dict

    merged = config_to_dict(CONFIG_PRESETS[config.model][config.preset])
    merged.update(config.model_config)
    if config.num_frames:
        merged["num_frames"] = config.num_frames
    # round trip: unknown override keys raise a clear error here
    return config_to_dict(config_from_dict(config.model, merged))


def lr_at(config: TrainConfig, step: int, progress: float, base_lr: float | None = None) -> float:
    """Linear warm-up, then exponential decay to ``lr * lr_final_ratio`` at progress 1.

    ``base_lr``: the stage's peak rate (None: ``optim.lr``; pre-training has its own).
    """
    opt = config.optim
    lr = opt.lr if base_lr is None else base_lr
    warm = min(1.0, (step + 1) / opt.warmup_steps) if opt.warmup_steps > 0 else 1.0
    return lr * warm * opt.lr_final_ratio ** min(max(progress, 0.0), 1.0)


def _progress(step: int, steps: int, elapsed: float, minutes: float) -> float:
    parts = []
    if steps > 0:
        parts.append(step / steps)
    if minutes > 0:
        parts.append(elapsed / (minutes * SECONDS_PER_MINUTE))
    return max(parts) if parts else 0.0


def _save_state_dict(state: dict, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().float().contiguous().cpu() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def _load_state_dict(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for corrupt files
        raise VideoMocapError(f"checkpoint {path} is unreadable ({exc}); start again without --resume.") from None


class _Prefetcher:
    """Samples batches on a background thread (numpy releases the GIL) to overlap with torch."""

    def __init__(self, sample: Callable[[], dict], depth: int = PREFETCH_BATCHES) -> None:
        self._sample = sample
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batch-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._sample()
            except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def next(self) -> dict:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
@dataclass
class RunData:
    train_clips: list
    val_sets: dict[str, list]  # name -> clips
    source_weights: dict[str, float] | None


def load_run_data(config: TrainConfig) -> RunData:
    """Training clips and validation sets from the data config (see ``sources.load_all_sources``), or from
    its prepared file (``data.prepared``, :mod:`.prepared`)."""
    from . import sources
    from .prepared import load_prepared

    if config.data.prepared:
        split = load_prepared(config.data.resolve(config.data.prepared), config.data)
    else:
        split = sources.load_all_sources(config.data)
    train = list(split.get("train", []))
    if not train:
        raise VideoMocapError("the data config selects no training clips; check data.sources and the data paths.")
    val_sets: dict[str, list] = {}
    for clip in split.get("val", []):
        val_sets.setdefault(clip.source, []).append(clip)
    weights = getattr(config.data, "source_weights", None)
    return RunData(train_clips=train, val_sets=val_sets, source_weights=dict(weights) if weights else None)


#: the sections that draw the validation windows besides ``val``: a resume keeps them as the run started
VAL_WINDOW_SECTIONS = ("camera", "noise")


def validation_config(config: TrainConfig, started: dict | None) -> TrainConfig:
    """``config`` with the camera and noise sections (:data:`VAL_WINDOW_SECTIONS`) as the run started.

    ``started``: the run's ``config.json`` (None for a new run). A resume that changes the training
    cameras or 2D noise must not change the validation windows, or the validation errors before and
    after it (and the choice of the best checkpoint) would not compare.
    """
    if not started:
        return config
    kept = {key: from_dict(type(getattr(config, key)), started[key], key, "the run's config.json")
            for key in VAL_WINDOW_SECTIONS if key in started}
    return dataclasses.replace(config, **kept)


def make_val_clips(config: TrainConfig, data: RunData, num_frames: int) -> dict[str, list]:
    """Seeded evaluation clips per validation set (subset as set in ``config.val``)."""
    from .sampler import make_eval_windows

    val = config.val
    from .evaluate import exact_noise_config

    noise = config.noise if val.noise == "detector" else exact_noise_config()
    out = {}
    for name, clips in sorted(data.val_sets.items()):
        chosen = clips[:: val.clip_stride]
        if val.max_frames_per_clip > 0:
            chosen = [
                dataclasses.replace(c, joints=c.joints[: val.max_frames_per_clip])
                if c.joints.shape[0] > val.max_frames_per_clip else c
                for c in chosen
            ]
        out[name] = make_eval_windows(chosen, num_frames, config.camera, noise, seed=val.seed)
    return out


def val_windows_fingerprint(val_clips: dict[str, list]) -> str:
    """A short sha256 over the validation windows (names, 2D inputs, 3D targets).

    Kept in the run state beside the best validation error: a resume compares it with the
    windows it would validate on now, so a best error is only ever compared with errors
    measured on the same windows.
    """
    digest = hashlib.sha256()
    for set_name, clips in sorted(val_clips.items()):
        digest.update(set_name.encode())
        for clip in clips:
            digest.update(clip.name.encode())
            digest.update(np.ascontiguousarray(clip.inputs, dtype=np.float32).tobytes())
            digest.update(np.ascontiguousarray(clip.target3d, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------
@dataclass
class RunState:
    stage: str = "pretrain"  # "pretrain" | "train" | "done"
    pretrain_step: int = 0
    pretrain_elapsed_s: float = 0.0
    step: int = 0
    elapsed_s: float = 0.0
    best_metric: float = float("inf")
    best_step: int = -1
    best_metrics: dict = field(default_factory=dict)
    best_val_fingerprint: str = ""  # the windows best_metric was measured on (val_windows_fingerprint)
    last_val_step: int = -1
    history: list = field(default_factory=list)
    final_metrics: dict = field(default_factory=dict)
    #: the weights the run started from (``init_weights``): file name, model, preset, licence and how they were
    #: trained (their card's training_data); {} = random
    init_weights: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "RunState":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise VideoMocapError(f"{path} is unreadable ({exc}); start again without --resume.") from None

    def save(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(dataclasses.asdict(self), indent=1, default=float))


def save_checkpoint(out: Path, state: RunState, model, optimizer, teacher=None, ema=None) -> None:
    """Weights (safetensors), optimiser + RNG (torch.save, resume only), then the state file.

    ``ema``: the ``AveragedModel`` of the weights, saved whole (its ``n_averaged`` too).
    """
    import torch

    _save_state_dict(_unwrap(model).state_dict(), out / MODEL_FILE)
    if teacher is not None:
        _save_state_dict(teacher.state_dict(), out / TEACHER_FILE)
    if ema is not None:
        _save_state_dict(ema.state_dict(), out / EMA_FILE)
    with atomic_path(out / OPTIM_FILE) as tmp:
        torch.save({"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, tmp)
    state.save(out / STATE_FILE)


def _unwrap(model):
    return getattr(model, "module", model)


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------
def config_differences(model: str, card_config: dict, run_config: dict) -> tuple[dict, list[str]]:
    """A model card's config (a card written before a config field existed has that field's default,
    as inference reads it) and the keys where it differs from a run's model config."""
    from ..inference.models import config_from_dict, config_to_dict

    full = config_to_dict(config_from_dict(model, card_config))
    return full, sorted(k for k in set(full) | set(run_config) if full.get(k) != run_config.get(k))


def validate_model(model, name: str, model_config: dict, val_clips: dict[str, list], flip: bool,
                   device: str) -> dict[str, dict]:
    """Run the in-memory model through the windowed lifter on each validation set.

    Returns ``{set name: overall metrics (mm)}`` plus ``"all"`` pooled over the sets.
    """
    from .evaluate import evaluate_model, lifter_from_module

    lifter = lifter_from_module(_unwrap(model), name, model_config, device=device)
    results = {}
    pooled = []
    for set_name, clips in val_clips.items():
        report = evaluate_model(lifter, clips, flip=flip)
        results[set_name] = report["overall"]
        pooled.append((report["num_frames"], report["overall"]))
    if pooled:
        total = sum(n for n, _ in pooled)
        results["all"] = {k: sum(n * m[k] for n, m in pooled) / max(total, 1) for k in pooled[0][1]}
    return results


def score_checkpoint(weights_path: Path, name: str, model_config: dict, val_clips: dict[str, list],
                     flip: bool, device: str = "cpu") -> dict[str, dict]:
    """:func:`validate_model` on a saved checkpoint (fp32 safetensors of a run folder).

    Used by a resume whose best checkpoint was scored on other windows, and by
    ``bench/training_curve.py`` to score a run's saved checkpoints on one set of windows.
    """
    from ..inference.models import build_model

    model = build_model(name, model_config).to(device)
    model.load_state_dict(_load_state_dict(weights_path))
    return validate_model(model, name, model_config, val_clips, flip, device)


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    output_dir: Path
    exported: Path | None
    state: RunState


def _batch_to_torch(batch: dict, device: str) -> dict:
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)).float().to(device) for k, v in batch.items()}


def _compute_loss(config: TrainConfig, model, batch: dict):
    """Forward + the model's loss: returns (total, parts)."""
    if config.model == "posemoe":
        from ..inference.models import posemoe as posemoe_module

        pred, aux = model(batch["inputs"], return_aux=True)
        return losses.posemoe_loss(
            pred, aux, batch["target3d"], batch["target2d"], config.loss,
            temporal_fn=posemoe_module.temporal_consistency_loss,
        )
    pred = model(batch["inputs"])
    if config.model == "dtgcn":
        return losses.dtgcn_finetune_loss(pred, batch["target3d"], config.loss)
    return losses.mlp_loss(pred, batch["target3d"], config.loss)


@dataclass
class _Stage:
    """One stage of a run (pre-training or training) as :meth:`Trainer._run_stage` runs it."""

    name: str  # "pretrain" | "train": the progress bar's and TensorBoard's label
    label: str  # "pre-training" | "training": for messages
    lr_setting: str  # the config field of ``lr``, for messages
    step_field: str  # the RunState fields of the stage's step counter and elapsed seconds
    elapsed_field: str
    steps: int  # budget: steps and / or minutes (0 = no limit), whichever ends first
    minutes: float
    lr: float  # peak learning rate (warm-up and decay: lr_at)
    batch_size: int
    module: Any  # what runs forward (DDP-wrapped when distributed)
    optimizer: Any
    #: batch -> (loss, unweighted terms to log)
    loss: Callable[[dict], tuple[Any, dict[str, float]]]
    #: after each optimiser step: (step, progress) -> more values to log (EMA updates go here)
    after_step: Callable[[int, float], dict[str, float]]
    #: (loss, logged values) -> the progress bar's postfix
    postfix: Callable[[float, dict], dict[str, str]]
    checkpoint: Callable[[], None]
    validate: Callable[[], None] | None = None


class _PretrainStudent:
    """Adapter so DDP sees the pre-training pass as ``forward`` (built lazily as nn.Module)."""

    @staticmethod
    def wrap(model):
        import torch

        class PretrainStudent(torch.nn.Module):
            def __init__(self, inner) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x, mask):
                return self.inner.forward_pretrain(x, mask)

        return PretrainStudent(model)


class Trainer:
    """Holds the model, optimiser, sampler and run folder of one training run."""

    def __init__(self, config: TrainConfig, output_dir: Path, *, resume: bool, show_progress: bool = True) -> None:
        import torch

        # imported now, not at the first validation / export: a long run must not pick up
        # half-edited source files from a working tree
        from ..inference import lifter as _lifter, weights as _weights  # noqa: F401
        from ..inference.models import build_model
        from . import evaluate as _evaluate, sampler as _sampler  # noqa: F401

        self.config = config
        self.out = output_dir
        self.show_progress = show_progress
        self.dist = setup_distributed()
        self.threads = setup_threads(config)
        self.device = self.dist.device
        self.model_config = model_config_dict(config)
        self.num_frames = int(self.model_config["num_frames"])

        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        self.model = build_model(config.model, self.model_config).to(self.device)
        self.state = RunState(stage="pretrain" if config.model == "dtgcn" and self._pretrain_budget() else "train")
        self.teacher = None
        self._optim_state = None
        self._ema_state = None
        if resume:
            self._resume()
            if config.init_weights:
                log.info("init_weights not used: a resumed run continues from its own checkpoint")
        else:
            if config.init_weights:
                self._init_from_weights(config.init_weights)
            if self.dist.is_main:
                self.out.mkdir(parents=True, exist_ok=True)
                write_text_atomic(self.out / CONFIG_FILE, json.dumps(to_dict(config), indent=1))

        t0 = time.perf_counter()
        self.data = load_run_data(config)
        saved_config = self.out / CONFIG_FILE
        started = json.loads(saved_config.read_text(encoding="utf-8")) if resume and saved_config.is_file() else None
        val_config = validation_config(config, started)
        self.val_clips = make_val_clips(val_config, self.data, self.num_frames) if self.dist.is_main else {}
        self.val_fingerprint = val_windows_fingerprint(self.val_clips)
        if resume and self.dist.is_main:
            self._rescore_best_if_windows_changed()
        log.info(
            "data: %d training clips (%d frames), validation sets %s, loaded in %.1f s",
            len(self.data.train_clips), sum(c.joints.shape[0] for c in self.data.train_clips),
            {k: len(v) for k, v in self.val_clips.items()}, time.perf_counter() - t0,
        )
        self.writer = self._tensorboard() if self.dist.is_main else None

    # -- setup ---------------------------------------------------------------------------
    def _pretrain_budget(self) -> bool:
        return self.config.pretrain.steps > 0 or self.config.pretrain.minutes > 0

    def _init_from_weights(self, spec: str) -> None:
        """Start from trained weights (``init_weights``): check that they fit, load them, skip pre-training."""
        from ..inference.weights import default_weights_path, load_weights

        path = default_weights_path(self.config.model) if spec == "default" else Path(spec)
        state, card = load_weights(path, expected_model=self.config.model)
        card_config, differ = config_differences(self.config.model, card.config, self.model_config)
        warm_start = ""
        if differ == ["router"] and (card_config["router"], self.model_config["router"]) == ("mixture", "gate"):
            # PoseMoE: the gated router warm-started from the feature-mixture weights
            from ..inference.models.posemoe import gated_state_from_mixture

            state, differ, warm_start = gated_state_from_mixture(state), [], ROUTER_WARM_START
            log.info("init_weights %s: a mixture PoseMoE; the gated router is warm-started from it "
                     "(inference.models.posemoe.gated_state_from_mixture)", path)
        elif differ and self._widens(card_config, differ):
            from . import widen

            _, state = widen.widened_from_card(self.config.model, state, card_config,
                                               noise=widen.DEFAULT_NOISE, seed=self.config.seed)
            differ, warm_start = [], f"widened {card.preset} -> {widen.WIDE_PRESET} (training.widen, Net2Net)"
            log.info("init_weights %s: %s weights of preset %s widened into the %s preset, computing what they "
                     "did (training.widen, Net2Net; symmetry-breaking noise %g)", path, card.model, card.preset,
                     widen.WIDE_PRESET, widen.DEFAULT_NOISE)
        if differ:
            raise VideoMocapError(
                f"init_weights {path} do not fit this run's {self.config.model} config: "
                + ", ".join(f"{k} is {card_config.get(k)!r} there, {self.model_config.get(k)!r} here" for k in differ)
                + f". Set preset '{card.preset}', num_frames {card.num_frames} and model_config to the card's "
                "values (or, for tiny DTGCN / PoseMoE weights, preset 'small' with the card's other values: they are "
                "widened, training.widen), or start from random weights (init_weights: \"\")."
            )
        self.model.load_state_dict(state, strict=True)
        self.state.stage = "train"
        self.state.init_weights = {"file": path.name, "model": card.model, "preset": card.preset,
                                   "licence": card.licence, "training_data": card.training_data,
                                   "warm_start": warm_start}
        log.info("starting from %s (%s, preset %s); pre-training skipped", path, card.model, card.preset)

    def _widens(self, card_config: dict, differ: list[str]) -> bool:
        """Whether this run's model config is the card's widened into the ``small`` preset (``training.widen``):
        the card's config with only size fields different, those of the preset (``drop_path`` may be the run's)."""
        from . import widen

        if not set(differ) <= set(widen.SIZE_FIELDS.get(self.config.model, ())):
            return False
        wide = widen.wide_config_from_card(self.config.model, card_config)
        return (all(wide[k] == self.model_config.get(k) for k in wide if k != "drop_path")
                and not widen.widening_problems(self.config.model, card_config, self.model_config))

    def _resume(self) -> None:
        import torch

        state_path = self.out / STATE_FILE
        if not state_path.is_file():
            raise VideoMocapError(f"--resume: no checkpoint in {self.out} ({STATE_FILE} missing); run without --resume.")
        self.state = RunState.load(state_path)
        if self.state.stage == "done":  # a finished run given a larger budget continues training
            self.state.stage = "train"
        self.model.load_state_dict(_load_state_dict(self.out / MODEL_FILE))
        if self.state.stage == "pretrain" and (self.out / TEACHER_FILE).is_file():
            self.teacher = copy.deepcopy(self.model)
            self.teacher.load_state_dict(_load_state_dict(self.out / TEACHER_FILE))
        if self.config.optim.ema_decay > 0 and (self.out / EMA_FILE).is_file():
            self._ema_state = _load_state_dict(self.out / EMA_FILE)
        optim_path = self.out / OPTIM_FILE
        if optim_path.is_file():
            blob = torch.load(optim_path, map_location=self.device, weights_only=False)
            self._optim_state = blob.get("optimizer")
            if "torch_rng" in blob:
                torch.set_rng_state(blob["torch_rng"])
        log.info("resumed %s at stage %s, step %d", self.out, self.state.stage,
                 self.state.pretrain_step if self.state.stage == "pretrain" else self.state.step)

    def _rescore_best_if_windows_changed(self) -> None:
        """Score the best checkpoint again when it was scored on other validation windows.

        Runs from before :func:`validation_config` (or with changed validation data) kept a best
        error measured on other windows; left as it is, it would be compared with errors on the
        windows of this segment and could keep a worse checkpoint, or drop a better one.
        """
        st = self.state
        best_path = self.out / BEST_FILE
        if st.best_step < 0 or st.best_val_fingerprint == self.val_fingerprint or not self.val_clips \
                or not best_path.is_file():
            return
        results = score_checkpoint(best_path, self.config.model, self.model_config, self.val_clips,
                                   self.config.val.flip, self.device)
        log.info("validation windows differ from those the best checkpoint (step %d) was scored on: "
                 "scored again, MPJPE %.1f mm (was %.1f mm on the old windows)",
                 st.best_step, results["all"]["mpjpe"], st.best_metric)
        self._record_best(st.best_step, results)

    def _record_best(self, step: int, results: dict) -> None:
        """The state's best validation (with the windows it was measured on) and ``best.json``."""
        st = self.state
        st.best_metric, st.best_step, st.best_metrics = results["all"]["mpjpe"], step, results
        st.best_val_fingerprint = self.val_fingerprint
        write_text_atomic(self.out / "best.json", json.dumps({"step": step, "val": results}, indent=1))

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
            return None
        return SummaryWriter(log_dir=str(self.out / "tb"))

    def _batches(self, stage: str, first_step: int, batch_size: int) -> Callable[[], dict]:
        """This rank's shards of each step's global batch, step after step from ``first_step``
        (called from the prefetch thread only). Each shard is drawn from :func:`shard_seed`, so the
        windows depend on the step, not on the number of processes or where a run was resumed."""
        from .sampler import WindowSampler

        sampler = WindowSampler(
            self.data.train_clips, self.num_frames, self.config.augment, self.config.camera,
            self.config.noise, source_weights=self.data.source_weights, seed=self.config.seed,
        )
        shards = rank_shards(batch_size, self.dist.world_size, self.dist.rank)
        steps = itertools.count(first_step)

        def next_batch() -> dict:
            step = next(steps)
            parts = []
            for shard, size in shards:
                sampler.reseed(shard_seed(self.config.seed, stage, step, shard))
                parts.append(sampler.sample(size))
            return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

        return next_batch

    def _global_loss(self, local_loss: float, local_windows: int, batch_size: int) -> float:
        """The loss over the whole global batch (the window-weighted mean of the ranks' losses)."""
        if self.dist.world_size <= 1:
            return local_loss
        import torch
        import torch.distributed as dist

        total = torch.tensor([local_loss * local_windows], dtype=torch.float64,
                             device=self.device if self.device.startswith("cuda") else "cpu")
        dist.all_reduce(total)
        return float(total.item()) / batch_size

    def _optimizer(self, params, lr: float):
        import torch

        opt = self.config.optim
        decay, no_decay = [], []
        for name, p in params:
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or name.endswith("_pos") or "tokens" in name else decay).append(p)
        return torch.optim.AdamW(
            [{"params": decay, "weight_decay": opt.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=lr, betas=tuple(opt.betas),
        )

    def _weight_average(self):
        """The ``AveragedModel`` of the weights (``optim.ema_decay``), or None when it is off.

        A resumed run continues its saved average; one that had none starts it from the
        resumed weights.
        """
        decay = self.config.optim.ema_decay
        if decay <= 0:
            return None
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        if self._ema_state is not None:
            ema.load_state_dict(self._ema_state)
            self._ema_state = None
            log.info("weight average (decay %g) continued from %s", decay, EMA_FILE)
        else:
            log.info("weight average (decay %g) started from the current weights", decay)
        return ema

    def _wrap_ddp(self, module):
        if self.dist.world_size <= 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.dist.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def _should_stop(self, stop: bool) -> bool:
        """All ranks agree to stop when any wants to (wall-clock budgets differ slightly)."""
        if self.dist.world_size <= 1:
            return stop
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1.0 if stop else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def _bar(self, total: int, initial: int, desc: str):
        from tqdm import tqdm

        return tqdm(total=total or None, initial=initial, desc=desc, unit="step",
                    disable=not (self.show_progress and self.dist.is_main), dynamic_ncols=True)

    # -- stages --------------------------------------------------------------------------
    def run(self) -> TrainResult:
        try:
            if self.state.stage == "pretrain":
                self.pretrain()
            if self.state.stage == "train":
                self.train()
            exported = self.export() if self.dist.is_main else None
        finally:
            if self.writer is not None:
                self.writer.close()
        return TrainResult(output_dir=self.out, exported=exported, state=self.state)

    def pretrain(self) -> None:
        """Masked self-distillation of DTGCN (student regresses the EMA teacher's top-K average)."""
        import torch

        cfg, pre, st = self.config, self.config.pretrain, self.state
        if self.teacher is None:
            self.teacher = copy.deepcopy(self.model)
        self.teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        student = self._wrap_ddp(_PretrainStudent.wrap(self.model))
        optimizer = self._optimizer(self.model.named_parameters(), pre.lr)
        if self._optim_state is not None:
            optimizer.load_state_dict(self._optim_state)
            self._optim_state = None
        generator = torch.Generator().manual_seed(cfg.seed + 7 + st.pretrain_step)

        def loss_of(batch: dict) -> tuple[Any, dict[str, float]]:
            x = batch["inputs"]
            with torch.no_grad():
                _, layers = self.teacher(x, return_layers=True)
                target = losses.distillation_target(layers, pre.top_k)
            mask = losses.token_mask(tuple(x.shape[:3]), pre.mask_prob, generator).to(self.device)
            return losses.masked_distillation_loss(student(x, mask), target, mask), {}

        def after_step(step: int, progress: float) -> dict[str, float]:
            if pre.tau_ramp_steps > 0:
                tau = losses.tau_at(step, pre.tau_ramp_steps, pre.tau_start, pre.tau_end)
            else:  # over the stage's budget (steps or minutes, whichever ends it first)
                tau = pre.tau_start + min(progress, 1.0) * (pre.tau_end - pre.tau_start)
            losses.ema_update(self.teacher, self.model, tau)
            return {"tau": tau}

        self._run_stage(_Stage(
            name="pretrain", label="pre-training", lr_setting="pretrain.lr", step_field="pretrain_step", elapsed_field="pretrain_elapsed_s", steps=pre.steps,
            minutes=pre.minutes, lr=pre.lr, batch_size=pre.batch_size or cfg.batch_size, module=student,
            optimizer=optimizer, loss=loss_of, after_step=after_step,
            postfix=lambda loss, logged: {"loss": f"{loss:.4f}", "tau": f"{logged['tau']:.5f}"},
            checkpoint=lambda: save_checkpoint(self.out, st, self.model, optimizer, self.teacher),
        ))
        log.info("pre-training done: %d steps in %.1f min", st.pretrain_step, st.pretrain_elapsed_s / 60)
        st.stage = "train"
        self.teacher = None
        if self.dist.is_main:
            save_checkpoint(self.out, st, self.model, self._optimizer(self.model.named_parameters(), cfg.optim.lr))

    def train(self) -> None:
        """Supervised training with periodic validation and checkpoints."""
        cfg, st = self.config, self.state
        model = self._wrap_ddp(self.model)
        optimizer = self._optimizer(self.model.named_parameters(), cfg.optim.lr)
        if self._optim_state is not None:
            try:
                optimizer.load_state_dict(self._optim_state)
            except ValueError:  # the checkpoint was the pre-training optimiser
                log.info("optimiser state from pre-training not reused")
            self._optim_state = None
        ema = self._weight_average()
        validated = self.model if ema is None else ema.module
        if st.init_weights and st.last_val_step < 0 and self.dist.is_main:
            self._validate_and_keep_best(validated)  # the starting weights are the first best

        def after_step(step: int, progress: float) -> dict[str, float]:
            if ema is not None:
                ema.update_parameters(self.model)
            return {}

        self._run_stage(_Stage(
            name="train", label="training", lr_setting="optim.lr", step_field="step", elapsed_field="elapsed_s", steps=cfg.steps, minutes=cfg.minutes,
            lr=cfg.optim.lr, batch_size=cfg.batch_size, module=model, optimizer=optimizer,
            loss=lambda batch: _compute_loss(cfg, model, batch), after_step=after_step,
            postfix=lambda loss, parts: {"loss": f"{loss:.4f}", "mpjpe_mm": f"{parts['mpjpe'] * 1000:.1f}"},
            checkpoint=lambda: save_checkpoint(self.out, st, self.model, optimizer, ema=ema),
            validate=lambda: self._validate_and_keep_best(validated),
        ))
        if self.dist.is_main:
            if st.last_val_step != st.step:
                self._validate_and_keep_best(validated)
            st.stage = "done"
            save_checkpoint(self.out, st, self.model, optimizer, ema=ema)
            log.info("training done: %d steps in %.1f min; best validation MPJPE %.1f mm at step %d",
                     st.step, st.elapsed_s / 60, st.best_metric, st.best_step)

    def _run_stage(self, stage: "_Stage") -> None:
        """The one training loop of both stages: until the stage's budget ends (all ranks agreeing),
        sample, set the learning rate, step the optimiser on ``stage.loss``, then log, validate and
        checkpoint on the config's schedules (rank 0 alone). The step counter and the elapsed time
        live in the run state (``stage.step_field``, ``stage.elapsed_field``), so a resumed run
        carries on where its checkpoint stopped.
        """
        import torch

        cfg, st = self.config, self.state
        step = getattr(st, stage.step_field)
        prefetch = _Prefetcher(self._batches(stage.name, step, stage.batch_size))
        bar = self._bar(stage.steps, step, f"{stage.name} {cfg.model}")
        start = time.perf_counter() - getattr(st, stage.elapsed_field)
        try:
            stage.module.train()
            while True:
                step = getattr(st, stage.step_field)
                elapsed = time.perf_counter() - start
                done = (stage.steps and step >= stage.steps) or (
                    stage.minutes and elapsed >= stage.minutes * SECONDS_PER_MINUTE)
                if self._should_stop(bool(done)):
                    break
                batch = _batch_to_torch(prefetch.next(), self.device)
                progress = _progress(step, stage.steps, elapsed, stage.minutes)
                lr = lr_at(cfg, step, progress, base_lr=stage.lr)
                for group in stage.optimizer.param_groups:
                    group["lr"] = lr
                with _autocast(self.device, cfg.precision):
                    loss, logged = stage.loss(batch)
                local_windows = int(batch["inputs"].shape[0])
                loss_value = self._global_loss(float(loss.detach()), local_windows, stage.batch_size)
                if not np.isfinite(loss_value):
                    raise VideoMocapError(
                        f"{stage.label} diverged at step {step} (loss {loss_value}); lower {stage.lr_setting} or raise "
                        "optim.warmup_steps."
                    )
                stage.optimizer.zero_grad(set_to_none=True)
                # DDP averages the ranks' gradients: weighted by its share, each rank's mean loss
                # gives the gradient of the global batch's mean (weight 1 for one process)
                (loss * (self.dist.world_size * local_windows / stage.batch_size)).backward()
                if cfg.optim.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
                stage.optimizer.step()
                logged = {**logged, **stage.after_step(step, progress)}
                step += 1
                setattr(st, stage.step_field, step)
                setattr(st, stage.elapsed_field, time.perf_counter() - start)
                bar.update(1)
                if not self.dist.is_main:
                    continue
                if step % cfg.log_every == 0:
                    bar.set_postfix(**stage.postfix(loss_value, logged))
                    self._scalars(stage.name, step, {"loss": loss_value, "lr": lr, **logged})
                if stage.validate is not None and step % cfg.val.every_steps == 0:
                    stage.validate()
                    stage.module.train()
                if step % cfg.checkpoint_every == 0:
                    stage.checkpoint()
        finally:
            bar.close()
            prefetch.close()

    def _scalars(self, prefix: str, step: int, values: dict) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def _validate_and_keep_best(self, model) -> None:
        """Score ``model`` (the trained weights, or their average) and keep it if it is the best so far."""
        st = self.state
        if not self.val_clips:
            return
        t0 = time.perf_counter()
        results = validate_model(model, self.config.model, self.model_config, self.val_clips,
                                 self.config.val.flip, self.device)
        for set_name, metrics in results.items():
            self._scalars(f"val_{set_name}", st.step, metrics)
        metric = results["all"]["mpjpe"]
        st.last_val_step = st.step
        st.history.append({"step": st.step, "elapsed_s": round(st.elapsed_s, 1), "val": results})
        log.info("step %d: validation MPJPE %.1f mm (%s) in %.1f s", st.step, metric,
                 ", ".join(f"{k} {v['mpjpe']:.1f}" for k, v in results.items()), time.perf_counter() - t0)
        if metric < st.best_metric:
            _save_state_dict(model.state_dict(), self.out / BEST_FILE)
            self._record_best(st.step, results)

    # -- export --------------------------------------------------------------------------
    def export_path(self) -> Path:
        from ..inference.weights import default_weights_path

        spec = self.config.export_path
        if spec == "default":
            return default_weights_path(self.config.model)
        if spec:
            return Path(spec.format(model=self.config.model))
        return self.out / f"{self.config.model}.safetensors"

    def export(self) -> Path:
        """Write the best weights (fp16) + model card to :meth:`export_path`."""
        from ..inference.weights import save_weights

        best = self.out / BEST_FILE
        state = _load_state_dict(best) if best.is_file() else self.model.state_dict()
        path = self.export_path()
        saved = None
        if (self.out / CONFIG_FILE).is_file():  # the config the run started with (a resume may parse newer code)
            saved = json.loads((self.out / CONFIG_FILE).read_text(encoding="utf-8"))
        card = build_card(self.config, self.model_config, self.state, self.data, self.threads, saved)
        save_weights(state, card, path)
        log.info("exported %s (best step %d, validation MPJPE %.1f mm)", path, self.state.best_step, self.state.best_metric)
        return path


def _autocast(device, precision: str):
    """The context of the training forward pass: ``torch.autocast`` to bfloat16 for ``precision`` "bf16",
    nothing for "fp32"."""
    import contextlib

    import torch

    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _machine(threads: int) -> str:
    import torch

    device = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
              else f"CPU, {os.cpu_count()} cores (shared with other jobs)")
    return f"{platform.machine()} {platform.system()}, {device}, torch {torch.__version__}, {threads} threads"


def _describe(values: dict) -> str:
    """``{a: 1, b: {c: 2}}`` -> ``"a=1, b.c=2"`` (for the card's text fields)."""
    items = []
    for key, value in values.items():
        if isinstance(value, dict):
            items += [f"{key}.{inner}" for inner in _describe(value).split(", ") if inner]
        else:
            items.append(f"{key}={value}")
    return ", ".join(items)


def _model_loss_weights(config: TrainConfig) -> dict:
    """The loss weights that apply to the run's model (``LossConfig`` fields prefixed by its name)."""
    prefix = f"{config.model}_"
    return {k[len(prefix):]: v for k, v in to_dict(config.loss).items() if k.startswith(prefix)}


def flat_metrics(best: dict, prefix: str = "val") -> dict[str, float]:
    """``{set: {metric: mm}}`` -> ``{"val_<set>_<metric>_mm": value}`` (the card's flat metrics)."""
    return {f"{prefix}_{s}_{k}_mm": round(float(v), 2) for s, metrics in best.items() for k, v in metrics.items()}


#: config sections that the model card describes as the run used them
CARD_SECTIONS = ("augment", "camera", "noise", "optim", "pretrain")


def _skeleton_text(config: TrainConfig) -> str:
    """The card's line on the training skeleton: the detector calibration it was mapped onto, or none."""
    from .jointmap import DETECTOR_SKELETON_FILE, detector_skeleton_sha256, load_detector_skeleton

    if not config.data.detector_bones:
        return "each source's own bones (hips and nose mapped to the detector's; data.detector_bones off)."
    calibration = load_detector_skeleton()
    digest = detector_skeleton_sha256()[:12]
    return (f"every source mapped bone by bone onto the detector's measured skeleton (data.detector_bones): "
            f"training/jointmaps/{DETECTOR_SKELETON_FILE.name} (sha256 {digest}..., {calibration.get('date', '?')}), "
            f"the shipped detector triangulated on {', '.join(calibration.get('recordings', []))} "
            "(training.calibrate_skeleton).")


def resumed_changes(started: dict, current: dict) -> str:
    """``"camera.height_m=[0.3, 5.0], ..."``: the fields of :data:`CARD_SECTIONS` in ``current`` that differ
    from the run's start (``started``: the sections of its ``config.json``); "" when none do."""
    return ", ".join(f"{key}.{name}={value}" for key in CARD_SECTIONS
                     for name, value in current[key].items() if started[key].get(name) != value)


#: ``RunState.init_weights["warm_start"]`` of a PoseMoE whose gated router was warm-started from mixture weights
ROUTER_WARM_START = "router mixture -> gate"


def warm_start_text(warm_start: str) -> str:
    """The card's words on how the starting weights were adapted to the run's model (``""``: loaded as they were)."""
    if not warm_start:
        return ""
    if warm_start == ROUTER_WARM_START:
        return f", {warm_start} (the gated router warm-started by inference.models.posemoe.gated_state_from_mixture)"
    if warm_start.startswith("widened "):
        return (f", {warm_start}: every channel, MLP unit and attention head duplicated (input weights split in "
                "halves, with a little noise to break the symmetry) and the added blocks starting as identities, "
                "so that the run started from a network computing what those weights did")
    return f", {warm_start}"


def build_card(config: TrainConfig, model_config: dict, state: RunState, data: RunData, threads: int,
               saved: dict | None = None):
    """The model card of an exported run: config, data + licences, augmentations, metrics, machine.

    ``saved``: the run's ``config.json`` (the settings it trained with); its sections win over
    ``config`` for the description, so re-exporting an old run with newer code stays truthful.
    """
    from ..inference.weights import ModelCard

    current = to_dict(config)
    used = {key: (saved or {}).get(key, current[key]) for key in CARD_SECTIONS}
    changed = resumed_changes(used, current)

    sources_used = sorted({c.source for c in data.train_clips})
    lines = ["Training data:"]
    for source in sources_used:
        clips = [c for c in data.train_clips if c.source == source]
        actors = sorted({str(c.labels["actor"]) for c in clips if "actor" in c.labels})
        parts = sorted({str(c.labels["part"]) for c in clips if "part" in c.labels})
        detail = ", ".join(x for x in (f"parts {'/'.join(parts)}" if parts else "",
                                       f"actors {'/'.join(actors)}" if actors else "") if x)
        lines.append(
            f"- {source} ({detail + '; ' if detail else ''}{len(clips)} clips, "
            f"{sum(c.num_frames for c in clips)} frames): {SOURCE_LICENCES.get(source, 'see its licence')}"
        )
    val_sets = {k: len(v) for k, v in data.val_sets.items()}
    lines.append(f"Validation (held out): {', '.join(f'{k} {n} clips' for k, n in val_sets.items()) or 'none'}; "
                 f"protocol: every {config.val.clip_stride}th clip, first {config.val.max_frames_per_clip} frames, "
                 f"seeded virtual cameras (the run's starting camera and noise settings), 2D noise '{config.val.noise}', "
                 f"flip TTA {config.val.flip}.")
    lines.append(f"Source weights: {_describe(data.source_weights or {})}.")
    lines.append(f"Skeleton: {_skeleton_text(config)}")
    lines.append(f"Augmentations: {_describe(used['augment'])}.")
    lines.append(f"Virtual cameras: {_describe(used['camera'])}.")
    lines.append(f"2D noise: {_describe(used['noise'])}.")
    lines.append(
        f"Optimiser: AdamW {_describe(used['optim'])}; batch {config.batch_size} x "
        f"{model_config['num_frames']} frames; loss weights {_describe(_model_loss_weights(config))}."
    )
    if changed:
        lines.append("Changed when the run was resumed (the settings of its last segment; validation keeps the "
                     f"run's starting cameras and noise; a field the run's start did not have is new in the code): "
                     f"{changed}.")
    if state.init_weights:
        start = state.init_weights
        warm = warm_start_text(start.get("warm_start", ""))
        lines.append(f"Initialised from: {start['file']} ({start['model']}, preset {start['preset']}){warm}, scored "
                     "at step 0 as the first best; no pre-training. How those weights were trained:")
        lines += [f"    {line}" for line in start.get("training_data", "").splitlines()]
    elif config.model == "dtgcn":
        lines.append(f"Pre-training (masked self-distillation): {state.pretrain_step} steps, "
                     f"{state.pretrain_elapsed_s / 60:.1f} min; {_describe(used['pretrain'])}.")
    lines.append(
        f"Training: {state.step} steps, {state.elapsed_s / 60:.1f} min wall clock, {config.precision}; best validation at step "
        f"{state.best_step}; seed {config.seed}; machine: {_machine(threads)}."
    )
    gpu = False
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        pass
    hardware_note = (
        "" if gpu else
        f"Trained on a {os.cpu_count()}-core CPU, the `{config.preset}` config, not the paper size: "
        "no GPU was available."
    )
    licence = "; ".join(SOURCE_LICENCES[s] for s in sources_used if s in SOURCE_LICENCES)
    if "bandai" in sources_used:
        licence += ". Weights trained on Bandai data: non-commercial use only (CC BY-NC 4.0)."
    if state.init_weights and state.init_weights["licence"] not in licence:
        # fine-tuned weights carry the terms of the weights they started from
        licence = f"{licence.rstrip('.')}. Started from {state.init_weights['file']}, whose terms apply too: " \
                  f"{state.init_weights['licence']}"
    return ModelCard(
        model=config.model,
        config=model_config,
        preset=config.preset,
        num_frames=int(model_config["num_frames"]),
        training_data="\n".join(lines),
        licence=licence,
        metrics=flat_metrics(state.best_metrics),
        notes=" ".join(x for x in (hardware_note, config.notes) if x),
    )


def train(config: TrainConfig, *, resume: bool = False, show_progress: bool = True) -> TrainResult:
    """Run (or resume) one training run; returns the run folder and the exported weights path."""
    out = config.resolved_output_dir()
    if not resume and (out / STATE_FILE).is_file():
        raise VideoMocapError(f"{out} already holds a run; add --resume to continue it or choose another --out.")
    import torch

    threads = torch.get_num_threads()
    try:
        return Trainer(config, out, resume=resume, show_progress=show_progress).run()
    finally:
        torch.set_num_threads(threads)  # the run's thread setting does not leak to the caller
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
