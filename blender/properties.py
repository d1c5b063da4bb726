"""The scene's Video Mocap settings: ``scene.video_mocap`` (what the panels draw and the operators read)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import PropertyGroup

from ..core.camera import DEFAULT_FOV_DEG
from ..core.lifters import DEFAULT_LIFTER, LIFTERS
from .preferences import DEVICE_ITEMS as PREFS_DEVICE_ITEMS
from ..core.filters import DEFAULT_METHOD as DEFAULT_SMOOTHING_METHOD
from ..rigging.retarget import PRESETS_DIR

log = logging.getLogger(__name__)

AUTO_PERSON = "AUTO"
#: the "All people" choice: one armature per tracked person (pipeline.stages.run_people)
ALL_PEOPLE = "ALL"
NO_PRESET = "NONE"
MIN_FOV_DEG = 5.0
MAX_FOV_DEG = 170.0
DEFAULT_ARMATURE_NAME = "MocapArmature"

SOURCE_ITEMS = (
    ("FILE", "File", "A video file on disk"),
    ("CLIP", "Movie Clip", "A movie clip already loaded in this file"),
)
MODEL_ITEMS = tuple((info.name, info.label, info.description) for info in LIFTERS if info.user_facing)
SMOOTHING_METHOD_ITEMS = (
    ("savgol", "Savitzky-Golay", "A local cubic fit over a window (about 0.5 s at strength 0.5): the most accurate"),
    ("one_euro", "One Euro", "A speed-adaptive low-pass: smooths still joints most, rounds off fast moves a little less"),
)
DEVICE_ITEMS = (("PREFS", "From Preferences", "Use the device chosen in the add-on preferences"),) + PREFS_DEVICE_ITEMS
SCENE_FRAME_RATE_ITEMS = (
    ("AUTO", "Auto", "Match the video's frame rate when the scene is new (still at the factory 24 fps, no animation "
     "yet); otherwise keep the scene's"),
    ("VIDEO", "Match Video", "Set the scene's frame rate to the video's: one key per video frame"),
    ("SCENE", "Keep Scene", "Keep the scene's frame rate: a video file is resampled to it, a movie clip is keyed "
     "one frame per clip frame"),
)
IMGSZ_ITEMS = (
    ("auto", "Auto", "640 px, or 1280 px when the people found at 640 are small in the frame (or none are found)"),
    ("640", "640 px", "The detector's default input size: fast, for people that fill a good part of the frame"),
    ("960", "960 px", "Finds smaller people than 640 px, slower"),
    ("1280", "1280 px", "Finds the smallest people (far away, in a wide shot); the slowest"),
)
TARGET_ITEMS = (
    ("NEW", "New H36M Armature", "Create a new 17-joint armature and key it"),
    ("EXISTING", "Existing Rig", "Retarget onto an armature already in the scene"),
)

# Blender keeps only a pointer to the strings of dynamic enum items: hold them here.
_person_items_cache: list[tuple[str, str, str]] = []
_preset_items_cache: list[tuple[str, str, str]] = []


def preset_items_from_folder(folder: Path = PRESETS_DIR) -> list[tuple[str, str, str]]:
    """Enum items for the mapping presets in ``rigging/presets/*.json`` (identifier = file stem)."""
    items = []
    for path in sorted(folder.glob("*.json")):
        label, description = path.stem.replace("_", " ").title(), f"Bone mapping preset {path.name}"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                label = str(data.get("name", label))
                description = str(data.get("description", description))
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable mapping preset %s: %s", path, exc)
            continue
        items.append((path.stem, label, description))
    return items or [(NO_PRESET, "No Presets", f"No mapping presets found in {folder}")]


def _preset_items(self, context):
    _preset_items_cache[:] = preset_items_from_folder()
    return _preset_items_cache


def _person_items(self, context):
    items = [(AUTO_PERSON, "Automatic", "The main subject: the person seen longest and largest"),
             (ALL_PEOPLE, "All People", "Everyone tracked long enough: one armature each (named after the track), "
              "all in one world")]
    for person in self.people:
        frames = f"frames {person.frame_start}-{person.frame_end}"
        label = f"Person {person.track_id}: {person.seconds:.1f} s on screen ({frames})"
        if person.is_subject:
            label += " (subject)"
        items.append((str(person.track_id), label, f"Seen on {person.num_frames} frames"))
    _person_items_cache[:] = items
    return _person_items_cache


def _armature_poll(self, obj) -> bool:
    return obj.type == "ARMATURE"


#: how far apart (relative) an object's three scale values may be and still count as uniform
UNIFORM_SCALE_TOLERANCE = 1e-3


def _is_uniform(scale) -> bool:
    values = [abs(value) for value in scale]
    return max(values) - min(values) <= UNIFORM_SCALE_TOLERANCE * max(values)


def rig_scale_problem(rig) -> str | None:
    """Why ``rig`` can't be keyed as it is: a non-uniform scale (its own or a parent's), or None.

    A non-uniformly scaled armature turns its keyed bones off the directions they are keyed to.
    """
    if _is_uniform(rig.matrix_world.to_scale()):
        return None
    values = ", ".join(f"{abs(value):.3g}" for value in rig.matrix_world.to_scale())
    owner = rig if rig.parent is None or not _is_uniform(rig.scale) else rig.parent
    where = "" if owner is rig else f" (from its parent '{owner.name}')"
    return (
        f"The target rig '{rig.name}' has a non-uniform scale ({values}){where}: its bones would be keyed at "
        f"wrong angles. Select '{owner.name}' and apply its scale (Ctrl+A > Scale), then run again."
    )


class VIDEO_MOCAP_PG_person(PropertyGroup):
    """One person found by Detect People."""

    track_id: IntProperty(name="Track", default=-1)
    frame_start: IntProperty(name="First Frame")
    frame_end: IntProperty(name="Last Frame")
    num_frames: IntProperty(name="Frames Seen")
    seconds: FloatProperty(name="On Screen", description="Seconds the person is tracked", unit="TIME_ABSOLUTE")
    is_subject: BoolProperty(name="Subject")


class VIDEO_MOCAP_PG_settings(PropertyGroup):
    source: EnumProperty(name="Source", items=SOURCE_ITEMS, default="FILE")
    filepath: StringProperty(name="Video", description="The video to track", subtype="FILE_PATH", default="")
    clip: PointerProperty(name="Clip", type=bpy.types.MovieClip, description="A loaded movie clip")

    people: CollectionProperty(type=VIDEO_MOCAP_PG_person)
    people_video: StringProperty(name="People Of", description="The video the people list belongs to", default="")
    person: EnumProperty(name="Person", items=_person_items, description="Which person to capture")

    detect_imgsz: EnumProperty(name="Input Size", items=IMGSZ_ITEMS, default="640",
                               description="The detector's input size: larger finds smaller (farther) people, slower")
    detect_conf: FloatProperty(name="Confidence", default=0.25, min=0.01, max=0.99,
                               description="The detector's confidence threshold: lower finds more people (and more "
                               "false ones)")

    model: EnumProperty(name="Lifter", items=MODEL_ITEMS, default=DEFAULT_LIFTER)
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default="PREFS")

    use_frame_range: BoolProperty(name="Frame Range", description="Only use part of the video", default=False)
    frame_start: IntProperty(name="Start", description="First video frame (0-based)", default=0, min=0)
    frame_end: IntProperty(name="End", description="Last video frame (inclusive)", default=100, min=0)

    smoothing: FloatProperty(
        name="Smoothing", description="0 = raw network output, 1 = strongest smoothing", default=0.5, min=0.0, max=1.0
    )
    smoothing_method: EnumProperty(
        name="Filter", items=SMOOTHING_METHOD_ITEMS, default=DEFAULT_SMOOTHING_METHOD,
        description="How the joint trajectories are smoothed (both add no lag)",
    )
    foot_lock: BoolProperty(
        name="Lock Feet", description="Pin feet to the ground while they are in contact", default=True
    )
    scene_frame_rate: EnumProperty(
        name="Frame Rate", items=SCENE_FRAME_RATE_ITEMS, default="AUTO",
        description="Whether a run sets the scene's frame rate to the video's (part of the run's undo step)",
    )
    fov_auto: BoolProperty(
        name="Auto Field of View",
        description="Use the video's focal length when known, otherwise 60° across the frame's long side (portrait clips: vertically)",
        default=True,
    )
    fov_deg: FloatProperty(
        name="Field of View",
        description="Horizontal field of view of the camera that shot the video",
        default=DEFAULT_FOV_DEG,
        min=MIN_FOV_DEG,
        max=MAX_FOV_DEG,
        subtype="NONE",
    )

    target: EnumProperty(name="Target", items=TARGET_ITEMS, default="NEW")
    armature_name: StringProperty(name="Name", default=DEFAULT_ARMATURE_NAME)
    target_rig: PointerProperty(name="Rig", type=bpy.types.Object, poll=_armature_poll)
    mapping_preset: EnumProperty(
        name="Mapping", items=_preset_items, description="How H36M joints map to the rig's bones"
    )

    show_overlay: BoolProperty(
        name="Show 2D Skeleton", description="Draw the tracked 2D skeleton over the footage in the Movie Clip Editor",
        default=True,
    )
    last_motion: StringProperty(
        name="Last Result",
        description="The cached 3D motion of the last estimate (Apply to Armature uses it)",
        default="",
    )


CLASSES = (VIDEO_MOCAP_PG_person, VIDEO_MOCAP_PG_settings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.video_mocap = PointerProperty(type=VIDEO_MOCAP_PG_settings)


def unregister() -> None:
    del bpy.types.Scene.video_mocap
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
