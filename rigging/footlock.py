"""Foot contacts, foot locking and the analytic two-bone leg (pure numpy).

- :func:`detect_contacts`: a foot is planted when its ankle is near the floor *and* slow
  (horizontal speed: below an absolute bound, or clearly slower than the other foot), after
  a small median clean-up; contacts shorter than
  :data:`MIN_CONTACT_FRAMES` are dropped.
- :func:`drop_visible_slides`: a foot the camera sees moving is not planted: the frames of a
  contact whose ankle lies farther than :data:`VISIBLE_SLIP_M` from the contact's pin *across* the
  view (perpendicular to the ray from the camera centre, where the 2D detection is sure; along the
  ray is where the lifted depth drifts, which the lock is for) leave the contact. A skater's gliding
  foot, slower than the other one, counted as planted and was pinned up to 0.4 m (100+ px) off
  the foot in the video.
- :func:`lock_targets`: during each contact the ankle target is pinned to one point (the
  median of the ankle over the contact, not below the floor), with linear blends in and out
  over :data:`BLEND_FRAMES` frames so the foot does not pop.
- :func:`reach_offsets`: where a pinned ankle is far out of its leg's reach (the fitted root
  ran on while the foot was planted: a trajectory error of the lifted motion), the smallest
  shift of the whole body that brings every pinned ankle back to within :data:`REACH_SLACK_M`
  of reach, so the hips follow the planted foot instead of the foot sliding away.
- :func:`lift_out_of_reach`: a pinned ankle still out of reach after that rises (by at most
  :data:`HEEL_LIFT_M`, as a heel does at push-off) instead of sliding towards the hip.
- :func:`two_bone_ik`: the knee for a hip, a pinned ankle and constant thigh/shin lengths,
  bending in the plane of the original knee (pole); out-of-reach targets are clamped.
"""

from __future__ import annotations

import numpy as np

from .world import ANKLE_HEIGHT_M

#: an ankle lower than this above its resting height counts as near the floor (metres)
CONTACT_HEIGHT_MARGIN_M = 0.05
#: an ankle slower than this (horizontal, m/s) may be planted (the ankle point rolls a little
#: over a planted foot: 0.2-0.4 m/s in jogging mocap)
CONTACT_SPEED_M_S = 0.5
#: lifted video motion lets the stance foot drift (the lifter's root-relative pose and the fitted
#: root do not keep it still): a foot slower than the other one (this fraction of its speed or
#: less) also counts as planted while near the floor, as in walking and running. 0.9 was chosen on
#: lifted HDM05 actor bk against its true contacts (``bench/bench_contacts.py``): against 0.6 it finds
#: 7-8 points more of the planted frames for 1-4 points of precision
RELATIVE_CONTACT_SPEED = 0.9
#: percentile of a foot's heights over the clip taken as its resting (planted) height
RESTING_HEIGHT_PERCENTILE = 15.0
#: contacts shorter than this are noise (frames)
MIN_CONTACT_FRAMES = 3
#: frames over which a lock blends in and out
BLEND_FRAMES = 3
#: keep the knee this far short of full extension (fraction of the leg length)
MAX_REACH_FRACTION = 0.9995
#: a contact's frames whose ankle is farther than this from the pin across the camera's view are not
#: planted (metres, perpendicular to the camera ray). Real contacts in lifted real video stay within
#: 0.06-0.16 m (the sample walker, the 4 balance views: the lifted stance ankle's roll and 2D jitter);
#: a figure skater's gliding foot reached 0.41 m. On lifted held-out Bandai with true contacts
#: (``bench/bench_contacts.py``) it costs DTGCN 1 point of recall and 0.4 mm/frame of skate (0.25 m: none
#: and 0.1). A rigid depth error of the root moves the ankle across its own ray too (by the angle between
#: the root's and the ankle's rays): at 5 m, up to about 0.8 m of run-away within one stance is still locked.
#: See ``drop_visible_slides``
VISIBLE_SLIP_M = 0.2
#: rounds of :func:`drop_visible_slides` (a trimmed contact's pin moves; two or three settle it)
SLIP_ROUNDS = 4
#: a pin this little out of reach is left to the IK's clamp (the ankle stops a few centimetres
#: short of it): the median pin of a contact in true mocap is out of reach at the end of a long
#: stance (up to 11.4 cm in 78 HDM05 clips, clean and with lifter-like noise; 6 cm at the 99th
#: percentile of clips and feet), and moving the hips back there would stutter a root that is right
REACH_SLACK_M = 0.12
#: rounds of :func:`reach_offsets` (one per foot per round; two planted feet settle in a few)
REACH_ROUNDS = 8
#: a pinned ankle just out of reach rises by at most this much over its pin (metres), keeping its
#: place on the floor, as the heel does at the end of a stance (push-off), instead of being dragged
#: along the leg towards the hip. In true mocap (Bandai part 1, 1282 contacts) the ankle has risen
#: 4.5 cm (median) and 10 cm (99th percentile) 0.1 s after its contact ends
HEEL_LIFT_M = 0.10


