"""The lifter registry: which 2D-to-3D lifters exist, which ones users pick, and the default.

Pure data (no torch), so the panel, the CLIs, the model cards and the benches read one list.
The networks themselves live in ``inference/models/<name>.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LifterInfo:
    """One lifter: its registry name, its label in the UI, and one line on what it is."""

    name: str
    label: str
    description: str
    #: offered to users (panel, ``estimate``); the others are baselines for the benches
    user_facing: bool = True


LIFTERS: tuple[LifterInfo, ...] = (
    LifterInfo("dtgcn", "DTGCN", "Dual-stream Transformer and graph network (the default: the lower error on "
               "mocap and real video, the steadier motion)"),
    LifterInfo("posemoe", "PoseMoE", "2D-pose and depth experts with a router (steadier raw bone lengths on some "
               "clips; the armature's bones are constant either way)"),
    LifterInfo("mlp", "MLP", "Martinez et al.'s fully connected baseline (benches only)", user_facing=False),
)

#: every lifter with a model file (model cards name one of these)
LIFTER_NAMES: tuple[str, ...] = tuple(info.name for info in LIFTERS)
#: the lifters a user can choose, the default first
USER_LIFTERS: tuple[str, ...] = tuple(info.name for info in LIFTERS if info.user_facing)
#: the lifter used unless one is chosen: DTGCN has the lower error on held-out mocap (P-MPJPE 49.4 against
#: PoseMoE's 55.0 mm, velocity 7.1 against 10.3 mm/frame) and on real video against a 4-view reference
#: (69.1 against 76.1 mm, every view), and lifts faster (BENCHMARKS.md)
DEFAULT_LIFTER = "dtgcn"
