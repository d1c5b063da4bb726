"""Blender panels: the "Mocap" tab in the 3D Viewport sidebar and in the Movie Clip Editor. Panels only draw."""

import bpy

register, unregister = bpy.utils.register_submodule_factory(__name__, ("mocap",))