def horizontal_speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(T, ..., 3) Z-up points -> (T, ...) horizontal speed in units/s (central differences)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] < 2:
        return np.zeros(points.shape[:-1])
    vel = np.gradient(points[..., :2], axis=0) * fps
    return np.linalg.norm(vel, axis=-1)


def contact_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool contact mask -> its runs of True as [(start, stop)) frame ranges."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def drop_short_runs(mask: np.ndarray, min_frames: int = MIN_CONTACT_FRAMES) -> np.ndarray:
    """(T, F) bool flags with every run of True shorter than ``min_frames`` (per column) set to False."""
    mask = np.array(mask, dtype=bool)
    for f in range(mask.shape[1]):
        for start, stop in contact_runs(mask[:, f]):
            if stop - start < min_frames:
                mask[start:stop, f] = False
    return mask


def detect_contacts(ankles: np.ndarray, fps: float, floor_ankle_height: float = ANKLE_HEIGHT_M) -> np.ndarray:
    """Planted-foot flags for (T, F, 3) Z-up ankle positions (F feet).

    Returns:
        (T, F) bool.
    """
    from scipy.ndimage import median_filter

    ankles = np.asarray(ankles, dtype=np.float64)
    speed = horizontal_speed(ankles, fps)
    # each foot's own resting height (lower envelope): a slightly tilted or offset floor
    # estimate must not keep one foot from ever counting as planted
    resting = np.maximum(np.percentile(ankles[..., 2], RESTING_HEIGHT_PERCENTILE, axis=0), floor_ankle_height)
    near = ankles[..., 2] < resting + CONTACT_HEIGHT_MARGIN_M
    slow = speed < CONTACT_SPEED_M_S
    if speed.shape[1] == 2:  # the slower of two feet, by a clear margin
        slow |= speed < RELATIVE_CONTACT_SPEED * speed[:, ::-1]
    contact = near & slow
    if len(contact) >= MIN_CONTACT_FRAMES:
        contact = median_filter(contact.astype(np.uint8), size=(MIN_CONTACT_FRAMES, 1), mode="nearest").astype(bool)
    return drop_short_runs(contact)


def contact_pin(ankles: np.ndarray, floor_ankle_height: float = ANKLE_HEIGHT_M) -> np.ndarray:
    """The one point a contact pins its ankle to: (N, 3) Z-up ankle positions over the contact -> (3,)
    their median, not below the floor."""
    pin = np.median(np.asarray(ankles, dtype=np.float64), axis=0)
    pin[2] = max(pin[2], floor_ankle_height)
    return pin


def across_view(points: np.ndarray, target: np.ndarray, camera_centre: np.ndarray) -> np.ndarray:
    """(N, 3) points, (3,) target, (3,) camera centre (one frame of reference) -> (N,) distance from each
    point to the target perpendicular to the camera's ray through the point: what moving the point onto
    the target shifts in the image, in metres at the point's depth."""
    points = np.asarray(points, dtype=np.float64)
    ray = points - np.asarray(camera_centre, dtype=np.float64)
    ray /= np.maximum(np.linalg.norm(ray, axis=-1, keepdims=True), 1e-9)
    offset = np.asarray(target, dtype=np.float64) - points
    return np.linalg.norm(offset - (offset * ray).sum(axis=-1, keepdims=True) * ray, axis=-1)


