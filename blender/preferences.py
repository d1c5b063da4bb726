"""Add-on preferences: device, folders, detector model, downloads, and what runtime is installed.

Registration imports only bpy: the runtime report (:mod:`video_mocap.inference.runtime`) finds
packages without importing torch or OpenCV, so the extension registers (and says what is missing)
without them.
"""

from __future__ import annotations

import logging
import sys

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy.types import AddonPreferences

from ..core.errors import VideoMocapError
from ..inference import runtime

log = logging.getLogger(__name__)

#: the add-on's module name: ``video_mocap`` when installed as a package, ``bl_ext.<repo>.video_mocap`` as an extension
ADDON_ID: str = __package__.rpartition(".")[0]  # the add-on is the package above blender/

DEVICE_ITEMS = (
    ("AUTO", "Auto", "GPU when the runtime has one, otherwise CPU"),
    ("CPU", "CPU", "Always run the networks on the CPU"),
    ("CUDA", "CUDA GPU", "NVIDIA GPU through CUDA (needs a CUDA build of PyTorch or ONNX Runtime)"),
)


def online_access_allowed() -> bool:
    """Blender's global "Allow Online Access" switch (4.2+); True on older versions."""
    return bool(getattr(bpy.app, "online_access", True))


def _python_packages_changed(self, context) -> None:
    # a named function: a lambda here would be compiled by Blender from the annotation string
    # (``from __future__ import annotations``) without this module's globals, and fail on every edit
    use_python_packages(self.python_packages)


class VIDEO_MOCAP_AP_preferences(AddonPreferences):
    bl_idname = ADDON_ID

    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="AUTO")
    weights_dir: StringProperty(
        name="Weights Folder",
        description="Folder with the lifter weights (<model>.safetensors + .json); empty: the shipped weights",
        subtype="DIR_PATH",
        default="",
    )
    detector_model: StringProperty(
        name="Detector Model",
        description="YOLO pose model file (.pt or .onnx); empty: the model shipped in the extension",
        subtype="FILE_PATH",
        default="",
    )
    cache_dir: StringProperty(
        name="Cache Folder",
        description="Where 2D tracks and 3D motions are cached so re-applying skips the networks; empty: the default",
        subtype="DIR_PATH",
        default="",
    )
    python_packages: StringProperty(
        name="Python Packages",
        description="site-packages (or venv) of a Python 3.11 environment with extra packages (PyTorch, Ultralytics)",
        subtype="DIR_PATH",
        default="",
        update=_python_packages_changed,
    )
    allow_downloads: BoolProperty(
        name="Allow Downloads",
        description="Let the detector download missing model weights (also needs Blender's Allow Online Access)",
        default=False,
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "device")
        layout.prop(self, "weights_dir")
        layout.prop(self, "detector_model")
        layout.prop(self, "cache_dir")
        layout.prop(self, "python_packages")
        row = layout.row()
        row.enabled = online_access_allowed()
        row.prop(self, "allow_downloads")
        if not online_access_allowed():
            layout.label(text="Online access is off in Blender's preferences: nothing is downloaded.", icon="INFO")
        draw_runtime(layout.box(), self.device)


#: the ``sys.path`` entry the preferences added (None: none, or it was there before)
_added_python_path: str | None = None


def use_python_packages(path: str) -> None:
    """Make the preferences' extra Python packages folder the one on ``sys.path`` (logs, never raises).

    The entry added before (another folder) is removed first; an entry already on ``sys.path`` is
    neither added twice nor removed later.
    """
    global _added_python_path
    forget_python_packages()
    if not path.strip():
        return
    before = set(sys.path)
    try:
        site = str(runtime.add_python_path(bpy.path.abspath(path)))
    except VideoMocapError as exc:
        log.warning("%s", exc)
        return
    if site not in before:
        _added_python_path = site


def forget_python_packages() -> None:
    """Take the folder :func:`use_python_packages` added off ``sys.path`` (modules already imported stay loaded)."""
    global _added_python_path
    if _added_python_path is None:
        return
    while _added_python_path in sys.path:
        sys.path.remove(_added_python_path)
    log.info("removed %s from sys.path", _added_python_path)
    _added_python_path = None
    runtime.refresh()


def draw_runtime(layout: bpy.types.UILayout, device: str = "AUTO") -> None:
    """The runtime report: what runs the networks and, when something is missing, what to do."""
    info = runtime.available_runtimes()
    layout.label(text="Runtime: " + runtime.describe(device=device), icon="SYSTEM")
    for module, pretty in runtime.PRETTY_NAMES.items():
        entry = info[module]
        text = f"{pretty}: {entry['version'] or 'found'}" if entry["available"] else f"{pretty}: missing"
        layout.label(text=text, icon="CHECKMARK" if entry["available"] else "X")
    problem = runtime.missing_packages_message()
    if problem:
        for line in wrap_text(problem):
            layout.label(text=line, icon="ERROR")


#: characters per label line in the sidebar and preferences (Blender labels do not wrap)
LABEL_WIDTH_CHARS = 60


def wrap_text(text: str, width: int = LABEL_WIDTH_CHARS) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def get_preferences(context: bpy.types.Context | None = None) -> VIDEO_MOCAP_AP_preferences | None:
    """The add-on preferences, or None when the add-on is not enabled as such (e.g. registered by a script)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


CLASSES = (VIDEO_MOCAP_AP_preferences,)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    prefs = get_preferences()
    if prefs is not None:
        use_python_packages(prefs.python_packages)


def unregister() -> None:
    forget_python_packages()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
