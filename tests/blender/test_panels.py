"""The Mocap panels and the preferences draw without errors (bpy 5.0 and 4.2, background mode).

Panels cannot draw in background mode, so ``draw`` is called with a stand-in layout that records
every call and checks it the way Blender would: the method exists on ``UILayout``, its keyword
arguments are real parameters, the property exists on the data, the operator is registered and
the icon is a real icon.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy")

#: UILayout methods that return a sub-layout
SUB_LAYOUTS = ("row", "column", "box", "split", "grid_flow", "column_flow")
#: UILayout methods that draw something
ITEMS = ("prop", "operator", "label", "separator", "template_list", "prop_search")
#: UILayout attributes a panel may set
ATTRIBUTES = ("use_property_split", "use_property_decorate", "enabled", "active", "alert", "scale_x", "scale_y",
              "alignment", "emboss")


def _icons() -> set[str]:
    return set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())


class RecordingLayout:
    """Records ``(method, first argument)`` calls; raises where Blender's UILayout would."""

    def __init__(self, calls: list, icons: set[str]):
        object.__setattr__(self, "_calls", calls)
        object.__setattr__(self, "_icons", icons)

    def __setattr__(self, name, value):
        if name not in ATTRIBUTES:
            raise AttributeError(f"UILayout has no attribute '{name}'")
        assert name in bpy.types.UILayout.bl_rna.properties, name
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        if name in SUB_LAYOUTS:
            return self._wrap(name, lambda: RecordingLayout(self._calls, self._icons))
        if name in ITEMS:
            return self._wrap(name, None)
        raise AttributeError(f"the stand-in UILayout does not know '{name}'")

    def _wrap(self, name, make):
        parameters = bpy.types.UILayout.bl_rna.functions[name].parameters

        def call(*args, **kwargs):
            unknown = [k for k in kwargs if k not in parameters]
            assert not unknown, f"UILayout.{name}() has no parameter(s) {unknown}"
            if "icon" in kwargs:
                assert kwargs["icon"] in self._icons, f"unknown icon {kwargs['icon']}"
            if name == "prop":
                data, prop = args[0], args[1]
                assert prop in data.bl_rna.properties, f"{data.bl_rna.identifier} has no property '{prop}'"
                self._calls.append(("prop", prop))
            elif name == "operator":
                module, op = args[0].split(".")
                getattr(getattr(bpy.ops, module), op).get_rna_type()  # KeyError when not registered
                self._calls.append(("operator", args[0]))
            elif name == "label":
                self._calls.append(("label", kwargs.get("text", args[0] if args else "")))
            else:
                self._calls.append((name, args[0] if args else None))
            return make() if make is not None else None

        return call


def sub_panels(cls) -> list:
    """The registered panels whose parent is ``cls``, in registration order (Blender draws them so)."""
    from video_mocap.panels.mocap import CLASSES

    return [panel for panel in CLASSES if getattr(panel, "bl_parent_id", None) == cls.__name__]


def draw(cls, context) -> list:
    """Draw ``cls`` and its sub-panels as Blender shows the tab: the parent, then each child's header and body."""
    calls: list = []
    icons = _icons()
    for panel in [cls, *sub_panels(cls)]:
        if hasattr(panel, "draw_header"):
            panel.draw_header(SimpleNamespace(layout=RecordingLayout(calls, icons), **_class_attributes(panel)), context)
        panel.draw(SimpleNamespace(layout=RecordingLayout(calls, icons), **_class_attributes(panel)), context)
    return calls


def _class_attributes(panel) -> dict:
    """The panel's class attributes (``bl_space_type``, ``section``, ...) for the stand-in ``self``."""
    return {name: getattr(panel, name) for name in dir(panel) if name.startswith(("bl_", "section"))}


def _panels():
    from video_mocap.panels.mocap import CLIP_PT_video_mocap, VIEW3D_PT_video_mocap

    return VIEW3D_PT_video_mocap, CLIP_PT_video_mocap


def test_panels_are_registered_in_both_editors(addon_scene):
    view3d, clip = _panels()
    assert (view3d.bl_space_type, view3d.bl_region_type, view3d.bl_category) == ("VIEW_3D", "UI", "Mocap")
    assert clip.bl_space_type == "CLIP_EDITOR" and clip.bl_category == "Mocap"
    for cls in (view3d, clip):
        assert hasattr(bpy.types, cls.__name__), f"{cls.__name__} is not registered"
        assert cls.poll(bpy.context)


