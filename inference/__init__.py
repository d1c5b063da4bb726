"""Inference stages that run without Blender: 2D detection, lifting to 3D, trajectory."""
