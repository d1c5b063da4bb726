"""Blender operators: Detect People, Estimate 3D Pose, Apply to Armature.

Registration imports only bpy; the stages (OpenCV, torch, ONNX Runtime) are imported lazily
inside ``execute``/``modal`` so the extension registers without them.
"""

from __future__ import annotations

import importlib

_MODULE_NAMES = ("detect", "estimate", "apply")


def _modules():
    return [importlib.import_module(f".{name}", __package__) for name in _MODULE_NAMES]


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
