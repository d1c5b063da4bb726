"""The package's layers, read from the source: which folder may import which, and no cycles.

Layers (see DEVELOPERS.md): ``core`` (pure numpy, imports nothing else of ours), ``inference``,
``rigging`` (the math), ``training``, ``pipeline``, ``cli``, and the Blender folders ``blender``,
``operators`` and ``panels``, the only ones that may import bpy. Lazy imports inside functions
count too: a layer that needs another at run time depends on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "video_mocap"

BLENDER_LAYERS = {"blender", "operators", "panels"}
#: layer -> the layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "inference": {"core"},
    "rigging": {"core"},
    "training": {"core", "inference", "rigging"},
    "pipeline": {"core", "inference", "rigging"},
    "cli": {"core", "inference", "rigging", "training", "pipeline", "blender"},
    "blender": {"core", "inference", "rigging", "pipeline", "cli"},
    "operators": {"core", "inference", "rigging", "pipeline", "blender"},
    "panels": {"core", "inference", "rigging", "blender"},
}
#: modules that only Blender provides
BPY_MODULES = {"bpy", "bpy_extras", "mathutils", "gpu", "gpu_extras", "addon_utils", "bmesh", "bl_ui"}
#: torch-side packages: never imported by core
HEAVY_MODULES = {"torch", "ultralytics", "onnxruntime", "onnx", "cv2"}


def package_modules() -> dict[str, Path]:
    """Dotted module name inside the package (``inference.lifter``) -> its file."""
    modules = {}
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] not in ALLOWED or any(part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """Every import in the file (lazy ones too): (absolute name, line); ours relative to the package."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                if base == PACKAGE or base.startswith(PACKAGE + "."):
                    base = "@" + base[len(PACKAGE) + 1 :]
                found += [(base, node.lineno)]
                continue
            anchor = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            if node.module:
                found.append(("@" + base, node.lineno))
            else:  # from . import a, b: each name may be a module
                found += [("@" + ".".join([*anchor, alias.name]), node.lineno) for alias in node.names]
    return found


def is_entry_point(module: str) -> bool:
    """``python -m video_mocap.training``: a ``__main__`` is a command line, like ``cli/``."""
    return module.rsplit(".", 1)[-1] == "__main__"


def layer_of(name: str) -> str:
    return name.lstrip("@").split(".")[0]


@pytest.fixture(scope="module")
def graph() -> dict[str, list[tuple[str, int]]]:
    return {module: imports_of(module, path) for module, path in package_modules().items()}


def test_only_blender_folders_import_bpy(graph):
    offenders = [f"{m}:{line} imports {name}" for m, deps in graph.items() for name, line in deps
                 if not name.startswith("@") and name.split(".")[0] in BPY_MODULES
                 and layer_of(m) not in BLENDER_LAYERS]
    assert not offenders, "bpy outside blender/, operators/, panels/:\n" + "\n".join(offenders)


def test_core_is_pure(graph):
    offenders = [f"{m}:{line} imports {name}" for m, deps in graph.items() if layer_of(m) == "core"
                 for name, line in deps if not name.startswith("@") and name.split(".")[0] in HEAVY_MODULES]
    assert not offenders, "core imports a heavy runtime:\n" + "\n".join(offenders)


def test_layers_import_only_what_they_may(graph):
    offenders = []
    for module, deps in graph.items():
        layer = "cli" if is_entry_point(module) else layer_of(module)
        for name, line in deps:
            if name.startswith("@") and name != "@" and layer_of(name) != layer and layer_of(name) in ALLOWED:
                if layer_of(name) not in ALLOWED[layer]:
                    offenders.append(f"{module}:{line} ({layer}) imports {name[1:]} ({layer_of(name)})")
    assert not offenders, "layer rule broken:\n" + "\n".join(offenders)


def test_no_import_cycles_between_packages(graph):
    """Sub-packages (``inference``, ``inference.models``, ``operators``, ...) form no cycle.

    A ``__main__`` is a command line (see :func:`is_entry_point`): nothing imports it, so its
    imports (``training/__main__`` hands over to ``cli``) cannot close a cycle and are left out.
    """
    modules = package_modules()
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}

    def package_of(module: str) -> str:
        while module not in packages:
            module = module.rpartition(".")[0]
        return module

    edges: dict[str, set[str]] = {}
    for module, deps in graph.items():
        if is_entry_point(module):
            continue
        for name, _ in deps:
            target = name[1:]
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and package_of(target) != package_of(module):
                edges.setdefault(package_of(module), set()).add(package_of(target))
    cycles = []
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in path and len(path) < 6:
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, "import cycles between packages:\n" + "\n".join(sorted(set(cycles)))
