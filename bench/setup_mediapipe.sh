#!/usr/bin/env bash
# The bench-only MediaPipe venv for bench/bench_mediapipe.py (not part of the product or of CI):
# mediapipe 0.10.14 is the last wheel that ships the legacy Pose solution (pose_landmark_full).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv-mediapipe/bin/python ] || "$PY" -m venv .venv-mediapipe
.venv-mediapipe/bin/python -m pip install -q "mediapipe==0.10.14" "numpy<2"
echo "bench venv ready: .venv-mediapipe"
