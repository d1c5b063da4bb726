"""Which network runtime runs the pipeline here: PyTorch (+ Ultralytics) or ONNX Runtime.

The shipped extension bundles only ONNX Runtime and OpenCV (headless) as wheels; PyTorch and
Ultralytics are used when they are importable (a developer install, or a Python environment the
user points the preferences at: :func:`add_python_path`). This module never imports torch or
ultralytics to answer "is it there?" (``importlib.util.find_spec`` + package metadata); it imports
onnxruntime (small) to list its execution providers.

Public API:
    available_runtimes() -> dict        what is importable, versions, ONNX execution providers
    choose_backend(pref, component)     "torch" or "onnx" for the detector or the lifter
    onnx_providers(device)              ONNX Runtime providers for a device preference
    describe(backend, device) -> str    one line for the panel ("ONNX Runtime 1.32.0 on CPU ...")
    missing_packages_message()          what is missing and how to get it, or None
    add_python_path(path)               use packages from another Python 3.11 environment
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from pathlib import Path

from ..core.errors import VideoMocapError

log = logging.getLogger(__name__)

#: import name -> distribution names that provide it (first one installed wins)
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "cv2": ("opencv-python-headless", "opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-silicon"),
    "torch": ("torch",),
    "ultralytics": ("ultralytics",),
}
#: human names for messages
PRETTY_NAMES: dict[str, str] = {
    "numpy": "NumPy",
    "cv2": "OpenCV",
    "onnxruntime": "ONNX Runtime",
    "torch": "PyTorch",
    "ultralytics": "Ultralytics",
}
BACKENDS = ("torch", "onnx")
COMPONENTS = ("detector", "lifter")
BACKEND_PREFERENCES = ("auto",) + BACKENDS
#: device preferences (as in the add-on preferences)
DEVICES = ("AUTO", "CPU", "CUDA")

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
#: accelerated ONNX Runtime providers tried, in this order, for device "AUTO"
GPU_PROVIDERS: tuple[str, ...] = (CUDA_PROVIDER, "DmlExecutionProvider", "CoreMLExecutionProvider")
#: short names of providers for :func:`describe`
PROVIDER_NAMES: dict[str, str] = {
    CPU_PROVIDER: "CPU",
    CUDA_PROVIDER: "CUDA",
    "DmlExecutionProvider": "DirectML",
    "CoreMLExecutionProvider": "CoreML",
    "TensorrtExecutionProvider": "TensorRT",
}

#: where exported ONNX models live (build output, shipped inside the extension zip)
PACKAGE_DIR = Path(__file__).resolve().parents[1]
ONNX_DIR = PACKAGE_DIR / "weights" / "onnx"
#: the ONNX detector file name (exported from ``assets/models/yolo11n-pose.pt``)
DETECTOR_ONNX_NAME = "yolo11n-pose.onnx"

HOW_TO_GET_ONNX = (
    "Install the platform build of the extension (video_mocap-<version>-<platform>.zip, it bundles ONNX Runtime "
    "and OpenCV), or set Preferences > Python Packages to a Python 3.11 environment where "
    "'pip install onnxruntime opencv-python-headless' was run."
)
HOW_TO_GET_TORCH = (
    "Set Preferences > Python Packages to the site-packages of a Python 3.11 environment with "
    "'pip install torch ultralytics \"numpy<2\"', or use the ONNX Runtime backend."
)


def _find(module: str) -> bool:
    """``module`` is importable here; one set to None in ``sys.modules`` (blocked) counts as missing."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version(module: str) -> str | None:
    """Version of the installed package providing ``module``, without importing it when possible."""
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__version__", None):
        return str(loaded.__version__)
    for dist in DISTRIBUTIONS.get(module, (module,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _location(module: str) -> str | None:
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__file__", None):
        return str(Path(loaded.__file__).parent)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return str(Path(spec.origin).parent)


def _onnx_providers_available() -> tuple[list[str], str | None]:
    """(execution providers, None), or ([], why) when onnxruntime is installed but does not import."""
    try:
        import onnxruntime
    except Exception as exc:  # a broken install (missing DLL, too old an OS...) must not break the panel
        log.warning("onnxruntime is installed but does not import: %s", exc)
        return [], f"{type(exc).__name__}: {exc}"
    return list(onnxruntime.get_available_providers()), None


@functools.lru_cache(maxsize=1)
def available_runtimes() -> dict:
    """What is importable here, without importing torch/ultralytics (cached; :func:`refresh` clears).

    Returns:
        ``{"torch": {"available": bool, "version": str | None, "location": str | None}, ...}`` for
        numpy, cv2, onnxruntime, torch and ultralytics, plus ``"onnx_providers": [str]`` (the ONNX
        Runtime execution providers this build offers, e.g. CUDA, DirectML, CoreML, CPU) and
        ``"onnx_models": {name: bool}`` (which exported ONNX models are present).
    """
    info: dict = {}
    for module in DISTRIBUTIONS:
        found = _find(module)
        info[module] = {
            "available": found,
            "version": _version(module) if found else None,
            "location": _location(module) if found else None,
        }
    info["onnx_providers"] = []
    if info["onnxruntime"]["available"]:
        info["onnx_providers"], error = _onnx_providers_available()
        if error:  # installed but unusable here: count it as missing, keep the reason for the message
            info["onnxruntime"].update(available=False, error=error)
    info["onnx_models"] = {path.stem: True for path in sorted(ONNX_DIR.glob("*.onnx"))} if ONNX_DIR.is_dir() else {}
    return info


def refresh() -> dict:
    """Forget the cached answer (after :func:`add_python_path` or an install) and check again."""
    available_runtimes.cache_clear()
    importlib.invalidate_caches()
    return available_runtimes()


def _has(module: str) -> bool:
    return bool(available_runtimes()[module]["available"])


def torch_ready(component: str) -> bool:
    """PyTorch can run ``component``: the detector also needs Ultralytics."""
    return _has("torch") and (component != "detector" or _has("ultralytics"))


def choose_backend(pref: str = "auto", component: str = "lifter") -> str:
    """Pick ``"torch"`` or ``"onnx"`` for ``component`` ("detector" or "lifter").

    ``"auto"`` uses PyTorch when it is importable (and Ultralytics for the detector), otherwise
    ONNX Runtime. An explicit preference whose packages are missing raises
    :class:`VideoMocapError` that says how to install them.
    """
    pref = (pref or "auto").lower()
    if pref not in BACKEND_PREFERENCES:
        raise VideoMocapError(f"Unknown backend '{pref}': use one of {', '.join(BACKEND_PREFERENCES)}.")
    if component not in COMPONENTS:
        raise VideoMocapError(f"Unknown component '{component}': use one of {', '.join(COMPONENTS)}.")
    if pref == "torch":
        if not torch_ready(component):
            need = "PyTorch and Ultralytics" if component == "detector" else "PyTorch"
            raise VideoMocapError(f"The PyTorch backend needs {need}, not installed here. {HOW_TO_GET_TORCH}")
        return "torch"
    if pref == "onnx":
        if not _has("onnxruntime"):
            raise VideoMocapError(f"The ONNX backend needs ONNX Runtime, not installed here. {HOW_TO_GET_ONNX}")
        return "onnx"
    if torch_ready(component):
        return "torch"
    if _has("onnxruntime"):
        return "onnx"
    raise VideoMocapError(
        f"No network runtime for the {component}: neither PyTorch nor ONNX Runtime is installed. {HOW_TO_GET_ONNX}"
    )


def fastest_backend(lifter: str) -> str:
    """The faster path for the whole pipeline: ``"onnx"`` when ONNX Runtime imports and the ONNX
    exports of the detector and of ``lifter`` are in :data:`ONNX_DIR` (about twice as fast as
    PyTorch on a CPU), else ``"torch"`` when PyTorch and Ultralytics are there, else ``"onnx"``.
    """
    exported = (ONNX_DIR / DETECTOR_ONNX_NAME).is_file() and (ONNX_DIR / f"{lifter}.onnx").is_file()
    if _has("onnxruntime") and exported:
        return "onnx"
    return "torch" if torch_ready("detector") else "onnx"


def onnx_providers(device: str = "AUTO") -> list[str]:
    """ONNX Runtime execution providers for a device preference ("AUTO", "CPU", "CUDA").

    "AUTO" takes every accelerated provider this build has (CUDA, DirectML, CoreML) before the CPU;
    "CUDA" raises :class:`VideoMocapError` when the build has no CUDA provider.
    """
    device = (device or "AUTO").upper()
    if device not in DEVICES:
        raise VideoMocapError(f"Unknown device '{device}': use one of {', '.join(DEVICES)}.")
    available = available_runtimes()["onnx_providers"]
    if device == "CPU":
        return [CPU_PROVIDER]
    if device == "CUDA":
        if CUDA_PROVIDER not in available:
            raise VideoMocapError(
                "ONNX Runtime here has no CUDA provider. Install 'onnxruntime-gpu' (with CUDA 12 and cuDNN 9) in a "
                "Python environment and set Preferences > Python Packages to it, or choose the CPU device."
            )
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [p for p in GPU_PROVIDERS if p in available] + [CPU_PROVIDER]


def describe(backend: str | None = None, device: str = "AUTO", providers: list[str] | None = None) -> str:
    """One line for the panel: which runtime and device run the networks.

    Args:
        backend: "torch", "onnx" or None (what ``choose_backend("auto")`` would pick for the lifter).
        device: the device preference.
        providers: the providers an ONNX session actually uses (``session.get_providers()``), if known.
    """
    info = available_runtimes()
    try:
        backend = backend or choose_backend("auto", "lifter")
    except VideoMocapError:
        message = missing_packages_message()
        return message or "No network runtime installed."
    if backend == "onnx":
        try:
            used = providers or onnx_providers(device)
        except VideoMocapError:
            used = [CPU_PROVIDER]
        devices = [PROVIDER_NAMES.get(p, p) for p in used]
        text = f"ONNX Runtime {info['onnxruntime']['version'] or '?'} on {devices[0]}"
        if len(devices) > 1:
            text += f" (falls back to {', '.join(devices[1:])})"
    else:
        text = f"PyTorch {info['torch']['version'] or '?'}"
        if "torch" in sys.modules:  # only when already imported: the panel must not pay for importing torch
            from .devices import torch_device

            try:
                text += f" on {torch_device(device).upper()}"
            except VideoMocapError:
                text += " on CPU"
        else:
            text += f" (device {device.upper()})"
        if info["ultralytics"]["available"]:
            text += f" + Ultralytics {info['ultralytics']['version'] or '?'}"
    if info["cv2"]["available"]:
        text += f"; OpenCV {info['cv2']['version'] or '?'}"
    return text


def missing_packages_message() -> str | None:
    """What the pipeline lacks here and how to get it, or None when it can run end to end.

    Needs: NumPy and OpenCV (video decoding), and a network runtime: ONNX Runtime with the exported
    ONNX models, or PyTorch with Ultralytics.
    """
    info = available_runtimes()
    problems: list[str] = []
    for module in ("numpy", "cv2"):
        if not info[module]["available"]:
            problems.append(f"{PRETTY_NAMES[module]} ({module})")
    torch_ok = torch_ready("detector")
    onnx_ok = info["onnxruntime"]["available"]
    if not torch_ok and not onnx_ok:
        problems.append("a network runtime (ONNX Runtime, or PyTorch with Ultralytics)")
    if problems:
        broken = info["onnxruntime"].get("error")
        why = f" (ONNX Runtime is installed but does not load: {broken})" if broken else ""
        return f"Missing: {', '.join(problems)}{why}. {HOW_TO_GET_ONNX}"
    if not torch_ok and DETECTOR_ONNX_NAME.removesuffix(".onnx") not in info["onnx_models"]:
        return (
            f"ONNX Runtime is installed but the exported models are missing from {ONNX_DIR}. Install the platform "
            "build of the extension, or run 'video-mocap export-onnx' in a developer install."
        )
    return None


def add_python_path(path: str | Path) -> Path:
    """Make the packages of another Python 3.11 environment importable (the preferences' path).

    ``path`` may be the environment itself (``.../venv``) or its ``site-packages``. It is appended
    to ``sys.path`` (after Blender's own packages, so Blender keeps its NumPy). Returns the folder added.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise VideoMocapError(f"Python packages folder not found: {folder}. Give a site-packages folder or a venv.")
    candidates = [folder] + sorted(folder.glob("lib/python3*/site-packages")) + [folder / "Lib" / "site-packages"]
    site = next((c for c in candidates if c.name == "site-packages" and c.is_dir()), folder)
    if str(site) not in sys.path:
        sys.path.append(str(site))
        log.info("added %s to sys.path", site)
    refresh()
    return site
