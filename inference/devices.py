"""The one device resolver: a device string (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) for
PyTorch and for ONNX Runtime.

Every stage (detector, lifter, training, the Blender operators through their UI choice) names its
device with these strings; :func:`torch_device` turns one into the torch device that runs it,
:func:`onnx_providers` into ONNX Runtime execution providers. Torch and onnxruntime are imported
only inside the functions, so the command line's ``--help`` stays fast.
"""

from __future__ import annotations

from ..core.errors import VideoMocapError

#: device kinds a user may name (``cuda`` may carry an index: ``cuda:1``)
DEVICE_KINDS: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
DEFAULT_DEVICE = "auto"
#: the accepted spellings, for help texts and error messages
DEVICE_SPELLINGS = "auto, cpu, cuda, cuda:N or mps"


def parse_device(device: str | None) -> tuple[str, int | None]:
    """``"CUDA:1"`` -> ``("cuda", 1)``; ``None`` / ``""`` -> ``("auto", None)`` (no torch needed).

    Raises :class:`VideoMocapError` for an unknown kind or a bad index.
    """
    name = (device or DEFAULT_DEVICE).strip().lower()
    kind, _, index = name.partition(":")
    if kind not in DEVICE_KINDS or (index and kind != "cuda"):
        raise VideoMocapError(f"Unknown device '{device}': use {DEVICE_SPELLINGS}.")
    if not index:
        return kind, None
    if not index.isdigit():
        raise VideoMocapError(f"Device '{device}': the CUDA index must be a whole number, as in cuda:0.")
    return kind, int(index)


def _has_mps(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def torch_device(device: str | None = DEFAULT_DEVICE) -> str:
    """The torch device for ``device``: ``"cpu"``, ``"cuda:N"`` or ``"mps"``.

    ``auto`` picks the first CUDA GPU, else Apple Metal, else the CPU; an asked-for GPU that is not
    there raises :class:`VideoMocapError` (imports torch: call it only on the torch path).
    """
    import torch

    kind, index = parse_device(device)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "mps" if _has_mps(torch) else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise VideoMocapError(
                f"Device '{device}' asked for, but PyTorch here has no CUDA GPU: install a CUDA build of PyTorch "
                "or use the device cpu (or auto)."
            )
        index = index or 0
        if index >= torch.cuda.device_count():
            raise VideoMocapError(f"Device '{device}': only {torch.cuda.device_count()} CUDA device(s) here.")
        return f"cuda:{index}"
    if kind == "mps" and not _has_mps(torch):
        raise VideoMocapError(f"Device '{device}' asked for, but Apple Metal is not available here; use cpu or auto.")
    return kind


def onnx_preference(device: str | None = DEFAULT_DEVICE) -> str:
    """The ONNX Runtime device preference (``"AUTO"``, ``"CPU"``, ``"CUDA"``) of a device string.

    ONNX Runtime picks the GPU of a session by provider, not by index; ``mps`` has no provider of its
    own (CoreML is among ``AUTO``'s), so it maps to ``AUTO``.
    """
    kind, _ = parse_device(device)
    return {"cpu": "CPU", "cuda": "CUDA"}.get(kind, "AUTO")


def onnx_providers(device: str | None = DEFAULT_DEVICE) -> list[str]:
    """ONNX Runtime execution providers for a device string (see :func:`.runtime.onnx_providers`)."""
    from .runtime import onnx_providers as providers_for_preference

    return providers_for_preference(onnx_preference(device))
