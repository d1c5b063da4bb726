"""``video-mocap estimate``: videos -> animation files, the whole pipeline, headless.

    video-mocap estimate VIDEO... -o OUT [--model dtgcn|posemoe] [--device D] [--person ID|all [--max-people N]]
                         [--imgsz PX|auto] [--conf C]
                         [--start N] [--end N] [--fov DEG] [--smoothing S]
                         [--smoothing-method savgol|one_euro] [--no-foot-lock] [--static-camera]
                         [--backend auto|torch|onnx] [--rig FILE.blend[:OBJECT] [--mapping PRESET]]

``OUT`` is a file (``.blend``, ``.fbx``, ``.bvh`` or ``.npz``, by extension) for one clip, or a
folder for many (``--format`` picks the type, one ``<clip name>.<format>`` per clip). ``.blend`` and
``.fbx`` need Blender's Python module (``bpy``); ``.bvh`` and ``.npz`` (the 3D motion file) do not.
``--rig`` keys the studio's own armature (any humanoid: ``--mapping`` names the preset) instead
of a new one; the rig, the preset and the mapping are checked before any clip is read.
``--person all`` gives every person tracked long enough an armature of its own, in one world
(:func:`~video_mocap.pipeline.stages.run_people`): one .blend/.fbx with all of them, or one
``<name>_person<ID>.bvh`` / ``.npz`` per person.

Every output path is checked before any work. A clip that fails is reported in one line and the
others go on; a summary follows. Exit status (the table in :mod:`video_mocap.cli`): 0 all written,
1 some clips failed, 2 every clip failed or bad usage. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import check_writable_output
from ..core.errors import Cancelled, VideoMocapError
from . import EXIT_BAD_INPUT, EXIT_OK, EXIT_SOME_FAILED
from ..core.lifters import USER_LIFTERS
from .detect import add_detection_options
from ..pipeline.stages import DEFAULT_MAX_PEOPLE, MIN_PERSON_FRAMES
from .common import (
    add_cache_dir_option,
    add_device_option,
    add_fov_option,
    add_frame_range_options,
    add_lifter_option,
    add_smoothing_options,
    add_weights_option,
    int_or_word,
    progress_bar,
)

log = logging.getLogger(__name__)

FORMATS = ("blend", "fbx", "bvh", "npz")
#: formats that are written through Blender (need bpy)
BLENDER_FORMATS = ("blend", "fbx")


@dataclass
class ClipOutcome:
    video: Path
    output: Path | None = None
    error: str | None = None


def build_parser(prog: str = "video-mocap estimate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Video(s) -> 3D character animation (the whole pipeline).")
    parser.add_argument("videos", type=Path, nargs="+", help="input video(s)")
    parser.add_argument("-o", "--output", "--out", dest="output", type=Path, required=True,
                        help="output file (.blend, .fbx, .bvh, .npz) for one clip, or a folder for many")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="file type when OUT is a folder (default: blend with bpy, else bvh)")
    add_lifter_option(parser, USER_LIFTERS)
    add_device_option(parser)
    parser.add_argument("--person", type=parse_person, default=None,
                        help="track id of the person (default: the main subject), or 'all': one armature per "
                        f"person seen on {MIN_PERSON_FRAMES}+ frames, all in one world (.blend/.fbx: all armatures "
                        "in the file; .bvh/.npz: one <name>_person<ID> file each)")
    parser.add_argument("--max-people", type=int, default=DEFAULT_MAX_PEOPLE,
                        help="--person all: at most this many people, the largest, longest-seen first; each costs "
                        "one more lifter pass (default: %(default)s)")
    add_detection_options(parser)
    add_frame_range_options(parser)
    add_fov_option(parser)
    add_smoothing_options(parser, "how much the motion is smoothed")
    parser.add_argument("--no-foot-lock", action="store_true", help="do not pin planted feet")
    parser.add_argument("--static-camera", action="store_true",
                        help="skip the camera-motion step (by default a pan or tilt is found from the background "
                        "and taken out; a static camera is detected and left as it is)")
    add_weights_option(parser, "lifter weights: a .safetensors file or a folder holding <model>.safetensors")
    add_cache_dir_option(parser, "cache folder (default: the user cache)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                        help="network runtime: auto (the ONNX path when its exported models are there, about twice "
                             "as fast on a CPU, else PyTorch), torch or onnx")
    rig = parser.add_argument_group("your own rig (needs bpy; .blend, .fbx or .bvh output)")
    rig.add_argument("--rig", default=None, metavar="FILE.blend[:OBJECT]",
                     help="key this armature (the file's only armature when OBJECT is left out) instead of a new "
                          "one; a .blend output is the rig's whole file, keyed; the source file is not changed")
    rig.add_argument("--mapping", default=None, metavar="PRESET",
                     help="bone mapping preset for --rig: mixamo, rigify, rigify_metarig, auto (default) or a "
                          "preset .json path")
    cluster = parser.add_argument_group("cluster (one Ray task per clip; see the README)")
    cluster.add_argument("--cluster", default=None, metavar="ray[://HOST:PORT]",
                         help="run the clips on Ray: 'ray' (RAY_ADDRESS, else a local instance with this machine's "
                              "CPUs) or ray://HEAD:10001; up-to-date outputs are skipped, so a rerun resumes")
    cluster.add_argument("--cpus-per-clip", type=float, default=1.0, help="CPUs each clip's task needs (default: 1)")
    cluster.add_argument("--gpus-per-clip", type=float, default=0.0, help="GPUs each clip's task needs (default: 0)")
    return parser


#: ``--person all``
ALL_PEOPLE = "all"


def parse_person(text: str) -> int | str:
    """``--person``: a track id or ``all``."""
    return int_or_word(text, ALL_PEOPLE, "a track id (see video-mocap detect --list-tracks)")


def person_path(path: Path, track_id: int) -> Path:
    """Where ``--person all`` writes one person's .bvh / .npz: ``<name>_person<ID>.<ext>`` beside ``path``."""
    return path.with_name(f"{path.stem}_person{track_id}{path.suffix}")


