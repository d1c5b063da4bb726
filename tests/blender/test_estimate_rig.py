"""``video-mocap estimate --rig FILE.blend[:OBJECT] --mapping PRESET``: the studio's own rig keyed.

The rig: the Mixamo-style test rig (``tests/data/mixamo_style_rig.fbx``) imported and saved in a
.blend beside a mesh. Bad ``--rig`` / ``--mapping`` values fail with a clear message before any
clip is read (the video given does not even exist). The good run keys the rig from the sample
clip's motion (the pipeline cache seeded with real mocap) into a .blend and an FBX.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from video_mocap.blender.compat import action_fcurve_collection  # noqa: E402
from video_mocap.cli import estimate  # noqa: E402
from video_mocap.core.errors import VideoMocapError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MIXAMO_FBX = REPO / "tests" / "data" / "mixamo_style_rig.fbx"
NUM_FRAMES = 30


@pytest.fixture
def rig_blend(tmp_path) -> Path:
    """A .blend with the Mixamo-style armature ('Armature') and a mesh ('Cube')."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(MIXAMO_FBX))
    bpy.ops.mesh.primitive_cube_add()
    bpy.context.active_object.name = "Cube"
    path = tmp_path / "studio_rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return path


def keyed_frames(obj) -> set[float]:
    frames: set[float] = set()
    for fcurve in action_fcurve_collection(obj.animation_data.action, obj):
        frames.update(round(k.co[0], 3) for k in fcurve.keyframe_points)
    return frames


@pytest.mark.parametrize("rig_arg,mapping,message", [
    ("missing.blend:Armature", "mixamo", "does not exist"),
    ("{blend}:Nobody", "mixamo", "no object 'Nobody'"),
    ("{blend}:Cube", "mixamo", "not an armature"),
    ("{blend}:Armature", "no_such_preset", "not found"),
    ("{blend}:Armature", "{bad_json}", "not valid JSON"),
    ("{fbx}", "mixamo", "give a Blender file"),
])
def test_bad_rig_options_fail_before_any_work(rig_blend, tmp_path, rig_arg, mapping, message):
    out = tmp_path / "out.blend"
    rig_arg = rig_arg.format(blend=rig_blend, fbx=MIXAMO_FBX)
    bad_json = tmp_path / "studio.json"
    bad_json.write_text("{not json", encoding="utf-8")
    mapping = mapping.format(bad_json=bad_json)
    if rig_arg.startswith("missing"):
        rig_arg = str(tmp_path / rig_arg)
    before = rig_blend.stat().st_mtime_ns
    with pytest.raises(VideoMocapError, match=message):
        estimate.main([str(tmp_path / "no_such_video.mp4"), "-o", str(out), "--rig", rig_arg, "--mapping", mapping])
    assert not out.exists() and rig_blend.stat().st_mtime_ns == before


def test_mapping_without_rig_and_npz_with_rig_are_refused(rig_blend, tmp_path):
    with pytest.raises(VideoMocapError, match="--mapping needs --rig"):
        estimate.main([str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o.blend"), "--mapping", "mixamo"])
    with pytest.raises(VideoMocapError, match=r"\.blend, \.fbx or \.bvh"):
        estimate.main([str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o.npz"), "--rig", f"{rig_blend}:Armature"])


@pytest.fixture
def seeded_cache(sample_clip, request, tmp_path) -> Path:
    pytest.importorskip("cv2")
    pytest.importorskip("torch")  # --backend torch: the seeded settings' cache key
    from test_exports import hdm05_file
    from pipeline_seed import seed_motion_cache
    from video_mocap.pipeline import stages as pipeline

    cache = tmp_path / "cache"
    settings = pipeline.make_settings(frame_start=0, frame_end=NUM_FRAMES, foot_lock=True)
    seed_motion_cache(sample_clip, settings, cache, hdm05_file(request))
    return cache


def test_rig_keyed_into_blend_and_fbx(rig_blend, sample_clip, seeded_cache, tmp_path):
    common = ["--end", str(NUM_FRAMES), "--cache-dir", str(seeded_cache), "--backend", "torch",
              "--rig", str(rig_blend), "--mapping", "mixamo"]  # the file's only armature
    out = tmp_path / "walk.blend"
    assert estimate.main([str(sample_clip), "-o", str(out), *common]) == 0
    bpy.ops.wm.open_mainfile(filepath=str(out))
    rig = bpy.data.objects["Armature"]
    assert "Cube" in bpy.data.objects, "the rig's whole file is kept"
    assert len(keyed_frames(rig)) == NUM_FRAMES
    keyed = {fc.data_path.split('"')[1] for fc in action_fcurve_collection(rig.animation_data.action, rig)}
    assert {"mixamorig:Hips", "mixamorig:LeftFoot", "mixamorig:RightToeBase"} <= keyed
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, NUM_FRAMES)
    heads = []
    for frame in (1, NUM_FRAMES):
        scene.frame_set(frame)
        heads.append(np.array(rig.matrix_world @ rig.pose.bones["mixamorig:Hips"].head))
    assert np.linalg.norm(heads[1] - heads[0]) > 0.2, "the hips travel"
    # the source file is not changed
    bpy.ops.wm.open_mainfile(filepath=str(rig_blend))
    assert bpy.data.objects["Armature"].animation_data is None or bpy.data.objects["Armature"].animation_data.action is None

    fbx = tmp_path / "walk.fbx"
    assert estimate.main([str(sample_clip), "-o", str(fbx), *common[:-4], "--rig", f"{rig_blend}:Armature",
                          "--mapping", "mixamo"]) == 0
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(fbx), anim_offset=0.0)
    back = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert len(keyed_frames(back)) == NUM_FRAMES
