#!/usr/bin/env bash
# One set-up command for a fresh Debian machine with Python 3.11 (no GPU needed):
#   ./setup.sh            -> .venv with bpy 5.0.1, torch, ultralytics, OpenCV, ONNX Runtime, pytest
#   ./setup.sh --bpy42    -> also .venv42 with bpy 4.2.23 (Blender 4.2 LTS) for the Blender-layer tests
# Nothing is downloaded at run time afterwards: YOLO weights and the sample clip ship in assets/.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q "setuptools>=68" wheel
# numpy<2: bpy 5.0.1 breaks with numpy 2 (ultralytics would pull it otherwise).
.venv/bin/python -m pip install -q \
  "bpy==5.0.1" "torch==2.14.1" "torchvision==0.29.1" "numpy<2" "opencv-python==4.11.0.86" \
  ultralytics "lap>=0.5.12" onnxruntime onnx onnxscript onnxslim safetensors scipy tqdm pyyaml tensorboard pytest
# Ray (optional at run time): `video-mocap estimate ... --cluster ray` runs one task per clip on a Ray cluster.
.venv/bin/python -m pip install -q "ray[client]==2.60.0" "numpy<2"
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .

if [ "${1:-}" = "--bpy42" ]; then
  [ -x .venv42/bin/python ] || "$PY" -m venv .venv42
  .venv42/bin/python -m pip install -q "setuptools>=68" wheel
  .venv42/bin/python -m pip install -q "bpy==4.2.23" "numpy<2" scipy pytest safetensors tqdm pyyaml
  .venv42/bin/python -m pip install -q --no-deps --no-build-isolation -e .
fi
echo "set-up done: .venv ready"

# --- Shipping (issue 7): Linux x64 wheels bundled in the extension zip, and the ONNX models ----------
# wheels/ (git-ignored): ONNX Runtime + OpenCV headless for Python 3.11 (downloaded once, reused by
# tools/build_extension.py and tests/blender/test_shipping.py). weights/onnx/ (git-ignored): the YOLO
# pose detector and every trained lifter exported to ONNX (re-run 'video-mocap export-onnx' after training).
.venv/bin/python -c "import sys; sys.path.insert(0, 'tools'); import build_extension as b; b.fetch_wheels('linux-x64')"
YOLO_OFFLINE=1 .venv/bin/python -m video_mocap export-onnx >/dev/null
echo "shipping: wheels/ and weights/onnx/ ready"
