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
    track_id: int
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
                self.tracks.append(_Track(self.next_id, boxes[i].copy(), self.frame, confirmed=first_frame))
                if first_frame:
                    ids[i] = self.next_id
                self.next_id += 1
        self.tracks = [t for t in self.tracks if t.confirmed or t.last_frame == self.frame]
        return ids
