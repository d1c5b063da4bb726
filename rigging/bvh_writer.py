"""Write a solved motion as a BVH file (pure numpy, atomic; Blender's BVH importer reads it).

Layout: one BVH joint per armature bone (:data:`.solve.BONE_NAMES`), at the bone's head;
``OFFSET`` = rest head minus the parent's rest head; bones without children end in an
``End Site`` at their tail. Axes: Y up, the subject's front (Blender -Y) towards +Z, i.e.
Blender (x, y, z) -> BVH (x, z, -y), which Blender's importer (forward -Z, up Y) maps back.
Units: metres. Channels: the root has ``Xposition Yposition Zposition Zrotation Xrotation
Yrotation`` (absolute root position), the others ``Zrotation Xrotation Yrotation`` in degrees
(rotation = Rz * Rx * Ry, relative to the parent, axes aligned with the rest pose).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core.errors import VideoMocapError
from ..core.atomic import write_text_atomic
from .solve import SolvedMotion, deltas_from_rotations

#: Blender world (Z up, front -Y) -> BVH (Y up, front +Z)
BLENDER_TO_BVH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
EULER_ORDER = "ZXY"
DECIMALS = 6


def _fmt(values) -> str:
    return " ".join(f"{v:.{DECIMALS}f}" for v in values)


def bvh_text(solved: SolvedMotion) -> str:
    """The BVH file contents of ``solved`` (see module docstring)."""
    from scipy.spatial.transform import Rotation

    solved.validate()
    c = BLENDER_TO_BVH
    names, parents = solved.bone_names, solved.parents
    heads = solved.rest_heads @ c.T
    tails = solved.rest_tails @ c.T
    children: dict[int, list[int]] = {i: [] for i in range(len(names))}
    for i, p in enumerate(parents):
        if p >= 0:
            children[p].append(i)

    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        pad = "  " * depth
        offset = heads[i] if parents[i] < 0 else heads[i] - heads[parents[i]]
        kind = "ROOT" if parents[i] < 0 else "JOINT"
        lines.append(f"{pad}{kind} {names[i]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {_fmt(offset)}")
        if parents[i] < 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation")
        else:
            lines.append(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation")
        for child in children[i]:
            emit(child, depth + 1)
        if not children[i]:
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {_fmt(tails[i] - heads[i])}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    roots = [i for i, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise VideoMocapError(f"A BVH file needs exactly one root bone, the motion has {len(roots)}.")
    emit(roots[0], 0)

    # joint order in the file = depth-first order of emit()
    order: list[int] = []

    def walk(i: int) -> None:
        order.append(i)
        for child in children[i]:
            walk(child)

    walk(roots[0])
    deltas = deltas_from_rotations(solved.rotations, solved.rest_heads, solved.rest_tails)  # (T, J, 3, 3)
    t = deltas.shape[0]
    parent_d = np.stack([deltas[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3)) for p in parents], axis=1)
    local = np.einsum("tjba,tjbc->tjac", parent_d, deltas)  # parent^T @ own, world axes
    local_bvh = np.einsum("ab,tjbc,dc->tjad", c, local, c)
    euler = Rotation.from_matrix(local_bvh.reshape(-1, 3, 3)).as_euler(EULER_ORDER, degrees=True).reshape(t, -1, 3)
    root_pos = solved.root_world @ c.T
    columns = [root_pos] + [euler[:, j] for j in order]
    table = np.concatenate(columns, axis=1)
    step = float(np.median(np.diff(solved.frames))) if t > 1 else 1.0
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {step / solved.fps:.8f}"]
    lines += [_fmt(row) for row in table]
    return "\n".join(lines) + "\n"


def write_bvh(solved: SolvedMotion, path: str | os.PathLike) -> Path:
    """Write ``solved`` to ``path`` as BVH (atomically: temp file + rename).

    Raises:
        VideoMocapError: invalid motion (nothing is written).
    """
    text = bvh_text(solved)
    return write_text_atomic(path, text)
