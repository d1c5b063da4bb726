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
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .

if [ "${1:-}" = "--bpy42" ]; then
  [ -x .venv42/bin/python ] || "$PY" -m venv .venv42
  .venv42/bin/python -m pip install -q "setuptools>=68" wheel
  .venv42/bin/python -m pip install -q "bpy==4.2.23" "numpy<2" scipy pytest safetensors tqdm pyyaml
  .venv42/bin/python -m pip install -q --no-deps --no-build-isolation -e .
fi
echo "set-up done: .venv ready"
