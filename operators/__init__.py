"""Blender operators: Detect People, Estimate 3D Pose, Apply to Armature.

Registration imports only bpy; the stages (OpenCV, torch, ONNX Runtime) are imported lazily
inside ``execute``/``modal`` so the extension registers without them.
"""

import bpy

register, unregister = bpy.utils.register_submodule_factory(__name__, ("detect", "estimate", "apply"))
