"""Atomic file writes shared by every stage (temp file in the same folder + rename), and the
one check every command runs on its output and cache paths before any work
(:func:`check_writable_output`, :func:`folder_problem`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import VideoMocapError


_DEFAULT_FILE_MODE = 0o666


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def folder_problem(folder: str | os.PathLike) -> str | None:
    """Why files cannot be written into ``folder`` (made when missing), or None when they can.

    Tries it: a temporary file is made and removed in ``folder``, or in its nearest existing
    parent when ``folder`` is still to be made; nothing is left behind.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        fd, name = tempfile.mkstemp(prefix=".video_mocap-write-test.", dir=existing)
    except OSError as exc:
        where = "" if existing == folder else f" (to make {folder} in)"
        return f"the folder {existing}{where} is not writable ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(name)
    return None


def check_writable_output(path: str | os.PathLike, suffixes: Iterable[str], what: str = "output file") -> Path:
    """``path`` as a Path once it can be written, else :class:`VideoMocapError` saying what is
    wrong and what to do: checked before any work, so a run never fails at its end.

    Args:
        path: the file a command will write (atomically: an existing file is replaced).
        suffixes: the known types, e.g. ``(".npz",)``; compared case-insensitively.
        what: what the file is, for the message ("2D track file", "3D motion file"...).
    """
    path = Path(path)
    known = tuple(s.lower() for s in suffixes)
    types = " or ".join(known)
    if path.is_dir():
        raise VideoMocapError(f"The {what} {path} is an existing folder; give a file name ending in {types}.")
    if path.exists() and not path.is_file():
        raise VideoMocapError(f"The {what} {path} exists and is not a regular file; give another file name ending in {types}.")
    if path.suffix.lower() not in known:
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise VideoMocapError(f"The {what} {path} has {shown}, not a known type; give a file name ending in {types}.")
    problem = folder_problem(path.parent)
    if problem is not None:
        raise VideoMocapError(f"Cannot write the {what} {path}: {problem}. Choose another output path.")
    return path


def check_writable_folder(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """``folder`` as a Path once files can be written into it (made when missing), else
    :class:`VideoMocapError` saying why and what to do (:func:`folder_problem`)."""
    problem = folder_problem(folder)
    if problem is not None:
        raise VideoMocapError(f"Cannot write the {what} {folder}: {problem}. Choose another folder.")
    return Path(folder)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On error the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _DEFAULT_FILE_MODE & ~_current_umask())  # mkstemp makes 0600 files
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` through a temp file + rename, so readers never see a half-written file."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