def write_people_output(people, path: Path, name: str) -> list[Path]:
    """Write a :class:`~video_mocap.pipeline.stages.PeopleResult`: .blend/.fbx one file with every
    armature ("Person <id>"), .bvh/.npz one file per person (:func:`person_path`)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt in BLENDER_FORMATS:
        if not has_bpy():
            raise VideoMocapError(f"Writing .{fmt} needs Blender (bpy); or write .bvh / .npz (one file per person).")
        from ..blender.export import write_people_file

        return [write_people_file({people.name(tid): r.solved for tid, r in people.results.items()}, path)]
    return [write_output(result, person_path(path, tid), name) for tid, result in people.results.items()]


def has_bpy() -> bool:
    return "bpy" in sys.modules or importlib.util.find_spec("bpy") is not None


def output_paths(videos: list[Path], output: Path, fmt: str | None, folder_format: str | None = None) -> list[Path]:
    """One output path per video; raises :class:`VideoMocapError` for an impossible combination.

    A folder gets ``fmt`` files, else ``folder_format``, else .blend when bpy is there, else .bvh.
    """
    suffix = output.suffix.lower().lstrip(".")
    if suffix:
        if suffix not in FORMATS:
            raise VideoMocapError(f"Unknown output type '.{suffix}': use .blend, .fbx, .bvh or .npz, or a folder.")
        if len(videos) > 1:
            raise VideoMocapError(f"{len(videos)} videos need an output folder, not the file {output}.")
        if fmt is not None and fmt != suffix:
            raise VideoMocapError(f"--format {fmt} contradicts the output file name {output.name}.")
        return [output]
    if output.exists() and not output.is_dir():
        raise VideoMocapError(f"{output} exists and is not a folder; give a folder or a file name with an extension.")
    fmt = fmt or folder_format or ("blend" if has_bpy() else "bvh")
    paths: list[Path] = []
    taken: set[str] = set()
    for video in videos:
        stem, n = video.stem, 2
        while stem in taken:
            stem, n = f"{video.stem}-{n}", n + 1
        taken.add(stem)
        paths.append(output / f"{stem}.{fmt}")
    return paths


def write_output(result, path: Path, name: str, rig=None) -> Path:
    """Write one clip's result (a :class:`~video_mocap.pipeline.stages.PipelineResult`) as ``path``'s type.

    ``rig``: a :class:`~video_mocap.blender.retarget.RigFile` to key instead of a new armature.
    """
    fmt = path.suffix.lower().lstrip(".")
    if rig is not None:
        from ..blender.retarget import write_rig_file

        return write_rig_file(result.solved, path, rig)
    if fmt == "npz":
        return result.motion.save(path)
    if fmt == "bvh":
        from ..rigging.bvh_writer import write_bvh

        return write_bvh(result.solved, path)
    if not has_bpy():
        raise VideoMocapError(
            f"Writing .{fmt} needs Blender: run inside Blender (blender -b -P blender/batch.py -- ...) or install the bpy "
            "module; or write .bvh / .npz."
        )
    from ..blender.export import write_scene_file

    return write_scene_file(result.solved, path, name)


def _settings(args):
    from ..pipeline.stages import make_settings

    if args.smoothing is not None and not 0.0 <= args.smoothing <= 1.0:
        raise VideoMocapError(f"--smoothing must be between 0 and 1, got {args.smoothing}.")
    return make_settings(
        model=args.model,
        device=args.device,
        person=None if args.person == ALL_PEOPLE else args.person,
        frame_start=args.start,
        frame_end=args.end,
        fov_deg=args.fov,
        weights=args.weights,
        smoothing=args.smoothing,
        smoothing_method=args.smoothing_method,
        foot_lock=not args.no_foot_lock,
        backend=_backend(args.backend, args.model),
        camera_motion=not args.static_camera,
        imgsz=args.imgsz,
        conf=args.conf,
    )


def _backend(choice: str, model: str) -> str | None:
    """The pipeline backend of ``--backend``: "onnx", or None for PyTorch (the stages' default
    "auto", which runs PyTorch when it is there; the same cache keys as the panel's)."""
    from ..inference import runtime

    chosen = runtime.fastest_backend(model) if choice == "auto" else choice
    for component in ("detector", "lifter"):
        runtime.choose_backend(chosen, component)  # an explicit backend that is not installed: a clear error
    return "onnx" if chosen == "onnx" else None


def check_rig_option(args, outputs: list[Path]):
    """The ``--rig`` / ``--mapping`` options checked before any work: a :class:`RigFile` or None."""
    if args.rig is None:
        if args.mapping is not None:
            raise VideoMocapError("--mapping needs --rig FILE.blend[:OBJECT] (the rig it maps onto).")
        return None
    if not has_bpy():
        raise VideoMocapError("--rig needs Blender: run inside Blender (blender -b -P blender/batch.py -- ...) or "
                              "install the bpy module.")
    if args.cluster is not None:
        raise VideoMocapError("--rig does not run on a cluster yet; leave out --cluster.")
    for output in outputs:
        if output.suffix.lower() not in (".blend", ".fbx", ".bvh"):
            raise VideoMocapError(f"--rig writes .blend, .fbx or .bvh files, not {output.name}.")
    from ..blender.retarget import RigFile, check_rig_file, parse_rig_file

    rig = parse_rig_file(args.rig, args.mapping)
    name = check_rig_file(rig)
    return RigFile(rig.path, name, rig.preset)


def run_clip(video: Path, output: Path, settings, cache_dir: Path | None, rig=None) -> Path:
    """The whole pipeline for one clip with a tqdm bar; returns the file written."""
    from ..pipeline.stages import run_pipeline

    with progress_bar(video.name, "frame", show_stage=True, leave=False) as progress:
        result = run_pipeline(video, settings, progress=progress, cache_dir=cache_dir)
    return write_output(result, output, name=video.stem, rig=rig)


def run_people_clip(video: Path, output: Path, settings, cache_dir: Path | None, max_people: int) -> Path:
    """``--person all`` for one clip; returns the (first) file written."""
    from ..pipeline.stages import run_people

    with progress_bar(video.name, "frame", show_stage=True, leave=False) as progress:
        people = run_people(video, settings, progress=progress, cache_dir=cache_dir, max_people=max_people)
    written = write_people_output(people, output, name=video.stem)
    _say(f"        {len(people.results)} people ({', '.join(people.name(t) for t in people.results)}): "
         f"{', '.join(str(p) for p in written)}")
    return written[0]


def failure_reason(exc: Exception, video) -> str:
    """The reason a clip failed, as its ``FAILED <video>: <reason>`` line says it (serial and cluster batches)."""
    if isinstance(exc, VideoMocapError):
        return str(exc)
    log.debug("unexpected error on %s", video, exc_info=exc)  # the traceback goes to the log
    return f"unexpected {type(exc).__name__}: {exc}"


def _say(line: str, error: bool = False) -> None:
    """One line beside tqdm's bars (they are redrawn below it)."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr if error else sys.stdout)


def main(argv: list[str] | None = None, prog: str = "video-mocap estimate", folder_format: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    outputs = output_paths(args.videos, args.output, args.format, folder_format)
    for output in outputs:  # before any work: a clip never fails at its end for want of a writable output
        check_writable_output(output, tuple(f".{fmt}" for fmt in FORMATS), "output file")
    rig = check_rig_option(args, outputs)
    settings = _settings(args)
    if args.person == ALL_PEOPLE and (args.cluster is not None or rig is not None):
        raise VideoMocapError("--person all writes new armatures on this machine: leave out --cluster and --rig.")
    if args.max_people < 1:
        raise VideoMocapError(f"--max-people must be at least 1, got {args.max_people}.")
    if args.cluster is not None:
        from .estimate_cluster import run_on_cluster

        return run_on_cluster(args, args.videos, outputs, settings, _say)
    outcomes: list[ClipOutcome] = []
    for video, output in zip(args.videos, outputs):
        outcome = ClipOutcome(video)
        try:
            if args.person == ALL_PEOPLE:
                outcome.output = run_people_clip(video, output, settings, args.cache_dir, args.max_people)
            else:
                outcome.output = run_clip(video, output, settings, args.cache_dir, rig=rig)
            _say(f"ok      {video} -> {outcome.output}")
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as exc:  # one broken clip must not stop the batch
            outcome.error = failure_reason(exc, video)
        if outcome.error is not None:
            _say(f"FAILED  {video}: {outcome.error}", error=True)
        outcomes.append(outcome)
    failed = [o for o in outcomes if o.error is not None]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} clips done, {len(failed)} failed.")
    if len(outcomes) > 1:  # one clip: its FAILED line says it all
        for o in failed:
            print(f"  failed: {o.video}", file=sys.stderr)
    if not failed:
        return EXIT_OK
    return EXIT_BAD_INPUT if len(failed) == len(outcomes) else EXIT_SOME_FAILED


if __name__ == "__main__":
    sys.exit(main())
