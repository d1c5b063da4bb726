"""The whole pipeline without Blender: video -> 2D track -> 3D motion -> solved rig motion, cached.

Used by the Blender operators (on a worker thread), the headless batch and ``video-mocap estimate``.

The 3D motion is cached per (video content hash + detection settings + lifter settings), so a
second run that changes only rig settings (smoothing, foot lock, target) skips the networks and
re-solves in a fraction of a second. Cache files (``<cache>/motions/<key>.npz`` and
``<key>.track.npz``) are the project's 3D motion and 2D track files, written atomically.

No bpy here; the stages (OpenCV, torch, ONNX Runtime) are imported inside functions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.atomic import folder_problem
from ..core.errors import VideoMocapError
from ..core.formats import Motion3D, Track2D, check_liftable
from ..core.progress import ProgressFn, check_cancel, report
from ..core.lifters import DEFAULT_LIFTER, USER_LIFTERS
from ..inference.detect import DETECT_SUBDIR  # the 2D stage's cache (and the file-hash index) in the cache folder
from ..inference.devices import DEFAULT_DEVICE
from ..inference.weights import WEIGHTS_SUFFIX, default_weights_path
from ..core.filters import METHODS as SMOOTHING_METHODS

if TYPE_CHECKING:  # the stage modules import OpenCV / torch lazily; only their types are needed here
    from ..inference.detect import DetectConfig, DetectResult
    from ..rigging.solve import SolveConfig, SolvedMotion
    from ..rigging.world import WorldTransform

log = logging.getLogger(__name__)

#: the lifters offered to users (the MLP baseline is for benchmarks only)
#: bump when the cached files' meaning changes, so old cache entries are not reused
CACHE_VERSION = 3  # 2: the root fit weighs the arms and face less (inference.trajectory); 3: view centring (inference.lifter)
MOTIONS_SUBDIR = "motions"
#: DetectConfig fields that change speed, not results: left out of the cache key
DETECT_FIELDS_NOT_IN_KEY = frozenset({"device", "batch_size", "allow_download"})

STAGE_LOAD_LIFTER = "loading lifter"
STAGE_SOLVE = "solving rig"


def _default_detect_config() -> "DetectConfig":
    from ..inference.detect import DetectConfig

    return DetectConfig()


def _default_solve_config() -> "SolveConfig":
    from ..rigging.solve import SolveConfig

    return SolveConfig()


@dataclass
class PipelineSettings:
    """Everything that decides a result. ``weights=None``: the shipped ``weights/<model>.safetensors``.

    ``video_frame_origin``: when set, the scene frame of *video* frame 0, so the animation lines
    up with the footage (a movie clip in the scene); otherwise the first tracked frame lands on
    ``solve.frame_offset``.
    """

    detect: "DetectConfig" = field(default_factory=_default_detect_config)
    model: str = DEFAULT_LIFTER
    weights: Path | None = None
    device: str = DEFAULT_DEVICE
    fov_deg: float | None = None
    flip: bool = True
    solve: "SolveConfig" = field(default_factory=_default_solve_config)
    video_frame_origin: int | None = None
    #: find a panning camera's rotation from the background and take it out of the motion
    #: (``inference.camera_motion``; a static camera is detected and left as it is)
    camera_motion: bool = True
    #: lifter backend ("auto" | "torch" | "onnx", ``inference.runtime.choose_backend``); the
    #: detector's is ``detect.backend``
    lifter_backend: str = "auto"

    def __post_init__(self) -> None:
        if self.model not in USER_LIFTERS:
            raise VideoMocapError(f"Unknown lifter '{self.model}': use one of {', '.join(USER_LIFTERS)}.")
        if self.weights is not None:
            self.weights = Path(self.weights)


@dataclass
class PipelineResult:
    """``detect_result`` is None when the motion came from the cache (the networks did not run)."""

    track: Track2D
    motion: Motion3D
    detect_result: "DetectResult | None"
    solved: "SolvedMotion | None" = None
    motion_path: Path | None = None
    from_cache: bool = False


@dataclass(frozen=True)
class PersonInfo:
    """One person found in a video: track id, the video frames they are seen on, and for how long."""

    track_id: int
    frame_start: int
    frame_end: int
    num_frames: int
    is_subject: bool
    seconds: float


def make_settings(
    *,
    model: str = DEFAULT_LIFTER,
    device: str = DEFAULT_DEVICE,
    person: int | None = None,
    frame_start: int = 0,
    frame_end: int | None = None,
    fov_deg: float | None = None,
    weights: Path | None = None,
    detector_model: Path | None = None,
    allow_download: bool = False,
    smoothing: float | None = None,
    smoothing_method: str | None = None,
    foot_lock: bool | None = None,
    scene_fps: float | None = None,
    frame_offset: int | None = None,
    video_frame_origin: int | None = None,
    camera_motion: bool = True,
    backend: str | None = None,
    imgsz: int | str | None = None,
    conf: float | None = None,
) -> PipelineSettings:
    """Build :class:`PipelineSettings` from the flat options the UI and the CLIs expose.

    ``weights``: a ``<model>.safetensors`` file, or a folder holding one (None: the shipped weights).
    Options left at None keep the stage's own default.
    """
    from ..inference.detect import DetectConfig
    from ..rigging.solve import SolveConfig

    detect_kwargs: dict[str, Any] = {"device": device, "person": person, "frame_start": frame_start,
                                     "frame_end": frame_end, "allow_download": allow_download}
    if detector_model is not None:
        detect_kwargs["model"] = str(detector_model)
    if imgsz is not None:  # the detector's input size (px or "auto") and confidence threshold
        detect_kwargs["imgsz"] = imgsz
    if conf is not None:
        detect_kwargs["conf"] = float(conf)
    # backend: None / "auto" = each network's own choice (PyTorch when it is there); "torch" / "onnx"
    # run both networks on that runtime
    if backend not in (None, "auto", "torch", "onnx"):
        raise VideoMocapError(f"Unknown backend '{backend}': use auto, torch or onnx.")
    if backend in ("torch", "onnx"):
        detect_kwargs["backend"] = {"torch": "ultralytics", "onnx": "onnx"}[backend]
    if smoothing_method is not None and smoothing_method not in SMOOTHING_METHODS:
        raise VideoMocapError(
            f"Unknown smoothing filter '{smoothing_method}'; use one of {', '.join(SMOOTHING_METHODS)}."
        )
    solve_kwargs = {"smoothing": smoothing, "smoothing_method": smoothing_method, "foot_lock": foot_lock,
                    "scene_fps": scene_fps, "frame_offset": frame_offset}
    if weights is not None and Path(weights).is_dir():
        folder, weights = Path(weights), Path(weights) / f"{model}{WEIGHTS_SUFFIX}"
        if not weights.is_file():
            raise VideoMocapError(
                f"No {model} weights in {folder} (expected {weights.name}); fix the weights folder in the preferences."
            )
    return PipelineSettings(
        detect=DetectConfig(**detect_kwargs),
        model=model,
        weights=weights,
        device=device,
        fov_deg=fov_deg,
        solve=SolveConfig(**{k: v for k, v in solve_kwargs.items() if v is not None}),
        video_frame_origin=video_frame_origin,
        camera_motion=camera_motion,
        lifter_backend=backend or "auto",
    )


# ---------------------------------------------------------------------------------------
# Cache keys
# ---------------------------------------------------------------------------------------
def _file_identity(path: str | os.PathLike | None, cache_dir: Path) -> str | None:
    """Content hash of a model/weights file when it exists, else its name (a download name like 'yolo11n-pose.pt')."""
    from ..inference.detect import file_sha256

    if path is None:
        return None
    path = Path(path)
    return file_sha256(path, cache_dir) if path.is_file() else str(path)


def lifter_weights_path(settings: PipelineSettings) -> Path:
    """The weights file the lifter will load (as :func:`video_mocap.inference.lifter.load_lifter` picks it)."""
    return settings.weights or default_weights_path(settings.model)


def cache_key(video: Path, settings: PipelineSettings, cache_dir: Path) -> str:
    """Key of the cached 3D motion: video content + detection settings + lifter settings (not rig settings).

    File hashes are remembered in the 2D stage's cache under ``cache_dir`` (by path, size and time).
    """
    hash_dir = Path(cache_dir) / DETECT_SUBDIR
    detect = {
        k: v for k, v in dataclasses.asdict(settings.detect).items() if k not in DETECT_FIELDS_NOT_IN_KEY
    }
    if "model" in detect:
        detect["model"] = _file_identity(detect["model"], hash_dir)
    payload = {
        "version": CACHE_VERSION,
        "video": _file_identity(video, hash_dir),
        "detect": detect,
        "lifter": {
            "model": settings.model,
            "weights": _file_identity(lifter_weights_path(settings), hash_dir),
            "fov_deg": settings.fov_deg,
            "flip": settings.flip,
            "camera_motion": settings.camera_motion,
        },
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def resolve_cache_dir(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from ..inference.detect import default_cache_dir

    return Path(default_cache_dir())


def cache_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    """(motion file, track file) of a cache entry."""
    folder = Path(cache_dir) / MOTIONS_SUBDIR
    return folder / f"{key}.npz", folder / f"{key}.track.npz"


def load_cached(cache_dir: Path, key: str) -> tuple[Track2D, Motion3D, Path] | None:
    """The cached (track, motion, motion path), or None when absent or unreadable (then it is recomputed)."""
    motion_path, track_path = cache_paths(cache_dir, key)
    if not (motion_path.is_file() and track_path.is_file()):
        return None
    try:
        return Track2D.load(track_path), Motion3D.load(motion_path), motion_path
    except VideoMocapError as exc:
        log.warning("ignoring a broken cache entry (%s); computing again", exc)
        return None


def store_cached(cache_dir: Path, key: str, track: Track2D, motion: Motion3D) -> Path | None:
    """Write a cache entry (track first, so a motion file always has its track); returns the motion
    path, or None (with a warning) when it cannot be written: a cache never fails the clip."""
    motion_path, track_path = cache_paths(cache_dir, key)
    try:
        track.save(track_path)
        motion.save(motion_path)
    except OSError as exc:
        log.warning("could not write the motion cache %s (%s); the result is not cached.", motion_path, exc)
        return None
    return motion_path


# ---------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------
def detect_people(
    video: str | os.PathLike,
    settings: PipelineSettings,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    cache_dir: Path | None = None,
) -> list[PersonInfo]:
    """Run the 2D stage and list every person tracked, longest-seen first."""
    from ..inference.detect import detect_video

    detect_cache = resolve_cache_dir(cache_dir) / DETECT_SUBDIR
    result = detect_video(Path(video), settings.detect, progress=progress, cancel=cancel, cache_dir=detect_cache)
    people = []
    for track_id, track in result.tracks.items():
        frames = track.frame_indices
        people.append(
            PersonInfo(
                track_id=int(track_id),
                frame_start=int(frames.min()),
                frame_end=int(frames.max()),
                num_frames=int(frames.size),
                is_subject=int(track_id) == int(result.subject_id),
                seconds=float(frames.size / track.fps),
            )
        )
    return sorted(people, key=lambda p: (not p.is_subject, -p.num_frames, p.track_id))


def solve_motion(motion: Motion3D, config: "SolveConfig", video_frame_origin: float | None = None,
                 world: "WorldTransform | None" = None) -> "SolvedMotion":
    """The rig solve (pure numpy): joint rotations, root motion, smoothing, foot locking.

    ``video_frame_origin``: see :class:`PipelineSettings`; it overrides ``config.frame_offset``.
    ``world``: a camera -> world transform shared by several people (:func:`run_people`); None =
    fitted to this motion.
    """
    from ..rigging.confidence import bone_confidence
    from ..rigging.solve import solve

    if video_frame_origin is not None:
        # the first frame's own time (a variable-rate clip's frames are timed by their timestamps)
        first = int(round(video_frame_origin + float(motion.frame_times()[0]) * (config.scene_fps or motion.fps)))
        config = dataclasses.replace(config, frame_offset=first)
    solved = solve(motion, config, world=world)
    bone_confidence(solved, motion)  # info["confidence"] (K, B) and info["review"]: the rig's confidence
    return solved


def run_pipeline(
    video: str | os.PathLike,
    settings: PipelineSettings,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> PipelineResult:
    """Video -> 2D track -> 3D motion (cached) -> solved motion.

    Raises :class:`~video_mocap.core.errors.VideoMocapError` for bad input and
    :class:`~video_mocap.core.errors.Cancelled` when ``cancel`` is set (nothing is cached then).
    """
    from ..inference.video import check_video_file

    video = check_video_file(video)
    cache = resolve_cache_dir(Path(cache_dir) if cache_dir is not None else None)
    problem = folder_problem(cache)
    if problem is not None:  # checked before any work: an unusable cache is a warning, never a failed clip
        log.warning("the cache folder %s cannot be written (%s); going on without the cache (this result is "
                    "not kept). Set another cache folder to keep results.", cache, problem)
    key = cache_key(video, settings, cache) if problem is None else None
    cached = load_cached(cache, key) if key is not None else None
    if cached is not None:
        track, motion, motion_path = cached
        log.info("3D motion from the cache: %s", motion_path)
        detect_result = None
    else:
        from ..inference.detect import detect_video
        from ..inference.lifter import lift_track, load_lifter

        detect_result = detect_video(
            video, settings.detect, progress=progress, cancel=cancel, cache_dir=cache / DETECT_SUBDIR,
            use_cache=key is not None,
        )
        track = detect_result.subject
        check_liftable(track.keypoints, track.scores, f"the 2D track of {video.name}")  # before the lifter loads
        check_cancel(cancel)
        report(progress, STAGE_LOAD_LIFTER, 0, 1)
        lifter = load_lifter(settings.model, weights=settings.weights, device=settings.device,
                             backend=settings.lifter_backend)
        report(progress, STAGE_LOAD_LIFTER, 1, 1)
        motion = lift_track(
            track, lifter, fov_deg=settings.fov_deg, flip=settings.flip, progress=progress, cancel=cancel
        )
        if settings.camera_motion:
            add_camera_motion(video, detect_result, [motion], progress=progress, cancel=cancel)
        check_cancel(cancel)
        motion_path = store_cached(cache, key, track, motion) if key is not None else None
    report(progress, STAGE_SOLVE, 0, 1)
    solved = solve_motion(motion, settings.solve, settings.video_frame_origin)
    report(progress, STAGE_SOLVE, 1, 1)
    check_cancel(cancel)
    return PipelineResult(
        track=track, motion=motion, detect_result=detect_result, solved=solved, motion_path=motion_path,
        from_cache=cached is not None,
    )


# ---------------------------------------------------------------------------------------
# Everyone in the shot
# ---------------------------------------------------------------------------------------
#: ``--person all``: a person tracked on fewer frames than this (seen, not interpolated) gets no
#: armature (a one-second glimpse at 30 fps is too short to lift and too noisy to place)
MIN_PERSON_FRAMES = 30
#: ``--person all``: at most this many people are lifted (the largest, longest-seen first): each
#: one more costs one more lifter pass (see the README for the time per extra person)
DEFAULT_MAX_PEOPLE = 8
#: the armature name of a person: "Person <track id>"
PERSON_NAME = "Person {track_id}"


@dataclass
class PeopleResult:
    """Every person of a shot, each solved in one shared world (``results`` subject first)."""

    results: dict[int, PipelineResult]  # track id -> that person's result
    subject_id: int
    skipped: dict[int, str] = field(default_factory=dict)  # track id -> why no armature

    def name(self, track_id: int) -> str:
        return PERSON_NAME.format(track_id=track_id)


def choose_people(detect_result: "DetectResult", max_people: int = DEFAULT_MAX_PEOPLE,
                  min_frames: int = MIN_PERSON_FRAMES) -> tuple[list[int], dict[int, str]]:
    """The track ids that get an armature (subject first, then by frames seen x height) and why the
    others do not: seen on fewer than ``min_frames`` frames, or beyond ``max_people``."""
    from ..inference.detect import track_size

    sizes = {tid: track_size(track) for tid, track in detect_result.tracks.items()}
    order = sorted(sizes, key=lambda t: (t != detect_result.subject_id, -sizes[t][0] * sizes[t][1], t))
    chosen, skipped = [], {}
    for tid in order:
        if sizes[tid][0] < min_frames:
            skipped[tid] = f"seen on {sizes[tid][0]} frames (fewer than {min_frames})"
        elif len(chosen) >= max_people:
            skipped[tid] = f"more than --max-people {max_people}"
        else:
            chosen.append(tid)
    return chosen, skipped


def run_people(
    video: str | os.PathLike,
    settings: PipelineSettings,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    cache_dir: str | os.PathLike | None = None,
    max_people: int = DEFAULT_MAX_PEOPLE,
    min_frames: int = MIN_PERSON_FRAMES,
) -> PeopleResult:
    """Video -> every tracked person's solved motion, all in one world (``estimate --person all``).

    The 2D stage runs once; the lifter runs once per person (each 3D motion is cached under the
    settings with that person's id, so a second run only re-solves). A moving camera's rotation is
    found once over all of the people's frames, relative to the first of them, so everyone is in the
    same camera axes. The world transform is computed once (:func:`~video_mocap.rigging.world.shared_world`:
    the subject's floor at Z = 0, its facing and origin, the floor refined by everyone's feet) and
    applied to everyone; each other person on that floor is slid along its camera ray onto it (its
    motion's ``extras[ROOT_DEPTH_SCALE]``), so everyone stands on one floor where the camera saw them.
    Keys: video frame ``f`` lands on the same scene frame for every person (the earliest person's first
    frame on ``solve.frame_offset`` when ``settings.video_frame_origin`` is None).

    Raises:
        VideoMocapError: bad input, or nobody tracked on ``min_frames`` frames.
    """
    import numpy as np

    from ..core.formats import ROOT_DEPTH_SCALE
    from ..inference.detect import detect_video
    from ..inference.video import check_video_file
    from ..rigging.solve import camera_joints
    from ..rigging.world import shared_world

    if max_people < 1:
        raise VideoMocapError(f"--max-people must be at least 1, got {max_people}.")
    video = check_video_file(video)
    cache = resolve_cache_dir(Path(cache_dir) if cache_dir is not None else None)
    problem = folder_problem(cache)
    if problem is not None:
        log.warning("the cache folder %s cannot be written (%s); going on without the cache.", cache, problem)
    everyone = dataclasses.replace(settings, detect=dataclasses.replace(settings.detect, person=None))
    detect_result = detect_video(video, everyone.detect, progress=progress, cancel=cancel,
                                 cache_dir=cache / DETECT_SUBDIR, use_cache=problem is None)
    chosen, skipped = choose_people(detect_result, max_people, min_frames)
    if not chosen:
        raise VideoMocapError(
            f"Nobody in {video.name} is tracked on {min_frames} frames or more (the least for an armature). "
            "Use a longer clip or frame range, or a larger --imgsz if the people are small."
        )
    for tid, why in skipped.items():
        log.info("person %d: no armature (%s)", tid, why)
    motions: dict[int, tuple[Track2D, Motion3D, Path | None, bool]] = {}
    lifter = None
    for tid in chosen:
        check_cancel(cancel)
        # the per-person lift is cached without the camera rotation: that is found once for everyone below
        own = dataclasses.replace(everyone, detect=dataclasses.replace(everyone.detect, person=tid), camera_motion=False)
        key = cache_key(video, own, cache) if problem is None else None
        cached = load_cached(cache, key) if key is not None else None
        if cached is not None:
            motions[tid] = (cached[0], cached[1], cached[2], True)
            continue
        from ..inference.lifter import lift_track, load_lifter

        track = detect_result.tracks[tid]
        check_liftable(track.keypoints, track.scores, f"the 2D track of person {tid} in {video.name}")
        if lifter is None:
            report(progress, STAGE_LOAD_LIFTER, 0, 1)
            lifter = load_lifter(settings.model, weights=settings.weights, device=settings.device,
                                 backend=settings.lifter_backend)
            report(progress, STAGE_LOAD_LIFTER, 1, 1)
        motion = lift_track(track, lifter, fov_deg=settings.fov_deg, flip=settings.flip, progress=progress, cancel=cancel)
        path = store_cached(cache, key, track, motion) if key is not None else None
        motions[tid] = (track, motion, path, False)
    if settings.camera_motion:
        add_camera_motion(video, detect_result, [m for _, m, _, _ in motions.values()], progress, cancel)
    check_cancel(cancel)
    report(progress, STAGE_SOLVE, 0, 1)
    for tid in chosen:  # the depth scales are found anew below (a motion file may carry an older one)
        motions[tid][1].extras.pop(ROOT_DEPTH_SCALE, None)
    shared = shared_world([camera_joints(motions[tid][1]) for tid in chosen], face=settings.solve.face)
    for tid, scale, on_floor in zip(chosen, shared.depth_scales, shared.on_floor):
        if not on_floor:
            log.info("person %d: not on the subject's floor (another level, or a depth too uncertain to tell); "
                     "placed where it was lifted", tid)
        elif abs(scale - 1.0) > 1e-6:
            motions[tid][1].extras[ROOT_DEPTH_SCALE] = np.float32(scale)
            log.info("person %d: %.0f %% %s the camera, to stand on the shared floor", tid, abs(scale - 1.0) * 100,
                     "farther from" if scale > 1.0 else "nearer to")
    world = shared.world
    origin = settings.video_frame_origin
    if origin is None:  # the earliest person's first frame on frame_offset, everyone else in step with it
        fps = settings.solve.scene_fps or motions[chosen[0]][1].fps
        first_time = min(float(m.frame_times()[0]) for _, m, _, _ in motions.values())
        origin = settings.solve.frame_offset - first_time * fps
    results = {}
    for tid in chosen:
        track, motion, path, from_cache = motions[tid]
        solved = solve_motion(motion, settings.solve, origin, world=world)
        results[tid] = PipelineResult(track=track, motion=motion, detect_result=detect_result, solved=solved,
                                      motion_path=path, from_cache=from_cache)
    report(progress, STAGE_SOLVE, 1, 1)
    return PeopleResult(results=results, subject_id=chosen[0], skipped=skipped)


def add_camera_motion(video: Path, detect_result: "DetectResult", motions: list[Motion3D],
                      progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> None:
    """Find the camera's rotation over every given person's frames (every tracked person masked out
    of the background), relative to the earliest of them, and, when it moves, store each motion's
    slice in its ``extras`` for the solve to take out (one person: the subject's own frames)."""
    import numpy as np

    from ..core.formats import CAMERA_ROTATION
    from ..inference.camera_motion import estimate_camera_motion

    frames = np.unique(np.concatenate([m.frame_indices for m in motions]))
    found = estimate_camera_motion(video, list(detect_result.tracks.values()), frames,
                                   float(motions[0].extras["focal_px"]), progress=progress, cancel=cancel)
    if not found.moving:
        return
    pan, tilt, _ = found.pan_tilt_roll_deg()[-1]
    log.info("the camera moves: pan %.1f°, tilt %.1f° by the last frame; taken out of the motion", pan, tilt)
    for motion in motions:
        motion.extras[CAMERA_ROTATION] = found.rotations[np.searchsorted(frames, motion.frame_indices)].astype("float32")
