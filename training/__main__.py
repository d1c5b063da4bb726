"""``python -m video_mocap.training train|eval|sample ...`` (same as ``video-mocap train|eval|sample``).

Kept for ``torchrun ... -m video_mocap.training train CONFIG``: it hands the command line to the
``video-mocap`` dispatcher (:mod:`video_mocap.cli`), which holds every command.
"""

from __future__ import annotations

import sys

from ..cli import main as cli_main

#: the sub-commands this entry point accepts
COMMANDS = ("train", "eval", "sample")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m video_mocap.training {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
