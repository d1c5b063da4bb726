"""Blender panels: the "Mocap" tab in the 3D Viewport sidebar and in the Movie Clip Editor. Panels only draw."""

from __future__ import annotations

import importlib

_MODULE_NAMES = ("mocap", "overlay")


def _modules():
    return [importlib.import_module(f".{name}", __package__) for name in _MODULE_NAMES]


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
