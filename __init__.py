"""Video Mocap: a Blender extension and the Python package ``video_mocap``.

This file only registers the Blender add-on. Outside Blender ``import video_mocap``
imports nothing heavy (no bpy): the stages live in ``inference/`` and ``rigging/``.
"""

_MODULE_NAMES = ("blender.preferences", "blender.properties", "operators", "panels", "blender.overlay")


def _modules():
    import importlib

    return [importlib.import_module(f"{__package__}.{name}") for name in _MODULE_NAMES]


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
