"""Run every benchmark and print one table of the figures against their targets (bench/targets.py).

    YOLO_OFFLINE=1 nice -n 5 .venv/bin/python -m bench.run_all            # run all (about 20-30 min on 2 cores)
    .venv/bin/python -m bench.run_all --reuse                             # only read bench/results/*.json
    .venv/bin/python -m bench.run_all --only real_video memory            # run some, reuse the rest

The benches are collected from the ``bench`` package: every module with a ``BENCH`` entry
(:class:`bench.common.Bench`: its results name, arguments, order and the inputs it needs) and a
``run(argv)``. Each runs in its own process (``python -m bench.<module>``: its timings and memory
are its own) and writes its figures to ``bench/results/<name>.json`` beside its Markdown report;
this script reads those files through :data:`bench.targets.FIGURE_FUNCS`. A figure whose JSON is
missing shows as "not measured"; a bench whose inputs a clone lacks is skipped with a message and
its last results are shown. The table (Markdown) goes to stdout and, with ``--out``, to a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from . import common
from .common import REPO, RESULTS, Bench
from .targets import FIGURE_FUNCS, Figure, zip_figures

#: modules of the package that are not benches
NOT_BENCHES = {"common", "targets", "run_all"}


def collect_benches() -> dict[str, tuple[ModuleType, Bench]]:
    """Every bench module of the package that has a ``BENCH`` entry, by results name, in run order."""
    import bench

    found = []
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name in NOT_BENCHES:
            continue
        try:
            module = importlib.import_module(f"bench.{info.name}")
        except Exception as exc:  # one broken module must not hide the other benches' results
            print(f"[run_all] bench.{info.name} not collected: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        spec = getattr(module, "BENCH", None)
        if isinstance(spec, Bench) and callable(getattr(module, "run", None)):
            found.append((spec.order, spec.results, module, spec))
    return {name: (module, spec) for _, name, module, spec in sorted(found, key=lambda f: (f[0], f[1]))}


def load(name: str) -> Any | None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def stamp(name: str) -> str:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return "-"
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def collect() -> list[Figure]:
    figures: list[Figure] = []
    for name, func in FIGURE_FUNCS:
        figures += func(load(name))
    return figures + zip_figures()


def mark(ok: bool | None) -> str:
    return {True: "✅", False: "❌", None: "-"}[ok]


def table(figures: list[Figure]) -> str:
    lines = [
        f"Machine: {common.machine()}. Date: {common.utc_now()} (load average now {common.load_avg()}).",
        "",
        "| group | figure | target | measured | | results (measured at, UTC) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        lines.append(f"| {f.group} | {f.name} | {f.target} | {f.measured} | {mark(f.ok)} "
                     f"| [{f.source}.md](bench/results/{f.source}.md) ({stamp(f.source)}) |")
    passed = sum(f.ok is True for f in figures)
    failed = sum(f.ok is False for f in figures)
    lines += ["", f"{passed} met, {failed} missed, {sum(f.ok is None for f in figures)} informational / not measured."]
    return "\n".join(lines) + "\n"


def run_bench(name: str, module: ModuleType, spec: Bench) -> bool:
    """Run one bench in its own process; a bench whose inputs are missing is skipped (True: not a failure)."""
    missing = common.missing_inputs(spec)
    if missing:
        print(f"[run_all] {name}: skipped, {', '.join(map(str, missing))} missing"
              + (f" ({spec.needs_hint})" if spec.needs_hint else "") + "; its last results are shown",
              file=sys.stderr)
        return True
    short = module.__name__.rsplit(".", 1)[-1]
    cmd = common.module_command(short, spec.argv)
    env = dict(os.environ, YOLO_OFFLINE="1")
    start = time.perf_counter()
    print(f"[run_all] {name}: {common.command(short, spec.argv)}", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=REPO, env=env, check=False)
    print(f"[run_all] {name}: exit {done.returncode} after {time.perf_counter() - start:.0f} s", file=sys.stderr,
          flush=True)
    if done.returncode == 0 and spec.copy_after is not None:
        src, dst = spec.copy_after
        if src.is_file():
            from video_mocap.core.atomic import write_text_atomic

            write_text_atomic(dst, src.read_text(encoding="utf-8"))
    return done.returncode == 0


def run(argv: list[str] | None = None) -> int:
    benches = collect_benches()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reuse", action="store_true", help="run nothing; read bench/results/*.json")
    names = ", ".join(benches)
    parser.add_argument("--only", nargs="+", choices=list(benches), metavar="NAME",
                        help=f"run only these, reuse the rest ({names})")
    parser.add_argument("--skip", nargs="+", choices=list(benches), default=[], metavar="NAME",
                        help="do not run these (reuse)")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    args = parser.parse_args(argv)
    failed = []
    if not args.reuse:
        chosen = args.only or [name for name, (_, spec) in benches.items() if spec.in_run_all]
        for name in chosen:
            if name not in args.skip and not run_bench(name, *benches[name]):
                failed.append(name)
    text = table(collect())
    print(text)
    if args.out:
        from video_mocap.core.atomic import write_text_atomic

        write_text_atomic(args.out, text)
    if failed:
        print(f"[run_all] failed: {', '.join(failed)} (their old results, if any, are shown)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run())
