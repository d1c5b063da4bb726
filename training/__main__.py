"""``python -m video_mocap.training train|eval ...`` (same as ``video-mocap train|eval``)."""

from __future__ import annotations

import sys

from ..cli import main as cli_main

#: the sub-commands this entry point accepts
COMMANDS = ("train", "eval")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m video_mocap.training {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
