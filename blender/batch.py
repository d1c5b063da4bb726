"""Headless batch inside Blender: many videos -> one animation file each.

    blender -b -P <extension folder>/blender/batch.py -- VIDEO... --out DIR [--format blend|fbx|bvh|npz]
                                               [--model dtgcn|posemoe] [--device D] [...]

Everything after ``--`` takes the options of ``video-mocap estimate`` (see ``cli/estimate.py``);
the default format here is ``blend``. The package is imported from this script's folder, so this
works from a source checkout and from an installed extension alike. A failed clip is reported in
one line and the others go on. Exit status as ``video-mocap estimate``'s (the README's table): 0 all
written, 1 some clips failed, 2 every clip failed or bad usage.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGE_NAME = "video_mocap"
DEFAULT_FORMAT = "blend"


def script_args(argv: list[str]) -> list[str]:
    """The arguments after ``--`` (Blender's own options come before it)."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]


def load_package(folder: Path):
    """Import the package that lives in ``folder`` (whatever the folder is called)."""
    loaded = sys.modules.get(PACKAGE_NAME)
    if loaded is not None and Path(loaded.__file__).resolve().parent == folder:
        return loaded
    spec = importlib.util.spec_from_file_location(
        PACKAGE_NAME, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    load_package(Path(__file__).resolve().parents[1])
    estimate_cli = importlib.import_module(f"{PACKAGE_NAME}.cli.estimate")
    errors = importlib.import_module(f"{PACKAGE_NAME}.core.errors")
    try:
        return estimate_cli.main(script_args(argv), prog="blender -b -P blender/batch.py --", folder_format=DEFAULT_FORMAT)
    except errors.VideoMocapError as exc:
        print(f"batch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