def drop_visible_slides(
    ankles: np.ndarray, contacts: np.ndarray, camera_centre: np.ndarray, max_slip: float = VISIBLE_SLIP_M,
    floor_ankle_height: float = ANKLE_HEIGHT_M,
) -> np.ndarray:
    """Contacts without the frames where pinning would move the foot off where the camera sees it.

    Each contact's frames whose ankle lies farther than ``max_slip`` from the contact's pin
    (:func:`contact_pin`) across the view (:func:`across_view`) are taken out; the shorter contact's pin
    is found again, for :data:`SLIP_ROUNDS` rounds; runs left shorter than :data:`MIN_CONTACT_FRAMES`
    are dropped.

    Args:
        ankles: (T, F, 3) Z-up ankle positions (the unlocked motion, which follows the 2D).
        contacts: (T, F) bool planted flags (:func:`detect_contacts`).
        camera_centre: (3,) the camera's centre in the same frame (a panning camera turns about it).
    Returns:
        (T, F) bool.
    """
    ankles = np.asarray(ankles, dtype=np.float64)
    contacts = np.array(contacts, dtype=bool)
    for _ in range(SLIP_ROUNDS):
        changed = False
        for f in range(contacts.shape[1]):
            for start, stop in contact_runs(contacts[:, f]):
                run = ankles[start:stop, f]
                slipped = across_view(run, contact_pin(run, floor_ankle_height), camera_centre) > max_slip
                if slipped.any():
                    contacts[start:stop, f] = ~slipped
                    changed = True
        contacts = drop_short_runs(contacts)
        if not changed:
            break
    return contacts


def lock_targets(
    ankles: np.ndarray, contacts: np.ndarray, floor_ankle_height: float = ANKLE_HEIGHT_M
) -> tuple[np.ndarray, np.ndarray]:
    """Pinned ankle targets.

    Args:
        ankles: (T, F, 3) Z-up ankle positions.
        contacts: (T, F) bool planted flags.
    Returns:
        targets (T, F, 3) and blend weights (T, F) in [0, 1] (1 = fully pinned).
    """
    ankles = np.asarray(ankles, dtype=np.float64)
    t_len = ankles.shape[0]
    targets = ankles.copy()
    weights = np.zeros(contacts.shape)
    ramp = np.arange(1, BLEND_FRAMES + 1) / (BLEND_FRAMES + 1)
    for f in range(contacts.shape[1]):
        for start, stop in contact_runs(contacts[:, f]):
            pin = contact_pin(ankles[start:stop, f], floor_ankle_height)
            w = np.zeros(t_len)
            w[start:stop] = 1.0
            before = np.arange(start - BLEND_FRAMES, start)
            after = np.arange(stop, stop + BLEND_FRAMES)
            w[before[before >= 0]] = ramp[before >= 0]
            w[after[after < t_len]] = ramp[::-1][after < t_len]
            stronger = w > weights[:, f]
            targets[stronger, f] = pin
            weights[stronger, f] = w[stronger]
    blended = weights[..., None] * targets + (1.0 - weights[..., None]) * ankles
    return blended, weights


