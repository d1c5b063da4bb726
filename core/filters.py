"""Temporal smoothing of joint trajectories (pure numpy / scipy, vectorised over joints).

Two filters, both run *offline* on the whole clip and zero-phase, so that smoothing adds
no lag (the solve is not real-time):

- :func:`one_euro`: the one-euro filter (Casiez et al., CHI 2012), a speed-adaptive low-pass
  (little smoothing when a joint moves fast, strong smoothing when it is still), run forward
  and then backward over the clip so that the two phase lags cancel.
- :func:`savgol`: a Savitzky-Golay filter (local cubic fit), zero-phase by construction.

:func:`smooth` maps one ``strength`` in [0, 1] (0 = off) to either filter's parameters.

The default is Savitzky-Golay at strength 0.5 (a 0.5 s cubic window): on held-out mocap it costs
less accuracy than the one-euro filter at any strength that halves real-video jitter, and it lowers
the velocity error more (``bench/bench_smoothing.py``, BENCHMARKS.md).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import VideoMocapError

#: one-euro cut-off (Hz) of a still joint at strength -> 0 and at strength 1 (log-interpolated)
ONE_EURO_MIN_CUTOFF_WEAK_HZ = 8.0
ONE_EURO_MIN_CUTOFF_STRONG_HZ = 0.8
#: one-euro speed coefficient (Hz per m/s): how fast the cut-off rises with joint speed
ONE_EURO_BETA = 0.6
#: cut-off (Hz) of the filter on the speed estimate (the original paper's value)
ONE_EURO_DERIVATIVE_CUTOFF_HZ = 1.0
#: Savitzky-Golay window in seconds at strength 1 (shorter windows for weaker smoothing); strength
#: 0.5 gives about 0.5 s (15 frames at 30 fps)
SAVGOL_MAX_WINDOW_S = 0.8
SAVGOL_MIN_WINDOW_FRAMES = 5
SAVGOL_POLYORDER = 3

METHODS = ("one_euro", "savgol")
#: the solve's filter unless told otherwise (see the module docstring for why)
DEFAULT_METHOD = "savgol"


def _alpha(cutoff_hz: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass at ``cutoff_hz`` sampled at ``fps``."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz))
    dt = 1.0 / fps
    return 1.0 / (1.0 + tau / dt)


def _one_euro_pass(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    """One causal pass over axis 0 of ``x`` (T, ...); vectorised over the other axes."""
    out = np.empty_like(x)
    out[0] = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = _alpha(d_cutoff, fps)
    for t in range(1, x.shape[0]):
        dx = (x[t] - out[t - 1]) * fps
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        # speed of each point (norm over the last axis: a 3D joint moves as one)
        speed = np.linalg.norm(dx_hat, axis=-1, keepdims=True) if x.ndim > 1 else np.abs(dx_hat)
        a = _alpha(min_cutoff + beta * speed, fps)
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
    return out


def one_euro(
    x: np.ndarray,
    fps: float,
    min_cutoff: float = 1.5,
    beta: float = ONE_EURO_BETA,
    d_cutoff: float = ONE_EURO_DERIVATIVE_CUTOFF_HZ,
) -> np.ndarray:
    """Zero-phase one-euro filter (forward then backward pass).

    Args:
        x: (T, ..., C) trajectories over time (axis 0); the speed is the norm over the last axis.
        fps: frame rate in Hz.
        min_cutoff: cut-off in Hz of a still point (lower = smoother).
        beta: speed coefficient in Hz per unit/s (higher = less lag on fast moves).
    Returns:
        (T, ..., C) float64 smoothed copy.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return x.copy()
    forward = _one_euro_pass(x, fps, min_cutoff, beta, d_cutoff)
    return _one_euro_pass(forward[::-1], fps, min_cutoff, beta, d_cutoff)[::-1].copy()


def savgol(x: np.ndarray, window: int, polyorder: int = SAVGOL_POLYORDER) -> np.ndarray:
    """Savitzky-Golay filter along axis 0 of (T, ...) ``x`` (window shrunk to fit short clips)."""
    from scipy.signal import savgol_filter

    x = np.asarray(x, dtype=np.float64)
    t = x.shape[0]
    window = min(int(window) | 1, t if t % 2 else t - 1)
    if window <= polyorder:
        return x.copy()
    return savgol_filter(x, window_length=window, polyorder=polyorder, axis=0, mode="interp")


def savgol_window(strength: float, fps: float) -> int:
    """Odd window length (frames) for ``strength`` in (0, 1] at ``fps``."""
    longest = max(SAVGOL_MIN_WINDOW_FRAMES, SAVGOL_MAX_WINDOW_S * fps)
    window = int(round(SAVGOL_MIN_WINDOW_FRAMES + strength * (longest - SAVGOL_MIN_WINDOW_FRAMES)))
    return window | 1


def one_euro_min_cutoff(strength: float) -> float:
    """Cut-off (Hz) of a still joint for ``strength`` in (0, 1] (log-interpolated)."""
    weak, strong = math.log(ONE_EURO_MIN_CUTOFF_WEAK_HZ), math.log(ONE_EURO_MIN_CUTOFF_STRONG_HZ)
    return math.exp(weak + strength * (strong - weak))


def smooth(x: np.ndarray, fps: float, strength: float, method: str = DEFAULT_METHOD) -> np.ndarray:
    """Smooth (T, ..., C) trajectories with ``strength`` in [0, 1] (0 returns a copy).

    Raises:
        VideoMocapError: unknown method or strength outside [0, 1].
    """
    if method not in METHODS:
        raise VideoMocapError(f"Unknown smoothing method '{method}'; use one of {', '.join(METHODS)}.")
    if not 0.0 <= strength <= 1.0:
        raise VideoMocapError(f"Smoothing strength must be between 0 and 1, got {strength}.")
    x = np.asarray(x, dtype=np.float64)
    if strength == 0.0:
        return x.copy()
    if method == "savgol":
        return savgol(x, savgol_window(strength, fps))
    return one_euro(x, fps, min_cutoff=one_euro_min_cutoff(strength))
