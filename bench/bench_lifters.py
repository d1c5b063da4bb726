"""Benchmark the lifters: parameters, MACs per frame, CPU frames/s and peak memory per model x preset.

    .venv/bin/python -m bench.bench_lifters                    # all models x presets -> bench/results/lifters.md
    .venv/bin/python -m bench.bench_lifters --models dtgcn --presets tiny --repeats 5

Each (model, preset) runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``)
is its own. Throughput: eval mode, ``torch.inference_mode``, ``--threads`` CPU threads, batches of
``--batch`` windows of the preset's ``num_frames``; the median of ``--repeats`` timed calls after
one warm-up. MACs: ``torch.utils.flop_counter.FlopCounterMode`` FLOPs / 2 for one window, per frame.
Random-init weights: speed and size do not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import common

DEFAULT_OUT = common.RESULTS / "lifters.md"
KIB_PER_MIB = 1024.0
FLOPS_PER_MAC = 2.0
MODELS = ("posemoe", "dtgcn", "mlp")
PRESETS = ("tiny", "small", "paper")

log = logging.getLogger("bench_lifters")


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of CPU fused attention (FlopCounterMode does not count it): Q K^T and (softmax) V."""
    batch, heads, length, channels = query_shape
    keys, value_channels = key_shape[-2], value_shape[-1]
    return 2 * batch * heads * length * keys * (channels + value_channels)


def _measure(model_name: str, preset: str, threads: int, batch: int, repeats: int) -> dict:
    """Runs in the child process."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from video_mocap.inference.models import build_model, preset_config

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = preset_config(model_name, preset)
    model = build_model(model_name, cfg).eval()
    frames = cfg.num_frames
    params = sum(p.numel() for p in model.parameters())
    window = torch.randn(1, frames, 17, 3)
    with torch.inference_mode():
        custom = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
        with FlopCounterMode(display=False, custom_mapping=custom) as counter:
            model(window)
    macs_per_frame = counter.get_total_flops() / FLOPS_PER_MAC / frames
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    x = torch.randn(batch, frames, 17, 3)
    times = []
    with torch.inference_mode():
        model(x)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = statistics.median(times)
    return {
        "model": model_name,
        "preset": preset,
        "params": params,
        "num_frames": frames,
        "macs_per_frame": macs_per_frame,
        "frames_per_s": batch * frames / seconds,
        "seconds_per_call": seconds,
        "batch": batch,
        "peak_rss_mib": rss_peak / KIB_PER_MIB,
        "inference_rss_mib": (rss_peak - rss_before) / KIB_PER_MIB,
    }


def _run_child(model_name: str, preset: str, args: argparse.Namespace) -> dict:
    command = common.module_command("bench_lifters", ["--child", model_name, preset, "--threads", str(args.threads),
                                                       "--batch", str(args.batch), "--repeats", str(args.repeats)])
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=common.REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{model_name}/{preset} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(rows: list[dict], args: argparse.Namespace) -> str:
    sizes = ["--threads", str(args.threads), "--batch", str(args.batch), "--repeats", str(args.repeats)]
    lines = [
        "# Lifter benchmark",
        "",
        f"Command: `{common.command('bench_lifters', sizes)}`",
        "",
        f"Machine: {common.machine()} (Python {platform.python_version()}); {args.threads} torch threads; "
        "figures are medians of "
        f"{args.repeats} calls on batches of {args.batch} windows, random-init weights (speed does not "
        f"depend on the values). Other engineers were using the same {os.cpu_count()} cores, so frames/s are lower "
        "bounds.",
        "",
        "Raw network throughput; `lift_sequence` with flip TTA (the default) runs every window twice "
        "(about half these frames/s) and windows overlap by 1/3 (x1.5 more frames): end-to-end "
        "video frames/s are roughly these / 3.",
        "",
        "| model | preset | params | window (frames) | MACs / frame | frames/s (CPU) | peak RSS (MiB) | inference RSS (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['preset']} | {r['params'] / 1e6:.2f}M | {r['num_frames']} | "
            f"{r['macs_per_frame'] / 1e6:.1f}M | {r['frames_per_s']:.0f} | {r['peak_rss_mib']:.0f} | "
            f"{r['inference_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "MACs: `torch.utils.flop_counter.FlopCounterMode` FLOPs / 2 for one window, divided by its frames "
        "(matrix products and attention, fused CPU attention counted by hand as 2·L·S·(E+Ev); element-wise "
        "ops are not counted). Peak RSS: the whole process "
        "(Python + torch + model); inference RSS: growth of the peak during the timed calls.",
        "",
    ]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2, help="windows per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--append", action="store_true", help="append the table to --out instead of replacing it")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "PRESET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.child[0], args.child[1], args.threads, args.batch, args.repeats)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from tqdm import tqdm

    from video_mocap.core.atomic import write_text_atomic

    rows = []
    for model_name in tqdm(args.models, desc="models"):
        for preset in args.presets:
            row = _run_child(model_name, preset, args)
            log.info("%s/%s: %.2fM params, %.1fM MACs/frame, %.0f frames/s", model_name, preset,
                     row["params"] / 1e6, row["macs_per_frame"] / 1e6, row["frames_per_s"])
            rows.append(row)
    text = _table(rows, args)
    if args.append and args.out.is_file():
        text = args.out.read_text(encoding="utf-8") + "\n" + text
    write_text_atomic(args.out, text)
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(rows, indent=1))  # for bench/run_all.py
    log.info("wrote %s", args.out)
    return 0


BENCH = common.Bench("lifters", ("--repeats", "1", "--out", "out/bench/lifters.md"), order=20,
                     copy_after=(common.OUT / "lifters.json", common.RESULTS / "lifters.json"))

if __name__ == "__main__":
    sys.exit(run())
