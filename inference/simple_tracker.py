"""A small person tracker in numpy, for the torch-free (ONNX Runtime) 2D stage.

Why it exists: Ultralytics' ByteTrack/BoT-SORT live in the ``ultralytics`` package, which imports
torch, and use ``lap`` / scipy, none of which the shipped extension has. This tracker keeps
ByteTrack's default behaviour where it matters for one or a few people filmed by a still or
slowly moving camera:

- association by box IoU with the track's *predicted* box (last box moved by its smoothed
  velocity), the similarity fused with the detection score (ByteTrack's ``fuse_score``), a pair
  accepted when IoU >= :data:`MIN_IOU` (ByteTrack's ``match_thresh`` 0.8 on the cost 1 - IoU);
- two stages: confident detections first, then the low-score ones only to continue tracks;
- a new track is *tentative* (its detection gets no id) until a detection of the next frame
  continues it (ByteTrack's activation; on the first frame tracks start confirmed), so one-frame
  false positives never become tracks;
- a track unseen for more than ``track_buffer`` frames (30 at 30 fps, scaled with the frame rate)
  is dropped; new tracks start from confident unmatched detections.

It is the one tracker of both detection paths (Ultralytics and ONNX Runtime), so a person gets the
same id whichever runtime found them. Ids are deterministic: a track gets its id when it is
confirmed, and the tracks confirmed on one frame are numbered left to right (so the order in
which a detector lists its boxes does not matter). :func:`relink_tracks` then joins the pieces of
one person that the tracker lost (an occlusion, a missed stretch longer than its buffer).

Differences from ByteTrack (said plainly): greedy best-first matching instead of the Hungarian
algorithm, and a constant-velocity box predictor instead of a Kalman filter. On clips with
people crossing each other at the same depth its ids may switch where ByteTrack's would not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: ByteTrack defaults (ultralytics ``bytetrack.yaml``)
TRACK_HIGH_THRESH = 0.25
TRACK_LOW_THRESH = 0.1
NEW_TRACK_THRESH = 0.25
TRACK_BUFFER_FRAMES = 30
REFERENCE_FPS = 30.0
#: smallest IoU (with the predicted box) to continue a track: 1 - ByteTrack's match_thresh (0.8)
MIN_IOU = 0.2
#: weight of the newest box change in the smoothed velocity (exponential average)
VELOCITY_SMOOTHING = 0.5
NO_TRACK = -1


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair: (N, 4) and (M, 4) xyxy boxes -> (N, M)."""
    if a.size == 0 or b.size == 0:
        return np.zeros((a.shape[0], b.shape[0]), dtype=np.float64)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, np.finfo(np.float64).eps)


