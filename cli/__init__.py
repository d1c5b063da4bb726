"""The ``video-mocap`` command: one sub-command per stage.

Each sub-command is a module of this package (``cli/<command>.py``, ``-`` spelt ``_``) with
``build_parser()`` and ``main(argv) -> int``; the options they share and the progress bar are in
:mod:`.common`. This file only dispatches, so ``video-mocap --help`` stays fast (no torch import).
User errors (:class:`VideoMocapError`) print one clear line and exit with status 2.

Exit statuses, the same for every command (the README's table):

- 0 ``EXIT_OK``: done, everything asked for was written;
- 1 ``EXIT_SOME_FAILED``: a batch (``estimate`` with several videos) where some clips failed and
  the others were written (each failure has its own ``FAILED`` line);
- 2 ``EXIT_BAD_INPUT``: bad input or usage, nothing written (one line says what is wrong and what
  to do); ``estimate`` when every clip failed;
- 3 ``EXIT_BUG``: an internal error (a bug): its traceback, then one line asking to report it;
- 130 ``EXIT_CANCELLED``: cancelled (Ctrl-C), nothing written, earlier outputs left as they were.

``argparse`` usage errors exit 2 by themselves.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback

from ..core.errors import Cancelled, VideoMocapError

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BUG = 3
EXIT_CANCELLED = 130

#: sub-command -> (module relative to this package, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "detect": (".detect", "video -> 2D track file (.npz): YOLO pose + tracking"),
    "lift": (".lift", "2D track file -> 3D motion file (.npz): PoseMoE or DTGCN"),
    "estimate": (".estimate", "videos -> .blend / .fbx / .bvh / .npz (the whole pipeline)"),
    "train": (".train", "train a lifter from a YAML config"),
    "eval": (".eval", "evaluate lifter weights on mocap (BVH folder or 3D sequence .npz)"),
    "export-onnx": (".export_onnx", "export lifters and the YOLO detector to ONNX"),
    "sample": (".sample", "time the training-window sampler on the training data; draw a contact sheet"),
}


def _usage() -> str:
    lines = ["usage: video-mocap COMMAND [options]   (video-mocap COMMAND --help for more)", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return EXIT_OK if argv else EXIT_BAD_INPUT
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"video-mocap: unknown command '{command}'.\n\n{_usage()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    module = importlib.import_module(COMMANDS[command][0], __package__)
    try:
        return int(module.main(rest) or 0)
    except VideoMocapError as exc:
        print(f"video-mocap {command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Cancelled):
        print(f"video-mocap {command}: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception:  # a bug, not the user's input: keep the traceback for the report
        traceback.print_exc()
        print(f"video-mocap {command}: internal error (a bug); please report it with the traceback above.",
              file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
