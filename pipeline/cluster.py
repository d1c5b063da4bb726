"""Many clips on a Ray cluster: one Ray task per clip, results streamed back to the driver.

Used by ``video-mocap estimate ... --cluster ray[://HOST:PORT]`` (``cli/estimate.py``); Ray is an
optional dependency, imported only here and only when a cluster is asked for.

- :func:`connect`: a local Ray instance with the machine's CPUs when no address is given (or the
  cluster in ``RAY_ADDRESS``), else the cluster at ``ray://HOST:PORT`` (Ray Client).
- :class:`SharedWeights`: the lifter weights (with their card and ONNX export) and the detector
  model the settings name go into the object store once. A worker that sees the driver's files
  (same path, size and content: one machine, or a shared file system) uses them; any other writes
  its copies to a content-addressed folder on its node the first time a task there needs them.
  Cache keys hash file *content*, so a copy gives the same keys (and results) as the driver's file.
  Ray's token authentication: a driver joining a cluster sends the token only with
  ``RAY_AUTH_MODE=token``, which :func:`import_ray` sets (when ``~/.ray/auth_token`` exists) before
  Ray is first imported: import Ray through it.
- :func:`run_clip_tasks`: submits one task per clip (``num_cpus`` / ``num_gpus`` per clip,
  ``max_retries=1``: a worker that dies is replaced and its clip tried once more), yields the
  results as they finish, and on Ctrl-C (or when the caller stops iterating) cancels the tasks
  still outstanding.
- :class:`BatchManifest`: which outputs in a folder are up to date (video size and time, settings,
  weights), so a second run skips them and resumes an interrupted batch.

Videos are read by path: on a multi-machine cluster they must be on storage every node mounts at
the same path (as a studio's library on a file server). Outputs go back to the driver as bytes and
the driver writes them, so workers need not share the output folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..core.atomic import atomic_path, write_text_atomic
from ..core.errors import VideoMocapError
from ..inference.weights import card_path
from .stages import CACHE_VERSION, PipelineSettings, lifter_weights_path

log = logging.getLogger(__name__)

CLUSTER_SCHEME = "ray"
#: what to install when Ray is missing (setup.sh installs this version)
RAY_REQUIREMENT = "ray[client]==2.60.0"
#: a local instance's object store: weights (tens of MB) and the results in flight
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
#: seconds between checks for Ctrl-C while waiting for the next clip
WAIT_POLL_S = 0.5
#: a dead worker's clip is tried once more, on a new worker
MAX_RETRIES = 1
#: the hidden file in an output folder that records which outputs are up to date
MANIFEST_NAME = ".video-mocap-batch.json"
#: where a worker node keeps the weights it got from the object store
WEIGHTS_DIR_NAME = "video-mocap-ray-weights"
#: Ray's authentication mode variable (token or disabled)
AUTH_MODE_ENV = "RAY_AUTH_MODE"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ClusterSpec:
    """Where the tasks run and what each needs. ``address`` None: ``RAY_ADDRESS`` or a local instance."""

    address: str | None = None
    cpus_per_clip: float = 1.0
    gpus_per_clip: float = 0.0

    def __post_init__(self) -> None:
        if self.cpus_per_clip <= 0:
            raise VideoMocapError(f"--cpus-per-clip must be above 0, got {self.cpus_per_clip}.")
        if self.gpus_per_clip < 0:
            raise VideoMocapError(f"--gpus-per-clip must be 0 or more, got {self.gpus_per_clip}.")


def parse_cluster(text: str) -> str | None:
    """``ray`` -> None (``RAY_ADDRESS`` or a local instance); ``ray://HOST:PORT`` -> that address."""
    if text == CLUSTER_SCHEME:
        return None
    if text.startswith(f"{CLUSTER_SCHEME}://") and len(text) > len(CLUSTER_SCHEME) + 3:
        return text
    raise VideoMocapError(
        f"--cluster {text}: give 'ray' (a local Ray instance, or the cluster in RAY_ADDRESS) or "
        "'ray://HEAD:10001' (the head node of a running Ray cluster)."
    )


def import_ray():
    """The ``ray`` module, or a :class:`VideoMocapError` that says how to install it."""
    _use_token_auth_when_set_up()
    try:
        import ray
    except ImportError:
        raise VideoMocapError(
            f"--cluster needs Ray, which is not installed: run ./setup.sh, or pip install \"{RAY_REQUIREMENT}\" "
            "in this Python (and on every node of the cluster)."
        ) from None
    return ray


