"""The benchmarks: one module per bench (``run(argv) -> int`` and a ``BENCH`` entry), run from the repo root.

    .venv/bin/python -m bench.run_all --reuse        # the table of figures against bench/targets.py
    .venv/bin/python -m bench.bench_detect --help    # one bench

Shared paths, models, data and the report header: :mod:`bench.common`; the targets: :mod:`bench.targets`.
Not shipped (setup.py and the extension build exclude ``bench/``).
"""