def reach_offsets(hips: np.ndarray, targets: np.ndarray, weights: np.ndarray, reach: np.ndarray,
                  slack: float = REACH_SLACK_M) -> np.ndarray:
    """The smallest body shift per frame that brings each pinned ankle target within ``slack`` of reach.

    Only pinned targets (blend weight > 0) pull; a target within reach (plus ``slack``) adds
    nothing, so the shift is zero on most frames and follows the lock's blend in and out. For
    two pinned feet the constraints are met in turn for :data:`REACH_ROUNDS` rounds
    (alternating projections).

    Args:
        hips: (T, F, 3) hip joints.
        targets: (T, F, 3) ankle targets (from :func:`lock_targets`).
        weights: (T, F) lock blend weights (0 = free foot).
        reach: (F,) leg lengths (thigh + shin).
        slack: how far out of reach (metres) a target may stay.
    Returns:
        (T, 3) shift to add to every joint of the body.
    """
    hips = np.asarray(hips, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    limit = MAX_REACH_FRACTION * np.asarray(reach, dtype=np.float64) + slack
    pinned = np.asarray(weights) > 0
    offset = np.zeros((hips.shape[0], 3))
    for _ in range(REACH_ROUNDS):
        for f in range(hips.shape[1]):
            to_target = targets[:, f] - (hips[:, f] + offset)
            dist = np.linalg.norm(to_target, axis=-1, keepdims=True)
            excess = np.where(pinned[:, f, None], np.maximum(dist - limit[f], 0.0), 0.0)
            offset += to_target / np.maximum(dist, 1e-12) * excess
    return offset


def lift_out_of_reach(hips: np.ndarray, targets: np.ndarray, weights: np.ndarray, reach: np.ndarray,
                      max_lift: float = HEEL_LIFT_M) -> np.ndarray:
    """Pinned ankle targets that are out of reach, raised (not moved sideways) until the leg reaches them.

    Only the height changes, by at most ``max_lift``: the ankle keeps its place over the floor,
    as it does when the heel comes up at the end of a stance; what is still out of reach after
    that is left to :func:`two_bone_ik`'s clamp. Z is up.

    Args:
        hips: (T, F, 3) hip joints.
        targets: (T, F, 3) ankle targets (from :func:`lock_targets`).
        weights: (T, F) lock blend weights (0 = free foot: never changed).
        reach: (F,) leg lengths (thigh + shin).
        max_lift: the largest rise (metres).
    Returns:
        (T, F, 3) targets.
    """
    hips = np.asarray(hips, dtype=np.float64)
    lifted = np.array(targets, dtype=np.float64)
    limit = MAX_REACH_FRACTION * np.asarray(reach, dtype=np.float64)  # (F,)
    horizontal = np.linalg.norm(lifted[..., :2] - hips[..., :2], axis=-1)  # (T, F)
    # the lowest height at which the hip still reaches this point over the floor: a target at or above
    # it is within reach and does not rise
    lowest = hips[..., 2] - np.sqrt(np.maximum(limit**2 - horizontal**2, 0.0))
    rise = np.clip(lowest - lifted[..., 2], 0.0, max_lift)
    lifted[..., 2] += np.where(np.asarray(weights) > 0, rise, 0.0)
    return lifted


def two_bone_ik(
    hip: np.ndarray, ankle: np.ndarray, pole_knee: np.ndarray, thigh: float, shin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic knee for (N, 3) hips and ankle targets with constant bone lengths.

    Args:
        hip, ankle: (N, 3) hip positions and ankle targets.
        pole_knee: (N, 3) knee positions that give the bend plane (e.g. the unlocked knee).
        thigh, shin: bone lengths.
    Returns:
        knee (N, 3) and the reached ankle (N, 3) (the target, or the nearest reachable point).
    """
    hip = np.asarray(hip, dtype=np.float64)
    to_ankle = np.asarray(ankle, dtype=np.float64) - hip
    dist = np.linalg.norm(to_ankle, axis=-1, keepdims=True)
    u = to_ankle / np.maximum(dist, 1e-9)
    d = np.clip(dist, abs(thigh - shin) + 1e-6, MAX_REACH_FRACTION * (thigh + shin))
    reached = hip + u * d
    pole = np.asarray(pole_knee, dtype=np.float64) - hip
    v = pole - np.sum(pole * u, axis=-1, keepdims=True) * u
    v_norm = np.linalg.norm(v, axis=-1, keepdims=True)
    # a straight pole leg gives no plane: bend forward-ish (perpendicular to u, horizontal)
    fallback = np.cross(u, np.array([0.0, 0.0, 1.0]))
    fallback = np.cross(fallback, u)
    v = np.where(v_norm > 1e-6, v / np.maximum(v_norm, 1e-12), fallback / np.maximum(
        np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-12))
    cos_a = np.clip((thigh**2 + d**2 - shin**2) / (2.0 * thigh * d), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a**2)
    knee = hip + thigh * (cos_a * u + sin_a * v)
    return knee, reached
