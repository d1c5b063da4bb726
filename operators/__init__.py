"""Blender operators: Detect People, Estimate 3D Pose, Apply to Armature, Jump to Frame (review).

Registration imports only bpy; the stages (OpenCV, torch, ONNX Runtime) are imported lazily
inside ``execute``/``modal`` so the extension registers without them.
"""

import bpy

from ..blender.jobs import stop_watching

_register_classes, _unregister_classes = bpy.utils.register_submodule_factory(__name__, ("detect", "estimate", "apply", "review"))


def register() -> None:
    _register_classes()


def unregister() -> None:
    stop_watching()  # the status-bar watcher of a cancelled job still winding down
    _unregister_classes()