@pytest.mark.parametrize("panel_index", [0, 1], ids=["view3d", "clip_editor"])
def test_panel_draws_every_control(addon_scene, panel_index):
    props = addon_scene.video_mocap
    panel = _panels()[panel_index]
    calls = draw(panel, bpy.context)
    props_drawn = {name for kind, name in calls if kind == "prop"}
    ops_drawn = {name for kind, name in calls if kind == "operator"}
    assert {"source", "filepath", "use_frame_range", "frame_start", "frame_end", "model", "device", "fov_auto",
            "fov_deg", "smoothing", "smoothing_method", "foot_lock", "target", "armature_name"} <= props_drawn
    assert ops_drawn == {"video_mocap.detect_people", "video_mocap.estimate", "video_mocap.apply"}
    assert ("show_overlay" in props_drawn) == (panel_index == 1), "the overlay switch is in the Clip Editor"

    # the other branches: a loaded clip, people found, an existing rig
    props.source = "CLIP"
    person = props.people.add()
    person.track_id, person.frame_start, person.frame_end, person.num_frames, person.is_subject = 3, 0, 99, 100, True
    props.person = "3"
    props.target = "EXISTING"
    calls = draw(panel, bpy.context)
    props_drawn = {name for kind, name in calls if kind == "prop"}
    assert {"clip", "person", "target_rig", "mapping_preset"} <= props_drawn
    assert "filepath" not in props_drawn and "armature_name" not in props_drawn


def test_panel_says_what_runtime_is_missing(addon_scene):
    from video_mocap.inference import runtime

    labels = [text for kind, text in draw(_panels()[0], bpy.context) if kind == "label"]
    problem = runtime.missing_packages_message()
    if problem is None:
        assert not any(text.startswith("Runtime:") for text in labels)
    else:  # e.g. bpy 4.2 venv: no OpenCV, no network runtime
        assert any(text.startswith("Runtime:") for text in labels)
        assert any("missing" in text for text in labels)


def test_preferences_draw(addon_scene):
    from video_mocap.blender.preferences import get_preferences

    prefs = get_preferences(bpy.context)
    assert prefs is not None
    fields = {"device", "weights_dir", "detector_model", "cache_dir", "python_packages", "allow_downloads"}
    calls: list = []
    # draw() reads its fields from self: a stand-in self with the real values and the real RNA
    stand_in = SimpleNamespace(layout=RecordingLayout(calls, _icons()), bl_rna=prefs.bl_rna,
                               **{name: getattr(prefs, name) for name in fields})
    type(prefs).draw(stand_in, bpy.context)
    drawn = {name for kind, name in calls if kind == "prop"}
    assert drawn == fields
    assert any(kind == "label" and text.startswith("Runtime:") for kind, text in calls)


def test_person_and_preset_enums(addon_scene):
    from video_mocap.blender.properties import AUTO_PERSON, PRESETS_DIR, preset_items_from_folder

    props = addon_scene.video_mocap
    assert props.person == AUTO_PERSON
    for track_id in (1, 4):
        item = props.people.add()
        item.track_id, item.frame_start, item.frame_end, item.num_frames = track_id, 0, 10, 11
    props.person = "4"
    assert props.person == "4"
    with pytest.raises(TypeError):
        props.person = "7"  # not a detected person
    presets = {identifier for identifier, _, _ in preset_items_from_folder()}
    assert presets == ({p.stem for p in PRESETS_DIR.glob("*.json")} or {"NONE"})


def test_panel_shows_a_running_job(addon_scene):
    import threading

    from video_mocap.operators.common import Job

    gate = threading.Event()
    job = Job(lambda progress, cancel: gate.wait(timeout=60))
    job.start()
    try:
        labels = [text for kind, text in draw(_panels()[0], bpy.context) if kind == "label"]
        assert any(text.startswith("Running") for text in labels)
    finally:
        gate.set()
        job.release()
    labels = [text for kind, text in draw(_panels()[0], bpy.context) if kind == "label"]
    assert not any(text.startswith("Running") for text in labels)


SUB_PANEL_LABELS = ["Clip", "Person", "3D Pose", "Animation", "Review"]
#: what each sub-panel draws (a part of it): one draw function per section, the same in both editors
SECTION_PROPS = {
    "Clip": {"source", "filepath", "use_frame_range", "frame_start", "frame_end"},
    "Person": set(),
    "3D Pose": {"model", "device", "fov_auto", "fov_deg"},
    "Animation": {"smoothing", "smoothing_method", "foot_lock", "scene_frame_rate", "target", "armature_name"},
    "Review": set(),  # the frames to review: jump buttons (tests/blender/test_confidence.py)
}