def connect(spec: ClusterSpec) -> bool:
    """Connect to the cluster (or start a local instance); True when this call started Ray itself."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = spec.address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address is None:
            ray.init(num_cpus=os.cpu_count() or 1, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                     include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            log.info("started a local Ray instance with %d CPUs", os.cpu_count() or 1)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            log.info("connected to the Ray cluster at %s", address)
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception when a node does not start in time
        log.debug("ray.init failed", exc_info=exc)
        where = address or "a local instance"
        raise VideoMocapError(
            f"Could not start Ray on {where} ({_one_line(exc)}). Check that the head node runs (ray start --head) "
            "and that the address is right (ray://HEAD:10001 for Ray Client, or RAY_ADDRESS=HEAD:6379 on a node); "
            "on a busy machine, run again."
        ) from None
    return True


def _use_token_auth_when_set_up() -> None:
    """Ray >= 2.50 clusters started on this account use token authentication (``~/.ray/auth_token``),
    but a driver connecting to one sends the token only with ``RAY_AUTH_MODE=token``: set it (before
    Ray is imported: Ray reads it then) when the token is there and the user did not choose a mode."""
    if AUTH_MODE_ENV not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        os.environ[AUTH_MODE_ENV] = "token"


def disconnect(started: bool) -> None:
    if started:
        import_ray().shutdown()


def cluster_resources() -> dict[str, float]:
    """The cluster's total resources (``CPU``, ``GPU``, ...), for the summary line."""
    return dict(import_ray().cluster_resources())


# ---------------------------------------------------------------------------------------
# Weights in the object store
# ---------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class SharedFile:
    """One file put in the object store: the driver's path, its size, content hash and object reference."""

    source: str
    size: int
    sha256: str
    ref: Any

    @property
    def name(self) -> str:
        return Path(self.source).name

    def same_file_here(self) -> bool:
        """True when this node sees the driver's file itself (one machine, or a shared file system)."""
        path = Path(self.source)
        try:
            return path.is_file() and path.stat().st_size == self.size and _sha256(path) == self.sha256
        except OSError:
            return False

    def local_path(self, folder: str | None = None, name: str | None = None) -> Path:
        """This node's copy, ``folder/name`` (default: named by the content hash, the driver's file
        name), written from the object store the first time it is asked for."""
        target = Path(tempfile.gettempdir()) / WEIGHTS_DIR_NAME / (folder or self.sha256[:32]) / (name or self.name)
        if not target.is_file():
            data = import_ray().get(self.ref)
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        return target


