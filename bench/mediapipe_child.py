"""MediaPipe Pose on one video, in the bench-only MediaPipe venv (run by :mod:`bench.bench_mediapipe`).

    .venv-mediapipe/bin/python bench/mediapipe_child.py VIDEO OUT.npz

Writes ``world`` (T, 33, 3): ``pose_world_landmarks`` (metres, origin between the hips, image axes:
x right, y down, z away from the camera), ``image`` (T, 33, 2) pixels and ``visibility`` (T, 33);
NaN where MediaPipe found no person. Imports only mediapipe, OpenCV and numpy (this venv has no
video_mocap dependencies); ``model_complexity=1`` is the ``pose_landmark_full`` model that
mediapipe 0.10.14 ships.
"""

from __future__ import annotations

import sys

import numpy as np

LANDMARKS = 33
MODEL_COMPLEXITY = 1


def main(video: str, out: str) -> int:
    import cv2  # the MediaPipe venv's OpenCV; imported here so that collecting the bench package needs neither
    import mediapipe as mp

    capture = cv2.VideoCapture(video)
    world, image, visibility = [], [], []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=MODEL_COMPLEXITY,
                                smooth_landmarks=True, enable_segmentation=False) as pose:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            height, width = frame.shape[:2]
            result = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if result.pose_world_landmarks is None:
                world.append(np.full((LANDMARKS, 3), np.nan))
                image.append(np.full((LANDMARKS, 2), np.nan))
                visibility.append(np.zeros(LANDMARKS))
                continue
            world.append([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
            image.append([(p.x * width, p.y * height) for p in result.pose_landmarks.landmark])
            visibility.append([p.visibility for p in result.pose_landmarks.landmark])
    np.savez(out, world=np.asarray(world, np.float64), image=np.asarray(image, np.float64),
             visibility=np.asarray(visibility, np.float64))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
