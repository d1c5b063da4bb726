"""DDP training with real processes: ``torchrun --nproc_per_node 2`` (Gloo on CPU) against one process.

The global batch is cut into shards that each rank renders from its own seed, so two processes
train on the very windows one process sees: the logged loss of every step and the weights match
within float tolerance (Gloo sums the gradients in another order). A run stopped after 2 steps on
2 processes and resumed on 1 ends where an uninterrupted 1-process run ends.
A tiny DTGCN on real mocap (DeepMimic from ../shared), no pre-training, no dropout,
a constant learning rate after warm-up (so a run's step budget does not change its schedule).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

DEEPMIMIC = Path("data/mocap/deepmimic/deepmimic_h36m.npz")
STEPS = 4
HALF = 2
#: two shards of 16 windows: one per rank on 2 processes
BATCH = 32
TIMEOUT_S = 300


def _config(shared_dir: Path, out: Path) -> dict:
    return {
        "model": "dtgcn",
        "preset": "tiny",
        "model_config": {"dim": 16, "depth": 2, "heads": 2, "head_dim": 32, "drop_path": 0.0, "dropout": 0.0},
        "num_frames": 9,
        "batch_size": BATCH,
        "steps": STEPS,
        "threads": 1,
        "seed": 7,
        "output_dir": str(out),
        "checkpoint_every": HALF,
        "log_every": 1,
        "optim": {"lr_final_ratio": 1.0, "warmup_steps": 2},
        "pretrain": {"steps": 0},
        "val": {"every_steps": 1000, "clip_stride": 16, "max_frames_per_clip": 20},
        "data": {"sources": ["deepmimic"], "mocap_dir": str(shared_dir / "data" / "mocap")},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(config: Path, processes: int, *extra: str) -> None:
    """``video-mocap train CONFIG``: in this process for 1, under torchrun (real processes) for more."""
    argv = [str(config), "--quiet", *extra]
    if processes == 1:
        from video_mocap.cli.train import main

        assert main(argv) == 0
        return
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                "--master_port", str(_free_port())]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*launcher, "-m", "video_mocap.training", "train", *argv],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _losses(run: Path) -> dict[int, float]:
    """step -> the training loss rank 0 logged (TensorBoard)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values: dict[int, float] = {}
    for events in sorted((run / "tb").iterdir()):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        values.update({e.step: e.value for e in accumulator.Scalars("train/loss")})
    return values


def _weights(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


@pytest.fixture(scope="module")
def runs(shared_dir, tmp_path_factory):
    if not (shared_dir / DEEPMIMIC).is_file():
        pytest.skip("DeepMimic sequence file missing from ../shared")
    root = tmp_path_factory.mktemp("ddp")
    configs = {}
    for name in ("one", "two"):
        configs[name] = root / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(_config(shared_dir, root / name)))
    _train(configs["one"], 1)
    _train(configs["two"], 2, "--steps", str(HALF))
    first_half = {"losses": _losses(root / "two"), "weights": _weights(root / "two")}
    _train(configs["two"], 1, "--resume")
    return {"one": root / "one", "two": root / "two", "two_first_half": first_half}


def test_two_processes_train_as_one_on_the_same_global_batch(runs):
    one, two = _losses(runs["one"]), runs["two_first_half"]["losses"]
    assert sorted(two) == list(range(1, HALF + 1)) and sorted(one) == list(range(1, STEPS + 1))
    for step in two:
        assert two[step] == pytest.approx(one[step], rel=1e-4), f"step {step}: 2 processes {two[step]}, 1 {one[step]}"
    assert one[1] != one[2], "the steps see different windows"


def test_resumed_on_one_process_ends_as_the_uninterrupted_run(runs):
    import json

    state = json.loads((runs["two"] / "state.json").read_text())
    assert state["step"] == STEPS and state["stage"] == "done"
    one, resumed = _losses(runs["one"]), _losses(runs["two"])
    for step in range(HALF + 1, STEPS + 1):
        assert resumed[step] == pytest.approx(one[step], rel=1e-4), f"step {step}"
    final_one, final_resumed = _weights(runs["one"]), _weights(runs["two"])
    assert final_one.keys() == final_resumed.keys()
    # Adam's first steps move a weight by about lr whatever the size of its gradient, so a gradient
    # near 0 whose sign rounding flips moves a few weights apart: compare the whole weight vector
    diff = np.sqrt(sum(float(np.sum((final_one[k] - final_resumed[k]) ** 2)) for k in final_one))
    norm = np.sqrt(sum(float(np.sum(final_one[k] ** 2)) for k in final_one))
    assert diff / norm < 1e-3, f"weights differ by {diff / norm:.2e} of their norm"
    assert (runs["two"] / "dtgcn.safetensors").is_file()