def _share(path: Path) -> SharedFile | None:
    """Put ``path`` in the object store (None when it does not exist: the task then fails with the
    pipeline's own message)."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    return SharedFile(str(path.resolve()), len(data), hashlib.sha256(data).hexdigest(), import_ray().put(data))


@dataclass(frozen=True)
class SharedWeights:
    """The lifter weights (+ their card and ONNX export) and the detector model, each put in the
    object store once. A node that sees the driver's files (same size and content) uses them; any
    other writes its copies once, the card and export beside the weights as the lifter looks for them."""

    lifter: SharedFile | None = None
    lifter_card: SharedFile | None = None
    lifter_onnx: SharedFile | None = None
    detector: SharedFile | None = None

    @classmethod
    def put(cls, settings: PipelineSettings) -> "SharedWeights":
        """Read the files ``settings`` names on the driver and put them in the object store."""
        from ..inference.onnx_backend import lifter_onnx_path

        lifter = lifter_weights_path(settings)
        return cls(lifter=_share(lifter), lifter_card=_share(card_path(lifter)),
                   lifter_onnx=_share(lifter_onnx_path(lifter)), detector=_share(Path(settings.detect.model)))

    def localize(self, settings: PipelineSettings) -> PipelineSettings:
        """``settings`` with weights paths this node can read (worker side)."""
        from ..inference.onnx_backend import lifter_onnx_path

        changes: dict[str, Any] = {}
        if self.lifter is not None and not self.lifter.same_file_here():
            # one folder per (weights, card, export): the card and the export sit where the lifter looks
            folder = "".join(f.sha256[:12] for f in (self.lifter, self.lifter_card, self.lifter_onnx) if f)
            weights = self.lifter.local_path(folder)
            if self.lifter_card is not None:
                self.lifter_card.local_path(folder, card_path(weights).name)
            if self.lifter_onnx is not None:
                onnx = lifter_onnx_path(weights)
                self.lifter_onnx.local_path(f"{folder}/{onnx.parent.name}", onnx.name)
            changes["weights"] = weights
        if self.detector is not None and not self.detector.same_file_here():
            changes["detect"] = dataclasses.replace(settings.detect, model=str(self.detector.local_path()))
        return dataclasses.replace(settings, **changes) if changes else settings

    def identity(self) -> dict[str, str | None]:
        """Content hashes (for the manifest's fingerprint)."""
        return {name: (shared.sha256 if shared is not None else None)
                for name, shared in (("lifter", self.lifter), ("card", self.lifter_card),
                                     ("onnx", self.lifter_onnx), ("detector", self.detector))}


# ---------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------
@dataclass
class TaskResult:
    """What a clip task returns: the output file's bytes (None when the clip failed)."""

    data: bytes | None = None
    num_frames: int = 0
    error: str | None = None
    node: str = ""


def _clip_task(clip_fn: Callable[..., TaskResult], shared: SharedWeights, settings: PipelineSettings,
               *args: Any) -> TaskResult:
    """Worker side of one clip: local weights paths, then ``clip_fn(settings, *args)``."""
    try:
        local = shared.localize(settings)
    except OSError as exc:
        return TaskResult(error=f"could not write the weights on this node ({exc}); check its temp folder's space.")
    result = clip_fn(local, *args)
    result.node = os.uname().nodename
    return result


def run_clip_tasks(
    clip_fn: Callable[..., TaskResult],
    settings: PipelineSettings,
    jobs: Sequence[tuple],
    spec: ClusterSpec,
    shared: SharedWeights | None = None,
) -> Iterator[tuple[int, TaskResult]]:
    """Run ``clip_fn(settings, *job)`` for each job as a Ray task; yield ``(job index, result)`` as they end.

    ``clip_fn`` must be importable on the workers (a module-level function of this package) and
    return a :class:`TaskResult` (its own errors as ``error``, never raised). A worker that dies
    twice on a clip gives that clip a result with ``error`` set; the others go on. When the
    caller stops iterating (Ctrl-C, an exception) the tasks not finished are cancelled.
    ``shared``: the weights already in the object store (default: put them there now).
    """
    ray = import_ray()
    from ray.exceptions import NodeDiedError, RayError, WorkerCrashedError

    shared = shared if shared is not None else SharedWeights.put(settings)
    settings_ref = ray.put(settings)
    task = ray.remote(num_cpus=spec.cpus_per_clip, num_gpus=spec.gpus_per_clip, max_retries=MAX_RETRIES,
                      retry_exceptions=False)(_clip_task).options(name="estimate_clip")
    pending = {task.remote(clip_fn, shared, settings_ref, *job): index for index, job in enumerate(jobs)}
    # Ctrl-C: Ray's blocking wait may swallow the interrupt; a flag, checked between short waits, may not
    interrupted = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        while pending:
            if interrupted.is_set():
                raise KeyboardInterrupt
            done, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_POLL_S)
            for ref in done:
                index = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (WorkerCrashedError, NodeDiedError) as exc:  # died twice (killed, out of memory), node lost
                    result = TaskResult(error=f"the Ray worker died twice on this clip ({_one_line(exc)}); "
                                              "give each clip more memory (--cpus-per-clip) or check the node")
                except RayError as exc:  # e.g. the package is not importable on a worker
                    log.debug("Ray task error", exc_info=exc)
                    result = TaskResult(error=f"Ray task error ({_one_line(exc)}); is video-mocap installed on "
                                              "every node, at the same version?")
                yield index, result
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        for ref in pending:
            ray.cancel(ref, force=True)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__


# ---------------------------------------------------------------------------------------
# Up-to-date outputs
# ---------------------------------------------------------------------------------------
def settings_fingerprint(settings: PipelineSettings, shared: dict[str, str | None], fmt: str) -> str:
    """Hash of everything but the video that decides an output: settings, weights content, format."""
    values = dataclasses.asdict(settings)
    values["weights"] = None
    values["detect"]["model"] = None  # weights are named by content in ``shared``
    for name in ("device", "batch_size"):
        values["detect"].pop(name, None)
    values.pop("device", None)
    payload = {"version": CACHE_VERSION, "settings": values, "weights": shared, "format": fmt}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:32]


def video_stamp(video: Path) -> str:
    """The video's path, size and modification time (a changed file is done again)."""
    stat = video.stat()
    return f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


@dataclass
class BatchManifest:
    """``<output folder>/.video-mocap-batch.json``: output file name -> fingerprint of what made it."""

    path: Path
    entries: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> "BatchManifest":
        path = Path(folder) / MANIFEST_NAME
        try:
            entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            log.warning("ignoring an unreadable batch manifest %s; every clip is done again", path)
            entries = {}
        return cls(path, entries if isinstance(entries, dict) else {})

    @staticmethod
    def fingerprint(video: Path, settings_hash: str) -> str:
        return hashlib.sha256(f"{video_stamp(video)}|{settings_hash}".encode("utf-8")).hexdigest()[:32]

    def is_current(self, output: Path, fingerprint: str) -> bool:
        return output.is_file() and self.entries.get(output.name) == fingerprint

    def record(self, output: Path, fingerprint: str) -> None:
        self.entries[output.name] = fingerprint
        write_text_atomic(self.path, json.dumps(self.entries, indent=1, sort_keys=True) + "\n")