@pytest.mark.parametrize("panel_index", [0, 1], ids=["view3d", "clip_editor"])
def test_sub_panels_are_registered_under_the_tab_in_both_editors(addon_scene, panel_index):
    parent = _panels()[panel_index]
    children = sub_panels(parent)
    assert [child.bl_label for child in children] == SUB_PANEL_LABELS
    for child in children:
        registered = getattr(bpy.types, child.__name__)  # AttributeError when not registered
        assert registered.bl_parent_id == parent.__name__
        assert (child.bl_space_type, child.bl_region_type, child.bl_category) == (
            parent.bl_space_type, "UI", "Mocap")
        assert child.poll(bpy.context)
        calls = draw(child, bpy.context)
        assert calls, f"{child.__name__} draws nothing"
        assert SECTION_PROPS[child.bl_label] <= {name for kind, name in calls if kind == "prop"}
    person = next(child for child in children if child.bl_label == "Person")
    assert ("operator", "video_mocap.detect_people") in draw(person, bpy.context)
    parent_calls: list = []
    parent.draw(SimpleNamespace(layout=RecordingLayout(parent_calls, _icons()), **_class_attributes(parent)),
                bpy.context)
    assert {name for kind, name in parent_calls if kind == "operator"} == {"video_mocap.estimate",
                                                                          "video_mocap.apply"}
    assert not [name for kind, name in parent_calls if kind == "prop"], "the parent holds the run buttons only"


def test_both_editors_share_one_set_of_draw_functions(addon_scene):
    view3d, clip = (sub_panels(parent) for parent in _panels())
    assert [a.section.draw for a in view3d] == [b.section.draw for b in clip]
    assert _panels()[0].draw is _panels()[1].draw


def test_panel_warns_about_a_non_uniform_rig_scale(addon_scene):
    props = addon_scene.video_mocap
    rig = bpy.data.objects.new("Rig", bpy.data.armatures.new("Rig"))
    addon_scene.collection.objects.link(rig)
    props.target, props.target_rig = "EXISTING", rig

    def warnings() -> list[str]:
        return [text for kind, text in draw(_panels()[0], bpy.context) if kind == "label" and "scale" in text]

    assert warnings() == []
    rig.scale = (1.0, 2.0, 1.0)
    bpy.context.view_layer.update()
    assert warnings() == ["Non-uniform rig scale: apply it (Ctrl+A > Scale)"]


def test_panel_shows_a_cancelled_job_winding_down(addon_scene):
    import threading

    from video_mocap.operators.common import Job

    gate = threading.Event()
    job = Job(lambda progress, cancel: gate.wait(timeout=60))
    job.start()
    try:
        job.cancel()
        job.release(wait_s=0.0)
        labels = [text for kind, text in draw(_panels()[0], bpy.context) if kind == "label"]
        assert any(text.startswith("Cancelling") for text in labels)
        assert not any(text.startswith("Running") for text in labels)
    finally:
        gate.set()
    job._thread.join(timeout=30)
    labels = [text for kind, text in draw(_panels()[0], bpy.context) if kind == "label"]
    assert not any(text.startswith(("Cancelling", "Running")) for text in labels)


def test_python_packages_folder_leaves_sys_path_on_unregister(addon_scene, tmp_path):
    import sys

    import addon_utils

    from video_mocap.blender.preferences import get_preferences

    first = tmp_path / "venv_a" / "lib" / "python3.11" / "site-packages"
    second = tmp_path / "venv_b" / "lib" / "python3.11" / "site-packages"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    prefs = get_preferences(bpy.context)
    prefs.python_packages = str(first.parents[2])  # the venv itself
    prefs.python_packages = str(first.parents[2])  # set again: still one entry
    assert sys.path.count(str(first)) == 1
    prefs.python_packages = str(second)  # another folder replaces it
    assert str(first) not in sys.path and sys.path.count(str(second)) == 1
    addon_utils.disable("video_mocap", default_set=True)
    assert str(second) not in sys.path, "disabling the add-on leaves sys.path as it was"

    sys.path.append(str(first))  # an entry the add-on did not add is left alone
    try:
        addon_utils.enable("video_mocap", default_set=True)
        get_preferences(bpy.context).python_packages = str(first)
        addon_utils.disable("video_mocap", default_set=True)
        assert sys.path.count(str(first)) == 1
    finally:
        sys.path.remove(str(first))
        addon_utils.enable("video_mocap", default_set=True)