def greedy_match(similarity: np.ndarray, valid: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, col) taken best-first from an (N, M) similarity where ``valid``; each row/col once."""
    pairs: list[tuple[int, int]] = []
    if similarity.size == 0:
        return pairs
    rows, cols = np.nonzero(valid)
    order = np.argsort(-similarity[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_rows or c in used_cols:
            continue
        pairs.append((r, c))
        used_rows.add(r)
        used_cols.add(c)
    return pairs


@dataclass
class _Track:
    track_id: int  # NO_TRACK while tentative
    box: np.ndarray  # (4,) xyxy of the last match
    last_frame: int
    confirmed: bool = False
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box change per frame

    def predicted(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * (frame - self.last_frame)

    def update(self, box: np.ndarray, frame: int) -> None:
        step = max(frame - self.last_frame, 1)
        change = (box - self.box) / step
        self.velocity = VELOCITY_SMOOTHING * change + (1 - VELOCITY_SMOOTHING) * self.velocity
        self.box = box.astype(np.float64)
        self.last_frame = frame


class SimpleTracker:
    """Assigns stable ids to per-frame person boxes (see the module docstring for its limits).

    Call :meth:`update` once per frame, in order, with that frame's detections.
    """

    def __init__(self, fps: float = REFERENCE_FPS, track_buffer: int = TRACK_BUFFER_FRAMES) -> None:
        self.max_lost = max(1, int(round(track_buffer * fps / REFERENCE_FPS)))
        self.tracks: list[_Track] = []
        self.next_id = 1
        self.frame = -1

    def _associate(self, det_index: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                   tracks: list[_Track], ids: np.ndarray) -> list[_Track]:
        """Match detections ``det_index`` to ``tracks``; write ids; return the tracks left unmatched."""
        if det_index.size == 0 or not tracks:
            return tracks
        predicted = np.stack([t.predicted(self.frame) for t in tracks])
        iou = iou_matrix(predicted, boxes[det_index])
        pairs = greedy_match(iou * scores[det_index][None, :], iou >= MIN_IOU)
        for r, c in pairs:
            tracks[r].update(boxes[det_index[c]], self.frame)
            tracks[r].confirmed = True
            ids[det_index[c]] = tracks[r].track_id
        matched = {r for r, _ in pairs}
        return [t for i, t in enumerate(tracks) if i not in matched]

    def update(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """One frame: (N, 4) xyxy boxes and (N,) scores -> (N,) track ids (``NO_TRACK`` = not tracked)."""
        self.frame += 1
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        ids = np.full(boxes.shape[0], NO_TRACK, dtype=np.int64)
        # tentative tracks live one frame: continued now or dropped
        self.tracks = [t for t in self.tracks if self.frame - t.last_frame <= (self.max_lost if t.confirmed else 1)]
        confirmed = [t for t in self.tracks if t.confirmed]
        tentative = [t for t in self.tracks if not t.confirmed]
        high = np.flatnonzero(scores >= TRACK_HIGH_THRESH)
        low = np.flatnonzero((scores >= TRACK_LOW_THRESH) & (scores < TRACK_HIGH_THRESH))
        left = self._associate(high, boxes, scores, confirmed, ids)
        self._associate(low, boxes, scores, left, ids)
        self._associate(high[ids[high] == NO_TRACK], boxes, scores, tentative, ids)
        first_frame = self.frame == 0
        for i in high:
            if ids[i] == NO_TRACK and scores[i] >= NEW_TRACK_THRESH:
                self.tracks.append(_Track(NO_TRACK, boxes[i].copy(), self.frame, confirmed=first_frame))
        # ids are given on confirmation, left to right: the same people get the same ids whatever
        # order the detector lists them in (and flukes that never confirm use no id)
        new = [t for t in self.tracks if t.confirmed and t.track_id == NO_TRACK]
        for track in sorted(new, key=lambda t: (float(t.box[0] + t.box[2]), float(t.box[1] + t.box[3]))):
            track.track_id = self.next_id
            self.next_id += 1
        for track in new:
            hit = np.flatnonzero((ids == NO_TRACK) & np.all(boxes == track.box, axis=1))
            if hit.size:
                ids[hit[0]] = track.track_id
        self.tracks = [t for t in self.tracks if t.confirmed or t.last_frame == self.frame]
        return ids


# ---------------------------------------------------------------------------------------
# re-linking broken tracks (a post-process over a whole clip's tracked detections)
# ---------------------------------------------------------------------------------------
#: a track that starts at most this long after another ended may continue it (seconds)
RELINK_SECONDS = 2.0
#: the new track's first box centre must lie within this many box heights of the old track's last
#: centre, moved on by its velocity (the allowance grows with the gap: people move while hidden)
RELINK_DISTANCE_HEIGHTS = 0.6
RELINK_DISTANCE_HEIGHTS_PER_SECOND = 0.6
#: the two boxes' heights may differ by at most this factor
RELINK_MAX_HEIGHT_RATIO = 1.5
#: frames at a track's end whose box centres give its velocity
RELINK_VELOCITY_FRAMES = 10


@dataclass
class _Span:
    track_id: int
    first: int
    last: int
    first_box: np.ndarray
    last_box: np.ndarray
    velocity: np.ndarray  # (2,) centre px per frame over the last frames


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def _spans(track_id: np.ndarray, frame: np.ndarray, boxes: np.ndarray) -> list[_Span]:
    spans = []
    for tid in np.unique(track_id):
        sel = np.flatnonzero(track_id == tid)
        sel = sel[np.argsort(frame[sel], kind="stable")]
        tail = sel[-RELINK_VELOCITY_FRAMES:]
        velocity = np.zeros(2)
        if len(tail) > 1 and frame[tail[-1]] > frame[tail[0]]:
            velocity = (_centre(boxes[tail[-1]]) - _centre(boxes[tail[0]])) / float(frame[tail[-1]] - frame[tail[0]])
        spans.append(_Span(int(tid), int(frame[sel[0]]), int(frame[sel[-1]]), boxes[sel[0]].astype(np.float64),
                           boxes[sel[-1]].astype(np.float64), velocity))
    return spans


def relink_tracks(track_id: np.ndarray, frame: np.ndarray, boxes: np.ndarray, fps: float,
                  max_gap_frames: int | None = None) -> np.ndarray:
    """Join the pieces of one person's track that the tracker lost and found again under a new id.

    A track B continues an earlier track A (B takes A's id) when B starts 1 to ``max_gap_frames``
    frames after A's last frame (default :data:`RELINK_SECONDS` of the clip), A and B never
    overlap in time, B's first box centre is within ``RELINK_DISTANCE_HEIGHTS`` (+
    ``RELINK_DISTANCE_HEIGHTS_PER_SECOND`` per second of gap) box heights of A's last centre
    moved on by A's velocity, and their box heights differ by at most ``RELINK_MAX_HEIGHT_RATIO``.
    Among several candidates the closest (in box heights) wins; each track is continued once.

    Args:
        track_id, frame: (N,) per detection; boxes: (N, 4) xyxy px.
    Returns:
        (N,) track ids with the joined pieces under their first piece's id.
    """
    track_id = np.asarray(track_id, dtype=np.int64)
    if track_id.size == 0:
        return track_id.copy()
    frame = np.asarray(frame, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if max_gap_frames is None:
        max_gap_frames = int(round(RELINK_SECONDS * fps))
    spans = sorted(_spans(track_id, frame, boxes), key=lambda s: (s.first, s.track_id))
    # chains: the current end of each joined person, keyed by its id
    ends: dict[int, _Span] = {}
    mapping: dict[int, int] = {}
    for span in spans:
        best, best_cost = None, np.inf
        height = span.first_box[3] - span.first_box[1]
        for root, end in ends.items():
            gap = span.first - end.last
            if not 1 <= gap <= max_gap_frames:
                continue
            end_height = end.last_box[3] - end.last_box[1]
            if min(height, end_height) <= 0 or max(height, end_height) / min(height, end_height) > RELINK_MAX_HEIGHT_RATIO:
                continue
            predicted = _centre(end.last_box) + end.velocity * gap
            cost = float(np.linalg.norm(_centre(span.first_box) - predicted)) / (0.5 * (height + end_height))
            allowed = RELINK_DISTANCE_HEIGHTS + RELINK_DISTANCE_HEIGHTS_PER_SECOND * gap / float(fps)
            if cost <= allowed and cost < best_cost:
                best, best_cost = root, cost
        if best is None:
            mapping[span.track_id] = span.track_id
            ends[span.track_id] = span
        else:
            mapping[span.track_id] = best
            ends[best] = span
    return np.array([mapping[int(t)] for t in track_id], dtype=np.int64)
