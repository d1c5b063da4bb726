"""Packaging glue: the repo root is the package ``video_mocap`` (see pyproject.toml).

setuptools' ``find:`` can't prefix a remapped root, so this lists every sub-package found here.
"""

from setuptools import find_packages, setup

NOT_SHIPPED = ["tests", "tests.*", "bench", "bench.*", "tools", "tools.*", "build", "build.*", "wheels"]

setup(packages=["video_mocap", *(f"video_mocap.{name}" for name in find_packages(".", exclude=NOT_SHIPPED))])
